"""COSE_Sign1 (RFC 9052, tag 18) for signed CoRIMs: sign and verify, on ``cryptography``.

Protected header written by ``sign``: ``{1 alg, 3 "application/rim+cbor", 4 kid,
8 bstr .cbor corim-meta-map, 15 CWT claims {1 iss, 4 exp, 5 nbf}}``; ``kid`` is the SHA-256
of the signer's SubjectPublicKeyInfo (DER), which lets a verifier tell "signed by a key we do
not trust" from "signature broken".
Algorithms: ES256 (-7, P-256), ES384 (-35, P-384), EdDSA (-8, Ed25519). ECDSA signatures are
raw ``r || s`` as COSE requires.

``verify`` checks, in order, each with its own ``VerificationError`` code:
structure (ParseError), algorithm allowed (``refvalues_alg_unsupported``), then the signature
with the anchor the key id names (or every anchor when it names none); when nothing verifies:
``refvalues_wrong_key`` if the kid is ccverify's (32 bytes) and names no anchor,
``refvalues_alg_mismatch`` if no anchor's key type fits the algorithm, otherwise
``refvalues_signature_invalid``; then the content type
(``refvalues_bad_content_type``), signature validity at ``at`` (``refvalues_not_yet_valid``,
``refvalues_expired``).
"""

from __future__ import annotations

import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import cbor2
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

# (the enums' own module: the ``serialization`` package would load its SSH key support, ~3 ms of
# the initramfs hook's start-up, for nothing used here; ``cryptography.x509`` imports it so too)
from cryptography.hazmat.primitives._serialization import Encoding, PublicFormat
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from ccverify.verifier.ecdsa import ecdsa
from ccverify.verifier.errors import Code, InputError, ParseError, VerificationError
from ccverify.verifier.inputs import Source, refuse
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.limits import read_bounded
from ccverify.verifier.refvalues import cbor_base as cbor
from ccverify.verifier.timeutil import as_utc

if TYPE_CHECKING:
    from cryptography import x509

STRUCTURE = "COSE_Sign1"
CONTENT_TYPE = "application/rim+cbor"

ES256 = -7
ES384 = -35
EDDSA = -8
ALGORITHMS = {ES256: "ES256", ES384: "ES384", EDDSA: "EdDSA"}

H_ALG = 1
H_CRIT = 2
H_CONTENT_TYPE = 3
H_KID = 4
H_CORIM_META = 8
H_CWT_CLAIMS = 15
H_PAYLOAD_HASH_ALG = 258
#: header labels we understand, so a ``crit`` list may name them
UNDERSTOOD = {H_ALG, H_CRIT, H_CONTENT_TYPE, H_KID, H_CORIM_META, H_CWT_CLAIMS}

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _fail(field: str, detail: str) -> ParseError:
    return ParseError(STRUCTURE, field, None, detail)


# --------------------------------------------------------------------------- header


@dataclass(frozen=True)
class Signer:
    """Who signed, as the protected header's CoRIM signer map names them."""

    name: str
    uri: str | None = None


@dataclass(frozen=True)
class ProtectedHeader:
    """The COSE_Sign1 protected header, decoded; ``raw`` is the whole map as signed."""

    alg: int
    content_type: str | int | None
    kid: bytes | None
    signer: Signer | None
    not_before: datetime | None
    not_after: datetime | None
    cwt_claims: Mapping[Any, Any] | None
    raw: Mapping[Any, Any]

    def describe(self) -> dict[str, Any]:
        return {
            "alg": ALGORITHMS.get(self.alg, self.alg),
            "content_type": self.content_type,
            "kid": self.kid,
            "signer": self.signer,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "cwt_claims": None if self.cwt_claims is None else cbor.plain(self.cwt_claims),
        }


def _header_int(value: Any, field: str) -> int:
    if not cbor.is_int(value):
        raise _fail(field, f"expected an integer, got {type(value).__name__}")
    return value


