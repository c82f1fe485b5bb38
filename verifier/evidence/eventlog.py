"""TCG event logs: the crypto-agile TCG2 format (TPM logs and the TDX CCEL) and the ACPI CCEL table.

Layouts (TCG PC Client Platform Firmware Profile §10, UEFI 2.10 §38; see
the format notes (``notes/measure.md``) §3):

* The first record is a legacy ``TCG_PCR_EVENT`` (SHA-1 layout) whose data is the
  ``TCG_EfiSpecIDEvent`` ("Spec ID Event03"). It lists the digest algorithms and their sizes.
* Every later record is a ``TCG_PCR_EVENT2``: ``u32 index; u32 type; u32 digestCount;
  {u16 algId; digest[size from the Spec ID]}*; u32 eventSize; event[eventSize]``.
* A log area (the CCEL's LAML-sized region) is padded after the last record, with 0xFF by
  OVMF/TDVF (an index of 0xFFFFFFFF ends the log) and with zeros by td-shim.
* A log whose first record is not a Spec ID event is a legacy (TPM 1.2-style) SHA-1 log: every
  record is a ``TCG_PCR_EVENT``.

Parsing keeps every byte: ``EventLog.from_bytes(b).to_bytes() == b`` for every real log,
padding included. Event data is decoded on demand (``Event.variable()``, ``Event.tagged()``...)
and a decode failure of one event's data never stops the log from parsing.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from ccverify.verifier.errors import ParseError
from ccverify.verifier.evidence._binary import Reader, le

if TYPE_CHECKING:
    import uuid  # (imported where a GUID is parsed: uuid's import costs a replay that has none)

SPEC_ID_SIGNATURE = b"Spec ID Event03\x00"
END_OF_LOG_INDEX = 0xFFFFFFFF

_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_U64 = struct.Struct("<Q")
_HEADER2 = struct.Struct("<III")  # index, type, digestCount
_LEGACY = struct.Struct("<II20sI")  # index, type, SHA-1 digest, eventSize


class Alg(enum.IntEnum):
    """TPM_ALG_ID values that appear in event logs."""

    SHA1 = 0x0004
    SHA256 = 0x000B
    SHA384 = 0x000C
    SHA512 = 0x000D
    SM3_256 = 0x0012


#: digest sizes of the algorithms whose size we know; a Spec ID that disagrees is rejected
ALG_SIZES: dict[int, int] = {
    Alg.SHA1: 20,
    Alg.SHA256: 32,
    Alg.SHA384: 48,
    Alg.SHA512: 64,
    Alg.SM3_256: 32,
}

#: hashlib names of the algorithms ccverify can replay
HASHLIB_NAMES: dict[int, str] = {
    Alg.SHA1: "sha1",
    Alg.SHA256: "sha256",
    Alg.SHA384: "sha384",
    Alg.SHA512: "sha512",
}


def alg_name(alg: int) -> str:
    try:
        return Alg(alg).name
    except ValueError:
        return f"0x{alg:04x}"


class EventType(enum.IntEnum):
    """TCG PC Client event types (PFP §10.4.1). Unknown values stay plain ints."""

    EV_PREBOOT_CERT = 0x0
    EV_POST_CODE = 0x1
    EV_UNUSED = 0x2
    EV_NO_ACTION = 0x3
    EV_SEPARATOR = 0x4
    EV_ACTION = 0x5
    EV_EVENT_TAG = 0x6
    EV_S_CRTM_CONTENTS = 0x7
    EV_S_CRTM_VERSION = 0x8
    EV_CPU_MICROCODE = 0x9
    EV_PLATFORM_CONFIG_FLAGS = 0xA
    EV_TABLE_OF_DEVICES = 0xB
    EV_COMPACT_HASH = 0xC
    EV_IPL = 0xD
    EV_IPL_PARTITION_DATA = 0xE
    EV_NONHOST_CODE = 0xF
    EV_NONHOST_CONFIG = 0x10
    EV_NONHOST_INFO = 0x11
    EV_OMIT_BOOT_DEVICE_EVENTS = 0x12
    EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
    EV_EFI_VARIABLE_BOOT = 0x80000002
    EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
    EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004
    EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005
    EV_EFI_GPT_EVENT = 0x80000006
    EV_EFI_ACTION = 0x80000007
    EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
    EV_EFI_HANDOFF_TABLES = 0x80000009
    EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000000A
    EV_EFI_HANDOFF_TABLES2 = 0x8000000B
    EV_EFI_VARIABLE_BOOT2 = 0x8000000C
    EV_EFI_GPT_EVENT2 = 0x8000000D
    EV_EFI_HCRTM_EVENT = 0x80000010
    EV_EFI_VARIABLE_AUTHORITY = 0x800000E0
    EV_EFI_SPDM_FIRMWARE_BLOB = 0x800000E1
    EV_EFI_SPDM_FIRMWARE_CONFIG = 0x800000E2


_EVENT_TYPES: dict[int, EventType | int] = {int(member): member for member in EventType}


def event_type(value: int) -> EventType | int:
    return _EVENT_TYPES.get(value, value)


def event_type_name(value: int) -> str:
    known = event_type(value)
    return known.name if isinstance(known, EventType) else f"0x{value:08x}"


#: EV_EVENT_TAG ids the Linux EFI stub uses (drivers/firmware/efi/libstub)
LOAD_OPTIONS_EVENT_TAG_ID = 0x8F3B22ED
INITRD_EVENT_TAG_ID = 0x8F3B22EC


class Flavour(enum.Enum):
    """Where a log comes from: a TDX CCEL (CC MR indices) or a TPM (PCR indices)."""

    CCEL = "ccel"
    TPM = "tpm"


class CcType(enum.IntEnum):
    SEV = 1
    TDX = 2


# --------------------------------------------------------------------------------------------
# ACPI CCEL table


@dataclass(frozen=True)
class CcelTable:
    """The ACPI CCEL table (``/sys/firmware/acpi/tables/CCEL``): where the log area is."""

    signature: bytes
    length: int
    revision: int
    checksum: int
    oem_id: bytes
    oem_table_id: bytes
    oem_revision: int
    creator_id: bytes
    creator_revision: int
    cc_type: CcType | int
    cc_subtype: int
    reserved: bytes
    laml: int  # log area minimum length
    lasa: int  # log area start address (guest physical)
    extra: bytes = field(default=b"", metadata={"json": False})  # bytes past offset 56, if any

    SIZE = 56

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        data = bytes(data)
        r = Reader(data, "CcelTable")
        signature = r.bytes("signature", 0, 4)
        if signature != b"CCEL":
            raise r.error("signature", 0, f"expected b'CCEL', got {signature!r}")
        length = r.u32("length", 4)
        if length < cls.SIZE:
            raise r.error("length", 4, f"table length {length} is shorter than the {cls.SIZE}-byte CCEL")
        if length != len(data):
            raise r.error(
                "length", 4, f"table length field says {length} bytes but the input has {len(data)}"
            )
        r.need("body", 0, cls.SIZE)
        total = sum(data) & 0xFF
        if total != 0:
            raise r.error(
                "checksum", 9, f"bytes sum to 0x{total:02x} mod 256, not 0 (checksum byte 0x{data[9]:02x})"
            )
        raw_type = r.u8("ccType", 36)
        try:
            cc_type: CcType | int = CcType(raw_type)
        except ValueError:
            cc_type = raw_type
        return cls(
            signature=signature,
            length=length,
            revision=r.u8("revision", 8),
            checksum=r.u8("checksum", 9),
            oem_id=r.bytes("oemId", 10, 6),
            oem_table_id=r.bytes("oemTableId", 16, 8),
            oem_revision=r.u32("oemRevision", 24),
            creator_id=r.bytes("creatorId", 28, 4),
            creator_revision=r.u32("creatorRevision", 32),
            cc_type=cc_type,
            cc_subtype=r.u8("ccSubtype", 37),
            reserved=r.bytes("reserved", 38, 2),
            laml=r.u64("laml", 40),
            lasa=r.u64("lasa", 48),
            extra=data[cls.SIZE :],
        )

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                self.signature,
                le(self.length, 4),
                le(self.revision, 1),
                le(self.checksum, 1),
                self.oem_id,
                self.oem_table_id,
                le(self.oem_revision, 4),
                self.creator_id,
                le(self.creator_revision, 4),
                le(int(self.cc_type), 1),
                le(self.cc_subtype, 1),
                self.reserved,
                le(self.laml, 8),
                le(self.lasa, 8),
                self.extra,
            )
        )


# --------------------------------------------------------------------------------------------
# Spec ID event


@dataclass(frozen=True)
class SpecIdEvent:
    """TCG_EfiSpecIDEvent: the header that announces the crypto-agile format and its digests."""

    signature: bytes
    platform_class: int
    spec_version_minor: int
    spec_version_major: int
    spec_errata: int
    uintn_size: int
    algorithms: tuple[tuple[int, int], ...]  # (TPM_ALG_ID, digest size), in log order
    vendor_info: bytes

    @classmethod
    def from_bytes(cls, data: bytes, base: int = 0) -> Self:
        r = Reader(bytes(data), "TCG_EfiSpecIDEvent", base)
        signature = r.bytes("signature", 0, 16)
        if signature != SPEC_ID_SIGNATURE:
            raise r.error("signature", 0, f"expected {SPEC_ID_SIGNATURE!r}, got {signature!r}")
        major = r.u8("specVersionMajor", 21)
        minor = r.u8("specVersionMinor", 20)
        if (major, minor) != (2, 0):
            raise r.error("specVersionMajor", 21, f"spec version {major}.{minor} is not 2.0")
        count = r.u32("numberOfAlgorithms", 24)
        if count == 0:
            raise r.error("numberOfAlgorithms", 24, "no digest algorithms listed")
        r.need("digestSizes", 28, 4 * count)
        algorithms: list[tuple[int, int]] = []
        seen: set[int] = set()
        for i in range(count):
            pos = 28 + 4 * i
            alg, size = struct.unpack_from("<HH", r.data, pos)
            if alg in seen:
                raise r.error(f"digestSizes[{i}].algorithmId", pos, f"algorithm {alg_name(alg)} listed twice")
            known = ALG_SIZES.get(alg)
            if known is not None and size != known:
                raise r.error(
                    f"digestSizes[{i}].digestSize",
                    pos + 2,
                    f"{alg_name(alg)} digests are {known} bytes, the Spec ID says {size}",
                )
            if size == 0:
                raise r.error(f"digestSizes[{i}].digestSize", pos + 2, "digest size 0")
            seen.add(alg)
            algorithms.append((alg, size))
        vpos = 28 + 4 * count
        vsize = r.u8("vendorInfoSize", vpos)
        remaining = len(r.data) - vpos - 1
        if remaining != vsize:
            raise r.error(
                "vendorInfoSize", vpos, f"says {vsize} bytes of vendor info but {remaining} bytes follow"
            )
        return cls(
            signature=signature,
            platform_class=r.u32("platformClass", 16),
            spec_version_minor=minor,
            spec_version_major=major,
            spec_errata=r.u8("specErrata", 22),
            uintn_size=r.u8("uintnSize", 23),
            algorithms=tuple(algorithms),
            vendor_info=r.bytes("vendorInfo", vpos + 1, vsize),
        )

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                self.signature,
                le(self.platform_class, 4),
                bytes((self.spec_version_minor, self.spec_version_major, self.spec_errata, self.uintn_size)),
                le(len(self.algorithms), 4),
                b"".join(le(alg, 2) + le(size, 2) for alg, size in self.algorithms),
                le(len(self.vendor_info), 1),
                self.vendor_info,
            )
        )

    @property
    def digest_sizes(self) -> dict[int, int]:
        return dict(self.algorithms)


# --------------------------------------------------------------------------------------------
# Decoded event data


@dataclass(frozen=True)
class TaggedEvent:
    """TCG_PCClientTaggedEvent (EV_EVENT_TAG)."""

    tagged_event_id: int
    data: bytes


@dataclass(frozen=True)
class UefiVariableData:
    """UEFI_VARIABLE_DATA (EV_EFI_VARIABLE_*)."""

    variable_name: uuid.UUID
    unicode_name: str
    variable_data: bytes


@dataclass(frozen=True)
class UefiImageLoadEvent:
    """UEFI_IMAGE_LOAD_EVENT (EV_EFI_BOOT_SERVICES_APPLICATION / _DRIVER)."""

    image_location_in_memory: int
    image_length_in_memory: int
    image_link_time_address: int
    device_path: bytes


@dataclass(frozen=True)
class FirmwareBlob2:
    """UEFI_PLATFORM_FIRMWARE_BLOB2 (EV_EFI_PLATFORM_FIRMWARE_BLOB2)."""

    description: bytes
    blob_base: int
    blob_length: int


@dataclass(frozen=True)
class HandoffTables2:
    """UEFI_HANDOFF_TABLE_POINTERS2 (EV_EFI_HANDOFF_TABLES2)."""

    description: bytes
    tables: tuple[tuple[uuid.UUID, int], ...]  # (VendorGuid, VendorTable address)


@dataclass(frozen=True)
class TdShimConfigInfo:
    """td-shim's TD_SHIM_PLATFORM_CONFIG_INFO (EV_PLATFORM_CONFIG_FLAGS "td_hob", "td_payload_info")."""

    descriptor: bytes  # 16 bytes, NUL-padded ASCII
    info: bytes  # what the digest covers

    @property
    def name(self) -> str:
        return _text(self.descriptor.split(b"\x00", 1)[0])


