"""Appraisal: a verified evidence verdict + signed reference values + event log -> AttestationResult.

The verdict says the evidence is genuine (signatures, chains, TCB); the reference values
say what a correct boot looks like; the event log, replayed against the quoted RTMRs,
says which firmware, kernel, command line and initrd were measured. Only when all of it
agrees is the result affirming, and only an affirming result can be passed on to release.

Fail-closed rules:
- a reference value that names something the evidence does not carry, or a boot component
  without an event log to find it in, cannot be checked, so the result is not affirming;
- reference values must constrain the launch measurement (TDX MRTD, SNP MEASUREMENT);
- reference values for the other platform are refused outright;
- the log's labels (event types, data, order across registers) are not bound by the replay:
  they may refuse (two kernels, a label its digest contradicts) but never approve. Boot
  components in an RTMR the values do not pin count only when every event of RTMR1 and
  RTMR2 is accounted for by its digest (``_account``); a firmware value needs ``rtmr0``;
- the appraisal's time is the verdict's unless ``at`` says otherwise, and the result records
  when its collateral expires.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from ccverify.verifier.errors import Code, InputError, PolicyError, VerificationError
from ccverify.verifier.inputs import Source, read_source
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.refvalues.model import (
    COMPONENTS,
    Digest,
    Digests,
    MinSvns,
    RawValue,
    ReferenceValue,
    ReferenceValues,
    canonical_alg,
)
from ccverify.verifier.refvalues.model import SHA384 as IANA_SHA384
from ccverify.verifier.result import (
    APPROVED,
    CONTRAINDICATED,
    UNRECOGNIZED,
    AttestationResult,
    Reason,
    _issue,
)
from ccverify.verifier.timeutil import resolve_time

if TYPE_CHECKING:
    from ccverify.verifier.evidence.eventlog import EventLog
    from ccverify.verifier.replay import BootComponents, DigestMismatch
    from ccverify.verifier.snp.validate import SnpPolicy
    from ccverify.verifier.snp.verify import SnpVerdict
    from ccverify.verifier.tdx.validate import TdxPolicy
    from ccverify.verifier.tdx.verify import TdxVerdict

    Verdict = TdxVerdict | SnpVerdict
    Policy = TdxPolicy | SnpPolicy

#: the value that, when matched, proves the launched image (and so is required)
LAUNCH_VALUE = {"tdx": "mrtd", "snp": "measurement"}

# which trustworthiness claim a reference value speaks for
_CONFIGURATION_VALUES = {"xfam", "td_attributes", "policy", "host_data", "tee_tcb_svn", "reported_tcb"}
_IDENTITY_VALUES = {"id_key_digest", "author_key_digest"}


@dataclass(frozen=True)
class _Check:
    """One check of appraisal, before it becomes a result's claim or reason."""

    claim: str
    name: str
    ok: bool | None  # None: could not be checked
    detail: str
    expected: str | None = None
    actual: str | None = None
    code: Code | str | None = None  # the reason's code when the name alone does not give it


def evidence_claims(verdict: Verdict) -> tuple[str, dict[str, bytes]]:
    """The platform and the values of a verified verdict, under the profile's names.

    Only a ``TdxVerdict`` or an ``SnpVerdict`` is appraised (an object that merely looks like one,
    a quote in a namespace, is an ``InputError``: it was not verified).
    """
    from ccverify.verifier.tdx.verify import TdxVerdict

    if isinstance(verdict, TdxVerdict):  # (the SNP verifier is imported for an SNP verdict only)
        body = verdict.quote.body
        claims = {
            "mrtd": body.mr_td,
            "mrseam": body.mr_seam,
            "mrsignerseam": body.mr_signer_seam,
            "xfam": body.xfam,
            "td_attributes": body.td_attributes,
            "tee_tcb_svn": body.tee_tcb_svn,
            "mrconfigid": body.mr_config_id,
            "mrowner": body.mr_owner,
            "mrownerconfig": body.mr_owner_config,
            "report_data": body.report_data,
        }
        for index, rtmr in enumerate(body.rtmrs):
            claims[f"rtmr{index}"] = rtmr
        return "tdx", claims
    from ccverify.verifier.snp.verify import SnpVerdict

    if isinstance(verdict, SnpVerdict):
        report = verdict.report
        return "snp", {
            "measurement": report.measurement,
            "host_data": report.host_data,
            "id_key_digest": report.id_key_digest,
            "author_key_digest": report.author_key_digest,
            "policy": report.policy.raw.to_bytes(8, "little"),
            "reported_tcb": report.reported_tcb.raw.to_bytes(8, "little"),
            "report_data": report.report_data,
            "family_id": report.family_id,
            "image_id": report.image_id,
        }
    raise InputError(f"cannot appraise a {type(verdict).__name__}: expected a TdxVerdict or an SnpVerdict")


