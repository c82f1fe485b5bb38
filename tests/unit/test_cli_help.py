"""The command line's contract (issue #14), its help: the man page is the help, metavars say
what a value is, every environment variable is in the help of the options it affects."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from ccverify.cli import manpage
from ccverify.cli.app import app


def tree() -> Any:
    return typer.main.get_command(app)


def commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, sub in getattr(command, "commands", {}).items():
        found.append(((*path, name), sub))
        found.extend(commands(sub, (*path, name)))
    return found


def test_the_shipped_man_page_is_the_help() -> None:
    shipped = manpage.MAN_PAGE.read_text() if manpage.MAN_PAGE.exists() else ""
    assert shipped == manpage.render(), (
        "cli/man/ccverify.1 differs from the command tree's help: regenerate it with "
        "`.venv/bin/python -m ccverify.cli.manpage` (DEVELOPERS.md) and commit it"
    )


def test_the_man_page_names_every_command_and_option() -> None:
    page = manpage.render()
    for words, command in commands(tree()):
        if getattr(command, "hidden", False):
            continue
        assert f'.SS "ccverify {" ".join(words)}"'.replace("-", "\\-") in page
        for param in command.params:
            if getattr(param, "hidden", False):  # hidden on purpose (test hooks): not in --help either
                continue
            for name in param.opts if param.param_type_name == "option" else ():
                assert f"\\fB{name.replace('-', chr(92) + '-')}\\fR" in page, (words, name)


def test_manpage_check_says_how_to_regenerate(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    stale = tmp_path / "ccverify.1"
    stale.write_text("old\n")
    monkeypatch.setattr(manpage, "MAN_PAGE", stale)
    assert manpage.main(["--check"]) == 1
    assert "python -m ccverify.cli.manpage" in capsys.readouterr().err


def test_the_man_page_ships_with_the_package() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "man/*.1" in project["tool"]["setuptools"]["package-data"]["ccverify.cli"]


def test_example_is_listed_in_the_help() -> None:
    shown = CliRunner().invoke(app, ["--help"], terminal_width=100).output
    assert "example" in shown


#: metavars are words in capitals (FILE, EVIDENCE, DIR|FILE, SECONDS), never typer's
#: ``{directory}``/``<path>``/``TEXT`` guesses for a path
_METAVAR = re.compile(r"^[A-Z][A-Z0-9_]*(\|[A-Z][A-Z0-9_]*)*$")


def test_every_value_has_a_readable_metavar() -> None:
    for words, command in commands(tree()):
        for param in command.params:
            if getattr(param, "is_flag", False) or "--help" in param.opts:
                continue
            shown = param.metavar
            assert shown is not None and _METAVAR.match(shown), (words, param.name, shown)
            if param.type.name == "path":
                assert param.metavar not in ("TEXT", "N", "NUMBER"), (words, param.name)


def _help_of(words: tuple[str, ...], option: str) -> str:
    command = tree()
    for word in words:
        command = command.commands[word]
    (param,) = [p for p in command.params if option in p.opts]
    return " ".join(param.help.split())


@pytest.mark.parametrize(
    ("words", "option", "variables"),
    [
        (("verify",), "--pcs-url", ("CCVERIFY_PCS_URL", "CCVERIFY_PCS_API_KEY")),
        (("verify",), "--timeout", ("CCVERIFY_NET_TIMEOUT",)),
        (("verify",), "--collateral", ("XDG_CACHE_HOME", "CCVERIFY_KDS_URL")),
        (("verify",), "--crl", ("CCVERIFY_KDS_URL",)),
        (("collateral", "fetch"), "--pcs-url", ("CCVERIFY_PCS_URL", "CCVERIFY_PCS_API_KEY")),
        (("collateral", "fetch"), "--timeout", ("CCVERIFY_NET_TIMEOUT",)),
        (("collateral", "fetch"), "--cache", ("XDG_CACHE_HOME",)),
        (("verify",), "--offline", ("XDG_CACHE_HOME",)),
        (("measure", "snp"), "--initrd", ("CCVERIFY_NO_PREFETCH",)),
        (("measure", "tdx"), "--initrd", ("CCVERIFY_NO_PREFETCH",)),
    ],
)
def test_environment_variables_are_in_the_help_of_their_options(
    words: tuple[str, ...], option: str, variables: tuple[str, ...]
) -> None:
    shown = _help_of(words, option)
    for variable in variables:
        assert f"${variable}" in shown, (words, option, variable)


def test_the_man_page_lists_every_environment_variable_the_code_reads() -> None:
    """Each CCVERIFY_* name the CLI and library read is in the man page's ENVIRONMENT."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    read: set[str] = set()
    for folder in ("cli", "verifier", "measurements"):
        for source in (root / folder).rglob("*.py"):
            if "testing" in source.parts:  # the test PKI's key cache: tests only
                continue
            read |= set(re.findall(r"\bCCVERIFY_[A-Z_]+\b", source.read_text()))
    read -= {"CCVERIFY_COMPLETE"}  # the shell's completion protocol (_CCVERIFY_COMPLETE), not a setting
    listed = {name for name, _ in manpage.ENVIRONMENT}
    assert read <= listed, sorted(read - listed)


def test_the_readme_table_lists_every_environment_variable() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name, _ in manpage.ENVIRONMENT:
        assert f"| `{name}` |" in readme, name


def test_the_root_help_names_ccverify_debug() -> None:
    assert "$CCVERIFY_DEBUG" in " ".join((tree().help or "").split())


@pytest.mark.parametrize("words", [list(path) for path, _ in commands(tree())], ids=" ".join)
def test_help_at_80_columns_cuts_no_word(words: list[str]) -> None:
    """No option name, variable or path in the help is cut short with an ellipsis at 80 columns."""
    shown = CliRunner().invoke(app, [*words, "--help"], terminal_width=80, env={"COLUMNS": "80"}).output
    assert "…" not in shown, [line for line in shown.splitlines() if "…" in line]
