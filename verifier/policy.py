"""What TDX and SNP policies share: the policy file, the opt-out sentinel, and the rules by
which a policy's values are read (one convention for both platforms).

The policy file (``--policy``; schema: ``verifier/schemas/policy.schema.json``) is a JSON object
with a ``"tdx"`` and/or an ``"snp"`` object, nothing else; both sections are read whatever the
evidence, by these rules:

- Unknown keys are refused, at every level.
- A key left out is not checked (the default policy's value applies). ``null`` is refused:
  leave the key out instead.
- A list of accepted values (``mrtd``, ``measurement``, ``accepted_tcb_statuses``, ``products``,
  ...) must not be empty: an empty allow-list accepts nothing, which is a mistake in the file,
  not a policy. A single value may stand for a one-element list. The one list that may be empty
  is ``tdx.accepted_advisory_ids``: ``[]`` accepts a platform with no advisory at all (a
  stricter check than leaving it out).
- Every problem in the file is reported at once (one ``InputError`` listing them all).

In the library the same holds for ``TdxPolicy(...)`` / ``SnpPolicy(...)``: ``None`` means "not
checked", an empty tuple is refused, and every value is checked when the policy is built.

``verify_tdx`` and ``verify_snp`` apply a policy: the default one unless another is passed.
Skipping it takes ``policy=UNSAFE_NO_POLICY``; the verdict records which policy applied
(``"default"``, ``"custom"`` or ``"UNSAFE_NO_POLICY"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, final

from ccverify.verifier.errors import InputError, PolicyError
from ccverify.verifier.inputs import Source, read_source
from ccverify.verifier.jsonable import JSON_ERRORS

if TYPE_CHECKING:
    from ccverify.verifier.snp.validate import SnpPolicy
    from ccverify.verifier.tdx.validate import TdxPolicy

__all__ = [
    "CUSTOM",
    "DEFAULT",
    "UNSAFE_NO_POLICY",
    "PolicyFile",
    "Problems",
    "UnsafeNoPolicy",
    "load_policy_file",
    "read_policy_document",
]

#: what a verdict records as its policy
DEFAULT: Final = "default"
CUSTOM: Final = "custom"


@final
class UnsafeNoPolicy:
    """The type of ``UNSAFE_NO_POLICY``: verification without any policy (see module doc)."""

    _instance: UnsafeNoPolicy | None = None

    def __new__(cls) -> UnsafeNoPolicy:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSAFE_NO_POLICY"

    def __reduce__(self) -> str:
        return "UNSAFE_NO_POLICY"


#: ``verify_tdx(..., policy=UNSAFE_NO_POLICY)``: verify signatures, chains and collateral but
#: accept any TCB status, DEBUG guests, unchecked revocation... The caller must apply a policy
#: itself (``validate_tdx`` / ``validate_snp``); the verdict records that none was applied.
UNSAFE_NO_POLICY: Final = UnsafeNoPolicy()

_V = TypeVar("_V")
_P = TypeVar("_P")


class ChosenPolicy(Generic[_V, _P]):
    """The policy a ``verify_tdx`` / ``verify_snp`` call applies (``choose_policy``)."""

    __slots__ = ("applied", "policy", "validate")

    def __init__(
        self, validate: Callable[[_V, _P | None], object] | None, applied: str, policy: _P | None
    ) -> None:
        #: the validator to run (None: UNSAFE_NO_POLICY)
        self.validate = validate
        #: what the verdict records: DEFAULT, CUSTOM or "UNSAFE_NO_POLICY"
        self.applied = applied
        #: the policy given (None: the validator's default)
        self.policy = policy

    def check(self, verdict: _V) -> _V:
        """``verdict`` when the policy accepts it; a refusal's ``PolicyError`` carries it."""
        if self.validate is not None:
            try:
                self.validate(verdict, self.policy)
            except PolicyError as refusal:
                refusal.verdict = verdict  # type: ignore[assignment]
                raise
        return verdict


#: each policy class's default instance, built on first use (building one checks every field)
_DEFAULTS: dict[type, object] = {}


