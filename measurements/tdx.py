"""Intel TDX: MRTD from a TDVF/OVMF image and RTMR1/RTMR2 for QEMU direct kernel boot.

MRTD (TDX module spec, TDH.MEM.PAGE.ADD and TDH.MR.EXTEND) is one running SHA-384 over
128-byte records, finalised by TDH.MR.FINALIZE::

    MEM.PAGE.ADD: b"MEM.PAGE.ADD" padded to 16 bytes || u64 GPA || 104 zero bytes
    MR.EXTEND:    b"MR.EXTEND" padded to 16 bytes    || u64 GPA || 104 zero bytes
                  followed by the 256 bytes of page data at that GPA

For every TDVF section (in metadata order) and every 4 KiB page of it, the VMM adds the
page unless the section has PAGE.AUG, and measures its sixteen 256-byte chunks when the
section has MR.EXTEND. How the VMM orders those SEAMCALLs changes the result:

* ``single-pass`` (the default): for each page, ADD then its 16 EXTENDs -- upstream KVM/QEMU
  TDX and Ubuntu's TDX stack (virtee/tdx-measure hard-codes it);
* ``two-pass``: for each section, all its ADDs, then all its EXTENDs -- older TDX QEMU/KVM trees
  (dstack-mr's ``two_pass_add_pages``).

The results always say which order was used.

RTMRs (``RTMR = SHA-384(RTMR || digest)`` from 48 zero bytes), for OVMF started by QEMU with
``-kernel`` (direct boot, Linux EFI stub):

* RTMR0 (CC MR 1) depends on the TD HOB, the memory size, QEMU's ACPI tables and the UEFI
  variables; it is not predicted here -- take it from a recorded firmware event log
  (replayed) of an identical VM configuration;
* RTMR1 (CC MR 2): EV_EFI_BOOT_SERVICES_APPLICATION = Authenticode SHA-384 of the kernel
  (OVMF measures it at LoadImage, before ReadyToBoot), EV_EFI_ACTION "Calling EFI Application
  from Boot Option", EV_SEPARATOR (SHA-384 of 4 zero bytes), EV_EFI_ACTION "Exit Boot
  Services Invocation", EV_EFI_ACTION "Exit Boot Services Returned with Success"
  (EV_EFI_ACTION digests are SHA-384 of the ASCII text without a NUL);
* RTMR2 (CC MR 3): the Linux EFI stub's EV_EVENT_TAG events: LoadOptions
  (SHA-384 of the UTF-16LE LoadOptions including the terminating NUL) and, when an initrd is
  loaded through the LoadFile2 initrd protocol, the initrd (SHA-384 of its bytes).
  OVMF's QEMU loader builds LoadOptions as ``cmdline`` followed by ``" initrd=initrd"`` when
  an initrd is given, widening each byte to a CHAR16; with neither a command line nor an
  initrd, LoadOptions is NULL and no LoadOptions event is predicted.

Not modelled (documented limits): OVMF 2025.02 + QEMU ``-kernel`` measuring the bzImage as
patched by QEMU's loader (setup header fields), grub/shim boots, and RTMR3 (runtime).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from ccverify.measurements.ovmf import PAGE_SIZE, OvmfImage, TdvfMetadata, check_tdvf_sections
from ccverify.verifier.errors import InputError

RTMR_SIZE = 48
CHUNK = 256

_ADD_PREFIX = b"MEM.PAGE.ADD".ljust(16, b"\0")
_EXTEND_PREFIX = b"MR.EXTEND".ljust(16, b"\0")
_RECORD_PAD = bytes(104)

# TCG event types used in the prediction
EV_SEPARATOR = 0x4
EV_EVENT_TAG = 0x6
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
EV_EFI_ACTION = 0x80000007

CALLING_EFI_APPLICATION = b"Calling EFI Application from Boot Option"
EXIT_BOOT_SERVICES_INVOCATION = b"Exit Boot Services Invocation"
EXIT_BOOT_SERVICES_SUCCEEDED = b"Exit Boot Services Returned with Success"
SEPARATOR_DATA = b"\0\0\0\0"
INITRD_SUFFIX = " initrd=initrd"


class PageOrder(enum.Enum):
    SINGLE_PASS = "single-pass"
    TWO_PASS = "two-pass"


def _add_record(gpa: int) -> bytes:
    return _ADD_PREFIX + gpa.to_bytes(8, "little") + _RECORD_PAD


def _extend_records(gpa: int, page: bytes | memoryview) -> bytes:
    """The 16 MR.EXTEND records (128 B header + 256 B data each) of one page."""
    parts: list[bytes | memoryview] = []
    for i in range(0, PAGE_SIZE, CHUNK):
        parts.append(_EXTEND_PREFIX + (gpa + i).to_bytes(8, "little") + _RECORD_PAD)
        parts.append(page[i : i + CHUNK])
    return b"".join(parts)


def tdvf_metadata(firmware: bytes) -> TdvfMetadata:
    """The TDVF descriptor of ``firmware``, validated against its size."""
    image = OvmfImage.from_bytes(firmware)
    metadata = image.require_tdvf()
    check_tdvf_sections(metadata, len(firmware))
    return metadata


def mrtd(firmware: bytes, order: PageOrder = PageOrder.SINGLE_PASS) -> bytes:
    """MRTD of a TD booted from the unified TDVF/OVMF image ``firmware``."""
    metadata = tdvf_metadata(firmware)
    view = memoryview(firmware)
    digest = hashlib.sha384()
    zero_page = bytes(PAGE_SIZE)
    for section in metadata.sections:
        pages = section.memory_data_size // PAGE_SIZE
        base = section.memory_address

        def page_data(
            index: int, section_offset: int = section.data_offset, raw: int = section.raw_data_size
        ) -> bytes | memoryview:
            start = index * PAGE_SIZE
            if start + PAGE_SIZE <= raw:
                return view[section_offset + start : section_offset + start + PAGE_SIZE]
            if start >= raw:
                return zero_page
            part = bytes(view[section_offset + start : section_offset + raw])
            return part + bytes(PAGE_SIZE - len(part))

        if order is PageOrder.SINGLE_PASS:
            for index in range(pages):
                gpa = base + index * PAGE_SIZE
                if not section.aug:
                    digest.update(_add_record(gpa))
                if section.extend:
                    digest.update(_extend_records(gpa, page_data(index)))
        else:
            if not section.aug:
                digest.update(b"".join(_add_record(base + i * PAGE_SIZE) for i in range(pages)))
            if section.extend:
                for index in range(pages):
                    digest.update(_extend_records(base + index * PAGE_SIZE, page_data(index)))
    return digest.digest()


# -- RTMRs -------------------------------------------------------------------------------------


def extend(register: bytes, digest: bytes) -> bytes:
    """One RTMR extend: SHA-384(register || digest)."""
    if len(register) != RTMR_SIZE or len(digest) != RTMR_SIZE:
        raise InputError("RTMR extend takes two 48-byte SHA-384 values")
    return hashlib.sha384(register + digest).digest()


def sha384(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


@dataclass(frozen=True)
class PredictedEvent:
    """One event the firmware or the EFI stub is expected to log, with its digest."""

    mr_index: int  # CC MR index: 1 RTMR0, 2 RTMR1, 3 RTMR2
    event_type: int
    digest: bytes
    description: str


def replay(events: tuple[PredictedEvent, ...], mr_index: int) -> bytes:
    value = bytes(RTMR_SIZE)
    for event in events:
        if event.mr_index == mr_index:
            value = extend(value, event.digest)
    return value


def rtmr1_events(kernel_authenticode_sha384: bytes) -> tuple[PredictedEvent, ...]:
    """RTMR1 (CC MR 2) events of an OVMF direct kernel boot."""
    if len(kernel_authenticode_sha384) != RTMR_SIZE:
        raise InputError("the kernel Authenticode digest must be SHA-384 (48 bytes)")
    return (
        PredictedEvent(
            2, EV_EFI_BOOT_SERVICES_APPLICATION, kernel_authenticode_sha384, "kernel (Authenticode)"
        ),
        PredictedEvent(2, EV_EFI_ACTION, sha384(CALLING_EFI_APPLICATION), CALLING_EFI_APPLICATION.decode()),
        PredictedEvent(2, EV_SEPARATOR, sha384(SEPARATOR_DATA), "separator"),
        PredictedEvent(
            2, EV_EFI_ACTION, sha384(EXIT_BOOT_SERVICES_INVOCATION), EXIT_BOOT_SERVICES_INVOCATION.decode()
        ),
        PredictedEvent(
            2, EV_EFI_ACTION, sha384(EXIT_BOOT_SERVICES_SUCCEEDED), EXIT_BOOT_SERVICES_SUCCEEDED.decode()
        ),
    )


def load_options(cmdline: str | None, has_initrd: bool) -> str | None:
    """The LoadOptions text OVMF's QEMU loader gives the kernel (None when it sets none)."""
    text = (cmdline or "") + (INITRD_SUFFIX if has_initrd else "")
    return text or None


