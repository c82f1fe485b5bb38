"""OVMF footer table, SEV metadata, SEV-ES reset block, hash table and TDVF metadata."""

from __future__ import annotations

import uuid

import pytest

from ccverify.measurements.ovmf import (
    FOOTER_GUID,
    SEV_HASH_TABLE_RV_GUID,
    SEV_METADATA_GUID,
    TDX_METADATA_GUID,
    OvmfImage,
    SevSectionType,
    TdvfAttributes,
    TdvfSectionType,
    check_tdvf_sections,
)
from ccverify.measurements.tdx import mrtd, tdvf_metadata
from ccverify.verifier.errors import ParseError
from tests.conftest import fixture_bytes

AMDSEV = "ovmf/ovmf_AmdSev_suffix.bin"
OVMFX64 = "ovmf/ovmf_OvmfX64_suffix.bin"
TRIXIE = "measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1"
BOOKWORM = "measure/debian-ovmf/OVMF.fd.bookworm-2022.11-6+deb12u2"
SVSM = "measure/sev-snp-measure/svsm.bin"

S = SevSectionType


def sections(image: OvmfImage) -> list[tuple[int, int, SevSectionType]]:
    assert image.sev_metadata is not None
    return [(s.gpa, s.size, s.section_type) for s in image.sev_metadata.sections]


def test_amdsev_tail_has_all_entries_and_kernel_hashes() -> None:
    image = OvmfImage.from_bytes(fixture_bytes(AMDSEV))
    guids = [str(e.guid)[:8] for e in image.entries]
    assert guids == ["00f771de", "4c2eb361", "7255371f", "dc886566", "e47a6535"]
    assert image.sev_es_reset_eip == 0x80B004
    assert image.sev_hash_table == (0x810C00, 0x400)
    assert image.supports_sev_hashes
    assert sections(image) == [
        (0x800000, 0x9000, S.SNP_SEC_MEM),
        (0x80A000, 0x3000, S.SNP_SEC_MEM),
        (0x80D000, 0x1000, S.SNP_SECRETS),
        (0x80E000, 0x1000, S.CPUID),
        (0x80F000, 0x1000, S.SVSM_CAA),
        (0x810000, 0x1000, S.SNP_KERNEL_HASHES),
        (0x811000, 0xF000, S.SNP_SEC_MEM),
    ]


def test_ovmfx64_tail_has_no_kernel_hashes() -> None:
    image = OvmfImage.from_bytes(fixture_bytes(OVMFX64))
    assert image.sev_hash_table == (0, 0)
    assert not image.supports_sev_hashes
    assert sections(image)[-1] == (0x810000, 0x10000, S.SNP_SEC_MEM)
    assert image.sev_metadata is not None and not image.sev_metadata.has(S.SNP_KERNEL_HASHES)


def test_sev_metadata_items_round_trip_to_their_bytes() -> None:
    data = fixture_bytes(AMDSEV)
    image = OvmfImage.from_bytes(data)
    meta = image.sev_metadata
    assert meta is not None and data[meta.offset : meta.offset + 4] == b"ASEV"
    items = b"".join(s.to_bytes() for s in meta.sections)
    assert data[meta.offset + 16 : meta.offset + 16 + len(items)] == items


def test_debian_trixie_unified_image_sev_and_tdvf() -> None:
    data = fixture_bytes(TRIXIE)
    image = OvmfImage.from_bytes(data)
    assert image.sev_es_reset_eip == 0x80B004
    assert not image.supports_sev_hashes
    assert [s[2] for s in sections(image)] == [
        S.SNP_SEC_MEM,
        S.SNP_SEC_MEM,
        S.SNP_SECRETS,
        S.CPUID,
        S.SVSM_CAA,
        S.SNP_SEC_MEM,
    ]
    tdvf = tdvf_metadata(data)
    # the TDVF descriptor is preceded by its GUID (edk2 TdxMetadata.asm)
    assert uuid.UUID(bytes_le=data[tdvf.offset - 16 : tdvf.offset]) == uuid.UUID(
        "e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae"
    )
    got = [
        (s.type_name, s.data_offset, s.raw_data_size, s.memory_address, s.memory_data_size, int(s.attributes))
        for s in tdvf.sections
    ]
    assert got == [
        ("BFV", 0x84000, 0x37C000, 0xFFC84000, 0x37C000, 1),
        ("CFV", 0, 0x84000, 0xFFC00000, 0x84000, 0),
        ("TEMP_MEM", 0, 0, 0x811000, 0xF000, 0),
        ("TEMP_MEM", 0, 0, 0x80B000, 0x2000, 0),
        ("TD_HOB", 0, 0, 0x809000, 0x2000, 0),
        ("TEMP_MEM", 0, 0, 0x800000, 0x6000, 0),
    ]
    assert tdvf.sections[0].extend and not tdvf.sections[0].aug
    assert TdvfSectionType(tdvf.sections[4].section_type) is TdvfSectionType.TD_HOB


def test_debian_bookworm_has_no_svsm_caa_and_a_2mib_layout() -> None:
    data = fixture_bytes(BOOKWORM)
    image = OvmfImage.from_bytes(data)
    assert [s[2] for s in sections(image)] == [
        S.SNP_SEC_MEM,
        S.SNP_SEC_MEM,
        S.SNP_SECRETS,
        S.CPUID,
        S.SNP_SEC_MEM,
    ]
    tdvf = tdvf_metadata(data)
    assert (tdvf.sections[0].data_offset, tdvf.sections[0].raw_data_size) == (0x20000, 0x1E0000)
    assert tdvf.sections[0].attributes == TdvfAttributes.MR_EXTEND


