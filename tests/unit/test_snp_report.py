"""SEV-SNP attestation report parsing against every real report in tests/fixtures/snp.

Expected values are the published ones (fixtures/snp/SOURCES.md); where SOURCES abbreviates a
value (chip ids), the test asserts the full value read from the report and the published
prefix/suffix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ccverify.verifier.errors import InputError, ParseError
from ccverify.verifier.evidence.snp_report import (
    GuestPolicy,
    KeyInfo,
    PlatformInfo,
    Product,
    SigningKey,
    SnpReport,
    TcbParts,
    TcbVersion,
)
from ccverify.verifier.jsonable import to_jsonable
from tests.conftest import fixture_bytes

# report fixture -> its VCEK/VLEK (DER, or PEM whose first certificate is the VEK)
REPORTS: dict[str, str] = {
    "snp/go-sev-guest/attestation.bin": "snp/go-sev-guest/vcek.testcer",
    "snp/virtee-sev/report_milan.hex": "snp/virtee-sev/vcek_milan.der",
    "snp/trustee/test-report.bin": "snp/trustee/test-vcek.der",
    "snp/trustee/test-vlek-report.bin": "snp/trustee/test-vlek.der",
    "snp/trustee/azure-genoa-snp-report.bin": "snp/trustee/vcek-genoa.pem",
    "snp/trustee/azure-milan-snp-report-from-hcl.bin": "snp/trustee/vcek.pem",
    "snp/teekit/sev-gcp.bin": "snp/teekit/sev-gcp-vcek.pem",
    "snp/teekit/sev-gcp-reportdata.bin": "snp/teekit/sev-gcp-vcek.pem",
    "snp/teekit/sev-gcp-x25519-bound.bin": "snp/teekit/sev-gcp-x25519-vcek.pem",
    "snp/project-oak/turin_oc_report.bin": "snp/project-oak/turin_oc_vcek.der",
    "snp/project-oak/genoa_oc_report.bin": "snp/project-oak/genoa_oc_vcek.der",
    "snp/project-oak/milan_oc_release_report.bin": "snp/project-oak/milan_oc_release_vcek.der",
    "snp/project-oak/milan_rk_release_report.bin": "snp/project-oak/milan_rk_release_vcek.der",
}
V2 = "snp/go-sev-guest/attestation.bin"
V3 = "snp/project-oak/milan_oc_release_report.bin"
V5 = "snp/teekit/sev-gcp.bin"


def parse(name: str) -> SnpReport:
    return SnpReport.from_bytes(fixture_bytes(name))


def vek_public_key(name: str) -> ec.EllipticCurvePublicKey:
    data = fixture_bytes(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # real VCEKs have serial number 0
        if data.startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificates(data)[0]
        else:
            cert = x509.load_der_x509_certificate(data)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def milan(bl: int, tee: int, snp: int, ucode: int) -> TcbParts:
    return TcbParts(bl_spl=bl, tee_spl=tee, snp_spl=snp, ucode_spl=ucode)


def assert_chip_id(report: SnpReport, full: str, prefix: str, suffix: str) -> None:
    assert report.chip_id.hex() == full
    assert report.chip_id.hex().startswith(prefix)
    assert report.chip_id.hex().endswith(suffix)


# -------------------------------------------------------------------------- every real report


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_round_trip_is_byte_exact(name: str) -> None:
    data = fixture_bytes(name)
    assert len(data) == 1184
    assert SnpReport.from_bytes(data).to_bytes() == data
    assert SnpReport.from_bytes(data, strict=False).to_bytes() == data


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_signed_data_and_signature_fields_are_the_spec_ranges(name: str) -> None:
    data = fixture_bytes(name)
    report = SnpReport.from_bytes(data)
    assert report.signed_data == data[:0x2A0]
    assert report.signature_r == int.from_bytes(data[0x2A0:0x2E8], "little")
    assert report.signature_s == int.from_bytes(data[0x2E8:0x330], "little")
    assert report.signature == data[0x2A0:]
    assert report.signature_reserved == bytes(0x170)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_signature_verifies_with_its_vek(name: str) -> None:
    report = parse(name)
    key = vek_public_key(REPORTS[name])
    signature = encode_dss_signature(report.signature_r, report.signature_s)
    assert signature == report.signature_der
    key.verify(signature, report.signed_data, ec.ECDSA(hashes.SHA384()))


def test_flipped_signed_byte_fails_signature() -> None:
    # virtee's milan_report_invalid: flip bit 0x80 of byte 21 and the signature must fail
    data = bytearray(fixture_bytes("snp/virtee-sev/report_milan.hex"))
    data[21] ^= 0x80
    report = SnpReport.from_bytes(bytes(data))
    key = vek_public_key("snp/virtee-sev/vcek_milan.der")
    with pytest.raises(InvalidSignature):
        key.verify(report.signature_der, report.signed_data, ec.ECDSA(hashes.SHA384()))


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_json_form_is_plain_json(name: str) -> None:
    report = parse(name)
    rendered = to_jsonable(report)
    json.dumps(rendered)
    assert rendered["measurement"] == report.measurement.hex()
    assert rendered["reported_tcb"]["raw"] == report.reported_tcb.raw
    assert not any(key.startswith("reserved") for key in rendered)
    assert rendered["signature_r"] == f"{report.signature_r:096x}"


# -------------------------------------------------------------------------- published values


def test_go_sev_guest_attestation() -> None:
    report = parse("snp/go-sev-guest/attestation.bin")
    assert report.version == 2
    assert report.layout_version == 2
    assert report.product is None
    assert report.cpuid_fam_id is None
    assert report.cpuid_mod_id is None
    assert report.cpuid_step is None
    assert report.launch_mit_vector is None
    assert report.current_mit_vector is None
    assert report.measurement.hex() == (
        "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
    )
    assert report.report_data == bytes.fromhex("0102030405") + bytes(59)
    assert report.policy.raw == 0xB0000
    assert report.policy.smt is True
    assert report.policy.reserved_bit17 is True
    assert report.policy.debug is True
    assert report.policy.migrate_ma is False
    assert report.reported_tcb.raw == 0x4405000000000002
    assert report.current_tcb.raw == 0x4405000000000002
    assert report.reported_tcb.parts(Product.MILAN) == milan(2, 0, 5, 68)
    assert report.tcb_parts("reported_tcb", Product.MILAN) == milan(2, 0, 5, 68)
    assert_chip_id(
        report,
        "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e5378618"
        "4ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d",
        "3ac3fe21",
        "006b5d",
    )
    assert report.current_version == (1, 49, 3)
    assert (report.current_major, report.current_minor, report.current_build) == (1, 49, 3)
    assert report.committed_version == (1, 49, 3)
    assert report.key_info.signing_key is SigningKey.VCEK
    assert report.vmpl == 0
    assert report.signature_algo == 1
    assert report.platform_info == PlatformInfo.SMT_EN


def test_virtee_report_milan() -> None:
    report = parse("snp/virtee-sev/report_milan.hex")
    assert report.version == 2
    assert report.measurement.hex() == (
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
    )
    assert report.policy.raw == 0x30000
    assert report.reported_tcb.parts(Product.MILAN) == milan(3, 0, 8, 115)
    assert report.current_tcb.parts(Product.MILAN) == milan(3, 0, 8, 115)
    assert_chip_id(
        report,
        "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc"
        "15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6",
        "d49554ec",
        "541eb6",
    )
    assert report.current_version == (1, 52, 4)


def test_trustee_test_report() -> None:
    report = parse("snp/trustee/test-report.bin")
    assert report.version == 2
    assert report.guest_svn == 4
    assert report.policy.raw == 0x3001F
    assert report.policy.abi_major == 0
    assert report.policy.abi_minor == 0x1F
    assert report.current_tcb.parts(Product.MILAN) == milan(3, 0, 8, 206)
    assert report.reported_tcb.parts(Product.MILAN) == milan(3, 0, 8, 115)
    assert report.current_tcb != report.reported_tcb
    assert report.measurement.hex() == (
        "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c"
    )


def test_trustee_vlek_report() -> None:
    report = parse("snp/trustee/test-vlek-report.bin")
    assert report.version == 3
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x19, 0x01, 0x01)
    assert report.product is Product.MILAN
    assert report.key_info.raw == 0x4
    assert report.key_info.signing_key is SigningKey.VLEK
    assert report.key_info.author_key_en is False
    assert report.key_info.mask_chip_key is False
    assert report.vmpl == 1
    assert report.chip_id == bytes(64)
    assert int(report.platform_info) == 0x27
    assert report.platform_info == (
        PlatformInfo.SMT_EN | PlatformInfo.TSME_EN | PlatformInfo.ECC_EN | PlatformInfo.ALIAS_CHECK_COMPLETE
    )
    assert report.tcb_parts("reported_tcb") == milan(4, 0, 24, 217)
    assert report.tcb_parts("committed_tcb") == milan(4, 0, 24, 219)
    assert report.tcb_parts("current_tcb") == milan(4, 0, 24, 220)
    assert report.tcb_parts("reported_tcb") <= report.tcb_parts("committed_tcb")
    assert report.tcb_parts("committed_tcb") <= report.tcb_parts("current_tcb")
    assert report.measurement.hex() == (
        "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0"
    )
    assert report.launch_mit_vector is None


def test_azure_genoa_report() -> None:
    report = parse("snp/trustee/azure-genoa-snp-report.bin")
    assert report.version == 3
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x19, 0x11, 0x01)
    assert report.product is Product.GENOA
    assert report.tcb_parts("reported_tcb") == TcbParts(10, 0, 23, 84)
    assert report.tcb_parts("current_tcb") == TcbParts(10, 0, 23, 84)
    assert report.guest_svn == 65547
    assert report.policy.raw == 0x3001F
    assert int(report.platform_info) == 0x24
    assert report.current_version == (1, 55, 40)
    assert report.measurement.hex() == (
        "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae"
    )
    assert_chip_id(
        report,
        "0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782"
        "fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1",
        "0506ffba",
        "aaea4ad1",
    )


def test_azure_milan_report_from_hcl() -> None:
    report = parse("snp/trustee/azure-milan-snp-report-from-hcl.bin")
    assert report.version == 2
    assert report.current_tcb.parts(Product.MILAN) == milan(3, 0, 8, 210)
    assert report.reported_tcb.parts(Product.MILAN) == milan(3, 0, 8, 115)
    assert report.measurement.hex() == (
        "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315"
    )
    # the report is bytes 0x20..0x4C0 of the HCL report it was cut from
    assert report.to_bytes() == fixture_bytes("snp/trustee/hcl-report.bin")[0x20:0x4C0]


GCP_MEASUREMENT = (
    "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d19251b8ee600fd16a3708f58406f3"
)


def test_gcp_v5_report() -> None:
    report = parse("snp/teekit/sev-gcp.bin")
    assert report.version == 5
    assert report.layout_version == 5
    assert report.product is Product.MILAN
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x19, 0x01, 0x01)
    assert report.vmpl == 0
    assert report.launch_mit_vector == 0xB
    assert report.current_mit_vector == 0xB
    assert int(report.platform_info) == 0x25
    assert report.tcb_parts("reported_tcb") == milan(4, 0, 27, 222)
    assert report.tcb_parts("current_tcb") == milan(4, 0, 27, 222)
    assert report.current_version == (1, 55, 35)
    assert report.measurement.hex() == GCP_MEASUREMENT
    assert report.report_data == bytes(64)


def test_gcp_v5_reportdata_report() -> None:
    report = parse("snp/teekit/sev-gcp-reportdata.bin")
    assert report.version == 5
    assert report.vmpl == 1
    assert report.measurement.hex() == GCP_MEASUREMENT
    assert report.report_data.hex() == (
        "32fc4f6c1971cbf91566231f8d6153eeb9d093aa94306cb48d39bcc4861a3d39"
        "5f149876a37bc91332fe493f46294fd135d5b95d363ae96352b8c45f906079f5"
    )
    assert report.report_data.hex().startswith("32fc4f6c")
    assert report.report_data.hex().endswith("079f5")


def test_gcp_v5_x25519_bound_report() -> None:
    report = parse("snp/teekit/sev-gcp-x25519-bound.bin")
    assert report.version == 5
    assert report.vmpl == 1
    lines = dict(
        line.split("=", 1)
        for line in fixture_bytes("snp/teekit/sev-gcp-x25519-bound.txt").decode().splitlines()
        if "=" in line
    )
    nonce = bytes.fromhex(lines["NONCE"])
    key = bytes.fromhex(lines["X25519_KEY"])
    assert report.report_data == hashlib.sha512(nonce + key).digest()


def test_turin_v5_report() -> None:
    report = parse("snp/project-oak/turin_oc_report.bin")
    assert report.version == 5
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x1A, 0x02, 0x01)
    assert report.product is Product.TURIN
    assert report.reported_tcb.raw == 0x4700000002000100
    assert report.reported_tcb.to_bytes() == bytes.fromhex("0001000200000047")
    parts = report.tcb_parts("reported_tcb")
    assert parts == TcbParts(bl_spl=1, tee_spl=0, snp_spl=2, ucode_spl=71, fmc_spl=0)
    assert parts.fmc_spl == 0
    assert report.tcb_parts("current_tcb") == parts
    assert report.chip_id == bytes.fromhex("3b42092f69c656d3") + bytes(56)
    assert int(report.platform_info) == 0x67
    assert PlatformInfo.IOMMU_WRITE_SAFE in report.platform_info
    assert report.current_version == (1, 55, 61)
    assert report.measurement.hex() == (
        "f924dd18f168df60fbea937f0b086284d51b1b376de872bac43694f61134d57967c318018de7335503023dbb50dee624"
    )
    rendered = to_jsonable(report)
    assert rendered["reported_tcb"] == {
        "raw": 0x4700000002000100,
        "bl_spl": 1,
        "tee_spl": 0,
        "snp_spl": 2,
        "ucode_spl": 71,
        "fmc_spl": 0,
    }
    assert rendered["product"] == "Turin"
    assert rendered["platform_info"] == [
        "SMT_EN",
        "TSME_EN",
        "ECC_EN",
        "ALIAS_CHECK_COMPLETE",
        "IOMMU_WRITE_SAFE",
    ]


def test_genoa_v5_report() -> None:
    report = parse("snp/project-oak/genoa_oc_report.bin")
    assert report.version == 5
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x19, 0x11, 0x01)
    assert report.product is Product.GENOA
    assert report.tcb_parts("reported_tcb") == TcbParts(10, 0, 25, 84)
    assert report.launch_mit_vector == 0x1
    assert report.current_mit_vector == 0x1
    assert report.current_version == (1, 55, 43)
    assert report.measurement.hex() == (
        "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc"
    )


OAK_MILAN_MEASUREMENT = (
    "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3"
)


def test_oak_milan_v3_reports() -> None:
    oc = parse("snp/project-oak/milan_oc_release_report.bin")
    rk = parse("snp/project-oak/milan_rk_release_report.bin")
    for report in (oc, rk):
        assert report.version == 3
        assert report.product is Product.MILAN
        assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x19, 0x01, 0x01)
        assert report.tcb_parts("reported_tcb") == milan(4, 0, 24, 219)
        assert report.current_version == (1, 55, 29)
        assert report.measurement.hex() == OAK_MILAN_MEASUREMENT
        assert report.launch_mit_vector is None
    assert oc.chip_id != rk.chip_id


def test_v2_json_shows_raw_tcb_only() -> None:
    rendered = to_jsonable(parse(V2))
    assert rendered["reported_tcb"] == {"raw": 0x4405000000000002}
    assert rendered["product"] is None
    assert rendered["cpuid_fam_id"] is None
    assert rendered["policy"]["raw"] == 0xB0000
    assert rendered["key_info"]["signing_key"] == "VCEK"
    assert rendered["platform_info"] == ["SMT_EN"]


# -------------------------------------------------------------------------- Product and TCB


@pytest.mark.parametrize(
    ("family", "model", "product"),
    [
        (0x19, 0x00, Product.MILAN),
        (0x19, 0x01, Product.MILAN),
        (0x19, 0x0F, Product.MILAN),
        (0x19, 0x10, Product.GENOA),
        (0x19, 0x11, Product.GENOA),
        (0x19, 0x1F, Product.GENOA),
        (0x19, 0xA0, Product.GENOA),
        (0x19, 0xAF, Product.GENOA),
        (0x1A, 0x00, Product.TURIN),
        (0x1A, 0x02, Product.TURIN),
        (0x1A, 0x11, Product.TURIN),
        (0x19, 0x20, None),
        (0x19, 0xB0, None),
        (0x1A, 0x12, None),
        (0x17, 0x01, None),
        (0x00, 0x00, None),
    ],
)
def test_product_from_cpuid(family: int, model: int, product: Product | None) -> None:
    assert Product.from_cpuid(family, model) is product


@pytest.mark.parametrize(
    ("name", "product"),
    [
        ("milan", Product.MILAN),
        ("Milan", Product.MILAN),
        ("Milan-B0", Product.MILAN),
        ("Milan-B1", Product.MILAN),
        ("Genoa", Product.GENOA),
        ("genoa-B1", Product.GENOA),
        ("Siena", Product.GENOA),
        ("Turin", Product.TURIN),
        ("TURIN", Product.TURIN),
    ],
)
def test_product_from_name(name: str, product: Product) -> None:
    assert Product.from_name(name) is product


def test_product_unknown_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Venice"):
        Product.from_name("Venice")


def test_product_kds_names() -> None:
    assert [p.kds_name for p in Product] == ["Milan", "Genoa", "Turin"]
    assert [p.uses_fmc for p in Product] == [False, False, True]


def test_tcb_examples_from_the_notes() -> None:
    milan_tcb = TcbVersion.from_bytes(bytes.fromhex("0200000000000544"))
    assert milan_tcb.parts(Product.MILAN) == milan(2, 0, 5, 68)
    assert milan_tcb.parts(Product.GENOA) == milan(2, 0, 5, 68)
    turin_tcb = TcbVersion.from_bytes(bytes.fromhex("0001000200000047"))
    assert turin_tcb.parts(Product.TURIN) == TcbParts(1, 0, 2, 71, fmc_spl=0)
    tinfoil = TcbVersion(0x5200000004010101)
    assert tinfoil.parts(Product.TURIN) == TcbParts(1, 1, 4, 82, fmc_spl=1)


@pytest.mark.parametrize("product", list(Product))
def test_tcb_from_parts_round_trip(product: Product) -> None:
    fmc = 3 if product is Product.TURIN else None
    parts = TcbParts(bl_spl=9, tee_spl=1, snp_spl=25, ucode_spl=219, fmc_spl=fmc)
    tcb = TcbVersion.from_parts(parts, product)
    assert tcb.parts(product) == parts
    assert TcbVersion.from_bytes(tcb.to_bytes()) == tcb


def test_tcb_from_parts_rejects_wrong_layout_and_range() -> None:
    with pytest.raises(InputError, match="fmc_spl"):
        TcbVersion.from_parts(milan(1, 0, 2, 71), Product.TURIN)
    with pytest.raises(InputError, match="fmc_spl"):
        TcbVersion.from_parts(TcbParts(1, 0, 2, 71, fmc_spl=0), Product.MILAN)
    with pytest.raises(InputError, match="0-255"):
        TcbVersion.from_parts(milan(256, 0, 0, 0), Product.MILAN)
    with pytest.raises(InputError):
        TcbVersion(-1)
    with pytest.raises(InputError):
        TcbVersion(1 << 64)


def test_tcb_version_from_bytes_needs_eight_bytes() -> None:
    with pytest.raises(ParseError):
        TcbVersion.from_bytes(bytes(7))
    with pytest.raises(ParseError):
        TcbVersion.from_bytes(bytes(9))


def test_tcb_parts_compare_component_wise() -> None:
    a = milan(2, 0, 5, 68)
    assert a >= a
    assert a <= a
    assert milan(3, 0, 8, 115) >= a
    assert milan(3, 0, 8, 115).meets(a)
    # the u64 of b is larger (ucode is the top byte), but snp is lower: not >=
    b = milan(2, 0, 4, 200)
    assert TcbVersion.from_parts(b, Product.MILAN).raw > TcbVersion.from_parts(a, Product.MILAN).raw
    assert not b >= a
    assert not a >= b
    assert b.below(a) == ["snp_spl"]
    assert a.below(b) == ["ucode_spl"]
    turin = TcbParts(1, 0, 2, 71, fmc_spl=0)
    assert TcbParts(1, 0, 2, 71, fmc_spl=1) >= turin
    assert not turin >= TcbParts(1, 0, 2, 71, fmc_spl=1)
    assert turin.below(TcbParts(1, 0, 2, 71, fmc_spl=1)) == ["fmc_spl"]


def test_tcb_byte_names_per_layout() -> None:
    milan_names = ("bl_spl", "tee_spl", "spl_4", "spl_5", "spl_6", "spl_7", "snp_spl", "ucode_spl")
    assert Product.MILAN.tcb_byte_names == milan_names
    assert Product.GENOA.tcb_byte_names == milan_names
    assert Product.TURIN.tcb_byte_names == (
        "fmc_spl", "bl_spl", "tee_spl", "snp_spl", "spl_5", "spl_6", "spl_7", "ucode_spl"
    )  # fmt: skip


def test_tcb_components_name_all_eight_bytes() -> None:
    tcb = TcbVersion(0x4405000000000002)  # go-sev-guest's sample
    assert tcb.components(Product.MILAN) == (
        ("bl_spl", 2), ("tee_spl", 0), ("spl_4", 0), ("spl_5", 0), ("spl_6", 0), ("spl_7", 0),
        ("snp_spl", 5), ("ucode_spl", 0x44),
    )  # fmt: skip
    turin = TcbVersion(0x4700000002000100)  # project-oak's Turin sample
    assert turin.components(Product.TURIN) == (
        ("fmc_spl", 0), ("bl_spl", 1), ("tee_spl", 0), ("snp_spl", 2), ("spl_5", 0), ("spl_6", 0),
        ("spl_7", 0), ("ucode_spl", 71),
    )  # fmt: skip


def test_tcb_differs_and_above_compare_every_byte() -> None:
    base = TcbVersion(0xDB18000000000004)
    reserved = TcbVersion(0xDB18000000050004)  # byte 2 (spl_4) set
    assert base.differs(base, Product.MILAN) == []
    assert reserved.differs(base, Product.MILAN) == ["spl_4"]
    assert reserved.differs(base, Product.TURIN) == ["tee_spl"]
    assert reserved.above(base, Product.MILAN) == ["spl_4"]
    assert base.above(reserved, Product.MILAN) == []
    # component-wise, not the u64: ucode higher but snp lower
    mixed = TcbVersion(0xDC17000000000004)
    assert mixed.raw > base.raw
    assert mixed.above(base, Product.GENOA) == ["ucode_spl"]
    assert base.above(mixed, Product.GENOA) == ["snp_spl"]
    turin = TcbVersion(0x4700000002000100)
    assert TcbVersion(0x4700000002000101).above(turin, Product.TURIN) == ["fmc_spl"]
    assert TcbVersion(0x4700010002000100).above(turin, Product.TURIN) == ["spl_6"]


def test_host_requested_vmpl_is_parsed_not_rejected() -> None:
    data = bytearray(parse(V2).to_bytes())
    data[0x030:0x034] = b"\xff\xff\xff\xff"
    report = SnpReport.from_bytes(bytes(data))
    assert report.vmpl == 0xFFFFFFFF
    assert report.to_bytes() == bytes(data)


def test_tcb_parts_of_different_layouts_do_not_compare() -> None:
    with pytest.raises(InputError, match="different layouts"):
        _ = milan(1, 0, 2, 71) >= TcbParts(1, 0, 2, 71, fmc_spl=0)
    with pytest.raises(InputError, match="different layouts"):
        TcbParts(1, 0, 2, 71, fmc_spl=0).meets(milan(1, 0, 2, 71))


def test_tcb_parts_without_product_need_a_hint() -> None:
    report = parse(V2)
    with pytest.raises(InputError, match="not known from CPUID"):
        report.tcb_parts("reported_tcb")
    with pytest.raises(InputError, match="not a TCB field"):
        report.tcb_parts("measurement", Product.MILAN)


# -------------------------------------------------------------------------- decoded fields


def test_guest_policy_bits() -> None:
    policy = GuestPolicy((1 << 26) - 1)
    assert policy.abi_minor == 0xFF
    assert policy.abi_major == 0xFF
    for name in (
        "smt",
        "reserved_bit17",
        "migrate_ma",
        "debug",
        "single_socket",
        "cxl_allow",
        "mem_aes_256_xts",
        "rapl_dis",
        "ciphertext_hiding_dram",
        "page_swap_disable",
    ):
        assert getattr(policy, name) is True, name
        assert getattr(GuestPolicy(0), name) is False, name
    assert policy.mbz_bits == 0
    assert GuestPolicy(1 << 63).mbz_bits == 1 << 37


def test_guest_policy_build() -> None:
    assert GuestPolicy.build().raw == 0x30000
    assert GuestPolicy.build(debug=True, migrate_ma=True).raw == 0xF0000
    assert GuestPolicy.build(abi_major=1, abi_minor=0x1F).raw == 0x3011F
    assert GuestPolicy.build(smt=False, page_swap_disable=True).raw == 0x2020000
    with pytest.raises(InputError):
        GuestPolicy.build(abi_major=256)


def test_key_info_decoding() -> None:
    assert KeyInfo(0).signing_key is SigningKey.VCEK
    assert KeyInfo(0x4).signing_key is SigningKey.VLEK
    assert KeyInfo(0x1C).signing_key is SigningKey.NONE
    info = KeyInfo(0x3)
    assert info.author_key_en is True
    assert info.mask_chip_key is True
    assert KeyInfo.build(SigningKey.VLEK, mask_chip_key=True).raw == 0x6
    with pytest.raises(InputError, match="reserved"):
        KeyInfo(0x8)


# -------------------------------------------------------------------------- bad input


def with_bytes(name: str, offset: int, new: bytes) -> bytes:
    data = bytearray(fixture_bytes(name))
    data[offset : offset + len(new)] = new
    return bytes(data)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_prefix_is_a_parse_error(name: str) -> None:
    data = fixture_bytes(name)
    for size in range(len(data)):
        with pytest.raises(ParseError):
            SnpReport.from_bytes(data[:size])


def test_truncation_names_the_field_cut() -> None:
    data = fixture_bytes(V5)
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(data[:100])
    assert info.value.structure == "SnpReport"
    assert info.value.field == "report_data"
    assert info.value.offset == 0x50
    assert "truncated" in str(info.value)
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(b"")
    assert (info.value.field, info.value.offset) == ("version", 0)
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(data[:-1])
    assert (info.value.field, info.value.offset) == ("signature_reserved", 0x330)


@pytest.mark.parametrize(
    ("size", "field", "offset"),
    [
        (0x188, "cpuid_fam_id", 0x188),
        (0x19F, "reserved_18b", 0x18B),
        (0x1EB, "reserved_1eb", 0x1EB),
        (0x1F8, "launch_mit_vector", 0x1F8),
        (0x207, "current_mit_vector", 0x200),
        (0x2A0, "signature_r", 0x2A0),
        (0x2E8, "signature_s", 0x2E8),
    ],
)
def test_truncation_inside_the_later_blocks_names_the_field(size: int, field: str, offset: int) -> None:
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(fixture_bytes(V5)[:size])
    assert (info.value.field, info.value.offset) == (field, offset)


def test_trailing_bytes_are_a_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(fixture_bytes(V5) + b"\x00")
    assert (info.value.field, info.value.offset) == ("size", 0x4A0)


@pytest.mark.parametrize("version", [0, 1, 6, 7, 0x100, 0xFFFFFFFF])
def test_unsupported_version(version: int) -> None:
    data = with_bytes(V3, 0, version.to_bytes(4, "little"))
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(data)
    assert (info.value.field, info.value.offset) == ("version", 0)
    assert f"unsupported report version {version}" in str(info.value)


def test_version_4_is_parsed_with_the_v3_layout() -> None:
    data = with_bytes(V3, 0, (4).to_bytes(4, "little"))
    report = SnpReport.from_bytes(data)
    assert report.version == 4
    assert report.layout_version == 3
    assert report.product is Product.MILAN
    assert report.cpuid_fam_id == 0x19
    assert report.launch_mit_vector is None
    assert report.to_bytes() == data


@pytest.mark.parametrize("code", [2, 3, 4, 5, 6])
def test_reserved_signing_key_values(code: int) -> None:
    data = with_bytes(V3, 0x48, (code << 2).to_bytes(4, "little"))
    for strict in (True, False):
        with pytest.raises(ParseError) as info:
            SnpReport.from_bytes(data, strict=strict)
        assert (info.value.field, info.value.offset) == ("key_info.signing_key", 0x48)


def test_unsigned_report_signing_key_none_parses() -> None:
    report = SnpReport.from_bytes(with_bytes(V3, 0x48, (7 << 2).to_bytes(4, "little")))
    assert report.key_info.signing_key is SigningKey.NONE


@pytest.mark.parametrize(("bit", "offset"), [(5, 0x48), (8, 0x49), (31, 0x4B)])
def test_key_info_mbz_bits(bit: int, offset: int) -> None:
    data = with_bytes(V3, 0x48, (1 << bit).to_bytes(4, "little"))
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(data)
    assert (info.value.field, info.value.offset) == ("key_info", offset)
    lax = SnpReport.from_bytes(data, strict=False)
    assert lax.key_info.mbz_bits == 1 << (bit - 5)
    assert lax.to_bytes() == data


@pytest.mark.parametrize(("bit", "offset"), [(26, 0x0B), (32, 0x0C), (63, 0x0F)])
def test_policy_mbz_bits(bit: int, offset: int) -> None:
    data = with_bytes(V3, 0x08, (0x30000 | 1 << bit).to_bytes(8, "little"))
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(data)
    assert (info.value.field, info.value.offset) == ("policy", offset)
    lax = SnpReport.from_bytes(data, strict=False)
    assert lax.policy.raw == 0x30000 | 1 << bit
    assert lax.to_bytes() == data


def test_policy_bit17_clear_is_decoded_not_rejected() -> None:
    data = with_bytes(V3, 0x08, (0x10000).to_bytes(8, "little"))
    report = SnpReport.from_bytes(data)
    assert report.policy.reserved_bit17 is False
    assert report.to_bytes() == data


def test_unknown_platform_info_bits_are_kept() -> None:
    data = with_bytes(V5, 0x40, (0x25 | 1 << 40).to_bytes(8, "little"))
    report = SnpReport.from_bytes(data)
    assert int(report.platform_info) == 0x25 | 1 << 40
    assert "bit40" in to_jsonable(report)["platform_info"]
    assert report.to_bytes() == data


# (fixture, absolute offset of a reserved byte, field named in the error)
RESERVED_BYTES = [
    (V2, 0x04C, "reserved_04c"),
    (V2, 0x04F, "reserved_04c"),
    (V2, 0x188, "reserved_188"),  # CPUID_FAM_ID in v3+, reserved in v2
    (V2, 0x18A, "reserved_188"),
    (V2, 0x19F, "reserved_188"),
    (V2, 0x1EB, "reserved_1eb"),
    (V2, 0x1EF, "reserved_1ef"),
    (V2, 0x1F8, "reserved_1f8"),  # LAUNCH_MIT_VECTOR in v5, reserved below
    (V2, 0x207, "reserved_1f8"),
    (V2, 0x29F, "reserved_1f8"),
    (V2, 0x330, "signature_reserved"),
    (V2, 0x49F, "signature_reserved"),
    (V3, 0x04D, "reserved_04c"),
    (V3, 0x18B, "reserved_18b"),
    (V3, 0x19F, "reserved_18b"),
    (V3, 0x1EB, "reserved_1eb"),
    (V3, 0x1EF, "reserved_1ef"),
    (V3, 0x1F8, "reserved_1f8"),
    (V3, 0x200, "reserved_1f8"),
    (V3, 0x208, "reserved_1f8"),
    (V3, 0x400, "signature_reserved"),
    (V5, 0x04E, "reserved_04c"),
    (V5, 0x18B, "reserved_18b"),
    (V5, 0x1EB, "reserved_1eb"),
    (V5, 0x1EF, "reserved_1ef"),
    (V5, 0x208, "reserved_208"),
    (V5, 0x29F, "reserved_208"),
    (V5, 0x331, "signature_reserved"),
]


@pytest.mark.parametrize(("name", "offset", "field"), RESERVED_BYTES)
def test_non_zero_reserved_byte(name: str, offset: int, field: str) -> None:
    data = with_bytes(name, offset, b"\x5a")
    with pytest.raises(ParseError) as info:
        SnpReport.from_bytes(data)
    assert info.value.structure == "SnpReport"
    assert info.value.field == field
    assert info.value.offset == offset
    assert "reserved bytes must be zero" in str(info.value)
    lax = SnpReport.from_bytes(data, strict=False)
    assert lax.to_bytes() == data
    assert lax.measurement == parse(name).measurement


def test_signature_tail_is_only_checked_for_algo_1() -> None:
    data = with_bytes(V3, 0x34, (0).to_bytes(4, "little"))
    data = data[:0x400] + b"\x01" + data[0x401:]
    report = SnpReport.from_bytes(data)
    assert report.signature_algo == 0
    assert report.to_bytes() == data


def test_mit_vector_bytes_are_fields_in_v5() -> None:
    data = with_bytes(V5, 0x1F8, (0x3).to_bytes(8, "little") + (0x7).to_bytes(8, "little"))
    report = SnpReport.from_bytes(data)
    assert report.launch_mit_vector == 0x3
    assert report.current_mit_vector == 0x7


# -------------------------------------------------------------------------- changing fields


def test_replace_changes_signed_data() -> None:
    report = parse(V5)
    changed = dataclasses.replace(report, vmpl=2, report_data=b"\x11" * 64)
    data = changed.to_bytes()
    assert data[0x30:0x34] == (2).to_bytes(4, "little")
    assert data[0x50:0x90] == b"\x11" * 64
    assert changed.signed_data == data[:0x2A0]
    assert SnpReport.from_bytes(data) == changed
    assert report.signed_data != changed.signed_data


@pytest.mark.parametrize(
    "change",
    [
        {"measurement": bytes(47)},
        {"chip_id": bytes(65)},
        {"cpuid_fam_id": None},
        {"launch_mit_vector": None},
        {"current_build": 256},
        {"reserved_tail": bytes(168)},
        {"signature_r": 1 << (72 * 8)},
        {"vmpl": -1},
    ],
)
def test_to_bytes_rejects_fields_that_do_not_fit(change: dict[str, object]) -> None:
    report = dataclasses.replace(parse(V5), **change)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        report.to_bytes()


def test_v2_report_cannot_carry_v3_fields() -> None:
    report = dataclasses.replace(parse(V2), cpuid_fam_id=0x19, cpuid_mod_id=1, cpuid_step=1)
    with pytest.raises(InputError, match="no CPUID"):
        report.to_bytes()
    report = dataclasses.replace(parse(V2), launch_mit_vector=1, current_mit_vector=1)
    with pytest.raises(InputError, match="no mitigation"):
        report.to_bytes()


def test_policy_and_key_info_fields_alone() -> None:
    assert GuestPolicy.from_bytes(bytes.fromhex("0000030000000000")).raw == 0x30000
    assert GuestPolicy(0x3001F).to_bytes() == bytes.fromhex("1f00030000000000")
    with pytest.raises(ParseError) as info:
        GuestPolicy.from_bytes((1 << 40 | 0x30000).to_bytes(8, "little"))
    assert (info.value.structure, info.value.field, info.value.offset) == ("GuestPolicy", "policy", 5)
    assert GuestPolicy.from_bytes((1 << 40).to_bytes(8, "little"), strict=False).mbz_bits == 1 << 14
    with pytest.raises(ParseError):
        GuestPolicy.from_bytes(bytes(7))
    assert KeyInfo.from_bytes(bytes.fromhex("04000000")).signing_key is SigningKey.VLEK
    assert KeyInfo(0x4).to_bytes() == bytes.fromhex("04000000")
    with pytest.raises(ParseError) as info:
        KeyInfo.from_bytes(bytes.fromhex("0c000000"))
    assert (info.value.field, info.value.offset) == ("key_info.signing_key", 0)
    with pytest.raises(ParseError) as info:
        KeyInfo.from_bytes(bytes.fromhex("00010000"))
    assert (info.value.field, info.value.offset) == ("key_info", 1)
    assert KeyInfo.from_bytes(bytes.fromhex("00010000"), strict=False).raw == 0x100
    with pytest.raises(ParseError):
        KeyInfo.from_bytes(bytes(5))


def test_the_report_is_built_in_its_field_order() -> None:
    """SnpReport.from_bytes builds the report positionally: reordering fields must update that call."""
    assert [f.name for f in dataclasses.fields(SnpReport)] == [
        "version", "guest_svn", "policy", "family_id", "image_id", "vmpl", "signature_algo", "current_tcb",
        "platform_info", "key_info", "report_data", "measurement", "host_data", "id_key_digest",
        "author_key_digest", "report_id", "report_id_ma", "reported_tcb", "cpuid_fam_id", "cpuid_mod_id",
        "cpuid_step", "chip_id", "committed_tcb", "current_build", "current_minor", "current_major",
        "committed_build", "committed_minor", "committed_major", "launch_tcb", "launch_mit_vector",
        "current_mit_vector", "signature_r", "signature_s", "reserved_04c", "reserved_cpuid", "reserved_1eb",
        "reserved_1ef", "reserved_tail", "signature_reserved",
    ]  # fmt: skip


def test_decoded_bitfields_are_shared_values() -> None:
    """One decoded instance per raw value: equal and identical across reports."""
    first = SnpReport.from_bytes(fixture_bytes("snp/go-sev-guest/attestation.bin"))
    again = SnpReport.from_bytes(fixture_bytes("snp/go-sev-guest/attestation.bin"))
    assert first == again
    assert first.policy is again.policy and first.reported_tcb is again.reported_tcb
    assert first.key_info is again.key_info


def _patterned_report(version: int, *, reserved_zero: bool) -> bytes:
    """A report whose every byte differs from its neighbours, so a field read from the wrong
    offset (or two same-sized fields swapped) cannot go unnoticed."""
    data = bytearray((offset * 131 + 17) % 251 + 1 for offset in range(SnpReport.SIZE))
    data[0x000:0x004] = version.to_bytes(4, "little")
    data[0x034:0x038] = (1).to_bytes(4, "little")  # SIGNATURE_ALGO: ECDSA P-384
    data[0x048] = data[0x048] & ~0x1C | 1 << 2  # SIGNING_KEY VLEK; bits 31:5 kept (MBZ)
    if reserved_zero:
        layout = 5 if version >= 5 else 3 if version >= 3 else 2
        zero = [(0x04C, 4), (0x1EB, 1), (0x1EF, 1), (0x330, 0x170)]
        zero.append((0x18B, 21) if layout >= 3 else (0x188, 24))
        zero.append((0x208, 152) if layout >= 5 else (0x1F8, 168))
        for offset, size in zero:
            data[offset : offset + size] = bytes(size)
        data[0x00B] &= 0x03  # POLICY bits 63:26
        data[0x00C:0x010] = bytes(4)
        data[0x048] &= 0x1F  # KEY_INFO bits 31:5
        data[0x049:0x04C] = bytes(3)
    return bytes(data)


def _report_by_the_table(data: bytes) -> SnpReport:
    """The report as the layout table in the module docstring / notes places every field,
    built by keyword (independently of from_bytes)."""

    def u(offset: int, size: int) -> int:
        return int.from_bytes(data[offset : offset + size], "little")

    version = u(0x000, 4)
    v3 = version >= 3
    v5 = version >= 5
    return SnpReport(
        version=version,
        guest_svn=u(0x004, 4),
        policy=GuestPolicy(u(0x008, 8)),
        family_id=data[0x010:0x020],
        image_id=data[0x020:0x030],
        vmpl=u(0x030, 4),
        signature_algo=u(0x034, 4),
        current_tcb=TcbVersion(u(0x038, 8)),
        platform_info=PlatformInfo(u(0x040, 8)),
        key_info=KeyInfo(u(0x048, 4)),
        reserved_04c=data[0x04C:0x050],
        report_data=data[0x050:0x090],
        measurement=data[0x090:0x0C0],
        host_data=data[0x0C0:0x0E0],
        id_key_digest=data[0x0E0:0x110],
        author_key_digest=data[0x110:0x140],
        report_id=data[0x140:0x160],
        report_id_ma=data[0x160:0x180],
        reported_tcb=TcbVersion(u(0x180, 8)),
        cpuid_fam_id=data[0x188] if v3 else None,
        cpuid_mod_id=data[0x189] if v3 else None,
        cpuid_step=data[0x18A] if v3 else None,
        reserved_cpuid=data[0x18B:0x1A0] if v3 else data[0x188:0x1A0],
        chip_id=data[0x1A0:0x1E0],
        committed_tcb=TcbVersion(u(0x1E0, 8)),
        current_build=data[0x1E8],
        current_minor=data[0x1E9],
        current_major=data[0x1EA],
        reserved_1eb=data[0x1EB:0x1EC],
        committed_build=data[0x1EC],
        committed_minor=data[0x1ED],
        committed_major=data[0x1EE],
        reserved_1ef=data[0x1EF:0x1F0],
        launch_tcb=TcbVersion(u(0x1F0, 8)),
        launch_mit_vector=u(0x1F8, 8) if v5 else None,
        current_mit_vector=u(0x200, 8) if v5 else None,
        reserved_tail=data[0x208:0x2A0] if v5 else data[0x1F8:0x2A0],
        signature_r=u(0x2A0, 72),
        signature_s=u(0x2E8, 72),
        signature_reserved=data[0x330:0x4A0],
    )


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("version", [2, 3, 4, 5])
def test_every_field_comes_from_its_own_offset(version: int, strict: bool) -> None:
    """The positional construction in from_bytes, field by field, against the layout table."""
    data = _patterned_report(version, reserved_zero=strict)
    report = SnpReport.from_bytes(data, strict=strict)
    expected = _report_by_the_table(data)
    for f in dataclasses.fields(SnpReport):
        assert getattr(report, f.name) == getattr(expected, f.name), f.name
        assert type(getattr(report, f.name)) is type(getattr(expected, f.name)), f.name
    assert report == expected and hash(report) == hash(expected)
    assert report.to_bytes() == data
    assert report.to_json() == expected.to_json()