def load_options_bytes(text: str) -> bytes:
    """LoadOptions as OVMF builds them: each byte of the ASCII/UTF-8 command line widened to
    a CHAR16 (``UnicodeSPrintAsciiFormat("%a")``), plus the terminating CHAR16 NUL."""
    return text.encode("utf-8").decode("latin-1").encode("utf-16-le") + b"\0\0"


def rtmr2_events(cmdline: str | None, initrd_sha384: bytes | None) -> tuple[PredictedEvent, ...]:
    """RTMR2 (CC MR 3) events the Linux EFI stub logs on a direct boot."""
    events: list[PredictedEvent] = []
    text = load_options(cmdline, initrd_sha384 is not None)
    if text is not None:
        events.append(
            PredictedEvent(3, EV_EVENT_TAG, sha384(load_options_bytes(text)), f"LoadOptions: {text}")
        )
    if initrd_sha384 is not None:
        if len(initrd_sha384) != RTMR_SIZE:
            raise InputError("the initrd digest must be SHA-384 (48 bytes)")
        events.append(PredictedEvent(3, EV_EVENT_TAG, initrd_sha384, "Linux initrd"))
    return tuple(events)


@dataclass(frozen=True)
class TdxPrediction:
    mrtd: bytes
    order: PageOrder
    rtmr0: bytes | None
    rtmr1: bytes | None
    rtmr2: bytes | None
    events: tuple[PredictedEvent, ...]


