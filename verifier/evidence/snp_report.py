"""AMD SEV-SNP ATTESTATION_REPORT (ABI spec #56860, table "ATTESTATION_REPORT"): bytes <-> dataclass.

The report is 0x4A0 = 1184 bytes, every integer little-endian. Supported report versions:

- 2: the original layout (no CPUID, no mitigation vectors);
- 3: adds CPUID_FAM_ID/CPUID_MOD_ID/CPUID_STEP at 0x188;
- 4: an internal version that GCP issues (firmware 1.55.31, virtee/sev#307). It has version 3's
  layout, so it is parsed as a version 3 report and ``version`` keeps the value 4;
- 5: adds LAUNCH_MIT_VECTOR/CURRENT_MIT_VECTOR at 0x1F8/0x200.

Any other version is a ``ParseError`` naming ``version`` at offset 0.

Strictness (``from_bytes(data, strict=True)``, the default): every byte range the spec marks
reserved/MBZ must be zero and is rejected with a ``ParseError`` naming the range and the absolute
offset of the first non-zero byte. That covers the reserved byte ranges of the signed area (which
ranges are reserved depends on the version), POLICY bits 63:26, KEY_INFO bits 31:5 and the
signature bytes after R and S (0x330-0x49F) for SIGNATURE_ALGO 1. ``strict=False`` (like virtee's
"lax" feature, for reports from newer firmware) keeps such bytes without complaint. In both modes
the reserved bytes are kept, so ``to_bytes(from_bytes(b)) == b``.

Not parse errors, by design (they are validity rules for the verifier, which reports them with
a reason code): POLICY bit 17 clear (the spec says it "must be one"; decoded as
``policy.reserved_bit17``; ``policy_reserved_bit``), SIGNATURE_ALGO other than 1
(``signature_algo_unsupported``), a VMPL outside 0-3 (``vmpl_out_of_range``: a report the host
requested, VMPL 0xFFFFFFFF, is not the guest's), non-zero reserved TCB_VERSION bytes (Turin
bytes 4-6; ``tcb_mismatch``, as the VCEK's TCB has them zero), unknown PLATFORM_INFO bits (kept
in the ``PlatformInfo`` flag; the real Turin sample sets bit 6) and CPUID values of an unknown
product (``report.product`` is then None). SIGNING_KEY values 2-6 are reserved encodings
the ``SigningKey`` enum cannot hold, so they are parse errors in both modes.

TCB_VERSION fields are kept as raw u64 (``TcbVersion``) and decoded per product family
(``TcbVersion.parts(product)``): Milan/Genoa and Turin use different byte layouts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, ClassVar, Self

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ccverify.verifier._frozen import positional
from ccverify.verifier.errors import InputError, ParseError
from ccverify.verifier.evidence._binary import Layout, Reader, le
from ccverify.verifier.jsonable import to_jsonable

STRUCTURE = "SnpReport"
REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0
SUPPORTED_VERSIONS = (2, 3, 4, 5)
#: SIGNATURE_ALGO value for ECDSA P-384 with SHA-384 (the only one defined)
SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1
_ECDSA_COMPONENT_SIZE = 72  # R and S are 72-byte little-endian fields
_SIG_RESERVED_OFFSET = 0x330
_SIG_RESERVED_SIZE = REPORT_SIZE - _SIG_RESERVED_OFFSET  # 368

_POLICY_MBZ_SHIFT = 26
_KEY_INFO_MBZ_SHIFT = 5
_U64_MAX = (1 << 64) - 1

_NO_JSON: dict[str, Any] = {"json": False}


# --------------------------------------------------------------------------------------------
# Product and TCB_VERSION
# --------------------------------------------------------------------------------------------


class Product(enum.Enum):
    """The SEV-SNP product line; the value is the KDS path segment (``/vcek/v1/{value}/...``)."""

    MILAN = "Milan"
    GENOA = "Genoa"
    TURIN = "Turin"

    @property
    def kds_name(self) -> str:
        return self.value

    @property
    def uses_fmc(self) -> bool:
        """True for the Turin TCB_VERSION layout (FMC_SPL in byte 0, VCEK structVersion 1)."""
        return self is Product.TURIN

    @property
    def tcb_byte_names(self) -> tuple[str, ...]:
        """The names of TCB_VERSION bytes 0-7 in this product's layout (go-sev-guest's names).

        Milan/Genoa: bl_spl, tee_spl, spl_4..spl_7 (reserved), snp_spl, ucode_spl; Turin:
        fmc_spl, bl_spl, tee_spl, snp_spl, spl_5..spl_7 (reserved, zero), ucode_spl.
        """
        return _TCB_BYTE_NAMES_TURIN if self.uses_fmc else _TCB_BYTE_NAMES_MILAN

    @property
    def example_cpuid(self) -> tuple[int, int, int]:
        """Family, model and stepping as seen in real reports of this product (for builders)."""
        return _TYPICAL_CPUID[self]

    @classmethod
    def from_cpuid(cls, family: int, model: int) -> Product | None:
        """The product for CPUID family/model as reports carry them (v3+), or None if unknown.

        Family 0x19 models 0x00-0x0F are Milan, 0x10-0x1F and 0xA0-0xAF Genoa (Bergamo and
        Siena use Genoa's KDS path); family 0x1A models 0x00-0x11 are Turin.
        """
        if family == 0x19:
            if 0x00 <= model <= 0x0F:
                return cls.MILAN
            if 0x10 <= model <= 0x1F or 0xA0 <= model <= 0xAF:
                return cls.GENOA
        elif family == 0x1A and 0x00 <= model <= 0x11:
            return cls.TURIN
        return None

    @classmethod
    def from_name(cls, name: str) -> Product:
        """``"milan"``, ``"Milan-B0"``, ``"Genoa"``, ``"Turin"`` (VCEK productName, KDS path, user input).

        The stepping suffix after ``-`` is ignored; Bergamo and Siena map to Genoa (their KDS path).
        """
        base = name.strip().split("-", 1)[0].lower()
        found = _PRODUCT_NAMES.get(base)
        if found is None:
            raise InputError(
                f"unknown SEV-SNP product {name!r}: expected Milan, Genoa or Turin "
                "(optionally with a stepping such as Milan-B0)"
            )
        return found


_PRODUCT_NAMES: dict[str, Product] = {
    "milan": Product.MILAN,
    "genoa": Product.GENOA,
    "bergamo": Product.GENOA,
    "siena": Product.GENOA,
    "turin": Product.TURIN,
}
_TCB_BYTE_NAMES_MILAN = ("bl_spl", "tee_spl", "spl_4", "spl_5", "spl_6", "spl_7", "snp_spl", "ucode_spl")
_TCB_BYTE_NAMES_TURIN = ("fmc_spl", "bl_spl", "tee_spl", "snp_spl", "spl_5", "spl_6", "spl_7", "ucode_spl")
_TYPICAL_CPUID: dict[Product, tuple[int, int, int]] = {
    Product.MILAN: (0x19, 0x01, 0x01),
    Product.GENOA: (0x19, 0x11, 0x01),
    Product.TURIN: (0x1A, 0x02, 0x01),
}


@dataclass(frozen=True, slots=True)
class TcbParts:
    """The security patch levels of one TCB_VERSION; ``fmc_spl`` is None for Milan/Genoa.

    Compare with ``>=``/``<=`` or ``meets``: the order is component-wise (every SPL at least
    the other's), never the u64. Comparing parts of different layouts (one with ``fmc_spl``,
    one without) raises ``InputError``. ``>`` and ``<`` are deliberately not defined.
    """

    bl_spl: int
    tee_spl: int
    snp_spl: int
    ucode_spl: int
    fmc_spl: int | None = None

    def _components(self) -> tuple[int, ...]:
        base = (self.bl_spl, self.tee_spl, self.snp_spl, self.ucode_spl)
        return base if self.fmc_spl is None else (*base, self.fmc_spl)

    def _check_layout(self, other: TcbParts) -> None:
        if (self.fmc_spl is None) != (other.fmc_spl is None):
            raise InputError(
                "cannot compare TCB versions of different layouts: one has fmc_spl (Turin), "
                f"the other not (Milan/Genoa): {self} vs {other}"
            )

    def meets(self, minimum: TcbParts) -> bool:
        """True if every component is at least ``minimum``'s."""
        self._check_layout(minimum)
        return all(a >= b for a, b in zip(self._components(), minimum._components(), strict=True))

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, TcbParts):
            return NotImplemented
        return self.meets(other)

    def __le__(self, other: object) -> bool:
        if not isinstance(other, TcbParts):
            return NotImplemented
        return other.meets(self)

    def below(self, minimum: TcbParts) -> list[str]:
        """Names of the components that are below ``minimum`` (for error messages)."""
        self._check_layout(minimum)
        names = ("bl_spl", "tee_spl", "snp_spl", "ucode_spl", "fmc_spl")
        return [
            name
            for name, a, b in zip(names, self._components(), minimum._components(), strict=False)
            if a < b
        ]


