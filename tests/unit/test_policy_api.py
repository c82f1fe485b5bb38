"""The policy API (#13): verification applies a policy (the default unless another is given;
skipping it takes UNSAFE_NO_POLICY), the verdict records which, every violation is reported,
and policy objects check their values when built."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ccverify import verifier
from ccverify.verifier.errors import InputError, PolicyError
from ccverify.verifier.evidence.snp_report import PlatformInfo, Product
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.snp.validate import SnpPolicy, TcbMinimum, validate_snp
from ccverify.verifier.snp.verify import SnpVerdict, load_snp_certs, verify_snp
from ccverify.verifier.tdx.collateral import TcbStatus
from ccverify.verifier.tdx.validate import TdxPolicy, validate_tdx
from ccverify.verifier.tdx.verify import TdxVerdict, verify_tdx
from tests.conftest import REPO, fixture, fixture_bytes
from tests.unit.test_tdx_verify import trustee_collateral

SAMPLE = REPO / "reference-values" / "examples"
AT = "2026-01-15T00:00:00Z"
TDX_ROOT = SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"
SNP_ROOT = SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem"


def tdx_sample(**kw: object) -> TdxVerdict:
    quote, collateral = SAMPLE / "tdx-quote.dat", SAMPLE / "tdx-collateral.json"
    return verify_tdx(quote, collateral, at=AT, trust_root=TDX_ROOT, **kw)  # type: ignore[arg-type]


def snp_sample(**kw: object) -> SnpVerdict:
    certs = load_snp_certs(
        vcek=SAMPLE / "snp-vcek.der", chain=SAMPLE / "snp-cert-chain.pem", crl=SAMPLE / "snp-crl.der"
    )
    return verify_snp((SAMPLE / "snp-report.bin").read_bytes(), certs, at=AT, trust_root=SNP_ROOT, **kw)  # type: ignore[arg-type]


def out_of_date(**kw: object) -> TdxVerdict:
    """trustee's quote 6: an OutOfDate platform, verified without CRLs (waived explicitly)."""
    quote = fixture_bytes("tdx/trustee/tdx_quote_6.dat")
    return verify_tdx(quote, trustee_collateral(), at="2025-11-01T00:00:00Z", **kw)  # type: ignore[arg-type]


def debug_guest(**kw: object) -> SnpVerdict:
    """go-sev-guest's sample report: a DEBUG guest (its KDS CRL is not among the fixtures)."""
    certs = load_snp_certs(vcek=fixture("snp/go-sev-guest/vcek.testcer"))
    data = fixture_bytes("snp/go-sev-guest/attestation.bin")
    return verify_snp(data, certs, at=datetime(2023, 1, 1, tzinfo=UTC), **kw)  # type: ignore[arg-type]


# -- verification applies the policy ----------------------------------------------------------------


def test_verify_tdx_refuses_an_out_of_date_platform_by_default() -> None:
    with pytest.raises(PolicyError) as refused:
        out_of_date()
    codes = [v.code for v in refused.value.violations]
    assert codes == ["revocation_not_checked", "tcb_status_not_accepted"]
    assert refused.value.code == "revocation_not_checked"  # the first's
    verdict = refused.value.verdict
    assert isinstance(verdict, TdxVerdict) and verdict.status is TcbStatus.OutOfDate
    assert verdict.policy == "default"


def test_verify_tdx_takes_a_policy_and_records_it() -> None:
    lenient = TdxPolicy(accepted_tcb_statuses={"OutOfDate"}, allow_unchecked_revocation=True)
    assert out_of_date(policy=lenient).policy == "custom"
    assert tdx_sample().policy == "default"
    assert tdx_sample(policy=TdxPolicy()).policy == "default"
    with pytest.raises(PolicyError, match="tcb_status_not_accepted") as refused:
        tdx_sample(policy=TdxPolicy(accepted_tcb_statuses={TcbStatus.OutOfDate}))
    assert refused.value.verdict.policy == "custom"


