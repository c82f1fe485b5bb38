"""The strict DER reader (verifier/der.py): every rule it refuses by, OIDs, and round trips.

pyasn1's DER encoder is the independent side of the round trips: what it encodes (minimal DER),
the reader decodes to the same value. Its INTEGERs are written by ``tests/der_encoding.py``:
pyasn1's own writes -2**(8n-1) non-minimally.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyasn1.codec.der import encoder
from pyasn1.type import univ

from ccverify.verifier import der
from ccverify.verifier.der import DerError, Element
from tests import der_encoding

ROUND_TRIP = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


_tlv = der_encoding.tlv


def _enc(value: object) -> bytes:
    return der_encoding.encode(value)


# -- what the reader refuses: (name, input, how it is read, the words of the error, its offset) ---

PARSE = "parse"


def _walk(data: bytes) -> None:
    """Read everything the way a caller would: each element's children once, typed leaves."""
    stack = [der.parse(data)]
    while stack:
        element = stack.pop()
        if element.constructed:
            stack.extend(element.children())
        elif element.tag in (der.INTEGER, der.ENUMERATED):
            element.integer() if element.tag == der.INTEGER else element.enumerated()
        elif element.tag == der.BOOLEAN:
            element.boolean()
        elif element.tag == der.OID:
            element.oid()


REFUSED: list[tuple[str, bytes, str, int]] = [
    # lengths
    ("empty input", b"", "expected an element, found the end of the data", 0),
    ("length octets missing", b"\x04", "the length octets are missing", 1),
    ("indefinite length", bytes.fromhex("3080020105 0000"), "indefinite length (0x80)", 1),
    ("long form for a length below 128", bytes.fromhex("04 81 01 00"), "long-form length for 1", 1),
    ("long form for 127", bytes.fromhex("04 81 7f") + bytes(127), "long-form length for 127", 1),
    ("leading zero length octet", bytes.fromhex("04 82 0081") + bytes(129), "leading zero octet", 1),
    ("leading zero, short value", bytes.fromhex("02 82 0001 05"), "leading zero octet", 1),
    ("reserved length octet 0xff", bytes.fromhex("04 ff 00"), "reserved length octet 0xff", 1),
    ("length octets past the end", bytes.fromhex("04 84 0000"), "4 length octets run past", 1),
    ("length past the end", bytes.fromhex("04 05 000000"), "length 5 runs past the end", 1),
    ("huge length", bytes.fromhex("04 84 ffffffff 00"), "length 4294967295 runs past", 1),
    # a child that runs past its parent's end (the inner SEQUENCE's), though the data goes on
    ("child past its parent", bytes.fromhex("3007 3003 0402 00 0400"), "length 2 runs past", 5),
    # tags
    ("high-tag-number form", bytes.fromhex("1f 02 01 05"), "high-tag-number form", 0),
    ("high-tag-number form, context", bytes.fromhex("bf 1f 00"), "high-tag-number form", 0),
    ("universal tag 0 (end-of-contents)", bytes.fromhex("0000"), "universal tag 0", 0),
    ("universal tag 0, constructed", bytes.fromhex("2000"), "universal tag 0", 0),
    # universal types in the wrong form
    ("primitive SEQUENCE", bytes.fromhex("10 03 020105"), "universal tag 16 must be constructed", 0),
    ("primitive SET", bytes.fromhex("11 00"), "universal tag 17 must be constructed", 0),
    ("constructed BOOLEAN", bytes.fromhex("21 03 0101ff"), "universal tag 1 must be primitive", 0),
    ("constructed INTEGER", bytes.fromhex("22 03 020105"), "universal tag 2 must be primitive", 0),
    ("constructed OCTET STRING", bytes.fromhex("24 04 04020102"), "universal tag 4 must be primitive", 0),
    ("constructed OID", bytes.fromhex("26 03 06012a"), "universal tag 6 must be primitive", 0),
    ("constructed ENUMERATED", bytes.fromhex("2a 03 0a0101"), "universal tag 10 must be primitive", 0),
    # exactly one element
    ("trailing byte", bytes.fromhex("020105 00"), "1 bytes after the element", 3),
    ("two elements", bytes.fromhex("020105 020106"), "3 bytes after the element", 3),
    # INTEGER / ENUMERATED content
    ("empty INTEGER", bytes.fromhex("0200"), "INTEGER has no content octets", 0),
    ("empty ENUMERATED", bytes.fromhex("0a00"), "ENUMERATED has no content octets", 0),
    (
        "INTEGER 00 before < 0x80",
        bytes.fromhex("02020005"),
        "INTEGER is not minimally encoded (leading 0x00)",
        2,
    ),
    ("INTEGER 00 before 0x7f", bytes.fromhex("0202007f"), "not minimally encoded (leading 0x00)", 2),
    ("INTEGER ff before >= 0x80", bytes.fromhex("0202ff80"), "not minimally encoded (leading 0xff)", 2),
    ("INTEGER ff before 0xff", bytes.fromhex("0203ffff01"), "not minimally encoded (leading 0xff)", 2),
    ("ENUMERATED 00 before < 0x80", bytes.fromhex("0a020001"), "ENUMERATED is not minimally encoded", 2),
    # BOOLEAN content
    ("empty BOOLEAN", bytes.fromhex("0100"), "BOOLEAN has 0 content octets, expected 1", 0),
    ("two-octet BOOLEAN", bytes.fromhex("0102ffff"), "BOOLEAN has 2 content octets, expected 1", 0),
    ("BOOLEAN 0x01", bytes.fromhex("010101"), "BOOLEAN is 0x01, expected 0x00 or 0xff", 2),
    ("BOOLEAN 0x7f", bytes.fromhex("01017f"), "BOOLEAN is 0x7f", 2),
    # OID content
    ("empty OID", bytes.fromhex("0600"), "OID has no content octets", 0),
    ("OID first sub-identifier 0x80", bytes.fromhex("0602802a"), "leading 0x80", 2),
    ("OID later sub-identifier 0x80", bytes.fromhex("06042a80 8648"), "leading 0x80", 3),
    ("OID last octet high bit", bytes.fromhex("06022a86"), "OID ends inside a sub-identifier", 3),
    ("OID only a continuation octet", bytes.fromhex("060181"), "OID ends inside a sub-identifier", 2),
    ("OID too long", _tlv(0x06, b"\x2a" + b"\x01" * der.MAX_OID_LENGTH), "OID is longer than 128", 0),
    # a caller's element inside a SEQUENCE: the offset is the input's, not the element's
    ("bad INTEGER inside", bytes.fromhex("3007 020101 02020001"), "not minimally encoded", 7),
]


