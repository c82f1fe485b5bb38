"""Intel TDX quotes (v4 and v5) as frozen dataclasses, byte for byte.

Layout facts are in the format notes (``notes/tdx.md``) (checked against real quotes). Parsing is
slicing only: every field is kept, reserved bytes included, so ``to_bytes(from_bytes(b)) == b``
holds for every real quote, unsigned trailing bytes included. Nothing here checks a signature
or a policy; it only refuses bytes that cannot be the structure they claim to be, naming the
field and its absolute offset so that a bad quote can be located with a hex dump.

Error fields are dotted paths inside the quote (``signature_data.qe_auth_data_size``).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field, fields
from typing import Any

from cryptography import x509

from ccverify.verifier import x509load
from ccverify.verifier._frozen import positional
from ccverify.verifier.errors import ParseError
from ccverify.verifier.evidence._binary import Layout, Reader, le
from ccverify.verifier.jsonable import to_jsonable

TDX_TEE_TYPE = 0x81
ECDSA_P256_KEY_TYPE = 2
HEADER_SIZE = 48
TD_REPORT_10_SIZE = 584
TD_REPORT_15_SIZE = 648
ENCLAVE_REPORT_SIZE = 384
_BODY_SIZES = {2: TD_REPORT_10_SIZE, 3: TD_REPORT_15_SIZE}
_V5_PREFIX = 6  # body_type u16 + body_size u32


class TdAttributes(enum.IntFlag):
    """TDATTRIBUTES bits (TDX module ABI; names as in Linux ``asm/shared/tdx.h``).

    Unnamed bits are kept (IntFlag boundary KEEP) so a policy sees everything that was set.
    """

    DEBUG = 1 << 0
    HGS_PLUS_PROF = 1 << 4
    PERF_PROF = 1 << 5
    PMT_PROF = 1 << 6
    ICSSD = 1 << 16
    LASS = 1 << 27
    SEPT_VE_DISABLE = 1 << 28
    MIGRATABLE = 1 << 29
    PKS = 1 << 30
    KL = 1 << 31
    TPA = 1 << 62
    PERFMON = 1 << 63


class Xfam(enum.IntFlag):
    """XFAM bits: the XSAVE state components (XCR0 | IA32_XSS layout) the TD may use."""

    X87 = 1 << 0
    SSE = 1 << 1
    AVX = 1 << 2
    MPX_BNDREGS = 1 << 3
    MPX_BNDCSR = 1 << 4
    AVX512_OPMASK = 1 << 5
    AVX512_ZMM_HI256 = 1 << 6
    AVX512_HI16_ZMM = 1 << 7
    PT = 1 << 8
    PKRU = 1 << 9
    PASID = 1 << 10
    CET_U = 1 << 11
    CET_S = 1 << 12
    HDC = 1 << 13
    UINTR = 1 << 14
    LBR = 1 << 15
    HWP = 1 << 16
    AMX_TILECFG = 1 << 17
    AMX_TILEDATA = 1 << 18
    APX = 1 << 19


class CertificationDataType(enum.IntEnum):
    """Certification data types of the ECDSA quote signature data (DCAP quote library)."""

    PPID_CLEARTEXT = 1
    PPID_RSA2048_OAEP = 2
    PPID_RSA3072_OAEP = 3
    PCK_LEAF_CERT = 4
    PCK_CERT_CHAIN = 5
    QE_REPORT_CERT_DATA = 6
    PLATFORM_MANIFEST = 7


def certification_data_type_name(value: int) -> str:
    """``"5 (PCK_CERT_CHAIN)"``: errors name the type, known or not."""
    try:
        return f"{value} ({CertificationDataType(value).name})"
    except ValueError:
        return f"{value} (unknown)"


def _json_fields(obj: Any) -> dict[str, Any]:
    return {f.name: to_jsonable(getattr(obj, f.name)) for f in fields(obj) if f.metadata.get("json", True)}


def _exactly(reader: Reader, what: str, size: int) -> None:
    """Standalone ``from_bytes`` of a fixed-size structure takes exactly its size."""
    if len(reader.data) != size:
        raise reader.error(what, 0, f"expected exactly {size} bytes, got {len(reader.data)}")


_TD_REPORT_FIELDS = (
    ("tee_tcb_svn", "16s"),
    ("mr_seam", "48s"),
    ("mr_signer_seam", "48s"),
    ("seam_attributes", "8s"),
    ("td_attributes", "8s"),
    ("xfam", "8s"),
    ("mr_td", "48s"),
    ("mr_config_id", "48s"),
    ("mr_owner", "48s"),
    ("mr_owner_config", "48s"),
    ("rtmrs[0]", "48s"),
    ("rtmrs[1]", "48s"),
    ("rtmrs[2]", "48s"),
    ("rtmrs[3]", "48s"),
    ("report_data", "64s"),
)
_TD_REPORT_10 = Layout(_TD_REPORT_FIELDS)
_HEADER_ID = Layout((("version", "H"), ("attestation_key_type", "H"), ("tee_type", "I")))
_HEADER_REST = Layout((("reserved", "4s"), ("qe_vendor_id", "16s"), ("user_data", "20s")))
_SIGNATURE_DATA = Layout(
    (
        ("signature", "64s"),
        ("attestation_key", "64s"),
        ("certification_data_type", "H"),
        ("certification_data_size", "I"),
    )
)
_QE_SIGNATURE = Layout((("qe_report_signature", "64s"), ("qe_auth_data_size", "H")))
_TD_REPORT_15 = Layout((*_TD_REPORT_FIELDS, ("tee_tcb_svn2", "16s"), ("mr_service_td", "48s")))
_TD_REPORT_LAYOUTS = {TD_REPORT_10_SIZE: _TD_REPORT_10, TD_REPORT_15_SIZE: _TD_REPORT_15}
_ENCLAVE_REPORT = Layout(
    (
        ("cpu_svn", "16s"),
        ("misc_select", "I"),
        ("reserved1", "28s"),
        ("attributes", "16s"),
        ("mr_enclave", "32s"),
        ("reserved2", "32s"),
        ("mr_signer", "32s"),
        ("reserved3", "96s"),
        ("isv_prod_id", "H"),
        ("isv_svn", "H"),
        ("reserved4", "60s"),
        ("report_data", "64s"),
    )
)


@dataclass(frozen=True, slots=True)
class QuoteHeader:
    """The 48-byte header shared by v4 and v5 (``sgx_quote4_header_t``)."""

    version: int
    attestation_key_type: int
    tee_type: int
    #: QVL and go-tdx-guest disagree on what these hold (QE/PCE SVN order); kept verbatim
    reserved: bytes
    qe_vendor_id: bytes
    user_data: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> QuoteHeader:
        reader = Reader(bytes(data), cls.__name__)
        _exactly(reader, "size", HEADER_SIZE)
        return cls._parse(reader, "")

    @classmethod
    def _parse(cls, reader: Reader, prefix: str) -> QuoteHeader:
        version, key_type, tee_type = _HEADER_ID.read(reader, 0, prefix)
        if tee_type != TDX_TEE_TYPE:
            kind = " (SGX)" if tee_type == 0 else ""
            raise reader.error(
                prefix + "tee_type",
                4,
                f"not a TDX quote: TEE type 0x{tee_type:08x}{kind}, expected 0x{TDX_TEE_TYPE:08x} (TDX)",
            )
        if version not in (4, 5):
            raise reader.error(
                prefix + "version", 0, f"unsupported quote version {version}; TDX quotes are version 4 or 5"
            )
        if key_type != ECDSA_P256_KEY_TYPE:
            name = " (ECDSA-384-with-P-384)" if key_type == 3 else ""
            raise reader.error(
                prefix + "attestation_key_type",
                2,
                f"unsupported attestation key type {key_type}{name}; "
                "only 2 (ECDSA-256-with-P-256) is defined",
            )
        reserved, vendor, user = _HEADER_REST.read(reader, 8, prefix)
        return _make_header(version, key_type, tee_type, reserved, vendor, user)

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                le(self.version, 2),
                le(self.attestation_key_type, 2),
                le(self.tee_type, 4),
                self.reserved,
                self.qe_vendor_id,
                self.user_data,
            )
        )


@dataclass(frozen=True, slots=True)
class TdReport:
    """TD quote body: TD report 1.0 (584 B) or 1.5 (648 B, with the last two fields)."""

    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    #: raw 8 bytes as in the quote; see ``td_attributes_flags`` for names
    td_attributes: bytes
    #: raw 8 bytes as in the quote; see ``xfam_flags`` for names
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmrs: tuple[bytes, bytes, bytes, bytes]
    report_data: bytes
    tee_tcb_svn2: bytes | None = None
    mr_service_td: bytes | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> TdReport:
        reader = Reader(bytes(data), cls.__name__)
        if len(reader.data) not in (TD_REPORT_10_SIZE, TD_REPORT_15_SIZE):
            raise reader.error(
                "size",
                0,
                f"expected {TD_REPORT_10_SIZE} (TD report 1.0) or {TD_REPORT_15_SIZE} (1.5) bytes, "
                f"got {len(reader.data)}",
            )
        return cls._parse(reader, 0, len(reader.data), "")

    @classmethod
    def _parse(cls, reader: Reader, at: int, size: int, prefix: str) -> TdReport:
        return _td_report(_TD_REPORT_LAYOUTS[size].read(reader, at, prefix))

    def to_bytes(self) -> bytes:
        parts = [
            self.tee_tcb_svn,
            self.mr_seam,
            self.mr_signer_seam,
            self.seam_attributes,
            self.td_attributes,
            self.xfam,
            self.mr_td,
            self.mr_config_id,
            self.mr_owner,
            self.mr_owner_config,
            *self.rtmrs,
            self.report_data,
        ]
        if self.is_tdx15:
            parts += [self.tee_tcb_svn2 or bytes(16), self.mr_service_td or bytes(48)]
        return b"".join(parts)

    @property
    def is_tdx15(self) -> bool:
        """TD report 1.5 (v5 body type 3): has TEE_TCB_SVN2 and MRSERVICETD."""
        return self.tee_tcb_svn2 is not None or self.mr_service_td is not None

    @property
    def size(self) -> int:
        return TD_REPORT_15_SIZE if self.is_tdx15 else TD_REPORT_10_SIZE

    @property
    def td_attributes_value(self) -> int:
        return int.from_bytes(self.td_attributes, "little")

    @property
    def td_attributes_flags(self) -> TdAttributes:
        return TdAttributes(self.td_attributes_value)

    @property
    def xfam_value(self) -> int:
        return int.from_bytes(self.xfam, "little")

    @property
    def xfam_flags(self) -> Xfam:
        return Xfam(self.xfam_value)

    @property
    def debug(self) -> bool:
        """A debug TD's memory and vCPU state are open to the host: never trust its contents."""
        return bool(self.td_attributes_value & TdAttributes.DEBUG)

    @property
    def sept_ve_disable(self) -> bool:
        return bool(self.td_attributes_value & TdAttributes.SEPT_VE_DISABLE)

    def to_json(self) -> dict[str, Any]:
        """Fields as hex plus the decoded attribute names, which is what people read."""
        out = _json_fields(self)
        out["td_attributes_flags"] = to_jsonable(self.td_attributes_flags)
        out["xfam_flags"] = to_jsonable(self.xfam_flags)
        return out


