"""Certificates that cryptography refuses with errors other than ValueError still come out as ValueError."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ccverify.verifier import x509load
from ccverify.verifier.roots import intel_sgx_root_ca

V3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2: version v3


def _with_version(value: int) -> bytes:
    der = intel_sgx_root_ca().public_bytes(Encoding.DER)
    assert der.count(V3) == 1
    return der.replace(V3, V3[:-1] + bytes([value]))


def _pem(der: bytes) -> bytes:
    import base64

    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("version", [3, 6, 255])
def test_an_invalid_version_is_a_value_error_in_every_loader(version: int) -> None:
    der = _with_version(version)
    with pytest.raises(ValueError, match="version"):
        x509load.der_certificate(der)
    with pytest.raises(ValueError, match="version"):
        x509load.certificate(_pem(der))
    with pytest.raises(ValueError, match="version"):
        x509load.pem_certificates(_pem(der))


def test_the_unchanged_certificate_loads() -> None:
    der = _with_version(2)
    assert x509load.der_certificate(der).public_bytes(Encoding.DER) == der
    assert len(x509load.pem_certificates(_pem(der) * 2)) == 2


# Certificates and CRLs made here, then patched in their DER (loading does not check signatures).
AT = datetime(2025, 1, 1, tzinfo=UTC)
KEY = ec.derive_private_key(7, ec.SECP256R1())
#: a common name whose bytes are valid DER both as UTF8String and as BIT STRING ("b", 0 unused bits)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "\x00b")])
CN_UTF8, CN_BIT_STRING = b"\x0c\x02\x00b", b"\x03\x02\x00b"
#: DNSName "abc" ([2] IA5String), and the same place turned into an x400Address ([3] constructed)
DNS_NAME, X400_ADDRESS = b"\x82\x03abc", b"\xa3\x03\x04\x01a"
ABC = x509.DNSName("abc")
INVALID_SINCE = datetime(2024, 5, 1)  # InvalidityDate takes a naive UTC time


def _ext(arc: int) -> bytes:
    """The DER OID of id-ce extension ``arc`` (2.5.29.arc)."""
    return b"\x06\x03\x55\x1d" + bytes([arc])


SKI, BASIC_CONSTRAINTS, CRL_NUMBER, CRL_REASON, INVALIDITY_DATE, AKI = 14, 19, 20, 21, 24, 35


def _certificate(*extensions: x509.ExtensionType) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(AT)
        .not_valid_after(AT + timedelta(days=1))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(Encoding.DER)


def _crl(*extensions: x509.ExtensionType, entry: tuple[x509.ExtensionType, ...] = ()) -> bytes:
    revoked = x509.RevokedCertificateBuilder().serial_number(5).revocation_date(AT)
    for extension in entry:
        revoked = revoked.add_extension(extension, critical=False)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(NAME)
        .last_update(AT)
        .next_update(AT + timedelta(days=1))
        .add_revoked_certificate(revoked.build())
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(Encoding.DER)


def _patched(der: bytes, old: bytes, new: bytes, count: int = -1) -> bytes:
    assert old in der
    return der.replace(old, new, count)


def _directory_san() -> bytes:
    """A subjectAltName directory name whose CN is a BIT STRING; subject and issuer stay valid."""
    other = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "\x00c")])
    der = _certificate(x509.SubjectAlternativeName([x509.DirectoryName(other)]))
    return _patched(der, b"\x0c\x02\x00c", b"\x03\x02\x00c")


# What cryptography (50) raises when the object is read: none of them is a ValueError.
CERTIFICATES: dict[str, Callable[[], bytes]] = {
    # DuplicateExtension
    "an extension twice": lambda: _patched(
        _certificate(x509.BasicConstraints(ca=True, path_length=None), x509.SubjectKeyIdentifier(bytes(20))),
        _ext(SKI),
        _ext(BASIC_CONSTRAINTS),
    ),
    # UnsupportedGeneralNameType
    "an x400Address": lambda: _patched(
        _certificate(x509.SubjectAlternativeName([ABC])), DNS_NAME, X400_ADDRESS
    ),
    # TypeError, from the Name that cryptography builds in Python
    "a BIT STRING common name": lambda: _patched(_certificate(), CN_UTF8, CN_BIT_STRING),
    "a BIT STRING in a directory name": _directory_san,
}
CRLS: dict[str, Callable[[], bytes]] = {
    "an extension twice": lambda: _patched(
        _crl(x509.CRLNumber(1), x509.AuthorityKeyIdentifier(bytes(20), None, None)),
        _ext(AKI),
        _ext(CRL_NUMBER),
    ),
    "an x400Address": lambda: _patched(_crl(x509.IssuerAlternativeName([ABC])), DNS_NAME, X400_ADDRESS),
    "a BIT STRING issuer name": lambda: _patched(_crl(), CN_UTF8, CN_BIT_STRING),
    "an entry with an extension twice": lambda: _patched(
        _crl(entry=(x509.CRLReason(x509.ReasonFlags.key_compromise), x509.InvalidityDate(INVALID_SINCE))),
        _ext(INVALIDITY_DATE),
        _ext(CRL_REASON),
    ),
    "an entry with an x400Address": lambda: _patched(
        _crl(entry=(x509.CertificateIssuer([ABC]),)), DNS_NAME, X400_ADDRESS
    ),
}


def _read(obj: x509.Certificate | x509.CertificateRevocationList) -> None:
    """Touch what the loaders read, with cryptography alone."""
    _ = (obj.issuer, list(obj.extensions))
    _ = obj.subject if isinstance(obj, x509.Certificate) else [list(entry.extensions) for entry in obj]


@pytest.mark.parametrize("case", sorted(CERTIFICATES))
def test_a_certificate_cryptography_refuses_without_a_value_error_is_a_value_error(case: str) -> None:
    der = CERTIFICATES[case]()
    with pytest.raises(Exception):  # noqa: B017  # the bytes are refused (not as ValueError)
        _read(x509.load_der_x509_certificate(der))
    for load in (x509load.der_certificate, x509load.certificate, x509load.pem_certificates):
        with pytest.raises(ValueError):
            load(der if load is x509load.der_certificate else _pem(der))


@pytest.mark.parametrize("case", sorted(CRLS))
def test_a_crl_cryptography_refuses_without_a_value_error_is_a_value_error(case: str) -> None:
    der = CRLS[case]()
    with pytest.raises(Exception):  # noqa: B017  # the bytes are refused (not as ValueError)
        _read(x509.load_der_x509_crl(der))
    with pytest.raises(ValueError):
        x509load.crl(der)


def test_the_unpatched_certificates_and_crls_load() -> None:
    """The patches above are what breaks them."""
    assert x509load.der_certificate(_certificate(x509.SubjectAlternativeName([ABC]))).subject == NAME
    assert len(x509load.crl(_crl(entry=(x509.CertificateIssuer([ABC]),)))) == 1


def test_a_wrong_argument_type_is_still_a_type_error() -> None:
    """Only what cryptography finds in the bytes becomes ValueError, not a caller's mistake."""
    with pytest.raises(TypeError):
        x509load.der_certificate("not bytes")  # type: ignore[arg-type]


def test_a_certificate_read_in_full_once_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same DER (the root in several chains) is read in full once per process; one that
    fails the reading fails every time."""
    monkeypatch.setattr(x509load, "_CHECKED", {})
    reads: list[bytes] = []
    read = x509load._read_in_full
    monkeypatch.setattr(
        x509load, "_read_in_full", lambda cert: (reads.append(cert.public_bytes(Encoding.DER)), read(cert))[1]
    )
    der = _with_version(2)
    first = x509load.der_certificate(der)
    assert x509load.certificate(_pem(der)) is first
    assert x509load.pem_certificates(_pem(der) * 2) == [first, first]
    assert reads == [der]
    bad = CERTIFICATES["a BIT STRING common name"]()  # loads, and fails the reading
    for _ in range(2):
        with pytest.raises(ValueError, match="malformed name"):
            x509load.der_certificate(bad)
    assert reads == [der, bad, bad] and bad not in x509load._CHECKED
