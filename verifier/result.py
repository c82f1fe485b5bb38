"""Attestation results in the shape of an EAR (draft-ietf-rats-ear): status, trust vector, reasons.

Only ``verifier.appraisal.appraise`` issues results, and the release layer accepts nothing but
an issued, affirming ``AttestationResult`` (never a boolean): it calls ``require_affirming``.
Two things make "issued" hold for exactly what appraisal produced:

* the constructor demands a private token, so code elsewhere cannot build a result at all;
* ``_issue`` seals the result: an HMAC, under a key made when this module is imported, over
  every field's exact content. ``dataclasses.replace`` (which copies the token) leaves the
  seal behind, and changing any field afterwards breaks it, so ``issued`` is False for both.

This guards against mistakes (a result rebuilt, edited or deserialized by code that should
not decide), not against code in the same process that reads the module's private key.

JSON uses the 2026 draft's claim names (``ear_status``, ``ear_trustworthiness_vector``);
the JWT form is ES256 or ES384, its key named by ``kid`` in the issuer's JWKS (Trustee's
self-certifying ``jwk`` header only on request).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import hashlib
import hmac
import io
import json
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ccverify.verifier.ecdsa import ecdsa
from ccverify.verifier.errors import Code, VerificationError
from ccverify.verifier.jsonable import iso8601, to_jsonable
from ccverify.verifier.timeutil import resolve_time
from ccverify.verifier.version import __version__

EAR_PROFILE = "tag:ietf.org,2026:rats/ear#03"
#: EAR ``ear.verifier-id``: the build is the package's version (``verifier/version.py``)
VERIFIER_ID = {"developer": "ccverify", "build": f"ccverify {__version__}"}

_ISSUER_TOKEN = object()
#: the key of the issuance seals (``_seal_of``); new in every process, never leaves it
_SEAL_KEY = os.urandom(32)  # (secrets.token_bytes: the same, but secrets imports random)


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
    #: the appraisal's time (EAR ``iat``): by default the time the evidence was verified at
    issued_at: datetime
    evidence_sha256: str
    policy_ids: tuple[str, ...] = ()
    reference_values_id: str | None = None
    root: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    #: the earliest time a piece of the verdict's collateral (TCB info, QE identity, CRLs,
    #: certificates) stops being valid (EAR ``exp``); None when the verdict records none
    expires_at: datetime | None = None
    #: the time the evidence itself was verified at (the verdict's ``at``)
    evidence_verified_at: datetime | None = None
    _token: object = field(default=None, repr=False, compare=False, metadata={"json": False})
    #: set by ``_issue`` only: an init=False field, so ``dataclasses.replace`` cannot carry it over
    _seal: bytes = field(default=b"", init=False, repr=False, compare=False, metadata={"json": False})

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
        # tier_of is monotone in a value's magnitude: the worst tier is the largest magnitude's
        return tier_of(max(map(abs, self.trust_vector.values())))

    @property
    def affirming(self) -> bool:
        return self.status is Tier.AFFIRMING

    @property
    def issued(self) -> bool:
        """True only for a result exactly as ``appraise`` issued it (see the module docstring)."""
        return bool(self._seal) and hmac.compare_digest(self._seal, _seal_of(self))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "eat_profile": EAR_PROFILE,
            "iat": int(self.issued_at.timestamp()),
        }
        if self.expires_at is not None:
            out["exp"] = int(self.expires_at.timestamp())
        status = self.status.name.lower()
        return out | {
            "ear_verifier_id": VERIFIER_ID,
            "ear_status": status,
            "submods": {
                self.evidence_kind: {
                    "ear_status": status,
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
            "ccverify_expires_at": None if self.expires_at is None else iso8601(self.expires_at),
            "ccverify_evidence_verified_at": None
            if self.evidence_verified_at is None
            else iso8601(self.evidence_verified_at),
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

        The claims are ``to_json()``'s, plus ``iss`` and ``eat_nonce`` (the nonce, base64url
        without padding as EAT's JSON encoding has byte strings) when given; ``exp`` given
        replaces the result's own (its collateral's earliest expiry) with the token's.
        The header names the key by ``kid`` (published in the issuer's JWKS); a self-certifying
        ``jwk`` header (Trustee's way: it proves nothing by itself) only with ``embed_jwk``.
        """
        params = _JWS_PARAMS.get(type(key.curve))
        if params is None:
            raise ValueError("EAR JWTs are signed with ES256 (P-256) or ES384 (P-384)")
        alg, size, digest = params
        if embed_jwk:
            header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
            if kid is not None:
                header["kid"] = kid
            header["jwk"] = public_jwk(key.public_key())
            segment = _b64(_dumps(header))
        else:
            segment = _header_segment(alg, kid)
        claims = self.to_json()
        if iss is not None:
            claims["iss"] = iss
        if exp is not None:
            claims["exp"] = int(exp.timestamp())
        if nonce is not None:
            claims["eat_nonce"] = _b64(nonce)
        signing_input = segment + "." + _b64(_dumps(claims))
        der = key.sign(signing_input.encode(), ecdsa(digest))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64(r.to_bytes(size, "big") + s.to_bytes(size, "big"))


