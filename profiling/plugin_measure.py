"""What the pytest plugin's `memdiag_measure` fixture does when a test calls it.

One call is one `memdiag measure` run against a server: one the test started (`url=`,
`pid=`), a command memdiag starts (`command=[...]`, whose first stdout line is its
URL, as the reference server's is; or give `url=` too when it prints none), or a server
configuration as `memdiag compare --server` takes it (`server="app={python} app.py --port
{port}"`, or `server="api"` for `[tool.memdiag.servers.api]` in ./pyproject.toml): that
one is started fresh, measured as its whole process tree and stopped (its process group)
exactly as compare does, its health path waited for. A `command=` is started by the same
`CommandServer` (and stopped with its process group), then measured as a server the
test started. Both are offered the run's metrics folder (MEMDIAG_METRICS_DIR), as
`start_command_server` offers it: a server of several processes that publishes each
one's address there (the reference server with `--processes N`) has /metrics read from
every process, as `memdiag measure` reads its own. It goes through the same parts as
the CLI: the options are `memdiag measure`'s own declaration
(`profiling.run.settings.resolve`: given, else MEMDIAG_*, else the default),
`profiling.run.options.load_plan` and `server_plan` check them,
`runner.measure_run` with an `Attach` measures, `outputs.write_reports` writes the run
folder, and with limits `gate.parse_limits`/`gate.check` judge it and the gate's table
of checks is the failure message. Imported only by a test that asks for the fixture.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from profiling.commands.gate import format_checks
from profiling.errors import ExitCode, MemdiagError, UsageError
from profiling.report.write import write_reports
from profiling.results.folder import RUNS_DIR, SUMMARY_FILE, RunResult, load_any, load_runs
from profiling.run import environment
from profiling.run.builds import apply_poll, build_configurations
from profiling.run.command_server import CommandServer
from profiling.run.launch import offer_metrics_dir
from profiling.run.options import load_plan, server_plan
from profiling.run.runner import Attach, Job, measure_run
from profiling.run.server_command import DEFAULT_HEALTH_PATH, ServerCommand
from profiling.run.servers import START_TIMEOUT_S, Configuration
from profiling.run.settings import LoadSettings, ServerSettings, resolve
from profiling.verdict.compare import compare
from profiling.verdict.gate import check, exit_code, parse_limits


def load_settings(
    *,
    locustfile: str | Path | None = None,
    options: Mapping[str, str | int | float] | None = None,
    poll: Sequence[str] | None = None,
    own_server: bool = False,
    **given: Any,
) -> LoadSettings:
    """The load of a `memdiag_measure(...)` call: `memdiag measure`'s options of the same
    names (None: left out), scenario `options` as -O KEY=VALUE; an unknown name fails.
    `poll` (or a server of the test's own with no load named) is the url-poll scenario,
    as `memdiag compare --poll` makes it."""
    path = Path(locustfile) if locustfile is not None else None
    chosen = argparse.Namespace(
        poll=list(poll or []),
        locustfile=path,
        scenario=given.pop("scenario", None),
        option=[f"{k}={v}" for k, v in (options or {}).items()],
    )
    apply_poll(chosen, own_server)
    return resolve(
        LoadSettings,
        {**given, "scenario": chosen.scenario, "locustfile": path, "option": chosen.option or None},
    )


def _server_configuration(text: str) -> Configuration:
    """`NAME=CMD ...` or a `[tool.memdiag.servers.NAME]` of ./pyproject.toml, read as
    `memdiag compare --server` reads it."""
    args = argparse.Namespace(server=[text], rev=[], health=DEFAULT_HEALTH_PATH)
    configs = build_configurations(args)
    assert configs is not None and len(configs) == 1
    return configs[0]


class Measurer:
    """The `memdiag_measure` fixture's value: call it to measure; see `__call__`."""

    def __init__(
        self, base: Path, *, label: str, limits: dict[str, Any], folders: list[Path]
    ) -> None:
        self.base = base
        self.label = label
        self.limits = {k: v for k, v in limits.items() if k != "baseline"}
        self.baseline: Path | None = Path(limits["baseline"]) if "baseline" in limits else None
        self.folders = folders  # every run folder written, for the plugin's summary
        self.folder: Path | None = None  # the last one
        self._command: CommandServer | None = None

    def __call__(
        self,
        *,
        url: str | None = None,
        pid: int | None = None,
        db_pid: int | None = None,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
        scenario: str | None = None,
        locustfile: str | Path | None = None,
        options: Mapping[str, str | int | float] | None = None,
        status_endpoint: str | None = None,
        users: int | None = None,
        rate: float | None = None,
        duration: float | None = None,
        warmup: float | None = None,
        cooldown: float | None = None,
        ready_timeout: float | None = None,
        load_processes: int | None = None,
        label: str | None = None,
        sample_interval: float | None = None,
        html: bool = True,
        server: str | None = None,
        poll: Sequence[str] | None = None,
    ) -> RunResult:
        """Measure one run and return its RunResult (what run.json holds).

        The server: `url` and `pid` of one the test started, or `command` (argv) for one
        memdiag starts and stops, with extra `env` (use absolute paths: it runs in the
        test's working directory), or `server`: `NAME=CMD ...` (split like a shell
        line, as the shell hands `--server NAME='CMD ...'` to compare) or a NAME of
        `[tool.memdiag.servers.NAME]` in ./pyproject.toml, as `memdiag compare --server`
        takes it (`{port}` is a free port, `{python}` this interpreter). `poll` (e.g.
        `["GET /work"]`) polls those URLs round-robin at `rate`, like `--poll`; a `server`
        with neither `poll`, `locustfile` nor `scenario` is polled at `GET /`. The load,
        as `memdiag measure`'s options of the same names: a built-in `scenario` or your
        `locustfile` (it gets the target rate as env MEMDIAG_RATE), `rate` per second,
        `warmup`, `duration` (the measured steady phase), `cooldown` in seconds,
        `ready_timeout` (how much longer the warm-up may wait for a scenario's tasks to
        reach their size), `users`, scenario `options`.
        Left out, they default as the CLI's do: MEMDIAG_RATE ... when set, else the
        declared defaults (`profiling.run.settings.LoadSettings`: 10/s, 30 s warm-up,
        30 s steady).
        """
        try:
            load = load_settings(
                scenario=scenario,
                locustfile=locustfile,
                options=options,
                poll=poll,
                own_server=server is not None,
                users=users,
                rate=rate,
                duration=duration,
                warmup=warmup,
                cooldown=cooldown,
                ready_timeout=ready_timeout,
                load_processes=load_processes,
                status_endpoint=status_endpoint,
            )
            config = None
            if server is not None:
                if command is not None or url is not None or pid is not None:
                    raise UsageError(
                        "give server= (memdiag starts it), not with command=/url=/pid="
                    )
                config = replace(_server_configuration(server), label=label or self.label)
            return self._measure(
                config=config,
                url=url,
                pid=pid,
                db_pid=db_pid,
                command=command,
                env=env,
                start_timeout_s=start_timeout_s,
                load=load,
                label=label or self.label,
                sample_interval=sample_interval,
                html=html,
            )
        except MemdiagError as exc:
            # memdiag's one-line messages are the whole story; a traceback adds nothing.
            pytest.fail(f"memdiag: {exc}", pytrace=False)

    def _out_dir(self) -> Path:
        n = len(self.folders) + 1
        out = self.base if n == 1 else self.base.with_name(f"{self.base.name}-{n}")
        if out.exists():
            # Left by an earlier session under --memdiag-out: replaced, as pytest replaces
            # its own tmp_path; anything that is not a run folder is left alone.
            if not ((out / RUNS_DIR).is_dir() or (out / SUMMARY_FILE).is_file()):
                raise UsageError(f"--memdiag-out: {out} exists and is not a memdiag run folder")
            shutil.rmtree(out)
        return out

    def _measure(
        self,
        *,
        config: Configuration | None,
        url: str | None,
        pid: int | None,
        db_pid: int | None,
        command: Sequence[str] | None,
        env: Mapping[str, str] | None,
        start_timeout_s: float,
        load: LoadSettings,
        label: str,
        sample_interval: float | None,
        html: bool,
    ) -> RunResult:
        if config is None and command is None and (url is None or pid is None):
            raise UsageError(
                "memdiag_measure needs url= and pid= of a running server, command=[...]"
                " or server='NAME=CMD ...'"
            )
        if command is not None and pid is not None:
            raise UsageError("give command= (memdiag starts it) or pid= (you did), not both")
        if url is not None and not url.startswith(("http://", "https://")):
            raise UsageError(f"url={url!r} is not a URL; e.g. http://127.0.0.1:8080/")
        if sample_interval is not None and sample_interval <= 0:
            raise UsageError(f"sample_interval={sample_interval}: must be > 0 seconds")
        plan = load_plan(load)
        server = server_plan(resolve(ServerSettings, {"sample_interval": sample_interval}))
        baseline = compare(load_any(self.baseline)) if self.baseline is not None else None
        out = self._out_dir()
        started = time.monotonic()
        env_record = environment.environment(db_server="", db_version="")
        if config is not None:
            # Started, sampled as its tree and stopped by the runner, as compare does.
            measure_run(Job(config, 1, 1, "none", plan), out, server, env=env_record)
        else:
            job = Job(Configuration(label, "attached"), 1, 1, "none", plan)
            metrics_dir = None
            if command is not None:
                # Started as compare starts a --server command (its process group stopped
                # after), offered the run's metrics folder as start_command_server offers
                # it; then measured as a server the test started.
                base, metrics_dir = offer_metrics_dir(os.environ, out / RUNS_DIR / job.folder_name)
                argv = ServerCommand(label, tuple(command), env=tuple((env or {}).items()), url=url)
                self._command = CommandServer(
                    argv, out / "server.log", env=base, start_timeout_s=start_timeout_s
                ).start()
                url, pid = self._command.url, self._command.pid
            assert url is not None and pid is not None
            try:
                measure_run(
                    job,
                    out,
                    server,
                    attach=Attach(url, pid, db_pid, metrics_dir),
                    env=env_record,
                )
            finally:
                self.close()
        measured_s = time.monotonic() - started
        # Re-read what the run wrote, as `memdiag measure` does: the report and the value
        # returned are exactly what `memdiag report` would show, timeline included.
        runs = load_runs(out)
        comparison = compare(runs, name=label)
        write_reports(comparison, out, html=html)
        self.folder = out
        self.folders.append(out)
        print(
            f"memdiag: {label}: {measured_s:.1f} s measuring "
            f"({plan.warmup_s + plan.duration_s + plan.cooldown_s:g} s of load phases), "
            f"{time.monotonic() - started - measured_s:.1f} s writing reports"
        )
        if self.limits:
            limits = parse_limits({"configurations": {label: self.limits}}, "@pytest.mark.memdiag")
            checks = check(comparison, limits, baseline)
            code = exit_code(checks, comparison)
            table = format_checks(checks)
            print(table)
            where = f"run folder: {out}"
            if code == ExitCode.INVALID:
                pytest.fail(
                    "memdiag: invalid run, its figures cannot gate: "
                    + "; ".join(comparison.invalid_reasons)
                    + f"\n{table}\n{where}",
                    pytrace=False,
                )
            if code != ExitCode.OK:
                # The first line is what pytest's short summary shows: name what failed.
                failed = [f"{c.name} ({c.actual})" for c in checks if c.status == "failed"]
                pytest.fail(
                    f"memdiag: {len(failed)} of {len(checks)} check(s) failed: "
                    + "; ".join(failed)
                    + f"\n{table}\n{where}",
                    pytrace=False,
                )
        return runs[0]

    def close(self) -> None:
        if self._command is not None:
            self._command.stop()
            self._command = None
