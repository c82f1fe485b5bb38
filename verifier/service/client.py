"""A client of the relying-party service (requests only: the guest imports it, never the service).

The guest's remote flow is a few lines::

    from ccverify.verifier.release import binding, sealing
    from ccverify.verifier.service.client import RelyingPartyClient

    rp = RelyingPartyClient("https://rp.example:8443", verify="rp-ca.pem")
    key = sealing.generate_key()
    challenge = rp.challenge("tdx")
    quote = get_quote(binding.report_data(challenge.nonce, key.public_bytes))  # configfs-tsm
    answer = rp.attest(challenge, quote, key, event_log=ccel)
    release = answer.open(key)        # ReleasePayload(device_policy, secrets); refused unless affirming

``answer.claims(jwks)`` checks the EAR JWT's signature against the service's JWKS (fetch it
once with ``rp.jwks()`` and pin it) and its ``eat_nonce`` against the challenge.
HTTP refusals become the library's typed errors (``VerificationError`` with the service's
code, ``InputError`` for 400); a network failure is a ``CollateralError`` (exit 3: unavailable).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from ccverify.verifier.errors import Code, CollateralError, InputError, VerificationError
from ccverify.verifier.release import sealing

_CODES = frozenset(member.value for member in Code)


@dataclass(frozen=True)
class Challenge:
    nonce: bytes
    tee: str
    expires_at: str


@dataclass(frozen=True)
class Answer:
    """The service's answer to an attestation."""

    nonce: bytes
    affirming: bool
    result: str
    sealed: bytes | None

    def open(self, key: sealing.ReleaseKey) -> sealing.ReleasePayload:
        """Open the sealed release with the guest's key (this session's nonce and token)."""
        if not self.affirming or self.sealed is None:
            raise VerificationError(
                "result_not_affirming",
                "the relying party's attestation result is not affirming: nothing was released"
                + self._reasons(),
            )
        return sealing.open_release(self.sealed, key, self.nonce, self.result)

    def _reasons(self) -> str:
        """The result token's reason codes, for the console (read, not trusted: unverified)."""
        try:
            from ccverify.verifier.result import reason_codes

            codes = reason_codes(_claims(self.result))
        except Exception:  # a token that does not parse adds nothing to the message
            return ""
        return f" (the result's reasons, unverified: {'; '.join(codes)})" if codes else ""

    def claims(self, jwks: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The EAR claims; with ``jwks``, only after checking the signature and ``eat_nonce``."""
        return (
            verify_result(self.result, jwks, nonce=self.nonce) if jwks is not None else _claims(self.result)
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise VerificationError("result_malformed", "the result token is not a compact JWS") from None


def _claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationError("result_malformed", "the result token is not a compact JWS")
    try:
        claims = json.loads(_b64url(parts[1]))
    except ValueError:
        raise VerificationError("result_malformed", "the result token's claims are not JSON") from None
    if not isinstance(claims, dict):
        raise VerificationError("result_malformed", "the result token's claims are not an object")
    return claims


def verify_result(token: str, jwks: Mapping[str, Any], *, nonce: bytes | None = None) -> dict[str, Any]:
    """Check an EAR JWT (ES256/ES384) against a JWKS; return its claims."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from ccverify.verifier.ecdsa import ecdsa

    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationError("result_malformed", "the result token is not a compact JWS")
    try:
        header = json.loads(_b64url(parts[0]))
    except ValueError:
        raise VerificationError("result_malformed", "the result token's header is not JSON") from None
    algs = {
        "ES256": (ec.SECP256R1(), "P-256", 32, hashes.SHA256()),
        "ES384": (ec.SECP384R1(), "P-384", 48, hashes.SHA384()),
    }
    if not isinstance(header, dict) or header.get("alg") not in algs:
        raise VerificationError("result_alg_refused", "the result token is not ES256 or ES384")
    curve, crv, size, digest = algs[header["alg"]]
    keys = [
        k
        for k in jwks.get("keys", [])
        if isinstance(k, dict) and k.get("kid") == header.get("kid") and k.get("crv") == crv
    ]
    if not keys:
        raise VerificationError("result_key_unknown", "the result token's kid is not in the service's JWKS")
    try:
        x = int.from_bytes(_b64url(keys[0]["x"]), "big")
        y = int.from_bytes(_b64url(keys[0]["y"]), "big")
        public = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    except (KeyError, ValueError, TypeError):
        raise VerificationError("result_key_unknown", "the JWKS key is not a valid EC key") from None
    signature = _b64url(parts[2])
    if len(signature) != 2 * size:
        raise VerificationError("result_signature_invalid", "the result token's signature has the wrong size")
    der = encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )
    try:
        public.verify(der, f"{parts[0]}.{parts[1]}".encode(), ecdsa(digest))
    except InvalidSignature:
        raise VerificationError(
            "result_signature_invalid", "the result token's signature does not verify"
        ) from None
    claims = _claims(token)
    if nonce is not None and claims.get("eat_nonce") != base64.urlsafe_b64encode(nonce).rstrip(b"=").decode():
        raise VerificationError("result_nonce_mismatch", "the result token was issued for another challenge")
    return claims


