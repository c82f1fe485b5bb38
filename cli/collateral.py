"""``ccverify collateral``: warm a collateral cache, or build an offline bundle.

``fetch --quote QUOTE -o BUNDLE [--cache DIR] [--offline]`` gathers what a TDX quote needs
(TCB info for its FMSPC, TD QE identity, the PCK CRL of its CA, the root CA CRL): the cache
first, then Intel PCS unless ``--offline`` (network answers are written to the cache), and
writes them as one bundle file (for air-gapped hosts or an initramfs).
``bundle --cache DIR -o BUNDLE`` exports a whole cache as a bundle. With ``--json`` both print
the envelope whose ``result`` is ``{"output": BUNDLE, "entries": [{"url", "not_before",
"not_after"}]}`` (``cli/schemas/collateral-fetch.schema.json``, ``collateral-bundle``).
Exit 0 written, 2 bad input, 3 collateral unavailable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ccverify.cli._common import EXIT_OK, emit_json, guarded, pcs_client, read_input, stdout, table, when
from ccverify.verifier.errors import InputError

app = typer.Typer(
    help="Warm a collateral cache or build an offline collateral bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


#: what ``--json`` prints
_JSON_HELP = "Print the result as one JSON envelope (see README)."


def _entry_json(entry: Any) -> dict[str, Any]:
    return {"url": entry.url, "not_before": entry.not_before, "not_after": entry.not_after}


@app.command("fetch")
def fetch(
    quote: Annotated[
        Path,
        typer.Option("--quote", metavar="EVIDENCE", help="TDX quote whose collateral to gather (binary or hex; '-' for stdin)."),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE", help="Bundle file to write.")],
    cache: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Collateral cache directory (read first, then written); default ccverify/collateral under "
            "$XDG_CACHE_HOME (else ~/.cache).",
        ),
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Never use the network: only the cache.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Seconds Intel PCS may take per request (default $CCVERIFY_NET_TIMEOUT, else 5); 429/503 are retried, announced on stderr.",
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option(metavar="TIME", help="Time the collateral must be valid at (RFC 3339; default now).")
    ] = None,
    pcs_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="PCS or PCCS base URL (default $CCVERIFY_PCS_URL, else Intel PCS; API key from $CCVERIFY_PCS_API_KEY).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Gather the collateral a TDX quote needs into an offline bundle."""
    command = "collateral fetch" if json_out else None

    def work() -> list[Any]:
        from datetime import UTC, datetime

        from ccverify.verifier.collateral.bundle import CollateralBundle
        from ccverify.verifier.collateral.cache import CollateralCache, default_cache_dir
        from ccverify.verifier.collateral.pcs import gather_tdx_collateral
        from ccverify.verifier.evidence.tdx_quote import TdxQuote
        from ccverify.verifier.timeutil import parse_time

        parsed = TdxQuote.from_bytes(read_input(quote, "--quote", "evidence"))
        moment = parse_time(at, "--at") if at is not None else datetime.now(UTC).replace(microsecond=0)
        store = CollateralCache(cache if cache is not None else default_cache_dir())
        client = None if offline else pcs_client(pcs_url, timeout)
        _collateral, entries = gather_tdx_collateral(parsed, at=moment, cache=store, client=client)
        CollateralBundle.write(output, entries)
        return list(entries)

    entries = guarded(work, command)
    if json_out:
        emit_json({"output": str(output), "entries": [_entry_json(e) for e in entries]}, "collateral fetch")
    else:
        rows = [(e.url, f"{when(e.not_before)} .. {when(e.not_after)}") for e in entries]
        stdout.print(table(f"bundle {output}", rows))
    raise typer.Exit(EXIT_OK)


@app.command("bundle")
def bundle(
    cache: Annotated[Path, typer.Option(metavar="DIR", help="Collateral cache directory to export.")],
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE", help="Bundle file to write.")],
    json_out: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Export every entry of a collateral cache as one offline bundle."""
    command = "collateral bundle" if json_out else None

    def work() -> list[Any]:
        from ccverify.verifier.collateral.bundle import CollateralBundle
        from ccverify.verifier.collateral.cache import CollateralCache

        if not cache.is_dir():
            raise InputError(f"--cache {cache}: not a directory")
        entries = CollateralCache(cache).entries()
        CollateralBundle.write(output, entries)
        return list(entries)

    entries = guarded(work, command)
    if json_out:
        emit_json({"output": str(output), "entries": [_entry_json(e) for e in entries]}, "collateral bundle")
    else:
        stdout.print(f"wrote {len(entries)} entries to {output}", highlight=False)
    raise typer.Exit(EXIT_OK)
