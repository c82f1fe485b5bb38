"""Read the initramfs hook's own ``guest`` command lines without typer, for the console entry.

The hook runs at every boot (``cli/initramfs/``): ``guest lockdown --config FILE`` (stage 1),
``guest authorize --config FILE`` (stage 2; ``--trust-root FILE`` too, as the boot benchmark
and a test image trusting an example PKI run it), ``guest finish --config FILE`` (before
switch-root) and ``guest unlock --config FILE --volume NAME`` (the crypttab keyscript); typer's
import and command building are a large part of what those commands cost. This reads those
forms only, a strict subset of what click accepts: each option once, as ``--name value`` or
``--name=value``, in any order; ``--json`` alone; ``unlock`` also takes its ``NAME`` argument
once; no value that is empty or starts with ``-``. Anything else (help, another option, a
repeated or misspelt one, a missing value or ``--config``, ``--``) returns ``None`` and typer
reads the arguments and words every error, so this can only accept, never refuse.

What it returns are the keyword arguments the typer command passes to ``cli/guest_run.py``
that differ from that function's defaults (which are the typer command's; tests hold the two
readers to the same keyword arguments). Standard library only: it runs before anything else
is imported.
"""

from __future__ import annotations

from ccverify.cli.measure_args import FLAG, PATH, TEXT, read_option

TYPE_CHECKING = False  # not typing's: this runs before anything else is imported
if TYPE_CHECKING:
    from typing import Any

#: verb -> option -> (parameter of cli/guest_run's function, kind); ``--config`` is required
OPTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "lockdown": {"--config": ("config", PATH), "--json": ("json_out", FLAG)},
    "authorize": {"--config": ("config", PATH), "--trust-root": ("trust_root", PATH), "--json": ("json_out", FLAG)},
    "finish": {"--config": ("config", PATH), "--json": ("json_out", FLAG)},
    "unlock": {"--config": ("config", PATH), "--volume": ("volume", TEXT), "--json": ("json_out", FLAG)},
}
#: the verbs that take one argument, and its parameter
ARGUMENT = {"unlock": "name"}


def parse(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``(verb, keyword arguments)`` for ``cli.guest_run.<verb>``, or ``None``: let typer read
    these arguments (``argv`` is ``sys.argv[1:]``)."""
    if len(argv) < 2 or argv[0] != "guest" or argv[1] not in OPTIONS:
        return None
    verb = argv[1]
    table = OPTIONS[verb]
    given: dict[str, Any] = {}
    rest = iter(argv[2:])
    for arg in rest:
        if not arg.startswith("--"):
            parameter = ARGUMENT.get(verb)
            if parameter is None or parameter in given or not arg or arg[0] == "-":
                return None
            given[parameter] = arg
            continue
        read = read_option(arg, rest, table.get(arg.partition("=")[0]), given)
        if read is None:
            return None
        parameter, kind, value = read
        if kind == FLAG:
            given[parameter] = True
        elif kind == PATH:
            from pathlib import Path

            given[parameter] = Path(value)
        else:
            given[parameter] = value
    if "config" not in given:
        return None
    return verb, given