def _text(raw: bytes) -> str:
    """Printable form of an ASCII/UTF-8 event string, trailing NULs removed."""
    return raw.rstrip(b"\x00").decode("utf-8", "replace")


def _printable(raw: bytes) -> bool:
    """Non-empty ASCII text, optionally NUL-terminated (and NUL-padded)."""
    text = raw.rstrip(b"\x00")
    return bool(text) and text.isascii() and text.decode("ascii").isprintable()


def _utf16(raw: bytes) -> str:
    return raw.decode("utf-16-le", "replace").rstrip("\x00")


# --------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True)
class Event:
    """One record. ``index`` is the PCR (TPM) or CC MR index (CCEL: RTMR[i] = index i+1)."""

    number: int  # position in the log; the Spec ID record is 0
    index: int
    event_type: EventType | int
    digests: dict[int, bytes]  # TPM_ALG_ID -> digest, in log order
    data: bytes
    offset: int  # absolute offset of the record in the log
    data_offset: int = field(default=0, metadata={"json": False})  # absolute offset of ``data``

    @property
    def type_name(self) -> str:
        return event_type_name(int(self.event_type))

    def digest(self, alg: int) -> bytes | None:
        return self.digests.get(alg)

    # -- data decoders: each raises ParseError with the absolute offset of the bad field --

    def _reader(self, structure: str) -> Reader:
        return Reader(self.data, structure, self.data_offset)

    def text(self) -> str:
        """The data as a string (EV_EFI_ACTION, EV_IPL, EV_ACTION, EV_PLATFORM_CONFIG_FLAGS...)."""
        return _text(self.data)

    def tagged(self) -> TaggedEvent:
        r = self._reader("TCG_PCClientTaggedEvent")
        tag = r.u32("taggedEventID", 0)
        size = r.u32("taggedEventDataSize", 4)
        body = r.bytes("taggedEventData", 8, size)
        if 8 + size != len(self.data):
            raise r.error("taggedEventDataSize", 4, f"says {size} bytes but {len(self.data) - 8} follow")
        return TaggedEvent(tag, body)

    def variable(self) -> UefiVariableData:
        import uuid

        r = self._reader("UEFI_VARIABLE_DATA")
        guid = uuid.UUID(bytes_le=r.bytes("variableName", 0, 16))
        name_chars = r.u64("unicodeNameLength", 16)
        data_len = r.u64("variableDataLength", 24)
        name = r.bytes("unicodeName", 32, 2 * name_chars)
        value = r.bytes("variableData", 32 + 2 * name_chars, data_len)
        end = 32 + 2 * name_chars + data_len
        if end != len(self.data):
            raise r.error(
                "variableDataLength", 24, f"structure ends at {end} but the event has {len(self.data)}"
            )
        return UefiVariableData(guid, _utf16(name), value)

    def image_load(self) -> UefiImageLoadEvent:
        r = self._reader("UEFI_IMAGE_LOAD_EVENT")
        path_len = r.u64("lengthOfDevicePath", 24)
        path = r.bytes("devicePath", 32, path_len)
        return UefiImageLoadEvent(r.u64("imageLocationInMemory", 0), r.u64("imageLengthInMemory", 8),
                                  r.u64("imageLinkTimeAddress", 16), path)

    def firmware_blob2(self) -> FirmwareBlob2:
        r = self._reader("UEFI_PLATFORM_FIRMWARE_BLOB2")
        size = r.u8("blobDescriptionSize", 0)
        desc = r.bytes("blobDescription", 1, size)
        return FirmwareBlob2(desc, r.u64("blobBase", 1 + size), r.u64("blobLength", 9 + size))

    def handoff_tables2(self) -> HandoffTables2:
        import uuid

        r = self._reader("UEFI_HANDOFF_TABLE_POINTERS2")
        size = r.u8("tableDescriptionSize", 0)
        desc = r.bytes("tableDescription", 1, size)
        count = r.u64("numberOfTables", 1 + size)
        base = 9 + size
        r.need("tableEntry", base, 24 * count)
        tables = tuple(
            (uuid.UUID(bytes_le=self.data[p : p + 16]), _U64.unpack_from(self.data, p + 16)[0])
            for p in range(base, base + 24 * count, 24)
        )
        return HandoffTables2(desc, tables)

    def td_shim_config(self) -> TdShimConfigInfo:
        """td-shim's EV_PLATFORM_CONFIG_FLAGS data: ``u8 descriptor[16]; u32 infoLength; info``."""
        r = self._reader("TD_SHIM_PLATFORM_CONFIG_INFO")
        descriptor = r.bytes("descriptor", 0, 16)
        size = r.u32("infoLength", 16)
        info = r.bytes("info", 20, size)
        if 20 + size != len(self.data):
            raise r.error("infoLength", 16, f"says {size} bytes but {len(self.data) - 20} follow")
        if b"\x00" not in descriptor or not descriptor.isascii():
            raise r.error("descriptor", 0, "not a NUL-terminated ASCII descriptor")
        return TdShimConfigInfo(descriptor, info)

    def describe(self) -> str:
        """A one-line human description of the event data; never raises."""
        try:
            return self._describe()
        except ParseError as exc:
            return f"<undecodable {self.type_name} data: {exc.detail}>"

    def _describe(self) -> str:
        t = int(self.event_type)
        if t in (EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, EventType.EV_EFI_VARIABLE_BOOT,
                 EventType.EV_EFI_VARIABLE_BOOT2, EventType.EV_EFI_VARIABLE_AUTHORITY):
            var = self.variable()
            return f"{var.unicode_name} {{{var.variable_name}}} ({len(var.variable_data)} bytes)"
        if t == EventType.EV_EVENT_TAG:
            try:
                tag = self.tagged()
            except ParseError:
                if not _printable(self.data):
                    raise
                # seen in real CCELs: the Linux EFI stub logged the bare description
                return f"untagged {_text(self.data)!r}"
            label = {LOAD_OPTIONS_EVENT_TAG_ID: "LOAD_OPTIONS", INITRD_EVENT_TAG_ID: "INITRD"}.get(
                tag.tagged_event_id, f"0x{tag.tagged_event_id:08x}"
            )
            return f"tag {label}: {_text(tag.data)!r}"
        if t == EventType.EV_PLATFORM_CONFIG_FLAGS and len(self.data) >= 20 and not _printable(self.data):
            try:
                cfg = self.td_shim_config()
            except ParseError:
                pass
            else:
                if _printable(cfg.info):
                    return f"td-shim {cfg.name!r}: {_text(cfg.info)!r}"
                return f"td-shim {cfg.name!r}: {len(cfg.info)} bytes"
        if t in (EventType.EV_EFI_BOOT_SERVICES_APPLICATION, EventType.EV_EFI_BOOT_SERVICES_DRIVER,
                 EventType.EV_EFI_RUNTIME_SERVICES_DRIVER):
            img = self.image_load()
            return (f"image at 0x{img.image_location_in_memory:x}, {img.image_length_in_memory} bytes, "
                    f"device path {len(img.device_path)} bytes")
        if t == EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2:
            blob = self.firmware_blob2()
            return f"{_text(blob.description)!r} at 0x{blob.blob_base:x}, {blob.blob_length} bytes"
        if t == EventType.EV_EFI_HANDOFF_TABLES2:
            tables = self.handoff_tables2()
            return f"{_text(tables.description)!r}, {len(tables.tables)} table(s)"
        if t == EventType.EV_SEPARATOR:
            return f"separator {self.data.hex()}"
        if t == EventType.EV_S_CRTM_VERSION:
            return repr(_utf16(self.data))
        if _printable(self.data):
            return repr(_text(self.data))
        return f"{len(self.data)} bytes"

    def to_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "index": self.index,
            "event_type": self.type_name,
            "digests": {alg_name(a).lower(): d.hex() for a, d in self.digests.items()},
            "offset": self.offset,
            "description": self.describe(),
            "data": self.data.hex(),
        }


