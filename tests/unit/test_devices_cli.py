"""``ccverify devices ...`` and ``ccverify guest lockdown|authorize`` through the real CLI on a
generated sysfs tree (writes answered by the fake kernel, modules loaded by a stub modprobe
script in the tree), every --json output checked against the envelope and the command's schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from ccverify.cli.app import app
from ccverify.verifier.release.devices import ModuleIndex, scan
from ccverify.verifier.release.devices.plan import uses_authorized
from tests import cli_json
from tests.conftest import REPO
from tests.unit.fake_sysfs import EXAMPLE_POLICY, FakeKernel, FakeTree, q35, signing_key

SAMPLE = REPO / "reference-values" / "examples"
AT = "2026-01-15T00:00:00Z"
EVIDENCE = [
    "--evidence",
    str(SAMPLE / "tdx-quote.dat"),
    "--collateral",
    str(SAMPLE / "tdx-collateral.json"),
    "--trust-root",
    str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"),
    "--at",
    AT,
    "--reference-values",
    str(SAMPLE / "tdx-refvalues.cbor"),
    "--trust-anchor",
    str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"),
]
LOG = ["--event-log", str(SAMPLE / "tdx-event-log.bin")]


def run(*args: Any) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def envelope(result: Any, command: str) -> dict[str, Any]:
    """The --json document, validated against the envelope and the command's schema."""
    document = cli_json.envelope(result.stdout, command)
    assert document["exit_code"] == result.exit_code
    return document


class Setup:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.tree: FakeTree = q35(root / "q35", e1000_builtin=True)
        self.kernel = FakeKernel(self.tree)
        monkeypatch.setattr("ccverify.verifier.release.devices.enforce.default_writer", lambda: self.kernel)
        key, self.anchor = signing_key(root)
        self.key = root / "owner.pem"
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.json = root / "policy.json"
        self.json.write_text(json.dumps(EXAMPLE_POLICY))
        self.cose = root / "policy.cose"
        assert run("devices", "sign", self.json, "--key", self.key, "-o", self.cose).exit_code == 0
        self.run_dir = root / "run"
        self.system = [
            "--sysfs",
            self.tree.sysfs,
            "--modules-dir",
            self.tree.modules_dir,
            "--modprobe",
            self.tree.modprobe_script(),
            "--run-dir",
            self.run_dir,
        ]

    def policy(self, path: Path | None = None) -> list[Any]:
        return ["--device-policy", path or self.cose, "--trust-anchor", self.anchor]

    def state(self) -> dict[str, bool]:
        found = scan(
            self.tree.sysfs, ("pci", "virtio", "usb", "thunderbolt"), ModuleIndex.load(self.tree.modules_dir)
        )
        return {d.key: bool(d.authorized) if uses_authorized(d) else d.driver is not None for d in found}

    def modprobed(self) -> list[str]:
        log = self.tree.root / "modprobe.log"
        return log.read_text().split() if log.exists() else []


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(tmp_path, monkeypatch)


def test_template_prints_a_policy_that_signs(tmp_path: Path, setup: Setup) -> None:
    result = run("devices", "template", "confidential-computing-default")
    assert result.exit_code == 0
    (tmp_path / "t.json").write_text(result.stdout)
    assert (
        run("devices", "sign", tmp_path / "t.json", "--key", setup.key, "-o", tmp_path / "t.cose").exit_code
        == 0
    )
    assert run("devices", "template", "everything").exit_code == 2


def test_sign_and_verify(setup: Setup, tmp_path: Path) -> None:
    result = run("devices", "sign", setup.json, "--key", setup.key, "-o", tmp_path / "again.cose", "--json")
    assert envelope(result, "devices sign")["result"]["rules"] == 4
    result = run("devices", "verify", setup.cose, "--trust-anchor", setup.anchor, "--json")
    document = envelope(result, "devices verify")
    assert result.exit_code == 0 and document["result"]["signature"]["signed"] is True
    assert run("devices", "verify", setup.cose, "--trust-anchor", setup.anchor).stdout.startswith("OK:")


