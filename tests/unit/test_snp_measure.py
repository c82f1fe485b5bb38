"""SEV / SEV-ES / SEV-SNP launch digests: every golden value of fixtures/measure/SOURCES.md.

The sev-snp-measure goldens use ``/dev/null`` as kernel and initrd; here they are empty
files. All vCPU signatures are EPYC-v4 (0x800f12) and the VMM QEMU unless stated.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ccverify.measurements import snp
from ccverify.measurements.model import measure_snp
from ccverify.measurements.ovmf import SEV_METADATA_GUID, OvmfImage
from ccverify.measurements.snp import (
    OvmfLaunchState,
    SevHashes,
    SevMode,
    VmmType,
    cpu_signature,
    guest_feature_names,
)
from ccverify.measurements.vmsa import reset_vmsa, svsm_vmsa
from ccverify.verifier.errors import InputError, ParseError
from tests.conftest import fixture, fixture_bytes

AMDSEV = "ovmf/ovmf_AmdSev_suffix.bin"
OVMFX64 = "ovmf/ovmf_OvmfX64_suffix.bin"
TRIXIE = "measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1"
SVSM = "measure/sev-snp-measure/svsm.bin"
SVSM_OVMF = "measure/sev-snp-measure/svsm_ovmf.fd"
APPEND = "console=ttyS0 loglevel=7"
AMDSEV_OVMF_HASH = (
    "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"
)

QEMU, EC2, GCE = VmmType.QEMU, VmmType.EC2, VmmType.GCE

# (firmware, vmm, vcpus, guest features, kernel?, append, expected) -- SNP mode
SNP_GOLDEN = [
    (
        AMDSEV,
        QEMU,
        1,
        0x21,
        True,
        APPEND,
        "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977",
    ),
    (
        AMDSEV,
        QEMU,
        1,
        0x1,
        True,
        APPEND,
        "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa",
    ),
    (
        AMDSEV,
        QEMU,
        1,
        0x21,
        True,
        "",
        "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198",
    ),
    (
        AMDSEV,
        QEMU,
        1,
        0x1,
        True,
        "",
        "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5",
    ),
    (
        AMDSEV,
        QEMU,
        1,
        0x21,
        False,
        None,
        "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b",
    ),
    (
        AMDSEV,
        QEMU,
        1,
        0x1,
        False,
        None,
        "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d",
    ),
    (
        AMDSEV,
        QEMU,
        4,
        0x21,
        True,
        "",
        "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942",
    ),
    (
        AMDSEV,
        QEMU,
        4,
        0x1,
        True,
        "",
        "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5",
    ),
    (
        OVMFX64,
        QEMU,
        1,
        0x21,
        False,
        None,
        "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385",
    ),
    (
        OVMFX64,
        QEMU,
        1,
        0x1,
        False,
        None,
        "da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afdb6a30b4005",
    ),
    (
        AMDSEV,
        EC2,
        1,
        0x21,
        True,
        "",
        "0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb",
    ),
    (
        AMDSEV,
        EC2,
        1,
        0x1,
        True,
        "",
        "0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056",
    ),
    (
        AMDSEV,
        GCE,
        1,
        0x1,
        True,
        "",
        "5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e",
    ),
    (
        AMDSEV,
        GCE,
        4,
        0x1,
        True,
        "",
        "5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d",
    ),
]


@pytest.fixture()
def empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("firmware", "vmm", "vcpus", "features", "with_kernel", "append", "expected"), SNP_GOLDEN
)
def test_snp_golden(
    empty: Path,
    firmware: str,
    vmm: VmmType,
    vcpus: int,
    features: int,
    with_kernel: bool,
    append: str | None,
    expected: str,
) -> None:
    result = measure_snp(
        fixture(firmware),
        vcpus=vcpus,
        vcpu_type=None if vmm is GCE else "EPYC-v4",
        vmm=vmm,
        guest_features=features,
        kernel=empty if with_kernel else None,
        initrd=empty if with_kernel else None,
        cmdline=append if with_kernel and append else None,
    )
    assert result.values["measurement"].hex() == expected
    out = result.to_measurement_json()
    assert out["values"]["measurement"] == expected
    assert out["parameters"]["guest_features"] == features
    assert out["parameters"]["vmm_type"] == vmm.value
    assert out["parameters"]["snp_ovmf_hash_supplied"] is False


def test_snp_ovmf_hash_golden() -> None:
    assert snp.ovmf_hash(fixture_bytes(AMDSEV)).hex() == AMDSEV_OVMF_HASH
    result = measure_snp(fixture(AMDSEV), mode=SevMode.SNP_OVMF_HASH)
    assert result.values == {}
    assert result.parameters["snp_ovmf_hash"].hex() == AMDSEV_OVMF_HASH


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        (
            0x21,
            "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198",
        ),
        (
            0x1,
            "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5",
        ),
    ],
)
def test_snp_precomputed_ovmf_hash_golden(empty: Path, features: int, expected: str) -> None:
    result = measure_snp(
        fixture(AMDSEV),
        vcpus=1,
        vcpu_type="EPYC-v4",
        guest_features=features,
        kernel=empty,
        snp_ovmf_hash=bytes.fromhex(AMDSEV_OVMF_HASH),
    )
    assert result.values["measurement"].hex() == expected
    assert result.parameters["snp_ovmf_hash_supplied"] is True


def test_precomputed_hash_works_with_only_the_image_tail() -> None:
    """The OVMF hash mode needs only the footer (last pages) of the image: reuse a full
    image's hash with its 4 KiB tail and get the full image's digest."""
    full = fixture_bytes(TRIXIE)
    state = OvmfLaunchState.from_firmware(full)
    again = OvmfLaunchState.from_hash(state.ovmf_hash, full[-4096:])
    kwargs = {"vcpus": 4, "vcpu_sig": snp.VCPU_TYPES["EPYC-Milan"], "guest_features": 0x1}
    assert state.launch_digest(**kwargs) == again.launch_digest(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("vcpus", "expected"),
    [
        (1, "13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c"),
        (4, "0dccbcaba8e90b261bd0d2e1863a2f9da714768b7b2a19363cd6ae35aa90de91"),
    ],
)
def test_seves_golden(empty: Path, vcpus: int, expected: str) -> None:
    # the goldens were made with guest features 0x1 and 0x21: SEV-ES ignores them (0)
    result = measure_snp(fixture(AMDSEV), mode=SevMode.SEV_ES, vcpus=vcpus, vcpu_type="EPYC-v4", kernel=empty)
    assert result.values["measurement"].hex() == expected
    assert result.parameters["guest_features"] == 0


def test_sev_golden(empty: Path) -> None:
    both = measure_snp(fixture(AMDSEV), mode=SevMode.SEV, kernel=empty, initrd=empty, cmdline=APPEND)
    assert (
        both.values["measurement"].hex() == "82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff"
    )
    kernel_only = measure_snp(fixture(AMDSEV), mode=SevMode.SEV, kernel=empty)
    assert (
        kernel_only.values["measurement"].hex()
        == "77f613d7bbcdf12a73782ea9e88b0172aeda50d1a54201cb903594ff52846898"
    )
    plain = measure_snp(fixture(OVMFX64), mode=SevMode.SEV)
    assert (
        plain.values["measurement"].hex()
        == "b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da"
    )
    assert plain.values["measurement"] == hashlib.sha256(fixture_bytes(OVMFX64)).digest()


@pytest.mark.parametrize(
    ("vcpus", "expected"),
    [
        (
            4,
            "27d154c27b7b359c935e250ec6fee72aa0ae8c1225e3b0e1cf46a9567e938066d7d6f94bbdc4a857818bdb79277a44b2",
        ),
        (
            2,
            "9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7",
        ),
    ],
)
def test_svsm_golden(vcpus: int, expected: str) -> None:
    """sev-snp-measure was run with --guest-features 0x21, which its SVSM mode ignores (it
    always measures SEV_FEATURES 0x1); ours always measures 0x1 and says so."""
    for features in (None, 0x1):
        result = measure_snp(
            fixture(SVSM_OVMF),
            mode=SevMode.SNP_SVSM,
            vcpus=vcpus,
            vcpu_type="EPYC-v4",
            svsm=fixture(SVSM),
            vars_size=540672,
            guest_features=features,
        )
        assert result.values["measurement"].hex() == expected
        assert result.parameters["guest_features"] == 1
        assert result.to_measurement_json()["parameters"]["guest_feature_names"] == ["SNPActive"]


@pytest.mark.parametrize("features", [0x21, 0x0, 0x3])
def test_svsm_refuses_guest_features_it_would_not_measure(features: int) -> None:
    """The golden SVSM launches used --guest-features 0x21 and still measure 0x1: a digest
    printed for 0x21 would not be what the launch measures, so it is refused, at once."""
    with pytest.raises(InputError, match=f"0x{features:x} in snp:svsm mode.*SEV_FEATURES 0x1") as info:
        measure_snp(
            Path("/nonexistent/svsm_ovmf.fd"),  # refused before any file is read
            mode=SevMode.SNP_SVSM,
            vcpus=2,
            vcpu_type="EPYC-v4",
            svsm=fixture(SVSM),
            vars_size=540672,
            guest_features=features,
        )
    assert "sev-snp-measure" in str(info.value)


# -- Debian trixie OVMF.fd, as sev-snp-measure 0.0.13 computed it -----------------------------


def test_debian_trixie_values() -> None:
    milan = {"vcpus": 4, "vcpu_type": "EPYC-Milan"}
    fw = fixture(TRIXIE)
    assert (
        measure_snp(fw, guest_features=0x1, **milan).values["measurement"].hex()  # type: ignore[arg-type]
        == "23a7cfea107ad340deb77960c711065bea0527cb551ec5eb3ec8234c730947fe05f172939695b2079efb5c3f841e733a"
    )
    assert (
        measure_snp(fw, guest_features=0x21, **milan).values["measurement"].hex()  # type: ignore[arg-type]
        == "262ec2759d41adc759b94296fbacfe9056ff971d29704c6180aaf2454dd9d1ff937faf1931eb9e05fde847a3610fe9e3"
    )
    assert (
        measure_snp(fw, mode=SevMode.SNP_OVMF_HASH).parameters["snp_ovmf_hash"].hex()
        == "52de7f3ba560307ec6c22a5cb001524d5e560467b5d618c715cfe3c6f1addcadb91563693fbfa433ae18c2412d739a95"
    )
    assert (
        measure_snp(fw, mode=SevMode.SEV_ES, **milan).values["measurement"].hex()  # type: ignore[arg-type]
        == "3af3459979785bed3b0e81af7d51e79fd89bd9f701396f8529d7b2740c31ce29"
    )
    assert (
        measure_snp(fw, mode=SevMode.SEV).values["measurement"].hex()
        == "14954040cc754ade0c625ac3470ea46d4c14318b5b1396de4ef77090203d76db"
    )


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("firmware", [OVMFX64, TRIXIE])
def test_snp_kernel_without_kernel_hashes_section_is_refused(empty: Path, firmware: str) -> None:
    with pytest.raises(InputError, match="no SNP_KERNEL_HASHES section"):
        measure_snp(fixture(firmware), vcpus=1, vcpu_type="EPYC-v4", guest_features=0x1, kernel=empty)


@pytest.mark.parametrize("mode", [SevMode.SEV, SevMode.SEV_ES])
def test_sev_kernel_without_hash_table_is_refused(empty: Path, mode: SevMode) -> None:
    with pytest.raises(InputError, match="no SEV hash table"):
        measure_snp(fixture(OVMFX64), mode=mode, vcpus=1, vcpu_type="EPYC-v4", kernel=empty)


def _without_sev_metadata() -> bytes:
    data = bytearray(fixture_bytes(AMDSEV))
    at = data.find(SEV_METADATA_GUID.bytes_le)
    data[at : at + 16] = bytes(16)  # the entry is still there, under a GUID nobody knows
    return bytes(data)


def test_snp_refuses_firmware_without_sev_metadata() -> None:
    """sev-snp-measure prints a digest for such firmware; we refuse it."""
    data = _without_sev_metadata()
    assert OvmfImage.from_bytes(data).sev_metadata is None
    with pytest.raises(ParseError, match="no SEV metadata"):
        snp.snp_launch_digest(data, vcpus=1, vcpu_sig=0x800F12, guest_features=0x1)


def test_guest_features_are_required_in_snp_mode() -> None:
    with pytest.raises(InputError, match="guest_features is required"):
        measure_snp(fixture(AMDSEV), vcpus=1, vcpu_type="EPYC-v4")


def test_vcpu_type_required_for_qemu_and_known() -> None:
    with pytest.raises(InputError, match="vcpu_type"):
        measure_snp(fixture(AMDSEV), vcpus=1, guest_features=0x1)
    with pytest.raises(InputError, match="unknown vCPU type 'EPYC-Zen9'"):
        measure_snp(fixture(AMDSEV), vcpus=1, vcpu_type="EPYC-Zen9", guest_features=0x1)


@pytest.mark.parametrize("mode", list(SevMode))
def test_more_vcpus_than_kvm_runs_are_refused_before_any_work(mode: SevMode) -> None:
    """x86 KVM_MAX_VCPUS is 4096: more ends at once (no firmware is read, no VMSA hashed)."""
    for vcpus in (4097, 10**20):
        with pytest.raises(InputError, match="KVM_MAX_VCPUS"):
            measure_snp(
                Path("/nonexistent/OVMF.fd"), mode=mode, vcpus=vcpus, vcpu_type="EPYC", guest_features=0x1,
                svsm=fixture(SVSM), vars_size=540672,
            )  # fmt: skip
    state = OvmfLaunchState.from_hash(bytes.fromhex(AMDSEV_OVMF_HASH), fixture_bytes(AMDSEV))
    with pytest.raises(InputError, match="4096"):
        state.launch_digest(vcpus=4097, vcpu_sig=0x800F12, guest_features=0x1)
    with pytest.raises(InputError, match="4096"):
        snp.seves_launch_digest(fixture_bytes(AMDSEV), vcpus=10**20, vcpu_sig=0x800F12)
    with pytest.raises(InputError, match="4096"):
        snp.svsm_launch_digest(
            fixture_bytes(SVSM_OVMF), fixture_bytes(SVSM), vars_size=540672, vcpus=4097, vcpu_sig=0
        )


def test_4096_vcpus_is_still_measured() -> None:
    state = OvmfLaunchState.from_hash(bytes.fromhex(AMDSEV_OVMF_HASH), fixture_bytes(AMDSEV))
    digest = state.launch_digest(vcpus=snp.MAX_VCPUS, vcpu_sig=0x800F12, guest_features=0x1)
    assert len(digest) == 48 and snp.MAX_VCPUS == 4096


def test_bad_counts_and_hashes() -> None:
    with pytest.raises(InputError, match="at least 1"):
        measure_snp(fixture(AMDSEV), vcpus=0, vcpu_type="EPYC", guest_features=0x1)
    with pytest.raises(InputError, match="48 bytes"):
        OvmfLaunchState.from_hash(b"\0" * 32, fixture_bytes(AMDSEV))
    with pytest.raises(InputError, match="need kernel"):
        measure_snp(fixture(AMDSEV), vcpus=1, vcpu_type="EPYC", guest_features=0x1, cmdline="x")


def test_sev_without_a_kernel_is_the_file_digest_of_any_firmware(tmp_path: Path) -> None:
    """Plain SEV measures the image bytes only: no footer table is needed without a kernel
    (sev-snp-measure prints SHA-256 of the file); with a kernel it still is."""
    junk = tmp_path / "not-ovmf.fd"
    junk.write_bytes(b"\x5a" * 8192)
    result = measure_snp(junk, mode=SevMode.SEV)
    assert result.values["measurement"] == hashlib.sha256(b"\x5a" * 8192).digest()
    assert result.platform == "sev" and result.parameters["kernel_hashes"] is False
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x01" * 4095)  # not whole pages either
    assert snp.sev_launch_digest(odd.read_bytes()) == hashlib.sha256(b"\x01" * 4095).digest()
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"")
    with pytest.raises(ParseError, match="not an OVMF"):
        measure_snp(junk, mode=SevMode.SEV, kernel=kernel)
    empty = tmp_path / "empty.fd"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        measure_snp(empty, mode=SevMode.SEV)


def test_non_utf8_command_line_is_hashed_as_the_bytes_qemu_gets(empty: Path) -> None:
    """argv bytes that are not UTF-8 arrive as surrogate escapes; QEMU hashes the raw bytes."""
    raw = b"console=ttyS0 x=\xff\xc3("
    cmdline = raw.decode("utf-8", "surrogateescape")
    assert snp.cmdline_bytes(cmdline) == raw + b"\0"
    hashes = SevHashes.from_digests(bytes(32), None, cmdline)
    assert hashes.cmdline_sha256 == hashlib.sha256(raw + b"\0").digest()
    result = measure_snp(
        fixture(AMDSEV), vcpus=1, vcpu_type="EPYC-v4", guest_features=0x1, kernel=empty, cmdline=cmdline
    )
    state = OvmfLaunchState.from_hash(bytes.fromhex(AMDSEV_OVMF_HASH), fixture_bytes(AMDSEV))
    raw_hashes = SevHashes(hashlib.sha256(b"").digest(), hashlib.sha256(b"").digest(), hashes.cmdline_sha256)
    expected = state.launch_digest(vcpus=1, vcpu_sig=0x800F12, guest_features=0x1, hashes=raw_hashes)
    assert result.values["measurement"] == expected
    out = result.to_measurement_json()
    assert out["components"]["cmdline"] == {"sha256": hashlib.sha256(raw + b"\0").hexdigest()}  # no text
    assert out["parameters"]["inputs"]["cmdline"] == {
        "hashed_bytes": len(raw) + 1,
        "hex": raw.hex(),
        "shown": "console=ttyS0 x=\\xff\\xc3(",
        "utf8": False,
    }
    for bad, match in (("a\ud800", "lone surrogate"), ("a\0b", "NUL")):
        with pytest.raises(InputError, match=match):
            measure_snp(
                fixture(AMDSEV), vcpus=1, vcpu_type="EPYC-v4", guest_features=0x1, kernel=empty, cmdline=bad
            )
        with pytest.raises(InputError, match=match):
            snp.cmdline_bytes(bad)


def test_not_an_ovmf_image(tmp_path: Path) -> None:
    junk = tmp_path / "junk.fd"
    junk.write_bytes(b"\x5a" * 8192)
    with pytest.raises(ParseError, match="not an OVMF"):
        measure_snp(junk, vcpus=1, vcpu_type="EPYC", guest_features=0x1)


# -- building blocks -----------------------------------------------------------------------


def test_vcpu_signatures() -> None:
    assert snp.VCPU_TYPES["EPYC-v4"] == 0x800F12
    assert snp.VCPU_TYPES["EPYC-Rome"] == 0x830F10
    assert snp.VCPU_TYPES["EPYC-Milan"] == 0xA00F11
    assert snp.VCPU_TYPES["EPYC-Genoa"] == 0xA10F10
    assert snp.VCPU_TYPES["EPYC-Turin"] == 0xB00F00
    assert cpu_signature(25, 1, 1) == 0xA00F11


def test_guest_feature_names() -> None:
    assert guest_feature_names(0x21) == ["SNPActive", "DebugSwap"]
    assert guest_feature_names(0x1 | 1 << 11) == ["SNPActive", "bit11"]


def test_hashes_table_layout() -> None:
    hashes = SevHashes.from_digests(bytes(32), None, None)
    table = hashes.table()
    assert len(table) == 176 and table[168:] == bytes(8)
    assert table[16:18] == (168).to_bytes(2, "little")
    assert table[18 + 18 : 18 + 50] == hashlib.sha256(b"\0").digest()  # cmdline = NUL only
    assert table[68 + 18 : 68 + 50] == hashlib.sha256(b"").digest()  # no initrd
    page = hashes.page(0xC00)
    assert len(page) == 4096 and page[0xC00 : 0xC00 + 176] == table


def test_vmsa_fields_at_documented_offsets() -> None:
    page = reset_vmsa(0x80B004, 0x21, 0xA00F11, QEMU)
    assert len(page) == 4096
    assert page[0x10:0x20] == (0xF000).to_bytes(2, "little") + (0x9B).to_bytes(2, "little") + (
        0xFFFF
    ).to_bytes(4, "little") + (0x800000).to_bytes(8, "little")
    assert int.from_bytes(page[0x178:0x180], "little") == 0xB004  # rip
    assert int.from_bytes(page[0x310:0x318], "little") == 0xA00F11  # rdx
    assert int.from_bytes(page[0x3B0:0x3B8], "little") == 0x21  # sev_features
    assert int.from_bytes(page[0x408:0x40C], "little") == 0x1F80  # mxcsr
    assert int.from_bytes(page[0x410:0x412], "little") == 0x37F  # x87_fcw
    bsp_ec2 = reset_vmsa(0xFFFFFFF0, 0x1, 0, EC2)
    assert bsp_ec2[0x12] == 0x9A and int.from_bytes(bsp_ec2[0x310:0x318], "little") == 0x600
    gce = reset_vmsa(0xFFFFFFF0, 0x1, 0, GCE)
    assert int.from_bytes(gce[0x268:0x270], "little") == 0x00070106
    sv = svsm_vmsa(0xFFFE_0000, 0x800F12)
    assert int.from_bytes(sv[0x410:0x412], "little") == 0  # sev-snp-measure's fcw quirk
    assert int.from_bytes(sv[0x178:0x180], "little") == 0xFFFE_0000


def test_json_shape(empty: Path) -> None:
    out = measure_snp(
        fixture(AMDSEV), vcpus=2, vcpu_type="EPYC-Milan", guest_features=0x21, kernel=empty, cmdline="quiet"
    ).to_measurement_json()
    assert out["format"] == "ccverify-measurements/1" and out["platform"] == "snp"
    assert set(out) == {"format", "platform", "values", "components", "parameters"}
    assert out["parameters"]["guest_features"] == 0x21
    assert out["parameters"]["guest_feature_names"] == ["SNPActive", "DebugSwap"]
    assert out["parameters"]["vcpu_sig"] == 0xA00F11
    assert out["components"]["kernel"]["sha256"] == hashlib.sha256(b"").hexdigest()
    assert out["components"]["cmdline"]["sha256"] == hashlib.sha256(b"quiet\0").hexdigest()
    assert out["components"]["cmdline"]["text"] == "quiet"
    assert all(c in "0123456789abcdef" for c in out["values"]["measurement"])


def test_streamed_firmware_falls_back_to_the_whole_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the image's tail is parsed; when the footer points further back, the whole image is."""
    from ccverify.measurements import model

    image = tmp_path / "ovmf.fd"
    image.write_bytes(bytes(8192) + fixture_bytes(AMDSEV))
    expected = snp.snp_launch_digest(image.read_bytes(), vcpus=2, vcpu_sig=0x800F12, guest_features=0x1)
    monkeypatch.setattr(model, "TAIL_SIZE", 1024)
    result = measure_snp(image, vcpus=2, vcpu_type="EPYC", guest_features=0x1)
    assert result.values["measurement"] == expected
    assert result.components["firmware"]["sha384"] == hashlib.sha384(image.read_bytes()).digest()
