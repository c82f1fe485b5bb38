"""SEV-SNP policy (``validate_snp``): every field, on real verdicts and on test-PKI reports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ccverify.verifier.errors import InputError, PolicyError
from ccverify.verifier.evidence.snp_report import GuestPolicy, PlatformInfo, Product, TcbParts
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.snp.validate import SnpPolicy, TcbMinimum, validate_snp
from ccverify.verifier.snp.verify import SnpVerdict, load_snp_certs, verify_snp
from ccverify.verifier.testing.pki import REFERENCE_TIME, AmdTestPki
from ccverify.verifier.testing.snp_builder import build_snp_report
from tests.conftest import fixture, fixture_bytes

SNP = "snp/"


def real(report: str, at: str, **certs: str) -> SnpVerdict:
    loaded = load_snp_certs(**{k: fixture(SNP + v) for k, v in certs.items()})  # type: ignore[arg-type]
    moment = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return verify_snp(fixture_bytes(SNP + report), loaded, at=moment, policy=UNSAFE_NO_POLICY)


@pytest.fixture(scope="module")
def vlek() -> SnpVerdict:
    """AWS Milan VLEK report: v3, vmpl 1, platform_info 0x27, TCB reported < committed < current."""
    return real("trustee/test-vlek-report.bin", "2025-06-01", vlek="trustee/test-vlek.der")


@pytest.fixture(scope="module")
def gcp() -> SnpVerdict:
    """GCP Milan v5 report: mitigation vectors 0xb, platform_info 0x25, fw 1.55.35."""
    return real("teekit/sev-gcp.bin", "2026-01-01", vcek="teekit/sev-gcp-vcek.pem")


@pytest.fixture(scope="module")
def turin() -> SnpVerdict:
    return real("project-oak/turin_oc_report.bin", "2025-08-01", vcek="project-oak/turin_oc_vcek.der")


@pytest.fixture(scope="module")
def debug_guest() -> SnpVerdict:
    """go-sev-guest's sample: policy 0xb0000 (DEBUG allowed)."""
    return real("go-sev-guest/attestation.bin", "2023-01-01", vcek="go-sev-guest/vcek.testcer")


@pytest.fixture(scope="module")
def pki() -> AmdTestPki:
    return AmdTestPki(Product.GENOA, rsa_key_size=2048)


def synthetic(pki: AmdTestPki, **fields: Any) -> SnpVerdict:
    """A test-PKI report verified with the PKI's KDS CRL (``crl=`` another one)."""
    crl = fields.pop("crl", None) or pki.crl()
    options: dict[str, Any] = {"product": pki.product, "tcb": pki.tcb, "chip_id": pki.chip_id}
    options.update(fields)
    report = build_snp_report(pki.vcek_key, **options)
    certs = load_snp_certs(vcek=pki.vcek_der(), chain=pki.cert_chain_pem(), crl=crl)
    root = pki.ark_der()
    return verify_snp(report.to_bytes(), certs, at=REFERENCE_TIME, trust_root=root, policy=UNSAFE_NO_POLICY)


def unchecked(verdict: SnpVerdict, policy: SnpPolicy) -> SnpPolicy:
    """AMD's KDS CRLs for the real reports are not among the fixtures (snp/SOURCES.md), so their
    verdicts have revocation unchecked: the policies judging them opt out explicitly, here."""
    if verdict.crl_checked:
        return policy
    return dataclasses.replace(policy, allow_unchecked_revocation=True)


def rejects(verdict: SnpVerdict, policy: SnpPolicy | dict[str, Any], code: str) -> PolicyError:
    chosen = policy if isinstance(policy, SnpPolicy) else SnpPolicy.from_json(policy)
    with pytest.raises(PolicyError) as err:
        validate_snp(verdict, unchecked(verdict, chosen))
    found = [v for v in err.value.violations if v.code == code]
    assert found, str(err.value)
    return found[0]


def accepts(verdict: SnpVerdict, policy: dict[str, Any]) -> None:
    assert validate_snp(verdict, unchecked(verdict, SnpPolicy.from_json(policy))) is verdict


