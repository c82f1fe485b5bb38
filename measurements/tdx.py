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

LoadOptions: OVMF's QEMU loader (``OvmfPkg/Library/X86QemuLoadImageLib``, and
``GenericQemuLoadImageLib``) builds them with ``UnicodeSPrintAsciiFormat``, which widens each
byte of the fw_cfg command line to a CHAR16 (BasePrintLib's ``%a``: ``ArgumentMask = 0xff``),
and adds ``initrd=initrd`` when QEMU's initrd size is not 0. Where it goes depends on the edk2
release, so it is an explicit choice (:class:`LoadOptionsForm`), recorded in the results:

* ``initrd-prefix``: ``"initrd=initrd " + cmdline`` (``"%a%a%a"``, ``"kernel "`` first when
  QEMU ``-shim`` is used -- a shim boot, not modelled), since tianocore/edk2 PR #11115
  ("[QemuLoadImageLib] Prefix initrd=initrd in cmdline", opened 2025-05-23, after the
  edk2-stable202505 freeze): edk2-stable202508 and later. The default: the newest form.
  An empty command line with an initrd gives ``"initrd=initrd "`` (trailing space).
* ``initrd-suffix``: ``cmdline + " initrd=initrd"`` (``"%a%a"``): the QEMU loader's form from
  its LoadImage rewrite (2020) to edk2-stable202505, e.g. Debian's 2022.11 and 2025.02 builds.
  An empty command line with an initrd gives ``" initrd=initrd"`` (leading space).

QEMU passes the command line with its NUL (``FW_CFG_CMDLINE_SIZE = strlen + 1``, so an empty
``-append`` is size 1), and OVMF drops the NUL: with neither a command line nor an initrd the
size is 0, LoadOptions is NULL and no LoadOptions event is predicted (either form). A command
line that is not UTF-8 is widened byte by byte like any other (see ``measurements/cmdline.py``).

Not modelled (documented limits): OVMF 2025.02 + QEMU ``-kernel`` measuring the bzImage as
patched by QEMU's loader (setup header fields), grub/shim boots, and RTMR3 (runtime).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from ccverify.measurements import cmdline as cmdline_mod
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
INITRD_OPTION = "initrd=initrd"


class PageOrder(enum.Enum):
    SINGLE_PASS = "single-pass"
    TWO_PASS = "two-pass"


class LoadOptionsForm(enum.Enum):
    """Where OVMF's QEMU loader puts ``initrd=initrd`` in the kernel's LoadOptions."""

    #: ``"initrd=initrd " + cmdline``: edk2-stable202508 and later (edk2 PR #11115)
    INITRD_PREFIX = "initrd-prefix"
    #: ``cmdline + " initrd=initrd"``: edk2 releases up to edk2-stable202505
    INITRD_SUFFIX = "initrd-suffix"

    @property
    def edk2(self) -> str:
        """The edk2 releases that build LoadOptions this way."""
        if self is LoadOptionsForm.INITRD_PREFIX:
            return "edk2-stable202508 and later (tianocore/edk2 PR #11115)"
        return "edk2 up to edk2-stable202505 (e.g. Debian 2022.11, 2025.02)"


#: the newest edk2 form (edk2 master and every release since edk2-stable202508)
DEFAULT_LOAD_OPTIONS = LoadOptionsForm.INITRD_PREFIX


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
    """MRTD of a TD booted from the unified TDVF/OVMF image ``firmware``.

    The page contents are what QEMU hands KVM (target/i386/kvm/tdx.c, ``tdx_finalize_vm`` and
    ``tdx_init_fw_mem_region``): for a section with data in the image (BFV, CFV) the source is
    the image from the section's DataOffset for all MemoryDataSize bytes (``nr_pages =
    size >> 12``), so RawDataSize does not change the measurement; a section without data
    (TD_HOB, TEMP_MEM) is fresh zeroed memory.
    """
    metadata = tdvf_metadata(firmware)
    view = memoryview(firmware)
    digest = hashlib.sha384()
    zero_page = bytes(PAGE_SIZE)
    for section in metadata.sections:
        pages = section.memory_data_size // PAGE_SIZE
        base = section.memory_address

        def page_data(
            index: int, section_offset: int = section.data_offset, in_image: bool = section.raw_data_size > 0
        ) -> bytes | memoryview:
            if not in_image:
                return zero_page
            start = section_offset + index * PAGE_SIZE
            return view[start : start + PAGE_SIZE]  # check_tdvf_sections: inside the image

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


def load_options(cmdline: str | None, has_initrd: bool, form: LoadOptionsForm) -> str | None:
    """The LoadOptions text OVMF's QEMU loader gives the kernel (None when it sets none).

    ``form`` has no default here: which edk2 built the firmware decides it (see
    :class:`LoadOptionsForm`).
    """
    if not isinstance(form, LoadOptionsForm):
        raise InputError(f"load options form {form!r}: expected a LoadOptionsForm")
    text = cmdline or ""
    if has_initrd:
        text = (
            f"{INITRD_OPTION} {text}" if form is LoadOptionsForm.INITRD_PREFIX else f"{text} {INITRD_OPTION}"
        )
    return text or None


def load_options_bytes(text: str) -> bytes:
    """LoadOptions as OVMF builds them: each byte of the command line QEMU received widened
    to a CHAR16 (``UnicodeSPrintAsciiFormat("%a")``), plus the terminating CHAR16 NUL.

    A command line of non-UTF-8 bytes (surrogate escapes from argv) is widened byte by byte,
    exactly as the firmware does it.
    """
    return cmdline_mod.raw_bytes(text).decode("latin-1").encode("utf-16-le") + b"\0\0"


def rtmr2_events(
    cmdline: str | None, initrd_sha384: bytes | None, *, form: LoadOptionsForm
) -> tuple[PredictedEvent, ...]:
    """RTMR2 (CC MR 3) events the Linux EFI stub logs on a direct boot."""
    events: list[PredictedEvent] = []
    text = load_options(cmdline, initrd_sha384 is not None, form)
    if text is not None:
        events.append(
            PredictedEvent(
                3, EV_EVENT_TAG, sha384(load_options_bytes(text)), f"LoadOptions: {cmdline_mod.display(text)}"
            )
        )
    if initrd_sha384 is not None:
        if len(initrd_sha384) != RTMR_SIZE:
            raise InputError("the initrd digest must be SHA-384 (48 bytes)")
        events.append(PredictedEvent(3, EV_EVENT_TAG, initrd_sha384, "Linux initrd"))
    return tuple(events)


@dataclass(frozen=True)
class TdxPrediction:
    """The MRTD and RTMR 0-2 a TD is expected to have, with the events predicted for them."""

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
    load_options_form: LoadOptionsForm | None = None,
) -> TdxPrediction:
    """MRTD, and RTMR1/RTMR2 for a direct kernel boot (RTMR0 is passed through when given).

    ``mrtd_value`` skips the MRTD computation when the caller already has it (``firmware``
    is then not read). ``load_options_form`` is required with an initrd (where the firmware
    puts ``initrd=initrd`` depends on its edk2 release; there is no default at this level).
    """
    if initrd_sha384 is not None and load_options_form is None:
        raise InputError(
            "an initrd needs the load options form (initrd-prefix: edk2-stable202508 and later; "
            "initrd-suffix: up to edk2-stable202505)"
        )
    if kernel_authenticode_sha384 is None and (cmdline is not None or initrd_sha384 is not None):
        raise InputError("a command line or initrd needs a kernel (direct boot)")
    if rtmr0 is not None and len(rtmr0) != RTMR_SIZE:
        raise InputError(f"RTMR0 must be 48 bytes (96 hex digits), got {len(rtmr0)}")
    value = mrtd_value if mrtd_value is not None else mrtd(firmware, order)
    events: tuple[PredictedEvent, ...] = ()
    rtmr1 = rtmr2 = None
    if kernel_authenticode_sha384 is not None:
        # without an initrd both forms are the same LoadOptions
        form = load_options_form or DEFAULT_LOAD_OPTIONS
        events = rtmr1_events(kernel_authenticode_sha384) + rtmr2_events(cmdline, initrd_sha384, form=form)
        rtmr1 = replay(events, 2)
        rtmr2 = replay(events, 3)
    return TdxPrediction(value, order, rtmr0, rtmr1, rtmr2, events)
