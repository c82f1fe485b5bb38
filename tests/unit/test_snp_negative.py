"""SEV-SNP verification failures, made with the test PKI (explicit trust_root): one code each."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ccverify.verifier.errors import CollateralError, InputError, VerificationError
from ccverify.verifier.evidence.certtable import CertKind, CertTable
from ccverify.verifier.evidence.snp_report import Product, SigningKey, SnpReport, TcbParts, TcbVersion
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.snp.certs import AMD_PSS, VekKind, der, parse_vek_extensions
from ccverify.verifier.snp.verify import SnpCertificates, SnpVerdict, load_snp_certs
from ccverify.verifier.snp.verify import verify_snp as _verify_snp
from ccverify.verifier.testing.pki import AMD_EXTENSION_OIDS, REFERENCE_TIME, AmdTestPki, Validity
from ccverify.verifier.testing.snp_builder import build_snp_report, sign_snp_report

AT = REFERENCE_TIME
COMPONENTS = ("bl_spl", "tee_spl", "snp_spl", "ucode_spl")


def verify_snp(*args: Any, **kwargs: Any) -> SnpVerdict:
    """``verify_snp`` without a policy (UNSAFE_NO_POLICY) unless a test passes one: these tests check
    verification; ``test_snp_policy.py`` checks the policy, ``test_policy_api.py`` the default."""
    kwargs.setdefault("policy", UNSAFE_NO_POLICY)
    return _verify_snp(*args, **kwargs)


@pytest.fixture(scope="module", params=list(Product), ids=lambda p: p.value)
def pki(request: pytest.FixtureRequest) -> AmdTestPki:
    return AmdTestPki(request.param, rsa_key_size=2048)


@pytest.fixture(scope="module")
def milan() -> AmdTestPki:
    return AmdTestPki(Product.MILAN, rsa_key_size=2048)


@pytest.fixture(scope="module")
def turin() -> AmdTestPki:
    return AmdTestPki(Product.TURIN, rsa_key_size=2048)


def vcek_report(pki: AmdTestPki, **fields: object) -> SnpReport:
    options: dict[str, object] = {"product": pki.product, "tcb": pki.tcb, "chip_id": pki.chip_id}
    options.update(fields)
    return build_snp_report(pki.vcek_key, **options)  # type: ignore[arg-type]


def vlek_report(pki: AmdTestPki, **fields: object) -> SnpReport:
    options: dict[str, object] = {"product": pki.product, "tcb": pki.tcb, "signing_key": SigningKey.VLEK}
    options.update(fields)
    return build_snp_report(pki.vlek_key, **options)  # type: ignore[arg-type]


def vcek_certs(pki: AmdTestPki, **changes: bytes | None) -> SnpCertificates:
    return load_snp_certs(vcek=pki.vcek_der(), chain=pki.cert_chain_pem("vcek")).with_(**changes)


def vlek_certs(pki: AmdTestPki) -> SnpCertificates:
    return load_snp_certs(vlek=pki.vlek_der(), chain=pki.cert_chain_pem("vlek"))


def fails(
    code: str, report: SnpReport | bytes, certs: SnpCertificates, pki: AmdTestPki, **kw: object
) -> None:
    data = report.to_bytes() if isinstance(report, SnpReport) else report
    with pytest.raises(VerificationError) as err:
        verify_snp(data, certs, at=kw.pop("at", AT), trust_root=kw.pop("root", pki.ark_der()), **kw)  # type: ignore[arg-type]
    assert err.value.code == code, str(err.value)


# ------------------------------------------------------------------------------ happy paths


def test_vcek_report_verifies_under_the_test_root(pki: AmdTestPki) -> None:
    verdict = verify_snp(vcek_report(pki).to_bytes(), vcek_certs(pki), at=AT, trust_root=pki.ark_der())
    assert verdict.product is pki.product
    assert verdict.root.production is False
    assert verdict.root.sha256 == hashlib.sha256(pki.ark_der()).hexdigest()
    assert verdict.chip_binding == "CHIP_ID matches the VCEK hwID"


def test_vlek_report_verifies_under_the_test_root(pki: AmdTestPki) -> None:
    verdict = verify_snp(vlek_report(pki).to_bytes(), vlek_certs(pki), at=AT, trust_root=pki.ark_pem())
    assert verdict.key_type is VekKind.VLEK
    assert verdict.csp_id == "CN=csp.example"


@pytest.mark.parametrize("version", [2, 3, 5])
def test_every_report_version_verifies(milan: AmdTestPki, version: int) -> None:
    verdict = verify_snp(
        vcek_report(milan, version=version).to_bytes(), vcek_certs(milan), at=AT, trust_root=milan.ark_der()
    )
    assert verdict.report.version == version


def test_hwid_wrapped_in_octet_string_verifies() -> None:
    pki = AmdTestPki(Product.GENOA, rsa_key_size=2048, hwid_octet_string=True)
    cert = pki.vcek_cert
    assert parse_vek_extensions(cert).hw_id == pki.hwid
    verdict = verify_snp(vcek_report(pki).to_bytes(), vcek_certs(pki), at=AT, trust_root=pki.ark_der())
    assert verdict.chip_binding == "CHIP_ID matches the VCEK hwID"


# ------------------------------------------------------------------------------ roots


def test_test_root_is_not_trusted_without_trust_root(pki: AmdTestPki) -> None:
    with pytest.raises(VerificationError) as err:
        verify_snp(vcek_report(pki).to_bytes(), vcek_certs(pki), at=AT)
    assert err.value.code == "untrusted_root"


def test_test_chain_without_ark_is_checked_against_the_production_ark(milan: AmdTestPki) -> None:
    with pytest.raises(VerificationError) as err:
        verify_snp(vcek_report(milan).to_bytes(), vcek_certs(milan, ark=None), at=AT)
    assert err.value.code == "chain_issuer_mismatch"


def test_trust_root_of_another_product_is_untrusted(milan: AmdTestPki, turin: AmdTestPki) -> None:
    fails("untrusted_root", vcek_report(milan), vcek_certs(milan), milan, root=turin.ark_der())


def test_ark_of_another_product_breaks_the_chain(milan: AmdTestPki, turin: AmdTestPki) -> None:
    certs = vcek_certs(milan, ark=turin.ark_der())
    fails("chain_issuer_mismatch", vcek_report(milan), certs, milan, root=turin.ark_der())


def test_trust_root_chain_needs_its_intermediate(milan: AmdTestPki) -> None:
    certs = SnpCertificates(vcek=milan.vcek_der())
    with pytest.raises(CollateralError):
        verify_snp(vcek_report(milan).to_bytes(), certs, at=AT, trust_root=milan.ark_der())


def test_foreign_ask_signature_fails(milan: AmdTestPki) -> None:
    other = AmdTestPki(Product.MILAN, rsa_key_size=2048, seed=b"another test pki")
    certs = vcek_certs(milan, ask=other.ask_der())
    fails("chain_signature_invalid", vcek_report(milan), certs, milan)


# ------------------------------------------------------------------------------ report


def test_report_signature_by_another_key_fails(pki: AmdTestPki) -> None:
    stranger = ec.generate_private_key(ec.SECP384R1())
    fails("report_signature_invalid", sign_snp_report(vcek_report(pki), stranger), vcek_certs(pki), pki)


def test_changed_measurement_fails_the_signature(pki: AmdTestPki) -> None:
    data = bytearray(vcek_report(pki).to_bytes())
    data[0x90] ^= 1
    fails("report_signature_invalid", bytes(data), vcek_certs(pki), pki)


def test_signature_algorithm_must_be_one(milan: AmdTestPki) -> None:
    fails("signature_algo_unsupported", vcek_report(milan, signature_algo=2), vcek_certs(milan), milan)


def test_policy_bit_17_must_be_set(milan: AmdTestPki) -> None:
    fails("policy_reserved_bit", vcek_report(milan, policy=0x10000), vcek_certs(milan), milan)


def test_unsigned_report_fails(milan: AmdTestPki) -> None:
    fails("report_unsigned", vcek_report(milan, signing_key=SigningKey.NONE), vcek_certs(milan), milan)


@pytest.mark.parametrize("vmpl", [4, 7, 0x80000000, 0xFFFFFFFF])
def test_vmpl_outside_0_to_3_is_refused(pki: AmdTestPki, vmpl: int) -> None:
    report = vcek_report(pki, vmpl=vmpl)
    assert SnpReport.from_bytes(report.to_bytes()).vmpl == vmpl  # the parser keeps it
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(pki), at=AT, trust_root=pki.ark_der())
    assert err.value.code == "vmpl_out_of_range"
    assert (err.value.expected, err.value.actual) == ("0..3", vmpl)
    assert f"VMPL {vmpl} (0x{vmpl:x})" in err.value.detail


def test_host_requested_vlek_report_is_refused(milan: AmdTestPki) -> None:
    fails("vmpl_out_of_range", vlek_report(milan, vmpl=0xFFFFFFFF), vlek_certs(milan), milan)


@pytest.mark.parametrize("vmpl", [0, 1, 2, 3])
def test_every_guest_vmpl_verifies(milan: AmdTestPki, vmpl: int) -> None:
    verdict = verify_snp(
        vcek_report(milan, vmpl=vmpl).to_bytes(), vcek_certs(milan), at=AT, trust_root=milan.ark_der()
    )
    assert verdict.report.vmpl == vmpl


# ------------------------------------------------------------------------------ key kind


def test_vlek_report_with_only_a_vcek_is_signing_key_mismatch(milan: AmdTestPki) -> None:
    fails("signing_key_mismatch", vlek_report(milan), vcek_certs(milan), milan)


def test_vcek_report_with_only_a_vlek_is_signing_key_mismatch(milan: AmdTestPki) -> None:
    fails("signing_key_mismatch", vcek_report(milan), vlek_certs(milan), milan)


def test_vlek_certificate_in_the_vcek_slot_is_signing_key_mismatch(milan: AmdTestPki) -> None:
    certs = SnpCertificates(vcek=milan.vlek_der(), asvk=milan.asvk_der(), ark=milan.ark_der())
    fails("signing_key_mismatch", vcek_report(milan), certs, milan)


def test_vlek_with_the_ask_chain_fails(pki: AmdTestPki) -> None:
    certs = load_snp_certs(vlek=pki.vlek_der(), chain=pki.cert_chain_pem("vcek"))
    fails("chain_role_mismatch", vlek_report(pki), certs, pki)


def test_vlek_issued_by_the_ask_fails(milan: AmdTestPki) -> None:
    vlek = der(milan.issue_vek("vlek", signer="ask"))
    certs = load_snp_certs(vlek=vlek, chain=milan.cert_chain_pem("vcek"))
    fails("chain_role_mismatch", vlek_report(milan), certs, milan)


def test_vcek_under_the_asvk_fails(milan: AmdTestPki) -> None:
    certs = SnpCertificates(vcek=milan.vcek_der(), asvk=milan.asvk_der(), ark=milan.ark_der())
    fails("chain_role_mismatch", vcek_report(milan), certs, milan)


# ------------------------------------------------------------------------------ TCB


@pytest.mark.parametrize("component", COMPONENTS)
def test_reported_tcb_component_differs_from_the_certificate(pki: AmdTestPki, component: str) -> None:
    reported = dataclasses.replace(pki.tcb, **{component: getattr(pki.tcb, component) + 1})
    report = vcek_report(pki, reported_tcb=reported)
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(pki), at=AT, trust_root=pki.ark_der())
    assert err.value.code == "tcb_mismatch"
    assert f"in {component}" in err.value.detail


def test_turin_fmc_differs_from_the_certificate(turin: AmdTestPki) -> None:
    reported = dataclasses.replace(turin.tcb, fmc_spl=1)
    report = vcek_report(turin, reported_tcb=reported)
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(turin), at=AT, trust_root=turin.ark_der())
    assert err.value.code == "tcb_mismatch"
    assert "in fmc_spl" in err.value.detail


def test_vlek_tcb_mismatch(milan: AmdTestPki) -> None:
    reported = dataclasses.replace(milan.tcb, ucode_spl=1)
    fails("tcb_mismatch", vlek_report(milan, reported_tcb=reported), vlek_certs(milan), milan)


def test_current_tcb_may_differ_from_reported(milan: AmdTestPki) -> None:
    current = dataclasses.replace(milan.tcb, ucode_spl=milan.tcb.ucode_spl + 3)
    report = vcek_report(milan, current_tcb=current)
    verdict = verify_snp(report.to_bytes(), vcek_certs(milan), at=AT, trust_root=milan.ark_der())
    assert verdict.tcb.current == current


def test_milan_layout_tcb_against_turin_certificate_fails(turin: AmdTestPki) -> None:
    milan_layout = TcbVersion.from_parts(TcbParts(1, 0, 2, 71), Product.MILAN)
    fails("tcb_mismatch", vcek_report(turin, reported_tcb=milan_layout), vcek_certs(turin), turin)


def _der_int(value: int) -> bytes:
    content = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return bytes([0x02, len(content)]) + content


def _vcek_with_spls(pki: AmdTestPki, **spls: int) -> bytes:
    """The test PKI's VCEK with these SPL extensions set (added when the product lacks them)."""
    wanted = {AMD_EXTENSION_OIDS[name]: _der_int(value) for name, value in spls.items()}
    items = [(oid, wanted.pop(oid, value)) for oid, value in pki.vek_extensions("vcek")]
    return der(pki.issue_vek("vcek", extensions=items + list(wanted.items())))


