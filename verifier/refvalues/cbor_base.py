"""The CBOR layer under the CoRIM codec (``corim.py``): strict decoding (``loads_strict``), the
typed readers, tags, times, OIDs and validity windows. ``cose.py`` needs only this, so the
device gate (which verifies a COSE_Sign1 policy) never loads the CoRIM data model.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

import cbor2

from ccverify.verifier.errors import ParseError
from ccverify.verifier.timeutil import as_utc

STRUCTURE = "CoRIM"

TAG_URI = 32
TAG_UUID = 37
TAG_OID = 111
TAG_TIME = 1
TAG_COSE_SIGN1 = 18
TAG_CORIM_LEGACY = 500
TAG_CORIM = 501
TAG_SIGNED_CORIM_LEGACY = 502
TAG_COSWID = 505
TAG_COMID = 506
TAG_COTL = 508
TAG_UEID = 550
TAG_INT = 551
TAG_SVN = 552
TAG_MIN_SVN = 553
TAG_BYTES = 560
TAG_MASKED_RAW_VALUE = 563

#: concise tag types a CoRIM may carry; any other tag in ``tags`` is unknown critical content
CONCISE_TAG_TYPES = {TAG_COSWID: "coswid", TAG_COMID: "comid", TAG_COTL: "cotl"}

#: deepest container nesting accepted (a CoRIM needs about 12)
MAX_DEPTH = 48

# every tag cbor2 would otherwise interpret is kept as a raw CBORTag: we interpret tags ourselves
_SEMANTIC_TAGS = (
    0, 1, 2, 3, 4, 5, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 32, 33, 34, 35, 36, 37, 38, 52,
    54, 100, 256, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 1004, 1040, 55799,
)  # fmt: skip


def _raw_tag(number: int) -> Any:
    return lambda value, immutable: cbor2.CBORTag(number, value)


_RAW_DECODERS: dict[int, Any] = {n: _raw_tag(n) for n in _SEMANTIC_TAGS}

TRIPLE_NAMES = {
    0: "reference-triples",
    1: "endorsed-triples",
    2: "identity-triples",
    3: "attest-key-triples",
    4: "dependency-triples",
    5: "membership-triples",
    6: "coswid-triples",
    8: "conditional-endorsement-series-triples",
    10: "conditional-endorsement-triples",
}


# --------------------------------------------------------------------------- strict CBOR


def loads_strict(data: bytes, structure: str = STRUCTURE, field: str = "corim") -> Any:
    """One CBOR data item filling ``data`` exactly; tags stay ``CBORTag``; errors are ParseError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(structure, field, None, "expected bytes")
    raw = bytes(data)
    if not raw:
        raise ParseError(structure, field, 0, "empty input")
    stream = io.BytesIO(raw)
    try:
        decoder = cbor2.CBORDecoder(
            stream,
            read_size=1,
            semantic_decoders=_RAW_DECODERS,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            max_depth=MAX_DEPTH,
        )
        value = decoder.decode()
    except cbor2.CBORDecodeEOF:
        raise ParseError(structure, field, len(raw), "truncated CBOR") from None
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, MemoryError) as error:
        raise ParseError(structure, field, None, f"malformed CBOR: {error}") from None
    end = stream.tell()
    if end != len(raw):
        raise ParseError(structure, field, end, f"{len(raw) - end} trailing byte(s) after the CBOR item")
    return value


def dumps(value: Any) -> bytes:
    """Encode with definite lengths; maps keep the order they are given in."""
    return cbor2.dumps(value)


# --------------------------------------------------------------------------- typed readers


def _fail(path: str, detail: str) -> ParseError:
    return ParseError(STRUCTURE, path, None, detail)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, (bytes, bytearray)):
        return "bstr"
    if isinstance(value, str):
        return "tstr"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, cbor2.CBORTag):
        return f"tag {value.tag}"
    if value is None:
        return "null"
    return type(value).__name__


