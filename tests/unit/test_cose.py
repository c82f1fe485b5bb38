"""COSE_Sign1: the Veraison signed CoRIMs, sign/verify round trips, and each tampering refused
with its own code."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from ccverify.verifier.errors import InputError, ParseError, VerificationError
from ccverify.verifier.refvalues import (
    MemorySequenceStore,
    Signer,
    cose,
    encode,
    example_reference_values,
    load_reference_values,
    sign_reference_values,
    verify_corim,
)
from tests.conftest import fixture, fixture_bytes

AT = datetime(2026, 6, 1, tzinfo=UTC)  # inside the example's validity window
VERAISON_AT = datetime(2024, 1, 1, tzinfo=UTC)  # inside 2021-12-31 .. 2025-12-31
SIGNED = ["signed-good-corim.cbor", "signed-example-corim.cbor", "signed-corim-with-extensions.cbor"]


@pytest.fixture(scope="module")
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def p384() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def ed() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def _pem(key: cose.PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(VerificationError) as info:
        call()
    return info.value.code


# --------------------------------------------------------------------------- Veraison examples


@pytest.mark.parametrize("name", SIGNED)
def test_veraison_signed_corims_verify(name: str) -> None:
    data = fixture_bytes(f"corim/{name}")
    anchor = cose.load_trust_anchor(fixture("corim/veraison-test-es256.pub.pem"))
    verified = cose.verify(data, [anchor], at=VERAISON_AT)
    header = verified.envelope.header
    assert header.alg == cose.ES256
    assert header.content_type == "application/rim+cbor"
    assert header.kid == b"1"
    assert header.signer == cose.Signer("ACME Ltd signing key", "https://acme.example")
    assert header.not_before == datetime(2021, 12, 31, tzinfo=UTC)
    assert header.not_after == datetime(2025, 12, 31, tzinfo=UTC)
    assert set(header.raw) == {1, 3, 4, 8}
    assert verified.envelope.unprotected == {}
    corim = verify_corim(data, fixture("corim/veraison-test-es256.pub.pem"), at=VERAISON_AT).corim
    assert corim.id == "test corim id"


@pytest.mark.parametrize("name", SIGNED)
def test_veraison_signed_corims_outside_their_window(name: str) -> None:
    data = fixture_bytes(f"corim/{name}")
    anchor = cose.load_trust_anchor(fixture("corim/veraison-test-es256.pub.pem"))
    assert (
        _code(lambda: cose.verify(data, [anchor], at=datetime(2026, 1, 1, tzinfo=UTC))) == "refvalues_expired"
    )
    assert (
        _code(lambda: cose.verify(data, [anchor], at=datetime(2021, 1, 1, tzinfo=UTC)))
        == "refvalues_not_yet_valid"
    )


def test_window_errors_print_times_as_zulu() -> None:
    data = fixture_bytes(f"corim/{SIGNED[0]}")
    anchor = cose.load_trust_anchor(fixture("corim/veraison-test-es256.pub.pem"))
    with pytest.raises(VerificationError) as info:
        cose.verify(data, [anchor], at=datetime(2026, 1, 1, tzinfo=UTC))
    assert info.value.actual == "2026-01-01T00:00:00Z"
    assert "+00:00" not in str(info.value) and "2025-12-31T00:00:00Z" in str(info.value.expected)


def test_not_yet_valid_errors_print_times_as_zulu_too() -> None:
    data = fixture_bytes(f"corim/{SIGNED[0]}")
    anchor = cose.load_trust_anchor(fixture("corim/veraison-test-es256.pub.pem"))
    with pytest.raises(VerificationError) as info:
        cose.verify(data, [anchor], at=datetime(2021, 1, 1, tzinfo=UTC))
    assert info.value.code == "refvalues_not_yet_valid"
    assert (info.value.expected, info.value.actual) == (">= 2021-12-31T00:00:00Z", "2021-01-01T00:00:00Z")
    assert "is not valid yet at 2021-01-01T00:00:00Z" in str(info.value)
    # any zone, and naive times (taken as UTC), print in UTC with Z
    eastern = timezone(timedelta(hours=-5))
    with pytest.raises(VerificationError) as info:
        cose.check_window(None, datetime(2025, 1, 1, 12), datetime(2025, 1, 1, 8, 0, 0, 500000, eastern), "x")
    assert info.value.expected == "<= 2025-01-01T12:00:00Z"
    assert info.value.actual == "2025-01-01T13:00:00.500000Z"


def test_veraison_corim_is_not_our_profile() -> None:
    data = fixture_bytes("corim/signed-example-corim.cbor")
    anchor = fixture("corim/veraison-test-es256.pub.pem")
    assert _code(lambda: load_reference_values(data, anchor, at=VERAISON_AT)) == "refvalues_unknown_profile"


def test_veraison_signature_breaks_with_another_key(p256: ec.EllipticCurvePrivateKey) -> None:
    data = fixture_bytes("corim/signed-good-corim.cbor")
    code = _code(lambda: cose.verify(data, [cose.load_trust_anchor(p256.public_key())], at=VERAISON_AT))
    assert code == "refvalues_signature_invalid"  # their kid b"1" is not ours to interpret


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("keyname", ["p256", "p384", "ed"])
def test_sign_verify_round_trip(keyname: str, request: pytest.FixtureRequest) -> None:
    key = request.getfixturevalue(keyname)
    rv = example_reference_values()
    signed = sign_reference_values(rv, key)
    assert signed[:1] == b"\xd2"
    assert load_reference_values(signed, [_pem(key.public_key())], at=AT) == rv
    envelope = cose.parse_sign1(signed)
    expected_alg = {"p256": cose.ES256, "p384": cose.ES384, "ed": cose.EDDSA}[keyname]
    assert envelope.header.alg == expected_alg
    assert envelope.header.kid == cose.key_id(key.public_key())
    assert envelope.header.cwt_claims is not None
    assert envelope.header.cwt_claims[1] == rv.signer.name if rv.signer else False
    assert len(envelope.signature) == {"p256": 64, "p384": 96, "ed": 64}[keyname]


def test_sign_accepts_pem_key_and_picks_trust_anchor_among_several(
    p256: ec.EllipticCurvePrivateKey, p384: ec.EllipticCurvePrivateKey, ed: ed25519.Ed25519PrivateKey
) -> None:
    pem = p384.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signed = sign_reference_values(example_reference_values(), pem)
    anchors = [_pem(p256.public_key()), _pem(ed.public_key()), _pem(p384.public_key())]
    assert load_reference_values(signed, anchors, at=AT) == example_reference_values()


def test_certificate_trust_anchor(p256: ec.EllipticCurvePrivateKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ccverify test signer EXAMPLE")])

    def cert(start: datetime, end: datetime) -> bytes:
        built = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(p256.public_key())
            .serial_number(1)
            .not_valid_before(start)
            .not_valid_after(end)
            .sign(p256, hashes.SHA256())
        )
        return built.public_bytes(serialization.Encoding.PEM)

    signed = sign_reference_values(example_reference_values(), p256)
    good = cert(AT - timedelta(days=1), AT + timedelta(days=1))
    assert load_reference_values(signed, good, at=AT).id == example_reference_values().id
    old = cert(AT - timedelta(days=10), AT - timedelta(days=1))
    assert _code(lambda: load_reference_values(signed, old, at=AT)) == "refvalues_expired"


# --------------------------------------------------------------------------- tampering


def _rebuild(signed: bytes, *, protected: dict[Any, Any] | None = None, **parts: Any) -> bytes:
    prot, unprot, payload, sig = cbor2.loads(signed).value
    if protected is not None:
        header = dict(cbor2.loads(prot))
        header.update(protected)
        prot = cbor2.dumps(header)
    prot = parts.get("prot", prot)
    payload = parts.get("payload", payload)
    sig = parts.get("sig", sig)
    return cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, payload, sig]))


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_each_failure_has_its_own_code(
    p256: ec.EllipticCurvePrivateKey, p384: ec.EllipticCurvePrivateKey, ed: ed25519.Ed25519PrivateKey
) -> None:
    rv = example_reference_values()
    good = sign_reference_values(rv, p256)
    anchor = [_pem(p256.public_key())]
    prot, _, payload, sig = cbor2.loads(good).value
    # a byte inside the content type (in the protected header)
    name_at = prot.index(b"rim+cbor")

    def load(data: bytes, anchors: Any = anchor, at: datetime = AT, **kw: Any) -> Any:
        return load_reference_values(data, anchors, at=at, **kw)

    store = MemorySequenceStore()
    store.record(rv.id, rv.sequence + 1)
    cases = {
        "payload byte": (
            lambda: load(_rebuild(good, payload=_flip(payload, len(payload) - 3))),
            "refvalues_signature_invalid",
        ),
        "protected byte": (
            lambda: load(_rebuild(good, prot=_flip(prot, name_at))),
            "refvalues_signature_invalid",
        ),
        "signature byte": (lambda: load(_rebuild(good, sig=_flip(sig, 5))), "refvalues_signature_invalid"),
        "signature length": (lambda: load(_rebuild(good, sig=sig[:-1])), "refvalues_signature_invalid"),
        "wrong key": (
            lambda: load(good, [_pem(ec.generate_private_key(ec.SECP256R1()).public_key())]),
            "refvalues_wrong_key",
        ),
        "header says ES384, key P-256": (
            lambda: load(
                cose.sign(encode(rv), p256, signer=cose.Signer("x"), extra_protected={1: cose.ES384})
            ),
            "refvalues_alg_mismatch",
        ),
        "alg changed in header": (
            lambda: load(_rebuild(good, protected={1: cose.ES384})),
            "refvalues_alg_mismatch",
        ),
        "EdDSA header, EC anchor": (
            lambda: load(_rebuild(good, protected={1: cose.EDDSA})),
            "refvalues_alg_mismatch",
        ),
        "alg unsupported": (lambda: load(_rebuild(good, protected={1: -37})), "refvalues_alg_unsupported"),
        "content type": (
            lambda: load(
                cose.sign(encode(rv), p256, signer=cose.Signer("x"), extra_protected={3: "application/json"})
            ),
            "refvalues_bad_content_type",
        ),
        "expired": (lambda: load(good, at=datetime(2027, 6, 1, tzinfo=UTC)), "refvalues_expired"),
        "not yet valid": (lambda: load(good, at=datetime(2025, 6, 1, tzinfo=UTC)), "refvalues_not_yet_valid"),
        "unsigned": (lambda: load(encode(rv)), "refvalues_unsigned"),
        "rollback": (lambda: load(good, sequence_store=store), "refvalues_rollback"),
        "crit unknown": (
            lambda: load(
                cose.sign(encode(rv), p256, signer=cose.Signer("x"), extra_protected={2: [99], 99: 1})
            ),
            "refvalues_crit_unsupported",
        ),
    }
    codes = {}
    for case, (call, expected) in cases.items():
        codes[case] = _code(call)
        assert codes[case] == expected, case
    distinct = {
        "refvalues_signature_invalid",
        "refvalues_wrong_key",
        "refvalues_alg_mismatch",
        "refvalues_alg_unsupported",
        "refvalues_bad_content_type",
        "refvalues_expired",
        "refvalues_not_yet_valid",
        "refvalues_unsigned",
        "refvalues_rollback",
        "refvalues_crit_unsupported",
    }
    assert set(codes.values()) == distinct


@pytest.mark.parametrize("entry", [[1], {1: 2}, 1.0, True, b"\x01"], ids=repr)
def test_crit_entries_that_are_not_labels_are_malformed(
    p256: ec.EllipticCurvePrivateKey, entry: object
) -> None:
    """RFC 9052 §3.1: crit is [+ label]. An array or map there was a TypeError (unhashable)
    before any signature was checked; a float or bool compared equal to a known label."""
    rv = example_reference_values()
    signed = cose.sign(encode(rv), p256, signer=cose.Signer("x"), extra_protected={2: [entry]})
    with pytest.raises(ParseError) as info:
        load_reference_values(signed, _pem(p256.public_key()), at=AT)
    assert info.value.field == "protected.crit"


def test_foreign_kid_is_only_a_hint(p256: ec.EllipticCurvePrivateKey) -> None:
    rv = example_reference_values()
    # another tool's 32-byte key id (not our SPKI hash): the signature still decides
    signed = cose.sign(encode(rv), p256, signer=cose.Signer("x"), extra_protected={4: b"\x07" * 32})
    assert load_reference_values(signed, _pem(p256.public_key()), at=AT).values == rv.values
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert _code(lambda: load_reference_values(signed, _pem(other), at=AT)) == "refvalues_wrong_key"
    short = cose.sign(encode(rv), p256, signer=cose.Signer("x"), extra_protected={4: b"k1"})
    assert load_reference_values(short, _pem(p256.public_key()), at=AT).signer == Signer("x")
    assert _code(lambda: load_reference_values(short, _pem(other), at=AT)) == "refvalues_signature_invalid"


def test_ed25519_tamper_and_alg_mismatch(ed: ed25519.Ed25519PrivateKey) -> None:
    good = sign_reference_values(example_reference_values(), ed)
    anchor = [_pem(ed.public_key())]
    _, _, payload, _ = cbor2.loads(good).value
    bad = _rebuild(good, payload=_flip(payload, 10))
    assert _code(lambda: load_reference_values(bad, anchor, at=AT)) == "refvalues_signature_invalid"
    es = _rebuild(good, protected={1: cose.ES256})
    assert _code(lambda: load_reference_values(es, anchor, at=AT)) == "refvalues_alg_mismatch"


def test_unsigned_allowed_when_asked() -> None:
    rv = example_reference_values()
    assert load_reference_values(encode(rv), [], at=AT, require_signed=False) == rv
    assert (
        _code(
            lambda: load_reference_values(
                encode(rv), [], at=datetime(2030, 1, 1, tzinfo=UTC), require_signed=False
            )
        )
        == "refvalues_expired"
    )


def test_rim_validity_checked_even_when_signature_window_is_wider(p256: ec.EllipticCurvePrivateKey) -> None:
    rv = example_reference_values()
    wide = cose.sign(
        encode(replace(rv, not_after=datetime(2026, 3, 1, tzinfo=UTC))),
        p256,
        signer=cose.Signer("x"),
        not_after=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert _code(lambda: load_reference_values(wide, _pem(p256.public_key()), at=AT)) == "refvalues_expired"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda parts: parts[:3],  # three elements
        lambda parts: [parts[0], parts[1], None, parts[3]],  # detached payload
        lambda parts: [{}, parts[1], parts[2], parts[3]],  # protected not bstr
        lambda parts: [parts[0], [], parts[2], parts[3]],  # unprotected not a map
        lambda parts: [parts[0], parts[1], parts[2], "sig"],  # signature not bstr
        lambda parts: [b"", parts[1], parts[2], parts[3]],  # empty protected header
        lambda parts: [cbor2.dumps([1]), parts[1], parts[2], parts[3]],  # protected not a map
        lambda parts: [cbor2.dumps({3: "application/rim+cbor"}), *parts[1:]],  # no alg
        lambda parts: [cbor2.dumps({1: -7, 3: "application/rim+cbor"}), *parts[1:]],  # no meta
        lambda parts: [cbor2.dumps({1: -7, 8: b"\xa0"}), *parts[1:]],  # meta without signer
        lambda parts: [cbor2.dumps({1: -7, 15: {1: "a"}, 258: -16}), *parts[1:]],  # hash envelope
        lambda parts: [parts[0], {1: -7}, parts[2], parts[3]],  # alg in both buckets
    ],
)
def test_structure_errors_are_parse_errors(
    mutate: Callable[[list[Any]], list[Any]], p256: ec.EllipticCurvePrivateKey
) -> None:
    good = sign_reference_values(example_reference_values(), p256)
    parts = list(cbor2.loads(good).value)
    data = cbor2.dumps(cbor2.CBORTag(18, mutate(parts)))
    with pytest.raises(ParseError):
        load_reference_values(data, [_pem(p256.public_key())], at=AT)


@pytest.mark.parametrize("payload", [b"\xd9\x01\xf5\xa0", b"\xa0", b"", b"\xd9\x01\xf5"])
def test_signed_payload_that_is_not_a_corim(payload: bytes, p256: ec.EllipticCurvePrivateKey) -> None:
    signed = cose.sign(payload, p256, signer=cose.Signer("x"))
    with pytest.raises(ParseError):
        load_reference_values(signed, [_pem(p256.public_key())], at=AT)


def test_cwt_claims_must_agree_with_corim_meta(p256: ec.EllipticCurvePrivateKey) -> None:
    good = sign_reference_values(example_reference_values(), p256)
    with pytest.raises(ParseError, match="disagrees"):
        cose.parse_sign1(_rebuild(good, protected={15: {1: "someone else"}}))
    with pytest.raises(ParseError, match="disagrees"):
        cose.parse_sign1(_rebuild(good, protected={15: {1: "ccverify example signer - NOT TRUSTED", 4: 1}}))


def test_trust_anchor_input_errors(tmp_path: Any) -> None:
    with pytest.raises(InputError):
        cose.load_trust_anchor(b"not a key")
    with pytest.raises(InputError):
        cose.load_trust_anchor(tmp_path / "missing.pem")
    with pytest.raises(InputError):
        load_reference_values(
            sign_reference_values(example_reference_values(), ed25519.Ed25519PrivateKey.generate()), [], at=AT
        )
    with pytest.raises(InputError):
        cose.load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_sig_structure_is_rfc9052() -> None:
    assert cose.sig_structure(b"\xa0", b"p") == cbor2.dumps(["Signature1", b"\xa0", b"", b"p"])


def test_naive_validity_times_are_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """CWT claims and corim-meta must agree even when the machine's zone is not UTC."""
    import time
    from datetime import datetime

    from cryptography.hazmat.primitives.asymmetric import ec

    from ccverify.verifier.refvalues import load_reference_values, sign_reference_values
    from ccverify.verifier.refvalues.model import Signer
    from ccverify.verifier.refvalues.profile import from_measurements

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        doc = {"format": "ccverify-measurements/1", "platform": "snp", "values": {"measurement": "ab" * 48}}
        rv = from_measurements(
            doc,
            id="tz",
            sequence=1,
            not_before=datetime(2026, 1, 1),
            not_after=datetime(2027, 1, 1),
            signer=Signer("tz test"),
        )
        key = ec.generate_private_key(ec.SECP256R1())
        signed = sign_reference_values(rv, key)
        loaded = load_reference_values(signed, [key.public_key()], at=datetime(2026, 6, 1))
        assert loaded.id == "tz"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


