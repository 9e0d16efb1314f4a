"""Fuzz every route of the reference server from its own OpenAPI document (schemathesis).

python -m profiling.benchmarks.fuzz [--examples 200] [--mode lean] [--seed N]

Starts the embedded DB and the reference server (with an admin token), creates a user,
then runs `st run` (schemathesis, a dev dependency) against `/openapi.json`: every
operation with that user's bearer token, the `/debug` ones with the admin token, all of
schemathesis' checks plus `json_error_body` (fuzz_checks.py). Prints one line per
failure kind and a summary; exit 0 when nothing failed, 1 otherwise. The core suite
calls `run_fuzz` with a small example count (tests/integration/test_server_fuzz.py).

POST /debug/tracemalloc/snapshot is left out: it writes a file at a path the client
names (by design, for the admin), and random paths would litter the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiling.run.embedded_db import EmbeddedDB
from profiling.run.servers import MODES, Configuration, ReferenceServer, reference_server_args

EXCLUDED = ("/debug/tracemalloc/snapshot",)


@dataclass(frozen=True, slots=True)
class FuzzResult:
    exit_code: int
    generated: int  # test cases schemathesis generated
    operations: int  # operations tested
    failures: tuple[str, ...]  # one line per distinct failure
    output: str  # st's terminal output, for a failing test's message
    report: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures


def _config(user_token: str, admin_token: str) -> str:
    # TOML by hand: two headers and per-operation check settings need no library.
    return f"""headers = {{ Authorization = "Bearer {user_token}" }}
checks.enabled = true

[[operations]]
include-path-regex = "^/debug/"
headers = {{ Authorization = "Bearer {admin_token}" }}
# Without the admin token /debug answers 404, never 401: the routes hide by design.
checks.missing_required_header.enabled = false
checks.ignored_auth.enabled = false

[[operations]]
include-path = "/api/tasks"
include-method = "POST"
# What no schema can say: an upload must be audio that ffprobe reads (else 415), and
# with embedded segments, segments x words must fit a 16 MiB document (else 422).
checks.positive_data_acceptance.expected-statuses = ["2XX", 401, 404, 409, 415, 422]
"""


def run_fuzz(
    url: str,
    user_token: str,
    admin_token: str,
    workdir: Path,
    *,
    examples: int = 20,
    seed: int = 1,
    request_timeout_s: float = 30.0,
    max_time_s: float | None = None,
) -> FuzzResult:
    """One `st run` against `url`; the JSON report and the output are kept in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    config.write_text(_config(user_token, admin_token))
    report_path = workdir / "report.json"
    # The document as the admin sees it (with /debug), fetched once and fuzzed from a file.
    schema = workdir / "openapi.json"
    schema.write_bytes(_get(url.rstrip("/") + "/openapi.json", admin_token))
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        str(schema),
        "--url",
        url.rstrip("/") + "/",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--request-timeout",
        str(request_timeout_s),
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        *[arg for path in EXCLUDED for arg in ("--exclude-path", path)],
    ]
    if max_time_s is not None:
        argv += ["--max-time", str(int(max_time_s))]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="profiling.benchmarks.fuzz_checks")
    # st runs in `workdir`: let it import the hooks from this very checkout.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=workdir, check=False)
    output = proc.stdout + proc.stderr
    (workdir / "st-output.txt").write_text(output)
    report: dict[str, Any] = {}
    if report_path.is_file():
        report = json.loads(report_path.read_text())
    cases = report.get("test_cases") or {}
    ops = report.get("operations") or {}
    return FuzzResult(
        exit_code=proc.returncode,
        generated=int(cases.get("generated") or 0),
        operations=int(ops.get("tested") or 0),
        failures=tuple(_failure_lines(output)),
        output=output,
        report=report,
    )


def _failure_lines(output: str) -> list[str]:
    """The distinct `- STnnn title` and operation headings of st's FAILURES section."""
    lines: list[str] = []
    section = output.split("= FAILURES =", 1)
    if len(section) < 2:
        return lines
    body = section[1].split("= SUMMARY =", 1)[0]
    heading = ""
    for line in body.splitlines():
        if line.startswith("_") and line.endswith("_"):
            heading = line.strip("_ ")
        elif line.startswith("- "):
            entry = f"{heading}: {line[2:].strip()}"
            if entry not in lines:
                lines.append(entry)
    return lines


def _get(url: str, token: str) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return bytes(resp.read())


def _new_user(url: str) -> str:
    req = urllib.request.Request(
        url.rstrip("/") + "/api/users",
        data=b'{"name": "fuzzer"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return str(json.loads(resp.read())["token"])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--examples", type=int, default=200, help="test cases per operation")
    p.add_argument("--mode", choices=MODES, default="lean")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-time", type=float, help="time budget in seconds for st run")
    p.add_argument("--workdir", type=Path, help="keep st's report and output here")
    args = p.parse_args(argv)
    if args.examples < 1:
        p.error("--examples must be at least 1")
    admin = secrets.token_urlsafe(24)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="memdiag-fuzz-"))
    with EmbeddedDB() as db:
        server_argv = [
            sys.executable,
            "-m",
            "reference_server",
            *reference_server_args(
                Configuration(args.mode, args.mode), mongo_uri=db.uri, database="fuzz"
            ),
            # "=": a token that starts with "-" would read as an option.
            *(f"--admin-token={admin}", "--workers", "1", "--upload-dir", str(workdir / "up")),
        ]
        with ReferenceServer(server_argv, workdir / "server.log") as server:
            result = run_fuzz(
                server.url,
                _new_user(server.url),
                admin,
                workdir / "st",
                examples=args.examples,
                seed=args.seed,
                max_time_s=args.max_time,
            )
    for line in result.failures:
        print(f"FAILED {line}")
    print(
        f"{result.operations} operations, {result.generated} cases, "
        f"{len(result.failures)} distinct failure(s), st exit {result.exit_code}; "
        f"output in {workdir}"
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
