"""Policy over a verified TDX quote: ``validate_tdx(verdict, policy)`` raises ``PolicyError``.

``verify_tdx`` establishes what the quote says and how current its platform is; this module
decides whether that is acceptable. The default policy (``TdxPolicy()``) accepts only the TCB
status UpToDate, refuses DEBUG TDs, and refuses verdicts made without revocation checks.
Revoked is refused whatever the policy says.

Policy JSON (the ``"tdx"`` object of a policy file, read by the rules of ``verifier/policy.py``
and described by ``verifier/schemas/policy.schema.json``: every key optional, unknown keys and
``null`` refused, no empty list but ``accepted_advisory_ids``)::

    {"accepted_tcb_statuses": ["UpToDate", "SWHardeningNeeded"],
     "allow_debug": false, "allow_unchecked_revocation": false, "require_sept_ve_disable": false,
     "mrtd": "<hex>" | ["<hex>", ...],          # any of
     "rtmr0": "<hex>", "rtmr1": ..., "rtmr2": ..., "rtmr3": ...,
     "mrseam": ..., "mrsignerseam": ..., "mrconfigid": ..., "mrowner": ..., "mrownerconfig": ...,
     "mrservicetd": ..., "report_data": ...,    # each a hex string or a list (any of)
     "xfam": "<hex 8 bytes>", "xfam_mask": "<hex>",
     "td_attributes": "<hex 8 bytes>", "td_attributes_mask": "<hex>",
     "min_tee_tcb_svn": "<hex 16 bytes>",        # component-wise minimum
     "min_tcb_date": "2024-03-13T00:00:00Z", "min_tcb_evaluation_data_number": 17,
     "accepted_advisory_ids": [...],            # every advisory of the verdict must be listed ([]: none)
     "rejected_advisory_ids": [...]}            # none of these may be present

Attribute and XFAM values are compared as the raw bytes of the quote (little-endian u64),
under the mask when one is given: ``quote & mask == value & mask``.

``validate_tdx`` runs every check and raises one ``PolicyError`` whose ``violations`` lists each
failure. Codes: ``revoked``, ``revocation_not_checked``, ``debug_td``, ``tcb_status_not_accepted``,
``advisory_not_accepted``, ``tcb_date_too_old``, ``tcb_evaluation_data_number_too_low``,
``<field>_mismatch`` (mrtd, rtmr0-3, mrseam, mrsignerseam, mrconfigid, mrowner,
mrownerconfig, mrservicetd, report_data, xfam, td_attributes), ``tee_tcb_svn_too_low``,
``sept_ve_disable_required``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ccverify.verifier.errors import Code, InputError, PolicyError
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.policy import (
    TIME,
    Problems,
    allowed_values,
    count,
    exact_bytes,
    flag,
    json_bool,
    json_count,
    json_hex,
    json_hex_list,
    json_strings,
    read_policy_document,
    start,
)
from ccverify.verifier.tdx.collateral import TcbStatus
from ccverify.verifier.tdx.tcb import masked
from ccverify.verifier.tdx.verify import TdxVerdict
from ccverify.verifier.timeutil import parse_time

#: measurement fields: policy key -> (TdReport attribute or rtmr index, size in bytes)
_MEASUREMENTS: dict[str, tuple[str, int]] = {
    "mrtd": ("mr_td", 48),
    "rtmr0": ("rtmr0", 48),
    "rtmr1": ("rtmr1", 48),
    "rtmr2": ("rtmr2", 48),
    "rtmr3": ("rtmr3", 48),
    "mrseam": ("mr_seam", 48),
    "mrsignerseam": ("mr_signer_seam", 48),
    "mrconfigid": ("mr_config_id", 48),
    "mrowner": ("mr_owner", 48),
    "mrownerconfig": ("mr_owner_config", 48),
    "mrservicetd": ("mr_service_td", 48),
    "report_data": ("report_data", 64),
}
#: the code of a measurement or masked field the quote's value fails
_MISMATCH = {
    "mrtd": Code.MRTD_MISMATCH,
    "rtmr0": Code.RTMR0_MISMATCH,
    "rtmr1": Code.RTMR1_MISMATCH,
    "rtmr2": Code.RTMR2_MISMATCH,
    "rtmr3": Code.RTMR3_MISMATCH,
    "mrseam": Code.MRSEAM_MISMATCH,
    "mrsignerseam": Code.MRSIGNERSEAM_MISMATCH,
    "mrconfigid": Code.MRCONFIGID_MISMATCH,
    "mrowner": Code.MROWNER_MISMATCH,
    "mrownerconfig": Code.MROWNERCONFIG_MISMATCH,
    "mrservicetd": Code.MRSERVICETD_MISMATCH,
    "report_data": Code.REPORT_DATA_MISMATCH,
    "xfam": Code.XFAM_MISMATCH,
    "td_attributes": Code.TD_ATTRIBUTES_MISMATCH,
}
_KEYS = frozenset(
    {
        *_MEASUREMENTS,
        "accepted_tcb_statuses",
        "allow_debug",
        "allow_unchecked_revocation",
        "require_sept_ve_disable",
        "xfam",
        "xfam_mask",
        "td_attributes",
        "td_attributes_mask",
        "min_tee_tcb_svn",
        "min_tcb_date",
        "min_tcb_evaluation_data_number",
        "accepted_advisory_ids",
        "rejected_advisory_ids",
    }
)


_MASKED = (("xfam", "xfam_mask"), ("td_attributes", "td_attributes_mask"))
_EXACT = {"xfam": 8, "xfam_mask": 8, "td_attributes": 8, "td_attributes_mask": 8, "min_tee_tcb_svn": 16}
_FLAGS = ("allow_debug", "allow_unchecked_revocation", "require_sept_ve_disable")


@dataclass(frozen=True)
class TdxPolicy:
    """What a relying party accepts. ``None`` means "not checked" (as in ``SnpPolicy``).

    Every value is checked when the policy is built (``InputError`` listing every problem): an
    allow-list is ``None`` or a non-empty tuple of values of the field's size (one ``bytes``
    stands for a tuple of one; a hex ``str`` is refused: ``from_json`` reads hex);
    ``accepted_tcb_statuses`` takes ``TcbStatus`` members or their names; a mask needs its value.
    """

    accepted_tcb_statuses: frozenset[TcbStatus] = frozenset({TcbStatus.UpToDate})
    allow_debug: bool = False
    allow_unchecked_revocation: bool = False
    require_sept_ve_disable: bool = False
    mrtd: tuple[bytes, ...] | None = None
    rtmr0: tuple[bytes, ...] | None = None
    rtmr1: tuple[bytes, ...] | None = None
    rtmr2: tuple[bytes, ...] | None = None
    rtmr3: tuple[bytes, ...] | None = None
    mrseam: tuple[bytes, ...] | None = None
    mrsignerseam: tuple[bytes, ...] | None = None
    mrconfigid: tuple[bytes, ...] | None = None
    mrowner: tuple[bytes, ...] | None = None
    mrownerconfig: tuple[bytes, ...] | None = None
    mrservicetd: tuple[bytes, ...] | None = None
    report_data: tuple[bytes, ...] | None = None
    xfam: bytes | None = None
    xfam_mask: bytes | None = None
    td_attributes: bytes | None = None
    td_attributes_mask: bytes | None = None
    min_tee_tcb_svn: bytes | None = None
    min_tcb_date: datetime | None = None
    min_tcb_evaluation_data_number: int | None = None
    accepted_advisory_ids: frozenset[str] | None = None
    rejected_advisory_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        problems = Problems("tdx policy")

        def store(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        store("accepted_tcb_statuses", _statuses(problems, self.accepted_tcb_statuses))
        for name in _FLAGS:
            flag(problems, name, getattr(self, name))
        for name, (_attr, size) in _MEASUREMENTS.items():
            store(name, allowed_values(problems, name, getattr(self, name), size))
        for name, size in _EXACT.items():
            store(name, exact_bytes(problems, name, getattr(self, name), size))
        for value_name, mask_name in _MASKED:
            if getattr(self, mask_name) is not None and getattr(self, value_name) is None:
                problems.add(mask_name, f"a mask without {value_name} checks nothing; give {value_name} too")
        moment = self.min_tcb_date
        if moment is not None and (not isinstance(moment, datetime) or moment.utcoffset() is None):
            problems.add("min_tcb_date", f"expected an aware datetime, got {moment!r}")
        count(problems, "min_tcb_evaluation_data_number", self.min_tcb_evaluation_data_number)
        for name in ("accepted_advisory_ids", "rejected_advisory_ids"):
            store(name, _ids(problems, name, getattr(self, name), may_be_empty=name.startswith("accepted")))
        problems.raise_any()

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> TdxPolicy:
        """From a policy file's ``"tdx"`` object (the rules of ``verifier/policy.py``; a whole
        policy document is read whole, both sections checked, and its ``"tdx"`` policy returned)."""
        if isinstance(doc, Mapping) and isinstance(doc.get("tdx"), Mapping) and set(doc) <= {"tdx", "snp"}:
            whole = read_policy_document(doc)
            assert whole.tdx is not None
            return whole.tdx
        problems, todo = start(doc, "tdx policy", _KEYS)
        values: dict[str, Any] = {}
        for key, value in todo.items():
            if key in _MEASUREMENTS:
                values[key] = json_hex_list(problems, key, value, _MEASUREMENTS[key][1])
            elif key in _EXACT:
                values[key] = json_hex(problems, key, value, _EXACT[key])
            elif key in _FLAGS:
                values[key] = json_bool(problems, key, value)
            elif key == "accepted_tcb_statuses":
                names = json_strings(problems, key, value)
                if names:
                    values[key] = _statuses(problems, names)
            elif key == "min_tcb_date":
                if isinstance(value, str) and TIME.fullmatch(value):
                    try:
                        values[key] = parse_time(value, "min_tcb_date")
                    except InputError as error:
                        problems.add(key, str(error))
                else:
                    problems.add(key, "expected an ISO 8601 time")
            elif key == "min_tcb_evaluation_data_number":
                values[key] = json_count(problems, key, value)
            else:  # accepted_advisory_ids, rejected_advisory_ids
                empty_ok = key.startswith("accepted")
                values[key] = frozenset(json_strings(problems, key, value, may_be_empty=empty_ok))
        problems.raise_any()
        return cls(**values)


def _statuses(problems: Problems, value: Any) -> frozenset[TcbStatus]:
    items = (value,) if isinstance(value, (str, TcbStatus)) else value
    if not isinstance(items, (tuple, list, set, frozenset)):
        problems.add("accepted_tcb_statuses", f"expected TCB statuses, got {type(value).__name__}")
        return frozenset()
    out: set[TcbStatus] = set()
    for item in items:
        if isinstance(item, TcbStatus):
            out.add(item)
            continue
        try:
            out.add(TcbStatus(item))
        except ValueError:
            known = ", ".join(s.value for s in TcbStatus)
            problems.add("accepted_tcb_statuses", f"unknown TCB status {item!r}; known: {known}")
    if not items:
        problems.add("accepted_tcb_statuses", "an empty list accepts no platform; list the accepted statuses")
    return frozenset(out)


def _ids(problems: Problems, name: str, value: Any, *, may_be_empty: bool) -> frozenset[str] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (tuple, list, set, frozenset)) or not all(isinstance(i, str) for i in items):
        problems.add(name, "expected advisory IDs (strings)")
        return None
    if not items and not may_be_empty:
        problems.add(name, "an empty list rejects nothing; leave the key out")
    return frozenset(items)


def _actual(verdict: TdxVerdict, key: str) -> bytes | None:
    body = verdict.quote.body
    attr = _MEASUREMENTS[key][0]
    if attr.startswith("rtmr"):
        return body.rtmrs[int(attr[-1])]
    value: bytes | None = getattr(body, attr)
    return value


def validate_tdx(verdict: TdxVerdict, policy: TdxPolicy | None = None) -> None:
    """Raise ``PolicyError`` unless ``policy`` (default: ``TdxPolicy()``) accepts ``verdict``.

    Every check runs: the error's ``violations`` lists each failed one (code, the field,
    expected and actual); its own code is the first's.
    """
    policy = policy or _DEFAULT
    body = verdict.quote.body
    out: list[PolicyError] = []
    if verdict.status is TcbStatus.Revoked:
        detail = "tcb_status: the platform's TCB is Revoked; never accepted"
        out.append(PolicyError(Code.REVOKED, detail, actual="Revoked"))
    if not verdict.collateral.revocation_checked and not policy.allow_unchecked_revocation:
        out.append(
            PolicyError(
                Code.REVOCATION_NOT_CHECKED,
                "revocation: the quote was verified without CRLs; the policy requires revocation checks "
                "(allow_unchecked_revocation accepts that)",
                expected="CRLs checked",
                actual="no CRLs",
            )
        )
    if body.debug and not policy.allow_debug:
        out.append(
            PolicyError(
                Code.DEBUG_TD,
                "td_attributes.DEBUG: the TD is a debug TD (its memory is open to the host)",
                expected="DEBUG=0",
                actual="DEBUG=1",
            )
        )
    if verdict.status not in policy.accepted_tcb_statuses and verdict.status is not TcbStatus.Revoked:
        out.append(
            PolicyError(
                Code.TCB_STATUS_NOT_ACCEPTED,
                "tcb_status: not an accepted TCB status",
                expected=sorted(s.value for s in policy.accepted_tcb_statuses),
                actual=verdict.status.value,
            )
        )
    if policy.rejected_advisory_ids:
        rejected = sorted(set(verdict.advisory_ids) & policy.rejected_advisory_ids)
        if rejected:
            out.append(
                PolicyError(
                    Code.ADVISORY_NOT_ACCEPTED,
                    "advisory_ids: the platform is affected by rejected advisories",
                    actual=rejected,
                )
            )
    if policy.accepted_advisory_ids is not None:
        extra = sorted(set(verdict.advisory_ids) - policy.accepted_advisory_ids)
        if extra:
            out.append(
                PolicyError(
                    Code.ADVISORY_NOT_ACCEPTED,
                    "advisory_ids: the platform is affected by advisories the policy does not accept",
                    expected=sorted(policy.accepted_advisory_ids),
                    actual=extra,
                )
            )
    if policy.min_tcb_date is not None and verdict.tcb_date < policy.min_tcb_date:
        out.append(
            PolicyError(
                Code.TCB_DATE_TOO_OLD,
                "tcb_date: older than the policy's minimum",
                expected=f">= {iso8601(policy.min_tcb_date)}",
                actual=iso8601(verdict.tcb_date),
            )
        )
    if (
        policy.min_tcb_evaluation_data_number is not None
        and verdict.tcb_evaluation_data_number < policy.min_tcb_evaluation_data_number
    ):
        out.append(
            PolicyError(
                Code.TCB_EVALUATION_DATA_NUMBER_TOO_LOW,
                "tcb_evaluation_data_number: collateral older than the policy's minimum",
                expected=f">= {policy.min_tcb_evaluation_data_number}",
                actual=verdict.tcb_evaluation_data_number,
            )
        )
    for key in _MEASUREMENTS:
        wanted: tuple[bytes, ...] | None = getattr(policy, key)
        if wanted is None:
            continue
        actual = _actual(verdict, key)
        if actual not in wanted:
            out.append(
                PolicyError(
                    _MISMATCH[key],
                    f"{key}: the quote's value is not one the policy accepts",
                    expected=wanted[0] if len(wanted) == 1 else [w.hex() for w in wanted],
                    actual=actual if actual is not None else "absent (TD report 1.0)",
                )
            )
    for key, value, mask, actual in (
        ("xfam", policy.xfam, policy.xfam_mask, body.xfam),
        ("td_attributes", policy.td_attributes, policy.td_attributes_mask, body.td_attributes),
    ):
        if value is None:
            continue
        full = mask or b"\xff" * 8
        if masked(actual, full) != masked(value, full):
            out.append(
                PolicyError(
                    _MISMATCH[key],
                    f"{key}: the quote's value" + (" (under the policy's mask)" if mask else "") + " differs",
                    expected=masked(value, full),
                    actual=masked(actual, full),
                )
            )
    if policy.min_tee_tcb_svn is not None:
        low = [i for i in range(16) if body.tee_tcb_svn[i] < policy.min_tee_tcb_svn[i]]
        if low:
            out.append(
                PolicyError(
                    Code.TEE_TCB_SVN_TOO_LOW,
                    f"tee_tcb_svn: component(s) {low} below the policy's minimum",
                    expected=f">= {policy.min_tee_tcb_svn.hex()}",
                    actual=body.tee_tcb_svn,
                )
            )
    if policy.require_sept_ve_disable and not body.sept_ve_disable:
        out.append(
            PolicyError(
                Code.SEPT_VE_DISABLE_REQUIRED,
                "td_attributes.SEPT_VE_DISABLE: the policy requires it set",
                expected="SEPT_VE_DISABLE=1",
                actual="SEPT_VE_DISABLE=0",
            )
        )
    if out:
        raise PolicyError.of(out)


#: ``TdxPolicy()``, built once
_DEFAULT = TdxPolicy()
