"""Running a command whose ``--json`` prints the envelope (``cli/envelope.py``), on failure too.

``guarded_envelope(command, work, json_output=...)`` is ``_common.guarded`` plus, with
``--json``, the envelope on stdout carrying the error (class, code, message...) before the
usual one line on stderr and the exit code. Success prints nothing here: the command emits
its own envelope with ``emit_envelope(command, result=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ccverify.cli._common import _is_click_exit, guarded
from ccverify.cli.envelope import emit_envelope
from ccverify.verifier.errors import InputError, exit_code

T = TypeVar("T")


def guarded_envelope(command: str, work: Callable[[], T], *, json_output: bool) -> T:
    """Run ``work`` as ``guarded`` does; with ``json_output`` a failure also prints the envelope."""
    if not json_output:
        return guarded(work)

    def enveloped() -> T:
        try:
            return work()
        except Exception as error:
            if _is_click_exit(error):  # typer's Exit, raised by a command on purpose
                raise
            shown: BaseException = error
            if isinstance(error, OSError):  # as ``guarded`` words it
                shown = InputError(f"{getattr(error, 'filename', None) or 'file'}: {error.strerror or error}")
            emit_envelope(command, error=shown, exit_code=exit_code(shown))
            raise

    return guarded(enveloped)


def parse_hex(text: str, option: str, *, max_size: int | None = None) -> bytes:
    """Hex digits (an optional ``0x``) as bytes; anything else is an ``InputError`` (exit 2)."""
    digits = text.strip()
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    if not digits or len(digits) % 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise InputError(f"{option}: expected an even number of hex digits, got {text!r}")
    value = bytes.fromhex(digits)
    if max_size is not None and len(value) > max_size:
        raise InputError(f"{option}: at most {max_size} bytes ({2 * max_size} hex digits), got {len(value)}")
    return value
