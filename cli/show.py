"""``ccverify show FILE``: any evidence, event log or reference values, auto-detected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ccverify.cli._common import emit_json, flatten, guarded, read_input, stdout, table
from ccverify.verifier.errors import InputError
from ccverify.verifier.evidence.detect import Kind, detect


def describe(data: bytes) -> tuple[Kind, Any]:
    """Parse ``data`` as whatever it is; the structure, ready for JSON or a table."""
    kind = detect(data)
    if kind is Kind.TDX_QUOTE:
        from ccverify.verifier.evidence.tdx_quote import TdxQuote

        return kind, TdxQuote.from_bytes(data)
    if kind is Kind.SNP_REPORT:
        from ccverify.verifier.evidence.snp_report import SnpReport

        return kind, SnpReport.from_bytes(data)
    if kind is Kind.SNP_CERT_TABLE:
        from ccverify.verifier.evidence.certtable import CertTable

        return kind, CertTable.from_bytes(data)
    if kind is Kind.EVENT_LOG:
        from ccverify.verifier.evidence.eventlog import EventLog

        return kind, EventLog.from_bytes(data)
    if kind is Kind.CCEL_TABLE:
        from ccverify.verifier.evidence.eventlog import CcelTable

        return kind, CcelTable.from_bytes(data)
    if kind is Kind.CORIM:
        from ccverify.verifier.refvalues.corim import describe_corim

        return kind, describe_corim(data)
    raise InputError(
        "not a recognised format: expected a TDX quote (v4/v5), an SNP attestation report, "
        "an SNP certificate table, a TCG2/CCEL event log or a CoRIM"
    )


def show(
    file: Annotated[Path, typer.Argument(help="Evidence file ('-' for stdin); hex text is accepted.")],
    json_out: Annotated[bool, typer.Option("--json", help="Every field as JSON.")] = False,
) -> None:
    """Show a TDX quote, SNP report, SNP certificate table, event log or CoRIM."""
    kind, parsed = guarded(lambda: describe(read_input(file)))
    if json_out:
        emit_json({"kind": kind.value, kind.value: parsed})
        return
    stdout.print(table(f"{file} ({kind.value})", flatten(parsed)))
