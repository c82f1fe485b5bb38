"""Applying a device policy: stage 1 ``lockdown`` and stage 2 ``authorize``.

Mainline Linux has no PCI ``authorized`` attribute, so enforcement is a small backend per
mechanism, picked per bus:

- ``autoprobe`` (pci, virtio, platform): ``/sys/bus/<bus>/drivers_autoprobe`` = 0 stops binding
  when a device appears and when a driver registers; a device is bound by writing its name to
  ``/sys/bus/<bus>/drivers_probe`` (the kernel picks the driver) or, when the policy pins the
  driver, to ``driver_override`` then ``drivers_probe`` (PCI, platform) or to
  ``/sys/bus/<bus>/drivers/<driver>/bind`` where the bus has no ``driver_override``; unbound by
  writing it to ``/sys/bus/<bus>/drivers/<driver>/unbind``. A driver that has not registered is
  loaded first (``modprobe <module>``, the module ``modules.alias`` names for the modalias), so
  this works with or without udev.
- ``authorized`` (usb, thunderbolt): root hubs' ``authorized_default`` = 0; a device's
  ``authorized`` = 1 or 0.

A PCI TSM backend (``tsm/lock`` then ``tsm/accept`` before binding: "PCI/TSM: TEE I/O", not
merged) or a per-device ``trust`` attribute would be one more class here, chosen by
``backend_for`` when the device has the attribute.

Both stages touch only the devices of their plan (those present when the stage began) and end
by planning again: the stage succeeded only if nothing is left to do for them. Devices that
appear meanwhile are listed (``appeared``) and left alone (unbound: autoprobe is off). On any
failure ``authorize`` unbinds what it bound beyond bootstrap and raises ``EnforcementError``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ccverify.verifier.errors import CCVerifyError, EnforcementError, VerificationError
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.release.devices.plan import Decision, Planner, uses_authorized
from ccverify.verifier.release.devices.policy import DevicePolicy, LoadedPolicy, normalize_driver
from ccverify.verifier.release.devices.sysfs import Device, ModuleIndex, is_root_hub, read_device, scan

if TYPE_CHECKING:
    from ccverify.verifier.release.remote import RemoteRelease
    from ccverify.verifier.result import AttestationResult

#: parents before children when binding (a virtio transport before its virtio devices) ...
GRANT_ORDER = ("pci", "platform", "thunderbolt", "usb", "virtio")
#: ... and children before parents when unbinding
REVOKE_ORDER = tuple(reversed(GRANT_ORDER))
STATE_FILE = "devices.json"
DEFAULT_RUN_DIR = Path("/run/ccverify")


class SysfsWriter(Protocol):
    def write(self, path: Path, value: str) -> None: ...


class KernelWriter:
    """Writes to sysfs attributes: one ``write`` on an existing file (never creates one)."""

    def write(self, path: Path, value: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)


def default_writer() -> SysfsWriter:
    return KernelWriter()


ModuleLoader = Callable[[str], None]


def modprobe_loader(command: str = "modprobe") -> ModuleLoader:
    """Load a module by running ``command NAME`` (``modprobe``; tests give a stub script)."""

    def load(module: str) -> None:
        import subprocess  # (only where a module is loaded: lockdown usually loads none)

        try:
            done = subprocess.run([command, module], capture_output=True, timeout=120, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            raise EnforcementError(
                "device_module_load_failed", f"could not run {command} {module}: {error}"
            ) from None
        if done.returncode != 0:
            text = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise EnforcementError(
                "device_module_load_failed",
                f"{command} {module} exited {done.returncode}" + (f": {text[-1]}" if text else ""),
            )

    return load


def require_affirming(result: object) -> AttestationResult | RemoteRelease:
    """Only the ``AttestationResult`` appraisal issued, unchanged and affirming (never a boolean)
    authorizes devices: ``verifier.result.require_affirming``, worded for the device gate. In
    remote mode, the relying party's release this guest opened (``remote.RemoteRelease``, made
    only by ``remote.attest_remote`` once the release opened) stands in for it."""
    from ccverify.verifier.result import AttestationResult
    from ccverify.verifier.result import require_affirming as issued_and_affirming

    # a RemoteRelease exists only where its module was loaded: local mode need not import it
    remote = sys.modules.get("ccverify.verifier.release.remote")
    if remote is not None and isinstance(result, remote.RemoteRelease):
        opened: RemoteRelease = remote.require_opened(result)
        return opened
    try:
        return issued_and_affirming(result)
    except VerificationError as error:
        failing = ""
        if isinstance(result, AttestationResult) and error.code == "result_not_affirming":
            failing = "; ".join(f"{r.claim}: {r.code}" for r in result.reasons if r.code != "ok")
        why = error.detail + (f" ({failing})" if failing else "")
        raise VerificationError(
            error.code,
            f"{why}: no device beyond bootstrap is authorized",
            expected=error.expected,
            actual=error.actual,
        ) from None


@dataclass(frozen=True)
class Change:
    """One write that changed a device or bus."""

    #: autoprobe_off | authorized_default_off | module | bind | probe | unbind | authorize | deauthorize
    action: str
    target: str  # bus/name, bus, or module name
    driver: str | None = None
    rolled_back: bool = False


class Enforcer:
    """The writes of one stage, with the log that rolls them back."""

    def __init__(self, sysfs: Path, modules: ModuleIndex, writer: SysfsWriter, loader: ModuleLoader) -> None:
        self.sysfs = sysfs
        self.modules = modules
        self.writer = writer
        self.loader = loader
        self.changes: list[Change] = []
        self.granted: list[tuple[Device, bool]] = []  # (device, driver_override written)
        self._loaded: set[str] = set()

    @classmethod
    def of(
        cls, sysfs: Path, modules: ModuleIndex | None, writer: SysfsWriter | None, loader: ModuleLoader | None
    ) -> Enforcer:
        """A stage's enforcer: no modules index, the kernel's sysfs writes and modprobe unless given."""
        return cls(sysfs, modules or ModuleIndex(()), writer or default_writer(), loader or modprobe_loader())

    def write(self, path: Path, value: str) -> None:
        try:
            self.writer.write(path, value)
        except OSError as error:
            reason = error.strerror or errno.errorcode.get(error.errno or 0) or str(error)
            raise EnforcementError(
                "device_write_refused",
                f"the kernel refused writing {value.strip()!r} to {path}: {reason}",
            ) from None

    def bus_path(self, bus: str) -> Path:
        return self.sysfs / "bus" / bus

    def device_path(self, device: Device) -> Path:
        return self.bus_path(device.bus) / "devices" / device.name

    def registered(self, bus: str, module: str) -> str | None:
        """The name under which ``module``'s driver registered on ``bus``, if it has."""
        links = self.sysfs / "module" / normalize_driver(module) / "drivers"
        try:
            for entry in sorted(os.listdir(links)):
                prefix, _, name = entry.partition(":")
                if prefix == bus and name:
                    return name
        except OSError:
            pass
        drivers = self.bus_path(bus) / "drivers"
        for name in dict.fromkeys((module, module.replace("_", "-"), module.replace("-", "_"))):
            if (drivers / name).is_dir():
                return name
        return None

    def driver_for(self, bus: str, module: str) -> str:
        name = self.registered(bus, module)
        if name is None and module not in self._loaded:
            self._loaded.add(module)
            self.loader(module)
            self.changes.append(Change("module", module))
            name = self.registered(bus, module)
        if name is None:
            raise EnforcementError(
                "device_driver_missing",
                f"no {bus} driver registered for module {module} (after loading it)",
            )
        return name