def appraise(
    verdict: Verdict,
    reference_values: ReferenceValues | None,
    event_log: EventLog | Source | None = None,
    policy: Policy | None = None,
    *,
    evidence: bytes | None = None,
    at: datetime | str | None = None,
    ignore_rtmr3: bool = False,
    expected_report_data: bytes | None = None,
) -> AttestationResult:
    """Appraise a verified ``verdict`` (``verify_tdx`` / ``verify_snp``) and issue the result.

    ``verdict`` is what ``verify_tdx`` / ``verify_snp`` returned (or a ``PolicyError``'s
    ``verdict``); anything else is an ``InputError``. ``policy`` is the verdict's platform's
    ``TdxPolicy`` / ``SnpPolicy`` (None: the default policy); another platform's policy, or
    ``UNSAFE_NO_POLICY``, is an ``InputError`` (a result is never issued without a policy). A
    policy refusal does not raise here: each violation becomes a contraindicated claim with its
    reason, so the result always says everything that differed.

    ``at`` (the time reference values' validity is checked at, and the result's ``issued_at``)
    defaults to the time the verdict was made at, never to now: a verdict made at one time and
    appraised against another would mix two moments. The result records the verdict's time
    and the earliest expiry of its collateral (``expires_at``, EAR ``exp``); an ``at`` after
    that expiry is contraindicated (``collateral_expired``).
    """
    platform, claims = evidence_claims(verdict)
    log = _load_log(event_log)  # its type checked, and the log read, before anything is judged
    verified_at = verdict.at
    moment = resolve_time(at if at is not None else verified_at)
    expires_at = collateral_expiry(verdict)
    checks: list[_Check] = []
    checks.extend(_policy_checks(platform, verdict, policy))
    if expires_at is not None and moment > expires_at:
        checks.append(
            _Check(
                "hardware",
                "collateral_expired",
                False,
                f"the appraisal's time is after {iso8601(expires_at)}, when the verdict's collateral "
                "(TCB info, QE identity, CRLs, certificates) stopped being valid",
                iso8601(expires_at),
                iso8601(moment),
                code=Code.COLLATERAL_EXPIRED,
            )
        )
    if reference_values is not None:
        if reference_values.platform != platform:
            raise InputError(
                f"reference values {reference_values.id!r} are for {reference_values.platform}, "
                f"the evidence is {platform}"
            )
        checks.extend(_window_checks(reference_values, moment))
    if log is not None and platform != "tdx":
        raise InputError("an event log is replayed against TDX RTMRs; SNP evidence has none")
    # the checks of the measurements and the log against the values: a function of their exact
    # content, memoized (``_measured``); each memoized check comes with its reason
    measured = _measured(platform, claims, log, ignore_rtmr3, reference_values)
    checks.extend(measured.checks)
    known = measured.reasons
    if reference_values is not None:
        found, found_reasons = _components_of(measured, platform, reference_values, log is not None, checks)
        checks.extend(found)
        known = {**known, **found_reasons}
    if expected_report_data is not None:
        padded = expected_report_data.ljust(64, b"\0")
        checks.append(
            _Check(
                "instance_identity",
                "report_data",
                padded == claims["report_data"],
                "REPORT_DATA binds the nonce and key",
                padded.hex(),
                claims["report_data"].hex(),
            )
        )
    vector = _vector(checks, has_reference_values=reference_values is not None, debug=_debug(verdict))
    # what differed first, then what was confirmed
    ordered = sorted(checks, key=lambda c: c.ok is True)
    reasons = tuple(known.get(id(c)) or _reason(c) for c in ordered)
    return _issue(
        evidence_kind=platform,
        evidence=evidence if evidence is not None else _raw(verdict),
        trust_vector=vector,
        reasons=reasons,
        issued_at=moment,
        policy_ids=("ccverify:default" if policy is None else "ccverify:custom",),
        reference_values_id=None if reference_values is None else reference_values.id,
        root=verdict.root.subject,
        claims={k: v.hex() for k, v in claims.items()},
        expires_at=expires_at,
        evidence_verified_at=resolve_time(verified_at),
    )


def _reason(check: _Check) -> Reason:
    return Reason(
        check.claim, _code(check), check.detail, check.expected, _same_form(check.expected, check.actual)
    )


@dataclass(frozen=True)
class _Measured:
    """The value and log checks of one content (``_measured``), each check's reason by its id
    (the checks are held here, so their ids stay theirs), and the boot components the log named."""

    reference_values: ReferenceValues | None
    checks: tuple[_Check, ...]
    components: Mapping[str, tuple[_Logged, ...]]
    reasons: Mapping[int, Reason]


