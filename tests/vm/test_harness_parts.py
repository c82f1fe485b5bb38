"""The harness's pure parts, without QEMU (not marked vm): module order, cpio, device lists."""

from __future__ import annotations

import lzma
import stat
from pathlib import Path

import pytest

from tests.vm.harness import (
    Kernel,
    VmUnavailable,
    _cpio_newc,
    _decompressed,
    _elf_interpreter,
    module_load_order,
    parse_devices,
)


def _kernel(tmp_path: Path) -> Kernel:
    modules = tmp_path / "lib" / "modules" / "6.12.0-test-amd64"
    modules.mkdir(parents=True)
    (modules / "modules.builtin").write_text("kernel/drivers/virtio/virtio_pci.ko\n")
    (modules / "modules.dep").write_text(
        "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz\n"
        "kernel/net/9p/9pnet.ko.xz: kernel/fs/netfs/netfs.ko.xz\n"
        "kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz\n"
        "kernel/fs/netfs/netfs.ko.xz:\n"
        "kernel/fs/overlayfs/overlay.ko.xz:\n"
        "kernel/drivers/char/hw_random/virtio-rng.ko.xz:\n"
    )
    return Kernel("6.12.0-test-amd64", tmp_path / "vmlinuz", modules)


def test_modules_load_after_their_dependencies_once_and_builtins_are_skipped(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path)
    order = module_load_order(kernel, ("virtio_pci", "9pnet_virtio", "9p", "overlay", "virtio_rng"))
    assert order == [
        "kernel/fs/netfs/netfs.ko.xz",
        "kernel/net/9p/9pnet.ko.xz",
        "kernel/net/9p/9pnet_virtio.ko.xz",
        "kernel/fs/9p/9p.ko.xz",
        "kernel/fs/overlayfs/overlay.ko.xz",
        "kernel/drivers/char/hw_random/virtio-rng.ko.xz",
    ]
    with pytest.raises(VmUnavailable, match=r"nor in modules\.dep"):
        module_load_order(kernel, ("no_such_module",))


def test_compressed_modules_are_decompressed(tmp_path: Path) -> None:
    module = tmp_path / "m.ko.xz"
    module.write_bytes(lzma.compress(b"\x7fELF module"))
    assert _decompressed(module) == b"\x7fELF module"
    zstd = tmp_path / "m.ko.zst"
    zstd.write_bytes(b"")
    with pytest.raises(VmUnavailable, match="cannot decompress"):
        _decompressed(zstd)


def _read_newc(archive: bytes) -> list[tuple[str, int, int, int, bytes]]:
    """(name, mode, rdevmajor, rdevminor, data) of each entry, by the newc layout."""
    entries, offset = [], 0
    while True:
        assert archive[offset : offset + 6] == b"070701"
        fields = [int(archive[offset + 6 + 8 * i : offset + 14 + 8 * i], 16) for i in range(13)]
        size, namesize = fields[6], fields[11]
        name = archive[offset + 110 : offset + 110 + namesize - 1].decode()
        offset += 110 + namesize
        offset += -offset % 4
        data = archive[offset : offset + size]
        offset += size
        offset += -offset % 4
        if name == "TRAILER!!!":
            assert offset == len(archive)
            return entries
        entries.append((name, fields[1], fields[9], fields[10], data))


def test_cpio_newc_layout() -> None:
    archive = _cpio_newc(
        [("bin", stat.S_IFDIR | 0o755, b""), ("init", stat.S_IFREG | 0o755, b"#!/bin/sh\n"),
         ("dev/console", stat.S_IFCHR | 0o600, b"")],
        {"dev/console": (5, 1)},
    )  # fmt: skip
    assert _read_newc(archive) == [
        ("bin", stat.S_IFDIR | 0o755, 0, 0, b""),
        ("init", stat.S_IFREG | 0o755, 0, 0, b"#!/bin/sh\n"),
        ("dev/console", stat.S_IFCHR | 0o600, 5, 1, b""),
    ]


def test_static_and_dynamic_elf_files_are_told_apart() -> None:
    assert _elf_interpreter(Path("/bin/sh").resolve().read_bytes()) is True
    with pytest.raises(VmUnavailable):
        _elf_interpreter(b"#!/bin/sh\n" + bytes(64))


def test_device_lists_parse() -> None:
    devices = parse_devices(
        "pci 0000:00:01.0 0x1af4:0x1009 0x000200 virtio-pci\n"
        "pci 0000:00:06.0 0x8086:0x100e 0x020000 -\n"
        "virtio virtio0 0x1af4:0x0009 - 9pnet_virtio\n\n"
    )
    assert devices["pci/0000:00:01.0"].driver == "virtio-pci"
    assert devices["pci/0000:00:06.0"].driver is None
    assert devices["virtio/virtio0"].device_class is None
    assert devices["virtio/virtio0"].ids == "0x1af4:0x0009"