@dataclass(frozen=True, slots=True)
class EnclaveReport:
    """SGX report body (384 B): here the QE report, signed by the PCK key.

    The reserved ranges also hold the KSS fields (ISVEXTPRODID, CONFIGID, CONFIGSVN,
    ISVFAMILYID) that the TD quoting enclave leaves zero; they are kept, not interpreted.
    """

    cpu_svn: bytes
    misc_select: int
    reserved1: bytes
    attributes: bytes
    mr_enclave: bytes
    reserved2: bytes
    mr_signer: bytes
    reserved3: bytes
    isv_prod_id: int
    isv_svn: int
    reserved4: bytes
    report_data: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> EnclaveReport:
        reader = Reader(bytes(data), cls.__name__)
        _exactly(reader, "size", ENCLAVE_REPORT_SIZE)
        return cls._parse(reader, 0, "")

    @classmethod
    def _parse(cls, reader: Reader, at: int, prefix: str) -> EnclaveReport:
        return _make_enclave_report(*_ENCLAVE_REPORT.read(reader, at, prefix))

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                self.cpu_svn,
                le(self.misc_select, 4),
                self.reserved1,
                self.attributes,
                self.mr_enclave,
                self.reserved2,
                self.mr_signer,
                self.reserved3,
                le(self.isv_prod_id, 2),
                le(self.isv_svn, 2),
                self.reserved4,
                self.report_data,
            )
        )


