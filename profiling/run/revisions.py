"""Git revisions of the user's repository as servers: checked out and set up once, cached.

`resolve(repo, rev)` names a revision's commit and subject. `prepare(revision, setup)`
returns a folder holding that commit's tree, set up by `setup` (default for a Python
project: a venv of its own with `pip install .` in it), cached under
`<memdiag cache>/revisions/<commit>-<setup hash>/` so a second compare, bisect or check
of the same commit starts at once. The tree comes from `git archive`, so the user's
repository (its worktrees, index, HEAD) is never touched.

No half-made tree is ever left in the cache: it is built in a temporary folder beside
its place and renamed into place only once the setup succeeded. A setup that failed is
remembered (`<key>.failed`, with the reason), so a bisect skips that commit at once the
next time; `--rebuild` style retries are a matter of deleting that file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from profiling.errors import HarnessError, UsageError
from profiling.run.launchers import cache_dir

DEFAULT_SETUP = "python -m venv .venv && .venv/bin/python -m pip install --quiet ."
SETUP_TIMEOUT_S = 900.0
VENV_PYTHON = Path(".venv/bin/python")


class SetupFailed(HarnessError):
    """A revision could not be checked out or set up (a bisect skips it)."""


@dataclass(frozen=True, slots=True)
class Revision:
    name: str  # as the user wrote it: "main", "HEAD~3"
    commit: str  # full hash
    subject: str

    @property
    def short(self) -> str:
        return self.commit[:10]


def git(repo: Path, *args: str) -> str:
    """`git -C repo args...` -> stdout; a UsageError naming the failure otherwise."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError("git is not installed; memdiag needs it for --rev") from None
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise UsageError(f"git {' '.join(args)} in {repo}: {why}")
    return proc.stdout


def repo_root(path: Path) -> Path:
    if not path.is_dir():
        raise UsageError(f"--repo {path}: no such folder")
    return Path(git(path, "rev-parse", "--show-toplevel").strip())


def resolve(repo: Path, rev: str) -> Revision:
    """The commit `rev` names in `repo`; UsageError if it names none."""
    try:
        commit = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except UsageError:
        raise UsageError(f"revision {rev!r} is not a commit in {repo}") from None
    subject = git(repo, "log", "-1", "--format=%s", commit).strip()
    return Revision(rev, commit, subject)


def setup_key(commit: str, setup: str) -> str:
    return f"{commit}-{hashlib.sha256(setup.encode()).hexdigest()[:10]}"


def revisions_dir() -> Path:
    return cache_dir() / "revisions"


def prepare(repo: Path, revision: Revision, setup: str = DEFAULT_SETUP) -> Path:
    """The folder of `revision` set up by `setup` (built once, then from the cache).

    Raises SetupFailed (with the setup's last output lines) when the tree cannot be
    made; the reason is remembered beside the cache, so a later call fails at once."""
    root = revisions_dir()
    key = setup_key(revision.commit, setup)
    target, failed = root / key, root / f"{key}.failed"
    if target.is_dir():
        return target
    if failed.is_file():
        raise SetupFailed(failed.read_text(encoding="utf-8").strip())
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        _export(repo, revision.commit, tmp)
        _run_setup(setup, tmp, revision)
        with contextlib.suppress(OSError):
            tmp.rename(target)  # a concurrent builder may have won: its tree is as good
        if not target.is_dir():
            raise SetupFailed(f"{revision.short}: could not move its tree to {target}")
        return target
    except SetupFailed as exc:
        failed.write_text(str(exc) + "\n", encoding="utf-8")
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def python_of(tree: Path) -> str:
    """The tree's own interpreter when its setup made a venv, else memdiag's own."""
    venv = tree / VENV_PYTHON
    return str(venv) if venv.is_file() else ""


def _export(repo: Path, commit: str, into: Path) -> None:
    archive = into.parent / f"{into.name}.tar"
    try:
        with archive.open("wb") as out:
            proc = subprocess.run(
                ["git", "-C", str(repo), "archive", "--format=tar", commit],
                stdout=out,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        if proc.returncode != 0:
            why = proc.stderr.decode(errors="replace").strip()
            raise SetupFailed(f"{commit[:10]}: git archive failed: {why}")
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    finally:
        archive.unlink(missing_ok=True)


def _run_setup(setup: str, tree: Path, revision: Revision) -> None:
    env = dict(os.environ)
    # `python` in a setup command is memdiag's own interpreter, unless the setup made a
    # venv and calls its own (.venv/bin/python), as the default does.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("VIRTUAL_ENV", None)
    log = tree.parent / f"{tree.name}.setup.log"
    try:
        with log.open("w", encoding="utf-8") as out:
            proc = subprocess.run(
                setup,
                shell=True,
                cwd=tree,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=SETUP_TIMEOUT_S,
                check=False,
            )
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except subprocess.TimeoutExpired:
        raise SetupFailed(
            f"{revision.short}: setup {setup!r} took over {SETUP_TIMEOUT_S:.0f}s"
        ) from None
    finally:
        log.unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = " | ".join(text[-3:]) or "no output"
        raise SetupFailed(
            f"{revision.short} ({revision.subject}): setup {setup!r} exited with"
            f" {proc.returncode}: {tail}"
        )
