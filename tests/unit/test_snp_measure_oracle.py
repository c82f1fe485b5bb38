"""Our SNP / SEV-ES / SEV digests against sev-snp-measure 0.0.13 (the oracle) over a grid.

Firmware: the real Debian OVMF.fd builds (bookworm 2 MiB, trixie 4 MiB: SNP and TDX
metadata, no kernel hashes) and a synthetic AmdSev-like image = trixie OVMF.fd with its
last 4 KiB replaced by ovmf_AmdSev_suffix.bin, so the kernel-hashes path runs with a full
firmware. Grid: vCPU counts 1, 2, 3, 4, 8, 16, 33, 64; every vCPU type sev-snp-measure
knows; VMMs QEMU, ec2 and gce; guest features 0x1, 0x21 and others; with and without
kernel / initrd / command line (small random files).

Both sides reuse the firmware-pages digest: ours through ``OvmfLaunchState``, the oracle's
through its own ``calc_snp_ovmf_hash`` (computed once per image) and its precomputed-hash
path given only the image's 4 KiB tail. One full (non-precomputed) oracle run per image
checks that shortcut.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from pathlib import Path

import pytest

# sev-snp-measure is a test dependency (the oracle): without it these tests must fail, not skip
from sevsnpmeasure import guest
from sevsnpmeasure import vcpu_types as oracle_vcpu_types
from sevsnpmeasure.vmm_types import VMMType

from ccverify.measurements import snp
from ccverify.measurements.snp import OvmfLaunchState, SevHashes, VmmType
from ccverify.verifier.errors import InputError
from tests.conftest import fixture_bytes

TRIXIE = "measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1"
BOOKWORM = "measure/debian-ovmf/OVMF.fd.bookworm-2022.11-6+deb12u2"
AMDSEV_TAIL = "ovmf/ovmf_AmdSev_suffix.bin"

VCPU_COUNTS = (1, 2, 3, 4, 8, 16, 33, 64)
FEATURES = (0x1, 0x21, 0x5, 0x3F1, 0x8021)
ORACLE_VMM = {VmmType.QEMU: VMMType.QEMU, VmmType.EC2: VMMType.ec2, VmmType.GCE: VMMType.gce}


class Image:
    def __init__(self, name: str, data: bytes, directory: Path) -> None:
        self.name = name
        self.path = directory / f"{name}.fd"
        self.path.write_bytes(data)
        self.tail = directory / f"{name}.tail"
        self.tail.write_bytes(data[-4096:])
        self.state = OvmfLaunchState.from_firmware(data)
        self.oracle_hash = guest.calc_snp_ovmf_hash(str(self.path)).hex()
        self.data = data


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oracle")


@pytest.fixture(scope="module")
def images(workdir: Path) -> dict[str, Image]:
    trixie = fixture_bytes(TRIXIE)
    synthetic = trixie[:-4096] + fixture_bytes(AMDSEV_TAIL)
    return {
        "trixie": Image("trixie", trixie, workdir),
        "bookworm": Image("bookworm", fixture_bytes(BOOKWORM), workdir),
        "synthetic": Image("synthetic", synthetic, workdir),
    }


@pytest.fixture(scope="module")
def boot_files(workdir: Path) -> dict[str, Path]:
    rng = random.Random(6)
    files = {}
    for name, size in (("kernel", 70_001), ("initrd", 123_457)):
        path = workdir / name
        path.write_bytes(rng.randbytes(size))
        files[name] = path
    return files


def ours(
    image: Image, vcpus: int, vcpu_type: str, vmm: VmmType, features: int, hashes: SevHashes | None
) -> str:
    sig = snp.VCPU_TYPES[vcpu_type]
    return image.state.launch_digest(
        vcpus=vcpus, vcpu_sig=sig, guest_features=features, vmm=vmm, hashes=hashes
    ).hex()


def oracle(
    image: Image,
    vcpus: int,
    vcpu_type: str,
    vmm: VmmType,
    features: int,
    kernel: Path | None,
    initrd: Path | None,
    append: str | None,
    precomputed: bool = True,
) -> str:
    sig = oracle_vcpu_types.CPU_SIGS[vcpu_type]
    digest = guest.snp_calc_launch_digest(
        vcpus,
        sig,
        str(image.tail if precomputed else image.path),
        str(kernel) if kernel else None,
        str(initrd) if initrd else None,
        append,
        features,
        image.oracle_hash if precomputed else "",
        ORACLE_VMM[vmm],
    )
    return bytes(digest).hex()


def hashes_for(kernel: Path | None, initrd: Path | None, append: str | None) -> SevHashes | None:
    if kernel is None:
        return None
    return SevHashes.from_digests(
        hashlib.sha256(kernel.read_bytes()).digest(),
        hashlib.sha256(initrd.read_bytes()).digest() if initrd else None,
        append,
    )


def test_same_vcpu_type_table() -> None:
    assert snp.VCPU_TYPES == oracle_vcpu_types.CPU_SIGS


def test_ovmf_hash_matches_oracle(images: dict[str, Image]) -> None:
    for image in images.values():
        assert image.state.ovmf_hash.hex() == image.oracle_hash
        # and the oracle's full path agrees with its own precomputed shortcut
        assert oracle(
            image, 2, "EPYC-Milan", VmmType.QEMU, 0x21, None, None, None, precomputed=False
        ) == oracle(image, 2, "EPYC-Milan", VmmType.QEMU, 0x21, None, None, None)


@pytest.mark.parametrize("name", ["trixie", "bookworm", "synthetic"])
def test_every_vcpu_type(images: dict[str, Image], name: str) -> None:
    image = images[name]
    for vcpu_type, vcpus, features in itertools.product(snp.VCPU_TYPES, (1, 2, 33), (0x1, 0x21)):
        assert ours(image, vcpus, vcpu_type, VmmType.QEMU, features, None) == oracle(
            image, vcpus, vcpu_type, VmmType.QEMU, features, None, None, None
        ), (vcpu_type, vcpus, hex(features))


@pytest.mark.parametrize("name", ["trixie", "bookworm", "synthetic"])
def test_vcpus_vmm_features_grid(images: dict[str, Image], name: str) -> None:
    image = images[name]
    for vcpus, vmm, features in itertools.product(VCPU_COUNTS, ORACLE_VMM, FEATURES):
        assert ours(image, vcpus, "EPYC-Genoa", vmm, features, None) == oracle(
            image, vcpus, "EPYC-Genoa", vmm, features, None, None, None
        ), (vcpus, vmm, hex(features))


def test_kernel_initrd_cmdline_grid(images: dict[str, Image], boot_files: dict[str, Path]) -> None:
    image = images["synthetic"]
    kernel, initrd = boot_files["kernel"], boot_files["initrd"]
    boots = [
        (kernel, None, None),
        (kernel, initrd, None),
        (kernel, None, "console=ttyS0"),
        (kernel, initrd, "root=/dev/vda1 ro quiet console=ttyS0,115200 — ünïcode"),
    ]
    rng = random.Random(66)
    vcpu_types = list(snp.VCPU_TYPES)
    for (k, i, a), vmm, vcpus in itertools.product(boots, ORACLE_VMM, VCPU_COUNTS):
        vcpu_type = rng.choice(vcpu_types)
        features = rng.choice(FEATURES)
        assert ours(image, vcpus, vcpu_type, vmm, features, hashes_for(k, i, a)) == oracle(
            image, vcpus, vcpu_type, vmm, features, k, i, a
        ), (i, a, vmm, vcpus, vcpu_type, hex(features))


def test_full_path_with_kernel(images: dict[str, Image], boot_files: dict[str, Path]) -> None:
    """Everything from scratch on both sides (no precomputed firmware hash)."""
    image = images["synthetic"]
    k, i = boot_files["kernel"], boot_files["initrd"]
    expected = oracle(image, 4, "EPYC-Milan", VmmType.QEMU, 0x21, k, i, "quiet", precomputed=False)
    got = snp.snp_launch_digest(
        image.data, vcpus=4, vcpu_sig=0xA00F11, guest_features=0x21, hashes=hashes_for(k, i, "quiet")
    )
    assert got.hex() == expected


@pytest.mark.parametrize("name", ["trixie", "bookworm"])
def test_debian_refuses_a_kernel_like_the_oracle(
    images: dict[str, Image], boot_files: dict[str, Path], name: str
) -> None:
    image = images[name]
    with pytest.raises(RuntimeError, match="SNP_KERNEL_HASHES"):
        oracle(image, 1, "EPYC", VmmType.QEMU, 0x1, boot_files["kernel"], None, None)
    with pytest.raises(InputError, match="SNP_KERNEL_HASHES"):
        image.state.launch_digest(
            vcpus=1,
            vcpu_sig=0x800F12,
            guest_features=0x1,
            hashes=hashes_for(boot_files["kernel"], None, None),
        )


def test_seves_and_sev_grid(images: dict[str, Image], boot_files: dict[str, Path]) -> None:
    k, i = boot_files["kernel"], boot_files["initrd"]
    for name, vcpus, vmm in itertools.product(images, (1, 2, 33), ORACLE_VMM):
        image = images[name]
        with_kernel = name == "synthetic"
        kernel, initrd, append = (k, i, "console=hvc0") if with_kernel else (None, None, None)
        hashes = hashes_for(kernel, initrd, append)
        expected = guest.seves_calc_launch_digest(
            vcpus,
            0xA10F10,
            str(image.path),
            str(kernel) if kernel else None,
            str(initrd) if initrd else None,
            append,
            vmm_type=ORACLE_VMM[vmm],
        )
        got = snp.seves_launch_digest(image.data, vcpus=vcpus, vcpu_sig=0xA10F10, vmm=vmm, hashes=hashes)
        assert got == expected, (name, vcpus, vmm)
    for name in images:
        image = images[name]
        with_kernel = name == "synthetic"
        kernel, initrd, append = (k, i, "a b c") if with_kernel else (None, None, None)
        expected = guest.sev_calc_launch_digest(
            str(image.path), str(kernel) if kernel else None, str(initrd) if initrd else None, append
        )
        assert snp.sev_launch_digest(image.data, hashes=hashes_for(kernel, initrd, append)) == expected


def test_sev_without_a_kernel_matches_the_oracle_for_any_file(workdir: Path) -> None:
    """sev-snp-measure's SEV digest without a kernel is SHA-256 of the file, footer or not:
    a random 64 KiB file (no OVMF footer table) gives the same digest on both sides."""
    from ccverify.measurements.model import measure_snp
    from ccverify.measurements.snp import SevMode

    path = workdir / "random-64k.bin"
    path.write_bytes(random.Random(64).randbytes(64 << 10))
    expected = guest.sev_calc_launch_digest(str(path), None, None, None)
    assert snp.sev_launch_digest(path.read_bytes()) == expected
    assert measure_snp(path, mode=SevMode.SEV).values["measurement"] == expected
