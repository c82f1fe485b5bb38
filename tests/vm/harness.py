"""Boot Debian's generic Linux 6.12 under QEMU (TCG) and run a shell script inside it.

The guest's root file system is the host's: a busybox initramfs loads the 9p and overlay
modules (copied, with their dependencies, from the kernel's own module tree), mounts ``/`` of
the host read-only over virtio-9p, puts a tmpfs overlay on it, mounts /proc, /sys, /dev and
/run, and chroots. So the project's checkout and its venv run inside at the paths they have on
the host, and so do ``modprobe`` and the kernel's module tree. A second 9p share, writable, is
a per-boot directory of the host mounted at the same path inside: the script lives there, and
whatever the script writes there the test reads back after the boot.

``/init`` prints ``@@ccvm-start@@`` before the script and ``@@ccvm-exit=<code>@@`` after it,
then powers off; QEMU is killed when a boot outlasts its timeout. Nothing leaves the VM: the
user-mode networks are ``restrict=on``.

Requirements (installed by ``tests/setup-system.sh``): ``qemu-system-x86_64``,
``/boot/vmlinuz-6.12.*-amd64`` with its ``/lib/modules`` tree, a static ``/bin/busybox``.
``CCVERIFY_VM_KERNEL`` (a vmlinuz path) and ``CCVERIFY_VM_QEMU`` override the defaults.
"""

from __future__ import annotations

import atexit
import gzip
import lzma
import os
import re
import resource
import shutil
import stat
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SETUP_HINT = "install them with `sudo bash tests/setup-system.sh` (CI does), or deselect with -m 'not vm'"
KERNEL_GLOB = "vmlinuz-6.12.*-amd64"
# The modules /init loads before it can mount the host's root; their dependencies follow
# modules.dep. Built-in ones (virtio_pci on Debian's generic kernel) are skipped.
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
START = "@@ccvm-start@@"
EXIT_RE = re.compile(r"@@ccvm-exit=(\d+)@@")

# QEMU arguments of each device a boot may have, by the name tests use. The two user-mode
# networks are restricted: the guest reaches nothing outside.
DEVICE_ARGS: Mapping[str, Sequence[str]] = {
    "virtio-net": ("-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0"),
    "virtio-blk": ("-drive", "file={disk},if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0"),
    "virtio-rng": ("-object", "rng-random,id=r0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=r0"),
    "e1000": ("-netdev", "user,id=n1,restrict=on", "-device", "e1000,netdev=n1"),
}
DEFAULT_DEVICES = ("virtio-net", "virtio-blk", "virtio-rng", "e1000")


class VmUnavailable(RuntimeError):
    """The kernel, QEMU or busybox the harness needs is missing."""


class VmBootError(RuntimeError):
    """The guest did not reach the end of its script (timeout, panic, init failure)."""


@dataclass(frozen=True)
class Kernel:
    version: str  # uname -r inside the guest
    image: Path  # /boot/vmlinuz-<version>
    modules: Path  # /lib/modules/<version>


@dataclass(frozen=True)
class BootResult:
    exit_code: int
    output: str  # what the script printed (console between the two sentinels)
    console: str  # the whole serial console
    seconds: float  # wall time from QEMU's start to its exit
    cpu_seconds: float  # CPU time QEMU used (user + system): what the boot costs on an idle machine
    share: Path  # the per-boot directory, shared read-write at the same path inside


# --- finding the parts -----------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.name))


def find_kernel() -> Kernel:
    override = os.environ.get("CCVERIFY_VM_KERNEL")
    if override:
        candidates = [Path(override)]
    else:
        # The generic flavour only: -cloud lacks 9p, -rt is another configuration.
        other_flavours = ("-cloud-amd64", "-rt-amd64")
        generic = (p for p in Path("/boot").glob(KERNEL_GLOB) if not p.name.endswith(other_flavours))
        candidates = sorted(generic, key=_version_key, reverse=True)
    for image in candidates:
        version = image.name.removeprefix("vmlinuz-")
        modules = Path("/lib/modules") / version
        if image.is_file() and (modules / "modules.dep").is_file():
            if not os.access(image, os.R_OK):
                raise VmUnavailable(f"{image} is not readable by this user")
            return Kernel(version, image, modules)
    raise VmUnavailable(
        f"no Linux 6.12 generic kernel with its modules (/boot/{KERNEL_GLOB} and /lib/modules/<version>)"
        f"{' at ' + override if override else ''}: {SETUP_HINT}"
    )