def test_skipping_the_policy_is_explicit_and_recorded() -> None:
    verdict = out_of_date(policy=UNSAFE_NO_POLICY)
    assert verdict.policy == "UNSAFE_NO_POLICY" and verdict.status is TcbStatus.OutOfDate
    assert verifier.UNSAFE_NO_POLICY is UNSAFE_NO_POLICY and repr(UNSAFE_NO_POLICY) == "UNSAFE_NO_POLICY"
    with pytest.raises(PolicyError):
        validate_tdx(verdict)  # the caller's job then


def test_verify_snp_applies_the_default_policy() -> None:
    with pytest.raises(PolicyError) as refused:
        debug_guest()
    assert [v.code for v in refused.value.violations] == ["revocation_not_checked", "debug_guest"]
    assert refused.value.verdict.policy == "default"
    assert debug_guest(policy=SnpPolicy(allow_debug=True, allow_unchecked_revocation=True)).policy == "custom"
    assert debug_guest(policy=UNSAFE_NO_POLICY).policy == "UNSAFE_NO_POLICY"
    assert snp_sample().policy == "default"


@pytest.mark.parametrize("call", [tdx_sample, snp_sample], ids=["tdx", "snp"])
def test_a_policy_of_the_wrong_kind_is_an_input_error(call: object) -> None:
    wrong = SnpPolicy() if call is tdx_sample else TdxPolicy()
    with pytest.raises(InputError, match="policy must be"):
        call(policy=wrong)  # type: ignore[operator]
    with pytest.raises(InputError, match="policy must be"):
        call(policy={"mrtd": []})  # type: ignore[operator]


# -- every violation --------------------------------------------------------------------------------


def test_tdx_validation_collects_every_violation() -> None:
    verdict = tdx_sample()
    policy = TdxPolicy(mrtd=bytes(48), rtmr1=(bytes(48), b"\1" * 48), min_tcb_evaluation_data_number=10**6)
    with pytest.raises(PolicyError) as refused:
        validate_tdx(verdict, policy)
    error = refused.value
    assert [v.code for v in error.violations] == [
        "tcb_evaluation_data_number_too_low",
        "mrtd_mismatch",
        "rtmr1_mismatch",
    ]
    assert error.code == error.violations[0].code and error.detail == error.violations[0].detail
    text = str(error)
    assert text.startswith("tcb_evaluation_data_number_too_low: ") and "(3 policy violations)" in text
    assert all(v.code in text for v in error.violations)
    assert all(v.violations == (v,) for v in error.violations)


def test_snp_validation_collects_every_violation() -> None:
    verdict = debug_guest(policy=UNSAFE_NO_POLICY)
    policy = SnpPolicy(measurement=bytes(48), vmpl=3, products=("Turin",))
    with pytest.raises(PolicyError) as refused:
        validate_snp(verdict, policy)
    assert [v.code for v in refused.value.violations] == [
        "revocation_not_checked",
        "product_not_accepted",
        "measurement_mismatch",
        "debug_guest",
        "vmpl_mismatch",
    ]


def test_one_violation_is_its_own_list() -> None:
    with pytest.raises(PolicyError) as refused:
        validate_tdx(tdx_sample(), TdxPolicy(mrtd=bytes(48)))
    assert refused.value.violations == (refused.value,)
    assert "policy violations" not in str(refused.value)


# -- construction ----------------------------------------------------------------------------------


