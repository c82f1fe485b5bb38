"""Verify a TDX quote against Intel's DCAP collateral: ``verify_tdx(quote, collateral) -> TdxVerdict``.

The algorithm is the format notes (``notes/tdx.md``) §2 (the union of Intel's QVL and
go-tdx-guest), in this order: header; PCK chain (exactly 3 certificates, CNs, issuer/subject
linkage, signatures, root pinned by its DER bytes, validity at ``at``); the PCK's SGX
extension; root CA CRL (signed by the root) and PCK CRL (signed by the intermediate, picked
by the intermediate's CN: platform or processor CA) and revocation of both certificates;
TCB info and QE identity (signer "Intel SGX TCB Signing" issued by the pinned root and not
revoked, ECDSA signature over the exact raw JSON, id/version, issueDate <= at < nextUpdate);
FMSPC and PCE-ID; TDX module identity; QE report signature (PCK key); attestation-key binding
(QE REPORTDATA = SHA-256(key || auth data) || 32 zero bytes); QE identity; quote signature;
then the TCB status (``tcb.py``). The PCK chain and the TCB signer pass one RFC 5280 profile
(``verifier/x509profile.py``), and a CRL is used only when RFC 5280 allows it.

A TCB status other than UpToDate does NOT raise: it is returned in the verdict and
acceptance is policy (``validate.py``). Failures raise ``VerificationError`` with one of:

=================================  ===========================================================
code                               meaning
=================================  ===========================================================
unsupported_quote                  not a TDX ECDSA-P256 quote v4/v5 (header fields)
unsupported_qe_vendor              QE vendor id is not Intel's
pck_chain_invalid                  PCK chain is not leaf/intermediate/root with Intel's CNs,
                                   a certificate is not v3 / ecdsa-with-SHA256 / P-256, or an
                                   issuer DN does not match its parent's subject
pck_chain_signature_invalid        a PCK chain signature does not verify
untrusted_root                     the chain (or a collateral signer) ends in a root that is
                                   not the pinned / given trust root
certificate_expired                a PCK chain certificate has expired at ``at``
certificate_not_yet_valid          a PCK chain certificate is not valid yet at ``at``
pck_extension_invalid              the PCK leaf's SGX extension is missing or malformed (any
                                   DER the decoder cannot take, whatever it raised)
basic_constraints                  a PCK CA or root without CA:TRUE, a pathLen the chain
                                   exceeds, or a PCK leaf / TCB signer that is a CA
                                   (``verifier/x509profile.py``, shared with SNP)
key_usage                          a CA's keyUsage lacks keyCertSign, a CRL issuer's cRLSign,
                                   or the PCK leaf's / TCB signer's digitalSignature (or has none)
unknown_critical_extension         a chain or signer certificate has a critical extension other
                                   than basicConstraints and keyUsage
revoked                            the PCK leaf, the PCK CA or a collateral signer is on a CRL
crl_invalid                        a CRL does not parse or has no nextUpdate
crl_unusable                       RFC 5280 forbids deciding revocation with the CRL: an unknown
                                   critical (entry) extension, a delta CRL, an indirect or
                                   reasons-partial CRL, or an IssuingDistributionPoint whose
                                   scope excludes the certificate checked against it
crl_issuer_mismatch                a CRL is not issued by the CA it must come from
crl_signature_invalid              a CRL's signature does not verify
collateral_signer_invalid          the TCB info / QE identity issuer chain is missing or its
                                   signer is not "Intel SGX TCB Signing" (P-256, v3)
tcb_info_signature_invalid         the TCB info signature does not verify
qe_identity_signature_invalid      the QE identity signature does not verify
tcb_info_invalid                   the TCB info is not TDX v3 or is malformed (not JSON, nested
                                   too deeply, a QE identity offered as TCB info...)
qe_identity_invalid                the QE identity is not TD_QE v2 or is malformed (likewise, a
                                   TCB info offered as QE identity)
collateral_expired                 a collateral item (TCB info, QE identity, CRL, signer
                                   certificate) is past its nextUpdate / notAfter at ``at``
collateral_not_yet_valid           a collateral item is not valid yet at ``at``
fmspc_mismatch                     the PCK FMSPC is not the TCB info's
pce_id_mismatch                    the PCK PCE-ID is not the TCB info's
tdx_module_identity_not_found      no tdxModule / TDX_%02X identity for the quote's module (or,
                                   judging TD relaunch, for TEE_TCB_SVN_2's module)
tdx_module_mismatch                MRSIGNERSEAM differs from the identity's mrsigner, or
                                   SEAMATTRIBUTES are not all zero and equal to its attributes
                                   (no mask applied, as Intel's QVL)
qe_report_signature_invalid        the QE report is not signed by the PCK key
attestation_key_binding_invalid    QE REPORTDATA does not bind the attestation key
attestation_key_invalid            the attestation key is not a P-256 point
qe_miscselect_mismatch             QE MISCSELECT (masked) differs from the QE identity (whose
                                   hex is of the report's little-endian bytes)
qe_attributes_mismatch             QE ATTRIBUTES (masked) differ from the QE identity
qe_mrsigner_mismatch               QE MRSIGNER differs from the QE identity
qe_isvprodid_mismatch              QE ISVPRODID differs from the QE identity
quote_signature_invalid            the quote is not signed by the attestation key
tcb_not_supported                  no TCB level matches (platform, module or QE)
tcb_status_unrecognized            the matched platform or module TCB level has a status such a
                                   level cannot have (module: UpToDate, OutOfDate, Revoked only)
=================================  ===========================================================

Unavailable collateral (no TCB info for the FMSPC, no QE identity, no CRL without
``allow_missing_crl``) raises ``CollateralError`` naming the canonical PCS URL.

Memoization (bounded, thread-safe LRUs; ``clear_caches()`` empties them all). Only results
that do not depend on time are kept, keyed by the bytes they were computed from: a PCK chain
checked against a root (with its parsed SGX extension), a collateral signer chain, a JSON
signature (with the model it was parsed into; keyed by the kind too, TCB info or QE
identity), a CRL signature, parsed TCB info / QE identity, a loaded attestation key, a QE
report signature that verified (by the PCK chain's bytes, the signature and the report: a QE
signs one report per attestation key, carried by every quote it makes), and the
platform evaluation (steps 7, 8, 11, 13-17: a function of TCB info, QE identity and the
platform's SVNs). On top, the checked collateral for one collateral content
(``TdxCollateral.content_key``: equal collateral loaded anew shares it), FMSPC, PCK CA and root
is kept with the time range [lo, hi) in which every one of its windows holds; it
is reused only inside that range (and only when each item had a single candidate). So every
validity window is still decided at ``at``, and repeated verification with warm collateral
costs the per-quote work: parse (``TdxQuote.from_bytes``), quote signature, binding hash,
look-ups (and the QE report signature, the first time a QE's report is seen).

Concurrency: ``verify_tdx`` may run in many threads at once over shared collateral; every memo
is locked and holds only time-independent results keyed by content, so the verdicts are those
of one verification at a time (``tests/unit/test_concurrency.py``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier import x509load
from ccverify.verifier._frozen import positional
from ccverify.verifier.errors import Code, CollateralError, InputError, VerificationError
from ccverify.verifier.evidence.tdx_quote import (
    TdxQuote,
)
from ccverify.verifier.inputs import Source, read_source, refuse
from ccverify.verifier.policy import UnsafeNoPolicy, choose_policy
from ccverify.verifier.roots import INTEL_SGX_ROOT_CA_SHA256, RootInfo, intel_sgx_root_ca
from ccverify.verifier.tdx.collateral import (
    PLATFORM_CA_CN,
    PROCESSOR_CA_CN,
    ROOT_CA_CRL_URL,
    SIGNER_PROFILE,
    TCB_SIGNING_CN,
    CrlCheck,
    CrlItem,
    ExpiryCheck,
    QeIdentity,
    SignedJson,
    SignerCheck,
    TcbInfo,
    TcbStatus,
    TdxCollateral,
    check_cert_time,
    check_issued_by,
    check_profile,
    common_name,
    crl_issuer_cn,
    der,
    json_signature_ok,
    parse_crl,
    parse_qe_identity,
    parse_tcb_info,
    pck_crl_url,
    peek_json,
    qe_identity_url,
    tcb_info_url,
    verified_crl,
    verified_signer,
    verify_raw_signature,
)
from ccverify.verifier.tdx.pck import PckExtensions, pck_extensions
from ccverify.verifier.tdx.tcb import (
    TcbEvaluation,
    check_module_identity,
    check_qe_identity,
    evaluate_tcb,
    select_module_identity,
)
from ccverify.verifier.timeutil import iso_to_utc, resolve_time
from ccverify.verifier.x509profile import check_chain, distribution_points

if TYPE_CHECKING:
    from ccverify.verifier.tdx.validate import TdxPolicy

__all__ = [
    "INTEL_QE_VENDOR_ID",
    "CollateralItemInfo",
    "CollateralSummary",
    "PckInfo",
    "RootInfo",
    "TcbStatus",
    "TdxCollateral",
    "TdxVerdict",
    "clear_caches",
    "verify_tdx",
]

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
PCK_LEAF_CN = "Intel SGX PCK Certificate"

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A small thread-safe LRU map (results of time-independent checks, keyed by content)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# -- verdict ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PckInfo:
    """The PCK leaf certificate that certified the quoting enclave, as a result reports it."""

    ca: Literal["platform", "processor"]
    subject: str
    issuer: str
    serial: str  # hex
    not_before: datetime
    not_after: datetime
    extensions: PckExtensions


@dataclass(frozen=True)
class CollateralItemInfo:
    """One collateral item used: where it came from and its validity window."""

    source: str
    issue_date: datetime
    next_update: datetime
    version: int | None = None
    tcb_evaluation_data_number: int | None = None
    signer: str | None = None


@dataclass(frozen=True)
class CollateralSummary:
    """Which collateral a verification used (from where, which items, how fresh), for the result."""

    origin: str
    tcb_info: CollateralItemInfo
    qe_identity: CollateralItemInfo
    pck_crl: CollateralItemInfo | None
    root_ca_crl: CollateralItemInfo | None
    #: False only when the caller allowed verification without CRLs and none was given
    revocation_checked: bool
    #: the lower of the TCB info's and the QE identity's tcbEvaluationDataNumber
    tcb_evaluation_data_number: int


@dataclass(frozen=True, slots=True)
class TdxVerdict:
    """A quote whose signatures, chain and collateral verified, with its TCB status."""

    quote: TdxQuote
    status: TcbStatus
    platform_status: TcbStatus
    sgx_status: TcbStatus
    module_status: TcbStatus | None
    qe_status: TcbStatus
    advisory_ids: tuple[str, ...]
    tcb_date: datetime
    tcb_evaluation_data_number: int
    fmspc: bytes
    pce_id: bytes
    tdx_module_identity: str | None
    relaunch_advised: bool
    pck: PckInfo
    root: RootInfo
    collateral: CollateralSummary
    earliest_next_update: datetime
    at: datetime
    #: the policy applied: "default", "custom" or "UNSAFE_NO_POLICY" (none: the caller's job)
    policy: str

    @property
    def debug(self) -> bool:
        return self.quote.body.debug


#: one per verification: skips frozen __init__'s per-field cost (``_frozen.positional``); called
#: with keywords, which ``make`` takes as ``__init__`` does, so no call depends on field order
_make_verdict = positional(TdxVerdict)


# -- trust root ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Root:
    """A trusted root certificate, parsed once, with its DER and what a result says of it."""

    cert: x509.Certificate = field(repr=False)
    der: bytes = field(repr=False)
    info: RootInfo


_ROOTS: _Lru[bytes, _Root] = _Lru(8)
_PRODUCTION: list[_Root] = []


def _root(trust_root: x509.Certificate | Source | None) -> _Root:
    if trust_root is None:
        if not _PRODUCTION:
            _PRODUCTION.append(_make_root(intel_sgx_root_ca()))
        return _PRODUCTION[0]
    if isinstance(trust_root, x509.Certificate):
        return _make_root(trust_root)
    data, _ = read_source(trust_root, "certificate", "trust_root", "verify_tdx")
    cached = _ROOTS.get(data)
    if cached is not None:
        return cached
    try:
        cert = x509load.certificate(data)
    except ValueError:
        raise InputError("trust root: not a PEM or DER X.509 certificate") from None
    root = _make_root(cert)
    _ROOTS.put(data, root)
    return root


def _make_root(cert: x509.Certificate) -> _Root:
    cert_der = der(cert)
    digest = hashlib.sha256(cert_der).hexdigest()
    info = RootInfo.of(cert, production=digest == INTEL_SGX_ROOT_CA_SHA256)
    return _Root(cert, cert_der, info)


# -- PCK chain ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PckChain:
    """A quote's PCK certificate chain, checked up to the intermediate, with what the
    verification needs of it later (the leaf's key, its SGX extension, the chain's window)."""

    leaf: x509.Certificate
    intermediate: x509.Certificate
    key: ec.EllipticCurvePublicKey
    ext: PckExtensions
    info: PckInfo
    not_before: datetime  # latest notBefore of the three
    not_after: datetime  # earliest notAfter of the three
    intermediate_der: bytes
    ca_cn: str
    leaf_serial: int
    intermediate_serial: int
    #: cRLDistributionPoints of the leaf and the CA (held to a CRL's IssuingDistributionPoint)
    leaf_points: frozenset[str] | None = None
    intermediate_points: frozenset[str] | None = None


_PCK_CHAINS: _Lru[tuple[bytes, bytes], _PckChain] = _Lru(256)


def _pck_chain(quote: TdxQuote, root: _Root) -> _PckChain:
    key = (quote.pck_certification_data.data, root.der)  # as carried: no copy to strip NULs
    hit = _PCK_CHAINS.get(key)
    if hit is not None:
        return hit
    chain = _check_pck_chain(quote.pck_chain_certificates(), root)
    _PCK_CHAINS.put(key, chain)
    return chain


def _check_pck_chain(certs: list[x509.Certificate], root: _Root) -> _PckChain:
    code = Code.PCK_CHAIN_INVALID
    if len(certs) != 3:
        raise VerificationError(
            code,
            "the PCK certificate chain must hold exactly 3 certificates (leaf, CA, root)",
            expected=3,
            actual=len(certs),
        )
    if certs[0].subject == certs[0].issuer and certs[2].subject != certs[2].issuer:
        certs = certs[::-1]  # root first (Intel's synthetic QVL sample): same chain, other order
    leaf, ca, chain_root = certs
    leaf_cn = common_name(leaf.subject)
    if leaf_cn != PCK_LEAF_CN:
        raise VerificationError(code, "unexpected PCK leaf certificate", expected=PCK_LEAF_CN, actual=leaf_cn)
    ca_cn = common_name(ca.subject)
    if ca_cn not in (PLATFORM_CA_CN, PROCESSOR_CA_CN):
        raise VerificationError(
            code,
            "unexpected PCK CA certificate",
            expected=f"{PLATFORM_CA_CN} or {PROCESSOR_CA_CN}",
            actual=ca_cn,
        )
    chain_root_der = der(chain_root)
    if chain_root_der != root.der:
        raise VerificationError(
            Code.UNTRUSTED_ROOT,
            "the PCK chain's root is not the trusted root"
            + (" (Intel SGX Root CA)" if root.info.production else " (given trust root)"),
            expected=f"{root.info.subject} sha256:{root.info.sha256}",
            actual=f"{chain_root.subject.rfc4514_string()} sha256:"
            + hashlib.sha256(chain_root_der).hexdigest(),
        )
    for cert, what in ((leaf, "PCK leaf"), (ca, "PCK CA"), (chain_root, "root")):
        check_profile(cert, code, what)
    check_issued_by(leaf, ca, "PCK leaf", code=code, signature_code=Code.PCK_CHAIN_SIGNATURE_INVALID)
    check_issued_by(ca, root.cert, "PCK CA", code=code, signature_code=Code.PCK_CHAIN_SIGNATURE_INVALID)
    check_issued_by(root.cert, root.cert, "root", code=code, signature_code=Code.PCK_CHAIN_SIGNATURE_INVALID)
    # RFC 5280 profile: CA:TRUE, keyCertSign and pathLen above, a digitalSignature end entity
    # below, no critical extension left unprocessed (the one function SNP's chain uses too)
    check_chain(
        ((leaf, "PCK leaf certificate"), (ca, f"PCK CA certificate ({ca_cn})"), (root.cert, "root")),
        leaf=SIGNER_PROFILE,
    )
    ext = pck_extensions(leaf)
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):  # check_profile made sure; kept under -O
        raise VerificationError(code, "PCK leaf: public key is not ECDSA P-256")
    certs3 = (leaf, ca, root.cert)
    info = PckInfo(
        ca="platform" if ca_cn == PLATFORM_CA_CN else "processor",
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        serial=f"{leaf.serial_number:x}",
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        extensions=ext,
    )
    return _PckChain(
        leaf=leaf,
        intermediate=ca,
        key=key,
        ext=ext,
        info=info,
        not_before=max(c.not_valid_before_utc for c in certs3),
        not_after=min(c.not_valid_after_utc for c in certs3),
        intermediate_der=der(ca),
        ca_cn=ca_cn,
        leaf_serial=leaf.serial_number,
        intermediate_serial=ca.serial_number,
        leaf_points=distribution_points(leaf),
        intermediate_points=distribution_points(ca),
    )


def _check_chain_time(chain: _PckChain, root: _Root, at: datetime) -> None:
    if chain.not_before <= at <= chain.not_after:
        return
    for cert, what in (
        (chain.leaf, "PCK leaf certificate"),
        (chain.intermediate, "PCK CA certificate"),
        (root.cert, "root"),
    ):
        check_cert_time(cert, at, what)


# -- collateral selection -----------------------------------------------------------------------


def _item_window(item: SignedJson) -> tuple[datetime, datetime] | None:
    """Its validity window, read as strictly as the signed parser will (else: not a candidate)."""
    peek = peek_json(item.raw)
    issue, next_update = peek.get("issueDate"), peek.get("nextUpdate")
    if not isinstance(issue, str) or not isinstance(next_update, str):
        return None
    try:
        return iso_to_utc(issue), iso_to_utc(next_update)
    except ValueError:
        return None


def _crl_window(item: CrlItem) -> tuple[datetime, datetime] | None:
    try:
        crl = parse_crl(item.der)
    except VerificationError:
        return None
    return (crl.last_update_utc, crl.next_update_utc) if crl.next_update_utc is not None else None


_W = TypeVar("_W", SignedJson, CrlItem)


def _pick(items: list[_W], window: Callable[[_W], tuple[datetime, datetime] | None], at: datetime) -> _W:
    """The newest item valid at ``at``, else the newest (which will then fail its window)."""
    if len(items) == 1:
        return items[0]
    dated = [(w, i) for i in items if (w := window(i)) is not None]
    if not dated:
        return items[0]
    valid = [(w, i) for w, i in dated if w[0] <= at < w[1]]
    return max(valid or dated, key=lambda pair: pair[0][0])[1]


def _select_tcb_info(collateral: TdxCollateral, fmspc: bytes, at: datetime) -> SignedJson:
    url = tcb_info_url(fmspc)
    if not collateral.tcb_infos:
        raise CollateralError(
            f"no TDX TCB info for FMSPC {fmspc.hex()} in the collateral ({collateral.origin})", missing=url
        )
    matching = [
        i for i in collateral.tcb_infos if str(peek_json(i.raw).get("fmspc", "")).lower() == fmspc.hex()
    ]
    if not matching:
        if collateral.pool:
            raise CollateralError(
                f"no TDX TCB info for FMSPC {fmspc.hex()} in the collateral ({collateral.origin})",
                missing=url,
            )
        matching = [collateral.tcb_infos[0]]  # fails as fmspc_mismatch once its signature is checked
    return _pick(matching, _item_window, at)


def _select_qe_identity(collateral: TdxCollateral, at: datetime) -> SignedJson:
    if not collateral.qe_identities:
        raise CollateralError(
            f"no TD QE identity in the collateral ({collateral.origin})",
            missing=qe_identity_url(),
        )
    return _pick(list(collateral.qe_identities), _item_window, at)


# -- signed collateral checks -------------------------------------------------------------------


@dataclass(frozen=True)
class _SignedCheck:
    """A TCB info or QE identity whose signature and signing chain checked."""

    signer: SignerCheck
    model: TcbInfo | QeIdentity
    signer_subject: str
    signer_serial: int
    signer_not_before: datetime
    signer_not_after: datetime


_SignedKind = Literal["tcb_info", "qe_identity"]
#: keyed by the kind too: the same signed JSON may be offered as either kind, and each kind's
#: parser must judge it (a TCB info is never served as a QE identity's model, or vice versa)
_SIGNED: _Lru[tuple[_SignedKind, bytes, bytes, bytes, bytes], _SignedCheck] = _Lru(128)


def _check_signed(item: SignedJson, root: _Root, kind: _SignedKind) -> _SignedCheck:
    key = (kind, item.raw, item.signature, item.issuer_chain, root.der)
    hit = _SIGNED.get(key)
    if hit is not None:
        return hit
    what = "TCB info" if kind == "tcb_info" else "QE identity"
    signer = verified_signer(item.issuer_chain, root.der, TCB_SIGNING_CN, f"{what} issuer chain")
    if not json_signature_ok(item, signer):
        raise VerificationError(
            Code.TCB_INFO_SIGNATURE_INVALID if kind == "tcb_info" else Code.QE_IDENTITY_SIGNATURE_INVALID,
            f"the {what} signature does not verify over its raw JSON with the {TCB_SIGNING_CN} key "
            f"({item.source})",
        )
    model: TcbInfo | QeIdentity = (
        parse_tcb_info(item.raw) if kind == "tcb_info" else parse_qe_identity(item.raw)
    )
    cert = signer.signer
    result = _SignedCheck(
        signer,
        model,
        cert.subject.rfc4514_string(),
        cert.serial_number,
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    )
    _SIGNED.put(key, result)
    return result


def _check_signer_time_and_revocation(
    check: _SignedCheck, what: str, at: datetime, root_crl: CrlCheck | None
) -> None:
    if not check.signer_not_before <= at <= check.signer_not_after:
        check_cert_time(
            check.signer.signer, at, f"the {what} signer certificate ({TCB_SIGNING_CN})", collateral=True
        )
    if root_crl is not None and root_crl.scope is not None:
        root_crl.scope.check_covers(
            f"the {what} signer certificate", is_ca=False, points=check.signer.points
        )
    if root_crl is not None and check.signer_serial in root_crl.revoked_serials:
        raise VerificationError(
            Code.REVOKED,
            f"the {what} signer certificate (serial {check.signer.signer.serial_number:x}) "
            "is revoked by the root CA CRL",
        )


def _crl_info(item: CrlItem, check: CrlCheck) -> CollateralItemInfo:
    return CollateralItemInfo(
        source=item.source,
        issue_date=check.this_update,
        next_update=check.next_update,
        signer=check.issuer_cn,
    )


_P256 = ec.SECP256R1()
#: attestation keys by their x||y bytes (a QE signs many quotes with one key; loading checks the point)
_ATTESTATION_KEYS: _Lru[bytes, ec.EllipticCurvePublicKey] = _Lru(1024)
#: (PCK chain data, QE report signature, QE report) that verified (step 9)
_QE_REPORT_SIGNATURES: _Lru[tuple[bytes, bytes, bytes], bool] = _Lru(1024)
_PLATFORM: _Lru[tuple[object, ...], TcbEvaluation] = _Lru(512)


def _platform(
    tcb_item: SignedJson,
    qe_item: SignedJson,
    tcb_info: TcbInfo,
    qe_identity: QeIdentity,
    ext: PckExtensions,
    quote: TdxQuote,
) -> TcbEvaluation:
    """Steps 7, 8, 11 and 13-17: everything that depends only on platform values, not on the
    quote's signatures; memoized by those values (successes only)."""
    body = quote.body
    report = quote.qe_report
    key = (
        tcb_item.raw,
        qe_item.raw,
        ext.tcb.sgx_components,
        ext.tcb.pcesvn,
        ext.fmspc,
        ext.pce_id,
        body.tee_tcb_svn,
        body.tee_tcb_svn2,
        body.mr_signer_seam,
        body.seam_attributes,
        quote.body_type,
        quote.header.version,
        report.misc_select,
        report.attributes,
        report.mr_signer,
        report.isv_prod_id,
        report.isv_svn,
    )
    hit = _PLATFORM.get(key)
    if hit is not None:
        return hit
    # 7. FMSPC and PCE-ID
    if ext.fmspc != tcb_info.fmspc:
        raise VerificationError(
            Code.FMSPC_MISMATCH,
            "the PCK certificate's FMSPC is not the TCB info's",
            expected=tcb_info.fmspc,
            actual=ext.fmspc,
        )
    if ext.pce_id != tcb_info.pce_id:
        raise VerificationError(
            Code.PCE_ID_MISMATCH,
            "the PCK certificate's PCE-ID is not the TCB info's",
            expected=tcb_info.pce_id,
            actual=ext.pce_id,
        )
    # 8. TDX module identity
    module = select_module_identity(tcb_info, body.tee_tcb_svn)
    check_module_identity(module, body.mr_signer_seam, body.seam_attributes)
    # 11. QE identity
    check_qe_identity(
        qe_identity,
        misc_select=report.misc_select,
        attributes=report.attributes,
        mr_signer=report.mr_signer,
        isv_prod_id=report.isv_prod_id,
    )
    # 13-17. TCB status
    result = evaluate_tcb(
        tcb_info=tcb_info,
        qe_identity=qe_identity,
        sgx_components=ext.tcb.sgx_components,
        pcesvn=ext.tcb.pcesvn,
        tee_tcb_svn=body.tee_tcb_svn,
        tee_tcb_svn2=body.tee_tcb_svn2,
        body_type=quote.body_type,
        quote_version=quote.header.version,
        qe_isvsvn=report.isv_svn,
    )
    _PLATFORM.put(key, result)
    return result


