"""TDX policy: each field refuses with its own code, naming expected and actual values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from ccverify.verifier.errors import InputError, PolicyError
from ccverify.verifier.evidence.tdx_quote import TdAttributes
from ccverify.verifier.tdx.collateral import TcbStatus
from ccverify.verifier.tdx.validate import TdxPolicy, validate_tdx
from ccverify.verifier.tdx.verify import TdxVerdict
from ccverify.verifier.testing.pki import IntelTestPki
from tests.unit.test_tdx_negative import levels, make_collateral, make_quote, verify

REPORT_DATA = bytes(range(64))


@pytest.fixture(scope="module")
def verdict() -> TdxVerdict:
    pki = IntelTestPki()
    return verify(pki, make_quote(pki, body_fields={"report_data": REPORT_DATA}))


@pytest.fixture(scope="module")
def advised() -> TdxVerdict:
    pki = IntelTestPki()
    tcb = pki.tcb_info(
        tcb_levels=levels("SWHardeningNeeded", advisory_ids=["INTEL-SA-00615", "INTEL-SA-00289"])
    )
    return verify(pki, collateral=make_collateral(pki, tcb_info=tcb))


def refuses(verdict: TdxVerdict, policy: TdxPolicy | dict[str, Any], code: str) -> PolicyError:
    if isinstance(policy, dict):
        policy = TdxPolicy.from_json(policy)
    with pytest.raises(PolicyError) as info:
        validate_tdx(verdict, policy)
    assert info.value.code == code, str(info.value)
    return info.value


def test_default_policy_accepts_up_to_date(verdict: TdxVerdict) -> None:
    validate_tdx(verdict)
    validate_tdx(verdict, TdxPolicy())


def test_matching_policy_accepts(verdict: TdxVerdict) -> None:
    body = verdict.quote.body
    policy = TdxPolicy.from_json(
        {
            "mrtd": [("ff" * 48), body.mr_td.hex()],
            "rtmr0": body.rtmrs[0].hex(),
            "rtmr1": body.rtmrs[1].hex(),
            "rtmr2": body.rtmrs[2].hex(),
            "rtmr3": body.rtmrs[3].hex(),
            "mrseam": body.mr_seam.hex(),
            "mrsignerseam": body.mr_signer_seam.hex(),
            "mrconfigid": body.mr_config_id.hex(),
            "mrowner": body.mr_owner.hex(),
            "mrownerconfig": body.mr_owner_config.hex(),
            "report_data": REPORT_DATA.hex(),
            "xfam": body.xfam.hex(),
            "td_attributes": body.td_attributes.hex(),
            "min_tee_tcb_svn": body.tee_tcb_svn.hex(),
            "min_tcb_date": "2024-01-01T00:00:00Z",
            "min_tcb_evaluation_data_number": 17,
            "require_sept_ve_disable": True,
        }
    )
    validate_tdx(verdict, policy)


@pytest.mark.parametrize(
    "key",
    [
        "mrtd",
        "rtmr0",
        "rtmr1",
        "rtmr2",
        "rtmr3",
        "mrseam",
        "mrsignerseam",
        "mrconfigid",
        "mrowner",
        "mrownerconfig",
    ],
)
def test_measurement_mismatch(verdict: TdxVerdict, key: str) -> None:
    error = refuses(verdict, {key: "ab" * 48}, f"{key}_mismatch")
    assert error.expected == bytes([0xAB]) * 48
    assert key in error.detail


def test_report_data_mismatch(verdict: TdxVerdict) -> None:
    error = refuses(verdict, {"report_data": "00" * 64}, "report_data_mismatch")
    assert error.actual == REPORT_DATA


def test_mrservicetd_absent_in_tdx10(verdict: TdxVerdict) -> None:
    refuses(verdict, {"mrservicetd": "00" * 48}, "mrservicetd_mismatch")


def test_xfam_value(verdict: TdxVerdict) -> None:
    refuses(verdict, {"xfam": "0300000000000000"}, "xfam_mismatch")


def test_xfam_with_mask(verdict: TdxVerdict) -> None:
    # only x87/SSE bits compared: accepted; AVX bit asked absent: refused
    validate_tdx(verdict, TdxPolicy.from_json({"xfam": "0300000000000000", "xfam_mask": "0300000000000000"}))
    refuses(verdict, {"xfam": "0300000000000000", "xfam_mask": "0700000000000000"}, "xfam_mismatch")


def test_td_attributes_value_and_mask(verdict: TdxVerdict) -> None:
    refuses(verdict, {"td_attributes": "0000000000000000"}, "td_attributes_mismatch")
    # mask on DEBUG only: the quote's DEBUG=0 matches
    validate_tdx(
        verdict, TdxPolicy.from_json({"td_attributes": "00" * 8, "td_attributes_mask": "0100000000000000"})
    )


def test_min_tee_tcb_svn(verdict: TdxVerdict) -> None:
    svn = bytearray(verdict.quote.body.tee_tcb_svn)
    svn[2] += 1
    error = refuses(verdict, {"min_tee_tcb_svn": bytes(svn).hex()}, "tee_tcb_svn_too_low")
    assert "[2]" in error.detail


def test_accepted_statuses(advised: TdxVerdict) -> None:
    error = refuses(advised, {}, "tcb_status_not_accepted")
    assert error.actual == "SWHardeningNeeded"
    validate_tdx(
        advised,
        TdxPolicy.from_json({"accepted_tcb_statuses": ["UpToDate", "SWHardeningNeeded"]}),
    )


def test_rejected_advisory(advised: TdxVerdict) -> None:
    policy = {"accepted_tcb_statuses": ["SWHardeningNeeded"], "rejected_advisory_ids": ["INTEL-SA-00615"]}
    error = refuses(advised, policy, "advisory_not_accepted")
    assert error.actual == ["INTEL-SA-00615"]


def test_accepted_advisories(advised: TdxVerdict) -> None:
    policy: dict[str, Any] = {
        "accepted_tcb_statuses": ["SWHardeningNeeded"],
        "accepted_advisory_ids": ["INTEL-SA-00289"],
    }
    error = refuses(advised, policy, "advisory_not_accepted")
    assert error.actual == ["INTEL-SA-00615"]
    policy["accepted_advisory_ids"] = ["INTEL-SA-00289", "INTEL-SA-00615"]
    validate_tdx(advised, TdxPolicy.from_json(policy))


def test_min_tcb_date(verdict: TdxVerdict) -> None:
    error = refuses(verdict, {"min_tcb_date": "2025-01-01T00:00:00Z"}, "tcb_date_too_old")
    assert error.expected == ">= 2025-01-01T00:00:00Z"
    assert isinstance(error.actual, str) and error.actual.endswith("T00:00:00Z")


def test_min_tcb_evaluation_data_number(verdict: TdxVerdict) -> None:
    refuses(verdict, {"min_tcb_evaluation_data_number": 18}, "tcb_evaluation_data_number_too_low")


def test_revoked_is_never_accepted(verdict: TdxVerdict) -> None:
    revoked = dataclasses.replace(verdict, status=TcbStatus.Revoked)
    refuses(revoked, TdxPolicy(accepted_tcb_statuses=frozenset(TcbStatus)), "revoked")


def test_debug_refused_unless_allowed(verdict: TdxVerdict) -> None:
    flags = int(TdAttributes.DEBUG).to_bytes(8, "little")
    debug = dataclasses.replace(
        verdict,
        quote=dataclasses.replace(
            verdict.quote, body=dataclasses.replace(verdict.quote.body, td_attributes=flags)
        ),
    )
    refuses(debug, {}, "debug_td")
    validate_tdx(debug, TdxPolicy(allow_debug=True))
    refuses(debug, {"allow_debug": True, "require_sept_ve_disable": True}, "sept_ve_disable_required")


def test_from_json_whole_policy_document() -> None:
    policy = TdxPolicy.from_json({"tdx": {"allow_debug": True}, "snp": {}})
    assert policy.allow_debug is True


def test_from_json_statuses() -> None:
    policy = TdxPolicy.from_json({"accepted_tcb_statuses": ["UpToDate", "OutOfDate"]})
    assert policy.accepted_tcb_statuses == frozenset({TcbStatus.UpToDate, TcbStatus.OutOfDate})
    # a single value stands for a list of one, on both platforms (verifier/policy.py)
    single = TdxPolicy.from_json({"accepted_tcb_statuses": "OutOfDate"})
    assert single.accepted_tcb_statuses == {TcbStatus.OutOfDate}
    assert TdxPolicy.from_json({"min_tcb_date": "2024-03-13T00:00:00Z"}).min_tcb_date == datetime(
        2024, 3, 13, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "doc",
    [
        {"mrdt": "00" * 48},
        {"mrtd": "00" * 47},
        {"mrtd": "zz"},
        {"mrtd": 5},
        {"xfam": "00"},
        {"allow_debug": "yes"},
        {"accepted_tcb_statuses": ["Fine"]},
        {"accepted_tcb_statuses": []},
        {"min_tcb_date": "yesterday"},
        {"min_tcb_evaluation_data_number": -1},
        {"rejected_advisory_ids": [1]},
    ],
)
def test_from_json_rejects_bad_values(doc: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        TdxPolicy.from_json(doc)
