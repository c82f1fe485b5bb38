"""``ccverify`` builds only the command that runs; what a user sees is ``app``'s, unchanged."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import _COMMANDS, app, lazy_root

ARGS = [
    ["--help"],
    [],
    ["nope"],
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
    ["measure", "snp", "--firmware", "/nonexistent", "--vcpus", "1", "--vcpu-type", "EPYC",
     "--guest-features", "1"],
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