@dataclass(frozen=True, slots=True)
class CertificationData:
    """Inner certification data: type 5, the PCK chain, kept exactly as sent (NULs included)."""

    type: int
    data: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> CertificationData:
        return cls._parse(Reader(bytes(data), cls.__name__), "")

    @classmethod
    def _parse(cls, reader: Reader, prefix: str) -> CertificationData:
        """``reader`` covers exactly this structure."""
        kind = reader.u16(prefix + "type", 0)
        if kind != CertificationDataType.PCK_CERT_CHAIN:
            raise reader.error(
                prefix + "type",
                0,
                f"certification data type {certification_data_type_name(kind)} is not supported; "
                f"expected {certification_data_type_name(CertificationDataType.PCK_CERT_CHAIN)}",
            )
        size = reader.u32(prefix + "size", 2)
        _declared_fits(reader, prefix + "size", 2, size, 6)
        return _make_certification_data(kind, reader.data[6:])

    def to_bytes(self) -> bytes:
        return le(self.type, 2) + le(len(self.data), 4) + self.data

    @property
    def pem(self) -> bytes:
        """The chain without the trailing NULs some quote generators count in the size."""
        return self.data.rstrip(b"\x00")


def _declared_fits(reader: Reader, name: str, at: int, declared: int, start: int) -> None:
    """A size field must describe exactly the bytes its container (``reader``) has left for it."""
    have = len(reader.data) - start
    if declared != have:
        raise reader.error(
            name,
            at,
            f"declares {declared} bytes from offset {reader.base + start} but its container "
            f"holds {have} there (sizes are inconsistent or the input is truncated)",
        )