def test_tdx_policy_takes_bytes_and_status_names() -> None:
    mrtd = bytes(range(48))
    assert TdxPolicy(mrtd=mrtd).mrtd == (mrtd,)
    assert TdxPolicy(mrtd=[mrtd, mrtd]).mrtd == (mrtd, mrtd)
    assert TdxPolicy(accepted_tcb_statuses={"UpToDate"}).accepted_tcb_statuses == {TcbStatus.UpToDate}  # type: ignore[arg-type]
    assert TdxPolicy(accepted_tcb_statuses="OutOfDate").accepted_tcb_statuses == {TcbStatus.OutOfDate}  # type: ignore[arg-type]
    assert TdxPolicy() == TdxPolicy(accepted_tcb_statuses=frozenset({TcbStatus.UpToDate}))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mrtd": "ab" * 48}, "mrtd: a str, expected bytes"),
        ({"mrtd": ("ab" * 48,)}, "mrtd: a str, expected bytes"),
        ({"mrtd": b"short"}, "mrtd: 5 bytes, the field is 48"),
        ({"mrtd": ()}, "mrtd: an empty list accepts nothing"),
        ({"report_data": bytes(48)}, "report_data: 48 bytes, the field is 64"),
        ({"accepted_tcb_statuses": set()}, "accepted_tcb_statuses: an empty list"),
        ({"accepted_tcb_statuses": {"Fine"}}, "unknown TCB status 'Fine'"),
        ({"allow_debug": 1}, "allow_debug: expected true or false"),
        ({"xfam_mask": bytes(8)}, "xfam_mask: a mask without xfam"),
        ({"min_tcb_date": datetime(2024, 1, 1)}, "min_tcb_date: expected an aware datetime"),
        ({"min_tcb_date": "2024-01-01"}, "min_tcb_date: expected an aware datetime"),
        ({"min_tcb_evaluation_data_number": -1}, "min_tcb_evaluation_data_number: expected a non-negative"),
        ({"rejected_advisory_ids": ()}, "rejected_advisory_ids: an empty list"),
    ],
)
def test_tdx_policy_refuses_bad_values_when_built(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as refused:
        TdxPolicy(**kwargs)  # type: ignore[arg-type]
    assert message in str(refused.value)
    assert "--" not in str(refused.value)  # library messages name keys, not command-line options


def test_tdx_policy_lists_every_problem() -> None:
    with pytest.raises(InputError) as refused:
        TdxPolicy(mrtd=(), rtmr0="00", allow_debug=None)  # type: ignore[arg-type]
    text = str(refused.value)
    assert text.startswith("tdx policy: ")
    assert "mrtd:" in text and "rtmr0:" in text and "allow_debug:" in text


def test_accepted_advisory_ids_may_be_empty() -> None:
    assert TdxPolicy(accepted_advisory_ids=()).accepted_advisory_ids == frozenset()


def test_snp_policy_checks_values_when_built() -> None:
    assert SnpPolicy(measurement=bytes(48)).measurement == (bytes(48),)
    assert SnpPolicy(report_data=b"\1").report_data == (b"\1" + bytes(63),)  # zero-padded, as from JSON
    assert SnpPolicy(products=("milan",)).products == (Product.MILAN,)
    assert SnpPolicy(minimum_tcb={"bl_spl": 3}).minimum_tcb == TcbMinimum(bl_spl=3)  # type: ignore[arg-type]
    assert SnpPolicy(signing_key="VCEK").signing_key == "vcek"
    with pytest.raises(InputError) as refused:
        SnpPolicy(measurement=(), host_data="00", vmpl=4, products=(), platform_info_required=1)  # type: ignore[arg-type]
    text = str(refused.value)
    for key in ("measurement:", "host_data:", "vmpl:", "products:", "platform_info_required:"):
        assert key in text
    assert SnpPolicy(platform_info_required=PlatformInfo.SMT_EN).platform_info_required is PlatformInfo.SMT_EN


def test_both_platforms_use_none_for_unchecked() -> None:
    for policy in (TdxPolicy(), SnpPolicy()):
        for name in ("mrtd", "rtmr0", "measurement", "host_data", "report_data"):
            if hasattr(policy, name):
                assert getattr(policy, name) is None


def test_the_policy_file_reader_is_exported(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"tdx": {"mrtd": "' + "00" * 48 + '"}}')
    document = verifier.load_policy_file(path)
    assert document.tdx == TdxPolicy(mrtd=bytes(48)) and document.snp is None
