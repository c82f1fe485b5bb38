"""Mutated firmware images and kernels through ``ccverify measure``: every outcome deliberate.

The footer GUID table, the SEV and TDVF metadata and the reset block live in an image's last
pages, so the mutations land there; kernels are small PE images (the TDX Authenticode path).
As in test_cli_fuzz.py, an input must never reach ``guarded``'s "unexpected" fallback nor
print a traceback; a digest, or one error line with exit 2.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ccverify.cli.app import app
from tests.conftest import fixture
from tests.unit.test_pe import build_pe

SETTINGS = settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
AMDSEV = fixture("ovmf/ovmf_AmdSev_suffix.bin").read_bytes()  # 4 KiB: footer, metadata, reset block
TRIXIE = fixture("measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1").read_bytes()
#: the Debian image's last 64 KiB (its SEV and TDVF metadata) over a zeroed body (the TDVF
#: sections point into the whole 4 MiB)
TRIXIE_TAIL = bytes(len(TRIXIE) - (64 << 10)) + TRIXIE[-(64 << 10) :]
IMAGES = {"amdsev": AMDSEV, "trixie-tail": TRIXIE_TAIL}

flips = st.lists(st.tuples(st.integers(1, 4096), st.integers(0, 255)), min_size=1, max_size=8)
cuts = st.one_of(st.none(), st.integers(1, 8192))


def _mutate(data: bytes, changes: list[tuple[int, int]], cut: int | None) -> bytes:
    """Bytes changed counting back from the end; ``cut`` bytes dropped from the front."""
    out = bytearray(data)
    for back, value in changes:
        out[-min(back, len(out))] = value
    return bytes(out[cut:] if cut is not None else out)


def _deliberate(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["measure", *args])
    assert result.exit_code in (0, 2), result.output
    assert "unexpected" not in result.output, result.output
    assert "Traceback" not in result.output
    if result.exit_code:
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output


@SETTINGS
@given(
    image=st.sampled_from(sorted(IMAGES)),
    mode=st.sampled_from(["snp", "seves", "sev", "snp:ovmf-hash"]),
    changes=flips,
    cut=cuts,
    kernel=st.booleans(),
)
def test_mutated_firmware_through_measure_snp(
    tmp_path: Path, image: str, mode: str, changes: list[tuple[int, int]], cut: int | None, kernel: bool
) -> None:
    firmware = tmp_path / "OVMF.fd"
    firmware.write_bytes(_mutate(IMAGES[image], changes, cut))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    boot = ["--kernel", str(empty), "--initrd", str(empty), "--cmdline", "console=ttyS0"] if kernel else []
    _deliberate(
        ["snp", "--firmware", str(firmware), "--mode", mode, "--vcpus", "2", "--vcpu-type", "EPYC-v4",
         "--guest-features", "0x1", *boot]
    )  # fmt: skip


@SETTINGS
@given(changes=flips, cut=cuts, order=st.sampled_from(["single-pass", "two-pass"]))
def test_mutated_firmware_through_measure_tdx(
    tmp_path: Path, changes: list[tuple[int, int]], cut: int | None, order: str
) -> None:
    firmware = tmp_path / "OVMF.fd"
    firmware.write_bytes(_mutate(TRIXIE_TAIL, changes, cut))
    _deliberate(["tdx", "--firmware", str(firmware), "--order", order])


PE = build_pe(trailing=b"tail" * 5, cert=bytes(48))


@SETTINGS
@given(changes=st.lists(st.tuples(st.integers(0, len(PE) - 1), st.integers(0, 255)), max_size=8), cut=cuts)
def test_mutated_kernels_through_measure_tdx(
    tmp_path: Path, changes: list[tuple[int, int]], cut: int | None
) -> None:
    firmware = tmp_path / "OVMF.fd"
    firmware.write_bytes(TRIXIE_TAIL)
    kernel = bytearray(PE)
    for position, value in changes:
        kernel[position] = value
    path = tmp_path / "vmlinuz"
    path.write_bytes(bytes(kernel[:cut]) if cut is not None else bytes(kernel))
    _deliberate(["tdx", "--firmware", str(firmware), "--kernel", str(path), "--cmdline", "console=hvc0"])


@SETTINGS
@given(
    raw=st.binary(min_size=1, max_size=40).filter(lambda data: b"\0" not in data),
    target=st.sampled_from(["snp", "tdx"]),
    initrd=st.booleans(),
    load_options=st.sampled_from(["initrd-prefix", "initrd-suffix"]),
)
def test_command_line_bytes_through_measure(
    tmp_path: Path, raw: bytes, target: str, initrd: bool, load_options: str
) -> None:
    """Any argv bytes as --cmdline (decoded as Python decodes argv): a digest, never an
    "unexpected" error, whether the bytes are UTF-8 or not."""
    cmdline = raw.decode("utf-8", "surrogateescape")
    if cmdline.startswith("-"):
        cmdline = "x" + cmdline
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(PE)
    firmware = tmp_path / "OVMF.fd"
    extra = ["--initrd", str(kernel)] if initrd else []
    if target == "snp":
        firmware.write_bytes(AMDSEV)
        args = ["snp", "--firmware", str(firmware), "--vcpus", "1", "--vcpu-type", "EPYC-v4",
                "--guest-features", "0x1", "--kernel", str(kernel), *extra, "--cmdline", cmdline]  # fmt: skip
    else:
        firmware.write_bytes(TRIXIE)
        args = ["tdx", "--firmware", str(firmware), "--kernel", str(kernel), *extra, "--cmdline", cmdline,
                "--load-options", load_options]  # fmt: skip
    result = CliRunner().invoke(app, ["measure", *args, "--json"])
    assert result.exit_code == 0, result.output
    assert "unexpected" not in result.output