class AutoprobeBackend:
    """``drivers_autoprobe`` off, then explicit binds (``drivers_probe``, ``driver_override``, ``bind``)."""

    name = "autoprobe"

    def lock(self, enf: Enforcer, bus: str) -> None:
        path = enf.bus_path(bus) / "drivers_autoprobe"
        if path.exists():
            enf.write(path, "0")
            enf.changes.append(Change("autoprobe_off", bus))

    def grant(self, enf: Enforcer, decision: Decision) -> None:
        device = decision.device
        if decision.driver is None:
            # No alias names a driver: a built-in one may still claim it (Debian lists no alias of
            # a built-in driver anywhere). drivers_probe asks the kernel to try every driver it
            # has, which binds nothing when none matches.
            enf.write(enf.bus_path(device.bus) / "drivers_probe", device.name)
            enf.granted.append((device, False))
            enf.changes.append(Change("probe", device.key, None))
            return
        driver = enf.driver_for(device.bus, decision.driver)
        override = enf.device_path(device) / "driver_override"
        set_override = False
        if decision.pinned and override.exists():
            enf.write(override, driver)
            set_override = True
            enf.write(enf.bus_path(device.bus) / "drivers_probe", device.name)
        elif decision.pinned:
            enf.write(enf.bus_path(device.bus) / "drivers" / driver / "bind", device.name)
        else:
            enf.write(enf.bus_path(device.bus) / "drivers_probe", device.name)
        enf.granted.append((device, set_override))
        enf.changes.append(Change("bind", device.key, driver))

    def revoke(self, enf: Enforcer, device: Device, *, rollback: bool = False) -> None:
        if device.driver is not None:
            enf.write(enf.bus_path(device.bus) / "drivers" / device.driver / "unbind", device.name)
            enf.changes.append(Change("unbind", device.key, device.driver, rolled_back=rollback))

    def clear_override(self, enf: Enforcer, device: Device) -> None:
        enf.write(enf.device_path(device) / "driver_override", "\n")


