"""One ISO 8601 reader for every time we read (user input, PCS, collateral, cache)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ccverify.verifier.collateral.cache import entry_from_json
from ccverify.verifier.collateral.pcs import validity_window
from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.tdx.collateral import parse_tcb_info, raw_json_member, tcb_info_url
from ccverify.verifier.timeutil import as_utc, iso_to_utc, parse_time
from tests.conftest import fixture_bytes

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


# A valid ISO 8601 text whose offset moves it outside datetime's years 1-9999 once in UTC:
# converting raises OverflowError, which none of the readers caught (a traceback, not their error).
OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "0001-01-01T00:30:00.5+00:31"]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_times_outside_the_utc_range_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match="outside the years 1-9999"):
        iso_to_utc(text)
    with pytest.raises(InputError, match=r"--at: .* is not an ISO 8601 time"):
        parse_time(text, "--at")


TCB_INFO_DATES = {"issueDate": "2025-10-27T13:07:17Z", "nextUpdate": "2025-11-26T13:07:17Z"}


def _tcb_info_with(key: str, text: str) -> bytes:
    """Intel's raw tcbInfo object (trustee's sample) with one date replaced by ``text``."""
    raw = raw_json_member(fixture_bytes("tdx/trustee/tcbInfo.json"), "tcbInfo")
    old = f'"{key}":"{TCB_INFO_DATES[key]}"'.encode()
    assert raw.count(old) == 1
    return raw.replace(old, f'"{key}":{json.dumps(text)}'.encode())


def _pcs_answer(raw: bytes) -> bytes:
    """A PCS TCB info answer around ``raw`` (the signature is not read for the window)."""
    return b'{"tcbInfo":' + raw + b',"signature":"00"}'


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_every_reader_words_an_out_of_range_time_as_its_own_error(text: str) -> None:
    entry = {"url": "https://example/x", "body": "", "fetched_at": text}
    with pytest.raises(InputError, match=r"fetched_at .* is not an ISO 8601 time"):
        entry_from_json(entry, "cache")
    body = _pcs_answer(_tcb_info_with("nextUpdate", text))
    with pytest.raises(InputError, match="not a signed tcbInfo JSON document"):
        validity_window(tcb_info_url("00a06d080000"), body)
    with pytest.raises(VerificationError, match="is not an ISO 8601 time") as info:
        parse_tcb_info(_tcb_info_with("issueDate", text))
    assert info.value.code == "tcb_info_invalid"


@pytest.mark.parametrize("text", ["2025-10-27T13:07:17Z ", " 2025-10-27T13:07:17Z", "2025-10-27T13:07:17Z\n"])
def test_signed_collateral_gets_no_blanks_stripped(text: str) -> None:
    """Only user input is stripped; a signed TCB info, a PCS answer and a cache entry are not."""
    with pytest.raises(VerificationError, match="is not an ISO 8601 time"):
        parse_tcb_info(_tcb_info_with("issueDate", text))
    body = _pcs_answer(_tcb_info_with("issueDate", text))
    with pytest.raises(InputError):
        validity_window(tcb_info_url("00a06d080000"), body)
    with pytest.raises(InputError):
        entry_from_json({"url": "https://example/x", "body": "", "not_after": text}, "cache")
    assert parse_time(text, "--at") == datetime(2025, 10, 27, 13, 7, 17, tzinfo=UTC)


def test_signed_collateral_and_pcs_read_the_same_spellings() -> None:
    """PCS headers now take a lower-case z as signed collateral always did."""
    moment = datetime(2025, 10, 27, 13, 7, 17, tzinfo=UTC)
    for text in ("2025-10-27T13:07:17Z", "2025-10-27T13:07:17z", "2025-10-27T15:07:17+02:00"):
        raw = _tcb_info_with("issueDate", text)
        assert parse_tcb_info(raw).issue_date == moment
        body = _pcs_answer(raw)
        assert validity_window(tcb_info_url("00a06d080000"), body)[0] == moment
