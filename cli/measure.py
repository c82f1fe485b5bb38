"""``ccverify measure snp|tdx``: the launch measurements a guest must produce, computed offline.

Image builders run this next to the image they publish; ``--json`` prints the
"Measurement JSON" (DEVELOPERS.md) that ``ccverify reference create --from`` signs.
Bad input (not an OVMF/TDVF image, truncated files, a kernel with firmware that cannot
measure one, bad option values) is one line on stderr and exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ccverify.cli._common import emit_json, flatten, guarded, read_file, stdout, table
from ccverify.verifier.errors import InputError

app = typer.Typer(
    name="measure",
    help="Compute the launch measurements (SNP MEASUREMENT, TDX MRTD/RTMRs) of a guest offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_VMM_TYPES = {"qemu": "QEMU", "ec2": "EC2", "gce": "GCE"}
_MODES = ("snp", "seves", "sev", "snp:ovmf-hash", "snp:svsm")


def _parse_int(text: str, option: str) -> int:
    try:
        value = int(text, 0)  # as sev-snp-measure: 0x21 is hex, 33 decimal
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a number (use hex such as 0x21)") from None
    if value < 0 or value >= 1 << 64:
        raise InputError(f"{option}: {text!r} does not fit in 64 bits")
    return value


def _parse_hex_digest(text: str, option: str, size: int) -> bytes:
    cleaned = text.strip().lower().removeprefix("0x")
    try:
        value = bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{option}: not hex") from None
    if len(value) != size:
        raise InputError(f"{option}: expected {size} bytes ({2 * size} hex digits), got {len(value)}")
    return value


def _existing(path: Path | None, option: str) -> Path | None:
    if path is not None and not path.exists():
        raise InputError(f"{option} {path}: no such file")
    return path


def replayed_rtmr0(path: Path) -> bytes:
    """RTMR0 replayed from a recorded CCEL log (the verifier's parser and replay)."""
    from ccverify.verifier.evidence.eventlog import EventLog
    from ccverify.verifier.replay import rtmrs_from_ccel

    data = read_file(path, "--rtmr0-from-log")
    return rtmrs_from_ccel(EventLog.from_bytes(data, cc=True))[0]


def _print(result_json: dict[str, object], json_out: bool, title: str) -> None:
    if json_out:
        emit_json(result_json)
    else:
        stdout.print(table(title, flatten(result_json)))


@app.command("snp")
def snp(
    firmware: Annotated[
        Path,
        typer.Option(
            "--firmware",
            help="OVMF image given to QEMU (-bios / -drive if=pflash), e.g. OVMF.fd or an AmdSevX64 build.",
        ),
    ],
    vcpus: Annotated[
        int | None,
        typer.Option("--vcpus", help="Number of vCPUs (required except in sev and snp:ovmf-hash modes)."),
    ] = None,
    vcpu_type: Annotated[
        str | None,
        typer.Option(
            "--vcpu-type",
            help="QEMU CPU model as sev-snp-measure spells it: EPYC, EPYC-v1..v4, EPYC-Rome, EPYC-Milan, EPYC-Genoa, EPYC-Turin (and -vN variants). Needed for QEMU.",
        ),
    ] = None,
    vcpu_sig: Annotated[
        str | None,
        typer.Option(
            "--vcpu-sig", help="vCPU signature (CPUID 1 EAX) instead of --vcpu-type, e.g. 0xa00f11."
        ),
    ] = None,
    vmm_type: Annotated[
        str, typer.Option("--vmm-type", help="VMM that creates the VMSAs: qemu, ec2 or gce.")
    ] = "qemu",
    guest_features: Annotated[
        str | None,
        typer.Option(
            "--guest-features",
            help="SEV_FEATURES of the VMSAs, hex. REQUIRED in snp mode, no default on purpose: sev-snp-measure's command line defaults to 0x1 (SNPActive) while its README says 0x21 (SNPActive+DebugSwap, what KVM on Linux >= 6.6 sets); a wrong guess gives a wrong digest. snp:svsm defaults to 0x1 (what sev-snp-measure always measures there). Ignored by seves (0) and sev.",
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="snp (default), seves, sev, snp:ovmf-hash (print the firmware-pages digest only) or snp:svsm.",
        ),
    ] = "snp",
    kernel: Annotated[
        Path | None,
        typer.Option(
            "--kernel",
            help="Kernel (bzImage) for measured direct boot; needs firmware with the SNP_KERNEL_HASHES section.",
        ),
    ] = None,
    initrd: Annotated[
        Path | None, typer.Option("--initrd", help="Initrd for direct boot (needs --kernel).")
    ] = None,
    cmdline: Annotated[
        str | None, typer.Option("--cmdline", help="Kernel command line (QEMU -append; needs --kernel).")
    ] = None,
    snp_ovmf_hash: Annotated[
        str | None,
        typer.Option(
            "--snp-ovmf-hash",
            help="Precomputed firmware-pages digest (96 hex digits, from --mode snp:ovmf-hash); --firmware then only needs the image's last pages.",
        ),
    ] = None,
    svsm: Annotated[Path | None, typer.Option("--svsm", help="Coconut SVSM image (snp:svsm mode).")] = None,
    vars_size: Annotated[
        int | None,
        typer.Option(
            "--vars-size", help="Size in bytes of the OVMF_VARS store between SVSM and OVMF (snp:svsm mode)."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the Measurement JSON (reference create --from reads it).")
    ] = False,
) -> None:
    """SEV-SNP launch measurement (also SEV-ES, SEV, precomputed-OVMF-hash and SVSM modes)."""

    def run() -> dict[str, object]:
        from ccverify.measurements.model import measure_snp
        from ccverify.measurements.snp import SevMode, VmmType

        if mode not in _MODES:
            raise InputError(f"--mode {mode!r}: expected one of {', '.join(_MODES)}")
        vmm_key = vmm_type.lower()
        if vmm_key not in _VMM_TYPES:
            raise InputError(f"--vmm-type {vmm_type!r}: expected qemu, ec2 or gce")
        if vcpus is not None and vcpus < 1:
            raise InputError(f"--vcpus {vcpus}: must be at least 1")
        _existing(firmware, "--firmware")
        _existing(kernel, "--kernel")
        _existing(initrd, "--initrd")
        _existing(svsm, "--svsm")
        result = measure_snp(
            firmware,
            mode=SevMode(mode),
            vcpus=vcpus,
            vcpu_type=vcpu_type,
            vcpu_sig=_parse_int(vcpu_sig, "--vcpu-sig") if vcpu_sig is not None else None,
            vmm=VmmType[_VMM_TYPES[vmm_key]],
            guest_features=_parse_int(guest_features, "--guest-features")
            if guest_features is not None
            else None,
            kernel=kernel,
            initrd=initrd,
            cmdline=cmdline,
            snp_ovmf_hash=_parse_hex_digest(snp_ovmf_hash, "--snp-ovmf-hash", 48) if snp_ovmf_hash else None,
            svsm=svsm,
            vars_size=vars_size,
        )
        return result.to_measurement_json()

    _print(guarded(run), json_out, f"SEV launch measurement ({mode})")


@app.command("tdx")
def tdx(
    firmware: Annotated[
        Path,
        typer.Option(
            "--firmware", help="Unified TDVF/OVMF image given to QEMU -bios (not a split OVMF_CODE)."
        ),
    ],
    kernel: Annotated[
        Path | None,
        typer.Option("--kernel", help="Kernel (EFI-stub bzImage) for direct boot: predicts RTMR1 and RTMR2."),
    ] = None,
    initrd: Annotated[Path | None, typer.Option("--initrd", help="Initrd (needs --kernel).")] = None,
    cmdline: Annotated[
        str | None, typer.Option("--cmdline", help="Kernel command line (QEMU -append; needs --kernel).")
    ] = None,
    order: Annotated[
        str,
        typer.Option(
            "--order",
            help="How the VMM adds and measures the firmware pages: single-pass (ADD then EXTEND per page: upstream KVM/QEMU, default) or two-pass (all ADDs, then all EXTENDs per section: older TDX trees).",
        ),
    ] = "single-pass",
    rtmr0: Annotated[
        str | None,
        typer.Option(
            "--rtmr0",
            help="RTMR0 as replayed from a recorded firmware event log of the same VM configuration (96 hex digits); it is not predicted.",
        ),
    ] = None,
    rtmr0_from_log: Annotated[
        Path | None,
        typer.Option(
            "--rtmr0-from-log",
            help="Replay RTMR0 from this recorded CCEL event log (e.g. a copy of /sys/firmware/acpi/tables/data/CCEL from a VM of the same configuration) instead of --rtmr0.",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the Measurement JSON (reference create --from reads it).")
    ] = False,
) -> None:
    """TDX MRTD (and RTMR1/RTMR2 for direct kernel boot)."""

    def run() -> dict[str, object]:
        from ccverify.measurements.model import measure_tdx
        from ccverify.measurements.tdx import PageOrder

        try:
            page_order = PageOrder(order)
        except ValueError:
            raise InputError(f"--order {order!r}: expected single-pass or two-pass") from None
        _existing(firmware, "--firmware")
        _existing(kernel, "--kernel")
        _existing(initrd, "--initrd")
        if rtmr0 and rtmr0_from_log:
            raise InputError("give --rtmr0 or --rtmr0-from-log, not both")
        rtmr0_value = _parse_hex_digest(rtmr0, "--rtmr0", 48) if rtmr0 else None
        if rtmr0_from_log is not None:
            rtmr0_value = replayed_rtmr0(rtmr0_from_log)
        result = measure_tdx(
            firmware,
            order=page_order,
            kernel=kernel,
            initrd=initrd,
            cmdline=cmdline,
            rtmr0=rtmr0_value,
        )
        return result.to_measurement_json()

    _print(guarded(run), json_out, f"TDX measurements (MRTD order {order})")


if __name__ == "__main__":
    app()