@dataclass(frozen=True, slots=True)
class QeReportCertificationData:
    """Certification data type 6: the QE report that vouches for the attestation key."""

    qe_report: EnclaveReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    pck_certification_data: CertificationData

    @classmethod
    def from_bytes(cls, data: bytes) -> QeReportCertificationData:
        return cls._parse(Reader(bytes(data), cls.__name__), "")

    @classmethod
    def _parse(cls, reader: Reader, prefix: str) -> QeReportCertificationData:
        """``reader`` covers exactly this structure."""
        report = EnclaveReport._parse(reader, 0, prefix + "qe_report.")
        signature, auth_size = _QE_SIGNATURE.read(reader, ENCLAVE_REPORT_SIZE, prefix)
        pos = ENCLAVE_REPORT_SIZE + _QE_SIGNATURE.size
        if pos + auth_size > len(reader.data):
            raise reader.error(
                prefix + "qe_auth_data_size",
                pos - 2,
                f"declares {auth_size} bytes of QE authentication data but only "
                f"{len(reader.data) - pos} remain in the certification data",
            )
        auth = reader.data[pos : pos + auth_size]
        pos += auth_size
        inner_prefix = prefix + "pck_certification_data"
        inner_reader = reader.sub(inner_prefix, pos, len(reader.data) - pos)
        inner = CertificationData._parse(inner_reader, inner_prefix + ".")
        return _make_qe_certification_data(report, signature, auth, inner)

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                self.qe_report.to_bytes(),
                self.qe_report_signature,
                le(len(self.qe_auth_data), 2),
                self.qe_auth_data,
                self.pck_certification_data.to_bytes(),
            )
        )


@dataclass(frozen=True, slots=True)
class QuoteSignatureData:
    """ECDSA-256 quote signature data; the outer certification data must be type 6."""

    signature: bytes
    attestation_key: bytes
    qe_certification_data: QeReportCertificationData

    @classmethod
    def from_bytes(cls, data: bytes) -> QuoteSignatureData:
        return cls._parse(Reader(bytes(data), cls.__name__), "")

    @classmethod
    def _parse(cls, reader: Reader, prefix: str) -> QuoteSignatureData:
        """``reader`` covers exactly this structure."""
        signature, key, kind, size = _SIGNATURE_DATA.read(reader, 0, prefix)
        pos = _SIGNATURE_DATA.size
        if kind != CertificationDataType.QE_REPORT_CERT_DATA:
            raise reader.error(
                prefix + "certification_data_type",
                pos - 6,
                f"certification data type {certification_data_type_name(kind)} is not supported; "
                f"expected {certification_data_type_name(CertificationDataType.QE_REPORT_CERT_DATA)}",
            )
        _declared_fits(reader, prefix + "certification_data_size", pos - 4, size, pos)
        qe_reader = reader.sub(prefix + "certification_data", pos, size)
        qe = QeReportCertificationData._parse(qe_reader, prefix)
        return _make_signature_data(signature, key, qe)

    def to_bytes(self) -> bytes:
        inner = self.qe_certification_data.to_bytes()
        return b"".join(
            (
                self.signature,
                self.attestation_key,
                le(CertificationDataType.QE_REPORT_CERT_DATA, 2),
                le(len(inner), 4),
                inner,
            )
        )


