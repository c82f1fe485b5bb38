"""``ccverify show FILE``: any evidence, event log or reference values, auto-detected."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccverify.cli._common import emit_json, flatten, guarded, read_input, stdout, table
from ccverify.verifier.errors import InputError, ParseError

if TYPE_CHECKING:
    from rich.table import Table

    from ccverify.verifier.evidence.detect import Kind


def describe(data: bytes) -> tuple[Kind, Any]:
    """Parse ``data`` as whatever it is; the structure, ready for JSON or a table."""
    # imported here, not at start-up: detection knows the parsers, and other commands do not need them
    from ccverify.verifier.evidence.detect import Kind, detect

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
    if data[:1] and 0xA0 <= data[0] <= 0xBF:
        # a bare, untagged CoMID is just a CBOR map: try it before giving up
        from ccverify.verifier.refvalues.corim import describe_corim

        try:
            return Kind.CORIM, describe_corim(data)
        except ParseError:
            pass
    raise InputError(
        "not a recognised format: expected a TDX quote (v4/v5), an SNP attestation report, "
        "an SNP certificate table, a TCG2/CCEL event log or a CoRIM"
    )


def show(
    file: Annotated[Path, typer.Argument(help="Evidence file ('-' for stdin); hex text is accepted.")],
    json_out: Annotated[bool, typer.Option("--json", help="Every field as JSON.")] = False,
) -> None:
    """Show a TDX quote, SNP report, SNP certificate table, event log or CoRIM."""
    kind, parsed = guarded(lambda: describe(read_input(file, "file", "evidence")))
    if json_out:
        emit_json({"kind": kind.value, kind.value: parsed})
        return
    from ccverify.verifier.evidence.detect import Kind

    if kind is Kind.EVENT_LOG:
        stdout.print(_event_table(str(file), parsed))
        return
    stdout.print(table(f"{file} ({kind.value})", flatten(parsed)))


def _event_table(title: str, log: Any) -> Table:
    """One row per event: what a person compares against a boot they know."""
    from rich.table import Table

    from ccverify.verifier.evidence.eventlog import EventType, Flavour

    cc = log.flavour is Flavour.CCEL
    out = Table(
        title=f"{title} ({log.flavour.name} event log, {len(log.events)} events, {log.padding} bytes of padding)",
        title_justify="left",
    )
    out.add_column("#", justify="right")
    out.add_column("RTMR" if cc else "PCR", justify="right")
    out.add_column("type")
    out.add_column("digest", overflow="fold", max_width=20)
    out.add_column("event", overflow="fold")
    for event in log.events:
        register = str(event.index - 1) if cc and event.index > 0 else str(event.index)
        name = event.event_type.name.removeprefix("EV_") if isinstance(event.event_type, EventType) else hex(event.event_type)
        digest = next(iter(event.digests.values()), b"").hex()
        out.add_row(str(event.number), register, name, digest[:16] + "…" if digest else "-", event.describe())
    return out
