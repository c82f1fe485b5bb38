"""Reading a command's ``--json`` output in tests: the envelope and the command's result schema.

Every document a test parses goes through ``envelope_result``, so every ``--json`` output the
suite sees validates against ``cli/schemas/envelope.schema.json`` and the command's own schema.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parent.parent / "cli" / "schemas"
#: commands whose result schema has another name than their words joined by '-'
_SHARED = {"measure snp": "measurements", "measure tdx": "measurements"}


@cache
def schema(name: str) -> dict[str, Any]:
    path = SCHEMAS / f"{name}.schema.json"
    document = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return document  # type: ignore[no-any-return]


def result_schema_name(command: str) -> str:
    return _SHARED.get(command, command.replace(" ", "-"))


def envelope(text: str, command: str) -> dict[str, Any]:
    """The whole envelope, validated (its ``result`` too, when there is one)."""
    document = json.loads(text)
    jsonschema.validate(document, schema("envelope"))
    assert document["command"] == command, document["command"]
    if document["result"] is not None:
        jsonschema.validate(document["result"], schema(result_schema_name(command)))
    return document  # type: ignore[no-any-return]


def envelope_result(text: str, command: str) -> dict[str, Any]:
    """The ``result`` of a successful command's envelope, validated."""
    document = envelope(text, command)
    assert document["ok"] is True and document["error"] is None, document["error"]
    result = document["result"]
    assert isinstance(result, dict)
    return result
