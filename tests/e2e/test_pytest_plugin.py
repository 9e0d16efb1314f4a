"""The memdiag pytest plugin, through pytest sessions of its own (pytester, subprocess).

Each inner session measures a real server process (tests/e2e/plugin_apps/items_app.py)
under real Locust with short phases: a leaking app fails its marker with the gate's
table, a flat one passes; a bad marker argument stops the session as a usage error
before anything starts; a plain test beside the plugin never loads memdiag's runner.
Inner sessions run with plugin autoloading off and `-p profiling.pytest_plugin`, so they
test this checkout's plugin whatever is installed; one more checks the entry point.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from profiling.results.folder import load_summary

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "plugin_apps" / "items_app.py"
BASELINE = ROOT / "tests" / "fixtures" / "runs" / "branch-a"
PLUGIN = ["-p", "profiling.pytest_plugin", "--strict-markers", "-rA"]

# A user's own locustfile, written at test time (nothing committed imports locust
# outside loadtests/scenarios/); memdiag passes the target rate as MEMDIAG_RATE.
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

# The inner tests. The flat app is started by the test (url= and pid=), the leaking one
# by memdiag (command=, its first stdout line is its URL). 512 KiB a request at 8/s is
# about 240 MiB/min; the flat app's slope is noise around 0.
MEASURED = f"""
import subprocess, sys
import pytest

APP = {str(APP)!r}
BASELINE = {str(BASELINE)!r}  # a summary of "my-app" (150 MiB peak) as main's
LOAD = dict(locustfile="polls.py", users=4, rate=8, warmup=2, duration=5, cooldown=1)

@pytest.fixture
def flat_server():
    proc = subprocess.Popen([sys.executable, APP], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    yield url, proc.pid
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()

@pytest.mark.memdiag(
    rss_growth_mib_per_min=60, error_rate=0.01, max_peak_rss_increase_pct=10, baseline=BASELINE
)
def test_flat(memdiag_measure, flat_server):
    url, pid = flat_server
    run = memdiag_measure(url=url, pid=pid, label="my-app", **LOAD)
    assert run.configuration == "my-app" and run.spec == "url:" + url
    assert run.status is not None and run.status.requests > 0
    assert run.timeline["server"].rss_bytes
    # Locust ran as a subprocess: nothing brought it (or gevent) into pytest's process.
    assert "locust" not in sys.modules and "gevent" not in sys.modules

@pytest.mark.memdiag(peak_rss_mib=10000)
def test_crash(memdiag_measure):
    # The server dies in the steady phase: whatever its figures, they cannot gate.
    memdiag_measure(command=[sys.executable, APP, "--crash-after-s", "4"], **LOAD)

@pytest.mark.memdiag(rss_growth_mib_per_min=60)
def test_leak(memdiag_measure):
    memdiag_measure(command=[sys.executable, APP, "--retain-kib", "512"], **LOAD)
    raise AssertionError("the marker should have failed this test")
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # Only the plugin under test (and pytest's own): no other installed plugin can mask
    # or break what is checked, and the entry point's state does not matter.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makefile(".py", polls=LOCUSTFILE)
    return pytester


@pytest.mark.slow
def test_marker_fails_a_leaking_server_and_passes_a_flat_one(
    inner: pytest.Pytester, tmp_path: Path
) -> None:
    inner.makepyfile(test_servers=MEASURED)
    out = tmp_path / "memdiag-out"
    result = inner.runpytest_subprocess(*PLUGIN, "--memdiag-out", str(out), timeout=240)
    text = result.stdout.str()
    result.assert_outcomes(passed=1, failed=2)
    # A run whose server died cannot gate: the test fails saying so (as memdiag gate
    # exits 3), although its one limit was met.
    crash = text.split("_ test_crash _", 1)[1].split("Captured", 1)[0]
    assert crash.lstrip("_ \n").startswith("memdiag: invalid run, its figures cannot gate: ")
    assert "the server process disappeared while it was sampled" in crash, crash
    assert "memdiag: 1 of 1 check(s) failed: test_leak rss_growth_mib_per_min <= 60 (" in text
    # The failure message is the gate's table: the leak's growth row failed.
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("test_leak rss_growth_mib_per_min <= 60")
    ]
    assert rows and all(row.split()[4] == "failed" for row in rows), rows
    assert "should have failed" not in text  # the test stopped at the gate
    # The flat app's gate: its limits and the baseline's relative check, all passed.
    for check in ("rss_growth_mib_per_min <= 60", "error_rate <= 0.01",
                  "peak RSS vs baseline <= +10 %"):  # fmt: skip
        rows = [line for line in text.splitlines() if line.startswith(f"my-app {check}")]
        assert rows and all(" passed " in row for row in rows), (check, rows)
    for test, name in (("test_flat", "my-app"), ("test_leak", "test_leak")):
        folder = out / f"test_servers.py-{test}"
        for report in ("summary.json", "report.md", "report.html"):
            assert (folder / report).is_file(), folder / report
        (run,) = load_summary(folder).runs
        assert run.configuration == name
        assert run.memory["server"].samples > 0 and "loadgen" in run.memory
    assert (out / "test_servers.py-test_leak" / "server.log").is_file()
    leak = load_summary(out / "test_servers.py-test_leak").runs[0]
    flat = load_summary(out / "test_servers.py-test_flat").runs[0]
    # The same run's figures as the verdict: the leaker grew, the flat app did not.
    assert leak.memory["server"].growth_mib_per_min > flat.memory["server"].growth_mib_per_min
    assert "memdiag" in text and str(out / "test_servers.py-test_flat" / "report.md") in text


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "peak_rss=300",
            "unknown limit 'peak_rss'; use one of peak_rss_mib, rss_growth_mib_per_min, "
            "status_p99_ms, error_rate, db_reads_per_poll, max_peak_rss_increase_pct",
        ),
        ("peak_rss_mib='lots'", "peak_rss_mib='lots' is not a number; write e.g. peak_rss_mib=10"),
        (
            "max_peak_rss_increase_pct=10",
            "max_peak_rss_increase_pct needs baseline='path/to/summary.json'",
        ),
        ("300", "takes keyword limits only, e.g. memdiag(peak_rss_mib=300); got (300,)"),
    ],
)
def test_bad_marker_argument_is_a_usage_error(
    inner: pytest.Pytester, marker: str, message: str
) -> None:
    inner.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.memdiag({marker})
        def test_typo(memdiag_measure):
            memdiag_measure(url="http://127.0.0.1:9/", pid=1)
        """
    )
    result = inner.runpytest_subprocess(*PLUGIN, timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.stderr.lines if line.startswith("ERROR: ")]
    assert lines == [f"ERROR: @pytest.mark.memdiag on test_bad.py::test_typo: {message}"], (
        result.stderr.str()
    )
    assert "memdiag: test_typo" not in result.stdout.str()  # nothing was measured


def test_plugin_idle_for_plain_tests_and_a_marker_without_a_measurement_fails(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        test_plain="""
        import sys
        import pytest

        def test_plain():
            # The plugin is loaded, but nothing of memdiag's runner came with it.
            assert "profiling.plugin_measure" not in sys.modules
            assert "profiling.run.runner" not in sys.modules
            assert "locust" not in sys.modules

        @pytest.mark.memdiag(peak_rss_mib=100)
        def test_forgot():
            pass
        """
    )
    result = inner.runpytest_subprocess(*PLUGIN, timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_forgot _*",
            "@pytest.mark.memdiag: the test never called memdiag_measure(...), so no limit "
            "was checked",
        ]
    )
    assert "== memdiag ==" not in result.stdout.str()  # no run folder to list


def test_entry_point_loads_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyproject's pytest11 entry point, as an installed distribution declares it."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared["pytest11"] == {"memdiag": "profiling.pytest_plugin"}
    # A distribution's metadata with that entry point on the path: what `pip install`
    # writes (an installed memdiag's own entry point of the same name serves equally).
    site = pytester.mkdir("site")
    info = site / "memdiag_plugin_check-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: memdiag-plugin-check\n")
    lines = [f"{name} = {value}" for name, value in declared["pytest11"].items()]
    (info / "entry_points.txt").write_text("[pytest11]\n" + "\n".join(lines) + "\n")
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    monkeypatch.setenv("PYTHONPATH", f"{site}:{ROOT}")
    on = pytester.runpytest_subprocess("--markers", timeout=60)
    assert "@pytest.mark.memdiag(peak_rss_mib=" in on.stdout.str()
    off = pytester.runpytest_subprocess("-p", "no:memdiag", "--markers", timeout=60)
    assert "@pytest.mark.memdiag(" not in off.stdout.str()
    assert off.ret == on.ret == 0


FORKING_APP = ROOT / "tests" / "integration" / "load_apps" / "forking_app.py"
CONFIGURED = f"""
import pytest

