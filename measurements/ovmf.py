"""OVMF / TDVF firmware metadata: the GUIDed footer table and what it points at.

An OVMF image (the unified ``OVMF.fd`` given to QEMU with ``-bios``) ends with a table of
GUID-tagged entries that the VMM reads to set a confidential guest up:

* the footer entry sits just before the last 32 bytes: ``{u16 size; GUID 96b582de-...}``,
  ``size`` covering the whole table including this 18-byte header;
* the table is walked **backwards**: each entry is ``[data][u16 size][GUID]`` and ``size``
  includes the 18-byte header; GUIDs are stored in their little-endian (``bytes_le``) form.

Entries used here (see ``docs/notes/measure.md`` section 1.1 and 2.1):

==========================================  =============================================
``00f771de-...`` SEV-ES reset block         u32 AP reset EIP
``dc886566-...`` SEV metadata ("ASEV")      u32 offset of the metadata from the image end
``7255371f-...`` SEV hash table             u32 GPA, u32 size of the kernel-hashes area
``4c2eb361-...`` SEV secret                 u32 base, u32 size
``e47a6535-...`` TDX metadata ("TDVF")      u32 offset of the descriptor from the image end
``a789a612-...`` SVSM info (SVSM images)    u32 reset-vector offset inside the SVSM image
==========================================  =============================================

Everything is parsed from bytes through :class:`~ccverify.verifier.evidence._binary.Reader`;
an image without the footer table, a truncated table or metadata pointing outside the image
raises :class:`~ccverify.verifier.errors.ParseError` naming the field and the absolute
offset in the image. Only the tail of the image is needed for the table and the SEV
metadata (a 4 KiB tail such as sev-snp-measure's fixtures is enough); TDVF sections point
into the whole image.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Self

from ccverify.verifier.errors import ParseError
from ccverify.verifier.evidence._binary import Reader

FOUR_GIB = 0x1_0000_0000
PAGE_SIZE = 0x1000

FOOTER_GUID = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d")
SEV_ES_RESET_BLOCK_GUID = uuid.UUID("00f771de-1a7e-4fcb-890e-68c77e2fb44e")
SEV_METADATA_GUID = uuid.UUID("dc886566-984a-4798-a75e-5585a7bf67cc")
SEV_HASH_TABLE_RV_GUID = uuid.UUID("7255371f-3a3b-4b04-927b-1da6efa8d454")
SEV_SECRET_GUID = uuid.UUID("4c2eb361-7d9b-4cc3-8081-127c90d3d294")
TDX_METADATA_GUID = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2")
SVSM_INFO_GUID = uuid.UUID("a789a612-0597-4c4b-a49f-cbb1fe9d1ddd")

#: size of ``{u16 size; GUID}`` (entry header) and of the bytes after the footer entry
ENTRY_HEADER_SIZE = 18
FOOTER_TRAILER_SIZE = 32

SEV_METADATA_HEADER_SIZE = 16
SEV_METADATA_ITEM_SIZE = 12
TDVF_DESCRIPTOR_HEADER_SIZE = 16
TDVF_SECTION_SIZE = 32


class SevSectionType(enum.IntEnum):
    """OVMF SEV metadata section types (edk2 ``OvmfSevMetadata.asm``)."""

    SNP_SEC_MEM = 1
    SNP_SECRETS = 2
    CPUID = 3
    SVSM_CAA = 4
    SNP_KERNEL_HASHES = 0x10


class TdvfSectionType(enum.IntEnum):
    """TDVF metadata section types (TDVF design guide; td-shim adds TD_INFO)."""

    BFV = 0
    CFV = 1
    TD_HOB = 2
    TEMP_MEM = 3
    PERM_MEM = 4
    PAYLOAD = 5
    PAYLOAD_PARAM = 6
    TD_INFO = 0x100


class TdvfAttributes(enum.IntFlag):
    """TDVF section attributes."""

    MR_EXTEND = 0x1
    PAGE_AUG = 0x2


@dataclass(frozen=True)
class FooterEntry:
    """One entry of the OVMF footer's GUIDed table."""

    guid: uuid.UUID
    #: absolute offset of the entry's data in the image
    offset: int
    data: bytes


