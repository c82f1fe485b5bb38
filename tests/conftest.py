"""Shared test helpers: where the real fixtures are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def fixture(relative: str) -> Path:
    """Path of a real fixture under ``tests/fixtures`` (provenance in its SOURCES.md)."""
    path = FIXTURES / relative
    if not path.exists():
        raise FileNotFoundError(f"fixture {relative} not found under {FIXTURES}")
    return path


def fixture_bytes(relative: str) -> bytes:
    data = fixture(relative).read_bytes()
    stripped = b"".join(data.split())
    if relative.endswith((".hex", "_hex.txt")):
        return bytes.fromhex(stripped.decode().removeprefix("0x"))
    return data


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _own_collateral_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets an empty default collateral cache ($XDG_CACHE_HOME, which `verify` and
    `collateral fetch` read and fill without --collateral/--cache): none reads another's
    answers, nor the user's ~/.cache. A test may set XDG_CACHE_HOME itself."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
