"""Synthetic TDX quotes and collateral from the test PKI: every failure has its own code.

Everything is signed by ``IntelTestPki`` (an EXAMPLE root, passed explicitly as the trust
root) and verified at ``REFERENCE_TIME``, inside every default validity window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.errors import CollateralError, PolicyError, VerificationError
from ccverify.verifier.evidence.tdx_quote import TdAttributes, TdxQuote
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.tdx.collateral import ROOT_CA_CRL_URL, TcbStatus, TdxCollateral, pck_crl_url
from ccverify.verifier.tdx.validate import validate_tdx
from ccverify.verifier.tdx.verify import TdxVerdict, verify_tdx
from ccverify.verifier.testing.pki import (
    DEFAULT_PCESVN,
    DEFAULT_SGX_COMPONENTS,
    DEFAULT_TEE_TCB_SVN,
    REFERENCE_TIME,
    IntelTestPki,
    SignedJson,
    Validity,
    derive_ec_key,
    module_tcb_level,
    qe_tcb_level,
    tcb_level,
    tdx_module_identity,
)
from ccverify.verifier.testing.tdx_builder import build_tdx_quote, default_qe_report

AT = REFERENCE_TIME
SGX_OK = (2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0)
TDX_OK = (5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
OTHER_KEY = derive_ec_key(b"someone else", "key", ec.SECP256R1())


@pytest.fixture(scope="module")
def pki() -> IntelTestPki:
    return IntelTestPki()


@pytest.fixture(scope="module")
def other_pki() -> IntelTestPki:
    return IntelTestPki(seed=b"another example root")


def make_quote(pki: IntelTestPki, **kwargs: Any) -> bytes:
    body_fields: dict[str, Any] = {"tee_tcb_svn": DEFAULT_TEE_TCB_SVN}
    body_fields.update(kwargs.pop("body_fields", {}))
    kwargs.setdefault("attestation_key", derive_ec_key(b"att", "key", ec.SECP256R1()))
    return build_tdx_quote(
        pck_key=kwargs.pop("pck_key", pki.pck_key),
        pck_chain_pem=kwargs.pop("pck_chain_pem", pki.pck_chain_pem()),
        body_fields=body_fields,
        **kwargs,
    )


def make_collateral(pki: IntelTestPki, **kwargs: Any) -> TdxCollateral:
    return TdxCollateral.from_quote_collateral_v3(pki.quote_collateral_v3(**kwargs), origin="test PKI")


def verify(
    pki: IntelTestPki, quote: bytes | None = None, collateral: TdxCollateral | None = None, **kw: Any
) -> TdxVerdict:
    return verify_tdx(
        quote if quote is not None else make_quote(pki),
        collateral if collateral is not None else make_collateral(pki),
        at=kw.pop("at", AT),
        trust_root=kw.pop("trust_root", pki.root_pem()),
        policy=kw.pop("policy", UNSAFE_NO_POLICY),  # these tests check verification; policy below
    )


def fails(
    code: str,
    pki: IntelTestPki,
    quote: bytes | None = None,
    collateral: TdxCollateral | None = None,
    **kw: Any,
) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify(pki, quote, collateral, **kw)
    assert info.value.code == code, str(info.value)
    return info.value


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def levels(status: str, **kw: Any) -> list[dict[str, Any]]:
    return [tcb_level(SGX_OK, DEFAULT_PCESVN, TDX_OK, tcb_status=status, **kw)]


# -- the good case -----------------------------------------------------------------------------


def test_synthetic_quote_verifies_up_to_date(pki: IntelTestPki) -> None:
    verdict = verify(pki)
    assert verdict.status is TcbStatus.UpToDate
    assert verdict.platform_status is TcbStatus.UpToDate
    assert verdict.module_status is TcbStatus.UpToDate
    assert verdict.qe_status is TcbStatus.UpToDate
    assert verdict.tdx_module_identity == "TDX_01"
    assert verdict.advisory_ids == ()
    assert verdict.root.production is False
    assert "EXAMPLE" in verdict.root.subject
    assert verdict.pck.ca == "platform"
    assert verdict.fmspc == pki.fmspc
    assert verdict.collateral.revocation_checked is True
    assert verdict.at == AT
    validate_tdx(verdict)


def test_verdict_earliest_next_update(pki: IntelTestPki) -> None:
    verdict = verify(pki)
    assert verdict.earliest_next_update == REFERENCE_TIME + timedelta(days=30)


def test_processor_ca_chain_verifies() -> None:
    processor = IntelTestPki(ca="processor")
    verdict = verify(processor)
    assert verdict.pck.ca == "processor"
    assert verdict.status is TcbStatus.UpToDate


def test_trailing_nul_and_trailing_bytes_are_ignored(pki: IntelTestPki) -> None:
    quote = make_quote(pki, pem_trailing_nul=True, trailing=b"\x00" * 70)
    assert verify(pki, quote).status is TcbStatus.UpToDate


def test_quote_object_is_accepted(pki: IntelTestPki) -> None:
    quote = TdxQuote.from_bytes(make_quote(pki))
    assert verify_tdx(quote, make_collateral(pki), at=AT, trust_root=pki.root_pem()).quote is quote


def test_v5_tdx15_quote_verifies(pki: IntelTestPki) -> None:
    quote = make_quote(pki, version=5, body_fields={"tee_tcb_svn2": DEFAULT_TEE_TCB_SVN})
    verdict = verify(pki, quote)
    assert verdict.status is TcbStatus.UpToDate
    assert verdict.quote.body_type == 3


# -- signatures ----------------------------------------------------------------------------------


def test_corrupt_quote_signature(pki: IntelTestPki) -> None:
    fails("quote_signature_invalid", pki, flip(make_quote(pki), 636 + 10))


def test_corrupt_signed_body(pki: IntelTestPki) -> None:
    # a byte of MRTD (not checked by anything but the signature)
    fails("quote_signature_invalid", pki, flip(make_quote(pki), 48 + 136 + 5))


def test_corrupt_qe_report_signature(pki: IntelTestPki) -> None:
    fails("qe_report_signature_invalid", pki, flip(make_quote(pki), 636 + 518 + 3))


def test_qe_report_signed_by_another_key(pki: IntelTestPki) -> None:
    fails("qe_report_signature_invalid", pki, make_quote(pki, pck_key=OTHER_KEY))


def test_pck_leaf_signed_by_another_ca(pki: IntelTestPki, other_pki: IntelTestPki) -> None:
    chain = other_pki.pck_pem() + pki.ca_pem() + pki.root_pem()
    fails("pck_chain_signature_invalid", pki, make_quote(pki, pck_chain_pem=chain, pck_key=other_pki.pck_key))


def test_pck_ca_signed_by_another_root(pki: IntelTestPki, other_pki: IntelTestPki) -> None:
    chain = pki.pck_pem() + other_pki.ca_pem() + pki.root_pem()
    fails("pck_chain_signature_invalid", pki, make_quote(pki, pck_chain_pem=chain))


def test_corrupt_tcb_info_signature(pki: IntelTestPki) -> None:
    good = pki.tcb_info()
    bad = SignedJson(good.key, good.raw, flip(bytes.fromhex(good.signature), 40).hex())
    fails("tcb_info_signature_invalid", pki, collateral=make_collateral(pki, tcb_info=bad))


def test_tcb_info_signed_by_another_key(pki: IntelTestPki) -> None:
    fails(
        "tcb_info_signature_invalid",
        pki,
        collateral=make_collateral(pki, tcb_info=pki.tcb_info(signer_key=OTHER_KEY)),
    )


def test_tcb_info_raw_bytes_matter(pki: IntelTestPki) -> None:
    good = pki.tcb_info()
    spaced = SignedJson(good.key, good.raw.replace(",", ", ", 1), good.signature)
    fails("tcb_info_signature_invalid", pki, collateral=make_collateral(pki, tcb_info=spaced))


def test_corrupt_qe_identity_signature(pki: IntelTestPki) -> None:
    bad = pki.qe_identity(signer_key=OTHER_KEY)
    fails("qe_identity_signature_invalid", pki, collateral=make_collateral(pki, qe_identity=bad))


def test_corrupt_pck_crl_signature(pki: IntelTestPki) -> None:
    fails(
        "crl_signature_invalid",
        pki,
        collateral=make_collateral(pki, pck_crl=pki.pck_crl(signer_key=OTHER_KEY)),
    )


def test_corrupt_root_crl_signature(pki: IntelTestPki) -> None:
    fails(
        "crl_signature_invalid",
        pki,
        collateral=make_collateral(pki, root_crl=pki.root_crl(signer_key=OTHER_KEY)),
    )


def test_crl_from_wrong_issuer(pki: IntelTestPki) -> None:
    fails("crl_issuer_mismatch", pki, collateral=make_collateral(pki, pck_crl=pki.root_crl()))


def test_crl_garbage(pki: IntelTestPki) -> None:
    fails("crl_invalid", pki, collateral=make_collateral(pki, pck_crl=b"\x30\x03\x02\x01\x00"))


# -- roots and chains ----------------------------------------------------------------------------


def test_wrong_trust_root(pki: IntelTestPki, other_pki: IntelTestPki) -> None:
    fails("untrusted_root", pki, trust_root=other_pki.root_pem())


def test_production_root_refuses_example_chain(pki: IntelTestPki) -> None:
    with pytest.raises(VerificationError) as info:
        verify_tdx(make_quote(pki), make_collateral(pki), at=AT)
    assert info.value.code == "untrusted_root"


def test_collateral_signed_under_another_root(pki: IntelTestPki, other_pki: IntelTestPki) -> None:
    foreign = other_pki.tcb_info(fmspc=pki.fmspc)
    collateral = make_collateral(
        pki, tcb_info=foreign, tcb_info_issuer_chain=other_pki.tcb_issuer_chain_pem()
    )
    fails("untrusted_root", pki, collateral=collateral)


def test_collateral_signer_with_wrong_cn(pki: IntelTestPki) -> None:
    chain = pki.ca_pem().decode() + pki.root_pem().decode()
    fails("collateral_signer_invalid", pki, collateral=make_collateral(pki, tcb_info_issuer_chain=chain))


def test_chain_of_two_certificates(pki: IntelTestPki) -> None:
    fails("pck_chain_invalid", pki, make_quote(pki, pck_chain_pem=pki.pck_pem() + pki.ca_pem()))


def test_chain_with_wrong_leaf_cn() -> None:
    odd = IntelTestPki(pck_common_name="Intel SGX PCK Something")
    fails("pck_chain_invalid", odd)


def test_bad_sgx_extension() -> None:
    odd = IntelTestPki(sgx_extension_der=b"\x30\x00")
    fails("pck_extension_invalid", odd)


def test_pck_certificate_expired() -> None:
    old = IntelTestPki(pck_validity=Validity(AT - timedelta(days=800), AT - timedelta(days=1)))
    fails("certificate_expired", old)


def test_pck_certificate_not_yet_valid() -> None:
    young = IntelTestPki(pck_validity=Validity(AT + timedelta(days=1), AT + timedelta(days=800)))
    fails("certificate_not_yet_valid", young)


def test_tcb_signing_certificate_expired_is_collateral_expired() -> None:
    old = IntelTestPki(tcb_signing_validity=Validity(AT - timedelta(days=800), AT - timedelta(days=1)))
    fails("collateral_expired", old)


# -- revocation ----------------------------------------------------------------------------------


def test_revoked_pck(pki: IntelTestPki) -> None:
    crl = pki.pck_crl(revoked_serials=[pki.pck_cert.serial_number])
    error = fails("revoked", pki, collateral=make_collateral(pki, pck_crl=crl))
    assert "Revoked" in error.detail


def test_revoked_intermediate(pki: IntelTestPki) -> None:
    crl = pki.root_crl(revoked_serials=[pki.ca_cert.serial_number])
    fails("revoked", pki, collateral=make_collateral(pki, root_crl=crl))


def test_revoked_tcb_signer(pki: IntelTestPki) -> None:
    crl = pki.root_crl(revoked_serials=[pki.tcb_signing_cert.serial_number])
    fails("revoked", pki, collateral=make_collateral(pki, root_crl=crl))


def test_other_serials_revoked_is_fine(pki: IntelTestPki) -> None:
    crl = pki.pck_crl(revoked_serials=[12345, 67890])
    assert verify(pki, collateral=make_collateral(pki, pck_crl=crl)).status is TcbStatus.UpToDate


def test_missing_crls_need_explicit_permission(pki: IntelTestPki) -> None:
    doc = pki.quote_collateral_v3()
    del doc["pck_crl"], doc["root_ca_crl"]
    with pytest.raises(CollateralError) as info:
        verify(pki, collateral=TdxCollateral.from_quote_collateral_v3(doc))
    assert info.value.missing is not None
    assert "IntelSGXRootCA" in info.value.missing
    allowed = TdxCollateral.from_quote_collateral_v3(doc, allow_missing_crl=True)
    verdict = verify(pki, collateral=allowed)
    assert verdict.collateral.revocation_checked is False
    assert verdict.collateral.pck_crl is None
    with pytest.raises(PolicyError) as refused:
        validate_tdx(verdict)
    assert refused.value.code == "revocation_not_checked"


def test_missing_crl_names_the_url_pcs_serves_it_from(pki: IntelTestPki) -> None:
    doc = pki.quote_collateral_v3()
    del doc["pck_crl"]
    with pytest.raises(CollateralError) as info:
        verify(pki, collateral=TdxCollateral.from_quote_collateral_v3(doc))
    assert info.value.missing == pck_crl_url("platform")
    doc = pki.quote_collateral_v3()
    del doc["root_ca_crl"]
    with pytest.raises(CollateralError) as info:
        verify(pki, collateral=TdxCollateral.from_quote_collateral_v3(doc))
    assert info.value.missing == ROOT_CA_CRL_URL


# -- time windows --------------------------------------------------------------------------------


def test_expired_tcb_info(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(issue_date=AT - timedelta(days=10), next_update=AT - timedelta(seconds=1))
    fails("collateral_expired", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_tcb_info_at_next_update_is_expired(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(issue_date=AT - timedelta(days=10), next_update=AT)
    fails("collateral_expired", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_not_yet_valid_tcb_info(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(issue_date=AT + timedelta(seconds=1), next_update=AT + timedelta(days=30))
    fails("collateral_not_yet_valid", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_expired_qe_identity(pki: IntelTestPki) -> None:
    qe = pki.qe_identity(issue_date=AT - timedelta(days=10), next_update=AT - timedelta(days=1))
    fails("collateral_expired", pki, collateral=make_collateral(pki, qe_identity=qe))


def test_expired_pck_crl(pki: IntelTestPki) -> None:
    crl = pki.pck_crl(this_update=AT - timedelta(days=10), next_update=AT - timedelta(days=1))
    fails("collateral_expired", pki, collateral=make_collateral(pki, pck_crl=crl))


def test_not_yet_valid_root_crl(pki: IntelTestPki) -> None:
    crl = pki.root_crl(this_update=AT + timedelta(days=1), next_update=AT + timedelta(days=10))
    fails("collateral_not_yet_valid", pki, collateral=make_collateral(pki, root_crl=crl))


def test_everything_expires(pki: IntelTestPki) -> None:
    """One error names every expired item and the earliest expiry (refresh them all at once)."""
    error = fails("collateral_expired", pki, at=AT + timedelta(days=31))
    for item in ("the root CA CRL", "the PCK CRL", "the TCB info", "the QE identity"):
        assert item in error.detail, error.detail
    assert "4 collateral items expired" in error.detail and "the earliest at " in error.detail
    assert error.expected and error.expected.startswith("< ") and error.actual


def test_the_earliest_expiry_is_named(pki: IntelTestPki) -> None:
    early = AT - timedelta(days=2)
    crl = pki.pck_crl(this_update=AT - timedelta(days=10), next_update=early)
    qe = pki.qe_identity(issue_date=AT - timedelta(days=10), next_update=AT - timedelta(days=1))
    error = fails("collateral_expired", pki, collateral=make_collateral(pki, pck_crl=crl, qe_identity=qe))
    assert "2 collateral items expired" in error.detail
    assert "the PCK CRL" in error.detail and "the QE identity" in error.detail
    assert "TCB info" not in error.detail
    assert error.expected == "< " + early.isoformat().replace("+00:00", "Z")


def test_newest_valid_item_is_picked(pki: IntelTestPki) -> None:
    old = pki.tcb_info(issue_date=AT - timedelta(days=60), next_update=AT - timedelta(days=30))
    new = pki.tcb_info(issue_date=AT - timedelta(days=1), next_update=AT + timedelta(days=29))
    base = make_collateral(pki)
    collateral = dataclasses.replace(
        base,
        tcb_infos=(
            TdxCollateral.from_pcs(
                tcb_info=old.body,
                tcb_info_issuer_chain=pki.tcb_issuer_chain_pem(),
                qe_identity=pki.qe_identity().body,
                qe_identity_issuer_chain=pki.tcb_issuer_chain_pem(),
            ).tcb_infos[0],
            TdxCollateral.from_pcs(
                tcb_info=new.body,
                tcb_info_issuer_chain=pki.tcb_issuer_chain_pem(),
                qe_identity=pki.qe_identity().body,
                qe_identity_issuer_chain=pki.tcb_issuer_chain_pem(),
            ).tcb_infos[0],
        ),
    )
    verdict = verify(pki, collateral=collateral)
    assert verdict.collateral.tcb_info.issue_date == AT - timedelta(days=1)


# -- collateral content --------------------------------------------------------------------------


def test_fmspc_mismatch(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(fmspc=bytes.fromhex("00906ed50000"))
    fails("fmspc_mismatch", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_pce_id_mismatch(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(pce_id=bytes.fromhex("0100"))
    fails("pce_id_mismatch", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_tcb_info_wrong_id(pki: IntelTestPki) -> None:
    fails(
        "tcb_info_invalid", pki, collateral=make_collateral(pki, tcb_info=pki.tcb_info(id="SGX", version=3))
    )


def test_tcb_info_wrong_version(pki: IntelTestPki) -> None:
    fails("tcb_info_invalid", pki, collateral=make_collateral(pki, tcb_info=pki.tcb_info(version=2)))


def test_qe_identity_wrong_id(pki: IntelTestPki) -> None:
    fails("qe_identity_invalid", pki, collateral=make_collateral(pki, qe_identity=pki.qe_identity(id="QE")))


def test_module_identity_missing(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(tdx_module_identities=[])
    fails("tdx_module_identity_not_found", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_module_identity_for_other_version_only(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(tdx_module_identities=[tdx_module_identity("TDX_03", [module_tcb_level(3)])])
    fails("tdx_module_identity_not_found", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_module_mrsigner_mismatch(pki: IntelTestPki) -> None:
    quote = make_quote(pki, body_fields={"mr_signer_seam": b"\x01" * 48})
    fails("tdx_module_mismatch", pki, quote)


def test_module_seam_attributes_mismatch(pki: IntelTestPki) -> None:
    quote = make_quote(pki, body_fields={"seam_attributes": b"\x01" + bytes(7)})
    fails("tdx_module_mismatch", pki, quote)


def test_module_seam_attribute_hidden_by_mask_is_still_a_mismatch(pki: IntelTestPki) -> None:
    # Intel's QVL (4.1.2.4.11.2) wants every SEAMATTRIBUTES byte zero and applies no mask
    quote = make_quote(pki, body_fields={"seam_attributes": b"\x01" + bytes(7)})
    mods = [
        tdx_module_identity(
            "TDX_01", [module_tcb_level(4)], attributes_mask=bytes.fromhex("FEFFFFFFFFFFFFFF")
        )
    ]
    error = fails(
        "tdx_module_mismatch",
        pki,
        quote,
        make_collateral(pki, tcb_info=pki.tcb_info(tdx_module_identities=mods)),
    )
    assert error.actual == b"\x01" + bytes(7)
    assert error.expected == bytes(8)


def test_module_identity_with_attributes_matches_no_quote(pki: IntelTestPki) -> None:
    attributes = b"\x01" + bytes(7)
    quote = make_quote(pki, body_fields={"seam_attributes": attributes})
    mods = [tdx_module_identity("TDX_01", [module_tcb_level(4)], attributes=attributes)]
    fails(
        "tdx_module_mismatch",
        pki,
        quote,
        make_collateral(pki, tcb_info=pki.tcb_info(tdx_module_identities=mods)),
    )


@pytest.mark.parametrize("status", ["SWHardeningNeeded", "ConfigurationNeeded", "NotSupported"])
def test_module_level_status_qvl_does_not_recognise(pki: IntelTestPki, status: str) -> None:
    # before: converged as if UpToDate, so the quote passed the default policy
    mods = [tdx_module_identity("TDX_01", [module_tcb_level(4, tcb_status=status)])]
    error = fails(
        "tcb_status_unrecognized",
        pki,
        collateral=make_collateral(pki, tcb_info=pki.tcb_info(tdx_module_identities=mods)),
    )
    assert error.actual == status


def test_module_version_zero_uses_tdx_module(pki: IntelTestPki) -> None:
    quote = make_quote(pki, body_fields={"tee_tcb_svn": bytes.fromhex("05000200000000000000000000000000")})
    verdict = verify(pki, quote)
    assert verdict.tdx_module_identity is None
    assert verdict.module_status is None
    assert verdict.status is TcbStatus.UpToDate


def test_module_version_zero_checks_tdx_components_0_and_1(pki: IntelTestPki) -> None:
    quote = make_quote(pki, body_fields={"tee_tcb_svn": bytes.fromhex("04000200000000000000000000000000")})
    fails("tcb_not_supported", pki, quote)


# -- QE report -----------------------------------------------------------------------------------


def test_attestation_key_binding_broken(pki: IntelTestPki) -> None:
    fails("attestation_key_binding_invalid", pki, make_quote(pki, qe_report_data=bytes(64)))


def test_attestation_key_binding_upper_half_must_be_zero(pki: IntelTestPki) -> None:
    from ccverify.verifier.testing.tdx_builder import qe_report_data_for, raw_public_key

    att = derive_ec_key(b"att", "key", ec.SECP256R1())
    binding = qe_report_data_for(raw_public_key(att), bytes(range(32)))[:32] + b"\x01" * 32
    fails(
        "attestation_key_binding_invalid", pki, make_quote(pki, attestation_key=att, qe_report_data=binding)
    )


@pytest.mark.parametrize(
    ("report_misc_select", "miscselect", "mask", "accepted"),
    [
        # the identity's hex is of the report's bytes; MISCSELECT is a little-endian u32
        (0x00000001, "01000000", "FFFFFFFF", True),
        (0x01000000, "01000000", "FFFFFFFF", False),
        (0x01000000, "00000000", "000000FF", False),
        (0x01000000, "00000000", "FFFFFF00", True),
        (0x00000100, "00010000", "00FF0000", True),
    ],
)
def test_qe_miscselect_in_report_byte_order(
    pki: IntelTestPki, report_misc_select: int, miscselect: str, mask: str, accepted: bool
) -> None:
    quote = make_quote(pki, qe_report=default_qe_report(misc_select=report_misc_select))
    collateral = make_collateral(
        pki, qe_identity=pki.qe_identity(miscselect=miscselect, miscselect_mask=mask)
    )
    if accepted:
        assert verify(pki, quote, collateral).status is TcbStatus.UpToDate
    else:
        fails("qe_miscselect_mismatch", pki, quote, collateral)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("mrsigner", "00" * 32, "qe_mrsigner_mismatch"),
        ("isvprodid", 3, "qe_isvprodid_mismatch"),
        ("miscselect", "00000001", "qe_miscselect_mismatch"),
        ("attributes", "01" + "00" * 15, "qe_attributes_mismatch"),
    ],
)
def test_qe_identity_mismatch(pki: IntelTestPki, field: str, value: Any, code: str) -> None:
    fails(code, pki, collateral=make_collateral(pki, qe_identity=pki.qe_identity(**{field: value})))


def test_qe_vendor_id(pki: IntelTestPki) -> None:
    fails("unsupported_qe_vendor", pki, make_quote(pki, qe_vendor_id=bytes(16)))


# -- TCB status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
    ],
)
def test_every_platform_status(pki: IntelTestPki, status: str) -> None:
    tcb = pki.tcb_info(tcb_levels=levels(status, advisory_ids=["INTEL-SA-00001"]))
    verdict = verify(pki, collateral=make_collateral(pki, tcb_info=tcb))
    assert verdict.status is TcbStatus(status)
    assert verdict.platform_status is TcbStatus(status)
    assert verdict.advisory_ids == ("INTEL-SA-00001",)
    if status == "UpToDate":
        validate_tdx(verdict)
    else:
        with pytest.raises(PolicyError) as info:
            validate_tdx(verdict)
        assert info.value.code == ("revoked" if status == "Revoked" else "tcb_status_not_accepted")


def test_levels_are_walked_in_order(pki: IntelTestPki) -> None:
    high = tuple(c + 1 if i == 0 else c for i, c in enumerate(DEFAULT_SGX_COMPONENTS))
    tcb = pki.tcb_info(
        tcb_levels=[
            tcb_level(high, DEFAULT_PCESVN, TDX_OK),
            tcb_level(
                SGX_OK, DEFAULT_PCESVN, TDX_OK, tcb_status="SWHardeningNeeded", advisory_ids=["INTEL-SA-1"]
            ),
            tcb_level(SGX_OK, 5, TDX_OK, tcb_status="OutOfDate"),
        ]
    )
    verdict = verify(pki, collateral=make_collateral(pki, tcb_info=tcb))
    assert verdict.status is TcbStatus.SWHardeningNeeded
    assert verdict.advisory_ids == ("INTEL-SA-1",)


def test_pcesvn_too_low_falls_to_lower_level(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(
        tcb_levels=[
            tcb_level(SGX_OK, DEFAULT_PCESVN + 1, TDX_OK),
            tcb_level(SGX_OK, DEFAULT_PCESVN, TDX_OK, tcb_status="OutOfDate"),
        ]
    )
    assert verify(pki, collateral=make_collateral(pki, tcb_info=tcb)).status is TcbStatus.OutOfDate


def test_no_level_matches(pki: IntelTestPki) -> None:
    high = tuple(c + 1 for c in DEFAULT_SGX_COMPONENTS)
    tcb = pki.tcb_info(tcb_levels=[tcb_level(high, DEFAULT_PCESVN, TDX_OK)])
    fails("tcb_not_supported", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_no_level_matches_tdx_components(pki: IntelTestPki) -> None:
    tdx_high = (5, 0, 9) + (0,) * 13
    tcb = pki.tcb_info(tcb_levels=[tcb_level(SGX_OK, DEFAULT_PCESVN, tdx_high)])
    fails("tcb_not_supported", pki, collateral=make_collateral(pki, tcb_info=tcb))


def test_module_components_skipped_when_module_has_identity(pki: IntelTestPki) -> None:
    # TDX comps 0 and 1 far above the quote's: ignored because TEE_TCB_SVN[1] = 1
    tcb = pki.tcb_info(tcb_levels=[tcb_level(SGX_OK, DEFAULT_PCESVN, (99, 99, 2) + (0,) * 13)])
    assert verify(pki, collateral=make_collateral(pki, tcb_info=tcb)).status is TcbStatus.UpToDate


def module_identities(status: str, advisories: Sequence[str] | None = None) -> list[dict[str, Any]]:
    return [tdx_module_identity("TDX_01", [module_tcb_level(6, tcb_status=status, advisory_ids=advisories)])]


@pytest.mark.parametrize(
    ("platform", "module", "expected"),
    [
        ("UpToDate", "OutOfDate", "OutOfDate"),
        ("SWHardeningNeeded", "OutOfDate", "OutOfDate"),
        ("ConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"),
        ("ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"),
        ("UpToDate", "Revoked", "Revoked"),
        ("SWHardeningNeeded", "UpToDate", "SWHardeningNeeded"),
    ],
)
def test_module_status_convergence(pki: IntelTestPki, platform: str, module: str, expected: str) -> None:
    tcb = pki.tcb_info(
        tcb_levels=levels(platform), tdx_module_identities=module_identities(module, ["INTEL-SA-M"])
    )
    verdict = verify(pki, collateral=make_collateral(pki, tcb_info=tcb))
    assert verdict.status is TcbStatus(expected)
    assert verdict.module_status is TcbStatus(module)
    assert verdict.advisory_ids == ("INTEL-SA-M",)


def test_module_level_not_supported(pki: IntelTestPki) -> None:
    tcb = pki.tcb_info(tdx_module_identities=[tdx_module_identity("TDX_01", [module_tcb_level(7)])])
    fails("tcb_not_supported", pki, collateral=make_collateral(pki, tcb_info=tcb))


@pytest.mark.parametrize(
    ("tcb_status", "qe_status", "expected"),
    [
        ("UpToDate", "OutOfDate", "OutOfDate"),
        ("ConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"),
        ("UpToDate", "Revoked", "Revoked"),
        ("OutOfDate", "UpToDate", "OutOfDate"),
    ],
)
def test_qe_status_convergence(pki: IntelTestPki, tcb_status: str, qe_status: str, expected: str) -> None:
    tcb = pki.tcb_info(tcb_levels=levels(tcb_status))
    qe = pki.qe_identity(tcb_levels=[qe_tcb_level(4, tcb_status=qe_status, advisory_ids=["INTEL-SA-QE"])])
    verdict = verify(pki, collateral=make_collateral(pki, tcb_info=tcb, qe_identity=qe))
    assert verdict.status is TcbStatus(expected)
    assert verdict.qe_status is TcbStatus(qe_status)
    assert "INTEL-SA-QE" in verdict.advisory_ids


def test_qe_level_not_supported(pki: IntelTestPki) -> None:
    qe = pki.qe_identity(tcb_levels=[qe_tcb_level(8)])
    fails("tcb_not_supported", pki, collateral=make_collateral(pki, qe_identity=qe))


def relaunch_collateral(pki: IntelTestPki, platform: str = "UpToDate") -> TdxCollateral:
    tcb = pki.tcb_info(
        tcb_levels=levels(platform),
        tdx_module_identities=[
            tdx_module_identity("TDX_01", [module_tcb_level(8), module_tcb_level(5, tcb_status="OutOfDate")])
        ],
    )
    return make_collateral(pki, tcb_info=tcb)


def test_td_relaunch_advised(pki: IntelTestPki) -> None:
    svn = bytes.fromhex("06010300000000000000000000000000")
    svn2 = bytes.fromhex("08010300000000000000000000000000")
    quote = make_quote(pki, version=5, body_fields={"tee_tcb_svn": svn, "tee_tcb_svn2": svn2})
    verdict = verify(pki, quote, relaunch_collateral(pki))
    assert verdict.status is TcbStatus.TDRelaunchAdvised
    assert verdict.relaunch_advised is True
    assert verdict.module_status is TcbStatus.OutOfDate


def test_td_relaunch_advised_configuration_needed(pki: IntelTestPki) -> None:
    svn = bytes.fromhex("06010300000000000000000000000000")
    svn2 = bytes.fromhex("08010300000000000000000000000000")
    quote = make_quote(pki, version=5, body_fields={"tee_tcb_svn": svn, "tee_tcb_svn2": svn2})
    verdict = verify(pki, quote, relaunch_collateral(pki, "ConfigurationNeeded"))
    assert verdict.status is TcbStatus.TDRelaunchAdvisedConfigurationNeeded


def test_no_relaunch_when_update_not_yet_loaded(pki: IntelTestPki) -> None:
    svn = bytes.fromhex("06010300000000000000000000000000")
    quote = make_quote(pki, version=5, body_fields={"tee_tcb_svn": svn, "tee_tcb_svn2": svn})
    verdict = verify(pki, quote, relaunch_collateral(pki))
    assert verdict.status is TcbStatus.OutOfDate
    assert verdict.relaunch_advised is False


@pytest.mark.parametrize("svn2", ["08030300000000000000000000000000", "08030100000000000000000000000000"])
def test_relaunch_judged_by_a_module_the_tcb_info_does_not_know(pki: IntelTestPki, svn2: str) -> None:
    # Intel's QVL checkForRelaunch: STATUS_TDX_MODULE_MISMATCH; before: no advice, OutOfDate
    svn = bytes.fromhex("06010300000000000000000000000000")
    quote = make_quote(pki, version=5, body_fields={"tee_tcb_svn": svn, "tee_tcb_svn2": bytes.fromhex(svn2)})
    error = fails("tdx_module_identity_not_found", pki, quote, relaunch_collateral(pki))
    assert error.expected == "TDX_03"


def test_no_relaunch_for_v4(pki: IntelTestPki) -> None:
    verdict = verify(pki, make_quote(pki), relaunch_collateral(pki))
    assert verdict.status is TcbStatus.OutOfDate


# -- DEBUG ---------------------------------------------------------------------------------------


def test_debug_td_verifies_but_policy_refuses(pki: IntelTestPki) -> None:
    flags = int(TdAttributes.DEBUG | TdAttributes.SEPT_VE_DISABLE).to_bytes(8, "little")
    verdict = verify(pki, make_quote(pki, body_fields={"td_attributes": flags}))
    assert verdict.debug is True
    with pytest.raises(PolicyError) as info:
        validate_tdx(verdict)
    assert info.value.code == "debug_td"


def test_pck_crl_picked_by_ca_name() -> None:
    processor = IntelTestPki(ca="processor")
    platform = IntelTestPki()
    both = dataclasses.replace(
        make_collateral(processor),
        pck_crls=(make_collateral(platform).pck_crls[0], make_collateral(processor).pck_crls[0]),
    )
    verdict = verify(processor, collateral=both)
    assert verdict.pck.ca == "processor"
    assert verdict.collateral.pck_crl is not None
    assert verdict.collateral.pck_crl.signer == "Intel SGX PCK Processor CA"


def test_pck_crl_of_the_other_ca_is_refused() -> None:
    processor = IntelTestPki(ca="processor")
    platform = IntelTestPki()
    wrong = dataclasses.replace(make_collateral(processor), pck_crls=make_collateral(platform).pck_crls)
    fails("crl_issuer_mismatch", processor, collateral=wrong)
