"""Remote mode of the guest gate: attest to a relying party and open what it releases.

``attest_remote`` runs one round after another until one is answered, all under one
``Deadline``: a fresh HPKE key pair (in memory only), a challenge, the guest's own evidence
for ``REPORT_DATA = SHA-512("ccverify/v1" || nonce || public key)`` (``binding``), the
attestation; then it opens the sealed release with the key (``sealing.open_release``: this
session's nonce and result token only). A round is repeated, with exponential back-off (or the
server's ``Retry-After``), only when the relying party could not be reached or answered 503 or
429; every other answer is final: a refusal (4xx) raises the service's code, a result that is
not affirming ``result_not_affirming``. When the deadline would pass before the next round could
start, ``CollateralError`` (exit 3) says so in one sentence. Each round gets a new challenge
(a nonce is single use: one the service may have consumed is never sent again) and a new key.

The outcome is a ``RemoteRelease``: made here only, after the release opened, it is what the
device gate (``devices.authorize``) accepts in remote mode in place of a locally issued
``AttestationResult``. What it proves: the relying party (TLS, ``--ca``, or its pinned result
keys) appraised evidence bound to this session's nonce and key and sealed the release to that
key, which it does only for an affirming result. With the relying party's result-signing keys
pinned (``jwks``: the guest configuration's ``relying_party_jwks``), the result token must
verify under one of them, for this session's nonce, and be affirming before the release is
opened: then nothing but the relying party can release to this guest, whatever the path (the
only choice over http://). Without a pin, the token's claims are shown, not trusted, and TLS is
what authenticates.
"""

from __future__ import annotations

import hashlib
import hmac
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ccverify.verifier.errors import CollateralError, InputError, VerificationError
from ccverify.verifier.release import binding, sealing

if TYPE_CHECKING:
    from ccverify.verifier.release.guest import EvidenceProvider, GuestEvidence


class RelyingParty(Protocol):
    """What ``attest_remote`` needs of a relying party's client (``verifier/service/client.py``'s
    ``RelyingPartyClient``; the release layer does not import the service package)."""

    url: str
    timeout: float

    def challenge(self, tee: str) -> Any: ...

    def attest(
        self, challenge: Any, evidence: bytes, key: sealing.ReleaseKey, *, event_log: bytes | None = ...,
        snp_certs: bytes | None = ...,
    ) -> Any: ...  # fmt: skip

    def close(self) -> None: ...


_OPENED = object()
#: back-off between rounds: first wait, factor, longest wait (seconds)
FIRST_WAIT = 0.5
FACTOR = 2.0
LONGEST_WAIT = 8.0
#: the least time an attempt is started with: the waits shrink to leave it
LAST_ATTEMPT = 0.5