def choose_policy(
    policy: object,
    function: str,
    expected: str,
    load: Callable[[], tuple[type[_P], Callable[[_V, _P | None], object]]],
) -> ChosenPolicy[_V, _P]:
    """What ``function``'s ``policy`` argument means: ``UNSAFE_NO_POLICY``, ``None`` (the
    default) or an instance of the class ``load`` returns with its validator (``load`` imports
    them where they are used: a platform's validate module imports its verify module).
    ``expected`` names that class with its article in the refusal ("a TdxPolicy")."""
    if policy is UNSAFE_NO_POLICY:
        return ChosenPolicy(None, "UNSAFE_NO_POLICY", None)
    cls, validate = load()
    if policy is None:
        return ChosenPolicy(validate, DEFAULT, None)
    if not isinstance(policy, cls):
        raise InputError(
            f"{function}: policy must be {expected}, None (the default) or UNSAFE_NO_POLICY, "
            f"not {type(policy).__name__}"
        )
    default = _DEFAULTS.get(cls)
    if default is None:
        default = _DEFAULTS[cls] = cls()
    return ChosenPolicy(validate, DEFAULT if policy == default else CUSTOM, policy)


class Problems:
    """Everything wrong with one policy, reported together as one ``InputError``."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []

    def add(self, key: str, text: str) -> None:
        self.items.append(f"{key}: {text}")

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_any(self) -> None:
        if self.items:
            raise InputError(f"{self.where}: " + "; ".join(self.items))


_HEX = re.compile(r"(?:0[xX])?(?:[0-9a-fA-F]{2})*")
#: an ISO 8601 / RFC 3339 time as the schema's "time" (no offset: UTC)
TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)
_EMPTY = "an empty list accepts nothing; leave the key out to not check it, or list the accepted values"
_NULL = "null; leave the key out to not check it"


def allowed_values(
    problems: Problems, key: str, value: Any, size: int, *, pad: bool = False
) -> tuple[bytes, ...] | None:
    """A policy object's allow-list of byte values (``None``: not checked), each ``size`` bytes
    (``pad``: shorter values are zero-padded on the right). One value stands for a list of one."""
    if value is None:
        return None
    items: tuple[Any, ...]
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        items = (value,)
    elif isinstance(value, (tuple, list, set, frozenset)):
        items = tuple(value)
    else:
        problems.add(key, f"expected bytes or a tuple of bytes, got {type(value).__name__}")
        return None
    out: list[bytes] = []
    for item in items:
        data = exact_bytes(problems, key, item, size, pad=pad)
        if data is not None:
            out.append(data)
    if not items:
        problems.add(key, _EMPTY)
    return tuple(out)


def exact_bytes(problems: Problems, key: str, value: Any, size: int, *, pad: bool = False) -> bytes | None:
    """One byte value of ``size`` bytes (``None`` passes through)."""
    if value is None:
        return None
    if isinstance(value, str):
        problems.add(key, "a str, expected bytes (a hex string? bytes.fromhex, or the policy's from_json)")
        return None
    if not isinstance(value, (bytes, bytearray, memoryview)):
        problems.add(key, f"expected bytes, got {type(value).__name__}")
        return None
    data = bytes(value)
    if len(data) == size or (pad and len(data) < size):
        return data.ljust(size, b"\0")
    padded = " (shorter is zero-padded)" if pad else ""
    problems.add(key, f"{len(data)} bytes, the field is {size}{padded}")
    return None


def flag(problems: Problems, key: str, value: Any, *, optional: bool = False) -> None:
    """``value`` must be a bool (or ``None`` when ``optional``)."""
    if value is None and optional:
        return
    if not isinstance(value, bool):
        problems.add(key, f"expected true or false, got {value!r}")


def count(problems: Problems, key: str, value: Any, *, maximum: int | None = None) -> None:
    """``value`` must be ``None`` or a non-negative int (at most ``maximum``)."""
    if value is None:
        return
    if type(value) is not int or value < 0 or (maximum is not None and value > maximum):
        bound = f"0-{maximum}" if maximum is not None else "a non-negative integer"
        problems.add(key, f"expected {bound}, got {value!r}")


# -- JSON -----------------------------------------------------------------------------------------


def json_hex(problems: Problems, key: str, value: Any, size: int, *, pad: bool = False) -> bytes | None:
    """A hex string (``0x`` allowed) of ``size`` bytes (``pad``: or fewer, zero-padded)."""
    if not isinstance(value, str):
        problems.add(key, f"expected a hex string, got {_json_text(value)}")
        return None
    if not _HEX.fullmatch(value):
        problems.add(key, f"{_short(value)} is not hex (pairs of hex digits, 0x allowed, nothing else)")
        return None
    data = bytes.fromhex(value[2:] if value[:2] in ("0x", "0X") else value)
    if len(data) == size or (pad and len(data) < size):
        return data.ljust(size, b"\0")
    longer = " or fewer" if pad else ""
    problems.add(key, f"{len(data)} bytes, expected {size}{longer}")
    return None


def json_list(problems: Problems, key: str, value: Any, *, may_be_empty: bool = False) -> list[Any] | None:
    """A JSON list (a single non-list value stands for a list of one); an empty list is refused
    unless ``may_be_empty``."""
    items = value if isinstance(value, list) else [value]
    if not items and not may_be_empty:
        problems.add(key, _EMPTY)
        return None
    return items


def json_hex_list(
    problems: Problems, key: str, value: Any, size: int, *, pad: bool = False
) -> tuple[bytes, ...]:
    items = json_list(problems, key, value) or []
    out = [json_hex(problems, key, item, size, pad=pad) for item in items]
    return tuple(item for item in out if item is not None)


def json_strings(problems: Problems, key: str, value: Any, *, may_be_empty: bool = False) -> list[str]:
    items = json_list(problems, key, value, may_be_empty=may_be_empty)
    if items is None:
        return []
    if not all(isinstance(item, str) for item in items):
        problems.add(key, "expected a list of strings")
        return []
    return items


def json_bool(problems: Problems, key: str, value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    problems.add(key, f"expected true or false, got {_json_text(value)}")
    return None


def json_count(problems: Problems, key: str, value: Any, *, maximum: int | None = None) -> int | None:
    """A non-negative integer (a JSON number), at most ``maximum``."""
    if type(value) is int and value >= 0 and (maximum is None or value <= maximum):
        return value
    bound = f"0-{maximum}" if maximum is not None else "a non-negative integer"
    problems.add(key, f"expected {bound}, got {_json_text(value)}")
    return None


def start(doc: Any, where: str, known: Iterable[str]) -> tuple[Problems, dict[str, Any]]:
    """Check a policy section's shape: an object, known keys, no nulls. Returns the problems so
    far and the keys left to read."""
    if not isinstance(doc, Mapping):
        raise InputError(f"{where}: expected a JSON object, got {_json_text(doc)}")
    problems = Problems(where)
    names = set(known)
    unknown = sorted(str(k) for k in doc if k not in names)
    if unknown:
        problems.add("unknown key(s)", f"{', '.join(unknown)}; known: {', '.join(sorted(names))}")
    todo: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in names:
            continue
        if value is None:
            problems.add(key, _NULL)
        else:
            todo[key] = value
    return problems, todo


def _json_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return _short(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- the policy file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyFile:
    """A policy file's sections (``None``: the section is absent, the default policy applies)."""

    tdx: TdxPolicy | None = None
    snp: SnpPolicy | None = None