#: curve -> (JWS alg, coordinate size, hash)
_JWS_PARAMS: dict[type[ec.EllipticCurve], tuple[str, int, hashes.HashAlgorithm]] = {
    ec.SECP256R1: ("ES256", 32, hashes.SHA256()),
    ec.SECP384R1: ("ES384", 48, hashes.SHA384()),
}
_JWK_CURVES = {ec.SECP256R1: ("P-256", 32), ec.SECP384R1: ("P-384", 48)}


@functools.lru_cache(maxsize=64)
def _header_segment(alg: str, kid: str | None) -> str:
    """The JWS header's base64url segment for ``alg`` and ``kid`` (no ``jwk``): a function of
    the two, made once per signing configuration."""
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return _b64(_dumps(header))


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
    expires_at: datetime | None = None,
    evidence_verified_at: datetime | None = None,
) -> AttestationResult:
    """Create and seal a result; only the appraisal module calls this."""
    result = AttestationResult(
        evidence_kind=evidence_kind,
        trust_vector=MappingProxyType(dict(trust_vector)),
        reasons=tuple(reasons),
        issued_at=issued_at,
        evidence_sha256=hashlib.sha256(evidence).hexdigest(),
        policy_ids=tuple(policy_ids),
        reference_values_id=reference_values_id,
        root=root,
        claims=MappingProxyType(dict(claims or {})),
        expires_at=expires_at,
        evidence_verified_at=evidence_verified_at,
        _token=_ISSUER_TOKEN,
    )
    object.__setattr__(result, "_seal", _seal_of(result))
    return result


def _seal_of(result: AttestationResult) -> bytes:
    """HMAC over every field but the token and the seal, in a canonical form (``_sealed_bytes``:
    times with their full precision, so no two distinct results share a form). It is computed
    twice per release (at issue and by ``issued``)."""
    return hmac.digest(_SEAL_KEY, _sealed_bytes(result), "sha256")


def _sealed_bytes(result: AttestationResult) -> bytes:
    """The sealed form: the fields' values in declaration order, each tagged with how it is
    written, pickled (protocol 5, without the memo, so a form depends on values only, never on
    which objects are shared; nothing is ever unpickled).

    The types appraisal issues are written here: a mapping proxy as ``("M", its items)``, a
    datetime as ``("D", its ISO form)``, a tuple of ``Reason`` as ``("R", each one's fields)``;
    any other value as ``("X", value)``. Pickle writes ``None``, booleans and exact ``int``,
    ``float``, ``str``, ``bytes``, ``list``, ``tuple``, ``dict``, ``set`` and ``frozenset`` as
    themselves, every other object as a call of ``_tagged`` on its ``_sealed_form`` (tagged with
    its type: a datetime, a mapping's items, a dataclass's fields, bytes, and ``repr`` for the
    rest), which no plain value's form equals: so no two distinct values share a form."""
    form: list[tuple[str, Any]] = []
    for name in _SEALED_FIELDS:
        value = getattr(result, name)
        kind = type(value)
        if kind is MappingProxyType:
            form.append(("M", list(value.items())))
        elif kind is datetime:
            form.append(("D", value.isoformat()))
        elif kind is tuple and all(type(r) is Reason for r in value):
            form.append(("R", [(r.claim, r.code, r.detail, r.expected, r.actual) for r in value]))
        else:
            form.append(("X", value))
    buffer = io.BytesIO()
    pickler = _SealPickler(buffer, protocol=5)
    pickler.fast = True  # no memo: an object written twice is written in full twice
    pickler.dump(form)
    return buffer.getvalue()


def _tagged(form: Any) -> Any:
    """What a tagged value's form is written as a call of (by name: never called)."""
    return form


