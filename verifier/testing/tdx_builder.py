"""Build signed TDX quotes (v4, v5 with body type 2 or 3) from field values.

Tests and the shipped example need quotes whose every signature and binding is right, and
quotes that are wrong in exactly one chosen way. The builder takes the keys and the PCK chain
from the caller (the test PKI lives elsewhere) and assembles the quote through the parser's own
dataclasses, so whatever it builds has the layout ``TdxQuote.from_bytes`` reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any, TypeVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ccverify.verifier.errors import InputError, ParseError
from ccverify.verifier.evidence.tdx_quote import (
    ECDSA_P256_KEY_TYPE,
    TDX_TEE_TYPE,
    CertificationData,
    CertificationDataType,
    EnclaveReport,
    QeReportCertificationData,
    QuoteHeader,
    QuoteSignatureData,
    TdAttributes,
    TdReport,
    TdxQuote,
)

_T = TypeVar("_T", TdReport, EnclaveReport)

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
#: MRSIGNER of Intel's TD quoting enclave (every real quote in the fixtures)
TD_QE_MRSIGNER = bytes.fromhex("dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5")
TD_QE_ATTRIBUTES = bytes.fromhex("1500000000000000e700000000000000")
TD_QE_ISVPRODID = 2
DEFAULT_QE_AUTH_DATA = bytes(range(32))
#: XFAM of a typical Sapphire Rapids TD: x87 SSE AVX AVX-512 PKRU AMX
DEFAULT_XFAM = bytes.fromhex("e702060000000000")


def raw_public_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """x||y (64 bytes), the form quotes carry the attestation key in."""
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:]


def sign_raw(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """ECDSA-P256-SHA256 as quotes carry it: r||s, 32 bytes each, big-endian.

    Nonces are derived (RFC 6979), so the same keys and fields always give the same quote: the
    shipped example can be rebuilt and compared byte for byte.
    """
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def qe_report_data_for(attestation_key_raw: bytes, qe_auth_data: bytes) -> bytes:
    """The QE's binding of the attestation key: SHA-256(key || auth data) || 32 zero bytes."""
    return hashlib.sha256(attestation_key_raw + qe_auth_data).digest() + bytes(32)


def default_td_report(*, tdx15: bool = False, **overrides: Any) -> TdReport:
    """A plausible production TD body (SEPT_VE_DISABLE, no debug); ``overrides`` replace fields."""
    attributes = int(TdAttributes.SEPT_VE_DISABLE).to_bytes(8, "little")
    report = TdReport(
        tee_tcb_svn=bytes.fromhex("03000500000000000000000000000000"),
        mr_seam=bytes([0x5E]) * 48,
        mr_signer_seam=bytes(48),
        seam_attributes=bytes(8),
        td_attributes=attributes,
        xfam=DEFAULT_XFAM,
        mr_td=bytes([0x11]) * 48,
        mr_config_id=bytes(48),
        mr_owner=bytes(48),
        mr_owner_config=bytes(48),
        rtmrs=(bytes([0x20]) * 48, bytes([0x21]) * 48, bytes([0x22]) * 48, bytes(48)),
        report_data=bytes(64),
        tee_tcb_svn2=bytes.fromhex("03000500000000000000000000000000") if tdx15 else None,
        mr_service_td=bytes(48) if tdx15 else None,
    )
    return _replace(report, overrides)


def default_qe_report(**overrides: Any) -> EnclaveReport:
    """A QE report shaped like Intel's TD_QE (its report_data is filled in by the builder)."""
    report = EnclaveReport(
        cpu_svn=bytes.fromhex("0404191b04ff00060000000000000000"),
        misc_select=0,
        reserved1=bytes(28),
        attributes=TD_QE_ATTRIBUTES,
        mr_enclave=bytes([0xE5]) * 32,
        reserved2=bytes(32),
        mr_signer=TD_QE_MRSIGNER,
        reserved3=bytes(96),
        isv_prod_id=TD_QE_ISVPRODID,
        isv_svn=7,
        reserved4=bytes(60),
        report_data=bytes(64),
    )
    return _replace(report, overrides)


def _replace(value: _T, overrides: Mapping[str, Any]) -> _T:
    """``dataclasses.replace`` that names a misspelt field as an input error."""
    try:
        return dataclasses.replace(value, **overrides)
    except TypeError as error:
        raise InputError(f"not a field of {type(value).__name__}: {error}") from None