@dataclass(frozen=True, slots=True)
class TdxQuote:
    """A TDX quote v4 or v5. ``trailing`` holds bytes after the declared signature data.

    Trailing bytes come from fixed-size buffers (or test padding); nothing signs them, so
    nothing may rely on them. They are kept only so that ``to_bytes`` gives the input back.
    """

    header: QuoteHeader
    #: 2 = TD report 1.0, 3 = TD report 1.5; a v4 quote is always 2 (not encoded)
    body_type: int
    body: TdReport
    signature_data: QuoteSignatureData
    trailing: bytes = field(default=b"", metadata={"json": False})

    @classmethod
    def from_bytes(cls, data: bytes) -> TdxQuote:
        data = bytes(data)
        return _parse_well_formed(data) or cls._walk(data)

    @classmethod
    def _walk(cls, data: bytes) -> TdxQuote:
        """Field by field, structure by structure: the parser that names what is wrong."""
        reader = Reader(data, cls.__name__)
        header = QuoteHeader._parse(reader, "header.")
        body_type, body_at, body_size = _body_layout(reader, header.version)
        body = TdReport._parse(reader, body_at, body_size, "body.")
        sig_at = body_at + body_size
        sig_size = reader.u32("signature_data_size", sig_at)
        end = sig_at + 4 + sig_size
        if end > len(reader.data):
            raise reader.error(
                "signature_data_size",
                sig_at,
                f"declares {sig_size} bytes of signature data from offset {sig_at + 4} but only "
                f"{len(reader.data) - sig_at - 4} remain (input is truncated)",
            )
        sig_reader = reader.sub("signature_data", sig_at + 4, sig_size)
        signature_data = QuoteSignatureData._parse(sig_reader, "signature_data.")
        return _make_quote(header, body_type, body, signature_data, reader.data[end:])

    def to_bytes(self) -> bytes:
        sig = self.signature_data.to_bytes()
        return b"".join((self.signed_data, le(len(sig), 4), sig, self.trailing))

    @property
    def signed_data(self) -> bytes:
        """What the attestation key signs: header and body (v5: with type and size)."""
        body = self.body.to_bytes()
        prefix = b"" if self.header.version == 4 else le(self.body_type, 2) + le(len(body), 4)
        return self.header.to_bytes() + prefix + body

    @property
    def signature(self) -> bytes:
        """ECDSA-P256-SHA256 signature over ``signed_data``, raw r||s."""
        return self.signature_data.signature

    @property
    def attestation_key(self) -> bytes:
        """Raw x||y of the P-256 attestation key."""
        return self.signature_data.attestation_key

    @property
    def qe_report(self) -> EnclaveReport:
        return self.signature_data.qe_certification_data.qe_report

    @property
    def qe_report_bytes(self) -> bytes:
        """The 384 bytes the PCK key signed (rebuilt exactly: every byte is kept)."""
        return self.qe_report.to_bytes()

    @property
    def qe_report_signature(self) -> bytes:
        return self.signature_data.qe_certification_data.qe_report_signature

    @property
    def qe_auth_data(self) -> bytes:
        return self.signature_data.qe_certification_data.qe_auth_data

    @property
    def pck_certification_data(self) -> CertificationData:
        return self.signature_data.qe_certification_data.pck_certification_data

    @property
    def pck_chain_pem(self) -> bytes:
        """The PCK chain as carried (PEM in real quotes), trailing NULs removed."""
        return self.pck_certification_data.pem

    @property
    def trailing_size(self) -> int:
        return len(self.trailing)

    @property
    def signed_size(self) -> int:
        """How many bytes of the input ``signed_data`` is: header, (v5) body type and size, body."""
        return HEADER_SIZE + (0 if self.header.version == 4 else _V5_PREFIX) + self.body.size

    @property
    def qe_report_offset(self) -> int:
        """Absolute offset of the QE report: after the signed bytes, the signature data's size,
        the quote signature, the attestation key and the certification data's type and size."""
        return self.signed_size + 4 + _SIGNATURE_DATA.size

    def signed_regions(self, raw: bytes | None = None) -> tuple[bytes, bytes]:
        """(QE report bytes, ``signed_data``): sliced from ``raw``, the bytes this quote was
        parsed from, when given (exact and without rebuilding), else rebuilt from the fields."""
        if raw is None:
            return self.qe_report_bytes, self.signed_data
        qe_at = self.qe_report_offset
        return raw[qe_at : qe_at + ENCLAVE_REPORT_SIZE], raw[: self.signed_size]

    @property
    def pck_chain_offset(self) -> int:
        """Absolute offset of the PCK chain bytes, for error messages about them."""
        qe_at = self.qe_report_offset
        return qe_at + ENCLAVE_REPORT_SIZE + _QE_SIGNATURE.size + len(self.qe_auth_data) + 6

    def pck_chain_certificates(self) -> list[x509.Certificate]:
        """The PCK chain, leaf first, as carried in the quote (nothing is verified here).

        Real quotes carry PEM. Intel's synthetic QVL sample carries concatenated DER under
        the same type 5, so anything that does not look like PEM is read as DER.
        """
        raw = self.pck_certification_data.data
        offset = self.pck_chain_offset
        if b"-----BEGIN" in raw:
            try:
                return x509load.pem_certificates(self.pck_chain_pem)
            except ValueError as error:
                raise _chain_error(offset, f"PEM certificate chain does not parse: {error}") from None
        return [_load_der(der, at) for der, at in _split_der(raw, offset)]

    def to_json(self) -> dict[str, Any]:
        """All fields, with the count of unsigned trailing bytes instead of the bytes."""
        out = _json_fields(self)
        out["trailing_size"] = self.trailing_size
        return out


