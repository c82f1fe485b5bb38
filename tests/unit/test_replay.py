"""Replay of real CCEL and TPM logs to their published registers, the separator and digest checks,
RTMR comparison against real quotes, and the boot components the logs record.

Expected values: go-eventlog @ b9c4e7a1 (ccel/extract_test.go, ccel/cceventlog_test.go,
tpmeventlog/extract_test.go; full values as listed there, see tests/fixtures/measure/SOURCES.md),
go-tdx-guest's cos-113-tdx-quote.dat, trustee's tdx_quote_4.dat and test vectors.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import pytest

from ccverify.verifier.errors import InputError, ParseError, VerificationError
from ccverify.verifier.evidence.eventlog import Alg, EventLog
from ccverify.verifier.replay import (
    SHA1,
    SHA256,
    check_separators,
    replay,
    require_rtmrs_replayed,
    rtmr_comparison,
    rtmrs_from_ccel,
    verify_event_digests,
)
from ccverify.verifier.replay import boot_components as components_of
from tests.conftest import fixture_bytes
from tests.unit.test_eventlog import (
    ARCH,
    COS101,
    COS113,
    COS113_DUPE,
    COS113_DUPE_UNPADDED,
    DEBIAN10,
    EVENT_LOG_BIN,
    GO_TDX_GUEST,
    INTEL_SAMPLE,
    LOGS,
    TRUSTEE,
    TRUSTEE_OVMF,
    UBUNTU2104,
    load,
)

H = bytes.fromhex
ZERO48 = bytes(48)

# go-eventlog ccel/extract_test.go (COS-113, grub + shim)
COS113_RTMRS = (
    H("3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6"),
    H("f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b122c1"),
    H("4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1"),
)
# go-eventlog ccel/cceventlog_test.go (the duplicate-separator log)
COS113_DUPE_RTMRS = (
    H("a4de2df23e9611299123ba4359c42a5e578b0f8488bf1bba8ef5606d9ea5d81c97c064b482a5eac537d166bd0f0f752d"),
    H("0ee9366c928a77092f55e9e114c7394181fd264699155f0df77d23577618d5f650568a17d379355a07bd846e552f4e20"),
    H("4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1"),
)
INTEL_SAMPLE_RTMR0 = H(
    "8083cd6898cc52a90231cdf9c0532bf9513c40465c6f71e56cbe32ee2c11a9dfc030297ca3ca0f62477d6d1f610d3fdb"
)
SEPARATOR_SHA384 = H(
    "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f1289f0"
)


def quoted_rtmrs(name: str) -> tuple[bytes, ...]:
    """RTMR0-3 of a v4 quote, sliced at their absolute offsets (header 48 + TD report 328 ...)."""
    quote = fixture_bytes(name)
    assert int.from_bytes(quote[0:2], "little") == 4
    return tuple(quote[offset : offset + 48] for offset in (376, 424, 472, 520))


@pytest.mark.parametrize(
    "name", ["tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat", "tdx/trustee/tdx_quote_4.dat"]
)
def test_sliced_rtmrs_agree_with_the_quote_parser(name: str) -> None:
    from ccverify.verifier.evidence import tdx_quote

    quote = tdx_quote.TdxQuote.from_bytes(fixture_bytes(name))
    assert tuple(quote.body.rtmrs) == quoted_rtmrs(name)


# ------------------------------------------------------------------------------------------
# CCEL -> RTMRs


@pytest.mark.parametrize("name", [COS113, GO_TDX_GUEST])
def test_cos_113_ccel_replays_to_published_rtmrs(name: str) -> None:
    assert rtmrs_from_ccel(load(name)) == (*COS113_RTMRS, ZERO48)


@pytest.mark.parametrize("name", [COS113_DUPE, COS113_DUPE_UNPADDED])
def test_duplicate_separator_log_still_replays(name: str) -> None:
    assert rtmrs_from_ccel(load(name)) == (*COS113_DUPE_RTMRS, ZERO48)


def test_intel_sample_ccel_replays_to_rtmr0() -> None:
    assert rtmrs_from_ccel(load(INTEL_SAMPLE))[0] == INTEL_SAMPLE_RTMR0


def test_replay_is_keyed_by_cc_mr_index() -> None:
    registers = replay(load(COS113))
    assert list(registers) == [1, 2, 3]
    assert registers[1] == COS113_RTMRS[0]


def test_go_tdx_guest_ccel_matches_its_quote() -> None:
    quoted = quoted_rtmrs("tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat")
    assert quoted[:3] == COS113_RTMRS
    result = require_rtmrs_replayed(load(GO_TDX_GUEST), quoted)
    assert result.ok
    assert result.matched == (0, 1, 2, 3)
    assert result.ignored == ()
    assert result.replayed == quoted


def test_rtmr3_can_be_ignored_and_the_result_says_so() -> None:
    quoted = list(quoted_rtmrs("tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat"))
    quoted[3] = hashlib.sha384(bytes(48) + b"\x11" * 48).digest()  # a runtime extend, no CCEL entry
    log = load(GO_TDX_GUEST)
    with pytest.raises(VerificationError) as info:
        require_rtmrs_replayed(log, quoted)
    assert info.value.code == "event_log_mismatch"
    assert "RTMR3" in info.value.detail
    result = require_rtmrs_replayed(log, quoted, ignore_rtmr3=True)
    assert result.ok
    assert result.matched == (0, 1, 2)
    assert result.ignored == (3,)


def test_trustee_ccel_data_does_not_replay_to_tdx_quote_4() -> None:
    """trustee pairs CCEL_data with tdx_quote_4.dat only to build claims; the registers differ.

    The quote's RTMRs are the ones parse_tdx_claims_expected.json lists (e940da7c…, 559cfcf4…).
    """
    quoted = quoted_rtmrs("tdx/trustee/tdx_quote_4.dat")
    assert quoted[0].hex().startswith("e940da7c2712d279")
    assert quoted[1].hex().startswith("559cfcf42716ed6c")
    log = load(TRUSTEE)
    with pytest.raises(VerificationError) as info:
        require_rtmrs_replayed(log, quoted)
    error = info.value
    assert error.code == "event_log_mismatch"
    assert "RTMR0: the quote has e940da7c" in error.detail
    assert "RTMR1: the quote has 559cfcf4" in error.detail
    assert error.expected == quoted[0]
    assert error.actual == rtmrs_from_ccel(log)[0]
    result = rtmr_comparison(log, quoted)
    assert [m.rtmr for m in result.mismatches] == [0, 1]
    assert result.matched == (2, 3)


@pytest.mark.parametrize("compare", [rtmr_comparison, require_rtmrs_replayed])
def test_the_rtmr_comparison_checks_its_input(compare: Any) -> None:
    with pytest.raises(InputError):
        compare(load(COS113), [ZERO48] * 3)
    with pytest.raises(InputError):
        compare(load(COS113), [ZERO48, ZERO48, ZERO48, b"\x00"])


def _with_index(name: str, event_number: int, index: int) -> EventLog:
    raw = bytearray(fixture_bytes(name))
    event = EventLog.from_bytes(bytes(raw)).events[event_number - 1]
    struct.pack_into("<I", raw, event.offset, index)
    return EventLog.from_bytes(bytes(raw))


@pytest.mark.parametrize(("index", "words"), [(0, "MRTD"), (5, "no TDX register")])
def test_ccel_events_outside_rtmr0_3_are_rejected(index: int, words: str) -> None:
    log = _with_index(COS113_DUPE_UNPADDED, 3, index)
    with pytest.raises(ParseError) as info:
        rtmrs_from_ccel(log)
    assert info.value.field == "event[3].mrIndex"
    assert info.value.offset == log.events[2].offset
    assert words in info.value.detail


def test_rtmrs_are_not_read_from_a_tpm_log() -> None:
    with pytest.raises(InputError) as info:
        rtmrs_from_ccel(load(COS101))
    assert "TPM event log" in str(info.value)


# ------------------------------------------------------------------------------------------
# separators


def test_check_separators_rejects_the_duplicate_separator_log() -> None:
    for name in (COS113_DUPE, COS113_DUPE_UNPADDED):
        with pytest.raises(VerificationError) as info:
            check_separators(load(name))
        assert info.value.code == "event_log_duplicate_separator"
        assert "duplicate separator at event 16 (offset 9484, 0x250c)" in info.value.detail
        assert "RTMR0" in info.value.detail
        assert "event 8 (offset 8577)" in info.value.detail


@pytest.mark.parametrize("name", [COS113, GO_TDX_GUEST, TRUSTEE, UBUNTU2104, COS101, ARCH, DEBIAN10])
def test_check_separators_accepts_logs_with_one_separator_per_register(name: str) -> None:
    check_separators(load(name))


@pytest.mark.parametrize(("name", "event"), [(INTEL_SAMPLE, 16), (TRUSTEE_OVMF, 16), (EVENT_LOG_BIN, 19)])
def test_other_ovmf_logs_with_the_same_firmware_bug(name: str, event: int) -> None:
    with pytest.raises(VerificationError) as info:
        check_separators(load(name))
    assert f"duplicate separator at event {event} " in info.value.detail


# ------------------------------------------------------------------------------------------
# TPM logs -> PCRs (go-eventlog tpmeventlog/extract_test.go)

UBUNTU2104_SHA1 = {
    0: "0f2d3a2a1adaa479aeeca8f5df76aadc41b862ea",
    1: "f5310dfcfcec5571cbf730064d526906c9cea2f0",
    2: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    3: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    4: "e53d909941dcbc699b273fc4c0d817a41c6ab975",
    5: "9e2af4bac1432830594b1ae90c68c52a20a9700e",
    6: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    7: "ede7204673f41ac2592b0d3b4cd429b43f39dc61",
    8: "bda59abe1c7d18e0b85edfcb4381f10d4dcc88f7",
    9: "39fd49224476f4d7eea26a53e264c9c33e47649c",
    14: "cd3734d2bdfcfba9e443ac02c03c812ffcceb255",
}
UBUNTU2104_SHA256 = {
    0: "24af52a4f429b71a3184a6d64cddad17e54ea030e2aa6576bf3a5a3d8bd3328f",
    1: "45ed8540f34db53220ef197e5fb8a3835b2095454349e445f397f13d91c509a5",
    2: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
    3: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
    4: "ebc7ae25d0347868250995c9a8fff16bf79e048453262d0ef2756e213c76181c",
    5: "47715f9f2c10769da6ee23be5633fd88e247caf162f4eeb0b6f8482ccfeadfb5",
    6: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
    7: "0d8847bc5eca06452df10e2f214363845c7ac11d47525a5474e225e72ce25dfe",
    8: "b9a324947de94ec2fd4b04483ecfcb37dfdd520a7c0ecf73c77bf2595549c84f",
    9: "adb87be3efd96cc3a2f66b8aa7564f9727563ef494a95d571a3f38ff4afb25dd",
    14: "8351c65483c5419079e8c96758dd2130bee075d71fea226f68ec4eb5bfc71983",
}
COS101_SHA1 = {
    0: "c032c3b51dbb6f96b047421512fd4b4dfde496f3",
    1: "e3e9e1d9deacd95b289bbbd3a1717a57af7d211b",
    2: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    3: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    4: "1ebe08ea6c45e0dfbd2aad903d2e0d3ab69fd7ad",
    5: "1c7ca47e5c09a78a747b0e0f051cc8cad6431400",
    6: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    7: "6847f752ad1795c279f289e1eecf0040cd53c1d4",
    8: "a243d82bd1fa01ae487b7ba77dd73ebb7a17800a",
    9: "fbbb8a8f120369810e7e161504556f0080afadac",
    14: "1ba610b2d80967338649a8f88f45810448814bfc",
}
COS101_SHA256 = {
    0: "0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf",
    1: "6eb40f5b6bfafcb9914d486ce59404acd24bc13a6a3c45cda3b44c9d7053d638",
    2: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
    3: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
    4: "6d9f1a1d461cf77517e8d4c488c53f338a71c5a8e2b81ab7011c14f72cbc9a80",
    5: "d1a1ab23a5c3d98fbacff3891bad42d8e9257d61e1f683f42c6c9fa949bf96c5",
    6: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
    7: "2bc6edaa921f953cec0ffb28dad4f87114886603d6a782036502d28e69d97a48",
    8: "ebb7c847c4ade99849bcffca236d32331224a530087a7ae4cb9f7db4c2e571b5",
    9: "b5ad662e5eb9165825ee39ad66e851a67a193e0b87b27858f25ac58afa72ac57",
    14: "d0d95459205afae879514db7b85630f5d6b8272ed8c731bf92933dbc9fe99969",
}
ARCH_SHA1 = {
    0: "a0487b0d95387d4a30560edf5f041307bf4a1dcc",
    1: "56b71c334a5b67d3b7b3343e3241dff5a1ad87bf",
    2: "01098a68e44e4fbd0af3b9a836b1b79e78c4f6f5",
    3: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    4: "4c8b6f359b5e5cb9d09e825009a98e1281165b01",
    5: "0dfa5ca60508ac5214515b20ed3e66289514fcb6",
    6: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    7: "029c700c2fa2bc83cbf3ce4ee501ad4d984ec5ae",
    8: "aa99fc93faa0777f42da6e1ae77a0653b5005619",
}
ARCH_SHA256 = {
    0: "758b773d94feabf52ef5a4c00a7ad2c80d8d6e6d9d58756150be9bc973da9087",
    1: "bfda688a5d320123fddb3fc70b746bc17647e2e7f2f96e130d429542bf4622d5",
    2: "65dee4a48cde677aa89fa83c5c35e883fda658f743853e3ebad504ca6702f7c5",
    3: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
    4: "925d453d3dfef4ac0c72c957402163d45fa95d05e6d53f047263a3a60b598325",
    5: "202522f005ef625588bb7c9e21335ba96a63c5086306138885b3bb2c381730ca",
    6: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
    7: "3b4a4db44b7a872524055364e62e897ae678e0d47ab0809f65c3a4ed77f66ab9",
    8: "47591b43af431963eaeb5238a5c42eda1eb0014c27f7de7ae483066a2d2a2e61",
}
DEBIAN10_SHA1 = {
    0: "0f2d3a2a1adaa479aeeca8f5df76aadc41b862ea",
    1: "b1676439cac1531683990fefe2218a43239d6fe8",
    2: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    3: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    4: "1eb30816474a3f144e99b24e4ad480b2e51fd9e1",
    5: "019079179dbc0eb5992c500dcf8a095910ac590d",
    6: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
    7: "9e6c57e850f371c2a7fe02bca552149363952318",
}


@pytest.mark.parametrize(
    ("name", "algorithm", "expected"),
    [
        (UBUNTU2104, SHA1, UBUNTU2104_SHA1),
        (UBUNTU2104, SHA256, UBUNTU2104_SHA256),
        (COS101, SHA1, COS101_SHA1),
        (COS101, SHA256, COS101_SHA256),
        (ARCH, SHA1, ARCH_SHA1),
        (ARCH, SHA256, ARCH_SHA256),
        (DEBIAN10, SHA1, DEBIAN10_SHA1),
    ],
)
def test_tpm_logs_replay_to_published_pcrs(name: str, algorithm: int, expected: dict[int, str]) -> None:
    pcrs = replay(load(name), algorithm=algorithm)
    assert {i: v.hex() for i, v in pcrs.items()} == expected


def test_sources_md_abbreviated_values_agree() -> None:
    assert replay(load(UBUNTU2104), algorithm=SHA256)[4].hex().startswith("ebc7ae25")
    assert replay(load(COS101), algorithm=SHA256)[7].hex().startswith("2bc6edaa")


def _literal_replay(raw: bytes, alg: int) -> dict[int, bytes]:
    """An independent, deliberately plain reading of the TCG2 format, for cross-checking."""
    event_size = struct.unpack_from("<I", raw, 28)[0]
    spec = raw[32 : 32 + event_size]
    count = struct.unpack_from("<I", spec, 24)[0]
    sizes = dict(struct.unpack_from("<HH", spec, 28 + 4 * i) for i in range(count))
    name = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384"}[alg]
    pcrs: dict[int, bytes] = {}
    pos = 32 + event_size
    while pos + 4 <= len(raw) and raw[pos : pos + 4] != b"\xff\xff\xff\xff":
        index, etype, ndig = struct.unpack_from("<III", raw, pos)
        if (index, etype, ndig) == (0, 0, 0):  # td-shim's zero padding
            break
        pos += 12
        digests = {}
        for _ in range(ndig):
            a = struct.unpack_from("<H", raw, pos)[0]
            digests[a] = raw[pos + 2 : pos + 2 + sizes[a]]
            pos += 2 + sizes[a]
        size = struct.unpack_from("<I", raw, pos)[0]
        pos += 4 + size
        if etype != 3:
            size_out = hashlib.new(name).digest_size
            pcrs[index] = hashlib.new(name, pcrs.get(index, bytes(size_out)) + digests[alg]).digest()
    return dict(sorted(pcrs.items()))


@pytest.mark.parametrize("name", [n for n, *_ in LOGS if n != DEBIAN10])
def test_every_bank_matches_an_independent_literal_replay(name: str) -> None:
    raw = fixture_bytes(name)
    log = EventLog.from_bytes(raw)
    for alg in log.algorithms:
        assert replay(log, algorithm=alg) == _literal_replay(raw, alg)


def test_replay_of_a_bank_the_log_lacks_is_an_input_error() -> None:
    with pytest.raises(InputError) as info:
        replay(load(DEBIAN10))
    assert "no SHA384 digests" in str(info.value)
    with pytest.raises(InputError):
        replay(load(COS113), algorithm=SHA256)


def test_startup_locality_sets_pcr0_initial_value() -> None:
    raw = bytearray(fixture_bytes(UBUNTU2104))
    log = EventLog.from_bytes(bytes(raw))
    # turn PCR0's first event into a StartupLocality(3) EV_NO_ACTION with a 17-byte payload
    header = log.header
    assert header is not None
    spec_end = header.offset + 32 + len(header.data)
    startup = (
        struct.pack("<III", 0, 3, 1) + struct.pack("<H", 0x000B) + bytes(32)
        + struct.pack("<I", 17) + b"StartupLocality\x00\x03"
    )
    patched = bytes(raw[:spec_end]) + startup + bytes(raw[spec_end:])
    patched_log = EventLog.from_bytes(patched)
    pcr0 = replay(patched_log, algorithm=SHA256)[0]
    expected = bytes(31) + b"\x03"
    for event in log.events:
        if event.index == 0 and event.event_type != 3:
            expected = hashlib.sha256(expected + event.digests[Alg.SHA256]).digest()
    assert pcr0 == expected
    assert pcr0 != replay(log, algorithm=SHA256)[0]


def test_replay_needs_a_digest_of_the_bank_in_every_event() -> None:
    raw = bytearray(fixture_bytes(UBUNTU2104))
    log = EventLog.from_bytes(bytes(raw))
    header = log.header
    assert header is not None
    spec_end = header.offset + 32 + len(header.data)
    extra = (
        struct.pack("<III", 5, 0x80000007, 1) + struct.pack("<H", 0x000B) + bytes(32)
        + struct.pack("<I", 1) + b"x"
    )
    patched = EventLog.from_bytes(bytes(raw[:spec_end]) + extra + bytes(raw[spec_end:]))
    assert replay(patched, algorithm=SHA256)[5] != replay(log, algorithm=SHA256)[5]
    with pytest.raises(VerificationError) as info:
        replay(patched, algorithm=SHA1)
    assert info.value.code == "event_log_digest_missing"
    assert "event 1 (EV_EFI_ACTION, index 5)" in info.value.detail


# ------------------------------------------------------------------------------------------
# event digests


@pytest.mark.parametrize("name", [n for n, *_ in LOGS if n != DEBIAN10])
def test_interpreted_events_of_real_logs_hash_to_their_digests(name: str) -> None:
    assert verify_event_digests(load(name)) == []


def test_debian_10_shim_authority_event_does_not_hash_to_its_digest() -> None:
    (mismatch,) = verify_event_digests(load(DEBIAN10))
    assert (mismatch.number, mismatch.index, mismatch.event_type) == (23, 7, "EV_EFI_VARIABLE_AUTHORITY")
    assert mismatch.algorithm == "SHA1"
    assert mismatch.offset == 21139


def test_separator_digest_is_sha384_of_four_zero_bytes() -> None:
    log = load(COS113)
    separators = [e for e in log.events if e.event_type == 4]
    assert {e.digests[Alg.SHA384] for e in separators} == {SEPARATOR_SHA384}


def test_a_tampered_efi_action_is_reported() -> None:
    raw = bytearray(fixture_bytes(COS113))
    log = EventLog.from_bytes(bytes(raw))
    action = log.events[14]
    assert action.data == b"Calling EFI Application from Boot Option"
    raw[action.data_offset] = ord("X")
    (mismatch,) = verify_event_digests(EventLog.from_bytes(bytes(raw)))
    assert (mismatch.number, mismatch.offset, mismatch.event_type) == (15, action.offset, "EV_EFI_ACTION")
    assert mismatch.recorded == action.digests[Alg.SHA384]
    assert mismatch.computed == hashlib.sha384(b"Xalling EFI Application from Boot Option").digest()


def test_a_tampered_grub_command_is_reported() -> None:
    raw = bytearray(fixture_bytes(COS113))
    log = EventLog.from_bytes(bytes(raw))
    command = log.events[40]
    assert command.data.startswith(b"kernel_cmdline: ")
    raw[command.data_offset + 20] ^= 0x01
    (mismatch,) = verify_event_digests(EventLog.from_bytes(bytes(raw)))
    assert mismatch.number == 41
    assert mismatch.rule == "grub H(text after 'kernel_cmdline: ')"


def test_ovmf_hashes_only_the_boot_variable_data() -> None:
    boot_order = load(COS113).events[11]
    variable = boot_order.variable()
    assert variable.unicode_name == "BootOrder"
    assert boot_order.digests[Alg.SHA384] == hashlib.sha384(variable.variable_data).digest()
    assert boot_order.digests[Alg.SHA384] != hashlib.sha384(boot_order.data).digest()


def test_real_hardware_hashes_the_whole_boot_variable() -> None:
    boot_order = load(ARCH).events[17]
    assert boot_order.variable().unicode_name == "BootOrder"
    assert boot_order.digests[Alg.SHA256] == hashlib.sha256(boot_order.data).digest()


# ------------------------------------------------------------------------------------------
# boot components

COS101_EFI_APPS_SHA384 = [
    "72bf185794a865eb14fcdf93a2daa8ed281c932e2a7009d8489c38056389b3f3776d755ec703c95fb9c396f79dbd52c7",
    "5b38df39c7beec3bfd9c4cbd40c217bcbee190d1fa099a64c5f063d20efc3def26e48cbbd86d730c8eb4696a29759490",
    "968f2f6cb5bae537adfca30942803ddcda773bae368c042258e8818788265cd0e119936c9fcdb782785154a6705c5143",
    "968f2f6cb5bae537adfca30942803ddcda773bae368c042258e8818788265cd0e119936c9fcdb782785154a6705c5143",
]
UBUNTU2104_EFI_APPS_SHA384 = [
    "4f491210da8f59f09cd16523b44db22e83d8b611c3b14656d3b078dd451347ab195177fc78cf8d5578376f1f5f9bb821",
    "bbcdda8a6d872385b10802434eb8de1ac7b92dbaddf18bc1d7ea24fcc71b45291db5cc7b930a29c93405d6aecdb70683",
]
DEBIAN10_EFI_APPS_SHA1 = [
    "47263679db883d7ad9adbc93d6a1fbf8095f0133",
    "3fae23b18d72350207661af3875f2c492e97621c",
    "89b08941b47dcfbd4c8b3f2bc0fad984cd836b21",
]
# go-eventlog testdata/eventlog_data.go, without the trailing NUL
COS101_CMDLINE = (
    "/syslinux/vmlinuz.A init=/usr/lib/systemd/systemd boot=local rootwait ro noresume loglevel=7 "
    "console=tty1 console=ttyS0 security=apparmor virtio_net.napi_tx=1 nmi_watchdog=0 csm.disabled=1 "
    "loadpin.exclude=kernel-module modules-load=loadpin_trigger module.sig_enforce=1 "
    "dm_verity.error_behavior=3 dm_verity.max_bios=-1 dm_verity.dev_wait=1 i915.modeset=1 cros_efi "
    'root=/dev/dm-0 "dm=1 vroot none ro 1,0 4077568 verity payload=PARTUUID=1D70214B-9AB3-E542-8372-'
    "3CCD786534FA hashtree=PARTUUID=1D70214B-9AB3-E542-8372-3CCD786534FA hashstart=4077568 alg=sha256 "
    "root_hexdigest=48d436350a7e83bde985cd3f7e79fa443557743b42243803ce31104ca4719c5d "
    'salt=b323b014b6f463172fca758a1c5a6745a2c8e5872be0e175e2f4b40c8295b2ab"'
)


def test_tpm_log_kernel_images_are_the_published_efi_app_digests() -> None:
    assert [c.digest.hex() for c in components_of(load(COS101)).kernel] == COS101_EFI_APPS_SHA384
    assert [c.digest.hex() for c in components_of(load(UBUNTU2104)).kernel] == UBUNTU2104_EFI_APPS_SHA384
    debian = components_of(load(DEBIAN10))
    assert debian.algorithm == "SHA1"
    assert [c.digest.hex() for c in debian.kernel] == DEBIAN10_EFI_APPS_SHA1


def test_grub_kernel_command_line_is_found_with_its_text() -> None:
    components = components_of(load(COS101), algorithm=SHA256)
    (cmdline,) = components.cmdline
    assert cmdline.text == COS101_CMDLINE
    assert cmdline.source == "grub kernel_cmdline"
    assert cmdline.digest == hashlib.sha256(COS101_CMDLINE.encode()).digest()


def test_cos_113_ccel_components() -> None:
    components = components_of(load(COS113))
    assert components.algorithm == "SHA384"
    (firmware,) = components.firmware
    assert firmware.index == 1
    assert firmware.description.startswith("'Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)")
    assert [c.number for c in components.kernel] == [18, 24]  # shim, grub (grub loads the kernel)
    assert all(c.index == 2 for c in components.kernel)
    (cmdline,) = components.cmdline
    assert cmdline.text is not None
    assert cmdline.text.startswith("/syslinux/vmlinuz.A init=/usr/lib/systemd/systemd rootwait ro")
    assert cmdline.digest == hashlib.sha384(cmdline.text.encode()).digest()
    assert components.initrd == ()


def test_direct_boot_ccel_components() -> None:
    components = components_of(load(TRUSTEE_OVMF))
    assert len(components.firmware) == 1
    assert [c.number for c in components.kernel] == [12]
    (cmdline,) = components.cmdline
    (initrd,) = components.initrd
    assert (cmdline.source, cmdline.index, cmdline.text) == ("EV_EVENT_TAG LOAD_OPTIONS", 3, None)
    assert (initrd.source, initrd.index) == ("EV_EVENT_TAG INITRD", 3)
    assert cmdline.digest != initrd.digest


def test_untagged_load_options_event_still_counts_as_the_command_line() -> None:
    (cmdline,) = components_of(load(INTEL_SAMPLE)).cmdline
    assert cmdline.number == 17


def test_td_shim_ccel_components() -> None:
    """trustee's TdShimKernel / TdShimKernelParams test vectors for CCEL_data."""
    components = components_of(load(TRUSTEE))
    assert components.firmware == ()
    (kernel,) = components.kernel
    assert kernel.source == "td-shim td_payload"
    assert kernel.digest.hex() == (
        "5b7aa6572f649714ff00b6a2b9170516a068fd1a0ba72aa8de27574131d454e6396d3bfa1727d9baf421618a942977fa"
    )
    (cmdline,) = components.cmdline
    assert cmdline.text == "root=/dev/vda1 console=hvc0 rw"
    assert cmdline.digest.hex() == (
        "64ed1e5a47e8632f80faf428465bd987af3e8e4ceb10a5a9f387b6302e30f4993bded2331f0691c4a38ad34e4cbbc627"
    )
    assert components.initrd == ()


