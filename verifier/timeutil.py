"""Verification time: always an explicit, timezone-aware UTC instant."""

from __future__ import annotations

from datetime import UTC, datetime

from ccverify.verifier.errors import InputError


def resolve_time(at: datetime | str | None) -> datetime:
    """``at`` as an aware UTC datetime; ``None`` means now."""
    if at is None:
        return datetime.now(UTC)
    if isinstance(at, str):
        return parse_time(at, "at")
    return as_utc(at)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time is taken as UTC."""
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso_to_utc(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time (``Z`` or ``z`` allowed) in UTC; naive times are UTC.

    Raises ``ValueError``: every reader of times (user input, PCS headers, signed collateral,
    cache entries) goes through this and words the error for its own input. That includes a
    time whose offset moves it outside years 1-9999 in UTC (``0001-01-01T00:00:00+01:00``),
    where converting raises ``OverflowError``. Surrounding blanks are refused (``parse_time``
    strips them from user input; signed collateral gets no such leniency).
    """
    try:
        return as_utc(datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text))
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1-9999 in UTC") from None


def parse_time(text: str, what: str) -> datetime:
    """A time given by a user (surrounding blanks ignored), or ``InputError`` naming ``what``."""
    try:
        return iso_to_utc(text.strip())
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an ISO 8601 time") from None
