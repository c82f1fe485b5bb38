"""Real TDX quotes against their real collateral, at the times SOURCES.md gives (and today)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ccverify.verifier.collateral.tdx_loader import load_collateral
from ccverify.verifier.errors import InputError, ParseError, PolicyError, VerificationError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.roots import INTEL_SGX_ROOT_CA_SHA256
from ccverify.verifier.tdx.collateral import TcbStatus, TdxCollateral
from ccverify.verifier.tdx.validate import TdxPolicy, validate_tdx
from ccverify.verifier.tdx.verify import TdxVerdict
from ccverify.verifier.tdx.verify import verify_tdx as _verify_tdx
from tests.conftest import fixture, fixture_bytes

TODAY = datetime(2026, 11, 21, tzinfo=UTC)
AT = datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)  # the dcap-qvl tdx_quote's collateral holds


def verify_tdx(*args: Any, **kwargs: Any) -> TdxVerdict:
    """``verify_tdx`` without a policy (UNSAFE_NO_POLICY) unless a test passes one: these tests check
    verification; ``test_tdx_policy.py`` checks the policy, ``test_policy_api.py`` the default."""
    kwargs.setdefault("policy", UNSAFE_NO_POLICY)
    return _verify_tdx(*args, **kwargs)


def dcap(name: str) -> TdxCollateral:
    return load_collateral(fixture(f"tdx/dcap-qvl/{name}"))


def go_collateral() -> TdxCollateral:
    base = "tdx/go-tdx-guest/"
    return TdxCollateral.from_pcs(
        tcb_info=fixture_bytes(base + "sample_tcbInfo_response"),
        tcb_info_issuer_chain=fixture_bytes(base + "tcbinfo_issuer_chain.pem"),
        qe_identity=fixture_bytes(base + "sample_qeIdentity_response"),
        qe_identity_issuer_chain=fixture_bytes(base + "qeidentity_issuer_chain.pem"),
        pck_crl=fixture_bytes(base + "pckcrl"),
        pck_crl_issuer_chain=fixture_bytes(base + "pckcrl_issuer_chain.pem"),
        root_ca_crl=fixture_bytes(base + "rootcrl.der"),
        origin="go-tdx-guest testdata",
    )


def trustee_collateral() -> TdxCollateral:
    # trustee keeps no issuer chains and no CRLs: the TCB signing chain comes from the dcap-qvl
    # collateral (the re-issued Intel SGX TCB Signing certificate, same key), CRLs are waived
    # explicitly
    chains = json.loads(fixture("tdx/dcap-qvl/tdx_quote_collateral.json").read_text())
    return TdxCollateral.from_pcs(
        tcb_info=fixture_bytes("tdx/trustee/tcbInfo.json"),
        tcb_info_issuer_chain=chains["tcb_info_issuer_chain"],
        qe_identity=fixture_bytes("tdx/trustee/enclaveIdentity.json"),
        qe_identity_issuer_chain=chains["qe_identity_issuer_chain"],
        allow_missing_crl=True,
        origin="trustee test_data",
    )


def code_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(VerificationError) as info:
        call()
    return info.value.code


# -- dcap-qvl tdx_quote: UpToDate, no advisories ---------------------------------------------------


@pytest.fixture(scope="module")
def up_to_date() -> TdxVerdict:
    return verify_tdx(
        fixture_bytes("tdx/dcap-qvl/tdx_quote"), dcap("tdx_quote_collateral.json"), at="2025-07-19T10:00:34Z"
    )


def test_dcap_qvl_quote_up_to_date(up_to_date: TdxVerdict) -> None:
    assert up_to_date.status is TcbStatus.UpToDate
    assert up_to_date.advisory_ids == ()


def test_dcap_qvl_quote_component_statuses(up_to_date: TdxVerdict) -> None:
    assert up_to_date.platform_status is TcbStatus.UpToDate
    assert up_to_date.module_status is TcbStatus.UpToDate
    assert up_to_date.qe_status is TcbStatus.UpToDate
    assert up_to_date.tdx_module_identity == "TDX_01"


def test_dcap_qvl_quote_platform_facts(up_to_date: TdxVerdict) -> None:
    assert up_to_date.fmspc == bytes.fromhex("b0c06f000000")
    assert up_to_date.pce_id == bytes(2)
    assert up_to_date.tcb_date == datetime(2024, 3, 13, tzinfo=UTC)
    assert up_to_date.tcb_evaluation_data_number == 17
    assert up_to_date.pck.ca == "platform"
    assert up_to_date.pck.extensions.tcb.pcesvn == 11


def test_dcap_qvl_quote_root_is_production_pin(up_to_date: TdxVerdict) -> None:
    assert up_to_date.root.production is True
    assert up_to_date.root.sha256 == INTEL_SGX_ROOT_CA_SHA256
    assert "CN=Intel SGX Root CA" in up_to_date.root.subject


def test_dcap_qvl_quote_collateral_recorded(up_to_date: TdxVerdict) -> None:
    coll = up_to_date.collateral
    assert coll.revocation_checked is True
    assert coll.tcb_info.issue_date == datetime(2025, 6, 19, 10, 16, 3, tzinfo=UTC)
    assert coll.tcb_info.next_update == datetime(2025, 7, 19, 10, 16, 3, tzinfo=UTC)
    assert coll.tcb_info.version == 3
    assert coll.qe_identity.version == 2
    assert coll.pck_crl is not None
    assert coll.root_ca_crl is not None
    assert coll.root_ca_crl.next_update == datetime(2026, 4, 3, 11, 21, 57, tzinfo=UTC)
    assert up_to_date.earliest_next_update == datetime(2025, 7, 19, 10, 0, 35, tzinfo=UTC)


def test_dcap_qvl_quote_measurements(up_to_date: TdxVerdict) -> None:
    body = up_to_date.quote.body
    assert body.mr_td.hex().startswith("91eb2b44")
    assert body.mr_td.hex().endswith("18b7")
    assert body.rtmrs[3] == bytes(48)


def test_dcap_qvl_quote_default_policy_accepts(up_to_date: TdxVerdict) -> None:
    validate_tdx(up_to_date)


def test_dcap_qvl_quote_one_second_late_is_expired() -> None:
    code = code_of(
        lambda: verify_tdx(
            fixture_bytes("tdx/dcap-qvl/tdx_quote"),
            dcap("tdx_quote_collateral.json"),
            at="2025-07-19T10:00:35Z",
        )
    )
    assert code == "collateral_expired"


# -- NEAR gas test quote: UpToDate ----------------------------------------------------------------


def test_near_quote_up_to_date() -> None:
    verdict = verify_tdx(
        fixture_bytes("tdx/dcap-qvl/near_gas_test_quote_hex.txt"),
        dcap("near_gas_test_quote_collateral.json"),
        at="2025-10-02T07:03:50Z",
    )
    assert verdict.status is TcbStatus.UpToDate
    assert verdict.fmspc == bytes.fromhex("20a06f000000")
    assert verdict.quote.body.xfam == bytes.fromhex("0702000000000000")
    assert verdict.pck.extensions.tcb.sgx_components[5] == 255


# -- the outdated v5 quote: no TCB level matches --------------------------------------------------


def test_outdated_quote_tcb_not_supported() -> None:
    code = code_of(
        lambda: verify_tdx(
            fixture_bytes("tdx/dcap-qvl/tdx_quote_outdated"),
            dcap("tdx_quote_outdated_collateral.json"),
            at="2026-03-20T10:41:14Z",
        )
    )
    assert code == "tcb_not_supported"


# -- go-tdx-guest SPR quote with its 2023 collateral ----------------------------------------------


def test_spr_quote_passes_crypto_then_tcb_not_supported() -> None:
    quote = fixture_bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat")
    with pytest.raises(VerificationError) as info:
        verify_tdx(quote, go_collateral(), at="2023-07-01T01:00:00Z")
    assert info.value.code == "tcb_not_supported"
    # the failure is the SGX component comparison, after every signature/CRL/time check
    assert "SGX components" in info.value.detail


def test_spr_quote_certificates_expire_2053() -> None:
    quote = fixture_bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat")
    assert (
        code_of(lambda: verify_tdx(quote, go_collateral(), at="2053-07-01T00:00:00Z"))
        == "certificate_expired"
    )


# -- trustee quote_6: OutOfDate, without CRLs (explicitly waived) ---------------------------------


@pytest.fixture(scope="module")
def trustee_verdict() -> TdxVerdict:
    return verify_tdx(
        fixture_bytes("tdx/trustee/tdx_quote_6.dat"), trustee_collateral(), at="2025-11-01T00:00:00Z"
    )


def test_trustee_quote_6_out_of_date(trustee_verdict: TdxVerdict) -> None:
    assert trustee_verdict.status is TcbStatus.OutOfDate
    assert trustee_verdict.platform_status is TcbStatus.OutOfDate
    assert trustee_verdict.tcb_date == datetime(2018, 1, 4, tzinfo=UTC)


def test_trustee_quote_6_module_and_qe(trustee_verdict: TdxVerdict) -> None:
    assert trustee_verdict.tdx_module_identity == "TDX_03"
    assert trustee_verdict.module_status is TcbStatus.UpToDate
    assert trustee_verdict.qe_status is TcbStatus.UpToDate


def test_trustee_quote_6_records_missing_crls(trustee_verdict: TdxVerdict) -> None:
    assert trustee_verdict.collateral.revocation_checked is False
    assert trustee_verdict.collateral.pck_crl is None
    assert trustee_verdict.collateral.root_ca_crl is None


def test_trustee_quote_6_refused_by_default_policy(trustee_verdict: TdxVerdict) -> None:
    with pytest.raises(PolicyError) as info:
        validate_tdx(trustee_verdict)
    assert info.value.code == "revocation_not_checked"
    with pytest.raises(PolicyError) as status:
        validate_tdx(trustee_verdict, TdxPolicy(allow_unchecked_revocation=True))
    assert status.value.code == "tcb_status_not_accepted"


def test_trustee_quote_6_needs_crls_unless_waived() -> None:
    from ccverify.verifier.errors import CollateralError

    strict = trustee_collateral()
    import dataclasses

    strict = dataclasses.replace(strict, allow_missing_crl=False)
    with pytest.raises(CollateralError):
        verify_tdx(fixture_bytes("tdx/trustee/tdx_quote_6.dat"), strict, at="2025-11-01T00:00:00Z")


# -- trustee quote_4: a real DEBUG TD ------------------------------------------------------------


def test_trustee_debug_quote_verifies_and_policy_refuses() -> None:
    quote = fixture_bytes("tdx/trustee/tdx_quote_4.dat")
    verdict = verify_tdx(quote, go_collateral(), at="2023-07-01T01:00:00Z")
    assert verdict.debug is True
    with pytest.raises(PolicyError) as info:
        validate_tdx(verdict)
    assert info.value.code == "debug_td"
    validate_tdx(verdict, TdxPolicy(allow_debug=True))


# -- Intel's synthetic sample: not Intel's root ----------------------------------------------------


def test_intel_qvl_synthetic_untrusted_root() -> None:
    quote = fixture_bytes("tdx/intel-qvl-synthetic/quote.dat")
    code = code_of(lambda: verify_tdx(quote, dcap("tdx_quote_collateral.json"), at="2025-07-19T10:00:34Z"))
    assert code == "untrusted_root"


# -- today: everything recorded is stale ----------------------------------------------------------


@pytest.mark.parametrize(
    ("quote", "collateral"),
    [
        ("tdx/dcap-qvl/tdx_quote", "tdx_quote_collateral.json"),
        ("tdx/dcap-qvl/near_gas_test_quote_hex.txt", "near_gas_test_quote_collateral.json"),
        ("tdx/dcap-qvl/tdx_quote_outdated", "tdx_quote_outdated_collateral.json"),
    ],
)
def test_real_quotes_today_collateral_expired(quote: str, collateral: str) -> None:
    assert (
        code_of(lambda: verify_tdx(fixture_bytes(quote), dcap(collateral), at=TODAY)) == "collateral_expired"
    )


def test_spr_quote_today_collateral_expired() -> None:
    quote = fixture_bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat")
    assert code_of(lambda: verify_tdx(quote, go_collateral(), at=TODAY)) == "collateral_expired"


def test_trustee_quote_today_collateral_expired() -> None:
    quote = fixture_bytes("tdx/trustee/tdx_quote_6.dat")
    assert code_of(lambda: verify_tdx(quote, trustee_collateral(), at=TODAY)) == "collateral_expired"


# -- inputs ------------------------------------------------------------------------------------------


def test_sgx_quote_is_not_a_tdx_quote() -> None:
    with pytest.raises(ParseError):
        verify_tdx(fixture_bytes("tdx/dcap-qvl/sgx_quote"), dcap("sgx_quote_collateral.json"), at=TODAY)


def test_quote_as_object_and_bytes_agree(up_to_date: TdxVerdict) -> None:
    quote = TdxQuote.from_bytes(fixture_bytes("tdx/dcap-qvl/tdx_quote"))
    again = verify_tdx(quote, dcap("tdx_quote_collateral.json"), at=up_to_date.at)
    assert again.status is up_to_date.status
    assert again.earliest_next_update == up_to_date.earliest_next_update


def test_wrong_collateral_for_the_quote_is_fmspc_mismatch() -> None:
    code = code_of(
        lambda: verify_tdx(
            fixture_bytes("tdx/dcap-qvl/tdx_quote"),
            dcap("near_gas_test_quote_collateral.json"),
            at="2025-09-10T00:00:00Z",
        )
    )
    assert code == "fmspc_mismatch"


def test_trust_root_file_is_recorded(tmp_path: Path) -> None:
    root = fixture("tdx/go-tdx-guest/trusted_root.pem")
    verdict = verify_tdx(
        fixture_bytes("tdx/dcap-qvl/tdx_quote"),
        dcap("tdx_quote_collateral.json"),
        at="2025-07-19T10:00:34Z",
        trust_root=root,
    )
    assert verdict.root.production is True
    with pytest.raises(InputError):
        verify_tdx(
            fixture_bytes("tdx/dcap-qvl/tdx_quote"),
            dcap("tdx_quote_collateral.json"),
            trust_root=tmp_path / "x",
        )


# -- the memos ------------------------------------------------------------------------------------


def test_reused_collateral_object_still_expires() -> None:
    quote = fixture_bytes("tdx/dcap-qvl/tdx_quote")
    collateral = dcap("tdx_quote_collateral.json")
    assert verify_tdx(quote, collateral, at="2025-07-19T10:00:34Z").status is TcbStatus.UpToDate
    assert code_of(lambda: verify_tdx(quote, collateral, at="2025-07-19T10:00:35Z")) == "collateral_expired"
    assert (
        code_of(lambda: verify_tdx(quote, collateral, at="2025-06-19T10:00:00Z"))
        == "collateral_not_yet_valid"
    )
    assert verify_tdx(quote, collateral, at="2025-07-19T10:00:34Z").status is TcbStatus.UpToDate


def test_cold_and_warm_verdicts_are_equal() -> None:
    from ccverify.verifier.tdx.verify import clear_caches

    quote = fixture_bytes("tdx/dcap-qvl/tdx_quote")
    collateral = dcap("tdx_quote_collateral.json")
    clear_caches()
    cold = verify_tdx(quote, collateral, at="2025-07-19T10:00:34Z")
    warm = verify_tdx(quote, collateral, at="2025-07-19T10:00:34Z")
    assert cold == warm


def _swapped(doc: dict[str, str], kind: str, as_kind: str) -> TdxCollateral:
    """The QuoteCollateralV3 ``doc`` with ``kind``'s signed JSON offered as ``as_kind`` too."""
    doc = dict(doc)
    for suffix in ("", "_signature", "_issuer_chain"):
        doc[as_kind + suffix] = doc[kind + suffix]
    return TdxCollateral.from_quote_collateral_v3(doc)


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize(
    ("kind", "as_kind", "code"),
    [("tcb_info", "qe_identity", "qe_identity_invalid"), ("qe_identity", "tcb_info", "tcb_info_invalid")],
)
def test_signed_json_offered_as_the_other_kind(warm: bool, kind: str, as_kind: str, code: str) -> None:
    from ccverify.verifier.tdx.verify import clear_caches

    quote = fixture_bytes("tdx/dcap-qvl/tdx_quote")
    doc = json.loads(fixture("tdx/dcap-qvl/tdx_quote_collateral.json").read_text())
    clear_caches()
    if warm:  # the memos already hold both items, each checked as its own kind
        assert verify_tdx(quote, dcap("tdx_quote_collateral.json"), at=AT).status is TcbStatus.UpToDate
    assert code_of(lambda: verify_tdx(quote, _swapped(doc, kind, as_kind), at=AT)) == code
    # and the memos still serve the right kind afterwards
    assert verify_tdx(quote, dcap("tdx_quote_collateral.json"), at=AT).status is TcbStatus.UpToDate


