"""Load certificates and CRLs so that every field we rely on is parsed at load time.

cryptography parses X.509 lazily: a malformed name or extension raises ``ValueError`` only
when it is first read, which could be deep inside a check, long after the loader's error
handling. These loaders read the fields up front, so a malformed certificate fails where it
is loaded (as ``ValueError``, which each caller turns into its own error), and whatever
loads is safe to use. Real AMD VCEKs carry serial number 0; the warning cryptography gives
for it is silenced here, deliberately.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

# (the enum's own module: the serialization package would load its SSH key support)
from cryptography.hazmat.primitives._serialization import Encoding


def in_words(error: BaseException) -> str:
    """What went wrong loading a certificate, CRL or key, for a message: cryptography's own
    sentence, without the Rust debug dump it may carry (``ParseError { kind: UnexpectedTag
    {...} }``) or a Python class name."""
    import re

    text = str(error)
    if "error parsing asn1 value" in text or "ParseError {" in text:
        found = re.search(r"kind: ([A-Za-z]+)", text)
        name = found.group(1) if found else ""
        words = {"UnexpectedTag": "a wrong tag", "ShortData": "truncated", "ExtraData": "trailing bytes"}
        kind = words.get(name) or re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower() or "not DER"
        return f"malformed DER: {kind}"
    if "Could not deserialize key data" in text:
        return "not a key in a supported form (malformed, encrypted, or of an unsupported type)"
    text = re.sub(r"\s*[A-Z][A-Za-z]+ \{.*\}\s*", " ", text).strip()
    return text or "malformed"


#: What cryptography raises besides ValueError for bytes it cannot load or read in full: an
#: unknown version or key algorithm, an extension present twice, a general name type it does not
#: model (x400Address, ediPartyName). All are exceptions of their own, not ValueError subclasses.
_REFUSALS = (
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@contextmanager
def _loading() -> Iterator[None]:
    """Silence cryptography's warnings; its non-ValueError load errors become ValueError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except _REFUSALS as error:
            raise ValueError(str(error)) from None


@contextmanager
def _reading() -> Iterator[None]:
    """Around reads of a loaded object's fields: cryptography's TypeError becomes ValueError.

    Names (subject, issuer, directory names inside extensions) are built in Python when first
    read, and ``NameAttribute`` refuses a DER value type its OID does not allow (a BIT STRING
    other than x500UniqueIdentifier) with TypeError. Only field reads are covered, so a caller
    passing a wrong argument type to a loader still gets its TypeError.
    """
    try:
        yield
    except TypeError as error:
        raise ValueError(f"malformed name: {error}") from None


def certificate(data: bytes) -> x509.Certificate:
    """One certificate from DER or PEM (the first of a PEM bundle), fully parsed."""
    if b"-----BEGIN" not in data:
        return der_certificate(data)
    with _loading():
        found = x509.load_pem_x509_certificates(data)
        if not found:
            raise ValueError("no certificate in the PEM data")
        return _checked(found[0])


def pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, fully parsed."""
    with _loading():
        return [_checked(cert) for cert in x509.load_pem_x509_certificates(data)]


def der_certificate(data: bytes) -> x509.Certificate:
    with _loading():
        return _checked(x509.load_der_x509_certificate(data))


def crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from DER or PEM, fully parsed."""
    with _loading():
        loaded = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        with _reading():
            loaded.issuer.rfc4514_string()
            _ = (loaded.last_update_utc, loaded.next_update_utc, loaded.signature_algorithm_oid)
            for _extension in loaded.extensions:
                pass
            for revoked in loaded:
                _ = (revoked.serial_number, revoked.revocation_date_utc)
                for _extension in revoked.extensions:
                    pass
    return loaded


#: certificates already read in full, by their DER: the same one arrives several times in one
#: verification (the root in the PCK chain, the TCB-info and QE-identity chains, the trust
#: root), and reading it in full builds its names and extensions in Python each time
_CHECKED: dict[bytes, x509.Certificate] = {}
_CHECKED_MAX = 64


def _checked(cert: x509.Certificate) -> x509.Certificate:
    der = cert.public_bytes(Encoding.DER)
    seen = _CHECKED.get(der)
    if seen is not None:
        return seen
    _read_in_full(cert)
    if len(_CHECKED) < _CHECKED_MAX:
        _CHECKED[der] = cert
    return cert


def _read_in_full(cert: x509.Certificate) -> None:
    with _reading():
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number, cert.version)
        _ = (cert.signature_algorithm_oid, cert.tbs_certificate_bytes, cert.signature)
        for _extension in cert.extensions:
            pass
        cert.public_key()
