"""``mint_tdx_quote`` and ``ccverify example tdx-quote|set``: example evidence for a REPORT_DATA.

The minted quote chains to the shipped example root and carries the shipped sample's
measurements, so the sample's reference values and event log apply to it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccverify import verifier
from ccverify.cli.app import app
from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.refvalues import load_reference_values
from ccverify.verifier.testing.sample import mint_tdx_quote, sample_tdx_event_log
from tests.cli_json import envelope, envelope_result
from tests.conftest import REPO

SAMPLE = REPO / "reference-values" / "examples"
ROOT = SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"
MINTED_AT = datetime(2027, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
REPORT_DATA = bytes(range(64))


def _verify(quote: bytes, collateral: bytes, at: datetime) -> verifier.TdxVerdict:
    return verifier.verify_tdx(quote, verifier.load_collateral(_write(collateral)), at=at, trust_root=ROOT)


def _write(data: bytes, name: str = "collateral.json") -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / name
    path.write_bytes(data)
    return path


def test_minted_quote_verifies_under_the_example_root_and_appraises_affirming() -> None:
    quote, collateral = mint_tdx_quote(REPORT_DATA, now=MINTED_AT)
    at = MINTED_AT + timedelta(days=1)
    verdict = _verify(quote, collateral, at)
    assert verdict.status.name == "UpToDate"
    assert verdict.quote.body.report_data == REPORT_DATA
    anchor = SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"
    rv = load_reference_values(SAMPLE / "tdx-refvalues.cbor", [anchor], at=at)
    log = (SAMPLE / "tdx-event-log.bin").read_bytes()
    result = verifier.appraise(verdict, rv, event_log=log, at=at, expected_report_data=REPORT_DATA)
    assert result.affirming, result.to_json()


def test_minted_quote_has_the_sample_measurements() -> None:
    shipped = TdxQuote.from_bytes((SAMPLE / "tdx-quote.dat").read_bytes()).body
    minted = TdxQuote.from_bytes(mint_tdx_quote(REPORT_DATA, now=MINTED_AT)[0]).body
    for name in ("mr_td", "rtmrs", "td_attributes", "xfam", "tee_tcb_svn", "mr_seam", "mr_config_id"):
        assert getattr(minted, name) == getattr(shipped, name), name
    assert minted.report_data != shipped.report_data
    assert sample_tdx_event_log() == (SAMPLE / "tdx-event-log.bin").read_bytes()


def test_minted_quote_chains_to_the_shipped_root_only() -> None:
    quote, collateral = mint_tdx_quote(REPORT_DATA, now=MINTED_AT)
    pem = TdxQuote.from_bytes(quote).pck_chain_pem
    assert pem.endswith(ROOT.read_bytes().rstrip(b"\0"))
    with pytest.raises(VerificationError) as refused:  # production roots never trust it
        at = MINTED_AT + timedelta(days=1)
        verifier.verify_tdx(quote, verifier.load_collateral(_write(collateral)), at=at)
    assert refused.value.code == "untrusted_root"


def test_collateral_is_valid_from_now_for_30_days() -> None:
    quote, collateral = mint_tdx_quote(REPORT_DATA, now=MINTED_AT)
    start = MINTED_AT.replace(microsecond=0)
    _verify(quote, collateral, start)
    _verify(quote, collateral, start + timedelta(days=30, seconds=-1))
    for outside, code in ((start - timedelta(seconds=1), "collateral_not_yet_valid"),
                          (start + timedelta(days=30), "collateral_expired")):  # fmt: skip
        with pytest.raises(VerificationError) as refused:
            _verify(quote, collateral, outside)
        assert refused.value.code == code
    document = json.loads(collateral)
    assert '"issueDate":"2027-03-01T08:30:15Z"' in document["tcb_info"]
    assert '"nextUpdate":"2027-03-31T08:30:15Z"' in document["tcb_info"]


def test_minting_is_deterministic_and_pads_short_report_data() -> None:
    short = mint_tdx_quote(b"\x01\x02", now=MINTED_AT)
    assert short == mint_tdx_quote(b"\x01\x02" + bytes(62), now=MINTED_AT)
    padded = TdxQuote.from_bytes(mint_tdx_quote(b"\x01\x02", now=MINTED_AT)[0]).body.report_data
    assert padded == b"\x01\x02" + bytes(62)


@pytest.mark.parametrize("report_data", [b"", bytes(65)])
def test_report_data_size_is_bounded(report_data: bytes) -> None:
    with pytest.raises(InputError, match="REPORT_DATA is 1 to 64"):
        mint_tdx_quote(report_data, now=MINTED_AT)


def test_now_must_be_aware() -> None:
    with pytest.raises(InputError, match="aware"):
        mint_tdx_quote(REPORT_DATA, now=datetime(2027, 3, 1))


# --------------------------------------------------------------------------------------------
# the CLI


def run(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args)


def _verify_args(quote: Path, collateral: Path) -> list[str]:
    """The issue's command: the minted quote with the sample's files, at the current time."""
    return [
        "verify", str(quote), "--collateral", str(collateral), "--trust-root", str(ROOT),
        "--reference-values", str(SAMPLE / "tdx-refvalues.cbor"),
        "--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"),
        "--event-log", str(SAMPLE / "tdx-event-log.bin"), "--json",
    ]  # fmt: skip


def test_cli_mints_a_quote_that_verifies_now_affirming(tmp_path: Path) -> None:
    """Deliberately at the current time (no --at): what a service or demo does with it."""
    report_data = "c0ffee" * 21 + "ab"
    made = run(["example", "tdx-quote", "--report-data", report_data, "-o", str(tmp_path / "q.dat"),
                "--collateral-out", str(tmp_path / "c.json"), "--json"])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert envelope_result(made.stdout, "example tdx-quote")["report_data"] == report_data
    assert "not by TEE hardware" in made.stderr
    verified = run(_verify_args(tmp_path / "q.dat", tmp_path / "c.json"))
    assert verified.exit_code == 0, verified.output
    shown = envelope_result(verified.stdout, "verify")
    assert shown["attestation_result"]["ear_status"] == "affirming"
    assert shown["verdict"]["quote"]["body"]["report_data"] == report_data


def test_cli_short_report_data_is_zero_padded(tmp_path: Path) -> None:
    made = run(["example", "tdx-quote", "--report-data", "0xABCD", "-o", str(tmp_path / "q.dat"), "--json"])
    assert made.exit_code == 0, made.output
    shown = envelope_result(made.stdout, "example tdx-quote")
    assert shown["report_data"] == "abcd" + "00" * 62
    assert shown["collateral"] is None
    assert TdxQuote.from_bytes((tmp_path / "q.dat").read_bytes()).body.report_data == b"\xab\xcd" + bytes(62)


@pytest.mark.parametrize(
    ("value", "message"),
    [("xyz", "hex digits"), ("abc", "hex digits"), ("", "hex digits"), ("ab" * 65, "at most 64 bytes")],
)
def test_cli_bad_report_data_is_exit_2_with_an_envelope(tmp_path: Path, value: str, message: str) -> None:
    result = run(["example", "tdx-quote", "--report-data", value, "-o", str(tmp_path / "q.dat"), "--json"])
    assert result.exit_code == 2
    document = envelope(result.stdout, "example tdx-quote")
    assert document["error"]["class"] == "InputError" and message in document["error"]["message"]
    assert result.stderr.startswith("error (input): --report-data")
    assert not (tmp_path / "q.dat").exists()


def test_cli_unwritable_output_is_exit_2(tmp_path: Path) -> None:
    result = run(["example", "tdx-quote", "--report-data", "00", "-o", str(tmp_path / "no" / "q.dat")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_set_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    """Issue #14: a user's own README.md was replaced, exit 0."""
    (tmp_path / "README.md").write_text("mine\n")
    result = run(["example", "set", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "README.md").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_set_with_force_writes_the_set_and_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    result = run(["example", "set", str(tmp_path), "--force", "--json"])
    assert result.exit_code == 0, result.output
    shown = envelope_result(result.stdout, "example set")
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    assert sorted(shown["files"]) == sorted(p.name for p in SAMPLE.iterdir())


def test_the_old_spelling_names_the_new_one(tmp_path: Path) -> None:
    result = run(["example", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "ccverify example set" in result.output
    assert not (tmp_path / "out").exists()


def test_shipped_readme_is_the_generators() -> None:
    from ccverify.verifier.testing.sample import _README

    assert (SAMPLE / "README.md").read_text() == _README
