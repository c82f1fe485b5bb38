"""HPKE-sealed release (RFC 9180): the only form in which released resources leave the service.

A guest makes a key pair (``generate_key``), binds its public key into REPORT_DATA
(``binding.report_data``) and sends it with the evidence. When, and only when, the appraisal
issued an affirming ``AttestationResult``, the relying party seals the release payload to that
key (``seal_release``); the guest opens it with its private key (``open_release``). The HPKE
``info`` is ``"ccverify/v1 release" || nonce || SHA-256(result JWT)``, so a sealed release
opens only in the session (nonce) and beside the result token it was issued with.

Suites (base mode, single shot; ``cryptography``'s native ``hpke``, >= 47):

- ``mlkem768-x25519`` (default): the post-quantum hybrid ML-KEM-768 + X25519 (X-Wing),
  HKDF-SHA256, AES-256-GCM. Public key as X-Wing encodes it: the ML-KEM-768 encapsulation key
  (1184 bytes) then the X25519 key (32 bytes), 1216 bytes.
- ``p384``: DHKEM(P-384, HKDF-SHA384), HKDF-SHA384, AES-256-GCM; the public key an uncompressed
  SEC1 point (97 bytes).

The plaintext is JSON ``{"device_policy": "<base64 COSE>"|null, "secrets": {"<name>": "<base64>"}}``
(standard base64). This module imports nothing of the service: the guest opens with it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519

from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.jsonable import JSON_ERRORS

if TYPE_CHECKING:
    from datetime import datetime

    from ccverify.verifier.result import AttestationResult

INFO_PREFIX = b"ccverify/v1 release"
DEFAULT_SUITE = "mlkem768-x25519"

_MLKEM768_PUBLIC = 1184
_X25519_PUBLIC = 32
_P384_POINT = 97

PrivateKey = hpke.MLKEM768X25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = hpke.MLKEM768X25519PublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class SuiteInfo:
    """One supported HPKE suite: its name on the wire, its algorithms and key sizes."""

    name: str
    kem: hpke.KEM
    kdf: hpke.KDF
    aead: hpke.AEAD
    public_key_size: int
    enc_size: int

    @property
    def hpke(self) -> hpke.Suite:
        return hpke.Suite(self.kem, self.kdf, self.aead)


SUITES: Mapping[str, SuiteInfo] = {
    "mlkem768-x25519": SuiteInfo(
        "mlkem768-x25519",
        hpke.KEM.MLKEM768_X25519,
        hpke.KDF.HKDF_SHA256,
        hpke.AEAD.AES_256_GCM,
        _MLKEM768_PUBLIC + _X25519_PUBLIC,
        1120,
    ),
    "p384": SuiteInfo("p384", hpke.KEM.P384, hpke.KDF.HKDF_SHA384, hpke.AEAD.AES_256_GCM, _P384_POINT, 97),
}
_AEAD_TAG = 16


def suite(name: str | None) -> SuiteInfo:
    """The suite called ``name`` (None: the default); an unknown name is an ``InputError``."""
    chosen = SUITES.get(DEFAULT_SUITE if name is None else name)
    if chosen is None:
        raise InputError(f"unknown HPKE suite {name!r}: expected one of {', '.join(SUITES)}")
    return chosen


@dataclass(frozen=True)
class ReleaseKey:
    """A guest's release key pair; ``public_bytes`` is what it binds into REPORT_DATA."""

    suite: str
    private_key: PrivateKey = field(repr=False)
    public_bytes: bytes
    #: the private key in raw form: the ML-KEM-768 seed (64) || the X25519 key (32); or the
    #: P-384 scalar (48, big-endian)
    private_bytes: bytes = field(repr=False)

    @classmethod
    def from_private_bytes(cls, suite_name: str, data: bytes) -> ReleaseKey:
        info = suite(suite_name)
        try:
            if info.name == "p384":
                if len(data) != 48:
                    raise ValueError("a P-384 scalar is 48 bytes")
                return _p384_key(ec.derive_private_key(int.from_bytes(data, "big"), ec.SECP384R1()))
            if len(data) != 96:
                raise ValueError("an ML-KEM-768 seed (64) and an X25519 key (32) are 96 bytes")
            return _xwing_key(
                mlkem.MLKEM768PrivateKey.from_seed_bytes(data[:64]),
                x25519.X25519PrivateKey.from_private_bytes(data[64:]),
            )
        except ValueError as error:
            raise InputError(f"{info.name} private key: {error}") from None


def generate_key(suite_name: str | None = None) -> ReleaseKey:
    """A fresh release key pair for the suite (default: the ML-KEM-768 + X25519 hybrid)."""
    info = suite(suite_name)
    if info.name == "p384":
        return _p384_key(ec.generate_private_key(ec.SECP384R1()))
    return _xwing_key(mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate())


def _xwing_key(kem: mlkem.MLKEM768PrivateKey, dh: x25519.X25519PrivateKey) -> ReleaseKey:
    public = kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw()
    raw = kem.private_bytes_raw() + dh.private_bytes_raw()
    return ReleaseKey("mlkem768-x25519", hpke.MLKEM768X25519PrivateKey(kem, dh), public, raw)


def _p384_key(key: ec.EllipticCurvePrivateKey) -> ReleaseKey:
    from cryptography.hazmat.primitives import serialization

    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    raw = key.private_numbers().private_value.to_bytes(48, "big")
    return ReleaseKey("p384", key, public, raw)


