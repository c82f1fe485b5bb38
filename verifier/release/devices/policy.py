"""The device-authorization policy: a JSON document the image owner writes and signs.

```json
{"version": 1, "default": "deny",
 "bootstrap": [{"bus": "pci", "vendor": "1af4"}, {"bus": "virtio", "virtio_id": [1, 9]}],
 "rules": [{"action": "allow", "bus": "virtio", "virtio_id": 2},
           {"action": "deny", "bus": "pci", "vendor": "8086", "device": "100e"}]}
```

A rule matches a device when every key it has matches (a list means any of); the first
matching rule wins, otherwise ``default``, which must be ``deny``. ``bootstrap`` entries are
rules without ``action``: the devices authorized before attestation. The JSON Schema
(``verifier/release/device-policy.schema.json``) describes the same document; this module
validates by hand, naming the offending field (``ParseError("DevicePolicy", "rules[2].vendor")``).

Signed form: COSE_Sign1 over the JSON bytes with the keys used for reference values, content
type ``application/vnd.ccverify.device-policy+json`` (a signed CoRIM is never a device policy,
nor the other way round). Signature failures are ``VerificationError`` with ``device_policy_*``
codes (``device_policy_unsigned``, ``device_policy_signature_invalid``,
``device_policy_wrong_key``, ``device_policy_bad_content_type``...).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ccverify.verifier.errors import InputError, ParseError, VerificationError
from ccverify.verifier.jsonable import JSON_ERRORS

if TYPE_CHECKING:
    from ccverify.verifier.inputs import Source
    from ccverify.verifier.refvalues.cose import PrivateKey, TrustAnchor

STRUCTURE = "DevicePolicy"
CONTENT_TYPE = "application/vnd.ccverify.device-policy+json"
VERSION = 1

#: buses a policy may name
BUSES = ("pci", "virtio", "usb", "thunderbolt", "platform")
#: buses every policy covers (default deny applies there); ``platform`` only when named
DEFAULT_BUSES = ("pci", "virtio", "usb", "thunderbolt")

TOP_KEYS = frozenset({"version", "default", "bootstrap", "rules"})
HEX16_KEYS = ("vendor", "device", "subsystem_vendor", "subsystem_device")
MATCH_KEYS = frozenset(
    {
        "bus",
        *HEX16_KEYS,
        "class",
        "class_mask",
        "virtio_id",
        "driver",
        "name",
        "modalias",
        "id",
        "with_interface",
    }
)
RULE_KEYS = MATCH_KEYS | {"action"}
ACTIONS = ("allow", "deny")
#: keys that only make sense on one bus (a rule naming another bus could never match)
_BUS_ONLY = {"class": "pci", "class_mask": "pci", "virtio_id": "virtio", "with_interface": "usb"}

_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)")
_USB_ID = re.compile(r"([0-9a-fA-F]{4}|\*):([0-9a-fA-F]{4}|\*)")
_INTERFACE = re.compile(r"([0-9a-fA-F]{2}|\*):([0-9a-fA-F]{2}|\*):([0-9a-fA-F]{2}|\*)")
MAX_RULES = 10_000


def _bad(where: str, detail: str) -> ParseError:
    return ParseError(STRUCTURE, where, None, detail)


def normalize_driver(name: str) -> str:
    """Module and driver names compare with ``-`` and ``_`` alike (as modprobe does)."""
    return name.replace("-", "_")


@dataclass(frozen=True)
class Match:
    """The keys of one rule or bootstrap entry, parsed; ``None`` means the key is absent."""

    where: str
    bus: frozenset[str] | None = None
    vendor: frozenset[int] | None = None
    device: frozenset[int] | None = None
    subsystem_vendor: frozenset[int] | None = None
    subsystem_device: frozenset[int] | None = None
    class_code: tuple[int, ...] | None = None
    class_mask: int = 0xFFFFFF
    virtio_id: frozenset[int] | None = None
    driver: tuple[str, ...] | None = None  # normalized, in the order written
    name: frozenset[str] | None = None
    modalias: tuple[str, ...] | None = None
    usb_id: tuple[tuple[int | None, int | None], ...] | None = None
    with_interface: tuple[tuple[int | None, int | None, int | None], ...] | None = None
    source: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"where": self.where, **self.source}


@dataclass(frozen=True)
class Rule:
    """One rule of a device policy: what to do (``allow`` or ``deny``) with the devices it matches."""

    action: str
    match: Match

    @property
    def where(self) -> str:
        return self.match.where

    def to_json(self) -> dict[str, Any]:
        return self.match.to_json()


@dataclass(frozen=True)
class DevicePolicy:
    """A parsed device policy and the digest of the exact JSON bytes it came from."""

    version: int
    default: str
    bootstrap: tuple[Match, ...]
    rules: tuple[Rule, ...]
    sha256: str
    buses: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "default": self.default,
            "bootstrap": [dict(m.source) for m in self.bootstrap],
            "rules": [{"action": r.action, **r.match.source} for r in self.rules],
            "sha256": self.sha256,
            "buses": list(self.buses),
        }


# --------------------------------------------------------------------------- parsing


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _nonempty(value: Any, where: str) -> list[Any]:
    items = _listed(value)
    if not items:
        raise _bad(where, "an empty list matches nothing; leave the key out instead")
    return items


def _hex(value: Any, where: str, bits: int) -> int:
    if not isinstance(value, str):
        raise _bad(where, f"expected a hex string, got {type(value).__name__}")
    found = _HEX.fullmatch(value)
    if found is None or len(found.group(1)) > bits // 4:
        raise _bad(
            where, f'{value!r} is not a {bits}-bit hex number (e.g. "{"1af4" if bits == 16 else "010802"}")'
        )
    return int(found.group(1), 16)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or "\n" in value or "\x00" in value:
        raise _bad(where, "expected a non-empty string on one line")
    return value


def _parse_match(entry: Any, where: str, allowed: frozenset[str]) -> tuple[Match, dict[str, Any]]:
    if not isinstance(entry, dict):
        raise _bad(where, f"expected an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise _bad(f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    keys = set(entry) - {"action"}
    if not keys:
        raise _bad(where, "an entry without match keys would match every device")
    values: dict[str, Any] = {}
    if "bus" in entry:
        buses = []
        for i, bus in enumerate(_nonempty(entry["bus"], f"{where}.bus")):
            if bus not in BUSES:
                raise _bad(
                    f"{where}.bus" + (f"[{i}]" if isinstance(entry["bus"], list) else ""),
                    f"{bus!r} is not a bus ccverify covers ({', '.join(BUSES)})",
                )
            buses.append(bus)
        values["bus"] = frozenset(buses)
        for key, only in _BUS_ONLY.items():
            if key in entry and only not in buses:
                raise _bad(
                    f"{where}.{key}",
                    f"only {only} devices have a {key}; this entry names bus {sorted(buses)}",
                )
    for key in HEX16_KEYS:
        if key in entry:
            items = _nonempty(entry[key], f"{where}.{key}")
            values[key] = frozenset(_hex(v, f"{where}.{key}", 16) for v in items)
    if "class" in entry:
        items = _nonempty(entry["class"], f"{where}.class")
        values["class_code"] = tuple(_hex(v, f"{where}.class", 24) for v in items)
    if "class_mask" in entry:
        if "class" not in entry:
            raise _bad(f"{where}.class_mask", "class_mask needs class")
        values["class_mask"] = _hex(entry["class_mask"], f"{where}.class_mask", 24)
        values["class_code"] = tuple(c & values["class_mask"] for c in values["class_code"])
    if "virtio_id" in entry:
        ids = []
        for v in _nonempty(entry["virtio_id"], f"{where}.virtio_id"):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0xFFFFFFFF:
                raise _bad(
                    f"{where}.virtio_id",
                    f"expected an integer virtio device id (1 net, 2 block...), got {v!r}",
                )
            ids.append(v)
        values["virtio_id"] = frozenset(ids)
    if "driver" in entry:
        drivers = [_text(v, f"{where}.driver") for v in _nonempty(entry["driver"], f"{where}.driver")]
        values["driver"] = tuple(dict.fromkeys(normalize_driver(d) for d in drivers))
    if "name" in entry:
        values["name"] = frozenset(
            _text(v, f"{where}.name") for v in _nonempty(entry["name"], f"{where}.name")
        )
    if "modalias" in entry:
        values["modalias"] = tuple(
            _text(v, f"{where}.modalias") for v in _nonempty(entry["modalias"], f"{where}.modalias")
        )
    if "id" in entry:
        values["usb_id"] = _usbguard(
            entry["id"], f"{where}.id", _USB_ID, "vendor:product as 4 hex digits each or '*'"
        )
    if "with_interface" in entry:
        values["with_interface"] = _usbguard(
            entry["with_interface"],
            f"{where}.with_interface",
            _INTERFACE,
            "class:subclass:protocol, 2 hex digits or '*' each",
        )
    source = {k: entry[k] for k in entry if k != "action"}
    return Match(where=where, source=source, **values), entry


def _usbguard(
    value: Any, where: str, pattern: re.Pattern[str], form: str
) -> tuple[tuple[int | None, ...], ...]:
    """USBGuard's hex fields (``1d6b:*``, ``09:00:*``): a tuple of ints per entry, None for '*'."""
    parsed = []
    for v in _nonempty(value, where):
        found = pattern.fullmatch(v) if isinstance(v, str) else None
        if found is None:
            raise _bad(where, f"expected {form} (USBGuard), got {v!r}")
        parsed.append(tuple(None if g == "*" else int(g, 16) for g in found.groups()))
    return tuple(parsed)


