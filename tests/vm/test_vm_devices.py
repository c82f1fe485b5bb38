"""The device gate in a real kernel (issue #15): ``ccverify guest lockdown`` and ``authorize``.

One boot (boots are slow) with virtio-net, virtio-blk, virtio-rng and an e1000 runs, in order:
lockdown; every driver module the devices' modaliases name is loaded; a refused appraisal
(reference values signed by the right key for another MRTD); ``--dry-run``; an affirming
authorization against the shipped sample. After each step the devices of the pci and virtio
buses and their drivers are listed into the share, and the test reads them back.

The policy is ``devices template confidential-computing-default`` plus one bootstrap entry for
the 9p transport (virtio id 9): the harness's root file system is a 9p share, bound before
lockdown runs, as a real guest's root device would be. The template makes the virtio-pci
transports of net, blk, console, 9p and vsock bootstrap (not rng's: 1af4:1005 falls to the
default deny), and virtio-net the bootstrap NIC; its rules allow virtio blk. So: after lockdown
only the bootstrap devices are bound (virtio-pci on the 9p, net and blk functions; 9p and net
on the virtio bus), whatever modules are loaded; a refused appraisal and a dry run change
nothing; the affirming one binds virtio-blk, and nothing else (rng, e1000 and the q35
chipset's functions stay unbound).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cli_json import envelope, envelope_result
from tests.conftest import REPO
from tests.vm.harness import LIST_DEVICES_SH, BootResult, Device, Harness, parse_devices

pytestmark = pytest.mark.vm

SAMPLE = REPO / "reference-values" / "examples"
AT = "2026-01-15T00:00:00Z"
SIGNER_PUB = SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"
NINEP_BOOTSTRAP = {"bus": "virtio", "virtio_id": 9, "driver": "9pnet_virtio"}
E1000 = "0x8086:0x100e"
STEPS = ("lockdown", "modprobe", "refused", "dry-run", "authorize")

SCRIPT = LIST_DEVICES_SH + r"""
step() {  # step NAME COMMAND...: run it, keep its output and exit code, list the devices after it
  name=$1; shift
  start=$(date +%s%N)
  "$@" > "$name.out" 2> "$name.err"; echo $? > "$name.rc"
  echo $(( ($(date +%s%N) - start) / 1000000 )) > "$name.ms"
  list_devices > "$name.devices"
}
authorize() {
  "$CCVERIFY" guest authorize --device-policy "$POLICY" --trust-anchor "$ANCHOR" \
    --evidence "$SAMPLE/tdx-quote.dat" --event-log "$SAMPLE/tdx-event-log.bin" \
    --collateral "$SAMPLE/tdx-collateral.json" --trust-root "$SAMPLE/EXAMPLE-ROOT-NOT-TRUSTED-intel.pem" \
    --at "$AT" --json "$@"
}
# The drivers of the four devices, and every module a modalias names (ahci, lpc_ich, i2c_i801
# for the q35 chipset). Some name none (the host bridge): modprobe -a exits 1 having loaded the rest.
all_modules() {
  modprobe -a virtio_net virtio_blk virtio_rng e1000 &&
  { modprobe -a -q $(cat /sys/bus/pci/devices/*/modalias /sys/bus/virtio/devices/*/modalias) || :; }
}

