"""Whatever the bytes, the TDX quote parser answers with a quote or a ParseError, nothing else.

The SGX extension of PCK certificates (read by `verifier/der.py`) gets the same treatment: a decoded
extension or ``pck_extension_invalid``, never a decoder's own exception.

Truncation is checked exhaustively (every prefix of real quotes); random input and mutated
real quotes (byte flips, cuts, random values in every length and type field) go through
hypothesis with a modest budget. Quotes built with empty and small QE auth data, chains and
trailing bytes get every near miss of every type and size field and a cut next to every bound,
where the one-shot parser and the field walk must still agree.
"""

from __future__ import annotations

import contextlib
import itertools
import struct

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccverify.verifier.errors import ParseError, VerificationError
from ccverify.verifier.evidence.tdx_quote import (
    TD_REPORT_10_SIZE,
    TD_REPORT_15_SIZE,
    TdxQuote,
    _parse_well_formed,
)
from ccverify.verifier.tdx.pck import SGX_EXTENSION_OID, PckExtensions, parse_sgx_extension_value
from tests.conftest import fixture

SAMPLES = (
    "go-tdx-guest/tdx_prod_quote_SPR_E4.dat",  # v4, 39 trailing bytes
    "go-tdx-guest/quote_v5_sample.dat",  # v5 body type 3
    "trustee/tdx_quote_4.dat",  # v4, no trailing bytes
    "dcap-qvl/tdx_quote",  # v4, PEM ending in a NUL, 70 trailing zeros
    "intel-qvl-synthetic/quote.dat",  # empty QE auth data, DER chain
)
RAW = {name: fixture("tdx/" + name).read_bytes() for name in SAMPLES}
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _signed_end(data: bytes) -> int:
    """Where the declared signature data ends (beyond it, bytes are unsigned trailing)."""
    quote = TdxQuote.from_bytes(data)
    return len(data) - quote.trailing_size


def _outcome(data: bytes) -> TdxQuote | None:
    """Parse; None for a ParseError. Anything else propagates and fails the test.

    The one-shot parser of well-formed quotes may only accept what the field walk accepts,
    with an equal result; it must refuse (None) everything the walk refuses, and only that
    (refusing more would be correct but put well-formed quotes on the slow path).
    """
    fast = _parse_well_formed(data)
    try:
        quote = TdxQuote.from_bytes(data)
    except ParseError as error:
        assert fast is None
        assert error.structure == "TdxQuote"
        assert error.offset is None or 0 <= error.offset <= len(data)
        return None
    assert quote.to_bytes() == data
    assert fast is not None
    assert fast == TdxQuote._walk(data) == quote
    return quote


def _exercise(quote: TdxQuote | None) -> None:
    """The derived views must not raise anything but ParseError either."""
    if quote is None:
        return
    _ = (quote.signed_data, quote.qe_report_bytes, quote.pck_chain_pem, quote.body.td_attributes_flags)
    with contextlib.suppress(ParseError):
        quote.pck_chain_certificates()


@pytest.mark.parametrize("name", SAMPLES)
def test_every_prefix_before_the_end_of_the_signature_data_is_a_parse_error(name: str) -> None:
    raw = RAW[name]
    end = _signed_end(raw)
    for cut in range(end):
        with pytest.raises(ParseError):
            TdxQuote.from_bytes(raw[:cut])


@pytest.mark.parametrize("name", SAMPLES)
def test_prefixes_that_only_drop_trailing_bytes_still_parse(name: str) -> None:
    raw = RAW[name]
    for cut in range(_signed_end(raw), len(raw) + 1):
        assert TdxQuote.from_bytes(raw[:cut]).to_bytes() == raw[:cut]


@FUZZ
@given(st.binary(max_size=6000))
def test_random_bytes(data: bytes) -> None:
    _exercise(_outcome(data))


@FUZZ
@given(st.binary(min_size=8, max_size=6000))
def test_random_bytes_with_a_tdx_header(data: bytes) -> None:
    _exercise(_outcome(b"\x04\x00\x02\x00\x81\x00\x00\x00" + data))