def _with_byte(tcb: TcbVersion, index: int, value: int) -> TcbVersion:
    return TcbVersion(tcb.raw & ~(0xFF << 8 * index) | value << 8 * index)


@pytest.fixture(scope="module", params=[Product.MILAN, Product.GENOA], ids=lambda p: p.value)
def milan_genoa(request: pytest.FixtureRequest) -> AmdTestPki:
    return AmdTestPki(request.param, rsa_key_size=2048)


def test_tcb_mismatch_shows_both_raw_values(milan: AmdTestPki) -> None:
    reported = dataclasses.replace(milan.tcb, ucode_spl=220)  # 4, 0, 24, 219 in the VCEK
    report = vcek_report(milan, reported_tcb=reported, current_tcb=reported)
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(milan), at=AT, trust_root=milan.ark_der())
    assert err.value.code == "tcb_mismatch"
    assert err.value.detail == (
        "REPORTED_TCB 0xdc18000000000004 differs from the VCEK's TCB 0xdb18000000000004 in ucode_spl"
    )
    assert err.value.expected == "0xdb18000000000004 (bl=4 tee=0 snp=24 ucode=219)"
    assert err.value.actual == "0xdc18000000000004 (bl=4 tee=0 snp=24 ucode=220)"


@pytest.mark.parametrize(("index", "name"), [(2, "spl_4"), (3, "spl_5"), (4, "spl_6"), (5, "spl_7")])
def test_milan_genoa_reserved_tcb_byte_must_match_the_certificate(
    milan_genoa: AmdTestPki, index: int, name: str
) -> None:
    pki = milan_genoa
    odd = _with_byte(TcbVersion.from_parts(pki.tcb, pki.product), index, 5)
    report = vcek_report(pki, tcb=odd)  # every TCB field the same: only the certificate differs
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(pki), at=AT, trust_root=pki.ark_der())
    assert err.value.code == "tcb_mismatch"
    assert err.value.detail.endswith(f"in {name}")
    assert f"REPORTED_TCB 0x{odd.raw:016x}" in err.value.detail


