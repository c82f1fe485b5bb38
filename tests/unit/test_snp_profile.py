"""Issue #11 §4 for SEV-SNP: the chain profile TDX's chain passes too, a usable KDS CRL, and
where the CRL came from (the host-controlled certificate table, or the caller).

Made with the test PKI (explicit trust root); each case is something the ARK could sign.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509

from ccverify.verifier.errors import PolicyError, VerificationError
from ccverify.verifier.evidence.certtable import CertKind, CertTable
from ccverify.verifier.evidence.snp_report import Product, SigningKey
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.snp.certs import clear_chain_memo
from ccverify.verifier.snp.validate import SnpPolicy, validate_snp
from ccverify.verifier.snp.verify import SnpCertificates, SnpVerdict, load_snp_certs
from ccverify.verifier.snp.verify import verify_snp as _verify_snp
from ccverify.verifier.testing.pki import (
    AMD_KDS_CRL_URL,
    REFERENCE_TIME,
    UNKNOWN_CRITICAL,
    AmdTestPki,
    ExtensionOverride,
    idp,
    key_usage,
    uris,
)
from ccverify.verifier.testing.snp_builder import build_snp_report

AT = REFERENCE_TIME
BC = x509.BasicConstraints
KU_OID = x509.ObjectIdentifier("2.5.29.15")
BC_OID = x509.ObjectIdentifier("2.5.29.19")


@pytest.fixture(scope="module")
def milan() -> AmdTestPki:
    return AmdTestPki(Product.MILAN, rsa_key_size=2048)


def odd(**overrides: list[ExtensionOverride]) -> AmdTestPki:
    return AmdTestPki(Product.MILAN, rsa_key_size=2048, extension_overrides=overrides)


def report(pki: AmdTestPki, kind: str = "vcek") -> bytes:
    if kind == "vlek":
        return build_snp_report(
            pki.vlek_key, product=pki.product, tcb=pki.tcb, signing_key=SigningKey.VLEK
        ).to_bytes()
    return build_snp_report(pki.vcek_key, product=pki.product, tcb=pki.tcb, chip_id=pki.chip_id).to_bytes()


def verify_snp(*args: Any, **kwargs: Any) -> SnpVerdict:
    """``verify_snp`` without a policy (UNSAFE_NO_POLICY): these tests check the chain profile;
    the policy (revocation, CRL age) is applied by ``validate_snp`` where a test says so."""
    kwargs.setdefault("policy", UNSAFE_NO_POLICY)
    return _verify_snp(*args, **kwargs)


def certs(pki: AmdTestPki, kind: str = "vcek", **changes: Any) -> SnpCertificates:
    loaded = (
        load_snp_certs(vcek=pki.vcek_der(), chain=pki.cert_chain_pem())
        if kind == "vcek"
        else load_snp_certs(vlek=pki.vlek_der(), chain=pki.cert_chain_pem("vlek"))
    )
    return loaded.with_(**changes)


def verify(pki: AmdTestPki, kind: str = "vcek", **changes: Any) -> SnpVerdict:
    return verify_snp(report(pki, kind), certs(pki, kind, **changes), at=AT, trust_root=pki.ark_der())


def fails(code: str, pki: AmdTestPki, kind: str = "vcek", **changes: Any) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify(pki, kind, **changes)
    assert info.value.code == code, str(info.value)
    return info.value


# -- chain profile --------------------------------------------------------------------------------


def test_default_test_pki_passes_the_profile(milan: AmdTestPki) -> None:
    verdict = verify(milan, crl=milan.crl())
    assert verdict.crl_checked is True
    assert validate_snp(verdict) is verdict


@pytest.mark.parametrize(
    ("overrides", "kind", "code", "words"),
    [
        ({"ask": [(BC(ca=False, path_length=None), True)]}, "vcek", "basic_constraints", "CA:TRUE"),
        ({"ask": [(key_usage("crl_sign"), True)]}, "vcek", "key_usage", "keyCertSign"),
        ({"ask": [(KU_OID, True)]}, "vcek", "key_usage", "no keyUsage"),
        ({"asvk": [(key_usage("digital_signature"), True)]}, "vlek", "key_usage", "keyCertSign"),
        ({"ark": [(BC(ca=True, path_length=0), True)]}, "vcek", "basic_constraints", "pathLen"),
        ({"ark": [(key_usage("crl_sign"), True)]}, "vcek", "key_usage", "ARK"),
        ({"vcek": [(BC(ca=True, path_length=None), True)]}, "vcek", "basic_constraints", "not be a CA"),
        ({"vcek": [(key_usage("key_agreement"), True)]}, "vcek", "key_usage", "digitalSignature"),
        ({"vlek": [(key_usage("key_cert_sign"), True)]}, "vlek", "key_usage", "digitalSignature"),
        ({"vcek": [UNKNOWN_CRITICAL]}, "vcek", "unknown_critical_extension", "VCEK"),
        ({"ask": [UNKNOWN_CRITICAL]}, "vcek", "unknown_critical_extension", "ASK"),
    ],
)
def test_chain_profile(
    overrides: dict[str, list[ExtensionOverride]], kind: str, code: str, words: str
) -> None:
    error = fails(code, odd(**overrides), kind)
    assert words in str(error)


def test_vcek_with_digital_signature_key_usage_verifies() -> None:
    pki = odd(vcek=[(key_usage("digital_signature"), True), (BC(ca=False, path_length=None), True)])
    assert verify(pki, crl=pki.crl()).crl_checked is True


def test_ark_without_crl_sign_cannot_issue_the_crl() -> None:
    pki = odd(ark=[(key_usage("key_cert_sign"), True)])
    assert verify(pki).crl_checked is False  # the chain alone is fine
    error = fails("key_usage", pki, crl=pki.crl())
    assert "cRLSign" in str(error)


# -- KDS CRL usability ----------------------------------------------------------------------------


VCEK_CRL_URL = AMD_KDS_CRL_URL.format(kind="vcek", product="Milan")
VLEK_CRL_URL = AMD_KDS_CRL_URL.format(kind="vlek", product="Milan")


@pytest.mark.parametrize(
    ("extension", "words"),
    [
        (UNKNOWN_CRITICAL, "critical extension"),
        ((x509.DeltaCRLIndicator(1), True), "delta CRL"),
        (idp(only_contains_user_certs=True), "ASK 'SEV-Milan' is a CA"),
        (idp(full_name=uris(VLEK_CRL_URL)), "vlek/v1/Milan/crl"),
        (idp(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise})), "onlySomeReasons"),
        (idp(indirect_crl=True), "indirect"),
    ],
)
def test_unusable_kds_crl(milan: AmdTestPki, extension: ExtensionOverride, words: str) -> None:
    error = fails("crl_unusable", milan, crl=milan.crl(extensions=[extension]))
    assert words in str(error)


def test_crl_scoped_to_cas_at_the_ask_distribution_point_is_used(milan: AmdTestPki) -> None:
    crl = milan.crl(extensions=[idp(full_name=uris(VCEK_CRL_URL), only_contains_ca_certs=True)])
    assert verify(milan, crl=crl).crl_checked is True


def test_the_same_crl_for_the_asvk_is_unusable(milan: AmdTestPki) -> None:
    crl = milan.crl(extensions=[idp(full_name=uris(VCEK_CRL_URL))])
    error = fails("crl_unusable", milan, "vlek", crl=crl)
    assert "SEV-VLEK-Milan" in str(error)


def test_unusable_crl_is_refused_warm_too(milan: AmdTestPki) -> None:
    clear_chain_memo()
    crl = milan.crl(extensions=[(x509.DeltaCRLIndicator(1), True)])
    for _ in range(2):
        fails("crl_unusable", milan, crl=crl)


# -- where the CRL came from ----------------------------------------------------------------------


def _table(pki: AmdTestPki, crl: bytes) -> bytes:
    return CertTable.build(
        [
            (CertKind.VCEK, pki.vcek_der()),
            (CertKind.ASK, pki.ask_der()),
            (CertKind.ARK, pki.ark_der()),
            (CertKind.CRL, crl),
        ]
    ).to_bytes()


def test_crl_source_given(milan: AmdTestPki) -> None:
    loaded = load_snp_certs(vcek=milan.vcek_der(), chain=milan.cert_chain_pem(), crl=milan.crl())
    verdict = verify_snp(report(milan), loaded, at=AT, trust_root=milan.ark_der())
    assert verdict.crl_source == "given"
    assert verify(milan).crl_source is None


def test_an_old_crl_from_the_certificate_table(milan: AmdTestPki) -> None:
    old = milan.crl(this_update=AT - timedelta(days=300), next_update=AT + timedelta(days=1))
    loaded = load_snp_certs(table=_table(milan, old))
    assert loaded.crl_source == "certificate_table"
    verdict = verify_snp(report(milan), loaded, at=AT, trust_root=milan.ark_der())
    assert verdict.crl_checked is True
    assert verdict.crl_source == "certificate_table"
    assert validate_snp(verdict) is verdict  # no freshness bound by default
    with pytest.raises(PolicyError) as err:
        validate_snp(verdict, SnpPolicy(maximum_crl_age_hours=7 * 24))
    assert err.value.code == "crl_too_old"
    assert "certificate_table" in err.value.detail
    fresh = milan.crl(this_update=AT - timedelta(days=2), next_update=AT + timedelta(days=5))
    loaded = load_snp_certs(table=_table(milan, fresh))
    verdict = verify_snp(report(milan), loaded, at=AT, trust_root=milan.ark_der())
    assert validate_snp(verdict, SnpPolicy(maximum_crl_age_hours=7 * 24)) is verdict


def test_explicit_crl_wins_over_the_table(milan: AmdTestPki) -> None:
    old = milan.crl(this_update=AT - timedelta(days=300), next_update=AT + timedelta(days=1))
    given = milan.crl()
    loaded = load_snp_certs(table=_table(milan, old), crl=given)
    assert loaded.crl_source == "given"
    assert loaded.crl == given
