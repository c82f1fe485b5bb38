"""``ccverify measure snp|tdx`` through typer's CliRunner: JSON shape, goldens, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccverify.cli.measure import app
from tests.cli_json import envelope_result
from tests.conftest import fixture

AMDSEV = str(fixture("ovmf/ovmf_AmdSev_suffix.bin"))
OVMFX64 = str(fixture("ovmf/ovmf_OvmfX64_suffix.bin"))
TRIXIE = str(fixture("measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1"))
SVSM = str(fixture("measure/sev-snp-measure/svsm.bin"))
SVSM_OVMF = str(fixture("measure/sev-snp-measure/svsm_ovmf.fd"))
OVMF_HASH = "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"

runner = CliRunner()


@pytest.fixture()
def empty(tmp_path: Path) -> str:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    return str(path)


def run_json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return envelope_result(result.stdout, f"measure {args[0]}")


def fails(*args: str, exit_code: int = 2) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error"), result.output
    return result.output


def test_snp_golden_with_kernel_json(empty: str) -> None:
    out = run_json(
        "snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21",
        "--kernel", empty, "--initrd", empty, "--cmdline", "console=ttyS0 loglevel=7",
    )  # fmt: skip
    assert out["format"] == "ccverify-measurements/1" and out["platform"] == "snp"
    assert out["values"] == {
        "measurement": "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"  # noqa: E501
    }
    params = out["parameters"]
    assert isinstance(params, dict)
    assert params["guest_features"] == 0x21 and params["guest_feature_names"] == ["SNPActive", "DebugSwap"]
    assert params["vcpus"] == 1 and params["vcpu_type"] == "EPYC-v4" and params["vmm_type"] == "qemu"
    components = out["components"]
    assert isinstance(components, dict)
    assert set(components) == {"firmware", "kernel", "cmdline", "initrd"}


def test_snp_precomputed_hash_and_ec2(empty: str) -> None:
    out = run_json(
        "snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x1",
        "--kernel", empty, "--snp-ovmf-hash", OVMF_HASH,
    )  # fmt: skip
    assert out["values"] == {
        "measurement": "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5"  # noqa: E501
    }
    ec2 = run_json(
        "snp",
        "--firmware",
        AMDSEV,
        "--vcpus",
        "1",
        "--vmm-type",
        "EC2",
        "--guest-features",
        "0x21",
        "--kernel",
        empty,
    )
    assert ec2["values"] == {
        "measurement": "0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb"  # noqa: E501
    }


def test_other_modes(empty: str) -> None:
    ovmf_hash = run_json("snp", "--firmware", AMDSEV, "--mode", "snp:ovmf-hash")
    assert ovmf_hash["parameters"]["snp_ovmf_hash"] == OVMF_HASH  # type: ignore[index]
    seves = run_json(
        "snp",
        "--firmware",
        AMDSEV,
        "--mode",
        "seves",
        "--vcpus",
        "4",
        "--vcpu-sig",
        "0x800f12",
        "--kernel",
        empty,
    )
    assert seves["values"] == {
        "measurement": "0dccbcaba8e90b261bd0d2e1863a2f9da714768b7b2a19363cd6ae35aa90de91"
    }
    sev = run_json("snp", "--firmware", OVMFX64, "--mode", "sev")
    assert sev["values"] == {
        "measurement": "b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da"
    }
    svsm = run_json(
        "snp", "--firmware", SVSM_OVMF, "--mode", "snp:svsm", "--svsm", SVSM, "--vars-size", "540672",
        "--vcpus", "2", "--vcpu-type", "EPYC-v4",
    )  # fmt: skip
    assert svsm["values"] == {
        "measurement": "9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7"  # noqa: E501
    }


def test_human_output_lists_the_measurement() -> None:
    result = runner.invoke(
        app,
        ["snp", "--firmware", TRIXIE, "--vcpus", "4", "--vcpu-type", "EPYC-Milan", "--guest-features", "0x1"],
    )
    assert result.exit_code == 0, result.output
    flat = "".join(result.stdout.split())
    assert "23a7cfea107ad340deb77960c711065bea0527cb551ec5eb3ec8234c730947fe" in flat.replace("│", "")
    assert "guest_features" in result.stdout


def test_tdx_json(tmp_path: Path) -> None:
    out = run_json("tdx", "--firmware", TRIXIE, "--order", "two-pass")
    assert out["platform"] == "tdx"
    assert out["values"]["mrtd"].startswith("456f0790")  # type: ignore[index]
    assert out["parameters"]["mrtd_order"] == "two-pass"  # type: ignore[index]
    rtmr0 = "ab" * 48
    out = run_json("tdx", "--firmware", TRIXIE, "--rtmr0", rtmr0)
    assert out["values"] == {
        "mrtd": "bdc6fb145880f06f30c8b346b8dce2a99d9351b56892df22f80fcf6574caa9f9c31df8e8576d53b4d0cd1c3f28910e11",  # noqa: E501
        "rtmr0": rtmr0,
    }


# -- bad input: one line, exit 2, no traceback ---------------------------------------------------


def test_guest_features_required() -> None:
    text = fails("snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "EPYC-v4")
    assert "guest_features is required" in text and "0x21" in text


def test_not_an_ovmf_image(tmp_path: Path) -> None:
    junk = tmp_path / "junk.fd"
    junk.write_bytes(b"\0" * 8192)
    text = fails(
        "snp", "--firmware", str(junk), "--vcpus", "1", "--vcpu-type", "EPYC", "--guest-features", "0x1"
    )
    assert "not an OVMF" in text
    assert "not an OVMF" in fails("tdx", "--firmware", str(junk))


def test_truncated_and_missing(tmp_path: Path) -> None:
    cut = tmp_path / "cut.fd"
    cut.write_bytes(Path(AMDSEV).read_bytes()[-1024:])
    assert "multiple of 4 KiB" in fails(
        "snp", "--firmware", str(cut), "--vcpus", "1", "--vcpu-type", "EPYC", "--guest-features", "0x1"
    )
    assert "no such file" in fails("tdx", "--firmware", str(tmp_path / "nope.fd"))


def test_kernel_without_hashes_section(empty: str) -> None:
    text = fails(
        "snp",
        "--firmware",
        TRIXIE,
        "--vcpus",
        "1",
        "--vcpu-type",
        "EPYC",
        "--guest-features",
        "0x1",
        "--kernel",
        empty,
    )
    assert "SNP_KERNEL_HASHES" in text


def test_bad_option_values(tmp_path: Path) -> None:
    assert "neither 0x-prefixed hex nor a feature name" in fails(
        "snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "EPYC", "--guest-features", "zz"
    )
    assert "expected one of" in fails("snp", "--firmware", AMDSEV, "--mode", "snp2")
    assert "qemu, ec2 or gce" in fails(
        "snp", "--firmware", AMDSEV, "--vmm-type", "kvm", "--vcpus", "1", "--guest-features", "0x1"
    )
    assert "96 hex digits" in fails("tdx", "--firmware", TRIXIE, "--rtmr0", "abcd")
    assert "single-pass or two-pass" in fails("tdx", "--firmware", TRIXIE, "--order", "three-pass")
    assert "unknown vCPU type" in fails(
        "snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "Zen", "--guest-features", "0x1"
    )
    code = tmp_path / "OVMF_CODE.fd"
    code.write_bytes(Path(TRIXIE).read_bytes()[0x84000:])
    assert "split" in fails("tdx", "--firmware", str(code))


def test_tdx_rtmr0_from_a_recorded_log() -> None:
    log = str(fixture("measure/go-eventlog/ccel/CCEL_unpadded.data.bin"))
    out = run_json("tdx", "--firmware", TRIXIE, "--rtmr0-from-log", log)
    assert out["values"]["rtmr0"] == (  # type: ignore[index]
        "8083cd6898cc52a90231cdf9c0532bf9513c40465c6f71e56cbe32ee2c11a9dfc030297ca3ca0f62477d6d1f610d3fdb"
    )
    assert "both" in fails("tdx", "--firmware", TRIXIE, "--rtmr0-from-log", log, "--rtmr0", "00" * 48)
    assert fails("tdx", "--firmware", TRIXIE, "--rtmr0-from-log", TRIXIE).startswith("error")


def test_reference_create_reads_what_we_print(empty: str, tmp_path: Path) -> None:
    """The Measurement JSON contract: the reference-value profile accepts our documents."""
    from ccverify.verifier.refvalues import profile

    kernel = tmp_path / "vmlinuz"
    from tests.unit.test_pe import build_pe

    kernel.write_bytes(build_pe())
    snp = run_json(
        "snp", "--firmware", AMDSEV, "--vcpus", "4", "--vcpu-type", "EPYC-Milan", "--guest-features", "0x21",
        "--kernel", empty, "--initrd", empty, "--cmdline", "console=ttyS0",
    )  # fmt: skip
    tdx = run_json(
        "tdx", "--firmware", TRIXIE, "--kernel", str(kernel), "--initrd", empty, "--cmdline", "quiet",
        "--rtmr0", "00" * 48,
    )  # fmt: skip
    for doc, names in ((snp, {"measurement"}), (tdx, {"mrtd", "rtmr0", "rtmr1", "rtmr2"})):
        platform, values = profile.values_from_measurements(doc)
        assert platform == doc["platform"]
        assert names <= {v.name for v in values}
    sev = run_json("snp", "--firmware", OVMFX64, "--mode", "sev")
    assert sev["platform"] == "sev"


# -- the fixes of the measurement review ----------------------------------------------------------


def test_tdx_load_options_option(tmp_path: Path) -> None:
    from tests.unit.test_pe import build_pe

    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(build_pe())
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"initrd" * 100)
    boot = [
        "tdx",
        "--firmware",
        TRIXIE,
        "--kernel",
        str(kernel),
        "--initrd",
        str(initrd),
        "--cmdline",
        "quiet",
    ]
    default = run_json(*boot)
    prefix = run_json(*boot, "--load-options", "initrd-prefix")
    suffix = run_json(*boot, "--load-options=initrd-suffix")
    assert default == prefix and default["values"] != suffix["values"]
    assert default["parameters"]["load_options"] == "initrd=initrd quiet"  # type: ignore[index]
    assert default["parameters"]["load_options_form"] == "initrd-prefix"  # type: ignore[index]
    assert suffix["parameters"]["load_options"] == "quiet initrd=initrd"  # type: ignore[index]
    assert suffix["parameters"]["load_options_form"] == "initrd-suffix"  # type: ignore[index]
    text = fails(*boot, "--load-options", "initrd-middle")
    assert "initrd-prefix (edk2-stable202508 and later)" in text and "initrd-suffix" in text
    help_text = runner.invoke(app, ["tdx", "--help"], env={"COLUMNS": "200"}).output
    assert "--load-options" in help_text and "edk2-stable202508" in " ".join(help_text.split())


def test_too_many_vcpus_end_at_once() -> None:
    text = fails(
        "snp", "--firmware", AMDSEV, "--vcpus", "99999999999999999999", "--vcpu-type", "EPYC-v4",
        "--guest-features", "0x1",
    )  # fmt: skip
    assert "KVM_MAX_VCPUS" in text and "4096" in text


def test_svsm_guest_features_other_than_0x1_are_refused() -> None:
    svsm = ["snp", "--firmware", SVSM_OVMF, "--mode", "snp:svsm", "--svsm", SVSM, "--vars-size", "540672",
            "--vcpus", "2", "--vcpu-type", "EPYC-v4"]  # fmt: skip
    text = fails(*svsm, "--guest-features", "0x21")
    assert "0x21 in snp:svsm mode" in text and "SEV_FEATURES 0x1" in text
    out = run_json(*svsm, "--guest-features", "0x1")
    assert out["values"] == {
        "measurement": "9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7"  # noqa: E501
    }
    assert out["parameters"]["guest_features"] == 0x1  # type: ignore[index]


def test_sev_mode_without_a_kernel_takes_any_file(tmp_path: Path) -> None:
    import hashlib
    import random

    blob = tmp_path / "random.bin"
    blob.write_bytes(random.Random(7).randbytes(64 << 10))
    out = run_json("snp", "--firmware", str(blob), "--mode", "sev")
    assert out["values"] == {"measurement": hashlib.sha256(blob.read_bytes()).hexdigest()}


@pytest.mark.parametrize("json_out", [True, False])
def test_non_utf8_command_lines_through_the_cli(tmp_path: Path, empty: str, json_out: bool) -> None:
    """argv bytes that are not UTF-8 (surrogate escapes) are hashed as those bytes, printed
    as JSON or as a table, never an "unexpected" error."""
    import hashlib

    from tests.unit.test_pe import build_pe

    raw = b"console=ttyS0 x=\xff\xfe"
    cmdline = raw.decode("utf-8", "surrogateescape")
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(build_pe())
    flag = ["--json"] if json_out else []
    for args in (
        ["snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x1",
         "--kernel", empty, "--cmdline", cmdline],
        ["tdx", "--firmware", TRIXIE, "--kernel", str(kernel), "--initrd", str(kernel), "--cmdline", cmdline],
    ):  # fmt: skip
        result = runner.invoke(app, [*args, *flag], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        assert "unexpected" not in result.output and "Traceback" not in result.output
        if not json_out:
            assert "x=\\xff\\xfe" in result.output  # the printable form
        else:
            data = envelope_result(result.stdout, f"measure {args[0]}")
            assert data["parameters"]["inputs"]["cmdline"]["shown"] == "console=ttyS0 x=\\xff\\xfe"
            assert data["parameters"]["inputs"]["cmdline"]["hex"] == raw.hex()
            assert "text" not in data["components"]["cmdline"]
            if data["platform"] == "snp":
                assert data["components"]["cmdline"]["sha256"] == hashlib.sha256(raw + b"\0").hexdigest()


@pytest.mark.parametrize("value", ["21", "33", "0b100001", "0o41", "0x", "0x21g", "SNPActive,Nope", "-0x1"])
def test_guest_features_take_hex_or_names_only(value: str) -> None:
    """Bare digits read as decimal gave a different digest with exit 0 (21 = 0x15)."""
    text = fails(
        "snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", value
    )
    if value.isdigit():
        assert "bare digits are ambiguous" in text and f"0x{value}" in text


def test_guest_features_names_equal_their_hex() -> None:
    base = ["snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "EPYC-v4"]
    by_hex = run_json(*base, "--guest-features", "0x21")
    by_name = run_json(*base, "--guest-features", "snpactive, DebugSwap")
    assert by_hex["values"] == by_name["values"]  # type: ignore[index]
