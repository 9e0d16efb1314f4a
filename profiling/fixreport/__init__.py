"""The fix report's claims as data, and the ablation plan that measures them (pure).

`claims` holds what each of the report's eight changes promises and the scenario that
exercises it, `missed` the causes the report missed (opt-in rows), `ablation` which
configurations measure which claim from a base design. Both the runner's schedule
(`memdiag ablate`) and the verdict (`profiling.verdict.claims`) read them.
"""
