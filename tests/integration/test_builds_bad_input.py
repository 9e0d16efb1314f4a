"""Users' servers and revisions that fail: one-line reasons, nothing left running, and no
half-made revision tree in the cache. Real processes and real git repositories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.procgroup import group_members
from profiling.benchmarks.regression_repo import make_repo
from profiling.cli import main
from profiling.errors import HarnessError
from profiling.run.command_server import CommandServer
from profiling.run.revisions import SetupFailed, prepare, python_of, resolve, revisions_dir
from profiling.run.server_command import ServerCommand
from profiling.run.subprocs import pid_alive

APP = Path(__file__).parent / "load_apps" / "ballast_app.py"


def app_command(*args: str) -> ServerCommand:
    return ServerCommand("app", (sys.executable, str(APP), *args))


def group_gone(pgid: int) -> bool:
    return not group_members(pgid)


def test_a_command_server_starts_answers_and_leaves_nothing(tmp_path: Path) -> None:
    # The URL from the first stdout line (no {port} in the command).
    server = CommandServer(app_command("--mib", "1"), tmp_path / "server.log").start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        pid = server.pid
        assert pid_alive(pid)
    finally:
        server.stop()
    assert group_gone(pid)


def test_a_shell_command_has_its_whole_group_stopped(tmp_path: Path) -> None:
    # A launcher that forks the real server: stopping must reach the grandchild too.
    script = f"{sys.executable} {APP} --port {{port}} & wait"
    command = ServerCommand("sh", ("sh", "-c", script))
    server = CommandServer(command, tmp_path / "server.log").start()
    pgid = server.pid
    server.stop()
    assert group_gone(pgid)


def test_a_command_that_exits_at_once_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    server = CommandServer(app_command("--exit-at-once"), tmp_path / "server.log")
    with pytest.raises(HarnessError) as err:
        server.start()
    assert "exited with 3" in str(err.value)
    assert "asked to exit at once" in str(err.value)  # the log's tail says why
    assert "\n" not in str(err.value)
    assert server.process is not None and group_gone(server.process.pid)


def test_a_server_that_never_becomes_healthy_is_stopped(tmp_path: Path) -> None:
    command = app_command("--never-healthy", "--port", "{port}")
    server = CommandServer(command, tmp_path / "server.log", start_timeout_s=2.0)
    with pytest.raises(HarnessError) as err:
        server.start()
    assert "never became healthy" in str(err.value) and "HTTP 503" in str(err.value)
    assert server.process is not None and group_gone(server.process.pid)


def test_a_missing_executable_is_one_line(tmp_path: Path) -> None:
    server = CommandServer(ServerCommand("x", ("no-such-program-xyz",)), tmp_path / "s.log")
    with pytest.raises(HarnessError, match="cannot start"):
        server.start()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEMDIAG_CACHE_DIR", str(tmp_path / "cache"))
    return make_repo(tmp_path / "repo", 6).path


def test_a_revision_is_set_up_once_and_cached(repo: Path) -> None:
    rev = resolve(repo, "main~1")
    tree = prepare(repo, rev, "echo built > built.txt")
    assert (tree / "app.py").is_file() and (tree / "built.txt").is_file()
    (tree / "built.txt").write_text("kept")
    assert prepare(repo, rev, "echo built > built.txt") == tree
    assert (tree / "built.txt").read_text() == "kept"  # not set up again
    assert python_of(tree) == ""  # no venv: memdiag's own interpreter
    # The user's repository is untouched: no worktree, same HEAD, clean status.
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True)
    assert status.stdout == b""


def test_a_failed_setup_leaves_no_tree_and_is_remembered(repo: Path) -> None:
    rev = resolve(repo, "main")
    with pytest.raises(SetupFailed) as err:
        prepare(repo, rev, "echo cannot build >&2; exit 7")
    assert "exited with 7" in str(err.value) and "cannot build" in str(err.value)
    left = sorted(p.name for p in revisions_dir().iterdir())
    assert left == [p for p in left if p.endswith(".failed")] and len(left) == 1
    with pytest.raises(SetupFailed):  # at once, from the remembered reason
        prepare(repo, rev, "echo cannot build >&2; exit 7")


@pytest.mark.slow
def test_the_default_setup_makes_a_venv_with_the_project_installed(
    repo: Path, tmp_path: Path
) -> None:
    # The default setup (venv + pip install .) on a project pip can install offline.
    (repo / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        '[project]\nname = "tinyapp"\nversion = "0"\n'
    )
    (repo / "backend.py").write_text(BACKEND)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "pkg",
        ],
        check=True,
    )
    tree = prepare(repo, resolve(repo, "HEAD"))
    python = python_of(tree)
    assert python.endswith(".venv/bin/python")
    listed = subprocess.run([python, "-m", "pip", "list"], capture_output=True, text=True)
    assert "tinyapp" in listed.stdout


def test_cli_bad_revision_and_missing_command_are_usage_errors(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compare", "--repo", str(repo), "--rev", "main", "--setup", "true"]
    assert main([*args, "--rev", "no-such-rev", "--server-cmd", "{python} app.py"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-rev" in err and "\n" not in err
    assert main([*args, "--rev", "main~1"]) == 2
    assert "--server-cmd" in capsys.readouterr().err


# A PEP 517 backend of a few lines: the default setup's `pip install .` then needs no
# index (no setuptools download), so the test runs offline.
BACKEND = """
import base64, hashlib, os, zipfile

def _wheel(directory, editable=False):
    name = "tinyapp-0-py3-none-any.whl"
    info = "tinyapp-0.dist-info/"
    files = {"tinyapp.py": b"VALUE = 1\\n",
             info + "METADATA": b"Metadata-Version: 2.1\\nName: tinyapp\\nVersion: 0\\n",
             info + "WHEEL": b"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\n"
                            b"Tag: py3-none-any\\n"}
    record = []
    with zipfile.ZipFile(os.path.join(directory, name), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append("tinyapp-0.dist-info/RECORD,,")
        zf.writestr("tinyapp-0.dist-info/RECORD", "\\n".join(record) + "\\n")
    return name

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory)

def get_requires_for_build_wheel(config_settings=None):
    return []
"""


def test_check_stops_git_bisect_on_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1-127 (but 125) would mark the commit bad; above 127 git bisect run stops.
    argv = ["check", "--repo", str(repo), "--good", "no-such-rev", "--server-cmd", "x"]
    assert main(argv) == 255
    assert "no-such-rev" in capsys.readouterr().err