_SUMMARIES: _Lru[tuple[object, ...], tuple[CollateralSummary, datetime]] = _Lru(64)


def _summary(
    origin: str,
    tcb_item: SignedJson,
    tcb_check: _SignedCheck,
    qe_item: SignedJson,
    qe_check: _SignedCheck,
    pck_crl: tuple[CrlItem, CrlCheck] | None,
    root_crl: tuple[CrlItem, CrlCheck] | None,
) -> tuple[CollateralSummary, datetime]:
    """The verdict's record of the collateral used and its earliest nextUpdate (memoized)."""
    key = (origin, tcb_item, qe_item, pck_crl[0] if pck_crl else None, root_crl[0] if root_crl else None)
    hit = _SUMMARIES.get(key)
    if hit is not None:
        return hit
    tcb_info, qe_identity = tcb_check.model, qe_check.model
    items = []
    for item, check, model in ((tcb_item, tcb_check, tcb_info), (qe_item, qe_check, qe_identity)):
        items.append(
            CollateralItemInfo(
                source=item.source,
                issue_date=model.issue_date,
                next_update=model.next_update,
                version=model.version,
                tcb_evaluation_data_number=model.tcb_evaluation_data_number,
                signer=check.signer_subject,
            )
        )
    pck_info = _crl_info(*pck_crl) if pck_crl else None
    root_info = _crl_info(*root_crl) if root_crl else None
    summary = CollateralSummary(
        origin=origin,
        tcb_info=items[0],
        qe_identity=items[1],
        pck_crl=pck_info,
        root_ca_crl=root_info,
        revocation_checked=pck_info is not None and root_info is not None,
        tcb_evaluation_data_number=min(
            tcb_info.tcb_evaluation_data_number, qe_identity.tcb_evaluation_data_number
        ),
    )
    dates = [
        tcb_info.next_update,
        qe_identity.next_update,
        tcb_check.signer_not_after,
        qe_check.signer_not_after,
    ]
    dates += [i.next_update for i in (pck_info, root_info) if i is not None]
    result = (summary, min(dates))
    _SUMMARIES.put(key, result)
    return result


