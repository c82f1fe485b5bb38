"""``ccverify guest evidence`` (``cli/guest_evidence.py``, registered in ``cli/guest.py``). The
example provider's evidence verifies with the shipped sample's reference values and event log;
configfs-tsm runs on the fake trees of ``guest_fakes``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import app as ccverify_app
from ccverify.cli.app import lazy_root
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.release import guest
from tests.cli_json import envelope, envelope_result
from tests.conftest import REPO
from tests.unit.guest_fakes import SAMPLE_CCEL, FakeKernel, sysfs_tree

SAMPLE = REPO / "reference-values" / "examples"
NONCE = "00112233445566778899aabbccddeeff"



def run(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(ccverify_app, ["guest", *args])


def test_the_lazy_root_has_guest_evidence() -> None:
    group = lazy_root().get_command(None, "guest")  # type: ignore[arg-type]
    assert group is not None and "evidence" in group.commands  # type: ignore[attr-defined]


def test_example_provider_writes_evidence_that_verifies(tmp_path: Path) -> None:
    out = tmp_path / "ev"
    result = run(["evidence", "--evidence-provider", "example", "--nonce", NONCE, "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    shown = envelope_result(result.stdout, "guest evidence")
    assert shown["hardware"] is False and "NOT HARDWARE" in shown["warning"]
    assert "NOT HARDWARE" in result.stderr
    assert shown["report_data"] == NONCE + "00" * 48
    assert shown["files"] == {"evidence": "tdx-quote.dat", "aux_blob": None, "event_log": "tdx-event-log.bin",
                              "rtmr3_log": None, "collateral": "tdx-collateral.json"}  # fmt: skip
    assert json.loads((out / "evidence.json").read_text()) == shown
    assert (out / "tdx-event-log.bin").read_bytes() == (SAMPLE / "tdx-event-log.bin").read_bytes()
    verified = CliRunner().invoke(ccverify_app, [
        "verify", str(out / "tdx-quote.dat"), "--collateral", str(out / "tdx-collateral.json"),
        "--trust-root", str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"),
        "--reference-values", str(SAMPLE / "tdx-refvalues.cbor"),
        "--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"),
        "--event-log", str(out / "tdx-event-log.bin"), "--json",
    ])  # fmt: skip
    assert verified.exit_code == 0, verified.output
    assert envelope_result(verified.stdout, "verify")["attestation_result"]["ear_status"] == "affirming"


def test_without_a_nonce_report_data_is_random(tmp_path: Path) -> None:
    first = run(["evidence", "--evidence-provider", "example", "-o", str(tmp_path / "a"), "--json"])
    second = run(["evidence", "--evidence-provider", "example", "-o", str(tmp_path / "b"), "--json"])
    values = {envelope_result(r.stdout, "guest evidence")["report_data"] for r in (first, second)}
    assert len(values) == 2


def test_configfs_on_a_fake_tree_with_the_rtmr3_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKernel(tmp_path / "config")
    monkeypatch.setattr(guest, "FileOps", lambda: fake)
    sysfs = sysfs_tree(tmp_path / "sys", ccel=SAMPLE_CCEL)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "rtmr3-events.bin").write_bytes(b"recorded extends")
    result = run(["evidence", "--nonce", "ab" * 64, "-o", str(tmp_path / "ev"),
                  "--evidence-provider", "configfs",
                  "--configfs-root", str(tmp_path / "config"), "--sysfs-root", str(sysfs),
                  "--run-dir", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "tdx evidence from configfs-tsm (tdx_guest)" in result.stdout
    quote = TdxQuote.from_bytes((tmp_path / "ev" / "tdx-quote.dat").read_bytes())
    assert quote.body.report_data == bytes.fromhex("ab" * 64)
    assert (tmp_path / "ev" / "tdx-event-log.bin").read_bytes() == SAMPLE_CCEL
    assert (tmp_path / "ev" / "rtmr3-events.bin").read_bytes() == b"recorded extends"
    assert not (tmp_path / "ev" / "tdx-collateral.json").exists()
    assert fake.removed == fake.made


@pytest.mark.parametrize(("nonce", "message"), [("xyz", "hex digits"), ("ab" * 65, "at most 64 bytes")])
def test_a_bad_nonce_is_exit_2(tmp_path: Path, nonce: str, message: str) -> None:
    args = ["evidence", "--evidence-provider", "example", "--nonce", nonce, "-o", str(tmp_path / "ev")]
    result = run([*args, "--json"])
    assert result.exit_code == 2
    document = envelope(result.stdout, "guest evidence")
    assert message in document["error"]["message"]
    assert not (tmp_path / "ev").exists()


def test_no_tee_is_exit_2_naming_the_example_provider(tmp_path: Path) -> None:
    result = run(["evidence", "-o", str(tmp_path / "ev"), "--configfs-root", str(tmp_path / "none"),
                  "--dev-root", str(tmp_path / "none")])  # fmt: skip
    assert result.exit_code == 2
    assert "no TEE evidence interface" in result.stderr and "--evidence-provider example" in result.stderr


def test_an_unknown_provider_is_exit_2(tmp_path: Path) -> None:
    result = run(["evidence", "-o", str(tmp_path / "ev"), "--evidence-provider", "tpm"])
    assert result.exit_code == 2
    assert "auto, configfs, sev-guest, example" in result.stderr


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("mine")
    result = run(["evidence", "--evidence-provider", "example", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "not empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
    forced = run(["evidence", "--evidence-provider", "example", "-o", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output


def test_snp_through_configfs_writes_the_report_and_certificate_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ccverify.verifier.evidence.snp_report import SnpReport
    from tests.unit.guest_fakes import SNP_CERTS, snp_outblob

    fake = FakeKernel(tmp_path / "config", provider="sev_guest", generate=snp_outblob)
    monkeypatch.setattr(guest, "FileOps", lambda: fake)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "rtmr3-events.bin").write_bytes(b"not for SNP")
    result = run(["evidence", "--nonce", NONCE, "-o", str(tmp_path / "ev"),
                  "--configfs-root", str(tmp_path / "config"), "--sysfs-root", str(tmp_path / "sys"),
                  "--run-dir", str(tmp_path / "run"), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = envelope_result(result.stdout, "guest evidence")
    assert shown["tee"] == "snp" and shown["hardware"] is True and shown["warning"] is None
    assert shown["files"] == {"evidence": "snp-report.bin", "aux_blob": "snp-cert-table.bin",
                              "event_log": None, "rtmr3_log": None, "collateral": None}  # fmt: skip
    report = SnpReport.from_bytes((tmp_path / "ev" / "snp-report.bin").read_bytes())
    assert report.report_data == bytes.fromhex(NONCE).ljust(64, b"\0")
    assert (tmp_path / "ev" / "snp-cert-table.bin").read_bytes() == SNP_CERTS
