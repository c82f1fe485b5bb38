"""A small JSON Schema checker for the subset ``cli/schemas/`` uses (no jsonschema dependency).

Supported: ``type`` (a name or a list), ``const``, ``enum``, ``required``, ``properties``,
``additionalProperties: false``, ``items``, ``minItems``, ``minLength``, ``minimum``,
``pattern``, ``oneOf``, ``$defs``/``$ref`` within the same document. ``format`` and
``description`` are annotations. Anything else in a schema is an error (so a schema cannot use
a keyword this checker would silently ignore).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[2] / "cli" / "schemas"

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
_KNOWN = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "format", "type", "const", "enum",
    "required", "properties", "additionalProperties", "items", "minItems", "minLength", "minimum",
    "maximum", "pattern", "oneOf",
}  # fmt: skip


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return document


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def errors(
    value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = "$"
) -> list[str]:
    """Where ``value`` breaks ``schema`` (empty: it conforms)."""
    root = root if root is not None else schema
    unknown = set(schema) - _KNOWN
    if unknown:
        return [f"{path}: schema uses unsupported keywords {sorted(unknown)}"]
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        return errors(value, root["$defs"][ref.removeprefix("#/$defs/")], root, path)
    found: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, n) for n in names):
            return [f"{path}: {type(value).__name__} is not {names}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not in {schema['enum']}")
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not errors(value, s, root, path)]
        if len(matching) != 1:
            found.append(f"{path}: matches {len(matching)} of oneOf")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                found.append(f"{path}: missing {key!r}")
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                found.extend(errors(item, properties[key], root, f"{path}.{key}"))
            elif schema.get("additionalProperties") is False:
                found.append(f"{path}: unexpected key {key!r}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            found.append(f"{path}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                found.extend(errors(item, schema["items"], root, f"{path}[{i}]"))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{path}: shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{path}: above {schema['maximum']}")
    return found


def check_envelope(document: dict[str, Any], result_schema: str | None) -> None:
    """``document`` is an envelope whose ``result`` (when not null) follows ``result_schema``."""
    problems = errors(document, load("envelope.schema.json"))
    if result_schema is not None and document.get("result") is not None:
        problems += errors(document["result"], load(result_schema), path="$.result")
    assert not problems, problems
