"""The ``ccverify`` command: one typer root, one module per command group."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import typer
import typer.main
from typer.core import TyperGroup

if TYPE_CHECKING:  # the click typer carries (vendored in the typer versions we install)
    from typer._click.core import Command, Context

from ccverify.cli import (
    attest,
    collateral,
    completion,
    devices,
    example,
    guest,
    measure,
    reference,
    serve,
    show,
    verify,
)

_HELP = (
    "Verify confidential-VM evidence (Intel TDX quotes, AMD SEV-SNP reports) and boot "
    "configuration against signed reference values. Exit codes: 0 ok, 1 verification "
    "failed, 2 bad input or usage, 3 collateral or network unavailable. Errors are one line on "
    "stderr ($CCVERIFY_DEBUG=1 adds the traceback)."
)

app = typer.Typer(
    name="ccverify",
    help=_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """Verify confidential-VM evidence and boot configuration."""


#: command name -> (module, typer app or command function, help for a group, hidden)
_COMMANDS: dict[str, tuple[ModuleType, str, str | None, bool]] = {
    "show": (show, "show", None, False),
    "verify": (verify, "verify", None, False),
    "completion": (completion, "completion", None, False),
    "serve": (serve, "serve", None, False),
    "attest": (attest, "attest", None, False),
    "example": (example, "app", "Evidence made by the example PKI (not hardware): the sample set, or a quote for a REPORT_DATA.", False),
    "collateral": (collateral, "app", "Fetch TDX collateral into a cache, or build an offline bundle.", False),
    "measure": (measure, "app", "Compute expected launch measurements offline (image builders).", False),
    "reference": (reference, "app", "Create, show and verify signed reference values (CoRIM in COSE_Sign1).", False),
    "devices": (devices, "app", "List devices; plan, sign and verify device-authorization policies.", False),
    "guest": (guest, "app", "The guest's verbs: lock devices down, authorize them after attestation.", False),
}  # fmt: skip

for _name, (_module, _attr, _help, _hidden) in _COMMANDS.items():
    if _help is None:
        app.command(_name, hidden=_hidden)(getattr(_module, _attr))
    else:
        app.add_typer(getattr(_module, _attr), name=_name, help=_help)


def readable_metavars(command: Any) -> Any:
    """Give every parameter of ``command`` (and of its subcommands) declared without a
    ``metavar`` a readable one: an argument's name in capitals (``DIRECTORY``), an option's
    type (``PATH``, ``TEXT``, ``N``, ``NUMBER``), never typer's ``{directory}`` or ``<path>``.
    Commands should say what a value is (``FILE``, ``EVIDENCE``, ``DIR``); this is the floor."""
    from typer._click import types

    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        if param.param_type_name == "argument":
            param.metavar = (param.name or "value").upper()
        elif param.type.name == "path":
            param.metavar = "PATH"
        elif isinstance(param.type, types.IntParamType):
            param.metavar = "N"
        elif isinstance(param.type, types.FloatParamType):
            param.metavar = "NUMBER"
        else:
            param.metavar = "TEXT"
    for sub in getattr(command, "commands", {}).values():
        readable_metavars(sub)
    return command


class _EagerRoot(TyperGroup):
    """``app``'s root group: every command with readable metavars (``readable_metavars``)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        readable_metavars(self)


app.info.cls = _EagerRoot


def _build(name: str) -> Command | None:
    """The click command for one top-level command, built alone."""
    if name not in _COMMANDS:
        return None
    module, attr, help_text, hidden = _COMMANDS[name]
    if help_text is None:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name, hidden=hidden)(getattr(module, attr))
        command = typer.main.get_command(single)
    else:
        command = typer.main.get_command(getattr(module, attr))
        command.help = help_text
    command.name = name
    return readable_metavars(command)  # type: ignore[no-any-return]


class _LazyCommands(MutableMapping[str, "Command"]):
    """``_COMMANDS`` by name, each built when first looked up (iterating builds nothing)."""

    def __init__(self) -> None:
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        command = self._built.get(name)
        if command is None:
            command = _build(name)
            if command is None:
                raise KeyError(name)
            self._built[name] = command
        return command

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("the root's commands are fixed (_COMMANDS)")

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*_COMMANDS, *self._built]))

    def __len__(self) -> int:
        return len(set(_COMMANDS) | set(self._built))


class _LazyRoot(TyperGroup):
    """The root group, building only the command that runs.

    typer turns every command's signature into click parameters when it builds a group:
    for all of ccverify's commands that is about 0.05 s, paid at each start (at every boot by
    the initramfs hook). This group's ``commands`` builds a command when click asks for it,
    so a run builds one; help still lists them all, and a mistyped name gets typer's "Did
    you mean" from the names alone. ``app`` (eager) is the same tree, for tests and embedding.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # the names: TyperGroup's would build every command


#: ``-h`` as well as ``--help``, on the root and (inherited by their contexts) every command
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def lazy_root() -> TyperGroup:
    """What ``ccverify`` runs: ``app``'s tree, built a command at a time."""
    return _LazyRoot(
        name="ccverify", help=_HELP, no_args_is_help=True, context_settings=CONTEXT_SETTINGS
    )


def version() -> str:
    """The package's version (``verifier/version.py``; pyproject's, as ``pip`` reports it)."""
    from ccverify.verifier.version import __version__

    return __version__


def main(argv: list[str] | None = None) -> None:
    """Run the command line: usage errors are one line and exit 2, Ctrl-C exits 130."""
    import os
    import sys

    from typer._click import exceptions as click_exceptions
    from typer.exceptions import Abort

    args = sys.argv[1:] if argv is None else argv
    if "_CCVERIFY_COMPLETE" in os.environ:  # the shell asks for completions (see `completion`)
        from typer._completion_classes import completion_init

        completion_init()
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"ccverify {version()}\n")
        raise SystemExit(0)
    root = lazy_root()
    try:
        code = root.main(args=args, prog_name="ccverify", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError:  # typer printed the help already
        raise SystemExit(2) from None
    except click_exceptions.UsageError as error:
        where = error.ctx.command_path if error.ctx is not None else "ccverify"
        hint = f" (see '{where} --help')" if error.ctx is not None else ""
        message = " ".join(error.format_message().split())
        sys.stderr.write(f"error (usage): {where}: {message}{hint}\n")
        raise SystemExit(2) from None
    except click_exceptions.ClickException as error:
        sys.stderr.write(f"error: {' '.join(error.format_message().split())}\n")
        raise SystemExit(2) from None
    except (Abort, KeyboardInterrupt):
        sys.stderr.write("\naborted\n")
        raise SystemExit(130) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
