"""``ccverify measure snp|tdx``: the launch measurements a guest must produce, computed offline.

Image builders run this next to the image they publish; ``--json`` prints the
"Measurement JSON" (DEVELOPERS.md) that ``ccverify reference create --from`` signs.
Bad input (not an OVMF/TDVF image, truncated files, a kernel with firmware that cannot
measure one, bad option values) is one line on stderr and exit 2.

These are the options as typer declares them (help, usage errors); what the commands do is
``cli/measure_run.py``, which the console entry also calls for well-formed arguments without
typer (``cli/measure_args.py`` reads those; a test holds its table to these declarations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ccverify.cli import measure_run

app = typer.Typer(
    name="measure",
    help="Compute the launch measurements (SNP MEASUREMENT, TDX MRTD/RTMRs) of a guest offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("snp")
def snp(
    firmware: Annotated[
        Path,
        typer.Option(
            "--firmware", metavar="FILE",
            help="OVMF image given to QEMU (-bios / -drive if=pflash), e.g. OVMF.fd or an AmdSevX64 build.",
        ),
    ],
    vcpus: Annotated[
        int | None,
        typer.Option(
            "--vcpus", metavar="N",
            help="Number of vCPUs, 1 to 4096 (x86 KVM's KVM_MAX_VCPUS); required except in sev and snp:ovmf-hash modes.",
        ),
    ] = None,
    vcpu_type: Annotated[
        str | None,
        typer.Option(
            "--vcpu-type", metavar="MODEL",
            help="QEMU CPU model as sev-snp-measure spells it: EPYC, EPYC-v1..v4, EPYC-Rome, EPYC-Milan, EPYC-Genoa, EPYC-Turin (and -vN variants). Needed for QEMU.",
        ),
    ] = None,
    vcpu_sig: Annotated[
        str | None,
        typer.Option(
            "--vcpu-sig", metavar="HEX", help="vCPU signature (CPUID 1 EAX) instead of --vcpu-type, e.g. 0xa00f11."
        ),
    ] = None,
    vmm_type: Annotated[
        str, typer.Option("--vmm-type", metavar="NAME", help="VMM that creates the VMSAs: qemu, ec2 or gce.")
    ] = "qemu",
    guest_features: Annotated[
        str | None,
        typer.Option(
            "--guest-features", metavar="FEATURES",
            help="SEV_FEATURES of the VMSAs: 0x-prefixed hex (0x21) or feature names (SNPActive,DebugSwap); bare digits are refused. REQUIRED in snp mode, no default on purpose: sev-snp-measure's command line defaults to 0x1 (SNPActive) while its README says 0x21 (SNPActive+DebugSwap, what KVM on Linux >= 6.6 sets); a wrong guess gives a wrong digest. snp:svsm always measures 0x1 (sev-snp-measure's SVSM VMSA hard-codes it, and the golden digests of real Coconut-SVSM launches were made that way); another value is refused there. Ignored by seves (0) and sev.",
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode", metavar="MODE",
            help="snp (default), seves, sev, snp:ovmf-hash (print the firmware-pages digest only) or snp:svsm. sev without --kernel is the SHA-256 of the firmware file (no OVMF footer needed).",
        ),
    ] = "snp",
    kernel: Annotated[
        Path | None,
        typer.Option(
            "--kernel", metavar="FILE",
            help="Kernel (bzImage) for measured direct boot; needs firmware with the SNP_KERNEL_HASHES section.",
        ),
    ] = None,
    initrd: Annotated[
        Path | None, typer.Option("--initrd", metavar="FILE", help="Initrd for direct boot (needs --kernel) It is hashed in a background thread from start-up unless $CCVERIFY_NO_PREFETCH=1.")
    ] = None,
    cmdline: Annotated[
        str | None, typer.Option("--cmdline", metavar="TEXT", help="Kernel command line (QEMU -append; needs --kernel).")
    ] = None,
    snp_ovmf_hash: Annotated[
        str | None,
        typer.Option(
            "--snp-ovmf-hash", metavar="HEX",
            help="Precomputed firmware-pages digest (96 hex digits, from --mode snp:ovmf-hash); --firmware then only needs the image's last pages.",
        ),
    ] = None,
    svsm: Annotated[Path | None, typer.Option("--svsm", metavar="FILE", help="Coconut SVSM image (snp:svsm mode).")] = None,
    vars_size: Annotated[
        int | None,
        typer.Option(
            "--vars-size", metavar="BYTES", help="Size in bytes of the OVMF_VARS store between SVSM and OVMF (snp:svsm mode)."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the Measurement JSON (reference create --from reads it).")
    ] = False,
) -> None:
    """SEV-SNP launch measurement (also SEV-ES, SEV, precomputed-OVMF-hash and SVSM modes)."""
    measure_run.snp(
        firmware=firmware, vcpus=vcpus, vcpu_type=vcpu_type, vcpu_sig=vcpu_sig, vmm_type=vmm_type,
        guest_features=guest_features, mode=mode, kernel=kernel, initrd=initrd, cmdline=cmdline,
        snp_ovmf_hash=snp_ovmf_hash, svsm=svsm, vars_size=vars_size, json_out=json_out,
    )  # fmt: skip


@app.command("tdx")
def tdx(
    firmware: Annotated[
        Path,
        typer.Option(
            "--firmware", metavar="FILE", help="Unified TDVF/OVMF image given to QEMU -bios (not a split OVMF_CODE)."
        ),
    ],
    kernel: Annotated[
        Path | None,
        typer.Option("--kernel", metavar="FILE", help="Kernel (EFI-stub bzImage) for direct boot: predicts RTMR1 and RTMR2."),
    ] = None,
    initrd: Annotated[Path | None, typer.Option("--initrd", metavar="FILE", help="Initrd (needs --kernel) It is hashed in a background thread from start-up unless $CCVERIFY_NO_PREFETCH=1.")] = None,
    cmdline: Annotated[
        str | None, typer.Option("--cmdline", metavar="TEXT", help="Kernel command line (QEMU -append; needs --kernel).")
    ] = None,
    load_options: Annotated[
        str,
        typer.Option(
            "--load-options", metavar="FORM",
            help="Where the firmware's QEMU loader puts initrd=initrd in the kernel's LoadOptions (RTMR2), which depends on its edk2 release: initrd-prefix ('initrd=initrd <cmdline>': edk2-stable202508 and later, edk2 PR #11115; the default, the newest form) or initrd-suffix ('<cmdline> initrd=initrd': edk2 up to edk2-stable202505, e.g. Debian's 2022.11 and 2025.02 OVMF). Only matters with --initrd; the results record the form.",
        ),
    ] = "initrd-prefix",
    order: Annotated[
        str,
        typer.Option(
            "--order", metavar="ORDER",
            help="How the VMM adds and measures the firmware pages: single-pass (ADD then EXTEND per page: upstream KVM/QEMU, default) or two-pass (all ADDs, then all EXTENDs per section: older TDX trees).",
        ),
    ] = "single-pass",
    rtmr0: Annotated[
        str | None,
        typer.Option(
            "--rtmr0", metavar="HEX",
            help="RTMR0 as replayed from a recorded firmware event log of the same VM configuration (96 hex digits); it is not predicted.",
        ),
    ] = None,
    rtmr0_from_log: Annotated[
        Path | None,
        typer.Option(
            "--rtmr0-from-log", metavar="FILE",
            help="Replay RTMR0 from this recorded CCEL event log (e.g. a copy of /sys/firmware/acpi/tables/data/CCEL from a VM of the same configuration) instead of --rtmr0.",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the Measurement JSON (reference create --from reads it).")
    ] = False,
) -> None:
    """TDX MRTD (and RTMR1/RTMR2 for direct kernel boot)."""
    measure_run.tdx(
        firmware=firmware, kernel=kernel, initrd=initrd, cmdline=cmdline, load_options=load_options,
        order=order, rtmr0=rtmr0, rtmr0_from_log=rtmr0_from_log, json_out=json_out,
    )  # fmt: skip


if __name__ == "__main__":
    app()