def _measured(
    platform: str,
    claims: Mapping[str, bytes],
    log: _Log | None,
    ignore_rtmr3: bool,
    rv: ReferenceValues | None,
) -> _Measured:
    """``_value_checks`` and ``_log_checks`` of the evidence's measurements, memoized by exactly
    what they read: the platform, every claim (REPORT_DATA only when the values name it: it is
    new in every quote), the log's bytes, ``ignore_rtmr3`` and the reference values object
    (identity: a set loaded anew, or changed, is another object and misses; a hit is checked to
    be the very object, so a reused id cannot match). A log given parsed is not memoized."""
    key: tuple[object, ...] | None = None
    if log is None or log.source is not None:
        names_report_data = rv is not None and "report_data" in rv
        measures = tuple(item for item in claims.items() if item[0] != "report_data" or names_report_data)
        key = (platform, id(rv), measures, None if log is None else log.source, ignore_rtmr3)
        cached = _MEASURED.get(key)
        if cached is not None and cached.reference_values is rv:
            return cached
    checks: list[_Check] = []
    if rv is not None:
        checks.extend(_value_checks(platform, claims, rv))
    components: dict[str, tuple[_Logged, ...]] = {}
    if log is not None:
        log_checks, components = _log_checks(log, claims, ignore_rtmr3, rv)
        checks.extend(log_checks)
    measured = _Measured(rv, tuple(checks), components, {id(c): _reason(c) for c in checks})
    if key is not None:
        _MEASURED.put(key, measured)
    return measured


def _components_of(
    measured: _Measured, platform: str, rv: ReferenceValues, have_log: bool, earlier: list[_Check]
) -> tuple[tuple[_Check, ...], Mapping[int, Reason]]:
    """``_component_checks`` for a ``_measured`` content, memoized with it (and their reasons by
    their ids): they read the values, the components the log named, whether there is a log, and
    from the checks before them only whether the launch value matched."""
    launch_ok = any(c.name == LAUNCH_VALUE[platform] and c.ok for c in earlier)
    key = (id(measured), platform, have_log, launch_ok)
    cached = _COMPONENTS.get(key)
    if cached is not None and cached[0] is measured:
        return cached[1], cached[2]
    found = tuple(_component_checks(platform, rv, measured.components, have_log, earlier))
    reasons = {id(c): _reason(c) for c in found}
    _COMPONENTS.put(key, (measured, found, reasons))
    return found, reasons


def collateral_expiry(verdict: Verdict) -> datetime | None:
    """The earliest time a piece of what the verdict was verified with stops being valid.

    TDX: the verdict's ``earliest_next_update`` (TCB info, QE identity, their signing
    certificate, the CRLs) and the PCK certificate's notAfter. SNP: the notAfter of every
    certificate of the chain (ARK, ASK/ASVK, VCEK/VLEK) and the CRL's nextUpdate, if one was
    checked. None when the verdict records none of these.
    """
    dates: list[datetime] = []
    earliest = getattr(verdict, "earliest_next_update", None)
    if isinstance(earliest, datetime):
        dates.append(earliest)
    pck_not_after = getattr(getattr(verdict, "pck", None), "not_after", None)
    if isinstance(pck_not_after, datetime):
        dates.append(pck_not_after)
    for certificate in getattr(verdict, "certificates", None) or ():
        not_after = getattr(certificate, "not_after", None)
        if isinstance(not_after, datetime):
            dates.append(not_after)
    next_update = getattr(getattr(verdict, "crl", None), "next_update", None)
    if isinstance(next_update, datetime):
        dates.append(next_update)
    return min((resolve_time(d) for d in dates), default=None)


#: policy codes about the platform (its TCB, firmware, revocation: the EAR "hardware" claim);
#: every other violation is about the guest's configuration
_HARDWARE_CODES = frozenset(
    {
        Code.TCB_STATUS_NOT_ACCEPTED,
        Code.ADVISORY_NOT_ACCEPTED,
        Code.TCB_DATE_TOO_OLD,
        Code.TCB_EVALUATION_DATA_NUMBER_TOO_LOW,
        Code.TEE_TCB_SVN_TOO_LOW,
        Code.CURRENT_TCB_TOO_LOW,
        Code.COMMITTED_TCB_TOO_LOW,
        Code.REPORTED_TCB_TOO_LOW,
        Code.LAUNCH_TCB_TOO_LOW,
    }
)


