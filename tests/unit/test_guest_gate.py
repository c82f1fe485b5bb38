"""The guest gate's parts without a relying party: the configuration file (typed errors naming
the key), the secrets store (real tmpfs in ``/dev/shm``, refused on a disk filesystem), the
systemd password agent (a real ``AF_UNIX``/``SOCK_DGRAM`` socket and ask files in a temporary
folder, also through the CLI), the retry schedule under a deadline (a fake clock), and the
device gate's acceptance of a remote release only as ``attest_remote`` made it."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import app
from ccverify.verifier.errors import CollateralError, InputError, VerificationError
from ccverify.verifier.release import askpass, remote, sealing
from ccverify.verifier.release.guest_config import KEYS, Volume, load_guest_config
from ccverify.verifier.release.secrets import SecretStore
from tests import cli_json

SECRET = b"correct horse battery staple"


def run(*args: Any) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def shm() -> Iterator[Path]:
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm tmpfs")
    folder = Path(tempfile.mkdtemp(prefix="ccverify-test-", dir="/dev/shm"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------ configuration


def test_a_full_configuration_reads_with_paths_relative_to_it(tmp_path: Path) -> None:
    path = tmp_path / "guest.toml"
    path.write_text(
        'relying_party = "https://rp.example:8443"\nca = "rp-ca.pem"\n'
        'trust_anchors = ["owner.pub.pem", "/abs.pem"]\n'
        'evidence_provider = "configfs"\ndeadline = 45\ndevice_policy = "policy.cose"\n'
        'reference_values = "rv.cbor"\nsysfs = "/sys"\nrun_dir = "/run/ccverify"\npersist_secrets = true\n'
        '[volumes.root]\nsecret = "disk-key"\ndevice = "/dev/vda2"\n[volumes.data]\nsecret = "data-key"\n'
    )
    config = load_guest_config(path)
    assert config.relying_party == "https://rp.example:8443" and config.ca == tmp_path / "rp-ca.pem"
    assert config.trust_anchors == (tmp_path / "owner.pub.pem", Path("/abs.pem"))
    assert config.deadline == 45.0 and config.persist_secrets is True
    assert config.volumes["root"] == Volume("root", "disk-key", "/dev/vda2")
    assert config.volume_secret("data") == "data-key"
    with pytest.raises(InputError, match="volume 'swap' has no"):
        config.volume_secret("swap")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('relying_pary = "https://x"', "relying_pary"),
        ('relying_party = "ftp://x"', "relying_party"),
        ("relying_party = 7", "relying_party"),
        ("trust_anchors = []", "trust_anchors"),
        ('trust_anchors = "a.pem"', "trust_anchors"),
        ('evidence_provider = "tpm"', "evidence_provider"),
        ("deadline = 0", "deadline"),
        ("deadline = 601", "deadline"),
        ("deadline = true", "deadline"),
        ('deadline = "30"', "deadline"),
        ("deadline = nan", "deadline"),
        ('persist_secrets = "yes"', "persist_secrets"),
        ('run_dir = ""', "run_dir"),
        ('volumes = "root"', "volumes"),
        ("[volumes.root]\nkey = 'x'", "volumes.root.key"),
        ("[volumes.root]\nsecret = '../x'", "volumes.root.secret"),
        ("[volumes.root]\nsecret = 'k'\ndevice = 'vda2'", "volumes.root.device"),
        ("[volumes.'a b']\nsecret = 'k'", "volumes.a b"),
    ],
)
def test_each_bad_key_is_an_input_error_naming_it(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "guest.toml"
    path.write_text(text + "\n")
    with pytest.raises(InputError) as caught:
        load_guest_config(path)
    assert str(caught.value).startswith(f"guest.toml: {key}: "), str(caught.value)


def test_not_toml_and_the_cli_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "guest.toml"
    path.write_text("deadline = = 3\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_guest_config(path)
    done = run("guest", "authorize", "--config", path, "--json")
    assert done.exit_code == 2
    assert cli_json.envelope(done.stdout, "guest authorize")["error"]["class"] == "InputError"


def test_every_key_is_in_the_readme_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## The guest gate") :]
    for key, (kind, default, _meaning) in KEYS.items():
        assert f"| `{key}` | {kind} | {default} |" in section, key


# ------------------------------------------------------------------------------ secrets


def test_secrets_are_0400_in_a_0700_folder_on_tmpfs_and_scrubbed(shm: Path) -> None:
    store = SecretStore(shm / "ccverify")
    assert store.require_memory() == "tmpfs"
    assert store.write({"disk-key": SECRET, "other": b"\0\1"}) == ["disk-key", "other"]
    assert (store.directory / "disk-key").stat().st_mode & 0o777 == 0o400
    assert store.directory.stat().st_mode & 0o777 == 0o700
    assert store.read("disk-key") == SECRET and store.names() == ["disk-key", "other"]
    assert [p.name for p in store.directory.iterdir() if p.name.startswith(".")] == []
    assert store.scrub() == ["disk-key", "other"]
    assert not store.directory.exists()
    with pytest.raises(VerificationError) as missing:
        store.read("disk-key")
    assert missing.value.code == "secret_not_released"


def test_a_run_dir_not_in_memory_is_refused_unless_a_test_says_so(tmp_path: Path) -> None:
    kind = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True).stdout
    if kind.strip() in ("tmpfs", "ramfs"):
        pytest.skip("the temporary folder is itself on tmpfs")
    with pytest.raises(VerificationError) as caught:
        SecretStore(tmp_path / "run").write({"disk-key": SECRET})
    assert caught.value.code == "run_dir_not_in_memory" and not (tmp_path / "run" / "secrets").exists()
    assert SecretStore(tmp_path / "run", allow_any_filesystem=True).write({"disk-key": SECRET}) == [
        "disk-key"
    ]


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "x" * 129, "new\nline"])
def test_secret_names_are_checked(shm: Path, name: str) -> None:
    with pytest.raises(InputError):
        SecretStore(shm).write({name: SECRET})
    with pytest.raises(InputError):
        SecretStore(shm).read(name)


def test_unlock_and_finish_through_the_cli(shm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = shm / "ccverify"
    SecretStore(run_dir).write({"disk-key": SECRET})
    config = shm / "guest.toml"
    config.write_text(
        f'run_dir = "{run_dir}"\npersist_secrets = true\n[volumes.cryptroot]\nsecret = "disk-key"\n'
    )
    monkeypatch.setenv("CRYPTTAB_NAME", "cryptroot")  # what initramfs-tools gives a keyscript
    assert run("guest", "unlock", "--config", config).stdout_bytes == SECRET
    monkeypatch.delenv("CRYPTTAB_NAME")
    assert run("guest", "unlock", "--config", config).exit_code == 2
    assert run("guest", "unlock", "disk-key", "--volume", "cryptroot", "--config", config).exit_code == 2
    kept = run("guest", "finish", "--config", config, "--json")
    assert cli_json.envelope_result(kept.stdout, "guest finish") == {
        "directory": str(run_dir / "secrets"),
        "persisted": True,
        "removed": [],
    }
    assert (run_dir / "secrets" / "disk-key").exists()
    config.write_text(f'run_dir = "{run_dir}"\n')
    assert run("guest", "finish", "--config", config, "--persist").exit_code == 0
    assert (run_dir / "secrets" / "disk-key").exists()
    removed = run("guest", "finish", "--config", config)
    assert removed.exit_code == 0 and "disk-key" in removed.stdout
    assert not (run_dir / "secrets").exists()


# ------------------------------------------------------------------------------ ask-password


class Asker:
    """What systemd-cryptsetup does: a datagram socket, an ask file pointing at it."""

    def __init__(self, directory: Path, name: str, **fields: Any) -> None:
        directory.mkdir(exist_ok=True)
        self.socket_path = directory / f"sck.{name}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.socket_path))
        self.sock.settimeout(2)
        values = {"PID": os.getpid(), "Socket": self.socket_path, "AcceptCached": 1, "Echo": 0, "NotAfter": 0}
        values |= fields
        text = "[Ask]\n" + "".join(f"{k}={v}\n" for k, v in values.items())
        temporary = directory / f".tmp.{name}"
        temporary.write_text(text)
        os.replace(temporary, directory / f"ask.{name}")  # as systemd: written, then renamed in

    def answer(self) -> bytes | None:
        self.sock.settimeout(0.3)
        try:
            return self.sock.recv(65536)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.sock.close()


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_the_agent_answers_only_what_it_should(shm: Path) -> None:
    store = SecretStore(shm / "run")
    store.write({"disk-key": SECRET})
    asks = shm / "ask-password"
    volumes = {"root": Volume("root", "disk-key", "/dev/vda2"), "data": Volume("data", "data-key")}
    by_device = Asker(
        asks, "a1", Id="cryptsetup:/dev/vda2", Message="Please enter passphrase for disk X (cryptroot)!"
    )
    by_name = Asker(
        asks, "a2", Id="cryptsetup:/dev/block/8:3", Message="Please enter passphrase for disk Y (root)!"
    )
    unknown = Asker(
        asks, "a3", Id="cryptsetup:/dev/vdb", Message="Please enter passphrase for disk Z (swap)!"
    )
    not_released = Asker(
        asks, "a4", Id="cryptsetup:/dev/vdc", Message="Please enter passphrase for disk (data)!"
    )
    expired = Asker(asks, "a5", Id="cryptsetup:/dev/vda2", Message="(root)", NotAfter=1)
    gone = Asker(asks, "a6", Id="cryptsetup:/dev/vda2", Message="(root)", PID=_dead_pid())
    other = Asker(asks, "a7", Id="vpn:ipsec", Message="(root)")
    try:
        agent = askpass.Agent(store, volumes, directory=asks)
        given = agent.run(once=True)
        assert sorted(a.ask for a in given) == ["ask.a1", "ask.a2"]
        assert by_device.answer() == b"+" + SECRET and by_name.answer() == b"+" + SECRET
        for silent in (unknown, not_released, expired, gone, other):
            assert silent.answer() is None
        assert agent.run(once=True) == []  # an ask is answered once
    finally:
        for asker in (by_device, by_name, unknown, not_released, expired, gone, other):
            asker.close()


@pytest.mark.parametrize(
    ("message", "name"),
    [
        # systemd >= 246: "for disk <friendly>:", friendly as friendly_disk_name() builds it
        ("Please enter passphrase for disk root:", "root"),  # Debian 12, no description
        ("Please enter passphrase for disk QEMU_HARDDISK (root):", "root"),
        ("Please enter passphrase for disk root on /data:", "root"),
        ("Please enter passphrase for disk QEMU HARDDISK (cr-data) on /srv/data:", "cr-data"),
        ("Please enter passphrase for disk VBOX_HARDDISK (root)!", "root"),  # before 246
        ("Please enter passphrase for disk two words:", None),
        ("Please enter security token PIN:", None),
        ("(root)", None),
        ("Please enter passphrase for disk :", None),
    ],
)
def test_the_volume_name_in_systemd_cryptsetup_messages(message: str, name: str | None) -> None:
    assert askpass.volume_named(message) == name


def test_an_ask_naming_the_volume_without_its_device_is_answered(shm: Path) -> None:
    store = SecretStore(shm / "run")
    store.write({"disk-key": SECRET})
    asks = shm / "ask-password"
    volumes = {"root": Volume("root", "disk-key")}
    # as Debian 12's systemd-cryptsetup asked in the dracut boot (tests/vm/test_vm_dracut.py)
    named = Asker(asks, "d1", Id="cryptsetup:/dev/disk/by-uuid/25e11526",
                  Message="Please enter passphrase for disk root:")  # fmt: skip
    prefixed = Asker(asks, "d2", Id="cryptsetup:/dev/vdb", Message="Please enter passphrase for disk rootfs:")
    try:
        given = askpass.Agent(store, volumes, directory=asks).run(once=True)
        assert [a.ask for a in given] == ["ask.d1"]
        assert named.answer() == b"+" + SECRET and prefixed.answer() is None
    finally:
        named.close()
        prefixed.close()


def test_a_secret_with_a_nul_byte_is_never_sent(shm: Path) -> None:
    store = SecretStore(shm / "run")
    store.write({"binary": b"ab\0cd"})
    message = "Please enter passphrase for disk root:"
    asker = Asker(shm / "ask", "b1", Id="cryptsetup:/dev/vda2", Message=message)
    lines: list[str] = []
    try:
        agent = askpass.Agent(
            store, {"root": Volume("root", "binary")}, directory=shm / "ask", log=lines.append
        )
        assert agent.run(once=True) == [] and asker.answer() is None
        assert "NUL" in lines[0]
    finally:
        asker.close()


def test_askpass_through_the_cli_waits_for_the_ask(shm: Path) -> None:
    import threading

    run_dir = shm / "run"
    SecretStore(run_dir).write({"disk-key": SECRET})
    config = shm / "guest.toml"
    config.write_text(f'run_dir = "{run_dir}"\n[volumes.root]\nsecret = "disk-key"\ndevice = "/dev/vda2"\n')
    asks = shm / "ask-password"
    asks.mkdir()
    holder: dict[str, Asker] = {}
    later = threading.Timer(0.5, lambda: holder.setdefault("a", Asker(asks, "c1", Id="cryptsetup:/dev/vda2")))
    later.start()
    try:
        done = run("guest", "askpass", "--ask-dir", asks, "--config", config, "--timeout", "10", "--json")
        result = cli_json.envelope_result(done.stdout, "guest askpass")
        assert [a["volume"] for a in result["answered"]] == ["root"]
        assert holder["a"].answer() == b"+" + SECRET
        assert SECRET.decode() not in done.stdout
    finally:
        later.cancel()
        if "a" in holder:
            holder["a"].close()


# ------------------------------------------------------------------------------ retries under a deadline


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


class DownClient:
    """A relying party that never answers (each attempt takes ``cost`` seconds)."""

    url = "https://rp.invalid"

    def __init__(self, clock: FakeClock, cost: float = 0.0, status: int | None = None) -> None:
        self.clock = clock
        self.cost = cost
        self.status = status
        self.timeout = 0.0
        self.calls = 0
        self.session = self

    def close(self) -> None:
        return None

    def challenge(self, _tee: str) -> Any:
        self.calls += 1
        self.clock.now += self.cost
        raise CollateralError(
            "relying party https://rp.invalid unreachable: connection refused", status=self.status
        )


def test_back_off_doubles_up_to_8_s_and_ends_within_the_deadline() -> None:
    clock = FakeClock()
    deadline = remote.Deadline(30, clock=clock.clock, sleep=clock.sleep)
    lines: list[str] = []
    client = DownClient(clock, cost=0.1)
    with pytest.raises(CollateralError) as caught:
        remote.attest_remote(client, None, tee="tdx", deadline=deadline, announce=lines.append)  # type: ignore[arg-type]
    assert clock.sleeps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert clock.now <= 30 and 30 - clock.now <= remote.LAST_ATTEMPT
    assert len(lines) == client.calls - 1 and all("; attempt " in line for line in lines)
    assert "30 s deadline" in str(caught.value) and "no secret was written" in str(caught.value)
    assert f"{client.calls} attempts" in str(caught.value)


def test_retry_after_is_honoured_and_a_refusal_is_not_retried() -> None:
    clock = FakeClock()
    client = DownClient(clock, status=404)
    with pytest.raises(CollateralError):
        remote.attest_remote(
            client, None, tee="tdx", deadline=remote.Deadline(30, clock=clock.clock, sleep=clock.sleep)
        )  # type: ignore[arg-type]
    assert client.calls == 1 and clock.sleeps == []


def test_a_deadline_is_enforced_inside_a_blocking_call() -> None:
    deadline = remote.Deadline(0.3)
    started = time.monotonic()
    with pytest.raises(CollateralError), deadline.enforced(lambda: CollateralError("deadline", status=-1)):
        time.sleep(5)
    assert time.monotonic() - started < 1.0


def test_the_device_gate_takes_a_remote_release_only_as_attest_remote_made_it() -> None:
    from ccverify.verifier.release.devices import require_affirming

    forged = remote.RemoteRelease(
        relying_party="https://rp", tee="tdx", nonce=bytes(32), report_data=bytes(64),
        evidence_sha256="0" * 64, result_jwt="a.b.c", claims={}, payload=sealing.ReleasePayload(),
        attempts=1, seconds=0.1,
        provider="example", hardware=False,
    )  # fmt: skip
    with pytest.raises(VerificationError) as caught:
        require_affirming(forged)
    assert caught.value.code == "result_not_issued"
    object.__setattr__(forged, "_token", remote._OPENED)  # as attest_remote does, once opened
    assert require_affirming(forged) is forged
    copied = dataclasses.replace(forged, payload=sealing.ReleasePayload(secrets={"x": b"y"}))
    with pytest.raises(VerificationError):
        require_affirming(copied)
    assert json.dumps(forged.to_json())


# ------------------------------------------------------------------------------ verify --rtmr3-log


def test_verify_replays_the_runtime_rtmr3_log_after_the_ccel(tmp_path: Path) -> None:
    import hashlib

    from ccverify.verifier.evidence import rtmr3_log
    from ccverify.verifier.evidence.tdx_quote import TdxQuote
    from ccverify.verifier.testing.service_fixtures import sample_tdx_quote

    sample = Path(__file__).resolve().parents[2] / "reference-values" / "examples"
    original = (sample / "tdx-quote.dat").read_bytes()
    rtmrs = TdxQuote.from_bytes(original).body.rtmrs
    digest = rtmr3_log.policy_digest(b"a signed device policy")
    extended = hashlib.sha384(rtmrs[3] + digest).digest()
    quote = tmp_path / "quote.dat"
    quote.write_bytes(sample_tdx_quote(original, bytes(64), rtmrs=(*rtmrs[:3], extended)))
    log = tmp_path / "rtmr3-events.bin"
    log.write_bytes(rtmr3_log.log_header() + rtmr3_log.policy_event(digest))
    common = [
        "verify", quote, "--collateral", sample / "tdx-collateral.json",
        "--trust-root", sample / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem", "--at", "2026-01-15T00:00:00Z",
        "--reference-values", sample / "tdx-refvalues.cbor",
        "--trust-anchor", sample / "EXAMPLE-refvalues-signer.pub.pem",
        "--event-log", sample / "tdx-event-log.bin", "--json",
    ]  # fmt: skip
    with_log = run(*common, "--rtmr3-log", log)
    assert with_log.exit_code == 0, with_log.output
    document = json.loads(with_log.stdout)
    document = document.get("result", document)  # the envelope (branch clicontract) or the verdict
    assert document["attestation_result"]["ear_status"] == "affirming"
    without = run(*common)
    assert without.exit_code == 1
    alone = run(
        *[a for a in common if a not in ("--event-log", sample / "tdx-event-log.bin")], "--rtmr3-log", log
    )
    assert alone.exit_code == 2


# ------------------------------------------------------------------------------ local mode, own evidence


def test_local_mode_reads_the_guests_own_evidence_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_devices_cli import SAMPLE, Setup

    setup = Setup(tmp_path, monkeypatch)
    assert run("guest", "lockdown", *setup.policy(), *setup.system).exit_code == 0
    done = run(
        "guest", "authorize", *setup.policy(), "--evidence-provider", "example",
        "--trust-root", SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem",
        "--reference-values", SAMPLE / "tdx-refvalues.cbor",
        "--trust-anchor", SAMPLE / "EXAMPLE-refvalues-signer.pub.pem", *setup.system, "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    result = cli_json.envelope_result(done.stdout, "guest authorize")
    assert result["mode"] == "local" and result["evidence"]["hardware"] is False
    assert result["attestation_result"]["ear_status"] == "affirming"
    assert "virtio/virtio1" in result["applied"]["bound"] and result["rtmr3"] is None
    written = sorted(p.name for p in (setup.run_dir / "evidence").iterdir())
    assert written == ["tdx-collateral.json", "tdx-event-log.bin", "tdx-quote.dat"]


def test_lockdown_takes_its_policy_anchors_and_paths_from_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_devices_cli import Setup

    setup = Setup(tmp_path, monkeypatch)
    config = tmp_path / "guest.toml"
    config.write_text(
        f'device_policy = "{setup.cose}"\ntrust_anchors = ["{setup.anchor}"]\n'
        f'sysfs = "{setup.tree.sysfs}"\nrun_dir = "{setup.run_dir}"\n'
    )
    done = run("guest", "lockdown", "--config", config, "--modules-dir", setup.tree.modules_dir,
               "--modprobe", setup.tree.modprobe_script(), "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert cli_json.envelope_result(done.stdout, "guest lockdown")["stage"] == "lockdown"
    assert json.loads((setup.run_dir / "devices.json").read_text())["stage"] == "lockdown"
    config.write_text(f'trust_anchors = ["{setup.anchor}"]\n')
    assert run("guest", "lockdown", "--config", config).exit_code == 2  # no policy anywhere
