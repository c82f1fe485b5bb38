"""AMD SEV-SNP endorsement certificates: VCEK/VLEK extensions and the ARK -> ASK/ASVK -> VEK chain.

Chains (notes/snp.md §3.5, AMD VCEK spec #57230):

- VCEK: ``ARK-<P>`` (self-signed, pinned) -> ``SEV-<P>`` (ASK) -> ``SEV-VCEK``
- VLEK: ``ARK-<P>`` (self-signed, pinned) -> ``SEV-VLEK-<P>`` (ASVK) -> ``SEV-VLEK``

Every CA signature is RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt; the leaf key is
EC P-384. The ARK must be self-signed *and* equal (by DER bytes or by SPKI) to the pinned ARK of
the chain's product (``verifier.roots``), or to the explicit ``trust_root``; an internally
consistent chain under any other root fails with ``untrusted_root``. When no intermediate is
given, the ASK/ASVK shipped in ``verifier.roots`` is used (it is verified like any other). Roles
are told by subject CN; the root's CN is only checked for the production roots (a test root is
pinned by its bytes, not its name). Organisation names are not checked.

A KDS CRL, when given, must be issued and signed (RSA-PSS) by the ARK, be current at ``at``
(``thisUpdate <= at <= nextUpdate``) and must not list the ASK/ASVK serial.

VEK extensions (OIDs under ``1.3.6.1.4.1.3704.1``): ``.1`` structVersion, ``.2`` productName,
``.3.1`` blSPL, ``.3.2`` teeSPL, ``.3.3`` snpSPL, ``.3.4``-``.3.7`` spl_4..spl_7 (reserved; real
Turin VEKs carry .3.5-.3.7 as 0 and no .3.4), ``.3.8`` ucodeSPL, ``.3.9`` fmcSPL (Turin), ``.4``
hwID (VCEK; raw 64 or 8 bytes, or wrapped in a DER OCTET STRING: both accepted), ``.5`` csp_id
(VLEK). SPLs are DER INTEGERs of one byte (0-255; a larger value is ``certificate_extension``).

The certificate's TCB (``VekExtensions.tcb_version``, ``VerifiedChain.certificate_tcb_version``)
is the whole 64-bit TCB_VERSION, composed as go-sev-guest's ``ComposeTCBParts`` does: Milan/Genoa
byte 0 blSPL, 1 teeSPL, 2-5 spl_4..spl_7 (0 when absent), 6 snpSPL, 7 ucodeSPL; Turin byte 0
fmcSPL, 1 blSPL, 2 teeSPL, 3 snpSPL, 4-6 zero (reserved), 7 ucodeSPL. A Turin VEK carrying a
non-zero spl_4..spl_7 (``VekExtensions.reserved_spls``) has a TCB no Turin report can carry, so
verification refuses it (``tcb_mismatch``).

Chain verification is memoized by the certificates' bytes (bounded LRU): a warm call costs a
dictionary look-up plus the validity-window comparisons at ``at`` (``VerifiedChain.check_time``).

Error codes raised here (``VerificationError.code``):

========================== ================================================================
code                       meaning
========================== ================================================================
certificate_malformed      bytes are not an X.509 certificate / CRL, or not X.509 v3
certificate_name           a subject CN is not the role's (``ARK-<P>``, ``SEV-<P>``, ...)
certificate_extension      an AMD extension is missing, malformed or not allowed for the key
                           (an SPL above 255 included)
chain_role_mismatch        VCEK under an ASVK, or VLEK under an ASK
chain_issuer_mismatch      a certificate's issuer is not its parent's subject
chain_signature_algorithm  a CA signature is not RSASSA-PSS/SHA-384 or the signer not RSA
chain_signature_invalid    a CA signature does not verify
root_not_self_signed       the ARK does not verify under its own key
untrusted_root             the ARK is neither the pinned production ARK nor ``trust_root``
wrong_product_root         the ARK is the pinned ARK of another product line
product_mismatch           productName, intermediate CN and the expected product disagree
product_unknown            the product cannot be determined from the certificates
basic_constraints          a CA without ``CA:TRUE``, a pathLen the chain exceeds, or a leaf
                           that is a CA (``verifier/x509profile.py``, shared with TDX)
key_usage                  an ARK/ASK/ASVK keyUsage without keyCertSign (or none), an ARK
                           without cRLSign issuing the CRL, a VEK keyUsage (when it has one)
                           without digitalSignature
unknown_critical_extension a chain certificate has a critical extension other than
                           basicConstraints and keyUsage
leaf_key_type              the VCEK/VLEK key is not EC P-384
certificate_not_yet_valid  ``at`` is before a certificate's notBefore
certificate_expired        ``at`` is after a certificate's notAfter
crl_issuer_mismatch        the CRL is not issued by the ARK
crl_signature_invalid      the CRL signature does not verify under the ARK
crl_invalid                the CRL has no nextUpdate (it would never expire)
crl_unusable               RFC 5280 forbids deciding revocation with the CRL: an unknown
                           critical (entry) extension, a delta CRL, an indirect or
                           reasons-partial CRL, or an IssuingDistributionPoint excluding the
                           ASK/ASVK (end entities only, another distribution point)
crl_not_yet_valid          ``at`` is before the CRL's thisUpdate
crl_expired                ``at`` is after the CRL's nextUpdate
certificate_revoked        the ASK/ASVK serial is listed in the CRL
========================== ================================================================
"""

