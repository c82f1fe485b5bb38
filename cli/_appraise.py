"""The end of ``ccverify verify``, alike for TDX and SNP: policy, appraisal, output, exit code.

A platform runner verifies the evidence under the policy (``verify_tdx``/``verify_snp`` apply
it) and hands the verdict, and the policy's refusal if any, to ``conclude``. A refusal is reported in the verdict (table row or ``policy_error`` in JSON) and
as one line on stderr, exit 1. An accepted verdict is appraised against reference values and
the event log when they were given (the EAR-shaped result decides: 0 only when affirming),
and otherwise printed, exit 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from ccverify.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    VerifyOptions,
    emit_json,
    fail,
    guarded,
    read_input,
    stdout,
    table,
)
from ccverify.verifier.errors import InputError, PolicyError
from ccverify.verifier.jsonable import to_jsonable

if TYPE_CHECKING:
    from ccverify.verifier.result import AttestationResult


def conclude(
    opts: VerifyOptions,
    platform: str,
    verdict: Any,
    policy: Any,
    refusal: PolicyError | None,
    title: str,
    rows: list[tuple[str, Any]],
) -> NoReturn:
    """Print the verdict ("result" row first: accepted, or ``refusal``) and exit."""
    outcome = "verified; policy accepted" if refusal is None else f"verified; policy REFUSED: {refusal}"
    rows = [("result", outcome), *rows]
    if refusal is None and _wanted(opts):
        _finish(opts, platform, verdict, policy, title, rows)
    if opts.json:
        emit_json(
            {
                "platform": platform,
                "status": "verified",
                "accepted": refusal is None,
                "policy_error": None
                if refusal is None
                else {
                    **_violation(refusal),
                    "violations": [_violation(v) for v in refusal.violations],
                },
                "verdict": verdict,
                "policy": policy,
            }
        )
    else:
        stdout.print(table(title, rows))
    if refusal is not None:
        fail(refusal)
    raise typer.Exit(EXIT_OK)


def _violation(error: PolicyError) -> dict[str, Any]:
    return {
        "code": error.code,
        "detail": error.detail,
        "expected": _plain(error.expected),
        "actual": _plain(error.actual),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _wanted(opts: VerifyOptions) -> bool:
    return opts.reference_values is not None or opts.event_log is not None


def _finish(opts: VerifyOptions, platform: str, verdict: Any, policy: Any, title: str, rows: list[tuple[str, Any]]) -> NoReturn:
    """Appraise, print verdict and result, exit 0 if affirming and 1 if not."""
    anchors = [opts.trust_anchor] if opts.trust_anchor is not None else []
    result = guarded(lambda: appraise_options(opts, verdict, policy, anchors))
    if opts.json:
        emit_json({"platform": platform, "status": "verified", "verdict": verdict, "attestation_result": result.to_json()})
    else:
        stdout.print(table(title, rows))
        stdout.print(_result_table(result))
    raise typer.Exit(EXIT_OK if result.affirming else EXIT_FAILED)


def appraise_options(opts: VerifyOptions, verdict: Any, policy: Any, anchors: Sequence[Path]) -> AttestationResult:
    """Appraise ``verdict`` against the reference values and event log of ``opts`` (the reference
    values signed by one of ``anchors``)."""
    from ccverify.verifier.appraisal import appraise
    from ccverify.verifier.refvalues import FileSequenceStore, load_reference_values

    reference_values = None
    if opts.reference_values is not None:
        store = FileSequenceStore(opts.sequence_store) if opts.sequence_store is not None else None
        reference_values = load_reference_values(
            opts.reference_values, list(anchors), at=opts.at, sequence_store=store
        )
    log: Any = read_input(opts.event_log, "--event-log", "event_log") if opts.event_log is not None else None
    if opts.rtmr3_log is not None:
        from ccverify.verifier.evidence.rtmr3_log import with_runtime_log

        if log is None:
            raise InputError("--rtmr3-log follows the firmware's CCEL: give --event-log too")
        log = with_runtime_log(log, read_input(opts.rtmr3_log, "--rtmr3-log", "event_log"))
    return appraise(verdict, reference_values, event_log=log, policy=policy, evidence=opts.evidence, at=opts.at)


def attest(opts: VerifyOptions, anchors: Sequence[Path]) -> tuple[str, Any, AttestationResult]:
    """What ``ccverify verify`` decides, without printing: verify the evidence of ``opts``
    (TDX or SNP, detected) under its policy (a refusal raises the ``PolicyError``) and appraise.
    Returns the platform, the verdict and the attestation result."""
    from ccverify.verifier.evidence.detect import Kind, detect

    kind = detect(opts.evidence)
    if kind is Kind.TDX_QUOTE:
        from ccverify.cli import verify_tdx

        tdx_verdict, tdx_policy, refusal = verify_tdx.verify_evidence(opts)
        if refusal is not None:
            raise refusal
        return "tdx", tdx_verdict, appraise_options(opts, tdx_verdict, tdx_policy, anchors)
    if kind is Kind.SNP_REPORT:
        from ccverify.cli import verify_snp

        snp_verdict, snp_policy, refusal = verify_snp.verify_evidence(opts)
        if refusal is not None:
            raise refusal
        return "snp", snp_verdict, appraise_options(opts, snp_verdict, snp_policy, anchors)
    raise InputError(f"{opts.evidence_path}: not a TDX quote or an SNP attestation report (looks like: {kind.value})")


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
