"""Offline collateral bundle: one JSON file of cache entries, for air-gapped use or an initramfs.

Format::

    {"format": "ccverify-collateral-bundle/1",
     "entries": [{"url": ..., "headers": {...}, "fetched_at": "...Z",
                  "not_before": "...Z" | null, "not_after": "...Z" | null,
                  "body": "<base64 of the exact bytes served>"}, ...]}

The entries are the same as the cache's (``cache.CacheEntry``), so a bundle can be built from
a warm cache and read back without any loss. ``get`` serves an entry only inside its window.
A file that is not such a bundle raises ``InputError`` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from ccverify.verifier.collateral.cache import (
    CacheEntry,
    entry_from_json,
    entry_to_json,
    pick,
    write_atomic,
)
from ccverify.verifier.errors import InputError
from ccverify.verifier.jsonable import JSON_ERRORS
from ccverify.verifier.limits import read_bounded

BUNDLE_FORMAT = "ccverify-collateral-bundle/1"


class CollateralBundle:
    """The entries of one bundle file, looked up by URL and time."""

    def __init__(self, entries: Iterable[CacheEntry], path: Path | None = None) -> None:
        self.path = path
        self._entries = list(entries)
        self._by_url: dict[str, list[CacheEntry]] = {}
        for entry in self._entries:
            self._by_url.setdefault(entry.url, []).append(entry)

    @classmethod
    def load(cls, path: Path) -> CollateralBundle:
        path = Path(path)
        raw = read_bounded(path, "collateral", "collateral bundle")
        try:
            obj = json.loads(raw)
        except JSON_ERRORS:
            raise InputError(f"collateral bundle {path}: not valid JSON") from None
        return cls.from_json(obj, path)

    @classmethod
    def from_json(cls, obj: object, path: Path | None = None) -> CollateralBundle:
        where = f"collateral bundle {path}" if path is not None else "collateral bundle"
        if not isinstance(obj, dict) or obj.get("format") != BUNDLE_FORMAT:
            raise InputError(f"{where}: not a ccverify collateral bundle (format must be {BUNDLE_FORMAT!r})")
        items = obj.get("entries")
        if not isinstance(items, list):
            raise InputError(f"{where}: 'entries' must be a list")
        entries = [entry_from_json(item, f"{where} entry {index}") for index, item in enumerate(items)]
        return cls(entries, path)

    @staticmethod
    def is_bundle(obj: object) -> bool:
        return isinstance(obj, dict) and obj.get("format") == BUNDLE_FORMAT

    def get(self, url: str, *, at: datetime) -> CacheEntry | None:
        return pick(self._by_url.get(url, []), at)

    def entries(self) -> list[CacheEntry]:
        return list(self._entries)

    @staticmethod
    def write(path: Path, entries: Iterable[CacheEntry]) -> None:
        """Write a bundle of ``entries`` (atomically), in URL order."""
        ordered = sorted(entries, key=lambda e: (e.url, e.not_before is None, e.not_before or e.fetched_at))
        doc = {"format": BUNDLE_FORMAT, "entries": [entry_to_json(e) for e in ordered]}
        path = Path(path)
        write_atomic(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