from __future__ import annotations

import enum
import hashlib
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from ccverify.verifier import roots, x509load
from ccverify.verifier.errors import Code, CollateralError, InputError, VerificationError
from ccverify.verifier.evidence.snp_report import Product, TcbParts, TcbVersion
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.roots import RootInfo
from ccverify.verifier.x509profile import LeafProfile, check_chain, crl_scope, distribution_points

AMD_OID_PREFIX = "1.3.6.1.4.1.3704.1"
OID_STRUCT_VERSION = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.1")
OID_PRODUCT_NAME = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.2")
OID_BL_SPL = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.1")
OID_TEE_SPL = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.2")
OID_SNP_SPL = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.3")
OID_SPL_4 = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.4")
OID_SPL_5 = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.5")
OID_SPL_6 = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.6")
OID_SPL_7 = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.7")
OID_UCODE_SPL = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.8")
OID_FMC_SPL = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.3.9")
OID_HW_ID = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.4")
OID_CSP_ID = x509.ObjectIdentifier(f"{AMD_OID_PREFIX}.5")

#: RSASSA-PSS parameters of every AMD CA signature
AMD_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)

_NO_JSON: dict[str, Any] = {"json": False}
_HWID_SIZES = (64, 8)
#: a VCEK/VLEK signs reports with its key; real ones carry no keyUsage (nor basicConstraints)
VEK_PROFILE = LeafProfile(key_usage=("digital_signature",), key_usage_required=False)


class VekKind(enum.Enum):
    """Which endorsement key signed: the per-chip VCEK or the CSP-provisioned VLEK."""

    VCEK = "VCEK"
    VLEK = "VLEK"

    @property
    def leaf_cn(self) -> str:
        return f"SEV-{self.value}"

    def intermediate_cn(self, product: Product) -> str:
        return f"SEV-{product.value}" if self is VekKind.VCEK else f"SEV-VLEK-{product.value}"

    @property
    def intermediate_role(self) -> str:
        return "ASK" if self is VekKind.VCEK else "ASVK"


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_certificate(data: bytes, what: str = "certificate") -> x509.Certificate:
    """One certificate from DER or PEM bytes (the first one of a PEM bundle)."""
    try:
        return x509load.certificate(data)
    except (ValueError, TypeError, IndexError) as exc:
        reason = x509load.in_words(exc)
        raise VerificationError(
            Code.CERTIFICATE_MALFORMED, f"{what} is not a DER or PEM X.509 certificate ({reason})"
        ) from None


def load_certificates(data: bytes, what: str = "certificate bundle") -> list[x509.Certificate]:
    """All certificates of a PEM bundle (or the single certificate of DER bytes)."""
    if b"-----BEGIN" not in data:
        return [load_certificate(data, what)]
    try:
        return x509load.pem_certificates(data)
    except ValueError as exc:
        raise VerificationError(
            Code.CERTIFICATE_MALFORMED, f"{what} is not a PEM certificate bundle ({x509load.in_words(exc)})"
        ) from None


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def to_der(data: bytes, what: str = "certificate") -> bytes:
    """DER bytes of a certificate given as DER or PEM."""
    if b"-----BEGIN" in data:
        return der(load_certificate(data, what))
    return bytes(data)


def load_crl(data: bytes, what: str = "CRL") -> x509.CertificateRevocationList:
    try:
        return x509load.crl(data)
    except ValueError as exc:
        raise VerificationError(
            Code.CERTIFICATE_MALFORMED, f"{what} is not a DER or PEM X.509 CRL ({x509load.in_words(exc)})"
        ) from None


