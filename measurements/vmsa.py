"""Initial VMSA pages (the SEV-ES save area) that SEV-ES and SEV-SNP launches measure.

The page is 4096 bytes laid out as in AMD APM vol. 2, table B-4 ("VMSA layout, state save
area for SEV-ES"); only the fields below are non-zero at reset. They are written with
``struct.pack_into`` at their documented offsets into a zeroed ``bytearray``.

Segment registers are 16-byte ``{u16 selector; u16 attrib; u32 limit; u64 base}`` records.

The register values are those KVM/QEMU (and the EC2 / GCE hypervisors) load at reset, as
recorded by sev-snp-measure (docs/notes/measure.md section 1.2):

* QEMU: cs 0x9b, ss 0x93, tr 0x8b, rdx = vCPU signature (CPUID 1 EAX), mxcsr 0x1f80, fcw 0x37f
* ec2: cs 0x9a for the BSP and 0x9b for APs, ss 0x92, tr 0x83, rdx 0x600, mxcsr 0, fcw 0
* gce: cs 0x9b, ss 0x93, tr 0x8b, rdx 0x600, mxcsr 0, fcw 0, g_pat 0x00070106

SVSM VMSA (Coconut SVSM, QEMU): flat 64-bit segments, cr0 0x11, rip = SVSM entry point and
SEV_FEATURES 0x1 always (sev-snp-measure's ``VMSA_SVSM`` hard-codes it; ``measure_snp``
refuses another ``--guest-features`` in snp:svsm mode). **Quirk reproduced:**
sev-snp-measure 0.0.13 passes the FPU control word as ``fcw=`` to a ctypes structure whose
field is ``x87_fcw``; ctypes accepts the unknown keyword silently, so its SVSM VMSA has
x87_fcw = 0. The golden SVSM digests (taken from real Coconut-SVSM launches, per its README)
were produced that way, so ``svsm_vmsa`` writes x87_fcw = 0 too.
"""

from __future__ import annotations

import enum
import struct

VMSA_SIZE = 0x1000
BSP_EIP = 0xFFFFFFF0

# segment records
OFF_ES = 0x000
OFF_CS = 0x010
OFF_SS = 0x020
OFF_DS = 0x030
OFF_FS = 0x040
OFF_GS = 0x050
OFF_GDTR = 0x060
OFF_LDTR = 0x070
OFF_IDTR = 0x080
OFF_TR = 0x090
# control and debug registers
OFF_EFER = 0x0D0
OFF_CR4 = 0x148
OFF_CR0 = 0x158
OFF_DR7 = 0x160
OFF_DR6 = 0x168
OFF_RFLAGS = 0x170
OFF_RIP = 0x178
OFF_G_PAT = 0x268
OFF_RDX = 0x310
OFF_SEV_FEATURES = 0x3B0
OFF_XCR0 = 0x3E8
# FPU area
OFF_MXCSR = 0x408
OFF_X87_FCW = 0x410

_SEGMENT = struct.Struct("<HHIQ")
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")

DEFAULT_G_PAT = 0x0007040600070406
#: SEV_FEATURES of every SVSM VMSA: sev-snp-measure's VMSA_SVSM hard-codes 0x1 (SNPActive)
#: whatever --guest-features says, and the golden SVSM digests were produced that way
SVSM_SEV_FEATURES = 0x1
GCE_G_PAT = 0x00070106


class VmmType(enum.Enum):
    """The hypervisor that creates the initial VMSA (it decides a few register values)."""

    QEMU = "qemu"
    EC2 = "ec2"
    GCE = "gce"


def _segment(page: bytearray, offset: int, selector: int, attrib: int, limit: int, base: int) -> None:
    _SEGMENT.pack_into(page, offset, selector, attrib, limit, base)


def _common(page: bytearray) -> None:
    _U64.pack_into(page, OFF_EFER, 0x1000)  # EFER.SVME, set by KVM
    _U64.pack_into(page, OFF_CR4, 0x40)  # CR4.MCE
    _U64.pack_into(page, OFF_DR7, 0x400)
    _U64.pack_into(page, OFF_DR6, 0xFFFF0FF0)
    _U64.pack_into(page, OFF_RFLAGS, 0x2)
    _U64.pack_into(page, OFF_XCR0, 0x1)