_SECTIONS = ("tdx", "snp")


def read_policy_document(document: Any, where: str = "policy") -> PolicyFile:
    """A policy file's parsed JSON: ``{"tdx": {...}, "snp": {...}}`` (at least one of them).

    Both sections are read (and refused when wrong) whatever the evidence to verify.
    """
    if not isinstance(document, Mapping):
        raise InputError(f"{where}: expected a JSON object with a 'tdx' and/or 'snp' object")
    unknown = sorted(str(k) for k in document if k not in _SECTIONS)
    problems: list[str] = []
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; a policy file has 'tdx' and/or 'snp'")
    elif not document:
        problems.append("no 'tdx' or 'snp' object")
    sections: dict[str, Any] = {}
    for name in _SECTIONS:
        if name not in document:
            continue
        if not isinstance(document[name], Mapping):
            problems.append(f"'{name}' must be a JSON object, got {_json_text(document[name])}")
            continue
        try:
            sections[name] = _section(name, document[name])
        except InputError as error:
            problems.append(str(error))
    if problems:
        raise InputError(f"{where}: " + "; ".join(problems))
    return PolicyFile(**sections)


def _section(name: str, doc: Mapping[str, Any]) -> Any:
    if name == "tdx":
        from ccverify.verifier.tdx.validate import TdxPolicy

        return TdxPolicy.from_json(doc)
    from ccverify.verifier.snp.validate import SnpPolicy

    return SnpPolicy.from_json(doc)


def read_policy_file(data: bytes, where: str = "policy") -> PolicyFile:
    """A policy file's bytes (JSON)."""
    try:
        document = json.loads(data)
    except JSON_ERRORS:
        raise InputError(f"{where}: not valid JSON") from None
    return read_policy_document(document, where)


def load_policy_file(source: Source, what: str = "policy") -> PolicyFile:
    """A policy file (``os.PathLike``, at most ``verifier/limits.py``'s policy limit, 1 MiB) or
    its bytes; a ``str`` is refused (``InputError``, ``verifier/inputs.py``)."""
    data, where = read_source(source, "policy", what, "load_policy_file")
    return read_policy_file(data, where)
