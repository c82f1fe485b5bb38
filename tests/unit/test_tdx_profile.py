"""Issue #11 §4 for TDX: certificate and CRL profiles (RFC 5280) and QVL's TCB level order.

Each case is a chain or CRL the pinned root (here the test PKI's EXAMPLE root) or its CA could
sign while being unusual: a CA that is no CA, a leaf that is one, a pathLen the chain exceeds,
keyUsage without the bit used, an unknown critical extension, a delta CRL, an
IssuingDistributionPoint that excludes the certificate. All verified before this change.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.errors import VerificationError
from ccverify.verifier.tdx.collateral import TcbStatus, TdxCollateral, parse_tcb_info
from ccverify.verifier.tdx.verify import TdxVerdict, clear_caches, verify_tdx
from ccverify.verifier.testing.pki import (
    DEFAULT_PCESVN,
    DEFAULT_TEE_TCB_SVN,
    INTEL_PCK_CRL_URL,
    INTEL_ROOT_CRL_URL,
    REFERENCE_TIME,
    UNKNOWN_CRITICAL,
    ExtensionOverride,
    IntelTestPki,
    derive_ec_key,
    idp,
    key_usage,
    tcb_level,
    uris,
)
from ccverify.verifier.testing.tdx_builder import build_tdx_quote

AT = REFERENCE_TIME
SGX_OK = (2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0)
TDX_OK = (5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


@pytest.fixture(scope="module")
def pki() -> IntelTestPki:
    return IntelTestPki()


def quote_of(pki: IntelTestPki) -> bytes:
    return build_tdx_quote(
        pck_key=pki.pck_key,
        pck_chain_pem=pki.pck_chain_pem(),
        attestation_key=derive_ec_key(b"att", "key", ec.SECP256R1()),
        body_fields={"tee_tcb_svn": DEFAULT_TEE_TCB_SVN},
    )


def verify(pki: IntelTestPki, **collateral: Any) -> TdxVerdict:
    document = pki.quote_collateral_v3(**collateral)
    return verify_tdx(
        quote_of(pki),
        TdxCollateral.from_quote_collateral_v3(document, origin="test PKI"),
        at=AT,
        trust_root=pki.root_pem(),
    )


def fails(code: str, pki: IntelTestPki, **collateral: Any) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify(pki, **collateral)
    assert info.value.code == code, str(info.value)
    return info.value


def odd(**overrides: list[ExtensionOverride]) -> IntelTestPki:
    return IntelTestPki(seed=b"profile/" + repr(sorted(overrides)).encode(), extension_overrides=overrides)


# -- the real profile passes ----------------------------------------------------------------------


def test_default_test_pki_passes_the_profile(pki: IntelTestPki) -> None:
    verdict = verify(pki)
    assert verdict.status is TcbStatus.UpToDate
    assert verdict.collateral.revocation_checked is True


# -- PCK chain ------------------------------------------------------------------------------------

BC = x509.BasicConstraints
KU = x509.ObjectIdentifier("2.5.29.15")
BC_OID = x509.ObjectIdentifier("2.5.29.19")


@pytest.mark.parametrize(
    ("overrides", "code", "words"),
    [
        ({"ca": [(BC(ca=False, path_length=None), True)]}, "basic_constraints", "PCK CA"),
        ({"ca": [(BC_OID, True)]}, "basic_constraints", "PCK CA"),
        ({"ca": [(key_usage("crl_sign"), True)]}, "key_usage", "keyCertSign"),
        ({"ca": [(KU, True)]}, "key_usage", "no keyUsage"),
        ({"root": [(BC(ca=True, path_length=0), True)]}, "basic_constraints", "pathLen"),
        ({"pck": [(BC(ca=True, path_length=None), True)]}, "basic_constraints", "must not be a CA"),
        ({"pck": [(key_usage("content_commitment"), True)]}, "key_usage", "digitalSignature"),
        ({"pck": [UNKNOWN_CRITICAL]}, "unknown_critical_extension", "1.3.6.1.4.1.99999.1"),
        ({"ca": [UNKNOWN_CRITICAL]}, "unknown_critical_extension", "PCK CA"),
    ],
)
def test_pck_chain_profile(overrides: dict[str, list[ExtensionOverride]], code: str, words: str) -> None:
    error = fails(code, odd(**overrides))
    assert words in str(error)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ([(BC(ca=True, path_length=None), True)], "basic_constraints"),
        ([(key_usage("crl_sign"), True)], "key_usage"),
        ([UNKNOWN_CRITICAL], "unknown_critical_extension"),
    ],
)
def test_tcb_signing_certificate_profile(overrides: list[ExtensionOverride], code: str) -> None:
    error = fails(code, odd(tcb_signing=overrides))
    assert "TCB Signing" in str(error)


# -- CRLs -----------------------------------------------------------------------------------------


DELTA: ExtensionOverride = (x509.DeltaCRLIndicator(1), True)


@pytest.mark.parametrize("which", ["pck_crl", "root_crl"])
@pytest.mark.parametrize(
    ("extension", "words"),
    [
        (UNKNOWN_CRITICAL, "critical extension"),
        (DELTA, "delta CRL"),
        (idp(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise})), "onlySomeReasons"),
        (idp(indirect_crl=True), "indirect"),
    ],
)
def test_unusable_crl(pki: IntelTestPki, which: str, extension: ExtensionOverride, words: str) -> None:
    crl = getattr(pki, which)(extensions=[extension])
    error = fails("crl_unusable", pki, **{which: crl})
    assert words in str(error)
    assert "RFC 5280" in str(error)


def test_pck_crl_for_ca_certificates_only_excludes_the_pck(pki: IntelTestPki) -> None:
    crl = pki.pck_crl(extensions=[idp(only_contains_ca_certs=True)])
    error = fails("crl_unusable", pki, pck_crl=crl)
    assert "the PCK certificate is not a CA" in str(error)


def test_pck_crl_for_another_distribution_point_excludes_the_pck(pki: IntelTestPki) -> None:
    other = INTEL_PCK_CRL_URL.format(ca="processor")
    crl = pki.pck_crl(extensions=[idp(full_name=uris(other))])
    error = fails("crl_unusable", pki, pck_crl=crl)
    assert "ca=processor" in str(error)


def test_pck_crl_scoped_to_the_pck_distribution_point_is_used(pki: IntelTestPki) -> None:
    url = INTEL_PCK_CRL_URL.format(ca="platform")
    crl = pki.pck_crl(extensions=[idp(full_name=uris(url), only_contains_user_certs=True)])
    assert verify(pki, pck_crl=crl).collateral.revocation_checked is True


def test_root_crl_for_end_entities_only_excludes_the_pck_ca(pki: IntelTestPki) -> None:
    crl = pki.root_crl(extensions=[idp(only_contains_user_certs=True)])
    error = fails("crl_unusable", pki, root_crl=crl)
    assert "Platform CA certificate is a CA" in str(error)


def test_root_crl_for_cas_only_excludes_the_tcb_signer(pki: IntelTestPki) -> None:
    crl = pki.root_crl(extensions=[idp(only_contains_ca_certs=True)])
    error = fails("crl_unusable", pki, root_crl=crl)
    assert "TCB info signer certificate is not a CA" in str(error)


def test_root_crl_scoped_to_the_root_distribution_point_is_used(pki: IntelTestPki) -> None:
    crl = pki.root_crl(extensions=[idp(full_name=uris(INTEL_ROOT_CRL_URL))])
    assert verify(pki, root_crl=crl).collateral.revocation_checked is True


def test_crl_issuer_without_crl_sign() -> None:
    pki = odd(ca=[(key_usage("key_cert_sign"), True)])
    error = fails("key_usage", pki)
    assert "cRLSign" in str(error)


def test_unusable_crl_is_refused_warm_too(pki: IntelTestPki) -> None:
    clear_caches()
    crl = pki.pck_crl(extensions=[DELTA])
    for _ in range(2):
        fails("crl_unusable", pki, pck_crl=crl)


# -- TCB levels in QVL's order --------------------------------------------------------------------

UP_TO_DATE = tcb_level(SGX_OK, DEFAULT_PCESVN, TDX_OK)
OUT_OF_DATE = tcb_level(SGX_OK, 5, TDX_OK, tcb_date="2018-01-04T00:00:00Z", tcb_status="OutOfDate")


def test_reordered_tcb_levels_are_matched_in_qvl_order(pki: IntelTestPki) -> None:
    listed = verify(pki, tcb_info=pki.tcb_info(tcb_levels=[UP_TO_DATE, OUT_OF_DATE]))
    reordered = verify(pki, tcb_info=pki.tcb_info(tcb_levels=[OUT_OF_DATE, UP_TO_DATE]))
    assert listed.status is TcbStatus.UpToDate
    assert reordered.status is TcbStatus.UpToDate
    assert reordered.platform_status is TcbStatus.UpToDate


def test_levels_sort_by_sgx_then_pcesvn_then_tdx(pki: IntelTestPki) -> None:
    higher_tdx = (6, 0, 2, *TDX_OK[3:])
    levels = [
        tcb_level(SGX_OK, 5, TDX_OK, tcb_status="OutOfDate"),
        tcb_level(SGX_OK, DEFAULT_PCESVN, TDX_OK, tcb_status="SWHardeningNeeded"),
        tcb_level((3, *SGX_OK[1:]), 1, TDX_OK, tcb_status="OutOfDate"),
        tcb_level(SGX_OK, DEFAULT_PCESVN, higher_tdx),
    ]
    info = parse_tcb_info(pki.tcb_info(tcb_levels=levels).raw.encode())
    order = [(lv.sgx_components[0], lv.pcesvn, lv.tdx_components[0]) for lv in info.tcb_levels]
    assert order == [(3, 1, 5), (2, DEFAULT_PCESVN, 6), (2, DEFAULT_PCESVN, 5), (2, 5, 5)]


def test_module_levels_sort_by_isvsvn(pki: IntelTestPki) -> None:
    from ccverify.verifier.testing.pki import module_tcb_level, tdx_module_identity

    module = tdx_module_identity(
        "TDX_01",
        [module_tcb_level(2, tcb_status="OutOfDate"), module_tcb_level(4)],
    )
    verdict = verify(pki, tcb_info=pki.tcb_info(tdx_module_identities=[module]))
    assert verdict.module_status is TcbStatus.UpToDate
