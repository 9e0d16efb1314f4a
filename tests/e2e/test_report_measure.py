"""Real `memdiag measure` and `memdiag compare` runs: real servers, real Locust, short phases.

Durations are a few seconds and rates modest: two cores are shared by the server, the
DB, Locust and whatever else runs. Nothing asserts an absolute time or a measured figure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from profiling.results.folder import load_summary
from profiling.run.embedded_db import resolve_engine

APPS = Path(__file__).resolve().parent / "report_apps"
MEMDIAG = [sys.executable, "-m", "profiling"]

# A user's own locustfile (written at test time: nothing committed imports locust
# outside loadtests/scenarios/). MEMDIAG_RATE is the target rate memdiag passes on.
LOCUSTFILE = """
import itertools, os
from locust import HttpUser, constant_throughput, task

RATE = float(os.environ.get("MEMDIAG_RATE", "5"))
USERS = 4
counter = itertools.count()

class Reader(HttpUser):
    wait_time = constant_throughput(RATE / USERS)

    @task
    def read(self):
        self.client.get(f"/items/{next(counter)}", name="GET /items/{n}")
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    )


@pytest.fixture
def retaining_app() -> Iterator[tuple[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, str(APPS / "retaining_app.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
def test_measure_any_server_by_url_and_pid(retaining_app: tuple[str, int], tmp_path: Path) -> None:
    url, pid = retaining_app
    (tmp_path / "mine.py").write_text(LOCUSTFILE)
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            *MEMDIAG,
            "measure",
            "--url",
            url,
            "--pid",
            str(pid),
            "--locustfile",
            str(tmp_path / "mine.py"),
            "--users",
            "4",
            "--rate",
            "8",
            "--duration",
            "5",
            "--warmup",
            "2",
            "--cooldown",
            "1",
            "--label",
            "my-app",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode in (0, 3), proc.stderr  # 3 only if the shared machine missed the rate
    assert f"Wrote {out / 'report.html'}" in proc.stdout
    summary = load_summary(out)
    (run,) = summary.runs
    assert run.configuration == "my-app" and run.spec == f"url:{url}"
    assert run.status_endpoint == "GET /items/{n}"
    assert run.status is not None and run.status.requests > 0 and run.status.failures == 0
    server = run.memory["server"]
    assert server.kernel_peak_bytes is not None and server.samples >= 5
    # It retains 64 KiB per request: the sampled RSS at the end exceeds the steady start.
    series = run.timeline["server"]
    assert series.rss_bytes[-1] > series.rss_bytes[0]
    assert run.db is None  # no memdiag /metrics on this server
    assert "loadgen" in run.memory
    document = json.loads((out / "summary.json").read_text())
    assert list(document["configurations"]) == ["my-app"]


@pytest.mark.slow
def test_compare_aa_writes_valid_summary_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "aa"
    proc = subprocess.run(
        [
            *MEMDIAG,
            "compare",
            "--configs",
            "lean,lean",
            "--duration",
            "4",
            "--warmup",
            "2",
            "--cooldown",
            "1",
            "--rate",
            "5",
            "-O",
            "segments=300",
            "-O",
            "initial_segments=0",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode in (0, 3), proc.stderr
    summary = load_summary(out)
    assert [r.configuration for r in summary.runs] == ["lean", "lean#2"]
    assert all(r.scenario.params == {"segments": 300, "initial_segments": 0} for r in summary.runs)
    for run in summary.runs:
        assert run.memory["server"].kernel_peak_bytes
        assert run.memory["db"].samples > 0
        assert run.db is not None and run.db.status_polls > 0
        assert (out / run.dir / "rss.csv").is_file()  # type: ignore[operator]
        assert (out / run.dir / "processes.json").is_file()  # type: ignore[operator]
    md = (out / "report.md").read_text()
    assert f"DB server | {_expected_db_server()}" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    # The gate on this real summary: a limit it violates, one it meets.
    violated, met = tmp_path / "violated.toml", tmp_path / "met.toml"
    violated.write_text('[configurations."lean"]\npeak_rss_mib = 1\n')
    met.write_text('[configurations."lean"]\npeak_rss_mib = 100000\n')
    # Invalid runs, or work that was not comparable (tasks of other sizes, or growing),
    # make the gate exit 3 whatever the thresholds say.
    document = json.loads((out / "summary.json").read_text())
    usable = summary.valid and document["comparable"]
    for config, expected in ((violated, 1 if usable else 3), (met, 0 if usable else 3)):
        gate = subprocess.run(
            [*MEMDIAG, "gate", str(out), "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert gate.returncode == expected, gate.stdout + gate.stderr


def _ctrl_c_reaches_it() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_sampling(proc: subprocess.Popen[str], run: Path) -> None:
    """Until the run's sampler and processes.json are there (memdiag still running)."""
    deadline = time.monotonic() + 200
    while not (run / "rss.csv").is_file() or not (run / "processes.json").is_file():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{run.name} never started sampling"
        time.sleep(0.2)


def _assert_gone(pids: dict[str, int]) -> None:
    """The run's server and DB end within 20 s."""
    deadline = time.monotonic() + 20
    while any(alive(pids[k]) for k in ("server", "db")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pids["server"]) and not alive(pids["db"])


@pytest.mark.slow
def test_ctrl_c_stops_servers_and_leaves_a_readable_partial_folder(tmp_path: Path) -> None:
    out = tmp_path / "partial"
    proc = subprocess.Popen(
        [
            *MEMDIAG,
            "compare",
            "--configs",
            "lean,memory-first",
            # A steady phase long enough that the second run is still measuring when
            # the signal comes (with 3 s it could end first on a slow machine).
            "--duration",
            "20",
            "--warmup",
            "1",
            "--cooldown",
            "0",
            "--rate",
            "4",
            "-O",
            "segments=200",
            "-O",
            "initial_segments=0",
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C must reach it: a pytest-xdist worker ignores SIGINT, and an ignored
        # signal stays ignored in its children (memdiag then ran to its end, exit 3).
        preexec_fn=_ctrl_c_reaches_it,
    )
    second = out / "runs" / "02-memory-first-r1"
    _wait_sampling(proc, second)
    time.sleep(1.0)
    pids = json.loads((second / "processes.json").read_text())
    assert not (second / "run.json").exists(), "the second run ended before the signal"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr
    assert (second / "INTERRUPTED").is_file()
    assert not (second / "run.json").exists()
    _assert_gone(pids)
    # The finished first run is reported; the summary loads and says what it covers.
    summary = load_summary(out)
    assert [r.configuration for r in summary.runs] == ["lean"]
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    assert "interrupted" in stderr


@pytest.mark.slow
def test_sigterm_stops_servers_and_load_as_ctrl_c_does(tmp_path: Path) -> None:
    """A CI job's cancel sends SIGTERM: memdiag once died alone and left the server and
    Locust running, orphaned; now it ends the run as Ctrl-C does."""
    out = tmp_path / "terminated"
    proc = subprocess.Popen(
        [
            *MEMDIAG,
            *("measure", "--mode", "lean", "--duration", "60", "--warmup", "1"),
            *("--cooldown", "0", "--rate", "4", "-O", "segments=200", "-O", "initial_segments=0"),
            *("-o", str(out)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = out / "runs" / "01-lean-r1"
    _wait_sampling(proc, run)
    pids = json.loads((run / "processes.json").read_text())
    assert not (run / "run.json").exists(), "the run ended before the signal"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr
    assert "partial files are in" in stderr
    assert (run / "INTERRUPTED").is_file()
    _assert_gone(pids)
    leftover = subprocess.run(["pgrep", "-f", f"locust.*{run}"], capture_output=True, text=True)
    assert leftover.stdout == "", f"Locust still running: {leftover.stdout}"


@pytest.mark.slow
def test_tracemalloc_attribution_run_reports_heap_beside_rss(tmp_path: Path) -> None:
    out = tmp_path / "attr"
    proc = subprocess.run(
        [
            *MEMDIAG,
            "measure",
            "--mode",
            "lean",
            "--duration",
            "4",
            "--warmup",
            "2",
            "--cooldown",
            "1",
            "--rate",
            "5",
            "-O",
            "segments=300",
            "-O",
            "initial_segments=0",
            "--profile",
            "tracemalloc",
            "--no-html",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode in (0, 3), proc.stderr
    runs = load_summary(out).runs
    assert [r.profile for r in runs] == ["none", "tracemalloc"]
    attribution = runs[1]
    assert attribution.heap is not None and attribution.heap.source == "tracemalloc"
    assert attribution.heap.heap_peak_bytes and attribution.heap.heap_peak_bytes > 0
    server = attribution.memory["server"]
    assert server.kernel_peak_bytes and server.kernel_peak_bytes > attribution.heap.heap_peak_bytes
    folder = out / attribution.dir  # type: ignore[operator]
    assert (folder / "heapdiff.json").is_file() and (folder / "debug-memory.json").is_file()
    assert all("reference_server/" in site.location for site in attribution.top_sites)
    md = (out / "report.md").read_text()
    assert "## Heap against RSS (attribution runs)" in md and "## Top allocation sites" in md


def _expected_db_server() -> str:
    """How the report names the DB this suite runs on (MEMDIAG_DB_ENGINE / MONGO_URI)."""
    if os.environ.get("MEMDIAG_MONGO_URI"):
        return ""
    return "FerretDB" if resolve_engine() == "ferretdb" else "mongo-java-server 1.47.0 (embedded"