def _policy_checks(platform: str, verdict: Verdict, policy: Policy | None) -> list[_Check]:
    from ccverify.verifier.policy import UnsafeNoPolicy

    if isinstance(policy, UnsafeNoPolicy):
        raise InputError(
            "appraise: a result is issued under a policy; give the verdict's TdxPolicy / SnpPolicy "
            "or None (the default), not UNSAFE_NO_POLICY"
        )
    try:
        if platform == "tdx":
            from ccverify.verifier.tdx.validate import TdxPolicy, validate_tdx
            from ccverify.verifier.tdx.verify import TdxVerdict

            if policy is not None and not isinstance(policy, TdxPolicy):
                raise InputError(f"appraise: a TDX verdict needs a TdxPolicy, not {type(policy).__name__}")
            assert isinstance(verdict, TdxVerdict)  # evidence_claims said so
            validate_tdx(verdict, policy if policy is not None else _default_policy(TdxPolicy))
        else:
            from ccverify.verifier.snp.validate import SnpPolicy, validate_snp
            from ccverify.verifier.snp.verify import SnpVerdict

            if policy is not None and not isinstance(policy, SnpPolicy):
                raise InputError(f"appraise: an SNP verdict needs an SnpPolicy, not {type(policy).__name__}")
            assert isinstance(verdict, SnpVerdict)
            validate_snp(verdict, policy if policy is not None else _default_policy(SnpPolicy))
    except PolicyError as refused:
        return [
            _Check(
                "hardware" if violation.code in _HARDWARE_CODES else "configuration",
                violation.code,
                False,
                violation.detail,
                _text(violation.expected),
                _text(violation.actual),
                code=violation.code,
            )
            for violation in refused.violations
        ]
    return [_Check("hardware", "policy", True, "evidence verified and accepted by the policy")]


P = TypeVar("P")
_DEFAULT_POLICIES: dict[type, object] = {}


def _default_policy(cls: type[P]) -> P:
    """The platform's default policy, built once (a policy is frozen and checked when built)."""
    policy = _DEFAULT_POLICIES.get(cls)
    if policy is None:
        policy = _DEFAULT_POLICIES[cls] = cls()
    assert isinstance(policy, cls)
    return policy


def _window_checks(rv: ReferenceValues, moment: datetime) -> list[_Check]:
    """The reference values' validity (rim-validity, which their signature also covers) at
    the appraisal's time: a set loaded once and appraised against later must still be valid."""
    from ccverify.verifier.refvalues.cose import check_window

    try:
        check_window(rv.not_before, rv.not_after, moment, "reference values")
    except VerificationError as outside:
        expected, actual = _text(outside.expected), _text(outside.actual)
        code = outside.code
        return [_Check("executables", code, False, outside.detail, expected, actual, code=code)]
    return []


def _value_checks(platform: str, claims: Mapping[str, bytes], rv: ReferenceValues) -> list[_Check]:
    checks: list[_Check] = []
    launch = LAUNCH_VALUE[platform]
    if launch not in rv:
        checks.append(
            _Check(
                "executables",
                launch,
                None,
                f"the reference values do not constrain {launch}, so the launched image is unproven",
            )
        )
    for value in rv.values:
        if value.environment.component is not None:
            continue
        actual = claims.get(value.name)
        claim = _claim_for(value.name)
        if actual is None:
            checks.append(_Check(claim, value.name, None, f"the evidence carries no {value.name}"))
            continue
        ok = value.accepts(actual)
        checks.append(
            _Check(
                claim,
                value.name,
                ok,
                f"{value.name} {'matches' if ok else 'differs from'} the reference value",
                _expected_text(value),
                actual.hex(),
            )
        )
    return checks


#: the log index (CC MR index) of each RTMR, and the components that live there in TDVF's and
#: td-shim's layout (``replay.boot_components``): the kernel (EFI applications, td-shim's payload)
#: in RTMR1; the command line in RTMR2 (EFI stub load options, grub) or RTMR1 (OVMF's DirectBoot
#: command line, td-shim's payload info); the initrd in RTMR2
_RTMR_INDEX = {0: 1, 1: 2, 2: 3, 3: 4}
_COMPONENT_RTMRS = {"kernel": (1,), "cmdline": (1, 2), "initrd": (2,)}


