"""The in-process memory agent's folder: memdiag puts it first on a server's PYTHONPATH
so that its `sitecustomize.py` starts `memagent.py` in every Python process of the server.

Nothing here is imported by memdiag itself except by tests: the files are stdlib only
and import nothing from memdiag, since the server may run in another environment.
`AGENT_DIR` is the folder to put on PYTHONPATH.
"""

from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parent
