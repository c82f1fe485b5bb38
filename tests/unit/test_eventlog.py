"""Event-log and CCEL-table parsing on the real logs of tests/fixtures (go-eventlog, go-tdx-guest,
trustee): structure, exact round trip with padding, decoders, and the errors for bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import uuid

import pytest

from ccverify.verifier.errors import ParseError
from ccverify.verifier.evidence.detect import Kind, detect
from ccverify.verifier.evidence.eventlog import (
    INITRD_EVENT_TAG_ID,
    LOAD_OPTIONS_EVENT_TAG_ID,
    Alg,
    CcelTable,
    CcType,
    Event,
    EventLog,
    EventType,
    Flavour,
    SpecIdEvent,
)
from ccverify.verifier.jsonable import to_jsonable
from tests.conftest import fixture_bytes

COS113 = "measure/go-eventlog/ccel/cos-113-intel-tdx.bin"
COS113_DUPE = "measure/go-eventlog/ccel/cos-113-intel-tdx-dupe-separator.bin"
COS113_DUPE_UNPADDED = "measure/go-eventlog/ccel/cos-113-intel-tdx-dupe-separator-unpadded.bin"
INTEL_SAMPLE = "measure/go-eventlog/ccel/CCEL_unpadded.data.bin"
EVENT_LOG_BIN = "measure/go-eventlog/ccel/event_log.bin"
GO_TDX_GUEST = "tdx/go-tdx-guest/ccel/ccel_data.dat"
TRUSTEE = "tdx/trustee/CCEL_data"
TRUSTEE_OVMF = "tdx/trustee/CCEL_data_ovmf"
UBUNTU2104 = "measure/go-eventlog/tpm/ubuntu-2104-no-secure-boot.bin"
COS101 = "measure/go-eventlog/tpm/cos-101-amd-sev.bin"
ARCH = "measure/go-eventlog/tpm/arch-linux-workstation.bin"
DEBIAN10 = "measure/go-eventlog/tpm/debian-10.bin"

# (fixture, events after the Spec ID record, padding bytes, padding byte, flavour)
LOGS = [
    (COS113, 43, 262144 - 18101, 0xFF, Flavour.CCEL),
    (COS113_DUPE, 43, 262144 - 18101, 0xFF, Flavour.CCEL),
    (COS113_DUPE_UNPADDED, 43, 0, 0xFF, Flavour.CCEL),
    (INTEL_SAMPLE, 19, 0, 0xFF, Flavour.CCEL),
    (EVENT_LOG_BIN, 27, 65536 - 2703, 0xFF, Flavour.CCEL),
    (GO_TDX_GUEST, 43, 262144 - 18101, 0xFF, Flavour.CCEL),
    (TRUSTEE, 5, 1038754, 0x00, Flavour.CCEL),
    (TRUSTEE_OVMF, 20, 65536 - 2120, 0xFF, Flavour.CCEL),
    (UBUNTU2104, 105, 0, 0xFF, Flavour.TPM),
    (COS101, 48, 0, 0xFF, Flavour.TPM),
    (ARCH, 24, 0, 0xFF, Flavour.TPM),
    (DEBIAN10, 25, 0, 0xFF, Flavour.TPM),
]


def load(name: str, **kwargs: object) -> EventLog:
    return EventLog.from_bytes(fixture_bytes(name), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "count", "padding", "padding_byte", "flavour"), LOGS)
def test_real_logs_parse_and_round_trip_exactly(
    name: str, count: int, padding: int, padding_byte: int, flavour: Flavour
) -> None:
    raw = fixture_bytes(name)
    log = EventLog.from_bytes(raw)
    assert len(log.events) == count
    assert log.padding == padding
    assert log.padding_byte == padding_byte
    assert log.flavour is flavour
    assert log.to_bytes() == raw


@pytest.mark.parametrize("name", [n for n, *_ in LOGS if n != DEBIAN10])
def test_crypto_agile_logs_are_detected_by_show(name: str) -> None:
    assert detect(fixture_bytes(name)) is Kind.EVENT_LOG


@pytest.mark.parametrize("name", [n for n, *_ in LOGS])
def test_event_offsets_point_at_their_records(name: str) -> None:
    raw = fixture_bytes(name)
    log = EventLog.from_bytes(raw)
    for event in log.events:
        assert struct.unpack_from("<II", raw, event.offset) == (event.index, int(event.event_type))
        assert raw[event.data_offset : event.data_offset + len(event.data)] == event.data


def test_ccel_spec_id_event_lists_only_sha384() -> None:
    log = load(COS113)
    assert log.spec_id == SpecIdEvent(
        signature=b"Spec ID Event03\x00",
        platform_class=0,
        spec_version_minor=0,
        spec_version_major=2,
        spec_errata=0,
        uintn_size=2,
        algorithms=((0x000C, 48),),
        vendor_info=b"",
    )
    assert log.header is not None
    assert log.header.index == 1  # OVMF/TDVF logs the Spec ID record at CC MR index 1
    assert log.header.event_type is EventType.EV_NO_ACTION
    assert log.algorithms == (Alg.SHA384,)
    assert all(list(e.digests) == [Alg.SHA384] for e in log.events)


def test_td_shim_spec_id_event_has_vendor_info_and_index_0() -> None:
    log = load(TRUSTEE)
    assert log.spec_id is not None
    assert log.spec_id.vendor_info == b"td-shim"
    assert log.spec_id.spec_errata == 0x69
    assert log.header is not None
    assert log.header.index == 0


def test_tpm_spec_id_lists_three_banks_in_log_order() -> None:
    log = load(UBUNTU2104)
    assert log.spec_id is not None
    assert log.spec_id.platform_class == 0
    assert log.spec_id.algorithms == ((0x0004, 20), (0x000B, 32), (0x000C, 48))
    assert log.algorithms == (Alg.SHA1, Alg.SHA256, Alg.SHA384)
    assert [list(e.digests) for e in log.events[:1]] == [[0x0004, 0x000B, 0x000C]]


def test_legacy_sha1_log_has_no_spec_id() -> None:
    log = load(DEBIAN10)
    assert log.spec_id is None
    assert log.header is None
    assert log.legacy
    assert log.algorithms == (Alg.SHA1,)
    first = log.events[0]
    assert (first.number, first.index, first.event_type) == (0, 0, EventType.EV_S_CRTM_VERSION)
    assert first.describe() == "'GCE Virtual Firmware v1'"


def test_flavour_can_be_stated_or_implied_by_a_ccel_table() -> None:
    raw = fixture_bytes(COS113)
    table = CcelTable.from_bytes(fixture_bytes("measure/go-eventlog/ccel/cos-113-intel-tdx.table.bin"))
    assert EventLog.from_bytes(raw, cc=False).flavour is Flavour.TPM
    assert EventLog.from_bytes(fixture_bytes(UBUNTU2104), cc=True).flavour is Flavour.CCEL
    assert EventLog.from_bytes(fixture_bytes(UBUNTU2104), table=table).flavour is Flavour.CCEL


# ------------------------------------------------------------------------------------------
# padding


def test_padded_log_fails_when_padding_is_not_allowed() -> None:
    with pytest.raises(ParseError) as info:
        load(COS113_DUPE, allow_padding=False)
    assert info.value.field == "padding"
    assert info.value.offset == 18101
    assert "244043 bytes of 0xFF padding" in info.value.detail


def test_zero_padded_td_shim_log_fails_when_padding_is_not_allowed() -> None:
    with pytest.raises(ParseError) as info:
        load(TRUSTEE, allow_padding=False)
    assert info.value.offset == 1048576 - 1038754
    assert "0x00 padding" in info.value.detail


def test_unpadded_log_parses_without_padding_allowance() -> None:
    log = load(COS113_DUPE_UNPADDED, allow_padding=False)
    assert len(log.events) == 43
    assert log.padding == 0


def test_padded_and_unpadded_logs_carry_the_same_events() -> None:
    padded = load(COS113_DUPE)
    unpadded = load(COS113_DUPE_UNPADDED)
    assert padded.events == unpadded.events
    assert padded.to_bytes()[:18101] == unpadded.to_bytes()


def test_garbage_after_the_end_marker_is_rejected() -> None:
    raw = bytearray(fixture_bytes(COS113))
    raw[30000] = 0x00
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(bytes(raw))
    assert info.value.field == "padding"
    assert info.value.offset == 30000
    assert "0xFFFFFFFF end marker at offset 18101" in info.value.detail


def test_garbage_that_is_not_a_record_is_rejected() -> None:
    raw = fixture_bytes(COS113_DUPE_UNPADDED) + b"\x01\x02\x03"
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(raw)
    assert info.value.structure == "TCG_PCR_EVENT2"
    assert info.value.field == "event[44].header"
    assert info.value.offset == 18101


# ------------------------------------------------------------------------------------------
# bad input


def test_truncated_event_data_names_the_event_and_its_size_field() -> None:
    raw = fixture_bytes(COS113_DUPE_UNPADDED)
    log = EventLog.from_bytes(raw)
    event = log.events[4]  # PK, 1097 bytes of variable data
    cut = raw[: event.data_offset + 10]
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(cut)
    assert info.value.structure == "TCG_PCR_EVENT2"
    assert info.value.field == "event[5].eventSize"
    assert info.value.offset == event.data_offset - 4
    assert "runs past the end" in info.value.detail


def test_truncated_digest_names_the_digest() -> None:
    raw = fixture_bytes(COS113_DUPE_UNPADDED)
    event = EventLog.from_bytes(raw).events[0]
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(raw[: event.offset + 20])
    assert info.value.field == "event[1].digests[0].digest"
    assert info.value.offset == event.offset + 14


def test_unknown_algorithm_in_a_record_is_rejected_with_its_offset() -> None:
    raw = bytearray(fixture_bytes(COS113_DUPE_UNPADDED))
    event = EventLog.from_bytes(bytes(raw)).events[2]
    struct.pack_into("<H", raw, event.offset + 12, 0x000B)  # SHA-256: not in this Spec ID
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(bytes(raw))
    assert info.value.field == "event[3].digests[0].hashAlg"
    assert info.value.offset == event.offset + 12
    assert "SHA256 is not listed in the Spec ID event" in info.value.detail


def test_absurd_digest_count_is_rejected() -> None:
    raw = bytearray(fixture_bytes(COS113_DUPE_UNPADDED))
    event = EventLog.from_bytes(bytes(raw)).events[0]
    struct.pack_into("<I", raw, event.offset + 8, 0xFFFFFFFF)
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(bytes(raw))
    assert info.value.field == "event[1].digestCount"
    assert info.value.offset == event.offset + 8


def test_spec_id_vendor_info_size_must_match() -> None:
    raw = bytearray(fixture_bytes(COS113_DUPE_UNPADDED))
    raw[0x20 + 32] = 5  # vendorInfoSize of the Spec ID event (one algorithm)
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(bytes(raw))
    assert info.value.structure == "TCG_EfiSpecIDEvent"
    assert info.value.field == "vendorInfoSize"
    assert info.value.offset == 0x40


def test_spec_id_digest_size_must_match_the_algorithm() -> None:
    raw = bytearray(fixture_bytes(COS113_DUPE_UNPADDED))
    struct.pack_into("<H", raw, 0x20 + 30, 32)  # SHA-384 listed as 32 bytes
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(bytes(raw))
    assert info.value.field == "digestSizes[0].digestSize"
    assert info.value.offset == 0x3E


def test_spec_id_version_must_be_2_0() -> None:
    raw = bytearray(fixture_bytes(COS113_DUPE_UNPADDED))
    raw[0x20 + 21] = 1
    with pytest.raises(ParseError) as info:
        EventLog.from_bytes(bytes(raw))
    assert info.value.field == "specVersionMajor"


@pytest.mark.parametrize("raw", [b"", b"\x00" * 10, b"\x00" * 31])
def test_short_inputs_are_parse_errors(raw: bytes) -> None:
    with pytest.raises(ParseError):
        EventLog.from_bytes(raw)


# ------------------------------------------------------------------------------------------
# CCEL table


def test_ccel_table_from_go_eventlog() -> None:
    raw = fixture_bytes("measure/go-eventlog/ccel/CCEL.bin")
    table = CcelTable.from_bytes(raw)
    assert table.signature == b"CCEL"
    assert table.length == 56
    assert table.revision == 1
    assert table.oem_id == b"INTEL "
    assert table.oem_table_id == b"EDK2    "
    assert table.cc_type is CcType.TDX
    assert table.cc_subtype == 0
    assert table.laml == 65536
    assert table.lasa == 0x7D649000
    assert table.to_bytes() == raw


@pytest.mark.parametrize(
    "name", ["measure/go-eventlog/ccel/cos-113-intel-tdx.table.bin", "tdx/go-tdx-guest/ccel/ccel_table.dat"]
)
def test_ccel_table_of_the_cos_113_log(name: str) -> None:
    raw = fixture_bytes(name)
    table = CcelTable.from_bytes(raw)
    assert table.laml == 0x40000
    assert table.lasa == 0xBEDBF000
    assert table.cc_type is CcType.TDX
    assert table.to_bytes() == raw
    # the log area is LAML bytes long
    assert len(fixture_bytes(COS113)) == table.laml


def test_ccel_table_checksum_is_verified() -> None:
    raw = bytearray(fixture_bytes("measure/go-eventlog/ccel/CCEL.bin"))
    raw[0x30] ^= 0x01
    with pytest.raises(ParseError) as info:
        CcelTable.from_bytes(bytes(raw))
    assert info.value.field == "checksum"
    assert info.value.offset == 9


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b"XCEL" + b[4:], "signature"),
        (lambda b: b[:40], "length"),
        (lambda b: b[:4] + struct.pack("<I", 40) + b[8:], "length"),
        (lambda b: b + b"\x00", "length"),
    ],
)
def test_ccel_table_shape_errors(mutate: object, field: str) -> None:
    raw = fixture_bytes("measure/go-eventlog/ccel/CCEL.bin")
    with pytest.raises(ParseError) as info:
        CcelTable.from_bytes(mutate(raw))  # type: ignore[operator]
    assert info.value.field == field


def test_ccel_table_json() -> None:
    table = CcelTable.from_bytes(fixture_bytes("measure/go-eventlog/ccel/CCEL.bin"))
    rendered = to_jsonable(table)
    assert rendered["cc_type"] == "TDX"
    assert rendered["laml"] == 65536
    assert "extra" not in rendered


# ------------------------------------------------------------------------------------------
# event data decoders


def test_uefi_variable_events_decode() -> None:
    log = load(COS113)
    names = [e.variable().unicode_name for e in log.events[2:7]]
    assert names == ["SecureBoot", "PK", "KEK", "db", "dbx"]
    secure_boot = log.events[2].variable()
    assert secure_boot.variable_name == uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
    assert secure_boot.variable_data == b"\x00"  # Secure Boot off on this COS guest
    assert log.events[5].variable().variable_name == uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
    assert len(log.events[6].variable().variable_data) == 4461


def test_firmware_blob2_and_handoff_tables2_decode() -> None:
    log = load(COS113)
    handoff = log.events[0].handoff_tables2()
    assert handoff.description == b"TdxTable\x00"
    assert len(handoff.tables) == 1
    blob = log.events[1].firmware_blob2()
    assert blob.description == b"Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)\x00"
    assert blob.blob_base == 0xFFE00000
    assert blob.blob_length == 131072


def test_image_load_event_decodes() -> None:
    log = load(COS113)
    app = log.events[17]
    assert app.event_type is EventType.EV_EFI_BOOT_SERVICES_APPLICATION
    image = app.image_load()
    assert image.image_location_in_memory == 0xBCB5C018
    assert image.image_length_in_memory == 924688
    assert len(image.device_path) == 128


def test_tagged_events_decode() -> None:
    log = load(TRUSTEE_OVMF)
    load_options, initrd = log.events[16].tagged(), log.events[17].tagged()
    assert load_options.tagged_event_id == LOAD_OPTIONS_EVENT_TAG_ID
    assert load_options.data == b"LOADED_IMAGE::LoadOptions\x00"
    assert initrd.tagged_event_id == INITRD_EVENT_TAG_ID
    assert initrd.data == b"Linux initrd\x00"


def test_untagged_event_tag_is_not_fatal() -> None:
    # the Intel sample logs the bare description without the TCG_PCClientTaggedEvent header
    event = load(INTEL_SAMPLE).events[16]
    assert event.event_type is EventType.EV_EVENT_TAG
    with pytest.raises(ParseError) as info:
        event.tagged()
    assert info.value.structure == "TCG_PCClientTaggedEvent"
    assert info.value.offset == event.data_offset + 8
    assert event.describe() == "untagged 'LOADED_IMAGE::LoadOptions'"


def test_td_shim_config_info_decodes() -> None:
    log = load(TRUSTEE)
    hob, payload_info = log.events[0].td_shim_config(), log.events[4].td_shim_config()
    assert hob.name == "td_hob"
    assert len(hob.info) == 5248
    assert payload_info.name == "td_payload_info"
    assert payload_info.info.rstrip(b"\x00") == b"root=/dev/vda1 console=hvc0 rw"
    assert len(payload_info.info) == 4096


def test_describe_names_the_common_events() -> None:
    log = load(COS113)
    described = [e.describe() for e in log.events]
    assert described[2] == "SecureBoot {8be4df61-93ca-11d2-aa0d-00e098032b8c} (1 bytes)"
    assert described[7] == "separator 00000000"
    assert described[14] == "'Calling EFI Application from Boot Option'"
    assert described[25] == "'grub_cmd: defaultA=2'"


def test_a_broken_event_describes_itself_instead_of_raising() -> None:
    digests = {Alg.SHA384: bytes(48)}
    broken = Event(1, 1, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, digests, b"\x01\x02", 100, 116)
    text = broken.describe()
    assert text.startswith("<undecodable EV_EFI_VARIABLE_DRIVER_CONFIG data:")
    with pytest.raises(ParseError) as info:
        broken.variable()
    assert info.value.offset == 116


def test_unknown_event_types_stay_ints() -> None:
    raw = bytearray(fixture_bytes(COS113_DUPE_UNPADDED))
    event = EventLog.from_bytes(bytes(raw)).events[7]
    struct.pack_into("<I", raw, event.offset + 4, 0x1234)
    parsed = EventLog.from_bytes(bytes(raw))
    assert parsed.events[7].event_type == 0x1234
    assert not isinstance(parsed.events[7].event_type, EventType)
    assert parsed.events[7].type_name == "0x00001234"
    assert parsed.to_bytes() == bytes(raw)


def test_event_log_json() -> None:
    rendered = to_jsonable(load(TRUSTEE_OVMF))
    assert rendered["flavour"] == "ccel"
    assert rendered["spec_id"]["algorithms"] == [{"id": "SHA384", "size": 48}]
    first = rendered["events"][0]
    assert first["event_type"] == "EV_EFI_HANDOFF_TABLES2"
    assert first["index"] == 1
    assert set(first["digests"]) == {"sha384"}
    json.dumps(rendered)


def test_trustee_expected_claims_list_the_same_events() -> None:
    """trustee's parse_tdx_claims_expected.json lists the CCEL_data events it decoded."""
    expected = json.loads(fixture_bytes("tdx/trustee/parse_tdx_claims_expected.json"))["uefi_event_logs"]
    log = load(TRUSTEE)
    assert len(expected) == len(log.events)
    for want, event in zip(expected, log.events, strict=True):
        assert want["index"] == event.index
        assert want["type_name"] == event.type_name
        assert want["digests"] == [{"alg": "SHA-384", "digest": event.digests[Alg.SHA384].hex()}]
        assert base64.b64decode(want["event"]) == event.data
        matches = hashlib.sha384(event.data).digest() == event.digests[Alg.SHA384]
        assert want["digest_matches_event"] == matches

