"""The sysfs view and the plan, on generated trees: ids from modalias, modules.alias
resolution, first match wins, the index agrees with a plain first-match loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccverify.verifier.release.devices import (
    Device,
    Interface,
    ModuleIndex,
    matches,
    parse_policy,
    plan,
    scan,
    template,
)
from ccverify.verifier.release.devices.plan import Planner
from tests.unit.fake_sysfs import EXAMPLE_POLICY, FakeTree, q35

BUSES = ("pci", "virtio", "usb", "thunderbolt")


def _policy(doc: dict[str, Any]) -> Any:
    return parse_policy(json.dumps(doc).encode())


@pytest.fixture()
def tree(tmp_path: Path) -> FakeTree:
    return q35(tmp_path)


def _scan(tree: FakeTree) -> dict[str, Device]:
    found = scan(tree.sysfs, BUSES, ModuleIndex.load(tree.modules_dir))
    return {d.key: d for d in found}


def test_scan_reads_ids_drivers_and_would_bind(tree: FakeTree) -> None:
    devices = _scan(tree)
    net = devices["pci/0000:00:02.0"]
    assert (net.vendor, net.device, net.subsystem_vendor, net.subsystem_device, net.class_code) == (
        0x1AF4,
        0x1041,
        0x1AF4,
        0x1100,
        0x020000,
    )
    assert net.driver == "virtio-pci" and net.would_bind == ("virtio-pci",)
    e1000 = devices["pci/0000:00:06.0"]
    assert e1000.driver is None and e1000.would_bind == ("e1000",)
    assert devices["pci/0000:00:1f.2"].would_bind == ("ahci",)
    assert devices["pci/0000:00:00.0"].would_bind == ()
    blk = devices["virtio/virtio1"]
    assert (blk.virtio_id, blk.vendor, blk.driver, blk.would_bind) == (2, 0x1AF4, None, ("virtio_blk",))
    assert devices["virtio/virtio3"].driver == "virtio_console"
    tablet = devices["usb/1-1"]
    assert (tablet.vendor, tablet.device, tablet.authorized) == (0x0627, 0x0001, True)
    assert tablet.interfaces[0].triple == (3, 0, 0) and tablet.would_bind == ("usbhid",)
    assert "usb/1-1:1.0" not in devices
    bolt = devices["thunderbolt/0-1"]
    assert (bolt.vendor, bolt.device, bolt.authorized) == (0x8086, 0x15EF, False)
    assert list(devices) == sorted(devices, key=lambda k: (BUSES.index(k.split("/")[0]), k))


def test_scan_falls_back_to_attribute_files(tmp_path: Path) -> None:
    tree = FakeTree(tmp_path)
    path = tree.pci("0000:00:07.0", 0x1B36, 0x000D, 0x0C0330)
    (path / "modalias").unlink()
    (device,) = scan(tree.sysfs, ["pci"], ModuleIndex(()))
    assert (device.vendor, device.device, device.class_code, device.modalias) == (
        0x1B36,
        0x000D,
        0x0C0330,
        None,
    )


def test_missing_buses_and_modules_are_empty(tmp_path: Path) -> None:
    assert scan(tmp_path, BUSES, ModuleIndex.load(tmp_path / "nowhere")) == ()


def test_module_index_matches_as_fnmatch() -> None:
    index = ModuleIndex(
        [
            ("pci:v00008086d*sv*sd*bc02*", "e1000e"),
            ("pci:v*d*sv*sd*bc02sc00i*", "generic"),
            ("virtio:d00000001v*", "virtio_net"),
            ("pci:v00008086d0000100Esv*sd*bc*sc*i*", "e1000"),
        ]
    )
    alias = "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"
    assert index.resolve(alias) == ("e1000e", "generic", "e1000")  # file order
    assert index.resolve("virtio:d00000001v00001AF4") == ("virtio_net",)
    assert index.resolve("virtio:d00000011v00001AF4") == ()
    assert index.resolve(None) == ()


def test_builtin_aliases_from_modinfo(tmp_path: Path) -> None:
    (tmp_path / "modules.builtin.modinfo").write_bytes(
        b"virtio_pci.license=GPL\0virtio_pci.alias=pci:v00001AF4d*sv*sd*bc*sc*i*\0"
    )
    index = ModuleIndex.load(tmp_path)
    assert index.resolve("pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00") == ("virtio_pci",)


def test_plan_of_the_issue_example(tree: FakeTree) -> None:
    decisions = {d.device.key: d for d in plan(_policy(EXAMPLE_POLICY), tuple(_scan(tree).values()))}
    net = decisions["pci/0000:00:02.0"]
    assert (net.verdict, net.rule, net.lockdown, net.authorize) == (
        "bootstrap",
        "bootstrap[0]",
        "keep",
        "keep",
    )
    e1000 = decisions["pci/0000:00:06.0"]
    assert (e1000.verdict, e1000.rule, e1000.authorize) == ("deny", "rules[2]", "none")
    assert decisions["pci/0000:00:1f.2"].rule == "default"
    blk = decisions["virtio/virtio1"]
    assert (blk.verdict, blk.rule, blk.driver, blk.pinned, blk.lockdown, blk.authorize) == (
        "allow",
        "rules[0]",
        "virtio_blk",
        False,
        "none",
        "bind",
    )
    vnet = decisions["virtio/virtio0"]
    assert (vnet.verdict, vnet.lockdown) == ("bootstrap", "bind")
    assert decisions["virtio/virtio2"].authorize == "none"  # rng: default deny
    assert decisions["virtio/virtio3"].lockdown == "keep"  # console, built in
    tablet = decisions["usb/1-1"]
    assert (tablet.verdict, tablet.lockdown, tablet.authorize) == ("allow", "deauthorize", "keep")
    assert decisions["usb/usb1"].verdict == "bootstrap"
    assert decisions["thunderbolt/0-1"].authorize == "none"


def test_built_in_driver_of_a_denied_device_is_unbound(tmp_path: Path) -> None:
    tree = q35(tmp_path, e1000_builtin=True)
    decisions = {d.device.key: d for d in plan(_policy(EXAMPLE_POLICY), tuple(_scan(tree).values()))}
    assert decisions["pci/0000:00:06.0"].lockdown == "unbind"
    assert decisions["pci/0000:00:06.0"].authorize == "unbind"


def test_template_on_q35(tree: FakeTree) -> None:
    decisions = {
        d.device.key: d
        for d in plan(_policy(template("confidential-computing-default")), tuple(_scan(tree).values()))
    }
    assert decisions["pci/0000:00:02.0"].verdict == "bootstrap" and decisions["pci/0000:00:02.0"].pinned
    assert decisions["pci/0000:00:04.0"].verdict == "deny"  # 1af4:1044 rng transport is not hardened
    assert decisions["pci/0000:00:04.0"].lockdown == "unbind"
    assert decisions["virtio/virtio1"].authorize == "bind"
    assert decisions["virtio/virtio2"].verdict == "deny"


def test_bootstrap_wins_over_a_deny_rule_with_a_note() -> None:
    policy = _policy(
        {
            "version": 1,
            "default": "deny",
            "bootstrap": [{"bus": "virtio", "virtio_id": 1}],
            "rules": [{"action": "deny", "bus": "virtio"}],
        }
    )
    (decision,) = plan(
        policy, (Device("virtio", "virtio0", vendor=0x1AF4, virtio_id=1, would_bind=("virtio_net",)),)
    )
    assert decision.verdict == "bootstrap" and decision.authorize == "bind"
    assert decision.note is not None and "rules[0]" in decision.note


def test_pinned_driver_and_rebind() -> None:
    policy = _policy(
        {"version": 1, "default": "deny", "rules": [{"action": "allow", "bus": "pci", "driver": "vfio-pci"}]}
    )
    device = Device(
        "pci", "0000:00:07.0", vendor=1, device=2, driver="e1000", would_bind=("e1000", "vfio_pci")
    )
    (decision,) = plan(policy, (device,))
    assert (decision.driver, decision.pinned, decision.authorize) == ("vfio_pci", True, "rebind")
    unmatched = Device("pci", "0000:00:08.0", vendor=1, device=2, would_bind=("e1000",))
    assert plan(policy, (unmatched,))[0].verdict == "deny"


def test_no_driver_known() -> None:
    policy = _policy({"version": 1, "default": "deny", "rules": [{"action": "allow", "bus": "pci"}]})
    (decision,) = plan(policy, (Device("pci", "0000:00:00.0", vendor=0x8086, device=0x29C0),))
    assert decision.authorize == "no_driver" and decision.note


def test_match_keys() -> None:
    usb = Device(
        "usb",
        "1-1",
        vendor=0x0627,
        device=0x0001,
        would_bind=("usbhid",),
        interfaces=(
            Interface(
                "1-1:1.0", 3, 1, 2, "usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip02in00", None, ("usbhid",)
            ),
            Interface("1-1:1.1", 8, 6, 0x50, None, None, ()),
        ),
    )

    def match(**keys: Any) -> bool:
        return matches(
            _policy({"version": 1, "default": "deny", "rules": [{"action": "allow", **keys}]}).rules[0].match,
            usb,
        )

    assert match(id="0627:0001") and match(id=["1234:5678", "*:0001"]) and not match(id="0627:0002")
    assert match(with_interface=["03:*:*", "08:06:50"]) and not match(with_interface="03:*:*")  # all of
    assert match(modalias="usb:v0627*") and match(driver="usbhid") and match(name=["1-1", "2-1"])
    assert not match(bus="pci", vendor="0627") and match(bus=["pci", "usb"], vendor="627")
    pci = Device(
        "pci",
        "0000:00:1f.2",
        vendor=0x8086,
        device=0x2922,
        subsystem_vendor=0x1AF4,
        subsystem_device=0x1100,
        class_code=0x010601,
    )

    def match_pci(**keys: Any) -> bool:
        return matches(
            _policy({"version": 1, "default": "deny", "rules": [{"action": "allow", **keys}]}).rules[0].match,
            pci,
        )

    assert match_pci(**{"class": "010601"}) and match_pci(**{"class": "010000", "class_mask": "ff0000"})
    assert not match_pci(**{"class": "010600"}) and match_pci(
        subsystem_vendor="1af4", subsystem_device="0x1100"
    )


# --------------------------------------------------------------------------- index vs plain loop

_devices = st.builds(
    Device,
    bus=st.sampled_from(["pci", "virtio", "usb"]),
    name=st.sampled_from(["a", "b", "virtio0", "1-1"]),
    vendor=st.sampled_from([None, 0x1AF4, 0x8086]),
    device=st.sampled_from([None, 0x1041, 0x100E]),
    class_code=st.sampled_from([None, 0x020000, 0x010802]),
    virtio_id=st.sampled_from([None, 1, 2]),
    modalias=st.sampled_from([None, "virtio:d00000001v00001AF4", "pci:v00008086d0000100E"]),
    would_bind=st.sampled_from([(), ("e1000",), ("virtio_net", "x")]),
)
_entries = st.fixed_dictionaries(
    {},
    optional={
        "bus": st.sampled_from(["pci", "virtio", "usb"]),
        "name": st.sampled_from(["a", "virtio0"]),
        "vendor": st.sampled_from(["1af4", "8086", ["1af4", "8086"]]),
        "device": st.sampled_from(["1041", "100e"]),
        "driver": st.sampled_from(["e1000", "virtio-net"]),
        "modalias": st.sampled_from(["virtio:*", "pci:*100E"]),
        "id": st.sampled_from(["8086:*", "*:1041"]),
    },
).filter(bool)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_entries, max_size=4),
    st.lists(st.tuples(st.sampled_from(["allow", "deny"]), _entries), max_size=8),
    st.lists(_devices, max_size=6),
)
def test_index_agrees_with_first_match(
    boot: list[dict[str, Any]], rules: list[tuple[str, dict[str, Any]]], devices: list[Device]
) -> None:
    policy = _policy(
        {"version": 1, "default": "deny", "bootstrap": boot, "rules": [{"action": a, **e} for a, e in rules]}
    )
    planner = Planner(policy)
    for device in devices:
        decision = planner.decide(device)
        first_boot = next((i for i, m in enumerate(policy.bootstrap) if matches(m, device)), None)
        first_rule = next((i for i, r in enumerate(policy.rules) if matches(r.match, device)), None)
        if first_boot is not None:
            assert (decision.verdict, decision.rule) == ("bootstrap", f"bootstrap[{first_boot}]")
        elif first_rule is not None:
            assert (decision.verdict, decision.rule) == (
                policy.rules[first_rule].action,
                f"rules[{first_rule}]",
            )
        else:
            assert (decision.verdict, decision.rule) == ("deny", "default")


def test_release_layer_imports_neither_cli_nor_service_nor_testing() -> None:
    import ast

    from tests.conftest import REPO

    for path in (REPO / "verifier" / "release").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            for name in names:
                assert not name.startswith(
                    ("ccverify.cli", "ccverify.verifier.service", "ccverify.verifier.testing")
                ), (path, name)


@pytest.mark.skipif(not Path("/sys/bus/pci/devices").is_dir(), reason="no sysfs here")
def test_scan_of_this_machines_sysfs_reads_only() -> None:
    """The real /sys (read only): every PCI device's ids come out of its modalias as the kernel
    formats it, and a device's driver is the basename of its link."""
    found = scan(Path("/sys"), BUSES, ModuleIndex(()))
    for device in found:
        assert device.name and device.bus in BUSES
        if device.bus == "pci":
            vendor = int(Path(f"/sys/bus/pci/devices/{device.name}/vendor").read_text(), 16)
            assert device.vendor == vendor and device.class_code is not None
        if device.bus == "virtio":
            assert device.virtio_id == int(
                Path(f"/sys/bus/virtio/devices/{device.name}/device").read_text(), 16
            )