@pytest.mark.parametrize(
    ("data", "words", "offset"), [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused(data: bytes, words: str, offset: int) -> None:
    with pytest.raises(DerError) as info:
        _walk(data)
    assert words in info.value.what
    assert info.value.offset == offset
    assert str(info.value) == f"{info.value.what} at offset {offset}"
    assert isinstance(info.value, ValueError)


def test_wrong_type_for_an_accessor_names_both_tags() -> None:
    element = der.parse(bytes.fromhex("0401ff"))
    for accessor in (element.integer, element.enumerated, element.boolean, element.oid, element.sequence):
        with pytest.raises(DerError, match=r"expected .*, found OCTET STRING at offset 0"):
            accessor()
    with pytest.raises(DerError, match="expected OCTET STRING, found tag 0xa0 at offset 0"):
        der.parse(bytes.fromhex("a0 03 0401ff")).octet_string()
    with pytest.raises(DerError, match="expected INTEGER, found ENUMERATED"):
        der.parse(bytes.fromhex("0a0101")).integer()
    with pytest.raises(DerError, match="expected ENUMERATED, found INTEGER"):
        der.parse(bytes.fromhex("020101")).enumerated()


def test_children_of_a_primitive_element() -> None:
    with pytest.raises(DerError, match="INTEGER is primitive, has no elements at offset 0"):
        der.parse(bytes.fromhex("020101")).children()


def test_nesting_depth_is_bounded() -> None:
    data = b""
    for _ in range(der.MAX_DEPTH + 1):
        data = _tlv(der.SEQUENCE, data)
    element = der.parse(data)
    for _ in range(der.MAX_DEPTH):
        (element,) = element.children()
    assert element.depth == der.MAX_DEPTH
    with pytest.raises(DerError, match=f"nested deeper than {der.MAX_DEPTH}"):
        element.children()


def test_deep_hostile_nesting_costs_no_recursion() -> None:
    # 100,000 indefinite-length headers stop at the first; 2,000 nested definite SEQUENCEs at
    # MAX_DEPTH, and nothing recurses
    data = b"\x30\x80" * 100_000
    with pytest.raises(DerError, match="indefinite length"):
        _walk(data)
    nested = b""
    for _ in range(2_000):
        nested = _tlv(der.SEQUENCE, nested)
    with pytest.raises(DerError, match="nested deeper than"):
        _walk(nested)


def test_element_count_is_bounded() -> None:
    items = bytes.fromhex("0500") * der.MAX_ITEMS
    assert len(der.parse(_tlv(der.SEQUENCE, items)).children()) == der.MAX_ITEMS
    with pytest.raises(DerError, match=f"SEQUENCE has more than {der.MAX_ITEMS} elements") as info:
        der.parse(_tlv(der.SEQUENCE, items + bytes.fromhex("0500"))).children()
    assert info.value.offset == 4 + 2 * der.MAX_ITEMS  # 30 82 xx xx, then the 1025th element
    with pytest.raises(DerError, match="more than 2 elements"):
        der.parse(bytes.fromhex("3006 0500 0500 0500")).sequence(max_items=2)


def test_wide_input_is_linear() -> None:
    # a 200 KB SEQUENCE of OCTET STRINGs is read in one pass (the count bound stops it early)
    wide = _tlv(der.SEQUENCE, bytes.fromhex("0400") * 100_000)
    started = time.perf_counter()
    with pytest.raises(DerError, match="more than"):
        der.parse(wide).children()
    assert time.perf_counter() - started < 1.0


def test_validate_checks_a_whole_subtree() -> None:
    good = _tlv(
        der.SEQUENCE,
        bytes.fromhex("0101ff 020100 0a0101 0400 0500 06012a 3000") + _tlv(0x30, b"\x02\x01\x05"),
    )
    der.parse(good).validate()
    with pytest.raises(DerError, match="empty SEQUENCE at offset 18"):
        der.parse(good).validate(empty_sequences=False)
    for inner, words, offset in (
        ("0c0161", "tag 0x0c: a type this reader has no rules for", 2),  # UTF8String
        ("3100", "SET: a type this reader has no rules for", 2),
        ("a003020101", "tag 0xa0: a type this reader has no rules for", 2),
        ("03020780", "tag 0x03: a type this reader has no rules for", 2),  # BIT STRING
        ("050100", "NULL has 1 content octets, expected 0", 2),
        ("3003 020200", "length 2 runs past the end", 5),  # the headers, as children() reads them
        ("3004 02020001", "INTEGER is not minimally encoded", 6),
        ("010101", "BOOLEAN is 0x01", 4),
        ("0601 80", "OID ends inside a sub-identifier", 4),
    ):
        data = _tlv(der.SEQUENCE, bytes.fromhex(inner))
        with pytest.raises(DerError) as info:
            der.parse(data).validate()
        assert words in info.value.what
        assert info.value.offset == offset


def test_validate_is_bounded_and_iterative() -> None:
    nested = bytes.fromhex("0500")
    for _ in range(der.MAX_DEPTH):
        nested = _tlv(der.SEQUENCE, nested)
    der.parse(nested).validate()
    with pytest.raises(DerError, match="nested deeper than"):
        der.parse(_tlv(der.SEQUENCE, nested)).validate()
    with pytest.raises(DerError, match="more than"):
        der.parse(_tlv(der.SEQUENCE, bytes.fromhex("0500") * (der.MAX_ITEMS + 1))).validate()


# -- what it accepts ---------------------------------------------------------------------------------


def test_header_forms_and_offsets() -> None:
    element = der.parse(bytes.fromhex("30 06 020105 0401ff"))
    assert (element.tag, element.offset, element.start, element.end, element.depth) == (0x30, 0, 2, 8, 0)
    assert element.constructed and element.name == "SEQUENCE"
    first, second = element.sequence()
    assert (first.offset, first.start, first.end, first.depth) == (2, 4, 5, 1)
    assert first.integer() == 5
    assert second.octet_string() == b"\xff" and second.content == b"\xff"
    long = der.parse(bytes.fromhex("04 81 80") + bytes(128))
    assert long.octet_string() == bytes(128) and long.start == 3
    longer = der.parse(bytes.fromhex("04 82 0100") + bytes(256))
    assert len(longer.octet_string()) == 256
    assert der.parse(bytes.fromhex("0400")).octet_string() == b""
    assert der.parse(bytes.fromhex("3000")).sequence() == ()
    # read: one element at an offset, within a bound, trailing data allowed
    assert der.read(bytes.fromhex("020105 020106"), 3).integer() == 6
    assert der.read(bytes.fromhex("020105 00")).end == 3


def test_tags_it_has_no_rule_for_pass_through() -> None:
    # context-specific and application tags, other universal types: readable as TLVs
    explicit = der.parse(bytes.fromhex("a0 03 020107"))
    assert explicit.constructed and explicit.name == "tag 0xa0"
    (inner,) = explicit.children()
    assert inner.integer() == 7
    assert der.parse(bytes.fromhex("80 01 05")).content == b"\x05"
    assert der.parse(bytes.fromhex("0c 02 6162")).content == b"ab"  # UTF8String
    assert der.parse(bytes.fromhex("3100")).children() == ()


@pytest.mark.parametrize(
    ("encoding", "value"),
    [
        ("020100", 0),
        ("02017f", 127),
        ("02020080", 128),
        ("020200ff", 255),
        ("02020100", 256),
        ("0201ff", -1),
        ("020180", -128),
        ("0202ff7f", -129),
        ("02050100000000", 2**32),
        ("0a0102", 2),
    ],
)
def test_integer_values(encoding: str, value: int) -> None:
    element = der.parse(bytes.fromhex(encoding))
    decoded = element.integer() if element.tag == der.INTEGER else element.enumerated()
    assert decoded == value


def test_booleans() -> None:
    assert der.parse(bytes.fromhex("0101ff")).boolean() is True
    assert der.parse(bytes.fromhex("010100")).boolean() is False


@pytest.mark.parametrize(
    ("encoding", "dotted"),
    [
        ("0601 00", "0.0"),
        ("0601 27", "0.39"),
        ("0601 28", "1.0"),
        ("0601 4f", "1.39"),
        ("0601 50", "2.0"),
        ("0603 550403", "2.5.4.3"),
        ("0602 8837", "2.999"),  # first sub-identifier 1079 = 80 + 999
        ("0603 813403", "2.100.3"),
        ("0609 2a864886f84d010d01", "1.2.840.113741.1.13.1"),
        ("060b 2a864886f84d010d010211", "1.2.840.113741.1.13.1.2.17"),
        ("0609 2b0601040182371402", "1.3.6.1.4.1.311.20.2"),
        # 2**64 and 2**128 - 1 as arcs (a UUID arc under 2.25 is up to 128 bits)
        ("060b 2a 82808080808080808000", "1.2.18446744073709551616"),
        ("0614 6983ffffffffffffffffffffffffffffffffff7f", "2.25." + str(2**128 - 1)),
    ],
)
def test_oid_decoding(encoding: str, dotted: str) -> None:
    assert der.parse(bytes.fromhex(encoding)).oid() == dotted
    assert str(univ.ObjectIdentifier(dotted)) == dotted
    assert _enc(univ.ObjectIdentifier(dotted)) == bytes.fromhex(encoding)


def test_oid_of_the_longest_accepted_length() -> None:
    oid = der.parse(_tlv(der.OID, b"\x2a" + b"\x01" * (der.MAX_OID_LENGTH - 1))).oid()
    assert oid == "1.2" + ".1" * (der.MAX_OID_LENGTH - 1)


# -- round trips against pyasn1's encoder -------------------------------------------------------------

_ARC = st.one_of(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=2**140))


@st.composite
def _oids(draw: st.DrawFn) -> str:
    first = draw(st.integers(min_value=0, max_value=2))
    second = draw(st.integers(min_value=0, max_value=39)) if first < 2 else draw(_ARC)
    rest = draw(st.lists(_ARC, max_size=6))
    return ".".join(map(str, [first, second, *rest]))


@ROUND_TRIP
@given(_oids())
def test_oid_round_trip(dotted: str) -> None:
    assert der.parse(_enc(univ.ObjectIdentifier(dotted))).oid() == dotted


def _length(size: int) -> bytes:
    """A DER length: short form below 128, else the fewest octets."""
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


@ROUND_TRIP
@given(st.integers(min_value=-(2**300), max_value=2**300))
@example(-128)
@example(-(2**15))
@example(-(2**255))
@example(-129)
@example(127)
@example(128)
@example(0)
@example(-1)
def test_integer_round_trip(value: int) -> None:
    # the minimal two's complement form (X.690 8.3.2), written here as well: one sign bit beyond
    # the magnitude, which for a negative value is ~value's bits (-128 fits in one octet)
    content = value.to_bytes(((value if value >= 0 else ~value).bit_length() + 8) // 8, "big", signed=True)
    for tag in (0x02, 0x0A):
        encoded = bytes([tag]) + _length(len(content)) + content
        element = der.parse(encoded)
        assert (element.integer() if tag == 0x02 else element.enumerated()) == value
        assert _enc(univ.Integer(value) if tag == 0x02 else univ.Enumerated(value)) == encoded
        if not der_encoding.pyasn1_pads(value):
            assert encoder.encode(univ.Integer(value) if tag == 0x02 else univ.Enumerated(value)) == encoded


def test_pyasn1s_non_minimal_negative_integer_is_refused() -> None:
    assert encoder.encode(univ.Integer(-128)) == bytes.fromhex("0202ff80")  # pyasn1's encoding: not DER
    assert der_encoding.pyasn1_pads(-128)
    with pytest.raises(der.DerError, match="not minimally encoded"):
        der.parse(bytes.fromhex("0202ff80")).integer()
    assert der.parse(bytes.fromhex("020180")).integer() == -128


@ROUND_TRIP
@given(st.binary(max_size=400), st.booleans())
def test_octet_string_and_boolean_round_trip(data: bytes, flag: bool) -> None:
    assert der.parse(_enc(univ.OctetString(data))).octet_string() == data
    assert der.parse(_enc(univ.Boolean(flag))).boolean() is flag


@ROUND_TRIP
@given(st.lists(st.one_of(st.integers(), st.binary(max_size=200), st.booleans(), _oids()), max_size=40))
def test_sequence_round_trip(values: list[int | bytes | bool | str]) -> None:
    seq = univ.Sequence()
    for position, value in enumerate(values):
        if isinstance(value, bool):
            seq.setComponentByPosition(position, univ.Boolean(value))
        elif isinstance(value, int):
            seq.setComponentByPosition(position, univ.Integer(value))
        elif isinstance(value, bytes):
            seq.setComponentByPosition(position, univ.OctetString(value))
        else:
            seq.setComponentByPosition(position, univ.ObjectIdentifier(value))
    decoded: list[int | bytes | bool | str] = []
    for element in der.parse(_enc(seq)).sequence():
        reader = {
            der.BOOLEAN: Element.boolean,
            der.INTEGER: Element.integer,
            der.OCTET_STRING: Element.octet_string,
            der.OID: Element.oid,
        }[element.tag]
        decoded.append(reader(element))
    assert decoded == values
    assert [type(v) for v in decoded] == [type(v) for v in values]
