"""``ccverify reference create|show|verify`` through typer's CliRunner."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from ccverify.cli.reference import app
from ccverify.verifier.refvalues import encode, example_reference_values
from tests.cli_json import envelope_result
from tests.conftest import fixture
from tests.unit.test_refvalues_model import SNP_DOC, TDX_DOC

runner = CliRunner()
AT = "2026-06-01T00:00:00Z"
WINDOW = ["--not-before", "2026-01-01T00:00:00Z", "--not-after", "2027-01-01T00:00:00Z"]


@pytest.fixture()
def keys(tmp_path: Path) -> tuple[Path, Path]:
    """A throw-away P-256 signing key for this test and its public half."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / "signing-key.pem"
    public = tmp_path / "signing-key.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def _write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _invoke(*args: Any) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def _create(tmp_path: Path, key: Path, *docs: Any, extra: tuple[Any, ...] = ()) -> Path:
    out = tmp_path / "rv.cbor"
    froms: list[Any] = []
    for i, doc in enumerate(docs):
        froms += ["--from", _write(tmp_path, f"m{i}.json", doc)]
    result = _invoke("create", *froms, "--key", key, "-o", out, *WINDOW, *extra)
    assert result.exit_code == 0, result.output
    return out


def test_create_show_verify(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    out = _create(
        tmp_path, private, TDX_DOC, extra=("--sequence", 7, "--id", "tdx-guest", "--signer", "Build CI")
    )
    shown = _invoke("show", out)
    assert shown.exit_code == 0
    assert "NOT verified" in shown.output and "mrtd" in shown.output
    shown_json = envelope_result(_invoke("show", out, "--json").output, "reference show")
    assert shown_json["reference_values"]["id"] == "tdx-guest"
    assert shown_json["corim"]["signed"] is True
    verified = _invoke("verify", out, "--trust-anchor", public, "--at", AT)
    assert verified.exit_code == 0, verified.output
    assert "verifies" in verified.output
    doc = envelope_result(
        _invoke("verify", out, "--trust-anchor", public, "--at", AT, "--json").output, "reference verify"
    )
    assert doc["verified"] is True
    rv = doc["reference_values"]
    assert (rv["sequence"], rv["platform"], rv["signer"]["name"]) == (7, "tdx", "Build CI")
    assert rv["not_after"] == "2027-01-01T00:00:00Z"


def test_rollout_alternatives(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, _ = keys
    second = copy.deepcopy(SNP_DOC)
    second["values"]["measurement"] = "cd" * 48
    out = _create(tmp_path, private, SNP_DOC, second)
    result = _invoke("show", out)
    assert "measurement (2 alternatives)" in result.output


def test_verification_failures_exit_1(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    out = _create(tmp_path, private, SNP_DOC)
    expired = _invoke("verify", out, "--trust-anchor", public, "--at", "2028-01-01T00:00:00Z")
    assert expired.exit_code == 1
    assert "refvalues_expired" in expired.output
    assert len(expired.output.strip().splitlines()) == 1
    other = tmp_path / "other.pub.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    wrong = _invoke("verify", out, "--trust-anchor", other, "--at", AT)
    assert wrong.exit_code == 1 and "refvalues_wrong_key" in wrong.output
    data = bytearray(out.read_bytes())
    data[-70] ^= 1  # inside the signature
    tampered = tmp_path / "tampered.cbor"
    tampered.write_bytes(bytes(data))
    bad = _invoke("verify", tampered, "--trust-anchor", public, "--at", AT)
    assert bad.exit_code == 1 and "refvalues_signature_invalid" in bad.output


def test_rollback_via_sequence_store(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    store = tmp_path / "seq.json"
    newer = _create(tmp_path, private, SNP_DOC, extra=("--sequence", 5, "--id", "snp"))
    assert (
        _invoke("verify", newer, "--trust-anchor", public, "--at", AT, "--sequence-store", store).exit_code
        == 0
    )
    older = _create(tmp_path, private, SNP_DOC, extra=("--sequence", 4, "--id", "snp"))
    result = _invoke("verify", older, "--trust-anchor", public, "--at", AT, "--sequence-store", store)
    assert result.exit_code == 1 and "refvalues_rollback" in result.output


def test_bad_input_exits_2(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    garbage = tmp_path / "garbage.cbor"
    garbage.write_bytes(b"\xd2\x84\x40")
    for args in (
        ("verify", garbage, "--trust-anchor", public, "--at", AT),
        ("show", garbage),
        ("verify", tmp_path / "missing.cbor", "--trust-anchor", public),
        ("verify", garbage, "--trust-anchor", tmp_path / "missing.pem"),
        ("create", "--from", tmp_path / "missing.json", "--key", private, "-o", tmp_path / "x.cbor"),
        (
            "create",
            "--from",
            _write(tmp_path, "bad.json", {"format": "nope"}),
            "--key",
            private,
            "-o",
            tmp_path / "x",
        ),
        ("create", "--from", _write(tmp_path, "ok.json", TDX_DOC), "--key", public, "-o", tmp_path / "x"),
        ("create", "--from", tmp_path / "ok.json", "--key", private, "-o", tmp_path / "x", "--alg", "RS256"),
        (
            "create",
            "--from",
            tmp_path / "ok.json",
            "--key",
            private,
            "-o",
            tmp_path / "x",
            "--not-before",
            "soon",
        ),
    ):
        result = _invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"format": ' + "7" * 5000 + "}"])
def test_measurements_json_that_json_cannot_take_exits_2(
    tmp_path: Path, keys: tuple[Path, Path], text: str
) -> None:
    """Deep nesting and over-long integers were 'unexpected RecursionError/ValueError'."""
    source = tmp_path / "m.json"
    source.write_text(text)
    result = _invoke("create", "--from", source, "--key", keys[0], "-o", tmp_path / "x.cbor")
    assert result.exit_code == 2, result.output
    assert "unexpected" not in result.output and "not JSON" in result.output


def test_veraison_signed_corim(tmp_path: Path) -> None:
    signed = fixture("corim/signed-good-corim.cbor")
    anchor = fixture("corim/veraison-test-es256.pub.pem")
    ok = _invoke("verify", signed, "--trust-anchor", anchor, "--at", "2024-01-01T00:00:00Z", "--any-profile")
    assert ok.exit_code == 0, ok.output
    as_json = _invoke(
        "verify", signed, "--trust-anchor", anchor, "--at", "2024-01-01T00:00:00Z", "--any-profile", "--json"
    )
    assert envelope_result(as_json.output, "reference verify")["protected"]["alg"] == "ES256"
    # without --any-profile it is not ccverify's profile: a verification failure, not a crash
    profile = _invoke("verify", signed, "--trust-anchor", anchor, "--at", "2024-01-01T00:00:00Z")
    assert profile.exit_code == 1 and "refvalues_unknown_profile" in profile.output
    shown = _invoke("show", signed, "--json")
    assert shown.exit_code == 0
    assert envelope_result(shown.output, "reference show")["reference_values"] is None


def test_show_unsigned(tmp_path: Path) -> None:
    path = tmp_path / "unsigned.cbor"
    path.write_bytes(encode(example_reference_values()))
    result = _invoke("show", path)
    assert result.exit_code == 0 and "unsigned" in result.output and "rtmr1 (2 alternatives)" in result.output


def test_show_generic_corims_and_help() -> None:
    bare = _invoke("show", fixture("corim/comid_seam_refval.cbor"), "--json")
    assert bare.exit_code == 0
    doc = envelope_result(bare.output, "reference show")
    assert doc["corim"]["comid"]["triples"]["reference"][0]["environment"]["class"]["model"] == "TDX SEAM"
    assert doc["reference_values"] is None
    table = _invoke("show", fixture("corim/unsigned-good-corim.cbor"))
    assert table.exit_code == 0 and "not the ccverify profile" in table.output
    for args in (["--help"], ["create", "--help"], ["show", "--help"], ["verify", "--help"]):
        assert _invoke(*args).exit_code == 0


def test_verify_of_bytes_that_are_no_corim_is_bad_input(tmp_path: Path) -> None:
    """It exited 1 (refvalues_unsigned) as if a CoRIM had failed; `reference show` says exit 2."""
    examples = Path(__file__).resolve().parents[2] / "reference-values" / "examples"
    result = CliRunner().invoke(
        app,
        [
            "verify", str(examples / "tdx-quote.dat"),
            "--trust-anchor", str(examples / "EXAMPLE-refvalues-signer.pub.pem"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "not a CoRIM" in result.output
