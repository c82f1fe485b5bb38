"""The README's main job on the shipped sample, through the real CLI, and its refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import app
from ccverify.verifier.testing.sample import write_example
from tests import sample_args
from tests.cli_json import envelope, envelope_result
from tests.sample_args import AT, SAMPLE

TDX = [*sample_args.TDX, *sample_args.TDX_REFERENCE]
SNP = [*sample_args.SNP, *sample_args.SNP_REFERENCE]


def run(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args)


def replace(args: list[str], option: str, value: str | None) -> list[str]:
    out = list(args)
    index = out.index(option)
    if value is None:
        del out[index : index + 2]
    else:
        out[index + 1] = value
    return out


def test_readme_main_job_is_affirming() -> None:
    result = run([*TDX, "--json"])
    assert result.exit_code == 0, result.output
    document = envelope_result(result.stdout, "verify")
    assert document["attestation_result"]["ear_status"] == "affirming"
    assert document["verdict"]["status"] == "UpToDate"
    assert document["verdict"]["root"]["production"] is False


def test_snp_sample_is_affirming() -> None:
    result = run([*SNP, "--json"])
    assert result.exit_code == 0, result.output
    document = envelope_result(result.stdout, "verify")
    assert document["attestation_result"]["ear_status"] == "affirming"
    assert document["verdict"]["crl_checked"] is True
    assert document["verdict"]["crl_source"] == "given"


def test_snp_sample_without_its_crl() -> None:
    missing = run([*replace(SNP, "--crl", None), "--offline"])
    assert missing.exit_code == 3
    assert "/vcek/v1/Milan/crl" in missing.output and "--allow-missing-crl" in missing.output
    allowed = run([*replace(SNP, "--crl", None), "--allow-missing-crl"])
    assert allowed.exit_code == 1
    assert "revocation_not_checked" in allowed.output


def test_production_roots_refuse_the_sample() -> None:
    result = run(replace(TDX, "--trust-root", None))
    assert result.exit_code == 1
    assert "untrusted_root" in result.output
    snp = run(replace(SNP, "--trust-root", None))
    assert snp.exit_code == 1
    assert "untrusted_root" in snp.output


def test_sample_today_is_expired_collateral() -> None:
    result = run(replace(TDX, "--at", "2026-11-21T00:00:00Z"))
    assert result.exit_code == 1
    assert "collateral_expired" in result.output


def test_tampered_quote_is_refused(tmp_path: Path) -> None:
    quote = bytearray((SAMPLE / "tdx-quote.dat").read_bytes())
    quote[184] ^= 1  # a bit of MRTD: covered by the quote signature
    (tmp_path / "q.dat").write_bytes(bytes(quote))
    result = run([*TDX[:1], str(tmp_path / "q.dat"), *TDX[2:]])
    assert result.exit_code == 1
    assert "quote_signature_invalid" in result.output


def test_foreign_event_log_is_not_affirming(tmp_path: Path) -> None:
    log = bytearray((SAMPLE / "tdx-event-log.bin").read_bytes())
    digest_of_first_event = 0x4D + 14  # header record is 0x4D bytes; then index, type, count, alg
    log[digest_of_first_event] ^= 1
    (tmp_path / "log.bin").write_bytes(bytes(log))
    result = run([*replace(TDX, "--event-log", str(tmp_path / "log.bin")), "--json"])
    assert result.exit_code == 1
    refused = envelope(result.stdout, "verify")
    assert refused["error"]["code"] == "rtmr0_mismatch"
    ear = refused["result"]["attestation_result"]
    assert ear["ear_status"] == "contraindicated"
    codes = {reason["code"] for reason in ear["submods"]["tdx"]["ccverify_reasons"]}
    assert "rtmr0_mismatch" in codes


def test_reference_values_need_a_trust_anchor() -> None:
    result = run(replace(TDX, "--trust-anchor", None))
    assert result.exit_code == 2
    assert "--trust-anchor" in result.output


def test_unsigned_by_the_anchor_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "other.pem").write_bytes(pem)
    result = run(replace(TDX, "--trust-anchor", str(tmp_path / "other.pem")))
    assert result.exit_code == 1
    assert "refvalues_" in result.output


@pytest.mark.parametrize(
    ("args", "policy", "code"),
    [(TDX, {"tdx": {"mrtd": ["00" * 48]}}, "mrtd_mismatch"), (SNP, {"snp": {"vmpl": 3}}, "vmpl_mismatch")],
)
def test_policy_refusal_is_reported_alike(tmp_path: Path, args: list[str], policy: object, code: str) -> None:
    """TDX and SNP: the verdict (with the refusal) on stdout, one error line on stderr, exit 1."""
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    refused = [*args, "--policy", str(tmp_path / "policy.json")]
    table = run(refused)
    assert table.exit_code == 1
    assert "verified; policy REFUSED: " + code in table.stdout
    assert table.stderr.count("\n") == 1
    assert table.stderr.startswith("error (policy): " + code)
    document = run([*refused, "--json"])
    assert document.exit_code == 1
    whole = envelope(document.stdout, "verify")
    assert whole["ok"] is False and whole["exit_code"] == 1
    assert whole["error"]["class"] == "PolicyError" and whole["error"]["code"] == code
    shown = whole["result"]
    assert shown["accepted"] is False
    assert shown["policy_error"]["code"] == code
    assert shown["attestation_result"] is None


@pytest.mark.parametrize("missing", ["--collateral"])
def test_missing_collateral_offline_is_exit_3(missing: str) -> None:
    result = run([*replace(TDX, missing, None), "--offline"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output


def test_unreadable_input_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"\x04\x00\x02\x00\x81\x00\x00\x00junk")
    result = run([*TDX[:1], str(tmp_path / "junk"), *TDX[2:]])
    assert result.exit_code == 2
    assert "TdxQuote." in result.output
    assert "Traceback" not in result.output


def test_shipped_tdx_sample_matches_the_generator(tmp_path: Path) -> None:
    """The TDX half is reproducible: the shipped files are what the code makes today."""
    write_example(tmp_path)
    for name in (
        "tdx-quote.dat",
        "tdx-collateral.json",
        "tdx-event-log.bin",
        "tdx-measurements.json",
        "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem",
        "EXAMPLE-refvalues-signer.pub.pem",
    ):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_example_command_writes_a_set(tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = run(["example", "set", str(target)])
    assert result.exit_code == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in SAMPLE.iterdir())
    shutil.rmtree(target)


def test_verify_keeps_a_sequence_store_and_refuses_rollback(tmp_path: Path) -> None:
    """The main job with --sequence-store records the accepted set's sequence; a store that has
    seen a newer set of the same id refuses this one (exit 1, refvalues_rollback)."""
    store = tmp_path / "sequences.json"
    result = run([*TDX, "--sequence-store", str(store)])
    assert result.exit_code == 0, result.output
    recorded = json.loads(store.read_text())
    assert set(recorded) == {"ccverify-example-tdx"}
    store.write_text(json.dumps({"ccverify-example-tdx": recorded["ccverify-example-tdx"] + 1}))
    refused = run([*TDX, "--sequence-store", str(store)])
    assert refused.exit_code == 1, refused.output
    assert "refvalues_rollback" in refused.output


def test_an_unsigned_set_is_checked_against_the_store_but_not_recorded(tmp_path: Path) -> None:
    from ccverify.verifier.refvalues import encode, load_reference_values
    from ccverify.verifier.refvalues.profile import MemorySequenceStore

    signed = load_reference_values(
        SAMPLE / "tdx-refvalues.cbor", [SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"], at=AT
    )
    unsigned = type(signed)(**{**signed.__dict__, "sequence": signed.sequence + 100})
    store = MemorySequenceStore()
    load_reference_values(encode(unsigned), [], at=AT, require_signed=False, sequence_store=store)
    assert store.last(signed.id) is None  # a later genuine, signed set is not locked out
    store.record(signed.id, signed.sequence + 200)
    with pytest.raises(Exception, match="rollback"):
        load_reference_values(encode(unsigned), [], at=AT, require_signed=False, sequence_store=store)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"tdx": {"x": ' + "7" * 5000 + "}}"])
def test_a_policy_file_json_cannot_take_exits_2(tmp_path: Path, text: str) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(text)
    result = run([*TDX, "--policy", str(policy)])
    assert result.exit_code == 2, result.output
    assert "unexpected" not in result.output and "not valid JSON" in result.output
