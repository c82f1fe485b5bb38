"""The kernel command line as the bytes QEMU receives (``-append``), for both platforms.

A command line given on ``ccverify``'s own command line arrives as a ``str`` decoded from
argv with the file-system encoding's ``surrogateescape`` handler (``os.fsdecode``): bytes
that are not valid UTF-8 become lone surrogates U+DC80..U+DCFF. QEMU hashes (SEV hashes
table) and hands OVMF (TDX load options) the raw argv bytes, so the command line is
encoded back the same way (``os.fsencode``-style), never as text that would turn those
bytes into something else.

Refused with an :class:`~ccverify.verifier.errors.InputError` (no argv can carry them):

* other lone surrogates (a ``str`` built in Python, not decoded from bytes);
* a NUL: QEMU takes the command line as a C string (``strlen``) and would cut it there.
"""

from __future__ import annotations

from ccverify.verifier.errors import InputError

__all__ = ["display", "is_utf8", "raw_bytes"]


def raw_bytes(cmdline: str | None) -> bytes:
    """The command-line bytes QEMU receives (no terminating NUL); ``b""`` for none."""
    if not cmdline:
        return b""
    try:
        data = cmdline.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as error:
        raise InputError(
            f"cmdline: character {cmdline[error.start]!r} at position {error.start} is a lone "
            "surrogate that no command-line byte decodes to; pass the command line as text or as "
            "the raw bytes QEMU gets"
        ) from None
    nul = data.find(0)
    if nul >= 0:
        raise InputError(
            f"cmdline: NUL byte at position {nul}; QEMU passes the command line as a C string "
            "and would cut it there"
        )
    return data


def is_utf8(cmdline: str | None) -> bool:
    """Whether the command line is valid UTF-8 text (no escaped raw bytes)."""
    try:
        raw_bytes(cmdline).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def display(cmdline: str | None) -> str:
    """Printable text for the command line: itself when UTF-8, else with ``\\xNN`` escapes."""
    return raw_bytes(cmdline).decode("utf-8", "backslashreplace")