# --------------------------------------------------------------------------------------------
# The log


@dataclass(frozen=True)
class EventLog:
    """A parsed event log. ``header`` is the Spec ID record (None for a legacy SHA-1 log)."""

    spec_id: SpecIdEvent | None
    header: Event | None
    events: tuple[Event, ...]
    padding: int  # bytes of padding after the last record
    padding_byte: int  # 0xFF (OVMF/TDVF) or 0x00 (td-shim); 0xFF when there is none
    flavour: Flavour

    @property
    def algorithms(self) -> tuple[int, ...]:
        if self.spec_id is None:
            return (Alg.SHA1,)
        return tuple(alg for alg, _ in self.spec_id.algorithms)

    @property
    def legacy(self) -> bool:
        return self.spec_id is None

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        allow_padding: bool = True,
        cc: bool | None = None,
        table: CcelTable | None = None,
    ) -> Self:
        """Parse a log. ``cc`` says whether it is a CCEL (CC MR indices); a ``table`` implies it.

        When neither is given, a log whose only digest is SHA-384 is taken for a CCEL.
        ``allow_padding=False`` rejects any padding after the last record (go-eventlog's rule).
        """
        data = bytes(data)
        n = len(data)
        if n == 0:
            raise ParseError("EventLog", "header", 0, "empty input: no event log records")

        first, pos = _parse_legacy(data, 0, 0)
        spec_id: SpecIdEvent | None = None
        header: Event | None = None
        events: list[Event] = []
        if first.event_type == EventType.EV_NO_ACTION and first.data[:16] == SPEC_ID_SIGNATURE:
            spec_id = SpecIdEvent.from_bytes(first.data, first.data_offset)
            header = first
        else:
            events.append(first)

        sizes = spec_id.digest_sizes if spec_id is not None else {}
        padding = 0
        padding_byte = 0xFF
        number = len(events) + (1 if header is not None else 0)
        while pos < n:
            pad = _padding_at(data, pos)
            if pad is not None:
                if not allow_padding:
                    raise ParseError(
                        "EventLog", "padding", pos,
                        f"{n - pos} bytes of 0x{pad:02X} padding follow the last event and padding is "
                        "not allowed here",
                    )
                padding, padding_byte = n - pos, pad
                break
            if spec_id is None:
                event, pos = _parse_legacy(data, pos, number)
            else:
                event, pos = _parse_event2(data, pos, number, sizes)
            events.append(event)
            number += 1

        if table is not None and cc is None:
            cc = True
        if cc is None:
            cc = spec_id is not None and [a for a, _ in spec_id.algorithms] == [Alg.SHA384]
        return cls(
            spec_id=spec_id,
            header=header,
            events=tuple(events),
            padding=padding,
            padding_byte=padding_byte,
            flavour=Flavour.CCEL if cc else Flavour.TPM,
        )

    def to_bytes(self) -> bytes:
        parts: list[bytes] = []
        if self.header is not None:
            parts.append(_legacy_bytes(self.header))
            parts.extend(_event2_bytes(e) for e in self.events)
        else:
            parts.extend(_legacy_bytes(e) for e in self.events)
        parts.append(bytes((self.padding_byte,)) * self.padding)
        return b"".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "flavour": self.flavour.value,
            "spec_id": None if self.spec_id is None else {
                "platform_class": self.spec_id.platform_class,
                "spec_version": f"{self.spec_id.spec_version_major}.{self.spec_id.spec_version_minor}",
                "spec_errata": self.spec_id.spec_errata,
                "uintn_size": self.spec_id.uintn_size,
                "algorithms": [{"id": alg_name(a), "size": s} for a, s in self.spec_id.algorithms],
                "vendor_info": self.spec_id.vendor_info.hex(),
            },
            "events": [e.to_json() for e in self.events],
            "padding": self.padding,
        }


