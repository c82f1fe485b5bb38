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
    if not data:
        raise InputError("empty input (an empty file, or a FIFO without a writer): nothing to show")
    # imported here, not at start-up: detection knows the parsers, and other commands do not need them
    from ccverify.verifier.evidence.detect import Kind, detect

    kind = detect(data)
    if kind is Kind.TDX_QUOTE:
        from ccverify.verifier.evidence.tdx_quote import TdxQuote

        return kind, _with_pck_chain(TdxQuote.from_bytes(data))
    if kind is Kind.SNP_REPORT:
        from ccverify.verifier.evidence.snp_report import SnpReport

        return kind, SnpReport.from_bytes(data)
    if kind is Kind.SNP_CERT_TABLE:
        from ccverify.verifier.evidence.certtable import CertTable

        return kind, _with_certificates(CertTable.from_bytes(data))
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
    from ccverify.verifier.certinfo import describe_all, described_json, looks_like_x509

    if looks_like_x509(data):
        return Kind.X509, {"items": described_json(describe_all(data))}
    raise InputError(
        "not a recognised format: expected a TDX quote (v4/v5), an SNP attestation report, "
        "an SNP certificate table, a TCG2/CCEL event log, a CoRIM, or certificates, CRLs or "
        "public keys (PEM or DER)"
    )


def _with_pck_chain(quote: Any) -> Any:
    """The quote's fields, with its PCK certificate chain decoded instead of PEM bytes in hex."""
    from ccverify.verifier.certinfo import describe_all, described_json
    from ccverify.verifier.jsonable import to_jsonable

    shown = to_jsonable(quote)
    if quote.pck_chain_pem:
        try:
            shown["pck_chain"] = described_json(describe_all(quote.pck_chain_pem))
        except InputError as error:
            shown["pck_chain"] = f"<undecodable: {error}>"
    return shown


def _with_certificates(table: Any) -> Any:
    """A certificate table with each entry's DER decoded (a CRL or certificate) beside its GUID."""
    from ccverify.verifier.certinfo import describe_all, described_json

    entries = []
    for entry in table.entries:
        try:
            decoded: Any = described_json(describe_all(entry.data))[0]
        except InputError as error:
            decoded = f"<undecodable: {error}> ({len(entry.data)} bytes)"
        entries.append({"guid": str(entry.guid), "kind": entry.kind, "decoded": decoded})
    return {"entries": entries}


def show(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Evidence file ('-' for stdin); hex text is accepted.")],
    json_out: Annotated[bool, typer.Option("--json", help="Every field as JSON.")] = False,
) -> None:
    """Show a TDX quote, SNP report, SNP certificate table, event log, CoRIM, or certificates."""
    kind, parsed = guarded(lambda: describe(read_input(file, "file", "evidence")), "show" if json_out else None)
    from ccverify.verifier.evidence.detect import Kind

    if json_out:
        shown = _event_log_json(parsed) if kind is Kind.EVENT_LOG else parsed
        emit_json({"kind": kind.value, kind.value: shown}, "show")
        return

    if kind is Kind.EVENT_LOG:
        stdout.print(_event_table(str(file), parsed))
        return
    stdout.print(table(f"{file} ({kind.value})", flatten(parsed)))


def _register_name(index: int) -> str:
    """CC MR index 0 is MRTD, 1-4 are RTMR0-3 (the index a CCEL event carries)."""
    return "MRTD" if index == 0 else f"RTMR{index - 1}"


def _event_log_json(log: Any) -> Any:
    """The log's JSON, each event's ``index`` (the CC MR index of a CCEL log, the PCR index of
    a TCG2 log) followed by the ``register`` it names, as the table says it: ``MRTD``,
    ``RTMR0``-``RTMR3`` (CC MR index 0-4), or ``PCR<n>``."""
    from ccverify.verifier.evidence.eventlog import Flavour
    from ccverify.verifier.jsonable import to_jsonable

    cc = log.flavour is Flavour.CCEL
    shown = to_jsonable(log)
    events = []
    for event in shown.get("events", []):
        out: dict[str, Any] = {}
        for key, value in event.items():
            out[key] = value
            if key == "index":
                out["register"] = _register_name(value) if cc else f"PCR{value}"
        events.append(out)
    shown["events"] = events
    return shown


def _event_table(title: str, log: Any) -> Table:
    """One row per event: what a person compares against a boot they know."""
    from rich.table import Table
    from rich.text import Text

    from ccverify.verifier.evidence.eventlog import EventType, Flavour

    cc = log.flavour is Flavour.CCEL
    out = Table(
        title=f"{title} ({log.flavour.name} event log, {len(log.events)} events, {log.padding} bytes of padding)",
        title_justify="left",
    )
    out.add_column("#", justify="right")
    out.add_column("register")
    out.add_column("type")
    out.add_column("digest", overflow="fold", max_width=20)
    out.add_column("event", overflow="fold")
    whole = not stdout.is_terminal  # a pipe gets every digest whole, to grep and compare
    for event in log.events:
        register = _register_name(event.index) if cc else f"PCR{event.index}"
        name = event.event_type.name if isinstance(event.event_type, EventType) else f"0x{event.event_type:x}"
        digest = next(iter(event.digests.values()), b"").hex()
        shown = digest if whole else digest[:16] + "…"
        # Text, not markup: an event's data is the log's (the host's) to choose
        cells = (str(event.number), register, name, shown if digest else "-", event.describe())
        out.add_row(*(Text(cell) for cell in cells))
    return out