def test_ovmf_direct_boot_command_line_event_is_reported() -> None:
    (cmdline,) = components_of(load(EVENT_LOG_BIN)).cmdline
    assert cmdline.source == "OVMF DirectBoot Command Line"
    assert cmdline.index == 2


# ------------------------------------------------------------------------------------------
# ExitBootServices and accounting for every event (issue #11 §1)

from ccverify.verifier.replay import (  # noqa: E402
    COMMAND_LINE,
    FIXED,
    REFERENCE,
    UNRECOGNIZED,
    account_events,
    exit_boot_services,
)


@pytest.mark.parametrize(("name", "expected"), [(COS113, {2: 42}), (TRUSTEE_OVMF, {2: 19}), (TRUSTEE, {})])
def test_exit_boot_services_is_found_by_its_digest(name: str, expected: dict[int, int]) -> None:
    assert exit_boot_services(load(name)) == expected


def test_exit_boot_services_with_another_digest_is_not_one() -> None:
    raw = bytearray(fixture_bytes(TRUSTEE_OVMF))
    log = EventLog.from_bytes(bytes(raw))
    action = log.events[18]
    assert action.data == b"Exit Boot Services Invocation"
    raw[action.offset + 14] ^= 1  # the first byte of its SHA-384 digest
    forged = EventLog.from_bytes(bytes(raw))
    assert exit_boot_services(forged) == {}
    (mismatch,) = verify_event_digests(forged)
    assert (mismatch.number, mismatch.event_type) == (19, "EV_EFI_ACTION")