@pytest.mark.parametrize(("index", "name"), [(2, "spl_4"), (3, "spl_5"), (4, "spl_6"), (5, "spl_7")])
def test_milan_genoa_vcek_reserved_spls_are_part_of_its_tcb(
    milan_genoa: AmdTestPki, index: int, name: str
) -> None:
    pki = milan_genoa
    vcek = _vcek_with_spls(pki, **{name: 9})
    plain = TcbVersion.from_parts(pki.tcb, pki.product)
    with pytest.raises(VerificationError) as err:
        verify_snp(vcek_report(pki).to_bytes(), vcek_certs(pki, vcek=vcek), at=AT, trust_root=pki.ark_der())
    assert err.value.code == "tcb_mismatch"
    assert err.value.detail.endswith(f"in {name}")
    # go-sev-guest's ComposeTCBParts: the SPL is byte 2-5 of the certificate's TCB_VERSION
    composed = _with_byte(plain, index, 9)
    verdict = verify_snp(
        vcek_report(pki, tcb=composed).to_bytes(), vcek_certs(pki, vcek=vcek), at=AT, trust_root=pki.ark_der()
    )
    assert verdict.report.reported_tcb == composed


@pytest.mark.parametrize(("index", "name"), [(4, "spl_5"), (5, "spl_6"), (6, "spl_7")])
def test_turin_reserved_tcb_bytes_must_be_zero(turin: AmdTestPki, index: int, name: str) -> None:
    odd = _with_byte(TcbVersion.from_parts(turin.tcb, Product.TURIN), index, 7)
    report = vcek_report(turin, tcb=odd)
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(turin), at=AT, trust_root=turin.ark_der())
    assert err.value.code == "tcb_mismatch"
    assert err.value.detail == (
        f"REPORTED_TCB 0x{odd.raw:016x} differs from the VCEK's TCB 0x4700000002000100 in {name}"
    )