def test_svsm_image_has_svsm_info_and_its_own_sections() -> None:
    image = OvmfImage.from_bytes(fixture_bytes(SVSM), name="SVSM")
    assert image.svsm_reset_offset == 0
    assert image.tdvf_metadata is None
    assert sections(image) == [
        (0, 0x9E000, S.SNP_SEC_MEM),
        (0x9E000, 0x1000, S.SNP_SECRETS),
        (0x9F000, 0x1000, S.CPUID),
    ]


# -- bad input -------------------------------------------------------------------------------


def test_random_bytes_are_not_an_ovmf_image() -> None:
    with pytest.raises(ParseError) as info:
        OvmfImage.from_bytes(bytes(range(256)) * 16)
    assert info.value.field == "footer.guid"
    assert "not an OVMF" in str(info.value)
    assert info.value.offset == 4096 - 32 - 18 + 2


def test_tiny_input_is_refused() -> None:
    with pytest.raises(ParseError, match="too short"):
        OvmfImage.from_bytes(b"\0" * 40)


def test_truncated_image_table_size_does_not_fit() -> None:
    data = fixture_bytes(AMDSEV)
    # keep the footer but only 60 bytes before it: the table claims more than that
    with pytest.raises(ParseError) as info:
        OvmfImage.from_bytes(data[-(32 + 18 + 60) :])
    assert info.value.field == "footer.size"


def test_truncated_image_metadata_offset_outside() -> None:
    data = fixture_bytes(AMDSEV)
    with pytest.raises(ParseError) as info:
        OvmfImage.from_bytes(data[-1024:])
    assert info.value.structure == "OVMFSevMetadata"
    assert "outside" in info.value.detail



@pytest.mark.parametrize(
    ("guid", "from_end", "structure", "detail"),
    [
        (
            SEV_METADATA_GUID,
            0x10000,
            "OVMFSevMetadata",
            "metadata offset 0x10000 from the end lies outside the 4096-byte image (truncated image?)",
        ),
        (
            TDX_METADATA_GUID,
            0,
            "OVMFTdvfMetadata",
            "descriptor offset 0x0 from the end lies outside the 4096-byte image",
        ),
    ],
)
def test_metadata_located_outside_the_image(
    guid: uuid.UUID, from_end: int, structure: str, detail: str
) -> None:
    data = bytearray(fixture_bytes(AMDSEV))
    entry = OvmfImage.from_bytes(bytes(data)).entry(guid)
    assert entry is not None and len(data) == 4096
    data[entry.offset : entry.offset + 4] = from_end.to_bytes(4, "little")
    with pytest.raises(ParseError) as info:
        OvmfImage.from_bytes(bytes(data))
    assert (info.value.structure, info.value.field, info.value.offset) == (structure, "offset", entry.offset)
    assert info.value.detail == detail

def test_corrupted_sev_metadata_signature() -> None:
    data = bytearray(fixture_bytes(AMDSEV))
    meta = OvmfImage.from_bytes(bytes(data)).sev_metadata
    assert meta is not None
    data[meta.offset : meta.offset + 4] = b"XXXX"
    with pytest.raises(ParseError) as info:
        OvmfImage.from_bytes(bytes(data))
    assert info.value.field == "signature" and info.value.offset == meta.offset


def test_corrupted_entry_size() -> None:
    data = bytearray(fixture_bytes(AMDSEV))
    footer_at = len(data) - 32 - 18
    # the entry just before the footer: make its size huge
    entry_header = footer_at - 18
    data[entry_header : entry_header + 2] = (0xFFF0).to_bytes(2, "little")
    with pytest.raises(ParseError) as info:
        OvmfImage.from_bytes(bytes(data))
    assert info.value.field == "entry.size"


def test_unknown_section_type_is_refused() -> None:
    data = bytearray(fixture_bytes(AMDSEV))
    meta = OvmfImage.from_bytes(bytes(data)).sev_metadata
    assert meta is not None
    data[meta.offset + 16 + 8 : meta.offset + 16 + 12] = (0x77).to_bytes(4, "little")
    with pytest.raises(ParseError, match="unknown SEV metadata section type 0x77"):
        OvmfImage.from_bytes(bytes(data))


def test_split_ovmf_code_is_refused_for_tdx() -> None:
    unified = fixture_bytes(TRIXIE)
    code_only = unified[0x84000:]  # what OVMF_CODE_4M.fd is: the image without the VARS store
    image = OvmfImage.from_bytes(code_only)
    assert image.tdvf_metadata is not None
    with pytest.raises(ParseError, match="split") as info:
        check_tdvf_sections(image.tdvf_metadata, len(code_only))
    assert info.value.field == "sections[0].data_offset"
    with pytest.raises(ParseError, match=r"unified OVMF\.fd"):
        mrtd(code_only)


def test_image_without_tdvf_metadata_is_refused_for_tdx() -> None:
    with pytest.raises(ParseError, match="no TDVF metadata"):
        mrtd(fixture_bytes(SVSM))


def test_constants() -> None:
    assert str(FOOTER_GUID) == "96b582de-1fb2-45f7-baea-a366c55a082d"
    assert str(SEV_HASH_TABLE_RV_GUID) == "7255371f-3a3b-4b04-927b-1da6efa8d454"
