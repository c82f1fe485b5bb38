"""``ccverify verify EVIDENCE``: a TDX quote or an SNP report, auto-detected.

This module only gathers the options; ``cli/verify_tdx.py`` and ``cli/verify_snp.py``
run the library for each platform.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ccverify.cli._common import VerifyOptions, fail, guarded, option_timeout, read_input
from ccverify.cli.verify_options import (
    REFERENCE_PANEL,
    AllowMissingCrlOption,
    AtOption,
    CertChainOption,
    CertTableOption,
    CollateralOption,
    CrlOption,
    OfflineOption,
    PcsUrlOption,
    PolicyOption,
    ProductOption,
    SequenceStoreOption,
    TimeoutOption,
    TrustRootOption,
    VcekOption,
    VlekOption,
)
from ccverify.verifier.errors import InputError
from ccverify.verifier.timeutil import parse_time

_REF = REFERENCE_PANEL


def verify(
    evidence: Annotated[
        Path,
        typer.Argument(
            metavar="EVIDENCE", help="TDX quote or SNP attestation report ('-' for stdin; hex text accepted)."
        ),
    ],
    collateral: CollateralOption = None,
    offline: OfflineOption = False,
    at: AtOption = None,
    policy: PolicyOption = None,
    trust_root: TrustRootOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as one JSON envelope (see README).")] = False,
    timeout: TimeoutOption = None,
    reference_values: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Signed reference values (CoRIM) to appraise the evidence against.", rich_help_panel=_REF),
    ] = None,
    trust_anchor: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Public key or certificate (PEM) that must have signed the reference values.", rich_help_panel=_REF),
    ] = None,
    event_log: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="CCEL / TCG2 event log to replay against the quoted RTMRs.", rich_help_panel=_REF),
    ] = None,
    sequence_store: SequenceStoreOption = None,
    rtmr3_log: Annotated[
        Path | None,
        typer.Option(
            "--rtmr3-log", metavar="FILE", rich_help_panel=_REF,
            help="TDX: ccverify's run-time RTMR3 log (rtmr3-events.bin), replayed after the --event-log CCEL.",
        ),
    ] = None,
    init: Annotated[
        bool,
        typer.Option("--init", help="Create the --sequence-store's directory if it does not exist.", rich_help_panel=_REF),
    ] = False,
    vcek: VcekOption = None,
    vlek: VlekOption = None,
    cert_chain: CertChainOption = None,
    cert_table: CertTableOption = None,
    crl: CrlOption = None,
    allow_missing_crl: AllowMissingCrlOption = False,
    pcs_url: PcsUrlOption = None,
    product: ProductOption = None,
) -> None:
    """Verify evidence; exit 0 if it verifies and the policy accepts it, 1 if not.

    SNP certificates missing from the options come from --collateral, then AMD KDS
    ($CCVERIFY_KDS_URL); TDX collateral from --collateral or the default cache
    (ccverify/collateral under $XDG_CACHE_HOME), then Intel PCS ($CCVERIFY_PCS_URL,
    $CCVERIFY_PCS_API_KEY). Network requests time out after --timeout or $CCVERIFY_NET_TIMEOUT.
    """
    command = "verify" if json_out else None

    def options() -> VerifyOptions:
        return VerifyOptions(
            evidence=read_input(evidence, "evidence", "evidence"),
            evidence_path=evidence,
            collateral=collateral,
            offline=offline,
            # now: whole seconds, as every time the command prints
            at=parse_time(at, "--at") if at is not None else datetime.now(UTC).replace(microsecond=0),
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
            timeout=option_timeout(timeout),
            init=init,
        )

    opts = guarded(options, command)
    # imported here, not at start-up: detection knows the parsers, and other commands do not need them
    from ccverify.verifier.evidence.detect import Kind, detect

    kind = detect(opts.evidence)
    if kind not in (Kind.TDX_QUOTE, Kind.SNP_REPORT):
        fail(InputError(f"{evidence}: not a TDX quote or an SNP attestation report (looks like: {kind.value})"), command)
    guarded(lambda: check_applicable(opts, "tdx" if kind is Kind.TDX_QUOTE else "snp"), command)
    if kind is Kind.TDX_QUOTE:
        from ccverify.cli import verify_tdx

        verify_tdx.run(opts)
    else:
        from ccverify.cli import verify_snp

        verify_snp.run(opts)


#: options of one platform: given for the other platform's evidence they are refused
_SNP_ONLY = ("vcek", "vlek", "cert_chain", "cert_table", "crl", "product")
_TDX_ONLY = ("pcs_url",)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_applicable(opts: VerifyOptions, platform: str) -> None:
    """Refuse (exit 2, naming the option) every option that would be ignored for this evidence."""
    foreign = _SNP_ONLY if platform == "tdx" else _TDX_ONLY
    kind = "TDX quote" if platform == "tdx" else "SNP report"
    given = [_option(name) for name in foreign if getattr(opts, name) is not None]
    if given:
        raise InputError(f"{', '.join(given)}: not used for a {kind} ({opts.evidence_path}); leave it out")
    if opts.reference_values is None:
        for name in ("trust_anchor", "sequence_store"):
            if getattr(opts, name) is not None:
                raise InputError(f"{_option(name)}: applies only with --reference-values")
    elif opts.trust_anchor is None:
        raise InputError(
            "--reference-values needs --trust-anchor: reference values are accepted only when signed by a trusted key"
        )
    if opts.init and opts.sequence_store is None:
        raise InputError("--init: applies only with --sequence-store")
    if platform == "snp":
        if opts.event_log is not None:
            raise InputError("--event-log: an SNP report has no event log to replay (TDX only)")
        _check_leaf(opts.vcek, "--vcek", "VCEK")
        _check_leaf(opts.vlek, "--vlek", "VLEK")
        if opts.collateral is not None and opts.collateral.is_file():
            _check_snp_collateral(opts.collateral)


def _check_leaf(path: Path | None, option: str, role: str) -> None:
    """A VLEK given as ``--vcek`` (or the reverse) would be used as what it is: say so instead."""
    if path is None:
        return
    from ccverify.cli._common import read_file
    from ccverify.verifier.snp.certs import load_certificates
    from ccverify.verifier.snp.verify import _role

    for cert in load_certificates(read_file(path, option, "certificate"), f"{option} {path}"):
        other = _role(cert)
        if other in ("VCEK", "VLEK") and other != role:
            raise InputError(f"{option} {path}: a {other} certificate, not a {role}; give it as --{other.lower()}")


def _check_snp_collateral(path: Path) -> None:
    """An SNP report takes a collateral cache or bundle; a TDX collateral file is refused."""
    import json

    from ccverify.cli._common import read_file
    from ccverify.verifier.collateral.bundle import CollateralBundle
    from ccverify.verifier.jsonable import JSON_ERRORS

    try:
        document = json.loads(read_file(path, "--collateral", "collateral"))
    except JSON_ERRORS:
        document = None
    if not CollateralBundle.is_bundle(document):
        raise InputError(
            f"--collateral {path}: not a collateral bundle (a TDX collateral file is not used for an SNP report); "
            "give a cache directory or a bundle from 'ccverify collateral'"
        )
