"""Collateral cache and offline bundle: validity windows, atomic files, corrupt input, lookup order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccverify.verifier.collateral.bundle import CollateralBundle
from ccverify.verifier.collateral.cache import CacheEntry, CollateralCache, fetch_chain
from ccverify.verifier.errors import CollateralError, InputError

T0 = datetime(2025, 7, 1, tzinfo=UTC)
URL = "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=b0c06f000000"


def entry(
    body: bytes = b'{"tcbInfo":{}}', *, start: int = 0, days: int | None = 30, url: str = URL
) -> CacheEntry:
    begin = T0 + timedelta(days=start)
    return CacheEntry(
        url=url,
        body=body,
        headers={"tcb-info-issuer-chain": "-----BEGIN CERTIFICATE-----..."},
        fetched_at=begin,
        not_before=begin,
        not_after=None if days is None else begin + timedelta(days=days),
    )


def test_valid_at_window_is_half_open() -> None:
    e = entry()
    assert e.valid_at(T0)
    assert e.valid_at(T0 + timedelta(days=29))
    assert not e.valid_at(T0 + timedelta(days=30))
    assert not e.valid_at(T0 - timedelta(seconds=1))


def test_immutable_entry_never_expires() -> None:
    e = entry(days=None)
    assert e.valid_at(T0 + timedelta(days=10000))


def test_put_get_roundtrip_exact_bytes(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path / "c")
    body = b'{"tcbInfo":{"b":1,"a":2},"signature":"00"}\n'
    cache.put(entry(body))
    got = cache.get(URL, at=T0 + timedelta(days=1))
    assert got is not None
    assert got.body == body
    assert got.headers == {"tcb-info-issuer-chain": "-----BEGIN CERTIFICATE-----..."}
    assert got.not_after == T0 + timedelta(days=30)
    assert got == entry(body)


def test_get_honours_next_update(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    cache.put(entry())
    assert cache.get(URL, at=T0 + timedelta(days=31)) is None
    assert cache.get(URL, at=T0 - timedelta(days=1)) is None
    assert cache.get(URL + "x", at=T0) is None


def test_several_versions_newest_valid_wins(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    cache.put(entry(b"old", start=0))
    cache.put(entry(b"new", start=20))
    assert len(cache.entries()) == 2
    first = cache.get(URL, at=T0 + timedelta(days=5))
    assert first is not None
    assert first.body == b"old"
    second = cache.get(URL, at=T0 + timedelta(days=25))
    assert second is not None
    assert second.body == b"new"
    late = cache.get(URL, at=T0 + timedelta(days=45))
    assert late is not None
    assert late.body == b"new"


def test_put_is_atomic_no_temp_files_left(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    cache.put(entry())
    cache.put(entry())
    names = [p.name for p in tmp_path.iterdir()]
    assert len(names) == 1
    assert names[0].endswith(".json")


def test_corrupt_cache_file_names_file(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    cache.put(entry())
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"{not json")
    with pytest.raises(InputError, match=path.name):
        cache.get(URL, at=T0)


DEEP = b"[" * 100_000 + b"]" * 100_000


def test_deeply_nested_cache_file_names_file(tmp_path: Path) -> None:
    # as any other corrupt file: InputError naming it, not RecursionError
    cache = CollateralCache(tmp_path)
    cache.put(entry())
    (path,) = tmp_path.iterdir()
    path.write_bytes(DEEP)
    with pytest.raises(InputError, match=path.name):
        cache.get(URL, at=T0)
    with pytest.raises(InputError, match="not valid JSON"):
        cache.entries()


def test_deeply_nested_bundle_names_file(tmp_path: Path) -> None:
    path = tmp_path / "deep-bundle.json"
    path.write_bytes(DEEP)
    with pytest.raises(InputError, match=r"deep-bundle\.json: not valid JSON"):
        CollateralBundle.load(path)


def test_cache_entry_bad_base64_names_file(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    cache.put(entry())
    (path,) = tmp_path.iterdir()
    path.write_text(path.read_text().replace('"body": "', '"body": "!!'))
    with pytest.raises(InputError, match="base64"):
        cache.entries()


def test_cache_path_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        CollateralCache(f)


def test_bundle_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    entries = [entry(b"a"), entry(b"\x00\xff", url="https://kdsintf.amd.com/vcek/v1/Genoa/x", days=None)]
    CollateralBundle.write(path, entries)
    bundle = CollateralBundle.load(path)
    assert sorted(e.url for e in bundle.entries()) == sorted(e.url for e in entries)
    vcek = bundle.get("https://kdsintf.amd.com/vcek/v1/Genoa/x", at=T0 + timedelta(days=5000))
    assert vcek is not None
    assert vcek.body == b"\x00\xff"
    assert bundle.get(URL, at=T0 + timedelta(days=40)) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"[]",
        b'{"format": "other"}',
        b'{"format": "ccverify-collateral-bundle/1", "entries": [1]}',
        b'{"format": "ccverify-collateral-bundle/1", "entries": [{"url": "u", "body": "", "not_after": 1}]}',
    ],
)
def test_bad_bundle_names_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken-bundle.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"broken-bundle\.json"):
        CollateralBundle.load(path)


def test_missing_bundle_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.json"):
        CollateralBundle.load(tmp_path / "nope.json")


def test_fetch_chain_order_cache_bundle_network(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path / "cache")
    bundle = CollateralBundle([entry(b"bundle")])
    calls: list[str] = []

    def fetch(url: str) -> CacheEntry:
        calls.append(url)
        return entry(b"network")

    at = T0 + timedelta(days=1)
    got = fetch_chain(URL, sources=[bundle], fetch=fetch, cache=cache, at=at)
    assert got.body == b"bundle"
    assert calls == []
    got = fetch_chain(URL, sources=[], fetch=fetch, cache=cache, at=at)
    assert got.body == b"network"
    assert calls == [URL]
    # now served from the cache, even though a bundle has a different answer
    got = fetch_chain(URL, sources=[bundle], fetch=fetch, cache=cache, at=at)
    assert got.body == b"network"
    assert calls == [URL]


def test_fetch_chain_offline_miss_is_collateral_error(tmp_path: Path) -> None:
    with pytest.raises(CollateralError) as info:
        fetch_chain(URL, sources=[], fetch=None, cache=CollateralCache(tmp_path), at=T0)
    assert info.value.missing == URL


def test_fetch_chain_expired_cache_goes_to_network(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    cache.put(entry(b"stale"))
    got = fetch_chain(URL, fetch=lambda u: entry(b"fresh", start=40), cache=cache, at=T0 + timedelta(days=41))
    assert got.body == b"fresh"
    with pytest.raises(CollateralError):
        fetch_chain(URL, fetch=None, cache=cache, at=T0 + timedelta(days=35))