def _log_checks(
    log: _Log, claims: Mapping[str, bytes], ignore_rtmr3: bool, rv: ReferenceValues | None = None
) -> tuple[list[_Check], dict[str, tuple[_Logged, ...]]]:
    """Replay, separators, label contradictions, the boot components the log claims, and, for
    reference values that name components in an RTMR they do not pin, an account of every event
    of that RTMR (``_account``)."""
    from ccverify.verifier.replay import compare_rtmrs

    facts = _log_facts(log)
    quoted = tuple(claims[f"rtmr{i}"] for i in range(4))
    checks: list[_Check] = []
    comparison = compare_rtmrs(facts.replayed, quoted, ignore_rtmr3=ignore_rtmr3)
    for mismatch in comparison.mismatches:
        checks.append(
            _Check(
                "executables",
                f"rtmr{mismatch.rtmr}",
                False,
                f"RTMR{mismatch.rtmr} replayed from the event log differs from the quote",
                mismatch.quoted.hex(),
                mismatch.replayed.hex(),
            )
        )
    if comparison.ok:
        checks.append(_Check("executables", "event_log", True, "the event log replays to the quoted RTMRs"))
    if facts.duplicate_separator is not None:
        checks.append(
            _Check(
                "executables",
                "event_log_separators",
                False,
                facts.duplicate_separator,
                code=Code.EVENT_LOG_SEPARATORS,
            )
        )
    # a label whose data has a digest rule that the digest breaks: the log was altered (or the
    # firmware is broken); either way its labels cannot be read, in any register the quote binds
    bound = {_RTMR_INDEX[i] for i in range(4) if i not in comparison.ignored}
    for broken in facts.broken:
        if broken.index not in bound:
            continue
        checks.append(
            _Check(
                "executables",
                "event_log_contradiction",
                False,
                f"RTMR{broken.index - 1} event {broken.number} (offset {broken.offset}) claims to be "
                f"{broken.event_type} with data whose digest under {broken.rule} is not the one it "
                "extended: its label contradicts its digest",
                broken.computed.hex(),
                broken.recorded.hex(),
                code=Code.EVENT_LOG_CONTRADICTION,
            )
        )
    # RTMRs extend SHA-384 digests: the log's SHA-384 bank is what the quote binds, and the
    # digests compared with the reference values are named as what they are
    found = facts.found
    alg = IANA_SHA384
    components: dict[str, tuple[_Logged, ...]] = {}
    for name in COMPONENTS:
        components[name] = tuple(
            _Logged(Digest(alg, bytes(entry.digest)), entry.text, entry.number)
            for entry in getattr(found, name, ())
        )
    if rv is not None:
        checks.extend(_account(log.log, rv, comparison.matched, components))
    return checks, components


def _account(
    log: EventLog,
    rv: ReferenceValues,
    matched: tuple[int, ...],
    components: Mapping[str, tuple[_Logged, ...]],
) -> list[_Check]:
    """Every event of RTMR1 and RTMR2 (those the values do not pin) when they name a kernel,
    command line or initrd.

    The replay binds each register's sequence of digests, nothing else: which event is the
    kernel is a label. So for a component-only set, the kernel "matching" proves something
    only when nothing else was measured beside it: every event of RTMR1 and RTMR2 must carry
    a digest the reference values approve for that register, or the hash of fixed data
    (``replay.account_events``), or be the one bound command line that is compared with the
    reference. An event that is none of these is unrecognized (named with its register, number,
    digest and claimed type), so the result is not affirming. A register that does not replay
    is already contraindicated; a pinned one is proven by its value.
    """
    from ccverify.verifier.replay import SHA384, UNRECOGNIZED, account_events

    named = {v.environment.component for v in rv.values if v.environment.component in _COMPONENT_RTMRS}
    if not named:
        return []
    # both registers, whichever component is named: an unaccounted RTMR2 could hold a UEFI
    # driver (PCR2 maps to it) or a second command line beside an approved kernel
    registers = [r for r in (1, 2) if f"rtmr{r}" not in rv and r in matched]
    if not registers:
        return []
    approved: dict[int, dict[bytes, str]] = {}
    for value in rv.values:
        component = value.environment.component
        if component not in named:
            continue
        for alternative in value.alternatives:
            if not isinstance(alternative, Digests):
                continue
            for digest in alternative.digests:
                if canonical_alg(digest.alg) == IANA_SHA384:
                    for r in _COMPONENT_RTMRS[component]:
                        approved.setdefault(_RTMR_INDEX[r], {})[bytes(digest.value)] = component
    lines = []
    if "cmdline" in named:
        lines = [c.number for c in components.get("cmdline", ()) if c.text is not None]
    indices = [_RTMR_INDEX[r] for r in registers]
    checks: list[_Check] = []
    entries = account_events(log, indices, approved, command_lines=lines, algorithm=SHA384)
    for entry in entries:
        if entry.how == UNRECOGNIZED:
            checks.append(
                _Check(
                    "executables",
                    "event_log_unrecognized_event",
                    None,
                    f"RTMR{entry.index - 1} event {entry.number} (claimed {entry.event_type}, digest "
                    f"{entry.digest.hex()}) is not accounted for: {entry.detail}; the reference values pin "
                    f"no RTMR{entry.index - 1}, so what it measured is unknown",
                    None,
                    entry.digest.hex(),
                    code=Code.EVENT_LOG_UNRECOGNIZED_EVENT,
                )
            )
        # contradictions are reported by _log_checks for every bound register
    if all(entry.accounted for entry in entries):
        names = ", ".join(f"RTMR{r}" for r in registers)
        checks.append(
            _Check(
                "executables",
                "event_log_accounted",
                True,
                f"each of the {len(entries)} events of {names} carries a reference digest, the hash of "
                "fixed data or the compared command line",
            )
        )
    return checks


