"""The options ``verify`` and ``guest authorize`` (local mode) share, declared once so that both
spell, document and check them alike (help text, metavars, the environment variables they read)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PLATFORM_PANEL = "Platform-specific options"
REFERENCE_PANEL = "Reference values"
_PLATFORM = PLATFORM_PANEL
_REF = REFERENCE_PANEL

CollateralOption = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR|FILE",
        help="Collateral: a cache directory, an offline bundle, or (TDX) a QuoteCollateralV3 JSON "
        "(default: the cache ccverify/collateral under $XDG_CACHE_HOME, else ~/.cache). What it lacks "
        "comes from Intel PCS or AMD KDS ($CCVERIFY_KDS_URL) unless --offline.",
    ),
]
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="Never use the network: the collateral comes from --collateral or the default cache "
        "(under $XDG_CACHE_HOME); missing is exit 3.",
    ),
]
AtOption = Annotated[
    str | None,
    typer.Option(
        metavar="TIME",
        help="Verification time, RFC 3339 (default: now). Recorded samples verify at their collateral's time.",
    ),
]
PolicyOption = Annotated[
    Path | None, typer.Option(metavar="FILE", help="Policy JSON with a 'tdx' and/or 'snp' object.")
]
TrustRootOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="PEM root to trust INSTEAD of the pinned production roots (test and example PKIs only).",
    ),
]
SequenceStoreOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="JSON file with the last accepted reference-value sequence per id: refuses older sets (rollback) "
        "and records the one accepted. Its directory must exist (else --init).",
        rich_help_panel=_REF,
    ),
]
VcekOption = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="SNP: VCEK certificate (DER or PEM).", rich_help_panel=_PLATFORM),
]
VlekOption = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="SNP: VLEK certificate (DER or PEM).", rich_help_panel=_PLATFORM),
]
CertChainOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE", help="SNP: KDS cert_chain PEM (ASK or ASVK, then ARK).", rich_help_panel=_PLATFORM
    ),
]
CertTableOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="SNP: extended-report certificate table (configfs-tsm auxblob).",
        rich_help_panel=_PLATFORM,
    ),
]
CrlOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="SNP: AMD KDS CRL (DER or PEM) to check the ASK/ASVK against (else the certificate table's, "
        "--collateral's, or AMD KDS's: $CCVERIFY_KDS_URL).",
        rich_help_panel=_PLATFORM,
    ),
]
AllowMissingCrlOption = Annotated[
    bool,
    typer.Option(
        "--allow-missing-crl",
        help="TDX and SNP: verify without CRLs (recorded in the verdict; the default policy still refuses it).",
        rich_help_panel=_PLATFORM,
    ),
]
PcsUrlOption = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="TDX: Intel PCS base URL, a PCCS or mirror (default $CCVERIFY_PCS_URL, else Intel PCS; "
        "the API key comes from $CCVERIFY_PCS_API_KEY if set).",
        rich_help_panel=_PLATFORM,
    ),
]
ProductOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="SNP: milan, genoa or turin (needed for v2 reports without a certificate).",
        rich_help_panel=_PLATFORM,
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Seconds Intel PCS or AMD KDS may take per request (default $CCVERIFY_NET_TIMEOUT, else 5).",
    ),
]
