"""``load_collateral(path)``: TDX collateral from a cache directory, an offline bundle, or a
QuoteCollateralV3 JSON file (the format of dcap-qvl and PCCS clients).

A cache directory or a bundle may hold collateral for many platforms and several versions
of each item: verification picks what the quote needs and what is valid at its time (a
missing item is then a ``CollateralError``; only stale ones ``collateral_expired``).
Anything that is none of the three is an ``InputError`` naming the path.
"""

from __future__ import annotations

import json
from pathlib import Path

from ccverify.verifier.collateral.bundle import CollateralBundle
from ccverify.verifier.collateral.cache import CollateralCache
from ccverify.verifier.errors import InputError
from ccverify.verifier.jsonable import JSON_ERRORS
from ccverify.verifier.limits import read_bounded
from ccverify.verifier.tdx.collateral import TdxCollateral

__all__ = ["TdxCollateral", "load_collateral"]


def load_collateral(path: Path | str, *, allow_missing_crl: bool = False) -> TdxCollateral:
    """TDX collateral from ``path`` (cache directory, bundle file, or QuoteCollateralV3 JSON).

    ``allow_missing_crl=True`` lets verification proceed without CRLs (recorded in the
    verdict); without it, a missing CRL is a ``CollateralError``.
    """
    path = Path(path)
    if path.is_dir():
        cache = CollateralCache(path)
        return TdxCollateral.from_entries(
            cache.entries(), origin=f"cache {path}", allow_missing_crl=allow_missing_crl
        )
    raw = read_bounded(path, "collateral", "collateral")
    try:
        doc = json.loads(raw)
    except JSON_ERRORS:
        raise InputError(
            f"collateral {path}: not JSON (expected a cache directory, a ccverify collateral bundle "
            "or a QuoteCollateralV3 JSON file)"
        ) from None
    if CollateralBundle.is_bundle(doc):
        bundle = CollateralBundle.from_json(doc, path)
        return TdxCollateral.from_entries(
            bundle.entries(), origin=f"bundle {path}", allow_missing_crl=allow_missing_crl
        )
    if isinstance(doc, dict) and "tcb_info" in doc and "qe_identity" in doc:
        return TdxCollateral.from_quote_collateral_v3(
            doc, origin=f"QuoteCollateralV3 {path}", allow_missing_crl=allow_missing_crl
        )
    raise InputError(
        f"collateral {path}: neither a ccverify collateral bundle nor a QuoteCollateralV3 document "
        "(keys tcb_info, qe_identity, ...)"
    )