@pytest.mark.parametrize(("name", "index"), [("spl_4", None), ("spl_5", 4), ("spl_6", 5), ("spl_7", 6)])
def test_turin_vcek_with_reserved_spls_matches_no_report(
    turin: AmdTestPki, name: str, index: int | None
) -> None:
    certs = vcek_certs(turin, vcek=_vcek_with_spls(turin, **{name: 3}))
    plain = TcbVersion.from_parts(turin.tcb, Product.TURIN)
    candidates = [plain] if index is None else [plain, _with_byte(plain, index, 3)]
    for tcb in candidates:
        with pytest.raises(VerificationError) as err:
            verify_snp(vcek_report(turin, tcb=tcb).to_bytes(), certs, at=AT, trust_root=turin.ark_der())
        assert err.value.code == "tcb_mismatch"
        assert err.value.actual == f"{name}=3"
        assert "no REPORTED_TCB can match it" in err.value.detail


def test_turin_vcek_with_zero_reserved_spls_verifies(turin: AmdTestPki) -> None:
    certs = vcek_certs(turin, vcek=_vcek_with_spls(turin, spl_4=0))  # real ones carry .3.5-.3.7 = 0
    verdict = verify_snp(vcek_report(turin).to_bytes(), certs, at=AT, trust_root=turin.ark_der())
    assert verdict.tcb.certificate == turin.tcb


