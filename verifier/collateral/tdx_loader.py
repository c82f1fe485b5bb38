"""``load_collateral(path)``: TDX collateral from a cache directory, an offline bundle, or a
QuoteCollateralV3 JSON file (the format of dcap-qvl and PCCS clients).

A cache directory or a bundle may hold collateral for many platforms and several versions
of each item: verification picks what the quote needs and what is valid at its time (a
missing item is then a ``CollateralError``; only stale ones ``collateral_expired``).
Anything that is none of the three is an ``InputError`` naming the path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ccverify.verifier.collateral.bundle import CollateralBundle
from ccverify.verifier.collateral.cache import CollateralCache
from ccverify.verifier.errors import InputError
from ccverify.verifier.inputs import Source, read_source
from ccverify.verifier.jsonable import JSON_ERRORS
from ccverify.verifier.tdx.collateral import TdxCollateral

__all__ = ["TdxCollateral", "load_collateral"]


def load_collateral(source: Source, *, allow_missing_crl: bool = False) -> TdxCollateral:
    """TDX collateral from ``source``: a path (``os.PathLike``: cache directory, bundle file, or
    QuoteCollateralV3 JSON) or the bytes of a bundle or QuoteCollateralV3 document. A ``str``
    is refused (``InputError``; ``verifier/inputs.py``).

    ``allow_missing_crl=True`` lets verification proceed without CRLs (recorded in the
    verdict); without it, a missing CRL is a ``CollateralError``.
    """
    if isinstance(source, os.PathLike) and Path(source).is_dir():
        path = Path(source)
        cache = CollateralCache(path)
        return TdxCollateral.from_entries(
            cache.entries(), origin=f"cache {path}", allow_missing_crl=allow_missing_crl
        )
    raw, where = read_source(source, "collateral", "collateral", "load_collateral")
    try:
        doc = json.loads(raw)
    except JSON_ERRORS:
        raise InputError(
            f"{where}: not JSON (expected a cache directory, a ccverify collateral bundle "
            "or a QuoteCollateralV3 JSON file)"
        ) from None
    if CollateralBundle.is_bundle(doc):
        bundle = CollateralBundle.from_json(doc, Path(source) if isinstance(source, os.PathLike) else None)
        return TdxCollateral.from_entries(
            bundle.entries(),
            origin=where.replace("collateral", "bundle", 1),
            allow_missing_crl=allow_missing_crl,
        )
    if isinstance(doc, dict) and "tcb_info" in doc and "qe_identity" in doc:
        return TdxCollateral.from_quote_collateral_v3(
            doc,
            origin=where.replace("collateral", "QuoteCollateralV3", 1),
            allow_missing_crl=allow_missing_crl,
        )
    raise InputError(
        f"{where}: neither a ccverify collateral bundle nor a QuoteCollateralV3 document "
        "(keys tcb_info, qe_identity, ...)"
    )