@dataclass(frozen=True, slots=True)
class TcbVersion:
    """A TCB_VERSION as the raw little-endian u64; decode it with ``parts(product)``.

    Byte layouts (byte 0 = least significant):
    Milan/Genoa: 0 BL_SPL, 1 TEE_SPL, 2-5 reserved, 6 SNP_SPL, 7 UCODE_SPL;
    Turin: 0 FMC_SPL, 1 BL_SPL, 2 TEE_SPL, 3 SNP_SPL, 4-6 reserved, 7 UCODE_SPL.
    The reserved bytes are named as go-sev-guest names them (``Product.tcb_byte_names``):
    Milan/Genoa ``spl_4``-``spl_7`` (a VEK's extensions .3.4-.3.7 fill them), Turin
    ``spl_5``-``spl_7`` (zero: a Turin VEK's TCB has no place for spl_4-spl_7).
    ``components``, ``differs`` and ``above`` compare all eight bytes.
    """

    raw: int

    SIZE: ClassVar[int] = 8

    def __post_init__(self) -> None:
        if not isinstance(self.raw, int) or not 0 <= self.raw <= _U64_MAX:
            raise InputError(f"TCB_VERSION must be an unsigned 64-bit integer, got {self.raw!r}")

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        reader = Reader(data, "TcbVersion")
        value = reader.u64("raw", 0)
        if len(data) != cls.SIZE:
            raise reader.error("raw", cls.SIZE, f"TCB_VERSION is 8 bytes, got {len(data)}")
        return cls(value)

    def to_bytes(self) -> bytes:
        return le(self.raw, self.SIZE)

    def byte(self, index: int) -> int:
        return (self.raw >> (8 * index)) & 0xFF

    def parts(self, product: Product) -> TcbParts:
        return _tcb_parts(self.raw, product)

    def components(self, product: Product) -> tuple[tuple[str, int], ...]:
        """All eight bytes as ``(name, value)`` in ``product``'s layout, reserved bytes included
        (``Product.tcb_byte_names``)."""
        return tuple(zip(product.tcb_byte_names, self.raw.to_bytes(8, "little"), strict=True))

    def differs(self, other: TcbVersion, product: Product) -> list[str]:
        """Names of the bytes (``product``'s layout) in which ``self`` and ``other`` differ."""
        pairs = zip(self.components(product), other.components(product), strict=True)
        return [name for (name, a), (_, b) in pairs if a != b]

    def above(self, other: TcbVersion, product: Product) -> list[str]:
        """Names of the bytes (``product``'s layout) in which ``self`` is greater than ``other``:
        empty when ``self <= other`` component-wise (go-sev-guest ``TCBPartsLE``)."""
        pairs = zip(self.components(product), other.components(product), strict=True)
        return [name for (name, a), (_, b) in pairs if a > b]

    @classmethod
    def from_parts(cls, parts: TcbParts, product: Product) -> Self:
        """Encode ``parts`` in ``product``'s layout (reserved bytes zero)."""
        if product.uses_fmc != (parts.fmc_spl is not None):
            need = "needs" if product.uses_fmc else "has no"
            raise InputError(f"{product.value} TCB_VERSION {need} fmc_spl: {parts}")
        for name in ("bl_spl", "tee_spl", "snp_spl", "ucode_spl", "fmc_spl"):
            value = getattr(parts, name)
            if value is not None and (not isinstance(value, int) or not 0 <= value <= 0xFF):
                raise InputError(f"TCB component {name} must be 0-255, got {value!r}")
        # the reserved bytes (spl_*) are no TcbParts field: they stay zero
        return cls(
            sum(
                getattr(parts, name) << (8 * index)
                for index, name in enumerate(product.tcb_byte_names)
                if not name.startswith("spl_")
            )
        )

    def to_json(self, product: Product | None = None) -> dict[str, Any]:
        """``{"raw": <the u64 as a JSON integer>}`` plus the decoded parts when the product is
        known (integers stay integers in JSON; ``0x`` strings are for people)."""
        out: dict[str, Any] = {"raw": self.raw}
        if product is not None:
            parts = self.parts(product)
            out.update(
                bl_spl=parts.bl_spl,
                tee_spl=parts.tee_spl,
                snp_spl=parts.snp_spl,
                ucode_spl=parts.ucode_spl,
            )
            if parts.fmc_spl is not None:
                out["fmc_spl"] = parts.fmc_spl
        return out


