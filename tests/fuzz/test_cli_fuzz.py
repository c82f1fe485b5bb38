"""Mutated evidence through the real CLI: every outcome is a deliberate one.

``cli._common.guarded`` turns any exception into exit 2, so a bug could hide behind a
clean exit code. These tests fail if an input ever reaches that fallback (it prints
"error (unexpected): ..."), or if the CLI prints a traceback. A deliberate message may say
"unexpected" itself ("unexpected PCK CA certificate"), so the fallback's own words are matched.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ccverify.cli.app import app
from tests.conftest import REPO

SAMPLE = REPO / "reference-values" / "examples"
AT = "2026-01-15T00:00:00Z"
SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for position, value in flips:
        out[position % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


def _deliberate(result) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code in (0, 1, 2, 3), result.output
    assert "error (unexpected)" not in result.output, result.output
    assert "Traceback" not in result.output


mutations = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6)
cuts = st.one_of(st.none(), st.integers(0, 6000))


@SETTINGS
@given(flips=mutations, cut=cuts)
def test_mutated_quote_through_verify(tmp_path: Path, flips: list[tuple[int, int]], cut: int | None) -> None:
    quote = tmp_path / "q.dat"
    quote.write_bytes(_mutate((SAMPLE / "tdx-quote.dat").read_bytes(), flips, cut))
    result = CliRunner().invoke(
        app,
        ["verify", str(quote), "--collateral", str(SAMPLE / "tdx-collateral.json"),
         "--trust-root", str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"), "--at", AT, "--offline",
         "--reference-values", str(SAMPLE / "tdx-refvalues.cbor"),
         "--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"),
         "--event-log", str(SAMPLE / "tdx-event-log.bin")],
    )  # fmt: skip
    _deliberate(result)


@SETTINGS
@given(flips=mutations, cut=cuts)
def test_mutated_collateral_through_verify(
    tmp_path: Path, flips: list[tuple[int, int]], cut: int | None
) -> None:
    collateral = tmp_path / "c.json"
    collateral.write_bytes(_mutate((SAMPLE / "tdx-collateral.json").read_bytes(), flips, cut))
    result = CliRunner().invoke(
        app,
        ["verify", str(SAMPLE / "tdx-quote.dat"), "--collateral", str(collateral),
         "--trust-root", str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"), "--at", AT, "--offline"],
    )  # fmt: skip
    _deliberate(result)


@SETTINGS
@given(flips=mutations, cut=cuts)
def test_mutated_event_log_and_refvalues(
    tmp_path: Path, flips: list[tuple[int, int]], cut: int | None
) -> None:
    log = tmp_path / "log.bin"
    log.write_bytes(_mutate((SAMPLE / "tdx-event-log.bin").read_bytes(), flips, cut))
    rv = tmp_path / "rv.cbor"
    rv.write_bytes(_mutate((SAMPLE / "tdx-refvalues.cbor").read_bytes(), flips[:2], None))
    result = CliRunner().invoke(
        app,
        ["verify", str(SAMPLE / "tdx-quote.dat"), "--collateral", str(SAMPLE / "tdx-collateral.json"),
         "--trust-root", str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"), "--at", AT, "--offline",
         "--reference-values", str(rv), "--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"),
         "--event-log", str(log)],
    )  # fmt: skip
    _deliberate(result)


@SETTINGS
@given(flips=mutations, cut=cuts)
def test_mutated_snp_evidence(tmp_path: Path, flips: list[tuple[int, int]], cut: int | None) -> None:
    report = tmp_path / "r.bin"
    report.write_bytes(_mutate((SAMPLE / "snp-report.bin").read_bytes(), flips, cut))
    vcek = tmp_path / "vcek.der"
    vcek.write_bytes(_mutate((SAMPLE / "snp-vcek.der").read_bytes(), flips[:1], None))
    result = CliRunner().invoke(
        app,
        ["verify", str(report), "--vcek", str(vcek), "--cert-chain", str(SAMPLE / "snp-cert-chain.pem"),
         "--crl", str(SAMPLE / "snp-crl.der"),
         "--trust-root", str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem"), "--at", AT, "--offline",
         "--reference-values", str(SAMPLE / "snp-refvalues.cbor"),
         "--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem")],
    )  # fmt: skip
    _deliberate(result)


@SETTINGS
@given(
    name=st.sampled_from(sorted(p.name for p in SAMPLE.iterdir() if p.suffix != ".md")),
    flips=mutations,
    cut=cuts,
)
def test_mutated_files_through_show(
    tmp_path: Path, name: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    target = tmp_path / name
    target.write_bytes(_mutate((SAMPLE / name).read_bytes(), flips, cut) or b"\x00")
    _deliberate(CliRunner().invoke(app, ["show", str(target), "--json"]))
