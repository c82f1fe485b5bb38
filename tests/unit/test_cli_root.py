"""``ccverify`` builds only the command that runs; what a user sees is ``app``'s, unchanged."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import _COMMANDS, app, lazy_root

ARGS = [
    ["--help"],
    [],
    ["nope"],
    ["mesure"],  # typer's "Did you mean", from the names alone
    ["exampl"],
    ["-h"],
    ["--version"],
    ["example"],
    ["measure", "snp", "--bogus"],
    ["measure", "--help"],
    ["measure", "snp", "--help"],
    ["measure", "tdx"],
    ["verify", "--help"],
    ["verify"],
    ["show", "--help"],
    ["collateral", "--help"],
    ["collateral", "fetch", "--help"],
    ["reference", "--help"],
    ["reference", "create", "--help"],
    ["example", "--help"],
    [
        "measure",
        "snp",
        "--firmware",
        "/nonexistent",
        "--vcpus",
        "1",
        "--vcpu-type",
        "EPYC",
        "--guest-features",
        "1",
    ],
]


def _run_lazy(runner: CliRunner, args: list[str]) -> tuple[int, str]:
    """As ``runner.invoke`` does for a Typer app (it takes nothing else)."""
    with runner.isolation() as (_, _, output):
        try:
            lazy_root().main(args=args, prog_name="ccverify", terminal_width=100)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        return code, output.getvalue().decode()


@pytest.mark.parametrize("args", ARGS, ids=" ".join)
def test_lazy_and_eager_trees_answer_alike(args: list[str]) -> None:
    runner = CliRunner()
    eager = runner.invoke(app, args, prog_name="ccverify", terminal_width=100)
    assert _run_lazy(runner, args) == (eager.exit_code, eager.output)


def test_every_command_is_listed_and_builds() -> None:
    root = lazy_root()
    assert root.list_commands(None) == list(_COMMANDS)  # type: ignore[arg-type]
    for name in _COMMANDS:
        command = root.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name
    assert root.get_command(None, "nope") is None  # type: ignore[arg-type]


def test_a_run_builds_only_its_command() -> None:
    root = lazy_root()
    assert root.main(args=["measure", "snp", "--help"], prog_name="ccverify", standalone_mode=False) == 0
    assert list(root.commands._built) == ["measure"]  # type: ignore[attr-defined]
    typo = lazy_root()
    with pytest.raises(Exception, match="Did you mean 'measure'"):
        typo.main(args=["mesure"], prog_name="ccverify", standalone_mode=False)
    assert list(typo.commands._built) == []  # type: ignore[attr-defined]


_EAGER = "import sys; sys.argv[0] = 'ccverify'; from ccverify.cli.app import app; app()"


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ([], {}),
        (["measure", "tdx", "--firmware", "/nonexistent"], {}),
        ([], {"_CCVERIFY_COMPLETE": "bash_source"}),
    ],
    ids=["no-args", "bad-input", "completion-source"],  # completions: test_cli_contract
)
def test_the_console_entry_answers_as_the_eager_app(args: list[str], env: dict[str, str]) -> None:
    """Real processes: exit code, stdout and stderr (no traceback) of ``ccverify.cli.entry:main``
    are those of ``app()`` (what the console script ran before)."""
    environ = {**os.environ, "COLUMNS": "100", **env}
    runs = [
        subprocess.run(
            [sys.executable, *how, *args], capture_output=True, text=True, env=environ, check=False
        )
        for how in (["-c", _EAGER], ["-m", "ccverify.cli.entry"])
    ]
    eager, entry = ((run.returncode, run.stdout, run.stderr) for run in runs)
    assert entry == eager
    assert "Traceback" not in entry[2]


@pytest.mark.parametrize(
    "args",
    [["nope"], ["measure", "snp", "--kernel", sys.executable, "--bogus"]],  # the second after prefetching
    ids=["unknown", "usage-error"],
)
def test_the_console_entry_words_usage_errors_in_one_line(args: list[str]) -> None:
    """Where typer draws a box, the entry prints one line (issue #14) with the same exit code 2."""
    done = subprocess.run(
        [sys.executable, "-m", "ccverify.cli.entry", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error (usage): ccverify")
