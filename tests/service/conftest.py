"""The relying-party service in real parts: ``ccverify serve`` (real uvicorn) on 127.0.0.1, real
requests, SQLite files and a real PostgreSQL (Debian's ``postgresql``, started here in a
temporary data directory), configured like ``ccverify serve --init`` does with the shipped
sample's example PKI."""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ccverify.verifier.release import binding, sealing
from ccverify.verifier.service.client import RelyingPartyClient
from ccverify.verifier.service.init import initialize
from ccverify.verifier.testing.sample import SAMPLE_TIME
from ccverify.verifier.testing.service_fixtures import sample_tdx_quote

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "reference-values" / "examples"
SAMPLE_QUOTE = (EXAMPLES / "tdx-quote.dat").read_bytes()
EVENT_LOG = (EXAMPLES / "tdx-event-log.bin").read_bytes()
REFVALUES = (EXAMPLES / "tdx-refvalues.cbor").read_bytes()
SECRET = b"ccverify-test-secret-7f3a9c1e5b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_config(
    directory: Path,
    *,
    database: str | None = None,
    limits: dict[str, float] | None = None,
    tls: bool = False,
    port: int | None = None,
    snp_crl: bool = True,
) -> tuple[Path, str]:
    """A configuration as ``serve --init`` writes it (example roots, signer, collateral); returns
    the config path and the admin token."""
    done = initialize(
        directory,
        roots=[
            EXAMPLES / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem",
            EXAMPLES / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem",
        ],
        anchors=[EXAMPLES / "EXAMPLE-refvalues-signer.pub.pem"],
        collateral=[EXAMPLES / "tdx-collateral.json"] + ([EXAMPLES / "snp-crl.der"] if snp_crl else []),
        tls=tls,
        verification_time=SAMPLE_TIME,
        online=False,
        port=port or free_port(),
        database=database,
    )
    with done.config.open("a") as out:
        out.write("rate_per_second = 0\n")
        for key, value in (limits or {}).items():
            out.write(f"{key} = {value}\n")
    return done.config, done.admin_token_file.read_text().strip()


@dataclass
class Running:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    config: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start(
    config: Path,
    *,
    port: int | None = None,
    workers: int | None = None,
    scheme: str = "http",
    verify: bool | str = True,
    extra: list[str] | None = None,
) -> Running:
    """``ccverify serve --config`` in a subprocess (real uvicorn); waits for /healthz."""
    import tomllib

    port = port or int(tomllib.loads(config.read_text())["server"]["port"])
    args = [sys.executable, "-m", "ccverify.cli.app", "serve", "--config", str(config), "--port", str(port)]
    if workers:
        args += ["--workers", str(workers)]
    args += extra or []
    log = config.parent / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with log.open("ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ccverify serve exited {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(url + "/healthz", timeout=1, verify=verify).status_code == 200:
                return Running(url, process, log, config)
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"ccverify serve did not come up:\n{log.read_text()}")


def provision(client: RelyingPartyClient, *, secrets: dict[str, bytes] | None = None) -> None:
    """Upload the sample's reference values and a secret; a rule that releases it."""
    client.put_reference_values(REFVALUES)
    for name, value in (secrets or {"disk-key": SECRET}).items():
        client.put_secret(name, value)
    client.put_release_rule(
        "example-guest", "ccverify-example-tdx", secrets=sorted(secrets or {"disk-key": SECRET})
    )


def mint(nonce: bytes, key: sealing.ReleaseKey) -> bytes:
    """The sample's TDX quote bound to this challenge and key."""
    return sample_tdx_quote(SAMPLE_QUOTE, binding.report_data(nonce, key.public_bytes))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Running, RelyingPartyClient]]:
    """A provisioned service on SQLite, and an admin client of it."""
    config, token = make_config(tmp_path / "rp")
    running = start(config)
    client = RelyingPartyClient(running.url, admin_token=token)
    provision(client)
    try:
        yield running, client
    finally:
        running.stop()


# ------------------------------------------------------------------------------ PostgreSQL


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server in a temporary data directory; yields its SQLAlchemy URL."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (tests/setup-system.sh installs it)")
        pytest.skip("PostgreSQL server binaries not installed (tests/setup-system.sh installs them)")
    root = Path(tempfile.mkdtemp(prefix="ccverify-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = root / "data"
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "ccverify", "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                *prefix,
                _pg_bin("createdb") or "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "ccverify",
                "ccverify",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://ccverify@127.0.0.1:{port}/ccverify"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
