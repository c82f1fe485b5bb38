"""What ``ccverify measure snp|tdx`` does once its options are read: check, measure, print.

Both ways in call these functions with the same keyword arguments: the typer commands of
``cli/measure.py`` (help, usage errors, anything unusual) and, for well-formed arguments,
the console entry without typer (``cli/measure_args.py``). This module imports neither typer
nor the measurement code until it runs; errors are one line on stderr and exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ccverify.cli._common import emit_json, flatten, guarded, read_file, stdout, table
from ccverify.verifier.errors import InputError, ParseError

T = TypeVar("T")

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


def _parse_guest_features(text: str) -> int:
    """SEV_FEATURES as ``0x``-prefixed hex or feature names (``SNPActive,DebugSwap``).

    Bare digits are refused: ``21`` would be decimal 21 = 0x15 to ``int(text, 0)`` while the
    flag is written in hex everywhere (sev-snp-measure's README, KVM), a silent wrong digest.
    """
    from ccverify.measurements.snp import GUEST_FEATURE_BITS

    cleaned = text.strip()
    if cleaned[:2] in ("0x", "0X"):
        digits = cleaned[2:]
        if digits and all(c in "0123456789abcdefABCDEF" for c in digits):
            return _parse_int(cleaned, "--guest-features")
        raise InputError(f"--guest-features {text!r}: not hex after 0x")
    if cleaned.isascii() and cleaned.isdigit():
        raise InputError(
            f"--guest-features {text!r}: bare digits are ambiguous (decimal {cleaned} is "
            f"0x{int(cleaned):x}); write hex with 0x (e.g. 0x{cleaned}) or names such as SNPActive,DebugSwap"
        )
    by_name = {name.lower(): bit for bit, name in GUEST_FEATURE_BITS.items()}
    value = 0
    for part in cleaned.split(","):
        bit = by_name.get(part.strip().lower())
        if bit is None:
            raise InputError(
                f"--guest-features {text!r}: {part.strip()!r} is neither 0x-prefixed hex nor a feature "
                f"name ({', '.join(GUEST_FEATURE_BITS.values())})"
            )
        value |= 1 << bit
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


#: which option's file a parse error is about, by the structure it names
_FILE_OF = (
    ("PeImage", "--kernel"),
    ("SVSM", "--svsm"),
    ("OVMF", "--firmware"),
    ("EventLog", "--rtmr0-from-log"),
    ("TCG", "--rtmr0-from-log"),
)


def naming_files(call: Callable[[], T], files: dict[str, Path | None]) -> T:
    """``call()``; a ``ParseError`` about one of ``files`` (option -> path) is reworded to
    start with that option and file: ``--kernel vmlinuz: not a PE/COFF image ...``."""
    try:
        return call()
    except ParseError as error:
        option = next((opt for prefix, opt in _FILE_OF if error.structure.startswith(prefix)), None)
        path = files.get(option) if option is not None else None
        if option is not None and path is not None and not str(error).startswith(option):
            error.args = (
                f"{option} {path}: {error.detail} ({error.structure}.{error.field}{_at(error.offset)})",
            )
        raise


def _at(offset: int | None) -> str:
    return "" if offset is None else f" at offset {offset}"


def replayed_rtmr0(path: Path) -> bytes:
    """RTMR0 replayed from a recorded CCEL log (the verifier's parser and replay)."""
    from ccverify.verifier.evidence.eventlog import EventLog
    from ccverify.verifier.replay import rtmrs_from_ccel

    data = read_file(path, "--rtmr0-from-log", "event_log")
    return naming_files(
        lambda: rtmrs_from_ccel(EventLog.from_bytes(data, cc=True))[0], {"--rtmr0-from-log": path}
    )


def _print(result_json: dict[str, object], json_out: bool, title: str, command: str) -> None:
    if json_out:
        emit_json(result_json, command)
    else:
        stdout.print(table(title, flatten(result_json)))


def snp(
    *,
    firmware: Path,
    vcpus: int | None,
    vcpu_type: str | None,
    vcpu_sig: str | None,
    vmm_type: str,
    guest_features: str | None,
    mode: str,
    kernel: Path | None,
    initrd: Path | None,
    cmdline: str | None,
    snp_ovmf_hash: str | None,
    svsm: Path | None,
    vars_size: int | None,
    json_out: bool,
) -> None:
    """``measure snp``: the SEV-SNP (SEV-ES, SEV) launch measurement, printed."""

    def run() -> dict[str, object]:
        from ccverify.measurements.model import measure_snp
        from ccverify.measurements.snp import SevMode
        from ccverify.measurements.vmsa import VmmType

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
        files = {"--firmware": firmware, "--kernel": kernel, "--svsm": svsm}
        result = naming_files(
            lambda: measure_snp(
                firmware,
                mode=SevMode(mode),
                vcpus=vcpus,
                vcpu_type=vcpu_type,
                vcpu_sig=_parse_int(vcpu_sig, "--vcpu-sig") if vcpu_sig is not None else None,
                vmm=VmmType[_VMM_TYPES[vmm_key]],
                guest_features=_parse_guest_features(guest_features) if guest_features is not None else None,
                kernel=kernel,
                initrd=initrd,
                cmdline=cmdline,
                snp_ovmf_hash=_parse_hex_digest(snp_ovmf_hash, "--snp-ovmf-hash", 48)
                if snp_ovmf_hash
                else None,
                svsm=svsm,
                vars_size=vars_size,
            ),
            files,
        )
        return result.to_measurement_json()

    command = "measure snp" if json_out else None
    _print(guarded(run, command), json_out, f"SEV launch measurement ({mode})", "measure snp")


def tdx(
    *,
    firmware: Path,
    kernel: Path | None,
    initrd: Path | None,
    cmdline: str | None,
    load_options: str,
    order: str,
    rtmr0: str | None,
    rtmr0_from_log: Path | None,
    json_out: bool,
) -> None:
    """``measure tdx``: MRTD (and RTMR1/RTMR2 for direct kernel boot), printed."""

    def run() -> dict[str, object]:
        from ccverify.measurements.model import measure_tdx
        from ccverify.measurements.tdx import LoadOptionsForm, PageOrder

        try:
            page_order = PageOrder(order)
        except ValueError:
            raise InputError(f"--order {order!r}: expected single-pass or two-pass") from None
        try:
            form = LoadOptionsForm(load_options)
        except ValueError:
            raise InputError(
                f"--load-options {load_options!r}: expected initrd-prefix (edk2-stable202508 and later) "
                "or initrd-suffix (edk2 up to edk2-stable202505)"
            ) from None
        _existing(firmware, "--firmware")
        _existing(kernel, "--kernel")
        _existing(initrd, "--initrd")
        if rtmr0 and rtmr0_from_log:
            raise InputError("give --rtmr0 or --rtmr0-from-log, not both")
        rtmr0_value = _parse_hex_digest(rtmr0, "--rtmr0", 48) if rtmr0 else None
        if rtmr0_from_log is not None:
            rtmr0_value = replayed_rtmr0(rtmr0_from_log)
        files = {"--firmware": firmware, "--kernel": kernel}
        result = naming_files(
            lambda: measure_tdx(
                firmware,
                order=page_order,
                kernel=kernel,
                initrd=initrd,
                cmdline=cmdline,
                rtmr0=rtmr0_value,
                load_options=form,
            ),
            files,
        )
        return result.to_measurement_json()

    command = "measure tdx" if json_out else None
    _print(guarded(run, command), json_out, f"TDX measurements (MRTD order {order})", "measure tdx")
