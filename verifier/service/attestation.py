"""The relying party's work, without HTTP: challenge, attest (verify, bind, appraise, sign, seal).

``RelyingParty`` is what ``app.py`` exposes over HTTP and what the benchmark runs in process.
Only an issued, affirming ``AttestationResult`` (from ``verifier.appraisal.appraise``, against
reference values an operator uploaded and a release rule names) releases anything; the
release is sealed to the HPKE key the evidence binds (``release.sealing``).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.errors import CollateralError, InputError, VerificationError
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.release import binding, sealing
from ccverify.verifier.result import AttestationResult, public_jwk
from ccverify.verifier.service.config import ServiceConfig
from ccverify.verifier.service.store import Rule, Store

TEES = ("tdx", "snp")
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Challenge:
    nonce: bytes
    tee: str
    expires_at: datetime


@dataclass(frozen=True)
class Attestation:
    """The answer to an attestation: the result, its token, and the sealed release (or None)."""

    affirming: bool
    result: AttestationResult
    token: str
    sealed: bytes | None
    rule: str | None


@dataclass(frozen=True)
class AttestRequest:
    nonce: bytes
    tee: str
    evidence: bytes
    hpke_public_key: bytes
    hpke_suite: str | None = None
    event_log: bytes | None = None
    snp_certs: bytes | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def signing_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise InputError("keys.result_signing_key: not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, (ec.SECP256R1, ec.SECP384R1)
    ):
        raise InputError("keys.result_signing_key: must be a P-256 (ES256) or P-384 (ES384) key")
    return key


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the ``kid`` of the result-signing key."""
    import base64
    import json

    jwk = public_jwk(key)
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class RelyingParty:
    """Challenge and attestation over a ``Store``, as the configuration says."""

    def __init__(self, config: ServiceConfig, *, clock: Clock = utcnow, store: Store | None = None) -> None:
        self.config = config
        self.clock = clock
        self.store = store or Store(config.database, config.storage_key, now=clock().timestamp())
        self.key = signing_key(config.result_signing_key)
        self.kid = key_id(self.key.public_key())
        from ccverify.verifier.refvalues import load_trust_anchors

        self.anchors = load_trust_anchors(list(config.anchors)) if config.anchors else []
        self._roots = _classify_roots(config.roots)
        self._collateral: list[Any] | None = None
        self._rv_cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._last_purge = 0.0
        self._rules: tuple[float, list[Rule]] | None = None
        self._logs: dict[bytes, Any] = {}
        self._payloads: dict[Rule, tuple[float, sealing.ReleasePayload]] = {}
        self.audit = AuditLog(self.store, config.limits.audit_flush_seconds)

    # ------------------------------------------------------------------ public keys

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.key.public_key(), self.kid)]}

    # ------------------------------------------------------------------ challenge

    def challenge(self, tee: str) -> Challenge:
        if tee not in TEES:
            raise InputError(f"tee: expected one of {', '.join(TEES)}")
        now = self.clock()
        limits = self.config.limits
        if now.timestamp() - self._last_purge > 5:
            self._last_purge = now.timestamp()
            self.store.purge_nonces(now.timestamp())
            if (
                limits.outstanding_nonces
                and self.store.outstanding_nonces(now.timestamp()) >= limits.outstanding_nonces
            ):
                raise VerificationError(
                    "too_many_challenges", "too many challenges are outstanding; try again later"
                )
        expires = now + timedelta(seconds=limits.nonce_ttl_seconds)
        nonce = self.store.issue_nonce(tee, expires.timestamp())
        return Challenge(nonce, tee, expires)

    # ------------------------------------------------------------------ attest

    def attest(self, request: AttestRequest) -> Attestation:
        sealing.load_public_key(request.hpke_suite, request.hpke_public_key)  # a bad key costs no nonce
        self._consume(request.nonce, request.tee)
        moment = self.config.verification_time or self.clock()
        verdict = self._verify(request, moment)
        actual = verdict.quote.body.report_data if request.tee == "tdx" else verdict.report.report_data
        binding.check_report_data(actual, request.nonce, request.hpke_public_key)
        candidates = [r for r in self._current_rules() if r.platform == request.tee]
        if not candidates:
            raise VerificationError(
                "no_release_rule", f"no release rule names reference values for {request.tee} evidence"
            )
        from ccverify.verifier.appraisal import appraise

        log = None if request.event_log is None else self._event_log(request.event_log)
        first: tuple[AttestationResult, Rule] | None = None
        for rule in candidates:
            rv = self._reference_values(rule, moment)
            result = appraise(
                verdict,
                rv,
                event_log=log,
                evidence=request.evidence,
                at=moment,
                expected_report_data=actual,
            )
            if first is None:
                first = (result, rule)
            if result.affirming:
                return self._answer(request, result, rule, moment)
        assert first is not None
        return self._answer(request, first[0], None, moment)

    def _answer(
        self, request: AttestRequest, result: AttestationResult, rule: Rule | None, moment: datetime
    ) -> Attestation:
        exp = self.clock() + timedelta(seconds=self.config.limits.result_ttl_seconds)
        if self.config.verification_time is None and result.expires_at is not None:
            exp = min(exp, result.expires_at)  # never past the collateral the result rests on
        token = result.to_jwt(self.key, kid=self.kid, iss=self.config.issuer, nonce=request.nonce, exp=exp)
        if rule is None or not result.affirming:
            return Attestation(False, result, token, None, None)
        payload = self._payload(rule)
        sealed = sealing.seal_release(
            result, token, request.nonce, payload, request.hpke_public_key, request.hpke_suite, at=moment
        )
        return Attestation(True, result, token, sealed, rule.name)

    def _event_log(self, data: bytes) -> Any:
        """The parsed event log, memoized by content: a fleet booting one image sends the same
        log again and again (a parsed log is immutable; appraisal replays it every time)."""
        from ccverify.verifier.evidence.eventlog import EventLog

        parsed = self._logs.get(data)
        if parsed is None:
            parsed = EventLog.from_bytes(data)
            with self._lock:
                if len(self._logs) >= 64:
                    self._logs.clear()
                self._logs[data] = parsed
        return parsed

    def _current_rules(self) -> list[Rule]:
        ttl = self.config.limits.release_cache_seconds
        cached = self._rules
        now = time.monotonic()
        if cached is not None and now - cached[0] < ttl:
            return cached[1]
        rules = self.store.rules()
        self._rules = (now, rules)
        return rules

    def _payload(self, rule: Rule) -> sealing.ReleasePayload:
        ttl = self.config.limits.release_cache_seconds
        now = time.monotonic()
        cached = self._payloads.get(rule)
        if cached is not None and now - cached[0] < ttl:
            return cached[1]
        payload = self._read_payload(rule)
        if ttl > 0:
            if len(self._payloads) > 1024:
                self._payloads.clear()
            self._payloads[rule] = (now, payload)
        return payload

    def forget(self) -> None:
        """Drop the cached rules and resources (after an admin change on this replica)."""
        self._rules = None
        self._payloads.clear()

    def _read_payload(self, rule: Rule) -> sealing.ReleasePayload:
        policy = None
        if rule.device_policy is not None:
            policy = self.store.device_policy(rule.device_policy)
            if policy is None:
                raise VerificationError(
                    "release_incomplete",
                    f"release rule {rule.name!r} names device policy {rule.device_policy!r}, not stored",
                )
        secrets = self.store.secrets(rule.secrets)
        missing = sorted(set(rule.secrets) - set(secrets))
        if missing:
            raise VerificationError(
                "release_incomplete",
                f"release rule {rule.name!r} names secrets that are not stored: {missing}",
            )
        return sealing.ReleasePayload(policy, secrets)

    def _consume(self, nonce: bytes, tee: str) -> None:
        if len(nonce) != binding.NONCE_SIZE:
            raise InputError(f"nonce: a challenge nonce is {binding.NONCE_SIZE} bytes, got {len(nonce)}")
        found = self.store.consume_nonce(nonce)
        if found is None:
            raise VerificationError("nonce_unknown", "the nonce was never issued here, or was already used")
        issued_tee, expires_at = found
        if self.clock().timestamp() >= expires_at:
            raise VerificationError("nonce_expired", "the challenge expired; ask for a new one")
        if not hmac.compare_digest(issued_tee, tee):
            raise VerificationError(
                "nonce_wrong_tee",
                f"the challenge was issued for {issued_tee}",
                expected=issued_tee,
                actual=tee,
            )

    def _verify(self, request: AttestRequest, moment: datetime) -> Any:
        if request.tee == "tdx":
            if request.snp_certs is not None:
                raise InputError("snp_certs: only for SNP evidence")
            return self._verify_tdx(request.evidence, moment)
        if request.event_log is not None:
            raise InputError("event_log: SNP evidence has no event log to replay")
        if request.snp_certs is None:
            raise InputError(
                "snp_certs: SNP evidence needs its certificates (the extended report's table, or PEM)"
            )
        from ccverify.verifier.snp.verify import load_snp_certs, verify_snp

        pem = request.snp_certs.lstrip().startswith(b"-----BEGIN")

        def certs(crl: bytes | None = None) -> Any:
            if pem:
                return load_snp_certs(chain=request.snp_certs, crl=crl)
            return load_snp_certs(table=request.snp_certs, crl=crl)

        root = self._roots.get("snp")
        # the policy is applied by the appraisal, where a refusal becomes a reason in the result
        verdict = verify_snp(request.evidence, certs(), at=moment, trust_root=root, policy=UNSAFE_NO_POLICY)
        if not verdict.crl_checked:
            # the configured KDS CRLs: the one that belongs to this chain checks revocation; without
            # one the verdict says so and the default policy refuses it (not affirming)
            for crl in self.config.snp_crls:
                try:
                    checked = verify_snp(
                        request.evidence, certs(crl), at=moment, trust_root=root, policy=UNSAFE_NO_POLICY
                    )
                except VerificationError as error:
                    if error.code in ("crl_issuer_mismatch", "crl_signature_invalid"):
                        continue  # another chain's CRL
                    raise  # revoked, or this chain's CRL is stale or broken
                if checked.crl_checked:
                    return checked
        return verdict

    def _verify_tdx(self, evidence: bytes, moment: datetime) -> Any:
        from ccverify.verifier.evidence.tdx_quote import TdxQuote
        from ccverify.verifier.tdx.verify import verify_tdx

        quote = TdxQuote.from_bytes(evidence)
        root = self._roots.get("tdx")
        missing: CollateralError | None = None
        for collateral in self._configured_collateral():
            try:
                return verify_tdx(quote, collateral, at=moment, trust_root=root, policy=UNSAFE_NO_POLICY)
            except CollateralError as error:
                missing = error
        if self.config.collateral_cache is None or not self.config.online:
            raise missing or CollateralError(
                "no TDX collateral configured and fetching is off", missing="TDX collateral"
            )
        import os

        from ccverify.verifier.collateral.cache import CollateralCache
        from ccverify.verifier.collateral.pcs import PCS_BASE_URL, PcsClient, gather_tdx_collateral

        cache = CollateralCache(self.config.collateral_cache)
        client = PcsClient(
            os.environ.get("CCVERIFY_PCS_URL") or PCS_BASE_URL, api_key=os.environ.get("CCVERIFY_PCS_API_KEY")
        )
        collateral, _ = gather_tdx_collateral(
            quote, at=moment, cache=cache, client=client, origin=f"cache {cache.directory}"
        )
        return verify_tdx(quote, collateral, at=moment, trust_root=root, policy=UNSAFE_NO_POLICY)

    def _configured_collateral(self) -> list[Any]:
        if self._collateral is None:
            from ccverify.verifier.collateral.tdx_loader import load_collateral

            self._collateral = [load_collateral(path) for path in self.config.collateral]
        return self._collateral

    def _reference_values(self, rule: Rule, moment: datetime) -> Any:
        cached = self._rv_cache.get(rule.rv_sha256 or "")
        if cached is None:
            stored = self.store.reference_values(rule.reference_values)
            if stored is None:
                raise VerificationError(
                    "release_incomplete", f"reference values {rule.reference_values!r} are not stored"
                )
            from ccverify.verifier.refvalues import load_reference_values

            # signature checked at upload; checked again once per process, by content
            cached = load_reference_values(stored.body, self.anchors, at=moment)
            with self._lock:
                if len(self._rv_cache) > 256:
                    self._rv_cache.clear()
                self._rv_cache[stored.sha256] = cached
        return cached

    # ------------------------------------------------------------------ admin

    def upload_reference_values(self, body: bytes) -> dict[str, Any]:
        from ccverify.verifier.refvalues import load_reference_values

        if not self.anchors:
            raise VerificationError(
                "no_trust_anchors", "the configuration names no reference-value signers ([trust] anchors)"
            )
        moment = self.config.verification_time or self.clock()
        rv = load_reference_values(body, self.anchors, at=moment)
        changed = self.store.put_reference_values(
            rv.id, rv.sequence, rv.platform, body, self.clock().timestamp()
        )
        self.forget()
        return {"id": rv.id, "sequence": rv.sequence, "platform": rv.platform, "changed": changed}

    def upload_device_policy(self, name: str, body: bytes) -> dict[str, Any]:
        """A device policy as its owner signed it (``ccverify devices sign``: COSE_Sign1 by a
        configured anchor, a valid policy inside); stored and released as is, so the guest
        checks the owner's signature itself."""
        from ccverify.verifier.release.devices.policy import load_policy

        if not self.anchors:
            raise VerificationError(
                "no_trust_anchors", "the configuration names no policy signers ([trust] anchors)"
            )
        moment = self.config.verification_time or self.clock()
        loaded = load_policy(body, self.anchors, at=moment)
        self.store.put_device_policy(name, body, self.clock().timestamp())
        self.forget()
        return {"name": name, "sha256": hashlib.sha256(body).hexdigest(), "signer": loaded.signer}

    def upload_secret(self, name: str, value: bytes) -> dict[str, Any]:
        self.store.put_secret(name, value, self.clock().timestamp())
        self.forget()
        return {"name": name, "size": len(value)}

    def upload_rule(
        self, name: str, rv_id: str, policy: str | None, secret_names: list[str]
    ) -> dict[str, Any]:
        if self.store.reference_values(rv_id) is None:
            raise VerificationError(
                "unknown_reference_values", f"no reference values with id {rv_id!r} are stored"
            )
        if policy is not None and self.store.device_policy(policy) is None:
            raise VerificationError("unknown_device_policy", f"no device policy {policy!r} is stored")
        stored = set(self.store.secret_names())
        missing = sorted(set(secret_names) - stored)
        if missing:
            raise VerificationError("unknown_secret", f"no secret(s) {missing} are stored")
        rule = Rule(name, rv_id, policy, tuple(dict.fromkeys(secret_names)), self.clock().timestamp())
        self.store.put_rule(rule)
        self.forget()
        return rule.to_json()