class AuthorizedBackend:
    """USB and Thunderbolt: ``authorized_default`` = 0 on root hubs, ``authorized`` per device."""

    name = "authorized"

    def lock(self, enf: Enforcer, bus: str) -> None:
        if bus != "usb":
            return  # Thunderbolt devices wait unauthorized (security level user or secure)
        devices = enf.bus_path(bus) / "devices"
        try:
            names = sorted(os.listdir(devices))
        except OSError:
            return
        for name in names:
            path = devices / name / "authorized_default"
            if is_root_hub(Device("usb", name)) and path.exists():
                enf.write(path, "0")
                enf.changes.append(Change("authorized_default_off", f"usb/{name}"))

    def grant(self, enf: Enforcer, decision: Decision) -> None:
        enf.write(enf.device_path(decision.device) / "authorized", "1")
        enf.granted.append((decision.device, False))
        enf.changes.append(Change("authorize", decision.device.key))

    def revoke(self, enf: Enforcer, device: Device, *, rollback: bool = False) -> None:
        enf.write(enf.device_path(device) / "authorized", "0")
        enf.changes.append(Change("deauthorize", device.key, rolled_back=rollback))

    def clear_override(self, enf: Enforcer, device: Device) -> None:
        return None


AUTOPROBE = AutoprobeBackend()
AUTHORIZED = AuthorizedBackend()
Backend = AutoprobeBackend | AuthorizedBackend


def backend_for(device: Device) -> Backend:
    return AUTHORIZED if uses_authorized(device) else AUTOPROBE


def bus_backend(bus: str) -> Backend:
    return AUTHORIZED if bus in ("usb", "thunderbolt") else AUTOPROBE


@dataclass(frozen=True)
class Applied:
    """What a stage did: the writes, and the decisions as they stand afterwards."""

    stage: str
    policy_sha256: str
    changes: tuple[Change, ...]
    decisions: tuple[Decision, ...]
    unbound: tuple[str, ...]  # devices this stage unbound or deauthorized
    bound: tuple[str, ...]  # devices bound or authorized after the stage
    appeared: tuple[str, ...] = ()  # devices that appeared during the stage: not in its plan, untouched
    result_sha256: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "policy_sha256": self.policy_sha256,
            "result_sha256": self.result_sha256,
            "at": iso8601(self.at),
            "bound": list(self.bound),
            "unbound": list(self.unbound),
            "appeared": list(self.appeared),
            "changes": [
                {"action": c.action, "target": c.target, "driver": c.driver, "rolled_back": c.rolled_back}
                for c in self.changes
            ],
            "decisions": [d.to_json() for d in self.decisions],
        }