@pytest.mark.parametrize("name", ["bl_spl", "snp_spl", "ucode_spl", "spl_4"])
def test_vcek_spl_above_one_byte_is_a_malformed_extension(milan: AmdTestPki, name: str) -> None:
    certs = vcek_certs(milan, vcek=_vcek_with_spls(milan, **{name: 256}))
    with pytest.raises(VerificationError) as err:
        verify_snp(vcek_report(milan).to_bytes(), certs, at=AT, trust_root=milan.ark_der())
    assert err.value.code == "certificate_extension"
    assert err.value.actual == f"{name}=256"


def _tcb_component_cases() -> list[tuple[Product, str]]:
    return [
        (product, name)
        for product in Product
        for name in (*COMPONENTS, *(("fmc_spl",) if product.uses_fmc else ()))
    ]


@pytest.mark.parametrize(
    ("product", "component"), _tcb_component_cases(), ids=lambda v: getattr(v, "value", v)
)
def test_reported_tcb_above_current_is_refused(product: Product, component: str) -> None:
    pki = AmdTestPki(product, rsa_key_size=2048)
    high = dataclasses.replace(pki.tcb, **{component: getattr(pki.tcb, component) + 1})
    pki_high = AmdTestPki(product, rsa_key_size=2048, tcb=high)
    report = vcek_report(pki_high, current_tcb=pki.tcb, committed_tcb=pki.tcb, launch_tcb=pki.tcb)
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(pki_high), at=AT, trust_root=pki_high.ark_der())
    assert err.value.code == "reported_tcb_above_current"
    reported = TcbVersion.from_parts(high, product)
    current = TcbVersion.from_parts(pki.tcb, product)
    assert err.value.detail == (
        f"REPORTED_TCB 0x{reported.raw:016x} is greater than CURRENT_TCB 0x{current.raw:016x} "
        f"in {component}: the host may report a TCB older than the one running, never a newer one"
    )
    assert err.value.expected == f"{component} <= {getattr(pki.tcb, component)}"
    assert err.value.actual == f"{component} = {getattr(high, component)}"


def test_reported_tcb_above_current_names_every_component(milan: AmdTestPki) -> None:
    low = TcbParts(bl_spl=3, tee_spl=0, snp_spl=20, ucode_spl=219)  # the VCEK: 4, 0, 24, 219
    report = vcek_report(milan, current_tcb=low)
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(milan), at=AT, trust_root=milan.ark_der())
    assert err.value.code == "reported_tcb_above_current"
    assert "in bl_spl, snp_spl:" in err.value.detail
    assert err.value.expected == "bl_spl <= 3, snp_spl <= 20"
    assert err.value.actual == "bl_spl = 4, snp_spl = 24"


def test_reported_reserved_byte_above_current_is_refused(milan: AmdTestPki) -> None:
    vcek = _vcek_with_spls(milan, spl_4=9)
    plain = TcbVersion.from_parts(milan.tcb, Product.MILAN)
    report = vcek_report(milan, tcb=plain, reported_tcb=_with_byte(plain, 2, 9))
    with pytest.raises(VerificationError) as err:
        verify_snp(report.to_bytes(), vcek_certs(milan, vcek=vcek), at=AT, trust_root=milan.ark_der())
    assert err.value.code == "reported_tcb_above_current"
    assert (err.value.expected, err.value.actual) == ("spl_4 <= 0", "spl_4 = 9")


# ------------------------------------------------------------------------------ chip id


def test_chip_id_mismatch(pki: AmdTestPki) -> None:
    other = bytes(b ^ 0xFF for b in pki.chip_id[:8]) + pki.chip_id[8:]
    fails("chip_id_mismatch", vcek_report(pki, chip_id=other), vcek_certs(pki), pki)


def test_turin_chip_id_must_be_zero_after_eight_bytes(turin: AmdTestPki) -> None:
    chip = turin.chip_id[:8] + b"\x01" + bytes(55)
    fails("chip_id_mismatch", vcek_report(turin, chip_id=chip), vcek_certs(turin), turin)


