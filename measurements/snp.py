"""AMD SEV, SEV-ES and SEV-SNP launch digests, computed offline.

SNP (SNP firmware ABI spec, ``SNP_LAUNCH_UPDATE`` / PAGE_INFO): the launch digest starts as
48 zero bytes and every page the VMM adds extends it::

    PAGE_INFO (0x70 bytes) = LD[48] || contents[48] || u16 0x70 || u8 page_type || u8 is_imi=0
                             || u8 vmpl3=0 || u8 vmpl2=0 || u8 vmpl1=0 || u8 0 || u64 gpa
    LD = SHA-384(PAGE_INFO)

``contents`` is SHA-384 of the page for NORMAL and VMSA pages and zeros for the others.
The order QEMU (and EC2, GCE) use:

1. the whole firmware image as NORMAL pages from ``4 GiB - len(image)`` upwards -- this part
   depends only on the firmware and is kept as an :class:`OvmfLaunchState` (its digest is the
   "OVMF hash" of sev-snp-measure's ``snp:ovmf-hash`` mode) so a grid of vCPU counts or a
   precomputed hash does not redo it;
2. every SEV metadata section in table order: SEC_MEM -> ZERO pages (GCE: UNMEASURED),
   SECRETS -> a SECRETS page, CPUID -> a CPUID page (EC2: all CPUID pages after the other
   sections), KERNEL_HASHES -> one NORMAL page holding the SEV hashes table at the offset of
   the hash-table GPA (ZERO pages when no kernel is given), SVSM_CAA -> ZERO pages;
3. one VMSA page per vCPU (GPA 0xFFFFFFFFF000): the BSP starts at 0xfffffff0, the APs at the
   EIP of the SEV-ES reset block.

SEV-ES: ``SHA-256(firmware || [hashes table] || VMSA_0 .. VMSA_n-1)`` with SEV_FEATURES 0.
SEV: ``SHA-256(firmware || [hashes table])``.
SNP with a Coconut SVSM (QEMU only): firmware pages, then the SVSM image (ending at
``firmware GPA - vars size``), then the SVSM's own metadata sections, then one SVSM VMSA per
vCPU (all identical, entry = SVSM GPA + SVSM_INFO offset).

Differences from sev-snp-measure 0.0.13 (the oracle the tests compare against), on purpose:

* firmware without SEV metadata (or without the SEV-ES reset block) is refused in SNP and
  SEV-ES modes; sev-snp-measure silently measures "no sections" and prints a digest;
  plain SEV without a kernel is SHA-256 of the file, as sev-snp-measure computes it for any
  (non-empty) file: no footer table is needed there;
* more than 4096 vCPUs (x86 KVM's ``KVM_MAX_VCPUS``) is refused before any work;
* a kernel with firmware that has no SNP_KERNEL_HASHES section is refused *before* any work;
* guest features are always explicit in results.

Quirks of sev-snp-measure reproduced so the golden values match:

* SVSM mode measures SEV_FEATURES 0x1 in every VMSA whatever ``--guest-features`` says
  (its ``VMSA_SVSM`` hard-codes it; the golden digests from real Coconut-SVSM launches were
  made that way), and x87_fcw 0 (see ``vmsa.py``); ours always measures 0x1 too, and
  ``measure_snp`` refuses any other ``guest_features`` in that mode rather than print a
  digest for a value the launch does not measure;
* the hashes page goes to the *section's* GPA while the table's offset in the page comes from
  the SEV_HASH_TABLE_RV footer entry's GPA (they agree on real AmdSev builds);
* the command-line hash is SHA-256(cmdline + NUL), SHA-256(b"\\0") without a command line,
  and the initrd hash is SHA-256(b"") without an initrd.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import uuid
from dataclasses import dataclass
from typing import Self

from ccverify.measurements import cmdline as cmdline_mod
from ccverify.measurements.ovmf import (
    FOUR_GIB,
    PAGE_SIZE,
    OvmfImage,
    SevSection,
    SevSectionType,
)
from ccverify.measurements.vmsa import BSP_EIP, SVSM_SEV_FEATURES, VmmType, reset_vmsa, svsm_vmsa
from ccverify.verifier.errors import InputError, ParseError

__all__ = [
    "GUEST_FEATURE_BITS",
    "MAX_VCPUS",
    "SVSM_SEV_FEATURES",
    "VCPU_TYPES",
    "LaunchDigest",
    "OvmfLaunchState",
    "SevHashes",
    "SevMode",
    "VmmType",
    "check_vcpus",
    "cpu_signature",
    "guest_feature_names",
    "ovmf_hash",
    "sev_launch_digest",
    "seves_launch_digest",
    "snp_launch_digest",
    "svsm_launch_digest",
    "vcpu_signature",
]

LD_SIZE = 48
ZERO_LD = bytes(LD_SIZE)
#: x86 KVM's KVM_MAX_VCPUS (arch/x86/include/asm/kvm_host.h: 4096 with CONFIG_MAXSMP, else
#: 1024): no launch has more vCPUs, so more is refused before one VMSA page is hashed
MAX_VCPUS = 4096
VMSA_GPA = 0xFFFFFFFFF000

PAGE_NORMAL = 0x01
PAGE_VMSA = 0x02
PAGE_ZERO = 0x03
PAGE_UNMEASURED = 0x04
PAGE_SECRETS = 0x05
PAGE_CPUID = 0x06

_PAGE_INFO_TAIL = struct.Struct("<HBBBBBBQ")


class SevMode(enum.Enum):
    SEV = "sev"
    SEV_ES = "seves"
    SNP = "snp"
    SNP_OVMF_HASH = "snp:ovmf-hash"
    SNP_SVSM = "snp:svsm"


def cpu_signature(family: int, model: int, stepping: int) -> int:
    """CPUID Fn0000_0001 EAX for an AMD family/model/stepping (AMD pub. 25481)."""
    if family > 0xF:
        base_family, ext_family = 0xF, (family - 0xF) & 0xFF
    else:
        base_family, ext_family = family, 0
    return (
        ext_family << 20
        | ((model >> 4) & 0xF) << 16
        | base_family << 8
        | (model & 0xF) << 4
        | (stepping & 0xF)
    )


_EPYC = cpu_signature(23, 1, 2)
_ROME = cpu_signature(23, 49, 0)
_MILAN = cpu_signature(25, 1, 1)
_GENOA = cpu_signature(25, 17, 0)
_TURIN = cpu_signature(26, 0, 0)

#: QEMU CPU model names (as sev-snp-measure spells them) -> vCPU signature placed in RDX
VCPU_TYPES: dict[str, int] = {
    "EPYC": _EPYC,
    "EPYC-v1": _EPYC,
    "EPYC-v2": _EPYC,
    "EPYC-IBPB": _EPYC,
    "EPYC-v3": _EPYC,
    "EPYC-v4": _EPYC,
    "EPYC-Rome": _ROME,
    "EPYC-Rome-v1": _ROME,
    "EPYC-Rome-v2": _ROME,
    "EPYC-Rome-v3": _ROME,
    "EPYC-Milan": _MILAN,
    "EPYC-Milan-v1": _MILAN,
    "EPYC-Milan-v2": _MILAN,
    "EPYC-Genoa": _GENOA,
    "EPYC-Genoa-v1": _GENOA,
    "EPYC-Turin": _TURIN,
}


def vcpu_signature(vcpu_type: str) -> int:
    try:
        return VCPU_TYPES[vcpu_type]
    except KeyError:
        raise InputError(f"unknown vCPU type {vcpu_type!r}; known: {', '.join(VCPU_TYPES)}") from None


#: SEV_FEATURES bits (VMSA offset 0x3b0), AMD APM vol. 2 table 15-34
GUEST_FEATURE_BITS: dict[int, str] = {
    0: "SNPActive",
    1: "vTOM",
    2: "ReflectVC",
    3: "RestrictedInjection",
    4: "AlternateInjection",
    5: "DebugSwap",
    6: "PreventHostIBS",
    7: "BTBIsolation",
    8: "VmplSSS",
    9: "SecureTSC",
    10: "VmgexitParameter",
    12: "IbsVirtualization",
    14: "VmsaRegProt",
    15: "SmtProtection",
}


def guest_feature_names(value: int) -> list[str]:
    return [GUEST_FEATURE_BITS.get(bit, f"bit{bit}") for bit in range(64) if value >> bit & 1]


# -- the PAGE_INFO chain -----------------------------------------------------------------------


class LaunchDigest:
    """The running SNP launch digest (the guest context's LD)."""

    __slots__ = ("value",)

    def __init__(self, seed: bytes = ZERO_LD) -> None:
        if len(seed) != LD_SIZE:
            raise InputError(f"an SNP launch digest is {LD_SIZE} bytes, got {len(seed)}")
        self.value = bytes(seed)

    def update(self, page_type: int, gpa: int, contents: bytes) -> None:
        self.value = hashlib.sha384(
            self.value + contents + _PAGE_INFO_TAIL.pack(0x70, page_type, 0, 0, 0, 0, 0, gpa)
        ).digest()

    def normal_pages(self, gpa: int, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        if len(view) % PAGE_SIZE:
            raise InputError(f"{len(view)} bytes is not a whole number of 4 KiB pages")
        sha384 = hashlib.sha384
        tail = _PAGE_INFO_TAIL.pack(0x70, PAGE_NORMAL, 0, 0, 0, 0, 0, 0)[:8]
        ld = self.value
        for offset in range(0, len(view), PAGE_SIZE):
            page_hash = sha384(view[offset : offset + PAGE_SIZE]).digest()
            ld = sha384(ld + page_hash + tail + (gpa + offset).to_bytes(8, "little")).digest()
        self.value = ld

    def empty_pages(self, page_type: int, gpa: int, size: int) -> None:
        for offset in range(0, size, PAGE_SIZE):
            self.update(page_type, gpa + offset, ZERO_LD)

    def vmsa_page(self, page_hash: bytes) -> None:
        self.update(PAGE_VMSA, VMSA_GPA, page_hash)


# -- the SEV hashes table (QEMU kernel-hashes=on) ------------------------------------------------

HASH_TABLE_GUID = uuid.UUID("9438d606-4f22-4cc9-b479-a793d411fd21")
CMDLINE_ENTRY_GUID = uuid.UUID("97d02dd8-bd20-4c94-aa78-e7714d36ab2a")
INITRD_ENTRY_GUID = uuid.UUID("44baf731-3a2f-4bd7-9af1-41e29169781d")
KERNEL_ENTRY_GUID = uuid.UUID("4de79437-abd2-427f-b835-d5b172d2045b")
HASH_ENTRY_SIZE = 16 + 2 + 32
HASH_TABLE_SIZE = 16 + 2 + 3 * HASH_ENTRY_SIZE  # 168
PADDED_HASH_TABLE_SIZE = (HASH_TABLE_SIZE + 15) & ~15  # 176


def cmdline_bytes(cmdline: str | None) -> bytes:
    """What QEMU hashes for the command line: its bytes plus the terminating NUL.

    The bytes are the ones QEMU received: a command line that is not valid UTF-8 (argv
    bytes decoded with ``surrogateescape``) is encoded back to those raw bytes.
    """
    return cmdline_mod.raw_bytes(cmdline) + b"\0"


@dataclass(frozen=True)
class SevHashes:
    """The three SHA-256 digests QEMU puts in the SEV hashes table."""

    kernel_sha256: bytes
    initrd_sha256: bytes
    cmdline_sha256: bytes

    @classmethod
    def from_digests(cls, kernel_sha256: bytes, initrd_sha256: bytes | None, cmdline: str | None) -> Self:
        return cls(
            kernel_sha256=kernel_sha256,
            initrd_sha256=initrd_sha256 if initrd_sha256 is not None else hashlib.sha256(b"").digest(),
            cmdline_sha256=hashlib.sha256(cmdline_bytes(cmdline)).digest(),
        )

    def table(self) -> bytes:
        """The 168-byte table zero-padded to 176 bytes, byte-identical to QEMU's."""
        entry_len = HASH_ENTRY_SIZE.to_bytes(2, "little")
        out = (
            HASH_TABLE_GUID.bytes_le
            + HASH_TABLE_SIZE.to_bytes(2, "little")
            + CMDLINE_ENTRY_GUID.bytes_le
            + entry_len
            + self.cmdline_sha256
            + INITRD_ENTRY_GUID.bytes_le
            + entry_len
            + self.initrd_sha256
            + KERNEL_ENTRY_GUID.bytes_le
            + entry_len
            + self.kernel_sha256
        )
        return out + bytes(PADDED_HASH_TABLE_SIZE - len(out))

    def page(self, offset: int) -> bytes:
        if offset + PADDED_HASH_TABLE_SIZE > PAGE_SIZE:
            raise InputError(f"hashes table at page offset 0x{offset:x} does not fit in the page")
        return bytes(offset) + self.table() + bytes(PAGE_SIZE - offset - PADDED_HASH_TABLE_SIZE)


# -- SNP -------------------------------------------------------------------------------------


def _require_whole_pages(what: str, data: bytes) -> None:
    if not data or len(data) % PAGE_SIZE:
        raise InputError(f"{what} size {len(data)} is not a non-zero multiple of 4 KiB")


def ovmf_hash(firmware: bytes) -> bytes:
    """The launch digest after the firmware pages alone (sev-snp-measure ``snp:ovmf-hash``)."""
    _require_whole_pages("firmware", firmware)
    ld = LaunchDigest()
    ld.normal_pages(FOUR_GIB - len(firmware), firmware)
    return ld.value


@dataclass(frozen=True)
class OvmfLaunchState:
    """The SNP launch state after the firmware pages, plus what the later steps need.

    Build it once with :meth:`from_firmware` (hashes every firmware page) or
    :meth:`from_hash` (a precomputed OVMF hash plus the image -- or only its last pages --
    for the footer table), then call :meth:`launch_digest` as often as needed.
    """

    ovmf_hash: bytes
    image: OvmfImage
    #: True when ``ovmf_hash`` was supplied rather than computed here
    precomputed: bool = False

    @classmethod
    def from_firmware(cls, firmware: bytes) -> Self:
        image = OvmfImage.from_bytes(firmware)
        _require_snp_firmware(image)
        return cls(ovmf_hash=ovmf_hash(firmware), image=image)

    @classmethod
    def from_hash(cls, digest: bytes, firmware_tail: bytes) -> Self:
        if len(digest) != LD_SIZE:
            raise InputError(f"an OVMF hash is {LD_SIZE} bytes (96 hex digits), got {len(digest)}")
        image = OvmfImage.from_bytes(firmware_tail)
        _require_snp_firmware(image)
        return cls(ovmf_hash=bytes(digest), image=image, precomputed=True)

    def launch_digest(
        self,
        *,
        vcpus: int,
        vcpu_sig: int,
        guest_features: int,
        vmm: VmmType = VmmType.QEMU,
        hashes: SevHashes | None = None,
    ) -> bytes:
        check_vcpus(vcpus)
        ld = LaunchDigest(self.ovmf_hash)
        _metadata_pages(ld, self.image, hashes, vmm)
        ap_eip = self.image.require_reset_eip()
        bsp = hashlib.sha384(reset_vmsa(BSP_EIP, guest_features, vcpu_sig, vmm)).digest()
        ap = hashlib.sha384(reset_vmsa(ap_eip, guest_features, vcpu_sig, vmm)).digest()
        ld.vmsa_page(bsp)
        for _ in range(vcpus - 1):
            ld.vmsa_page(ap)
        return ld.value


def _require_snp_firmware(image: OvmfImage) -> None:
    image.require_sev_metadata()
    image.require_reset_eip()


def check_vcpus(vcpus: int) -> None:
    """Refuse a vCPU count no launch can have (fewer than 1, more than :data:`MAX_VCPUS`)."""
    if vcpus < 1:
        raise InputError(f"the number of vCPUs must be at least 1, got {vcpus}")
    if vcpus > MAX_VCPUS:
        raise InputError(
            f"{vcpus} vCPUs: x86 KVM runs at most {MAX_VCPUS} (KVM_MAX_VCPUS), so no launch measures "
            "that many VMSAs"
        )


def require_kernel_hashes(image: OvmfImage) -> SevSection:
    """The SNP_KERNEL_HASHES section, or a clear error when the firmware cannot measure a kernel."""
    metadata = image.require_sev_metadata()
    for section in metadata.sections:
        if section.section_type is SevSectionType.SNP_KERNEL_HASHES:
            if section.size != PAGE_SIZE:
                raise ParseError(
                    f"{image.name}SevMetadata",
                    "SNP_KERNEL_HASHES.size",
                    metadata.offset,
                    f"kernel-hashes section is 0x{section.size:x} bytes; QEMU fills exactly one page",
                )
            if image.sev_hash_table is None:
                raise ParseError(
                    f"{image.name}FooterTable",
                    "sev_hash_table",
                    None,
                    "firmware has an SNP_KERNEL_HASHES section but no SEV hash table entry (7255371f-...)",
                )
            return section
    raise InputError(
        "a kernel was given but the firmware's SEV metadata has no SNP_KERNEL_HASHES section, so "
        "the kernel, initrd and command line would not be measured (use an OvmfPkg/AmdSev "
        "AmdSevX64 build for measured direct boot, or boot without a kernel)"
    )


def _metadata_pages(ld: LaunchDigest, image: OvmfImage, hashes: SevHashes | None, vmm: VmmType) -> None:
    metadata = image.require_sev_metadata()
    if hashes is not None:
        require_kernel_hashes(image)
    for section in metadata.sections:
        kind = section.section_type
        if kind is SevSectionType.SNP_SEC_MEM:
            ld.empty_pages(PAGE_UNMEASURED if vmm is VmmType.GCE else PAGE_ZERO, section.gpa, section.size)
        elif kind is SevSectionType.SNP_SECRETS:
            ld.update(PAGE_SECRETS, section.gpa, ZERO_LD)
        elif kind is SevSectionType.CPUID:
            if vmm is not VmmType.EC2:
                ld.update(PAGE_CPUID, section.gpa, ZERO_LD)
        elif kind is SevSectionType.SNP_KERNEL_HASHES:
            if hashes is None:
                ld.empty_pages(PAGE_ZERO, section.gpa, section.size)
            else:
                table = image.sev_hash_table
                assert table is not None  # require_kernel_hashes checked it
                ld.normal_pages(section.gpa, hashes.page(table[0] & (PAGE_SIZE - 1)))
        else:  # SVSM_CAA
            ld.empty_pages(PAGE_ZERO, section.gpa, section.size)
    if vmm is VmmType.EC2:
        for section in metadata.sections:
            if section.section_type is SevSectionType.CPUID:
                ld.update(PAGE_CPUID, section.gpa, ZERO_LD)


def snp_launch_digest(
    firmware: bytes,
    *,
    vcpus: int,
    vcpu_sig: int,
    guest_features: int,
    vmm: VmmType = VmmType.QEMU,
    hashes: SevHashes | None = None,
    precomputed_ovmf_hash: bytes | None = None,
) -> bytes:
    """The SNP launch digest (MEASUREMENT) for ``firmware`` booted as described."""
    if precomputed_ovmf_hash is not None:
        state = OvmfLaunchState.from_hash(precomputed_ovmf_hash, firmware)
    else:
        state = OvmfLaunchState.from_firmware(firmware)
    return state.launch_digest(
        vcpus=vcpus, vcpu_sig=vcpu_sig, guest_features=guest_features, vmm=vmm, hashes=hashes
    )


def svsm_launch_digest(
    firmware: bytes,
    svsm: bytes,
    *,
    vars_size: int,
    vcpus: int,
    vcpu_sig: int,
) -> bytes:
    """SNP launch digest of a Coconut SVSM + OVMF guest under QEMU (sev-snp-measure snp:svsm).

    Every SVSM VMSA measures SEV_FEATURES :data:`SVSM_SEV_FEATURES` (0x1), as sev-snp-measure's
    ``VMSA_SVSM`` does whatever ``--guest-features`` says.
    """
    check_vcpus(vcpus)
    if vars_size < 0 or vars_size % PAGE_SIZE:
        raise InputError(f"vars_size {vars_size} is not a multiple of 4 KiB")
    _require_whole_pages("firmware", firmware)
    _require_whole_pages("SVSM image", svsm)
    OvmfImage.from_bytes(firmware)  # the firmware must at least be an OVMF image
    svsm_image = OvmfImage.from_bytes(svsm, name="SVSM")
    svsm_image.require_sev_metadata()
    reset_offset = svsm_image.svsm_reset_offset
    if reset_offset is None:
        raise ParseError(
            "SVSMFooterTable", "svsm_info", None, "SVSM image has no SVSM_INFO entry (a789a612-...)"
        )
    firmware_gpa = FOUR_GIB - len(firmware)
    svsm_gpa = firmware_gpa - vars_size - len(svsm)
    if svsm_gpa < 0:
        raise InputError("the SVSM image and vars store do not fit below 4 GiB")
    ld = LaunchDigest()
    ld.normal_pages(firmware_gpa, firmware)
    ld.normal_pages(svsm_gpa, svsm)
    _metadata_pages(ld, svsm_image, None, VmmType.QEMU)
    page_hash = hashlib.sha384(svsm_vmsa(svsm_gpa + reset_offset, vcpu_sig)).digest()
    for _ in range(vcpus):
        ld.vmsa_page(page_hash)
    return ld.value


# -- SEV and SEV-ES ------------------------------------------------------------------------------


def _sev_prefix(firmware: bytes, image: OvmfImage, hashes: SevHashes | None) -> hashlib._Hash:
    """SHA-256 over ``firmware`` (parsed as ``image``) and, with a kernel, the hashes table."""
    digest = hashlib.sha256(firmware)
    if hashes is not None:
        if not image.supports_sev_hashes:
            raise InputError(
                "a kernel was given but the firmware has no SEV hash table (7255371f-... with a "
                "non-zero GPA), so the kernel, initrd and command line would not be measured"
            )
        digest.update(hashes.table())
    return digest


def sev_launch_digest(firmware: bytes, *, hashes: SevHashes | None = None) -> bytes:
    """SEV launch digest: SHA-256 over the firmware and, with a kernel, the padded hashes table.

    Without a kernel it is the SHA-256 of the file, whatever the file: QEMU's
    LAUNCH_UPDATE_DATA measures the image bytes and nothing else, so (as in sev-snp-measure)
    no footer table is parsed. With a kernel the footer must declare the SEV hash table.
    """
    if not firmware:
        raise InputError("firmware is empty: there is nothing to launch")
    if hashes is None:
        return hashlib.sha256(firmware).digest()
    return _sev_prefix(firmware, OvmfImage.from_bytes(firmware), hashes).digest()


def seves_launch_digest(
    firmware: bytes,
    *,
    vcpus: int,
    vcpu_sig: int,
    vmm: VmmType = VmmType.QEMU,
    hashes: SevHashes | None = None,
) -> bytes:
    """SEV-ES launch digest: the SEV digest input followed by one VMSA per vCPU (features 0)."""
    check_vcpus(vcpus)
    image = OvmfImage.from_bytes(firmware)
    digest = _sev_prefix(firmware, image, hashes)
    ap_eip = image.require_reset_eip()
    digest.update(reset_vmsa(BSP_EIP, 0, vcpu_sig, vmm))
    if vcpus > 1:
        ap = reset_vmsa(ap_eip, 0, vcpu_sig, vmm)
        for _ in range(vcpus - 1):
            digest.update(ap)
    return digest.digest()
