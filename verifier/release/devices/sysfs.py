"""What the kernel shows of devices: a read-only view of ``/sys/bus/<bus>/devices`` and
``modules.alias``, under a root parameter so tests run on a generated tree.

Everything here is reported by the host (ids, classes, modaliases): it says which driver
would face the device, never what the device is (that needs TDISP/SPDM).

- PCI and virtio ids come from ``modalias`` (``pci:v<8>d<8>sv<8>sd<8>bc<2>sc<2>i<2>``,
  ``virtio:d<8>v<8>``), which the kernel formats from the same fields as ``vendor``,
  ``device``, ``class``...; the separate files are read only when ``modalias`` is missing.
- USB devices (``1-1``, root hubs ``usbN``): ``idVendor``, ``idProduct``, ``authorized``, and their
  interfaces (``1-1:1.0``: ``modalias`` with ``ic``/``isc``/``ip``); interfaces are part of their
  device, not devices of their own.
- Thunderbolt: the entries with an ``authorized`` attribute (``vendor``, ``device``).
- ``driver`` is the basename of the ``driver`` link; ``would_bind`` the modules ``modules.alias``
  and ``modules.builtin.alias`` give for the modalias (as ``modprobe -R`` resolves it), after the
  driver bound now.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccverify.verifier._frozen import positional
from ccverify.verifier.release.devices.glob import match as glob_match

_PCI_ALIAS = re.compile(
    r"pci:v([0-9A-Fa-f]{8})d([0-9A-Fa-f]{8})sv([0-9A-Fa-f]{8})sd([0-9A-Fa-f]{8})"
    r"bc([0-9A-Fa-f]{2})sc([0-9A-Fa-f]{2})i([0-9A-Fa-f]{2})"
)
_VIRTIO_ALIAS = re.compile(r"virtio:d([0-9A-Fa-f]{8})v([0-9A-Fa-f]{8})")
_USB_INTERFACE = re.compile(r"ic([0-9A-Fa-f]{2})isc([0-9A-Fa-f]{2})ip([0-9A-Fa-f]{2})")
_ROOT_HUB = re.compile(r"usb\d+")
_WILDCARDS = re.compile(r"[*?\[]")


def _read(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).strip().decode("ascii", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _link(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def _hex(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _hex_text(value: int | None, digits: int) -> str | None:
    return None if value is None else f"{value:0{digits}x}"


class ModuleIndex:
    """``modules.alias`` patterns (and the built-in modules' aliases), looked up by literal prefix.

    A modalias is compared (``fnmatch``, case-sensitive, as kmod does) only with the patterns
    whose literal prefix, up to the first wildcard, it starts with.

    From ``load``, the ``modules.alias`` text is not indexed line by line in Python: that index
    of an initramfs's ~8,000 aliases was an eighth of local ``guest authorize`` under an emulated
    CPU, for the dozen modaliases a boot looks up. The lines whose literal prefix is shorter than
    ``KEY`` characters (a wildcard early: ``pci:v*d*sv*sd*bc02*``, ``acpi*:``) are found by one
    regular expression and indexed; those with a longer one are found by ``str.find`` of the
    modalias's first ``KEY`` characters (``pci:v`` and the PCI vendor) when it is looked up.
    Both read a line as ``str.split`` does; a text with line ends other than newlines (or not
    ASCII), or a modalias with a space or a wildcard in it, is looked up in an index of every
    line, as before.
    """

    #: literal prefixes at least this long are looked up by the modalias's own first characters
    KEY = 13

    def __init__(self, aliases: Iterable[tuple[str, str]], builtin: Iterable[str] = ()) -> None:
        self._listed = _Buckets((1, order, alias[0], alias[1]) for order, alias in enumerate(aliases))
        self.builtin = frozenset(builtin)
        self._cache: dict[str, tuple[str, ...]] = {}
        #: the ``modules.alias`` text between newlines (``load``), whether its lines end at
        #: newlines only (ASCII), its lines with a short literal prefix, those found by key so
        #: far, and (for what those cannot serve) all of its lines
        self._text = ""
        self._plain = False
        self._short: _Buckets | None = None
        self._long: dict[str, _Buckets] = {}
        self._every: _Buckets | None = None

    @classmethod
    def load(cls, modules_dir: Path | None) -> ModuleIndex:
        """The index of a ``/lib/modules/<release>`` directory (missing files: no aliases)."""
        if modules_dir is None:
            return cls(())
        builtin_aliases = _alias_lines(modules_dir / "modules.builtin.alias")
        builtin = []
        text = _read_text(modules_dir / "modules.builtin")
        for line in text.splitlines():
            base = line.strip().rsplit("/", 1)[-1]
            if base.endswith(".ko"):
                builtin.append(base[:-3].replace("-", "_"))
        index = cls(builtin_aliases or _modinfo_aliases(modules_dir / "modules.builtin.modinfo"), builtin)
        index._text = "\n" + _read_text(modules_dir / "modules.alias") + "\n"
        index._plain = index._text.isascii() and not any(odd in index._text for odd in _OTHER_LINE_ENDS)
        return index

    def _long_lines(self, key: str) -> _Buckets:
        """The text's alias lines whose pattern starts with ``key``: (0, where, pattern, module),
        by literal prefix (a vendor's hundreds of lines, of which a device needs its own). Each
        line the key is found in is read as every line is (``str.split``)."""
        found = self._long.get(key)
        if found is None:
            lines = []
            text = self._text
            at = text.find(key)
            while at >= 0:
                start = text.rfind("\n", 0, at) + 1
                end = text.find("\n", at)
                fields = text[start:end].split()
                if len(fields) == 3 and fields[0] == "alias" and fields[1].startswith(key):
                    lines.append((0, start, fields[1], fields[2]))
                at = text.find(key, end)
            found = self._long[key] = _Buckets(lines)
        return found

    def _candidates(self, modalias: str) -> list[tuple[int, int, str, str]]:
        listed = self._listed.candidates(modalias)
        if not self._text:
            return listed
        if self._plain and not _UNUSUAL.search(modalias):
            if self._short is None:
                found = _SHORT.finditer(self._text)
                self._short = _Buckets.split(
                    (m.group(1), (0, m.start() + 1, m.group(1) + m.group(2), m.group(3))) for m in found
                )
            long = self._long_lines(modalias[: self.KEY]).candidates(modalias)
            return [*listed, *self._short.candidates(modalias), *long]
        if self._every is None:
            lines = enumerate(_alias_lines_of(self._text))
            self._every = _Buckets((0, order, pattern, module) for order, (pattern, module) in lines)
        return [*listed, *self._every.candidates(modalias)]

    def resolve(self, modalias: str | None) -> tuple[str, ...]:
        """The modules whose aliases match ``modalias``, in file order, each once."""
        if not modalias:
            return ()
        cached = self._cache.get(modalias)
        if cached is not None:
            return cached
        hits = sorted(
            (source, order, module)
            for source, order, pattern, module in self._candidates(modalias)
            if glob_match(modalias, pattern)
        )
        result = tuple(dict.fromkeys(module for _source, _order, module in hits))
        self._cache[modalias] = result
        return result


class _Buckets:
    """Aliases (source, order, pattern, module) by literal prefix: ``candidates(M)`` are those
    whose prefix ``M`` starts with."""

    def __init__(self, aliases: Iterable[tuple[int, int, str, str]]) -> None:
        self._fill((_literal_prefix(alias[2]), alias) for alias in aliases)

    @classmethod
    def split(cls, aliases: Iterable[tuple[str, tuple[int, int, str, str]]]) -> _Buckets:
        """Of (literal prefix, alias) pairs, the prefix already found."""
        buckets = cls.__new__(cls)
        buckets._fill(aliases)
        return buckets

    def _fill(self, aliases: Iterable[tuple[str, tuple[int, int, str, str]]]) -> None:
        self._buckets: dict[str, list[tuple[int, int, str, str]]] = {}
        for prefix, alias in aliases:
            self._buckets.setdefault(prefix, []).append(alias)
        self._lengths = sorted({len(prefix) for prefix in self._buckets})

    def candidates(self, modalias: str) -> list[tuple[int, int, str, str]]:
        out: list[tuple[int, int, str, str]] = []
        for length in self._lengths:
            if length > len(modalias):
                break
            out.extend(self._buckets.get(modalias[:length], ()))
        return out


#: an alias line (``alias PATTERN MODULE`` between newlines, fields apart by the whitespace
#: ``str.split`` splits a line at) whose pattern has a wildcard within its first
#: ``ModuleIndex.KEY`` characters (possessive: the literal prefix is never given back to find a
#: shorter one)
_SHORT = re.compile(
    rf"\n[ \t\x1f]*+alias[ \t\x1f]++([^\s*?\[]{{0,{ModuleIndex.KEY - 1}}}+)([*?\[]\S*+)"
    r"[ \t\x1f]++(\S++)[ \t\x1f]*+(?=\n)"
)
#: the line ends ``str.splitlines`` knows besides the newline, in ASCII (a text with one is
#: indexed line by line, as before)
_OTHER_LINE_ENDS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_UNUSUAL = re.compile(r"[\s*?\[]")


def _literal_prefix(pattern: str) -> str:
    """``pattern`` up to its first wildcard."""
    found = _WILDCARDS.search(pattern)
    return pattern if found is None else pattern[: found.start()]


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except OSError:
        return ""


def _alias_lines(path: Path) -> list[tuple[str, str]]:
    return _alias_lines_of(_read_text(path))


def _alias_lines_of(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "alias":
            out.append((parts[1], parts[2]))
    return out


def _modinfo_aliases(path: Path) -> list[tuple[str, str]]:
    """``module.alias=pattern`` records of ``modules.builtin.modinfo`` (NUL-separated), for
    kernels that ship no ``modules.builtin.alias`` text file (Debian ships only its .bin)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    out = []
    for record in data.split(b"\0"):
        module, sep, pattern = record.partition(b".alias=")
        if sep and module and pattern and b"=" not in module:
            out.append((pattern.decode("utf-8", "replace"), module.decode("utf-8", "replace")))
    return out


def default_modules_dir() -> Path:
    return Path("/lib/modules") / os.uname().release


@dataclass(frozen=True, slots=True)
class Interface:
    """A USB interface (``1-1:1.0``): its class triple, modalias and drivers."""

    name: str
    interface_class: int | None
    interface_subclass: int | None
    interface_protocol: int | None
    modalias: str | None
    driver: str | None
    would_bind: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class": ":".join("*" if v is None else f"{v:02x}" for v in self.triple),
            "modalias": self.modalias,
            "driver": self.driver,
            "would_bind": list(self.would_bind),
        }

    @property
    def triple(self) -> tuple[int | None, int | None, int | None]:
        return (self.interface_class, self.interface_subclass, self.interface_protocol)


@dataclass(frozen=True, slots=True)
class Device:
    """One device on a covered bus, as sysfs reports it (host-controlled values)."""

    bus: str
    name: str
    vendor: int | None = None
    device: int | None = None
    subsystem_vendor: int | None = None
    subsystem_device: int | None = None
    class_code: int | None = None
    virtio_id: int | None = None
    modalias: str | None = None
    driver: str | None = None
    would_bind: tuple[str, ...] = ()
    authorized: bool | None = None
    interfaces: tuple[Interface, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.bus}/{self.name}"

    @property
    def modaliases(self) -> tuple[str, ...]:
        if self.modalias is not None:
            return (self.modalias,)
        return tuple(i.modalias for i in self.interfaces if i.modalias is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "bus": self.bus,
            "name": self.name,
            "vendor": _hex_text(self.vendor, 4),
            "device": _hex_text(self.device, 4),
            "subsystem_vendor": _hex_text(self.subsystem_vendor, 4),
            "subsystem_device": _hex_text(self.subsystem_device, 4),
            "class": _hex_text(self.class_code, 6),
            "virtio_id": self.virtio_id,
            "modalias": self.modalias,
            "driver": self.driver,
            "would_bind": list(self.would_bind),
            "authorized": self.authorized,
            "interfaces": [i.to_json() for i in self.interfaces],
        }


#: Device(...) with every field in order, without a per-field object.__setattr__ (a scan builds
#: one per device; the readers below pass all thirteen)
_device = positional(Device)


def _candidates(driver: str | None, resolved: tuple[str, ...]) -> tuple[str, ...]:
    if driver is None:
        return resolved
    norm = driver.replace("-", "_")
    return (driver, *(m for m in resolved if m.replace("-", "_") != norm))


def _authorized(path: str) -> bool | None:
    text = _read(path + "/authorized")
    return None if text is None else text not in ("0", "")


def _pci(bus: str, name: str, path: str, modules: ModuleIndex) -> Device:
    modalias = _read(path + "/modalias")
    found = _PCI_ALIAS.fullmatch(modalias) if modalias else None
    if found is not None:
        v, d, sv, sd, bc, sc, pi = (int(g, 16) for g in found.groups())
        ids: tuple[int | None, ...] = (v, d, sv, sd, (bc << 16) | (sc << 8) | pi)
    else:
        ids = tuple(
            _hex(_read(f"{path}/{attr}"))
            for attr in ("vendor", "device", "subsystem_vendor", "subsystem_device", "class")
        )
    driver = _link(path + "/driver")
    would_bind = _candidates(driver, modules.resolve(modalias))
    return _device(
        bus, name, ids[0], ids[1], ids[2], ids[3], ids[4], None, modalias, driver, would_bind, None, ()
    )


def _virtio(bus: str, name: str, path: str, modules: ModuleIndex) -> Device:
    modalias = _read(path + "/modalias")
    found = _VIRTIO_ALIAS.fullmatch(modalias) if modalias else None
    if found is not None:
        virtio_id, vendor = int(found.group(1), 16), int(found.group(2), 16)
    else:
        virtio_id, vendor = _hex(_read(path + "/device")), _hex(_read(path + "/vendor"))  # type: ignore[assignment]
    driver = _link(path + "/driver")
    would_bind = _candidates(driver, modules.resolve(modalias))
    return _device(
        bus, name, vendor, None, None, None, None, virtio_id, modalias, driver, would_bind, None, ()
    )


def _usb(bus: str, name: str, path: str, modules: ModuleIndex) -> Device:
    interfaces = []
    # a root hub usbN's interface is N-0:1.0; another device's interfaces are <name>:<cfg>.<n>
    prefix = f"{name[3:]}-0:" if _ROOT_HUB.fullmatch(name) else name + ":"
    try:
        entries = sorted(e.name for e in os.scandir(path) if e.name.startswith(prefix))
    except OSError:
        entries = []
    for entry in entries:
        ipath = f"{path}/{entry}"
        modalias = _read(ipath + "/modalias")
        found = _USB_INTERFACE.search(modalias) if modalias else None
        triple = (
            tuple(int(g, 16) for g in found.groups())
            if found is not None
            else tuple(
                _hex(_read(f"{ipath}/{a}"))
                for a in ("bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol")
            )
        )
        idriver = _link(ipath + "/driver")
        interfaces.append(
            Interface(
                entry,
                triple[0],
                triple[1],
                triple[2],
                modalias,
                idriver,
                _candidates(idriver, modules.resolve(modalias)),
            )
        )
    would = tuple(dict.fromkeys(m for i in interfaces for m in i.would_bind))
    return Device(
        bus,
        name,
        vendor=_hex(_read(path + "/idVendor")),
        device=_hex(_read(path + "/idProduct")),
        driver=_link(path + "/driver"),
        would_bind=would,
        authorized=_authorized(path),
        interfaces=tuple(interfaces),
    )


def _thunderbolt(bus: str, name: str, path: str, modules: ModuleIndex) -> Device | None:
    authorized = _authorized(path)
    if authorized is None:
        return None  # domains, the host router, XDomain services: nothing to authorize
    return Device(
        bus,
        name,
        vendor=_hex(_read(path + "/vendor")),
        device=_hex(_read(path + "/device")),
        driver=_link(path + "/driver"),
        authorized=authorized,
    )


def _platform(bus: str, name: str, path: str, modules: ModuleIndex) -> Device:
    modalias = _read(path + "/modalias")
    driver = _link(path + "/driver")
    return Device(
        bus, name, modalias=modalias, driver=driver, would_bind=_candidates(driver, modules.resolve(modalias))
    )


_READERS = {"pci": _pci, "virtio": _virtio, "usb": _usb, "thunderbolt": _thunderbolt, "platform": _platform}


def is_root_hub(device: Device) -> bool:
    return device.bus == "usb" and _ROOT_HUB.fullmatch(device.name) is not None


def scan(sysfs: Path, buses: Sequence[str], modules: ModuleIndex) -> tuple[Device, ...]:
    """Every device on ``buses`` (in that order, by name within a bus)."""
    out: list[Device] = []
    for bus in buses:
        root = f"{sysfs}/bus/{bus}/devices"
        try:
            names = sorted(e.name for e in os.scandir(root))
        except OSError:
            continue  # the bus is not there (no Thunderbolt controller, virtio not built)
        reader = _READERS[bus]
        for name in names:
            if bus == "usb" and ":" in name:
                continue  # an interface: part of its device
            device = reader(bus, name, f"{root}/{name}", modules)
            if device is not None:
                out.append(device)
    return tuple(out)


def read_device(sysfs: Path, bus: str, name: str, modules: ModuleIndex) -> Device | None:
    """One device read again (after a write), or None if it is gone."""
    path = f"{sysfs}/bus/{bus}/devices/{name}"
    if not os.path.exists(path):
        return None
    return _READERS[bus](bus, name, path, modules)
