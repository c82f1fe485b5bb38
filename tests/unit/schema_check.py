"""Hold ``--json`` output to the published schemas (``cli/schemas/``) with jsonschema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[2] / "cli" / "schemas"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def check_envelope(document: dict[str, Any], result_schema: str | None) -> None:
    """``document`` is an envelope whose ``result`` (when not null) follows ``result_schema``."""
    jsonschema.Draft202012Validator(load("envelope.schema.json")).validate(document)
    if result_schema is not None and document.get("result") is not None:
        jsonschema.Draft202012Validator(load(result_schema)).validate(document["result"])