def find_qemu() -> str:
    name = os.environ.get("CCVERIFY_VM_QEMU") or "qemu-system-x86_64"
    qemu = shutil.which(name)
    if not qemu:
        raise VmUnavailable(f"{name} not found: {SETUP_HINT}")
    return qemu


def find_busybox() -> Path:
    for candidate in (Path("/bin/busybox"), Path("/usr/bin/busybox")):
        if candidate.is_file():
            if _elf_interpreter(candidate.read_bytes()):
                raise VmUnavailable(f"{candidate} is dynamically linked (need busybox-static): {SETUP_HINT}")
            return candidate
    raise VmUnavailable(f"busybox not found: {SETUP_HINT}")


def _elf_interpreter(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF file has a PT_INTERP program header."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise VmUnavailable("busybox is not a 64-bit ELF executable")
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    return any(struct.unpack_from("<I", elf, phoff + i * phentsize)[0] == 3 for i in range(phnum))


# --- modules -----------------------------------------------------------------------------------


def _module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return re.sub(r"\.ko(\.(xz|gz|zst))?$", "", base).replace("-", "_")


def module_load_order(kernel: Kernel, wanted: Iterable[str]) -> list[str]:
    """modules.dep paths of ``wanted`` and their dependencies, each after what it needs.

    Built-in modules (modules.builtin) are left out; a module neither built in nor in
    modules.dep is an error.
    """
    builtin = {
        _module_name(line) for line in (kernel.modules / "modules.builtin").read_text().split() if line
    }
    deps: dict[str, tuple[str, list[str]]] = {}
    for line in (kernel.modules / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[_module_name(path)] = (path, rest.split())
    order: list[str] = []

    def visit(name: str) -> None:
        if name in builtin:
            return
        if name not in deps:
            raise VmUnavailable(f"module {name} is neither built into {kernel.version} nor in modules.dep")
        path, needs = deps[name]
        if path in order:
            return
        for dep in reversed(needs):  # modules.dep lists the most basic dependency last
            visit(_module_name(dep))
        order.append(path)

    for name in wanted:
        visit(name.replace("-", "_"))
    return order


def _decompressed(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko"):
        return data
    raise VmUnavailable(f"cannot decompress {path} (only .ko, .ko.xz and .ko.gz are handled)")


# --- the initramfs ---------------------------------------------------------------------------

INIT = r"""#!/bin/busybox sh
# ccverify test VM: mount the host's root read-only over 9p, overlay a tmpfs, chroot, run.
/bin/busybox mkdir -p /bin /proc /sys /dev /ro /rw /newroot
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "ccvm-init: $*"; echo "@@ccvm-exit=255@@"; poweroff -f; sleep 10; }
for m in $(cat /modules.order); do insmod "/lib/modules/$m" || fail "insmod $m"; done
share=; verbose=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    ccvm.share=*) share="${arg#ccvm.share=}";;
    ccvm.verbose=1) verbose=1;;
  esac
done
[ -n "$share" ] || fail "no ccvm.share= on the kernel command line"
opts=trans=virtio,version=9p2000.L,msize=524288
mount -t 9p -o "$opts,ro,cache=loose" hostroot /ro || fail "mount hostroot"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount overlay"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mount -t 9p -o "$opts,cache=none" share "/newroot$share" || fail "mount share at $share"
[ "$verbose" = 1 ] || echo 1 > /proc/sys/kernel/printk
echo "@@ccvm-start@@"
chroot /newroot /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 CCVM_SHARE="$share" \
  /bin/sh -c 'cd "$CCVM_SHARE" && . ./env.sh && exec /bin/sh ./script.sh' </dev/null
rc=$?
sync
echo "@@ccvm-exit=$rc@@"
poweroff -f
sleep 10
"""


def _cpio_newc(entries: Sequence[tuple[str, int, bytes]], devices: Mapping[str, tuple[int, int]]) -> bytes:
    """A newc ("070701") cpio archive of (name, mode, data) entries, then the trailer.

    ``devices`` gives the (major, minor) of the character or block device entries.
    """
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\0"
        major, minor = devices.get(name, (0, 0))
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(encoded), 0)
        out += b"070701" + b"".join(b"%08x" % value for value in fields) + encoded
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def build_initramfs(kernel: Kernel, busybox: Path, destination: Path) -> Path:
    """Write the test initramfs (gzip-compressed newc cpio) for ``kernel`` to ``destination``."""
    directory = stat.S_IFDIR | 0o755
    regular = stat.S_IFREG | 0o644
    executable = stat.S_IFREG | 0o755
    order = module_load_order(kernel, BOOT_MODULES)
    entries: list[tuple[str, int, bytes]] = [
        ("bin", directory, b""),
        ("dev", directory, b""),
        ("dev/console", stat.S_IFCHR | 0o600, b""),  # init's stdio, before devtmpfs is mounted
        ("lib", directory, b""),
        ("lib/modules", directory, b""),
        ("bin/busybox", executable, busybox.read_bytes()),
        ("init", executable, INIT.encode()),
    ]
    names = []
    for path in order:
        name = _module_name(path) + ".ko"
        names.append(name)
        entries.append((f"lib/modules/{name}", regular, _decompressed(kernel.modules / path)))
    entries.append(("modules.order", regular, "".join(f"{n}\n" for n in names).encode()))
    archive = _cpio_newc(entries, {"dev/console": (5, 1)})
    destination.write_bytes(gzip.compress(archive, compresslevel=1))
    return destination


# --- booting -----------------------------------------------------------------------------------


@dataclass
class Harness:
    """One kernel, QEMU and initramfs, built once; ``boot`` runs a script in a fresh VM."""

    kernel: Kernel
    qemu: str
    initramfs: Path
    workdir: Path
    _count: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, workdir: Path | None = None) -> Harness:
        """Find the parts (VmUnavailable with a clear message when one is missing), build the initramfs."""
        kernel = find_kernel()
        qemu = find_qemu()
        busybox = find_busybox()
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="ccverify-vm-"))
            atexit.register(shutil.rmtree, workdir, True)
        initramfs = build_initramfs(kernel, busybox, workdir / "initramfs.cpio.gz")
        return cls(kernel, qemu, initramfs, workdir)

    def boot(
        self,
        script: str,
        *,
        devices: Sequence[str] = DEFAULT_DEVICES,
        timeout: float = 90.0,
        env: Mapping[str, str] | None = None,
        files: Mapping[str, bytes | str] | None = None,
        memory: str = "1G",
        disk_size: int = 1 << 20,
        extra_args: Sequence[str] = (),
        append: str = "",
        verbose: bool = False,
    ) -> BootResult:
        """Boot, run ``script`` with /bin/sh inside, return its exit code and output.

        ``devices`` are names of DEVICE_ARGS (besides the two 9p shares, which are always
        there). ``files`` are written into the share before the boot (name -> content). ``env``
        is exported to the script. ``extra_args`` go to QEMU, ``append`` to the kernel command
        line. ``verbose`` keeps kernel messages on the console during the script. Raises
        VmBootError when the script does not finish within ``timeout`` seconds (QEMU is
        killed) or the guest ends without the exit sentinel.
        """
        unknown = [d for d in devices if d not in DEVICE_ARGS]
        if unknown:
            raise ValueError(f"unknown devices {unknown}; known: {sorted(DEVICE_ARGS)}")
        with self._lock:
            self._count += 1
            share = self.workdir / f"boot{self._count}"
        share.mkdir()
        if re.search(r"\s", str(share)):
            raise ValueError(f"the share path {share} must not contain white space")
        (share / "script.sh").write_text(script)
        (share / "env.sh").write_text(
            "".join(f"export {k}={_sh_quote(v)}\n" for k, v in (env or {}).items())
        )
        for name, content in (files or {}).items():
            target = share / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        disk = share / "disk.img"
        with disk.open("wb") as f:
            f.truncate(disk_size)

        cmdline = f"console=ttyS0 rdinit=/init panic=-1 ccvm.share={share}"
        cmdline += " ccvm.verbose=1" if verbose else " quiet"
        cmdline += f" {append}" if append else ""
        args = [
            self.qemu,
            "-machine", "q35", "-accel", "tcg", "-m", memory, "-smp", "1",
            "-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
            "-kernel", str(self.kernel.image), "-initrd", str(self.initramfs), "-append", cmdline,
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={share},mount_tag=share,security_model=none,multidevs=remap",
        ]  # fmt: skip
        for name in devices:
            args += [a.format(disk=disk) for a in DEVICE_ARGS[name]]
        args += extra_args

        console_path = share / "console.log"
        start = time.monotonic()
        # Children's CPU time before and after (QEMU is the only child that ends meanwhile,
        # unless the caller runs other programs from other threads).
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with console_path.open("wb") as console_file:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=console_file, stderr=subprocess.PIPE
            )
            try:
                _, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                seconds = time.monotonic() - start
                console = _read_console(console_path)
                raise VmBootError(
                    f"the VM did not finish within {timeout:.0f} s (killed after {seconds:.1f} s); "
                    f"console tail:\n{_tail(console)}"
                ) from None
            finally:  # an interrupted test (Ctrl-C) leaves no QEMU behind either
                if process.poll() is None:
                    process.kill()
                    process.wait()
        seconds = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        console = _read_console(console_path)
        exits = list(EXIT_RE.finditer(console))
        match = exits[-1] if exits else None  # the last one is /init's
        if match is None:
            raise VmBootError(
                f"the VM stopped without running the script to its end (QEMU exit {process.returncode}, "
                f"{seconds:.1f} s); QEMU stderr: {stderr.decode(errors='replace').strip()!r}; "
                f"console tail:\n{_tail(console)}"
            )
        begin = console.find(START)
        output = console[begin + len(START) : match.start()].lstrip("\r\n") if begin >= 0 else ""
        return BootResult(int(match.group(1)), output.replace("\r\n", "\n"), console, seconds, cpu, share)


