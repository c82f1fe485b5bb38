"""``verifier/ecdsa.py``: the ECDSA algorithm object without cryptography's backend import."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.ecdsa import ECDSA_SHA256, ECDSA_SHA384, Ecdsa, ecdsa
from tests.conftest import REPO
from tests.der_encoding import tlv

EXAMPLES = REPO / "reference-values" / "examples"


@pytest.mark.parametrize(
    ("curve", "algorithm", "shared"),
    [(ec.SECP256R1(), hashes.SHA256(), ECDSA_SHA256), (ec.SECP384R1(), hashes.SHA384(), ECDSA_SHA384)],
)
def test_signs_and_verifies_as_cryptographys_own(
    curve: ec.EllipticCurve, algorithm: hashes.HashAlgorithm, shared: ec.ECDSA
) -> None:
    assert ecdsa(algorithm) is shared and isinstance(shared, ec.ECDSA)
    key = ec.generate_private_key(curve)
    public = key.public_key()
    # each verifies the other's signatures, and a changed message fails under either
    for signer, verifier in ((shared, ec.ECDSA(algorithm)), (ec.ECDSA(algorithm), shared)):
        signature = key.sign(b"message", signer)
        public.verify(signature, b"message", verifier)
        with pytest.raises(InvalidSignature):
            public.verify(signature, b"messagE", verifier)


def test_deterministic_signing_is_passed_on() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ours = key.sign(b"m", Ecdsa(hashes.SHA256(), deterministic_signing=True))
    theirs = key.sign(b"m", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    assert ours == theirs  # RFC 6979: the same nonce
    assert key.sign(b"m", Ecdsa(hashes.SHA256())) != ours  # a random nonce otherwise
    assert Ecdsa(hashes.SHA512()).algorithm.name == "sha512"
    assert Ecdsa(hashes.SHA256(), True).deterministic_signing is True


def test_signing_and_verifying_never_import_the_backend_module() -> None:
    code = """