def parse_policy(data: bytes, *, what: str = "device policy") -> DevicePolicy:
    """Parse and validate the JSON bytes of a policy (no signature involved)."""
    try:
        document = json.loads(data)
    except JSON_ERRORS:
        raise InputError(
            f"{what}: not valid JSON (a signed policy is a COSE_Sign1 file; JSON is read unsigned)"
        ) from None
    if not isinstance(document, dict):
        raise _bad("policy", "expected a JSON object")
    unknown = sorted(set(document) - TOP_KEYS)
    if unknown:
        raise _bad(unknown[0], f"unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
    for key in ("version", "default"):
        if key not in document:
            raise _bad(key, "missing")
    version = document["version"]
    if version != VERSION or isinstance(version, bool):
        raise _bad("version", f"expected {VERSION}, got {version!r}")
    if document["default"] != "deny":
        raise _bad(
            "default", f'must be "deny" (devices no rule allows stay unbound), got {document["default"]!r}'
        )
    bootstrap_raw = document.get("bootstrap", [])
    rules_raw = document.get("rules", [])
    for key, raw in (("bootstrap", bootstrap_raw), ("rules", rules_raw)):
        if not isinstance(raw, list):
            raise _bad(key, "expected a list")
        if len(raw) > MAX_RULES:
            raise _bad(key, f"more than {MAX_RULES} entries")
    bootstrap = tuple(
        _parse_match(entry, f"bootstrap[{i}]", MATCH_KEYS)[0] for i, entry in enumerate(bootstrap_raw)
    )
    rules = []
    for i, entry in enumerate(rules_raw):
        where = f"rules[{i}]"
        match, raw = _parse_match(entry, where, RULE_KEYS)
        if "action" not in raw:
            raise _bad(f"{where}.action", "missing (allow or deny)")
        if raw["action"] not in ACTIONS:
            raise _bad(f"{where}.action", f"expected allow or deny, got {raw['action']!r}")
        rules.append(Rule(raw["action"], match))
    named = {b for m in (*bootstrap, *(r.match for r in rules)) if m.bus for b in m.bus}
    buses = tuple(b for b in BUSES if b in DEFAULT_BUSES or b in named)
    return DevicePolicy(VERSION, "deny", bootstrap, tuple(rules), hashlib.sha256(data).hexdigest(), buses)


# --------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy and how it was had: signed (by which anchor) or read unsigned."""

    policy: DevicePolicy
    signed: bool
    signer: str | None = None
    key_id: bytes | None = None
    file_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "signed": self.signed,
            "signer": self.signer,
            "key_id": None if self.key_id is None else self.key_id.hex(),
            "file_sha256": self.file_sha256,
            "sha256": self.policy.sha256,
        }


