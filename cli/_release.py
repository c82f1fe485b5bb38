"""What the release-layer commands (``devices``, ``guest``) share: the modules index, reading a
device policy and the plan table (their options: ``cli/release_options.py``). They run library
code in ``_common.guarded`` (with ``--json``, the envelope of ``cli/envelope.py`` on failure
too, with ``partial`` as its result). No typer here: the console entry's guest fast path
(``cli/guest_run.py``) runs this.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccverify.cli._common import read_file

if TYPE_CHECKING:
    from ccverify.verifier.release.devices import Decision, Device, LoadedPolicy, ModuleIndex


def modules_index(modules_dir: Path | None) -> ModuleIndex:
    from ccverify.verifier.release.devices import ModuleIndex, default_modules_dir

    return ModuleIndex.load(modules_dir if modules_dir is not None else default_modules_dir())


def read_policy(
    path: Path, anchors: Sequence[Path], *, allow_unsigned: bool = False, at: Any = None
) -> LoadedPolicy:
    data = read_file(path, "--device-policy", "device_policy")
    return load_signed_policy(data, anchors, allow_unsigned=allow_unsigned, at=at)


def load_signed_policy(
    data: bytes, anchors: Sequence[Path], *, allow_unsigned: bool = False, at: Any = None
) -> LoadedPolicy:
    """A device policy's bytes checked against the ``--trust-anchor`` files."""
    from ccverify.verifier.release.devices import load_policy

    keys = [read_file(a, "--trust-anchor", "certificate") for a in anchors]
    return load_policy(data, keys, allow_unsigned=allow_unsigned, at=at)


def _ids(device: Device) -> str:
    if device.vendor is None:
        return "-"
    return f"{device.vendor:04x}:{'-' if device.device is None else f'{device.device:04x}'}"


#: the plan table's columns (``plan_table``, ``plan_lines``)
PLAN_COLUMNS = ("device", "ids", "verdict", "rule", "driver", "lockdown", "authorize", "note")


def _plan_row(d: Decision) -> tuple[str, ...]:
    driver = "-" if d.driver is None else d.driver + (" (pinned)" if d.pinned else "")
    return (d.device.key, _ids(d.device), d.verdict, d.rule, driver, d.lockdown, d.authorize, d.note or "")


def plan_lines(decisions: tuple[Decision, ...], title: str) -> list[str]:
    """``plan_table`` as ``_common.plain_lines`` shows it in a pipe (``# title``, the header,
    tab-separated rows), without rich: the initramfs hook's stages print this at every boot."""
    lines = [f"# {line}" for line in title.splitlines()]
    lines.append("\t".join(PLAN_COLUMNS))
    lines.extend("\t".join(_plan_row(d)) for d in decisions)
    return lines


def print_plan(decisions: tuple[Decision, ...], title: str) -> None:
    """The plan on stdout: rich's table on a terminal, ``plan_lines`` into a pipe or file."""
    import sys

    from ccverify.cli._common import stdout

    if stdout.is_terminal:
        stdout.print(plan_table(decisions, title))
    else:
        sys.stdout.write("".join(line + "\n" for line in plan_lines(decisions, title)))


def plan_table(decisions: tuple[Decision, ...], title: str) -> Any:
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, title_justify="left", header_style="bold")
    out.add_column(PLAN_COLUMNS[0], no_wrap=True)
    for column in PLAN_COLUMNS[1:]:
        out.add_column(column, overflow="fold")
    colours = {"bootstrap": "cyan", "allow": "green", "deny": "red"}
    for d in decisions:
        key, ids, verdict, *rest = _plan_row(d)
        out.add_row(key, ids, Text(verdict, style=colours[verdict]), *rest)
    return out
