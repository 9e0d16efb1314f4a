"""HDR latency histograms per endpoint, per phase, mergeable across Locust workers.

Locust's own response-time buckets round sub-millisecond polls to 0-1 ms and measure
from the actual send; this recorder keeps HDR histograms (1 us .. 1 h, 3 significant
digits) of latency from the *intended* send time, per endpoint, for two phases:
`total` (everything) and `steady` (requests intended after the warm-up: by default
`warmup_s` after the start, or from `steady_start_s` when the experiment runner sets
it, because its warm-up lasts until the polled tasks are ready). It also
counts sends per paced stream, late sends and failures by name.

Workers `export()` their counts every report interval and start over; the master
`merge()`s them (Locust's report_to_master/worker_report events carry the payload).
`result()` builds the JSON-ready dict that `loadtests.results` parses.
Nothing here imports locust or gevent.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

SCHEMA_VERSION = 1
PHASES = ("total", "steady")
_LOW_US, _HIGH_US, _DIGITS = 1, 3_600_000_000, 3
PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p95_ms": 95.0, "p99_ms": 99.0, "p99_9_ms": 99.9}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOW_US, _HIGH_US, _DIGITS)


def _us(seconds: float) -> int:
    return min(_HIGH_US, max(_LOW_US, round(seconds * 1e6)))


@dataclass(slots=True)
class _Endpoint:
    latency: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    failures: int = 0


@dataclass(slots=True)
class _Stream:
    send_lag: HdrHistogram = field(default_factory=new_histogram)
    sends: int = 0
    late_sends: int = 0


@dataclass(slots=True)
class _Phase:
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)
    streams: dict[str, _Stream] = field(default_factory=dict)
    failures_by_name: Counter[str] = field(default_factory=Counter)


class Recorder:
    """Counts of one load-generator process (or, on a master, of all workers merged)."""

    def __init__(self, *, started_at_s: float, warmup_s: float, late_threshold_s: float) -> None:
        self.started_at_s = started_at_s
        self.warmup_s = warmup_s
        self.steady_start_s = started_at_s + warmup_s
        self.late_threshold_s = late_threshold_s
        self.stopped_at_s: float | None = None
        self._phases = {name: _Phase() for name in PHASES}

    def _phases_for(self, intended_s: float) -> list[_Phase]:
        if self.stopped_at_s is not None and intended_s >= self.stopped_at_s:
            return []  # meant for after the stop: outside every phase
        if intended_s >= self.steady_start_s:
            return [self._phases["total"], self._phases["steady"]]
        return [self._phases["total"]]

    def record_request(
        self, endpoint: str, intended_s: float, done_s: float, failures: Sequence[str] = ()
    ) -> None:
        """One request, timed from when it was meant to go out until its reply was read.

        `failures` names every rule the reply broke; the request counts as failed once.
        """
        latency_us = _us(done_s - intended_s)
        for phase in self._phases_for(intended_s):
            ep = phase.endpoints.get(endpoint)
            if ep is None:
                ep = phase.endpoints[endpoint] = _Endpoint()
            ep.latency.record_value(latency_us)
            ep.requests += 1
            if failures:
                ep.failures += 1
                phase.failures_by_name.update(failures)

    def record_send(self, stream: str, intended_s: float, sent_s: float) -> None:
        """One paced send: how late it left against its slot."""
        lag_s = max(0.0, sent_s - intended_s)
        for phase in self._phases_for(intended_s):
            st = phase.streams.get(stream)
            if st is None:
                st = phase.streams[stream] = _Stream()
            st.send_lag.record_value(_us(lag_s))
            st.sends += 1
            if lag_s > self.late_threshold_s:
                st.late_sends += 1

    def export(self) -> dict[str, Any]:
        """A JSON/msgpack-safe payload of everything counted so far; then start over."""
        payload: dict[str, Any] = {}
        for name, phase in self._phases.items():
            payload[name] = {
                "endpoints": {
                    k: [v.requests, v.failures, v.latency.encode().decode("ascii")]
                    for k, v in phase.endpoints.items()
                },
                "streams": {
                    k: [v.sends, v.late_sends, v.send_lag.encode().decode("ascii")]
                    for k, v in phase.streams.items()
                },
                "failures_by_name": dict(phase.failures_by_name),
            }
        self._phases = {name: _Phase() for name in PHASES}
        return payload

    def merge(self, payload: dict[str, Any]) -> None:
        for name, data in payload.items():
            phase = self._phases[name]
            for k, (requests, failures, encoded) in data["endpoints"].items():
                ep = phase.endpoints.setdefault(k, _Endpoint())
                ep.requests += requests
                ep.failures += failures
                ep.latency.decode_and_add(encoded)
            for k, (sends, late, encoded) in data["streams"].items():
                st = phase.streams.setdefault(k, _Stream())
                st.sends += sends
                st.late_sends += late
                st.send_lag.decode_and_add(encoded)
            phase.failures_by_name.update(data["failures_by_name"])

    def result(
        self,
        *,
        targets_per_s: dict[str, float],
        meta: dict[str, Any],
        stopped_at_s: float,
        shares: Sequence[tuple[int, int, float]] = (),
    ) -> dict[str, Any]:
        """The result document (`schema_version` 1); `meta` adds scenario, host, generator.

        `shares` are the sending processes as (index, of n, stopped at): process i of n
        sends slots i, i + n, ... of the schedule until it stops, which may be a moment
        after the master did. Default: one process that stopped at `stopped_at_s`.
        """
        shares = shares or [(0, 1, stopped_at_s)]
        # A steady phase the experiment runner never started is empty.
        steady_start_s = min(self.steady_start_s, stopped_at_s)
        phases: dict[str, Any] = {}
        for name, phase in self._phases.items():
            begin_s = steady_start_s if name == "steady" else self.started_at_s
            duration_s = max(0.0, stopped_at_s - begin_s)
            due = {
                stream: sum(
                    _due_slots(self.started_at_s, rate, begin_s, end_s, index, n)
                    for index, n, end_s in shares
                )
                for stream, rate in targets_per_s.items()
            }
            phases[name] = _phase_result(phase, duration_s, targets_per_s, due)
        return {
            "schema_version": SCHEMA_VERSION,
            "started_at_s": self.started_at_s,
            "stopped_at_s": stopped_at_s,
            "warmup_s": steady_start_s - self.started_at_s,
            "late_threshold_ms": self.late_threshold_s * 1000,
            "targets_per_s": dict(targets_per_s),
            "phases": phases,
            **meta,
        }


def _ms(hist: HdrHistogram, percentile: float) -> float:
    return float(hist.get_value_at_percentile(percentile)) / 1000.0


def _due_slots(
    start_s: float, rate_per_s: float, begin_s: float, end_s: float, index: int = 0, n: int = 1
) -> int:
    """Slots start + (index + k n) / rate of one process's share of the schedule that fell
    due in [begin, end): what that process must have sent if it kept up. Counting against
    it, not rate x seconds, keeps a short window free of a +-1 slot rounding error."""
    if rate_per_s <= 0 or end_s <= begin_s:
        return 0

    def before(t_s: float) -> int:  # slots due before t
        return max(0, math.ceil(((t_s - start_s) * rate_per_s - index) / n))

    return before(end_s) - before(begin_s)


def _phase_result(
    phase: _Phase, duration_s: float, targets: dict[str, float], due: dict[str, int]
) -> dict[str, Any]:
    endpoints: dict[str, Any] = {}
    for name, ep in sorted(phase.endpoints.items()):
        h = ep.latency
        row: dict[str, Any] = {
            "requests": ep.requests,
            "failures": ep.failures,
            "rps": ep.requests / duration_s if duration_s else 0.0,
            "mean_ms": float(h.get_mean_value()) / 1000.0 if ep.requests else 0.0,
            "max_ms": float(h.get_max_value()) / 1000.0,
            "hdr": h.encode().decode("ascii"),
        }
        row.update({k: _ms(h, p) for k, p in PERCENTILES.items()})
        endpoints[name] = row
    streams: dict[str, Any] = {}
    for name in sorted(set(phase.streams) | set(targets)):
        st = phase.streams.get(name, _Stream())
        target, due_sends = targets.get(name, 0.0), due.get(name, 0)
        if target and due_sends:
            # Sends per second over the span of the slots that fell due.
            achieved = st.sends * target / due_sends
        else:
            achieved = st.sends / duration_s if duration_s else 0.0
        streams[name] = {
            "target_per_s": target,
            "achieved_per_s": achieved,
            "due_sends": due_sends,
            "sends": st.sends,
            "late_sends": st.late_sends,
            "send_lag_p99_ms": _ms(st.send_lag, 99.0),
            "send_lag_max_ms": float(st.send_lag.get_max_value()) / 1000.0,
        }
    return {
        "duration_s": duration_s,
        "requests": sum(ep.requests for ep in phase.endpoints.values()),
        "failures": sum(ep.failures for ep in phase.endpoints.values()),
        "failures_by_name": dict(sorted(phase.failures_by_name.items())),
        "endpoints": endpoints,
        "streams": streams,
    }