def _component_checks(
    platform: str,
    rv: ReferenceValues,
    components: Mapping[str, tuple[_Logged, ...]],
    have_log: bool,
    earlier: list[_Check],
) -> list[_Check]:
    """Boot components (firmware, kernel, cmdline, initrd) against what the event log recorded.

    What counts as logged is ``replay.boot_components``: events in the component's own
    register, before that register's proven ExitBootServices. These are labels, so they can
    only refuse; ``_account`` is what proves nothing else was measured. The log must record
    exactly one of a constrained
    component: with two (shim, grub and a kernel; or a benign one appended after the one that
    ran) the log cannot say which booted, so the component fails (``<component>_ambiguous``)
    and its register (RTMR1, RTMR2) is what to pin instead. A reference value the log has no
    counterpart for (say, a kernel's SHA-256 file hash when the log records Authenticode
    SHA-384) is noted, not failed, as long as another value of the same component was
    compared; a component none of whose values can be compared is unverifiable, so the result
    is not affirming.
    """
    checks: list[_Check] = []
    launch_ok = any(c.name == LAUNCH_VALUE[platform] and c.ok for c in earlier)
    by_component: dict[str, list[ReferenceValue]] = {}
    for value in rv.values:
        if value.environment.component is not None:
            by_component.setdefault(value.environment.component, []).append(value)
    for component, values in by_component.items():
        names = ", ".join(v.name for v in values)
        if platform == "snp":
            # SNP measures kernel, initrd and cmdline through the hashes table inside MEASUREMENT
            checks.append(
                _Check(
                    "executables",
                    component,
                    True if launch_ok else None,
                    f"{names}: bound through MEASUREMENT"
                    if launch_ok
                    else f"{names}: cannot be checked without a matching MEASUREMENT",
                )
            )
            continue
        if not have_log:
            checks.append(
                _Check("executables", component, None, f"{names}: checking these needs the event log")
            )
            continue
        if component == "firmware" and "rtmr0" not in rv:
            checks.append(
                _Check(
                    "executables",
                    component,
                    None,
                    f"{names}: RTMR0 also carries what the host provides (TD HOB, ACPI tables), whose "
                    "events no rule binds to their digests, so which of its events is the firmware volume "
                    "cannot be proven from the log (the host could pass the approved volume's bytes as a "
                    "table and relabel); pin rtmr0 to bind the firmware configuration",
                )
            )
            continue
        entries = components.get(component, ())
        if not entries:
            checks.append(_Check("executables", component, False, f"the event log records no {component}"))
            continue
        if len(entries) > 1:
            numbers = ", ".join(str(entry.number) for entry in entries)
            checks.append(
                _Check(
                    "executables",
                    f"{component}_ambiguous",
                    False,
                    f"the event log records {len(entries)} {component} events ({numbers}) before "
                    f"ExitBootServices: which one booted cannot be told, so {names} cannot be "
                    "checked (pin the register instead)",
                    code=_AMBIGUOUS[component],
                )
            )
            continue
        (logged,) = entries
        compared = 0
        for value in values:
            verdict = _compare_component(value, logged)
            if verdict is None:
                checks.append(
                    _Check(
                        "executables",
                        value.name,
                        True,
                        f"{value.name} has no counterpart in the event log (noted, not compared)",
                    )
                )
                continue
            compared += 1
            shown = logged.text if verdict[1] == "text" else logged.digest.value.hex()
            checks.append(
                _Check(
                    "executables",
                    value.name,
                    verdict[0],
                    f"{value.name} {'matches' if verdict[0] else 'differs from'} the event log",
                    _expected_text(value),
                    shown,
                )
            )
        if compared == 0:
            checks.append(
                _Check("executables", component, None, f"none of {names} can be compared with the event log")
            )
    return checks


@dataclass(frozen=True)
class _Logged:
    """A component's digest as the event log records it, with the event's number and text."""

    digest: Digest
    text: str | None
    number: int  # the event's number in the log


def _compare_component(value: ReferenceValue, logged: _Logged) -> tuple[bool, str] | None:
    """(matches, how) for one reference value, or None when the log has nothing to compare."""
    logged_alg = canonical_alg(logged.digest.alg)
    comparable = False
    for alternative in value.alternatives:
        if isinstance(alternative, Digests) and any(
            canonical_alg(d.alg) == logged_alg for d in alternative.digests
        ):
            comparable = True
            if alternative.accepts((logged.digest,)):
                return True, "digest"
        elif isinstance(alternative, RawValue) and logged.text is not None:
            comparable = True
            if alternative.accepts(logged.text.encode()):
                return True, "text"
    if not comparable:
        return None
    how = "text" if all(isinstance(a, RawValue) for a in value.alternatives) else "digest"
    return False, how


