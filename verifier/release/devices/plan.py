"""The decision for each device under a policy, and what each stage would do to it.

``plan(policy, devices)`` changes nothing. Each ``Decision`` says whether the device is a
bootstrap device, allowed or denied, which entry decided (``bootstrap[0]``, ``rules[3]``,
``default``), the driver that would be bound (and whether the entry pins it), and the action of
each stage given what is bound now:

- ``lockdown`` (stage 1): bootstrap devices are bound, every other bound device is unbound;
- ``authorize`` (stage 2, after an affirming attestation result): bootstrap and allowed
  devices are bound, denied ones unbound.

Actions: ``keep``, ``bind``, ``rebind`` (bound to a driver the entry does not name),
``unbind``, ``none`` (denied and unbound), ``no_driver`` (wanted, but no driver is known for
its modalias); on buses with an ``authorized`` attribute ``authorize``/``deauthorize``.
A bootstrap device stays authorized at stage 2 even when a rule would deny it; the decision
notes that.

Rules are looked up through an index (each entry under its most selective key: name, virtio id,
device id, modalias prefix, driver, class, vendor, bus), so a device is compared only with the
few entries that could match it, in policy order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ccverify.verifier._frozen import positional
from ccverify.verifier.release.devices.glob import match as glob_match
from ccverify.verifier.release.devices.policy import BUSES, DevicePolicy, Match, normalize_driver
from ccverify.verifier.release.devices.sysfs import Device

#: buses enforced through an ``authorized`` attribute rather than driver binding
AUTHORIZED_BUSES = frozenset({"usb", "thunderbolt"})


def matches(match: Match, device: Device, drivers: tuple[str, ...] | None = None) -> bool:
    """Every key of ``match`` matches ``device`` (a list: any of its values). ``drivers``:
    the device's would-bind names, normalized, when the caller has them already."""
    if match.bus is not None and device.bus not in match.bus:
        return False
    if match.name is not None and device.name not in match.name:
        return False
    if match.vendor is not None and device.vendor not in match.vendor:
        return False
    if match.device is not None and device.device not in match.device:
        return False
    if match.virtio_id is not None and device.virtio_id not in match.virtio_id:
        return False
    if match.subsystem_vendor is not None and device.subsystem_vendor not in match.subsystem_vendor:
        return False
    if match.subsystem_device is not None and device.subsystem_device not in match.subsystem_device:
        return False
    if match.class_code is not None and (
        device.class_code is None or device.class_code & match.class_mask not in match.class_code
    ):
        return False
    if match.usb_id is not None and not any(
        (v is None or v == device.vendor) and (p is None or p == device.device) and device.vendor is not None
        for v, p in match.usb_id
    ):
        return False
    if match.with_interface is not None and not (
        device.interfaces
        and all(any(_triple(t, i.triple) for t in match.with_interface) for i in device.interfaces)
    ):
        return False
    if match.modalias is not None and not any(
        glob_match(alias, glob) for alias in device.modaliases for glob in match.modalias
    ):
        return False
    if match.driver is None:
        return True
    if drivers is None:
        drivers = tuple(normalize_driver(c) for c in device.would_bind)
    return any(d in match.driver for d in drivers)


def _triple(pattern: tuple[int | None, ...], actual: tuple[int | None, ...]) -> bool:
    return all(p is None or p == a for p, a in zip(pattern, actual, strict=True))


_WILDCARD = re.compile(r"[*?\[]")
#: a modalias glob is indexed by its literal prefix when that prefix is at least this long
_MIN_PREFIX = 8


def _literal_prefix(glob: str) -> str:
    found = _WILDCARD.search(glob)
    return glob if found is None else glob[: found.start()]