#: how many keys a pinned JWKS may hold
MAX_JWKS_KEYS = 16
_JWK_CURVES = {"P-256": 32, "P-384": 48}


def load_jwks(data: bytes, name: str) -> dict[str, Any]:
    """A relying party's result-signing keys as its ``/.well-known/jwks.json`` gives them, checked:
    a JSON object whose ``keys`` is a non-empty array (at most ``MAX_JWKS_KEYS``) of EC keys
    (``kty`` EC, ``crv`` P-256 or P-384, ``x``/``y`` a point on that curve, a ``kid``, no private
    part). ``InputError`` names the file and the member that is wrong."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise InputError(f"{name}: not JSON (a JWKS, as /.well-known/jwks.json serves it)") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise InputError(f"{name}: keys: a non-empty array of keys (an empty allow-list pins nothing)")
    if len(keys) > MAX_JWKS_KEYS:
        raise InputError(f"{name}: keys: at most {MAX_JWKS_KEYS} keys, got {len(keys)}")
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
    for index, key in enumerate(keys):
        where = f"{name}: keys[{index}]"
        if not isinstance(key, dict):
            raise InputError(f"{where}: a JSON object")
        if key.get("kty") != "EC" or key.get("crv") not in _JWK_CURVES:
            got = f"{key.get('kty')!r} {key.get('crv')!r}"
            raise InputError(f"{where}: an EC key on P-256 or P-384 (kty, crv), got {got}")
        if "d" in key:
            raise InputError(f"{where}: holds a private key (d): pin the public JWKS only")
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise InputError(f"{where}.kid: a non-empty string (result tokens name their key by it)")
        size = _JWK_CURVES[key["crv"]]
        coordinates = []
        for member in ("x", "y"):
            value = key.get(member)
            raw = _b64url_strict(value) if isinstance(value, str) else None
            if raw is None or len(raw) != size:
                raise InputError(f"{where}.{member}: {size} bytes, base64url without padding")
            coordinates.append(int.from_bytes(raw, "big"))
        try:
            ec.EllipticCurvePublicNumbers(coordinates[0], coordinates[1], curves[key["crv"]]).public_key()
        except ValueError:
            raise InputError(f"{where}: x, y is not a point on {key['crv']}") from None
    return {"keys": [dict(key) for key in keys]}


def _b64url_strict(text: str) -> bytes | None:
    if not text or "=" in text or not all(c.isalnum() or c in "-_" for c in text) or not text.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def trim_event_log(log: bytes) -> bytes:
    """The event log without the padding after its last event (a CCEL is its whole ACPI area,
    typically 64 KiB of which a few KiB are events): the padding is no evidence, and sending it
    costs the guest, the network and the service a base64 round trip of 60 KiB. A log that does
    not parse is sent as it is (the service says what is wrong with it)."""
    from ccverify.verifier.errors import ParseError
    from ccverify.verifier.evidence.eventlog import EventLog

    try:
        padding = EventLog.from_bytes(log).padding
    except ParseError:
        return log
    return log[: len(log) - padding] if padding else log


def _reason(error: requests.RequestException) -> str:
    """The cause of a failed request in a few words (not urllib3's nested repr)."""
    if isinstance(error, requests.Timeout):
        return "timed out"
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower() if cause.strerror else str(cause)
        cause = cause.__cause__ or cause.__context__
    text = str(error)
    return text if len(text) <= 160 else text[:157] + "..."


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (its delta-seconds form; a date is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None


class RelyingPartyClient:
    """HTTP client of ``ccverify serve``; ``verify`` is requests' (True, False or a CA bundle path)."""

    def __init__(
        self,
        url: str,
        *,
        verify: bool | str = True,
        timeout: float = 30.0,
        admin_token: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.verify = verify
        self.timeout = timeout
        self.admin_token = admin_token
        self.session = session or requests.Session()

    def close(self) -> None:
        """Close the connections kept alive (a server's graceful shutdown waits for them)."""
        self.session.close()

    # -------------------------------------------------------------------- guest side

    def challenge(self, tee: str) -> Challenge:
        body = self._call("POST", "/v1/challenge", json_body={"tee": tee})
        try:
            return Challenge(base64.b64decode(body["nonce"], validate=True), tee, str(body["expires_at"]))
        except (KeyError, TypeError, binascii.Error, ValueError):
            raise VerificationError("response_malformed", "the challenge answer has no valid nonce") from None

    def attest(
        self,
        challenge: Challenge | bytes,
        evidence: bytes,
        key: sealing.ReleaseKey | bytes,
        *,
        tee: str | None = None,
        event_log: bytes | None = None,
        snp_certs: bytes | None = None,
        hpke_suite: str | None = None,
    ) -> Answer:
        """POST /v1/attest; ``challenge`` is a ``Challenge`` (or a raw nonce with ``tee``)."""
        if isinstance(challenge, Challenge):
            nonce, tee = challenge.nonce, tee or challenge.tee
        else:
            nonce = challenge
        if tee is None:
            raise InputError("attest: which TEE (tdx or snp) the evidence is from")
        public = key.public_bytes if isinstance(key, sealing.ReleaseKey) else key
        suite = hpke_suite or (key.suite if isinstance(key, sealing.ReleaseKey) else None)
        document: dict[str, Any] = {
            "nonce": _b64(nonce),
            "tee": tee,
            "evidence": _b64(evidence),
            "hpke_public_key": _b64(public),
        }
        if event_log is not None:
            document["event_log"] = _b64(trim_event_log(event_log))
        if snp_certs is not None:
            document["snp_certs"] = _b64(snp_certs)
        if suite is not None and suite != sealing.DEFAULT_SUITE:
            document["hpke_suite"] = suite
        body = self._call("POST", "/v1/attest", json_body=document)
        try:
            sealed = body["sealed"]
            return Answer(
                nonce,
                bool(body["affirming"]),
                str(body["result"]),
                None if sealed is None else base64.b64decode(sealed, validate=True),
            )
        except (KeyError, TypeError, binascii.Error, ValueError):
            raise VerificationError("response_malformed", "the attestation answer is malformed") from None

    def jwks(self) -> dict[str, Any]:
        return self._call("GET", "/.well-known/jwks.json")

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/healthz")

    # -------------------------------------------------------------------- operator side

    def put_reference_values(self, signed_corim: bytes) -> dict[str, Any]:
        return self._call(
            "PUT", "/v1/admin/reference-values", data=signed_corim, admin=True, media="application/cbor"
        )

    def put_device_policy(self, name: str, signed_policy: bytes) -> dict[str, Any]:
        return self._call(
            "PUT",
            f"/v1/admin/device-policies/{name}",
            data=signed_policy,
            admin=True,
            media="application/cose",
        )

    def put_secret(self, name: str, value: bytes) -> dict[str, Any]:
        return self._call("PUT", f"/v1/admin/secrets/{name}", data=value, admin=True)

    def put_release_rule(
        self,
        name: str,
        reference_values: str,
        *,
        device_policy: str | None = None,
        secrets: list[str] | None = None,
    ) -> dict[str, Any]:
        rule = {
            "reference_values": reference_values,
            "device_policy": device_policy,
            "secrets": secrets or [],
        }
        return self._call("PUT", f"/v1/admin/release-rules/{name}", json_body=rule, admin=True)

    def audit(self, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        params = {"after": str(after)} if limit is None else {"after": str(after), "limit": str(limit)}
        entries = self._call("GET", "/v1/admin/audit", admin=True, params=params).get("entries", [])
        return list(entries)

    # -------------------------------------------------------------------- plumbing

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        admin: bool = False,
        media: str = "application/octet-stream",
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {}
        if admin:
            if not self.admin_token:
                raise InputError("the admin API needs an admin token")
            headers["Authorization"] = f"Bearer {self.admin_token}"
        if data is not None:
            headers["Content-Type"] = media
        try:
            response = self.session.request(
                method, self.url + path, json=json_body, data=data, headers=headers, params=params,
                timeout=self.timeout, verify=self.verify,
            )  # fmt: skip
        except requests.RequestException as error:
            raise CollateralError(
                f"relying party {self.url} unreachable: {_reason(error)}", missing=self.url + path
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            return body
        code = body.get("error") if isinstance(body, dict) else None
        detail = body.get("detail") if isinstance(body, dict) else response.text[:200]
        if response.status_code >= 500 or response.status_code == 429:
            raise CollateralError(
                f"relying party answered {response.status_code}: {detail}",
                missing=self.url + path,
                status=response.status_code,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code in (400, 413):
            raise InputError(f"relying party refused the request ({code or response.status_code}): {detail}")
        detail = str(detail).removeprefix(f"{code}: ")
        known = code if isinstance(code, str) and code in _CODES else Code.RELYING_PARTY_REFUSED
        raise VerificationError(known, f"relying party ({response.status_code} {code}): {detail}")
