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

Not validated against a log (no fixture): the initrd EV_EVENT_TAG (no stored log loads an
initrd through the LoadFile2 protocol), the LoadOptions with ``initrd=initrd`` (either edk2
form: prefix since edk2-stable202508, suffix before; the strings are checked against the
edk2 format strings below), and the kernel Authenticode event against a log of a kernel we
also have. event_log.bin is an older TDVF
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
from ccverify.measurements.tdx import (
    DEFAULT_LOAD_OPTIONS,
    LoadOptionsForm,
    PageOrder,
    load_options,
    load_options_bytes,
    mrtd,
    predict,
)
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
    for form in LoadOptionsForm:  # no initrd: both edk2 forms are the same LoadOptions
        predicted = tdx.rtmr2_events(cmdline, None, form=form)
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


SUFFIX, PREFIX = LoadOptionsForm.INITRD_SUFFIX, LoadOptionsForm.INITRD_PREFIX


def test_load_options_rules() -> None:
    # edk2 up to edk2-stable202505: UnicodeSPrintAsciiFormat("%a%a", CommandLine, " initrd=initrd")
    assert load_options("console=hvc0", True, SUFFIX) == "console=hvc0 initrd=initrd"
    assert load_options("console=hvc0", False, SUFFIX) == "console=hvc0"
    assert load_options(None, True, SUFFIX) == " initrd=initrd"
    assert load_options("", False, SUFFIX) is None
    assert load_options_bytes("ab") == b"a\0b\0\0\0"
    # each UTF-8 byte becomes one CHAR16 (UnicodeSPrintAsciiFormat %a)
    assert load_options_bytes("é") == b"\xc3\x00\xa9\x00\x00\x00"


def test_direct_boot_prediction(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(build_pe(trailing=b"k" * 33))
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"initrd-bytes" * 1000)
    # the suffix form: what the Debian 2025.02 OVMF (edk2 before edk2-stable202508) builds
    result = measure_tdx(
        fixture(TRIXIE), kernel=kernel, initrd=initrd, cmdline="console=hvc0", load_options=SUFFIX
    )
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
    assert out["components"]["kernel"]["authenticode_sha384"] == auth.hex()
    assert out["components"]["initrd"]["sha384"] == hashlib.sha384(initrd.read_bytes()).hexdigest()
    assert out["parameters"]["load_options"] == "console=hvc0 initrd=initrd"
    assert out["components"]["cmdline"] == {
        "text": "console=hvc0",
        "sha384": hashlib.sha384("console=hvc0 initrd=initrd".encode("utf-16-le") + b"\0\0").hexdigest(),
    }
    assert out["parameters"]["boot"] == "direct"
    assert out["parameters"]["load_options_form"] == "initrd-suffix"
    assert len(result.events) == 7


def test_prediction_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="need kernel"):
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


# -- LoadOptions: the two edk2 forms (tianocore/edk2 PR #11115) ---------------------------------


def test_load_options_prefix_form_of_newer_edk2() -> None:
    """edk2-stable202508 and later: UnicodeSPrintAsciiFormat("%a%a%a", "", "initrd=initrd ",
    CommandLine) (X86QemuLoadImageLib/GenericQemuLoadImageLib, without -shim)."""
    assert load_options("console=hvc0", True, PREFIX) == "initrd=initrd console=hvc0"
    assert (
        load_options("console=hvc0 -- init args", True, PREFIX) == "initrd=initrd console=hvc0 -- init args"
    )
    assert load_options("console=hvc0", False, PREFIX) == "console=hvc0"
    # an empty command line (QEMU: size 1, the NUL only) with an initrd: the trailing space stays
    assert load_options(None, True, PREFIX) == "initrd=initrd "
    assert load_options("", True, PREFIX) == "initrd=initrd "
    assert load_options("", False, PREFIX) is None and load_options(None, False, PREFIX) is None