def _cwt_time(value: Any, field: str) -> datetime:
    if isinstance(value, cbor2.CBORTag) and value.tag == cbor.TAG_TIME:
        value = value.value
    if not cbor.is_number(value):
        raise _fail(field, "expected a NumericDate")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise _fail(field, f"time {value} is out of range") from None


def parse_protected(data: bytes) -> ProtectedHeader:
    if not data:
        raise _fail("protected", "empty protected header: alg and content type are required")
    header = cbor.loads_strict(data, STRUCTURE, "protected")
    if not isinstance(header, Mapping):
        raise _fail("protected", "the protected header is not a map")
    if H_ALG not in header:
        raise _fail("protected.alg", "missing (label 1)")
    alg = _header_int(header[H_ALG], "protected.alg")
    ctype = header.get(H_CONTENT_TYPE)
    if ctype is not None and not cbor.is_label(ctype):
        raise _fail("protected.content-type", "expected text or an integer")
    kid = header.get(H_KID)
    if kid is not None and not isinstance(kid, bytes):
        raise _fail("protected.kid", "expected a byte string")
    if H_PAYLOAD_HASH_ALG in header:
        raise _fail("protected", "hash-envelope CoRIMs (label 258) are not supported")
    if H_CRIT in header:
        crit = header[H_CRIT]
        if not isinstance(crit, (list, tuple)) or not crit:
            raise _fail("protected.crit", "expected a non-empty array of labels")
        if not all(cbor.is_label(c) for c in crit):  # RFC 9052 §3.1: crit is [+ label]
            raise _fail("protected.crit", "expected labels (integers or text strings)")
        unknown = [c for c in crit if c not in UNDERSTOOD]
        if unknown:
            raise VerificationError(
                Code.REFVALUES_CRIT_UNSUPPORTED,
                f"the protected header marks labels {unknown} critical; ccverify does not understand them",
            )
    signer = None
    not_before = not_after = None
    if H_CORIM_META in header:
        raw_meta = header[H_CORIM_META]
        if not isinstance(raw_meta, bytes):
            raise _fail("protected.corim-meta", "expected bstr .cbor corim-meta-map")
        meta = cbor.loads_strict(raw_meta, STRUCTURE, "protected.corim-meta")
        if not isinstance(meta, Mapping) or 0 not in meta:
            raise _fail("protected.corim-meta", "expected a map with a signer (0)")
        smap = meta[0]
        if not isinstance(smap, Mapping) or not isinstance(smap.get(0), str):
            raise _fail("protected.corim-meta.signer", "expected {0 signer-name: tstr, ? 1 signer-uri}")
        uri = smap.get(1)
        if uri is not None:
            if isinstance(uri, cbor2.CBORTag) and uri.tag == cbor.TAG_URI:
                uri = uri.value
            if not isinstance(uri, str):
                raise _fail("protected.corim-meta.signer.signer-uri", "expected a URI")
        signer = Signer(smap[0], uri)
        if 1 in meta:
            try:
                validity = cbor.decode_validity(meta[1], "signature-validity")
            except ParseError as error:
                raise _fail(f"protected.corim-meta.{error.field}", error.detail) from None
            not_before, not_after = validity.not_before, validity.not_after
    claims = header.get(H_CWT_CLAIMS)
    if claims is not None:
        if not isinstance(claims, Mapping):
            raise _fail("protected.cwt-claims", "expected a map")
        iss = claims.get(1)
        if iss is not None:
            if not isinstance(iss, str):
                raise _fail("protected.cwt-claims.iss", "expected text")
            if signer is not None and signer.name != iss:
                raise _fail("protected.cwt-claims.iss", "disagrees with corim-meta signer name")
            if signer is None:
                signer = Signer(iss)
        if 4 in claims:
            exp = _cwt_time(claims[4], "protected.cwt-claims.exp")
            if not_after is not None and exp != not_after:
                raise _fail("protected.cwt-claims.exp", "disagrees with corim-meta not-after")
            not_after = exp
        if 5 in claims:
            nbf = _cwt_time(claims[5], "protected.cwt-claims.nbf")
            if not_before is not None and nbf != not_before:
                raise _fail("protected.cwt-claims.nbf", "disagrees with corim-meta not-before")
            not_before = nbf
    if H_CORIM_META not in header and claims is None:
        raise _fail("protected", "neither corim-meta (8) nor CWT claims (15) present")
    return ProtectedHeader(alg, ctype, kid, signer, not_before, not_after, claims, header)


