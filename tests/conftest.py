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