# --- devices -----------------------------------------------------------------------------------

# Shell function a script can define (prepend it) to list the devices of the pci and virtio
# buses, one line each: "bus name vendor:device class driver" (class "-" on virtio, driver "-"
# when none is bound). parse_devices reads it back.
LIST_DEVICES_SH = r"""
list_devices() {  # shell builtins only: a fork costs milliseconds under TCG
  here=$PWD
  for d in /sys/bus/pci/devices/* /sys/bus/virtio/devices/*; do
    [ -e "$d" ] || continue
    bus=${d#/sys/bus/}; bus=${bus%%/*}
    read -r vendor < "$d/vendor"; read -r device < "$d/device"
    class=-; [ -r "$d/class" ] && read -r class < "$d/class"
    driver=-; [ -e "$d/driver" ] && cd -P "$d/driver" && driver=${PWD##*/}
    echo "$bus ${d##*/} $vendor:$device $class $driver"
  done
  cd "$here"
}
"""


@dataclass(frozen=True)
class Device:
    bus: str  # pci | virtio
    name: str  # 0000:00:02.0 | virtio3
    ids: str  # vendor:device as sysfs prints them, e.g. 0x1af4:0x1000
    device_class: str | None  # PCI class (0x020000), None on virtio
    driver: str | None  # basename of the driver link, None when unbound


def parse_devices(text: str) -> dict[str, Device]:
    """``list_devices`` output by "bus/name" (e.g. "pci/0000:00:02.0", "virtio/virtio3")."""
    devices = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        bus, name, ids, device_class, driver = line.split()
        devices[f"{bus}/{name}"] = Device(
            bus, name, ids, None if device_class == "-" else device_class, None if driver == "-" else driver
        )
    return devices


def _read_console(path: Path) -> str:
    return path.read_bytes().decode(errors="replace")


def _tail(console: str, lines: int = 40) -> str:
    return "\n".join(console.replace("\r\n", "\n").splitlines()[-lines:])


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"
