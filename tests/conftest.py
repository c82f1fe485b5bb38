"""Shared test helpers: where the real fixtures are."""

from __future__ import annotations

import sys
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


# -- every code the library raises while the suite runs is a member of ``errors.Code`` --------

_UNKNOWN_CODES: set[str] = set()


def _record_codes() -> None:
    from ccverify.verifier import errors

    original = errors.VerificationError.__init__
    members = {code.value for code in errors.Code}

    def init(self: errors.VerificationError, code: str, detail: str, **kwargs: object) -> None:
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_globals.get("__name__") == errors.__name__:
            frame = frame.f_back  # PolicyError's own __init__, PolicyError.of
        caller = str(frame.f_globals.get("__name__", ""))
        if caller.startswith("ccverify.") and str(code) not in members:  # the library's, not a test's
            _UNKNOWN_CODES.add(f"{code} ({caller})")
        original(self, code, detail, **kwargs)  # type: ignore[arg-type]

    errors.VerificationError.__init__ = init  # type: ignore[method-assign]


_record_codes()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _UNKNOWN_CODES:
        print(f"\nerror codes raised that are not members of verifier.errors.Code: {sorted(_UNKNOWN_CODES)}")
        session.exitstatus = 1