# --------------------------------------------------------------------------- envelope


@dataclass(frozen=True)
class Sign1:
    """A COSE_Sign1 envelope, decoded but not verified; ``protected_bytes`` as signed."""

    protected_bytes: bytes
    header: ProtectedHeader
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    def to_be_signed(self, external_aad: bytes = b"") -> bytes:
        return sig_structure(self.protected_bytes, self.payload, external_aad)


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """RFC 9052 §4.4 Sig_structure for COSE_Sign1."""
    return cbor2.dumps(["Signature1", protected, external_aad, payload])


def is_sign1(data: bytes) -> bool:
    return data[:1] == b"\xd2"


def parse_sign1(data: bytes) -> Sign1:
    item = cbor.loads_strict(data, STRUCTURE, "envelope")
    if isinstance(item, cbor2.CBORTag) and item.tag == cbor.TAG_SIGNED_CORIM_LEGACY:
        item = item.value
    if not isinstance(item, cbor2.CBORTag) or item.tag != cbor.TAG_COSE_SIGN1:
        raise _fail("envelope", "expected a COSE_Sign1 (tag 18)")
    parts = item.value
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        raise _fail("envelope", "COSE_Sign1 is [protected, unprotected, payload, signature]")
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes):
        raise _fail("protected", "expected a byte string")
    if not isinstance(unprotected, Mapping):
        raise _fail("unprotected", "expected a map")
    if payload is None:
        raise _fail("payload", "detached payloads are not supported")
    if not isinstance(payload, bytes):
        raise _fail("payload", "expected a byte string")
    if not isinstance(signature, bytes):
        raise _fail("signature", "expected a byte string")
    header = parse_protected(protected)
    overlap = [k for k in unprotected if k in header.raw]
    if overlap:
        raise _fail("unprotected", f"labels {overlap} appear in both header buckets")
    return Sign1(protected, header, unprotected, payload, signature)


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class TrustAnchor:
    """A public key the verifier trusts to sign reference values."""

    key: PublicKey
    kid: bytes  # SHA-256 of the SubjectPublicKeyInfo DER
    source: str
    certificate: x509.Certificate | None = None

    @property
    def key_type(self) -> str:
        if isinstance(self.key, ed25519.Ed25519PublicKey):
            return "Ed25519"
        return f"EC {self.key.curve.name}"


def key_id(key: PublicKey) -> bytes:
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


# The SubjectPublicKeyInfo DER of the three key types COSE signing here accepts is the same
# bytes up to the key itself: the algorithm (and curve) identifier, then the BIT STRING's
# header. ``_spki_key`` reads those directly, so that loading a public key (the device
# policy's anchor, at every boot of the initramfs) does not import
# ``cryptography.hazmat.primitives.serialization`` (its package loads SSH key support and the
# ciphers with it, ~3 ms of the hook's start-up budget, for nothing the hook uses).
_SPKI_PREFIXES: tuple[tuple[bytes, int, ec.EllipticCurve | None], ...] = (
    (bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"), 65, ec.SECP256R1()),
    (bytes.fromhex("3076301006072a8648ce3d020106052b81040022036200"), 97, ec.SECP384R1()),
    (bytes.fromhex("302a300506032b6570032100"), 32, None),  # Ed25519
)


def _spki_key(der: bytes) -> PublicKey | None:
    """The key of a P-256, P-384 or Ed25519 SubjectPublicKeyInfo in ``der``, or None for
    anything else (the caller then asks ``serialization``, which words every error). A key is
    returned only when its own DER encoding is exactly ``der``: no other encoding of the same
    key (a compressed point, a stray byte) takes this path."""
    for prefix, size, curve in _SPKI_PREFIXES:
        if len(der) != len(prefix) + size or not der.startswith(prefix):
            continue
        point = der[len(prefix) :]
        try:
            key: PublicKey = (
                ed25519.Ed25519PublicKey.from_public_bytes(point)
                if curve is None
                else ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            )
        except ValueError:
            return None
        if key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) != der:
            return None
        return key
    return None