# Parsers build these through positional constructors: frozen ``__init__`` costs ~0.3 us a field.
_make_header = positional(QuoteHeader)
_make_td_report = positional(TdReport)
_make_enclave_report = positional(EnclaveReport)
_make_certification_data = positional(CertificationData)
_make_qe_certification_data = positional(QeReportCertificationData)
_make_signature_data = positional(QuoteSignatureData)
_make_quote = positional(TdxQuote)


def _td_report(v: tuple[Any, ...]) -> TdReport:
    """A TD report from its layout's values (15 for 1.0, 17 for 1.5: the RTMRs become a tuple)."""
    return _make_td_report(
        v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
        (v[10], v[11], v[12], v[13]),
        v[14],
        *(v[15:17] if len(v) == 17 else (None, None)),
    )  # fmt: skip


def _formats(*layouts: Layout) -> str:
    return "".join(layout.struct.format.lstrip("<") for layout in layouts)


_HEADER = struct.Struct("<" + _formats(_HEADER_ID, _HEADER_REST))
_V5_BODY = struct.Struct("<HI")  # body_type, body_size
#: signature_data_size, the signature data's fixed fields, the QE report, its signature, auth size
_SIGNATURE_FIXED = struct.Struct("<I" + _formats(_SIGNATURE_DATA, _ENCLAVE_REPORT, _QE_SIGNATURE))
_INNER = struct.Struct("<HI")  # PCK certification data type, size