@dataclass(frozen=True)
class _Context:
    """The collateral a quote's platform needs, checked: valid for any time in [lo, hi)."""

    reusable: bool  # one candidate per item: the same choice at any time in [lo, hi)
    lo: datetime
    hi: datetime
    tcb_item: SignedJson
    qe_item: SignedJson
    tcb_info: TcbInfo
    qe_identity: QeIdentity
    root_crl: CrlCheck | None
    pck_crl: CrlCheck | None
    summary: CollateralSummary
    earliest: datetime


#: keyed by the collateral's content (``TdxCollateral.content_key``), not by the object
_CONTEXTS: _Lru[tuple[bytes, bytes, bytes, bytes], _Context] = _Lru(64)


def _context(collateral: TdxCollateral, chain: _PckChain, root: _Root, at: datetime) -> _Context:
    key = (collateral.content_key, chain.ext.fmspc, chain.intermediate_der, root.der)
    hit = _CONTEXTS.get(key)
    if hit is not None and hit.reusable and hit.lo <= at < hit.hi:
        return hit
    ctx = _build_context(collateral, chain, root, at)
    _CONTEXTS.put(key, ctx)
    return ctx


def _build_context(collateral: TdxCollateral, chain: _PckChain, root: _Root, at: datetime) -> _Context:
    ext = chain.ext
    tcb_item = _select_tcb_info(collateral, ext.fmspc, at)
    qe_item = _select_qe_identity(collateral, at)
    ca_cn = chain.ca_cn
    root_crls = list(collateral.root_ca_crls)
    pck_crls = list(collateral.pck_crls)
    if pck_crls and (collateral.pool or len(pck_crls) > 1):
        pck_crls = [c for c in pck_crls if crl_issuer_cn(c.der) == ca_cn]
    if not collateral.allow_missing_crl:
        if not root_crls:
            raise CollateralError(
                f"no Intel SGX Root CA CRL in the collateral ({collateral.origin}); "
                "pass allow_missing_crl=True to verify without revocation checks",
                missing=ROOT_CA_CRL_URL,
            )
        if not pck_crls:
            raise CollateralError(
                f"no PCK CRL for the {ca_cn} in the collateral ({collateral.origin}); "
                "pass allow_missing_crl=True to verify without revocation checks",
                missing=pck_crl_url(chain.info.ca),
            )
    starts: list[datetime] = []
    ends: list[datetime] = []
    expiry = ExpiryCheck(at)  # every expired item named in one collateral_expired

    # 4. CRLs: root CA CRL signed by the root, PCK CRL signed by the quote's PCK CA
    root_crl: CrlCheck | None = None
    root_crl_item: tuple[CrlItem, CrlCheck] | None = None
    if root_crls:
        root_item = _pick(root_crls, _crl_window, at)
        root_crl = verified_crl(root_item.der, root.der, "root CA CRL")
        expiry.window(root_crl.this_update, root_crl.next_update, "the root CA CRL")
        if root_crl.scope is not None:
            root_crl.scope.check_covers(
                f"the {ca_cn} certificate", is_ca=True, points=chain.intermediate_points
            )
        root_crl_item = (root_item, root_crl)
        starts.append(root_crl.this_update)
        ends.append(root_crl.next_update)
    pck_crl: CrlCheck | None = None
    pck_crl_item: tuple[CrlItem, CrlCheck] | None = None
    if pck_crls:
        pck_item = _pick(pck_crls, _crl_window, at)
        pck_crl = verified_crl(pck_item.der, chain.intermediate_der, "PCK CRL")
        expiry.window(pck_crl.this_update, pck_crl.next_update, f"the PCK CRL ({ca_cn})")
        pck_crl_item = (pck_item, pck_crl)
        starts.append(pck_crl.this_update)
        ends.append(pck_crl.next_update)

    # 5-6. TCB info and QE identity: signer, signature over the raw JSON, model, windows
    tcb_check = _check_signed(tcb_item, root, "tcb_info")
    tcb_info = tcb_check.model
    if not isinstance(tcb_info, TcbInfo):  # not an assert: it must hold under python -O too
        raise VerificationError(Code.TCB_INFO_INVALID, f"the TCB info is not a TCB info ({tcb_item.source})")
    expiry.window(tcb_info.issue_date, tcb_info.next_update, "the TCB info")
    _check_signer_time_and_revocation(tcb_check, "TCB info", at, root_crl)
    qe_check = _check_signed(qe_item, root, "qe_identity")
    qe_identity = qe_check.model
    if not isinstance(qe_identity, QeIdentity):
        raise VerificationError(
            Code.QE_IDENTITY_INVALID, f"the QE identity is not a QE identity ({qe_item.source})"
        )
    expiry.window(qe_identity.issue_date, qe_identity.next_update, "the QE identity")
    expiry.raise_if_expired()
    _check_signer_time_and_revocation(qe_check, "QE identity", at, root_crl)
    starts += [
        tcb_info.issue_date,
        qe_identity.issue_date,
        tcb_check.signer_not_before,
        qe_check.signer_not_before,
    ]
    ends += [
        tcb_info.next_update,
        qe_identity.next_update,
        tcb_check.signer_not_after,
        qe_check.signer_not_after,
    ]

    summary, earliest = _summary(
        collateral.origin, tcb_item, tcb_check, qe_item, qe_check, pck_crl_item, root_crl_item
    )
    reusable = (
        len(collateral.tcb_infos) <= 1
        and len(collateral.qe_identities) <= 1
        and len(root_crls) <= 1
        and len(pck_crls) <= 1
    )
    return _Context(
        reusable=reusable,
        lo=max(starts),
        hi=min(ends),
        tcb_item=tcb_item,
        qe_item=qe_item,
        tcb_info=tcb_info,
        qe_identity=qe_identity,
        root_crl=root_crl,
        pck_crl=pck_crl,
        summary=summary,
        earliest=earliest,
    )