def _pem_public_key_der(data: bytes) -> bytes | None:
    """The DER inside ``data`` when it is exactly one PEM ``PUBLIC KEY`` block (lines of strict
    base64 between the two markers, nothing else but surrounding white space), else None."""
    text = data.strip()
    begin, end = b"-----BEGIN PUBLIC KEY-----", b"-----END PUBLIC KEY-----"
    if not text.startswith(begin) or not text.endswith(end):
        return None
    body = text[len(begin) : -len(end)]
    if b"-----" in body:
        return None
    try:
        return binascii.a2b_base64(b"".join(body.split()), strict_mode=True)
    except binascii.Error:
        return None


def _public_key(data: bytes) -> object:
    """A PEM or DER public key (``serialization`` for all but the three usual kinds)."""
    pem = b"-----BEGIN" in data
    der = _pem_public_key_der(data) if pem else data
    key = None if der is None else _spki_key(der)
    if key is not None:
        return key
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_public_key(data) if pem else serialization.load_der_public_key(data)


def _check_key(key: object, source: str) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1)):
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise InputError(f"{source}: unsupported key type {_kind(key)} (use P-256, P-384 or Ed25519)")


def _kind(key: object) -> str:
    from ccverify.verifier.certinfo import key_kind

    return key_kind(key)


def _read(source: object, what: str) -> tuple[bytes, str]:
    """The bytes of ``source`` (bytes, or an ``os.PathLike`` to read, at most the certificate/key
    limit) and what to call it in messages; a ``str`` is refused (``verifier/inputs.py``)."""
    if isinstance(source, os.PathLike):
        return read_bounded(source, "certificate", what), os.fspath(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), what
    raise refuse(source, what, "load_trust_anchors" if what == "trust anchor" else "sign_reference_values")


