"""The one input convention of the library: ``bytes`` is content, ``os.PathLike`` is a file.

Every public function that takes "a file or its content" (evidence, collateral, certificates,
CRLs, trust roots and anchors, keys, reference values, policies, event logs) reads its argument
with ``read_source``:

* ``bytes``, ``bytearray`` or ``memoryview``: the content itself;
* an ``os.PathLike`` (``pathlib.Path``): a file, read with its kind's size limit
  (``verifier/limits.py``: FIFOs without blocking, directories refused);
* a ``str``: refused (``InputError``). A string is ambiguous (a PEM text and a file name are
  both strings), and guessing is how a PEM trust anchor was opened as a path and a report's
  ``Path`` parsed as the bytes of its name. Wrap a name in ``Path(...)``, encode a text.

Anything else is an ``InputError`` naming the function, the argument and the type, raised
before anything is read. Functions that take only content of a textual kind say so where they
are (``TdxCollateral.from_quote_collateral_v3`` takes JSON text, ``measurements``' ``cmdline`` is
the command line itself).
"""

from __future__ import annotations

import os

from ccverify.verifier.errors import InputError
from ccverify.verifier.limits import InputKind, read_bounded

#: what ``read_source`` accepts
Source = bytes | bytearray | memoryview | os.PathLike[str]

__all__ = ["Source", "read_source", "refuse"]


def read_source(source: object, kind: InputKind, what: str, function: str) -> tuple[bytes, str]:
    """(content, a name for messages): ``what`` for bytes, ``what <path>`` for a file."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), what
    if isinstance(source, os.PathLike):
        return read_bounded(source, kind, what), f"{what} {os.fspath(source)}"
    raise refuse(source, what, function)


def refuse(source: object, what: str, function: str, accepted: str = "") -> InputError:
    """The ``InputError`` for a ``source`` of the wrong type (``accepted``: what else is taken)."""
    also = f", {accepted}" if accepted else ""
    if isinstance(source, str):
        return InputError(
            f"{function}: {what} is a str, which is neither content nor a file here: pass bytes (the "
            f"content) or a pathlib.Path (a file){also}"
        )
    return InputError(
        f"{function}: {what} must be bytes (the content) or an os.PathLike (a file){also}, "
        f"not {type(source).__name__}"
    )
