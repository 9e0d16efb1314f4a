"""A real git repository of a small aiohttp app with one memory regression in its history.

For the bisect tests and the bisect benchmark: `make_repo(path, commits=N)` writes
`app.py` (GET /work builds a body of MIB MiB and answers its length; GET /healthz) and
commits N times. Most commits change only `CHANGES.txt`; three are special:

- `culprit`: MIB goes from 40 to 80, which makes the server's peak RSS about 1.5x (the
  interpreter, aiohttp and the app take about 38 MiB besides the body: 40 -> 60 MiB
  gave 77.8 -> 97.8 MiB, only 1.25x);
- `broken`: a syntax error in app.py (the server exits at start), fixed by the next one
  (by default the middle commit, a bisect's first pick);
- `comment`: a commit that changes only a comment of app.py.

`noise_mib` > 0 adds run-to-run noise: each server process keeps a ballast of a random
size up to that many MiB, so its peak RSS varies as a real server's does.

The server starts with `{python} app.py --port {port}` and needs only aiohttp, so
`--setup true` (no venv, memdiag's own interpreter) sets a revision up at once.

    python -m profiling.benchmarks.regression_repo /tmp/repo --commits 16
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SERVER_CMD = "{python} app.py --port {port}"
GOOD_MIB, BAD_MIB = 40, 80

_APP = '''"""A tiny app whose requests cost MIB MiB each."""

import argparse
import random

from aiohttp import web

MIB = {mib}
# Run-to-run noise on purpose: a ballast of a random size, kept for the process's life.
NOISE_MIB = {noise}
BALLAST = b"x" * random.SystemRandom().randrange((NOISE_MIB << 20) + 1)
# {comment}


async def work(_request):
    body = b"x" * (MIB << 20)
    return web.json_response({{"bytes": len(body)}})


async def health(_request):
    return web.Response(text="ok")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/work", work)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
{broken}'''


@dataclass(frozen=True, slots=True)
class RegressionRepo:
    path: Path
    commits: tuple[str, ...]  # oldest first
    culprit: str
    broken: str
    comment: str

    @property
    def good(self) -> str:
        return self.commits[0]

    @property
    def bad(self) -> str:
        return self.commits[-1]


def _git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.name=memdiag", "-c", "user.email=memdiag@example.invalid"]
    out = subprocess.run(
        ["git", "-C", str(repo), *env_args, *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def make_repo(
    path: Path,
    commits: int = 10,
    *,
    culprit: int | None = None,
    broken: int | None = None,
    comment: int | None = None,
    noise_mib: int = 0,
) -> RegressionRepo:
    """A repository of `commits` commits (index 0 the oldest); the special ones default to
    the middle (broken: a bisect's first pick, so it must skip it), about two thirds
    (culprit) and right after the culprit (comment)."""
    if commits < 6:
        raise ValueError("need at least 6 commits for the culprit, broken and comment ones")
    culprit = culprit if culprit is not None else (2 * commits) // 3
    broken = broken if broken is not None else (commits - 1) // 2
    comment = comment if comment is not None else culprit + 1
    if len({culprit, broken, broken + 1, comment}) < 4 or not 0 < broken < commits - 1:
        raise ValueError("culprit, broken (and its fix) and comment must be distinct commits")
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", "main")
    hashes: list[str] = []
    mib, note = GOOD_MIB, "answers with the body's length"
    for i in range(commits):
        subject = f"change {i}: notes"
        if i == culprit:
            mib, subject = BAD_MIB, f"change {i}: bigger response bodies"
        if i == comment:
            note, subject = "answers with the length of the body", f"change {i}: reword a comment"
        tail = "def oops(:\n" if i == broken else ""
        if i == broken:
            subject = f"change {i}: half-done refactor (does not start)"
        if i == broken + 1:
            subject = f"change {i}: finish the refactor"
        (path / "app.py").write_text(
            _APP.format(mib=mib, comment=note, broken=tail, noise=noise_mib), encoding="utf-8"
        )
        if i not in (culprit, comment, broken, broken + 1):
            with (path / "CHANGES.txt").open("a", encoding="utf-8") as fh:
                fh.write(f"change {i}\n")
        _git(path, "add", "-A")
        _git(path, "commit", "-q", "-m", subject)
        hashes.append(_git(path, "rev-parse", "HEAD"))
    return RegressionRepo(path, tuple(hashes), hashes[culprit], hashes[broken], hashes[comment])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path)
    parser.add_argument("--commits", type=int, default=16)
    parser.add_argument("--noise-mib", type=int, default=0)
    args = parser.parse_args(argv)
    repo = make_repo(args.path, args.commits, noise_mib=args.noise_mib)
    print(f"good {repo.good}\nbad {repo.bad}\nculprit {repo.culprit}\nbroken {repo.broken}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
