"""Pure summaries of a timeline: slopes, windows, kernel vs sampled peak."""

from __future__ import annotations

import pytest

from profiling.probes.sampler import Sample
from profiling.probes.summary import MIB, select_window, slope_per_s, summarize, summarize_all


def row(
    t_s: float,
    rss_mib: float,
    *,
    label: str = "server",
    phase: str = "steady",
    peak_mib: float | None = None,
    cpu_s: float = 0.0,
) -> Sample:
    rss = int(rss_mib * MIB)
    return Sample(
        t_s=t_s,
        label=label,
        phase=phase,
        pid=1,
        rss_bytes=rss,
        peak_rss_bytes=int((peak_mib or rss_mib) * MIB),
        rss_anon_bytes=rss,
        rss_file_bytes=0,
        rss_shmem_bytes=0,
        cpu_s=cpu_s,
        nprocs=1,
        uss_bytes=None,
        pss_bytes=None,
    )


def test_slope_exact_line_and_undefined_cases() -> None:
    assert slope_per_s([0, 1, 2, 3], [5, 7, 9, 11]) == pytest.approx(2.0)
    assert slope_per_s([0, 1], [0, 1]) is None
    assert slope_per_s([1, 1, 1], [0, 1, 2]) is None
    with pytest.raises(ValueError):
        slope_per_s([0, 1, 2], [0, 1])


def test_summary_growth_peaks_median_final_cpu() -> None:
    samples = [row(0, 100, phase="warmup", peak_mib=400)]
    # 1 MiB/s over the steady phase = 60 MiB/min; kernel saw a spike to 350 MiB.
    samples += [
        row(t, 100 + t, peak_mib=350 if t >= 3 else 100 + t, cpu_s=t * 0.25) for t in range(1, 11)
    ]
    samples += [row(t, 50, label="db") for t in range(1, 11)]
    s = summarize(samples, "server", phase="steady")
    assert s.n_samples == 10
    assert s.growth_mib_per_min == pytest.approx(60.0)
    assert s.peak_kernel_bytes == 350 * MIB  # the warm-up's 400 is outside the window
    assert s.peak_sampled_bytes == 110 * MIB
    assert s.median_rss_bytes == int(105.5 * MIB)
    assert s.final_rss_bytes == 110 * MIB
    assert s.cpu_percent == pytest.approx(25.0)
    both = summarize_all(samples, phase="steady")
    assert set(both) == {"db", "server"}
    assert both["db"].growth_mib_per_min == pytest.approx(0.0)


def test_window_by_time_and_warmup_fraction() -> None:
    samples = [row(t, 100) for t in range(11)]
    assert [s.t_s for s in select_window(samples, start_s=2, end_s=4)] == [2, 3, 4]
    assert select_window(samples, warmup_fraction=0.5)[0].t_s == 5
    with pytest.raises(ValueError, match="no samples"):
        summarize(samples, "server", phase="cooldown")
    one = summarize(samples[:1], "server")
    assert one.growth_mib_per_min is None and one.cpu_percent is None
