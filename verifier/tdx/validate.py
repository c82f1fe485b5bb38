"""Policy over a verified TDX quote: ``validate_tdx(verdict, policy)`` raises ``PolicyError``.

``verify_tdx`` establishes what the quote says and how current its platform is; this module
decides whether that is acceptable. The default policy (``TdxPolicy()``) accepts only the TCB
status UpToDate, refuses DEBUG TDs, and refuses verdicts made without revocation checks.
Revoked is refused whatever the policy says.

Policy JSON (the ``"tdx"`` object of a policy file; every key optional, unknown keys refused)::

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
     "accepted_advisory_ids": [...],            # every advisory of the verdict must be listed
     "rejected_advisory_ids": [...]}            # none of these may be present

Attribute and XFAM values are compared as the raw bytes of the quote (little-endian u64),
under the mask when one is given: ``quote & mask == value & mask``.

Codes: ``revoked``, ``revocation_not_checked``, ``debug_td``, ``tcb_status_not_accepted``,
``advisory_not_accepted``, ``tcb_date_too_old``, ``tcb_evaluation_data_number_too_low``,
``<field>_mismatch`` (mrtd, rtmr0-3, mrseam, mrsignerseam, mrconfigid, mrowner,
mrownerconfig, mrservicetd, report_data, xfam, td_attributes), ``tee_tcb_svn_too_low``,
``sept_ve_disable_required``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ccverify.verifier.errors import InputError, PolicyError
from ccverify.verifier.jsonable import iso8601
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


@dataclass(frozen=True)
class TdxPolicy:
    """What a relying party accepts. Empty tuples / None mean "not checked"."""

    accepted_tcb_statuses: frozenset[TcbStatus] = frozenset({TcbStatus.UpToDate})
    allow_debug: bool = False
    allow_unchecked_revocation: bool = False
    require_sept_ve_disable: bool = False
    mrtd: tuple[bytes, ...] = ()
    rtmr0: tuple[bytes, ...] = ()
    rtmr1: tuple[bytes, ...] = ()
    rtmr2: tuple[bytes, ...] = ()
    rtmr3: tuple[bytes, ...] = ()
    mrseam: tuple[bytes, ...] = ()
    mrsignerseam: tuple[bytes, ...] = ()
    mrconfigid: tuple[bytes, ...] = ()
    mrowner: tuple[bytes, ...] = ()
    mrownerconfig: tuple[bytes, ...] = ()
    mrservicetd: tuple[bytes, ...] = ()
    report_data: tuple[bytes, ...] = ()
    xfam: bytes | None = None
    xfam_mask: bytes | None = None
    td_attributes: bytes | None = None
    td_attributes_mask: bytes | None = None
    min_tee_tcb_svn: bytes | None = None
    min_tcb_date: datetime | None = None
    min_tcb_evaluation_data_number: int | None = None
    accepted_advisory_ids: frozenset[str] | None = None
    rejected_advisory_ids: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TdxPolicy:
        """From a policy's ``"tdx"`` object (a whole policy document with a ``"tdx"`` key also works)."""
        if not isinstance(doc, Mapping):
            raise InputError("TDX policy: must be a JSON object")
        if "tdx" in doc and isinstance(doc["tdx"], Mapping) and set(doc) <= {"tdx", "snp"}:
            doc = doc["tdx"]
        unknown = sorted(set(doc) - _KEYS)
        if unknown:
            raise InputError(
                f"TDX policy: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}"
            )
        values: dict[str, Any] = {}
        for key, (_attr, size) in _MEASUREMENTS.items():
            if key in doc:
                values[key] = _hex_list(doc[key], key, size)
        for key, size in (
            ("xfam", 8),
            ("xfam_mask", 8),
            ("td_attributes", 8),
            ("td_attributes_mask", 8),
            ("min_tee_tcb_svn", 16),
        ):
            if doc.get(key) is not None:
                values[key] = _hex(doc[key], key, size)
        for key in ("allow_debug", "allow_unchecked_revocation", "require_sept_ve_disable"):
            if key in doc:
                if not isinstance(doc[key], bool):
                    raise InputError(f"TDX policy: {key} must be true or false")
                values[key] = doc[key]
        if "accepted_tcb_statuses" in doc:
            values["accepted_tcb_statuses"] = frozenset(
                _status(s) for s in _strings(doc, "accepted_tcb_statuses")
            )
        if doc.get("min_tcb_date") is not None:
            if not isinstance(doc["min_tcb_date"], str):
                raise InputError("TDX policy: min_tcb_date must be an ISO 8601 time")
            values["min_tcb_date"] = parse_time(doc["min_tcb_date"], "TDX policy min_tcb_date")
        if doc.get("min_tcb_evaluation_data_number") is not None:
            number = doc["min_tcb_evaluation_data_number"]
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise InputError("TDX policy: min_tcb_evaluation_data_number must be a non-negative integer")
            values["min_tcb_evaluation_data_number"] = number
        if doc.get("accepted_advisory_ids") is not None:
            values["accepted_advisory_ids"] = frozenset(_strings(doc, "accepted_advisory_ids"))
        if "rejected_advisory_ids" in doc:
            values["rejected_advisory_ids"] = frozenset(_strings(doc, "rejected_advisory_ids"))
        return cls(**values)


def _strings(doc: Mapping[str, Any], key: str) -> list[str]:
    value = doc[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"TDX policy: {key} must be a list of strings")
    return value


