"""Turn parsed structures and verdicts into plain JSON values, one convention for all.

Byte strings become lowercase hex, ``enum.Flag`` values lists of member names, other
enums their name, datetimes ISO 8601 in UTC with a ``Z``. Dataclasses become objects of
their fields, in declaration order; a field declared with ``metadata={"json": False}`` is
left out, and an object with a ``to_json()`` method is asked for its own form.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ccverify.verifier.timeutil import as_utc

if TYPE_CHECKING:
    from ccverify.verifier.snp.verify import SnpVerdict
    from ccverify.verifier.tdx.verify import TdxVerdict

#: everything ``json.loads`` raises on bad input: ``JSONDecodeError`` and ``UnicodeDecodeError``
#: (both ValueErrors), a bare ``ValueError`` (an integer beyond the int digit limit) and
#: ``RecursionError`` (deep nesting); every one of them is "not valid JSON"
JSON_ERRORS = (ValueError, RecursionError)


def to_jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # exactly JSON's own scalars (none of them has a to_json)
        return value
    if kind is dict or kind is MappingProxyType:  # no to_json either: as any other Mapping below
        return {str(k): to_jsonable(v) for k, v in value.items()}
    custom = getattr(value, "to_json", None)
    if callable(custom) and not isinstance(value, type):
        return custom()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, enum.Flag):
        return flag_names(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, datetime):
        return iso8601(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


_PLAIN = frozenset({str, int, float, bool, type(None)})

JsonValue = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None


def verdict_to_json(verdict: TdxVerdict | SnpVerdict) -> dict[str, JsonValue]:
    """A verdict as JSON (what ``ccverify verify --json`` prints as ``verdict``): byte strings as
    lowercase hex, flags as lists of names, enums by name, times as ISO 8601 ``Z``."""
    out: dict[str, JsonValue] = to_jsonable(verdict)
    return out


def flag_names(value: enum.Flag) -> list[str]:
    """Names of the set members of a flag, lowest bit first; unnamed bits as ``bitN``."""
    names: list[str] = []
    raw = int(value.value)
    cls = type(value)
    bit = 0
    while raw >> bit:
        if raw >> bit & 1:
            try:
                member = cls(1 << bit)
                names.append(member.name or f"bit{bit}")
            except ValueError:
                names.append(f"bit{bit}")
        bit += 1
    return names


def iso8601(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")