def _vector(checks: list[_Check], *, has_reference_values: bool, debug: bool) -> dict[str, int]:
    vector: dict[str, int] = {"runtime_opaque": CONTRAINDICATED if debug else APPROVED}
    for check in checks:
        value = APPROVED if check.ok else (CONTRAINDICATED if check.ok is False else UNRECOGNIZED - 64)
        vector[check.claim] = max(vector.get(check.claim, 0), value, key=_severity)
    if not has_reference_values:
        # nothing says what a correct boot is: the executables are unrecognised
        vector["executables"] = max(vector.get("executables", 0), UNRECOGNIZED - 64, key=_severity)
    return vector


def _severity(value: int) -> int:
    return abs(value)


#: per checked name (a boot component's value, ``kernel.authenticode``, by its component):
#: the reason's code when it differs, and when it could not be checked
_NAME_CODES: dict[str, tuple[Code, Code]] = {
    "mrtd": (Code.MRTD_MISMATCH, Code.MRTD_UNVERIFIABLE),
    "rtmr0": (Code.RTMR0_MISMATCH, Code.RTMR0_UNVERIFIABLE),
    "rtmr1": (Code.RTMR1_MISMATCH, Code.RTMR1_UNVERIFIABLE),
    "rtmr2": (Code.RTMR2_MISMATCH, Code.RTMR2_UNVERIFIABLE),
    "rtmr3": (Code.RTMR3_MISMATCH, Code.RTMR3_UNVERIFIABLE),
    "mrseam": (Code.MRSEAM_MISMATCH, Code.MRSEAM_UNVERIFIABLE),
    "mrsignerseam": (Code.MRSIGNERSEAM_MISMATCH, Code.MRSIGNERSEAM_UNVERIFIABLE),
    "measurement": (Code.MEASUREMENT_MISMATCH, Code.MEASUREMENT_UNVERIFIABLE),
    "xfam": (Code.XFAM_MISMATCH, Code.XFAM_UNVERIFIABLE),
    "td_attributes": (Code.TD_ATTRIBUTES_MISMATCH, Code.TD_ATTRIBUTES_UNVERIFIABLE),
    "policy": (Code.POLICY_MISMATCH, Code.POLICY_UNVERIFIABLE),
    "host_data": (Code.HOST_DATA_MISMATCH, Code.HOST_DATA_UNVERIFIABLE),
    "tee_tcb_svn": (Code.TEE_TCB_SVN_MISMATCH, Code.TEE_TCB_SVN_UNVERIFIABLE),
    "reported_tcb": (Code.REPORTED_TCB_MISMATCH, Code.REPORTED_TCB_UNVERIFIABLE),
    "id_key_digest": (Code.ID_KEY_DIGEST_MISMATCH, Code.ID_KEY_DIGEST_UNVERIFIABLE),
    "author_key_digest": (Code.AUTHOR_KEY_DIGEST_MISMATCH, Code.AUTHOR_KEY_DIGEST_UNVERIFIABLE),
    "report_data": (Code.REPORT_DATA_MISMATCH, Code.REPORT_DATA_UNVERIFIABLE),
    "event_log": (Code.EVENT_LOG_MISMATCH, Code.EVENT_LOG_UNVERIFIABLE),
    "firmware": (Code.FIRMWARE_MISMATCH, Code.FIRMWARE_UNVERIFIABLE),
    "kernel": (Code.KERNEL_MISMATCH, Code.KERNEL_UNVERIFIABLE),
    "cmdline": (Code.CMDLINE_MISMATCH, Code.CMDLINE_UNVERIFIABLE),
    "initrd": (Code.INITRD_MISMATCH, Code.INITRD_UNVERIFIABLE),
}
_AMBIGUOUS = {
    "firmware": Code.FIRMWARE_AMBIGUOUS,
    "kernel": Code.KERNEL_AMBIGUOUS,
    "cmdline": Code.CMDLINE_AMBIGUOUS,
    "initrd": Code.INITRD_AMBIGUOUS,
}


def _code(check: _Check) -> str:
    if check.code is not None:
        return str(check.code)
    if check.ok:
        return Code.OK.value
    mismatch, unverifiable = _NAME_CODES[check.name.split(".")[0]]
    # the value, a plain str: a reason's code serializes as itself (to_jsonable names enums)
    return (unverifiable if check.ok is None else mismatch).value


def _claim_for(name: str) -> str:
    if name in _CONFIGURATION_VALUES:
        return "configuration"
    if name in _IDENTITY_VALUES:
        return "instance_identity"
    return "executables"


def _debug(verdict: Verdict) -> bool:
    from ccverify.verifier.tdx.verify import TdxVerdict

    return verdict.debug if isinstance(verdict, TdxVerdict) else bool(verdict.report.policy.debug)


def _load_log(event_log: object) -> _Log | None:
    """The log to appraise with: an ``EventLog`` as given, or bytes (a file's content) parsed,
    memoized by those bytes (a fleet booting one image sends the same log again and again)."""
    from ccverify.verifier.evidence.eventlog import EventLog

    if event_log is None:
        return None
    if isinstance(event_log, EventLog):
        return _Log(event_log, None)
    data = read_source(event_log, "event_log", "event_log", "appraise")[0]
    return _Log(parsed_event_log(data), data)


