"""``ccverify example``: evidence made by the project's example PKI, for tests and demos.

* ``example set DIR [--force]`` writes the sample set (TDX and SNP evidence, collateral, the
  EXAMPLE roots, signed reference values; what ``reference-values/examples/`` holds). A
  directory that is not empty is refused unless ``--force`` (which overwrites the set's own
  file names and leaves other files alone).
* ``example tdx-quote --report-data HEX -o FILE [--collateral-out FILE]`` mints a TDX quote
  for that REPORT_DATA with the sample's measurements, so the sample's reference values and
  event log apply, and collateral valid from now for 30 days. Both chain to
  ``EXAMPLE-ROOT-NOT-TRUSTED-intel.pem``: a verifier or service accepts them only where that
  root is named explicitly.

Nothing here comes from TEE hardware; the output says so. ``ccverify example DIR`` (the
spelling before ``example`` became a group) is refused with the new spelling.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from ccverify.cli._common import emit_json, guarded, stderr, stdout
from ccverify.cli._hex import parse_hex

if TYPE_CHECKING:
    from typer._click.core import Command, Context

NOT_HARDWARE = (
    "example evidence made by ccverify's example PKI (EXAMPLE-ROOT-NOT-TRUSTED-intel.pem), "
    "not by TEE hardware; it verifies only where that root is named explicitly"
)


class _ExampleGroup(TyperGroup):
    """Refuses the old ``example DIR`` spelling with the new one (``example set DIR``)."""

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            ctx.fail(
                f"no example command {args[0]!r}. To write the sample set into a folder: "
                f"ccverify example set {args[0]} (it was 'ccverify example DIR')"
            )
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_ExampleGroup,
    help="Evidence made by the example PKI (not hardware): the sample set, or a quote for a REPORT_DATA.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_JSON = typer.Option("--json", help="Print the --json envelope (cli/schemas/example-*.schema.json).")


@app.command("set")
def example_set(
    directory: Annotated[Path, typer.Argument(help="Folder to write the sample set into.")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that is not empty (same-named files are replaced).")
    ] = False,
    json_output: Annotated[bool, _JSON] = False,
) -> None:
    """Write the example evidence set (TDX and SNP) under EXAMPLE roots that nothing trusts by default."""
    from ccverify.verifier.testing.sample import write_example

    written = guarded(lambda: write_example(directory, force=force), "example set" if json_output else None)
    if json_output:
        emit_json(
            {"directory": str(directory), "files": list(written.files), "not_hardware": NOT_HARDWARE}, "example set"
        )
        return
    for name in written.files:
        stdout.print(str(directory / name), highlight=False)


@app.command("tdx-quote")
def example_tdx_quote(
    report_data: Annotated[
        str,
        typer.Option(
            "--report-data",
            help="REPORT_DATA as hex: 64 bytes (128 digits); 1-63 bytes are zero-padded on the right.",
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write the quote to (binary).")],
    collateral_out: Annotated[
        Path | None,
        typer.Option("--collateral-out", help="File to write its collateral to (QuoteCollateralV3 JSON)."),
    ] = None,
    json_output: Annotated[bool, _JSON] = False,
) -> None:
    """Mint an example TDX quote for REPORT_DATA (the sample's measurements; collateral valid 30 days)."""

    def work() -> dict[str, Any]:
        from datetime import UTC, datetime

        from ccverify.verifier.testing.sample import (
            MINTED_COLLATERAL_LIFETIME,
            REPORT_DATA_SIZE,
            mint_tdx_quote,
        )

        data = parse_hex(report_data, "--report-data", max_size=REPORT_DATA_SIZE)
        now = datetime.now(UTC).replace(microsecond=0)
        quote, collateral = mint_tdx_quote(data, now=now)
        output.write_bytes(quote)
        if collateral_out is not None:
            collateral_out.write_bytes(collateral)
        return {
            "quote": str(output),
            "collateral": None if collateral_out is None else str(collateral_out),
            "report_data": data.ljust(REPORT_DATA_SIZE, b"\0"),
            "collateral_not_before": now,
            "collateral_not_after": now + MINTED_COLLATERAL_LIFETIME,
            "trust_root": "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem",
            "not_hardware": NOT_HARDWARE,
        }

    result = guarded(work, "example tdx-quote" if json_output else None)
    stderr.print(f"warning: {NOT_HARDWARE}", highlight=False, markup=False)
    if json_output:
        emit_json(result, "example tdx-quote")
        return
    stdout.print(str(result["quote"]), highlight=False)
    if result["collateral"] is not None:
        stdout.print(str(result["collateral"]), highlight=False)

