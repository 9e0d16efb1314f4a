"""memdiag's measuring side: probes, the experiment runner, reports, the gate and the CLI.

Nothing here imports the reference server or Locust: the server is observed from
outside (HTTP, /proc, files, child processes) and Locust runs as a subprocess.
"""