# ------------------------------------------------------------------------------ defaults


def test_default_policy_refuses_unchecked_revocation(
    vlek: SnpVerdict, gcp: SnpVerdict, turin: SnpVerdict
) -> None:
    for verdict in (vlek, gcp, turin):
        assert verdict.crl_checked is False
        assert verdict.crl_source is None
        with pytest.raises(PolicyError) as err:
            validate_snp(verdict)
        assert err.value.code == "revocation_not_checked"
        assert "allow_unchecked_revocation" in str(err.value)
        assert validate_snp(verdict, SnpPolicy(allow_unchecked_revocation=True)) is verdict
        assert validate_snp(verdict, SnpPolicy.from_json({"allow_unchecked_revocation": True})) is verdict


def test_default_policy_accepts_a_checked_crl(pki: AmdTestPki) -> None:
    verdict = synthetic(pki)
    assert verdict.crl_checked is True
    assert verdict.crl_source == "given"
    assert validate_snp(verdict) is verdict


def test_revocation_code_is_tdx_s() -> None:
    from ccverify.verifier.tdx.validate import TdxPolicy

    assert "allow_unchecked_revocation" in {f.name for f in dataclasses.fields(TdxPolicy)}
    assert SnpPolicy().allow_unchecked_revocation is TdxPolicy().allow_unchecked_revocation is False


# ------------------------------------------------------------------------------ CRL freshness


def test_maximum_crl_age(pki: AmdTestPki) -> None:
    this_update = REFERENCE_TIME - timedelta(days=10)
    verdict = synthetic(pki, crl=pki.crl(this_update=this_update))
    assert verdict.crl is not None and verdict.crl.this_update == this_update
    accepts(verdict, {"maximum_crl_age_hours": 240})
    error = rejects(verdict, {"maximum_crl_age_hours": 239}, "crl_too_old")
    assert "240.0 hours" in error.detail
    assert "from given" in error.detail
    assert SnpPolicy.from_json({"maximum_crl_age_hours": "24"}).maximum_crl_age_hours == 24
    with pytest.raises(InputError):
        SnpPolicy.from_json({"maximum_crl_age_hours": -1})


def test_maximum_crl_age_without_a_crl(turin: SnpVerdict) -> None:
    policy = SnpPolicy(allow_unchecked_revocation=True, maximum_crl_age_hours=24)
    with pytest.raises(PolicyError) as err:
        validate_snp(turin, policy)
    assert err.value.code == "crl_too_old"


def test_default_policy_rejects_a_debug_guest(debug_guest: SnpVerdict) -> None:
    error = rejects(debug_guest, SnpPolicy(), "debug_guest")
    assert "allow_debug" in str(error)


def test_debug_can_be_allowed(debug_guest: SnpVerdict) -> None:
    accepts(debug_guest, {"allow_debug": True})


# ------------------------------------------------------------------------------ exact values


def test_measurement(vlek: SnpVerdict) -> None:
    measurement = vlek.report.measurement.hex()
    accepts(vlek, {"measurement": measurement})
    accepts(vlek, {"measurement": ["00" * 48, measurement]})
    error = rejects(vlek, {"measurement": "11" * 48}, "measurement_mismatch")
    assert error.expected == bytes.fromhex("11" * 48)
    assert error.actual == vlek.report.measurement


def test_measurement_allowed_list(vlek: SnpVerdict) -> None:
    rejects(vlek, {"measurement": ["11" * 48, "22" * 48]}, "measurement_mismatch")


def test_report_data_is_zero_padded(gcp: SnpVerdict) -> None:
    accepts(gcp, {"report_data": ""})
    accepts(gcp, {"report_data": "0000"})
    rejects(gcp, {"report_data": "01"}, "report_data_mismatch")


def test_report_data_of_a_bound_report() -> None:
    verdict = real("teekit/sev-gcp-reportdata.bin", "2026-01-01", vcek="teekit/sev-gcp-vcek.pem")
    accepts(verdict, {"report_data": verdict.report.report_data.hex()})
    rejects(verdict, {"report_data": ""}, "report_data_mismatch")


