"""Heap diff of two real tracemalloc snapshots taken in this process."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from profiling.probes import heapdiff

HERE = Path(__file__).resolve()
_KEPT: list[object] = []


def keep_some(n: int) -> None:
    _KEPT.append([str(i) * 10 for i in range(n)])  # GROWS


def marker_line() -> int:
    lines = HERE.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.endswith("# GROWS"))


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    tmp_path = tmp_path_factory.mktemp("snapshots")
    tracemalloc.start(10)
    try:
        before = tracemalloc.take_snapshot()
        keep_some(20_000)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        _KEPT.clear()
    old, new = tmp_path / "a.tracemalloc", tmp_path / "b.tracemalloc"
    before.dump(str(old))
    after.dump(str(new))
    yield old, new


def test_top_site_is_the_growing_line(snapshots: tuple[Path, Path]) -> None:
    old, new = snapshots
    patterns = heapdiff.include_patterns(paths=[HERE.parent])
    diff = heapdiff.diff_files(old, new, patterns, top=3, group="site")
    assert diff.sites[0].site == f"{HERE}:{marker_line()}"
    assert diff.sites[0].count_diff >= 20_000
    assert diff.sites[0].size_diff_bytes >= 20_000 * 40
    assert diff.total_new_bytes > diff.total_old_bytes
    assert len(diff.sites) <= 3
    text = heapdiff.render_text(diff)
    assert "#1 +" in text and f"test_probes_heapdiff.py:{marker_line()}" in text


def test_package_filter_excludes_our_frames(snapshots: tuple[Path, Path]) -> None:
    old, new = snapshots
    diff = heapdiff.diff_files(old, new, heapdiff.include_patterns(["no_such_pkg"]))
    assert diff.sites == ()
    with pytest.raises(ValueError, match="at least one"):
        heapdiff.diff_files(old, new, [])


def test_cli_writes_sorted_json(snapshots: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = snapshots
    out = tmp_path / "d.json"
    code = heapdiff.main(
        [str(old), str(new), "--include-path", str(HERE.parent), "--json", str(out)]
    )
    assert code == 0
    raw = out.read_text()
    data = json.loads(raw)
    assert data["schema_version"] == 1
    assert raw == json.dumps(data, sort_keys=True, indent=2) + "\n"
    bad = tmp_path / "bad.tracemalloc"
    bad.write_text("not a pickle")
    assert heapdiff.main([str(bad), str(new)]) == 3


def test_fast_filter_keeps_what_filter_traces_keeps() -> None:
    tm = tracemalloc
    tm.start(5)
    try:
        kept = [[str(i) * 3 for i in range(300)] for _ in range(3)]
        snapshot = tm.take_snapshot()
    finally:
        tm.stop()
    here = heapdiff.include_patterns(paths=[Path(__file__).parent])
    slow = snapshot.filter_traces(
        [tm.Filter(False, n) for n in (*heapdiff._NOISE, tm.__file__)]
        + [tm.Filter(True, p, all_frames=True) for p in here]
    )
    fast = heapdiff._filter(snapshot, here)
    assert sorted(map(repr, fast.traces)) == sorted(map(repr, slow.traces))
    assert len(fast.traces) > 0 and kept
