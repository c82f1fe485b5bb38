"""Authenticode digest of a PE/COFF image (what UEFI firmware measures for an EFI application).

Follows "Windows Authenticode Portable Executable Signature Format" (the PE/COFF hashing
steps) as edk2 implements it for measured boot (``Tcg2Dxe`` / ``DxeTpm2MeasureBootLib``):

1. hash the headers from 0 up to the CheckSum field (optional header + 64);
2. skip the 4-byte CheckSum; hash up to the Certificate Table entry (data directory 4,
   ``optional header + (PE32+ ? 112 : 96) + 4 * 8``); skip that 8-byte entry; hash the rest of
   the headers up to SizeOfHeaders (when the image has 4 or fewer data directories there
   is no Certificate Table entry: hash from CheckSum + 4 to SizeOfHeaders);
3. hash every section with SizeOfRawData > 0, sorted by PointerToRawData (stably: sections
   with the same PointerToRawData keep their section-table order, as edk2's insertion sort
   does), over ``[PointerToRawData, PointerToRawData + SizeOfRawData)``;
4. if the file is longer than what was hashed, hash the remaining bytes except the attribute
   certificate table: ``file size - bytes hashed - certificate table size`` bytes.

**No zero padding to a multiple of 8** is added. tdx-measure pads the file to an 8-byte
multiple before step 4; neither the Authenticode specification nor edk2 does that, and the
firmware measures the image bytes as loaded. Checked here on a Debian kernel with 3 bytes
appended (14148099 bytes): ``pesign -h`` prints the unpadded digest (= ours), while
``osslsigncode sign`` and ``sbsign`` first pad the file with zeros to a multiple of 8 and
sign the digest of the padded file (= ours over the padded file). A signed image therefore
already ends 8-byte aligned, and bzImage sizes are multiples of 512 (Debian 6.1.0-50:
8222656 and 14148096 bytes), so for real kernels both readings agree. See
tests/unit/test_pe.py for the comparison with pesign, sbverify and osslsigncode.

The file is streamed (headers read once, sections fed from 1 MiB chunks), so a 30 MiB
kernel never sits in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ccverify.measurements.hashing import (
    CHUNK_SIZE,
    Advance,
    Source,
    Stream,
    _noop,
    feed_range,
    open_source,
    source_size,
)
from ccverify.verifier.errors import InputError, ParseError
from ccverify.verifier.evidence._binary import Reader

STRUCTURE = "PeImage"
PE32_MAGIC = 0x10B
PE32PLUS_MAGIC = 0x20B
SECURITY_DIRECTORY = 4
SECTION_HEADER_SIZE = 40
#: headers larger than this are not plausible for a kernel or EFI application
MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class PeLayout:
    """The byte ranges the Authenticode digest covers, in hashing order."""

    file_size: int
    ranges: tuple[tuple[int, int], ...]  # (start, length)
    cert_table: tuple[int, int]  # (file offset, size); (0, 0) when unsigned
    pe32plus: bool

    @property
    def hashed_bytes(self) -> int:
        return sum(length for _, length in self.ranges)


def _read_head(stream: Stream, size: int) -> bytes:
    stream.seek(0)
    data = stream.read(size)
    return data if isinstance(data, bytes) else b""


def layout(stream: Stream, file_size: int) -> PeLayout:
    """Parse the headers of the image in ``stream`` and work out what Authenticode hashes."""
    head = _read_head(stream, min(file_size, 4096))
    r = Reader(head, STRUCTURE)
    if r.bytes("dos.e_magic", 0, 2) != b"MZ":
        raise r.error("dos.e_magic", 0, "not a PE/COFF image (no 'MZ' DOS header)")
    pe_at = r.u32("dos.e_lfanew", 0x3C)
    coff = pe_at + 4
    opt = coff + 20
    if opt + 2 > len(head):
        head = _read_head(stream, min(file_size, opt + 256))
        r = Reader(head, STRUCTURE)
    if r.bytes("pe.signature", pe_at, 4) != b"PE\0\0":
        raise r.error(
            "pe.signature",
            pe_at,
            "no 'PE\\0\\0' signature: not a PE/COFF image (is this an old, non-EFI kernel?)",
        )
    sections = r.u16("coff.number_of_sections", coff + 2)
    opt_size = r.u16("coff.size_of_optional_header", coff + 16)
    table_at = opt + opt_size
    need = table_at + sections * SECTION_HEADER_SIZE
    if need > MAX_HEADER_BYTES:
        raise r.error("coff.number_of_sections", coff + 2, f"section table ends at {need}: implausible")
    if need > len(head):
        head = _read_head(stream, min(file_size, need))
        r = Reader(head, STRUCTURE)
    magic = r.u16("optional.magic", opt)
    if magic == PE32_MAGIC:
        plus = False
    elif magic == PE32PLUS_MAGIC:
        plus = True
    else:
        raise r.error("optional.magic", opt, f"unknown optional header magic 0x{magic:x}")
    checksum_at = opt + 64
    size_of_headers = r.u32("optional.size_of_headers", opt + 60)
    count_at = opt + (108 if plus else 92)
    directories = r.u32("optional.number_of_rva_and_sizes", count_at)
    dir_base = opt + (112 if plus else 96)
    if size_of_headers > file_size or size_of_headers < checksum_at + 4:
        raise r.error(
            "optional.size_of_headers",
            opt + 60,
            f"SizeOfHeaders {size_of_headers} does not fit the {file_size}-byte file",
        )
    ranges: list[tuple[int, int]] = [(0, checksum_at)]
    cert = (0, 0)
    if directories > SECURITY_DIRECTORY:
        cert_entry = dir_base + SECURITY_DIRECTORY * 8
        if cert_entry + 8 > size_of_headers or cert_entry + 8 > opt + opt_size:
            raise r.error(
                "optional.data_directory[4]", cert_entry, "certificate table entry lies outside the headers"
            )
        cert = (
            r.u32("optional.certificate_table.offset", cert_entry),
            r.u32("optional.certificate_table.size", cert_entry + 4),
        )
        ranges.append((checksum_at + 4, cert_entry - checksum_at - 4))
        ranges.append((cert_entry + 8, size_of_headers - cert_entry - 8))
    else:
        ranges.append((checksum_at + 4, size_of_headers - checksum_at - 4))
    hashed = size_of_headers
    raw_sections: list[tuple[int, int, int]] = []
    for index in range(sections):
        at = table_at + index * SECTION_HEADER_SIZE
        raw_size = r.u32(f"section[{index}].size_of_raw_data", at + 16)
        pointer = r.u32(f"section[{index}].pointer_to_raw_data", at + 20)
        if raw_size == 0:
            continue
        if pointer + raw_size > file_size:
            raise r.error(
                f"section[{index}].pointer_to_raw_data",
                at + 20,
                f"section data [0x{pointer:x}, +0x{raw_size:x}) runs past the end of the "
                f"{file_size}-byte file (truncated?)",
            )
        raw_sections.append((pointer, raw_size, index))
    # edk2 (MeasurePeImageAndExtend, DxeTpm2MeasureBootLib) insertion-sorts the section
    # headers by PointerToRawData alone with a strict "<": sections sharing a pointer keep
    # their table order. sorted() is stable; the key must be the pointer only.
    for pointer, raw_size, _ in sorted(raw_sections, key=lambda item: item[0]):
        ranges.append((pointer, raw_size))
        hashed += raw_size
    if file_size > hashed:
        extra = file_size - hashed - cert[1]
        if extra < 0:
            raise ParseError(
                STRUCTURE,
                "optional.certificate_table.size",
                None,
                f"certificate table of {cert[1]} bytes is larger than the "
                f"{file_size - hashed} unhashed bytes",
            )
        if extra:
            ranges.append((hashed, extra))
    return PeLayout(file_size, tuple(ranges), cert, plus)


def authenticode_digests(
    source: Source,
    algorithms: Sequence[str] = ("sha384",),
    *,
    advance: Advance = _noop,
) -> dict[str, bytes]:
    """Authenticode digests of the PE image in ``source`` (a path or bytes), one pass."""
    size = source_size(source)
    hashers = [hashlib.new(name) for name in algorithms]
    buffer = bytearray(CHUNK_SIZE)
    try:
        with open_source(source) as stream:
            plan = layout(stream, size)
            for start, length in plan.ranges:
                if length <= 0:
                    continue
                if feed_range(stream, start, length, hashers, buffer, advance) != length:
                    raise ParseError(STRUCTURE, "data", start, "file shrank while it was being hashed")
    except OSError as error:
        raise InputError(
            f"{source if isinstance(source, str) else getattr(source, 'name', source)!s}: "
            f"{error.strerror or error}"
        ) from None
    return {name: h.digest() for name, h in zip(algorithms, hashers, strict=True)}


def authenticode_digest(source: Source, algorithm: str = "sha384") -> bytes:
    return authenticode_digests(source, (algorithm,))[algorithm]