def test_mask_chip_key_requires_zero_chip_id(milan: AmdTestPki) -> None:
    fails(
        "chip_id_mismatch",
        vcek_report(milan, mask_chip_key=True, chip_id=milan.chip_id),
        vcek_certs(milan),
        milan,
    )


def test_mask_chip_key_with_zero_chip_id_records_no_binding(milan: AmdTestPki) -> None:
    report = vcek_report(milan, mask_chip_key=True, chip_id=bytes(64))
    verdict = verify_snp(report.to_bytes(), vcek_certs(milan), at=AT, trust_root=milan.ark_der())
    assert verdict.chip_binding == "not possible: MASK_CHIP_KEY is set and CHIP_ID is zero"


def test_masked_chip_id_records_no_binding(milan: AmdTestPki) -> None:
    report = vcek_report(milan, chip_id=bytes(64))
    verdict = verify_snp(report.to_bytes(), vcek_certs(milan), at=AT, trust_root=milan.ark_der())
    assert verdict.chip_binding == "not possible: CHIP_ID is zero (platform MASK_CHIP_ID)"


# ------------------------------------------------------------------------------ CRL


def test_crl_without_the_ask_passes_and_is_recorded(pki: AmdTestPki) -> None:
    certs = vcek_certs(pki, crl=pki.crl())
    verdict = verify_snp(vcek_report(pki).to_bytes(), certs, at=AT, trust_root=pki.ark_der())
    assert verdict.crl_checked is True
    assert verdict.crl is not None
    assert verdict.crl.checked_serial == pki.ask_cert.serial_number


def test_revoked_ask(pki: AmdTestPki) -> None:
    certs = vcek_certs(pki, crl=pki.crl(revoked_serials=[pki.ask_cert.serial_number]))
    fails("certificate_revoked", vcek_report(pki), certs, pki)


def test_revoked_asvk(milan: AmdTestPki) -> None:
    certs = vlek_certs(milan).with_(crl=milan.crl(revoked_serials=[milan.asvk_cert.serial_number]))
    fails("certificate_revoked", vlek_report(milan), certs, milan)


def test_crl_signed_by_another_key(milan: AmdTestPki) -> None:
    other = AmdTestPki(Product.MILAN, rsa_key_size=2048, seed=b"another test pki")
    certs = vcek_certs(milan, crl=milan.crl(signer_key=other.ark_key))
    fails("crl_signature_invalid", vcek_report(milan), certs, milan)


def test_crl_of_another_product(milan: AmdTestPki, turin: AmdTestPki) -> None:
    fails("crl_issuer_mismatch", vcek_report(milan), vcek_certs(milan, crl=turin.crl()), milan)


def test_crl_past_next_update(milan: AmdTestPki) -> None:
    certs = vcek_certs(milan, crl=milan.crl())
    fails("crl_expired", vcek_report(milan), certs, milan, at=AT + timedelta(days=60))


def _without_next_update(pki: AmdTestPki, crl_der: bytes) -> bytes:
    """The ARK's CRL with its TBSCertList's nextUpdate dropped and the TBS re-signed (cryptography
    will not build one: RFC 5280 §5.1.2.5 says issuers MUST include nextUpdate)."""
    from ccverify.verifier.testing.pki import _der, _der_content, _der_split

    crl = x509.load_der_x509_crl(crl_der)
    fields = _der_split(_der_content(crl.tbs_certlist_bytes))
    assert fields[3][0] == fields[4][0] == 0x17  # thisUpdate, nextUpdate (UTCTime)
    tbs = _der(0x30, b"".join(fields[:4] + fields[5:]))
    signature = pki.ark_key.sign(tbs, AMD_PSS, hashes.SHA384())
    return _der(0x30, tbs + fields[1] + _der(0x03, b"\x00" + signature))


def test_crl_without_next_update_is_refused(milan: AmdTestPki) -> None:
    """A CRL that never expires would let a stale one hide a revocation forever."""
    crl = _without_next_update(milan, milan.crl())
    assert x509.load_der_x509_crl(crl).next_update_utc is None
    fails("crl_invalid", vcek_report(milan), vcek_certs(milan, crl=crl), milan)


def test_crl_at_exactly_next_update_is_expired(milan: AmdTestPki) -> None:
    crl = milan.crl()
    certs = vcek_certs(milan, crl=crl)
    next_update = x509.load_der_x509_crl(crl).next_update_utc
    assert next_update is not None
    fails("crl_expired", vcek_report(milan), certs, milan, at=next_update)
    verify_snp(
        vcek_report(milan).to_bytes(),
        certs,
        at=next_update - timedelta(seconds=1),
        trust_root=milan.ark_der(),
    )


