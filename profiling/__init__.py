"""memdiag's measuring side: probes, the experiment runner, reports, the gate and the CLI.

One package per stage of the data flow, imports going one way:

    cli.py, commands/    the memdiag command (one module per subcommand); the pytest plugin
    fixreport/           what the fix report claims, and the ablation plan that measures it
    run/                 carrying out runs: options, plans, servers, embedded DBs, runner
    probes/              what a run observes: /proc, /metrics, tracemalloc, memray
    results/             the run folder and summary.json: typed model, loading, figures
    verdict/             statistics, comparison, gate, claims (pure)
    report/              Markdown, JSON, HTML with plots, and writing them out
    benchmarks/          hand-run figures for the docs
    errors.py            the exit codes and the errors that carry them (every stage)
    numbers.py           every figure as text (verdict/ and report/ alike)
    artefacts.py         every file written: atomically; JSON sorted, indented, versioned

Nothing here imports the reference server or Locust: the server is observed from
outside (HTTP, /proc, files, child processes) and Locust runs as a subprocess.
"""