def parsed_event_log(data: bytes) -> EventLog:
    """``EventLog.from_bytes(data)``, memoized by ``data`` (what ``appraise`` does with bytes: a
    caller that wants a bad log refused before anything else parses it first, at no cost)."""
    from ccverify.verifier.evidence.eventlog import EventLog

    parsed = _PARSED_LOGS.get(data)
    if parsed is None:
        parsed = EventLog.from_bytes(data)
        _PARSED_LOGS.put(data, parsed)
    return parsed


@dataclass(frozen=True)
class _Log:
    """An event log as appraisal reads it."""

    log: EventLog
    #: the bytes it was parsed from (None: given parsed), which key the memos
    source: bytes | None


@dataclass(frozen=True)
class _LogFacts:
    """What appraisal reads from a CCEL alone: a pure function of its bytes, so memoized by them."""

    replayed: tuple[bytes, bytes, bytes, bytes]
    #: why a register has two separators (``check_separators``), or None
    duplicate_separator: str | None
    broken: tuple[DigestMismatch, ...]
    found: BootComponents


def _log_facts(log: _Log) -> _LogFacts:
    """Replay, separators, event digests and boot components of ``log`` (raising as they do);
    memoized by the log's bytes when it was given as bytes."""
    if log.source is not None:
        cached = _LOG_FACTS.get(log.source)
        if cached is not None:
            return cached
    from ccverify.verifier.replay import SHA384, boot_components, check_separators, rtmrs_from_ccel
    from ccverify.verifier.replay import verify_event_digests as digests

    replayed = rtmrs_from_ccel(log.log)
    duplicate: str | None = None
    try:
        check_separators(log.log)
    except VerificationError as error:
        duplicate = error.detail
    broken = tuple(digests(log.log, algorithms=[SHA384]))
    facts = _LogFacts(replayed, duplicate, broken, boot_components(log.log, algorithm=SHA384))
    if log.source is not None:
        _LOG_FACTS.put(log.source, facts)
    return facts


K = TypeVar("K")
V = TypeVar("V")


class _Memo(Generic[K, V]):
    """A small locked map of time-independent results keyed by content, emptied when full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._data) >= self.size:
                self._data.clear()
            self._data[key] = value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


#: parsed logs and their facts by the bytes they came from (``clear_caches`` empties them)
_PARSED_LOGS: _Memo[bytes, EventLog] = _Memo(32)
_LOG_FACTS: _Memo[bytes, _LogFacts] = _Memo(32)
#: value, log and component checks by the content they read (``_measured``, ``_components_of``)
_MEASURED: _Memo[tuple[object, ...], _Measured] = _Memo(64)
_COMPONENTS: _Memo[tuple[object, ...], tuple[_Measured, tuple[_Check, ...], Mapping[int, Reason]]] = _Memo(64)


def clear_caches() -> None:
    """Forget the memoized event logs (``verifier.clear_caches`` calls it with the platforms')."""
    _PARSED_LOGS.clear()
    _LOG_FACTS.clear()
    _MEASURED.clear()
    _COMPONENTS.clear()


def _expected_text(value: ReferenceValue) -> str:
    """The accepted alternatives, compactly: ``sha-384:ab12.. | sha-384:cd34..``."""
    shown: list[str] = []
    for alternative in value.alternatives:
        if isinstance(alternative, Digests):
            digests = (f"{d.alg_name}:{d.value.hex()}" for d in alternative.digests)
            shown.append(" + ".join(digests))
        elif isinstance(alternative, RawValue):
            mask = "" if alternative.mask is None else f" under mask {alternative.mask.hex()}"
            shown.append(alternative.value.hex() + mask)
        elif isinstance(alternative, MinSvns):
            shown.append("at least " + ",".join(str(m) for m in alternative.minimums))
    return " | ".join(shown)


def _same_form(expected: str | None, actual: str | None) -> str | None:
    """``actual`` spelled as ``expected`` is: a digest compared with ``sha-384:ab12..``
    alternatives reads ``sha-384:cd34..`` too (the algorithm whose digests have its length)."""
    if not expected or not actual or ":" in actual or actual.strip("0123456789abcdef"):
        return actual  # the last: not lowercase hex (strip leaves what is not a hex digit)
    for alternative in expected.split(" | "):
        for part in alternative.split(" + "):
            alg, colon, digest = part.partition(":")
            if colon and len(digest) == len(actual):
                return f"{alg}:{actual}"
    return actual


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return str(value)


def _raw(verdict: Verdict) -> bytes:
    from ccverify.verifier.tdx.verify import TdxVerdict

    return verdict.quote.to_bytes() if isinstance(verdict, TdxVerdict) else verdict.report.to_bytes()