APP = {str(FORKING_APP)!r}
SHORT = dict(rate=5, warmup=1, duration=3, cooldown=0, html=False)

@pytest.mark.memdiag(peak_rss_mib=10000, error_rate=0.01)
def test_command_configuration(memdiag_measure):
    run = memdiag_measure(server="fork={{python}} " + APP + " --port {{port}}",
                          poll=["GET /work"], **SHORT)
    assert run.configuration == "test_command_configuration"
    assert run.spec.startswith("cmd ") and APP in run.spec
    assert [p.role for p in run.server_tree] == ["main", "child"]
    assert run.memory["server"].pss_peak_bytes

def test_pyproject_table(memdiag_measure):
    run = memdiag_measure(server="api", poll=["GET /work"], label="api", **SHORT)
    assert run.status is not None and run.status.requests > 0 and run.valid
"""
PYPROJECT = f"""
[tool.memdiag.servers.api]
command = "{{python}} {FORKING_APP} --port {{port}} --worker-mib 8"
health = "/healthz"
"""


@pytest.mark.slow
def test_a_server_configuration_is_started_and_measured_as_its_tree(
    inner: pytest.Pytester, tmp_path: Path
) -> None:
    inner.makefile(".toml", pyproject=PYPROJECT)
    inner.makepyfile(test_configured=CONFIGURED)
    out = tmp_path / "memdiag-out"
    result = inner.runpytest_subprocess(*PLUGIN, "--memdiag-out", str(out), timeout=240)
    result.assert_outcomes(passed=2)
    (run,) = load_summary(out / "test_configured.py-test_pyproject_table").runs
    assert run.configuration == "api" and len(run.server_tree) == 2
    assert "--worker-mib 8" in run.spec
