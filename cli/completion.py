"""``ccverify completion SHELL``: print the shell's completion script for ``ccverify``."""

from __future__ import annotations

from typing import Annotated

import typer

from ccverify.cli._common import fail
from ccverify.verifier.errors import InputError

SHELLS = ("bash", "zsh", "fish")


def completion(
    shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")],
) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    Load it with `eval "$(ccverify completion bash)"`, or save it where the shell loads
    completions (e.g. ~/.local/share/bash-completion/completions/ccverify).
    """
    if shell not in SHELLS:
        fail(InputError(f"SHELL {shell!r}: expected one of {', '.join(SHELLS)}"))
    from typer._click.shell_completion import get_completion_class
    from typer._completion_classes import completion_init

    from ccverify.cli.app import lazy_root

    completion_init()
    kind = get_completion_class(shell)
    if kind is None:  # registered by completion_init for every name in SHELLS
        fail(InputError(f"SHELL {shell!r}: no completion support"))
    script = kind(lazy_root(), {}, "ccverify", "_CCVERIFY_COMPLETE").source()
    typer.echo(script)