_ZEROS = bytes(1 << 16)
_FFS = b"\xff" * (1 << 16)


def _all_of(data: bytes, pos: int, block: bytes) -> bool:
    """Whether ``data[pos:]`` repeats ``block``'s (single) byte: memcmp in 64 KiB steps."""
    n, size = len(data), len(block)
    while n - pos >= size:
        if not data.startswith(block, pos):
            return False
        pos += size
    return data.endswith(block[: n - pos]) if pos < n else True


def _padding_at(data: bytes, pos: int) -> int | None:
    """The padding byte if only padding follows ``pos``; ParseError for junk after an end marker.

    OVMF/TDVF pad with 0xFF (an index of 0xFFFFFFFF ends the log), td-shim with zeros.
    """
    rest = len(data) - pos
    head = data[pos : pos + 4]
    if head == _FFS[: len(head)]:
        if _all_of(data, pos, _FFS):
            return 0xFF
        junk = len(data) - len(data[pos:].lstrip(b"\xff"))
        raise ParseError(
            "EventLog", "padding", junk,
            f"the 0xFFFFFFFF end marker at offset {pos} is followed by bytes that are not 0xFF padding",
        )
    if data[pos : pos + 12] == _ZEROS[: min(12, rest)] and _all_of(data, pos, _ZEROS):
        return 0x00
    return None