@lru_cache(maxsize=1024)
def _tcb_parts(raw: int, product: Product) -> TcbParts:
    """The components of a TCB_VERSION (a shared immutable value per raw value and product)."""
    b = raw.to_bytes(8, "little")
    if product.uses_fmc:
        return TcbParts(bl_spl=b[1], tee_spl=b[2], snp_spl=b[3], ucode_spl=b[7], fmc_spl=b[0])
    return TcbParts(bl_spl=b[0], tee_spl=b[1], snp_spl=b[6], ucode_spl=b[7])


# --------------------------------------------------------------------------------------------
# POLICY, PLATFORM_INFO, KEY_INFO
# --------------------------------------------------------------------------------------------


def _bit(raw: int, bit: int) -> bool:
    return bool(raw >> bit & 1)


@dataclass(frozen=True, slots=True)
class GuestPolicy:
    """The guest POLICY (u64 at 0x008): ``raw`` plus its decoded bits.

    Bit 17 is reserved and the spec says it must be one; it is decoded as ``reserved_bit17``
    and left to verification to reject. Bits 63:26 are MBZ (``mbz_bits``; a strict parse
    rejects them).
    """

    raw: int
    abi_minor: int = field(init=False)
    abi_major: int = field(init=False)
    smt: bool = field(init=False)
    reserved_bit17: bool = field(init=False)
    migrate_ma: bool = field(init=False)
    debug: bool = field(init=False)
    single_socket: bool = field(init=False)
    cxl_allow: bool = field(init=False)
    mem_aes_256_xts: bool = field(init=False)
    rapl_dis: bool = field(init=False)
    ciphertext_hiding_dram: bool = field(init=False)
    page_swap_disable: bool = field(init=False)

    _FLAG_BITS: ClassVar[dict[str, int]] = {
        "smt": 16,
        "reserved_bit17": 17,
        "migrate_ma": 18,
        "debug": 19,
        "single_socket": 20,
        "cxl_allow": 21,
        "mem_aes_256_xts": 22,
        "rapl_dis": 23,
        "ciphertext_hiding_dram": 24,
        "page_swap_disable": 25,
    }

    def __post_init__(self) -> None:
        raw = self.raw
        if not isinstance(raw, int) or not 0 <= raw <= _U64_MAX:
            raise InputError(f"guest policy must be an unsigned 64-bit integer, got {raw!r}")
        object.__setattr__(self, "abi_minor", raw & 0xFF)
        object.__setattr__(self, "abi_major", raw >> 8 & 0xFF)
        for name, bit in self._FLAG_BITS.items():
            object.__setattr__(self, name, _bit(raw, bit))

    @property
    def mbz_bits(self) -> int:
        """Bits 63:26 (shifted down); must be zero."""
        return self.raw >> _POLICY_MBZ_SHIFT

    @classmethod
    def from_bytes(cls, data: bytes, *, strict: bool = True) -> Self:
        """The 8-byte POLICY field; ``strict`` rejects bits 63:26."""
        reader = Reader(bytes(data), "GuestPolicy")
        raw = reader.u64("policy", 0)
        if len(data) != 8:
            raise reader.error("policy", 8, f"POLICY is 8 bytes, got {len(data)}")
        if strict:
            _check_mbz_bits(reader, "policy", 0, 8, raw, _POLICY_MBZ_SHIFT, "63:26")
        return cls(raw)

    def to_bytes(self) -> bytes:
        return le(self.raw, 8)

    @classmethod
    def build(
        cls,
        *,
        abi_major: int = 0,
        abi_minor: int = 0,
        smt: bool = True,
        migrate_ma: bool = False,
        debug: bool = False,
        single_socket: bool = False,
        cxl_allow: bool = False,
        mem_aes_256_xts: bool = False,
        rapl_dis: bool = False,
        ciphertext_hiding_dram: bool = False,
        page_swap_disable: bool = False,
        reserved_bit17: bool = True,
    ) -> Self:
        """A policy from its parts; the defaults give 0x30000 (SMT allowed, bit 17 set)."""
        if not (0 <= abi_major <= 0xFF and 0 <= abi_minor <= 0xFF):
            raise InputError(f"ABI version must be two bytes, got {abi_major}.{abi_minor}")
        flags = {
            "smt": smt,
            "reserved_bit17": reserved_bit17,
            "migrate_ma": migrate_ma,
            "debug": debug,
            "single_socket": single_socket,
            "cxl_allow": cxl_allow,
            "mem_aes_256_xts": mem_aes_256_xts,
            "rapl_dis": rapl_dis,
            "ciphertext_hiding_dram": ciphertext_hiding_dram,
            "page_swap_disable": page_swap_disable,
        }
        raw = abi_minor | abi_major << 8
        for name, on in flags.items():
            if on:
                raw |= 1 << cls._FLAG_BITS[name]
        return cls(raw)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"raw": self.raw}
        out.update({f.name: getattr(self, f.name) for f in fields(self) if f.name != "raw"})
        return out


