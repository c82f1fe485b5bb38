"""On-disk collateral cache keyed by canonical URL, honouring each entry's validity window.

One cache serves Intel PCS answers (TCB info, QE identity, CRLs) and AMD KDS answers
(VCEKs, cert chains, CRLs). An entry keeps the exact body bytes as served, the response
headers that matter (issuer chains, names lower-case), the fetch time and the validity
window (``not_before`` = issueDate/thisUpdate, ``not_after`` = nextUpdate; ``None`` means
immutable, e.g. a VCEK). ``get`` serves an entry only inside its own window, so stale
collateral is never handed out as if it were current.

Layout: one JSON file per entry, ``<sha256(url)[:32]>-<sha256(body)[:16]>.json``, written
atomically (temporary file in the same directory, then ``os.replace``). Several versions of
the same URL may coexist (e.g. consecutive TCB infos); ``get`` picks the newest one valid at
the requested time. A corrupt or unreadable file raises ``InputError`` naming the file.

Lookup order used by verifiers (``fetch_chain``): the cache, then offline bundles (any
``CollateralSource``), then the network (``fetch``); with ``fetch=None`` (offline) a miss is a
``CollateralError`` naming the URL. A network answer is written back to the cache.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ccverify.verifier.errors import CollateralError, InputError
from ccverify.verifier.jsonable import JSON_ERRORS, iso8601
from ccverify.verifier.limits import read_bounded
from ccverify.verifier.timeutil import iso_to_utc

ENTRY_FORMAT = "ccverify-collateral-entry/1"


@dataclass(frozen=True)
class CacheEntry:
    """One collateral resource as served: the body bytes, issuer-chain headers, validity."""

    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    fetched_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    not_before: datetime | None = None
    not_after: datetime | None = None

    def valid_at(self, at: datetime) -> bool:
        """``not_before <= at < not_after`` (an open bound is always satisfied)."""
        if self.not_before is not None and at < self.not_before:
            return False
        return not (self.not_after is not None and at >= self.not_after)

    def header(self, name: str) -> str | None:
        """A stored header by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


class CollateralSource(Protocol):
    def get(self, url: str, *, at: datetime) -> CacheEntry | None: ...


# -- JSON form shared by the cache files and the bundle -----------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso8601(moment)


def _parse_iso(value: Any, what: str, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: {what} is not a time string")
    try:
        return iso_to_utc(value)
    except ValueError:
        raise InputError(f"{where}: {what} {value!r} is not an ISO 8601 time") from None


def entry_to_json(entry: CacheEntry) -> dict[str, Any]:
    return {
        "format": ENTRY_FORMAT,
        "url": entry.url,
        "headers": {k.lower(): v for k, v in entry.headers.items()},
        "fetched_at": _iso(entry.fetched_at),
        "not_before": _iso(entry.not_before),
        "not_after": _iso(entry.not_after),
        "body": base64.b64encode(entry.body).decode("ascii"),
    }


def entry_from_json(obj: Any, where: str) -> CacheEntry:
    """Decode one entry; any inconsistency is an ``InputError`` naming ``where``."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: collateral entry is not a JSON object")
    url = obj.get("url")
    if not isinstance(url, str) or not url:
        raise InputError(f"{where}: collateral entry has no 'url'")
    body_text = obj.get("body")
    if not isinstance(body_text, str):
        raise InputError(f"{where}: collateral entry for {url} has no base64 'body'")
    try:
        body = base64.b64decode(body_text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InputError(f"{where}: collateral entry for {url}: 'body' is not valid base64") from None
    headers = obj.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InputError(f"{where}: collateral entry for {url}: 'headers' must map strings to strings")
    fetched_at = _parse_iso(obj.get("fetched_at"), "fetched_at", where)
    return CacheEntry(
        url=url,
        body=body,
        headers={k.lower(): v for k, v in headers.items()},
        fetched_at=fetched_at or datetime(1970, 1, 1, tzinfo=UTC),
        not_before=_parse_iso(obj.get("not_before"), "not_before", where),
        not_after=_parse_iso(obj.get("not_after"), "not_after", where),
    )


def pick(candidates: Sequence[CacheEntry], at: datetime) -> CacheEntry | None:
    """The newest candidate valid at ``at`` (by not_before, then fetch time)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    valid = [c for c in candidates if c.valid_at(at)]
    if not valid:
        return None
    return max(valid, key=lambda c: (c.not_before or epoch, c.fetched_at))


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


# -- the cache ----------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ccverify/collateral`` (``~/.cache/ccverify/collateral``)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ccverify" / "collateral"


class CollateralCache:
    """A directory of collateral entries (one JSON file each, written atomically)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise InputError(f"collateral cache {self.directory}: not a directory")

    def _files(self, prefix: str = "") -> list[Path]:
        if not self.directory.is_dir():
            return []
        try:
            return sorted(self.directory.glob(f"{prefix}*.json"))
        except OSError as error:
            raise InputError(f"collateral cache {self.directory}: {error.strerror or error}") from None

    def _read(self, path: Path) -> CacheEntry:
        raw = read_bounded(path, "collateral_entry", "collateral cache file")
        try:
            obj = json.loads(raw)
        except JSON_ERRORS:
            raise InputError(f"collateral cache file {path}: not valid JSON (corrupt cache entry)") from None
        if isinstance(obj, dict) and obj.get("format") not in (None, ENTRY_FORMAT):
            raise InputError(f"collateral cache file {path}: unknown format {obj.get('format')!r}")
        return entry_from_json(obj, f"collateral cache file {path}")

    def get(self, url: str, *, at: datetime) -> CacheEntry | None:
        """The newest entry for ``url`` valid at ``at``, or ``None``."""
        candidates = [self._read(p) for p in self._files(url_key(url) + "-")]
        return pick([c for c in candidates if c.url == url], at)

    def put(self, entry: CacheEntry) -> None:
        """Store ``entry`` (replacing an identical body for the same URL), atomically."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"collateral cache {self.directory}: {error.strerror or error}") from None
        name = f"{url_key(entry.url)}-{hashlib.sha256(entry.body).hexdigest()[:16]}.json"
        data = json.dumps(entry_to_json(entry), indent=1).encode("utf-8")
        write_atomic(self.directory / name, data)

    def entries(self) -> list[CacheEntry]:
        return [self._read(p) for p in self._files()]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a partial one."""
    import tempfile  # (only where the cache is written)

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise InputError(f"{path.parent}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"{path}: {error.strerror or error}") from None


def fetch_chain(
    url: str,
    *,
    sources: Sequence[CollateralSource] = (),
    fetch: Callable[[str], CacheEntry] | None = None,
    cache: CollateralCache | None = None,
    at: datetime,
) -> CacheEntry:
    """Find ``url`` valid at ``at``: the cache, then each source (bundles), then the network.

    ``fetch=None`` means offline: nothing found is a ``CollateralError(missing=url)``. A
    network answer is stored in the cache (even when it is not valid at ``at``: the
    verifier then reports it as expired rather than as missing).
    """
    if cache is not None:
        hit = cache.get(url, at=at)
        if hit is not None:
            return hit
    for source in sources:
        hit = source.get(url, at=at)
        if hit is not None:
            return hit
    if fetch is None:
        raise CollateralError(
            "collateral not in the cache or bundle, and the network is not allowed (offline)", missing=url
        )
    entry = fetch(url)
    if cache is not None:
        cache.put(entry)
    return entry