def _parse_well_formed(data: bytes) -> TdxQuote | None:
    """A well-formed quote in four struct calls; ``None`` for anything else.

    This only accepts: it applies every check ``TdxQuote._walk`` applies and returns
    ``None`` at the first that fails (or when the input is short), so the walk, which names
    the field and offset, decides every error. Tests hold the two to equal results.
    """
    size = len(data)
    if size < HEADER_SIZE + _V5_PREFIX:
        return None
    h = _HEADER.unpack_from(data, 0)
    version = h[0]
    if h[2] != TDX_TEE_TYPE or h[1] != ECDSA_P256_KEY_TYPE:
        return None
    if version == 4:
        body_type, body_at, body_size = 2, HEADER_SIZE, TD_REPORT_10_SIZE
    elif version == 5:
        body_type, body_size = _V5_BODY.unpack_from(data, HEADER_SIZE)
        if _BODY_SIZES.get(body_type) != body_size:
            return None
        body_at = HEADER_SIZE + _V5_PREFIX
    else:
        return None
    sig_at = body_at + body_size
    auth_at = sig_at + _SIGNATURE_FIXED.size
    if size < auth_at:
        return None
    # s: [0] signature_data_size, [1] signature, [2] attestation key, [3] certification data
    # type, [4] its size, [5:17] QE report, [17] QE report signature, [18] QE auth data size
    s = _SIGNATURE_FIXED.unpack_from(data, sig_at)
    end = sig_at + 4 + s[0]
    if (
        end > size
        or s[3] != CertificationDataType.QE_REPORT_CERT_DATA
        or s[4] != s[0] - _SIGNATURE_DATA.size
    ):
        return None
    inner_at = auth_at + s[18]
    if inner_at + _INNER.size > end:
        return None
    inner_type, inner_size = _INNER.unpack_from(data, inner_at)
    if inner_type != CertificationDataType.PCK_CERT_CHAIN or inner_size != end - inner_at - _INNER.size:
        return None
    body = _td_report(_TD_REPORT_LAYOUTS[body_size].struct.unpack_from(data, body_at))
    qe = _make_qe_certification_data(
        _make_enclave_report(*s[5:17]),
        s[17],
        data[auth_at:inner_at],
        _make_certification_data(inner_type, data[inner_at + _INNER.size : end]),
    )
    return _make_quote(
        _make_header(*h),
        body_type,
        body,
        _make_signature_data(s[1], s[2], qe),
        data[end:],
    )


def _body_layout(reader: Reader, version: int) -> tuple[int, int, int]:
    """(body type, offset, size) of the TD report; v5 declares them, v4 implies type 2."""
    if version == 4:
        return 2, HEADER_SIZE, TD_REPORT_10_SIZE
    body_type = reader.u16("body_type", HEADER_SIZE)
    body_size = reader.u32("body_size", HEADER_SIZE + 2)
    if body_type == 1:
        raise reader.error("body_type", HEADER_SIZE, "body type 1 is an SGX enclave report, not a TD report")
    if body_type not in _BODY_SIZES:
        raise reader.error(
            "body_type",
            HEADER_SIZE,
            f"unknown body type {body_type}; expected 2 (TD report 1.0) or 3 (TD report 1.5)",
        )
    if body_size != _BODY_SIZES[body_type]:
        raise reader.error(
            "body_size",
            HEADER_SIZE + 2,
            f"body size {body_size} does not match body type {body_type} ({_BODY_SIZES[body_type]} bytes)",
        )
    return body_type, HEADER_SIZE + _V5_PREFIX, body_size


_CHAIN_FIELD = "signature_data.pck_certification_data.data"


def _chain_error(offset: int, detail: str) -> ParseError:
    return ParseError("TdxQuote", _CHAIN_FIELD, offset, detail)


def _split_der(data: bytes, base: int) -> list[tuple[bytes, int]]:
    """Cut concatenated DER certificates by their outer SEQUENCE lengths.

    NUL padding after the last certificate is allowed; it is not stripped up front because a
    DER certificate can itself end in a zero byte.
    """
    out: list[tuple[bytes, int]] = []
    pos = 0
    while pos < len(data) and data.count(0, pos) != len(data) - pos:
        size = _der_length(data, pos, base)
        out.append((data[pos : pos + size], base + pos))
        pos += size
    if not out:
        raise _chain_error(base, "the PCK certificate chain is empty")
    return out


def _der_length(data: bytes, pos: int, base: int) -> int:
    """Total size (header included) of the DER SEQUENCE at ``pos``."""
    head = data[pos : pos + 2]
    if len(head) < 2 or head[0] != 0x30:
        raise _chain_error(base + pos, "neither a PEM chain nor a DER certificate (no SEQUENCE here)")
    if head[1] < 0x80:
        header, length = 2, head[1]
    else:
        count = head[1] & 0x7F
        if not 1 <= count <= 4 or pos + 2 + count > len(data):
            raise _chain_error(base + pos, "DER certificate has an invalid length")
        header, length = 2 + count, int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
    if pos + header + length > len(data):
        raise _chain_error(base + pos, f"DER certificate of {header + length} bytes runs past the chain")
    return header + length


def _load_der(der: bytes, offset: int) -> x509.Certificate:
    try:
        return x509load.der_certificate(der)
    except ValueError as error:
        raise _chain_error(offset, f"DER certificate does not parse: {error}") from None
