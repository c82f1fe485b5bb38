"""``ccverify collateral``: warm a collateral cache, or build an offline bundle.

``fetch --quote QUOTE -o BUNDLE [--cache DIR] [--offline]`` gathers what a TDX quote needs
(TCB info for its FMSPC, TD QE identity, the PCK CRL of its CA, the root CA CRL): the cache
first, then Intel PCS unless ``--offline`` (network answers are written to the cache), and
writes them as one bundle file (for air-gapped hosts or an initramfs).
``bundle --cache DIR -o BUNDLE`` exports a whole cache as a bundle.
Exit 0 written, 2 bad input, 3 collateral unavailable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ccverify.cli._common import EXIT_OK, guarded, pcs_client, read_input, stdout, table, when
from ccverify.verifier.errors import InputError

app = typer.Typer(
    help="Warm a collateral cache or build an offline collateral bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("fetch")
def fetch(
    quote: Annotated[
        Path, typer.Option("--quote", help="TDX quote whose collateral to gather (binary or hex).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Bundle file to write.")],
    cache: Annotated[
        Path | None,
        typer.Option(
            help="Collateral cache directory (read first, then written); default $XDG_CACHE_HOME/ccverify/collateral."
        ),
    ] = None,
    offline: Annotated[bool, typer.Option(help="Never use the network: only the cache.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Seconds Intel PCS may take per request (default $CCVERIFY_NET_TIMEOUT, else 5); 429/503 are retried, announced on stderr.",
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Time the collateral must be valid at (ISO 8601; default now).")
    ] = None,
    pcs_url: Annotated[
        str | None,
        typer.Option(help="PCS or PCCS base URL (default $CCVERIFY_PCS_URL, else Intel PCS; API key from $CCVERIFY_PCS_API_KEY)."),
    ] = None,
) -> None:
    """Gather the collateral a TDX quote needs into an offline bundle."""

    def work() -> list[tuple[str, str]]:
        from datetime import UTC, datetime

        from ccverify.verifier.collateral.bundle import CollateralBundle
        from ccverify.verifier.collateral.cache import CollateralCache, default_cache_dir
        from ccverify.verifier.collateral.pcs import gather_tdx_collateral
        from ccverify.verifier.evidence.tdx_quote import TdxQuote
        from ccverify.verifier.timeutil import parse_time

        parsed = TdxQuote.from_bytes(read_input(quote, "--quote", "evidence"))
        moment = parse_time(at, "--at") if at is not None else datetime.now(UTC)
        store = CollateralCache(cache if cache is not None else default_cache_dir())
        client = None if offline else pcs_client(pcs_url, timeout)
        _collateral, entries = gather_tdx_collateral(parsed, at=moment, cache=store, client=client)
        CollateralBundle.write(output, entries)
        return [(e.url, f"{when(e.not_before)} .. {when(e.not_after)}") for e in entries]

    rows = guarded(work)
    stdout.print(table(f"bundle {output}", rows))
    raise typer.Exit(EXIT_OK)


@app.command("bundle")
def bundle(
    cache: Annotated[Path, typer.Option(help="Collateral cache directory to export.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Bundle file to write.")],
) -> None:
    """Export every entry of a collateral cache as one offline bundle."""

    def work() -> int:
        from ccverify.verifier.collateral.bundle import CollateralBundle
        from ccverify.verifier.collateral.cache import CollateralCache

        if not cache.is_dir():
            raise InputError(f"--cache {cache}: not a directory")
        entries = CollateralCache(cache).entries()
        CollateralBundle.write(output, entries)
        return len(entries)

    count = guarded(work)
    stdout.print(f"wrote {count} entries to {output}")
    raise typer.Exit(EXIT_OK)
