"""The pytest plugin's servers are launched as `memdiag compare --server` launches a
command: offered the run's metrics folder (MEMDIAG_METRICS_DIR), so a server of several
processes that publishes each one's address (the reference server with --processes 2)
has /metrics read from every process, not from the one the shared port reached. Real
reference server, real embedded DB, real Locust; both ways the fixture starts a server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from profiling.plugin_measure import Measurer
from profiling.results.folder import RUNS_DIR

SHORT = dict(poll=["GET /healthz"], rate=5, warmup=1, duration=3, cooldown=0, html=False)


def two_processes(mongo_uri: str) -> list[str]:
    return [sys.executable, "-m", "reference_server", "--processes", "2", "--port", "{port}",
            "--mongo-uri", mongo_uri, "--database", "plugin_metrics"]  # fmt: skip


@pytest.mark.parametrize("how", ["command", "server"])
def test_a_two_process_server_has_metrics_read_from_both(
    tmp_path: Path, mongo_uri: str, how: str
) -> None:
    measure = Measurer(tmp_path / "out", label="two", limits={}, folders=[])
    argv = two_processes(mongo_uri)
    if how == "command":
        run = measure(command=argv, **SHORT)  # type: ignore[arg-type]
    else:
        run = measure(server="two=" + " ".join(argv), **SHORT)  # type: ignore[arg-type]
    (run_dir,) = (tmp_path / "out" / RUNS_DIR).iterdir()
    # Both processes published their own address in the folder they were offered (each
    # removes its file as it stops), and the run's scrapes are the sum of both /metrics.
    assert (run_dir / "control" / "metrics").is_dir()
    for name in ("metrics-steady-start.prom", "metrics-steady-end.prom"):
        first = (run_dir / name).read_text().splitlines()[0]
        assert first == "# memdiag: the sum of 2 server processes' /metrics", (name, first)
    assert run.status is not None and run.status.requests > 0
    assert run.valid, run.invalid_reasons