@pytest.mark.parametrize("name", ["host_data", "family_id", "image_id", "id_key_digest", "author_key_digest"])
def test_exact_fields(vlek: SnpVerdict, name: str) -> None:
    value: bytes = getattr(vlek.report, name)
    accepts(vlek, {name: value.hex()})
    changed = bytes([value[0] ^ 1]) + value[1:]
    rejects(vlek, {name: changed.hex()}, f"{name}_mismatch")


@pytest.mark.parametrize("name", ["report_id", "report_id_ma", "chip_id"])
def test_identity_fields(gcp: SnpVerdict, name: str) -> None:
    value: bytes = getattr(gcp.report, name)
    accepts(gcp, {name: value.hex()})
    rejects(gcp, {name: (bytes([value[0] ^ 1]) + value[1:]).hex()}, f"{name}_mismatch")


def test_minimum_guest_svn() -> None:
    verdict = real("trustee/test-report.bin", "2024-01-01", vcek="trustee/test-vcek.der")
    assert verdict.report.guest_svn == 4
    accepts(verdict, {"minimum_guest_svn": 4, "allow_debug": True})
    rejects(verdict, {"minimum_guest_svn": 5, "allow_debug": True}, "guest_svn_too_low")


# ------------------------------------------------------------------------------ TCB


@pytest.mark.parametrize("component", ["bl_spl", "tee_spl", "snp_spl", "ucode_spl"])
def test_minimum_tcb_per_component(vlek: SnpVerdict, component: str) -> None:
    reported = vlek.tcb.reported
    accepts(vlek, {"minimum_tcb": {component: getattr(reported, component)}})
    error = rejects(
        vlek, {"minimum_tcb": {component: getattr(reported, component) + 1}}, "reported_tcb_too_low"
    )
    assert component in error.detail


def test_minimum_tcb_checks_reported_as_well_as_current(vlek: SnpVerdict) -> None:
    # current ucode 220, committed 219, reported 217
    error = rejects(vlek, {"minimum_tcb": {"ucode_spl": 218}}, "reported_tcb_too_low")
    assert "REPORTED_TCB" in error.detail
    accepts(vlek, {"minimum_current_tcb": {"ucode_spl": 220}})
    rejects(vlek, {"minimum_committed_tcb": {"ucode_spl": 220}}, "committed_tcb_too_low")
    rejects(vlek, {"minimum_reported_tcb": {"ucode_spl": 218}}, "reported_tcb_too_low")
    rejects(vlek, {"minimum_current_tcb": {"snp_spl": 25}}, "current_tcb_too_low")


def test_minimum_launch_tcb(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, launch_tcb=TcbParts(10, 0, 20, 84))
    accepts(verdict, {"minimum_launch_tcb": {"snp_spl": 20}})
    rejects(verdict, {"minimum_launch_tcb": {"snp_spl": 21}}, "launch_tcb_too_low")


def test_minimum_tcb_fmc_on_turin(turin: SnpVerdict) -> None:
    accepts(turin, {"minimum_tcb": {"fmc_spl": 0, "ucode_spl": 71}})
    error = rejects(turin, {"minimum_tcb": {"fmc_spl": 1}}, "reported_tcb_too_low")
    assert "fmc_spl" in error.detail


def test_fmc_minimum_is_ignored_on_milan(vlek: SnpVerdict) -> None:
    accepts(vlek, {"minimum_tcb": {"fmc_spl": 9}})


# ------------------------------------------------------------------------------ guest policy


def test_migrate_ma(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, policy=GuestPolicy.build(migrate_ma=True))
    accepts(verdict, {})
    rejects(verdict, {"allow_migrate_ma": False}, "migrate_ma_not_allowed")


def test_smt(vlek: SnpVerdict) -> None:
    assert vlek.report.policy.smt
    accepts(vlek, {"allow_smt": True})
    rejects(vlek, {"allow_smt": False}, "smt_not_allowed")


def test_single_socket(pki: AmdTestPki) -> None:
    accepts(synthetic(pki, policy=GuestPolicy.build(single_socket=True)), {"require_single_socket": True})
    rejects(synthetic(pki), {"require_single_socket": True}, "single_socket_required")


