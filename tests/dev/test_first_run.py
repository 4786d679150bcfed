"""``./dev`` says what it installs on a first run instead of sitting silent, shows pip's
progress on a terminal and stays quiet when piped. The script runs in a scratch copy of
the project with a fake Python (its venv and pip only record what they were asked)."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_PYTHON = """#!/bin/sh
# a fake python: "-m venv DIR" makes DIR/bin/python (this script) and a fake kvmswitchd;
# "-m pip ..." appends its arguments to $PIP_LOG and prints a line as pip would
case "$1 $2" in
  "-m venv")
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
    printf '#!/bin/sh\\necho "kvmswitchd $*"\\n' > "$3/bin/kvmswitchd"
    chmod +x "$3/bin/kvmswitchd" ;;
  "-m pip") echo "$*" >> "$PIP_LOG"; echo "Collecting aiohttp (fake pip)" ;;
  "--version ") echo "Python 3.11.9" ;;
esac
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "dev", tmp_path / "dev")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'kvmswitchd'\n")
    fake = tmp_path / "fakepython"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return tmp_path


def env(project: Path) -> dict[str, str]:
    return dict(os.environ, PYTHON=str(project / "fakepython"), PIP_LOG=str(project / "pip.log"))


def piped(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(project / "dev"), *args],
        capture_output=True,
        text=True,
        env=env(project),
        check=True,
        timeout=60,
    )


def test_a_first_run_says_it_creates_the_venv_and_what_it_installs(project: Path) -> None:
    done = piped(project, "run", "--help")
    assert [line for line in done.stderr.splitlines() if line.startswith("==")] == [
        "== creating .venv, the project's virtualenv (Python 3.11.9)",
        "== installing kvmswitchd and its dependencies (first run, about a minute)",
        "== installed; next runs start at once",
    ]
    assert done.stdout == "kvmswitchd --help\n"  # stdout is the command's alone


def test_piped_pip_is_quiet_and_a_second_run_says_nothing(project: Path) -> None:
    first = piped(project, "run")
    assert first.stdout == "kvmswitchd \n"  # what pip says goes to stderr
    assert (project / "pip.log").read_text().split()[:3] == ["-m", "pip", "install"]
    assert " -q " in (project / "pip.log").read_text()
    again = piped(project, "run")
    assert again.stderr == ""
    assert len((project / "pip.log").read_text().splitlines()) == 1  # no second install


def test_the_test_extras_and_a_changed_pyproject_are_named(project: Path) -> None:
    piped(project, "run")
    first_test = piped(project, "guest", "path")  # the test extras, on an existing venv
    assert "== installing kvmswitchd and its test dependencies (first time with these extras)" in (
        first_test.stderr
    )
    later = (project / ".venv" / ".installed-test").stat().st_mtime + 10
    os.utime(project / "pyproject.toml", (later, later))
    changed = piped(project, "guest", "path")
    assert "(pyproject.toml changed)" in changed.stderr


def test_on_a_terminal_pip_shows_its_own_progress(project: Path) -> None:
    master, slave = pty.openpty()
    with subprocess.Popen(
        [str(project / "dev"), "run"], stdout=slave, stderr=slave, env=env(project)
    ) as proc:
        os.close(slave)
        shown = b""
        while True:  # read as it writes: a full pty would block the script
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the script exited and all was read
                break
            if not chunk:
                break
            shown += chunk
        os.close(master)
        assert proc.wait(timeout=60) == 0
    assert b"== installing kvmswitchd" in shown
    assert b"Collecting aiohttp (fake pip)" in shown
    assert " -q " not in (project / "pip.log").read_text()
