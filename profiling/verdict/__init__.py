"""Judging runs: statistics, the comparison of configurations, the gate, the claims.

All pure, `RunResult`s in, values out: `stats` (medians, Mann-Whitney U, the verdict per
metric), `compare` (configurations side by side), `comparable` (equal work, a DB that
kept up), `gate` (thresholds), `claims` (the fix report's claims judged from an
ablation's runs), `ablation_gate` and `read_ablation` (an ablation gated, or read back
from its folder or summary). They read `profiling.results` and the fix report's data
(`profiling.fixreport`); nothing here renders or writes.
"""