def build_tdx_quote(
    *,
    pck_key: ec.EllipticCurvePrivateKey,
    pck_chain_pem: bytes,
    version: int = 4,
    body: TdReport | None = None,
    body_fields: Mapping[str, Any] | None = None,
    body_type: int | None = None,
    attestation_key: ec.EllipticCurvePrivateKey | None = None,
    qe_report: EnclaveReport | None = None,
    qe_auth_data: bytes = DEFAULT_QE_AUTH_DATA,
    qe_report_data: bytes | None = None,
    qe_vendor_id: bytes = INTEL_QE_VENDOR_ID,
    user_data: bytes = bytes(range(16)) + bytes(4),
    pem_trailing_nul: bool = False,
    trailing: bytes = b"",
) -> bytes:
    """A quote whose signatures and QE binding are all valid unless told otherwise.

    ``pck_chain_pem`` is leaf, intermediate, root (as the caller's PKI made them) and
    ``pck_key`` the leaf's key; it signs the QE report. ``attestation_key`` (generated when not
    given) signs the quote. ``body``/``body_fields`` set the TD report (default:
    ``default_td_report``); ``body_type`` defaults to 3 for a TD report 1.5, else 2.
    Negative cases: ``qe_report_data`` replaces the computed binding, a ``pck_key`` that is not
    the leaf's breaks the QE report signature, ``trailing`` appends unsigned bytes and
    ``pem_trailing_nul`` counts a NUL after the PEM as real quotes often do.
    """
    att_key = attestation_key or ec.generate_private_key(ec.SECP256R1())
    _require_p256(att_key, "attestation_key")
    _require_p256(pck_key, "pck_key")
    report = _td_report(version, body, body_fields, body_type)
    kind = body_type or (3 if report.is_tdx15 else 2)
    _check_body_type(version, kind, report)
    key_raw = raw_public_key(att_key)
    binding = qe_report_data if qe_report_data is not None else qe_report_data_for(key_raw, qe_auth_data)
    chain = pck_chain_pem + (b"\x00" if pem_trailing_nul else b"")
    header = QuoteHeader(version, ECDSA_P256_KEY_TYPE, TDX_TEE_TYPE, bytes(4), qe_vendor_id, user_data)
    try:
        qe_cert = _qe_certification(
            pck_key,
            dataclasses.replace(qe_report or default_qe_report(), report_data=binding),
            qe_auth_data,
            chain,
        )
        unsigned = TdxQuote(header, kind, report, QuoteSignatureData(bytes(64), key_raw, qe_cert), trailing)
        signed = dataclasses.replace(
            unsigned.signature_data, signature=sign_raw(att_key, unsigned.signed_data)
        )
        return _checked(dataclasses.replace(unsigned, signature_data=signed))
    except OverflowError as error:
        raise InputError(f"a value given to the TDX quote builder does not fit its field ({error})") from None


def _qe_certification(
    pck_key: ec.EllipticCurvePrivateKey, qe: EnclaveReport, qe_auth_data: bytes, chain: bytes
) -> QeReportCertificationData:
    """Certification data type 6: the QE report, signed by the PCK leaf key, and the chain."""
    return QeReportCertificationData(
        qe_report=qe,
        qe_report_signature=sign_raw(pck_key, qe.to_bytes()),
        qe_auth_data=qe_auth_data,
        pck_certification_data=CertificationData(CertificationDataType.PCK_CERT_CHAIN, chain),
    )


def _td_report(
    version: int, body: TdReport | None, body_fields: Mapping[str, Any] | None, body_type: int | None
) -> TdReport:
    if body is None:
        body = default_td_report(tdx15=version == 5 and body_type != 2)
    return _replace(body, body_fields or {})


def _check_body_type(version: int, kind: int, report: TdReport) -> None:
    if version not in (4, 5):
        raise InputError(f"TDX quote version must be 4 or 5, not {version}")
    if version == 4 and kind != 2:
        raise InputError("a v4 quote carries a TD report 1.0 (body type 2) only")
    if kind not in (2, 3) or (kind == 3) != report.is_tdx15:
        raise InputError(
            f"body type {kind} does not match the TD report given "
            f"({'1.5' if report.is_tdx15 else '1.0'}: body type {3 if report.is_tdx15 else 2})"
        )


def _require_p256(key: ec.EllipticCurvePrivateKey, name: str) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InputError(f"{name} must be an EC P-256 private key")


def _checked(quote: TdxQuote) -> bytes:
    """Serialize, and refuse a quote the parser would read differently (a field of the wrong size)."""
    data = quote.to_bytes()
    try:
        same = TdxQuote.from_bytes(data) == quote
    except ParseError as error:
        raise InputError(f"a field given to the TDX quote builder has the wrong size ({error})") from None
    if not same:
        raise InputError("a field given to the TDX quote builder has the wrong size")
    return data
