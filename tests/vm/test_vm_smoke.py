"""The harness itself, in a real kernel: Python and ccverify run inside, and what binds at boot.

Ground truth for the device gate (Debian's generic 6.12, QEMU q35, no udev in the guest, so
nothing loads a module for a device): at boot only built-in drivers bind. On the PCI bus
that is the virtio-pci transport, bound to every virtio function; the q35 chipset's own
functions (host bridge, LPC, AHCI, SMBus) and the e1000 stay unbound, their drivers being
modules. On the virtio bus only the harness's two 9p shares are bound (its /init loaded
9pnet_virtio to mount the root); net, blk and rng wait for their modules, and ``modprobe``
binds each while autoprobe is on.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.cli_json import envelope_result
from tests.conftest import REPO
from tests.vm.harness import LIST_DEVICES_SH, Harness, VmBootError, parse_devices

pytestmark = pytest.mark.vm

SAMPLE = REPO / "reference-values" / "examples"
VIRTIO = "0x1af4"
# virtio device ids (virtio spec 5): 1 net, 2 block, 4 entropy, 9 9p transport
VIRTIO_DRIVERS = {
    "0x0001": "virtio_net", "0x0002": "virtio_blk", "0x0004": "virtio_rng", "0x0009": "9pnet_virtio",
}  # fmt: skip
E1000 = "0x8086:0x100e"

SCRIPT = LIST_DEVICES_SH + r"""
set -e
uname -r > uname.txt
python3 -c 'import platform, sys; print(platform.python_version(), sys.executable)'
"$CCVERIFY" show "$SAMPLE/tdx-quote.dat" --json > show.json
list_devices > devices-boot.txt
modprobe -a virtio_net virtio_blk virtio_rng e1000
list_devices > devices-modprobe.txt
cat devices-boot.txt
"""


def test_boot_runs_the_project_and_reports_what_binds(vm: Harness, ccverify: str) -> None:
    result = vm.boot(SCRIPT, env={"CCVERIFY": ccverify, "SAMPLE": str(SAMPLE)}, timeout=120)
    print(f"smoke boot: {result.seconds:.1f} s, {result.cpu_seconds:.1f} CPU-s\n{result.output}")
    assert result.exit_code == 0, result.console
    assert (result.share / "uname.txt").read_text().strip() == vm.kernel.version

    # The same code on the same file answers the same inside as on the host.
    host = subprocess.run(
        [ccverify, "show", str(SAMPLE / "tdx-quote.dat"), "--json"], capture_output=True, check=True
    )
    inside = envelope_result((result.share / "show.json").read_text(), "show")
    assert inside == envelope_result(host.stdout.decode(), "show")

    at_boot = parse_devices((result.share / "devices-boot.txt").read_text())
    pci = [d for d in at_boot.values() if d.bus == "pci"]
    virtio = [d for d in at_boot.values() if d.bus == "virtio"]
    # Five virtio functions (two 9p shares, net, blk, rng), bound by the built-in transport.
    assert sorted(d.driver for d in pci if d.ids.startswith(VIRTIO)) == ["virtio-pci"] * 5
    # Everything else on PCI (q35 chipset, e1000) is unbound: its drivers are modules.
    assert [d for d in pci if not d.ids.startswith(VIRTIO) and d.driver] == []
    assert any(d.ids == E1000 for d in pci)
    assert sorted(d.ids.split(":")[1] for d in virtio) == ["0x0001", "0x0002", "0x0004", "0x0009", "0x0009"]
    assert {d.name: d.driver for d in virtio if d.driver} == {
        d.name: "9pnet_virtio" for d in virtio if d.ids.endswith("0x0009")
    }

    loaded = parse_devices((result.share / "devices-modprobe.txt").read_text())
    for device in loaded.values():
        if device.bus == "virtio":
            assert device.driver == VIRTIO_DRIVERS[device.ids.split(":")[1]], device
    assert [d.driver for d in loaded.values() if d.ids == E1000] == ["e1000"]


def test_a_failing_script_reports_its_exit_code(vm: Harness) -> None:
    result = vm.boot(
        'echo on the console; tr " " "\\n" < /proc/cmdline > cmdline; exit 7',
        devices=(), timeout=60, append="ccvm.test=yes",
    )  # fmt: skip
    assert result.exit_code == 7
    assert result.output.strip() == "on the console"
    assert "ccvm.test=yes" in (result.share / "cmdline").read_text().split()




def test_a_hanging_guest_is_killed_at_its_timeout(vm: Harness) -> None:
    with pytest.raises(VmBootError, match="did not finish within 5 s"):
        vm.boot("sleep 600", devices=(), timeout=5)