def _stage_action(decision: Decision, stage: str) -> str:
    return decision.lockdown if stage == "lockdown" else decision.authorize


def _is_bound(device: Device) -> bool:
    return bool(device.authorized) if uses_authorized(device) else device.driver is not None


def _run(
    stage: str,
    policy: DevicePolicy,
    enf: Enforcer,
) -> tuple[tuple[Decision, ...], list[str], list[str]]:
    """Lock the buses, then bring every device of the plan (the devices there when the stage
    began) to what the stage wants; devices that appear meanwhile (the virtio devices of a
    transport bound here) are not touched: they are returned as ``appeared``, left as the
    locked kernel has them (unbound), for a later run to decide."""
    planner = Planner(policy)
    buses = [b for b in GRANT_ORDER if b in policy.buses]
    for bus in buses:
        if enf.bus_path(bus).is_dir():
            bus_backend(bus).lock(enf, bus)
    unbound: list[str] = []
    # children before parents: unbinding a virtio transport takes its virtio devices with it
    decisions = [
        planner.decide(d) for d in scan(enf.sysfs, [b for b in REVOKE_ORDER if b in buses], enf.modules)
    ]
    planned = {d.device.key for d in decisions}
    for decision in decisions:
        act = _stage_action(decision, stage)
        if act in ("unbind", "deauthorize", "rebind"):
            if not enf.device_path(decision.device).exists():
                continue  # gone with a parent revoked before it (a USB hub deauthorized)
            backend_for(decision.device).revoke(enf, decision.device)
            if act != "rebind":
                unbound.append(decision.device.key)
    # parents before children, each device read again (what the revocations left)
    for bus in buses:
        for planned_decision in decisions:
            if planned_decision.device.bus != bus:
                continue
            device = read_device(enf.sysfs, bus, planned_decision.device.name, enf.modules)
            if device is None:
                continue  # gone with its parent
            decision = planner.decide(device)
            act = _stage_action(decision, stage)
            if act in ("bind", "rebind", "authorize") or (act == "no_driver" and not uses_authorized(device)):
                backend_for(device).grant(enf, decision)
    final: list[Decision] = []
    appeared: list[str] = []
    for device in scan(enf.sysfs, buses, enf.modules):
        if device.key not in planned:
            appeared.append(device.key)
            continue
        decision = planner.decide(device)
        final.append(decision)
        act = _stage_action(decision, stage)
        if act in ("bind", "rebind", "authorize"):
            raise EnforcementError(
                "device_bind_failed",
                f"{decision.device.key} is still not "
                f"{'authorized' if uses_authorized(decision.device) else 'bound'}"
                f" after the writes ({decision.rule}, driver {decision.driver})",
            )
        if act in ("unbind", "deauthorize"):
            raise EnforcementError(
                "device_unbind_failed",
                f"{decision.device.key} is still bound to {decision.device.driver or 'its driver'} "
                "after the writes",
            )
    return tuple(final), unbound, appeared


def _rollback(enf: Enforcer, keep: Callable[[Device], bool]) -> list[str]:
    """Undo this run's grants (except those ``keep`` says stay); the failures, as text."""
    problems: list[str] = []
    for device, set_override in reversed(enf.granted):
        if keep(device):
            continue
        backend = backend_for(device)
        try:
            now = read_device(enf.sysfs, device.bus, device.name, enf.modules)
            if now is not None and _is_bound(now):
                backend.revoke(enf, now, rollback=True)
            if set_override:
                backend.clear_override(enf, device)
        except (CCVerifyError, OSError) as error:
            problems.append(str(error))
    return problems


