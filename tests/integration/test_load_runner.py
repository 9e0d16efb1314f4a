"""`loadtests.runner`: input errors, the hard timeout, a load stopped before its end, and
a user's own locustfile."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_load_validation import contract_app

from loadtests.procgroup import group_members
from loadtests.runner import (
    LoadRunError,
    LoadSpec,
    LoadSpecError,
    locust_command,
    run_load,
    start_load,
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scenario": "nope"}, "unknown scenario 'nope'"),
        ({"users": 0}, "users=0"),
        ({"rate_per_s": -1.0}, "rate=-1.0"),
        ({"duration_s": 0.0}, "duration=0.0s"),
        ({"processes": 0}, "processes=0"),
        ({"host": "localhost:8080"}, "is not a URL"),
        ({"scenario": None}, "exactly one of"),
        ({"scenario": None, "locustfile": Path("/no/such/file.py")}, "No such locustfile"),
    ],
)
def test_bad_spec_is_a_usage_error(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"host": "http://127.0.0.1:1/", **changes}
    spec = LoadSpec(**fields)  # type: ignore[arg-type]
    with pytest.raises(LoadSpecError, match=message) as info:
        locust_command(spec, Path("/tmp/unused"))
    assert info.value.exit_code == 2


def test_command_carries_rate_warmup_and_options() -> None:
    spec = LoadSpec(
        host="http://127.0.0.1:1/",
        scenario="dashboard",
        rate_per_s=3,
        warmup_s=2,
        duration_s=5,
        processes=2,
        options={"tasks_per_user": 4},
    )
    cmd = locust_command(spec, Path("/tmp/x"))
    joined = " ".join(cmd)
    assert "--list-rate 3" in joined and "--tasks-per-user 4" in joined
    assert "--warmup-s 2" in joined and "-t 7s" in joined and "--processes 2" in joined
    # Parallel distributed runs must not share Locust's default master port.
    assert "--master-bind-port" in cmd and "5557" not in cmd


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains `text`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


def test_hard_timeout_stops_locust(tmp_path: Path) -> None:
    """Locust, told to run 120 s, is stopped at its 4 s hard timeout: the error says so and
    no process of that load (every one names the run folder in its command line) is left."""
    with contract_app() as url:
        spec = LoadSpec(host=url, scenario="frontend_tabs", users=2, rate_per_s=2,
                        duration_s=120, timeout_s=4)  # fmt: skip
        with pytest.raises(LoadRunError, match="its 4s hard timeout and was stopped") as info:
            run_load(spec, tmp_path)
        assert info.value.exit_code == 3
        assert str(tmp_path) in " ".join(locust_command(spec, tmp_path))
        assert _processes_mentioning(str(tmp_path)) == []


def test_a_stopped_load_ends_its_whole_group(tmp_path: Path) -> None:
    """A load of two Locust processes (a master and the worker it forks), told to run
    120 s, stopped once both run: nothing of its process group is left, and it is reaped."""
    with contract_app() as url:
        spec = LoadSpec(host=url, scenario="frontend_tabs", users=2, rate_per_s=2,
                        duration_s=120, processes=2)  # fmt: skip
        load = start_load(spec, tmp_path)
        try:
            # Between its fork and its exec the child's cmdline is not Locust's yet.
            while b"locust" not in Path(f"/proc/{load.pid}/cmdline").read_bytes():
                assert load.running(), (tmp_path / "locust.log").read_text()
                time.sleep(0.05)
            while len(group_members(load.pid)) < 2:  # the forked worker
                assert load.running(), (tmp_path / "locust.log").read_text()
                time.sleep(0.05)
            assert load.running()
        finally:
            load.stop()
        assert not load.running()
        assert group_members(load.pid) == []
        assert not Path(f"/proc/{load.pid}").exists()  # reaped, not a zombie


USER_LOCUSTFILE = """
import os
from locust import HttpUser, constant_throughput, task

class Signup(HttpUser):
    wait_time = constant_throughput(float(os.environ["MEMDIAG_RATE"]))

    @task
    def sign_up(self):
        self.client.post("/api/users", json={"name": "x"}, name="sign up")
"""


def test_users_own_locustfile_is_recorded(tmp_path: Path) -> None:
    locustfile = tmp_path / "mine.py"
    locustfile.write_text(USER_LOCUSTFILE)
    with contract_app() as url:
        spec = LoadSpec(host=url.rstrip("/"), scenario=None, locustfile=locustfile, users=2,
                        rate_per_s=5, duration_s=3)  # fmt: skip
        result = run_load(spec, tmp_path / "out")
    assert result.scenario == "custom"
    endpoint = result.total.endpoints["sign up"]
    assert endpoint.requests > 0
    assert endpoint.failures == 0
    assert endpoint.max_ms >= endpoint.p50_ms > 0


def test_scenario_options_default_from_memdiag_env(tmp_path: Path) -> None:
    """One option, three spellings: --poll-rate, poll_rate, MEMDIAG_POLL_RATE."""
    with contract_app() as url:
        spec = LoadSpec(host=url, scenario="frontend_tabs", users=3, duration_s=2,
                        env={"MEMDIAG_POLL_RATE": "6", "MEMDIAG_SEGMENTS": "3"})  # fmt: skip
        result = run_load(spec, tmp_path)
    assert result.targets_per_s == {"poll": 6.0}
    assert result.total.failures == 0