class PlatformInfo(enum.IntFlag):
    """PLATFORM_INFO (u64 at 0x040). Unknown bits are kept (``IntFlag`` keeps them)."""

    SMT_EN = 1 << 0
    TSME_EN = 1 << 1
    ECC_EN = 1 << 2
    RAPL_DIS = 1 << 3
    CIPHERTEXT_HIDING_DRAM_EN = 1 << 4
    #: v3+ (BadRAM mitigation done)
    ALIAS_CHECK_COMPLETE = 1 << 5
    #: Turin. Named after tinfoil's go-sev-guest fork and tinfoil-go#115 (the real Turin report
    #: in the fixtures sets it); reserved in the notes' table, not checked against the spec text.
    IOMMU_WRITE_SAFE = 1 << 6
    #: v5
    SEV_TIO_EN = 1 << 7


class SigningKey(enum.IntEnum):
    """KEY_INFO bits 4:2: which key signed the report. Values 2-6 are reserved (a ParseError)."""

    VCEK = 0
    VLEK = 1
    NONE = 7


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """KEY_INFO / signer info (u32 at 0x048): ``raw`` plus its decoded bits."""

    raw: int
    author_key_en: bool = field(init=False)
    mask_chip_key: bool = field(init=False)
    signing_key: SigningKey = field(init=False)

    def __post_init__(self) -> None:
        raw = self.raw
        if not isinstance(raw, int) or not 0 <= raw <= 0xFFFFFFFF:
            raise InputError(f"KEY_INFO must be an unsigned 32-bit integer, got {raw!r}")
        code = raw >> 2 & 7
        if code not in _SIGNING_KEY_VALUES:
            raise InputError(f"SIGNING_KEY value {code} is reserved (0 VCEK, 1 VLEK, 7 none)")
        object.__setattr__(self, "author_key_en", _bit(raw, 0))
        object.__setattr__(self, "mask_chip_key", _bit(raw, 1))
        object.__setattr__(self, "signing_key", SigningKey(code))

    @property
    def mbz_bits(self) -> int:
        """Bits 31:5 (shifted down); must be zero."""
        return self.raw >> _KEY_INFO_MBZ_SHIFT

    @classmethod
    def from_bytes(cls, data: bytes, *, strict: bool = True) -> Self:
        """The 4-byte KEY_INFO field; reserved SIGNING_KEY values and (``strict``) bits 31:5 fail."""
        reader = Reader(bytes(data), "KeyInfo")
        raw = reader.u32("key_info", 0)
        if len(data) != 4:
            raise reader.error("key_info", 4, f"KEY_INFO is 4 bytes, got {len(data)}")
        _check_signing_key(reader, "key_info.signing_key", 0, raw)
        if strict:
            _check_mbz_bits(reader, "key_info", 0, 4, raw, _KEY_INFO_MBZ_SHIFT, "31:5")
        return cls(raw)

    def to_bytes(self) -> bytes:
        return le(self.raw, 4)

    @classmethod
    def build(
        cls,
        signing_key: SigningKey = SigningKey.VCEK,
        *,
        author_key_en: bool = False,
        mask_chip_key: bool = False,
    ) -> Self:
        return cls(int(author_key_en) | int(mask_chip_key) << 1 | int(signing_key) << 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "author_key_en": self.author_key_en,
            "mask_chip_key": self.mask_chip_key,
            "signing_key": self.signing_key.name,
        }