@dataclass(frozen=True)
class SevSection:
    """One ``{u32 gpa; u32 size; u32 type}`` item of the "ASEV" metadata."""

    gpa: int
    size: int
    section_type: SevSectionType

    def to_bytes(self) -> bytes:
        return (
            self.gpa.to_bytes(4, "little")
            + self.size.to_bytes(4, "little")
            + int(self.section_type).to_bytes(4, "little")
        )


@dataclass(frozen=True)
class SevMetadata:
    """The "ASEV" SEV metadata block; ``offset`` is its absolute offset in the image."""

    offset: int
    size: int
    version: int
    sections: tuple[SevSection, ...]

    def has(self, section_type: SevSectionType) -> bool:
        return any(s.section_type is section_type for s in self.sections)


@dataclass(frozen=True)
class TdvfSection:
    """One 32-byte TDVF metadata section record."""

    data_offset: int
    raw_data_size: int
    memory_address: int
    memory_data_size: int
    section_type: int
    attributes: TdvfAttributes

    @property
    def type_name(self) -> str:
        try:
            return TdvfSectionType(self.section_type).name
        except ValueError:
            return f"type_0x{self.section_type:x}"

    @property
    def extend(self) -> bool:
        return bool(self.attributes & TdvfAttributes.MR_EXTEND)

    @property
    def aug(self) -> bool:
        return bool(self.attributes & TdvfAttributes.PAGE_AUG)


@dataclass(frozen=True)
class TdvfMetadata:
    """The "TDVF" descriptor; ``offset`` is its absolute offset in the image."""

    offset: int
    length: int
    version: int
    sections: tuple[TdvfSection, ...]