def _truncated(structure: str, field_name: str, data: bytes, pos: int, size: int) -> ParseError:
    have = max(0, len(data) - pos)
    return ParseError(
        structure, field_name, pos, f"needs {size} bytes but only {have} remain (input is truncated)"
    )


def _overrun(structure: str, field_name: str, data: bytes, pos: int, size: int, start: int) -> ParseError:
    return ParseError(
        structure, field_name, pos,
        f"event data of {size} bytes runs past the end of the log ({len(data) - start} bytes remain)",
    )


# Field names are formatted only when a check fails: the happy path stays cheap per record.


def _parse_legacy(data: bytes, pos: int, number: int) -> tuple[Event, int]:
    n = len(data)
    if pos + _LEGACY.size > n:
        raise _truncated("TCG_PCR_EVENT", f"event[{number}].header", data, pos, _LEGACY.size)
    index, etype, digest, size = _LEGACY.unpack_from(data, pos)
    start = pos + _LEGACY.size
    if start + size > n:
        raise _overrun("TCG_PCR_EVENT", f"event[{number}].eventSize", data, pos + 28, size, start)
    body = data[start : start + size]
    event = Event(number, index, _EVENT_TYPES.get(etype, etype), {Alg.SHA1: digest}, body, pos, start)
    return event, start + size