_SIGNING_KEY_VALUES = frozenset(int(k) for k in SigningKey)


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def _layout_version(version: int) -> int:
    """2, 3 or 5: the layout a (supported) report version uses; 4 is v3's layout."""
    return 5 if version >= 5 else 3 if version >= 3 else 2


_HEAD = Layout(
    (
        ("version", "I"),
        ("guest_svn", "I"),
        ("policy", "Q"),
        ("family_id", "16s"),
        ("image_id", "16s"),
        ("vmpl", "I"),
        ("signature_algo", "I"),
        ("current_tcb", "Q"),
        ("platform_info", "Q"),
        ("key_info", "I"),
        ("reserved_04c", "4s"),
        ("report_data", "64s"),
        ("measurement", "48s"),
        ("host_data", "32s"),
        ("id_key_digest", "48s"),
        ("author_key_digest", "48s"),
        ("report_id", "32s"),
        ("report_id_ma", "32s"),
        ("reported_tcb", "Q"),
    )
)
_CPUID_V3 = Layout(
    (("cpuid_fam_id", "B"), ("cpuid_mod_id", "B"), ("cpuid_step", "B"), ("reserved_18b", "21s"))
)
_CPUID_V2 = Layout((("reserved_188", "24s"),))
_MIDDLE = Layout(
    (
        ("chip_id", "64s"),
        ("committed_tcb", "Q"),
        ("current_build", "B"),
        ("current_minor", "B"),
        ("current_major", "B"),
        ("reserved_1eb", "1s"),
        ("committed_build", "B"),
        ("committed_minor", "B"),
        ("committed_major", "B"),
        ("reserved_1ef", "1s"),
        ("launch_tcb", "Q"),
    )
)
_TAIL_V5 = Layout((("launch_mit_vector", "Q"), ("current_mit_vector", "Q"), ("reserved_208", "152s")))
_TAIL_V2 = Layout((("reserved_1f8", "168s"),))
_SIGNATURE = Layout(
    (
        ("signature_r", f"{_ECDSA_COMPONENT_SIZE}s"),
        ("signature_s", f"{_ECDSA_COMPONENT_SIZE}s"),
        ("signature_reserved", f"{_SIG_RESERVED_SIZE}s"),
    )
)

#: (field, offset, size) in order, as the spec names them (v3/v5 names), for truncation errors
_LAYOUT: tuple[tuple[str, int, int], ...] = (
    *_HEAD.spans(0x000),
    *_CPUID_V3.spans(0x188),
    *_MIDDLE.spans(0x1A0),
    *_TAIL_V5.spans(0x1F8),
    *_SIGNATURE.spans(0x2A0),
)