class AuditLog:
    """Attestation audit entries, written in batches by a background thread every
    ``flush_seconds`` (0: written at once). ``flush()`` writes what is pending."""

    def __init__(self, store: Store, flush_seconds: float) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, actor: str, action: str, subject: str | None, outcome: str, detail: dict[str, Any]) -> None:
        from ccverify.verifier.service.store import audit_row

        row = audit_row(time.time(), actor, action, subject, outcome, detail)
        if self.flush_seconds <= 0:
            self.store.audit_many([row])
            return
        with self._lock:
            self._pending.append(row)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ccverify-audit", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
        self.store.audit_many(rows)

    def _run(self) -> None:
        import logging

        while True:
            time.sleep(self.flush_seconds)
            try:
                self.flush()
            except Exception:  # logged; the next flush tries again with new entries
                logging.getLogger("ccverify.service").exception("audit flush failed")


def _classify_roots(roots: tuple[bytes, ...]) -> dict[str, bytes]:
    """Evidence roots by platform: an AMD ARK's CN is ``ARK-<product>``; anything else is Intel's."""
    out: dict[str, bytes] = {}
    for pem in roots:
        try:
            cert = (
                x509.load_pem_x509_certificate(pem)
                if b"-----BEGIN" in pem
                else x509.load_der_x509_certificate(pem)
            )
        except ValueError:
            raise InputError("trust.roots: not an X.509 certificate") from None
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        cn = str(names[0].value) if names else ""
        platform = "snp" if cn.startswith("ARK-") else "tdx"
        if platform in out:
            raise InputError(f"trust.roots: more than one {platform} root")
        out[platform] = pem
    return out