def predict(
    firmware: bytes,
    *,
    order: PageOrder = PageOrder.SINGLE_PASS,
    kernel_authenticode_sha384: bytes | None = None,
    cmdline: str | None = None,
    initrd_sha384: bytes | None = None,
    rtmr0: bytes | None = None,
    mrtd_value: bytes | None = None,
) -> TdxPrediction:
    """MRTD, and RTMR1/RTMR2 for a direct kernel boot (RTMR0 is passed through when given).

    ``mrtd_value`` skips the MRTD computation when the caller already has it (``firmware``
    is then not read).
    """
    if kernel_authenticode_sha384 is None and (cmdline is not None or initrd_sha384 is not None):
        raise InputError("a command line or initrd needs a kernel (direct boot)")
    if rtmr0 is not None and len(rtmr0) != RTMR_SIZE:
        raise InputError(f"RTMR0 must be 48 bytes (96 hex digits), got {len(rtmr0)}")
    value = mrtd_value if mrtd_value is not None else mrtd(firmware, order)
    events: tuple[PredictedEvent, ...] = ()
    rtmr1 = rtmr2 = None
    if kernel_authenticode_sha384 is not None:
        events = rtmr1_events(kernel_authenticode_sha384) + rtmr2_events(cmdline, initrd_sha384)
        rtmr1 = replay(events, 2)
        rtmr2 = replay(events, 3)
    return TdxPrediction(value, order, rtmr0, rtmr1, rtmr2, events)
