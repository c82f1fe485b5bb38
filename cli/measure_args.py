"""Read well-formed ``measure snp|tdx`` arguments without typer, for the console entry.

Importing typer and building a command (about 0.02 s on the 2-core development machine)
would be a third of what the ``measure`` command's main thread does while the other core
hashes the initrd, and image builders run it in loops. So the entry reads arguments of the
plainest shape itself, a strict subset of what click accepts: each
option of the command once, as ``--name value`` or ``--name=value``; ``--json`` alone;
integers as ASCII digits; no value that is empty or starts with ``-``. Anything else (help,
an unknown, repeated or misspelt option, a missing value or required option, ``--``, an
argument, a value click would convert differently or refuse) returns ``None`` and typer reads
the arguments and words every error, so this can only accept, never refuse. What it returns
are the keyword arguments the typer command passes to ``cli/measure_run.py`` for the same
arguments; tests hold the two to that (the table against typer's declarations, and the
results over generated arguments).

Standard library only: it runs before anything else is imported.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: this runs before anything else is imported
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

PATH, INT, TEXT, FLAG = "path", "int", "text", "flag"
#: the default of an option that must be given
REQUIRED = object()

#: target -> option -> (parameter of cli/measure_run's function, kind, default), as
#: cli/measure.py declares them
OPTIONS: dict[str, dict[str, tuple[str, str, object]]] = {
    "snp": {
        "--firmware": ("firmware", PATH, REQUIRED),
        "--vcpus": ("vcpus", INT, None),
        "--vcpu-type": ("vcpu_type", TEXT, None),
        "--vcpu-sig": ("vcpu_sig", TEXT, None),
        "--vmm-type": ("vmm_type", TEXT, "qemu"),
        "--guest-features": ("guest_features", TEXT, None),
        "--mode": ("mode", TEXT, "snp"),
        "--kernel": ("kernel", PATH, None),
        "--initrd": ("initrd", PATH, None),
        "--cmdline": ("cmdline", TEXT, None),
        "--snp-ovmf-hash": ("snp_ovmf_hash", TEXT, None),
        "--svsm": ("svsm", PATH, None),
        "--vars-size": ("vars_size", INT, None),
        "--json": ("json_out", FLAG, False),
    },
    "tdx": {
        "--firmware": ("firmware", PATH, REQUIRED),
        "--kernel": ("kernel", PATH, None),
        "--initrd": ("initrd", PATH, None),
        "--cmdline": ("cmdline", TEXT, None),
        "--load-options": ("load_options", TEXT, "initrd-prefix"),
        "--order": ("order", TEXT, "single-pass"),
        "--rtmr0": ("rtmr0", TEXT, None),
        "--rtmr0-from-log": ("rtmr0_from_log", PATH, None),
        "--json": ("json_out", FLAG, False),
    },
}


def parse(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``(target, keyword arguments)`` for ``cli.measure_run.<target>``, or ``None``: let
    typer read these arguments (``argv`` is ``sys.argv[1:]``)."""
    if len(argv) < 2 or argv[0] != "measure" or argv[1] not in OPTIONS:
        return None
    table = OPTIONS[argv[1]]
    given: dict[str, Any] = {}
    rest = iter(argv[2:])
    for arg in rest:
        spec = table.get(arg.partition("=")[0])
        read = read_option(arg, rest, None if spec is None else spec[:2], given)
        if read is None:
            return None
        parameter, kind, value = read
        if kind == FLAG:
            given[parameter] = True
        elif kind == INT:
            if not (value.isascii() and value.isdigit()) or len(value) > 18:
                return None  # over 18 digits: int() may refuse it (4300), and no option wants it
            given[parameter] = int(value)
        elif kind == PATH:
            from pathlib import Path

            given[parameter] = Path(value)
        else:
            given[parameter] = value
    for parameter, _, default in table.values():
        if parameter not in given:
            if default is REQUIRED:
                return None
            given[parameter] = default
    return argv[1], given


def read_option(
    arg: str, rest: Iterator[str], spec: tuple[str, str] | None, given: dict[str, Any]
) -> tuple[str, str, str] | None:
    """One ``--name value``/``--name=value`` (or a flag) of the strict grammar both fast paths
    read: ``(parameter, kind, value)``, or ``None`` for anything click might read otherwise (an
    unknown or repeated option, a flag given a value, a missing value, a value starting with
    ``-``). ``spec`` is the option's ``(parameter, kind)``; a value it needs comes from ``rest``."""
    if spec is None or spec[0] in given:
        return None
    parameter, kind = spec
    _, eq, value = arg.partition("=")
    if kind == FLAG:
        return None if eq else (parameter, kind, "")  # click refuses a value for a flag
    if not eq:
        following = next(rest, None)
        if following is None:
            return None
        value = following
    if not value or value[0] == "-":
        return None
    return parameter, kind, value
