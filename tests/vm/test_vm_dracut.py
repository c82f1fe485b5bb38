"""The hook in Debian's dracut with systemd in the initramfs, booted for real (issue #17).

``ccverify guest install-hook --dracut`` into a copy of /usr/lib/dracut; ``dracut`` builds an
image with systemd, crypt, network (systemd-networkd) and the ccverify module; Debian's 6.12
kernel boots it under QEMU (TCG) with a LUKS2-encrypted virtio disk as root, named on the
command line as systemd users do (``rd.luks.name=<UUID>=root``). The relying party is
``ccverify serve`` on 127.0.0.1, reached through QEMU's user network with ``restrict=on``
(only the guestfwd rule 10.0.2.100:8443 -> 127.0.0.1:PORT leads out), as in
``test_vm_hook.py`` (initramfs-tools).

What the boot does, in systemd's own order: ``ccverify-lockdown.service`` before
``systemd-udev-trigger.service`` (coldplug), ``ccverify-authorize.service`` after
``network-online.target`` and before ``cryptsetup-pre.target``, ``ccverify-askpass.service``
answers systemd-cryptsetup's password request for ``root`` with the released secret over the
ask's socket (the key never in a file beyond /run/ccverify), ``ccverify-finish.service`` scrubs
the secrets before switch-root; the root's /sbin/init lists the bound devices and powers off.

Two boots: affirming (the root unlocks, switch-root reaches the root's init, exactly the devices
the policy allows have drivers, no secret is left); the relying party stopped (stage 2 fails,
the disk never gets a driver, systemd-cryptsetup waits for a device that cannot appear: the
boot waits, fail-closed, as it would for a person at a password prompt; the test ends it 10 s
after the refusal is on the console). About 30 s of guest time per boot; a hard timeout of
420 s each.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.vm.harness import Kernel, find_kernel
from tests.vm.hook_boot import (
    DISK_KEY,
    EXAMPLES,
    HookBoot,
    boot,
    build_dracut,
    guest_config,
    luks_root,
    start_relying_party,
)

pytestmark = pytest.mark.vm

#: the virtio-pci transports of net and blk, virtio_net (bootstrap), virtio_blk (allowed)
ALLOWED = {"virtio-pci", "virtio_net", "virtio_blk"}


@dataclass(frozen=True)
class Built:
    kernel: Kernel
    initrd: Path
    disk: Path
    uuid: str
    policy: bytes
    work: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ccverify: str) -> Built:
    kernel = find_kernel()
    work = tmp_path_factory.mktemp("dracut-boot")
    config_dir, _signer = guest_config(work, ccverify)
    initrd = build_dracut(
        kernel, work / "dracut.img", ccverify=ccverify, config=config_dir / "guest.toml", work=work
    )
    disk = luks_root(work, DISK_KEY)
    uuid = subprocess.run(
        ["cryptsetup", "luksUUID", str(disk)], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Built(kernel, initrd, disk, uuid, (config_dir / "device-policy.cose").read_bytes(), work)


@pytest.fixture
def relying_party(tmp_path: Path, built: Built) -> Iterator[tuple[int, Any]]:
    port, service = start_relying_party(
        tmp_path / "rp", (EXAMPLES / "tdx-refvalues.cbor").read_bytes(), built.policy
    )
    try:
        yield port, service
    finally:
        service.stop()


def _boot(built: Built, port: int, name: str, *, end_on: str | None = None) -> HookBoot:
    cmdline = f"console=ttyS0 rd.luks.name={built.uuid}=root root=/dev/mapper/root ip=dhcp panic=1"
    result = boot(built.kernel, built.initrd, built.disk, relying_party_port=port, cmdline=cmdline,
                  console_log=built.work / f"{name}.console.log", end_on=end_on)  # fmt: skip
    print(f"dracut boot '{name}': {result.seconds:.1f} s wall, {result.cpu_seconds:.1f} CPU-s")
    return result


def test_affirming_systemd_cryptsetup_gets_the_key_from_askpass(built: Built, relying_party) -> None:  # type: ignore[no-untyped-def]
    port, _service = relying_party
    result = _boot(built, port, "affirming")
    assert result.reached_root, result.console[-6000:]
    console = result.console
    # stage 1 ran before coldplug, stage 2 before the volume was asked for
    assert console.index("# lockdown:") < console.index("Coldplug All udev Devices")
    assert "attestation: affirming" in console
    assert console.index("attestation: affirming") < console.index("Please enter passphrase for disk root")
    assert "NOT HARDWARE" in console  # the example provider says so, loudly
    bound = result.bound("root:")
    assert set(bound.values()) == ALLOWED, bound
    assert "secrets removed from /run/ccverify/secrets: disk-key" in console
    assert "root: secrets left: 0" in console


def test_relying_party_stopped_the_volume_stays_locked(built: Built, relying_party) -> None:  # type: ignore[no-untyped-def]
    port, service = relying_party
    service.stop()
    result = _boot(built, port, "rp-stopped", end_on="nothing beyond bootstrap is authorized")
    assert not result.reached_root, result.console[-6000:]
    console = result.console
    assert "# lockdown:" in console
    assert "not answered within the 20 s deadline" in console, console[-6000:]
    assert "attestation: affirming" not in console
    # the disk is not bootstrap: it never got a driver, so the LUKS device never appeared and
    # nothing was asked for or unlocked
    assert "virtio_blk virtio1:" not in console
    assert "Please enter passphrase" not in console
    assert "secrets in /run/ccverify/secrets" not in console
