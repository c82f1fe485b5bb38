"""The ECDSA signature algorithm object, made without importing cryptography's OpenSSL backend.

``ec.ECDSA.__init__`` imports ``cryptography.hazmat.backends.openssl.backend``, and through it
the cipher, RSA padding, ``random`` and ``threading`` modules, only to ask whether OpenSSL
supports deterministic nonces (RFC 6979) when they are asked for. Verifying never asks. For
the guest in the initramfs that import was ~4 ms of ``guest authorize`` on the host and ~0.1 s
under the emulated CPU of a test VM.

What a key's ``sign`` and ``verify`` read of the object are its ``algorithm`` and
``deterministic_signing`` properties (and that it is an ``ec.ECDSA``); ``Ecdsa`` answers both
itself. Deterministic signing is refused by OpenSSL at ``sign`` where unsupported instead of
here; only the example provider and the test PKI ask for it.

A certificate's ``verify_directly_issued_by`` and a CRL's ``is_signature_valid`` make their
``ec.ECDSA`` the library's way, so ``signed_by`` checks an ECDSA-signed certificate or CRL from
its DER with this module's objects instead.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier import der


class Ecdsa(ec.ECDSA):
    """``ec.ECDSA(algorithm, deterministic_signing)`` without the backend import."""

    # ec.ECDSA's __init__ is not called on purpose: it is the import this class exists to avoid
    def __init__(self, algorithm: hashes.HashAlgorithm, deterministic_signing: bool = False) -> None:
        self._hash = algorithm
        self._deterministic = deterministic_signing

    @property
    def algorithm(self) -> hashes.HashAlgorithm:
        return self._hash

    @property
    def deterministic_signing(self) -> bool:
        return self._deterministic


#: what the verifiers use: P-256 quotes and collateral, ES256 tokens
ECDSA_SHA256 = Ecdsa(hashes.SHA256())
#: P-384 reports (SEV-SNP) and ES384
ECDSA_SHA384 = Ecdsa(hashes.SHA384())


def ecdsa(algorithm: hashes.HashAlgorithm) -> ec.ECDSA:
    """The ECDSA object for ``algorithm`` (a shared one for SHA-256 and SHA-384)."""
    if isinstance(algorithm, hashes.SHA256):
        return ECDSA_SHA256
    if isinstance(algorithm, hashes.SHA384):
        return ECDSA_SHA384
    return Ecdsa(algorithm)


#: the AlgorithmIdentifiers of ecdsa-with-SHA256 and ecdsa-with-SHA384, whole: RFC 5758 §3.2
#: says the parameters are absent
_SIGNED_WITH = {
    bytes.fromhex("300a06082a8648ce3d040302"): ECDSA_SHA256,
    bytes.fromhex("300a06082a8648ce3d040303"): ECDSA_SHA384,
}
_BIT_STRING = 0x03
_VERSION = 0xA0  # a certificate's [0] EXPLICIT version


def signed_by(signed_der: bytes, key: ec.EllipticCurvePublicKey) -> bool:
    """Whether the X.509 certificate or CRL ``signed_der`` is signed by ``key`` with ECDSA.

    ``SEQUENCE { to-be-signed, AlgorithmIdentifier, BIT STRING }``: the AlgorithmIdentifier is
    ecdsa-with-SHA256 or -SHA384 exactly, the signed part's own (its first element after the
    optional ``[0]`` version and the serial number or CRL version) is the same bytes (RFC 5280
    §4.1.1.2, §5.1.1.2), the BIT STRING has no unused bits, and its content verifies as a DER
    ECDSA signature over the signed part's bytes as they are encoded. False otherwise, also for
    DER this reader refuses (callers parse with cryptography first, as strictly).
    """
    try:
        signed, algorithm, value = der.parse(signed_der).sequence(max_items=3)
        fields = signed.sequence(max_items=10)
        at = 1 if fields and fields[0].tag == _VERSION else 0
        if at < len(fields) and fields[at].tag == der.INTEGER:
            at += 1
        inner = fields[at] if at < len(fields) else None
    except ValueError:  # DerError, and fewer than three elements
        return False
    outer = signed_der[algorithm.offset : algorithm.end]
    ecdsa_object = _SIGNED_WITH.get(outer)
    if ecdsa_object is None or inner is None or signed_der[inner.offset : inner.end] != outer:
        return False
    if value.tag != _BIT_STRING or value.start == value.end or signed_der[value.start] != 0:
        return False
    signature = signed_der[value.start + 1 : value.end]
    try:
        key.verify(signature, signed_der[signed.offset : signed.end], ecdsa_object)
    except InvalidSignature:
        return False
    return True