class _SealPickler(pickle.Pickler):
    """Pickle asks this for every object that is not one of its plain types (``_sealed_bytes``)."""

    def reducer_override(self, obj: Any) -> Any:
        if obj is _tagged:
            return NotImplemented  # the tag itself, written by name
        return _tagged, (_sealed_form(obj),)


def _sealed_form(value: Any) -> Any:
    """The form of a value pickle does not write as itself (``_sealed_bytes``), tagged with its kind."""
    fields_of = _DATACLASS_FIELDS.get(type(value))  # first: a result has a dozen reasons
    if fields_of is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = tuple(f.name for f in dataclasses.fields(value))
        fields_of = _DATACLASS_FIELDS[type(value)] = (type(value).__qualname__, names)
    if fields_of is not None:
        return ["dataclass", fields_of[0], [getattr(value, name) for name in fields_of[1]]]
    if isinstance(value, datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, Mapping):
        return ["mapping", list(value.items())]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["bytes", bytes(value).hex()]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted(repr(v) for v in value)]
    return ["repr", type(value).__qualname__, repr(value)]


#: the sealed fields, in declaration order (every field but the token and the seal itself)
_SEALED_FIELDS = tuple(
    f.name for f in dataclasses.fields(AttestationResult) if f.name not in ("_token", "_seal")
)
_DATACLASS_FIELDS: dict[type, tuple[str, tuple[str, ...]]] = {}
#: ``_sealed_bytes`` writes a Reason's fields itself, in their declaration order
assert tuple(f.name for f in dataclasses.fields(Reason)) == ("claim", "code", "detail", "expected", "actual")


def require_affirming(result: object, *, at: datetime | str | None = None) -> AttestationResult:
    """``result`` when appraisal issued it unchanged and it is affirming; what release calls.

    Raises ``VerificationError``: ``result_not_issued`` (not an ``AttestationResult``, or one
    not exactly as ``appraise`` issued it: rebuilt, ``dataclasses.replace``-d, edited),
    ``result_not_affirming``, or with ``at``, ``result_expired`` when ``at`` is after the
    result's ``expires_at`` (its collateral's earliest expiry) and ``result_not_yet_valid``
    when it is before the result was issued.
    """
    if not isinstance(result, AttestationResult) or not result.issued:
        raise VerificationError(
            Code.RESULT_NOT_ISSUED,
            f"a {type(result).__name__} that appraisal did not issue (or that was changed after it "
            "was) cannot be released",
        )
    if not result.affirming:
        raise VerificationError(
            Code.RESULT_NOT_AFFIRMING,
            f"the attestation result is {result.status.name.lower()}, not affirming",
            expected="affirming",
            actual=result.status.name.lower(),
        )
    if at is not None:
        moment = resolve_time(at)
        if result.expires_at is not None and moment > result.expires_at:
            raise VerificationError(
                Code.RESULT_EXPIRED,
                f"the attestation result's collateral expired at {iso8601(result.expires_at)}",
                expected=iso8601(result.expires_at),
                actual=iso8601(moment),
            )
        if moment < result.issued_at:
            raise VerificationError(
                Code.RESULT_NOT_YET_VALID,
                f"the attestation result was issued at {iso8601(result.issued_at)}, after {iso8601(moment)}",
                expected=iso8601(result.issued_at),
                actual=iso8601(moment),
            )
    return result


def _reason_json(reason: Reason) -> dict[str, Any]:
    out: dict[str, Any] = {"claim": reason.claim, "code": reason.code, "detail": reason.detail}
    if reason.expected is not None:
        out["expected"] = reason.expected
    if reason.actual is not None:
        out["actual"] = reason.actual
    return out


def _dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


#: ``json.dumps(value, separators=(",", ":"), sort_keys=True)``, without the check for a circular
#: reference (what is encoded here is a tree built for it: a cycle would still raise, RecursionError)
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, check_circular=False)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def reason_codes(claims: Mapping[str, Any]) -> list[str]:
    """``claim: code`` of an EAR's reasons that are not ``ok``, from its claims as ``to_json``
    writes them (for a refusal's message)."""
    submods = claims.get("submods") or {}
    if not isinstance(submods, Mapping):
        return []
    return [
        f"{r['claim']}: {r['code']}"
        for sub in submods.values()
        if isinstance(sub, Mapping)
        for r in sub.get("ccverify_reasons", [])
        if isinstance(r, dict) and r.get("code") not in (None, "ok")
    ]
