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


def parse_time(text: str, what: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 time (``Z`` allowed); naive times are taken as UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an ISO 8601 time") from None
    return resolve_time(moment)