def sign_policy(
    data: bytes, key: PrivateKey | Source, *, signer: str = "ccverify device policy"
) -> bytes:
    """A COSE_Sign1 over the policy's JSON bytes, after checking they form a valid policy."""
    from ccverify.verifier.refvalues import cose

    parse_policy(data)
    private = cose.load_private_key(key)
    return cose.sign(
        data, private, signer=cose.Signer(signer), content_type=CONTENT_TYPE, with_corim_meta=False
    )


def _translated(error: VerificationError) -> VerificationError:
    code = error.code.replace("refvalues_", "device_policy_")
    detail = (
        error.detail.replace("reference values are", "device policy is")
        .replace("reference values", "device policy")
        .replace("a CoRIM", "a device policy")
    )
    return VerificationError(code, detail, expected=error.expected, actual=error.actual)


def is_signed(data: bytes) -> bool:
    return data[:1] == b"\xd2"


def load_policy(
    data: bytes,
    trust_anchors: Sequence[TrustAnchor | Source],
    *,
    at: datetime | None = None,
    allow_unsigned: bool = False,
) -> LoadedPolicy:
    """Verify a signed policy against ``trust_anchors`` and parse it.

    ``allow_unsigned`` (``devices plan`` only) also reads plain JSON; every command that
    applies a policy refuses it (``device_policy_unsigned``).
    """
    from ccverify.verifier.refvalues import cose, load_trust_anchors
    from ccverify.verifier.timeutil import resolve_time

    if not is_signed(data):
        if not allow_unsigned:
            raise VerificationError(
                "device_policy_unsigned",
                "the device policy is not signed (expected a COSE_Sign1 made by 'ccverify devices sign')",
            )
        return LoadedPolicy(parse_policy(data), signed=False)
    if not trust_anchors:
        raise InputError("a signed device policy needs --trust-anchor (the keys trusted to sign it)")
    anchors = load_trust_anchors(list(trust_anchors))
    envelope = cose.parse_sign1(data)
    try:
        verified = cose.verify(envelope, anchors, at=resolve_time(at), content_type=CONTENT_TYPE)
    except VerificationError as error:
        raise _translated(error) from None
    header = envelope.header
    policy = parse_policy(envelope.payload)
    return LoadedPolicy(
        policy,
        signed=True,
        signer=None if header.signer is None else header.signer.name,
        key_id=verified.anchor.kid,
        file_sha256=hashlib.sha256(data).hexdigest(),
    )


