"""The ``ccverify`` command: one typer root, one module per command group."""

from __future__ import annotations

import typer

from ccverify.cli import collateral, example, measure, reference, show, verify

app = typer.Typer(
    name="ccverify",
    help=(
        "Verify confidential-VM evidence (Intel TDX quotes, AMD SEV-SNP reports) and boot "
        "configuration against signed reference values. Exit codes: 0 ok, 1 verification "
        "failed, 2 bad input or usage, 3 collateral or network unavailable."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Verify confidential-VM evidence and boot configuration."""


app.command("show")(show.show)
app.command("verify")(verify.verify)
app.command("example", hidden=True)(example.example)
app.add_typer(collateral.app, name="collateral", help="Fetch TDX collateral into a cache, or build an offline bundle.")
app.add_typer(measure.app, name="measure", help="Compute expected launch measurements offline (image builders).")
app.add_typer(reference.app, name="reference", help="Create, show and verify signed reference values (CoRIM in COSE_Sign1).")


def main() -> None:
    # click reports usage errors with exit 2 itself, which is also our "bad input" code
    app()


if __name__ == "__main__":
    main()
