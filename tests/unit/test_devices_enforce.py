"""Stage 1 and stage 2 on generated trees answered by a fake kernel: what is bound after each
stage, refused writes, rollback to bootstrap, only an affirming AttestationResult authorizes."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccverify.verifier.errors import EnforcementError, VerificationError
from ccverify.verifier.release.devices import (
    LoadedPolicy,
    ModuleIndex,
    authorize,
    lockdown,
    parse_policy,
    plan,
    require_affirming,
    scan,
)
from ccverify.verifier.release.devices.plan import uses_authorized
from tests.conftest import REPO
from tests.unit.fake_sysfs import EXAMPLE_POLICY, FakeKernel, FakeTree, q35

SAMPLE = REPO / "reference-values" / "examples"
BUSES = ("pci", "virtio", "usb", "thunderbolt")


def _sample_result(event_log: bool) -> Any:
    from ccverify.cli._appraise import attest
    from ccverify.cli._common import VerifyOptions
    from ccverify.verifier.timeutil import parse_time

    opts = VerifyOptions(
        evidence=(SAMPLE / "tdx-quote.dat").read_bytes(),
        evidence_path=SAMPLE / "tdx-quote.dat",
        collateral=SAMPLE / "tdx-collateral.json",
        trust_root=SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem",
        at=parse_time("2026-01-15T00:00:00Z", "at"),
        reference_values=SAMPLE / "tdx-refvalues.cbor",
        event_log=SAMPLE / "tdx-event-log.bin" if event_log else None,
    )
    return attest(opts, [SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"])[2]


@pytest.fixture(scope="module")
def affirming() -> Any:
    result = _sample_result(True)
    assert result.affirming
    return result


@pytest.fixture(scope="module")
def warning() -> Any:
    result = _sample_result(False)  # no event log: boot components unverifiable
    assert not result.affirming
    return result


def _loaded(doc: dict[str, Any], signed: bool = True) -> LoadedPolicy:
    # the signature itself is tested in test_devices_policy; here: a policy as load_policy returns it
    return LoadedPolicy(parse_policy(json.dumps(doc).encode()), signed=signed, signer="test")


def _state(tree: FakeTree) -> dict[str, bool]:
    """Device -> bound (or authorized) now."""
    found = scan(tree.sysfs, BUSES, ModuleIndex.load(tree.modules_dir))
    return {d.key: bool(d.authorized) if uses_authorized(d) else d.driver is not None for d in found}


def _run(
    stage: str,
    tree: FakeTree,
    kernel: FakeKernel,
    doc: dict[str, Any],
    result: Any = None,
    tmp: Path | None = None,
) -> Any:
    common: dict[str, Any] = {
        "sysfs": tree.sysfs,
        "modules": ModuleIndex.load(tree.modules_dir),
        "writer": kernel,
        "loader": kernel.modprobe,
        "run_dir": tmp,
    }
    if stage == "lockdown":
        return lockdown(_loaded(doc), **common)
    return authorize(_loaded(doc), result, **common)


@pytest.fixture()
def tree(tmp_path: Path) -> FakeTree:
    return q35(tmp_path / "q35", e1000_builtin=True)


def test_lockdown_then_authorize_on_q35(tree: FakeTree, tmp_path: Path, affirming: Any) -> None:
    kernel = FakeKernel(tree)
    applied = _run("lockdown", tree, kernel, EXAMPLE_POLICY, tmp=tmp_path / "run")
    assert (tree.sysfs / "bus/pci/drivers_autoprobe").read_text().strip() == "0"
    assert (tree.sysfs / "bus/virtio/drivers_autoprobe").read_text().strip() == "0"
    assert (tree.sysfs / "bus/usb/devices/usb1/authorized_default").read_text().strip() == "0"
    assert applied.unbound == ("usb/1-1", "pci/0000:00:06.0")  # the built-in e1000, listed
    after1 = _state(tree)
    assert after1["virtio/virtio0"] and after1["virtio/virtio3"]  # bootstrap net bound, console kept
    assert not after1["virtio/virtio1"] and not after1["pci/0000:00:06.0"] and not after1["usb/1-1"]
    assert kernel.loaded == ["virtio_net"]
    state = json.loads((tmp_path / "run" / "devices.json").read_text())
    assert state["stage"] == "lockdown" and state["result_sha256"] is None

    applied = _run("authorize", tree, kernel, EXAMPLE_POLICY, affirming, tmp=tmp_path / "run")
    after2 = _state(tree)
    assert after2["virtio/virtio1"] and after2["usb/1-1"]  # allowed
    assert not after2["virtio/virtio2"] and not after2["pci/0000:00:06.0"] and not after2["pci/0000:00:1f.2"]
    assert not after2["thunderbolt/0-1"]
    assert kernel.loaded == ["virtio_net", "virtio_blk"]  # nothing loaded for denied devices
    assert ("bus/virtio/drivers/virtio_blk/bind", "virtio1") not in kernel.writes  # unpinned: drivers_probe
    assert ("bus/virtio/drivers_probe", "virtio1") in kernel.writes
    state = json.loads((tmp_path / "run" / "devices.json").read_text())
    assert state["stage"] == "authorize" and len(state["result_sha256"]) == 64
    assert "virtio/virtio1" in state["bound"] and "pci/0000:00:06.0" not in state["bound"]
    assert json.loads((tmp_path / "run" / "attestation-result.json").read_text())["ear_status"] == "affirming"
    # a second run finds nothing to do
    again = _run("authorize", tree, kernel, EXAMPLE_POLICY, affirming)
    assert sorted(c.action for c in again.changes) == [
        "authorized_default_off",
        "autoprobe_off",
        "autoprobe_off",
    ]


def test_pinned_driver_uses_override_or_bind(tmp_path: Path, affirming: Any) -> None:
    tree = q35(tmp_path)
    kernel = FakeKernel(tree)
    doc = {
        "version": 1,
        "default": "deny",
        "bootstrap": [{"bus": "pci", "vendor": "1af4", "driver": "virtio_pci"}],
        "rules": [
            {"action": "allow", "bus": "virtio", "virtio_id": 2, "driver": "virtio_blk"},
            {"action": "allow", "bus": "pci", "vendor": "8086", "device": "100e", "driver": "e1000"},
        ],
    }
    _run("authorize", tree, kernel, doc, affirming)
    assert (
        "bus/pci/devices/0000:00:06.0/driver_override",
        "e1000",
    ) in kernel.writes  # PCI has driver_override
    assert ("bus/pci/drivers_probe", "0000:00:06.0") in kernel.writes
    assert ("bus/virtio/drivers/virtio_blk/bind", "virtio1") in kernel.writes  # virtio has none: bind
    state = _state(tree)
    assert state["pci/0000:00:06.0"] and state["virtio/virtio1"] and not state["virtio/virtio0"]


def test_not_affirming_changes_nothing(tree: FakeTree, warning: Any) -> None:
    kernel = FakeKernel(tree)
    before = _state(tree)
    with pytest.raises(VerificationError) as caught:
        _run("authorize", tree, kernel, EXAMPLE_POLICY, warning)
    assert caught.value.code == "result_not_affirming" and "unverifiable" in str(caught.value)
    assert kernel.writes == [] and _state(tree) == before


@pytest.mark.parametrize("fake", [True, 1, "affirming", {"ear_status": "affirming"}, None])
def test_only_an_attestation_result_authorizes(tree: FakeTree, fake: Any) -> None:
    kernel = FakeKernel(tree)
    with pytest.raises(VerificationError) as caught:
        _run("authorize", tree, kernel, EXAMPLE_POLICY, fake)
    assert caught.value.code == "result_not_issued"
    assert kernel.writes == []


def test_a_result_cannot_be_made_affirming_by_hand(affirming: Any) -> None:
    with pytest.raises(TypeError):
        dataclasses.replace(affirming, _token=None)
    assert require_affirming(affirming) is affirming


def test_unsigned_policy_is_never_applied(tree: FakeTree, affirming: Any) -> None:
    kernel = FakeKernel(tree)
    for stage in ("lockdown", "authorize"):
        with pytest.raises(VerificationError) as caught:
            common = {"sysfs": tree.sysfs, "writer": kernel, "loader": kernel.modprobe}
            if stage == "lockdown":
                lockdown(_loaded(EXAMPLE_POLICY, signed=False), **common)  # type: ignore[arg-type]
            else:
                authorize(_loaded(EXAMPLE_POLICY, signed=False), affirming, **common)  # type: ignore[arg-type]
        assert caught.value.code == "device_policy_unsigned"
    assert kernel.writes == []


@pytest.mark.parametrize(
    "refused",
    ["bus/virtio/drivers_probe", "bus/pci/drivers_autoprobe", "bus/usb/devices/1-1/authorized", "*"],
)
def test_refused_write_leaves_nothing_beyond_bootstrap(tmp_path: Path, affirming: Any, refused: str) -> None:
    tree = q35(tmp_path / "t")
    kernel = FakeKernel(tree)
    _run("lockdown", tree, kernel, EXAMPLE_POLICY)
    after_lockdown = _state(tree)
    kernel.refuse = {refused}
    with pytest.raises(EnforcementError) as caught:
        _run("authorize", tree, kernel, EXAMPLE_POLICY, affirming, tmp=tmp_path / "run")
    assert caught.value.code == "device_write_refused" and caught.value.exit_code == 1
    assert _state(tree) == after_lockdown
    assert not (tmp_path / "run" / "devices.json").exists()


def test_bind_that_does_not_take_is_rolled_back(tmp_path: Path, affirming: Any) -> None:
    tree = q35(tmp_path / "t")
    kernel = FakeKernel(tree)
    _run("lockdown", tree, kernel, EXAMPLE_POLICY)
    doc = dict(EXAMPLE_POLICY, rules=[{"action": "allow", "bus": "virtio"}])
    # modules.alias names virtio_rng for virtio2, but its driver's probe does not take the device
    tree.modules["virtio_rng"].patterns = ()
    with pytest.raises(EnforcementError) as caught:
        _run("authorize", tree, kernel, doc, affirming)
    assert caught.value.code == "device_bind_failed" and "virtio/virtio2" in str(caught.value)
    state = _state(tree)
    assert not state["virtio/virtio1"]  # bound earlier in this run, then unbound again
    assert state["virtio/virtio0"]  # bootstrap stays


def test_module_that_does_not_load(tmp_path: Path, affirming: Any) -> None:
    tree = q35(tmp_path / "t")
    kernel = FakeKernel(tree)
    del tree.modules["virtio_blk"]
    with pytest.raises(EnforcementError) as caught:
        _run("authorize", tree, kernel, EXAMPLE_POLICY, affirming)
    assert caught.value.code == "device_module_load_failed"
    state = _state(tree)
    assert state["virtio/virtio0"] and not state["virtio/virtio1"]  # bootstrap bound; nothing beyond


# --------------------------------------------------------------------------- the property

_PCI_IDS = [(0x1AF4, 0x1041), (0x1AF4, 0x1042), (0x8086, 0x100E), (0x10DE, 0x1234)]
_tree = st.fixed_dictionaries(
    {
        "pci": st.lists(
            st.tuples(st.sampled_from(_PCI_IDS), st.sampled_from([0x020000, 0x010802]), st.booleans()),
            max_size=5,
        ),
        "virtio": st.lists(st.tuples(st.sampled_from([1, 2, 4, 9]), st.booleans()), max_size=5),
        "usb": st.lists(
            st.tuples(
                st.sampled_from([(0x0627, 0x0001), (0x046D, 0xC52B)]), st.sampled_from([3, 8]), st.booleans()
            ),
            max_size=3,
        ),
        "thunderbolt": st.lists(st.booleans(), max_size=2),
        "modules": st.sets(
            st.sampled_from(["pci_1af4", "pci_8086", "pci_10de", "v1", "v2", "v4", "v9"]), max_size=7
        ),
        "builtin": st.sets(st.sampled_from(["pci_1af4", "pci_8086", "v2"]), max_size=3),
    }
)
_entry = st.fixed_dictionaries(
    {},
    optional={
        "bus": st.sampled_from(["pci", "virtio", "usb", "thunderbolt"]),
        "vendor": st.sampled_from(["1af4", "8086", "0627", ["10de", "046d"]]),
        "device": st.sampled_from(["1041", "100e", "0001"]),
        "driver": st.sampled_from(["pci-1af4", "pci_8086", "v1", ["v2", "v9"]]),
        "name": st.sampled_from(["0000:00:01.0", "virtio1", "1-2"]),
        "modalias": st.sampled_from(["virtio:d0000000[12]*", "pci:*bc01*"]),
    },
).filter(bool)


def _build(root: Path, spec: dict[str, Any]) -> FakeTree:
    tree = FakeTree(root)
    for bus in BUSES:
        tree.bus(bus)
    for name in spec["modules"] | spec["builtin"]:
        bus, _, ident = name.partition("_") if name.startswith("pci") else ("virtio", "", name[1:])
        pattern = f"pci:v0000{ident.upper()}d*" if bus == "pci" else f"virtio:d{int(ident):08X}v*"
        tree.module(name, bus, (pattern,), driver=name.replace("_", "-"), builtin=name in spec["builtin"])
    for i, ((vendor, device), cls, bound) in enumerate(spec["pci"]):
        module = f"pci_{vendor:04x}"
        driver = module.replace("_", "-") if bound and module in spec["builtin"] else None
        tree.pci(f"0000:00:{i:02x}.0", vendor, device, cls, driver=driver)
    for i, (vid, bound) in enumerate(spec["virtio"]):
        module = f"v{vid}"
        tree.virtio(f"virtio{i}", vid, driver=module if bound and module in spec["builtin"] else None)
    for i, ((vendor, product), cls, authorized) in enumerate(spec["usb"]):
        tree.usb(f"1-{i + 1}", vendor, product, [(cls, 0, 0)], authorized=authorized)
    for i, authorized in enumerate(spec["thunderbolt"]):
        tree.thunderbolt(f"0-{i + 1}", 0x8086, 0x15EF, authorized=authorized)
    tree.write_aliases()
    return tree


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


_counter = iter(range(10**9))


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    _tree,
    st.lists(_entry, max_size=3),
    st.lists(st.tuples(st.sampled_from(["allow", "deny"]), _entry), max_size=5),
    st.sampled_from(
        [None, "bus/virtio/drivers_probe", "bus/pci/drivers_probe", "bus/usb/devices/1-1/authorized"]
    ),
)
def test_bound_after_each_stage_iff_the_policy_says(
    scratch: Path,
    affirming: Any,
    spec: dict[str, Any],
    boot: list[dict[str, Any]],
    rules: list[tuple[str, dict[str, Any]]],
    refuse: str | None,
) -> None:
    """After lockdown a device is bound iff it is bootstrap; after authorize iff the policy
    allows it or it is bootstrap (a driver being known for it); a refused write at stage 2
    leaves exactly the lockdown state."""
    tree = _build(scratch / str(next(_counter)), spec)
    doc = {
        "version": 1,
        "default": "deny",
        "bootstrap": boot,
        "rules": [{"action": a, **e} for a, e in rules],
    }
    policy = parse_policy(json.dumps(doc).encode())
    kernel = FakeKernel(tree)

    def expected(stage: str) -> dict[str, bool]:
        decisions = plan(policy, scan(tree.sysfs, BUSES, ModuleIndex.load(tree.modules_dir)))
        out = {}
        for d in decisions:
            wanted = d.verdict == "bootstrap" or (stage == "authorize" and d.verdict == "allow")
            out[d.device.key] = wanted and (uses_authorized(d.device) or d.driver is not None)
        return out

    _run("lockdown", tree, kernel, doc)
    assert _state(tree) == expected("lockdown")
    locked = _state(tree)
    kernel.refuse = {refuse} if refuse else set()
    try:
        _run("authorize", tree, kernel, doc, affirming)
    except EnforcementError as error:
        assert refuse is not None and error.code == "device_write_refused"
        assert _state(tree) == locked
        return
    assert _state(tree) == expected("authorize")
    loaded = {m for m in kernel.loaded}
    wanted_modules = {
        d.driver
        for d in plan(policy, scan(tree.sysfs, BUSES, ModuleIndex.load(tree.modules_dir)))
        if d.verdict != "deny" and d.driver
    }
    assert loaded <= {m.replace("-", "_") for m in wanted_modules} | {m for m in wanted_modules}


class _TransportKernel(FakeKernel):
    """Binding the virtio-pci transport of 0000:00:07.0 adds its virtio device, as the kernel does."""

    def write(self, path: Path, value: str) -> None:
        super().write(path, value)
        if value == "0000:00:07.0" and (self.tree.sysfs / "bus/pci/devices/0000:00:07.0/driver").is_symlink():
            self.tree.virtio("virtio9", 2)


def test_devices_appearing_during_a_stage_are_left_alone(tmp_path: Path, affirming: Any) -> None:
    tree = q35(tmp_path / "t")
    tree.pci("0000:00:07.0", 0x1AF4, 0x1042, 0x010000)  # a transport not bound at boot
    kernel = _TransportKernel(tree)
    applied = _run("lockdown", tree, kernel, EXAMPLE_POLICY)
    assert applied.appeared == ("virtio/virtio9",)
    assert "virtio/virtio9" not in {d.device.key for d in applied.decisions}
    assert not _state(tree)["virtio/virtio9"]
    # the next stage plans it: allowed by rules[0] (virtio block)
    applied = _run("authorize", tree, kernel, EXAMPLE_POLICY, affirming)
    assert applied.appeared == () and _state(tree)["virtio/virtio9"]


class _HubKernel(FakeKernel):
    """Deauthorizing the hub 1-1 disconnects the device behind it (1-1.2), as USB does."""

    def write(self, path: Path, value: str) -> None:
        super().write(path, value)
        if str(path).endswith("devices/1-1/authorized") and value == "0":
            import shutil

            shutil.rmtree(self.tree.sysfs / "bus/usb/devices/1-1.2")


def test_a_device_gone_with_its_parent_is_not_revoked(tmp_path: Path) -> None:
    tree = q35(tmp_path / "t")
    tree.usb("1-1.2", 0x046D, 0xC52B, [(0x03, 1, 2)])
    (tree.sysfs / "bus/usb/devices/1-1/idProduct").write_text("0002\n")  # not the allowed tablet
    kernel = _HubKernel(tree)
    applied = _run("lockdown", tree, kernel, EXAMPLE_POLICY)
    assert "usb/1-1" in applied.unbound and "usb/1-1.2" not in applied.unbound
    assert "usb/1-1.2" not in _state(tree)


def test_a_replaced_result_does_not_authorize(tree: FakeTree, affirming: Any, warning: Any) -> None:
    """dataclasses.replace copies an issued result's fields into one appraisal never issued."""
    kernel = FakeKernel(tree)
    forged = dataclasses.replace(warning, trust_vector=dict(affirming.trust_vector))
    with pytest.raises(VerificationError) as caught:
        _run("authorize", tree, kernel, EXAMPLE_POLICY, forged)
    assert caught.value.code == "result_not_issued"
    assert kernel.writes == []


def test_an_allowed_device_of_a_built_in_driver_no_alias_names_is_probed(
    tmp_path: Path, affirming: Any
) -> None:
    """Found in the real kernel: Debian lists no alias of a built-in driver, so the e1000 that
    lockdown unbound planned `no_driver` and authorize left it unbound with exit 0. Now the
    kernel is asked to probe it (drivers_probe), which binds the built-in driver."""
    tree = q35(tmp_path / "q35", e1000_builtin=True, list_builtin_aliases=False)
    kernel = FakeKernel(tree)
    policy = {
        **EXAMPLE_POLICY,
        "rules": [{"action": "allow", "bus": "pci", "vendor": "8086", "device": "100e"}],
    }
    _run("lockdown", tree, kernel, policy, tmp=tmp_path / "run")
    assert _state(tree)["pci/0000:00:06.0"] is False
    applied = _run("authorize", tree, kernel, policy, affirming, tmp=tmp_path / "run")
    assert _state(tree)["pci/0000:00:06.0"] is True
    assert ("probe", "pci/0000:00:06.0") in [(c.action, c.target) for c in applied.changes]
    # a denied device of the same kind is never probed
    assert not any(c.action == "probe" and c.target == "pci/0000:00:01.0" for c in applied.changes)
