"""Generated sysfs trees and a fake kernel that answers writes to them as Linux does.

The tree is plain files: ``bus/<bus>/devices/<name>/`` with ``modalias``, ``driver`` links,
``driver_override`` (PCI), ``authorized`` (USB, Thunderbolt), root hubs' ``authorized_default``;
``bus/<bus>/drivers/<driver>/{bind,unbind}``, ``bus/<bus>/drivers_autoprobe|drivers_probe``,
``module/<module>/drivers/<bus>:<driver>``; ``modules.alias`` beside it. ``FakeKernel.write``
does what drivers/base/bus.c and the bus code do for those writes (drivers_probe takes a device
name; driver_override then drivers_probe binds that driver; drivers/<d>/bind binds d if it
matches; unbind; autoprobe 0 stops binding at driver registration), and ``FakeKernel.modprobe``
registers a module's driver (binding every matching device when autoprobe is on). Writes to
paths in ``refuse`` fail with EPERM, as a kernel that refuses them.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

PCI_FMT = "pci:v{:08X}d{:08X}sv{:08X}sd{:08X}bc{:02X}sc{:02X}i{:02X}"


@dataclass
class Module:
    name: str
    bus: str
    driver: str
    patterns: tuple[str, ...]
    builtin: bool = False


@dataclass
class FakeTree:
    root: Path
    modules: dict[str, Module] = field(default_factory=dict)
    #: Debian's 6.12 lists no alias of a built-in driver anywhere (modules.builtin.modinfo has
    #: only version/licence/parameter lines for virtio_pci): False models that kernel
    list_builtin_aliases: bool = True

    @property
    def sysfs(self) -> Path:
        return self.root / "sys"

    @property
    def modules_dir(self) -> Path:
        return self.root / "lib-modules"

    def bus(self, bus: str) -> Path:
        path = self.sysfs / "bus" / bus
        if not path.exists():
            (path / "devices").mkdir(parents=True)
            (path / "drivers").mkdir()
            if bus not in ("usb", "thunderbolt"):
                (path / "drivers_autoprobe").write_text("1\n")
            (path / "drivers_probe").write_text("")
        return path

    # ------------------------------------------------------------------ drivers

    def module(
        self,
        name: str,
        bus: str,
        patterns: tuple[str, ...],
        *,
        driver: str | None = None,
        builtin: bool = False,
    ) -> Module:
        module = Module(name, bus, driver or name, patterns, builtin)
        self.modules[name] = module
        self.bus(bus)
        if builtin:
            self.register(module)
        return module

    def register(self, module: Module) -> None:
        drivers = self.bus(module.bus) / "drivers" / module.driver
        drivers.mkdir(parents=True, exist_ok=True)
        for attr in ("bind", "unbind"):
            (drivers / attr).write_text("")
        links = self.sysfs / "module" / module.name / "drivers"
        links.mkdir(parents=True, exist_ok=True)
        link = links / f"{module.bus}:{module.driver}"
        if not link.is_symlink():
            link.symlink_to(f"../../../bus/{module.bus}/drivers/{module.driver}")

    def write_aliases(self) -> None:
        self.modules_dir.mkdir(parents=True, exist_ok=True)
        lines = ["# Aliases extracted from modules themselves."]
        builtin = []
        for module in self.modules.values():
            if self.list_builtin_aliases or not module.builtin:
                lines.extend(f"alias {p} {module.name}" for p in module.patterns)
            if module.builtin:
                builtin.append(f"kernel/drivers/{module.name}.ko")
        (self.modules_dir / "modules.alias").write_text("\n".join(lines) + "\n")
        (self.modules_dir / "modules.builtin").write_text("\n".join(builtin) + "\n")

    def matching(self, bus: str, modaliases: list[str]) -> list[Module]:
        return [
            m
            for m in self.modules.values()
            if m.bus == bus and any(fnmatchcase(a, p) for a in modaliases for p in m.patterns)
        ]

    # ------------------------------------------------------------------ devices

    def _device(self, bus: str, name: str, files: dict[str, str]) -> Path:
        path = self.bus(bus) / "devices" / name
        path.mkdir(parents=True)
        for attr, value in files.items():
            (path / attr).write_text(value + "\n")
        return path

    def pci(
        self,
        name: str,
        vendor: int,
        device: int,
        cls: int,
        *,
        sv: int = 0,
        sd: int = 0,
        driver: str | None = None,
    ) -> Path:
        alias = PCI_FMT.format(vendor, device, sv, sd, cls >> 16, (cls >> 8) & 0xFF, cls & 0xFF)
        path = self._device(
            "pci",
            name,
            {
                "vendor": f"0x{vendor:04x}",
                "device": f"0x{device:04x}",
                "subsystem_vendor": f"0x{sv:04x}",
                "subsystem_device": f"0x{sd:04x}",
                "class": f"0x{cls:06x}",
                "modalias": alias,
                "driver_override": "(null)",
            },
        )
        if driver is not None:
            self.link_driver(path, "pci", driver)
        return path

    def virtio(self, name: str, virtio_id: int, *, vendor: int = 0x1AF4, driver: str | None = None) -> Path:
        path = self._device(
            "virtio",
            name,
            {
                "device": f"0x{virtio_id:04x}",
                "vendor": f"0x{vendor:04x}",
                "modalias": f"virtio:d{virtio_id:08X}v{vendor:08X}",
            },
        )
        if driver is not None:
            self.link_driver(path, "virtio", driver)
        return path

    def platform(self, name: str, alias: str, *, driver: str | None = None) -> Path:
        path = self._device("platform", name, {"modalias": alias, "driver_override": "(null)"})
        if driver is not None:
            self.link_driver(path, "platform", driver)
        return path

    def usb(
        self,
        name: str,
        vendor: int,
        product: int,
        interfaces: list[tuple[int, int, int]],
        *,
        authorized: bool = True,
    ) -> Path:
        files = {
            "idVendor": f"{vendor:04x}",
            "idProduct": f"{product:04x}",
            "authorized": "1" if authorized else "0",
        }
        if name.startswith("usb"):
            files["authorized_default"] = "1"
        path = self._device("usb", name, files)
        base = name[3:] + "-0" if name.startswith("usb") else name
        for i, (cls, sub, proto) in enumerate(interfaces):
            iface = path / f"{base}:1.{i}"
            iface.mkdir()
            (iface / "modalias").write_text(
                f"usb:v{vendor:04X}p{product:04X}d0100dc00dsc00dp00ic{cls:02X}isc{sub:02X}ip{proto:02X}in{i:02X}\n"
            )
        return path

    def thunderbolt(self, name: str, vendor: int, device: int, *, authorized: bool = False) -> Path:
        return self._device(
            "thunderbolt",
            name,
            {
                "vendor": f"0x{vendor:x}",
                "device": f"0x{device:x}",
                "authorized": "1" if authorized else "0",
            },
        )

    def link_driver(self, device: Path, bus: str, driver: str) -> None:
        (device / "driver").symlink_to(f"../../drivers/{driver}")

    def modprobe_script(self) -> Path:
        """A stub ``modprobe`` for the CLI: registers the module's driver in the tree."""
        script = self.root / "modprobe"
        lines = ["#!/bin/sh", 'case "$1" in']
        for module in self.modules.values():
            d = f"{self.sysfs}/bus/{module.bus}/drivers/{module.driver}"
            links = f"{self.sysfs}/module/{module.name}/drivers"
            lines.append(
                f"  {module.name}) mkdir -p '{d}' '{links}' && touch '{d}/bind' '{d}/unbind' && "
                f"ln -sfn '../../../bus/{module.bus}/drivers/{module.driver}' "
                f"'{links}/{module.bus}:{module.driver}' ;;"
            )
        lines += [
            '  *) echo "modprobe: FATAL: Module $1 not found." >&2; exit 1 ;;',
            "esac",
            f"echo \"$1\" >> '{self.root}/modprobe.log'",
        ]
        script.write_text("\n".join(lines) + "\n")
        script.chmod(0o755)
        return script


