"""``ccverify verify EVIDENCE``: a TDX quote or an SNP report, auto-detected.

This module only gathers the options; ``cli/verify_tdx.py`` and ``cli/verify_snp.py``
run the library for each platform.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ccverify.cli._common import VerifyOptions, fail, guarded, read_input
from ccverify.verifier.errors import InputError
from ccverify.verifier.timeutil import parse_time

_PLATFORM = "Platform-specific options"
_REF = "Reference values"


def verify(
    evidence: Annotated[
        Path, typer.Argument(help="TDX quote or SNP attestation report ('-' for stdin; hex text accepted).")
    ],
    collateral: Annotated[
        Path | None,
        typer.Option(help="Collateral: a cache directory, an offline bundle, or a QuoteCollateralV3 JSON."),
    ] = None,
    offline: Annotated[bool, typer.Option(help="Never use the network; fail (exit 3) if collateral is missing.")] = False,
    at: Annotated[
        str | None, typer.Option(help="Verification time, ISO 8601 (default: now). Recorded samples verify at their collateral's time.")
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy JSON with a 'tdx' and/or 'snp' object.")] = None,
    trust_root: Annotated[
        Path | None,
        typer.Option(help="PEM root to trust INSTEAD of the pinned production roots (test and example PKIs only)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    reference_values: Annotated[
        Path | None, typer.Option(help="Signed reference values (CoRIM) to appraise the evidence against.", rich_help_panel=_REF)
    ] = None,
    trust_anchor: Annotated[
        Path | None, typer.Option(help="Public key or certificate (PEM) that must have signed the reference values.", rich_help_panel=_REF)
    ] = None,
    event_log: Annotated[
        Path | None, typer.Option(help="CCEL / TCG2 event log to replay against the quoted RTMRs.", rich_help_panel=_REF)
    ] = None,
    sequence_store: Annotated[
        Path | None, typer.Option(help="JSON file with the last accepted reference-value sequence per id: refuses older sets (rollback) and records the one accepted.", rich_help_panel=_REF)
    ] = None,
    rtmr3_log: Annotated[
        Path | None, typer.Option("--rtmr3-log", help="TDX: ccverify's run-time RTMR3 log (rtmr3-events.bin), replayed after the --event-log CCEL.", rich_help_panel=_REF)
    ] = None,
    vcek: Annotated[Path | None, typer.Option(help="SNP: VCEK certificate (DER or PEM).", rich_help_panel=_PLATFORM)] = None,
    vlek: Annotated[Path | None, typer.Option(help="SNP: VLEK certificate (DER or PEM).", rich_help_panel=_PLATFORM)] = None,
    cert_chain: Annotated[
        Path | None, typer.Option(help="SNP: KDS cert_chain PEM (ASK or ASVK, then ARK).", rich_help_panel=_PLATFORM)
    ] = None,
    cert_table: Annotated[
        Path | None, typer.Option(help="SNP: extended-report certificate table (configfs-tsm auxblob).", rich_help_panel=_PLATFORM)
    ] = None,
    crl: Annotated[
        Path | None, typer.Option(help="SNP: AMD KDS CRL (DER or PEM) to check the ASK/ASVK against (needed unless the certificate table holds one, or --allow-missing-crl).", rich_help_panel=_PLATFORM)
    ] = None,
    allow_missing_crl: Annotated[
        bool, typer.Option(help="TDX and SNP: verify without CRLs (recorded in the verdict; the default policy still refuses it).", rich_help_panel=_PLATFORM)
    ] = False,
    pcs_url: Annotated[
        str | None, typer.Option(help="TDX: Intel PCS base URL (a PCCS or mirror).", rich_help_panel=_PLATFORM)
    ] = None,
    product: Annotated[
        str | None, typer.Option(help="SNP: milan, genoa or turin (needed for v2 reports without a certificate).", rich_help_panel=_PLATFORM)
    ] = None,
) -> None:
    """Verify evidence; exit 0 if it verifies and the policy accepts it, 1 if not."""

    def options() -> VerifyOptions:
        return VerifyOptions(
            evidence=read_input(evidence, "evidence", "evidence"),
            evidence_path=evidence,
            collateral=collateral,
            offline=offline,
            at=parse_time(at, "--at") if at is not None else None,
            policy=policy,
            trust_root=trust_root,
            json=json_out,
            reference_values=reference_values,
            trust_anchor=trust_anchor,
            event_log=event_log,
            rtmr3_log=rtmr3_log,
            sequence_store=sequence_store,
            vcek=vcek,
            vlek=vlek,
            cert_chain=cert_chain,
            cert_table=cert_table,
            product=product,
            crl=crl,
            allow_missing_crl=allow_missing_crl,
            pcs_url=pcs_url,
        )

    opts = guarded(options)
    if opts.reference_values is not None and opts.trust_anchor is None:
        fail(InputError("--reference-values needs --trust-anchor: reference values are accepted only when signed by a trusted key"))
    # imported here, not at start-up: detection knows the parsers, and other commands do not need them
    from ccverify.verifier.evidence.detect import Kind, detect

    kind = detect(opts.evidence)
    if kind is Kind.TDX_QUOTE:
        from ccverify.cli import verify_tdx

        verify_tdx.run(opts)
    elif kind is Kind.SNP_REPORT:
        from ccverify.cli import verify_snp

        verify_snp.run(opts)
    else:
        fail(InputError(f"{evidence}: not a TDX quote or an SNP attestation report (looks like: {kind.value})"))