def test_a_fixed_action_string_under_another_label_must_still_hash_to_its_digest() -> None:
    raw = bytearray(fixture_bytes(TRUSTEE_OVMF))
    log = EventLog.from_bytes(bytes(raw))
    application = log.events[11]  # the kernel's EV_EFI_BOOT_SERVICES_APPLICATION
    data = b"Exit Boot Services Invocation"
    record = (
        struct.pack("<IIIH", application.index, 1, 1, 0x000C)  # EV_POST_CODE, one SHA-384 digest
        + application.digests[Alg.SHA384]
        + struct.pack("<I", len(data))
        + data
    )
    end = application.data_offset + len(application.data)
    patched = bytes(raw[: application.offset]) + record + bytes(raw[end:])
    forged = EventLog.from_bytes(patched[: len(raw)] + b"\xff" * max(0, len(raw) - len(patched)))
    (mismatch,) = verify_event_digests(forged)
    assert (mismatch.number, mismatch.event_type) == (12, "EV_POST_CODE")
    assert mismatch.rule == "H(data) (a fixed EV_EFI_ACTION string)"


def test_trustee_ovmf_direct_boot_is_accounted_for_by_its_components() -> None:
    """trustee's CCEL_data_ovmf: given its kernel, load options and initrd digests, every RTMR1
    and RTMR2 event is accounted for."""
    log = load(TRUSTEE_OVMF)
    found = components_of(log)
    approved = {2: {found.kernel[0].digest: "kernel"},
                3: {found.cmdline[0].digest: "cmdline", found.initrd[0].digest: "initrd"}}  # fmt: skip
    accounts = account_events(log, [2, 3], approved)
    assert [(a.number, a.how) for a in accounts] == [
        (12, REFERENCE), (15, FIXED), (17, REFERENCE), (18, REFERENCE), (19, FIXED), (20, FIXED),
    ]  # fmt: skip
    assert all(a.accounted for a in accounts)
    # without the initrd's digest its event is unrecognized, whatever its label says
    del approved[3][found.initrd[0].digest]
    (left,) = [a for a in account_events(log, [2, 3], approved) if not a.accounted]
    assert (left.number, left.index, left.how, left.event_type) == (18, 3, UNRECOGNIZED, "EV_EVENT_TAG")


