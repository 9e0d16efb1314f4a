"""memdiag's pytest plugin: measure a server under load in a test, and gate its memory.

Loaded through the `pytest11` entry point `memdiag`, and idle unless a test uses it: it
adds one option and one marker, and imports nothing of memdiag's runner until a test
asks for the fixture (so a plain pytest run is neither slower nor different)::

    @pytest.mark.memdiag(peak_rss_mib=300, rss_growth_mib_per_min=1, status_p99_ms=50)
    def test_memory_under_load(memdiag_measure, my_server):
        run = memdiag_measure(url=my_server.url, pid=my_server.pid,
                              locustfile="loadtests/polls.py", rate=10,
                              warmup=5, duration=20)
        assert run.status is not None

    def test_started_for_me(memdiag_measure):
        memdiag_measure(command=["python", "app.py"], locustfile="polls.py")  # prints its URL

    def test_a_configuration(memdiag_measure):  # as `memdiag compare --server` takes it
        memdiag_measure(server="app={python} app.py --port {port}", poll=["GET /work"])

`memdiag_measure(...)` returns the run's `RunResult` (what `memdiag measure` writes to
run.json) and writes the run folder (summary.json, report.md, report.html) under the
test's `tmp_path`, or under `--memdiag-out DIR/<test>/`. With the marker, the run is
checked against its limits (the keys of `[tool.memdiag.gate.configurations."X"]`) by
memdiag's own gate, and the test fails with the gate's table of checks; an invalid run
(missed rate, saturated load generator) fails it too, as `memdiag gate` exits 3. A bad
marker argument stops the session before anything starts, as a pytest usage error.
Locust runs as a subprocess, as everywhere in memdiag: nothing here imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from profiling.plugin_measure import Measurer

MARKER = "memdiag"
INCREASE = "max_peak_rss_increase_pct"
OPTION_KEYS = ("baseline",)
_MEASURED = pytest.StashKey[list[Path]]()
_FOLDERS = pytest.StashKey[list[tuple[str, Path]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memdiag", "memdiag: measure a server's memory under load")
    group.addoption(
        "--memdiag-out",
        metavar="DIR",
        type=Path,
        default=None,
        help="write memdiag's run folders to DIR/<test>/ (default: the test's tmp_path)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "memdiag(peak_rss_mib=, rss_growth_mib_per_min=, status_p99_ms=, error_rate=, "
        "db_reads_per_poll=, max_peak_rss_increase_pct=, baseline=): fail the test when the "
        "server measured by the memdiag_measure fixture crosses a limit",
    )
    config.stash[_FOLDERS] = []


def marker_limits(kwargs: dict[str, Any], args: tuple[Any, ...], where: str) -> dict[str, Any]:
    """The marker's keyword arguments, checked; a mistake is a one-line usage error."""
    from profiling.verdict.gate import ABSOLUTE  # only when a test carries the marker

    # The gate's own keys: the same as [tool.memdiag.gate.configurations."X"].
    limit_keys = (*ABSOLUTE, INCREASE)
    call = f"@pytest.mark.memdiag on {where}"
    if args:
        raise pytest.UsageError(
            f"{call}: takes keyword limits only, e.g. memdiag(peak_rss_mib=300); got {args!r}"
        )
    for key, value in kwargs.items():
        if key in OPTION_KEYS:
            if not isinstance(value, str | Path):
                raise pytest.UsageError(f"{call}: baseline={value!r} must be a path")
            continue
        if key not in limit_keys:
            raise pytest.UsageError(
                f"{call}: unknown limit {key!r}; use one of {', '.join(limit_keys)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise pytest.UsageError(f"{call}: {key}={value!r} is not a number; write e.g. {key}=10")
        if value < 0:
            raise pytest.UsageError(f"{call}: {key}={value!r} must not be negative")
    if INCREASE in kwargs and "baseline" not in kwargs:
        raise pytest.UsageError(f"{call}: {INCREASE} needs baseline='path/to/summary.json'")
    if not set(kwargs) & set(limit_keys):
        raise pytest.UsageError(f"{call}: names no limit; e.g. memdiag(peak_rss_mib=300)")
    return kwargs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Checked here, before any test runs: a typo in a limit must not cost a whole
    # measured run first, nor pass a build by checking nothing.
    for item in items:
        for mark in item.iter_markers(MARKER):
            marker_limits(dict(mark.kwargs), tuple(mark.args), item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    if item.get_closest_marker(MARKER) is not None and not item.stash.get(_MEASURED, []):
        pytest.fail(
            "@pytest.mark.memdiag: the test never called memdiag_measure(...), so no limit "
            "was checked",
            pytrace=False,
        )
    return result


def _slug(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid).strip("-")[:120] or "test"


@pytest.fixture
def memdiag_measure(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Measurer]:
    """Measure a server under load: `memdiag_measure(url=, pid=)`, `(command=[...])` or
    `(server="NAME=CMD ...")` (a `[tool.memdiag.servers.NAME]` by its NAME too).

    Returns the run's RunResult; with @pytest.mark.memdiag(...) the test fails when a
    limit is crossed. See `profiling.plugin_measure.Measurer.__call__` for every option.
    """
    from profiling.plugin_measure import Measurer  # the runner, only for tests that measure

    item = request.node
    mark = item.get_closest_marker(MARKER)
    kwargs = marker_limits(dict(mark.kwargs), tuple(mark.args), item.nodeid) if mark else {}
    out_root: Path | None = request.config.getoption("memdiag_out")
    if out_root is not None:
        # Relative to where pytest was started, whatever a test's chdir does later.
        out_root = request.config.invocation_params.dir / out_root
    base = (out_root / _slug(item.nodeid)) if out_root is not None else tmp_path / "memdiag"
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", item.name).strip("-") or "server"
    measured = item.stash.setdefault(_MEASURED, [])
    measurer = Measurer(base, label=label, limits=kwargs, folders=measured)
    try:
        yield measurer
    finally:
        measurer.close()
        request.config.stash[_FOLDERS].extend((item.nodeid, p) for p in measured)
        for folder in measured:
            item.user_properties.append(("memdiag_run_folder", str(folder)))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    folders = config.stash.get(_FOLDERS, [])
    if folders:
        terminalreporter.section("memdiag")
        for nodeid, folder in folders:
            terminalreporter.write_line(f"{nodeid}: {folder / 'report.md'}")
