"""DB evidence from the server's `/metrics`: commands and reply bytes per phase and per poll.

The server counts every MongoDB command it sends (`memdiag_db_commands_total`) and the
reply bytes it receives (`memdiag_db_reply_bytes_total`), labelled by command and
collection, and the status polls it served (`memdiag_status_polls_total`). Counters
only grow, so a phase's figures are the difference of two scrapes taken at its
boundaries:

    before = scrape(url); ...steady phase...; after = scrape(url)
    evidence = db_evidence(before, after)   # per-command totals and per-poll figures

`parse_metrics` and `db_evidence` are pure; `scrape` is the only I/O (stdlib urllib, so
the probe runs anywhere without an event loop).
"""

from __future__ import annotations

import urllib.request
from dataclasses import asdict, dataclass

from prometheus_client.parser import text_string_to_metric_families

from profiling.artefacts import dumps
from profiling.errors import HarnessError

SCHEMA_VERSION = 1
COMMANDS = "memdiag_db_commands_total"
REPLY_BYTES = "memdiag_db_reply_bytes_total"
POLLS = "memdiag_status_polls_total"


@dataclass(frozen=True, slots=True)
class MetricsScrape:
    """Counter values of one scrape; keys are (command, collection, op).

    `op` is the server's tag for the code path that sent the command (`status`,
    `worker-merge`, ...); it is "" when the server does not label it.
    """

    commands: dict[tuple[str, str, str], float]
    reply_bytes: dict[tuple[str, str, str], float]
    status_polls: float
    gauges: dict[str, float]  # unlabelled gauges, e.g. memdiag_peak_rss_bytes


@dataclass(frozen=True, slots=True)
class CommandFigures:
    command: str
    collection: str
    op: str
    commands: int
    reply_bytes: int


@dataclass(frozen=True, slots=True)
class DbEvidence:
    """DB traffic between two scrapes, in total and per status poll served."""

    status_polls: int
    commands_total: int
    reply_bytes_total: int
    commands_per_poll: float | None  # None when no poll was served
    reply_bytes_per_poll: float | None
    # Only the commands the status path itself sent (op="status"), per poll: the
    # incident's "DB reads per poll", free of worker and list traffic.
    status_commands_per_poll: float | None
    status_reply_bytes_per_poll: float | None
    by_command: tuple[CommandFigures, ...]  # largest reply bytes first

    def to_dict(self) -> dict[str, object]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    def to_json(self) -> str:
        return dumps(self.to_dict())


def parse_metrics(text: str) -> MetricsScrape:
    """Pull the DB counters, the poll counter and unlabelled gauges out of Prometheus text."""
    commands: dict[tuple[str, str, str], float] = {}
    reply: dict[tuple[str, str, str], float] = {}
    polls = 0.0
    gauges: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            key = (labels.get("command", ""), labels.get("collection", ""), labels.get("op", ""))
            if sample.name == COMMANDS:
                commands[key] = commands.get(key, 0.0) + sample.value
            elif sample.name == REPLY_BYTES:
                reply[key] = reply.get(key, 0.0) + sample.value
            elif sample.name == POLLS:
                polls += sample.value
            elif family.type == "gauge" and not sample.labels:
                gauges[sample.name] = sample.value
    return MetricsScrape(commands=commands, reply_bytes=reply, status_polls=polls, gauges=gauges)


def db_evidence(before: MetricsScrape, after: MetricsScrape) -> DbEvidence:
    """Counter deltas from `before` to `after`; a counter reset (restart) is an error."""
    polls = after.status_polls - before.status_polls
    keys = sorted({*before.commands, *before.reply_bytes, *after.commands, *after.reply_bytes})
    rows = []
    for key in keys:
        n = after.commands.get(key, 0.0) - before.commands.get(key, 0.0)
        b = after.reply_bytes.get(key, 0.0) - before.reply_bytes.get(key, 0.0)
        if n < 0 or b < 0:
            raise HarnessError(f"DB counter for {key} went down: did the server restart?")
        if n or b:
            rows.append(CommandFigures(key[0], key[1], key[2], int(n), int(b)))
    if polls < 0:
        raise HarnessError("status poll counter went down: did the server restart?")
    rows.sort(key=lambda r: (-r.reply_bytes, -r.commands, r.command, r.collection, r.op))
    n_total = sum(r.commands for r in rows)
    b_total = sum(r.reply_bytes for r in rows)
    n_status = sum(r.commands for r in rows if r.op == "status")
    b_status = sum(r.reply_bytes for r in rows if r.op == "status")
    return DbEvidence(
        status_polls=int(polls),
        commands_total=n_total,
        reply_bytes_total=b_total,
        commands_per_poll=n_total / polls if polls else None,
        reply_bytes_per_poll=b_total / polls if polls else None,
        status_commands_per_poll=n_status / polls if polls else None,
        status_reply_bytes_per_poll=b_status / polls if polls else None,
        by_command=tuple(rows),
    )


def scrape(base_url: str, *, timeout_s: float = 10.0) -> MetricsScrape:
    """GET `<base_url>/metrics` and parse it."""
    url = base_url.rstrip("/") + "/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError as exc:
        raise HarnessError(f"cannot scrape {url}: {exc}; is the server running?") from exc
    return parse_metrics(text)
