"""Random and mutated CoRIMs: the codec and the verifier raise ParseError/VerificationError/
InputError only, never anything else."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccverify.verifier.errors import CCVerifyError
from ccverify.verifier.refvalues import (
    corim,
    cose,
    decode,
    encode,
    example_reference_values,
    load_reference_values,
    sign_reference_values,
)
from tests.conftest import FIXTURES

AT = datetime(2026, 6, 1, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())  # throw-away test key, made per run
ANCHOR = cose.load_trust_anchor(KEY.public_key())
SIGNED = sign_reference_values(example_reference_values(), KEY)
UNSIGNED = encode(example_reference_values())
SEEDS = [SIGNED, UNSIGNED] + [p.read_bytes() for p in sorted((FIXTURES / "corim").glob("*.cbor"))]


def _exercise(data: bytes) -> None:
    for call in (
        lambda: corim.describe_corim(data),
        lambda: decode(data),
        lambda: load_reference_values(data, [ANCHOR], at=AT),
        lambda: load_reference_values(data, [ANCHOR], at=AT, require_signed=False),
    ):
        with contextlib.suppress(CCVerifyError):
            call()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _exercise(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_behind_corim_tags(data: bytes) -> None:
    for prefix in (b"\xd9\x01\xf5", b"\xd2", b"\xd2\x84", b"\xd9\x01\xfa"):
        _exercise(prefix + data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    seed = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not seed:
            break
        at = draw(st.integers(0, len(seed) - 1))
        if kind == "flip":
            seed[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            seed[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            seed[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del seed[at : at + draw(st.integers(1, 4))]
        else:
            del seed[at:]
    return bytes(seed)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_valid_encodings(data: bytes) -> None:
    _exercise(data)


# generic CBOR values, including tags the profile uses, in unexpected places
_leaf = st.one_of(
    st.integers(-(2**64), 2**64 - 1),
    st.binary(max_size=50),
    st.text(max_size=10),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
)
_cbor = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.integers(-3, 16), st.text(max_size=3)), inner, max_size=4),
        st.builds(
            cbor2.CBORTag,
            st.sampled_from([1, 18, 32, 37, 111, 501, 506, 552, 553, 560, 563, 9999]),
            inner,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(_cbor)
def test_structured_garbage(value: object) -> None:
    _exercise(cbor2.dumps(value))
    _exercise(cbor2.dumps(cbor2.CBORTag(501, value)))
    _exercise(cbor2.dumps(cbor2.CBORTag(501, {0: "id", 1: [cbor2.CBORTag(506, cbor2.dumps(value))]})))


@settings(max_examples=200, deadline=None)
@given(_cbor)
def test_structured_garbage_in_the_protected_header(value: object) -> None:
    protected = cbor2.dumps({1: -7, 3: "application/rim+cbor", 8: cbor2.dumps(value), 15: value})
    _exercise(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, UNSIGNED, b"\x00" * 64])))