def test_crl_before_this_update(milan: AmdTestPki) -> None:
    certs = vcek_certs(milan, crl=milan.crl())
    fails("crl_not_yet_valid", vcek_report(milan), certs, milan, at=AT - timedelta(days=60))


# ------------------------------------------------------------------------------ certificates


def test_expired_vcek(milan: AmdTestPki) -> None:
    old = Validity(AT - timedelta(days=800), AT - timedelta(days=1))
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", validity=old)))
    fails("certificate_expired", vcek_report(milan), certs, milan)


def test_vcek_not_yet_valid(milan: AmdTestPki) -> None:
    later = Validity(AT + timedelta(days=1), AT + timedelta(days=800))
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", validity=later)))
    fails("certificate_not_yet_valid", vcek_report(milan), certs, milan)


def test_expired_ask() -> None:
    pki = AmdTestPki(
        Product.GENOA,
        rsa_key_size=2048,
        ask_validity=Validity(AT - timedelta(days=800), AT - timedelta(days=1)),
    )
    fails("certificate_expired", vcek_report(pki), vcek_certs(pki), pki)


def test_leaf_with_a_p256_key(milan: AmdTestPki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", key=key)))  # type: ignore[arg-type]
    fails("leaf_key_type", vcek_report(milan), certs, milan)


def test_leaf_with_a_wrong_common_name(milan: AmdTestPki) -> None:
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", common_name="VCEK")))
    fails("certificate_name", vcek_report(milan), certs, milan)


def test_intermediate_with_a_wrong_common_name() -> None:
    pki = AmdTestPki(Product.MILAN, rsa_key_size=2048, ask_common_name="Some CA")
    fails("certificate_name", vcek_report(pki), vcek_certs(pki), pki)


def test_vcek_without_hwid(milan: AmdTestPki) -> None:
    items = [(o, v) for o, v in milan.vek_extensions("vcek") if o != AMD_EXTENSION_OIDS["hwid"]]
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", extensions=items)))
    fails("certificate_extension", vcek_report(milan), certs, milan)


def test_vcek_with_csp_id(milan: AmdTestPki) -> None:
    items = [*milan.vek_extensions("vcek"), (AMD_EXTENSION_OIDS["csp_id"], b"\x16\x04CN=x")]
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", extensions=items)))
    fails("certificate_extension", vcek_report(milan), certs, milan)


def test_vlek_with_hwid(milan: AmdTestPki) -> None:
    items = [*milan.vek_extensions("vlek"), (AMD_EXTENSION_OIDS["hwid"], milan.hwid)]
    certs = load_snp_certs(
        vlek=der(milan.issue_vek("vlek", extensions=items)), chain=milan.cert_chain_pem("vlek")
    )
    fails("certificate_extension", vlek_report(milan), certs, milan)


def test_vlek_without_csp_id(milan: AmdTestPki) -> None:
    items = [(o, v) for o, v in milan.vek_extensions("vlek") if o != AMD_EXTENSION_OIDS["csp_id"]]
    certs = load_snp_certs(
        vlek=der(milan.issue_vek("vlek", extensions=items)), chain=milan.cert_chain_pem("vlek")
    )
    fails("certificate_extension", vlek_report(milan), certs, milan)


def test_vcek_without_ucode_spl(milan: AmdTestPki) -> None:
    items = [(o, v) for o, v in milan.vek_extensions("vcek") if o != AMD_EXTENSION_OIDS["ucode_spl"]]
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", extensions=items)))
    fails("certificate_extension", vcek_report(milan), certs, milan)


def test_turin_vcek_without_fmc_spl(turin: AmdTestPki) -> None:
    items = [(o, v) for o, v in turin.vek_extensions("vcek") if o != AMD_EXTENSION_OIDS["fmc_spl"]]
    certs = vcek_certs(turin, vcek=der(turin.issue_vek("vcek", extensions=items)))
    fails("certificate_extension", vcek_report(turin), certs, turin)


def test_turin_vcek_with_struct_version_zero(turin: AmdTestPki) -> None:
    items = turin.vek_extensions("vcek", struct_version=0)
    certs = vcek_certs(turin, vcek=der(turin.issue_vek("vcek", extensions=items)))
    fails("certificate_extension", vcek_report(turin), certs, turin)


def test_malformed_spl_extension(milan: AmdTestPki) -> None:
    items = [
        (o, b"\x04\x01\x05" if o == AMD_EXTENSION_OIDS["snp_spl"] else v)
        for o, v in milan.vek_extensions("vcek")
    ]
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", extensions=items)))
    fails("certificate_extension", vcek_report(milan), certs, milan)


def test_hwid_of_the_wrong_size(milan: AmdTestPki) -> None:
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", hwid=milan.hwid[:8])))
    fails("certificate_extension", vcek_report(milan), certs, milan)


# ------------------------------------------------------------------------------ product


def test_product_name_of_another_product(milan: AmdTestPki) -> None:
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", product_name="Genoa")))
    fails("product_mismatch", vcek_report(milan), certs, milan)


def test_unknown_product_name(milan: AmdTestPki) -> None:
    certs = vcek_certs(milan, vcek=der(milan.issue_vek("vcek", product_name="Venice")))
    fails("product_unknown", vcek_report(milan), certs, milan)


def test_cpuid_of_another_product(milan: AmdTestPki) -> None:
    fails("product_mismatch", vcek_report(milan, cpuid=(0x19, 0x11, 0x01)), vcek_certs(milan), milan)


def test_product_option_against_cpuid(milan: AmdTestPki) -> None:
    fails("product_mismatch", vcek_report(milan), vcek_certs(milan), milan, product=Product.TURIN)


def test_v2_report_with_a_product_option_of_another_product(milan: AmdTestPki) -> None:
    fails("product_mismatch", vcek_report(milan, version=2), vcek_certs(milan), milan, product="genoa")


def test_unknown_product_option_is_an_input_error(milan: AmdTestPki) -> None:
    with pytest.raises(InputError):
        verify_snp(vcek_report(milan).to_bytes(), vcek_certs(milan), at=AT, product="venice")


# ------------------------------------------------------------------------------ hand-made CAs


def _reissue(
    pki: AmdTestPki,
    *,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    ca: bool | None,
    pss: bool = True,
    serial: int = 0x4242,
) -> bytes:
    """A certificate signed by ``pki``'s ARK key, with the test PKI's names and validity."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.ark_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(AT - timedelta(days=365))
        .not_valid_after(AT + timedelta(days=365))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if pss:
        cert = builder.sign(pki.ark_key, hashes.SHA384(), rsa_padding=AMD_PSS)
    else:
        cert = builder.sign(pki.ark_key, hashes.SHA384())
    return der(cert)


def test_ark_reissued_with_the_same_key_is_accepted_by_spki(milan: AmdTestPki) -> None:
    same_key_ark = _reissue(
        milan, subject=milan.ark_cert.subject, public_key=milan.ark_key.public_key(), ca=True
    )
    assert same_key_ark != milan.ark_der()
    verdict = verify_snp(
        vcek_report(milan).to_bytes(), vcek_certs(milan, ark=same_key_ark), at=AT, trust_root=milan.ark_der()
    )
    assert verdict.root.sha256 == hashlib.sha256(milan.ark_der()).hexdigest()


def test_ask_without_ca_flag(milan: AmdTestPki) -> None:
    ask = _reissue(milan, subject=milan.ask_cert.subject, public_key=milan.ask_key.public_key(), ca=False)
    fails("basic_constraints", vcek_report(milan), vcek_certs(milan, ask=ask), milan)


def test_ask_without_basic_constraints(milan: AmdTestPki) -> None:
    ask = _reissue(milan, subject=milan.ask_cert.subject, public_key=milan.ask_key.public_key(), ca=None)
    fails("basic_constraints", vcek_report(milan), vcek_certs(milan, ask=ask), milan)


def test_ask_signed_with_pkcs1v15(milan: AmdTestPki) -> None:
    ask = _reissue(
        milan, subject=milan.ask_cert.subject, public_key=milan.ask_key.public_key(), ca=True, pss=False
    )
    fails("chain_signature_algorithm", vcek_report(milan), vcek_certs(milan, ask=ask), milan)


def test_garbage_vcek_is_malformed(milan: AmdTestPki) -> None:
    fails("certificate_malformed", vcek_report(milan), vcek_certs(milan, vcek=b"\x30\x03\x02\x01\x00"), milan)


def test_crl_from_the_certificate_table(milan: AmdTestPki) -> None:
    table = CertTable.build(
        [
            (CertKind.VCEK, milan.vcek_der()),
            (CertKind.ASK, milan.ask_der()),
            (CertKind.ARK, milan.ark_der()),
            (CertKind.CRL, milan.crl(revoked_serials=[milan.ask_cert.serial_number])),
        ]
    )
    certs = load_snp_certs(table=table.to_bytes())
    assert "crl: table CRL" in certs.sources
    fails("certificate_revoked", vcek_report(milan), certs, milan)