def _parse_event2(data: bytes, pos: int, number: int, sizes: dict[int, int]) -> tuple[Event, int]:
    s = "TCG_PCR_EVENT2"
    n = len(data)
    if pos + 12 > n:
        raise _truncated(s, f"event[{number}].header", data, pos, 12)
    index, etype, count = _HEADER2.unpack_from(data, pos)
    p = pos + 12
    if count * 3 > n - p:  # each digest needs at least 2 + 1 bytes
        raise ParseError(s, f"event[{number}].digestCount", pos + 8,
                         f"{count} digests cannot fit in the {n - p} bytes that remain")
    digests: dict[int, bytes] = {}
    for i in range(count):
        if p + 2 > n:
            raise _truncated(s, f"event[{number}].digests[{i}].hashAlg", data, p, 2)
        (alg,) = _U16.unpack_from(data, p)
        size = sizes.get(alg)
        if size is None:
            raise ParseError(s, f"event[{number}].digests[{i}].hashAlg", p,
                             f"algorithm {alg_name(alg)} is not listed in the Spec ID event")
        if alg in digests:
            raise ParseError(s, f"event[{number}].digests[{i}].hashAlg", p,
                             f"a second {alg_name(alg)} digest in the same event")
        if p + 2 + size > n:
            raise _truncated(s, f"event[{number}].digests[{i}].digest", data, p + 2, size)
        digests[alg] = data[p + 2 : p + 2 + size]
        p += 2 + size
    if p + 4 > n:
        raise _truncated(s, f"event[{number}].eventSize", data, p, 4)
    (size,) = _U32.unpack_from(data, p)
    start = p + 4
    if start + size > n:
        raise _overrun(s, f"event[{number}].eventSize", data, p, size, start)
    body = data[start : start + size]
    event = Event(number, index, _EVENT_TYPES.get(etype, etype), digests, body, pos, start)
    return event, start + size


def _legacy_bytes(event: Event) -> bytes:
    digest = event.digests.get(Alg.SHA1, bytes(20))
    return _LEGACY.pack(event.index, int(event.event_type), digest, len(event.data)) + event.data


def _event2_bytes(event: Event) -> bytes:
    digests = b"".join(le(alg, 2) + d for alg, d in event.digests.items())
    return b"".join((
        _HEADER2.pack(event.index, int(event.event_type), len(event.digests)),
        digests,
        _U32.pack(len(event.data)),
        event.data,
    ))
