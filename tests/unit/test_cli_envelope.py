"""The --json envelope: one shape on success and failure, error keys always present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccverify.cli.envelope import envelope
from ccverify.verifier.errors import InputError, ParseError, PolicyError

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "cli" / "schemas" / "envelope.schema.json").read_text()
)


def _check(document: dict[str, object]) -> None:
    assert set(document) == set(SCHEMA["required"])
    assert document["ok"] is (document["exit_code"] == 0)
    error = document["error"]
    if error is not None:
        assert isinstance(error, dict)
        assert set(error) == set(SCHEMA["properties"]["error"]["oneOf"][1]["required"])


def test_success_has_result_and_null_error() -> None:
    document = envelope("devices plan", result={"decisions": []})
    _check(document)
    assert document["ok"] is True and document["error"] is None
    assert document["result"] == {"decisions": []}


@pytest.mark.parametrize(
    ("error", "code", "field"),
    [
        (
            PolicyError("mrtd_mismatch", "MRTD differs", expected=b"\x01", actual=b"\x02"),
            "mrtd_mismatch",
            None,
        ),
        (ParseError("TdxQuote", "header.version", 0, "unsupported"), None, "header.version"),
        (InputError("--policy p.json: not valid JSON"), None, None),
    ],
)
def test_failure_names_class_code_and_place(
    error: Exception, code: str | None, field: str | None
) -> None:
    document = envelope("verify", error=error, exit_code=getattr(error, "exit_code", 2))
    _check(document)
    assert document["ok"] is False
    assert document["error"]["class"] == type(error).__name__  # type: ignore[index]
    assert document["error"]["code"] == code  # type: ignore[index]
    assert document["error"]["field"] == field  # type: ignore[index]


def test_expected_and_actual_use_the_json_forms() -> None:
    document = envelope(
        "verify",
        error=PolicyError("x_mismatch", "d", expected=b"\xab", actual=b"\xcd"),
        exit_code=1,
    )
    assert document["error"]["expected"] == "ab"  # type: ignore[index]
    assert document["error"]["actual"] == "cd"  # type: ignore[index]
