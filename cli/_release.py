"""What the release-layer commands (``devices``, ``guest``) share: the ``--json`` and
``--modules-dir`` options, the modules index and reading a device policy. They run library code in ``_common.guarded`` (with ``--json``,
the envelope of ``cli/envelope.py`` on failure too, with ``partial`` as its result).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccverify.cli._common import read_file

if TYPE_CHECKING:
    from ccverify.verifier.release.devices import LoadedPolicy, ModuleIndex

JsonOption = Annotated[bool, typer.Option("--json", help="Print the ccverify JSON envelope.")]
#: ``--modules-dir``'s help (``guest`` shows it in its System panel)
MODULES_DIR_HELP = "Directory with modules.alias (default /lib/modules/$(uname -r))."


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
