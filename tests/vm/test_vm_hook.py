"""The guest hook for real (issue #17): Debian's initramfs-tools builds an initramfs with
ccverify's hook (``ccverify guest install-hook --initramfs-tools``), and Debian's 6.12 kernel
boots it under QEMU (TCG) with a LUKS2-encrypted virtio disk as root. The relying party is
``ccverify serve`` started here on 127.0.0.1, reached from the guest through QEMU's user network
with ``restrict=on`` (only the guestfwd rule 10.0.2.100:8443 -> 127.0.0.1:PORT leads out).

Without a TEE the guest's evidence comes from ``evidence_provider = "example"``: quotes the
example PKI mints for each challenge (the sample's measurements, the sample's event log), which
the service trusts only because this test names the example root. What the boot does, in the
initramfs's own scripts: init-top ``guest lockdown`` (before udev's coldplug), local-top
``configure_networking`` then ``guest authorize`` (remote mode: the release carries the signed
device policy and the disk key), cryptroot asks the keyscript (``guest unlock``), init-bottom
``guest finish``; the root's /sbin/init lists the bound devices and powers off.

Four boots: affirming (the root unlocks, the boot reaches the root's init, exactly the devices
the policy allows have drivers, the secret is gone after switch-root); the relying party
stopped; reference values on the service tampered with (another MRTD); reference values made
for another initrd (RTMR2 and the initrd component recomputed for the image this test built,
while the evidence reports the sample's). In the last three the volume stays locked, nothing
beyond bootstrap is bound, and the console says why.

A boot takes 1.5-3 minutes of wall time on the shared 2-core machine (each ccverify command
costs 3-8 s under TCG); each has a hard timeout of 420 s.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.vm.harness import Kernel, find_kernel
from tests.vm.hook_boot import (
    DISK_KEY,
    EXAMPLES,
    HookBoot,
    boot,
    build_initramfs_tools,
    ccverify_ok,
    guest_config,
    luks_root,
    sha384_file,
    start_relying_party,
)

pytestmark = pytest.mark.vm

#: the devices the policy leaves bound: the virtio-pci transports of net and blk, virtio_net
#: (bootstrap), virtio_blk (allowed after an affirming result)
VIRTIO_PCI = "virtio-pci"


@dataclass(frozen=True)
class Built:
    kernel: Kernel
    initrd: Path
    disk: Path
    policy: bytes
    refvalues: dict[str, bytes]  # case -> signed CoRIM for the service
    work: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ccverify: str) -> Built:
    """The signed policy, the guest configuration, the initramfs with the hook, the LUKS root."""
    from ccverify.measurements import tdx

    kernel = find_kernel()
    work = tmp_path_factory.mktemp("hook")
    config_dir, signer = guest_config(work, ccverify)
    # the volume ccverify unlocks: tries=1 (a refusal is final), the keyscript asks guest unlock
    (config_dir / "crypttab").write_text(
        "root /dev/vda none luks,tries=1,keyscript=/usr/lib/ccverify/keyscript\n"
    )
    initrd = build_initramfs_tools(
        kernel, work / "initrd.img", ccverify=ccverify, config=config_dir / "guest.toml", work=work
    )
    disk = luks_root(work, DISK_KEY)

    def signed(name: str, measurements: dict[str, object]) -> bytes:
        (work / f"{name}.json").write_text(json.dumps(measurements))
        ccverify_ok(ccverify, "reference", "create", "--from", str(work / f"{name}.json"),
                    "--key", str(signer), "-o", str(work / f"{name}.cbor"), "--id", "ccverify-example-tdx",
                    "--sequence", "1", "--not-before", "2025-01-15T00:00:00Z",
                    "--not-after", "2036-01-13T00:00:00Z")  # fmt: skip
        return (work / f"{name}.cbor").read_bytes()

    sample = json.loads((EXAMPLES / "tdx-measurements.json").read_text())
    tampered = json.loads(json.dumps(sample))
    mrtd = tampered["values"]["mrtd"]
    tampered["values"]["mrtd"] = mrtd[:-1] + ("0" if mrtd[-1] != "0" else "1")
    # the reference for the image this test built: its initrd's digest, and RTMR2 replayed with it
    other_initrd = json.loads(json.dumps(sample))
    digest = sha384_file(initrd)
    other_initrd["components"]["initrd"]["sha384"] = digest.hex()
    text = sample["components"]["cmdline"]["text"]
    events = tdx.rtmr2_events(text, digest, form=next(iter(tdx.LoadOptionsForm)))
    other_initrd["values"]["rtmr2"] = tdx.replay(events, 3).hex()
    refvalues = {
        "sample": (EXAMPLES / "tdx-refvalues.cbor").read_bytes(),
        "tampered": signed("tampered", tampered),
        "other-initrd": signed("other-initrd", other_initrd),
    }
    return Built(kernel, initrd, disk, (config_dir / "device-policy.cose").read_bytes(), refvalues, work)


@dataclass
class RelyingParty:
    port: int
    stop: object


@pytest.fixture
def relying_party(tmp_path: Path, built: Built) -> Iterator[object]:
    """Start ``ccverify serve`` (HTTP on 127.0.0.1) provisioned with the given reference values."""
    running = []

    def make(refvalues: str) -> tuple[int, object]:
        folder = tmp_path / f"rp-{refvalues}"
        port, service = start_relying_party(folder, built.refvalues[refvalues], built.policy)
        running.append(service)
        return port, service

    try:
        yield make
    finally:
        for service in running:
            service.stop()


def _boot(built: Built, port: int, name: str) -> HookBoot:
    result = boot(built.kernel, built.initrd, built.disk, relying_party_port=port,
                  console_log=built.work / f"{name}.console.log")  # fmt: skip
    stages = {s: result.stage_seconds(s) for s in (1, 2)}
    print(f"hook boot '{name}': {result.seconds:.1f} s wall, {result.cpu_seconds:.1f} CPU-s; "
          f"stage seconds (guest uptime): {stages}")  # fmt: skip
    return result


def _bootstrap_only(bound: dict[str, str]) -> None:
    """virtio-pci transports and virtio_net only: no virtio_blk, rng or e1000 driver."""
    drivers = set(bound.values())
    assert drivers <= {VIRTIO_PCI, "virtio_net"}, bound
    assert "virtio_net" in drivers, bound


def test_affirming_the_root_unlocks_and_only_allowed_devices_bind(built: Built, relying_party) -> None:  # type: ignore[no-untyped-def]
    port, _service = relying_party("sample")
    result = _boot(built, port, "affirming")
    assert result.reached_root, result.console[-6000:]
    assert "ccverify: stage 1 done" in result.console
    assert "ccverify: stage 2 done" in result.console
    assert "NOT HARDWARE" in result.console  # the example provider says so, loudly
    bound = result.bound("root:")
    assert set(bound.values()) == {VIRTIO_PCI, "virtio_net", "virtio_blk"}, bound
    assert sum(1 for d in bound.values() if d == VIRTIO_PCI) == 2, bound  # net's and blk's transports
    assert "root: secrets left: 0" in result.console  # guest finish scrubbed them


def _refused(result: HookBoot, reason: str) -> None:
    assert not result.reached_root, result.console[-6000:]
    assert "ccverify: stage 1 done" in result.console
    assert "stage 2 attestation/authorization FAILED" in result.console, result.console[-6000:]
    assert reason in result.console, result.console[-6000:]
    # the disk is not bootstrap: without an affirming result it never got a driver, so there
    # is no /dev/vda for cryptroot to open (and no secret for the keyscript had it been there)
    assert "cryptsetup: root: set up successfully" not in result.console
    assert "Waiting for encrypted source device /dev/vda" in result.console
    _bootstrap_only(result.bound("ccverify:"))


def test_relying_party_stopped_the_volume_stays_locked(built: Built, relying_party) -> None:  # type: ignore[no-untyped-def]
    port, service = relying_party("sample")
    service.stop()
    result = _boot(built, port, "rp-stopped")
    _refused(result, "FAILED (exit 3)")
    assert "relying party" in result.console


def test_tampered_reference_values_the_volume_stays_locked(built: Built, relying_party) -> None:  # type: ignore[no-untyped-def]
    port, _service = relying_party("tampered")
    result = _boot(built, port, "tampered")
    _refused(result, "mrtd_mismatch")


def test_reference_for_another_initrd_the_volume_stays_locked(built: Built, relying_party) -> None:  # type: ignore[no-untyped-def]
    port, _service = relying_party("other-initrd")
    result = _boot(built, port, "other-initrd")
    _refused(result, "rtmr2")


def test_stage_order_in_the_image(built: Built) -> None:
    """init-top: ccverify before udev (coldplug); local-top: ccverify before cryptroot."""
    unpacked = built.work / "unpacked"
    if not unpacked.exists():
        subprocess.run(["unmkinitramfs", str(built.initrd), str(unpacked)], check=True, capture_output=True)
    root = unpacked / "main" if (unpacked / "main").is_dir() else unpacked

    def order(stage: str) -> list[str]:
        text = (root / "scripts" / stage / "ORDER").read_text()
        return [
            line.split()[0].rsplit("/", 1)[1] for line in text.splitlines() if line.startswith("/scripts/")
        ]

    init_top = order("init-top")
    assert init_top.index("ccverify") < init_top.index("udev"), init_top
    local_top = order("local-top")
    assert local_top.index("ccverify") < local_top.index("cryptroot"), local_top
    assert "ccverify" in order("local-premount")
    assert (root / "cryptroot" / "crypttab").read_text().splitlines()[-1].startswith("root /dev/vda ")
    assert (root / "etc" / "ccverify" / "guest.toml").is_file()