@dataclass(frozen=True, slots=True)
class SnpReport:
    """One SEV-SNP attestation report; field names are the spec's, in lowercase.

    Version-dependent fields: ``cpuid_*`` are None for v2, the mitigation vectors None below v5.
    The ``reserved_*`` fields hold the reserved bytes for an exact round trip; their lengths
    depend on the layout: ``reserved_cpuid`` is 0x188-0x19F (24 bytes) for v2 and 0x18B-0x19F
    (21 bytes) for v3+, ``reserved_tail`` is 0x1F8-0x29F (168 bytes) below v5 and 0x208-0x29F
    (152 bytes) for v5.
    """

    version: int
    guest_svn: int
    policy: GuestPolicy
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb: TcbVersion
    platform_info: PlatformInfo
    key_info: KeyInfo
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: TcbVersion
    cpuid_fam_id: int | None
    cpuid_mod_id: int | None
    cpuid_step: int | None
    chip_id: bytes
    committed_tcb: TcbVersion
    current_build: int
    current_minor: int
    current_major: int
    committed_build: int
    committed_minor: int
    committed_major: int
    launch_tcb: TcbVersion
    launch_mit_vector: int | None
    current_mit_vector: int | None
    signature_r: int
    signature_s: int
    reserved_04c: bytes = field(default=bytes(4), repr=False, metadata=_NO_JSON)
    reserved_cpuid: bytes = field(default=bytes(21), repr=False, metadata=_NO_JSON)
    reserved_1eb: bytes = field(default=bytes(1), repr=False, metadata=_NO_JSON)
    reserved_1ef: bytes = field(default=bytes(1), repr=False, metadata=_NO_JSON)
    reserved_tail: bytes = field(default=bytes(152), repr=False, metadata=_NO_JSON)
    signature_reserved: bytes = field(default=bytes(_SIG_RESERVED_SIZE), repr=False, metadata=_NO_JSON)

    SIZE: ClassVar[int] = REPORT_SIZE
    SIGNED_SIZE: ClassVar[int] = SIGNED_SIZE

    # ---------------------------------------------------------------- parsing

    @classmethod
    def from_bytes(cls, data: bytes, *, strict: bool = True) -> SnpReport:
        data = bytes(data)
        if len(data) != REPORT_SIZE:
            raise _size_error(data)
        r = Reader(data, STRUCTURE)
        version = r.u32("version", 0x000)
        if version not in SUPPORTED_VERSIONS:
            raise r.error(
                "version",
                0x000,
                f"unsupported report version {version}; supported: 2, 3, 4 (v3 layout) and 5",
            )
        layout = _layout_version(version)
        (
            _,
            guest_svn,
            policy_raw,
            family_id,
            image_id,
            vmpl,
            algo,
            current_tcb,
            platform_info,
            key_info_raw,
            reserved_04c,
            report_data,
            measurement,
            host_data,
            id_key_digest,
            author_key_digest,
            report_id,
            report_id_ma,
            reported_tcb,
        ) = _HEAD.read(r, 0)
        _check_signing_key(r, "key_info.signing_key", 0x048, key_info_raw)
        if strict:
            _check_mbz_bits(r, "policy", 0x008, 8, policy_raw, _POLICY_MBZ_SHIFT, "63:26")
            _check_mbz_bits(r, "key_info", 0x048, 4, key_info_raw, _KEY_INFO_MBZ_SHIFT, "31:5")

        cpuid: tuple[int | None, int | None, int | None]
        if layout >= 3:
            fam, mod, step, reserved_cpuid = _CPUID_V3.read(r, 0x188)
            cpuid = (fam, mod, step)
            _reserved(r, "reserved_18b", 0x18B, reserved_cpuid, strict)
        else:
            cpuid = (None, None, None)
            (reserved_cpuid,) = _CPUID_V2.read(r, 0x188)
            _reserved(r, "reserved_188", 0x188, reserved_cpuid, strict)
        launch_mit: int | None
        current_mit: int | None
        if layout >= 5:
            launch_mit, current_mit, reserved_tail = _TAIL_V5.read(r, 0x1F8)
            _reserved(r, "reserved_208", 0x208, reserved_tail, strict)
        else:
            launch_mit = current_mit = None
            (reserved_tail,) = _TAIL_V2.read(r, 0x1F8)
            _reserved(r, "reserved_1f8", 0x1F8, reserved_tail, strict)
        signature_r, signature_s, signature_reserved = _SIGNATURE.read(r, 0x2A0)
        _reserved(
            r,
            "signature_reserved",
            _SIG_RESERVED_OFFSET,
            signature_reserved,
            strict and algo == SIGNATURE_ALGO_ECDSA_P384_SHA384,
        )
        _reserved(r, "reserved_04c", 0x04C, reserved_04c, strict)
        (
            chip_id,
            committed_tcb,
            current_build,
            current_minor,
            current_major,
            reserved_1eb,
            committed_build,
            committed_minor,
            committed_major,
            reserved_1ef,
            launch_tcb,
        ) = _MIDDLE.read(r, 0x1A0)
        _reserved(r, "reserved_1eb", 0x1EB, reserved_1eb, strict)
        _reserved(r, "reserved_1ef", 0x1EF, reserved_1ef, strict)

        # positionally, in SnpReport's field order (round trips and a test pin it)
        return _make_report(
            version,
            guest_svn,
            _policy(policy_raw),
            family_id,
            image_id,
            vmpl,
            algo,
            _tcb(current_tcb),
            _platform_info(platform_info),
            _key_info(key_info_raw),
            report_data,
            measurement,
            host_data,
            id_key_digest,
            author_key_digest,
            report_id,
            report_id_ma,
            _tcb(reported_tcb),
            cpuid[0],
            cpuid[1],
            cpuid[2],
            chip_id,
            _tcb(committed_tcb),
            current_build,
            current_minor,
            current_major,
            committed_build,
            committed_minor,
            committed_major,
            _tcb(launch_tcb),
            launch_mit,
            current_mit,
            int.from_bytes(signature_r, "little"),
            int.from_bytes(signature_s, "little"),
            reserved_04c,
            reserved_cpuid,
            reserved_1eb,
            reserved_1ef,
            reserved_tail,
            signature_reserved,
        )

    # ---------------------------------------------------------------- serialising

    def _signed_parts(self) -> list[bytes]:
        layout = self.layout_version
        if layout >= 3:
            if self.cpuid_fam_id is None or self.cpuid_mod_id is None or self.cpuid_step is None:
                raise InputError(f"a version {self.version} report needs cpuid_fam_id/mod_id/step")
            cpuid = bytes(_u8s("cpuid", self.cpuid_fam_id, self.cpuid_mod_id, self.cpuid_step))
        else:
            if self.cpuid_fam_id is not None or self.cpuid_mod_id is not None:
                raise InputError("a version 2 report has no CPUID fields (set them to None)")
            cpuid = b""
        if layout >= 5:
            if self.launch_mit_vector is None or self.current_mit_vector is None:
                raise InputError(f"a version {self.version} report needs both mitigation vectors")
            mit = le(self.launch_mit_vector, 8) + le(self.current_mit_vector, 8)
        else:
            if self.launch_mit_vector is not None or self.current_mit_vector is not None:
                raise InputError(
                    f"a version {self.version} report has no mitigation vectors (set them to None)"
                )
            mit = b""
        parts = [
            le(self.version, 4),
            le(self.guest_svn, 4),
            self.policy.to_bytes(),
            _sized("family_id", self.family_id, 16),
            _sized("image_id", self.image_id, 16),
            le(self.vmpl, 4),
            le(self.signature_algo, 4),
            self.current_tcb.to_bytes(),
            le(int(self.platform_info), 8),
            self.key_info.to_bytes(),
            _sized("reserved_04c", self.reserved_04c, 4),
            _sized("report_data", self.report_data, 64),
            _sized("measurement", self.measurement, 48),
            _sized("host_data", self.host_data, 32),
            _sized("id_key_digest", self.id_key_digest, 48),
            _sized("author_key_digest", self.author_key_digest, 48),
            _sized("report_id", self.report_id, 32),
            _sized("report_id_ma", self.report_id_ma, 32),
            self.reported_tcb.to_bytes(),
            cpuid,
            _sized("reserved_cpuid", self.reserved_cpuid, 21 if layout >= 3 else 24),
            _sized("chip_id", self.chip_id, 64),
            self.committed_tcb.to_bytes(),
            bytes(_u8s("current version", self.current_build, self.current_minor, self.current_major)),
            _sized("reserved_1eb", self.reserved_1eb, 1),
            bytes(
                _u8s("committed version", self.committed_build, self.committed_minor, self.committed_major)
            ),
            _sized("reserved_1ef", self.reserved_1ef, 1),
            self.launch_tcb.to_bytes(),
            mit,
            _sized("reserved_tail", self.reserved_tail, 152 if layout >= 5 else 168),
        ]
        return parts

    @property
    def signed_data(self) -> bytes:
        """Bytes 0x000-0x29F: what the signature covers."""
        try:
            data = b"".join(self._signed_parts())
        except OverflowError as exc:
            raise InputError(f"a report field does not fit its size: {exc}") from exc
        if len(data) != SIGNED_SIZE:  # pragma: no cover - guarded by the field sizes above
            raise InputError(f"report fields add up to {len(data)} signed bytes, not {SIGNED_SIZE}")
        return data

    @property
    def signature(self) -> bytes:
        """The 512-byte SIGNATURE area (0x2A0-0x49F): R, S (72 bytes each, LE), reserved."""
        try:
            r = le(self.signature_r, _ECDSA_COMPONENT_SIZE)
            s = le(self.signature_s, _ECDSA_COMPONENT_SIZE)
        except OverflowError as exc:
            raise InputError("signature R and S must fit in 72 bytes") from exc
        return r + s + _sized("signature_reserved", self.signature_reserved, _SIG_RESERVED_SIZE)

    def to_bytes(self) -> bytes:
        return self.signed_data + self.signature

    # ---------------------------------------------------------------- derived values

    @property
    def layout_version(self) -> int:
        """2, 3 or 5: which layout the report uses (version 4 uses version 3's)."""
        return _layout_version(self.version)

    @property
    def product(self) -> Product | None:
        """The product from CPUID (v3+); None for v2 and for CPUID values of unknown products."""
        if self.cpuid_fam_id is None or self.cpuid_mod_id is None:
            return None
        return Product.from_cpuid(self.cpuid_fam_id, self.cpuid_mod_id)

    @property
    def signature_der(self) -> bytes:
        """R and S as a DER ECDSA-Sig-Value, as ``cryptography``'s ``verify`` takes it."""
        return encode_dss_signature(self.signature_r, self.signature_s)

    @property
    def current_version(self) -> tuple[int, int, int]:
        """Firmware version (major, minor, build) the report was made with."""
        return (self.current_major, self.current_minor, self.current_build)

    @property
    def committed_version(self) -> tuple[int, int, int]:
        return (self.committed_major, self.committed_minor, self.committed_build)

    def tcb_parts(self, which: str = "reported_tcb", product: Product | None = None) -> TcbParts:
        """Decode one TCB field (``reported_tcb``, ``current_tcb``, ``committed_tcb``,
        ``launch_tcb``) with ``product``, or the CPUID product when not given."""
        if which not in _TCB_FIELDS:
            raise InputError(f"{which!r} is not a TCB field; expected one of {', '.join(_TCB_FIELDS)}")
        chosen = product or self.product
        if chosen is None:
            raise InputError(
                f"the product of this version {self.version} report is not known from CPUID; "
                "name it (Milan, Genoa or Turin) to decode its TCB"
            )
        tcb: TcbVersion = getattr(self, which)
        return tcb.parts(chosen)

    def to_json(self) -> dict[str, Any]:
        """Fields in order; TCBs show raw hex and, when CPUID names the product, their parts."""
        product = self.product
        out: dict[str, Any] = {}
        for f in fields(self):
            if not f.metadata.get("json", True):
                continue
            value = getattr(self, f.name)
            if isinstance(value, TcbVersion):
                out[f.name] = value.to_json(product)
            elif f.name in ("signature_r", "signature_s"):
                out[f.name] = f"{value:096x}"
            else:
                out[f.name] = to_jsonable(value)
        out["product"] = product.value if product is not None else None
        return out