class FakeKernel:
    """Answers sysfs writes on a ``FakeTree`` as the kernel would."""

    def __init__(self, tree: FakeTree, refuse: set[str] | None = None) -> None:
        self.tree = tree
        self.refuse = refuse or set()
        self.writes: list[tuple[str, str]] = []
        self.loaded: list[str] = []

    def _fail(self, code: int, path: Path) -> OSError:
        return OSError(code, os.strerror(code), str(path))

    def _registered(self, bus: str, driver: str) -> bool:
        return (self.tree.sysfs / "bus" / bus / "drivers" / driver).is_dir()

    def _modaliases(self, bus: str, device: Path) -> list[str]:
        if bus == "usb":
            return [(i / "modalias").read_text().strip() for i in sorted(device.iterdir()) if ":" in i.name]
        alias = device / "modalias"
        return [alias.read_text().strip()] if alias.exists() else []

    def _override(self, device: Path) -> str | None:
        path = device / "driver_override"
        if not path.exists():
            return None
        value = path.read_text().strip()
        return None if value in ("", "(null)") else value

    def _can_bind(self, bus: str, device: Path, driver: str) -> bool:
        override = self._override(device)
        if override is not None:
            return override == driver and self._registered(bus, driver)
        return any(m.driver == driver for m in self.tree.matching(bus, self._modaliases(bus, device)))

    def _attach(self, bus: str, device: Path) -> None:
        """device_attach: the first registered driver that matches."""
        if (device / "driver").is_symlink():
            return
        override = self._override(device)
        candidates = (
            [override]
            if override
            else [m.driver for m in self.tree.matching(bus, self._modaliases(bus, device))]
        )
        for driver in candidates:
            if driver and self._registered(bus, driver) and self._can_bind(bus, device, driver):
                self.tree.link_driver(device, bus, driver)
                return

    def write(self, path: Path, value: str) -> None:
        path = Path(path)
        rel = path.relative_to(self.tree.sysfs).as_posix()
        self.writes.append((rel, value))
        if rel in self.refuse or "*" in self.refuse:
            raise self._fail(errno.EPERM, path)
        if not path.exists():
            raise self._fail(errno.ENOENT, path)
        parts = rel.split("/")
        text = value.strip()
        if parts[0] != "bus":
            raise self._fail(errno.EACCES, path)
        bus = parts[1]
        devices = self.tree.sysfs / "bus" / bus / "devices"
        if parts[2:] == ["drivers_autoprobe"]:
            path.write_text(text + "\n")
        elif parts[2:] == ["drivers_probe"]:
            device = devices / text
            if not device.is_dir():
                raise self._fail(errno.ENODEV, path)
            self._attach(bus, device)
        elif len(parts) == 5 and parts[2] == "drivers" and parts[4] in ("bind", "unbind"):
            driver, device = parts[3], devices / text
            if not device.is_dir():
                raise self._fail(errno.ENODEV, path)
            link = device / "driver"
            if parts[4] == "unbind":
                if not link.is_symlink() or os.path.basename(os.readlink(link)) != driver:
                    raise self._fail(errno.ENODEV, path)
                link.unlink()
            else:
                if link.is_symlink():
                    raise self._fail(errno.EBUSY, path)
                if not self._can_bind(bus, device, driver):
                    raise self._fail(errno.ENODEV, path)
                self.tree.link_driver(device, bus, driver)
        elif len(parts) == 5 and parts[2] == "devices" and parts[4] == "driver_override":
            path.write_text((text or "(null)") + "\n")
        elif len(parts) == 5 and parts[2] == "devices" and parts[4] in ("authorized", "authorized_default"):
            if text not in ("0", "1"):
                raise self._fail(errno.EINVAL, path)
            path.write_text(text + "\n")
        else:
            raise self._fail(errno.EACCES, path)

    def autoprobe(self, bus: str) -> bool:
        path = self.tree.sysfs / "bus" / bus / "drivers_autoprobe"
        return not path.exists() or path.read_text().strip() != "0"

    def modprobe(self, name: str) -> None:
        module = self.tree.modules.get(name)
        if module is None:
            from ccverify.verifier.errors import EnforcementError

            raise EnforcementError("device_module_load_failed", f"modprobe: FATAL: Module {name} not found")
        self.loaded.append(name)
        self.tree.register(module)
        if module.bus not in ("usb", "thunderbolt") and self.autoprobe(
            module.bus
        ):  # driver registration binds every matching device
            for device in sorted((self.tree.sysfs / "bus" / module.bus / "devices").iterdir()):
                self._attach(module.bus, device)


