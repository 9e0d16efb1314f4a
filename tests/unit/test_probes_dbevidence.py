"""DB evidence from Prometheus text: deltas between scrapes and per-poll figures."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from profiling.errors import HarnessError
from profiling.probes.dbevidence import db_evidence, parse_metrics


class FakeServer:
    """The server's metric families, built with the real prometheus_client."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["command", "collection", "op"]
        self.commands = Counter("memdiag_db_commands_total", "cmds", labels, registry=self.registry)
        self.reply = Counter(
            "memdiag_db_reply_bytes_total", "bytes", labels, registry=self.registry
        )
        self.polls = Counter("memdiag_status_polls_total", "polls", registry=self.registry)
        self.peak = Gauge("memdiag_peak_rss_bytes", "peak", registry=self.registry)

    def text(self) -> str:
        return generate_latest(self.registry).decode()


def test_deltas_per_command_and_per_poll() -> None:
    srv = FakeServer()
    srv.commands.labels("find", "tasks", "status").inc(3)  # warm-up traffic, outside the phase
    srv.reply.labels("find", "tasks", "status").inc(1000)
    before = parse_metrics(srv.text())
    srv.commands.labels("find", "tasks", "status").inc(10)
    srv.reply.labels("find", "tasks", "status").inc(40_000_000)
    srv.commands.labels("update", "tasks", "checkpoint").inc(4)
    srv.reply.labels("update", "tasks", "checkpoint").inc(400)
    srv.polls.inc(10)
    srv.peak.set(123)
    after = parse_metrics(srv.text())
    assert after.gauges["memdiag_peak_rss_bytes"] == 123
    ev = db_evidence(before, after)
    assert ev.status_polls == 10
    assert ev.commands_total == 14
    assert ev.reply_bytes_total == 40_000_400
    assert ev.commands_per_poll == pytest.approx(1.4)
    assert ev.reply_bytes_per_poll == pytest.approx(4_000_040)
    assert [(r.command, r.collection, r.op, r.commands) for r in ev.by_command] == [
        ("find", "tasks", "status", 10),
        ("update", "tasks", "checkpoint", 4),
    ]
    assert ev.status_commands_per_poll == pytest.approx(1.0)
    assert ev.status_reply_bytes_per_poll == pytest.approx(4_000_000)
    assert json.loads(ev.to_json())["schema_version"] == 1


def test_no_polls_and_counter_reset() -> None:
    srv = FakeServer()
    first = parse_metrics(srv.text())
    ev = db_evidence(first, first)
    assert ev.commands_per_poll is None and ev.by_command == ()
    srv.commands.labels("find", "tasks", "status").inc(5)
    later = parse_metrics(srv.text())
    with pytest.raises(HarnessError, match="restart"):
        db_evidence(later, first)