# --------------------------------------------------------------------------- public key loading


def _spki_der(key: Any) -> bytes:
    return key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem_public(der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN PUBLIC KEY-----\n" + lines + b"\n-----END PUBLIC KEY-----\n"


@pytest.mark.parametrize("kind", ["p256", "p384", "ed25519"])
def test_public_keys_load_without_serialization_as_with_it(kind: str) -> None:
    private: Any = {
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }[kind]()
    der = _spki_der(private.public_key())
    key = cose._spki_key(der)
    assert key is not None and _spki_der(key) == der
    for data in (der, _pem_public(der), b"\n  " + _pem_public(der).replace(b"\n", b"\r\n") + b"\n"):
        anchor = cose.load_trust_anchor(data)
        assert _spki_der(anchor.key) == der
        assert anchor.kid == hashlib.sha256(der).digest()


def test_other_encodings_of_a_key_take_serializations_path() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = _spki_der(public)
    # a compressed point: the same key in another encoding, which serialization reads
    point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    compressed = bytes([0x30, 21 + 3 + 33]) + der[2:23] + bytes([0x03, 0x22, 0x00]) + point
    assert cose._spki_key(compressed) is None
    assert _spki_der(cose.load_trust_anchor(compressed).key) == der
    # the right header but a point not on the curve: refused as before, in serialization's words
    off_curve = der[:-1] + bytes([der[-1] ^ 1])
    assert cose._spki_key(off_curve) is None
    with pytest.raises(InputError, match="not a PEM/DER public key or certificate"):
        cose.load_trust_anchor(off_curve)
    # a PEM block with something after it, two blocks, another label, a stray character
    assert cose._pem_public_key_der(_pem_public(der) + b"trailing") is None
    assert cose._pem_public_key_der(_pem_public(der) + _pem_public(der)) is None
    assert cose._pem_public_key_der(_pem_public(der).replace(b"BEGIN PUBLIC", b"BEGIN EC PUBLIC")) is None
    assert cose._pem_public_key_der(_pem_public(der)[:40] + b"!" + _pem_public(der)[41:]) is None
    assert cose._pem_public_key_der(_pem_public(der)) == der


def test_an_rsa_anchor_is_still_refused_by_kind() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    der = _spki_der(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
    with pytest.raises(InputError, match="unsupported key type RSA"):
        cose.load_trust_anchor(_pem_public(der))
