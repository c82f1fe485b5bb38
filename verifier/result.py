"""Attestation results in the shape of an EAR (draft-ietf-rats-ear): status, trust vector, reasons.

Only ``verifier.appraisal.appraise`` issues results: the constructor demands a private
token, so code elsewhere cannot fabricate an affirming result, and the release layer
accepts nothing but an issued, affirming ``AttestationResult`` (never a boolean).

JSON uses the 2026 draft's claim names (``ear_status``, ``ear_trustworthiness_vector``);
the JWT form is ES256 or ES384, its key named by ``kid`` in the issuer's JWKS (Trustee's
self-certifying ``jwk`` header only on request).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ccverify.verifier.jsonable import iso8601, to_jsonable

EAR_PROFILE = "tag:ietf.org,2026:rats/ear#03"
VERIFIER_ID = {"developer": "ccverify", "build": "ccverify 0.1.0"}

_ISSUER_TOKEN = object()


class Tier(enum.IntEnum):
    """AR4SI trust tiers; the overall status is the worst tier in the vector."""

    NONE = 0
    AFFIRMING = 2
    WARNING = 32
    CONTRAINDICATED = 96


#: trustworthiness-vector claim names (AR4SI), in their registry order
CLAIMS = (
    "instance_identity",
    "configuration",
    "executables",
    "file_system",
    "hardware",
    "runtime_opaque",
    "storage_opaque",
    "sourced_data",
)

# common AR4SI claim values
APPROVED = 2
CRYPTO_FAILED = 99
UNSAFE = 32
CONTRAINDICATED = 96
UNRECOGNIZED = 97


def tier_of(value: int) -> Tier:
    """Map a claim value onto its tier (veraison/ear ranges)."""
    magnitude = abs(value)
    if magnitude <= 1:
        return Tier.NONE
    if magnitude <= 31:
        return Tier.AFFIRMING
    if magnitude <= 95:
        return Tier.WARNING
    return Tier.CONTRAINDICATED


@dataclass(frozen=True)
class Reason:
    """Why a claim got its value: the check, what was expected and what the evidence had."""

    claim: str
    code: str
    detail: str
    expected: str | None = None
    actual: str | None = None


@dataclass(frozen=True)
class AttestationResult:
    """The outcome of appraising one piece of evidence."""

    evidence_kind: str
    trust_vector: Mapping[str, int]
    reasons: tuple[Reason, ...]
    issued_at: datetime
    evidence_sha256: str
    policy_ids: tuple[str, ...] = ()
    reference_values_id: str | None = None
    root: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    _token: object = field(default=None, repr=False, compare=False, metadata={"json": False})

    def __post_init__(self) -> None:
        if self._token is not _ISSUER_TOKEN:
            raise TypeError("AttestationResult is issued by verifier.appraisal.appraise only")
        unknown = set(self.trust_vector) - set(CLAIMS)
        if unknown:
            raise ValueError(f"unknown trust-vector claims: {sorted(unknown)}")

    @property
    def status(self) -> Tier:
        if not self.trust_vector:
            return Tier.NONE
        return max(tier_of(v) for v in self.trust_vector.values())

    @property
    def affirming(self) -> bool:
        return self.status is Tier.AFFIRMING

    @property
    def issued(self) -> bool:
        return self._token is _ISSUER_TOKEN

    def to_json(self) -> dict[str, Any]:
        return {
            "eat_profile": EAR_PROFILE,
            "iat": int(self.issued_at.timestamp()),
            "ear_verifier_id": VERIFIER_ID,
            "ear_status": self.status.name.lower(),
            "submods": {
                self.evidence_kind: {
                    "ear_status": self.status.name.lower(),
                    "ear_trustworthiness_vector": dict(self.trust_vector),
                    "ear_appraisal_policy_ids": list(self.policy_ids),
                    "ccverify_reasons": [_reason_json(r) for r in self.reasons],
                    "ccverify_evidence_sha256": self.evidence_sha256,
                    "ccverify_reference_values": self.reference_values_id,
                    "ccverify_root": self.root,
                    "ccverify_claims": to_jsonable(self.claims),
                }
            },
            "ccverify_issued_at": iso8601(self.issued_at),
        }

    def to_jwt(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        kid: str | None = None,
        iss: str | None = None,
        nonce: bytes | None = None,
        exp: datetime | None = None,
        embed_jwk: bool = False,
    ) -> str:
        """The result as a compact JWS: ES256 with a P-256 key, ES384 with a P-384 key.

        The claims are ``to_json()``'s, plus ``iss``, ``exp`` (seconds) and ``eat_nonce`` (the
        nonce, base64url without padding as EAT's JSON encoding has byte strings) when given.
        The header names the key by ``kid`` (published in the issuer's JWKS); a self-certifying
        ``jwk`` header (Trustee's way: it proves nothing by itself) only with ``embed_jwk``.
        """
        params = _JWS_PARAMS.get(type(key.curve))
        if params is None:
            raise ValueError("EAR JWTs are signed with ES256 (P-256) or ES384 (P-384)")
        alg, size, digest = params
        header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        if embed_jwk:
            header["jwk"] = public_jwk(key.public_key())
        claims = self.to_json()
        if iss is not None:
            claims["iss"] = iss
        if exp is not None:
            claims["exp"] = int(exp.timestamp())
        if nonce is not None:
            claims["eat_nonce"] = _b64(nonce)
        signing_input = _b64(_dumps(header)) + "." + _b64(_dumps(claims))
        der = key.sign(signing_input.encode(), ec.ECDSA(digest))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64(r.to_bytes(size, "big") + s.to_bytes(size, "big"))


#: curve -> (JWS alg, coordinate size, hash)
_JWS_PARAMS: dict[type[ec.EllipticCurve], tuple[str, int, hashes.HashAlgorithm]] = {
    ec.SECP256R1: ("ES256", 32, hashes.SHA256()),
    ec.SECP384R1: ("ES384", 48, hashes.SHA384()),
}
_JWK_CURVES = {ec.SECP256R1: ("P-256", 32), ec.SECP384R1: ("P-384", 48)}


def public_jwk(key: ec.EllipticCurvePublicKey, kid: str | None = None) -> dict[str, str]:
    """The public JWK (RFC 7517) of a P-256 or P-384 key, as a JWKS publishes it."""
    curve = _JWK_CURVES.get(type(key.curve))
    if curve is None:
        raise ValueError("only P-256 and P-384 keys have an EAR JWK here")
    name, size = curve
    numbers = key.public_numbers()
    jwk = {
        "kty": "EC",
        "crv": name,
        "x": _b64(numbers.x.to_bytes(size, "big")),
        "y": _b64(numbers.y.to_bytes(size, "big")),
    }
    if kid is not None:
        jwk.update({"kid": kid, "use": "sig", "alg": _JWS_PARAMS[type(key.curve)][0]})
    return jwk


def _issue(
    *,
    evidence_kind: str,
    evidence: bytes,
    trust_vector: Mapping[str, int],
    reasons: tuple[Reason, ...],
    issued_at: datetime,
    policy_ids: tuple[str, ...] = (),
    reference_values_id: str | None = None,
    root: str | None = None,
    claims: Mapping[str, Any] | None = None,
) -> AttestationResult:
    """Create a result; only the appraisal module calls this."""
    return AttestationResult(
        evidence_kind=evidence_kind,
        trust_vector=dict(trust_vector),
        reasons=reasons,
        issued_at=issued_at,
        evidence_sha256=hashlib.sha256(evidence).hexdigest(),
        policy_ids=policy_ids,
        reference_values_id=reference_values_id,
        root=root,
        claims=dict(claims or {}),
        _token=_ISSUER_TOKEN,
    )


def _reason_json(reason: Reason) -> dict[str, Any]:
    out: dict[str, Any] = {"claim": reason.claim, "code": reason.code, "detail": reason.detail}
    if reason.expected is not None:
        out["expected"] = reason.expected
    if reason.actual is not None:
        out["actual"] = reason.actual
    return out


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
