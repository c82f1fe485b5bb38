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

Rules are looked up through an index (by name, virtio id, device id, vendor, bus), so a device
is compared only with the few entries that could match it, in policy order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ccverify.verifier.release.devices.policy import DevicePolicy, Match, normalize_driver
from ccverify.verifier.release.devices.sysfs import Device

#: buses enforced through an ``authorized`` attribute rather than driver binding
AUTHORIZED_BUSES = frozenset({"usb", "thunderbolt"})


def matches(match: Match, device: Device) -> bool:
    """Every key of ``match`` matches ``device`` (a list: any of its values)."""
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
        fnmatchcase(alias, glob) for alias in device.modaliases for glob in match.modalias
    ):
        return False
    return match.driver is None or any(normalize_driver(c) in match.driver for c in device.would_bind)


def _triple(pattern: tuple[int | None, ...], actual: tuple[int | None, ...]) -> bool:
    return all(p is None or p == a for p, a in zip(pattern, actual, strict=True))


class _Index:
    """Entries bucketed by one key each, so a device meets only the entries that could match."""

    def __init__(self, entries: Sequence[Match]) -> None:
        self.entries = tuple(entries)
        self.by: dict[tuple[str, Any], list[int]] = {}
        self.rest: list[int] = []
        for i, m in enumerate(self.entries):
            key, values = self._bucket(m)
            if key is None:
                self.rest.append(i)
            else:
                for value in values:
                    self.by.setdefault((key, value), []).append(i)

    @staticmethod
    def _bucket(m: Match) -> tuple[str | None, Sequence[Any]]:
        if m.name is not None:
            return "name", sorted(m.name)
        if m.virtio_id is not None:
            return "virtio_id", sorted(m.virtio_id)
        if m.device is not None:
            return "device", sorted(m.device)
        if m.vendor is not None:
            return "vendor", sorted(m.vendor)
        if m.usb_id is not None and all(v is not None for v, _p in m.usb_id):
            return "vendor", sorted({v for v, _p in m.usb_id})
        if m.bus is not None:
            return "bus", sorted(m.bus)
        return None, ()

    def first(self, device: Device) -> int | None:
        by = self.by
        found: list[int] = []
        for key in (
            ("name", device.name),
            ("virtio_id", device.virtio_id),
            ("device", device.device),
            ("vendor", device.vendor),
            ("bus", device.bus),
        ):
            hit = by.get(key)
            if hit:
                found.extend(hit)
        if self.rest:
            found.extend(self.rest)
        if not found:
            return None
        if len(found) > 1:
            found.sort()
        entries = self.entries
        for i in found:
            if matches(entries[i], device):
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
    """A policy compiled for deciding many devices."""

    def __init__(self, policy: DevicePolicy) -> None:
        self.policy = policy
        self._bootstrap = _Index(policy.bootstrap)
        self._rules = _Index([r.match for r in policy.rules])

    def decide(self, device: Device) -> Decision:
        policy = self.policy
        boot = self._bootstrap.first(device)
        rule = self._rules.first(device)
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
        return Decision(device, verdict, where, driver, pinned, stage1, stage2, note)


def plan(policy: DevicePolicy, devices: Sequence[Device]) -> tuple[Decision, ...]:
    """The decision for each device (nothing is changed)."""
    planner = Planner(policy)
    return tuple(planner.decide(d) for d in devices)
