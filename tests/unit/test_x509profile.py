"""The shared certificate and CRL profile (``verifier/x509profile.py``) on the vendors' real
certificates and CRLs: Intel's PCK chains (root pathLen 1, Platform/Processor CA pathLen 0,
PCK leaf digitalSignature), TCB signer and CRLs; AMD's ARK/ASK/ASVK and VCEK/VLEK (no keyUsage)."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from ccverify.verifier import roots, x509load
from ccverify.verifier.errors import VerificationError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.snp.certs import VEK_PROFILE, load_certificate, to_der
from ccverify.verifier.tdx.collateral import SIGNER_PROFILE
from ccverify.verifier.x509profile import LeafProfile, check_chain, crl_scope, distribution_points
from tests.conftest import fixture_bytes

QUOTES = [
    "tdx/dcap-qvl/tdx_quote",
    "tdx/dcap-qvl/tdx_quote_outdated",
    "tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
]
COLLATERAL = [
    "tdx/dcap-qvl/tdx_quote_collateral.json",
    "tdx/dcap-qvl/tdx_quote_outdated_collateral.json",
    "tdx/dcap-qvl/sgx_quote_collateral.json",
    "tdx/dcap-qvl/near_gas_test_quote_collateral.json",
]


@pytest.mark.parametrize("name", QUOTES)
def test_intel_pck_chains_pass(name: str) -> None:
    leaf, ca, root = TdxQuote.from_bytes(fixture_bytes(name)).pck_chain_certificates()
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    check_chain(((leaf, "PCK"), (ca, "CA"), (root, "root")), leaf=SIGNER_PROFILE)
    assert distribution_points(leaf) is not None


@pytest.mark.parametrize("name", COLLATERAL)
def test_intel_collateral_signers_and_crls_pass(name: str) -> None:
    doc = json.loads(fixture_bytes(name))
    signer, root = x509load.pem_certificates(doc["tcb_info_issuer_chain"].encode())
    check_chain(((signer, "TCB signer"), (root, "root")), leaf=SIGNER_PROFILE)
    ca = x509load.pem_certificates(doc["pck_crl_issuer_chain"].encode())[0]
    assert crl_scope(x509load.crl(bytes.fromhex(doc["pck_crl"])), ca, "PCK CRL") is None
    assert crl_scope(x509load.crl(bytes.fromhex(doc["root_ca_crl"])), root, "root CRL") is None


@pytest.mark.parametrize("product", ["Milan", "Genoa", "Turin"])
def test_amd_roots_have_what_the_profile_needs(product: str) -> None:
    ark = roots.amd_ark(product)
    usage = ark.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign  # signs the ASK/ASVK and the KDS CRL
    assert ark.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length is None
    for intermediate in (roots.amd_ask(product), roots.amd_asvk(product)):
        constraints = intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca and constraints.path_length == 0
        assert intermediate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


@pytest.mark.parametrize(
    ("leaf", "product"),
    [
        ("snp/project-oak/turin_oc_vcek.der", "Turin"),
        ("snp/project-oak/genoa_oc_vcek.der", "Genoa"),
        ("snp/project-oak/milan_oc_release_vcek.der", "Milan"),
        ("snp/trustee/test-vlek.der", "Milan"),
        ("snp/teekit/sev-gcp-vcek.pem", "Milan"),
    ],
)
def test_amd_veks_pass(leaf: str, product: str) -> None:
    cert = load_certificate(to_der(fixture_bytes(leaf)))
    assert not any(e.oid == x509.ObjectIdentifier("2.5.29.15") for e in cert.extensions)  # no keyUsage
    inter = roots.amd_asvk(product) if "vlek" in leaf else roots.amd_ask(product)
    check_chain(((cert, "VEK"), (inter, "ASK"), (roots.amd_ark(product), "ARK")), leaf=VEK_PROFILE)


def test_leaf_profile_requiring_key_usage_refuses_a_vcek() -> None:
    cert = load_certificate(to_der(fixture_bytes("snp/project-oak/turin_oc_vcek.der")))
    with pytest.raises(VerificationError) as info:
        check_chain(((cert, "VCEK"),), leaf=LeafProfile(("digital_signature",), key_usage_required=True))
    assert info.value.code == "key_usage"
