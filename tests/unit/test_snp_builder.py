"""The SEV-SNP report builder: built reports round-trip and their signatures verify."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.errors import InputError
from ccverify.verifier.evidence.snp_report import (
    GuestPolicy,
    PlatformInfo,
    Product,
    SigningKey,
    SnpReport,
    TcbParts,
    TcbVersion,
)
from ccverify.verifier.testing.snp_builder import (
    DEFAULT_TCB,
    build_snp_report,
    example_chip_id,
    sign_snp_report,
)
from tests.conftest import fixture_bytes


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def verify(report: SnpReport, key: ec.EllipticCurvePrivateKey) -> None:
    key.public_key().verify(report.signature_der, report.signed_data, ec.ECDSA(hashes.SHA384()))


@pytest.mark.parametrize("version", [2, 3, 4, 5])
@pytest.mark.parametrize("product", list(Product))
def test_built_report_round_trips_and_verifies(
    key: ec.EllipticCurvePrivateKey, version: int, product: Product
) -> None:
    report = build_snp_report(key, version=version, product=product)
    data = report.to_bytes()
    assert len(data) == 1184
    parsed = SnpReport.from_bytes(data)  # strict: every reserved byte zero
    assert parsed == report
    assert parsed.to_bytes() == data
    verify(parsed, key)
    assert parsed.version == version
    assert parsed.policy.raw == 0x30000
    assert parsed.key_info.signing_key is SigningKey.VCEK
    assert parsed.signature_algo == 1
    assert parsed.report_id_ma == b"\xff" * 32
    assert parsed.reported_tcb.parts(product) == DEFAULT_TCB[product]
    assert parsed.chip_id == example_chip_id(product)
    if version == 2:
        assert parsed.product is None
        assert parsed.cpuid_fam_id is None
    else:
        assert parsed.product is product
        assert (parsed.cpuid_fam_id, parsed.cpuid_mod_id, parsed.cpuid_step) == product.example_cpuid
    if version == 5:
        assert parsed.launch_mit_vector == 0
        assert parsed.current_mit_vector == 0
    else:
        assert parsed.launch_mit_vector is None


def test_turin_chip_id_uses_eight_bytes() -> None:
    chip = example_chip_id(Product.TURIN)
    assert chip[8:] == bytes(56)
    assert chip[:8] != bytes(8)
    assert example_chip_id(Product.MILAN)[8:] != bytes(56)


def test_fields_are_set_as_given(key: ec.EllipticCurvePrivateKey) -> None:
    report = build_snp_report(
        key,
        product=Product.GENOA,
        guest_svn=7,
        policy=GuestPolicy.build(debug=True),
        vmpl=1,
        report_data=b"\x01" * 64,
        measurement=b"\x02" * 48,
        host_data=b"\x03" * 32,
        reported_tcb=TcbParts(9, 0, 20, 70),
        current_tcb=TcbVersion(0x541900000000000A),
        platform_info=PlatformInfo.SMT_EN | PlatformInfo.TSME_EN,
        firmware=(1, 55, 43),
        launch_mit_vector=1,
        current_mit_vector=3,
    )
    parsed = SnpReport.from_bytes(report.to_bytes())
    verify(parsed, key)
    assert parsed.guest_svn == 7
    assert parsed.policy.debug is True
    assert parsed.vmpl == 1
    assert parsed.report_data == b"\x01" * 64
    assert parsed.measurement == b"\x02" * 48
    assert parsed.host_data == b"\x03" * 32
    assert parsed.tcb_parts("reported_tcb") == TcbParts(9, 0, 20, 70)
    assert parsed.tcb_parts("current_tcb") == TcbParts(10, 0, 25, 84)
    assert parsed.tcb_parts("committed_tcb") == DEFAULT_TCB[Product.GENOA]
    assert int(parsed.platform_info) == 0x3
    assert parsed.current_version == (1, 55, 43)
    assert (parsed.launch_mit_vector, parsed.current_mit_vector) == (1, 3)


def test_vlek_and_masked_reports_have_zero_chip_id(key: ec.EllipticCurvePrivateKey) -> None:
    vlek = build_snp_report(key, signing_key=SigningKey.VLEK)
    assert vlek.key_info.signing_key is SigningKey.VLEK
    assert vlek.key_info.raw == 0x4
    assert vlek.chip_id == bytes(64)
    masked = build_snp_report(key, mask_chip_key=True)
    assert masked.key_info.mask_chip_key is True
    assert masked.chip_id == bytes(64)


def test_unsigned_report(key: ec.EllipticCurvePrivateKey) -> None:
    report = build_snp_report(None, signing_key=SigningKey.NONE)
    assert (report.signature_r, report.signature_s) == (0, 0)
    assert SnpReport.from_bytes(report.to_bytes()).key_info.signing_key is SigningKey.NONE
    verify(sign_snp_report(report, key), key)


def test_resign_a_mutated_real_report(key: ec.EllipticCurvePrivateKey) -> None:
    real = SnpReport.from_bytes(fixture_bytes("snp/project-oak/turin_oc_report.bin"))
    changed = sign_snp_report(dataclasses.replace(real, vmpl=2), key)
    verify(changed, key)
    assert changed.signed_data[:0x30] == real.signed_data[:0x30]
    assert changed.vmpl == 2
    from_bytes = sign_snp_report(real.to_bytes(), key)
    verify(from_bytes, key)
    assert from_bytes.signed_data == real.signed_data


def test_bad_arguments_are_input_errors(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InputError, match="P-384"):
        sign_snp_report(build_snp_report(None), ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(InputError, match="mitigation"):
        build_snp_report(key, version=3, launch_mit_vector=1)
    with pytest.raises(InputError, match="version 6"):
        build_snp_report(key, version=6)
    with pytest.raises(InputError, match="fmc_spl"):
        build_snp_report(key, product=Product.TURIN, tcb=TcbParts(1, 0, 2, 71))
    with pytest.raises(InputError, match="measurement"):
        build_snp_report(key, measurement=bytes(32))
