"""SEV-SNP certificate tables (extended report / configfs auxblob).

There is no real table among the fixtures, so the tables are built from real AMD certificates
(VCEK, VLEK, ASK, ASVK, ARK) in tests/fixtures/snp, in go-sev-guest's layout.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ccverify.verifier.errors import InputError, ParseError
from ccverify.verifier.evidence.certtable import (
    ARK_GUID,
    ASK_GUID,
    CRL_GUID,
    VCEK_GUID,
    VLEK_GUID,
    CertEntry,
    CertKind,
    CertTable,
)
from ccverify.verifier.evidence.detect import Kind, detect
from ccverify.verifier.jsonable import to_jsonable
from tests.conftest import fixture_bytes


def pem_der(name: str) -> bytes:
    return x509.load_pem_x509_certificate(fixture_bytes(name)).public_bytes(Encoding.DER)


VCEK = fixture_bytes("snp/virtee-sev/vcek_milan.der")
VLEK = fixture_bytes("snp/trustee/test-vlek.der")
ASK = pem_der("snp/amd-roots/milan_ask.pem")
ASVK = pem_der("snp/amd-roots/milan_asvk.pem")
ARK = pem_der("snp/amd-roots/milan_ark.pem")
ODD_GUID = uuid.UUID("ecae0c0f-9502-43b1-afa2-0ae2e0d565b6")


def entry_bytes(guid: uuid.UUID, offset: int, length: int) -> bytes:
    return guid.bytes + offset.to_bytes(4, "little") + length.to_bytes(4, "little")


def test_guids_are_the_ghcb_ones_in_rfc4122_byte_order() -> None:
    assert CertKind.ARK.guid == ARK_GUID == uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae")
    assert CertKind.ASK.guid == ASK_GUID == uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782")
    assert CertKind.ASVK.guid == ASK_GUID
    assert CertKind.VCEK.guid == VCEK_GUID == uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd")
    assert CertKind.VLEK.guid == VLEK_GUID == uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1")
    assert CertKind.CRL.guid == CRL_GUID == uuid.UUID("92f81bc3-5811-4d3d-97ff-d19f88dc67ea")
    table = CertTable.build([(CertKind.VCEK, VCEK)]).to_bytes()
    assert table[:16] == bytes.fromhex("63da758de6644564adc5f4b93be8accd")
    with pytest.raises(InputError):
        _ = CertKind.UNKNOWN.guid


def test_vcek_chain_table_layout_and_round_trip() -> None:
    table = CertTable.build([(CertKind.VCEK, VCEK), (CertKind.ASK, ASK), (CertKind.ARK, ARK)])
    data = table.to_bytes()
    header = 4 * 24
    assert data[:24] == entry_bytes(VCEK_GUID, header, len(VCEK))
    assert data[24:48] == entry_bytes(ASK_GUID, header + len(VCEK), len(ASK))
    assert data[48:72] == entry_bytes(ARK_GUID, header + len(VCEK) + len(ASK), len(ARK))
    assert data[72:96] == bytes(24)
    assert data[header:] == VCEK + ASK + ARK
    parsed = CertTable.from_bytes(data)
    assert parsed == table
    assert parsed.to_bytes() == data
    assert [e.kind for e in parsed] == [CertKind.VCEK, CertKind.ASK, CertKind.ARK]
    assert parsed.get(CertKind.VCEK) == VCEK
    assert parsed.get(CertKind.ASK) == ASK
    assert parsed.get(CertKind.ARK) == ARK
    assert parsed.get(CertKind.VLEK) is None
    assert parsed.get(CertKind.ASVK) is None
    assert parsed.get(CertKind.CRL) is None
    assert len(parsed) == 3
    assert detect(data) is Kind.SNP_CERT_TABLE


def test_vlek_chain_table_tells_asvk_from_ask_by_cn() -> None:
    table = CertTable.from_bytes(
        CertTable.build(
            [(CertKind.VLEK, VLEK), (CertKind.ASVK, ASVK), (CertKind.ASK, ASK), (CertKind.ARK, ARK)]
        ).to_bytes()
    )
    asvk_entry, ask_entry = table.entries[1], table.entries[2]
    assert asvk_entry.guid == ask_entry.guid == ASK_GUID
    assert asvk_entry.kind is CertKind.ASK
    assert asvk_entry.subject_cn() == "SEV-VLEK-Milan"
    assert asvk_entry.is_asvk
    assert asvk_entry.resolved_kind is CertKind.ASVK
    assert ask_entry.subject_cn() == "SEV-Milan"
    assert not ask_entry.is_asvk
    assert ask_entry.resolved_kind is CertKind.ASK
    assert table.get(CertKind.ASVK) == ASVK
    assert table.get(CertKind.ASK) == ASK
    assert table.get(CertKind.VLEK) == VLEK
    assert table.get(ASK_GUID) == ASVK  # by GUID: the first entry under it
    assert [e.data for e in table.get_all(ASK_GUID)] == [ASVK, ASK]


def test_a_certificate_with_an_invalid_version_has_no_subject_cn() -> None:
    v3 = b"\xa0\x03\x02\x01\x02"
    assert ASK.count(v3) == 1
    table = CertTable.build([(CertKind.ASK, ASK.replace(v3, v3[:-1] + b"\x06"))])
    assert table.entries[0].subject_cn() is None
    assert not table.entries[0].is_asvk


def _asvk_with_a_duplicate_extension() -> bytes:
    aki, ski = bytes.fromhex("0603551d23"), bytes.fromhex("0603551d0e")  # OIDs 2.5.29.35, 2.5.29.14
    assert ASVK.count(aki) == 1 and ASVK.count(ski) == 1
    return ASVK.replace(aki, ski)


def _asvk_with_an_edi_party_name() -> bytes:
    uri = ASVK.index(b"https://kdsintf")  # the CRL distribution point's URI general name [6]
    assert ASVK[uri - 2] == 0x86
    # as ediPartyName [5], a general name type cryptography does not model
    return ASVK[: uri - 2] + b"\xa5" + ASVK[uri - 1 :]


@pytest.mark.parametrize("make", [_asvk_with_a_duplicate_extension, _asvk_with_an_edi_party_name])
def test_an_extension_cryptography_cannot_read_means_no_subject_cn(make: Callable[[], bytes]) -> None:
    """cryptography raises DuplicateExtension / UnsupportedGeneralNameType (not ValueError) when
    the extensions are read; the real ASVK's CN would otherwise make the entry an ASVK."""
    table = CertTable.build([(CertKind.ASK, make())])
    entry = table.entries[0]
    assert entry.subject_cn() is None
    assert not entry.is_asvk and entry.resolved_kind is CertKind.ASK
    assert table.to_json()["entries"][0]["subject_cn"] is None


