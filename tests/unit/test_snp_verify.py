"""SEV-SNP verification of every real report in tests/fixtures/snp with its published VEK."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import app
from ccverify.verifier.errors import CollateralError, VerificationError
from ccverify.verifier.evidence.certtable import CertKind, CertTable
from ccverify.verifier.evidence.snp_report import Product, SnpReport, TcbParts
from ccverify.verifier.jsonable import to_jsonable
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.snp.certs import (
    VekKind,
    clear_chain_memo,
    load_certificate,
    parse_vek_extensions,
    to_der,
    verify_vek_chain,
)
from ccverify.verifier.snp.verify import SnpCertificates, SnpVerdict, load_snp_certs
from ccverify.verifier.snp.verify import verify_snp as _verify_snp
from tests.cli_json import envelope, envelope_result
from tests.conftest import fixture, fixture_bytes

SNP = "snp/"


def verify_snp(*args: Any, **kwargs: Any) -> SnpVerdict:
    """``verify_snp`` without a policy (UNSAFE_NO_POLICY) unless a test passes one: these tests check
    verification; ``test_snp_policy.py`` checks the policy, ``test_policy_api.py`` the default."""
    kwargs.setdefault("policy", UNSAFE_NO_POLICY)
    return _verify_snp(*args, **kwargs)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    report: str
    certs: dict[str, str]
    at: datetime
    product: Product
    key: VekKind
    version: int
    reported: TcbParts
    measurement: str | None = None


CASES = {
    "go-sev-guest": Case(
        "go-sev-guest/attestation.bin",
        {"vcek": "go-sev-guest/vcek.testcer", "chain": "go-sev-guest/ask_ark_milan.pem"},
        t("2022-09-25T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        2,
        TcbParts(2, 0, 5, 68),
        "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01",
    ),
    "virtee-milan": Case(
        "virtee-sev/report_milan.hex",
        {"vcek": "virtee-sev/vcek_milan.der"},
        t("2024-01-01T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        2,
        TcbParts(3, 0, 8, 115),
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f",
    ),
    "trustee-vcek": Case(
        "trustee/test-report.bin",
        {"vcek": "trustee/test-vcek.der"},
        t("2024-01-01T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        2,
        TcbParts(3, 0, 8, 115),
        "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c",
    ),
    "trustee-vlek": Case(
        "trustee/test-vlek-report.bin",
        {"vlek": "trustee/test-vlek.der", "chain": "go-sev-guest/ask_ark_milan_vlek.pem"},
        t("2025-06-01T00:00:00"),
        Product.MILAN,
        VekKind.VLEK,
        3,
        TcbParts(4, 0, 24, 217),
        "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0",
    ),
    "azure-genoa": Case(
        "trustee/azure-genoa-snp-report.bin",
        {"vcek": "trustee/vcek-genoa.pem"},
        t("2025-06-01T00:00:00"),
        Product.GENOA,
        VekKind.VCEK,
        3,
        TcbParts(10, 0, 23, 84),
        "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae",
    ),
    "azure-milan": Case(
        "trustee/azure-milan-snp-report-from-hcl.bin",
        {"vcek": "trustee/vcek.pem"},
        t("2024-01-01T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        2,
        TcbParts(3, 0, 8, 115),
        "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315",
    ),
    "gcp": Case(
        "teekit/sev-gcp.bin",
        {"vcek": "teekit/sev-gcp-vcek.pem", "chain": "teekit/sev-gcp-cert-chain.pem"},
        t("2026-01-01T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        5,
        TcbParts(4, 0, 27, 222),
        "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d19251b8ee600fd16a3708f58406f3",
    ),
    "gcp-reportdata": Case(
        "teekit/sev-gcp-reportdata.bin",
        {"vcek": "teekit/sev-gcp-vcek.pem", "chain": "teekit/sev-gcp-cert-chain.pem"},
        t("2026-01-01T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        5,
        TcbParts(4, 0, 27, 222),
    ),
    "gcp-x25519": Case(
        "teekit/sev-gcp-x25519-bound.bin",
        {"vcek": "teekit/sev-gcp-x25519-vcek.pem", "chain": "teekit/sev-gcp-x25519-cert-chain.pem"},
        t("2026-01-01T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        5,
        TcbParts(4, 0, 27, 222),
    ),
    "oak-turin": Case(
        "project-oak/turin_oc_report.bin",
        {"vcek": "project-oak/turin_oc_vcek.der"},
        t("2025-08-01T00:00:00"),
        Product.TURIN,
        VekKind.VCEK,
        5,
        TcbParts(bl_spl=1, tee_spl=0, snp_spl=2, ucode_spl=71, fmc_spl=0),
        "f924dd18f168df60fbea937f0b086284d51b1b376de872bac43694f61134d57967c318018de7335503023dbb50dee624",
    ),
    "oak-genoa": Case(
        "project-oak/genoa_oc_report.bin",
        {"vcek": "project-oak/genoa_oc_vcek.der"},
        t("2025-09-01T00:00:00"),
        Product.GENOA,
        VekKind.VCEK,
        5,
        TcbParts(10, 0, 25, 84),
        "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc",
    ),
    "oak-milan-oc": Case(
        "project-oak/milan_oc_release_report.bin",
        {"vcek": "project-oak/milan_oc_release_vcek.der"},
        t("2025-06-01T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        3,
        TcbParts(4, 0, 24, 219),
        "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3",
    ),
    "oak-milan-rk": Case(
        "project-oak/milan_rk_release_report.bin",
        {"vcek": "project-oak/milan_rk_release_vcek.der"},
        t("2025-06-01T00:00:00"),
        Product.MILAN,
        VekKind.VCEK,
        3,
        TcbParts(4, 0, 24, 219),
        "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3",
    ),
}


def report_bytes(case: Case) -> bytes:
    return fixture_bytes(SNP + case.report)


def certs_of(case: Case) -> SnpCertificates:
    return load_snp_certs(**{k: fixture(SNP + v) for k, v in case.certs.items()})


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_report_verifies(name: str) -> None:
    case = CASES[name]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.status == "verified"
    assert verdict.product is case.product
    assert verdict.key_type is case.key
    assert verdict.report.version == case.version
    assert verdict.tcb.reported == case.reported
    assert verdict.tcb.certificate == case.reported
    assert verdict.root.production is True
    assert verdict.root.subject.startswith(f"CN=ARK-{case.product.value},")
    assert [c.role for c in verdict.certificates] == [
        "ARK",
        "ASK" if case.key is VekKind.VCEK else "ASVK",
        case.key.value,
    ]
    assert verdict.at == case.at
    assert verdict.crl_checked is False
    if case.measurement is not None:
        assert verdict.report.measurement.hex() == case.measurement


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_report_tcb_is_the_whole_certificate_tcb_and_not_above_current(name: str) -> None:
    case = CASES[name]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    leaf = certs_of(case).vcek if case.key is VekKind.VCEK else certs_of(case).vlek
    assert leaf is not None
    ext = parse_vek_extensions(load_certificate(leaf))
    assert ext.tcb_version(case.product) == verdict.report.reported_tcb
    assert verdict.report.reported_tcb.above(verdict.report.current_tcb, case.product) == []
    assert 0 <= verdict.report.vmpl <= 3


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_report_verifies_with_explicit_product(name: str) -> None:
    case = CASES[name]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at, product=case.product.value.lower())
    assert verdict.product is case.product
    assert verdict.notes == ()


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_report_with_another_product_fails(name: str) -> None:
    case = CASES[name]
    other = Product.GENOA if case.product is not Product.GENOA else Product.MILAN
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs_of(case), at=case.at, product=other)
    assert err.value.code == "product_mismatch"


def test_v2_report_without_product_takes_the_certificates_product_and_says_so() -> None:
    case = CASES["go-sev-guest"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.product_source == "certificates (intermediate CN SEV-Milan)"
    assert verdict.notes == (
        "version 2 report carries no CPUID and no product was given: "
        "product Milan taken from the certificates",
    )


def test_v3_report_product_comes_from_cpuid() -> None:
    case = CASES["azure-genoa"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.product_source == "report CPUID (certificates agree)"
    assert verdict.certificate_product_name == "Genoa"


def test_go_sev_guest_published_values() -> None:
    case = CASES["go-sev-guest"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.report.report_data == bytes.fromhex("0102030405") + bytes(59)
    assert verdict.report.policy.raw == 0xB0000
    assert verdict.report.reported_tcb.raw == 0x4405000000000002
    assert verdict.report.current_version == (1, 49, 3)
    assert verdict.chip_binding == "CHIP_ID matches the VCEK hwID"


def test_trustee_current_tcb_differs_from_reported() -> None:
    case = CASES["trustee-vcek"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.tcb.current == TcbParts(3, 0, 8, 206)
    assert verdict.tcb.reported == TcbParts(3, 0, 8, 115)
    assert verdict.report.guest_svn == 4
    assert verdict.report.policy.raw == 0x3001F


def test_azure_milan_current_tcb_differs_from_reported() -> None:
    case = CASES["azure-milan"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.tcb.current == TcbParts(3, 0, 8, 210)


def test_vlek_report_records_csp_and_no_chip_binding() -> None:
    case = CASES["trustee-vlek"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.csp_id == "CN=cc-us-east-2.amazonaws.com"
    assert (
        verdict.chip_binding == "not applicable: VLEK (bound to the cloud provider's csp_id, not to a chip)"
    )
    assert verdict.report.vmpl == 1
    assert verdict.tcb.committed == TcbParts(4, 0, 24, 219)
    assert verdict.tcb.current == TcbParts(4, 0, 24, 220)
    assert verdict.certificates[1].subject.startswith("CN=SEV-VLEK-Milan,")


def test_vlek_verifies_with_shipped_asvk_when_no_chain_given() -> None:
    case = CASES["trustee-vlek"]
    certs = load_snp_certs(vlek=fixture(SNP + "trustee/test-vlek.der"))
    verdict = verify_snp(report_bytes(case), certs, at=case.at)
    assert verdict.key_type is VekKind.VLEK


def test_vlek_with_the_ask_chain_fails() -> None:
    case = CASES["trustee-vlek"]
    certs = load_snp_certs(
        vlek=fixture(SNP + "trustee/test-vlek.der"), chain=fixture(SNP + "go-sev-guest/ask_ark_milan.pem")
    )
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs, at=case.at)
    assert err.value.code == "chain_role_mismatch"


def test_vlek_with_trustee_bundle_of_ask_ark_asvk() -> None:
    case = CASES["trustee-vlek"]
    certs = load_snp_certs(
        vlek=fixture(SNP + "trustee/test-vlek.der"), chain=fixture(SNP + "trustee/milan_ask_ark_asvk.pem")
    )
    assert certs.ask is not None
    assert certs.asvk is not None
    assert certs.ark is not None
    verdict = verify_snp(report_bytes(case), certs, at=case.at)
    assert verdict.key_type is VekKind.VLEK


def test_vlek_expired_after_its_one_year() -> None:
    case = CASES["trustee-vlek"]
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs_of(case), at=t("2026-01-01T00:00:00"))
    assert err.value.code == "certificate_expired"


def test_turin_report_chip_id_is_eight_bytes() -> None:
    case = CASES["oak-turin"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.report.chip_id == bytes.fromhex("3b42092f69c656d3") + bytes(56)
    assert verdict.chip_binding == "CHIP_ID matches the VCEK hwID"
    assert verdict.tcb.reported.fmc_spl == 0


def test_gcp_v5_mitigation_vectors() -> None:
    case = CASES["gcp"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    assert verdict.report.launch_mit_vector == 0xB
    assert verdict.report.current_mit_vector == 0xB
    assert verdict.report.current_version == (1, 55, 35)


def test_virtee_tampered_report_fails_signature() -> None:
    case = CASES["virtee-milan"]
    data = bytearray(report_bytes(case))
    data[21] ^= 0x80
    with pytest.raises(VerificationError) as err:
        verify_snp(bytes(data), certs_of(case), at=case.at)
    assert err.value.code == "report_signature_invalid"


@pytest.mark.parametrize("name", ["test-vcek-invalid-legacy.der", "test-vcek-invalid-new.der"])
def test_trustee_invalid_vceks_fail_the_chain_signature(name: str) -> None:
    case = CASES["trustee-vcek"]
    certs = load_snp_certs(vcek=fixture(SNP + "trustee/" + name))
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs, at=case.at)
    assert err.value.code == "chain_signature_invalid"


def test_turin_vcek_under_the_genoa_chain_fails() -> None:
    case = CASES["oak-turin"]
    certs = load_snp_certs(
        vcek=fixture(SNP + "project-oak/turin_oc_vcek.der"),
        chain=fixture(SNP + "go-sev-guest/ask_ark_genoa.pem"),
    )
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs, at=case.at)
    assert err.value.code == "product_mismatch"


def test_turin_chain_with_the_genoa_ark_fails() -> None:
    case = CASES["oak-turin"]
    certs = load_snp_certs(
        vcek=fixture(SNP + "project-oak/turin_oc_vcek.der"),
        chain=fixture(SNP + "amd-roots/turin_ask.pem"),
        ark=fixture(SNP + "amd-roots/genoa_ark.pem"),
    )
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs, at=case.at)
    assert err.value.code == "wrong_product_root"


def test_turin_chain_under_the_genoa_ark_as_trust_root_fails() -> None:
    case = CASES["oak-turin"]
    certs = load_snp_certs(
        vcek=fixture(SNP + "project-oak/turin_oc_vcek.der"),
        chain=fixture(SNP + "go-sev-guest/ask_ark_turin_vcek.pem"),
    )
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs, at=case.at, trust_root=fixture(SNP + "amd-roots/genoa_ark.pem"))
    assert err.value.code == "untrusted_root"


def test_production_ark_as_explicit_trust_root_is_recorded_as_production() -> None:
    case = CASES["oak-turin"]
    verdict = verify_snp(
        report_bytes(case), certs_of(case), at=case.at, trust_root=fixture(SNP + "amd-roots/turin_ark.pem")
    )
    assert verdict.root.production is True


def test_certificate_not_yet_valid_and_expired() -> None:
    case = CASES["go-sev-guest"]
    with pytest.raises(VerificationError) as early:
        verify_snp(report_bytes(case), certs_of(case), at=t("2022-09-01T00:00:00"))
    assert early.value.code == "certificate_not_yet_valid"
    with pytest.raises(VerificationError) as late:
        verify_snp(report_bytes(case), certs_of(case), at=t("2030-01-01T00:00:00"))
    assert late.value.code == "certificate_expired"


def test_vcek_of_another_chip_fails() -> None:
    case = CASES["oak-milan-oc"]
    certs = load_snp_certs(vcek=fixture(SNP + "project-oak/milan_rk_release_vcek.der"))
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs, at=case.at)
    assert err.value.code == "report_signature_invalid"


def test_report_as_parsed_object_verifies() -> None:
    case = CASES["oak-genoa"]
    parsed = SnpReport.from_bytes(report_bytes(case))
    verdict = verify_snp(parsed, certs_of(case), at=case.at)
    assert verdict.report is parsed


def test_missing_vcek_is_collateral_error_naming_the_kds_url() -> None:
    case = CASES["go-sev-guest"]
    with pytest.raises(CollateralError) as err:
        verify_snp(report_bytes(case), SnpCertificates(), at=case.at, product="milan")
    assert err.value.missing == (
        "https://kdsintf.amd.com/vcek/v1/Milan/"
        "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d"
        "?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"
    )


def test_missing_turin_vcek_names_the_eight_byte_hwid_and_fmc() -> None:
    case = CASES["oak-turin"]
    with pytest.raises(CollateralError) as err:
        verify_snp(report_bytes(case), SnpCertificates(), at=case.at)
    assert err.value.missing == (
        "https://kdsintf.amd.com/vcek/v1/Turin/3b42092f69c656d3?blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71&fmcSPL=0"
    )


def test_missing_vlek_is_collateral_error() -> None:
    case = CASES["trustee-vlek"]
    with pytest.raises(CollateralError) as err:
        verify_snp(report_bytes(case), SnpCertificates(), at=case.at)
    assert err.value.missing == "VLEK certificate"


def test_vcek_given_for_a_vlek_report_is_signing_key_mismatch() -> None:
    case = CASES["trustee-vlek"]
    certs = load_snp_certs(vcek=fixture(SNP + "trustee/test-vcek.der"))
    with pytest.raises(VerificationError) as err:
        verify_snp(report_bytes(case), certs, at=case.at)
    assert err.value.code == "signing_key_mismatch"


def test_certificate_table_supplies_vcek_ask_and_ark() -> None:
    case = CASES["oak-genoa"]
    table = CertTable.build(
        [
            (CertKind.VCEK, fixture_bytes(SNP + "project-oak/genoa_oc_vcek.der")),
            (CertKind.ASK, to_der(fixture_bytes(SNP + "amd-roots/genoa_ask.pem"))),
            (CertKind.ARK, to_der(fixture_bytes(SNP + "amd-roots/genoa_ark.pem"))),
        ]
    )
    certs = load_snp_certs(table=table.to_bytes())
    assert certs.sources == ("vcek: table VCEK", "ask: table ASK", "ark: table ARK")
    verdict = verify_snp(report_bytes(case), certs, at=case.at)
    assert verdict.product is Product.GENOA
    assert verdict.certificate_sources == certs.sources


def test_certificate_table_with_asvk_under_the_ask_guid() -> None:
    case = CASES["trustee-vlek"]
    table = CertTable.build(
        [
            (CertKind.VLEK, fixture_bytes(SNP + "trustee/test-vlek.der")),
            (CertKind.ASVK, to_der(fixture_bytes(SNP + "amd-roots/milan_asvk.pem"))),
            (CertKind.ARK, to_der(fixture_bytes(SNP + "amd-roots/milan_ark.pem"))),
        ]
    )
    certs = load_snp_certs(table=table.to_bytes())
    assert certs.asvk is not None
    assert certs.ask is None
    assert verify_snp(report_bytes(case), certs, at=case.at).key_type is VekKind.VLEK


def test_chain_verification_is_memoized_by_bytes() -> None:
    clear_chain_memo()
    vek = fixture_bytes(SNP + "project-oak/genoa_oc_vcek.der")
    first = verify_vek_chain(vek)
    second = verify_vek_chain(bytes(vek))
    assert second is first


def test_verdict_renders_as_json() -> None:
    case = CASES["oak-turin"]
    verdict = verify_snp(report_bytes(case), certs_of(case), at=case.at)
    shown = to_jsonable(verdict)
    text = json.dumps(shown)
    assert shown["product"] == "TURIN"
    assert shown["key_type"] == "VCEK"
    assert shown["tcb"]["reported"] == {
        "bl_spl": 1,
        "tee_spl": 0,
        "snp_spl": 2,
        "ucode_spl": 71,
        "fmc_spl": 0,
    }
    assert shown["root"]["sha256"] == "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"
    assert shown["at"] == "2025-08-01T00:00:00Z"
    assert "public_key" not in text


# ---------------------------------------------------------------------------------------- CLI


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["verify", *[str(a) for a in args]])


def unchecked_revocation(tmp_path: Path, **snp: Any) -> list[str | Path]:
    """The explicit opt-out for real reports, whose KDS CRLs are not among the fixtures
    (snp/SOURCES.md): ``--allow-missing-crl`` and a policy accepting unchecked revocation."""
    policy = tmp_path / "unchecked-revocation.json"
    policy.write_text(json.dumps({"snp": {"allow_unchecked_revocation": True, **snp}}))
    return ["--allow-missing-crl", "--policy", policy]


def test_cli_verifies_turin_report(tmp_path: Path) -> None:
    result = cli(
        fixture(SNP + "project-oak/turin_oc_report.bin"),
        "--vcek",
        fixture(SNP + "project-oak/turin_oc_vcek.der"),
        "--at",
        "2025-08-01T00:00:00Z",
        "--json",
        *unchecked_revocation(tmp_path),
    )
    assert result.exit_code == 0, result.output
    shown = envelope_result(result.stdout, "verify")
    assert shown["status"] == "verified"
    assert shown["verdict"]["product"] == "TURIN"
    assert shown["verdict"]["crl_checked"] is False
    assert shown["verdict"]["crl_source"] is None
    assert shown["policy"]["allow_debug"] is False
    assert shown["policy"]["allow_unchecked_revocation"] is True


def test_cli_without_a_crl_exits_3_naming_the_kds_crl() -> None:
    result = cli(
        fixture(SNP + "project-oak/turin_oc_report.bin"),
        "--vcek",
        fixture(SNP + "project-oak/turin_oc_vcek.der"),
        "--at",
        "2025-08-01T00:00:00Z",
        "--offline",
    )
    assert result.exit_code == 3, result.output
    assert "https://kdsintf.amd.com/vcek/v1/Turin/crl" in result.output
    assert "--allow-missing-crl" in result.output


def test_cli_allow_missing_crl_is_still_refused_by_the_default_policy() -> None:
    result = cli(
        fixture(SNP + "project-oak/turin_oc_report.bin"),
        "--vcek",
        fixture(SNP + "project-oak/turin_oc_vcek.der"),
        "--at",
        "2025-08-01T00:00:00Z",
        "--allow-missing-crl",
        "--json",
    )
    assert result.exit_code == 1, result.output
    shown = envelope(result.stdout, "verify")["result"]
    assert shown["accepted"] is False
    assert shown["policy_error"]["code"] == "revocation_not_checked"
    assert shown["verdict"]["crl_checked"] is False


def test_cli_table_output(tmp_path: Path) -> None:
    result = cli(
        fixture(SNP + "virtee-sev/report_milan.hex"),
        "--vcek",
        fixture(SNP + "virtee-sev/vcek_milan.der"),
        "--at",
        "2024-01-01T00:00:00Z",
        *unchecked_revocation(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "verified; policy accepted" in result.stdout
    assert "taken from the certificates" in result.stdout


def test_cli_signature_failure_exits_1(tmp_path: Path) -> None:
    data = bytearray(fixture_bytes(SNP + "virtee-sev/report_milan.hex"))
    data[21] ^= 0x80
    path = tmp_path / "report.bin"
    path.write_bytes(bytes(data))
    result = cli(path, "--vcek", fixture(SNP + "virtee-sev/vcek_milan.der"), "--at", "2024-01-01T00:00:00Z")
    assert result.exit_code == 1
    assert "report_signature_invalid" in result.output


def test_cli_offline_without_vcek_exits_3() -> None:
    result = cli(
        fixture(SNP + "project-oak/turin_oc_report.bin"), "--offline", "--at", "2025-08-01T00:00:00Z"
    )
    assert result.exit_code == 3
    assert "https://kdsintf.amd.com/vcek/v1/Turin/3b42092f69c656d3" in result.output


def test_cli_policy_failure_exits_1(tmp_path: Path) -> None:
    result = cli(
        fixture(SNP + "trustee/test-vlek-report.bin"),
        "--vlek",
        fixture(SNP + "trustee/test-vlek.der"),
        *unchecked_revocation(tmp_path, vmpl=0),
        "--at",
        "2025-06-01T00:00:00Z",
    )
    assert result.exit_code == 1
    assert "vmpl_mismatch" in result.output


def test_cli_bad_policy_exits_2(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"snp": {"no_such_check": 1}}))
    result = cli(
        fixture(SNP + "project-oak/turin_oc_report.bin"),
        "--vcek",
        fixture(SNP + "project-oak/turin_oc_vcek.der"),
        "--policy",
        policy,
    )
    assert result.exit_code == 2
    assert "no_such_check" in result.output


def test_cli_vcek_from_collateral_bundle(tmp_path: Path) -> None:
    from ccverify.verifier.collateral.bundle import CollateralBundle
    from ccverify.verifier.collateral.cache import CacheEntry
    from ccverify.verifier.collateral.kds import vcek_url

    case = CASES["oak-turin"]
    report = SnpReport.from_bytes(report_bytes(case))
    url = vcek_url(Product.TURIN, report.chip_id, report.reported_tcb)
    bundle = tmp_path / "bundle.json"
    CollateralBundle.write(bundle, [CacheEntry(url, fixture_bytes(SNP + "project-oak/turin_oc_vcek.der"))])
    result = cli(
        fixture(SNP + case.report),
        "--collateral",
        bundle,
        "--offline",
        "--at",
        "2025-08-01T00:00:00Z",
        "--json",
        *unchecked_revocation(tmp_path),
    )
    assert result.exit_code == 0, result.output
    verdict = envelope_result(result.stdout, "verify")["verdict"]
    assert verdict["chip_binding"] == "CHIP_ID matches the VCEK hwID"
