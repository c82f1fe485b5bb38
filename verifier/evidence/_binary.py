"""Bounds-checked little-endian field reads that fail with a ParseError naming the field.

Parsers describe each field once (name, offset, size) and let these helpers do the
checking, so a truncated or inconsistent input always reports the field and the absolute
offset that were wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from ccverify.verifier.errors import ParseError


class Reader:
    """A view over ``data`` for structure ``structure``; ``base`` is added to offsets in errors."""

    __slots__ = ("base", "data", "structure")

    def __init__(self, data: bytes, structure: str, base: int = 0) -> None:
        self.data = data
        self.structure = structure
        self.base = base

    def error(self, field: str, offset: int, detail: str) -> ParseError:
        return ParseError(self.structure, field, self.base + offset, detail)

    def need(self, field: str, offset: int, size: int) -> None:
        """Raise unless ``size`` bytes are available at ``offset``."""
        if offset < 0 or size < 0 or offset + size > len(self.data):
            have = max(0, len(self.data) - offset)
            raise self.error(
                field, offset, f"needs {size} bytes but only {have} remain (input is truncated)"
            )

    def bytes(self, field: str, offset: int, size: int) -> bytes:
        self.need(field, offset, size)
        return self.data[offset : offset + size]

    def u8(self, field: str, offset: int) -> int:
        self.need(field, offset, 1)
        return self.data[offset]

    def u16(self, field: str, offset: int) -> int:
        self.need(field, offset, 2)
        return int.from_bytes(self.data[offset : offset + 2], "little")

    def u32(self, field: str, offset: int) -> int:
        self.need(field, offset, 4)
        return int.from_bytes(self.data[offset : offset + 4], "little")

    def u64(self, field: str, offset: int) -> int:
        self.need(field, offset, 8)
        return int.from_bytes(self.data[offset : offset + 8], "little")

    def sub(self, field: str, offset: int, size: int, structure: str | None = None) -> Reader:
        """A reader over ``size`` bytes at ``offset`` whose errors keep absolute offsets."""
        self.need(field, offset, size)
        return Reader(
            self.data[offset : offset + size], structure or self.structure, self.base + offset
        )

    def expect_zero(self, field: str, offset: int, size: int) -> None:
        """Reserved bytes: reject anything but zeros."""
        chunk = self.bytes(field, offset, size)
        if chunk.count(0) != size:
            first = next(i for i, b in enumerate(chunk) if b)
            raise self.error(field, offset + first, "reserved bytes must be zero")


def le(value: int, size: int) -> bytes:
    """``value`` as ``size`` little-endian bytes (for ``to_bytes``)."""
    return value.to_bytes(size, "little")


class Layout:
    """A fixed run of little-endian fields read with one ``struct.unpack_from``.

    Parsing a well-formed input then costs one native call instead of a bounds check per
    field; only when the input is too short does ``read`` walk the fields, to name the one
    the input cuts (with its absolute offset) exactly as per-field reads would.
    Codes: ``Ns`` bytes, ``B``/``H``/``I``/``Q`` unsigned 8/16/32/64-bit integers.
    """

    __slots__ = ("_spans", "names", "size", "struct")

    def __init__(self, fields: Sequence[tuple[str, str]]) -> None:
        self.names = tuple(name for name, _ in fields)
        self.struct = struct.Struct("<" + "".join(code for _, code in fields))
        self.size = self.struct.size
        spans: list[tuple[str, int, int]] = []
        offset = 0
        for name, code in fields:
            width = struct.calcsize("<" + code)
            spans.append((name, offset, width))
            offset += width
        self._spans = tuple(spans)

    def spans(self, at: int = 0) -> tuple[tuple[str, int, int], ...]:
        """``(name, offset, size)`` of every field, in order, when the layout starts at ``at``."""
        return tuple((name, at + offset, width) for name, offset, width in self._spans)

    def read(self, reader: Reader, at: int, prefix: str = "") -> tuple[Any, ...]:
        if at >= 0 and at + self.size <= len(reader.data):
            return self.struct.unpack_from(reader.data, at)
        for name, offset, width in self._spans:
            reader.need(prefix + name, at + offset, width)
        raise reader.error(prefix + self.names[0], at, "layout does not fit")  # not reached

    def pack(self, *values: Any) -> bytes:
        return self.struct.pack(*values)