def test_empty_tables_mean_no_certificates() -> None:
    for data in (b"", bytes(24), bytes(4096)):
        table = CertTable.from_bytes(data)
        assert table.is_empty
        assert table.get(CertKind.VCEK) is None
        assert table.to_bytes() == data
    assert CertTable.build([]).to_bytes() == bytes(24)
    assert CertTable().to_bytes() == bytes(24)


def test_padding_and_order_are_kept_for_an_exact_round_trip() -> None:
    # data in reverse order, a gap between certificates, the buffer padded to a page
    header = 3 * 24
    ark_at = header + 8
    vcek_at = ark_at + len(ARK) + 16
    data = bytearray(4096 * 2)
    data[0:24] = entry_bytes(VCEK_GUID, vcek_at, len(VCEK))
    data[24:48] = entry_bytes(ARK_GUID, ark_at, len(ARK))
    data[ark_at : ark_at + len(ARK)] = ARK
    data[vcek_at : vcek_at + len(VCEK)] = VCEK
    table = CertTable.from_bytes(bytes(data))
    assert table.get(CertKind.VCEK) == VCEK
    assert table.get(CertKind.ARK) == ARK
    assert table.to_bytes() == bytes(data)
    assert table == CertTable.build([(CertKind.VCEK, VCEK), (CertKind.ARK, ARK)])
    # a changed table is laid out canonically
    changed = dataclasses.replace(table, entries=table.entries[:1])
    assert changed.to_bytes() == CertTable.build([(CertKind.VCEK, VCEK)]).to_bytes()


