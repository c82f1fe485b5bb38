"""Hex option values (``--report-data``, ``--nonce``): bytes, or an ``InputError`` (exit 2)."""

from __future__ import annotations

from ccverify.verifier.errors import InputError


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