def subject_cn(cert: x509.Certificate) -> str:
    try:
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ""
    if not names:
        return ""
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def serial_number(cert: x509.Certificate) -> int:
    with warnings.catch_warnings():
        # real AMD VCEKs carry serial number 0, which cryptography warns about when read
        warnings.simplefilter("ignore")
        return cert.serial_number


def der_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(der(cert)).hexdigest()


def spki_sha256(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def product_of_cn(cn: str) -> tuple[str, Product] | None:
    """``(role, product)`` for an AMD CA CN (``ARK-<P>``, ``SEV-<P>``, ``SEV-VLEK-<P>``)."""
    for prefix, role in (("ARK-", "ARK"), ("SEV-VLEK-", "ASVK"), ("SEV-", "ASK")):
        if cn.startswith(prefix):
            rest = cn[len(prefix) :]
            try:
                return role, Product.from_name(rest)
            except InputError:
                return None
    return None


# --------------------------------------------------------------------------------------------
# Extensions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VekExtensions:
    """The AMD extensions of a VCEK or VLEK certificate (None where absent)."""

    struct_version: int | None
    product_name: str | None
    bl_spl: int | None
    tee_spl: int | None
    snp_spl: int | None
    spl_4: int | None
    spl_5: int | None
    spl_6: int | None
    spl_7: int | None
    ucode_spl: int | None
    fmc_spl: int | None
    hw_id: bytes | None
    csp_id: str | None

    @property
    def product(self) -> Product | None:
        if self.product_name is None:
            return None
        try:
            return Product.from_name(self.product_name)
        except InputError:
            return None

    def tcb_parts(self, product: Product) -> TcbParts:
        """The certificate's TCB in the layout of ``product`` (Turin includes fmc)."""
        missing = [
            name for name in ("bl_spl", "tee_spl", "snp_spl", "ucode_spl") if getattr(self, name) is None
        ]
        if product.uses_fmc and self.fmc_spl is None:
            missing.append("fmc_spl")
        if missing:
            raise VerificationError(
                Code.CERTIFICATE_EXTENSION,
                f"the endorsement certificate lacks the TCB extension(s) {', '.join(missing)}",
            )
        assert self.bl_spl is not None and self.tee_spl is not None
        assert self.snp_spl is not None and self.ucode_spl is not None
        return TcbParts(
            bl_spl=self.bl_spl,
            tee_spl=self.tee_spl,
            snp_spl=self.snp_spl,
            ucode_spl=self.ucode_spl,
            fmc_spl=self.fmc_spl if product.uses_fmc else None,
        )

    @property
    def reserved_spls(self) -> dict[str, int]:
        """The non-zero reserved SPLs (spl_4..spl_7) the certificate carries, by name."""
        return {
            name: value
            for name in ("spl_4", "spl_5", "spl_6", "spl_7")
            if (value := getattr(self, name)) is not None and value != 0
        }

    def tcb_version(self, product: Product) -> TcbVersion:
        """The certificate's whole TCB_VERSION in ``product``'s layout (go-sev-guest
        ``ComposeTCBParts``): Milan/Genoa put spl_4..spl_7 (0 when absent) in bytes 2-5; Turin has
        fmcSPL in byte 0 and bytes 4-6 zero (its spl_4..spl_7 have no place: ``reserved_spls``)."""
        parts = self.tcb_parts(product)  # raises when an SPL is missing
        spls = {
            "bl_spl": parts.bl_spl,
            "tee_spl": parts.tee_spl,
            "snp_spl": parts.snp_spl,
            "ucode_spl": parts.ucode_spl,
            "fmc_spl": parts.fmc_spl or 0,
            "spl_4": self.spl_4 or 0,
            "spl_5": self.spl_5 or 0,
            "spl_6": self.spl_6 or 0,
            "spl_7": self.spl_7 or 0,
        }
        large = [f"{name}={value}" for name, value in spls.items() if value > 0xFF]
        if large:
            raise VerificationError(
                Code.CERTIFICATE_EXTENSION,
                f"the endorsement certificate's SPLs are one byte each, got {', '.join(large)}",
                expected="0-255",
                actual=", ".join(large),
            )
        raw = TcbVersion.from_parts(parts, product).raw
        if not product.uses_fmc:  # Milan/Genoa's reserved bytes 2-5 carry spl_4..spl_7
            raw |= sum(spls[f"spl_{n}"] << (8 * (n - 2)) for n in (4, 5, 6, 7))
        return TcbVersion(raw)


def _der_tlv(data: bytes, what: str) -> tuple[int, bytes]:
    """``(tag, content)`` of exactly one DER TLV."""
    if len(data) < 2:
        raise ValueError(f"{what}: {len(data)} bytes is too short for DER")
    tag, first = data[0], data[1]
    if first < 0x80:
        length, start = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            raise ValueError(f"{what}: bad DER length")
        length, start = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    if start + length != len(data):
        raise ValueError(f"{what}: DER length {length} does not match the {len(data) - start} bytes present")
    return tag, data[start:]


def _der_int(data: bytes, what: str) -> int:
    tag, content = _der_tlv(data, what)
    if tag != 0x02 or not content:
        raise ValueError(f"{what}: not a DER INTEGER")
    value = int.from_bytes(content, "big", signed=True)
    if value < 0:
        raise ValueError(f"{what}: negative value {value}")
    return value


def _der_string(data: bytes, what: str) -> str:
    tag, content = _der_tlv(data, what)
    if tag not in (0x16, 0x0C, 0x13):  # IA5String, UTF8String, PrintableString
        raise ValueError(f"{what}: not a DER string (tag 0x{tag:02x})")
    return content.decode("utf-8")


def _hw_id(data: bytes) -> bytes:
    """hwID as raw bytes: raw 64/8 bytes, or those bytes in a DER OCTET STRING."""
    if len(data) in _HWID_SIZES:
        return data
    tag, content = _der_tlv(data, "hwID")
    if tag != 0x04 or len(content) not in _HWID_SIZES:
        raise ValueError(f"hwID: {len(data)} bytes are neither 64/8 raw bytes nor an OCTET STRING of them")
    return content


def parse_vek_extensions(cert: x509.Certificate) -> VekExtensions:
    """Decode the AMD extensions of ``cert``; malformed values raise ``certificate_extension``."""
    raw: dict[str, bytes] = {}
    for ext in cert.extensions:
        value = ext.value
        if isinstance(value, x509.UnrecognizedExtension) and ext.oid.dotted_string.startswith(AMD_OID_PREFIX):
            raw[ext.oid.dotted_string] = value.value

    def integer(oid: x509.ObjectIdentifier, name: str) -> int | None:
        data = raw.get(oid.dotted_string)
        return None if data is None else _der_int(data, name)

    def text(oid: x509.ObjectIdentifier, name: str) -> str | None:
        data = raw.get(oid.dotted_string)
        return None if data is None else _der_string(data, name)

    try:
        hw = raw.get(OID_HW_ID.dotted_string)
        return VekExtensions(
            struct_version=integer(OID_STRUCT_VERSION, "structVersion"),
            product_name=text(OID_PRODUCT_NAME, "productName"),
            bl_spl=integer(OID_BL_SPL, "blSPL"),
            tee_spl=integer(OID_TEE_SPL, "teeSPL"),
            snp_spl=integer(OID_SNP_SPL, "snpSPL"),
            spl_4=integer(OID_SPL_4, "spl_4"),
            spl_5=integer(OID_SPL_5, "spl_5"),
            spl_6=integer(OID_SPL_6, "spl_6"),
            spl_7=integer(OID_SPL_7, "spl_7"),
            ucode_spl=integer(OID_UCODE_SPL, "ucodeSPL"),
            fmc_spl=integer(OID_FMC_SPL, "fmcSPL"),
            hw_id=None if hw is None else _hw_id(hw),
            csp_id=text(OID_CSP_ID, "csp_id"),
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError(
            Code.CERTIFICATE_EXTENSION,
            f"{subject_cn(cert) or 'certificate'}: malformed AMD extension ({exc})",
        ) from None


# --------------------------------------------------------------------------------------------
# Verified chain
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertSummary:
    """One certificate of a verified chain."""

    role: str
    subject: str
    serial: int
    sha256: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class CrlInfo:
    """The KDS CRL that was checked (issued and signed by the ARK)."""

    sha256: str
    this_update: datetime
    next_update: datetime | None
    revoked_serials: int
    checked_serial: int


@dataclass(frozen=True)
class VerifiedChain:
    """A VCEK/VLEK chain whose signatures, names and extensions verified (time not yet)."""

    kind: VekKind
    product: Product
    product_source: str
    extensions: VekExtensions
    root: RootInfo
    certificates: tuple[CertSummary, ...]
    crl: CrlInfo | None
    #: the leaf's TCB in the product's layout
    certificate_tcb: TcbParts
    #: the leaf's whole TCB_VERSION (``VekExtensions.tcb_version``)
    certificate_tcb_version: TcbVersion
    public_key: ec.EllipticCurvePublicKey = field(repr=False, compare=False, metadata=_NO_JSON)

    @property
    def leaf(self) -> CertSummary:
        return self.certificates[-1]

    def check_time(self, at: datetime) -> None:
        """Every certificate (and the CRL) valid at ``at``."""
        for cert in self.certificates:
            if at < cert.not_before:
                raise VerificationError(
                    Code.CERTIFICATE_NOT_YET_VALID,
                    f"{cert.role} {cert.subject!r} is not valid before {iso8601(cert.not_before)}; "
                    f"verification time is {iso8601(at)}",
                    expected=f">= {iso8601(cert.not_before)}",
                    actual=iso8601(at),
                )
            if at > cert.not_after:
                raise VerificationError(
                    Code.CERTIFICATE_EXPIRED,
                    f"{cert.role} {cert.subject!r} expired at {iso8601(cert.not_after)}; "
                    f"verification time is {iso8601(at)}",
                    expected=f"<= {iso8601(cert.not_after)}",
                    actual=iso8601(at),
                )
        crl = self.crl
        if crl is not None:
            if at < crl.this_update:
                raise VerificationError(
                    Code.CRL_NOT_YET_VALID,
                    f"the CRL's thisUpdate {iso8601(crl.this_update)} is after the verification time",
                    expected=f">= {iso8601(crl.this_update)}",
                    actual=iso8601(at),
                )
            # as for TDX collateral: valid while thisUpdate <= at < nextUpdate
            if crl.next_update is not None and at >= crl.next_update:
                raise VerificationError(
                    Code.CRL_EXPIRED,
                    f"the CRL's nextUpdate {iso8601(crl.next_update)} has passed; fetch a current CRL",
                    expected=f"< {iso8601(crl.next_update)}",
                    actual=iso8601(at),
                )


def _summary(cert: x509.Certificate, role: str) -> CertSummary:
    return CertSummary(
        role=role,
        subject=cert.subject.rfc4514_string(),
        serial=serial_number(cert),
        sha256=der_sha256(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def _check_pss(child: x509.Certificate, parent: x509.Certificate, what: str) -> None:
    """``parent`` signed ``child`` with RSASSA-PSS SHA-384 (AMD's parameters)."""
    if child.signature_algorithm_oid != SignatureAlgorithmOID.RSASSA_PSS or not isinstance(
        _hash_of(child), hashes.SHA384
    ):
        raise VerificationError(
            Code.CHAIN_SIGNATURE_ALGORITHM,
            f"{what}: the signature algorithm must be RSASSA-PSS with SHA-384",
            expected="rsassaPss/sha384",
            actual=child.signature_algorithm_oid.dotted_string,
        )
    key = parent.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise VerificationError(
            Code.CHAIN_SIGNATURE_ALGORITHM, f"{what}: the signer's key is not RSA ({_key_kind(key)})"
        )
    try:
        key.verify(child.signature, child.tbs_certificate_bytes, AMD_PSS, hashes.SHA384())
    except InvalidSignature:
        raise VerificationError(
            Code.CHAIN_SIGNATURE_INVALID, f"{what}: the RSA-PSS signature does not verify"
        ) from None


def _hash_of(cert: x509.Certificate) -> hashes.HashAlgorithm | None:
    try:
        return cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None


def _require_v3(cert: x509.Certificate, role: str) -> None:
    if cert.version is not x509.Version.v3:
        raise VerificationError(
            Code.CERTIFICATE_MALFORMED, f"{role} {subject_cn(cert)!r} is not an X.509 v3 certificate"
        )


def _same_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    return der(a) == der(b) or spki_sha256(a) == spki_sha256(b)


def _pinned_product(cert: x509.Certificate) -> Product | None:
    """The product whose pinned production ARK ``cert`` is (same bytes or same key), else None."""
    for product in Product:
        if _same_key(cert, roots.amd_ark(product.value)):
            return product
    return None


def verify_vek_chain(
    vek: bytes,
    intermediate: bytes | None = None,
    ark: bytes | None = None,
    *,
    product: Product | None = None,
    trust_root: bytes | None = None,
    crl: bytes | None = None,
) -> VerifiedChain:
    """Verify a VCEK/VLEK (DER) up to the pinned ARK (or ``trust_root``); memoized by bytes.

    ``intermediate`` is the ASK/ASVK and ``ark`` the ARK offered with the evidence (DER); when
    absent the shipped ASK/ASVK and the pinned ARK are used (a ``trust_root`` chain needs its
    intermediate). ``product`` is the product expected from elsewhere (report CPUID, caller):
    any disagreement with the certificates is ``product_mismatch``. Time is not checked here:
    call ``check_time(at)`` on the result.
    """
    key = (
        bytes(vek),
        _opt_bytes(intermediate),
        _opt_bytes(ark),
        product,
        _opt_bytes(trust_root),
        _opt_bytes(crl),
    )
    return _MEMO.get(key)


def _opt_bytes(data: bytes | None) -> bytes | None:
    return None if data is None else bytes(data)


_MemoKey = tuple[bytes, bytes | None, bytes | None, Product | None, bytes | None, bytes | None]


class _ChainMemo:
    """A bounded, thread-safe LRU of verified chains (failures are not cached)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[_MemoKey, VerifiedChain] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _MemoKey) -> VerifiedChain:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        try:
            result = _verify_chain(*key)
        except (ValueError, UnsupportedAlgorithm) as exc:
            # cryptography parses extensions and keys lazily: a duplicate extension or an
            # unsupported key surfaces here
            raise VerificationError(
                Code.CERTIFICATE_MALFORMED, f"a certificate cannot be used: {exc}"
            ) from None
        with self._lock:
            self._items[key] = result
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_MEMO = _ChainMemo()


def clear_chain_memo() -> None:
    """Forget every memoized chain (tests and benchmarks of the cold path)."""
    _MEMO.clear()


def _leaf_kind(cert: x509.Certificate) -> VekKind:
    cn = subject_cn(cert)
    for kind in VekKind:
        if cn == kind.leaf_cn:
            return kind
    raise VerificationError(
        Code.CERTIFICATE_NAME,
        "the endorsement certificate's subject CN must be SEV-VCEK or SEV-VLEK",
        expected="SEV-VCEK or SEV-VLEK",
        actual=cn,
    )


def _verify_chain(
    vek_der: bytes,
    intermediate_der: bytes | None,
    ark_der: bytes | None,
    expected: Product | None,
    trust_root_der: bytes | None,
    crl_der: bytes | None,
) -> VerifiedChain:
    leaf = load_certificate(vek_der, "VCEK/VLEK certificate")
    _require_v3(leaf, "endorsement certificate")
    kind = _leaf_kind(leaf)
    ext = parse_vek_extensions(leaf)
    leaf_product = ext.product
    if ext.product_name is not None and leaf_product is None:
        raise VerificationError(
            Code.PRODUCT_UNKNOWN,
            f"the {kind.value}'s productName {ext.product_name!r} is not a known product",
        )

    # the intermediate: given, or the shipped one for the product
    product_source: str
    if intermediate_der is not None:
        inter = load_certificate(intermediate_der, "ASK/ASVK certificate")
        role_product = product_of_cn(subject_cn(inter))
        if role_product is None or role_product[0] not in ("ASK", "ASVK"):
            raise VerificationError(
                Code.CERTIFICATE_NAME,
                "the intermediate's subject CN must be SEV-<product> (ASK) or SEV-VLEK-<product> (ASVK)",
                expected=f"{kind.intermediate_cn(leaf_product or expected or Product.MILAN)}",
                actual=subject_cn(inter),
            )
        role, product = role_product
        if role != kind.intermediate_role:
            raise VerificationError(
                Code.CHAIN_ROLE_MISMATCH,
                f"a {kind.value} must be issued by an {kind.intermediate_role}, "
                f"but the chain holds an {role} ({subject_cn(inter)})",
                expected=kind.intermediate_cn(product),
                actual=subject_cn(inter),
            )
        product_source = f"intermediate CN {subject_cn(inter)}"
    else:
        chosen = leaf_product or expected
        if chosen is None:
            raise VerificationError(
                Code.PRODUCT_UNKNOWN,
                "the product cannot be determined: the certificate has no productName and no "
                "intermediate or product was given",
            )
        if trust_root_der is not None and not _same_key(
            load_certificate(trust_root_der, "trust root"), roots.amd_ark(chosen.value)
        ):
            raise CollateralError(
                f"a chain under an explicit trust root needs its {kind.intermediate_role} "
                "(give the cert_chain or a certificate table)",
                missing=f"{kind.intermediate_role} for {chosen.value}",
            )
        product = chosen
        inter = roots.amd_ask(product.value) if kind is VekKind.VCEK else roots.amd_asvk(product.value)
        product_source = (
            f"{kind.value} productName {ext.product_name}" if leaf_product is not None else "caller"
        )
    if leaf_product is not None and leaf_product is not product:
        raise VerificationError(
            Code.PRODUCT_MISMATCH,
            f"the {kind.value}'s productName {ext.product_name!r} does not match its issuer's product",
            expected=product.value,
            actual=ext.product_name,
        )
    if expected is not None and expected is not product:
        raise VerificationError(
            Code.PRODUCT_MISMATCH,
            f"the certificates are for {product.value} ({product_source}), not the expected product",
            expected=expected.value,
            actual=product.value,
        )
    _require_v3(inter, kind.intermediate_role)

    # the root: the offered ARK must be the pinned one (or the explicit trust root)
    given_ark = None if ark_der is None else load_certificate(ark_der, "ARK certificate")
    if trust_root_der is not None:
        root = load_certificate(trust_root_der, "trust root")
        if given_ark is not None and not _same_key(given_ark, root):
            raise VerificationError(
                Code.UNTRUSTED_ROOT,
                f"the chain's ARK {subject_cn(given_ark)!r} is not the given trust root",
                expected=der_sha256(root),
                actual=der_sha256(given_ark),
            )
        root_product = _pinned_product(root)
    else:
        root = roots.amd_ark(product.value)
        if given_ark is not None and not _same_key(given_ark, root):
            other = _pinned_product(given_ark)
            if other is not None:
                raise VerificationError(
                    Code.WRONG_PRODUCT_ROOT,
                    f"the chain's ARK is the {other.value} root, but the chain is for {product.value}",
                    expected=f"ARK-{product.value}",
                    actual=f"ARK-{other.value}",
                )
            raise VerificationError(
                Code.UNTRUSTED_ROOT,
                f"the chain's ARK {subject_cn(given_ark)!r} is not the pinned AMD ARK for {product.value}",
                expected=der_sha256(root),
                actual=der_sha256(given_ark),
            )
        root_product = product  # the pinned ARK of the chain's product
        if subject_cn(root) != f"ARK-{product.value}":  # pragma: no cover - shipped roots are fixed
            raise VerificationError(Code.CERTIFICATE_NAME, "pinned ARK has an unexpected CN")
    _require_v3(root, "ARK")
    if root.issuer != root.subject:
        raise VerificationError(Code.ROOT_NOT_SELF_SIGNED, f"the ARK {subject_cn(root)!r} is not self-issued")
    try:
        _check_pss(root, root, "ARK self-signature")
    except VerificationError as exc:
        if exc.code == "chain_signature_invalid":
            raise VerificationError(
                Code.ROOT_NOT_SELF_SIGNED, f"the ARK {subject_cn(root)!r} does not verify under its own key"
            ) from None
        raise

    # signatures down the chain
    if inter.issuer != root.subject:
        raise VerificationError(
            Code.CHAIN_ISSUER_MISMATCH,
            f"the {kind.intermediate_role}'s issuer is not the ARK",
            expected=root.subject.rfc4514_string(),
            actual=inter.issuer.rfc4514_string(),
        )
    _check_pss(inter, root, f"{kind.intermediate_role} {subject_cn(inter)!r} signed by the ARK")
    if leaf.issuer != inter.subject:
        raise VerificationError(
            Code.CHAIN_ISSUER_MISMATCH,
            f"the {kind.value}'s issuer is not the {kind.intermediate_role} of the chain",
            expected=inter.subject.rfc4514_string(),
            actual=leaf.issuer.rfc4514_string(),
        )
    _check_pss(leaf, inter, f"{kind.value} signed by the {kind.intermediate_role} {subject_cn(inter)!r}")

    # the profile (as TDX's chain): ARK and ASK/ASVK CA:TRUE with keyCertSign and a pathLen
    # that allows the chain, the leaf no CA, no critical extension left unprocessed
    check_chain(
        (
            (leaf, f"the {kind.value}"),
            (inter, f"{kind.intermediate_role} {subject_cn(inter)!r}"),
            (root, f"ARK {subject_cn(root)!r}"),
        ),
        leaf=VEK_PROFILE,
    )
    public_key = leaf.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP384R1
    ):
        curve = getattr(getattr(public_key, "curve", None), "name", None) or _key_kind(public_key)
        raise VerificationError(
            Code.LEAF_KEY_TYPE, f"the {kind.value} key must be EC P-384", expected="secp384r1", actual=curve
        )
    _check_extensions(kind, product, ext)

    crl_info = None if crl_der is None else _check_crl(crl_der, root, inter, kind)
    return VerifiedChain(
        kind=kind,
        product=product,
        product_source=product_source,
        extensions=ext,
        root=RootInfo.of(
            root,
            production=root_product is not None,
            product=product if root_product is None else root_product,
        ),
        certificates=(
            _summary(root, "ARK"),
            _summary(inter, kind.intermediate_role),
            _summary(leaf, kind.value),
        ),
        crl=crl_info,
        certificate_tcb=ext.tcb_parts(product),
        certificate_tcb_version=ext.tcb_version(product),
        public_key=public_key,
    )


def _check_extensions(kind: VekKind, product: Product, ext: VekExtensions) -> None:
    ext.tcb_version(product)  # raises when an SPL is missing or not one byte
    want_struct = 1 if product.uses_fmc else 0
    if ext.struct_version is not None and ext.struct_version != want_struct:
        raise VerificationError(
            Code.CERTIFICATE_EXTENSION,
            f"a {product.value} {kind.value} has structVersion {want_struct}",
            expected=want_struct,
            actual=ext.struct_version,
        )
    if kind is VekKind.VCEK:
        if ext.hw_id is None:
            raise VerificationError(Code.CERTIFICATE_EXTENSION, "the VCEK has no hwID extension (…3704.1.4)")
        want = 8 if product.uses_fmc else 64
        if len(ext.hw_id) != want:
            raise VerificationError(
                Code.CERTIFICATE_EXTENSION,
                f"a {product.value} VCEK's hwID is {want} bytes",
                expected=want,
                actual=len(ext.hw_id),
            )
        if ext.csp_id is not None:
            raise VerificationError(Code.CERTIFICATE_EXTENSION, "a VCEK must not carry a csp_id extension")
    else:
        if ext.csp_id is None:
            raise VerificationError(
                Code.CERTIFICATE_EXTENSION, "the VLEK has no csp_id extension (…3704.1.5)"
            )
        if ext.hw_id is not None:
            raise VerificationError(Code.CERTIFICATE_EXTENSION, "a VLEK must not carry a hwID extension")


def _check_crl(crl_der: bytes, ark: x509.Certificate, inter: x509.Certificate, kind: VekKind) -> CrlInfo:
    crl = load_crl(crl_der)
    if crl.issuer != ark.subject:
        raise VerificationError(
            Code.CRL_ISSUER_MISMATCH,
            "the CRL is not issued by the chain's ARK",
            expected=ark.subject.rfc4514_string(),
            actual=crl.issuer.rfc4514_string(),
        )
    key = ark.public_key()
    if not isinstance(key, rsa.RSAPublicKey):  # pragma: no cover - the ARK was checked to be RSA
        raise VerificationError(Code.CRL_SIGNATURE_INVALID, "the ARK key is not RSA")
    if crl.signature_algorithm_oid != SignatureAlgorithmOID.RSASSA_PSS:
        raise VerificationError(
            Code.CRL_SIGNATURE_INVALID,
            "the CRL signature must be RSASSA-PSS with SHA-384",
            expected="rsassaPss",
            actual=crl.signature_algorithm_oid.dotted_string,
        )
    try:
        key.verify(crl.signature, crl.tbs_certlist_bytes, AMD_PSS, hashes.SHA384())
    except InvalidSignature:
        raise VerificationError(
            Code.CRL_SIGNATURE_INVALID, "the CRL signature does not verify under the ARK"
        ) from None
    if crl.next_update_utc is None:  # RFC 5280 §5.1.2.5: issuers MUST include it
        raise VerificationError(
            Code.CRL_INVALID,
            "the CRL has no nextUpdate: it would never expire, so a stale one could hide a revocation",
        )
    scope = crl_scope(crl, ark, "the KDS CRL")
    if scope is not None:
        role = f"{kind.intermediate_role} {subject_cn(inter)!r}"
        scope.check_covers(role, is_ca=True, points=distribution_points(inter))
    revoked = crl.get_revoked_certificate_by_serial_number(inter.serial_number)
    if revoked is not None:
        raise VerificationError(
            Code.CERTIFICATE_REVOKED,
            f"the {kind.intermediate_role} {subject_cn(inter)!r} (serial 0x{inter.serial_number:x}) "
            f"is revoked since {iso8601(revoked.revocation_date_utc)}",
        )
    return CrlInfo(
        sha256=hashlib.sha256(crl.public_bytes(Encoding.DER)).hexdigest(),
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
        revoked_serials=len(crl),
        checked_serial=inter.serial_number,
    )


def _key_kind(key: object) -> str:
    """``RSA 4096``, ``EC P-256``... for a message (never a Python class name)."""
    from ccverify.verifier.certinfo import key_kind

    return key_kind(key)