list_devices > boot.devices
step lockdown "$CCVERIFY" guest lockdown --device-policy "$POLICY" --trust-anchor "$ANCHOR" --json
step modprobe all_modules
lsmod > lsmod.txt
step refused authorize --reference-values "$TAMPERED"
step dry-run authorize --reference-values "$SAMPLE/tdx-refvalues.cbor" --dry-run
step authorize authorize --reference-values "$SAMPLE/tdx-refvalues.cbor"
cp /run/ccverify/devices.json state.json 2>/dev/null || true
"""


def _ccverify(ccverify: str, *args: str) -> bytes:
    done = subprocess.run([ccverify, *args], capture_output=True, check=False)
    assert done.returncode == 0, (args, done.stderr.decode())
    return done.stdout


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, ccverify: str) -> dict[str, str]:
    """The signed policy and the tampered reference values, made on the host."""
    from ccverify.verifier.testing.pki import derive_ec_key
    from ccverify.verifier.testing.sample import SEED

    work = tmp_path_factory.mktemp("device-gate")
    # The sample's reference-value signer (deterministic): it signs the device policy too.
    key = derive_ec_key(SEED, "refvalues-signer", ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public == SIGNER_PUB.read_bytes(), "the sample's signer key is no longer derived this way"
    signer = work / "signer.pem"
    signer.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    policy = json.loads(_ccverify(ccverify, "devices", "template", "confidential-computing-default"))
    policy["bootstrap"].append(NINEP_BOOTSTRAP)
    (work / "policy.json").write_text(json.dumps(policy, indent=1))
    _ccverify(
        ccverify, "devices", "sign", str(work / "policy.json"), "--key", str(signer),
        "-o", str(work / "policy.cose"),
    )  # fmt: skip

    # Reference values the right key signed, for another MRTD: the appraisal must refuse.
    measurements = json.loads((SAMPLE / "tdx-measurements.json").read_text())
    mrtd = measurements["values"]["mrtd"]
    measurements["values"]["mrtd"] = mrtd[:-1] + ("0" if mrtd[-1] != "0" else "1")
    (work / "tampered.json").write_text(json.dumps(measurements))
    _ccverify(
        ccverify, "reference", "create", "--from", str(work / "tampered.json"), "--key", str(signer),
        "-o", str(work / "tampered.cbor"), "--id", "ccverify-example-tdx", "--sequence", "1",
        "--not-before", "2025-01-15T00:00:00Z", "--not-after", "2036-01-13T00:00:00Z",
    )  # fmt: skip
    return {
        "POLICY": str(work / "policy.cose"),
        "ANCHOR": str(SIGNER_PUB),
        "TAMPERED": str(work / "tampered.cbor"),
        "SAMPLE": str(SAMPLE),
        "AT": AT,
        "CCVERIFY": ccverify,
    }


@pytest.fixture(scope="module")
def gate(vm: Harness, inputs: dict[str, str]) -> BootResult:
    result = vm.boot(SCRIPT, env=inputs, timeout=240)
    assert result.exit_code == 0, result.console
    steps = {name: (result.share / f"{name}.ms").read_text().strip() for name in STEPS}
    print(f"device-gate boot: {result.seconds:.1f} s, {result.cpu_seconds:.1f} CPU-s; steps (ms): {steps}")
    return result


def _step(result: BootResult, name: str) -> tuple[int, str, str]:
    share = result.share
    return (
        int((share / f"{name}.rc").read_text()),
        (share / f"{name}.out").read_text(),
        (share / f"{name}.err").read_text(),
    )


def _bound(result: BootResult, name: str) -> dict[str, str]:
    """bus/name -> driver of every bound device after step ``name``."""
    devices = parse_devices((result.share / f"{name}.devices").read_text())
    return {key: d.driver for key, d in devices.items() if d.driver}


def _devices(result: BootResult, name: str) -> dict[str, Device]:
    return parse_devices((result.share / f"{name}.devices").read_text())


def _by_ids(devices: dict[str, Device], ids: str) -> str:
    [key] = [k for k, d in devices.items() if d.ids == ids]
    return key


def _expected_after_lockdown(result: BootResult) -> dict[str, str]:
    """virtio-pci on the 9p, net and blk functions; 9pnet_virtio and virtio_net on the virtio bus."""
    boot = _devices(result, "boot")
    expected = {}
    for key, device in boot.items():
        if device.bus == "pci" and device.ids in ("0x1af4:0x1009", "0x1af4:0x1000", "0x1af4:0x1001"):
            expected[key] = "virtio-pci"
        if device.bus == "virtio" and device.ids == "0x1af4:0x0009":
            expected[key] = "9pnet_virtio"
        if device.bus == "virtio" and device.ids == "0x1af4:0x0001":
            expected[key] = "virtio_net"
    assert len(expected) == 7, boot  # two 9p shares and net (each pci + virtio), blk (pci)
    return expected


def test_lockdown_leaves_only_bootstrap_devices_bound(gate: BootResult) -> None:
    code, out, err = _step(gate, "lockdown")
    assert code == 0, (out, err)
    assert envelope_result(out, "guest lockdown")["stage"] == "lockdown"
    expected = _expected_after_lockdown(gate)
    assert _bound(gate, "lockdown") == expected
    # The rng's transport (1af4:1005) is not bootstrap: lockdown unbound it, so its virtio
    # device is gone; the e1000 was never bound.
    assert not any(d.ids == "0x1af4:0x0004" for d in _devices(gate, "lockdown").values())


def test_loading_every_driver_module_binds_nothing_more(gate: BootResult) -> None:
    code, _out, err = _step(gate, "modprobe")
    assert code == 0, err
    lsmod = (gate.share / "lsmod.txt").read_text()
    for module in ("virtio_net", "virtio_blk", "virtio_rng", "e1000", "ahci"):
        assert f"\n{module} " in lsmod, f"{module} was not loaded:\n{lsmod}"
    assert _bound(gate, "modprobe") == _expected_after_lockdown(gate)


def test_a_refused_appraisal_binds_nothing_more(gate: BootResult) -> None:
    code, out, err = _step(gate, "refused")
    assert code == 1, (out, err)
    error = envelope(out, "guest authorize")["error"]
    assert error["code"] == "result_not_affirming", error
    assert "mrtd_mismatch" in error["message"]
    assert _bound(gate, "refused") == _expected_after_lockdown(gate)


def test_dry_run_changes_nothing(gate: BootResult) -> None:
    code, out, err = _step(gate, "dry-run")
    assert code == 0, (out, err)
    result = envelope_result(out, "guest authorize")
    assert result["dry_run"] is True
    assert result["attestation_result"]["ear_status"] == "affirming"
    assert _bound(gate, "dry-run") == _expected_after_lockdown(gate)


def test_an_affirming_appraisal_binds_exactly_the_allowed_devices(gate: BootResult) -> None:
    code, out, err = _step(gate, "authorize")
    assert code == 0, (out, err)
    assert envelope_result(out, "guest authorize")["applied"]["stage"] == "authorize"
    after = _devices(gate, "authorize")
    blk = _by_ids(after, "0x1af4:0x0002")
    assert _bound(gate, "authorize") == {**_expected_after_lockdown(gate), blk: "virtio_blk"}
    # Denied: the rng's transport, the e1000, and the q35 functions (AHCI, LPC, SMBus) whose
    # modules are loaded.
    assert after[_by_ids(after, E1000)].driver is None
    state = json.loads((gate.share / "state.json").read_text())
    assert state["stage"] == "authorize"
    assert sorted(state["bound"]) == sorted(_bound(gate, "authorize"))
