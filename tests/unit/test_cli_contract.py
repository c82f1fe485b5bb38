"""The command line's contract (issue #14): --version, -h, one-line usage errors, Ctrl-C, completion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CCVERIFY = str(Path(sys.executable).with_name("ccverify"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CCVERIFY, *args], capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
    )


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        done = run(flag)
        assert done.returncode == 0
        assert done.stdout == f"ccverify {version('ccverify')}\n"


@pytest.mark.parametrize("args", [["-h"], ["verify", "-h"], ["measure", "snp", "-h"], ["reference", "-h"]])
def test_h_is_help(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 0
    assert "Usage" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["verify"], "Missing argument"),
        (["nosuch"], "No such command 'nosuch'"),
        (["show", "--bogus", "x"], "No such option"),
        (["measure", "snp", "--vcpus", "many"], "many"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error (usage): ccverify")
    assert says in lines[0]
    assert "╭" not in done.stderr and done.stdout == ""


def test_ctrl_c_exits_130() -> None:
    """A command blocked on its input (stdin) gets SIGINT: exit 130, no traceback."""
    process = subprocess.Popen(
        [CCVERIFY, "show", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # past start-up, reading stdin
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o"), ("zsh", "#compdef ccverify"), ("fish", "complete")]
)
def test_completion_scripts(shell: str, marker: str) -> None:
    done = run("completion", shell)
    assert done.returncode == 0 and marker in done.stdout
    assert "_CCVERIFY_COMPLETE" in done.stdout


def test_completion_refuses_other_shells() -> None:
    done = run("completion", "tcsh")
    assert done.returncode == 2 and "tcsh" in done.stderr


def test_completion_answers_the_shell() -> None:
    env = dict(
        os.environ, _CCVERIFY_COMPLETE="complete_bash", COMP_WORDS="ccverify verify --trust-r", COMP_CWORD="2"
    )
    done = run(env=env)
    assert done.returncode == 0
    assert done.stdout.split() == ["--trust-root"]
