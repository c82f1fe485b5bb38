"""``ccverify guest authorize --relying-party`` end to end: the real service under uvicorn on
127.0.0.1 (TLS, the guest given its certificate with ``--ca``), the example evidence provider
(quotes minted for each challenge's binding), a generated sysfs tree answered by the fake
kernel, the run directory on a real tmpfs (``/dev/shm``). What is checked each time: the exit
code, the envelope against its schema, the devices (exactly per policy, or exactly as lockdown
left them), the secrets directory (0400 files, or nothing at all), and stderr.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from ccverify.cli.app import app
from ccverify.verifier.errors import VerificationError
from ccverify.verifier.release.devices import ModuleIndex, scan, sign_policy
from ccverify.verifier.release.devices.plan import uses_authorized
from ccverify.verifier.service.client import RelyingPartyClient
from ccverify.verifier.service.init import initialize
from ccverify.verifier.testing.sample import _signer_key, mint_tdx_quote
from tests import cli_json
from tests.service.conftest import EXAMPLES, REFVALUES, SECRET, Running, free_port, start
from tests.unit.fake_sysfs import EXAMPLE_POLICY, FakeKernel, q35

ANCHOR = EXAMPLES / "EXAMPLE-refvalues-signer.pub.pem"
CCVERIFY = str(Path(sys.executable).with_name("ccverify"))
#: what the example policy leaves bound (bootstrap + allowed) and unbound on the q35 tree
BOUND = {"virtio/virtio0", "virtio/virtio1", "virtio/virtio3", "usb/1-1", "usb/usb1"}
UNBOUND = {"virtio/virtio2", "pci/0000:00:06.0", "pci/0000:00:01.0", "pci/0000:00:1f.2"}


def run(*args: Any) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def envelope(result: Any, command: str = "guest authorize") -> dict[str, Any]:
    document = cli_json.envelope(result.stdout, command)
    assert document["exit_code"] == result.exit_code
    return document


class Guest:
    """The guest side: a q35 sysfs tree, the fake kernel, a tmpfs run dir, the signed policy."""

    def __init__(self, root: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tree = q35(root / "q35", e1000_builtin=True)
        self.kernel = FakeKernel(self.tree)
        monkeypatch.setattr("ccverify.verifier.release.devices.enforce.default_writer", lambda: self.kernel)
        self.policy_bytes = sign_policy(
            json.dumps(EXAMPLE_POLICY).encode(), _signer_key(), signer="ccverify EXAMPLE device-policy owner"
        )
        self.policy = root / "policy.cose"
        self.policy.write_bytes(self.policy_bytes)
        self.run_dir = run_dir
        self.system = [
            "--sysfs", self.tree.sysfs, "--modules-dir", self.tree.modules_dir,
            "--modprobe", self.tree.modprobe_script(), "--run-dir", run_dir,
        ]  # fmt: skip

    def lockdown(self) -> dict[str, bool]:
        done = run(
            "guest", "lockdown", "--device-policy", self.policy, "--trust-anchor", ANCHOR, *self.system
        )
        assert done.exit_code == 0, done.output
        return self.state()

    def state(self) -> dict[str, bool]:
        found = scan(
            self.tree.sysfs, ("pci", "virtio", "usb", "thunderbolt"), ModuleIndex.load(self.tree.modules_dir)
        )
        return {d.key: bool(d.authorized) if uses_authorized(d) else d.driver is not None for d in found}

    def secrets(self) -> Path:
        return self.run_dir / "secrets"


class Service:
    def __init__(
        self, running: Running, admin: RelyingPartyClient, ca: Path, rogue: ec.EllipticCurvePrivateKey
    ) -> None:
        self.running = running
        self.admin = admin
        self.ca = ca
        self.rogue = rogue
        #: the service's result-signing keys as `serve --init` wrote them (what a guest image pins)
        self.jwks = running.config.parent / "jwks.json"

    @property
    def url(self) -> str:
        return self.running.url


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A run directory on a real tmpfs."""
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm tmpfs")
    folder = Path(tempfile.mkdtemp(prefix="ccverify-run-", dir="/dev/shm"))
    try:
        yield folder / "ccverify"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def guest(tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Guest:
    return Guest(tmp_path / "guest", run_dir, monkeypatch)


@pytest.fixture
def service(tmp_path: Path, guest: Guest) -> Iterator[Service]:
    """The service with TLS, trusting the example root; anchors: the example signer (the device
    policy's owner) and a rogue key; collateral minted now (the example provider's quotes)."""
    rogue = ec.generate_private_key(ec.SECP256R1())
    rogue_pub = tmp_path / "rogue.pub.pem"
    rogue_pub.write_bytes(
        rogue.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    collateral = tmp_path / "collateral.json"
    collateral.write_bytes(mint_tdx_quote(b"\0", now=datetime.now(UTC).replace(microsecond=0))[1])
    done = initialize(
        tmp_path / "rp",
        roots=[EXAMPLES / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"],
        anchors=[ANCHOR, rogue_pub],
        collateral=[collateral],
        tls=True,
        online=False,
        port=free_port(),
    )
    with done.config.open("a") as out:
        out.write("rate_per_second = 0\n")
    ca = done.config.parent / "tls-cert.pem"
    running = start(done.config, scheme="https", verify=str(ca))
    admin = RelyingPartyClient(
        running.url, verify=str(ca), admin_token=done.admin_token_file.read_text().strip()
    )
    admin.put_reference_values(REFVALUES)
    admin.put_device_policy("guest-devices", guest.policy_bytes)
    admin.put_secret("disk-key", SECRET)
    admin.put_release_rule(
        "example-guest", "ccverify-example-tdx", device_policy="guest-devices", secrets=["disk-key"]
    )
    try:
        yield Service(running, admin, ca, rogue)
    finally:
        admin.session.close()  # no keep-alive connection holds uvicorn's graceful shutdown
        running.stop()


def authorize(guest: Guest, url: str, *extra: Any, ca: Path | None = None, jwks: Path | None = None) -> Any:
    args = ["guest", "authorize", "--relying-party", url, "--trust-anchor", ANCHOR]
    args += ["--evidence-provider", "example", *guest.system, "--json", *extra]
    if ca is not None:
        args += ["--ca", ca]
    if jwks is not None:
        args += ["--relying-party-jwks", jwks]
    return run(*args)


def assert_nothing_beyond_bootstrap(guest: Guest, before: dict[str, bool]) -> None:
    assert guest.state() == before
    assert not guest.secrets().exists() or not any(guest.secrets().iterdir())
    assert json.loads((guest.run_dir / "devices.json").read_text())["stage"] == "lockdown"


# ------------------------------------------------------------------------------ affirming


def test_affirming_binds_devices_per_policy_and_hands_the_secret_over(
    tmp_path: Path, guest: Guest, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a kernel with run-time RTMR3 extends (Linux >= 6.16): tsm-mr played by the guest fakes
    from ccverify.verifier.evidence import rtmr3_log
    from ccverify.verifier.release.rtmr3 import RTMR3_PATH
    from tests.unit import guest_fakes

    (guest.tree.sysfs / RTMR3_PATH).parent.mkdir(parents=True)
    (guest.tree.sysfs / RTMR3_PATH).write_bytes(bytes(48))
    tsm = guest_fakes.FakeKernel(tmp_path / "configfs")
    monkeypatch.setattr("ccverify.verifier.release.rtmr3.FileOps", lambda: tsm)
    before = guest.lockdown()
    assert not any(before[k] for k in ("virtio/virtio1", "usb/1-1"))
    started = time.monotonic()
    result = authorize(guest, service.url, ca=service.ca)
    elapsed = time.monotonic() - started
    document = envelope(result)
    assert result.exit_code == 0, result.output
    body = document["result"]
    assert body["mode"] == "remote" and body["policy_source"] == "release"
    assert body["attestation"]["ear_status"] == "affirming" and body["attestation"]["attempts"] == 1
    assert body["attestation"]["hardware"] is False
    assert body["secrets"]["written"] == {"disk-key": len(SECRET)}
    assert SECRET.decode() not in result.stdout and SECRET.hex() not in result.stdout
    state = guest.state()
    assert {k for k, v in state.items() if v} >= BOUND
    assert not any(state[k] for k in UNBOUND)
    assert set(body["applied"]["bound"]) == {k for k, v in state.items() if v}
    # the secret: 0400 in a 0700 directory on tmpfs
    secret = guest.secrets() / "disk-key"
    assert secret.read_bytes() == SECRET
    assert secret.stat().st_mode & 0o777 == 0o400
    assert guest.secrets().stat().st_mode & 0o777 == 0o700
    saved = json.loads((guest.run_dir / "attestation-result.json").read_text())
    assert saved["mode"] == "remote" and saved["released"]["secrets"] == {"disk-key": len(SECRET)}
    # guest unlock prints exactly the bytes (cryptsetup --key-file=-)
    # the applied policy (the release's bytes, as its owner signed them) measured into RTMR3
    digest = hashlib.sha384(guest.policy_bytes).digest()
    assert body["rtmr3"]["digest"] == digest.hex() and tsm.writes == [("rtmr3:sha384", digest)]
    assert body["rtmr3"]["after"] == hashlib.sha384(bytes(48) + digest).hexdigest()
    assert rtmr3_log.policy_digests((guest.run_dir / "rtmr3-events.bin").read_bytes()) == (digest,)
    unlocked = run("guest", "unlock", "disk-key", "--run-dir", guest.run_dir)
    assert unlocked.exit_code == 0 and unlocked.stdout_bytes == SECRET
    print(f"remote authorize, affirming: {elapsed:.2f} s")


def test_unlock_by_volume_then_finish_removes_the_secrets(
    tmp_path: Path, guest: Guest, service: Service
) -> None:
    guest.lockdown()
    config = tmp_path / "guest.toml"
    config.write_text(
        f'relying_party = "{service.url}"\nca = "{service.ca}"\ntrust_anchors = ["{ANCHOR}"]\n'
        f'evidence_provider = "example"\ndeadline = 20\nrun_dir = "{guest.run_dir}"\n'
        f'sysfs = "{guest.tree.sysfs}"\n[volumes.root]\nsecret = "disk-key"\n'
    )
    done = run(
        "guest", "authorize", "--config", config, "--modules-dir", guest.tree.modules_dir,
        "--modprobe", guest.tree.modprobe_script(), "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert envelope(done)["result"]["deadline_seconds"] == 20
    by_volume = run("guest", "unlock", "--volume", "root", "--config", config)
    assert by_volume.exit_code == 0 and by_volume.stdout_bytes == SECRET
    described = run("guest", "unlock", "--volume", "root", "--config", config, "--json")
    assert envelope(described, "guest unlock")["result"]["bytes"] == len(SECRET)
    assert SECRET.decode() not in described.stdout
    finished = run("guest", "finish", "--config", config, "--json")
    assert envelope(finished, "guest finish")["result"]["removed"] == ["disk-key"]
    assert not guest.secrets().exists()
    gone = run("guest", "unlock", "disk-key", "--config", config, "--json")
    assert gone.exit_code == 1 and envelope(gone, "guest unlock")["error"]["code"] == "secret_not_released"


# ------------------------------------------------------------------------------ refusals


def test_relying_party_stopped_the_deadline_passes_within_its_bound(guest: Guest, service: Service) -> None:
    before = guest.lockdown()
    url = service.url
    service.admin.session.close()
    service.running.stop()
    deadline = 3.0
    args = [
        CCVERIFY, "guest", "authorize", "--relying-party", url, "--ca", str(service.ca),
        "--trust-anchor", str(ANCHOR), "--evidence-provider", "example", "--deadline", str(deadline),
        *[str(a) for a in guest.system],
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    # the whole deadline is used (the last attempt starts at least 0.5 s before it), not more:
    # the deadline plus the interpreter's start-up
    assert deadline - 0.6 < elapsed < deadline + 2.0, elapsed
    lines = done.stderr.strip().splitlines()
    retries, final = lines[:-1], lines[-1]
    assert retries and all("connection refused; attempt" in line for line in retries), lines
    assert "deadline" in final and "nothing beyond bootstrap" in final and "no secret" in final
    assert_nothing_beyond_bootstrap(guest, before)
    print(
        f"relying party stopped: exit 3 after {elapsed:.2f} s (deadline {deadline} s), {len(retries)} retries"
    )


def test_tampered_reference_values_on_the_service_is_exit_1_and_nothing(
    guest: Guest, service: Service
) -> None:
    from ccverify.verifier.refvalues import sign_reference_values
    from ccverify.verifier.refvalues.profile import from_measurements
    from ccverify.verifier.testing.sample import SAMPLE_TIME

    measurements = json.loads((EXAMPLES / "tdx-measurements.json").read_text())
    measurements["values"]["mrtd"] = "00" * 48
    rv = from_measurements(
        measurements,
        id="ccverify-example-tdx",
        sequence=99,
        not_before=SAMPLE_TIME - timedelta(days=365),
        not_after=SAMPLE_TIME + timedelta(days=3650),
    )
    service.admin.put_reference_values(sign_reference_values(rv, _signer_key()))
    before = guest.lockdown()
    result = authorize(guest, service.url, ca=service.ca)
    document = envelope(result)
    assert result.exit_code == 1 and document["error"]["code"] == "result_not_affirming"
    assert "mrtd_mismatch" in document["error"]["message"] and "unverified" in document["error"]["message"]
    assert_nothing_beyond_bootstrap(guest, before)
    # with the service's keys pinned: the signed result's own words, and still nothing
    result = authorize(guest, service.url, ca=service.ca, jwks=service.jwks)
    document = envelope(result)
    assert result.exit_code == 1 and document["error"]["code"] == "result_not_affirming"
    message = document["error"]["message"]
    assert "signed result says 'contraindicated'" in message and "mrtd_mismatch" in message
    assert_nothing_beyond_bootstrap(guest, before)


def test_a_policy_signed_by_a_key_not_among_the_anchors_is_refused(guest: Guest, service: Service) -> None:
    everything = EXAMPLE_POLICY | {"rules": [{"action": "allow", "bus": "pci"}]}
    rogue_policy = sign_policy(json.dumps(everything).encode(), service.rogue, signer="rogue")
    service.admin.put_device_policy("rogue", rogue_policy)  # the service trusts it; the initramfs does not
    service.admin.put_release_rule(
        "example-guest", "ccverify-example-tdx", device_policy="rogue", secrets=["disk-key"]
    )
    before = guest.lockdown()
    result = authorize(guest, service.url, ca=service.ca)
    document = envelope(result)
    assert result.exit_code == 1, result.output
    assert document["error"]["code"].startswith("device_policy_")
    assert document["result"]["attestation"]["ear_status"] == "affirming"
    assert_nothing_beyond_bootstrap(guest, before)


def test_without_the_ca_tls_fails_and_nothing_happens(guest: Guest, service: Service) -> None:
    before = guest.lockdown()
    result = authorize(guest, service.url, "--deadline", "2")
    assert result.exit_code == 3
    assert_nothing_beyond_bootstrap(guest, before)


# ------------------------------------------------------------------------------ a proxy in between


class Proxy:
    """A plain-HTTP man in the middle before the service: forwards, except what a test scripts
    (``answers``: path -> list of (status, headers, body) to give before forwarding again), and
    records the attestation answers it forwarded."""

    def __init__(self, upstream: str, ca: Path, jwks: Path) -> None:
        self.upstream = upstream
        self.ca = ca
        self.jwks = jwks
        #: what a man in the middle makes of a forwarded attestation: (request, answer) -> answer
        self.rewrite: Callable[[bytes, bytes], bytes] | None = None
        self.answers: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.attest_bodies: list[bytes] = []
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return None

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests.append(self.path)
                scripted = proxy.answers.get(self.path)
                if scripted:
                    status, headers, data = scripted.pop(0)
                else:
                    upstream = requests.request(
                        self.command, proxy.upstream + self.path, data=body, verify=str(proxy.ca), timeout=30,
                        headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                    )  # fmt: skip
                    status, headers, data = upstream.status_code, {}, upstream.content
                    if self.path == "/v1/attest":
                        proxy.attest_bodies.append(data)
                        if proxy.rewrite is not None:
                            data = proxy.rewrite(body, data)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(service: Service) -> Iterator[Proxy]:
    middle = Proxy(service.url, service.ca, service.jwks)
    try:
        yield middle
    finally:
        middle.close()


def test_the_sealed_release_replayed_into_another_session_is_refused(
    tmp_path: Path, guest: Guest, service: Service, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Guest(tmp_path / "first", guest.run_dir.parent / "first", monkeypatch)
    first.lockdown()
    assert authorize(first, proxy.url, jwks=proxy.jwks).exit_code == 0  # another guest's session, recorded
    recorded = proxy.attest_bodies[-1]
    assert json.loads(recorded)["sealed"]
    monkeypatch.setattr("ccverify.verifier.release.devices.enforce.default_writer", lambda: guest.kernel)
    before = guest.lockdown()
    proxy.answers["/v1/attest"] = [(200, {}, recorded)]  # the recorded answer, replayed
    result = authorize(guest, proxy.url, jwks=proxy.jwks)
    document = envelope(result)
    assert result.exit_code == 1 and document["error"]["code"] == "result_nonce_mismatch"
    assert_nothing_beyond_bootstrap(guest, before)


def _forger(rogue: ec.EllipticCurvePrivateKey, secret: bytes) -> Callable[[bytes, bytes], bytes]:
    """A man in the middle's rewrite of an affirming answer: the service's token re-signed by
    ``rogue`` (same header, same claims, this session's nonce) and a release of its own, sealed
    to the guest's HPKE key for this nonce and the forged token: everything a guest can check
    but the signer."""
    import base64

    from ccverify.verifier.release import sealing
    from ccverify.verifier.testing.tdx_builder import sign_raw

    def rewrite(request: bytes, answer: bytes) -> bytes:
        asked, document = json.loads(request), json.loads(answer)
        header, claims, _signature = document["result"].split(".")
        signed = f"{header}.{claims}".encode()
        signature = base64.urlsafe_b64encode(sign_raw(rogue, signed)).rstrip(b"=").decode()
        forged = f"{header}.{claims}.{signature}"
        nonce, public = base64.b64decode(asked["nonce"]), base64.b64decode(asked["hpke_public_key"])
        payload = sealing.ReleasePayload(None, {"disk-key": secret}).to_bytes()
        sealed = sealing.seal(payload, public, sealing.release_info(nonce, forged), asked.get("hpke_suite"))
        document.update(result=forged, sealed=base64.b64encode(sealed).decode())
        return json.dumps(document).encode()

    return rewrite


def test_over_http_an_unpinned_relying_party_is_refused_before_anything_is_sent(
    guest: Guest, proxy: Proxy
) -> None:
    before = guest.lockdown()
    result = authorize(guest, proxy.url)
    document = envelope(result)
    assert result.exit_code == 2, result.output
    assert "over http:// nothing authenticates the answer" in document["error"]["message"]
    assert "relying_party_jwks" in document["error"]["message"]
    assert proxy.requests == []
    assert_nothing_beyond_bootstrap(guest, before)


def test_a_pinned_relying_party_through_a_plain_http_path_releases(guest: Guest, proxy: Proxy) -> None:
    guest.lockdown()
    result = authorize(guest, proxy.url, jwks=proxy.jwks)
    assert result.exit_code == 0, result.output
    attestation = envelope(result)["result"]["attestation"]
    assert attestation["result_signature"] == "verified (pinned keys)"
    assert attestation["ear_status"] == "affirming"
    assert guest.secrets().joinpath("disk-key").read_bytes() == SECRET


def test_a_release_forged_on_the_path_is_refused_under_pinned_keys(
    guest: Guest, service: Service, proxy: Proxy
) -> None:
    before = guest.lockdown()
    proxy.rewrite = _forger(service.rogue, b"the path's own disk key")
    result = authorize(guest, proxy.url, jwks=proxy.jwks)
    document = envelope(result)
    assert result.exit_code == 1, result.output
    assert document["error"]["code"] == "result_signature_invalid"
    assert_nothing_beyond_bootstrap(guest, before)


def test_what_the_pin_stops_a_forged_release_opens_without_it(service: Service, proxy: Proxy) -> None:
    """The library without pinned keys (it then relies on TLS): the path's forged release opens.
    This is why the guest refuses http:// without ``relying_party_jwks``."""
    from ccverify.cli.guest_providers import make_provider
    from ccverify.verifier.release import remote

    proxy.rewrite = _forger(service.rogue, b"the path's own disk key")
    provider = make_provider("example", now=datetime.now(UTC).replace(microsecond=0))
    client = RelyingPartyClient(proxy.url, timeout=20)
    release = remote.attest_remote(client, provider, tee="tdx", deadline=remote.Deadline(20))
    assert release.payload.secrets == {"disk-key": b"the path's own disk key"}
    assert not release.result_verified
    client = RelyingPartyClient(proxy.url, timeout=20)
    keys = json.loads(service.jwks.read_text())
    with pytest.raises(VerificationError) as refused:
        remote.attest_remote(client, provider, tee="tdx", deadline=remote.Deadline(20), jwks=keys)
    assert refused.value.code == "result_signature_invalid"


def test_503_and_429_are_retried_with_back_off_and_announced(guest: Guest, proxy: Proxy) -> None:
    before = guest.lockdown()
    busy = json.dumps({"error": "too_many_challenges", "detail": "busy"}).encode()
    proxy.answers["/v1/challenge"] = [(503, {}, busy), (429, {"Retry-After": "1"}, busy)]
    started = time.monotonic()
    result = authorize(guest, proxy.url, "--deadline", "10", jwks=proxy.jwks)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert envelope(result)["result"]["attestation"]["attempts"] == 3
    announced = [line for line in result.stderr.splitlines() if "; attempt " in line]
    assert (
        len(announced) == 2 and "attempt 2 in 0.5 s" in announced[0] and "attempt 3 in 1.0 s" in announced[1]
    )
    assert 1.5 <= elapsed < 10
    assert guest.state() != before


def test_a_refusal_is_final_never_retried(guest: Guest, proxy: Proxy) -> None:
    before = guest.lockdown()
    refused = json.dumps({"error": "nonce_unknown", "detail": "nonce_unknown: replayed"}).encode()
    proxy.answers["/v1/attest"] = [(403, {}, refused)]
    result = authorize(guest, proxy.url, "--deadline", "10", jwks=proxy.jwks)
    document = envelope(result)
    assert result.exit_code == 1 and document["error"]["code"] == "nonce_unknown"
    assert proxy.requests.count("/v1/challenge") == 1 and "; attempt " not in result.stderr
    assert_nothing_beyond_bootstrap(guest, before)


def test_a_500_is_not_retried(guest: Guest, proxy: Proxy) -> None:
    before = guest.lockdown()
    proxy.answers["/v1/challenge"] = [(500, {}, b'{"error": "internal", "detail": "boom"}')]
    result = authorize(guest, proxy.url, "--deadline", "10", jwks=proxy.jwks)
    assert result.exit_code == 3 and proxy.requests.count("/v1/challenge") == 1
    assert_nothing_beyond_bootstrap(guest, before)


def test_a_run_dir_on_disk_is_refused_before_attesting(tmp_path: Path, guest: Guest, proxy: Proxy) -> None:
    on_disk = tmp_path / "run"
    args = [a if a != guest.run_dir else on_disk for a in guest.system]
    result = run("guest", "authorize", "--relying-party", proxy.url, "--trust-anchor", ANCHOR,
                 "--relying-party-jwks", proxy.jwks, "--evidence-provider", "example", *args,
                 "--json")  # fmt: skip
    document = envelope(result)
    assert result.exit_code == 1 and document["error"]["code"] == "run_dir_not_in_memory"
    assert not (on_disk / "secrets").exists() and proxy.requests == []
