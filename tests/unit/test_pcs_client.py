"""PCS client against a real HTTP server on loopback serving recorded Intel collateral.

The server answers like Intel PCS v4: TCB info and QE identity as ``{"tcbInfo"|"enclaveIdentity":
<raw signed JSON>, "signature": "<hex>"}`` with the issuer chain URL-encoded in a header, PCK
CRLs as DER with ``SGX-PCK-CRL-Issuer-Chain``, and the root CA CRL at PCCS's path.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.parse import quote as urlquote

import pytest
import typer
from typer.testing import CliRunner

from ccverify.cli._common import VerifyOptions
from ccverify.verifier.collateral.bundle import CollateralBundle
from ccverify.verifier.collateral.cache import CollateralCache
from ccverify.verifier.collateral.pcs import (
    ROOT_CA_CRL_URL,
    PcsClient,
    entry_from_body,
    gather_tdx_collateral,
    pck_crl_url,
    qe_identity_url,
    quote_collateral_urls,
    tcb_info_url,
    validity_window,
)
from ccverify.verifier.collateral.tdx_loader import load_collateral
from ccverify.verifier.errors import CollateralError, InputError, VerificationError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.tdx.collateral import TcbStatus
from ccverify.verifier.tdx.verify import verify_tdx
from ccverify.verifier.testing.pki import REFERENCE_TIME, IntelTestPki
from ccverify.verifier.testing.tdx_builder import build_tdx_quote
from tests.cli_json import envelope, envelope_result
from tests.conftest import fixture, fixture_bytes

AT = datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)
FMSPC = "b0c06f000000"


class Recorded:
    """The dcap-qvl collateral of ``tdx_quote``, as PCS serves it."""

    def __init__(self) -> None:
        doc = json.loads(fixture("tdx/dcap-qvl/tdx_quote_collateral.json").read_text())
        self.tcb_body = f'{{"tcbInfo":{doc["tcb_info"]},"signature":"{doc["tcb_info_signature"]}"}}'.encode()
        qe, qe_sig = doc["qe_identity"], doc["qe_identity_signature"]
        self.qe_body = f'{{"enclaveIdentity":{qe},"signature":"{qe_sig}"}}'.encode()
        self.tcb_chain = doc["tcb_info_issuer_chain"]
        self.qe_chain = doc["qe_identity_issuer_chain"]
        self.pck_crl = bytes.fromhex(doc["pck_crl"])
        self.pck_chain = doc["pck_crl_issuer_chain"]
        self.root_crl = bytes.fromhex(doc["root_ca_crl"])


class Server:
    def __init__(self, recorded: Recorded) -> None:
        self.recorded = recorded
        self.requests: list[str] = []
        self.delay = 0.0
        #: answers served before the recorded ones: (status, headers)
        self.first: list[tuple[int, dict[str, str]]] = []
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                server.requests.append(self.path)
                if server.delay:
                    time.sleep(server.delay)
                if server.first:
                    status, headers = server.first.pop(0)
                    self.answer(status, b"busy", headers)
                    return
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                rec = server.recorded
                if parts.path == "/tdx/certification/v4/tcb":
                    if query.get("fmspc", [""])[0].lower() != FMSPC:
                        self.answer(404, b"", {})
                        return
                    self.answer(200, rec.tcb_body, {"TCB-Info-Issuer-Chain": urlquote(rec.tcb_chain)})
                elif parts.path == "/tdx/certification/v4/qe/identity":
                    chain = urlquote(rec.qe_chain)
                    self.answer(200, rec.qe_body, {"SGX-Enclave-Identity-Issuer-Chain": chain})
                elif parts.path == "/sgx/certification/v4/pckcrl":
                    if query.get("ca") != ["platform"] or query.get("encoding") != ["der"]:
                        self.answer(400, b"", {})
                        return
                    self.answer(200, rec.pck_crl, {"SGX-PCK-CRL-Issuer-Chain": urlquote(rec.pck_chain)})
                elif parts.path == "/sgx/certification/v4/rootcacrl":
                    self.answer(200, rec.root_crl, {})
                else:
                    self.answer(404, b"", {})

            def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        return Handler


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def server(recorded: Recorded) -> Iterator[Server]:
    srv = Server(recorded)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


@pytest.fixture(scope="module")
def quote() -> TdxQuote:
    return TdxQuote.from_bytes(fixture_bytes("tdx/dcap-qvl/tdx_quote"))


def test_fetch_tcb_info(server: Server, recorded: Recorded) -> None:
    entry = PcsClient(server.url).fetch(tcb_info_url(FMSPC))
    assert entry.url == "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=b0c06f000000"
    assert entry.body == recorded.tcb_body
    assert entry.headers["tcb-info-issuer-chain"] == recorded.tcb_chain
    assert entry.not_before == datetime(2025, 6, 19, 10, 16, 3, tzinfo=UTC)
    assert entry.not_after == datetime(2025, 7, 19, 10, 16, 3, tzinfo=UTC)
    assert server.requests == ["/tdx/certification/v4/tcb?fmspc=b0c06f000000"]


def test_fetch_qe_identity_and_crls(server: Server, recorded: Recorded) -> None:
    client = PcsClient(server.url)
    qe = client.fetch(qe_identity_url())
    assert qe.headers["sgx-enclave-identity-issuer-chain"] == recorded.qe_chain
    crl = client.fetch(pck_crl_url("platform"))
    assert crl.body == recorded.pck_crl
    assert crl.headers["sgx-pck-crl-issuer-chain"] == recorded.pck_chain
    assert crl.not_after == datetime(2025, 7, 19, 10, 0, 35, tzinfo=UTC)
    root = client.fetch(ROOT_CA_CRL_URL)
    assert root.url == ROOT_CA_CRL_URL
    assert root.body == recorded.root_crl
    assert server.requests[-1] == "/sgx/certification/v4/rootcacrl"


def test_gather_verify_and_cache(server: Server, quote: TdxQuote, tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path / "cache")
    collateral, entries = gather_tdx_collateral(quote, at=AT, cache=cache, client=PcsClient(server.url))
    assert len(entries) == 4
    assert len(server.requests) == 4
    verdict = verify_tdx(quote, collateral, at=AT)
    assert verdict.status is TcbStatus.UpToDate
    assert len(cache.entries()) == 4
    # warm: nothing goes to the network
    again, _ = gather_tdx_collateral(quote, at=AT, cache=cache, client=PcsClient(server.url))
    assert len(server.requests) == 4
    assert verify_tdx(quote, again, at=AT).status is TcbStatus.UpToDate
    # the cache directory loads as collateral by itself
    assert verify_tdx(quote, load_collateral(tmp_path / "cache"), at=AT).status is TcbStatus.UpToDate


def test_cache_past_next_update_refetches(server: Server, quote: TdxQuote, tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    gather_tdx_collateral(quote, at=AT, cache=cache, client=PcsClient(server.url))
    # at 10:20 the TCB info (till 10:16:03) and the PCK CRL (till 10:00:35) are stale; the QE
    # identity (till 10:32:27) and the root CA CRL (till 2026) are still served from the cache
    later = datetime(2025, 7, 19, 10, 20, tzinfo=UTC)
    gather_tdx_collateral(quote, at=later, cache=cache, client=PcsClient(server.url))
    assert server.requests[4:] == [
        "/tdx/certification/v4/tcb?fmspc=b0c06f000000",
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
    ]
    assert len(cache.entries()) == 4  # same bodies: the refreshed entries replace nothing new


def test_offline_miss_names_the_url(quote: TdxQuote, tmp_path: Path) -> None:
    with pytest.raises(CollateralError) as info:
        gather_tdx_collateral(quote, at=AT, cache=CollateralCache(tmp_path), client=None)
    assert info.value.missing == tcb_info_url(FMSPC)


def test_offline_from_bundle(server: Server, quote: TdxQuote, tmp_path: Path) -> None:
    _, entries = gather_tdx_collateral(quote, at=AT, client=PcsClient(server.url))
    CollateralBundle.write(tmp_path / "b.json", entries)
    bundle = CollateralBundle.load(tmp_path / "b.json")
    collateral, _ = gather_tdx_collateral(quote, at=AT, sources=[bundle], client=None)
    assert verify_tdx(quote, collateral, at=AT).status is TcbStatus.UpToDate


def test_unknown_fmspc_is_collateral_error(server: Server) -> None:
    with pytest.raises(CollateralError) as info:
        PcsClient(server.url).fetch(tcb_info_url("00906ed50000"))
    assert info.value.missing == tcb_info_url("00906ed50000")
    assert "404" in str(info.value)


def test_connection_refused_is_collateral_error(recorded: Recorded) -> None:
    srv = Server(recorded)
    url = srv.url
    srv.httpd.server_close()  # nobody listens
    with pytest.raises(CollateralError) as info:
        PcsClient(url, timeout=2).fetch(qe_identity_url())
    assert info.value.missing == qe_identity_url()


def test_timeout_is_collateral_error(server: Server) -> None:
    server.delay = 1.0
    with pytest.raises(CollateralError, match=r"no answer within 0\.2 s"):
        PcsClient(server.url, timeout=0.2).fetch(qe_identity_url())


def test_garbage_answer_is_collateral_error(server: Server, recorded: Recorded) -> None:
    recorded_tcb = recorded.tcb_body
    recorded.tcb_body = b"<html>maintenance</html>"
    try:
        with pytest.raises(CollateralError, match="unusable"):
            PcsClient(server.url).fetch(tcb_info_url(FMSPC))
    finally:
        recorded.tcb_body = recorded_tcb


@pytest.mark.parametrize(
    "body",
    [
        b'{"tcbInfo":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"tcbInfo":{"issueDate":' + b"1" * 5000 + b"}}",
    ],
)
def test_malformed_json_answer_is_input_error(body: bytes) -> None:
    # deep nesting (RecursionError) and oversized integers are malformed JSON like any other
    with pytest.raises(InputError, match="not a signed tcbInfo JSON document"):
        validity_window(tcb_info_url(FMSPC), body)
    with pytest.raises(InputError):
        entry_from_body(tcb_info_url(FMSPC), body)


def test_malformed_sgx_extension_is_pck_extension_invalid() -> None:
    # SEQUENCE { SEQUENCE {} }: pyasn1 raises AttributeError decoding it
    pki = IntelTestPki(sgx_extension_der=bytes.fromhex("30023000"))
    quote = TdxQuote.from_bytes(build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.pck_chain_pem()))
    for call in (
        lambda: quote_collateral_urls(quote),
        lambda: gather_tdx_collateral(quote, at=REFERENCE_TIME),
    ):
        with pytest.raises(VerificationError) as info:
            call()
        assert info.value.code == "pck_extension_invalid"


# -- the commands ------------------------------------------------------------------------------------


def test_collateral_fetch_command(server: Server, tmp_path: Path) -> None:
    from ccverify.cli.collateral import app

    out = tmp_path / "bundle.json"
    args = ["fetch", "--quote", str(fixture("tdx/dcap-qvl/tdx_quote")), "-o", str(out)]
    args += ["--cache", str(tmp_path / "cache"), "--pcs-url", server.url, "--at", "2025-07-19T10:00:34Z"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(CollateralBundle.load(out).entries()) == 4
    # the bundle verifies the quote offline through `ccverify verify`'s runner
    assert run_verify(collateral=out, at=AT, offline=True) == 0
    # offline from the warm cache
    offline = CliRunner().invoke(
        app,
        [
            *args[:3],
            "-o",
            str(tmp_path / "b2.json"),
            "--cache",
            str(tmp_path / "cache"),
            "--offline",
            "--at",
            "2025-07-19T10:00:34Z",
        ],
    )
    assert offline.exit_code == 0, offline.output


def test_collateral_fetch_offline_empty_cache_exits_3(tmp_path: Path) -> None:
    from ccverify.cli.collateral import app

    args = ["fetch", "--quote", str(fixture("tdx/dcap-qvl/tdx_quote")), "-o", str(tmp_path / "b.json")]
    result = CliRunner().invoke(app, [*args, "--cache", str(tmp_path / "c"), "--offline"])
    assert result.exit_code == 3


def test_collateral_bundle_command(server: Server, quote: TdxQuote, tmp_path: Path) -> None:
    from ccverify.cli.collateral import app

    gather_tdx_collateral(quote, at=AT, cache=CollateralCache(tmp_path / "c"), client=PcsClient(server.url))
    result = CliRunner().invoke(
        app, ["bundle", "--cache", str(tmp_path / "c"), "-o", str(tmp_path / "b.json")]
    )
    assert result.exit_code == 0, result.output
    assert len(CollateralBundle.load(tmp_path / "b.json").entries()) == 4


def run_verify(**kwargs: Any) -> int:
    from ccverify.cli import verify_tdx

    opts = VerifyOptions(
        evidence=fixture_bytes("tdx/dcap-qvl/tdx_quote"),
        evidence_path=fixture("tdx/dcap-qvl/tdx_quote"),
        **kwargs,
    )
    # a verdict ends in typer's Exit; an error in the SystemExit of cli._common.fail
    with pytest.raises((typer.Exit, SystemExit)) as info:
        verify_tdx.run(opts)
    done = info.value
    return done.exit_code if isinstance(done, typer.Exit) else int(done.code or 0)  # type: ignore[arg-type]


def test_verify_run_fetches_into_cache_dir(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CCVERIFY_PCS_URL", server.url)
    assert run_verify(collateral=tmp_path, at=AT, json=True) == 0
    out = envelope_result(capsys.readouterr().out, "verify")
    assert out["accepted"] is True
    assert out["verdict"]["status"] == "UpToDate"
    assert out["verdict"]["root"]["production"] is True
    assert len(server.requests) == 4
    # offline from the now warm cache directory
    assert run_verify(collateral=tmp_path, at=AT, offline=True) == 0


def test_verify_run_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    bundle_like = fixture("tdx/dcap-qvl/tdx_quote_collateral.json")
    assert run_verify(collateral=bundle_like, at=AT) == 0
    assert run_verify(collateral=bundle_like, at=datetime(2026, 11, 21, tzinfo=UTC)) == 1
    assert run_verify(offline=True, at=AT) == 3
    assert run_verify(collateral=tmp_path / "missing.json", at=AT) == 2
    bad_root = tmp_path / "root.pem"
    bad_root.write_bytes(fixture_bytes("tdx/intel-qvl-synthetic/trustedRootCaCert.pem"))
    assert run_verify(collateral=bundle_like, at=AT, trust_root=bad_root) == 1


def test_verify_run_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle_like = fixture("tdx/dcap-qvl/tdx_quote_collateral.json")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"tdx": {"mrtd": "00" * 48}}))
    assert run_verify(collateral=bundle_like, at=AT, policy=policy, json=True) == 1
    out = envelope(capsys.readouterr().out, "verify")["result"]
    assert out["accepted"] is False
    assert out["policy_error"]["code"] == "mrtd_mismatch"
    policy.write_text(json.dumps({"snp": {}}))
    assert run_verify(collateral=bundle_like, at=AT, policy=policy) == 0


def test_connection_failures_name_the_url_in_words(recorded: Recorded) -> None:
    srv = Server(recorded)
    url = srv.url
    srv.httpd.server_close()
    with pytest.raises(CollateralError) as info:
        PcsClient(url, timeout=2).fetch(qe_identity_url())
    text = str(info.value)
    assert f"{url}/tdx/certification/v4/qe/identity" in text and "could not connect" in text
    for internal in ("HTTPConnectionPool", "Max retries", "urllib3", "NewConnectionError", "object at 0x"):
        assert internal not in text


def test_pcs_retries_429_and_503_and_announces_each(server: Server) -> None:
    from ccverify.verifier.collateral.http import RetryPolicy

    server.first = [(429, {"Retry-After": "3"}), (503, {})]
    heard: list[str] = []
    slept: list[float] = []
    policy = RetryPolicy(timeout=2, initial_delay=1.0, sleep=slept.append, on_retry=heard.append)
    entry = PcsClient(server.url, retry=policy).fetch(qe_identity_url())
    assert entry.body == server.recorded.qe_body
    assert slept == [3.0, 2.0]  # Retry-After, then the back-off for a second attempt
    assert len(heard) == 2
    assert "Intel PCS answered HTTP 429" in heard[0] and server.url in heard[0]
    assert "attempt 2 of 4" in heard[0]
    assert "HTTP 503" in heard[1]


def test_pcs_gives_up_after_max_attempts(server: Server) -> None:
    from ccverify.verifier.collateral.http import RetryPolicy

    server.first = [(503, {})] * 5
    policy = RetryPolicy(timeout=2, max_attempts=3, initial_delay=0.5, sleep=lambda _: None)
    with pytest.raises(CollateralError, match=r"still answered HTTP 503 .* after 3 attempts"):
        PcsClient(server.url, retry=policy).fetch(qe_identity_url())
    assert len(server.requests) == 3
    server.first.clear()


@pytest.mark.parametrize(
    ("option", "env", "expected"),
    [(None, None, 5.0), ("2.5", None, 2.5), (None, "7", 7.0), ("1", "7", 1.0)],
)
def test_timeout_option_env_and_default(
    option: str | None, env: str | None, expected: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ccverify.verifier.collateral.http import TIMEOUT_ENV, timeout_from

    if env is None:
        monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(TIMEOUT_ENV, env)
    assert timeout_from(option) == expected


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon", "601"])
def test_timeout_out_of_range_is_input_error(value: str) -> None:
    from ccverify.verifier.collateral.http import timeout_from

    with pytest.raises(InputError, match="timeout "):
        timeout_from(value)


def test_collateral_fetch_fills_the_default_cache_that_verify_offline_reads(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: `collateral fetch` warms the default cache; `verify --offline` without
    --collateral verifies from it. Both print the --json envelope."""
    from typer.testing import CliRunner

    from ccverify.cli.app import app
    from ccverify.verifier.collateral.cache import default_cache_dir

    monkeypatch.setenv("CCVERIFY_PCS_URL", server.url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    quote_path = str(fixture("tdx/dcap-qvl/tdx_quote"))
    at = "2025-07-19T10:00:34Z"
    offline = ["verify", quote_path, "--offline", "--at", at]
    cold = CliRunner().invoke(app, offline)
    assert cold.exit_code == 3 and str(default_cache_dir()) in cold.stderr
    bundle = tmp_path / "bundle.json"
    fetch = ["collateral", "fetch", "--quote", quote_path, "-o", str(bundle), "--at", at, "--json"]
    fetched = CliRunner().invoke(app, fetch)
    assert fetched.exit_code == 0, fetched.output
    result = envelope_result(fetched.stdout, "collateral fetch")
    assert result["output"] == str(bundle) and len(result["entries"]) == 4
    assert all(entry["url"].startswith("https://") for entry in result["entries"])
    warm = CliRunner().invoke(app, [*offline, "--json"])
    assert warm.exit_code == 0, warm.output
    assert envelope_result(warm.stdout, "verify")["verdict"]["status"] == "UpToDate"
    assert len(server.requests) == 4  # verify asked nobody
    export = ["collateral", "bundle", "--cache", str(default_cache_dir()), "-o", str(tmp_path / "all.json")]
    exported = CliRunner().invoke(app, [*export, "--json"])
    assert exported.exit_code == 0, exported.output
    assert len(envelope_result(exported.stdout, "collateral bundle")["entries"]) == 4
    absent = str(tmp_path / "absent")
    missing = CliRunner().invoke(app, ["collateral", "bundle", "--cache", absent, "-o", "x", "--json"])
    assert missing.exit_code == 2
    assert envelope(missing.stdout, "collateral bundle")["error"]["class"] == "InputError"