def test_default_policy_refuses_cxl(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, policy=GuestPolicy.build(cxl_allow=True))
    assert verdict.report.policy.raw == 0x230000
    error = rejects(verdict, SnpPolicy(), "cxl_not_allowed")
    assert "CXL_ALLOW, bit 21" in error.detail
    assert (error.expected, error.actual) == (False, True)
    rejects(verdict, {"allow_debug": False, "allow_smt": True, "vmpl": 0}, "cxl_not_allowed")
    rejects(verdict, {"allow_cxl": False}, "cxl_not_allowed")
    accepts(verdict, {"allow_cxl": True})
    accepts(synthetic(pki), {"allow_cxl": False})


@pytest.mark.parametrize(
    ("key", "bit_name", "bit"),
    [
        ("require_mem_aes_256_xts", "mem_aes_256_xts", 22),
        ("require_rapl_disabled", "rapl_dis", 23),
        ("require_ciphertext_hiding", "ciphertext_hiding_dram", 24),
        ("require_page_swap_disabled", "page_swap_disable", 25),
    ],
)
def test_required_guest_policy_bits(pki: AmdTestPki, key: str, bit_name: str, bit: int) -> None:
    plain = synthetic(pki)
    accepts(plain, {})
    accepts(plain, {key: False})
    error = rejects(plain, {key: True}, key.removeprefix("require_") + "_required")
    assert f"{bit_name.upper()}, bit {bit}, is clear" in error.detail
    assert (error.expected, error.actual) == (True, False)
    with_bit = synthetic(pki, policy=GuestPolicy.build(**{bit_name: True}))
    assert with_bit.report.policy.raw == 0x30000 | 1 << bit
    accepts(with_bit, {key: True})


def test_new_guest_policy_keys_are_booleans() -> None:
    for key in (
        "allow_cxl",
        "require_mem_aes_256_xts",
        "require_rapl_disabled",
        "require_ciphertext_hiding",
        "require_page_swap_disabled",
    ):
        assert getattr(SnpPolicy.from_json({key: True}), key) is True
        assert getattr(SnpPolicy(), key) is False
        with pytest.raises(InputError):
            SnpPolicy.from_json({key: 1})


def test_minimum_abi(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, policy=GuestPolicy.build(abi_major=1, abi_minor=51))
    accepts(verdict, {"minimum_abi": "1.51"})
    accepts(verdict, {"minimum_abi": "0.31"})
    error = rejects(verdict, {"minimum_abi": "1.52"}, "abi_too_low")
    assert error.actual == "1.51"


# ------------------------------------------------------------------------------ VMPL, platform


def test_vmpl(vlek: SnpVerdict, gcp: SnpVerdict) -> None:
    accepts(gcp, {"vmpl": 0})
    error = rejects(vlek, {"vmpl": 0}, "vmpl_mismatch")
    assert (error.expected, error.actual) == (0, 1)
    accepts(vlek, {"maximum_vmpl": 1})
    rejects(vlek, {"maximum_vmpl": 0}, "vmpl_too_high")


@pytest.mark.parametrize("key", ["vmpl", "maximum_vmpl"])
@pytest.mark.parametrize("value", [4, 7, 0xFFFFFFFF, "4", "0xffffffff"])
def test_policy_vmpl_above_3_is_an_input_error(key: str, value: object) -> None:
    with pytest.raises(InputError) as err:
        SnpPolicy.from_json({key: value})
    assert f"snp policy: {key}: expected 0-3" in str(err.value)


def test_policy_vmpl_3_is_accepted() -> None:
    assert SnpPolicy.from_json({"vmpl": 3, "maximum_vmpl": "3"}) == SnpPolicy(vmpl=3, maximum_vmpl=3)
    with pytest.raises(InputError):
        SnpPolicy(maximum_vmpl=4)


