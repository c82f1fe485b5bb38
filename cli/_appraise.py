"""The end of ``ccverify verify``, alike for TDX and SNP: policy, appraisal, output, exit code.

A platform runner verifies the evidence under the policy (``verify_tdx``/``verify_snp`` apply
it) and hands the verdict, and the policy's refusal if any, to ``conclude``. A refusal is
reported in the verdict (table row, or ``policy_error`` in the JSON result beside the
envelope's ``error``) and as one line on stderr, exit 1. An accepted verdict is appraised against reference values and
the event log when they were given (the EAR-shaped result decides: 0 only when affirming),
and otherwise printed, exit 0; a result that is not affirming says its failing reasons in one
line on stderr (and in the envelope's ``error``), exit 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ccverify.cli._common import (
    EXIT_OK,
    VerifyOptions,
    about,
    emit_json,
    fail,
    guarded,
    read_input,
    sequence_store,
    stdout,
    table,
)
from ccverify.verifier.errors import Code, InputError, PolicyError, VerificationError
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
    document = {
        "platform": platform,
        "status": "verified",
        "accepted": refusal is None,
        "policy_error": None
        if refusal is None
        else {**_violation(refusal), "violations": [_violation(v) for v in refusal.violations]},
        "verdict": verdict,
        "policy": policy,
        "attestation_result": None,
    }
    if not opts.json:
        stdout.print(table(title, rows))
    if refusal is not None:
        fail(refusal, COMMAND if opts.json else None, result=document)
    if opts.json:
        emit_json(document, COMMAND)
    raise SystemExit(EXIT_OK)  # click passes it through; this module imports no typer (guest_run)


#: the words of the command, in its ``--json`` envelope
COMMAND = "verify"


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
    """Appraise, print verdict and result, exit 0 if affirming and 1 if not (one line on
    stderr naming the reasons, as every failure)."""
    command = COMMAND if opts.json else None
    anchors = [opts.trust_anchor] if opts.trust_anchor is not None else []
    result = guarded(lambda: appraise_options(opts, verdict, policy, anchors), command)
    document = {
        "platform": platform,
        "status": "verified",
        "accepted": True,
        "policy_error": None,
        "verdict": verdict,
        "policy": policy,
        "attestation_result": result.to_json(),
    }
    if not opts.json:
        stdout.print(table(title, rows))
        stdout.print(_result_table(result))
    if not result.affirming:
        fail(not_affirming(result), command, result=document)
    if opts.json:
        emit_json(document, COMMAND)
    raise SystemExit(EXIT_OK)  # click passes it through; this module imports no typer (guest_run)


def not_affirming(result: Any) -> VerificationError:
    """The error a result that is not affirming ends with: the first failing reason's code
    (``result_not_affirming`` if none failed), and every failing reason in one line."""
    failed = [reason for reason in result.reasons if reason.code != "ok"]
    status = result.status.name.lower()
    if not failed:
        return VerificationError(Code.RESULT_NOT_AFFIRMING, f"attestation result {status}")
    first = failed[0]
    shown = "; ".join(f"{reason.code} ({reason.claim}): {reason.detail}" for reason in failed)
    return VerificationError(
        first.code, f"attestation result {status}: {shown}", expected=first.expected, actual=first.actual
    )


def appraise_options(opts: VerifyOptions, verdict: Any, policy: Any, anchors: Sequence[Path]) -> AttestationResult:
    """Appraise ``verdict`` against the reference values and event log of ``opts`` (the reference
    values signed by one of ``anchors``)."""
    from ccverify.verifier.appraisal import appraise
    from ccverify.verifier.refvalues import load_reference_values, load_trust_anchors

    reference_values = None
    if opts.reference_values is not None:
        trusted = []
        for anchor in anchors:
            with about("--trust-anchor", anchor):
                trusted.extend(load_trust_anchors([anchor]))
        store = sequence_store(opts.sequence_store, opts.init) if opts.sequence_store is not None else None
        with about("--reference-values", opts.reference_values):
            reference_values = load_reference_values(
                opts.reference_values, trusted, at=opts.at, sequence_store=store
            )
    log: Any = None
    if opts.event_log is not None:
        from ccverify.verifier.evidence.eventlog import EventLog

        with about("--event-log", opts.event_log):
            log = EventLog.from_bytes(read_input(opts.event_log, "--event-log", "event_log"))
    if opts.rtmr3_log is not None:
        from ccverify.verifier.evidence.rtmr3_log import with_runtime_log

        if log is None:
            raise InputError("--rtmr3-log follows the firmware's CCEL: give --event-log too")
        with about("--rtmr3-log", opts.rtmr3_log):
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
    """The reasons: on a terminal, code and claim, then the detail with ``expected``/``actual``
    on lines of their own (codes never broken, whatever the width); into a pipe, one
    tab-separated row per reason with every column. Every reason shows the ``expected`` and
    ``actual`` its JSON has, confirmed ones too."""
    import textwrap

    from rich.table import Table
    from rich.text import Text

    status = result.status.name.lower()
    colour = "green" if result.affirming else "red"

    vector = ", ".join(f"{claim}={value}" for claim, value in result.trust_vector.items())
    width = stdout.width if stdout.is_terminal else 10_000
    vector = textwrap.fill(f"trust vector: {vector}", width=max(40, width), subsequent_indent="  ")
    out = Table(
        title=f"attestation result: [{colour}]{status}[/]\n{vector}",
        title_justify="left",
        show_header=True,
        header_style="bold",
    )
    reasons = [to_jsonable(reason) for reason in result.reasons]
    if not stdout.is_terminal:
        for column in ("claim", "code", "detail", "expected", "actual"):
            out.add_column(column)
        for shown in reasons:
            # Text, not markup: details quote the evidence, and "[...]" in them is data
            out.add_row(*(Text(str(shown.get(key) or "-")) for key in ("claim", "code", "detail", "expected", "actual")))
        return out
    widest = max((len(shown["code"]) for shown in reasons), default=4)
    out.add_column("code (claim)", no_wrap=True, min_width=min(widest, 32), overflow="ellipsis")
    out.add_column("detail", overflow="fold", ratio=1)
    for shown in reasons:
        lines = [shown["detail"]]
        lines += [f"{key}: {shown[key]}" for key in ("expected", "actual") if shown.get(key)]
        out.add_row(Text(f"{shown['code']}\n({shown['claim']})"), Text("\n".join(lines)))
    return out