def _status(name: str) -> TcbStatus:
    try:
        return TcbStatus(name)
    except ValueError:
        known = ", ".join(s.value for s in TcbStatus)
        raise InputError(f"TDX policy: unknown TCB status {name!r}; known: {known}") from None


def _hex(value: Any, key: str, size: int) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"TDX policy: {key} must be a hex string")
    text = value[2:] if value.startswith(("0x", "0X")) else value
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"TDX policy: {key} is not hex") from None
    if len(data) != size:
        raise InputError(f"TDX policy: {key} must be {size} bytes, got {len(data)}")
    return data


def _hex_list(value: Any, key: str, size: int) -> tuple[bytes, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(_hex(item, key, size) for item in items)


def _actual(verdict: TdxVerdict, key: str) -> bytes | None:
    body = verdict.quote.body
    attr = _MEASUREMENTS[key][0]
    if attr.startswith("rtmr"):
        return body.rtmrs[int(attr[-1])]
    value: bytes | None = getattr(body, attr)
    return value


def validate_tdx(verdict: TdxVerdict, policy: TdxPolicy | None = None) -> None:
    """Raise ``PolicyError`` (code, the field, expected and actual) unless ``policy`` accepts."""
    policy = policy or TdxPolicy()
    body = verdict.quote.body
    if verdict.status is TcbStatus.Revoked:
        raise PolicyError(
            "revoked", "tcb_status: the platform's TCB is Revoked; never accepted", actual="Revoked"
        )
    if not verdict.collateral.revocation_checked and not policy.allow_unchecked_revocation:
        raise PolicyError(
            "revocation_not_checked",
            "revocation: the quote was verified without CRLs; the policy requires revocation checks "
            "(set allow_unchecked_revocation to accept)",
            expected="CRLs checked",
            actual="no CRLs",
        )
    if body.debug and not policy.allow_debug:
        raise PolicyError(
            "debug_td",
            "td_attributes.DEBUG: the TD is a debug TD (its memory is open to the host)",
            expected="DEBUG=0",
            actual="DEBUG=1",
        )
    if verdict.status not in policy.accepted_tcb_statuses:
        raise PolicyError(
            "tcb_status_not_accepted",
            "tcb_status: not an accepted TCB status",
            expected=sorted(s.value for s in policy.accepted_tcb_statuses),
            actual=verdict.status.value,
        )
    rejected = sorted(set(verdict.advisory_ids) & policy.rejected_advisory_ids)
    if rejected:
        raise PolicyError(
            "advisory_not_accepted",
            "advisory_ids: the platform is affected by rejected advisories",
            actual=rejected,
        )
    if policy.accepted_advisory_ids is not None:
        extra = sorted(set(verdict.advisory_ids) - policy.accepted_advisory_ids)
        if extra:
            raise PolicyError(
                "advisory_not_accepted",
                "advisory_ids: the platform is affected by advisories the policy does not accept",
                expected=sorted(policy.accepted_advisory_ids),
                actual=extra,
            )
    if policy.min_tcb_date is not None and verdict.tcb_date < policy.min_tcb_date:
        raise PolicyError(
            "tcb_date_too_old",
            "tcb_date: older than the policy's minimum",
            expected=f">= {iso8601(policy.min_tcb_date)}",
            actual=iso8601(verdict.tcb_date),
        )
    if (
        policy.min_tcb_evaluation_data_number is not None
        and verdict.tcb_evaluation_data_number < policy.min_tcb_evaluation_data_number
    ):
        raise PolicyError(
            "tcb_evaluation_data_number_too_low",
            "tcb_evaluation_data_number: collateral older than the policy's minimum",
            expected=f">= {policy.min_tcb_evaluation_data_number}",
            actual=verdict.tcb_evaluation_data_number,
        )
    for key in _MEASUREMENTS:
        wanted: tuple[bytes, ...] = getattr(policy, key)
        if not wanted:
            continue
        actual = _actual(verdict, key)
        if actual not in wanted:
            raise PolicyError(
                f"{key}_mismatch",
                f"{key}: the quote's value is not one the policy accepts",
                expected=wanted[0] if len(wanted) == 1 else [w.hex() for w in wanted],
                actual=actual if actual is not None else "absent (TD report 1.0)",
            )
    for key, value, mask, actual in (
        ("xfam", policy.xfam, policy.xfam_mask, body.xfam),
        ("td_attributes", policy.td_attributes, policy.td_attributes_mask, body.td_attributes),
    ):
        if value is None:
            continue
        full = mask or b"\xff" * 8
        if masked(actual, full) != masked(value, full):
            raise PolicyError(
                f"{key}_mismatch",
                f"{key}: the quote's value" + (" (under the policy's mask)" if mask else "") + " differs",
                expected=masked(value, full),
                actual=masked(actual, full),
            )
    if policy.min_tee_tcb_svn is not None:
        low = [i for i in range(16) if body.tee_tcb_svn[i] < policy.min_tee_tcb_svn[i]]
        if low:
            raise PolicyError(
                "tee_tcb_svn_too_low",
                f"tee_tcb_svn: component(s) {low} below the policy's minimum",
                expected=f">= {policy.min_tee_tcb_svn.hex()}",
                actual=body.tee_tcb_svn,
            )
    if policy.require_sept_ve_disable and not body.sept_ve_disable:
        raise PolicyError(
            "sept_ve_disable_required",
            "td_attributes.SEPT_VE_DISABLE: the policy requires it set",
            expected="SEPT_VE_DISABLE=1",
            actual="SEPT_VE_DISABLE=0",
        )
