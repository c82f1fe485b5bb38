"""The appraisal step of ``ccverify verify``: reference values and the event log.

Runs after a platform runner has verified the evidence and applied the policy. It
prints the EAR-shaped result and decides the exit code: 0 only for an affirming result.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer

from ccverify.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    VerifyOptions,
    emit_json,
    guarded,
    read_input,
    stdout,
    table,
)
from ccverify.verifier.jsonable import to_jsonable


def wanted(opts: VerifyOptions) -> bool:
    return opts.reference_values is not None or opts.event_log is not None


def finish(opts: VerifyOptions, platform: str, verdict: Any, policy: Any, title: str, rows: list[tuple[str, Any]]) -> NoReturn:
    """Appraise, print verdict and result, exit 0 if affirming and 1 if not."""
    from ccverify.verifier.appraisal import appraise
    from ccverify.verifier.refvalues import load_reference_values

    def run() -> Any:
        reference_values = None
        if opts.reference_values is not None:
            anchors = [opts.trust_anchor] if opts.trust_anchor is not None else []
            reference_values = load_reference_values(opts.reference_values, anchors, at=opts.at)
        log = read_input(opts.event_log, "event log") if opts.event_log is not None else None
        return appraise(verdict, reference_values, event_log=log, policy=policy, evidence=opts.evidence, at=opts.at)

    result = guarded(run)
    if opts.json:
        emit_json({"platform": platform, "status": "verified", "verdict": verdict, "attestation_result": result.to_json()})
    else:
        stdout.print(table(title, rows))
        stdout.print(_result_table(result))
    raise typer.Exit(EXIT_OK if result.affirming else EXIT_FAILED)


def _result_table(result: Any) -> Any:
    from rich.table import Table

    status = result.status.name.lower()
    colour = "green" if result.affirming else "red"
    vector = ", ".join(f"{claim}={value}" for claim, value in result.trust_vector.items())
    out = Table(
        title=f"attestation result: [{colour}]{status}[/]  ({vector})",
        title_justify="left",
        show_header=True,
        header_style="bold",
    )
    for column in ("claim", "code", "detail", "expected", "actual"):
        out.add_column(column, overflow="fold")
    for reason in result.reasons:
        shown = to_jsonable(reason)
        keys = ("claim", "code", "detail") if reason.code == "ok" else ("claim", "code", "detail", "expected", "actual")
        out.add_row(*(str(shown.get(key) or "") for key in keys))
    return out