def reset_vmsa(eip: int, sev_features: int, vcpu_sig: int, vmm: VmmType = VmmType.QEMU) -> bytes:
    """The VMSA of a vCPU starting in real mode at ``eip`` (BSP 0xfffffff0, APs the reset block)."""
    g_pat = DEFAULT_G_PAT
    if vmm is VmmType.QEMU:
        cs_flags, ss_flags, tr_flags = 0x9B, 0x93, 0x8B
        rdx, mxcsr, fcw = vcpu_sig, 0x1F80, 0x37F
    elif vmm is VmmType.EC2:
        cs_flags = 0x9A if eip == BSP_EIP else 0x9B
        ss_flags, tr_flags = 0x92, 0x83
        rdx, mxcsr, fcw = 0x600, 0, 0
    else:  # GCE
        cs_flags, ss_flags, tr_flags = 0x9B, 0x93, 0x8B
        rdx, mxcsr, fcw = 0x600, 0, 0
        g_pat = GCE_G_PAT
    page = bytearray(VMSA_SIZE)
    for offset in (OFF_ES, OFF_DS, OFF_FS, OFF_GS):
        _segment(page, offset, 0, 0x93, 0xFFFF, 0)
    _segment(page, OFF_CS, 0xF000, cs_flags, 0xFFFF, eip & 0xFFFF0000)
    _segment(page, OFF_SS, 0, ss_flags, 0xFFFF, 0)
    _segment(page, OFF_GDTR, 0, 0, 0xFFFF, 0)
    _segment(page, OFF_IDTR, 0, 0, 0xFFFF, 0)
    _segment(page, OFF_LDTR, 0, 0x82, 0xFFFF, 0)
    _segment(page, OFF_TR, 0, tr_flags, 0xFFFF, 0)
    _common(page)
    _U64.pack_into(page, OFF_CR0, 0x10)
    _U64.pack_into(page, OFF_RIP, eip & 0xFFFF)
    _U64.pack_into(page, OFF_G_PAT, g_pat)
    _U64.pack_into(page, OFF_RDX, rdx)
    _U64.pack_into(page, OFF_SEV_FEATURES, sev_features)
    _U32.pack_into(page, OFF_MXCSR, mxcsr)
    _U16.pack_into(page, OFF_X87_FCW, fcw)
    return bytes(page)


def svsm_vmsa(entry: int, vcpu_sig: int) -> bytes:
    """The VMSA of a vCPU entering a Coconut SVSM in 64-bit mode at ``entry`` (QEMU), with
    SEV_FEATURES :data:`SVSM_SEV_FEATURES` (see the module docstring)."""
    page = bytearray(VMSA_SIZE)
    for offset in (OFF_ES, OFF_SS, OFF_DS, OFF_FS):
        _segment(page, offset, 16, 0xC93, 0xFFFFFFFF, 0)
    _segment(page, OFF_CS, 8, 0xC9B, 0xFFFFFFFF, 0)
    _segment(page, OFF_GS, 0, 0x093, 0xFFFF, 0)
    _segment(page, OFF_GDTR, 0, 0, 0xFFFF, 0)
    _segment(page, OFF_IDTR, 0, 0, 0xFFFF, 0)
    _segment(page, OFF_LDTR, 0, 0x82, 0xFFFF, 0)
    _segment(page, OFF_TR, 0, 0x8B, 0xFFFF, 0)
    _common(page)
    _U64.pack_into(page, OFF_CR0, 0x11)
    _U64.pack_into(page, OFF_RIP, entry)
    _U64.pack_into(page, OFF_G_PAT, DEFAULT_G_PAT)
    _U64.pack_into(page, OFF_RDX, vcpu_sig)
    _U64.pack_into(page, OFF_SEV_FEATURES, SVSM_SEV_FEATURES)
    _U32.pack_into(page, OFF_MXCSR, 0x1F80)
    # x87_fcw stays 0: sev-snp-measure's quirk (see the module docstring)
    return bytes(page)