# -- the verification ---------------------------------------------------------------------------


def verify_tdx(
    quote: Source | TdxQuote,
    collateral: TdxCollateral | Source,
    *,
    at: datetime | str | None = None,
    trust_root: x509.Certificate | Source | None = None,
    policy: TdxPolicy | UnsafeNoPolicy | None = None,
) -> TdxVerdict:
    """Verify ``quote`` at ``at`` (default now) against ``collateral``, then apply ``policy``;
    see the module docstring.

    ``quote`` is the quote's bytes, a file (``os.PathLike``) or a parsed ``TdxQuote``;
    ``collateral`` a ``TdxCollateral``, or what ``load_collateral`` reads (a path: cache
    directory, bundle, QuoteCollateralV3; bytes: a bundle or QuoteCollateralV3 document). A
    ``str`` is refused, like any other type (``InputError``, ``verifier/inputs.py``).

    ``trust_root`` (a certificate, its PEM/DER bytes or its file) replaces the pinned Intel SGX
    Root CA (a test or example PKI); the verdict
    records which root was used and whether it is the production pin.

    ``policy`` (``validate.py``) decides whether the verified quote is acceptable: ``None`` is
    the default policy (``TdxPolicy()``: UpToDate only, no DEBUG TD, revocation checked). A
    refusal raises ``PolicyError`` (every violation, and the refused verdict as its ``verdict``).
    ``policy=UNSAFE_NO_POLICY`` skips it: the verdict (``policy == "UNSAFE_NO_POLICY"``) is then
    returned for an OutOfDate, Revoked or DEBUG platform alike, and accepting it is the caller's
    job (``validate_tdx``).
    """
    applying = choose_policy(policy, "verify_tdx", "a TdxPolicy", _policy_class)
    moment = resolve_time(at)
    # every argument's type is checked before anything is read
    if not isinstance(quote, TdxQuote | bytes | bytearray | memoryview | os.PathLike):
        raise refuse(quote, "quote", "verify_tdx", "or a TdxQuote")
    if not isinstance(collateral, TdxCollateral | bytes | bytearray | memoryview | os.PathLike):
        raise refuse(collateral, "collateral", "verify_tdx", "or a TdxCollateral")
    if trust_root is not None and not isinstance(
        trust_root, x509.Certificate | bytes | bytearray | memoryview | os.PathLike
    ):
        raise refuse(trust_root, "trust_root", "verify_tdx", "or an x509.Certificate")
    raw: bytes | None = None
    if isinstance(quote, TdxQuote):
        parsed = quote
    elif isinstance(quote, bytes):
        raw = quote
        parsed = TdxQuote.from_bytes(raw)
    else:
        raw, _ = read_source(quote, "evidence", "quote", "verify_tdx")
        parsed = TdxQuote.from_bytes(raw)
    if not isinstance(collateral, TdxCollateral):
        from ccverify.verifier.collateral.tdx_loader import load_collateral

        collateral = load_collateral(collateral)
    root = _root(trust_root)

    # 1. header
    header = parsed.header
    if header.version not in (4, 5) or header.attestation_key_type != 2 or header.tee_type != 0x81:
        raise VerificationError(
            Code.UNSUPPORTED_QUOTE,
            "not a TDX ECDSA-P256 quote",
            expected="version 4/5, key type 2, TEE type 0x81",
            actual=f"version {header.version}, key type {header.attestation_key_type}, "
            f"TEE type 0x{header.tee_type:x}",
        )
    if header.qe_vendor_id != INTEL_QE_VENDOR_ID:
        raise VerificationError(
            Code.UNSUPPORTED_QE_VENDOR,
            "the quote's QE vendor id is not Intel's",
            expected=INTEL_QE_VENDOR_ID,
            actual=header.qe_vendor_id,
        )

    # 2-3. PCK chain and its SGX extension (memoized), validity at `at`
    chain = _pck_chain(parsed, root)
    _check_chain_time(chain, root, moment)
    ext = chain.ext

    # 4-6. collateral for this quote: CRLs, TCB info, QE identity (signatures, windows; memoized)
    ctx = _context(collateral, chain, root, moment)
    if ctx.root_crl is not None and chain.intermediate_serial in ctx.root_crl.revoked_serials:
        raise VerificationError(
            Code.REVOKED,
            f"the {chain.ca_cn} certificate (serial {chain.intermediate_serial:x}) "
            "is revoked by the root CA CRL: status Revoked",
        )
    if ctx.pck_crl is not None and ctx.pck_crl.scope is not None:
        ctx.pck_crl.scope.check_covers("the PCK certificate", is_ca=False, points=chain.leaf_points)
    if ctx.pck_crl is not None and chain.leaf_serial in ctx.pck_crl.revoked_serials:
        raise VerificationError(
            Code.REVOKED,
            f"the PCK certificate (serial {chain.leaf_serial:x}) is revoked by the {chain.ca_cn} CRL: "
            "status Revoked",
        )
    tcb_info = ctx.tcb_info
    qe_identity = ctx.qe_identity

    # 9. QE report signature (PCK key): a QE signs one report per attestation key, which every
    # quote it makes carries, so a signature that verified is remembered by the exact bytes
    # (the PCK chain, which holds the key, the signature and the report)
    qe_report = parsed.qe_report
    qe_report_bytes, signed_data = parsed.signed_regions(raw)
    qe_signed = (parsed.pck_certification_data.data, parsed.qe_report_signature, qe_report_bytes)
    if _QE_REPORT_SIGNATURES.get(qe_signed) is None:
        if not verify_raw_signature(chain.key, parsed.qe_report_signature, qe_report_bytes):
            raise VerificationError(
                Code.QE_REPORT_SIGNATURE_INVALID, "the QE report signature does not verify with the PCK key"
            )
        _QE_REPORT_SIGNATURES.put(qe_signed, True)

    # 10. attestation key binding
    att_key = parsed.attestation_key
    expected_binding = hashlib.sha256(att_key + parsed.qe_auth_data).digest() + bytes(32)
    if qe_report.report_data != expected_binding:
        raise VerificationError(
            Code.ATTESTATION_KEY_BINDING_INVALID,
            "the QE report data is not SHA-256(attestation key || QE auth data) followed by 32 zero bytes",
            expected=expected_binding,
            actual=qe_report.report_data,
        )

    # 12. quote signature
    key = _ATTESTATION_KEYS.get(att_key)
    if key is None:
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(_P256, b"\x04" + att_key)
        except ValueError:
            raise VerificationError(
                Code.ATTESTATION_KEY_INVALID, "the attestation key is not a point on P-256"
            ) from None
        _ATTESTATION_KEYS.put(att_key, key)
    if not verify_raw_signature(key, parsed.signature, signed_data):
        raise VerificationError(
            Code.QUOTE_SIGNATURE_INVALID, "the quote signature does not verify with the attestation key"
        )

    # 7, 8, 11, 13-17: FMSPC/PCE-ID, module identity, QE identity, TCB status (memoized by content)
    tcb = _platform(ctx.tcb_item, ctx.qe_item, tcb_info, qe_identity, ext, parsed)
    summary = ctx.summary
    verdict: TdxVerdict = _make_verdict(
        quote=parsed,
        status=tcb.status,
        platform_status=tcb.platform_status,
        sgx_status=tcb.sgx_status,
        module_status=tcb.module_status,
        qe_status=tcb.qe_status,
        advisory_ids=tcb.advisory_ids,
        tcb_date=tcb.tcb_date,
        tcb_evaluation_data_number=summary.tcb_evaluation_data_number,
        fmspc=ext.fmspc,
        pce_id=ext.pce_id,
        tdx_module_identity=tcb.module_identity_id,
        relaunch_advised=tcb.relaunch_advised,
        pck=chain.info,
        root=root.info,
        collateral=summary,
        earliest_next_update=ctx.earliest,
        at=moment,
        policy=applying.applied,
    )
    return applying.check(verdict)


def _policy_class() -> tuple[type[TdxPolicy], Callable[[TdxVerdict, TdxPolicy | None], object]]:
    from ccverify.verifier.tdx.validate import TdxPolicy, validate_tdx

    return TdxPolicy, validate_tdx


def clear_caches() -> None:
    """Forget every memoized check (for benchmarks measuring the cold path, and tests)."""
    from ccverify.verifier.tdx import collateral as _c
    from ccverify.verifier.tdx import pck as _p

    appraisal = sys.modules.get("ccverify.verifier.appraisal")
    if appraisal is not None:  # its memoized event logs (CCELs: TDX's)
        appraisal.clear_caches()
    _PCK_CHAINS.clear()
    _PLATFORM.clear()
    _SUMMARIES.clear()
    _CONTEXTS.clear()
    _ATTESTATION_KEYS.clear()
    _QE_REPORT_SIGNATURES.clear()
    _SIGNED.clear()
    _ROOTS.clear()
    _PRODUCTION.clear()
    for func in (
        _c.verified_signer,
        _c.verified_crl,
        _c.parse_crl,
        _c.parse_tcb_info,
        _c.parse_qe_identity,
        _c._peek,
        _c._load_der_cert,
        _p._parse_cached,
    ):
        func.cache_clear()
