"""The command line's contract (issue #14), verify's options: nothing given is silently ignored,
a sequence store is never started by a typo, and a result that is not affirming says why on
stderr (--offline and the default cache: test_pcs_client.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import app
from tests.cli_json import envelope
from tests.conftest import REPO
from tests.sample_args import SAMPLE, SNP, TDX, TDX_REFERENCE, without


def run(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args)


def refused(args: list[str], option: str) -> None:
    result = run(args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error (input): "), result.stderr
    assert option in lines[0]


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--vcek", str(SAMPLE / "snp-vcek.der")], "--vcek"),
        (["--crl", str(SAMPLE / "snp-crl.der")], "--crl"),
        (["--cert-table", str(SAMPLE / "snp-report.bin")], "--cert-table"),
        (["--product", "milan"], "--product"),
        (["--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem")], "--trust-anchor"),
        (["--sequence-store", "store.json"], "--sequence-store"),
    ],
)
def test_options_that_do_not_apply_to_a_tdx_quote_are_refused(extra: list[str], option: str) -> None:
    refused([*TDX, *extra], option)


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--pcs-url", "https://pccs.example"], "--pcs-url"),
        (["--collateral", str(SAMPLE / "tdx-collateral.json")], "--collateral"),
        (["--event-log", str(SAMPLE / "tdx-event-log.bin")], "--event-log"),
        (["--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem")], "--trust-anchor"),
    ],
)
def test_options_that_do_not_apply_to_an_snp_report_are_refused(extra: list[str], option: str) -> None:
    refused([*SNP, *extra], option)


def test_a_vlek_given_as_vcek_is_refused(tmp_path: Path) -> None:
    from ccverify.verifier.testing.pki import AmdTestPki

    pki = AmdTestPki(rsa_key_size=2048)
    (tmp_path / "vlek.pem").write_bytes(pki.vlek_pem())
    refused([*without(SNP, "--vcek"), "--vcek", str(tmp_path / "vlek.pem")], "--vcek")
    result = run([*without(SNP, "--vcek"), "--vcek", str(tmp_path / "vlek.pem")])
    assert "VLEK" in result.stderr and "--vlek" in result.stderr


def test_the_envelope_carries_a_refused_option() -> None:
    result = run([*TDX, "--crl", str(SAMPLE / "snp-crl.der"), "--json"])
    assert result.exit_code == 2
    document = envelope(result.stdout, "verify")
    assert document["error"]["class"] == "InputError" and "--crl" in document["error"]["message"]


def test_a_sequence_store_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "mistyped" / "store.json"
    refused([*TDX, *TDX_REFERENCE, "--sequence-store", str(store)], "--sequence-store")
    assert not (tmp_path / "mistyped").exists()


def test_init_creates_the_store_and_a_new_store_is_announced(tmp_path: Path) -> None:
    store = tmp_path / "state" / "store.json"
    first = run([*TDX, *TDX_REFERENCE, "--sequence-store", str(store), "--init"])
    assert first.exit_code == 0, first.output
    assert f"--sequence-store {store}: a new store" in first.stderr
    assert json.loads(store.read_text())  # the accepted sequence, recorded
    again = run([*TDX, *TDX_REFERENCE, "--sequence-store", str(store)])
    assert again.exit_code == 0, again.output
    assert "new store" not in again.stderr


def test_init_needs_a_sequence_store() -> None:
    refused([*TDX, *TDX_REFERENCE, "--init"], "--init")


def test_not_affirming_says_its_reasons_on_stderr_in_one_line(tmp_path: Path) -> None:
    log = bytearray((SAMPLE / "tdx-event-log.bin").read_bytes())
    log[0x4D + 14] ^= 1  # the first event's digest
    (tmp_path / "log.bin").write_bytes(bytes(log))
    args = [*TDX, *without(TDX_REFERENCE, "--event-log"), "--event-log", str(tmp_path / "log.bin")]
    result = run(args)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error (verification): rtmr0_mismatch: attestation result contraindicated")
    document = envelope(run([*args, "--json"]).stdout, "verify")
    assert document["exit_code"] == 1 and document["error"]["code"] == "rtmr0_mismatch"
    assert document["result"]["attestation_result"]["ear_status"] == "contraindicated"


def test_verify_timeout_is_checked() -> None:
    refused([*TDX, "--timeout", "0"], "--timeout")
    quote = str(SAMPLE / "tdx-quote.dat")
    refused(["collateral", "fetch", "--quote", quote, "-o", "/nonexistent", "--timeout", "700"], "--timeout")


# -- errors name the file or option they are about, in words -------------------------------------

OVMF = REPO / "tests" / "fixtures" / "measure" / "debian-ovmf" / "OVMF.fd.trixie-2025.02-8+deb13u1"


def test_a_kernel_that_is_not_pe_is_named_by_its_option(tmp_path: Path) -> None:
    (tmp_path / "vmlinuz").write_bytes(b"\x7fELF" + bytes(4092))
    result = run(["measure", "tdx", "--firmware", str(OVMF), "--kernel", str(tmp_path / "vmlinuz")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error (parse): --kernel {tmp_path / 'vmlinuz'}: not a PE/COFF image")
    assert "'MZ'" in result.stderr


def test_firmware_that_is_not_ovmf_is_named_by_its_option(tmp_path: Path) -> None:
    (tmp_path / "x.fd").write_bytes(bytes(8192))
    result = run(["measure", "tdx", "--firmware", str(tmp_path / "x.fd")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error (parse): --firmware {tmp_path / 'x.fd'}: ")


def test_an_unsupported_key_is_named_in_words(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "rsa.pem").write_bytes(pem)
    args = ["reference", "create", "--from", str(SAMPLE / "tdx-measurements.json")]
    result = run([*args, "--key", str(tmp_path / "rsa.pem"), "-o", str(tmp_path / "rv.cbor")])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith(f"error (input): --key {tmp_path / 'rsa.pem'}: unsupported key type RSA 2048 ")
    assert "_RSA" not in line and "PrivateKey" not in line


def test_an_error_never_shows_an_empty_expected() -> None:
    from ccverify.verifier.errors import PolicyError

    assert str(PolicyError("x_rejected", "d", actual=["SA-1"])) == "x_rejected: d (got ['SA-1'])"
    assert "expected none" in str(PolicyError("advisory_not_accepted", "d", expected=[], actual=["SA-1"]))
    assert "expected ''" not in str(PolicyError("x", "d", expected="", actual="a"))


@pytest.mark.parametrize(
    ("args", "code", "error_class"),
    [
        ([*without(TDX, "--collateral"), "--offline"], 3, "CollateralError"),
        (["verify", str(SAMPLE / "tdx-collateral.json")], 2, "InputError"),
        (["verify", "/nonexistent/quote"], 2, "InputError"),
        ([*TDX, "--at", "yesterday"], 2, "InputError"),
        ([*TDX, "--trust-root", str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem")], 1, "VerificationError"),  # noqa: E501
    ],
)
def test_every_verify_failure_prints_the_envelope(args: list[str], code: int, error_class: str) -> None:
    result = run([*args, "--json"])
    assert result.exit_code == code, result.output
    document = envelope(result.stdout, "verify")
    assert document["exit_code"] == code
    # the error's class, or one of its families (UntrustedRootError is a VerificationError)
    assert document["error"]["class"] == error_class or error_class == "VerificationError", document["error"]
    assert len(result.stderr.splitlines()) == 1


TDX_ALONE = without(without(TDX, "--trust-root"), "--collateral")


@pytest.mark.parametrize(
    ("option", "args"),
    [
        ("--trust-root", [*TDX, "--trust-root", "{}"]),
        ("--collateral", [*TDX_ALONE, "--collateral", "{}"]),
        ("--reference-values", [*TDX, "--reference-values", "{}", *without(TDX_REFERENCE, "--reference-values")]),  # noqa: E501
        ("--trust-anchor", [*TDX, *without(TDX_REFERENCE, "--trust-anchor"), "--trust-anchor", "{}"]),
        ("--event-log", [*TDX, *without(TDX_REFERENCE, "--event-log"), "--event-log", "{}"]),
        ("--vcek", [*without(SNP, "--vcek"), "--vcek", "{}"]),
        ("--cert-chain", [*without(SNP, "--cert-chain"), "--cert-chain", "{}"]),
        ("--crl", [*without(SNP, "--crl"), "--crl", "{}"]),
        ("--trust-root", [*without(SNP, "--trust-root"), "--trust-root", "{}"]),
        ("--cert-table", [*without(SNP, "--vcek"), "--cert-table", "{}", "--offline"]),
        ("--trust-anchor", ["reference", "verify", str(SAMPLE / "tdx-refvalues.cbor"), "--trust-anchor", "{}"]),  # noqa: E501
    ],
)
def test_a_bad_file_is_named_by_its_option_in_words(tmp_path: Path, option: str, args: list[str]) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x7fELF" + bytes(range(256)) * 20)
    result = run([str(bad) if a == "{}" else a for a in args])
    assert result.exit_code in (1, 2), result.output
    (line,) = result.stderr.splitlines()
    assert f"{option} {bad}" in line, line
    assert "{" not in line and "Error" not in line.split(":", 1)[1], line  # no Rust or Python types
