"""The status path's figures as /metrics renders them (polls, bytes, requests in flight)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from reference_server.metrics import Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, sample.labels.get("le", ""))] = sample.value
    return out


def test_in_flight_counts_land_in_their_buckets() -> None:
    metrics = Metrics()
    figures = metrics.status
    for _ in range(513):  # 513 overlapping requests: the last one is past the top bucket
        figures.started()
    samples = _samples(metrics)
    assert samples[("memdiag_status_in_flight_now", "")] == 513
    for _ in range(513):
        figures.ended()
    figures.started()  # alone again
    figures.ended()
    samples = _samples(metrics)
    assert samples[("memdiag_status_in_flight_count", "")] == 514
    assert samples[("memdiag_status_in_flight_sum", "")] == sum(range(1, 514)) + 1
    cumulative = {
        "1.0": 2,  # the first of the 513 and the lone one
        "2.0": 3,
        "4.0": 5,
        "8.0": 9,
        "256.0": 257,
        "512.0": 513,
        "+Inf": 514,
    }
    for le, count in cumulative.items():
        assert samples[("memdiag_status_in_flight_bucket", le)] == count, le
    assert samples[("memdiag_status_in_flight_now", "")] == 0


def test_served_polls_and_bytes_are_counters() -> None:
    metrics = Metrics()
    for size in (10, 250, 4096):
        metrics.status.served(size)
    samples = _samples(metrics)
    assert samples[("memdiag_status_polls_total", "")] == 3
    assert samples[("memdiag_status_response_bytes_total", "")] == 10 + 250 + 4096