def test_load_options_form_has_no_default_below_measure_tdx() -> None:
    with pytest.raises(TypeError):
        load_options("x", True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        tdx.rtmr2_events("x", bytes(48))  # type: ignore[call-arg]
    with pytest.raises(InputError, match="load options form"):
        predict(b"", kernel_authenticode_sha384=bytes(48), initrd_sha384=bytes(48), mrtd_value=bytes(48))
    with pytest.raises(InputError, match="LoadOptionsForm"):
        load_options("x", True, "initrd-prefix")  # type: ignore[arg-type]


def test_measure_tdx_defaults_to_the_newest_form_and_records_it(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(build_pe())
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"initrd-bytes" * 1000)
    assert DEFAULT_LOAD_OPTIONS is PREFIX
    default = measure_tdx(fixture(TRIXIE), kernel=kernel, initrd=initrd, cmdline="console=hvc0")
    prefix = measure_tdx(
        fixture(TRIXIE), kernel=kernel, initrd=initrd, cmdline="console=hvc0", load_options=PREFIX
    )
    suffix = measure_tdx(
        fixture(TRIXIE), kernel=kernel, initrd=initrd, cmdline="console=hvc0", load_options=SUFFIX
    )
    assert default.values == prefix.values and prefix.values["rtmr2"] != suffix.values["rtmr2"]
    options = "initrd=initrd console=hvc0".encode("utf-16-le") + b"\0\0"
    rtmr2 = bytes(48)
    for digest in (hashlib.sha384(options).digest(), hashlib.sha384(initrd.read_bytes()).digest()):
        rtmr2 = hashlib.sha384(rtmr2 + digest).digest()
    assert prefix.values["rtmr2"] == rtmr2
    out = default.to_measurement_json()
    assert out["parameters"]["load_options"] == "initrd=initrd console=hvc0"
    assert out["parameters"]["load_options_form"] == "initrd-prefix"
    assert "edk2-stable202508" in out["parameters"]["load_options_form_edk2"]
    assert out["components"]["cmdline"] == {
        "text": "console=hvc0",
        "sha384": hashlib.sha384(options).hexdigest(),
    }
    assert suffix.to_measurement_json()["parameters"]["load_options_form_edk2"].startswith("edk2 up to")
    # without an initrd the form changes nothing, and without a kernel it is not recorded
    assert (
        measure_tdx(fixture(TRIXIE), kernel=kernel, cmdline="quiet", load_options=PREFIX).values
        == measure_tdx(fixture(TRIXIE), kernel=kernel, cmdline="quiet", load_options=SUFFIX).values
    )
    assert measure_tdx(fixture(TRIXIE)).parameters["load_options_form"] is None
    with pytest.raises(InputError, match="LoadOptionsForm"):
        measure_tdx(fixture(TRIXIE), load_options="initrd-prefix")  # type: ignore[arg-type]


# -- command lines that are not UTF-8 ----------------------------------------------------------


def test_non_utf8_command_line_is_widened_byte_by_byte(tmp_path: Path) -> None:
    """argv bytes that are not UTF-8 arrive as surrogate escapes; OVMF widens each byte QEMU
    got to a CHAR16 (BasePrintLib %a masks with 0xff), so LoadOptions carry them exactly."""
    raw = b"console=hvc0 x=\xff\xfe\xc3"
    cmdline = raw.decode("utf-8", "surrogateescape")
    assert load_options_bytes(cmdline) == b"".join(bytes([b, 0]) for b in raw) + b"\0\0"
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(build_pe())
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"i" * 100)
    result = measure_tdx(fixture(TRIXIE), kernel=kernel, initrd=initrd, cmdline=cmdline)
    options = b"".join(bytes([b, 0]) for b in b"initrd=initrd " + raw) + b"\0\0"
    out = result.to_measurement_json()
    assert out["components"]["cmdline"] == {"sha384": hashlib.sha384(options).hexdigest()}  # no UTF-8 text
    assert out["parameters"]["inputs"]["cmdline"] == {
        "hex": raw.hex(),
        "shown": "console=hvc0 x=\\xff\\xfe\\xc3",
        "utf8": False,
    }
    assert out["parameters"]["load_options"] == "initrd=initrd console=hvc0 x=\\xff\\xfe\\xc3"
    rtmr2 = tdx.replay(tdx.rtmr2_events(cmdline, hashlib.sha384(b"i" * 100).digest(), form=PREFIX), 3)
    assert result.values["rtmr2"] == rtmr2


@pytest.mark.parametrize(("cmdline", "match"), [("a\ud800b", "lone surrogate"), ("a\0b", "NUL")])
def test_command_lines_qemu_cannot_get_are_refused(tmp_path: Path, cmdline: str, match: str) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(build_pe())
    with pytest.raises(InputError, match=match):
        measure_tdx(fixture(TRIXIE), kernel=kernel, cmdline=cmdline)
    with pytest.raises(InputError, match=match):
        load_options_bytes(cmdline)


# -- MRTD: the image bytes QEMU loads (target/i386/kvm/tdx.c) ------------------------------------


def _with_section_field(data: bytes, index: int, field_offset: int, size: int, value: int) -> bytes:
    metadata = tdx.tdvf_metadata(data)
    at = metadata.offset + 16 + 32 * index + field_offset
    out = bytearray(data)
    out[at : at + size] = value.to_bytes(size, "little")
    return bytes(out)


