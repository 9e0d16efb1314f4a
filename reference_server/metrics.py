"""The server's own instrumentation: Prometheus metrics, the DB command listener, loop lag.

The command listener counts every command and its reply size by command, collection
and `op` (the `comment` a code path attaches), for motor (called on its pool threads)
and AsyncMongoClient alike. Reply size is the BSON size of the decoded reply, so it
costs one `bson.encode` per reply; small next to the decode the driver already did.

Status requests in flight show the incident's mechanism: in db-polling each one holds a
decoded task document, so memory rises with how many overlap. Every status request
observes the count (itself included) into `memdiag_status_in_flight` as it starts; a
profiler reads the phase's maximum (highest bucket that grew) and mean (sum/count) from
two scrapes, and `memdiag_status_in_flight_now` is the count at the scrape.
"""

from __future__ import annotations

import asyncio
import threading
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import bson
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from pymongo import monitoring

STATUS_IN_FLIGHT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def read_status_kib(field: str, pid: str = "self") -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM ...), in bytes; 0 if absent."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        r = self.registry
        self.db_commands = Counter(
            "memdiag_db_commands", "DB commands sent", ["command", "collection", "op"], registry=r
        )
        self.db_reply_bytes = Counter(
            "memdiag_db_reply_bytes",
            "BSON bytes of DB replies",
            ["command", "collection", "op"],
            registry=r,
        )
        self.db_failures = Counter(
            "memdiag_db_command_failures", "DB commands that failed", ["command"], registry=r
        )
        self.worker_db_retries = Counter(
            "memdiag_worker_db_retries",
            "worker DB calls retried because the DB was unreachable",
            registry=r,
        )
        self.status = StatusFigures()
        r.register(self.status)
        self.live_tasks = Gauge("memdiag_live_tasks", "tasks in the live registry", registry=r)
        # What the four per-task dicts still hold (incident changes 6 and 8 empty them).
        self.live_entries = Gauge(
            "memdiag_live_entries",
            "entries in a per-task structure of the live registry",
            ["structure"],
            registry=r,
        )
        self.peak_rss = Gauge(
            "memdiag_peak_rss_bytes", "kernel high-water mark of RSS (VmHWM)", registry=r
        )
        self.peak_rss.set_function(lambda: read_status_kib("VmHWM"))
        self.loop_lag = Histogram(
            "memdiag_event_loop_lag_seconds",
            "event-loop lag: actual minus scheduled wake-up",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.tasks_finished = Counter(
            "memdiag_tasks_finished", "tasks that ended", ["status"], registry=r
        )
        self.stage_rss_delta = Gauge(
            "memdiag_stage_rss_delta_bytes",
            "RSS change over the last run of a stage",
            ["stage"],
            registry=r,
        )
        self.stage_peak_rss = Gauge(
            "memdiag_stage_peak_rss_bytes",
            "VmHWM at the end of the last run of a stage",
            ["stage"],
            registry=r,
        )
        self.gc_runs = Counter(
            "memdiag_explicit_gc_collect", "explicit gc.collect() calls", ["where"], registry=r
        )
        self.listener = DbCommandListener(self)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StatusFigures(Collector):
    """The status path's figures: plain ints bumped on the event loop, exported at a scrape.

    A status poll is the hot path the designs are compared on; prometheus_client's
    Counter and Histogram take a lock and check their state on every update (1.3 us of
    a lean poll's Python time for these four), while the handlers all run on the event
    loop's one thread, so ints are exact without a lock. Exposed as
    `memdiag_status_polls_total`, `memdiag_status_response_bytes_total`, the histogram
    `memdiag_status_in_flight` and the gauge `memdiag_status_in_flight_now`. Only the
    event loop's thread may call `started`, `ended` and `served`.
    """

    def __init__(self) -> None:
        self.polls = 0
        self.response_bytes = 0
        self.in_flight = 0
        self.in_flight_sum = 0
        # One slot per bucket (non-cumulative) and a last one for +Inf.
        self.in_flight_buckets = [0] * (len(STATUS_IN_FLIGHT_BUCKETS) + 1)

    def started(self) -> None:
        """A status request starts; pair with `ended` in a `finally:`."""
        self.in_flight = n = self.in_flight + 1
        self.in_flight_sum += n
        self.in_flight_buckets[bisect_left(STATUS_IN_FLIGHT_BUCKETS, n)] += 1

    def ended(self) -> None:
        self.in_flight -= 1

    def served(self, body_bytes: int) -> None:
        """A status poll was answered with `body_bytes` of body."""
        self.polls += 1
        self.response_bytes += body_bytes

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("memdiag_status_polls", "status polls served", value=self.polls)
        yield CounterMetricFamily(
            "memdiag_status_response_bytes",
            "bytes of status poll responses",
            value=self.response_bytes,
        )
        counts = list(accumulate(self.in_flight_buckets))
        # le="1.0" ... as prometheus_client's own Histogram writes its bounds.
        bounds = [repr(float(b)) for b in STATUS_IN_FLIGHT_BUCKETS] + ["+Inf"]
        yield HistogramMetricFamily(
            "memdiag_status_in_flight",
            "status requests in flight as each starts, itself included",
            buckets=list(zip(bounds, counts, strict=True)),
            sum_value=self.in_flight_sum,
        )
        yield GaugeMetricFamily(
            "memdiag_status_in_flight_now", "status requests in flight now", value=self.in_flight
        )


class DbCommandListener(monitoring.CommandListener):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._pending: dict[tuple[Any, int], tuple[str, str, str]] = {}
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        cmd = event.command
        name = event.command_name
        if name == "getMore":
            collection = str(cmd.get("collection", ""))
        else:
            target = cmd.get(name)
            collection = target if isinstance(target, str) else ""
        comment = cmd.get("comment")
        op = comment if isinstance(comment, str) else "other"
        labels = (name, collection, op)
        self.metrics.db_commands.labels(*labels).inc()
        with self._lock:
            self._pending[(event.connection_id, event.request_id)] = labels

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self._lock:
            labels = self._pending.pop((event.connection_id, event.request_id), None)
        if labels is not None:
            self.metrics.db_reply_bytes.labels(*labels).inc(len(bson.encode(event.reply)))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self._pending.pop((event.connection_id, event.request_id), None)
        self.metrics.db_failures.labels(event.command_name).inc()


async def watch_loop_lag(metrics: Metrics, interval_s: float = 0.1) -> None:
    """Sleep `interval_s` forever and record how late each wake-up was."""
    loop = asyncio.get_running_loop()
    while True:
        scheduled = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        metrics.loop_lag.observe(max(0.0, loop.time() - scheduled))
