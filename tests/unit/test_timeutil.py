"""One ISO 8601 reader for every time we read (user input, PCS, collateral, cache)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ccverify.verifier.errors import InputError
from ccverify.verifier.timeutil import as_utc, iso_to_utc, parse_time

MOMENT = datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["2025-07-19T10:00:34Z", "2025-07-19T10:00:34z", "2025-07-19T10:00:34+00:00", "2025-07-19T12:00:34+02:00",
     "2025-07-19T10:00:34"],
)  # fmt: skip
def test_every_spelling_of_one_moment(text: str) -> None:
    moment = iso_to_utc(text)
    assert moment == MOMENT and moment.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "Z", "2025-13-01T00:00:00Z", "yesterday", " 2025-07-19T10:00:34Z"])
def test_not_a_time(text: str) -> None:
    with pytest.raises(ValueError):
        iso_to_utc(text)


def test_user_input_may_carry_blanks_and_errors_name_the_option() -> None:
    assert parse_time(" 2025-07-19T10:00:34Z\n", "--at") == MOMENT
    with pytest.raises(InputError, match="--at: 'soon' is not an ISO 8601 time"):
        parse_time("soon", "--at")


def test_as_utc_keeps_utc_and_converts_the_rest() -> None:
    assert as_utc(MOMENT) is MOMENT
    assert as_utc(MOMENT.replace(tzinfo=None)) == MOMENT
    assert as_utc(MOMENT.astimezone(timezone(timedelta(hours=-5)))).tzinfo is UTC