def _applied(
    stage: str,
    loaded: LoadedPolicy,
    enf: Enforcer,
    outcome: tuple[tuple[Decision, ...], list[str], list[str]],
    result_sha256: str | None,
) -> Applied:
    final, unbound, appeared = outcome
    return Applied(
        stage=stage,
        policy_sha256=loaded.policy.sha256,
        changes=tuple(enf.changes),
        decisions=final,
        unbound=tuple(unbound),
        bound=tuple(d.device.key for d in final if _is_bound(d.device)),
        appeared=tuple(appeared),
        result_sha256=result_sha256,
    )


def _require_signed(loaded: LoadedPolicy) -> None:
    if not loaded.signed:
        raise VerificationError(
            "device_policy_unsigned",
            "an unsigned device policy is never applied (sign it with 'ccverify devices sign')",
        )


def lockdown(
    loaded: LoadedPolicy,
    *,
    sysfs: Path = Path("/sys"),
    modules: ModuleIndex | None = None,
    writer: SysfsWriter | None = None,
    loader: ModuleLoader | None = None,
    run_dir: Path | None = None,
) -> Applied:
    """Stage 1: autoprobe off on the covered buses, root hubs' ``authorized_default`` 0, every
    bound device that is not bootstrap unbound (listed), the bootstrap devices bound."""
    _require_signed(loaded)
    enf = Enforcer.of(sysfs, modules, writer, loader)
    applied = _applied("lockdown", loaded, enf, _run("lockdown", loaded.policy, enf), None)
    if run_dir is not None:
        write_state(run_dir, applied, loaded)
    return applied


def result_digest(result: AttestationResult | RemoteRelease) -> str:
    canonical = json.dumps(result.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def authorize(
    loaded: LoadedPolicy,
    result: object,
    *,
    sysfs: Path = Path("/sys"),
    modules: ModuleIndex | None = None,
    writer: SysfsWriter | None = None,
    loader: ModuleLoader | None = None,
    run_dir: Path | None = None,
) -> Applied:
    """Stage 2: only for an issued, affirming ``AttestationResult``, bind every device the
    policy allows (and the bootstrap devices), unbind denied ones. On any failure the devices
    bound here beyond bootstrap are unbound again and ``EnforcementError`` is raised."""
    _require_signed(loaded)
    affirming = require_affirming(result)
    enf = Enforcer.of(sysfs, modules, writer, loader)
    planner = Planner(loaded.policy)
    try:
        outcome = _run("authorize", loaded.policy, enf)
        applied = _applied("authorize", loaded, enf, outcome, result_digest(affirming))
        if run_dir is not None:
            write_state(run_dir, applied, loaded, affirming)
    except Exception as error:  # whatever went wrong, nothing beyond bootstrap stays bound
        problems = _rollback(enf, keep=lambda d: planner.decide(d).verdict == "bootstrap")
        if isinstance(error, EnforcementError) and not problems:
            raise
        code = error.code if isinstance(error, VerificationError) else "device_authorize_failed"
        detail = str(error) + ("" if not problems else "; rolling back also failed: " + "; ".join(problems))
        raise EnforcementError(code, detail) from None
    return applied


def write_state(
    run_dir: Path,
    applied: Applied,
    loaded: LoadedPolicy,
    result: AttestationResult | RemoteRelease | None = None,
) -> Path:
    """``<run_dir>/devices.json`` (and ``attestation-result.json``), written atomically."""
    state = {
        "format": "ccverify-device-state/1",
        "stage": applied.stage,
        "at": iso8601(applied.at),
        "policy_sha256": applied.policy_sha256,
        "policy_file_sha256": loaded.file_sha256,
        "policy_signer": loaded.signer,
        "result_sha256": applied.result_sha256,
        "bound": list(applied.bound),
        "unbound": list(applied.unbound),
        "appeared": list(applied.appeared),
    }
    try:
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if result is not None:
            _atomic(run_dir / "attestation-result.json", json.dumps(result.to_json(), indent=2) + "\n")
        target = run_dir / STATE_FILE
        _atomic(target, json.dumps(state, indent=2) + "\n")
    except OSError as error:
        raise EnforcementError(
            "device_state_unwritable",
            f"could not record the applied state in {run_dir}: {error.strerror or error}",
        ) from None
    return target


def _atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)
