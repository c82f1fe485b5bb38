"""Device-policy planning against merely listing the same sysfs tree, in one run.

    .venv/bin/python tests/benchmarks/bench_devices.py [--devices 1000] [--rules 200] [--repeat 30]

Generates a sysfs tree of ``--devices`` devices (PCI ~half, virtio, USB with interfaces,
Thunderbolt; some bound) with a ``modules.alias`` of a few thousand patterns, and a policy of
``--rules`` rules mixing every match key. Prints the best of ``--repeat`` runs of:

- list: what ``ccverify devices list`` does: load ``modules.alias``, read every device
  (modalias, driver link, USB interfaces) and resolve the driver that would bind;
- plan: what ``ccverify devices plan`` does: the same, plus parsing the policy and deciding
  every device;

(interleaved) and the ratio plan / list (goal <= 1.5; both well under 50 ms), plus the
deciding and the loading of ``modules.alias`` alone.
No assertions: this is a script, not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ccverify.verifier.release.devices import ModuleIndex, parse_policy, plan, scan
from tests.unit.fake_sysfs import FakeTree

BUSES = ("pci", "virtio", "usb", "thunderbolt")
VENDORS = [0x1AF4, 0x8086, 0x10DE, 0x1022, 0x14E4, 0x15B3, 0x1B36, 0x1234]


def build_tree(root: Path, devices: int, rng: random.Random) -> FakeTree:
    tree = FakeTree(root)
    for bus in BUSES:
        tree.bus(bus)
    # modules: one per PCI vendor:device pair used, class-wide ones, virtio ids, USB classes
    pci_ids = [(rng.choice(VENDORS), rng.randrange(0x1000, 0x1100)) for _ in range(120)]
    for i, (vendor, device) in enumerate(pci_ids):
        tree.module(f"pci_drv{i}", "pci", (f"pci:v{vendor:08X}d{device:08X}sv*sd*bc*sc*i*",))
    # filler aliases, as a distribution's modules.alias has thousands
    for i in range(3000):
        vendor, device = rng.choice(VENDORS), rng.randrange(0x2000, 0xFFFF)
        tree.module(f"filler{i}", "pci", (f"pci:v{vendor:08X}d{device:08X}sv*sd*bc*sc*i*",))
    tree.module("class_storage", "pci", ("pci:v*d*sv*sd*bc01sc08i02*",))
    for vid in range(1, 45):
        tree.module(f"virtio_{vid}", "virtio", (f"virtio:d{vid:08X}v*",))
    for cls in (3, 8, 9, 0xE0):
        tree.module(f"usb_class{cls}", "usb", (f"usb:v*p*d*dc*dsc*dp*ic{cls:02X}isc*ip*in*",))
    counts = {"pci": devices // 2, "virtio": devices * 3 // 10, "usb": devices * 17 // 100}
    counts["thunderbolt"] = devices - sum(counts.values())
    for i in range(counts["pci"]):
        vendor, device = rng.choice(pci_ids)
        cls = rng.choice([0x020000, 0x010802, 0x030000, 0x060400, 0x0C0330])
        bound = f"pci_drv{pci_ids.index((vendor, device))}" if rng.random() < 0.3 else None
        tree.pci(
            f"0000:{i // 256:02x}:{(i % 256) // 8:02x}.{i % 8}",
            vendor,
            device,
            cls,
            sv=rng.choice(VENDORS),
            sd=i,
            driver=bound,
        )
    for i in range(counts["virtio"]):
        vid = rng.choice([1, 2, 3, 4, 9, 19, 26])
        tree.virtio(f"virtio{i}", vid, driver=f"virtio_{vid}" if rng.random() < 0.3 else None)
    for i in range(counts["usb"]):
        interfaces = [
            (rng.choice([3, 8, 9, 0xE0]), rng.randrange(3), rng.randrange(3))
            for _ in range(rng.randint(1, 2))
        ]
        tree.usb(f"{1 + i // 100}-{1 + i % 100}", rng.choice(VENDORS), rng.randrange(0x10000), interfaces)
    for i in range(counts["thunderbolt"]):
        tree.thunderbolt(
            f"0-{i + 1}", rng.choice(VENDORS), rng.randrange(0x10000), authorized=rng.random() < 0.5
        )
    tree.write_aliases()
    return tree


def build_policy(rules: int, rng: random.Random) -> bytes:
    def entry() -> dict[str, object]:
        kind = rng.randrange(8)
        if kind == 0:
            return {
                "bus": "pci",
                "vendor": f"{rng.choice(VENDORS):04x}",
                "device": f"{rng.randrange(0x1000, 0x1100):04x}",
            }
        if kind == 1:
            return {
                "bus": "pci",
                "class": rng.choice(["020000", "010802", "030000"]),
                "driver": f"pci_drv{rng.randrange(120)}",
            }
        if kind == 2:
            return {"bus": "virtio", "virtio_id": rng.sample([1, 2, 3, 4, 9, 19, 26], 2)}
        if kind == 3:
            return {"name": f"virtio{rng.randrange(400)}"}
        if kind == 4:
            return {"bus": "usb", "id": f"{rng.choice(VENDORS):04x}:*", "with_interface": "03:*:*"}
        if kind == 5:
            return {"bus": "pci", "modalias": f"pci:v{rng.choice(VENDORS):08X}d0000101*"}
        if kind == 6:
            return {"bus": "thunderbolt", "vendor": f"{rng.choice(VENDORS):04x}"}
        return {
            "bus": "pci",
            "subsystem_vendor": f"{rng.choice(VENDORS):04x}",
            "class": "060400",
            "class_mask": "ffff00",
        }

    doc = {
        "version": 1,
        "default": "deny",
        "bootstrap": [{"bus": "pci", "vendor": "1af4"}, {"bus": "virtio", "virtio_id": [1, 3]}],
        "rules": [{"action": rng.choice(["allow", "deny"]), **entry()} for _ in range(rules)],
    }
    return json.dumps(doc).encode()


def best(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as directory:
        tree = build_tree(Path(directory), args.devices, rng)
        policy_bytes = build_policy(args.rules, rng)

        def listing() -> object:
            return scan(tree.sysfs, BUSES, ModuleIndex.load(tree.modules_dir))

        def planning() -> object:
            policy = parse_policy(policy_bytes)
            return plan(policy, scan(tree.sysfs, policy.buses, ModuleIndex.load(tree.modules_dir)))

        found = listing()
        assert isinstance(found, tuple) and len(found) == args.devices, len(found)
        policy = parse_policy(policy_bytes)
        decisions = plan(policy, found)
        verdicts = {v: sum(1 for d in decisions if d.verdict == v) for v in ("bootstrap", "allow", "deny")}
        best(listing, 3)  # warm the page cache
        # interleaved, so that the load of a shared machine falls on both alike
        t_list = t_plan = float("inf")
        for _ in range(args.repeat):
            t_list = min(t_list, best(listing, 1))
            t_plan = min(t_plan, best(planning, 1))
        t_decide = best(lambda: plan(policy, found), args.repeat)
        t_index = best(lambda: ModuleIndex.load(tree.modules_dir), args.repeat)
        aliases = sum(1 for _ in (tree.modules_dir / "modules.alias").open()) - 1
    print(
        f"tree: {args.devices} devices, {aliases} modules.alias patterns; "
        f"policy: {args.rules} rules ({verdicts})"
    )
    print(f"list  (load aliases + read devices + resolve drivers): {t_list * 1e3:7.2f} ms")
    print(f"plan  (list + parse policy + decide every device):     {t_plan * 1e3:7.2f} ms")
    print(f"  of which deciding {args.devices} devices:                {t_decide * 1e3:7.2f} ms")
    print(f"  of which loading modules.alias:                     {t_index * 1e3:7.2f} ms")
    print(f"plan / list = {t_plan / t_list:.2f}  (goal <= 1.5; both well under 50 ms)")


if __name__ == "__main__":
    main()