@dataclass(frozen=True)
class OvmfImage:
    """What the footer table of a firmware image (or of its tail) declares.

    ``size`` is the length of the bytes parsed. When only a tail was parsed, GPAs that
    depend on the full size (``gpa``) are meaningless; the SEV metadata and the reset
    block do not depend on it.
    """

    size: int
    entries: tuple[FooterEntry, ...]
    sev_metadata: SevMetadata | None
    tdvf_metadata: TdvfMetadata | None
    name: str = "OVMF"

    # -- parsing ---------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "OVMF") -> Self:
        """Parse the footer table, the SEV metadata and the TDVF descriptor of ``data``."""
        reader = Reader(data, f"{name}FooterTable")
        entries = _parse_footer_table(reader)
        table = {e.guid: e for e in entries}
        sev = None
        if SEV_METADATA_GUID in table:
            sev = _parse_sev_metadata(data, table[SEV_METADATA_GUID], name)
        tdvf = None
        if TDX_METADATA_GUID in table:
            tdvf = _parse_tdvf(data, table[TDX_METADATA_GUID], name)
        return cls(size=len(data), entries=entries, sev_metadata=sev, tdvf_metadata=tdvf, name=name)

    # -- table look-ups --------------------------------------------------------------------
    def entry(self, guid: uuid.UUID) -> FooterEntry | None:
        # the walk is backwards; when a GUID repeats, the one nearest the footer wins
        for item in self.entries:
            if item.guid == guid:
                return item
        return None

    def _u32_entry(self, guid: uuid.UUID, what: str, index: int = 0) -> int | None:
        item = self.entry(guid)
        if item is None:
            return None
        start = 4 * index
        if len(item.data) < start + 4:
            raise ParseError(
                f"{self.name}FooterTable",
                what,
                item.offset,
                f"entry {guid} has {len(item.data)} data bytes, needs {start + 4}",
            )
        return int.from_bytes(item.data[start : start + 4], "little")

    @property
    def sev_es_reset_eip(self) -> int | None:
        """The AP reset EIP of the SEV-ES reset block, or None when the entry is absent."""
        return self._u32_entry(SEV_ES_RESET_BLOCK_GUID, "sev_es_reset_block.eip")

    @property
    def sev_hash_table(self) -> tuple[int, int] | None:
        """``(gpa, size)`` of the kernel-hashes area, or None when the entry is absent."""
        gpa = self._u32_entry(SEV_HASH_TABLE_RV_GUID, "sev_hash_table.gpa")
        if gpa is None:
            return None
        size = self._u32_entry(SEV_HASH_TABLE_RV_GUID, "sev_hash_table.size", 1)
        return gpa, size or 0

    @property
    def supports_sev_hashes(self) -> bool:
        """SEV/SEV-ES measured direct boot: the hash-table entry exists with a non-zero GPA."""
        table = self.sev_hash_table
        return table is not None and table[0] != 0

    @property
    def sev_secret(self) -> tuple[int, int] | None:
        base = self._u32_entry(SEV_SECRET_GUID, "sev_secret.base")
        if base is None:
            return None
        return base, self._u32_entry(SEV_SECRET_GUID, "sev_secret.size", 1) or 0

    @property
    def svsm_reset_offset(self) -> int | None:
        return self._u32_entry(SVSM_INFO_GUID, "svsm_info.reset_offset")

    def gpa(self, end_at: int = FOUR_GIB) -> int:
        """Guest-physical address of the image's first byte when it ends at ``end_at``."""
        return end_at - self.size

    # -- requirements, with the error a user can act on -------------------------------------
    def require_sev_metadata(self) -> SevMetadata:
        if self.sev_metadata is None:
            raise ParseError(
                f"{self.name}FooterTable",
                "sev_metadata",
                None,
                "firmware has no SEV metadata (GUID dc886566-...) in its footer table: it is not "
                "an SEV-SNP capable OVMF build (use an AmdSevX64 or a recent OvmfPkgX64 build; "
                "a split OVMF_CODE from older distributions lacks it)",
            )
        return self.sev_metadata

    def require_reset_eip(self) -> int:
        eip = self.sev_es_reset_eip
        if eip is None:
            raise ParseError(
                f"{self.name}FooterTable",
                "sev_es_reset_block",
                None,
                "firmware has no SEV-ES reset block (GUID 00f771de-...): it cannot start SEV-ES/SNP APs",
            )
        return eip

    def require_tdvf(self) -> TdvfMetadata:
        if self.tdvf_metadata is None:
            raise ParseError(
                f"{self.name}FooterTable",
                "tdx_metadata",
                None,
                "firmware has no TDVF metadata (GUID e47a6535-...): it is not a TDX-capable OVMF build",
            )
        return self.tdvf_metadata


# -- parsers ---------------------------------------------------------------------------------


def _parse_footer_table(reader: Reader) -> tuple[FooterEntry, ...]:
    size = len(reader.data)
    footer_at = size - FOOTER_TRAILER_SIZE - ENTRY_HEADER_SIZE
    if footer_at < 0:
        raise reader.error(
            "footer",
            0,
            f"image is {size} bytes, too short for an OVMF footer table "
            f"(needs at least {FOOTER_TRAILER_SIZE + ENTRY_HEADER_SIZE}): not an OVMF image",
        )
    guid = uuid.UUID(bytes_le=reader.bytes("footer.guid", footer_at + 2, 16))
    if guid != FOOTER_GUID:
        raise reader.error(
            "footer.guid",
            footer_at + 2,
            f"found {guid}, expected the OVMF footer table GUID {FOOTER_GUID}: not an OVMF/TDVF "
            "image (or a split OVMF_CODE/VARS file, or truncated)",
        )
    table_size = reader.u16("footer.size", footer_at)
    if table_size < ENTRY_HEADER_SIZE or table_size - ENTRY_HEADER_SIZE > footer_at:
        raise reader.error("footer.size", footer_at, f"table size {table_size} does not fit in the image")
    start = footer_at - (table_size - ENTRY_HEADER_SIZE)
    end = footer_at
    entries: list[FooterEntry] = []
    while end - start >= ENTRY_HEADER_SIZE:
        header = end - ENTRY_HEADER_SIZE
        entry_size = reader.u16("entry.size", header)
        entry_guid = uuid.UUID(bytes_le=reader.bytes("entry.guid", header + 2, 16))
        if entry_size < ENTRY_HEADER_SIZE or end - entry_size < start:
            raise reader.error(
                "entry.size",
                header,
                f"entry {entry_guid} claims {entry_size} bytes; the table has {end - start} left",
            )
        data_at = end - entry_size
        entries.append(FooterEntry(entry_guid, data_at, reader.bytes("entry.data", data_at, entry_size - 18)))
        end = data_at
    if end != start:
        raise reader.error("entry", start, f"{end - start} stray bytes at the start of the footer table")
    return tuple(entries)