def qemu_mrtd(image: bytes, two_pass: bool = False, *, zero_past_raw: bool = False) -> bytes:
    """MRTD as QEMU (target/i386/kvm/tdx.c) sets the TD up, literally: BFV/CFV pages come
    from ``image[DataOffset : DataOffset + MemoryDataSize]`` (``tdx_finalize_vm``:
    ``mem_ptr = tdvf->mem_ptr + data_offset``; ``tdx_init_fw_mem_region``: ``nr_pages =
    size >> 12``), TD_HOB/TEMP_MEM pages are fresh anonymous memory (zeros).
    ``zero_past_raw``: the wrong reading (RawDataSize bytes, then zeros), for contrast."""
    digest = hashlib.sha384()
    for section in tdx.tdvf_metadata(image).sections:
        if section.type_name in ("BFV", "CFV"):
            source = image[section.data_offset : section.data_offset + section.memory_data_size]
            if zero_past_raw:
                source = source[: section.raw_data_size].ljust(section.memory_data_size, b"\0")
        else:
            source = bytes(section.memory_data_size)
        gpas = range(section.memory_address, section.memory_address + section.memory_data_size, 4096)
        adds = [b"MEM.PAGE.ADD".ljust(16, b"\0") + struct.pack("<Q", gpa) + bytes(104) for gpa in gpas]
        extends = [
            b"".join(
                b"MR.EXTEND".ljust(16, b"\0")
                + struct.pack("<Q", gpa + chunk)
                + bytes(104)
                + source[gpa - section.memory_address + chunk :][:256]
                for chunk in range(0, 4096, 256)
            )
            for gpa in gpas
        ]
        if not section.aug and two_pass:
            digest.update(b"".join(adds))
        for add, extend in zip(adds, extends, strict=True):
            if not section.aug and not two_pass:
                digest.update(add)
            if section.extend:
                digest.update(extend)
    return digest.digest()


def test_mrtd_measures_memory_data_size_bytes_of_the_image() -> None:
    """QEMU copies MemoryDataSize bytes from DataOffset into the TD: with a RawDataSize
    smaller than MemoryDataSize the last pages still hold image bytes, not zeros."""
    data = fixture_bytes(TRIXIE)
    assert mrtd(data).hex() == qemu_mrtd(data).hex() == TRIXIE_SINGLE_FULL
    bfv = tdx.tdvf_metadata(data).sections[0]
    assert bfv.type_name == "BFV" and bfv.raw_data_size == bfv.memory_data_size == 0x37C000
    shorter = _with_section_field(data, 0, 4, 4, bfv.raw_data_size - 0x1800)
    assert tdx.tdvf_metadata(shorter).sections[0].raw_data_size == 0x37A800
    assert mrtd(shorter, PageOrder.SINGLE_PASS) == qemu_mrtd(shorter)
    assert mrtd(shorter, PageOrder.TWO_PASS) == qemu_mrtd(shorter, two_pass=True)
    # zero-filling past RawDataSize (not what QEMU does) gives another value
    assert qemu_mrtd(shorter, zero_past_raw=True) != mrtd(shorter)
    assert qemu_mrtd(data, zero_past_raw=True) == mrtd(data)  # the same when RawDataSize = MemoryDataSize


def test_memory_data_size_past_the_image_is_refused() -> None:
    data = fixture_bytes(TRIXIE)
    metadata = tdx.tdvf_metadata(data)
    longer = _with_section_field(data, 0, 16, 8, 0x37C000 + 0x1000)  # BFV ends at 4 MiB already
    with pytest.raises(ParseError) as info:
        mrtd(longer)
    error = info.value
    assert (error.structure, error.field) == ("OVMFTdvfMetadata", "sections[0].memory_data_size")
    assert error.offset == metadata.offset + 16 + 16
    assert "BFV at data offset 0x84000" in error.detail and "past the end" in error.detail


def test_total_memory_data_size_is_bounded() -> None:
    """A TEMP_MEM section claiming 8 GiB (or 2^64 - 4 KiB): refused at once, not walked."""
    data = fixture_bytes(TRIXIE)
    metadata = tdx.tdvf_metadata(data)
    assert metadata.sections[2].type_name == "TEMP_MEM"
    for size in (0x2_0000_0000, 0xFFFF_FFFF_FFFF_F000):
        huge = _with_section_field(data, 2, 16, 8, size)
        with pytest.raises(ParseError) as info:
            mrtd(huge, PageOrder.TWO_PASS)
        assert info.value.field == "sections[2].memory_data_size"
        assert info.value.offset == metadata.offset + 16 + 2 * 32 + 16
        assert "more than the 0x100000000 bytes" in info.value.detail
