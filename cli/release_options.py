"""The options the release-layer commands (``devices``, ``guest``) declare alike (typer; what
they run is in the typer-free ``cli/_release.py``)."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print the ccverify JSON envelope.")]
#: ``--modules-dir``'s help (``guest`` shows it in its System panel)
MODULES_DIR_HELP = "Directory with modules.alias (default /lib/modules/$(uname -r))."