def is_int(value: object) -> TypeGuard[int]:
    """A CBOR integer (Python's ``bool`` is an ``int``; a CBOR bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_label(value: object) -> TypeGuard[int | str]:
    """An integer or a text string (a map label, a digest algorithm, a version scheme)."""
    return isinstance(value, str) or is_int(value)


def is_number(value: object) -> TypeGuard[int | float]:
    """An integer or a float (a NumericDate)."""
    return isinstance(value, float) or is_int(value)


def _map(value: Any, path: str, *, nonempty: bool = False) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected a map, got {_kind(value)}")
    if nonempty and not value:
        raise _fail(path, "map must not be empty")
    return value


def _array(value: Any, path: str, *, nonempty: bool = True) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise _fail(path, f"expected an array, got {_kind(value)}")
    if nonempty and not value:
        raise _fail(path, "array must not be empty")
    return list(value)


def _int(value: Any, path: str) -> int:
    if not is_int(value):
        raise _fail(path, f"expected an integer, got {_kind(value)}")
    return value


def _uint(value: Any, path: str) -> int:
    number = _int(value, path)
    if number < 0:
        raise _fail(path, f"expected an unsigned integer, got {number}")
    return number


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a text string, got {_kind(value)}")
    return value


def _bytes(value: Any, path: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise _fail(path, f"expected a byte string, got {_kind(value)}")
    return bytes(value)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"expected a bool, got {_kind(value)}")
    return value


def _tagged(value: Any, number: int, path: str) -> Any:
    if not isinstance(value, cbor2.CBORTag) or value.tag != number:
        raise _fail(path, f"expected tag {number}, got {_kind(value)}")
    return value.value


def _key_name(key: Any) -> str:
    return str(key) if is_label(key) else repr(key)


def _require(mapping: Mapping[Any, Any], key: int, name: str, path: str) -> Any:
    if key not in mapping or (isinstance(key, int) and _has_bool_key(mapping, key)):
        raise _fail(path, f"missing mandatory key {key} ({name})")
    return mapping[key]


def _has_bool_key(mapping: Mapping[Any, Any], key: int) -> bool:
    # True == 1 == 1.0 in Python: make sure the key really is an integer
    return any(type(k) is not int and k == key for k in mapping)


def _get(mapping: Mapping[Any, Any], key: int, path: str) -> Any:
    if key not in mapping:
        return None
    if _has_bool_key(mapping, key):
        raise _fail(path, f"map key {key} is not an integer")
    value = mapping[key]
    if value is None:
        raise _fail(path, f"map key {key} is null; leave the key out instead")
    return value


def plain(value: Any) -> Any:
    """Generic CBOR value -> JSON-able form: tags as ``{"tag": n, "value": ...}``, keys as text."""
    if isinstance(value, cbor2.CBORTag):
        return {"tag": value.tag, "value": plain(value.value)}
    if isinstance(value, Mapping):
        return {_key_name(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _extensions(mapping: Mapping[Any, Any], known: set[int]) -> tuple[tuple[int | str, Any], ...]:
    out: list[tuple[int | str, Any]] = []
    for key, value in mapping.items():
        if not is_label(key):
            out.append((repr(key), plain(value)))
        elif key not in known:
            out.append((key, plain(value)))
    return tuple(out)


# --------------------------------------------------------------------------- OIDs, UUIDs, time


def oid_to_text(der: bytes) -> str:
    """Dotted text of a BER-encoded OID body (the content of tag 111)."""
    if not der or der[-1] & 0x80:
        raise ValueError("truncated OID")
    arcs: list[int] = []
    value = 0
    for byte in der:
        if value == 0 and byte == 0x80:
            raise ValueError("non-minimal OID arc")
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def oid_from_text(text: str) -> bytes:
    try:
        arcs = [int(part) for part in text.split(".")]
    except ValueError:
        raise ValueError(f"not a dotted OID: {text!r}") from None
    if len(arcs) < 2 or arcs[0] > 2 or any(a < 0 for a in arcs) or (arcs[0] < 2 and arcs[1] >= 40):
        raise ValueError(f"not a valid OID: {text!r}")
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _time(value: Any, path: str) -> datetime:
    inner = _tagged(value, TAG_TIME, path)
    if not is_number(inner):
        raise _fail(path, f"time must be a number, got {_kind(inner)}")
    try:
        return datetime.fromtimestamp(inner, UTC)
    except (OverflowError, OSError, ValueError):
        raise _fail(path, f"time {inner} is out of range") from None


def encode_time(moment: datetime) -> cbor2.CBORTag:
    seconds = as_utc(moment).timestamp()
    return cbor2.CBORTag(TAG_TIME, int(seconds) if seconds == int(seconds) else seconds)


def _uri(value: Any, path: str) -> str:
    """``uri`` is ``#6.32(tstr)``; a bare text string is also accepted."""
    if isinstance(value, cbor2.CBORTag) and value.tag == TAG_URI:
        return _text(value.value, path)
    return _text(value, path)


@dataclass(frozen=True)
class Validity:
    """A CoRIM validity window (``validity-map``): not after, and not before when given."""

    not_after: datetime
    not_before: datetime | None = None


def decode_validity(value: Any, path: str) -> Validity:
    vmap = _map(value, path)
    not_after = _time(_require(vmap, 1, "not-after", path), f"{path}.not-after")
    nb_raw = _get(vmap, 0, path)
    not_before = None if nb_raw is None else _time(nb_raw, f"{path}.not-before")
    if not_before is not None and not_before > not_after:
        raise _fail(path, "not-before is later than not-after")
    return Validity(not_after, not_before)


def encode_validity(validity: Validity) -> dict[int, Any]:
    out: dict[int, Any] = {}
    if validity.not_before is not None:
        out[0] = encode_time(validity.not_before)
    out[1] = encode_time(validity.not_after)
    return out