_TCB_FIELDS = ("reported_tcb", "current_tcb", "committed_tcb", "launch_tcb")


#: one per report, built positionally: frozen __init__ costs ~0.3 us a field and there are 40
_make_report = positional(SnpReport)
#: decoded bitfields are immutable values, so one instance per raw value serves every report
#: (a fleet's reports repeat a few policies and TCBs) instead of decoding bit by bit each time
_policy = lru_cache(maxsize=256)(GuestPolicy)
_tcb = lru_cache(maxsize=1024)(TcbVersion)
_key_info = lru_cache(maxsize=64)(KeyInfo)
_platform_info = lru_cache(maxsize=256)(PlatformInfo)


def _size_error(data: bytes) -> ParseError:
    size = len(data)
    if size > REPORT_SIZE:
        return ParseError(
            STRUCTURE,
            "size",
            REPORT_SIZE,
            f"an attestation report is exactly {REPORT_SIZE} bytes; got {size} "
            f"({size - REPORT_SIZE} trailing bytes)",
        )
    name, offset, width = next((f for f in _LAYOUT if f[1] + f[2] > size), _LAYOUT[-1])
    return ParseError(
        STRUCTURE,
        name,
        offset,
        f"needs {width} bytes but only {max(0, size - offset)} remain "
        f"(input is truncated: {size} of {REPORT_SIZE} bytes)",
    )


