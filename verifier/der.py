"""A minimal, strict DER (X.690) TLV reader for the few structures ccverify parses itself.

Why it exists: the SGX extension of a PCK certificate (``verifier/tdx/pck.py``) is the only
ASN.1 the guest's boot path decodes that ``cryptography`` does not, and importing pyasn1's
DER decoder (with the ``logging``, ``traceback`` and ``textwrap`` it pulls in) cost ~9 ms of
``ccverify guest authorize`` in the initramfs, whose start-up has a hard budget. This module is
the standard library only and does no work until asked. pyasn1 stays for the tests and the test
PKI's builders (``verifier/testing/sgx_ext.py``), which encode.

What it reads: definite-length, low-tag-number TLVs, lazily: ``parse`` checks one element's
header and that nothing follows it, ``Element.children`` the headers of a constructed element's
direct children; the typed accessors (``integer``, ``enumerated``, ``boolean``,
``octet_string``, ``oid``, ``sequence``) check the tag and the content, ``validate`` a whole
subtree a caller does not otherwise read (of those types and NULL). No recursion: a caller
walks as deep as its grammar goes, and ``MAX_DEPTH`` bounds that anyway; a constructed element
yields at most ``MAX_ITEMS`` children, and a caller that lists each element's children once
reads each byte a bounded number of times (linear work).

What it refuses (``DerError``, naming what was wrong and its byte offset in the input):

* an indefinite length (``0x80``), a long-form length below 128 or with leading zero octets, the
  reserved length octet ``0xFF``, a length running past the data (or past the enclosing element);
* the high-tag-number form (``tag & 0x1f == 0x1f``) and the universal tag 0 (end-of-contents);
* the wrong form for the universal types it knows: BOOLEAN, INTEGER, BIT STRING, OCTET STRING,
  NULL, OID and ENUMERATED must be primitive (DER has no constructed strings), SEQUENCE and SET
  constructed;
* bytes after the element where exactly one is asked for (``parse``);
* INTEGER/ENUMERATED with no content octets or a non-minimal encoding (``00`` before a byte
  below ``0x80``, ``FF`` before one from ``0x80``);
* BOOLEAN that is not exactly one octet ``00`` or ``FF``;
* OID with no content, more than ``MAX_OID_LENGTH`` content octets, a sub-identifier starting
  with ``0x80`` (not minimal) or a last octet with the high bit set (cut short).
* in ``validate``: NULL with content, any type besides SEQUENCE, BOOLEAN, INTEGER, ENUMERATED,
  OCTET STRING, NULL and OID (it could not tell a valid one from an invalid one), and an empty
  SEQUENCE if the caller says so.

OIDs decode to the dotted string; the first sub-identifier ``v`` is ``0.v`` below 40, ``1.(v-40)``
below 80, ``2.(v-80)`` from 80 (X.690 8.19.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: identifier octets of the universal types this reader decodes (class universal, form as DER has it)
BOOLEAN = 0x01
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
ENUMERATED = 0x0A
SEQUENCE = 0x30
SET = 0x31

#: the deepest element ``children`` will return (the outermost element is depth 0)
MAX_DEPTH = 32
#: the most children one constructed element may have
MAX_ITEMS = 1024
#: the longest OID content accepted (real OIDs are under 30 octets; keeps arcs' ints small)
MAX_OID_LENGTH = 128

_CONSTRUCTED = 0x20
_HIGH_TAG = 0x1F
#: universal tag numbers whose form DER fixes: True constructed, False primitive
_UNIVERSAL_FORM = {1: False, 2: False, 3: False, 4: False, 5: False, 6: False, 10: False, 16: True, 17: True}
_NAMES = {
    BOOLEAN: "BOOLEAN",
    INTEGER: "INTEGER",
    OCTET_STRING: "OCTET STRING",
    NULL: "NULL",
    OID: "OID",
    ENUMERATED: "ENUMERATED",
    SEQUENCE: "SEQUENCE",
    SET: "SET",
}


class DerError(ValueError):
    """Input that is not strict DER: ``what`` was wrong at byte ``offset`` of the input.

    Internal to the parsers built on this module, which translate it into their own error
    (``pck_extension_invalid`` for the SGX extension); it never leaves a public function.
    """

    def __init__(self, what: str, offset: int) -> None:
        self.what = what
        self.offset = offset
        super().__init__(f"{what} at offset {offset}")


def tag_name(tag: int) -> str:
    """``INTEGER`` for 0x02, ``tag 0xa0`` for one this module has no name for."""
    return _NAMES.get(tag, f"tag 0x{tag:02x}")


@dataclass(frozen=True, slots=True)
class Element:
    """One TLV of ``data``: identifier octet ``tag`` at ``offset``, content ``data[start:end]``."""

    data: bytes = field(repr=False)
    tag: int
    offset: int
    start: int
    end: int
    depth: int = 0

    @property
    def constructed(self) -> bool:
        return bool(self.tag & _CONSTRUCTED)

    @property
    def content(self) -> bytes:
        return self.data[self.start : self.end]

    @property
    def name(self) -> str:
        return tag_name(self.tag)

    def children(self, max_items: int = MAX_ITEMS) -> tuple[Element, ...]:
        """The direct children of a constructed element, headers checked, in order."""
        if not self.constructed:
            raise DerError(f"{self.name} is primitive, has no elements", self.offset)
        depth = self.depth + 1
        if depth > MAX_DEPTH:
            raise DerError(f"elements nested deeper than {MAX_DEPTH}", self.start)
        items: list[Element] = []
        at = self.start
        while at < self.end:
            if len(items) == max_items:
                raise DerError(f"{self.name} has more than {max_items} elements", at)
            item = read(self.data, at, self.end, depth)
            items.append(item)
            at = item.end
        return tuple(items)

    def expect(self, tag: int) -> None:
        """Raise unless this element's identifier octet is ``tag``."""
        if self.tag != tag:
            raise DerError(f"expected {tag_name(tag)}, found {self.name}", self.offset)

    def sequence(self, max_items: int = MAX_ITEMS) -> tuple[Element, ...]:
        """The elements of a SEQUENCE."""
        self.expect(SEQUENCE)
        return self.children(max_items)

    def integer(self) -> int:
        """The value of an INTEGER (two's complement, minimal)."""
        self.expect(INTEGER)
        return self._signed()

    def enumerated(self) -> int:
        """The value of an ENUMERATED (encoded as an INTEGER is)."""
        self.expect(ENUMERATED)
        return self._signed()

    def _signed(self) -> int:
        content = self.data[self.start : self.end]
        if not content:
            raise DerError(f"{self.name} has no content octets", self.offset)
        if len(content) > 1 and (
            (content[0] == 0x00 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
        ):
            raise DerError(f"{self.name} is not minimally encoded (leading 0x{content[0]:02x})", self.start)
        return int.from_bytes(content, "big", signed=True)

    def boolean(self) -> bool:
        """The value of a BOOLEAN: one octet, 0x00 or 0xFF."""
        self.expect(BOOLEAN)
        if self.end - self.start != 1:
            raise DerError(f"BOOLEAN has {self.end - self.start} content octets, expected 1", self.offset)
        value = self.data[self.start]
        if value not in (0x00, 0xFF):
            raise DerError(f"BOOLEAN is 0x{value:02x}, expected 0x00 or 0xff", self.start)
        return value == 0xFF

    def validate(self, *, empty_sequences: bool = True) -> None:
        """Check this element and everything inside it, for a value a caller skips.

        SEQUENCEs are opened (``MAX_DEPTH``/``MAX_ITEMS`` apply; empty ones refused unless
        ``empty_sequences``), INTEGER, ENUMERATED, BOOLEAN and OID contents checked by their
        rules, NULL must be empty, OCTET STRING is any bytes; any other tag (SET, strings, times,
        tagged values...) is refused: this reader has no rules to hold it to. Iterative: linear
        in the bytes, no recursion.
        """
        stack = [self]
        while stack:
            item = stack.pop()
            if item.tag == SEQUENCE:
                children = item.children()
                if not children and not empty_sequences:
                    raise DerError("empty SEQUENCE", item.offset)
                stack.extend(children)
            elif item.tag == INTEGER:
                item.integer()
            elif item.tag == ENUMERATED:
                item.enumerated()
            elif item.tag == BOOLEAN:
                item.boolean()
            elif item.tag == OID:
                item.oid()
            elif item.tag == NULL:
                if item.start != item.end:
                    raise DerError(
                        f"NULL has {item.end - item.start} content octets, expected 0", item.offset
                    )
            elif item.tag != OCTET_STRING:
                raise DerError(f"{item.name}: a type this reader has no rules for", item.offset)

    def octet_string(self) -> bytes:
        """The content of a (primitive) OCTET STRING."""
        self.expect(OCTET_STRING)
        return self.data[self.start : self.end]

    def oid(self) -> str:
        """An OBJECT IDENTIFIER as its dotted string (``1.2.840.113741.1.13.1``)."""
        self.expect(OID)
        if self.start == self.end:
            raise DerError("OID has no content octets", self.offset)
        if self.end - self.start > MAX_OID_LENGTH:
            raise DerError(f"OID is longer than {MAX_OID_LENGTH} octets", self.offset)
        data = self.data
        if data[self.end - 1] & 0x80:
            raise DerError("OID ends inside a sub-identifier", self.end - 1)
        arcs: list[int] = []
        value = 0
        first = True  # at the first octet of a sub-identifier
        for at in range(self.start, self.end):
            octet = data[at]
            if first and octet == 0x80:
                raise DerError("OID sub-identifier is not minimally encoded (leading 0x80)", at)
            value = (value << 7) | (octet & 0x7F)
            first = not octet & 0x80
            if first:
                arcs.append(value)
                value = 0
        head = arcs[0]
        if head < 40:
            dotted = [0, head]
        elif head < 80:
            dotted = [1, head - 40]
        else:
            dotted = [2, head - 80]
        return ".".join(map(str, dotted + arcs[1:]))


def read(data: bytes, offset: int = 0, end: int | None = None, depth: int = 0) -> Element:
    """The element whose identifier octet is at ``offset``, header checked.

    It must end by ``end`` (default: the end of ``data``); ``depth`` is recorded for ``children``.
    """
    limit = len(data) if end is None else end
    if offset >= limit:
        raise DerError("expected an element, found the end of the data", offset)
    tag = data[offset]
    if tag & _HIGH_TAG == _HIGH_TAG:
        raise DerError(f"high-tag-number form (identifier octet 0x{tag:02x}) is not supported", offset)
    if not tag & 0xC0:  # universal
        if not tag & _HIGH_TAG:
            raise DerError(f"universal tag 0 (identifier 0x{tag:02x}) is not an element", offset)
        constructed = _UNIVERSAL_FORM.get(tag & _HIGH_TAG)
        if constructed is not None and constructed != bool(tag & _CONSTRUCTED):
            form = "constructed" if constructed else "primitive"
            raise DerError(f"universal tag {tag & _HIGH_TAG} must be {form} (identifier 0x{tag:02x})", offset)
    at = offset + 1
    if at >= limit:
        raise DerError("the length octets are missing", at)
    first = data[at]
    at += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("indefinite length (0x80)", offset + 1)
    elif first == 0xFF:
        raise DerError("reserved length octet 0xff", offset + 1)
    else:
        count = first & 0x7F
        if at + count > limit:
            raise DerError(f"{count} length octets run past the end of the data", offset + 1)
        if data[at] == 0:
            raise DerError("long-form length with a leading zero octet", offset + 1)
        length = int.from_bytes(data[at : at + count], "big")
        if length < 0x80:
            raise DerError(f"long-form length for {length} (short form required)", offset + 1)
        at += count
    if length > limit - at:
        raise DerError(f"length {length} runs past the end of the data ({limit - at} left)", offset + 1)
    return Element(data, tag, offset, at, at + length, depth)


def parse(data: bytes) -> Element:
    """The one element ``data`` holds; bytes after it are an error."""
    element = read(data)
    if element.end != len(data):
        raise DerError(f"{len(data) - element.end} bytes after the element", element.end)
    return element