def load_trust_anchor(source: Source | PublicKey | TrustAnchor) -> TrustAnchor:
    """A PEM/DER public key or X.509 certificate (its bytes or its file), or a key object."""
    if isinstance(source, TrustAnchor):
        return source
    if isinstance(source, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        key = _check_key(source, "trust anchor")
        return TrustAnchor(key, key_id(key), "key object")
    data, name = _read(source, "trust anchor")
    # x509 (x509load) only for a certificate or an error: a public key, the device policy's
    # usual anchor in the initramfs, loads without importing cryptography.x509
    cert = None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            from ccverify.verifier import x509load

            cert = x509load.certificate(data)
        elif b"-----BEGIN" in data:
            loaded: object = _public_key(data)
        else:
            try:
                loaded = _public_key(data)
            except (ValueError, UnsupportedAlgorithm):
                from ccverify.verifier import x509load

                cert = x509load.der_certificate(data)
    except (ValueError, UnsupportedAlgorithm, TypeError) as error:
        from ccverify.verifier import x509load

        reason = x509load.in_words(error)
        raise InputError(f"{name}: not a PEM/DER public key or certificate ({reason})") from None
    if cert is not None:
        loaded = cert.public_key()
    key = _check_key(loaded, name)
    return TrustAnchor(key, key_id(key), name, cert)


def load_private_key(source: Source | PrivateKey) -> PrivateKey:
    if isinstance(source, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        return source
    data, name = _read(source, "signing key")
    from cryptography.hazmat.primitives import serialization

    try:
        key = (
            serialization.load_pem_private_key(data, password=None)
            if b"-----BEGIN" in data
            else serialization.load_der_private_key(data, password=None)
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        from ccverify.verifier import x509load

        reason = x509load.in_words(error)
        raise InputError(f"{name}: not an unencrypted PEM/DER private key ({reason})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1)):
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise InputError(f"{name}: unsupported key type {_kind(key)} (use P-256, P-384 or Ed25519)")


def default_alg(key: PrivateKey | PublicKey) -> int:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return EDDSA
    return ES384 if isinstance(key.curve, ec.SECP384R1) else ES256


def _alg_fits(alg: int, key: PublicKey) -> bool:
    if alg == EDDSA:
        return isinstance(key, ed25519.Ed25519PublicKey)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    return isinstance(key.curve, ec.SECP256R1) if alg == ES256 else isinstance(key.curve, ec.SECP384R1)


def _sign_raw(key: PrivateKey, alg: int, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    size = (key.curve.key_size + 7) // 8
    digest: hashes.HashAlgorithm = hashes.SHA256() if alg == ES256 else hashes.SHA384()
    r, s = decode_dss_signature(key.sign(message, ecdsa(digest)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _verify_raw(key: PublicKey, alg: int, message: bytes, signature: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
            return True
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        digest: hashes.HashAlgorithm = hashes.SHA256() if alg == ES256 else hashes.SHA384()
        key.verify(encode_dss_signature(r, s), message, ecdsa(digest))
        return True
    except (InvalidSignature, ValueError):
        return False


# --------------------------------------------------------------------------- sign / verify


def _numeric_date(moment: datetime) -> int | float:
    # naive times are UTC everywhere in ccverify, as in corim-meta; timestamp() would read local time
    seconds = as_utc(moment).timestamp()
    return int(seconds) if seconds == int(seconds) else seconds


def corim_meta(signer: Signer, not_before: datetime | None, not_after: datetime | None) -> bytes:
    smap: dict[int, Any] = {0: signer.name}
    if signer.uri is not None:
        smap[1] = cbor2.CBORTag(cbor.TAG_URI, signer.uri)
    meta: dict[int, Any] = {0: smap}
    if not_after is not None:
        meta[1] = cbor.encode_validity(cbor.Validity(not_after, not_before))
    return cbor2.dumps(meta)


def sign(
    payload: bytes,
    key: PrivateKey,
    *,
    signer: Signer,
    alg: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    extra_protected: Mapping[int, Any] | None = None,
    content_type: str = CONTENT_TYPE,
    with_corim_meta: bool = True,
) -> bytes:
    """``#6.18([protected, {}, payload, signature])`` over ``payload`` (a tagged CoRIM).

    Another ``content_type`` signs another kind of document (a device policy) with the same
    keys; ``with_corim_meta=False`` leaves out the CoRIM-specific header (label 8): the signer
    and validity are then in the CWT claims alone.
    """
    public = key.public_key()
    chosen = default_alg(key) if alg is None else alg
    if chosen not in ALGORITHMS:
        raise InputError(f"unsupported COSE algorithm {chosen} (use ES256 -7, ES384 -35 or EdDSA -8)")
    if not _alg_fits(chosen, public):
        raise InputError(f"algorithm {ALGORITHMS[chosen]} does not fit an {_kind(public)} key")
    header: dict[int, Any] = {
        H_ALG: chosen,
        H_CONTENT_TYPE: content_type,
        H_KID: key_id(public),
    }
    if with_corim_meta:
        header[H_CORIM_META] = corim_meta(signer, not_before, not_after)
    claims: dict[int, Any] = {1: signer.name}
    if not_after is not None:
        claims[4] = _numeric_date(not_after)
    if not_before is not None:
        claims[5] = _numeric_date(not_before)
    header[H_CWT_CLAIMS] = claims
    if extra_protected:
        header.update(extra_protected)
    protected = cbor2.dumps(header)
    signature = _sign_raw(key, chosen, sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(cbor.TAG_COSE_SIGN1, [protected, {}, payload, signature]))


@dataclass(frozen=True)
class Verified:
    """A COSE_Sign1 envelope whose signature checked, and the trust anchor that checked it."""

    envelope: Sign1
    anchor: TrustAnchor


def _content_type_ok(ctype: str | int | None, expected: str) -> bool:
    if not isinstance(ctype, str):
        return False
    base = ctype.split(";", 1)[0].strip().lower()
    return base == expected


def verify(
    data: bytes | Sign1,
    trust_anchors: Sequence[TrustAnchor],
    *,
    at: datetime,
    content_type: str = CONTENT_TYPE,
) -> Verified:
    """Check a COSE_Sign1 CoRIM against ``trust_anchors`` at time ``at``; return the envelope.

    ``content_type`` is the kind of document expected (a device policy is signed with the same
    keys under its own content type, so neither can pass for the other)."""
    envelope = data if isinstance(data, Sign1) else parse_sign1(data)
    header = envelope.header
    if header.alg not in ALGORITHMS:
        raise VerificationError(
            Code.REFVALUES_ALG_UNSUPPORTED,
            "the protected header names a COSE algorithm ccverify does not accept (ES256, ES384, EdDSA)",
            expected=sorted(ALGORITHMS.values()),
            actual=header.alg,
        )
    if not trust_anchors:
        raise InputError("no trust anchor given to verify signed reference values")
    # the kid is a hint: it selects the anchor when it names one; otherwise every anchor is tried
    named = [a for a in trust_anchors if header.kid is not None and a.kid == header.kid]
    candidates = named or list(trust_anchors)
    fitting = [a for a in candidates if _alg_fits(header.alg, a.key)]
    message = envelope.to_be_signed()
    anchor = next((a for a in fitting if _verify_raw(a.key, header.alg, message, envelope.signature)), None)
    if anchor is None:
        if header.kid is not None and not named and len(header.kid) == 32:
            # ccverify's key id form: the signer named a key that is not a trust anchor
            raise VerificationError(
                Code.REFVALUES_WRONG_KEY,
                "the reference values are signed by a key that is not among the trust anchors",
                expected=[a.kid for a in trust_anchors],
                actual=header.kid,
            )
        if not fitting:
            raise VerificationError(
                Code.REFVALUES_ALG_MISMATCH,
                f"the protected header says {ALGORITHMS[header.alg]}, "
                "which does not fit the trust anchor's key type",
                expected=", ".join(sorted({a.key_type for a in candidates})),
                actual=ALGORITHMS[header.alg],
            )
        raise VerificationError(
            Code.REFVALUES_SIGNATURE_INVALID,
            "the COSE_Sign1 signature does not verify: the reference values or their header were altered"
            + ("" if named else ", or they were signed by a key that is not a trust anchor"),
        )
    if not _content_type_ok(header.content_type, content_type):
        raise VerificationError(
            Code.REFVALUES_BAD_CONTENT_TYPE,
            "the protected header's content type is not a CoRIM"
            if content_type == CONTENT_TYPE
            else f"the protected header's content type is not {content_type}",
            expected=content_type,
            actual=header.content_type,
        )
    check_window(header.not_before, header.not_after, at, "signature")
    if anchor.certificate is not None:
        cert = anchor.certificate
        check_window(cert.not_valid_before_utc, cert.not_valid_after_utc, at, "trust anchor certificate")
    return Verified(envelope, anchor)


def check_window(not_before: datetime | None, not_after: datetime | None, at: datetime, what: str) -> None:
    at = as_utc(at)
    not_before = None if not_before is None else as_utc(not_before)
    not_after = None if not_after is None else as_utc(not_after)
    if not_before is not None and at < not_before:
        raise VerificationError(
            Code.REFVALUES_NOT_YET_VALID,
            f"the {what} is not valid yet at {iso8601(at)}",
            expected=f">= {iso8601(not_before)}",
            actual=iso8601(at),
        )
    if not_after is not None and at > not_after:
        raise VerificationError(
            Code.REFVALUES_EXPIRED,
            f"the {what} expired before {iso8601(at)}",
            expected=f"<= {iso8601(not_after)}",
            actual=iso8601(at),
        )
