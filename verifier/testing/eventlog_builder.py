"""Build CCEL (TDX, SHA-384) event logs for tests and the shipped sample.

The layout is what TDVF writes: a legacy TCG_PCR_EVENT carrying the Spec ID event with one
algorithm (SHA-384), then TCG_PCR_EVENT2 records whose index is the CC MR index
(RTMR n = index n + 1), then 0xFF padding up to the log area size. ``direct_boot_log``
models a direct kernel boot: the digests of kernel, command line and initrd are computed
the way TDVF and the Linux EFI stub do, so the log replays to predictable RTMRs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ccverify.verifier.evidence.eventlog import INITRD_EVENT_TAG_ID, LOAD_OPTIONS_EVENT_TAG_ID, EventType

_SHA384 = 0x000C
_SPEC_ID = b"Spec ID Event03\x00"


@dataclass(frozen=True)
class LogEvent:
    """One record: CC MR index (1 = RTMR0), type, the digest (SHA-384) and the event data."""

    index: int
    event_type: int
    digest: bytes
    data: bytes


def sha384(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def spec_id_header() -> bytes:
    spec = (
        _SPEC_ID
        + (0).to_bytes(4, "little")  # platformClass
        + bytes([0, 2, 0, 2])  # spec 2.0, errata 0, uintnSize 2 (64-bit)
        + (1).to_bytes(4, "little")
        + _SHA384.to_bytes(2, "little")
        + (48).to_bytes(2, "little")
        + b"\x00"  # vendorInfoSize
    )
    return (
        (0).to_bytes(4, "little")
        + int(EventType.EV_NO_ACTION).to_bytes(4, "little")
        + bytes(20)
        + len(spec).to_bytes(4, "little")
        + spec
    )


def encode_event(event: LogEvent) -> bytes:
    if len(event.digest) != 48:
        raise ValueError("CCEL events carry SHA-384 digests (48 bytes)")
    return (
        event.index.to_bytes(4, "little")
        + event.event_type.to_bytes(4, "little")
        + (1).to_bytes(4, "little")
        + _SHA384.to_bytes(2, "little")
        + event.digest
        + len(event.data).to_bytes(4, "little")
        + event.data
    )


def build_log(events: Sequence[LogEvent], *, area_size: int | None = 0x10000) -> bytes:
    """The log bytes, padded with 0xFF to ``area_size`` (None: no padding)."""
    body = spec_id_header() + b"".join(encode_event(e) for e in events)
    if area_size is None:
        return body
    if len(body) > area_size:
        raise ValueError(f"log of {len(body)} bytes does not fit a {area_size}-byte area")
    return body + b"\xff" * (area_size - len(body))


def action(index: int, text: str) -> LogEvent:
    data = text.encode("ascii")
    return LogEvent(index, EventType.EV_EFI_ACTION, sha384(data), data)


def separator(index: int) -> LogEvent:
    data = bytes(4)
    return LogEvent(index, EventType.EV_SEPARATOR, sha384(data), data)


def tagged(index: int, tag: int, description: bytes, digest: bytes) -> LogEvent:
    data = tag.to_bytes(4, "little") + len(description).to_bytes(4, "little") + description
    return LogEvent(index, EventType.EV_EVENT_TAG, digest, data)


def load_options_digest(cmdline: str, *, initrd: bool) -> bytes:
    """What the EFI stub measures: the UTF-16 load options OVMF's QEMU loader sets, NUL-terminated,
    in the older edk2 form (``<cmdline> initrd=initrd``, up to edk2-stable202505; the example set
    was made with it; ``measurements.tdx.load_options`` has both forms)."""
    options = cmdline + (" initrd=initrd" if initrd else "")
    return sha384(options.encode("utf-16-le") + b"\x00\x00")


def direct_boot_log(
    *,
    firmware_volume: bytes,
    kernel_authenticode_sha384: bytes,
    cmdline: str,
    initrd: bytes | None,
    td_hob: bytes = b"example TD HOB",
) -> bytes:
    """A direct kernel boot as TDVF + the Linux EFI stub log it (RTMR0, RTMR1, RTMR2)."""
    rtmr0, rtmr1, rtmr2 = 1, 2, 3
    events = [
        LogEvent(rtmr0, EventType.EV_EFI_HANDOFF_TABLES2, sha384(td_hob), b"\x09TdxTable" + bytes(8)),
        LogEvent(
            rtmr0,
            EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2,
            sha384(firmware_volume),
            b"\x29Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)"
            + (0xFFC00000).to_bytes(8, "little")
            + len(firmware_volume).to_bytes(8, "little"),
        ),
        separator(rtmr0),
        LogEvent(
            rtmr1,
            EventType.EV_EFI_BOOT_SERVICES_APPLICATION,
            kernel_authenticode_sha384,
            bytes(32),  # UEFI_IMAGE_LOAD_EVENT with an empty device path
        ),
        action(rtmr1, "Calling EFI Application from Boot Option"),
        separator(rtmr1),
        # the EFI stub measures these while boot services still run (trustee's CCEL_data_ovmf)
        tagged(
            rtmr2,
            LOAD_OPTIONS_EVENT_TAG_ID,
            b"LOADED_IMAGE::LoadOptions\x00",
            load_options_digest(cmdline, initrd=initrd is not None),
        ),
    ]
    if initrd is not None:
        events.append(tagged(rtmr2, INITRD_EVENT_TAG_ID, b"Linux initrd\x00", sha384(initrd)))
    events.append(action(rtmr1, "Exit Boot Services Invocation"))
    events.append(action(rtmr1, "Exit Boot Services Returned with Success"))
    return build_log(events)
