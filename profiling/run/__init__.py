"""Carrying out runs: what a run is asked to do and how it is done.

The stage that starts things: the plans a run is given (`plans`), the measurement options
each declared once (`settings`) and shared by `measure`, `compare`, `sweep`, `ablate`,
`bisect`, `check` and the pytest plugin, checked into plans (`options`), the servers under
test (`servers`), the embedded databases and their launchers (`embedded_db`,
`launchers`, `subprocs`), the runner and the phases of one run (`runner`, `state`:
`launch`, `phases`, `attribution`), the run's environment (`environment`), the speech
the uploads send (`audio`) and the progress display (`progress`). It writes each run's
raw files and run.json through `profiling.results`; it never imports
`profiling.verdict` or `profiling.report`.
"""