def test_platform_info(vlek: SnpVerdict) -> None:
    # 0x27: SMT_EN, TSME_EN, ECC_EN, ALIAS_CHECK_COMPLETE
    assert vlek.report.platform_info == PlatformInfo(0x27)
    accepts(vlek, {"platform_info_required": ["TSME_EN", "ecc_en"]})
    rejects(vlek, {"platform_info_required": ["RAPL_DIS"]}, "platform_info_missing")
    error = rejects(vlek, {"platform_info_forbidden": ["SMT_EN"]}, "platform_info_not_allowed")
    assert "SMT_EN" in error.detail


def test_gcp_platform_info_has_no_tsme(gcp: SnpVerdict) -> None:
    rejects(gcp, {"platform_info_required": "TSME_EN"}, "platform_info_missing")


# ------------------------------------------------------------------------------ keys, firmware


def test_signing_key(vlek: SnpVerdict, gcp: SnpVerdict) -> None:
    accepts(vlek, {"signing_key": "vlek"})
    rejects(vlek, {"signing_key": "vcek"}, "signing_key_not_accepted")
    rejects(gcp, {"signing_key": "vlek"}, "signing_key_not_accepted")


def test_minimum_build_and_version(gcp: SnpVerdict) -> None:
    # firmware 1.55.35
    accepts(gcp, {"minimum_build": 35, "minimum_version": "1.55"})
    rejects(gcp, {"minimum_build": 36}, "build_too_low")
    rejects(gcp, {"minimum_version": "1.56"}, "version_too_low")


def test_provisional_firmware(vlek: SnpVerdict, turin: SnpVerdict) -> None:
    # committed ucode 219 < current ucode 220: provisional firmware is running
    rejects(vlek, {"permit_provisional_firmware": False}, "provisional_firmware_not_permitted")
    accepts(vlek, {"permit_provisional_firmware": True})
    accepts(turin, {"permit_provisional_firmware": False})


def test_committed_newer_than_current_is_rejected(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, committed_tcb=TcbParts(10, 0, 26, 84))
    rejects(verdict, {"permit_provisional_firmware": True}, "committed_above_current")


def test_committed_firmware_version_differs(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, committed_firmware=(1, 55, 1))
    rejects(verdict, {"permit_provisional_firmware": False}, "provisional_firmware_not_permitted")
    accepts(verdict, {"permit_provisional_firmware": True})


def test_mitigation_vectors(gcp: SnpVerdict, vlek: SnpVerdict) -> None:
    accepts(gcp, {"minimum_launch_mit_vector": 0x3, "minimum_current_mit_vector": "0xb"})
    error = rejects(gcp, {"minimum_current_mit_vector": 0x4}, "current_mit_vector_mismatch")
    assert "0x4" in error.detail
    rejects(gcp, {"minimum_launch_mit_vector": 0x10}, "launch_mit_vector_mismatch")
    rejects(vlek, {"minimum_launch_mit_vector": 0x1}, "launch_mit_vector_mismatch")


def test_author_key_and_id_block(pki: AmdTestPki, gcp: SnpVerdict) -> None:
    rejects(gcp, {"require_author_key": True, "author_key_digest": "01" * 48}, "author_key_required")
    rejects(gcp, {"require_id_block": True, "id_key_digest": "02" * 48}, "id_block_required")
    signed = synthetic(pki, author_key_en=True, author_key_digest=b"\x01" * 48, id_key_digest=b"\x02" * 48)
    accepts(
        signed,
        {
            "require_author_key": True,
            "author_key_digest": "01" * 48,
            "require_id_block": True,
            "id_key_digest": "02" * 48,
        },
    )


def test_require_id_block_refuses_an_untrusted_id_key(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, id_key_digest=b"\x42" * 48)
    policy = {"require_id_block": True, "id_key_digest": "02" * 48}
    error = rejects(verdict, policy, "id_key_not_trusted")
    assert "not one of the trusted ID keys" in error.detail
    assert error.expected == b"\x02" * 48
    assert error.actual == b"\x42" * 48
    accepts(verdict, {"require_id_block": True, "id_key_digest": ["02" * 48, "42" * 48]})


def test_require_id_block_refuses_no_id_block_even_if_zero_is_listed(pki: AmdTestPki) -> None:
    verdict = synthetic(pki)
    policy = {"require_id_block": True, "id_key_digest": "00" * 48}
    error = rejects(verdict, policy, "id_block_required")
    assert "without an ID block" in error.detail


