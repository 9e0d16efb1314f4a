"""The in-process memory agent in real processes: its figures against /proc for a
process that allocates known amounts, its sitecustomize bootstrap (inert without the
environment, chains to another sitecustomize, never breaks the host), fork re-arming
and the holders request hook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from profiling.probes.agent import AGENT_DIR
from profiling.probes.agentlog import agent_env, read_agent_dir
from profiling.results.decompose import RssParts, decompose

APP = Path(__file__).parent / "probe_apps" / "allocator_app.py"
MIB = 1 << 20
INTERVAL_S = 0.1


def _proc_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class App:
    def __init__(self, agent_dir: Path, env: dict[str, str] | None = None) -> None:
        self.dir = agent_dir
        base = agent_env(os.environ, agent_dir, INTERVAL_S) if env is None else env
        self.proc = subprocess.Popen(
            [sys.executable, str(APP)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=base,
        )

    def ask(self, line: str) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        assert answer and answer[0] == "ok", f"app answered {answer!r} to {line!r}"
        return answer

    def sample_after(self, t: float, pid: int | None = None) -> dict[str, Any]:
        """The first agent line of `pid` written after epoch `t` (waits for it)."""
        pid = pid or self.proc.pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = read_agent_dir(self.dir).get(pid, [])
            after = [r for r in lines if r["t"] > t and r.get("pymalloc")]
            if after:
                return after[0]
            time.sleep(INTERVAL_S)
        raise AssertionError(f"no agent line of pid {pid} after {t} in {self.dir}")

    def settled(self) -> tuple[dict[str, Any], int]:
        """An agent line and /proc's RSS read right after it, with nothing allocating."""
        record = self.sample_after(time.time())
        return record, _proc_rss(self.proc.pid)

    def close(self) -> str:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        _, err = self.proc.communicate(timeout=30)
        return str(err)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App(tmp_path / "agent")
    yield a
    if a.proc.poll() is None:
        a.proc.kill()
    a.proc.communicate(timeout=30)  # reaps it and closes the pipes


def _parts(record: dict[str, Any]) -> RssParts:
    parts = decompose(record)
    assert parts is not None, record
    return parts


def test_agent_figures_match_proc_and_the_allocations(app: App) -> None:
    app.ask("small 0")  # the app is up and idle
    base, proc_rss = app.settled()
    assert abs(base["rss"] - proc_rss) <= 0.1 * proc_rss
    p0 = _parts(base)

    app.ask("small 50")
    small, proc_rss = app.settled()
    p1 = _parts(small)
    assert abs(small["rss"] - proc_rss) <= 0.1 * proc_rss
    # 50 MiB of small objects land in pymalloc's blocks (not in malloc).
    grown = (p1.pymalloc_used_bytes - p0.pymalloc_used_bytes) / MIB
    assert 45 <= grown <= 60, f"pymalloc in use grew {grown:.1f} MiB for 50 MiB of objects"
    assert abs(p1.unaccounted_pct) <= 10, p1

    app.ask("big 100")
    big, proc_rss = app.settled()
    p2 = _parts(big)
    assert abs(big["rss"] - proc_rss) <= 0.1 * proc_rss
    # 100 objects of 1 MiB: above malloc's mmap threshold, each its own mapping.
    in_malloc = (
        p2.malloc_used_bytes
        + p2.malloc_mmapped_bytes
        - p1.malloc_used_bytes
        - p1.malloc_mmapped_bytes
    ) / MIB
    assert 95 <= in_malloc <= 110, f"malloc grew {in_malloc:.1f} MiB for 100 MiB of bytes"
    assert abs(p2.pymalloc_used_bytes - p1.pymalloc_used_bytes) < 5 * MIB
    assert abs(p2.unaccounted_pct) <= 10, p2
    # RSS grew as much as the parts say.
    assert abs((p2.rss_bytes - p0.rss_bytes) - (p2.accounted_bytes - p0.accounted_bytes)) < 15 * MIB

    assert big["allocator"] == "glibc" and big["malloc"]["mmapped_chunks"] >= 100
    assert big["threads"] >= 2  # the main thread and the agent's
    assert big["agent_cpu_s"] >= 0 and big["blocks"] > 0
    assert app.close() == ""  # the pymalloc report never leaks into the host's stderr