# --------------------------------------------------------------------------- template

#: virtio device ids whose drivers were hardened for confidential guests (Intel's TDX guest
#: filter allows these on PCI vendor 1af4): id -> (name, driver)
HARDENED_VIRTIO = {
    1: ("net", "virtio_net"),
    2: ("block", "virtio_blk"),
    3: ("console", "virtio_console"),
    9: ("9p", "9pnet_virtio"),
    19: ("vsock", "vmw_vsock_virtio_transport"),
}
#: PCI device ids of those functions on vendor 1af4: transitional 0x1000 + n, modern 0x1040 + id
HARDENED_PCI_DEVICES = ("1000", "1001", "1003", "1009", "1041", "1042", "1043", "1049", "1053")

TEMPLATES = ("confidential-computing-default",)


def template(name: str) -> dict[str, Any]:
    """A starting policy for the owner to edit and sign."""
    if name != "confidential-computing-default":
        raise InputError(f"unknown template {name!r} (known: {', '.join(TEMPLATES)})")
    return {
        "version": VERSION,
        "default": "deny",
        "bootstrap": [
            {"bus": "pci", "vendor": "1af4", "device": list(HARDENED_PCI_DEVICES), "driver": "virtio_pci"},
            {"bus": "pci", "class": "060400", "class_mask": "ffff00", "driver": "pcieport"},
            {"bus": "virtio", "virtio_id": 3, "driver": "virtio_console"},
            {"bus": "virtio", "virtio_id": 1, "driver": "virtio_net"},
        ],
        "rules": [
            {"action": "allow", "bus": "virtio", "vendor": "1af4", "virtio_id": vid, "driver": driver}
            for vid, (_name, driver) in HARDENED_VIRTIO.items()
        ],
    }