def test_require_author_key_refuses_an_untrusted_author_key(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, id_key_digest=b"\x42" * 48, author_key_en=True, author_key_digest=b"\x43" * 48)
    error = rejects(
        verdict, {"require_author_key": True, "author_key_digest": "01" * 48}, "author_key_not_trusted"
    )
    assert "not one of the trusted author keys" in error.detail
    assert error.expected == b"\x01" * 48
    assert error.actual == b"\x43" * 48
    accepts(verdict, {"require_author_key": True, "author_key_digest": "43" * 48})


def test_require_author_key_refuses_author_key_en_clear(pki: AmdTestPki) -> None:
    verdict = synthetic(pki, id_key_digest=b"\x42" * 48, author_key_digest=bytes(48))
    error = rejects(
        verdict, {"require_author_key": True, "author_key_digest": "00" * 48}, "author_key_required"
    )
    assert "AUTHOR_KEY_EN clear" in error.detail


@pytest.mark.parametrize(
    ("document", "missing"),
    [
        ({"require_id_block": True}, "id_key_digest"),
        ({"require_id_block": True, "id_key_digest": []}, "id_key_digest"),
        ({"require_id_block": True, "author_key_digest": "01" * 48}, "id_key_digest"),
        ({"require_author_key": True}, "author_key_digest"),
        ({"require_author_key": True, "id_key_digest": "02" * 48}, "author_key_digest"),
    ],
)
def test_required_keys_without_a_trusted_list_are_an_input_error(
    document: dict[str, Any], missing: str
) -> None:
    with pytest.raises(InputError) as err:
        SnpPolicy.from_json(document)
    assert f"give an {missing} list" in str(err.value) or f"{missing}: an empty list" in str(err.value)


def test_required_keys_without_a_trusted_list_are_an_input_error_when_built() -> None:
    with pytest.raises(InputError, match="id_key_digest"):
        SnpPolicy(require_id_block=True)
    with pytest.raises(InputError, match="author_key_digest"):
        SnpPolicy(require_author_key=True)


def test_products(turin: SnpVerdict) -> None:
    accepts(turin, {"products": ["Turin", "Genoa"]})
    rejects(turin, {"products": ["Milan"]}, "product_not_accepted")


# ------------------------------------------------------------------------------ JSON


def test_from_json_round_values() -> None:
    policy = SnpPolicy.from_json(
        {"minimum_tcb": {"bl_spl": 3}, "minimum_abi": [1, 51], "vmpl": "0"}
    )
    assert policy.minimum_tcb == TcbMinimum(bl_spl=3)
    assert policy.minimum_abi == (1, 51)
    assert policy.vmpl == 0
    assert policy.measurement is None


@pytest.mark.parametrize(
    "document",
    [
        {"no_such_field": 1},
        {"measurement": "zz"},
        {"measurement": "00" * 49},
        {"report_id": "00"},
        {"allow_debug": "yes"},
        {"vmpl": -1},
        {"minimum_tcb": {"microcode": 1}},
        {"minimum_tcb": {"ucode_spl": 256}},
        {"minimum_version": "one"},
        {"minimum_version": "1.\u00b2"},
        {"minimum_version": "\u00b2.5"},
        {"minimum_version": "\u0661.\u0665\u0665"},
        {"minimum_version": "\uff11.55"},
        {"minimum_version": [True, 55]},
        {"minimum_version": [1, -1]},
        {"minimum_abi": "1.\u00b2"},
        {"minimum_abi": "\u0663.\u0664"},
        {"minimum_build": "\u0663"},
        {"vmpl": "\uff10"},
        {"platform_info_required": ["FAST"]},
        {"signing_key": "ark"},
        {"products": ["Venice"]},
        {"minimum_abi": "1" * 5000 + ".1"},  # int() refuses over 4300 digits: a ValueError
        {"minimum_version": "1." + "2" * 5000},
    ],
)
def test_from_json_rejects_bad_values(document: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        SnpPolicy.from_json(document)
