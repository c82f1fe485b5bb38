"""``ccverify example DIR`` (hidden): write the sample evidence set made by the test PKI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ccverify.cli._common import guarded, stdout


def example(
    directory: Annotated[Path, typer.Argument(help="Folder to write the sample set into.")],
) -> None:
    """Write an example evidence set (TDX and SNP) under EXAMPLE roots that nothing trusts by default."""
    from ccverify.verifier.testing.sample import write_example

    written = guarded(lambda: write_example(directory))
    for name in written.files:
        stdout.print(str(directory / name), highlight=False)
