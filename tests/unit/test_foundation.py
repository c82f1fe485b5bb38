"""Errors, JSON rendering, time parsing, format detection and the CLI's failure handling."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from ccverify.cli._common import maybe_unhex
from ccverify.cli.app import app
from ccverify.verifier.errors import (
    CollateralError,
    InputError,
    ParseError,
    PolicyError,
    VerificationError,
    exit_code,
)
from ccverify.verifier.evidence._binary import Reader
from ccverify.verifier.evidence.detect import Kind, detect
from ccverify.verifier.jsonable import flag_names, to_jsonable
from ccverify.verifier.result import AttestationResult, Tier, tier_of
from ccverify.verifier.timeutil import parse_time, resolve_time
from tests.conftest import fixture_bytes


def test_parse_error_names_structure_field_and_offset() -> None:
    err = ParseError("TdxQuote", "header.version", 0x30, "unsupported version 7")
    assert str(err) == "TdxQuote.header.version at offset 48 (0x30): unsupported version 7"
    assert (err.structure, err.field, err.offset) == ("TdxQuote", "header.version", 48)


def test_verification_error_carries_code_and_values() -> None:
    err = VerificationError("mrtd_mismatch", "MRTD differs", expected=b"\x01", actual=b"\x02")
    assert err.code == "mrtd_mismatch"
    assert str(err) == "mrtd_mismatch: MRTD differs (expected 01, got 02)"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ParseError("X", "f", 0, "bad"), 2),
        (InputError("bad option"), 2),
        (VerificationError("c", "d"), 1),
        (PolicyError("c", "d"), 1),
        (CollateralError("need TCB info", missing="https://example/tcb"), 3),
        (RuntimeError("x"), 2),
    ],
)
def test_exit_codes(error: BaseException, code: int) -> None:
    assert exit_code(error) == code


def test_reader_reports_truncation_with_absolute_offset() -> None:
    reader = Reader(b"\x01\x02\x03", "Thing", base=100)
    assert reader.u16("a", 0) == 0x0201
    with pytest.raises(ParseError) as info:
        reader.u32("b", 1)
    assert info.value.offset == 101
    assert "needs 4 bytes but only 2 remain" in str(info.value)
    with pytest.raises(ParseError) as zero:
        Reader(b"\x00\x00\x05", "Thing").expect_zero("reserved", 0, 3)
    assert zero.value.offset == 2


class _Bits(enum.IntFlag):
    A = 1
    B = 4


@dataclass(frozen=True)
class _Sample:
    raw: bytes
    bits: _Bits
    when: datetime
    hidden: int = field(default=0, metadata={"json": False})


def test_to_jsonable_conventions() -> None:
    value = _Sample(b"\xab\xcd", _Bits.A | _Bits.B | _Bits(2), datetime(2026, 1, 2, tzinfo=UTC))
    assert to_jsonable(value) == {"raw": "abcd", "bits": ["A", "bit1", "B"], "when": "2026-01-02T00:00:00Z"}
    assert flag_names(_Bits(0)) == []


def test_time_parsing() -> None:
    assert parse_time("2025-07-19T10:00:34Z", "at") == datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)
    assert resolve_time(datetime(2025, 1, 1)).tzinfo is UTC
    with pytest.raises(InputError, match="not an ISO 8601 time"):
        parse_time("yesterday", "--at")


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("tdx/dcap-qvl/tdx_quote", Kind.TDX_QUOTE),
        ("tdx/go-tdx-guest/quote_v5_sample.dat", Kind.TDX_QUOTE),
        ("tdx/dcap-qvl/near_gas_test_quote_hex.txt", Kind.TDX_QUOTE),
        ("snp/go-sev-guest/attestation.bin", Kind.SNP_REPORT),
        ("snp/project-oak/turin_oc_report.bin", Kind.SNP_REPORT),
        ("measure/go-eventlog/ccel/cos-113-intel-tdx.bin", Kind.EVENT_LOG),
        ("measure/go-eventlog/ccel/CCEL.bin", Kind.CCEL_TABLE),
        ("corim/signed-good-corim.cbor", Kind.CORIM),
        ("corim/unsigned-good-corim.cbor", Kind.CORIM),
        ("tdx/dcap-qvl/sgx_quote", Kind.TDX_QUOTE),
        ("tdx/dcap-qvl/tdx-quote.hex", Kind.TDX_QUOTE),
    ],
)
def test_detect_real_files(path: str, kind: Kind) -> None:
    assert detect(maybe_unhex(fixture_bytes(path))) is kind


def test_maybe_unhex_leaves_binary_alone() -> None:
    assert maybe_unhex(b"\x00\x01") == b"\x00\x01"
    assert maybe_unhex(b"0a0B\n") == b"\x0a\x0b"


def test_results_cannot_be_fabricated() -> None:
    with pytest.raises(TypeError):
        AttestationResult(  # type: ignore[call-arg]
            evidence_kind="tdx",
            trust_vector={"executables": 2},
            reasons=(),
            issued_at=datetime(2026, 1, 1, tzinfo=UTC),
            evidence_sha256="00",
        )
    assert tier_of(2) is Tier.AFFIRMING
    assert tier_of(33) is Tier.WARNING
    assert tier_of(99) is Tier.CONTRAINDICATED
    assert tier_of(0) is Tier.NONE


def test_cli_unrecognised_input_is_one_line_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world")
    result = CliRunner().invoke(app, ["show", str(junk)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "not a recognised format" in result.output


def test_cli_missing_file_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["show", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", ["comid_seam_refval.cbor", "comid_qe_refval.cbor", "comid-1.cbor"])
def test_show_decodes_bare_comids(name: str) -> None:
    from tests.conftest import fixture

    result = CliRunner().invoke(app, ["show", str(fixture(f"corim/{name}")), "--json"])
    assert result.exit_code == 0, result.output
    assert '"kind": "corim"' in result.output


def test_cli_start_up_loads_no_parser_and_no_cryptography() -> None:
    """The initramfs hook pays for start-up: a command loads what it needs when it runs."""
    import subprocess
    import sys

    probe = (
        "import sys, ccverify.cli.app; "
        "print(sorted(m for m in sys.modules if m.startswith(('cryptography', 'rich', "
        "'ccverify.verifier.evidence.', 'ccverify.verifier.tdx', 'ccverify.verifier.snp'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_guarded_maps_errors_to_one_line_and_an_exit_code_and_lets_typer_exits_through(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """cli._common imports no typer (the measure fast path runs without it): its errors end in
    SystemExit with the error's code; a typer Exit a command raised on purpose passes through."""
    import typer

    from ccverify.cli._common import guarded
    from ccverify.verifier.errors import CollateralError, InputError

    def raising(error: BaseException) -> None:
        raise error

    cases: list[tuple[BaseException, int]] = [
        (InputError("bad option"), 2),
        (CollateralError("PCS unreachable"), 3),
        (FileNotFoundError(2, "No such file or directory", "/nope"), 2),
        (RuntimeError("surprise"), 2),
    ]
    for error, code in cases:
        with pytest.raises(SystemExit) as done:
            guarded(lambda error=error: raising(error))  # type: ignore[misc]
        assert done.value.code == code
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error")
    with pytest.raises(typer.Exit) as exited:
        guarded(lambda: raising(typer.Exit(0)))
    assert exited.value.exit_code == 0
    assert capsys.readouterr().err == ""


def test_detect_knows_the_snp_report_size_without_the_snp_parser() -> None:
    """``detect`` keeps its own copy of the SNP report's size (the TDX-only guest path need not
    load the SNP parser); it is the parser's."""
    from ccverify.verifier.evidence import detect, snp_report

    assert detect.SNP_REPORT_SIZE == snp_report.REPORT_SIZE