def test_verify_refusals(setup: Setup, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.cose"
    tampered.write_bytes(setup.cose.read_bytes().replace(b'"100e"', b'"100f"'))
    cases = [
        (tampered, 1, "device_policy_signature_invalid"),
        (setup.json, 1, "device_policy_unsigned"),
        (SAMPLE / "tdx-refvalues.cbor", 1, None),
        (tmp_path / "missing.cose", 2, None),
    ]
    for path, code, error_code in cases:
        result = run("devices", "verify", path, "--trust-anchor", setup.anchor, "--json")
        document = envelope(result, "devices verify")
        assert result.exit_code == code, (path, result.output)
        if error_code:
            assert document["error"]["code"] == error_code
        assert "error" in result.stderr


def test_list(setup: Setup) -> None:
    result = run(
        "devices", "list", "--sysfs", setup.tree.sysfs, "--modules-dir", setup.tree.modules_dir, "--json"
    )
    devices = {f"{d['bus']}/{d['name']}": d for d in envelope(result, "devices list")["result"]["devices"]}
    assert (
        devices["pci/0000:00:06.0"]["driver"] == "e1000" and devices["pci/0000:00:06.0"]["vendor"] == "8086"
    )
    assert (
        devices["virtio/virtio1"]["would_bind"] == ["virtio_blk"]
        and devices["virtio/virtio1"]["virtio_id"] == 2
    )
    assert devices["usb/1-1"]["authorized"] is True and devices["thunderbolt/0-1"]["authorized"] is False
    table = run("devices", "list", "--sysfs", setup.tree.sysfs, "--modules-dir", setup.tree.modules_dir)
    assert table.exit_code == 0 and "virtio1" in table.stdout
    assert run("devices", "list", "--sysfs", setup.tree.sysfs, "--bus", "isa").exit_code == 2


def test_plan_reads_unsigned_json_and_changes_nothing(setup: Setup) -> None:
    before = setup.state()
    result = run(
        "devices",
        "plan",
        "--device-policy",
        setup.json,
        "--sysfs",
        setup.tree.sysfs,
        "--modules-dir",
        setup.tree.modules_dir,
        "--json",
    )
    document = envelope(result, "devices plan")
    assert result.exit_code == 0 and document["result"]["policy"]["signed"] is False
    decisions = {f"{d['bus']}/{d['name']}": d for d in document["result"]["decisions"]}
    assert (
        decisions["pci/0000:00:06.0"]["rule"] == "rules[2]"
        and decisions["pci/0000:00:06.0"]["lockdown"] == "unbind"
    )
    assert decisions["virtio/virtio1"]["authorize"] == "bind"
    signed = run(
        "devices",
        "plan",
        *setup.policy(),
        "--sysfs",
        setup.tree.sysfs,
        "--modules-dir",
        setup.tree.modules_dir,
    )
    assert signed.exit_code == 0 and "signed, verified" in signed.stdout
    assert run("devices", "plan", "--device-policy", setup.cose, "--sysfs", setup.tree.sysfs).exit_code == 2
    assert setup.state() == before and setup.kernel.writes == []


@pytest.mark.parametrize(
    ("change", "field"), [({"vendr": "1af4"}, "rules[0].vendr"), ({"default": "allow"}, "default")]
)
def test_bad_policies_are_bad_input(setup: Setup, tmp_path: Path, change: dict[str, Any], field: str) -> None:
    doc = json.loads(json.dumps(EXAMPLE_POLICY))
    if "default" in change:
        doc.update(change)
    else:
        doc["rules"][0].update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = run("devices", "plan", "--device-policy", path, "--sysfs", setup.tree.sysfs, "--json")
    document = envelope(result, "devices plan")
    assert result.exit_code == 2 and document["error"]["field"] == field
    assert run("devices", "sign", path, "--key", setup.key, "-o", tmp_path / "bad.cose").exit_code == 2


def test_lockdown(setup: Setup) -> None:
    result = run("guest", "lockdown", *setup.policy(), *setup.system, "--json")
    document = envelope(result, "guest lockdown")
    assert result.exit_code == 0, result.output
    assert "pci/0000:00:06.0" in document["result"]["unbound"]
    state = setup.state()
    assert state["virtio/virtio0"] and not state["pci/0000:00:06.0"] and not state["virtio/virtio1"]
    assert setup.modprobed() == ["virtio_net"]  # through the --modprobe program
    assert json.loads((setup.run_dir / "devices.json").read_text())["stage"] == "lockdown"


def test_lockdown_refuses_unsigned_and_tampered(setup: Setup, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.cose"
    tampered.write_bytes(setup.cose.read_bytes().replace(b'"100e"', b'"100f"'))
    for path in (setup.json, tampered):
        result = run("guest", "lockdown", *setup.policy(path), *setup.system)
        assert result.exit_code == 1 and "device_policy_" in result.stderr
    assert setup.kernel.writes == []


def test_authorize_applies_after_an_affirming_result(setup: Setup) -> None:
    assert run("guest", "lockdown", *setup.policy(), *setup.system).exit_code == 0
    result = run("guest", "authorize", *setup.policy(), *EVIDENCE, *LOG, *setup.system, "--json")
    document = envelope(result, "guest authorize")
    assert result.exit_code == 0, result.output
    assert document["result"]["attestation_result"]["ear_status"] == "affirming"
    applied = document["result"]["applied"]
    assert "virtio/virtio1" in applied["bound"] and "usb/1-1" in applied["bound"]
    state = setup.state()
    assert state["virtio/virtio1"] and not state["virtio/virtio2"] and not state["pci/0000:00:06.0"]
    saved = json.loads((setup.run_dir / "devices.json").read_text())
    assert saved["stage"] == "authorize" and saved["result_sha256"] == applied["result_sha256"]
    assert saved["policy_file_sha256"] is not None


def test_authorize_dry_run_changes_nothing(setup: Setup) -> None:
    assert run("guest", "lockdown", *setup.policy(), *setup.system).exit_code == 0
    before, writes = setup.state(), len(setup.kernel.writes)
    result = run("guest", "authorize", *setup.policy(), *EVIDENCE, *LOG, *setup.system, "--dry-run", "--json")
    document = envelope(result, "guest authorize")
    assert result.exit_code == 0
    assert {d["name"]: d["authorize"] for d in document["result"]["decisions"]}["virtio1"] == "bind"
    table = run("guest", "authorize", *setup.policy(), *EVIDENCE, *LOG, *setup.system, "--dry-run")
    assert table.exit_code == 0 and "nothing changed" in table.stdout
    assert setup.state() == before and len(setup.kernel.writes) == writes


def test_authorize_not_affirming_is_exit_1_and_nothing_beyond_bootstrap(setup: Setup) -> None:
    assert run("guest", "lockdown", *setup.policy(), *setup.system).exit_code == 0
    before = setup.state()
    result = run("guest", "authorize", *setup.policy(), *EVIDENCE, *setup.system, "--json")  # no event log
    document = envelope(result, "guest authorize")
    assert result.exit_code == 1 and document["error"]["code"] == "result_not_affirming"
    assert document["result"]["attestation_result"]["ear_status"] == "warning"
    assert setup.state() == before
    assert json.loads((setup.run_dir / "devices.json").read_text())["stage"] == "lockdown"


def test_authorize_refused_write(setup: Setup) -> None:
    assert run("guest", "lockdown", *setup.policy(), *setup.system).exit_code == 0
    before = setup.state()
    setup.kernel.refuse = {"bus/virtio/drivers_probe"}
    result = run("guest", "authorize", *setup.policy(), *EVIDENCE, *LOG, *setup.system, "--json")
    document = envelope(result, "guest authorize")
    assert result.exit_code == 1 and document["error"]["code"] == "device_write_refused"
    assert document["error"]["class"] == "EnforcementError"
    assert setup.state() == before


def test_authorize_errors_and_exit_codes(setup: Setup, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.cose"
    tampered.write_bytes(setup.cose.read_bytes().replace(b'"100e"', b'"100f"'))
    no_evidence = [a for a in EVIDENCE if a not in ("--evidence", str(SAMPLE / "tdx-quote.dat"))]
    offline = [a for a in EVIDENCE if a not in ("--collateral", str(SAMPLE / "tdx-collateral.json"))] + [
        "--offline"
    ]
    cases = [
        (setup.policy(tampered) + EVIDENCE + LOG, 1),
        (setup.policy(setup.json) + EVIDENCE + LOG, 1),
        (setup.policy() + no_evidence + LOG, 2),
        (setup.policy() + offline + LOG, 3),
    ]
    for args, code in cases:
        result = run("guest", "authorize", *args, *setup.system, "--json")
        envelope(result, "guest authorize")
        assert result.exit_code == code, (args, result.output)
    assert setup.kernel.writes == []


def test_lockdown_refused_write(setup: Setup) -> None:
    setup.kernel.refuse = {"bus/pci/drivers/e1000/unbind"}
    result = run("guest", "lockdown", *setup.policy(), *setup.system, "--json")
    document = envelope(result, "guest lockdown")
    assert result.exit_code == 1 and document["error"]["code"] == "device_write_refused"
    assert "e1000/unbind" in document["error"]["message"]
    assert not (setup.run_dir / "devices.json").exists()


def test_signed_but_invalid_policy_is_bad_input(setup: Setup, tmp_path: Path) -> None:
    """A policy signed by other means than `devices sign` (which refuses it) is still checked."""
    from ccverify.verifier.refvalues import cose
    from ccverify.verifier.release.devices import CONTENT_TYPE

    for change in ({"default": "allow"}, {"rules": [{"action": "allow", "vendr": "1af4"}]}):
        data = json.dumps({**EXAMPLE_POLICY, **change}).encode()
        key = cose.load_private_key(setup.key.read_bytes())
        path = tmp_path / "odd.cose"
        path.write_bytes(
            cose.sign(data, key, signer=cose.Signer("x"), content_type=CONTENT_TYPE, with_corim_meta=False)
        )
        for command in (["guest", "lockdown"], ["guest", "authorize", *EVIDENCE, *LOG]):
            result = run(*command, *setup.policy(path), *setup.system, "--json")
            document = envelope(result, " ".join(command[:2]))
            assert result.exit_code == 2 and document["error"]["class"] == "ParseError"
    assert setup.kernel.writes == []


def test_plan_lines_are_the_plan_tables_plain_lines(setup: Setup) -> None:
    """The guest stages write the plan into their log without rich (``_release.plan_lines``):
    line for line what ``_common.plain_lines`` makes of rich's table in a pipe."""
    from ccverify.cli._common import plain_lines
    from ccverify.cli._release import plan_lines, plan_table, read_policy
    from ccverify.verifier.release.devices import plan

    loaded = read_policy(setup.cose, [setup.anchor])
    index = ModuleIndex.load(setup.tree.modules_dir)
    decisions = plan(loaded.policy, scan(setup.tree.sysfs, loaded.policy.buses, index))
    assert {d.verdict for d in decisions} == {"bootstrap", "allow", "deny"}
    assert any("[" in d.rule for d in decisions)
    title = "lockdown: 2 bootstrap devices bound; unbound: pci/0000:00:06.0, usb/1-1"
    assert plan_lines(decisions, title) == plain_lines(plan_table(decisions, title))