import sys
from cryptography.hazmat.primitives.asymmetric import ec
from ccverify.verifier.ecdsa import ECDSA_SHA256
key = ec.generate_private_key(ec.SECP256R1())
key.public_key().verify(key.sign(b"m", ECDSA_SHA256), b"m", ECDSA_SHA256)
print("cryptography.hazmat.backends.openssl.backend" in sys.modules)
ec.ECDSA(ECDSA_SHA256.algorithm)  # cryptography's own imports it: the check can fail
print("cryptography.hazmat.backends.openssl.backend" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


# -- signed_by: a certificate's or CRL's ECDSA signature from its DER --------------------------------


_SHA256_ID = bytes.fromhex("300a06082a8648ce3d040302")
_SHA384_ID = bytes.fromhex("300a06082a8648ce3d040303")
_CA_KEY = ec.derive_private_key(0x1234567, ec.SECP256R1())
_OTHER_KEY = ec.derive_private_key(0x7654321, ec.SECP256R1())


def _certificate(signer: Any = _CA_KEY, common_name: str = "signed_by test") -> bytes:
    """A certificate for the other key, signed by ``signer`` with SHA-256."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = x509.CertificateBuilder(
        issuer_name=name,
        subject_name=name,
        public_key=_OTHER_KEY.public_key(),
        serial_number=7,
        not_valid_before=when,
        not_valid_after=when + datetime.timedelta(days=1),
    )
    return builder.sign(signer, hashes.SHA256()).public_bytes(Encoding.DER)


def _resigned(tbs: bytes, outer: bytes, hash_algorithm: hashes.HashAlgorithm, unused: int = 0) -> bytes:
    """A certificate of ``tbs`` under ``outer``, signed by the CA key with ``hash_algorithm``."""
    signature = _CA_KEY.sign(tbs, ec.ECDSA(hash_algorithm))
    return tlv(0x30, tbs + outer + tlv(0x03, bytes([unused]) + signature))


def _parts(certificate: bytes) -> tuple[bytes, list[bytes]]:
    """The signed part's fields, each whole, and the signed part's tag-and-length-free content."""
    from ccverify.verifier import der

    signed = der.parse(certificate).sequence()[0]
    return signed.content, [certificate[f.offset : f.end] for f in signed.sequence()]


def test_a_certificate_signed_with_ecdsa_by_the_key_is_accepted_and_nothing_else() -> None:
    from ccverify.verifier.ecdsa import signed_by

    certificate = _certificate()
    assert signed_by(certificate, _CA_KEY.public_key())
    assert not signed_by(certificate, _OTHER_KEY.public_key())
    _, fields = _parts(certificate)
    assert fields[2] == _SHA256_ID  # [0] version, serial, signature: what the test changes
    tbs = tlv(0x30, b"".join(fields))
    assert signed_by(_resigned(tbs, _SHA256_ID, hashes.SHA256()), _CA_KEY.public_key())
    # SHA-384 throughout is ECDSA too
    tbs384 = tlv(0x30, b"".join([*fields[:2], _SHA384_ID, *fields[3:]]))
    assert signed_by(_resigned(tbs384, _SHA384_ID, hashes.SHA384()), _CA_KEY.public_key())
    # the signed part's algorithm differs from the outer one (each signature itself valid)
    assert not signed_by(_resigned(tbs384, _SHA256_ID, hashes.SHA256()), _CA_KEY.public_key())
    assert not signed_by(_resigned(tbs, _SHA384_ID, hashes.SHA384()), _CA_KEY.public_key())
    # parameters present (NULL) in both: not the RFC 5758 form
    with_null = bytes.fromhex("300c06082a8648ce3d0403020500")
    tbs_null = tlv(0x30, b"".join([*fields[:2], with_null, *fields[3:]]))
    assert not signed_by(_resigned(tbs_null, with_null, hashes.SHA256()), _CA_KEY.public_key())
    # unused bits in the BIT STRING, one byte of the signed part changed, the DER cut or padded
    assert not signed_by(_resigned(tbs, _SHA256_ID, hashes.SHA256(), unused=1), _CA_KEY.public_key())
    at = certificate.index(b"signed_by test")
    changed = certificate[:at] + b"S" + certificate[at + 1 :]
    assert not signed_by(changed, _CA_KEY.public_key())
    assert not signed_by(certificate[:-1], _CA_KEY.public_key())
    assert not signed_by(certificate + b"\x00", _CA_KEY.public_key())
    assert not signed_by(b"", _CA_KEY.public_key())
    assert not signed_by(tlv(0x30, tbs + _SHA256_ID), _CA_KEY.public_key())


def test_a_crl_signed_with_ecdsa_by_the_key_is_accepted() -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from ccverify.verifier.ecdsa import signed_by

    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    revoked = x509.RevokedCertificateBuilder(serial_number=9, revocation_date=when).build()
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")]))
        .last_update(when)
        .next_update(when + datetime.timedelta(days=1))
        .add_revoked_certificate(revoked)
        .sign(_CA_KEY, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )
    assert signed_by(crl, _CA_KEY.public_key())
    assert not signed_by(crl, _OTHER_KEY.public_key())
    at = crl.index(b"CA")
    assert not signed_by(crl[:at] + b"XA" + crl[at + 2 :], _CA_KEY.public_key())


def test_a_certificate_signed_with_rsa_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ccverify.verifier.ecdsa import signed_by

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not signed_by(_certificate(rsa_key, "rsa"), _OTHER_KEY.public_key())


def test_verifying_the_sample_tdx_quote_never_imports_the_backend_module() -> None:
    """The PCK chain, the CRLs, the TCB info's and QE identity's signatures, the quote: all ECDSA."""
    code = f"""
import sys
from pathlib import Path
from ccverify import verifier
examples = Path({str(EXAMPLES)!r})
collateral = verifier.load_collateral(examples / "tdx-collateral.json")
root = examples / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"
quote = examples / "tdx-quote.dat"
verdict = verifier.verify_tdx(quote, collateral, at="2026-01-15T00:00:00Z", trust_root=root)
print(verdict.status.value, "cryptography.hazmat.backends.openssl.backend" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["UpToDate", "False"]
