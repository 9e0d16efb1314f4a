"""Pure summaries of a sampled memory timeline: peaks, median, final, growth slope.

Two peaks are reported on purpose. `peak_kernel_bytes` is the kernel's high-water mark
(VmHWM) carried on every sample: it sees a 300 MiB spike that lives 100 ms between two
ticks. `peak_sampled_bytes` is the largest RSS the sampler happened to see. Gates use the
kernel peak; the gap between the two says how spiky the process is.

Growth is the least-squares slope of RSS over time in the steady phase, in MiB/min. A
slope over a short window is only as good as the number of samples, so the result
carries `n_samples` and the window it was fitted on.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from profiling.probes.sampler import Sample

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MemorySummary:
    label: str
    n_samples: int
    window_start_s: float
    window_end_s: float
    peak_kernel_bytes: int
    peak_sampled_bytes: int
    median_rss_bytes: int
    final_rss_bytes: int
    growth_mib_per_min: float | None  # None with fewer than 3 samples or a zero-width window
    cpu_percent: float | None  # mean CPU use over the window, 100 = one core


def slope_per_s(times_s: Sequence[float], values: Sequence[float]) -> float | None:
    """Ordinary least-squares slope of values over times; None if it is undefined."""
    n = len(times_s)
    if n != len(values):
        raise ValueError("times_s and values differ in length")
    if n < 3:
        return None
    mean_t = sum(times_s) / n
    mean_v = sum(values) / n
    var_t = sum((t - mean_t) ** 2 for t in times_s)
    if var_t == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True))
    return cov / var_t


def select_window(
    samples: Sequence[Sample],
    *,
    phase: str | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    warmup_fraction: float = 0.0,
) -> list[Sample]:
    """Samples in the steady window: by phase label, by time bounds, or by dropping the
    first `warmup_fraction` of the time span (applied last)."""
    picked = [
        s
        for s in samples
        if (phase is None or s.phase == phase)
        and (start_s is None or s.t_s >= start_s)
        and (end_s is None or s.t_s <= end_s)
    ]
    if picked and warmup_fraction > 0:
        first, last = picked[0].t_s, picked[-1].t_s
        cut = first + (last - first) * warmup_fraction
        picked = [s for s in picked if s.t_s >= cut]
    return picked


def summarize(
    samples: Sequence[Sample],
    label: str,
    *,
    phase: str | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    warmup_fraction: float = 0.0,
) -> MemorySummary:
    """Summarize one label's samples over the steady window (see `select_window`).

    The kernel peak is the largest VmHWM in the window, which is the peak since the
    last reset when the sampler reset it at the window's start.
    """
    own = sorted((s for s in samples if s.label == label), key=lambda s: s.t_s)
    window = select_window(
        own, phase=phase, start_s=start_s, end_s=end_s, warmup_fraction=warmup_fraction
    )
    if not window:
        raise ValueError(f"no samples for label {label!r} in the selected window")
    rss = [s.rss_bytes for s in window]
    times = [s.t_s for s in window]
    slope = slope_per_s(times, [r / MIB for r in rss])
    span_s = times[-1] - times[0]
    cpu = (window[-1].cpu_s - window[0].cpu_s) / span_s * 100 if span_s > 0 else None
    return MemorySummary(
        label=label,
        n_samples=len(window),
        window_start_s=times[0],
        window_end_s=times[-1],
        peak_kernel_bytes=max(s.peak_rss_bytes for s in window),
        peak_sampled_bytes=max(rss),
        median_rss_bytes=int(statistics.median(rss)),
        final_rss_bytes=rss[-1],
        growth_mib_per_min=None if slope is None else slope * 60,
        cpu_percent=cpu,
    )


def summarize_all(
    samples: Sequence[Sample],
    *,
    phase: str | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    warmup_fraction: float = 0.0,
) -> dict[str, MemorySummary]:
    """`summarize` for every label present, with the same window."""
    return {
        label: summarize(
            samples,
            label,
            phase=phase,
            start_s=start_s,
            end_s=end_s,
            warmup_fraction=warmup_fraction,
        )
        for label in sorted({s.label for s in samples})
    }