class Deadline:
    """One overall time limit (monotonic clock): ``remaining()`` seconds, never negative."""

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not seconds > 0:
            raise InputError(f"a deadline is more than 0 seconds, got {seconds}")
        self.seconds = seconds
        self.clock = clock
        self.sleep = sleep
        self.start = clock()

    def remaining(self) -> float:
        return max(0.0, self.seconds - (self.clock() - self.start))

    def elapsed(self) -> float:
        return self.clock() - self.start

    @contextmanager
    def enforced(self, on_expiry: Callable[[], BaseException]) -> Iterator[None]:
        """Within the block, raise ``on_expiry()`` when the deadline passes, even inside a
        blocking read (``SIGALRM``; main thread only: elsewhere the per-request timeouts bound
        each call)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def expire(_signum: int, _frame: Any) -> None:
            raise on_expiry()

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, max(self.remaining(), 0.001))
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class RemoteRelease:
    """A release the relying party sealed to this guest's key for this session, opened."""

    relying_party: str
    tee: str
    nonce: bytes
    report_data: bytes
    evidence_sha256: str
    result_jwt: str = field(repr=False)
    #: the result token's claims (verified only where ``result_verified``)
    claims: Mapping[str, Any] = field(repr=False)
    payload: sealing.ReleasePayload = field(repr=False)
    attempts: int
    seconds: float
    provider: str
    hardware: bool
    #: the result token was checked against the pinned keys (signature, nonce, affirming)
    result_verified: bool = False
    #: set by ``attest_remote`` only, once the release opened: an init=False field, so neither a
    #: RemoteRelease built elsewhere nor a ``dataclasses.replace``-d copy is ``issued``
    _token: object = field(default=None, init=False, repr=False, compare=False)

    @property
    def affirming(self) -> bool:
        return True  # the service seals only for an affirming result, and this one opened

    @property
    def issued(self) -> bool:
        return self._token is _OPENED

    @property
    def result_sha256(self) -> str:
        return hashlib.sha256(self.result_jwt.encode("ascii")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """What the device state records (``attestation-result.json``): no secret byte."""
        return {
            "mode": "remote",
            "relying_party": self.relying_party,
            "tee": self.tee,
            "nonce": self.nonce.hex(),
            "report_data": self.report_data.hex(),
            "evidence_sha256": self.evidence_sha256,
            "provider": self.provider,
            "hardware": self.hardware,
            "attempts": self.attempts,
            "result_sha256": self.result_sha256,
            "result_signature": "verified (pinned keys)" if self.result_verified else "not checked (TLS)",
            "ear_status": self.claims.get("ear_status"),
            "claims": dict(self.claims),
            "released": sealing.describe(self.payload),
        }


def require_opened(release: object) -> RemoteRelease:
    """``release`` when ``attest_remote`` made it (what the device gate checks)."""
    if not isinstance(release, RemoteRelease) or not release.issued:
        raise VerificationError(
            "result_not_issued", f"a {type(release).__name__} is not a release this guest opened"
        )
    return release


def guess_tee(provider: EvidenceProvider, *, sysfs_root: Any = None, dev_root: Any = None) -> str:
    """The TEE the challenge is for, before any evidence exists: the provider's own, else the
    guest driver the kernel shows (``tdx_guest`` or ``sev-guest`` misc device)."""
    from pathlib import Path

    from ccverify.verifier.release import guest

    tee = getattr(provider, "tee", None)
    if tee in ("tdx", "snp"):
        return str(tee)
    name = getattr(provider, "name", "")
    if name == "example":
        return "tdx"
    if name == "sev-guest":
        return "snp"
    sysfs = Path(sysfs_root or guest.SYSFS_ROOT)
    dev = Path(dev_root or guest.DEV_ROOT)
    misc = sysfs / "devices" / "virtual" / "misc"
    if (misc / "tdx_guest").exists() or (dev / "tdx_guest").exists():
        return "tdx"
    if (misc / "sev-guest").exists() or (dev / "sev-guest").exists():
        return "snp"
    raise InputError(
        f"cannot tell TDX from SEV-SNP: neither {misc / 'tdx_guest'} nor {misc / 'sev-guest'} exists "
        "(is the guest driver loaded?)"
    )


def _event_log(got: GuestEvidence, runtime_log: bytes | None) -> bytes | None:
    if got.tee != "tdx" or got.event_log is None or not runtime_log:
        return got.event_log
    from ccverify.verifier.evidence.rtmr3_log import with_runtime_log

    return with_runtime_log(got.event_log, runtime_log).to_bytes()


def attest_remote(
    client: RelyingParty,
    provider: EvidenceProvider,
    *,
    tee: str,
    deadline: Deadline,
    announce: Callable[[str], None] = lambda _line: None,
    runtime_log: bytes | None = None,
    suite: str | None = None,
    jwks: Mapping[str, Any] | None = None,
) -> RemoteRelease:
    """Attest to ``client``'s relying party with ``provider``'s evidence; the opened release.

    With ``jwks`` (the relying party's pinned result-signing keys) the result token must be
    signed by one of them for this session's nonce (``eat_nonce``) and say ``affirming`` before
    the release is opened; without, the token is read, not verified (TLS authenticated the
    relying party).

    Raises ``CollateralError`` (the deadline passed), ``VerificationError`` (a refusal, a result
    that is not affirming, a token not signed by a pinned key for this nonce, a release that does
    not open) or ``InputError``.
    """
    url = client.url
    attempt = 0
    wait = FIRST_WAIT
    last = "no attempt finished"

    def expired() -> CollateralError:
        # status -1: not retryable, so the round's handler passes it on
        return CollateralError(
            f"relying party {url} not answered within the {deadline.seconds:g} s deadline "
            f"({attempt} attempt{'s' if attempt != 1 else ''}; last: {last}): nothing beyond bootstrap "
            "is authorized, no secret was written",
            status=-1,
        )

    try:
        with deadline.enforced(expired):
            while True:
                attempt += 1
                try:
                    client.timeout = max(deadline.remaining(), 0.05)
                    key = sealing.generate_key(suite)
                    challenge = client.challenge(tee)
                    report_data = binding.report_data(challenge.nonce, key.public_bytes)
                    got = provider.get(report_data)
                    if not hmac.compare_digest(got.report_data, report_data) or got.tee != tee:
                        raise VerificationError(
                            "report_data_mismatch",
                            f"the evidence provider returned {got.tee} evidence for another REPORT_DATA",
                        )
                    client.timeout = max(deadline.remaining(), 0.05)
                    answer = client.attest(
                        challenge,
                        got.evidence,
                        key,
                        event_log=_event_log(got, runtime_log),
                        snp_certs=got.aux_blob,
                    )
                except CollateralError as error:
                    if not error.retryable:
                        raise
                    last = error.detail.removeprefix(f"relying party {url} ").removeprefix("unreachable: ")
                    pause = min(error.retry_after if error.retry_after is not None else wait, LONGEST_WAIT)
                    left = deadline.remaining()
                    if left <= LAST_ATTEMPT:
                        raise expired() from None
                    pause = min(pause, left - LAST_ATTEMPT)  # the last attempt still gets its time
                    announce(
                        f"relying party {url}: {last}; attempt {attempt + 1} in {pause:.1f} s "
                        f"({left:.1f} s of the {deadline.seconds:g} s deadline left)"
                    )
                    deadline.sleep(pause)
                    wait = min(wait * FACTOR, LONGEST_WAIT)
                    continue
                break
    finally:
        client.close()  # no keep-alive connection outlives the command
    if jwks is not None:
        # the token first: signed by a pinned key for this nonce, and affirming; only then is
        # what it seals opened (the release's AAD binds it to this very token)
        claims = answer.claims(jwks)
        if claims.get("ear_status") != "affirming" or not answer.affirming:
            from ccverify.verifier.result import reason_codes

            codes = "; ".join(reason_codes(claims))
            raise VerificationError(
                "result_not_affirming",
                f"the relying party's signed result says {claims.get('ear_status')!r}: nothing was released"
                + (f" (its reasons: {codes})" if codes else ""),
            )
    else:
        claims = answer.claims()
    payload = answer.open(key)
    release = RemoteRelease(
        relying_party=url,
        tee=tee,
        nonce=challenge.nonce,
        report_data=report_data,
        evidence_sha256=hashlib.sha256(got.evidence).hexdigest(),
        result_jwt=answer.result,
        claims=claims,
        payload=payload,
        attempts=attempt,
        seconds=deadline.elapsed(),
        provider=got.provider_name,
        hardware=got.hardware,
        result_verified=jwks is not None,
    )
    object.__setattr__(release, "_token", _OPENED)
    return release
