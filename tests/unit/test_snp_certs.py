"""VCEK/VLEK extensions and ARK -> ASK/ASVK -> VEK chains on the real AMD certificates."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

import pytest

from ccverify.verifier.errors import VerificationError
from ccverify.verifier.evidence.snp_report import Product, TcbParts, TcbVersion
from ccverify.verifier.snp.certs import (
    VekKind,
    _hw_id,
    clear_chain_memo,
    der,
    load_certificate,
    load_certificates,
    parse_vek_extensions,
    product_of_cn,
    spki_sha256,
    subject_cn,
    to_der,
    verify_vek_chain,
)
from tests.conftest import fixture_bytes

SNP = "snp/"


def vek(name: str) -> bytes:
    return to_der(fixture_bytes(SNP + name))


def test_turin_vcek_extensions() -> None:
    ext = parse_vek_extensions(load_certificate(vek("project-oak/turin_oc_vcek.der")))
    assert ext.struct_version == 1
    assert ext.product_name == "Turin"
    assert ext.product is Product.TURIN
    assert (ext.fmc_spl, ext.bl_spl, ext.tee_spl, ext.snp_spl, ext.ucode_spl) == (0, 1, 0, 2, 71)
    assert ext.spl_4 is None
    assert ext.hw_id == bytes.fromhex("3b42092f69c656d3")
    assert ext.csp_id is None
    assert ext.tcb_parts(Product.TURIN) == TcbParts(1, 0, 2, 71, fmc_spl=0)


def test_virtee_turin_vcek_extensions() -> None:
    ext = parse_vek_extensions(load_certificate(vek("virtee-sev/vcek_turin.der")))
    assert ext.struct_version == 1
    assert ext.ucode_spl == 9
    assert (ext.bl_spl, ext.tee_spl, ext.snp_spl, ext.fmc_spl) == (0, 0, 0, 0)
    assert ext.hw_id == bytes.fromhex("1e550a8ee5cf9f4d")


def test_milan_vcek_extensions() -> None:
    ext = parse_vek_extensions(load_certificate(vek("go-sev-guest/vcek.testcer")))
    assert ext.struct_version == 0
    assert ext.product_name == "Milan-B0"
    assert (ext.bl_spl, ext.tee_spl, ext.snp_spl, ext.ucode_spl) == (2, 0, 5, 68)
    assert (ext.spl_4, ext.spl_5, ext.spl_6, ext.spl_7) == (0, 0, 0, 0)
    assert ext.fmc_spl is None
    assert ext.hw_id is not None
    assert ext.hw_id.hex().startswith("3ac3fe21")
    assert ext.hw_id.hex().endswith("6b5d")
    assert len(ext.hw_id) == 64


def test_genoa_vcek_product_name_without_stepping() -> None:
    ext = parse_vek_extensions(load_certificate(vek("trustee/vcek-genoa.pem")))
    assert ext.product_name == "Genoa"
    assert ext.product is Product.GENOA
    assert (ext.bl_spl, ext.tee_spl, ext.snp_spl, ext.ucode_spl) == (10, 0, 23, 84)


@pytest.mark.parametrize(
    ("leaf", "product", "raw"),
    [
        # the REPORTED_TCB of the report each VEK signed (go-sev-guest ComposeTCBParts)
        ("go-sev-guest/vcek.testcer", Product.MILAN, 0x4405000000000002),
        ("project-oak/milan_oc_release_vcek.der", Product.MILAN, 0xDB18000000000004),
        ("trustee/test-vlek.der", Product.MILAN, 0xD918000000000004),
        ("trustee/vcek-genoa.pem", Product.GENOA, 0x541700000000000A),
        ("project-oak/genoa_oc_vcek.der", Product.GENOA, 0x541900000000000A),
        ("project-oak/turin_oc_vcek.der", Product.TURIN, 0x4700000002000100),
        ("virtee-sev/vcek_turin.der", Product.TURIN, 0x0900000000000000),
    ],
)
def test_real_vek_tcb_version(leaf: str, product: Product, raw: int) -> None:
    ext = parse_vek_extensions(load_certificate(vek(leaf)))
    assert ext.tcb_version(product) == TcbVersion(raw)
    assert ext.reserved_spls == {}


def test_tcb_version_composes_reserved_spls_on_milan_only() -> None:
    ext = dataclasses.replace(
        parse_vek_extensions(load_certificate(vek("go-sev-guest/vcek.testcer"))),
        spl_4=1,
        spl_5=2,
        spl_6=3,
        spl_7=4,
    )
    assert ext.tcb_version(Product.MILAN) == TcbVersion(0x4405040302010002)
    assert ext.reserved_spls == {"spl_4": 1, "spl_5": 2, "spl_6": 3, "spl_7": 4}
    turin = dataclasses.replace(
        parse_vek_extensions(load_certificate(vek("project-oak/turin_oc_vcek.der"))), spl_4=5, spl_6=6
    )
    # a Turin TCB_VERSION has no place for them: bytes 4-6 stay zero (verification refuses the VEK)
    assert turin.tcb_version(Product.TURIN) == TcbVersion(0x4700000002000100)
    assert turin.reserved_spls == {"spl_4": 5, "spl_6": 6}


def test_tcb_version_refuses_an_spl_above_one_byte() -> None:
    ext = dataclasses.replace(
        parse_vek_extensions(load_certificate(vek("go-sev-guest/vcek.testcer"))), ucode_spl=300
    )
    with pytest.raises(VerificationError) as err:
        ext.tcb_version(Product.MILAN)
    assert err.value.code == "certificate_extension"
    assert err.value.actual == "ucode_spl=300"


def test_verified_chain_carries_the_whole_tcb_version() -> None:
    result = verify_vek_chain(vek("project-oak/turin_oc_vcek.der"))
    assert result.certificate_tcb_version == TcbVersion(0x4700000002000100)


def test_vlek_extensions() -> None:
    ext = parse_vek_extensions(load_certificate(vek("trustee/test-vlek.der")))
    assert ext.product_name == "Milan"
    assert ext.csp_id == "CN=cc-us-east-2.amazonaws.com"
    assert ext.hw_id is None
    assert ext.ucode_spl == 217
    assert (ext.bl_spl, ext.tee_spl, ext.snp_spl) == (4, 0, 24)


def test_hwid_wrapped_in_octet_string_and_raw_decode_to_the_same_bytes() -> None:
    new = parse_vek_extensions(load_certificate(vek("trustee/test-vcek-invalid-new.der")))
    legacy = parse_vek_extensions(load_certificate(vek("trustee/test-vcek-invalid-legacy.der")))
    assert new.hw_id is not None
    assert len(new.hw_id) == 64
    assert new.hw_id[:4] == bytes([0, 1, 2, 3])
    assert legacy.hw_id is not None
    assert len(legacy.hw_id) == 64


def test_hwid_decoder() -> None:
    raw8 = bytes(range(8))
    assert _hw_id(raw8) == raw8
    assert _hw_id(b"\x04\x08" + raw8) == raw8
    assert _hw_id(b"\x04\x40" + bytes(64)) == bytes(64)
    with pytest.raises(ValueError):
        _hw_id(bytes(10))
    with pytest.raises(ValueError):
        _hw_id(b"\x04\x03abc")


@pytest.mark.parametrize(
    ("leaf", "chain", "product", "kind"),
    [
        ("go-sev-guest/vcek.testcer", "go-sev-guest/ask_ark_milan.pem", Product.MILAN, VekKind.VCEK),
        ("go-sev-guest/vcek.testcer", "go-sev-guest/milan.testcer", Product.MILAN, VekKind.VCEK),
        ("virtee-sev/vcek_milan.der", "virtee-sev/cert_chain_milan", Product.MILAN, VekKind.VCEK),
        ("virtee-sev/vcek_turin.der", "virtee-sev/cert_chain_turin", Product.TURIN, VekKind.VCEK),
        ("project-oak/turin_oc_vcek.der", "go-sev-guest/ask_ark_turin_vcek.pem", Product.TURIN, VekKind.VCEK),
        ("project-oak/genoa_oc_vcek.der", "go-sev-guest/ask_ark_genoa.pem", Product.GENOA, VekKind.VCEK),
        ("trustee/vcek-genoa.pem", "go-sev-guest/ask_ark_genoa.pem", Product.GENOA, VekKind.VCEK),
        ("trustee/test-vlek.der", "go-sev-guest/ask_ark_milan_vlek.pem", Product.MILAN, VekKind.VLEK),
        ("trustee/test-vlek.der", "go-sev-guest/milanvlek.testcer", Product.MILAN, VekKind.VLEK),
        ("teekit/sev-gcp-vcek.pem", "teekit/sev-gcp-cert-chain.pem", Product.MILAN, VekKind.VCEK),
    ],
)
def test_real_chains_verify(leaf: str, chain: str, product: Product, kind: VekKind) -> None:
    inter, ark = [der(c) for c in load_certificates(fixture_bytes(SNP + chain))]
    result = verify_vek_chain(vek(leaf), inter, ark)
    assert result.product is product
    assert result.kind is kind
    assert result.root.production is True
    assert result.root.product is product
    assert result.root.sha256 == hashlib.sha256(ark).hexdigest()
    assert result.certificates[1].subject.startswith(f"CN={kind.intermediate_cn(product)},")


@pytest.mark.parametrize(
    ("leaf", "product"),
    [
        ("project-oak/turin_oc_vcek.der", Product.TURIN),
        ("project-oak/genoa_oc_vcek.der", Product.GENOA),
        ("project-oak/milan_oc_release_vcek.der", Product.MILAN),
        ("trustee/test-vlek.der", Product.MILAN),
    ],
)
def test_leaf_alone_verifies_with_shipped_intermediates(leaf: str, product: Product) -> None:
    result = verify_vek_chain(vek(leaf))
    assert result.product is product
    name = parse_vek_extensions(load_certificate(vek(leaf))).product_name
    assert result.product_source.endswith(f"productName {name}")


@pytest.mark.parametrize("product", list(Product))
def test_amd_roots_fixture_matches_the_pinned_roots(product: Product) -> None:
    from ccverify.verifier import roots

    fixture_ark = load_certificate(fixture_bytes(f"{SNP}amd-roots/{product.value.lower()}_ark.pem"))
    assert spki_sha256(fixture_ark) == spki_sha256(roots.amd_ark(product.value))
    assert subject_cn(fixture_ark) == f"ARK-{product.value}"


def test_expected_product_disagreeing_with_the_chain() -> None:
    with pytest.raises(VerificationError) as err:
        verify_vek_chain(vek("project-oak/turin_oc_vcek.der"), product=Product.GENOA)
    assert err.value.code == "product_mismatch"


def test_turin_vcek_with_the_genoa_ask_is_product_mismatch() -> None:
    genoa_ask = to_der(fixture_bytes(SNP + "amd-roots/genoa_ask.pem"))
    with pytest.raises(VerificationError) as err:
        verify_vek_chain(vek("project-oak/turin_oc_vcek.der"), genoa_ask)
    assert err.value.code == "product_mismatch"


def test_ark_given_as_intermediate_is_a_name_error() -> None:
    ark = to_der(fixture_bytes(SNP + "amd-roots/milan_ark.pem"))
    with pytest.raises(VerificationError) as err:
        verify_vek_chain(vek("go-sev-guest/vcek.testcer"), ark)
    assert err.value.code == "certificate_name"


def test_garbage_certificate_is_malformed() -> None:
    with pytest.raises(VerificationError) as err:
        verify_vek_chain(b"not a certificate")
    assert err.value.code == "certificate_malformed"


def test_time_checks_on_a_verified_chain() -> None:
    result = verify_vek_chain(vek("project-oak/turin_oc_vcek.der"))
    result.check_time(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(VerificationError) as err:
        result.check_time(datetime(2033, 1, 1, tzinfo=UTC))
    assert err.value.code == "certificate_expired"


def test_memo_returns_the_same_result_until_cleared() -> None:
    leaf = vek("project-oak/genoa_oc_vcek.der")
    first = verify_vek_chain(leaf)
    assert verify_vek_chain(leaf) is first
    clear_chain_memo()
    assert verify_vek_chain(leaf) is not first


def test_product_of_cn() -> None:
    assert product_of_cn("ARK-Milan") == ("ARK", Product.MILAN)
    assert product_of_cn("SEV-Genoa") == ("ASK", Product.GENOA)
    assert product_of_cn("SEV-VLEK-Turin") == ("ASVK", Product.TURIN)
    assert product_of_cn("SEV-Venice") is None
    assert product_of_cn("Something") is None
