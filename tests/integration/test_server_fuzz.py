"""schemathesis fuzzes every route of a real server on the real embedded DB, from the
server's own /openapi.json, authenticated (a user's token; /debug with the admin token).

All of schemathesis' checks (no 5xx, responses match the documented schemas and status
codes, schema-violating input rejected, 405 with Allow ...) plus `json_error_body`:
every 4xx is `{"error", "detail"}`. The longer run is a benchmark:
`python -m profiling.benchmarks.fuzz --examples 200`.
"""

from __future__ import annotations

import secrets

import pytest

from profiling.benchmarks.fuzz import run_fuzz

EXAMPLES = 15  # per operation: 10-20 s a mode here; the benchmark runs more


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["db-polling", "memory-first", "lean"])
def test_fuzz_every_route(start_server, tmp_path, upload_dir, mode):
    admin = secrets.token_urlsafe(16)
    # One worker: the fuzzer queues many tasks, and they should not load the machine. The
    # "=" keeps a token that starts with "-" (1 in 64 of them) from reading as an option.
    server = start_server(
        "--mode", mode, f"--admin-token={admin}", "--workers=1", "--upload-dir", str(upload_dir)
    )
    result = run_fuzz(
        server.url, server.new_user("fuzzer"), admin, tmp_path / "st", examples=EXAMPLES
    )
    assert result.operations >= 14, result.output[-3000:]
    assert result.generated > 10 * result.operations, result.output[-3000:]
    assert result.ok, "\n".join(result.failures) + "\n" + result.output[-6000:]
    log = server.stderr_text()
    assert "unhandled error" not in log, log[-4000:]
    assert server.request("GET", "/healthz").status == 200
