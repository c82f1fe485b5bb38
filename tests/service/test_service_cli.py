"""``ccverify serve --init`` and ``ccverify attest`` through the real console script, against a
real ``ccverify serve``; every --json document checked against the envelope and its schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ccverify.verifier.release import binding
from ccverify.verifier.service.client import RelyingPartyClient
from ccverify.verifier.service.config import load_config
from ccverify.verifier.testing.service_fixtures import sample_tdx_quote
from tests.cli_json import envelope, envelope_result
from tests.service.conftest import EXAMPLES, SAMPLE_QUOTE, SECRET, free_port, provision, start

CCVERIFY = str(Path(sys.executable).with_name("ccverify"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CCVERIFY, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def _init(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        "serve", "--init", str(directory), "--json", "--port", str(free_port()),
        "--trust-root", str(EXAMPLES / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"),
        "--trust-anchor", str(EXAMPLES / "EXAMPLE-refvalues-signer.pub.pem"),
        "--collateral", str(EXAMPLES / "tdx-collateral.json"),
        "--verification-time", "2026-01-15T00:00:00Z", "--offline", *extra,
    )  # fmt: skip


def test_init_writes_a_working_configuration(tmp_path: Path) -> None:
    done = _init(tmp_path / "rp")
    assert done.returncode == 0, done.stderr
    result = envelope_result(done.stdout, "serve")
    token = (tmp_path / "rp" / "admin-token").read_text().strip()
    assert token not in done.stdout and result["url"].startswith("https://127.0.0.1:")
    assert (tmp_path / "rp" / "admin-token").stat().st_mode & 0o077 == 0
    config = load_config(Path(result["config"]))
    assert config.tls_cert is not None and len(config.roots) == 1 and len(config.anchors) == 1
    again = _init(tmp_path / "rp")
    assert again.returncode == 2
    assert envelope(again.stdout, "serve")["error"]["class"] == "InputError"


def test_attest_with_a_quote_minted_for_the_challenge(tmp_path: Path) -> None:
    assert _init(tmp_path / "rp", "--no-tls").returncode == 0
    config = tmp_path / "rp" / "config.toml"
    config.write_text(config.read_text() + "rate_per_second = 0\n")
    running = start(config)
    try:
        token = (tmp_path / "rp" / "admin-token").read_text().strip()
        provision(RelyingPartyClient(running.url, admin_token=token))
        session = tmp_path / "session.json"
        asked = run(
            "attest", "--relying-party", running.url, "--challenge-only", "--session", str(session), "--json"
        )
        assert asked.returncode == 0, asked.stderr
        report_data = bytes.fromhex(envelope_result(asked.stdout, "attest")["report_data"])
        keys = json.loads(session.read_text())
        import base64

        nonce, public = base64.b64decode(keys["nonce"]), base64.b64decode(keys["hpke_public_key"])
        assert report_data == binding.report_data(nonce, public)
        quote = tmp_path / "quote.dat"
        quote.write_bytes(sample_tdx_quote(SAMPLE_QUOTE, report_data))
        log = str(EXAMPLES / "tdx-event-log.bin")
        out = tmp_path / "released"
        answered = run("attest", "--relying-party", running.url, "--session", str(session), str(quote), log,
                       "--json", "--release-out", str(out))  # fmt: skip
        assert answered.returncode == 0, answered.stderr
        result = envelope_result(answered.stdout, "attest")
        assert result["affirming"] is True and result["release"] == {
            "device_policy": None,
            "secrets": {"disk-key": len(SECRET)},
        }
        assert (out / "disk-key").read_bytes() == SECRET and SECRET.decode() not in answered.stdout
        replayed = run(
            "attest", "--relying-party", running.url, "--session", str(session), str(quote), log, "--json"
        )
        assert replayed.returncode == 1
        assert envelope(replayed.stdout, "attest")["error"]["code"] == "nonce_unknown"
        recorded = run("attest", "--relying-party", running.url, str(EXAMPLES / "tdx-quote.dat"), log)
        assert recorded.returncode == 1 and "report_data_mismatch" in recorded.stderr
    finally:
        running.stop()


def test_attest_exit_codes_for_bad_input_and_an_unreachable_service(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    unreachable = run("attest", "--relying-party", url, str(EXAMPLES / "tdx-quote.dat"), "--json")
    assert unreachable.returncode == 3
    assert envelope(unreachable.stdout, "attest")["error"]["class"] == "CollateralError"
    not_evidence = tmp_path / "x.bin"
    not_evidence.write_bytes(b"hello")
    bad = run("attest", "--relying-party", url, str(not_evidence))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