def q35(root: Path, *, e1000_builtin: bool = False, list_builtin_aliases: bool = True) -> FakeTree:
    """What Debian's 6.12 kernel shows in QEMU q35 with virtio-net/blk/rng/console, e1000, a USB
    tablet and a Thunderbolt device: the virtio-pci transport and virtio_console are built in
    (bound at boot), the virtio devices wait for their modules."""
    tree = FakeTree(root, list_builtin_aliases=list_builtin_aliases)
    tree.module("virtio_pci", "pci", ("pci:v00001AF4d*sv*sd*bc*sc*i*",), driver="virtio-pci", builtin=True)
    tree.module("e1000", "pci", ("pci:v00008086d0000100Esv*sd*bc*sc*i*",), builtin=e1000_builtin)
    tree.module("ahci", "pci", ("pci:v*d*sv*sd*bc01sc06i01*",))
    tree.module("bochs", "pci", ("pci:v00001234d00001111sv*sd*bc03sc00i00*",))
    tree.module("virtio_net", "virtio", ("virtio:d00000001v*",))
    tree.module("virtio_blk", "virtio", ("virtio:d00000002v*",))
    tree.module("virtio_console", "virtio", ("virtio:d00000003v*",), builtin=True)
    tree.module("virtio_rng", "virtio", ("virtio:d00000004v*",))
    tree.module("usbhid", "usb", ("usb:v*p*d*dc*dsc*dp*ic03isc*ip*in*",))
    tree.pci("0000:00:00.0", 0x8086, 0x29C0, 0x060000)
    tree.pci("0000:00:01.0", 0x1234, 0x1111, 0x030000)
    tree.pci("0000:00:02.0", 0x1AF4, 0x1041, 0x020000, sv=0x1AF4, sd=0x1100, driver="virtio-pci")
    tree.pci("0000:00:03.0", 0x1AF4, 0x1042, 0x010000, sv=0x1AF4, sd=0x1100, driver="virtio-pci")
    tree.pci("0000:00:04.0", 0x1AF4, 0x1044, 0x00FF00, sv=0x1AF4, sd=0x1100, driver="virtio-pci")
    tree.pci("0000:00:05.0", 0x1AF4, 0x1043, 0x078000, sv=0x1AF4, sd=0x1100, driver="virtio-pci")
    tree.pci(
        "0000:00:06.0",
        0x8086,
        0x100E,
        0x020000,
        sv=0x1AF4,
        sd=0x1100,
        driver="e1000" if e1000_builtin else None,
    )
    tree.pci("0000:00:1f.2", 0x8086, 0x2922, 0x010601, sv=0x1AF4, sd=0x1100)
    tree.virtio("virtio0", 1)
    tree.virtio("virtio1", 2)
    tree.virtio("virtio2", 4)
    tree.virtio("virtio3", 3, driver="virtio_console")
    tree.usb("usb1", 0x1D6B, 0x0002, [(0x09, 0, 0)])
    tree.usb("1-1", 0x0627, 0x0001, [(0x03, 0, 0)])
    tree.thunderbolt("0-1", 0x8086, 0x15EF)
    tree.write_aliases()
    return tree


#: the issue's example policy, with rng denied and the tablet allowed
EXAMPLE_POLICY = {
    "version": 1,
    "default": "deny",
    "bootstrap": [
        {"bus": "pci", "vendor": "1af4"},
        {"bus": "virtio", "virtio_id": [1, 3, 9]},
        {"bus": "usb", "with_interface": "09:*:*"},
    ],
    "rules": [
        {"action": "allow", "bus": "virtio", "virtio_id": 2},
        {"action": "allow", "bus": "pci", "class": "010802", "driver": "nvme"},
        {"action": "deny", "bus": "pci", "vendor": "8086", "device": "100e"},
        {"action": "allow", "bus": "usb", "id": "0627:0001", "with_interface": "03:*:*"},
    ],
}


def signing_key(directory: Path) -> tuple[Any, Path]:
    """A throw-away P-256 key and the path of its public half (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = directory / "owner.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, public
