"""Authenticode digests of PE/COFF images.

Real-kernel comparison (run by hand, not in CI: it needs the Debian archive). Commands::

    apt-get download linux-image-6.1.0-50-amd64 linux-image-6.1.0-50-cloud-amd64-unsigned
    dpkg-deb -x linux-image-6.1.0-50-amd64_6.1.176-1_amd64.deb signed
    dpkg-deb -x linux-image-6.1.0-50-cloud-amd64-unsigned_6.1.176-1_amd64.deb unsigned
    pesign -h -i FILE                       # prints the SHA-256 Authenticode hash
    osslsigncode verify -in FILE            # "Current/Calculated message digest"
    osslsigncode sign -h sha384 -certs c.pem -key k.pem -in FILE -out s.efi   # for SHA-384

* signed ``vmlinuz-6.1.0-50-amd64`` (8222656 B, sha256 d8808aa4..., Debian-signed, PE32+,
  4 sections, certificate table 1472 B at 8221184): ours SHA-256 fe1bfd69b8f653dd1d59e4279
  3d7fe96aa4e6644a7cad4bc269510dc41409f7a = ``pesign -h`` = osslsigncode's calculated digest
  = the digest Debian signed (osslsigncode "Current message digest"). SHA-384 0fbfe6ff6f232d5
  1769517123fc77f333ef225f081c049ad3427848255aa7727a89500d453ef6915c88fa66fd504c3fa.
* unsigned ``vmlinuz-6.1.0-50-cloud-amd64`` (14148096 B, sha256 592f2ded...): ours SHA-256
  48df3aee4f7518867d5cd624da73db46d6b954bb3cde4dc5236ca9c0555c2d65 = ``pesign -h``; ours
  SHA-384 3e6ddcc244081c308309a56191d3d298999174a413da5e40d65fadaffe0303745f6bf1b019cde36b2
  59b978f4718170d = the digest ``osslsigncode sign -h sha384`` signed (and verifies).
* the same with 3 bytes appended (14148099 B, not a multiple of 8): ours d283020eba7d26c4...
  = ``pesign -h``; osslsigncode and sbsign pad the file to a multiple of 8 before signing and
  sign edc1efb86f5cd54b... = ours over the zero-padded file. We follow the spec and edk2
  (no padding); see ``measurements/pe.py``.

``test_debian_kernels`` repeats this when the extracted kernels are present under
``$CCVERIFY_KERNEL_DIR`` (default /tmp/kern); otherwise it is skipped. In CI the synthetic
images below are checked against a second, deliberately literal implementation of the
specification (whole file in memory, the steps of the spec one after the other).
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest

from ccverify.measurements.hashing import open_source
from ccverify.measurements.pe import authenticode_digest, authenticode_digests, layout
from ccverify.verifier.errors import ParseError


def reference_authenticode(image: bytes, algorithm: str) -> bytes:
    """The Authenticode PE hashing steps, literally (independent of measurements.pe)."""
    pe = struct.unpack_from("<I", image, 0x3C)[0]
    number_of_sections = struct.unpack_from("<H", image, pe + 6)[0]
    optional_size = struct.unpack_from("<H", image, pe + 20)[0]
    optional = pe + 24
    magic = struct.unpack_from("<H", image, optional)[0]
    checksum = optional + 64
    size_of_headers = struct.unpack_from("<I", image, optional + 60)[0]
    rva_count_at = optional + (108 if magic == 0x20B else 92)
    directories = optional + (112 if magic == 0x20B else 96)
    rva_count = struct.unpack_from("<I", image, rva_count_at)[0]
    h = hashlib.new(algorithm)
    h.update(image[:checksum])
    if rva_count > 4:
        cert_dir = directories + 4 * 8
        h.update(image[checksum + 4 : cert_dir])
        h.update(image[cert_dir + 8 : size_of_headers])
        cert_size = struct.unpack_from("<I", image, cert_dir + 4)[0]
    else:
        h.update(image[checksum + 4 : size_of_headers])
        cert_size = 0
    sum_of_bytes = size_of_headers
    table = optional + optional_size
    # edk2 MeasurePeImageAndExtend, step 12: insertion sort of the section headers by
    # PointerToRawData with a strict "<" (headers with equal pointers keep table order)
    headers: list[tuple[int, int]] = []
    for i in range(number_of_sections):
        raw_size, raw_pointer = struct.unpack_from("<II", image, table + 40 * i + 16)
        position = len(headers)
        headers.append((raw_pointer, raw_size))
        while position > 0 and raw_pointer < headers[position - 1][0]:
            headers[position] = headers[position - 1]
            position -= 1
        headers[position] = (raw_pointer, raw_size)
    # steps 13-15: hash each section with SizeOfRawData > 0, in that order
    for raw_pointer, raw_size in headers:
        if not raw_size:
            continue
        h.update(image[raw_pointer : raw_pointer + raw_size])
        sum_of_bytes += raw_size
    if len(image) > sum_of_bytes:
        h.update(image[sum_of_bytes : len(image) - cert_size])
    return h.digest()


def build_pe(
    *,
    plus: bool = True,
    sections: list[tuple[bytes, int]] | None = None,
    trailing: bytes = b"",
    cert: bytes = b"",
    rva_count: int = 16,
    checksum: int = 0x12345678,
) -> bytes:
    """A small but well-formed PE/COFF image; ``sections`` = [(name, size)], laid out in
    reverse file order so that the table order differs from the PointerToRawData order."""
    sections = sections if sections is not None else [(b".text", 0x600), (b".data", 0x200), (b".bss", 0)]
    optional_size = (112 if plus else 96) + 8 * rva_count
    pe = 0x80
    headers_end = pe + 24 + optional_size + 40 * len(sections)
    size_of_headers = (headers_end + 0x1FF) & ~0x1FF
    image = bytearray(size_of_headers)
    image[0:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, pe)
    image[pe : pe + 4] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", image, pe + 4, 0x8664, len(sections), 0, 0, 0, optional_size, 0x22)
    opt = pe + 24
    struct.pack_into("<H", image, opt, 0x20B if plus else 0x10B)
    struct.pack_into("<I", image, opt + 60, size_of_headers)
    struct.pack_into("<I", image, opt + 64, checksum)
    struct.pack_into("<I", image, opt + (108 if plus else 92), rva_count)
    # section data in reverse table order
    pointer = size_of_headers
    placements: dict[int, tuple[int, int]] = {}
    body = bytearray()
    for index in reversed(range(len(sections))):
        name, size = sections[index]
        placements[index] = (pointer if size else 0, size)
        body += bytes((index * 37 + i) & 0xFF for i in range(size))
        pointer += size
    for index, (name, _) in enumerate(sections):
        at = opt + optional_size + 40 * index
        image[at : at + 8] = name.ljust(8, b"\0")
        raw_pointer, raw_size = placements[index]
        struct.pack_into("<II", image, at + 16, raw_size, raw_pointer)
    image += body + trailing
    if cert:
        assert rva_count > 4
        struct.pack_into("<II", image, opt + (112 if plus else 96) + 32, len(image), len(cert))
        image += cert
    return bytes(image)


CASES = {
    "pe32plus": {},
    "pe32": {"plus": False},
    "trailing": {"trailing": b"tail-data" * 7},
    "signed": {"cert": b"\x30\x82" + bytes(range(200)) + b"\0" * 6},
    "signed-with-trailing": {"trailing": b"x" * 13, "cert": bytes(48)},
    "few-directories": {"rva_count": 4},
    "no-sections": {"sections": []},
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("algorithm", ["sha256", "sha384"])
def test_matches_literal_reference(case: str, algorithm: str, tmp_path: Path) -> None:
    image = build_pe(**CASES[case])  # type: ignore[arg-type]
    expected = reference_authenticode(image, algorithm)
    assert authenticode_digest(image, algorithm) == expected
    path = tmp_path / "image.efi"
    path.write_bytes(image)
    assert authenticode_digest(path, algorithm) == expected


def test_checksum_and_certificate_are_excluded() -> None:
    base = build_pe(checksum=1)
    assert authenticode_digest(base) == authenticode_digest(build_pe(checksum=0xFFFFFFFF))
    signed_a = build_pe(cert=bytes(64))
    signed_b = build_pe(cert=b"\x01" * 64)
    assert authenticode_digest(signed_a) == authenticode_digest(signed_b)
    # the certificate directory entry differs from the unsigned image's, yet is skipped
    assert authenticode_digest(signed_a) == authenticode_digest(build_pe(checksum=0x12345678))


def test_sections_are_hashed_in_file_order() -> None:
    image = build_pe()
    with open_source(image) as stream:
        plan = layout(stream, len(image))
    section_ranges = list(plan.ranges[3:])
    assert section_ranges == sorted(section_ranges)
    assert plan.pe32plus and plan.cert_table == (0, 0)


def _share_pointer(image: bytes, index: int, with_index: int) -> bytes:
    """``image`` with section ``index``'s PointerToRawData set to section ``with_index``'s."""
    pe = struct.unpack_from("<I", image, 0x3C)[0]
    table = pe + 24 + struct.unpack_from("<H", image, pe + 20)[0]
    out = bytearray(image)
    pointer = struct.unpack_from("<I", image, table + 40 * with_index + 20)[0]
    struct.pack_into("<I", out, table + 40 * index + 20, pointer)
    return bytes(out)


@pytest.mark.parametrize("sizes", [(0x400, 0x200), (0x200, 0x400), (0x200, 0x200)])
def test_sections_sharing_a_pointer_keep_table_order(sizes: tuple[int, int]) -> None:
    """Sections with the same PointerToRawData are hashed in section-table order (edk2's
    stable insertion sort on the pointer alone), whatever their SizeOfRawData."""
    base = build_pe(sections=[(b".first", sizes[0]), (b".second", sizes[1])], trailing=b"TRAILING-DATA-16")
    image = _share_pointer(base, 0, 1)  # .first now starts where .second does
    with open_source(image) as stream:
        plan = layout(stream, len(image))
    pointer = plan.ranges[3][0]
    assert plan.ranges[3:5] == ((pointer, sizes[0]), (pointer, sizes[1]))  # table order
    for algorithm in ("sha256", "sha384"):
        assert authenticode_digest(image, algorithm) == reference_authenticode(image, algorithm)
    # what edk2 hashes, spelled out: headers, .first, .second (same start), the trailing bytes
    expected = hashlib.sha384()
    for start, length in (*plan.ranges[:3], (pointer, sizes[0]), (pointer, sizes[1]), plan.ranges[5]):
        expected.update(image[start : start + length])
    assert len(plan.ranges) == 6 and plan.ranges[5][1] == 16
    assert authenticode_digest(image) == expected.digest()


def test_no_padding_to_eight_bytes() -> None:
    image = build_pe(trailing=b"abc")  # file size not a multiple of 8
    assert len(image) % 8
    padded = image + bytes(-len(image) % 8)
    assert authenticode_digest(image) != authenticode_digest(padded)
    assert authenticode_digest(image) == reference_authenticode(image, "sha384")


def test_several_algorithms_in_one_pass() -> None:
    image = build_pe(trailing=b"t" * 100)
    both = authenticode_digests(image, ("sha256", "sha384"))
    assert both == {a: reference_authenticode(image, a) for a in ("sha256", "sha384")}


# -- bad input -------------------------------------------------------------------------------


def test_not_a_pe_image() -> None:
    with pytest.raises(ParseError, match="MZ") as info:
        authenticode_digest(b"\x7fELF" + bytes(200))
    assert info.value.structure == "PeImage"


def test_missing_pe_signature() -> None:
    image = bytearray(build_pe())
    image[0x80:0x84] = b"NE\0\0"
    with pytest.raises(ParseError, match="PE") as info:
        authenticode_digest(bytes(image))
    assert info.value.offset == 0x80


def test_truncated_image() -> None:
    image = build_pe()
    with pytest.raises(ParseError, match="truncated"):
        authenticode_digest(image[:-0x100])
    with pytest.raises(ParseError):
        authenticode_digest(image[:0x90])


def test_bad_optional_header_magic() -> None:
    image = bytearray(build_pe())
    image[0x80 + 24 : 0x80 + 26] = b"\x07\x01"
    with pytest.raises(ParseError, match="magic"):
        authenticode_digest(bytes(image))


def test_certificate_larger_than_the_rest() -> None:
    image = bytearray(build_pe(cert=bytes(16)))
    struct.pack_into("<I", image, 0x80 + 24 + 112 + 36, 1 << 20)
    with pytest.raises(ParseError, match="certificate table"):
        authenticode_digest(bytes(image))


# -- the real Debian kernels (when present) ----------------------------------------------------

KERNEL_DIR = Path(os.environ.get("CCVERIFY_KERNEL_DIR", "/tmp/kern"))
REAL = {
    "signed/boot/vmlinuz-6.1.0-50-amd64": (
        "fe1bfd69b8f653dd1d59e42793d7fe96aa4e6644a7cad4bc269510dc41409f7a",
        "0fbfe6ff6f232d51769517123fc77f333ef225f081c049ad3427848255aa7727a89500d453ef6915c88fa66fd504c3fa",
    ),
    "unsigned/boot/vmlinuz-6.1.0-50-cloud-amd64": (
        "48df3aee4f7518867d5cd624da73db46d6b954bb3cde4dc5236ca9c0555c2d65",
        "3e6ddcc244081c308309a56191d3d298999174a413da5e40d65fadaffe0303745f6bf1b019cde36b259b978f4718170d",
    ),
}


@pytest.mark.parametrize("relative", sorted(REAL))
def test_debian_kernels(relative: str) -> None:
    path = KERNEL_DIR / relative
    if not path.exists():
        # CI has no Debian kernels (not in tests/fixtures): the synthetic PE tests above
        # always run; this comparison with pesign/osslsigncode runs where they are extracted
        pytest.skip(f"{path} not present: set CCVERIFY_KERNEL_DIR (module docstring says how to fetch)")
    sha256, sha384 = REAL[relative]
    got = authenticode_digests(path, ("sha256", "sha384"))
    assert got["sha256"].hex() == sha256
    assert got["sha384"].hex() == sha384
    assert got["sha384"] == reference_authenticode(path.read_bytes(), "sha384")