def test_unknown_guids_are_kept() -> None:
    extra = (8).to_bytes(4, "little") + (0x00A10F11).to_bytes(4, "little")
    table = CertTable.from_bytes(
        CertTable.build([(CertKind.VCEK, VCEK), (ODD_GUID, extra), (str(CRL_GUID), b"\x30\x00")]).to_bytes()
    )
    unknown = table.entries[1]
    assert unknown.kind is CertKind.UNKNOWN
    assert unknown.guid == ODD_GUID
    assert unknown.data == extra
    assert unknown.subject_cn() is None
    assert table.get(ODD_GUID) == extra
    assert table.get(CertKind.UNKNOWN) == extra
    assert table.entries[2].kind is CertKind.CRL
    assert table.get(CertKind.CRL) == b"\x30\x00"


def test_entry_of_checks_its_guid() -> None:
    with pytest.raises(InputError, match="not a GUID"):
        CertEntry.of("not-a-guid", b"")
    with pytest.raises(InputError):
        CertEntry.of(CertKind.UNKNOWN, b"")
    assert CertEntry.of(str(VCEK_GUID), VCEK).kind is CertKind.VCEK


def test_json_form() -> None:
    table = CertTable.build([(CertKind.VCEK, VCEK)])
    rendered = to_jsonable(table)
    assert rendered["entries"][0]["guid"] == "63da758d-e664-4564-adc5-f4b93be8accd"
    assert rendered["entries"][0]["kind"] == "VCEK"
    assert rendered["entries"][0]["length"] == len(VCEK)
    assert rendered["entries"][0]["subject_cn"] == "SEV-VCEK"
    assert rendered["entries"][0]["data"] == VCEK.hex()


# -------------------------------------------------------------------------- bad tables


def test_missing_terminator_is_a_parse_error() -> None:
    data = entry_bytes(VCEK_GUID, 48, 4) + b"\x01\x02\x03\x04"
    with pytest.raises(ParseError) as info:
        CertTable.from_bytes(data)
    assert info.value.structure == "CertTable"
    assert (info.value.field, info.value.offset) == ("entries[1]", 24)


def test_offset_into_the_header_is_a_parse_error() -> None:
    data = entry_bytes(VCEK_GUID, 72, 4) + entry_bytes(ARK_GUID, 40, 4) + bytes(24) + bytes(8)
    with pytest.raises(ParseError) as info:
        CertTable.from_bytes(data)
    assert (info.value.field, info.value.offset) == ("entries[1].offset", 24 + 16)
    assert "header" in str(info.value)


def test_entry_past_the_end_is_a_parse_error() -> None:
    data = entry_bytes(VCEK_GUID, 48, 100) + bytes(24) + bytes(99)
    with pytest.raises(ParseError) as info:
        CertTable.from_bytes(data)
    assert (info.value.field, info.value.offset) == ("entries[0].length", 20)


def test_huge_offset_and_length_do_not_wrap() -> None:
    data = entry_bytes(VCEK_GUID, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(24)
    with pytest.raises(ParseError):
        CertTable.from_bytes(data)


def test_short_non_empty_buffer_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        CertTable.from_bytes(bytes(10))
    assert (info.value.field, info.value.offset) == ("entries[0]", 0)


def test_every_prefix_of_a_table_is_a_parse_error() -> None:
    data = CertTable.build([(CertKind.VCEK, VCEK), (CertKind.ASK, ASK)]).to_bytes()
    assert CertTable.from_bytes(data[:0]).is_empty
    for size in range(1, len(data)):
        with pytest.raises(ParseError):
            CertTable.from_bytes(data[:size])