@pytest.mark.parametrize("how", ["fork", "fork-locked"])
def test_agent_rearms_after_fork(app: App, how: str) -> None:
    """The child's agent writes its own lines, also when a lock of the standard library
    was held at the fork (the agent once used tempfile in the child: it blocked forever
    on the inherited lock in 2 of 30 forks of a freshly started app)."""
    app.ask("small 0")  # the app is up
    answer = app.ask(how)
    child = int(answer[2])
    try:
        record = app.sample_after(time.time(), pid=child)
        assert record["pid"] == child
        assert (app.dir / f"agent-{child}.jsonl").is_file()
    finally:
        os.kill(child, 9)  # the app's child: the app reaps it when it exits


def _run_python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _env_without_agent() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MEMDIAG_AGENT")}


PROBE = (
    "import sys, threading, time; time.sleep(0.5); "
    "print(sorted(t.name for t in threading.enumerate())); "
    "print('chained' in sys.modules['_memdiag_chained_sitecustomize'].__dict__ "
    "if '_memdiag_chained_sitecustomize' in sys.modules else 'no chain')"
)


def test_bootstrap_is_inert_without_env_and_chains(tmp_path: Path) -> None:
    other = tmp_path / "theirs"
    other.mkdir()
    (other / "sitecustomize.py").write_text("chained = True\nprint('their sitecustomize ran')\n")
    env = _env_without_agent()
    env["PYTHONPATH"] = os.pathsep.join([str(AGENT_DIR), str(other)])

    off = _run_python(PROBE, env, tmp_path)
    assert off.returncode == 0, off.stderr
    assert off.stdout.splitlines() == ["their sitecustomize ran", "['MainThread']", "True"]
    assert off.stderr == ""
    assert "memagent" not in off.stdout

    on = _run_python(PROBE, agent_env(env, tmp_path / "out", INTERVAL_S), tmp_path)
    assert on.returncode == 0, on.stderr
    assert on.stdout.splitlines() == [
        "their sitecustomize ran",
        "['MainThread', 'memdiag-agent']",
        "True",
    ]
    assert list(read_agent_dir(tmp_path / "out"))  # it sampled


def test_a_broken_agent_never_breaks_the_host(tmp_path: Path) -> None:
    env = agent_env(_env_without_agent(), tmp_path / "out", INTERVAL_S)
    env["MEMDIAG_AGENT_INTERVAL_S"] = "soon"
    done = _run_python("print('served')", env, tmp_path)
    assert done.returncode == 0
    assert done.stdout == "served\n"
    assert done.stderr.count("memdiag agent not started") == 1

    # The agent's folder cannot be created: it stops, says so once, the host goes on.
    (tmp_path / "file").write_text("")
    env = agent_env(_env_without_agent(), tmp_path / "file" / "out", INTERVAL_S)
    done = _run_python("import time; time.sleep(0.5); print('served')", env, tmp_path)
    assert done.returncode == 0 and done.stdout == "served\n"
    assert done.stderr.count("memdiag agent") == 1, done.stderr


def _wait_for(path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.is_file():
            return dict(json.loads(path.read_text()))
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_holders_request_hook(tmp_path: Path) -> None:
    # A copy of the agent's folder with a stand-in holders module (the real one is
    # another change); and the real folder, where a missing module is an error reply.
    copy = tmp_path / "agent-copy"
    shutil.copytree(AGENT_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "holders.py"))
    (copy / "holders.py").write_text(
        "def find_holders(**args):\n    return {'found': args}\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    out.mkdir()
    code = "import time; time.sleep(3)"
    env = agent_env(_env_without_agent(), out, INTERVAL_S)
    env["PYTHONPATH"] = str(copy)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        (out / "holders-request.json").write_text(json.dumps({"id": "r1", "args": {"top": 3}}))
        reply = _wait_for(out / f"holders-r1-{proc.pid}.json")
    finally:
        proc.wait(timeout=30)
    assert reply["found"] == {"top": 3} and reply["id"] == "r1" and reply["pid"] == proc.pid
    assert reply["rss_bytes"] > 0 and reply["elapsed_s"] >= 0

    if (AGENT_DIR / "holders.py").is_file():
        return  # the real module is there: its own tests cover it
    out2 = tmp_path / "out2"
    out2.mkdir()
    (out2 / "holders-request.json").write_text(json.dumps({"id": "r2", "args": {}}))
    env = agent_env(_env_without_agent(), out2, INTERVAL_S)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        reply = _wait_for(out2 / f"holders-r2-{proc.pid}.json")
    finally:
        proc.wait(timeout=30)
    assert reply["id"] == "r2" and "holders" in reply["error"]