def _located_start(data: bytes, entry: FooterEntry, structure: str, what: str, target: str, hint: str) -> int:
    """Absolute offset of the block a footer ``entry`` locates by its u32 distance from the end."""
    if len(entry.data) < 4:
        raise ParseError(structure, "offset", entry.offset, f"{what} entry is shorter than 4 bytes")
    from_end = int.from_bytes(entry.data[:4], "little")
    start = len(data) - from_end
    if from_end == 0 or start < 0:
        raise ParseError(
            structure,
            "offset",
            entry.offset,
            f"{target} offset 0x{from_end:x} from the end lies outside the {len(data)}-byte image{hint}",
        )
    return start


def _parse_sev_metadata(data: bytes, entry: FooterEntry, name: str) -> SevMetadata:
    structure = f"{name}SevMetadata"
    start = _located_start(data, entry, structure, "SEV metadata", "metadata", " (truncated image?)")
    reader = Reader(data, structure)
    size, version, count = _descriptor_header(
        reader,
        start,
        b"ASEV",
        ("size", "num_items", "items"),
        SEV_METADATA_HEADER_SIZE,
        SEV_METADATA_ITEM_SIZE,
    )
    reader.need("items", start, size)
    sections: list[SevSection] = []
    for index in range(count):
        at = start + SEV_METADATA_HEADER_SIZE + index * SEV_METADATA_ITEM_SIZE
        gpa = reader.u32(f"items[{index}].gpa", at)
        length = reader.u32(f"items[{index}].size", at + 4)
        raw_type = reader.u32(f"items[{index}].type", at + 8)
        try:
            kind = SevSectionType(raw_type)
        except ValueError:
            raise reader.error(
                f"items[{index}].type", at + 8, f"unknown SEV metadata section type 0x{raw_type:x}"
            ) from None
        if gpa % PAGE_SIZE or length % PAGE_SIZE or length == 0:
            raise reader.error(
                f"items[{index}]", at, f"section gpa 0x{gpa:x} size 0x{length:x} is not whole pages"
            )
        sections.append(SevSection(gpa, length, kind))
    return SevMetadata(offset=start, size=size, version=version, sections=tuple(sections))


def _descriptor_header(
    reader: Reader, start: int, magic: bytes, names: tuple[str, str, str], header_size: int, entry_size: int
) -> tuple[int, int, int]:
    """The header both metadata formats share: magic, u32 size, u32 version (1), u32 count.

    Returns (size, version, count) once the size is known to hold ``count`` entries.
    """
    size_name, count_name, entries = names
    signature = reader.bytes("signature", start, 4)
    if signature != magic:
        raise reader.error("signature", start, f"expected {magic.decode()!r}, found {signature!r}")
    size = reader.u32(size_name, start + 4)
    version = reader.u32("version", start + 8)
    if version != 1:
        raise reader.error("version", start + 8, f"unsupported {magic.decode()} metadata version {version}")
    count = reader.u32(count_name, start + 12)
    needed = header_size + count * entry_size
    if size < needed:
        raise reader.error(
            size_name, start + 4, f"{size_name} {size} cannot hold {count} {entries} ({needed} bytes)"
        )
    return size, version, count


