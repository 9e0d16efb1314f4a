"""A user's own server started from its command for one measured run, then stopped.

`CommandServer` is the `ReferenceServer` of a `ServerCommand`: it fills `{port}` with a
free port (or reads the URL from the first stdout line), waits until the health path
answers, keeps the output in `server.log`, and stops the server with SIGTERM, then
SIGKILL, sent to its whole process group: the command may be a shell or a launcher
that forks the real server, and nothing it started may outlive the run.

`start_command_server` is `launch.start_reference_server` for such a configuration:
no database (the user's server brings its own), the memory agent injected the same way
as into the reference server (it rides on PYTHONPATH, so it reaches any Python server).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from pathlib import Path

from loadtests.procgroup import end_group
from loadtests.results import RATE_TOLERANCE, LoadResult
from profiling.errors import HarnessError
from profiling.probes.agentlog import AGENT_FOLDER, agent_env, opted_out
from profiling.results.figures import load_figures
from profiling.run.launch import Launched, offer_metrics_dir, write_processes
from profiling.run.plans import Job, LoadPlan, ServerPlan
from profiling.run.server_command import ServerCommand
from profiling.run.servers import START_TIMEOUT_S, ReferenceServer, free_port, wait_healthy
from profiling.run.subprocs import first_line


class CommandServer(ReferenceServer):
    """A `ServerCommand` as a child process in a session of its own; a context manager."""

    def __init__(
        self,
        command: ServerCommand,
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.command = command
        self.port = free_port()
        argv = command.argv_for(self.port)
        base = dict(os.environ if env is None else env)
        if command.python:
            # A revision's own venv first on PATH, so `python`, `gunicorn` ... are its own.
            venv_bin = str(Path(command.python).parent)
            base["PATH"] = venv_bin + os.pathsep + base.get("PATH", "")
            base["VIRTUAL_ENV"] = str(Path(venv_bin).parent)
        self._copier: threading.Thread | None = None
        super().__init__(
            argv, log_path, env={**base, **dict(command.env)}, start_timeout_s=start_timeout_s
        )

    def start(self) -> CommandServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w", encoding="utf-8")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdout=subprocess.PIPE,
                stderr=self._log,
                stdin=subprocess.DEVNULL,
                text=True,
                env=self.env,
                cwd=self.command.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            raise HarnessError(f"server {self.command.name!r} cannot start: {exc}") from None
        try:
            url = self.command.url_for(self.port)
            if url is None:
                line = first_line(self.process, self.start_timeout_s)
                if not line.startswith("http"):
                    exited: int | None = None
                    # An empty line is the pipe's end: the server is exiting; its code says why.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        exited = self.process.wait(2.0)
                    why = (
                        f"exited with {exited} before printing its URL"
                        if exited is not None
                        else f"printed no URL as its first line within {self.start_timeout_s:.0f}s"
                        " (or give the command a {port} placeholder)"
                    )
                    raise HarnessError(f"server {self.command.name!r} {why}")
                url = line.strip()
            self.url = url
            self._copier = threading.Thread(target=self._copy_stdout, daemon=True)
            self._copier.start()
            wait_healthy(self.url, self.start_timeout_s, self.process, self.command.health_path)
        except HarnessError as exc:
            self.stop()
            raise HarnessError(f"{exc}; {_tail(self.log_path)}") from None
        return self

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM to the process group, SIGKILL to what is left of it after the timeout
        (a forked worker that ignored SIGTERM); the run ends only once nothing of the
        group runs any more. Returns the command's exit code."""
        proc = self.process
        if proc is None:
            return None
        code = end_group(proc, timeout_s, kill_wait_s=10.0)
        # The group is gone, so the pipe is at its end: let the copier finish, then close.
        if self._copier is not None:
            self._copier.join(timeout=2.0)
        if proc.stdout is not None and (self._copier is None or not self._copier.is_alive()):
            proc.stdout.close()
        if self._log is not None and not self._log.closed:
            self._log.close()
        return code

    def __enter__(self) -> CommandServer:
        return self.start()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return f"no log at {path}"
    return f"last lines of {path}: " + " | ".join(text[-lines:]) if text else f"{path} is empty"


def start_command_server(
    job: Job, run_dir: Path, server: ServerPlan, stack: contextlib.ExitStack
) -> Launched:
    """Start the job's command server for one run, stopped when `stack` unwinds."""
    command = job.config.command
    assert command is not None
    # Offered, as the reference server is told with --metrics-dir: a server of several
    # processes that publishes each one's address there has /metrics read from all.
    env, metrics_dir = offer_metrics_dir(os.environ, run_dir)
    agent_dir = None
    if server.agent and job.profile == "none" and not opted_out(os.environ):
        agent_dir = run_dir / AGENT_FOLDER
        env = agent_env(env, agent_dir, server.sample_interval_s)
    proc = stack.enter_context(CommandServer(command, run_dir / "server.log", env=env))
    pids = {"server": proc.pid, "db": None, "url": proc.url, "argv": proc.argv}
    write_processes(run_dir, {**pids, "cwd": command.cwd, "allocator": None})
    return Launched(
        proc.url,
        proc.pid,
        process=proc,
        agent_dir=agent_dir,
        metrics_dir=metrics_dir,
        metrics_optional=True,
    )


def locustfile_rate_problem(load: LoadResult, plan: LoadPlan) -> str | None:
    """Why a run of a user's own locustfile against a user's own server is invalid: it
    missed the target rate (`--rate`, handed to the locustfile as MEMDIAG_RATE) by more
    than 5 %, as a built-in scenario's paced stream may not. A locustfile that paces
    through memdiag's streams is checked by the load result itself."""
    if plan.locustfile is None or load.steady.streams:
        return None
    achieved = load_figures(load, plan.rate_per_s).achieved_rate_per_s
    if abs(achieved / plan.rate_per_s - 1.0) <= RATE_TOLERANCE:
        return None
    return (
        f"the locustfile sent {achieved:.2f} requests/s in the steady phase, not the"
        f" {plan.rate_per_s:g}/s of --rate (more than {RATE_TOLERANCE:.0%} off): pace it by"
        " MEMDIAG_RATE, or give the --rate it sends"
    )
