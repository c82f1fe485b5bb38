"""The TDX quote builder: what it builds parses, round-trips and carries valid signatures."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from ccverify.verifier.errors import InputError
from ccverify.verifier.evidence.tdx_quote import TdAttributes, TdxQuote
from ccverify.verifier.testing.tdx_builder import (
    INTEL_QE_VENDOR_ID,
    TD_QE_MRSIGNER,
    build_tdx_quote,
    default_qe_report,
    default_td_report,
    qe_report_data_for,
    raw_public_key,
)

NOT_TRUSTED = "ccverify example PKI - NOT TRUSTED"
VALID_FROM = datetime(2025, 1, 1, tzinfo=UTC)
VALID_TO = datetime(2035, 1, 1, tzinfo=UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, NOT_TRUSTED),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_TO)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclasses.dataclass(frozen=True)
class Pki:
    pck_key: ec.EllipticCurvePrivateKey
    chain_pem: bytes


@pytest.fixture(scope="module")
def pki() -> Pki:
    """A throw-away leaf/intermediate/root, shaped like Intel's (the real test PKI is elsewhere)."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = _cert("EXAMPLE SGX Root CA", keys[2], "EXAMPLE SGX Root CA", keys[2], True)
    inter = _cert("Intel SGX PCK Platform CA", keys[1], "EXAMPLE SGX Root CA", keys[2], True)
    leaf = _cert("Intel SGX PCK Certificate", keys[0], "Intel SGX PCK Platform CA", keys[1], False)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, inter, root))
    return Pki(keys[0], pem)


def _verify(public: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> None:
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public.verify(der, message, ec.ECDSA(hashes.SHA256()))


def _attestation_public(quote: TdxQuote) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + quote.attestation_key)


def _check_signatures(quote: TdxQuote) -> None:
    _verify(_attestation_public(quote), quote.signature, quote.signed_data)
    leaf = quote.pck_chain_certificates()[0].public_key()
    assert isinstance(leaf, ec.EllipticCurvePublicKey)
    _verify(leaf, quote.qe_report_signature, quote.qe_report_bytes)


@pytest.mark.parametrize(("version", "body_type"), [(4, None), (5, None), (5, 2), (5, 3)])
def test_built_quote_round_trips_and_verifies(pki: Pki, version: int, body_type: int | None) -> None:
    data = build_tdx_quote(
        pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, version=version, body_type=body_type
    )
    quote = TdxQuote.from_bytes(data)
    assert quote.to_bytes() == data
    assert quote.header.version == version
    assert quote.body_type == (body_type or (3 if version == 5 else 2))
    assert quote.body.is_tdx15 == (quote.body_type == 3)
    _check_signatures(quote)


def test_signed_data_layout_of_built_quotes(pki: Pki) -> None:
    v4 = build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem)
    v5 = build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, version=5)
    assert TdxQuote.from_bytes(v4).signed_data == v4[:632]
    assert TdxQuote.from_bytes(v5).signed_data == v5[: 54 + 648]
    assert v5[48:54] == b"\x03\x00" + (648).to_bytes(4, "little")


def test_qe_report_binds_the_attestation_key(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    auth = b"\xaa" * 32
    quote = TdxQuote.from_bytes(
        build_tdx_quote(
            pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, attestation_key=key, qe_auth_data=auth
        )
    )
    raw = raw_public_key(key)
    assert quote.attestation_key == raw
    assert quote.qe_auth_data == auth
    assert quote.qe_report.report_data == hashlib.sha256(raw + auth).digest() + bytes(32)
    assert qe_report_data_for(raw, auth) == quote.qe_report.report_data


def test_qe_report_defaults_mimic_intel_td_qe(pki: Pki) -> None:
    quote = TdxQuote.from_bytes(build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem))
    assert quote.qe_report.mr_signer == TD_QE_MRSIGNER
    assert (
        quote.qe_report.mr_signer.hex() == "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"
    )
    assert quote.qe_report.isv_prod_id == 2
    assert quote.qe_report.attributes.hex() == "1500000000000000e700000000000000"
    assert quote.header.qe_vendor_id == INTEL_QE_VENDOR_ID
    assert quote.body.td_attributes_flags == TdAttributes.SEPT_VE_DISABLE


