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


def plan_table(decisions: tuple[Decision, ...], title: str) -> Any:
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, title_justify="left", header_style="bold")
    out.add_column("device", no_wrap=True)
    for column in ("ids", "verdict", "rule", "driver", "lockdown", "authorize", "note"):
        out.add_column(column, overflow="fold")
    colours = {"bootstrap": "cyan", "allow": "green", "deny": "red"}
    for d in decisions:
        driver = "-" if d.driver is None else d.driver + (" (pinned)" if d.pinned else "")
        out.add_row(
            d.device.key, _ids(d.device), Text(d.verdict, style=colours[d.verdict]), d.rule, driver,
            d.lockdown, d.authorize, d.note or "",
        )  # fmt: skip
    return out
