"""python -m profiling is the memdiag command."""

from profiling.cli import main

raise SystemExit(main())