@FUZZ
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8),
)
def test_byte_flips(name: str, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(RAW[name])
    for where, value in flips:
        raw[where % len(raw)] = value
    _exercise(_outcome(bytes(raw)))


@FUZZ
@given(st.sampled_from(SAMPLES), st.integers(min_value=0), st.integers(min_value=0))
def test_random_cuts(name: str, start: int, length: int) -> None:
    raw = RAW[name]
    start %= len(raw)
    _exercise(_outcome(raw[:start] + raw[start + length % 64 :]))


def _length_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every length and type field of a real quote."""
    quote = TdxQuote.from_bytes(data)
    v5 = quote.header.version == 5
    sig_at = (54 if v5 else 48) + quote.body.size
    start = sig_at + 4
    auth = start + 582
    inner = auth + 2 + len(quote.qe_auth_data)
    fields = [(0, 2), (2, 2), (4, 4), (sig_at, 4), (start + 128, 2), (start + 130, 4), (auth, 2), (inner, 2)]
    return [*fields, (inner + 2, 4), *([(48, 2), (50, 4)] if v5 else [])]


FIELDS = {name: _length_fields(raw) for name, raw in RAW.items()}


@FUZZ
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=11),
            st.one_of(st.integers(min_value=0, max_value=0xFFFFFFFF), st.integers(min_value=0, max_value=16)),
            st.integers(min_value=-2, max_value=2),
            st.booleans(),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_random_values_in_length_and_type_fields(
    name: str, changes: list[tuple[int, int, int, bool]]
) -> None:
    raw = bytearray(RAW[name])
    fields = FIELDS[name]
    for index, value, delta, nudge in changes:
        offset, size = fields[index % len(fields)]
        if nudge:  # near the true value: off-by-one sizes are the interesting ones
            value = int.from_bytes(raw[offset : offset + size], "little") + delta
        raw[offset : offset + size] = (value % (1 << 8 * size)).to_bytes(size, "little")
    _exercise(_outcome(bytes(raw)))


#: (offset, size, values worth trying besides near misses) of a type or size field
Field = tuple[int, int, tuple[int, ...]]


def _assembled(
    version: int, body_type: int, auth: bytes, chain: bytes, trailing: bytes
) -> tuple[bytes, list[Field], list[int]]:
    """A well-formed quote built from parts, its type and size fields, and where structures start or end.

    Real samples fix every size but a few; built ones give the QE auth data, the chain and the
    trailing bytes any small size, empty included.
    """
    body = bytes(range(256)) * 2 + bytes((TD_REPORT_10_SIZE if body_type == 2 else TD_REPORT_15_SIZE) - 512)
    inner = struct.pack("<HI", 5, len(chain)) + chain
    qe = bytes(range(256))[::-1] + bytes(128 + 64) + struct.pack("<H", len(auth)) + auth + inner
    signature_data = bytes(range(128)) + struct.pack("<HI", 6, len(qe)) + qe
    prefix = b"" if version == 4 else struct.pack("<HI", body_type, len(body))
    header = struct.pack("<HHI", version, 2, 0x81) + bytes(40)
    raw = header + prefix + body + struct.pack("<I", len(signature_data)) + signature_data
    sig_at = len(header) + len(prefix) + len(body)
    auth_at = sig_at + 4 + 134 + 384 + 64
    inner_at = auth_at + 2 + len(auth)
    fields: list[Field] = [(0, 2, (4, 5)), (2, 2, (3,)), (4, 4, (0,))]  # version, key type, TEE type
    if version == 5:
        fields += [(48, 2, (1, 2, 3)), (50, 4, (TD_REPORT_10_SIZE, TD_REPORT_15_SIZE))]
    fields += [(sig_at, 4, ()), (sig_at + 132, 2, (5,)), (sig_at + 134, 4, ())]  # size, type 6, size
    fields += [(auth_at, 2, ()), (inner_at, 2, (6,)), (inner_at + 2, 4, ())]  # auth size, type 5, size
    bounds = [8, 48, 54, sig_at, sig_at + 4, sig_at + 138, auth_at, auth_at + 2, inner_at, inner_at + 6]
    return raw + trailing, fields, [*bounds, len(raw)]


def _near_misses(raw: bytes, fields: list[Field], bounds: list[int]) -> list[bytes]:
    """Each field set one, two or six away (or to a value of its own), each bound cut +-1 byte."""
    out = []
    for offset, size, special in fields:
        current = int.from_bytes(raw[offset : offset + size], "little")
        for value in sorted({current + delta for delta in (-6, -2, -1, 1, 2, 6)} | set(special)):
            if value % (1 << 8 * size) != current:
                patch = (value % (1 << 8 * size)).to_bytes(size, "little")
                out.append(raw[:offset] + patch + raw[offset + size :])
    cuts = sorted({cut for bound in bounds for cut in (bound - 1, bound, bound + 1) if 0 <= cut < len(raw)})
    return out + [raw[:cut] for cut in cuts]


@pytest.mark.parametrize(("version", "body_type"), [(4, 2), (5, 2), (5, 3)])
def test_every_near_miss_of_built_quotes(version: int, body_type: int) -> None:
    """Deterministic: each check of both parsers met from both sides, at every small size."""
    sizes = (b"", b"a", b"1234567")
    for auth, chain, trailing in itertools.product(sizes, sizes, (b"", b"\x00\x01")):
        raw, fields, bounds = _assembled(version, body_type, auth, chain, trailing)
        assert _outcome(raw) is not None
        for data in _near_misses(raw, fields, bounds):
            _exercise(_outcome(data))


@st.composite
def _damaged_built_quote(draw: st.DrawFn) -> bytes:
    """A built quote with random parts, then zero, one or two near misses."""
    version = draw(st.sampled_from([4, 5]))
    body_type = 2 if version == 4 else draw(st.sampled_from([2, 3]))
    parts = (draw(st.binary(max_size=24)), draw(st.binary(max_size=24)), draw(st.binary(max_size=8)))
    raw, fields, bounds = _assembled(version, body_type, *parts)
    for _ in range(draw(st.integers(0, 2))):
        raw = draw(st.sampled_from(_near_misses(raw, fields, bounds)))
    return raw


@FUZZ
@given(_damaged_built_quote())
def test_built_quotes_with_random_parts_and_damage(data: bytes) -> None:
    _exercise(_outcome(data))


# -- the PCK certificate's SGX extension: the DER reader must never be heard from directly -------------

#: bytes that steer a DER reader into its less travelled paths (tags, lengths, indefinite forms)
_ASN1_BYTES = st.sampled_from([0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0A, 0x1F, 0x30, 0x31, 0x80, 0xA0, 0xFF])


def _sgx_extension(name: str) -> bytes:
    leaf = TdxQuote.from_bytes(RAW[name]).pck_chain_certificates()[0]
    value = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID)).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


SGX_EXTENSIONS = {name: _sgx_extension(name) for name in ("dcap-qvl/tdx_quote", "trustee/tdx_quote_4.dat")}


def _extension_outcome(data: bytes) -> None:
    """A decoded extension or ``pck_extension_invalid``; anything else fails the test."""
    try:
        assert isinstance(parse_sgx_extension_value(data), PckExtensions)
    except VerificationError as error:
        assert error.code == "pck_extension_invalid"


@FUZZ
@given(
    st.sampled_from(sorted(SGX_EXTENSIONS)),
    st.lists(
        st.tuples(st.integers(min_value=0), st.one_of(_ASN1_BYTES, st.integers(min_value=0, max_value=255))),
        min_size=1,
        max_size=3,
    ),
)
def test_sgx_extension_byte_changes(name: str, changes: list[tuple[int, int]]) -> None:
    raw = bytearray(SGX_EXTENSIONS[name])
    for where, value in changes:
        raw[where % len(raw)] = value
    _extension_outcome(bytes(raw))


@FUZZ
@given(st.sampled_from(sorted(SGX_EXTENSIONS)), st.integers(min_value=0), st.integers(min_value=0))
def test_sgx_extension_cuts(name: str, start: int, length: int) -> None:
    raw = SGX_EXTENSIONS[name]
    start %= len(raw)
    _extension_outcome(raw[:start] + raw[start + length % 32 :])


def test_sgx_extension_every_single_byte_zeroed() -> None:
    """Deterministic: the reviewer's crash (a zeroed byte) at every position of a real extension."""
    raw = SGX_EXTENSIONS["dcap-qvl/tdx_quote"]
    for where in range(len(raw)):
        _extension_outcome(raw[:where] + b"\x00" + raw[where + 1 :])