class _Index:
    """Entries bucketed by their most selective key, so a device meets only the entries that
    could match it (then checked in policy order with ``matches``)."""

    #: the device attributes looked up directly, in the order ``_keys`` prefers them
    ATTRIBUTES = ("name", "virtio_id", "device", "subsystem_device", "vendor", "subsystem_vendor", "bus")

    def __init__(self, entries: Sequence[Match], bus: str | None = None) -> None:
        """``bus``: index only the entries that can match a device on it (the others stay
        in ``entries`` for their positions, never looked up)."""
        self.entries = tuple(entries)
        self.rest: list[int] = []
        tables: dict[str, dict[Any, list[int]]] = {}
        self.classes: dict[int, dict[int, list[int]]] = {}  # mask -> masked class -> entries
        self.drivers: dict[str, list[int]] = {}
        self.aliases: dict[str, list[int]] = {}  # literal prefix of a modalias glob -> entries
        for i, m in enumerate(self.entries):
            if bus is not None and m.bus is not None and bus not in m.bus:
                continue
            kind, values = self._keys(m)
            if kind is None:
                self.rest.append(i)
                continue
            if kind == "class":
                table = self.classes.setdefault(m.class_mask, {})
            elif kind == "driver":
                table = self.drivers  # type: ignore[assignment]
            elif kind == "alias":
                table = self.aliases  # type: ignore[assignment]
            else:
                table = tables.setdefault(kind, {})
            for value in values:
                table.setdefault(value, []).append(i)
        #: (attribute, table) for the attributes some entry is indexed by
        self.tables = [(a, tables[a]) for a in self.ATTRIBUTES if a in tables]
        #: the device names some entry matches on (every entry with a name key is under it)
        self.names: frozenset[str] = frozenset(tables.get("name", ()))
        self.prefix_lengths = sorted({len(p) for p in self.aliases})

    @staticmethod
    def _keys(m: Match) -> tuple[str | None, Sequence[Any]]:
        if m.name is not None:
            return "name", sorted(m.name)
        if m.virtio_id is not None:
            return "virtio_id", sorted(m.virtio_id)
        if m.device is not None:
            return "device", sorted(m.device)
        if m.modalias is not None:
            prefixes = sorted({_literal_prefix(g) for g in m.modalias})
            if all(len(p) >= _MIN_PREFIX for p in prefixes):
                return "alias", prefixes
        if m.driver is not None:
            return "driver", m.driver
        if m.subsystem_device is not None:
            return "subsystem_device", sorted(m.subsystem_device)
        if m.class_code is not None:
            return "class", sorted(m.class_code)
        if m.vendor is not None:
            return "vendor", sorted(m.vendor)
        if m.usb_id is not None and all(v is not None for v, _p in m.usb_id):
            return "vendor", sorted({v for v, _p in m.usb_id})
        if m.subsystem_vendor is not None:
            return "subsystem_vendor", sorted(m.subsystem_vendor)
        if m.bus is not None:
            return "bus", sorted(m.bus)
        return None, ()

    def first(self, device: Device, drivers: tuple[str, ...]) -> int | None:
        """The first entry matching ``device`` (``drivers``: its would-bind names, normalized)."""
        found: list[int] = list(self.rest)
        for attribute, table in self.tables:
            hit = table.get(getattr(device, attribute))
            if hit:
                found += hit
        if self.classes and device.class_code is not None:
            for mask, table in self.classes.items():
                hit = table.get(device.class_code & mask)
                if hit:
                    found += hit
        if self.drivers:
            for driver in drivers:
                hit = self.drivers.get(driver)
                if hit:
                    found += hit
        if self.aliases:
            for alias in device.modaliases:
                for n in self.prefix_lengths:
                    hit = self.aliases.get(alias[:n])
                    if hit:
                        found += hit
        if not found:
            return None
        entries = self.entries
        for i in sorted(set(found)) if len(found) > 1 else found:
            if matches(entries[i], device, drivers):
                return i
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy says about one device, and what each stage would do to it."""

    device: Device
    verdict: str  # bootstrap | allow | deny
    rule: str  # bootstrap[i] | rules[i] | default
    driver: str | None  # the driver to bind (None: the device is denied, or none is known)
    pinned: bool  # the deciding entry names its driver: that one and no other is bound
    lockdown: str
    authorize: str
    note: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict in ("bootstrap", "allow")

    def to_json(self) -> dict[str, Any]:
        return {
            "bus": self.device.bus,
            "name": self.device.name,
            "verdict": self.verdict,
            "rule": self.rule,
            "driver": self.driver,
            "pinned": self.pinned,
            "lockdown": self.lockdown,
            "authorize": self.authorize,
            "note": self.note,
            "device": self.device.to_json(),
        }


#: Decision(...) with every field in order (one per device per plan)
_decision = positional(Decision)


def _target(match: Match | None, device: Device) -> tuple[str | None, bool]:
    """The driver to bind for a wanted device, and whether the entry pins it."""
    if match is not None and match.driver is not None:
        for candidate in device.would_bind:
            if normalize_driver(candidate) in match.driver:
                return candidate, True
        return None, True  # not reached: the entry matched through its driver key
    return (device.would_bind[0] if device.would_bind else None), False


def uses_authorized(device: Device) -> bool:
    """USB and Thunderbolt: authorization through ``authorized``, not driver binding."""
    return device.bus in AUTHORIZED_BUSES


def action(device: Device, wanted: bool, driver: str | None, pinned: bool) -> str:
    """The stage action that brings ``device`` to ``wanted``, given what is bound now."""
    if uses_authorized(device):
        if device.authorized is None:
            return "none"
        if wanted:
            return "keep" if device.authorized else "authorize"
        return "deauthorize" if device.authorized else "none"
    if not wanted:
        return "unbind" if device.driver is not None else "none"
    if device.driver is not None:
        if pinned and driver is not None and normalize_driver(device.driver) != normalize_driver(driver):
            return "rebind"
        return "keep"
    return "bind" if driver is not None else "no_driver"


class Planner:
    """A policy compiled for deciding many devices.

    Only ``name`` entries look at a device's name, so devices that differ in nothing else get
    the same decision: it is computed once per such group (many identical functions, the
    virtio devices of one kind) and only the device is filled in."""

    def __init__(self, policy: DevicePolicy) -> None:
        self.policy = policy
        rules = [r.match for r in policy.rules]
        #: bus -> (bootstrap index, rules index), each holding only the entries for that bus
        self._indexes = {bus: (_Index(policy.bootstrap, bus), _Index(rules, bus)) for bus in BUSES}
        self._named = frozenset(n for b, r in self._indexes.values() for n in b.names | r.names)
        self._memo: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def decide(self, device: Device) -> Decision:
        if device.name in self._named:
            return _decision(device, *self._outcome(device))
        d = device
        key = (d.bus, d.vendor, d.device, d.subsystem_vendor, d.subsystem_device, d.class_code, d.virtio_id,
               d.modalias, d.driver, d.would_bind, d.authorized, d.interfaces)  # fmt: skip
        outcome = self._memo.get(key)
        if outcome is None:
            outcome = self._memo[key] = self._outcome(device)
        return _decision(device, *outcome)

    def _outcome(self, device: Device) -> tuple[Any, ...]:
        """Every field of the decision but the device."""
        policy = self.policy
        drivers = tuple(normalize_driver(c) for c in device.would_bind)
        bootstrap, rules = self._indexes[device.bus]
        boot = bootstrap.first(device, drivers)
        rule = rules.first(device, drivers)
        note = None
        if boot is not None:
            match: Match | None = policy.bootstrap[boot]
            verdict, where = "bootstrap", f"bootstrap[{boot}]"
            if rule is not None and policy.rules[rule].action == "deny":
                note = f"{policy.rules[rule].where} denies it, but bootstrap devices stay authorized"
        elif rule is not None:
            match = policy.rules[rule].match
            verdict, where = policy.rules[rule].action, policy.rules[rule].where
        else:
            match, verdict, where = None, "deny", "default"
        if verdict == "deny":
            driver, pinned = None, False
        else:
            driver, pinned = _target(match, device)
        stage1 = action(device, verdict == "bootstrap", driver, pinned)
        stage2 = action(device, verdict != "deny", driver, pinned)
        if verdict != "deny" and driver is None and note is None and device.bus not in AUTHORIZED_BUSES:
            note = "no driver is known for its modalias (modules.alias)"
        return (verdict, where, driver, pinned, stage1, stage2, note)


def plan(policy: DevicePolicy, devices: Sequence[Device]) -> tuple[Decision, ...]:
    """The decision for each device (nothing is changed)."""
    planner = Planner(policy)
    return tuple(planner.decide(d) for d in devices)
