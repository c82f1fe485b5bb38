"""TDX: MRTD of real OVMF builds in both page orders; RTMR1/RTMR2 event formulas vs real logs.

No published golden MRTD is available for a firmware stored here: the one public vector
(virtee/tdx-measure: Ubuntu ovmf 2025.02-3ubuntu2 OVMF.fd, sha256 9e807cb2..., MRTD
7357a10d...) is for a firmware that is not in the fixtures. The Debian values below were
computed independently (docs/notes/measure.md section 2.2, an independent script: trixie
single-pass bdc6fb14...910e11, two-pass 456f0790...dc0db2; bookworm single-pass
4c7206f0...231c47) and are asserted against those prefixes/suffixes and in full.

RTMR validation against real CCEL logs (go-eventlog fixtures), parsed here by a minimal
reader so the test does not depend on the event-log parser being written concurrently:

* COS-113 (grub + shim boot): the RTMR1 EV_EFI_ACTION and EV_SEPARATOR digests equal our
  formulas and come in our order; the application digests are shim/grub/kernel
  Authenticode hashes of binaries we do not have (not validated).
* Intel sample CCEL_unpadded.data.bin (a direct boot, no initrd): its RTMR0 replays to
  go-eventlog's expected value (8083cd68...), which ``measure_tdx(rtmr0=...)`` passes through;
  its EV_EVENT_TAG LoadOptions digest equals SHA-384(UTF-16LE("root=/dev/vda1 rw
  console=hvc0") + NUL) and RTMR2 replays to exactly our prediction for that command line.
  Its RTMR1 has *no* separator: that older TDVF logged the ReadyToBoot separator into RTMR0
  only, whereas current edk2 (COS-113, tdx-measure's Ubuntu 25.04 model) logs one into
  RTMR1 -- we predict the current behaviour.

Not validated (no fixture): the initrd EV_EVENT_TAG (no stored log loads an initrd through
the LoadFile2 protocol), the LoadOptions " initrd=initrd" suffix, and the kernel
Authenticode event against a log of a kernel we also have. event_log.bin is an older TDVF
that measured the kernel as an EV_PLATFORM_CONFIG_FLAGS blob and wrote five separators into
RTMR1; that firmware generation is not modelled.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from ccverify.measurements import tdx
from ccverify.measurements.model import measure_tdx
from ccverify.measurements.pe import authenticode_digest
from ccverify.measurements.tdx import PageOrder, load_options, load_options_bytes, mrtd, predict
from ccverify.verifier.errors import InputError, ParseError
from tests.conftest import fixture, fixture_bytes
from tests.unit.test_pe import build_pe

TRIXIE = "measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1"
BOOKWORM = "measure/debian-ovmf/OVMF.fd.bookworm-2022.11-6+deb12u2"
COS = "measure/go-eventlog/ccel/cos-113-intel-tdx.bin"
INTEL = "measure/go-eventlog/ccel/CCEL_unpadded.data.bin"

SHA384_ALG = 0x000C


# -- a minimal CCEL reader (test-only) -------------------------------------------------------


def read_ccel(data: bytes) -> list[tuple[int, int, bytes, bytes]]:
    """(mr_index, event_type, sha384 digest, event data) of every TCG_PCR_EVENT2."""
    size = struct.unpack_from("<I", data, 28)[0]
    spec = data[32 : 32 + size]
    sizes = {}
    for i in range(struct.unpack_from("<I", spec, 24)[0]):
        alg, length = struct.unpack_from("<HH", spec, 28 + 4 * i)
        sizes[alg] = length
    offset = 32 + size
    events = []
    while offset + 12 <= len(data):
        index, kind, count = struct.unpack_from("<III", data, offset)
        if index == 0xFFFFFFFF:
            break
        at = offset + 12
        digests = {}
        for _ in range(count):
            alg = struct.unpack_from("<H", data, at)[0]
            digests[alg] = data[at + 2 : at + 2 + sizes[alg]]
            at += 2 + sizes[alg]
        length = struct.unpack_from("<I", data, at)[0]
        events.append((index, kind, digests[SHA384_ALG], data[at + 4 : at + 4 + length]))
        offset = at + 4 + length
    return events


def replay_mr(events: list[tuple[int, int, bytes, bytes]], index: int) -> bytes:
    value = bytes(48)
    for mr, kind, digest, _ in events:
        if mr == index and kind != 0x3:
            value = hashlib.sha384(value + digest).digest()
    return value


# -- MRTD ------------------------------------------------------------------------------------

TRIXIE_SINGLE = "bdc6fb14", "910e11"
TRIXIE_TWO = "456f0790", "dc0db2"
BOOKWORM_SINGLE = "4c7206f0", "231c47"
# our full values (their ends are the independently computed ones above)
TRIXIE_SINGLE_FULL = (
    "bdc6fb145880f06f30c8b346b8dce2a99d9351b56892df22f80fcf6574caa9f9c31df8e8576d53b4d0cd1c3f28910e11"
)
TRIXIE_TWO_FULL = (
    "456f07902150d008bb913c3e1e84e9297f735a6c83cd2a957a1f0a8bbedb06df188e3837ae48d32c73d473d097dc0db2"
)
BOOKWORM_SINGLE_FULL = (
    "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47"
)


def test_mrtd_trixie_both_orders() -> None:
    data = fixture_bytes(TRIXIE)
    single = mrtd(data, PageOrder.SINGLE_PASS).hex()
    two = mrtd(data, PageOrder.TWO_PASS).hex()
    assert single.startswith(TRIXIE_SINGLE[0]) and single.endswith(TRIXIE_SINGLE[1])
    assert two.startswith(TRIXIE_TWO[0]) and two.endswith(TRIXIE_TWO[1])
    assert (single, two) == (TRIXIE_SINGLE_FULL, TRIXIE_TWO_FULL)
    assert mrtd(data).hex() == single  # single-pass is the default


def test_mrtd_bookworm_single_pass() -> None:
    value = mrtd(fixture_bytes(BOOKWORM)).hex()
    assert value.startswith(BOOKWORM_SINGLE[0]) and value.endswith(BOOKWORM_SINGLE[1])
    assert value == BOOKWORM_SINGLE_FULL


def test_mrtd_record_format_by_hand() -> None:
    """A one-page, one-section image computed from the record definitions directly."""
    data = fixture_bytes(TRIXIE)
    metadata = tdx.tdvf_metadata(data)
    hob = next(s for s in metadata.sections if s.type_name == "TD_HOB")
    digest = hashlib.sha384()
    for page in range(hob.memory_data_size // 4096):
        gpa = hob.memory_address + page * 4096
        digest.update(b"MEM.PAGE.ADD" + bytes(4) + struct.pack("<Q", gpa) + bytes(104))
    expected = digest.digest()
    only_hob = tdx.hashlib.sha384()
    for page in range(hob.memory_data_size // 4096):
        only_hob.update(tdx._add_record(hob.memory_address + page * 4096))
    assert only_hob.digest() == expected
    record = tdx._extend_records(0x1000, bytes(range(256)) * 16)
    assert len(record) == 16 * 384
    assert record[:16] == b"MR.EXTEND" + bytes(7) and record[16:24] == struct.pack("<Q", 0x1000)
    assert record[128:384] == bytes(range(256)) and record[384 + 16 : 384 + 24] == struct.pack("<Q", 0x1100)


def test_measure_tdx_says_which_order(tmp_path: Path) -> None:
    for order in PageOrder:
        out = measure_tdx(fixture(TRIXIE), order=order).to_measurement_json()
        assert out["parameters"]["mrtd_order"] == order.value
        assert out["platform"] == "tdx" and set(out["values"]) == {"mrtd"}
    two = measure_tdx(fixture(TRIXIE), order=PageOrder.TWO_PASS).values["mrtd"].hex()
    assert two.startswith(TRIXIE_TWO[0]) and two.endswith(TRIXIE_TWO[1])


def test_split_code_image_and_non_ovmf_are_refused(tmp_path: Path) -> None:
    code = tmp_path / "OVMF_CODE_4M.fd"
    code.write_bytes(fixture_bytes(TRIXIE)[0x84000:])
    with pytest.raises(ParseError, match="split"):
        measure_tdx(code)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x90" * 4096)
    with pytest.raises(ParseError, match="not an OVMF"):
        measure_tdx(junk)


# -- RTMR formulas against real logs -----------------------------------------------------------


def test_cos113_rtmr1_fixed_events_match_our_formulas() -> None:
    events = read_ccel(fixture_bytes(COS))
    assert replay_mr(events, 2).hex().startswith("f62dbc07")  # go-eventlog's expected RTMR1
    fixed = [(k, d) for mr, k, d, _ in events if mr == 2 and k in (tdx.EV_EFI_ACTION, tdx.EV_SEPARATOR)]
    ours = [
        (e.event_type, e.digest)
        for e in tdx.rtmr1_events(bytes(48))
        if e.event_type != tdx.EV_EFI_BOOT_SERVICES_APPLICATION
    ]
    assert fixed == ours
    for mr, kind, digest, data in events:
        if mr == 2 and kind in (tdx.EV_EFI_ACTION, tdx.EV_SEPARATOR):
            assert hashlib.sha384(data).digest() == digest


def test_intel_sample_rtmr0_is_passed_through() -> None:
    events = read_ccel(fixture_bytes(INTEL))
    rtmr0 = replay_mr(events, 1)
    assert rtmr0.hex() == (
        "8083cd6898cc52a90231cdf9c0532bf9513c40465c6f71e56cbe32ee2c11a9dfc030297ca3ca0f62477d6d1f610d3fdb"
    )
    out = measure_tdx(fixture(TRIXIE), rtmr0=rtmr0).to_measurement_json()
    assert out["values"]["rtmr0"] == rtmr0.hex()
    assert "replayed" in out["parameters"]["rtmr0_source"]


def test_intel_sample_load_options_and_rtmr2() -> None:
    events = read_ccel(fixture_bytes(INTEL))
    tags = [(d, data) for mr, k, d, data in events if mr == 3 and k == tdx.EV_EVENT_TAG]
    assert len(tags) == 1 and tags[0][1].startswith(b"LOADED_IMAGE::LoadOptions")
    cmdline = "root=/dev/vda1 rw console=hvc0"
    predicted = tdx.rtmr2_events(cmdline, None)
    assert [e.digest for e in predicted] == [tags[0][0]]
    assert tdx.replay(predicted, 3) == replay_mr(events, 3)


def test_intel_sample_rtmr1_shape() -> None:
    """The older firmware of this sample put no separator into RTMR1; with the log's own
    kernel digest and our EV_EFI_ACTION digests in its order, RTMR1 replays exactly."""
    events = read_ccel(fixture_bytes(INTEL))
    mr2 = [(k, d) for mr, k, d, _ in events if mr == 2]
    kernel = mr2[0][1]
    assert mr2[0][0] == tdx.EV_EFI_BOOT_SERVICES_APPLICATION
    ours = [e for e in tdx.rtmr1_events(kernel) if e.event_type != tdx.EV_SEPARATOR]
    assert [(e.event_type, e.digest) for e in ours] == mr2
    assert tdx.replay(tuple(ours), 2) == replay_mr(events, 2)


# -- predictions -------------------------------------------------------------------------------


def test_load_options_rules() -> None:
    assert load_options("console=hvc0", True) == "console=hvc0 initrd=initrd"
    assert load_options("console=hvc0", False) == "console=hvc0"
    assert load_options(None, True) == " initrd=initrd"
    assert load_options("", False) is None
    assert load_options_bytes("ab") == b"a\0b\0\0\0"
    # each UTF-8 byte becomes one CHAR16 (UnicodeSPrintAsciiFormat %a)
    assert load_options_bytes("é") == b"\xc3\x00\xa9\x00\x00\x00"


def test_direct_boot_prediction(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(build_pe(trailing=b"k" * 33))
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"initrd-bytes" * 1000)
    result = measure_tdx(fixture(TRIXIE), kernel=kernel, initrd=initrd, cmdline="console=hvc0")
    auth = authenticode_digest(kernel)
    rtmr1 = bytes(48)
    for digest in (
        auth,
        hashlib.sha384(b"Calling EFI Application from Boot Option").digest(),
        hashlib.sha384(b"\0\0\0\0").digest(),
        hashlib.sha384(b"Exit Boot Services Invocation").digest(),
        hashlib.sha384(b"Exit Boot Services Returned with Success").digest(),
    ):
        rtmr1 = hashlib.sha384(rtmr1 + digest).digest()
    rtmr2 = bytes(48)
    for digest in (
        hashlib.sha384("console=hvc0 initrd=initrd".encode("utf-16-le") + b"\0\0").digest(),
        hashlib.sha384(initrd.read_bytes()).digest(),
    ):
        rtmr2 = hashlib.sha384(rtmr2 + digest).digest()
    assert result.values["rtmr1"] == rtmr1
    assert result.values["rtmr2"] == rtmr2
    out = result.to_measurement_json()
    assert out["components"]["kernel"]["authenticode-sha384"] == auth.hex()
    assert out["components"]["initrd"]["sha384"] == hashlib.sha384(initrd.read_bytes()).hexdigest()
    assert out["parameters"]["load_options"] == "console=hvc0 initrd=initrd"
    assert out["components"]["cmdline"] == {
        "text": "console=hvc0",
        "sha384": hashlib.sha384("console=hvc0 initrd=initrd".encode("utf-16-le") + b"\0\0").hexdigest(),
    }
    assert out["parameters"]["boot"] == "direct"
    assert len(result.events) == 7


def test_prediction_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="need --kernel"):
        measure_tdx(fixture(TRIXIE), cmdline="x")
    with pytest.raises(InputError, match="48 bytes"):
        predict(fixture_bytes(TRIXIE), rtmr0=b"\0" * 47)
    not_pe = tmp_path / "bzImage-old"
    not_pe.write_bytes(b"\0" * 4096)
    with pytest.raises(ParseError, match="MZ"):
        measure_tdx(fixture(TRIXIE), kernel=not_pe)


def test_streaming_hashing_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files are hashed in chunks (several algorithms in one pass), in parallel threads, with a
    progress bar on stderr only when asked (or when stderr is a terminal); stdout stays clean."""
    from ccverify.measurements.hashing import hash_files, hash_source

    big = tmp_path / "big"
    big.write_bytes(bytes(range(256)) * 20_000)
    small = tmp_path / "small"
    small.write_bytes(b"abc")
    one = hash_source(big, ("sha256", "sha384"), chunk_size=4096)
    assert one["sha256"] == hashlib.sha256(big.read_bytes()).digest()
    assert one["sha384"] == hashlib.sha384(big.read_bytes()).digest() and one.size == 5_120_000
    both = hash_files([(big, ("sha384",)), (small, ("sha256",))], show_progress=True)
    assert both[0]["sha384"] == one["sha384"] and both[1]["sha256"] == hashlib.sha256(b"abc").digest()
    assert capsys.readouterr().out == ""
    assert hash_source(b"abc", ("sha256",))["sha256"] == hashlib.sha256(b"abc").digest()
    with pytest.raises(InputError, match="nope"):
        hash_source(tmp_path / "nope")


@pytest.mark.parametrize("name", [COS, INTEL])
def test_minimal_reader_agrees_with_the_verifier_replay(name: str) -> None:
    """The verifier's own CCEL parser and replay give the same registers as the reader here."""
    from ccverify.verifier import replay as replay_mod
    from ccverify.verifier.evidence import eventlog

    log = eventlog.EventLog.from_bytes(fixture_bytes(name), cc=True)
    events = read_ccel(fixture_bytes(name))
    assert replay_mod.rtmrs_from_ccel(log)[:3] == tuple(replay_mr(events, i) for i in (1, 2, 3))


def test_empty_initrd_is_no_initrd(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(build_pe())
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with_empty = measure_tdx(fixture(TRIXIE), kernel=kernel, initrd=empty, cmdline="quiet")
    without = measure_tdx(fixture(TRIXIE), kernel=kernel, cmdline="quiet")
    assert with_empty.values == without.values
    assert with_empty.parameters["load_options"] == "quiet" and "initrd" not in with_empty.components