_SWAP_UNDER_O = """
import json, sys
from ccverify.verifier.errors import VerificationError
from ccverify.verifier.tdx.collateral import TdxCollateral
from ccverify.verifier.tdx.verify import verify_tdx
if sys.flags.optimize != 1:
    sys.exit("not running under python -O")
quote, collateral = open(sys.argv[1], "rb").read(), json.load(open(sys.argv[2]))
swapped = dict(collateral)
for suffix in ("", "_signature", "_issuer_chain"):
    swapped["qe_identity" + suffix] = collateral["tcb_info" + suffix]
for doc in (collateral, swapped, collateral):
    try:
        print(verify_tdx(quote, TdxCollateral.from_quote_collateral_v3(doc), at=sys.argv[3]).status.name)
    except VerificationError as error:
        print(error.code)
"""


def test_signed_json_offered_as_the_other_kind_under_python_o() -> None:
    # python -O drops asserts: nothing that guards untrusted input may be one
    result = subprocess.run(
        [
            sys.executable,
            "-O",
            "-c",
            _SWAP_UNDER_O,
            str(fixture("tdx/dcap-qvl/tdx_quote")),
            str(fixture("tdx/dcap-qvl/tdx_quote_collateral.json")),
            "2025-07-19T10:00:34Z",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.stderr == ""
    assert result.stdout.split() == ["UpToDate", "qe_identity_invalid", "UpToDate"]


def test_paths_are_accepted() -> None:
    verdict = verify_tdx(
        fixture("tdx/dcap-qvl/tdx_quote"),
        fixture("tdx/dcap-qvl/tdx_quote_collateral.json"),
        at="2025-07-19T10:00:34Z",
    )
    assert verdict.status is TcbStatus.UpToDate
    with pytest.raises(InputError):
        verify_tdx(Path("/nonexistent/quote"), fixture("tdx/dcap-qvl/tdx_quote_collateral.json"))


def test_the_verdict_is_built_in_its_field_order() -> None:
    """verify_tdx builds TdxVerdict positionally: reordering its fields must update that call."""
    import dataclasses

    assert [f.name for f in dataclasses.fields(TdxVerdict)] == [
        "quote",
        "status",
        "platform_status",
        "sgx_status",
        "module_status",
        "qe_status",
        "advisory_ids",
        "tcb_date",
        "tcb_evaluation_data_number",
        "fmspc",
        "pce_id",
        "tdx_module_identity",
        "relaunch_advised",
        "pck",
        "root",
        "collateral",
        "earliest_next_update",
        "at",
        "policy",
    ]


def test_every_verdict_field_holds_its_own_value(trustee_verdict: TdxVerdict) -> None:
    """Statuses differ here (OutOfDate platform, UpToDate module and QE): a swapped argument shows."""
    verdict = trustee_verdict
    assert isinstance(verdict.quote, TdxQuote)
    assert (verdict.status, verdict.platform_status) == (TcbStatus.OutOfDate, TcbStatus.OutOfDate)
    assert (verdict.module_status, verdict.qe_status) == (TcbStatus.UpToDate, TcbStatus.UpToDate)
    assert verdict.tdx_module_identity == "TDX_03"
    assert verdict.at == datetime(2025, 11, 1, tzinfo=UTC)
    assert verdict.earliest_next_update > verdict.at
    assert verdict.collateral.origin == "trustee test_data"
    assert verdict.policy == "UNSAFE_NO_POLICY"
    assert verdict.root.production and verdict.pck.ca in ("platform", "processor")
    assert (len(verdict.fmspc), len(verdict.pce_id)) == (6, 2)
    assert isinstance(verdict.relaunch_advised, bool) and isinstance(verdict.advisory_ids, tuple)


@pytest.mark.parametrize(
    ("issue", "next_update", "window"),
    [
        ('"2025-07-19T10:00:34Z"', '"2025-08-18T10:00:34Z"', True),
        ('" 2025-07-19T10:00:34Z"', '"2025-08-18T10:00:34Z"', False),  # the signed parser refuses blanks
        ("20250719", '"2025-08-18T10:00:34Z"', False),  # a number, not a time string
        ('"2025-07-19T10:00:34Z"', "null", False),
    ],
)
def test_collateral_candidates_are_dated_as_strictly_as_they_are_parsed(
    issue: str, next_update: str, window: bool
) -> None:
    from ccverify.verifier.tdx.collateral import SignedJson
    from ccverify.verifier.tdx.verify import _item_window

    raw = f'{{"issueDate": {issue}, "nextUpdate": {next_update}}}'.encode()
    found = _item_window(SignedJson(raw, b"", b""))
    assert (found is not None) == window
    if found is not None:
        assert found[0] == datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)