def _parse_tdvf(data: bytes, entry: FooterEntry, name: str) -> TdvfMetadata:
    structure = f"{name}TdvfMetadata"
    start = _located_start(data, entry, structure, "TDX metadata", "descriptor", "")
    reader = Reader(data, structure)
    length, version, count = _descriptor_header(
        reader,
        start,
        b"TDVF",
        ("length", "num_sections", "sections"),
        TDVF_DESCRIPTOR_HEADER_SIZE,
        TDVF_SECTION_SIZE,
    )
    reader.need("sections", start, TDVF_DESCRIPTOR_HEADER_SIZE + count * TDVF_SECTION_SIZE)
    sections: list[TdvfSection] = []
    for index in range(count):
        at = start + TDVF_DESCRIPTOR_HEADER_SIZE + index * TDVF_SECTION_SIZE
        sections.append(
            TdvfSection(
                data_offset=reader.u32(f"sections[{index}].data_offset", at),
                raw_data_size=reader.u32(f"sections[{index}].raw_data_size", at + 4),
                memory_address=reader.u64(f"sections[{index}].memory_address", at + 8),
                memory_data_size=reader.u64(f"sections[{index}].memory_data_size", at + 16),
                section_type=reader.u32(f"sections[{index}].type", at + 24),
                attributes=TdvfAttributes(reader.u32(f"sections[{index}].attributes", at + 28)),
            )
        )
    return TdvfMetadata(offset=start, length=length, version=version, sections=tuple(sections))


def check_tdvf_sections(metadata: TdvfMetadata, image_size: int, name: str = "OVMF") -> None:
    """Validate the TDVF sections against the image they were read from.

    Raises a ParseError for misaligned sections, memory smaller than the raw data, raw data
    beyond the end of the image -- what a split ``OVMF_CODE*.fd`` (whose offsets are
    relative to the unified VARS+CODE image) produces --, a section with data in the image
    whose MemoryDataSize runs past its end (QEMU copies MemoryDataSize bytes of the image from
    DataOffset into the TD: target/i386/kvm/tdx.c), and sections asking for more memory in
    total than the 4 GiB below which firmware lives (this bounds MRTD's work: a crafted
    MemoryDataSize of 2^64 would have it walk pages for hours).
    """
    structure = f"{name}TdvfMetadata"
    total = 0
    for index, section in enumerate(metadata.sections):
        at = metadata.offset + TDVF_DESCRIPTOR_HEADER_SIZE + index * TDVF_SECTION_SIZE
        if section.memory_address % PAGE_SIZE or section.memory_data_size % PAGE_SIZE:
            raise ParseError(
                structure,
                f"sections[{index}].memory_address",
                at + 8,
                f"{section.type_name} at 0x{section.memory_address:x} size 0x{section.memory_data_size:x} "
                "is not 4 KiB aligned",
            )
        if section.memory_data_size < section.raw_data_size:
            raise ParseError(
                structure,
                f"sections[{index}].memory_data_size",
                at + 16,
                f"{section.type_name}: memory size 0x{section.memory_data_size:x} is smaller than its "
                f"raw data 0x{section.raw_data_size:x}",
            )
        if section.raw_data_size and section.data_offset + section.raw_data_size > image_size:
            raise ParseError(
                structure,
                f"sections[{index}].data_offset",
                at,
                f"{section.type_name} data [0x{section.data_offset:x}, +0x{section.raw_data_size:x}) "
                f"lies beyond the end of the {image_size}-byte image: this looks like a split "
                "OVMF_CODE*.fd (or a truncated image); TDX needs the unified OVMF.fd given to -bios",
            )
        if section.raw_data_size and section.data_offset + section.memory_data_size > image_size:
            raise ParseError(
                structure,
                f"sections[{index}].memory_data_size",
                at + 16,
                f"{section.type_name} at data offset 0x{section.data_offset:x}: MemoryDataSize "
                f"0x{section.memory_data_size:x} runs past the end of the {image_size}-byte image "
                "(QEMU loads MemoryDataSize bytes of the image from the data offset)",
            )
        total += section.memory_data_size
        if total > FOUR_GIB:
            raise ParseError(
                structure,
                f"sections[{index}].memory_data_size",
                at + 16,
                f"{section.type_name}: MemoryDataSize 0x{section.memory_data_size:x} brings the "
                f"sections' total to 0x{total:x}, more than the 0x{FOUR_GIB:x} bytes below 4 GiB "
                "where TDVF memory lives",
            )