def test_td_shim_payload_and_bound_command_line_are_accounted_for() -> None:
    log = load(TRUSTEE)
    found = components_of(log)
    (kernel,) = found.kernel
    (cmdline,) = found.cmdline
    accounts = account_events(log, [2], {2: {kernel.digest: "kernel"}}, command_lines=[cmdline.number])
    assert [(a.number, a.how) for a in accounts] == [(3, FIXED), (4, REFERENCE), (5, COMMAND_LINE)]
    # not compared with a reference command line, bound free text accounts for nothing
    assert account_events(log, [2], {2: {kernel.digest: "kernel"}})[2].how == UNRECOGNIZED


def test_cos_113_grub_boot_has_events_a_component_set_cannot_account_for() -> None:
    """shim, grub, their MokList and file events and grub's commands: free-form or unbound."""
    log = load(COS113)
    unrecognized = {a.number for a in account_events(log, [2, 3], {}) if a.how == UNRECOGNIZED}
    assert {17, 18, 19, 24, 25, 26, 39, 40, 41} <= unrecognized
    assert {15, 16, 42, 43}.isdisjoint(unrecognized)


@pytest.mark.parametrize(
    "event_type",
    [0x1, 0x6, 0xA, 0xD, 0x80000003, 0x8000000A],  # POST_CODE, EVENT_TAG, CONFIG_FLAGS, IPL, APP, BLOB2
)
def test_a_fixed_action_string_binds_its_digest_under_any_label(event_type: int) -> None:
    from ccverify.verifier.testing.eventlog_builder import LogEvent, build_log

    text = b"Exit Boot Services Invocation"
    honest = LogEvent(2, event_type, hashlib.sha384(text).digest(), text)
    forged = LogEvent(2, event_type, hashlib.sha384(b"an image").digest(), text)
    assert verify_event_digests(EventLog.from_bytes(build_log([honest]))) == []
    (mismatch,) = verify_event_digests(EventLog.from_bytes(build_log([forged])))
    assert mismatch.rule == "H(data) (a fixed EV_EFI_ACTION string)"