def test_body_overrides(pki: Pki) -> None:
    mr_td = bytes(range(48))
    report_data = b"\x42" * 64
    data = build_tdx_quote(
        pck_key=pki.pck_key,
        pck_chain_pem=pki.chain_pem,
        body_fields={"mr_td": mr_td, "report_data": report_data},
        qe_report=default_qe_report(isv_svn=4),
    )
    quote = TdxQuote.from_bytes(data)
    assert quote.body.mr_td == mr_td
    assert quote.body.report_data == report_data
    assert quote.qe_report.isv_svn == 4
    _check_signatures(quote)


def test_a_given_body(pki: Pki) -> None:
    body = default_td_report(tdx15=True, mr_service_td=b"\x07" * 48)
    quote = TdxQuote.from_bytes(
        build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, version=5, body=body)
    )
    assert quote.body == body
    assert quote.body_type == 3


def test_broken_qe_report_data(pki: Pki) -> None:
    quote = TdxQuote.from_bytes(
        build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, qe_report_data=bytes(64))
    )
    assert quote.qe_report.report_data == bytes(64)
    assert qe_report_data_for(quote.attestation_key, quote.qe_auth_data) != bytes(64)
    _check_signatures(quote)  # still signed: only the binding is wrong


def test_qe_report_signed_by_another_key_does_not_verify(pki: Pki) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    quote = TdxQuote.from_bytes(build_tdx_quote(pck_key=other, pck_chain_pem=pki.chain_pem))
    leaf = quote.pck_chain_certificates()[0].public_key()
    assert isinstance(leaf, ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidSignature):
        _verify(leaf, quote.qe_report_signature, quote.qe_report_bytes)


def test_trailing_bytes_and_pem_nul(pki: Pki) -> None:
    data = build_tdx_quote(
        pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, trailing=bytes(70), pem_trailing_nul=True
    )
    quote = TdxQuote.from_bytes(data)
    assert quote.trailing == bytes(70)
    assert quote.pck_certification_data.data == pki.chain_pem + b"\x00"
    assert quote.pck_chain_pem == pki.chain_pem
    assert quote.to_bytes() == data
    assert len(quote.pck_chain_certificates()) == 3
    _check_signatures(quote)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": 3}, "version must be 4 or 5"),
        ({"version": 4, "body_type": 3}, "v4 quote"),
        ({"version": 5, "body_type": 1}, "body type 1"),
        ({"version": 5, "body_type": 2, "body": default_td_report(tdx15=True)}, "body type 2"),
        ({"version": 4, "body": default_td_report(tdx15=True)}, "v4 quote"),
        ({"version": 5, "body_type": 3, "body": default_td_report()}, "body type 3"),
        ({"body_fields": {"mr_td": b"short"}}, "wrong size"),
        ({"qe_auth_data": bytes(70000)}, "does not fit"),
        ({"qe_report": default_qe_report(isv_svn=1 << 16)}, "does not fit"),
        ({"body_fields": {"mrtd": bytes(48)}}, "not a field of TdReport"),
    ],
)
def test_misuse_is_an_input_error(pki: Pki, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as info:
        build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_keys_must_be_p256(pki: Pki) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(InputError):
        build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, attestation_key=p384)


def test_misspelt_default_fields_are_input_errors() -> None:
    with pytest.raises(InputError, match="not a field of TdReport"):
        default_td_report(mrtd=bytes(48))
    with pytest.raises(InputError, match="not a field of EnclaveReport"):
        default_qe_report(isvsvn=1)


def test_same_keys_and_fields_give_the_same_bytes(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    first = build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, attestation_key=key, version=5)
    again = build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.chain_pem, attestation_key=key, version=5)
    assert first == again