def load_public_key(suite_name: str | None, data: bytes) -> PublicKey:
    """The HPKE public key for ``suite_name`` from its wire bytes; bad bytes are an ``InputError``.

    Memoized by content (the relying party checks a key on arrival and seals to it moments
    later; ML-KEM key validation is the costly part)."""
    return _load_public_key(suite(suite_name).name, bytes(data))


@functools.lru_cache(maxsize=256)
def _load_public_key(suite_name: str, data: bytes) -> PublicKey:
    info = suite(suite_name)
    if len(data) != info.public_key_size:
        raise InputError(
            f"hpke_public_key: a {info.name} public key is {info.public_key_size} bytes, got {len(data)}"
        )
    try:
        if info.name == "p384":
            if data[0] != 4:
                raise ValueError("not an uncompressed SEC1 point")
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), data)
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(data[:_MLKEM768_PUBLIC]),
            x25519.X25519PublicKey.from_public_bytes(data[_MLKEM768_PUBLIC:]),
        )
    except ValueError as error:
        raise InputError(f"hpke_public_key: not a valid {info.name} public key ({error})") from None


def release_info(nonce: bytes, result_jwt: str | bytes) -> bytes:
    """HPKE ``info``: "ccverify/v1 release" || nonce || SHA-256(result JWT)."""
    token = result_jwt.encode("ascii") if isinstance(result_jwt, str) else result_jwt
    return INFO_PREFIX + nonce + hashlib.sha256(token).digest()


@dataclass(frozen=True)
class ReleasePayload:
    """What a release carries: the guest's signed device policy (COSE, as its owner signed it)
    and its secrets by name."""

    device_policy: bytes | None = None
    secrets: Mapping[str, bytes] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        document = {
            "device_policy": None if self.device_policy is None else _b64(self.device_policy),
            "secrets": {name: _b64(value) for name, value in sorted(self.secrets.items())},
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReleasePayload:
        try:
            document = json.loads(data)
        except JSON_ERRORS:
            raise InputError("release payload: not valid JSON") from None
        if not isinstance(document, dict) or set(document) != {"device_policy", "secrets"}:
            raise InputError("release payload: expected an object with 'device_policy' and 'secrets'")
        policy = document["device_policy"]
        secrets = document["secrets"]
        if policy is not None and not isinstance(policy, str):
            raise InputError("release payload: 'device_policy' must be base64 text or null")
        if not isinstance(secrets, dict) or not all(isinstance(v, str) for v in secrets.values()):
            raise InputError("release payload: 'secrets' must map names to base64 text")
        return cls(
            None if policy is None else _unb64(policy, "device_policy"),
            {name: _unb64(value, f"secrets.{name}") for name, value in secrets.items()},
        )


def seal(plaintext: bytes, public_key: bytes, info: bytes, suite_name: str | None = None) -> bytes:
    """HPKE base-mode single shot: enc || ciphertext, sealed to ``public_key``."""
    chosen = suite(suite_name)
    return chosen.hpke.encrypt(plaintext, load_public_key(chosen.name, public_key), info=info)


def open_sealed(sealed: bytes, key: ReleaseKey, info: bytes) -> bytes:
    """Open what ``seal`` made; any failure is a ``VerificationError`` with a stable code."""
    chosen = suite(key.suite)
    if len(sealed) < chosen.enc_size + _AEAD_TAG:
        raise VerificationError(
            "release_malformed",
            f"a {chosen.name} sealed release is at least {chosen.enc_size + _AEAD_TAG} bytes",
            actual=len(sealed),
        )
    try:
        return chosen.hpke.decrypt(sealed, key.private_key, info=info)
    except (InvalidTag, ValueError):
        raise VerificationError(
            "release_unopenable",
            "the sealed release does not open with this key in this session: sealed to another key, "
            "issued for another nonce or result token (a replay), or tampered with",
        ) from None


def seal_release(
    result: AttestationResult,
    result_jwt: str,
    nonce: bytes,
    payload: ReleasePayload,
    public_key: bytes,
    suite_name: str | None = None,
    *,
    at: datetime | None = None,
) -> bytes:
    """Seal ``payload`` for an issued, affirming ``result`` (``require_affirming``, at ``at``);
    anything else releases nothing (``VerificationError``: ``result_not_issued``,
    ``result_not_affirming``, ``result_expired``)."""
    from ccverify.verifier.result import require_affirming

    require_affirming(result, at=at)
    return seal(payload.to_bytes(), public_key, release_info(nonce, result_jwt), suite_name)


def open_release(sealed: bytes, key: ReleaseKey, nonce: bytes, result_jwt: str) -> ReleasePayload:
    """The guest's side: open a release sealed to ``key`` for ``nonce`` and ``result_jwt``."""
    return ReleasePayload.from_bytes(open_sealed(sealed, key, release_info(nonce, result_jwt)))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"release payload: {what} is not standard base64") from None


def describe(payload: ReleasePayload) -> dict[str, Any]:
    """What a release holds, without any secret byte: names and sizes only."""
    return {
        "device_policy": None if payload.device_policy is None else len(payload.device_policy),
        "secrets": {name: len(value) for name, value in sorted(payload.secrets.items())},
    }
