"""memdiag subcommands, one module each: HELP, add_arguments(parser), run(args) -> int.

The order here is the order `memdiag --help` lists them in.
"""

COMMANDS: list[str] = [
    "serve",
    "db",
    "measure",
    "compare",
    "bisect",
    "check",
    "sweep",
    "ablate",
    "audio",
    "diff",
    "report",
    "gate",
]