def _reserved(r: Reader, name: str, offset: int, value: bytes, strict: bool) -> None:
    """Reserved bytes must be zero in strict mode; the error names the first non-zero byte."""
    if strict and value.count(0) != len(value):
        r.expect_zero(name, offset, len(value))


def _check_mbz_bits(r: Reader, name: str, offset: int, size: int, value: int, shift: int, bits: str) -> None:
    high = value >> shift
    if high:
        first_bit = shift + (high & -high).bit_length() - 1
        raise r.error(
            name,
            offset + first_bit // 8,
            f"bits {bits} are reserved and must be zero; bit {first_bit} is set "
            f"(value 0x{value:0{size * 2}x})",
        )


def _check_signing_key(r: Reader, name: str, offset: int, key_info: int) -> None:
    code = key_info >> 2 & 7
    if code not in _SIGNING_KEY_VALUES:
        raise r.error(
            name,
            offset,
            f"SIGNING_KEY (bits 4:2) value {code} is reserved; defined are 0 (VCEK), 1 (VLEK) and 7 (none)",
        )


def _sized(name: str, value: bytes, size: int) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != size:
        got = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise InputError(f"report field {name} must be {size} bytes, got {got}")
    return bytes(value)


def _u8s(name: str, *values: int | None) -> list[int]:
    out: list[int] = []
    for value in values:
        if not isinstance(value, int) or not 0 <= value <= 0xFF:
            raise InputError(f"report field {name} needs bytes 0-255, got {values!r}")
        out.append(value)
    return out
