"""The command line's contract (issue #14): one spelling per value, in the table and the JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import app
from tests.cli_json import envelope_result
from tests.conftest import REPO
from tests.sample_args import SAMPLE, SNP, TDX, TDX_REFERENCE


def invoke(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args)


def rows(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if ": " in line and not line.startswith("#")]
    return dict(line.split(": ", 1) for line in lines)


def test_snp_product_policy_and_tcb_are_spelled_as_the_json_and_show_spell_them() -> None:
    verdict = envelope_result(invoke([*SNP, "--json"]).stdout, "verify")["verdict"]
    table = rows(invoke(SNP).stdout)
    assert table["product"].split()[0] == verdict["product"]
    shown = invoke(["show", str(SAMPLE / "snp-report.bin"), "--json"]).stdout
    report = envelope_result(shown, "show")["snp-report"]
    tcb = report["reported_tcb"]
    assert table["reported TCB"] == " ".join(f"{k}={v}" for k, v in tcb.items() if k != "raw")
    policy = report["policy"]
    assert table["guest policy"].startswith(f"0x{policy['raw']:x} ")
    for name, value in policy.items():
        if value is True:
            assert name in table["guest policy"]


def test_event_log_json_names_the_register_beside_the_cc_mr_index() -> None:
    log = envelope_result(invoke(["show", str(SAMPLE / "tdx-event-log.bin"), "--json"]).stdout, "show")
    events = log["event-log"]["events"]
    assert all(e["register"] == ("MRTD" if e["index"] == 0 else f"RTMR{e['index'] - 1}") for e in events)
    assert all(e["event_type"].startswith("EV_") for e in events)


def test_times_are_whole_seconds_when_at_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --at the verification time is now, in whole seconds (as every time printed)."""
    from ccverify.cli import verify_snp

    seen = []
    monkeypatch.setattr(verify_snp, "run", seen.append)
    assert invoke(SNP[:-2]).exit_code == 0
    (opts,) = seen
    assert opts.at.microsecond == 0 and opts.at.utcoffset() == timedelta(0)


def test_measurement_parameters_are_integers_not_0x_strings() -> None:
    ovmf = REPO / "tests" / "fixtures" / "measure" / "debian-ovmf" / "OVMF.fd.trixie-2025.02-8+deb13u1"
    args = ["measure", "snp", "--firmware", str(ovmf), "--vcpus", "2", "--vcpu-type", "EPYC-Milan"]
    done = invoke([*args, "--guest-features", "0x21", "--json"])
    assert done.exit_code == 0, done.output
    parameters = envelope_result(done.stdout, "measure snp")["parameters"]
    assert parameters["guest_features"] == 0x21 and parameters["vcpu_sig"] == 0xA00F11
    assert parameters["guest_feature_names"] == ["SNPActive", "DebugSwap"]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)] + [k for k in value if isinstance(k, str)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_no_json_document_writes_hex_with_0x() -> None:
    """Bytes are bare lowercase hex, integers JSON integers: no ``"0x..."`` anywhere."""
    tdx = [*TDX, *TDX_REFERENCE]
    runs = [(tdx, "verify"), (SNP, "verify")]
    shown = ("tdx-quote.dat", "snp-report.bin", "tdx-event-log.bin")
    runs += [(["show", str(SAMPLE / name)], "show") for name in shown]
    runs += [(["reference", "show", str(SAMPLE / "snp-refvalues.cbor")], "reference show")]
    for args, command in runs:
        document = envelope_result(invoke([*args, "--json"]).stdout, command)
        assert not [s for s in _strings(document) if s.startswith("0x")], (command, args[1])
