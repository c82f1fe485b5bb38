"""AMD KDS client against a real HTTP server on loopback serving recorded KDS answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ccverify.verifier.collateral.bundle import CollateralBundle
from ccverify.verifier.collateral.cache import CacheEntry, CollateralCache
from ccverify.verifier.collateral.http import retry_after_seconds
from ccverify.verifier.collateral.kds import (
    KdsClient,
    chain_url,
    crl_url,
    hwid_hex,
    vcek_url,
)
from ccverify.verifier.errors import CollateralError, InputError
from ccverify.verifier.evidence.snp_report import Product, SnpReport, TcbParts
from ccverify.verifier.policy import UNSAFE_NO_POLICY
from ccverify.verifier.snp.certs import VekKind, der, load_certificates, to_der
from ccverify.verifier.snp.verify import SnpCertificates, fetch_snp_certs, verify_snp
from ccverify.verifier.testing.pki import REFERENCE_TIME, AmdTestPki
from tests.cli_json import envelope_result
from tests.conftest import fixture_bytes

SNP = "snp/"
GSG_REPORT = fixture_bytes(SNP + "go-sev-guest/attestation.bin")
GSG_VCEK = fixture_bytes(SNP + "go-sev-guest/vcek.testcer")
TURIN_REPORT = fixture_bytes(SNP + "project-oak/turin_oc_report.bin")
TURIN_VCEK = fixture_bytes(SNP + "project-oak/turin_oc_vcek.der")
MILAN_CHAIN = fixture_bytes(SNP + "go-sev-guest/ask_ark_milan.pem")
MILAN_VLEK_CHAIN = fixture_bytes(SNP + "go-sev-guest/ask_ark_milan_vlek.pem")
AT_MILAN = datetime(2023, 1, 1, tzinfo=UTC)
AT_TURIN = datetime(2025, 8, 1, tzinfo=UTC)

GSG_URL = (
    "https://kdsintf.amd.com/vcek/v1/Milan/"
    "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea4"
    "64cdce40c05f63c9b610c5068b006b5d?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"
)
TURIN_URL = (
    "https://kdsintf.amd.com/vcek/v1/Turin/3b42092f69c656d3?blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71&fmcSPL=0"
)


@dataclass
class Recorded:
    """Answers by path+query; each path has a queue of (status, headers, body), the last repeats."""

    answers: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve(
        self, url: str, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        path = url.removeprefix("https://kdsintf.amd.com")
        self.answers.setdefault(path, []).append((status, headers or {}, body))


@pytest.fixture()
def kds() -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorded.requests.append(self.path)
            queue = recorded.answers.get(self.path)
            if not queue:
                status, headers, body = 404, {}, b"Not Found"
            else:
                status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(base: str, sleeps: Sleeps | None = None, **kw: object) -> KdsClient:
    return KdsClient(base_url=base, sleep=sleeps or Sleeps(), timeout=5.0, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ URLs


def test_vcek_url_of_the_go_sev_guest_report() -> None:
    report = SnpReport.from_bytes(GSG_REPORT)
    assert vcek_url(Product.MILAN, report.chip_id, report.reported_tcb) == GSG_URL


def test_vcek_url_of_the_turin_report_uses_eight_bytes_and_fmc() -> None:
    report = SnpReport.from_bytes(TURIN_REPORT)
    assert vcek_url(report.product or Product.MILAN, report.chip_id, report.reported_tcb) == TURIN_URL
    assert hwid_hex("turin", report.chip_id) == "3b42092f69c656d3"


def test_vcek_url_from_parts_and_other_urls() -> None:
    url = vcek_url("genoa", bytes(64), TcbParts(10, 0, 25, 84), base_url="http://mirror/")
    assert url == f"http://mirror/vcek/v1/Genoa/{'00' * 64}?blSPL=10&teeSPL=0&snpSPL=25&ucodeSPL=84"
    assert chain_url("Milan", VekKind.VLEK) == "https://kdsintf.amd.com/vlek/v1/Milan/cert_chain"
    assert chain_url(Product.TURIN) == "https://kdsintf.amd.com/vcek/v1/Turin/cert_chain"
    assert crl_url("genoa", "vlek") == "https://kdsintf.amd.com/vlek/v1/Genoa/crl"
    with pytest.raises(InputError):
        crl_url("genoa", "ask")


def test_retry_after_forms() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Wed, 01 Jan 2025 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Tue, 31 Dec 2024 00:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


@pytest.mark.parametrize(
    "value",
    [
        "\u00b2",  # superscript two: str.isdigit() is True, float() refuses it
        "1\u00b2",
        "\u00b9\u2070",
        "\u0663",  # Arabic-Indic three
        "\uff17",  # fullwidth seven
        "\u0967\u0966",  # Devanagari ten
        "-5",
        "+5",
        "1.5",
        "1e3",
        "0x10",
        "",
        "  ",
        "Wed, 01 Jan 99999 00:00:30 GMT",
    ],
)
def test_retry_after_that_is_not_an_ascii_integer_or_date_is_absent(value: str) -> None:
    assert retry_after_seconds(value, datetime(2025, 1, 1, tzinfo=UTC)) is None


def test_retry_after_ascii_integers() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("0", now) == 0.0
    assert retry_after_seconds(" 12 ", now) == 12.0
    assert retry_after_seconds("007", now) == 7.0


@dataclass
class _Answer:
    status_code: int
    headers: dict[str, str]
    reason: str = "Too Many Requests"
    content: bytes = b""


class _Session:
    """A requests-like session answering 429 with ``headers`` ``failures`` times, then ``body``."""

    def __init__(self, headers: dict[str, str], failures: int, body: bytes) -> None:
        self.answers = [_Answer(429, headers) for _ in range(failures)] + [
            _Answer(200, {"Content-Type": "application/x-pem-file"}, "OK", body)
        ]
        self.urls: list[str] = []

    def get(self, url: str, timeout: float) -> _Answer:
        self.urls.append(url)
        return self.answers.pop(0)


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "\uff17", "1.5", "soon"])
def test_unusable_retry_after_falls_back_to_the_client_back_off(value: str) -> None:
    session = _Session({"Retry-After": value}, 2, MILAN_CHAIN)
    sleeps = Sleeps()
    kds_client = KdsClient(session=session, sleep=sleeps, initial_delay=1.5, max_delay=10.0)  # type: ignore[arg-type]
    ask, ark = kds_client.cert_chain("Milan", at=AT_MILAN)
    assert [ask, ark] == [der(cert) for cert in load_certificates(MILAN_CHAIN)]
    assert sleeps.calls == [1.5, 3.0]
    assert len(session.urls) == 3


def test_superscript_retry_after_over_http_backs_off(kds: tuple[str, Recorded]) -> None:
    base, recorded = kds
    recorded.serve(TURIN_URL, b"", status=429, headers={"Retry-After": "\u00b2"})
    recorded.serve(TURIN_URL, TURIN_VCEK)
    sleeps = Sleeps()
    report = SnpReport.from_bytes(TURIN_REPORT)
    assert client(base, sleeps, initial_delay=2.5).vcek_for_report(report, at=AT_TURIN) == TURIN_VCEK
    assert sleeps.calls == [2.5]


# ------------------------------------------------------------------------------ network


def test_fetches_the_vcek_and_caches_it_under_the_canonical_url(
    kds: tuple[str, Recorded], tmp_path: Path
) -> None:
    base, recorded = kds
    recorded.serve(GSG_URL, GSG_VCEK, headers={"Content-Type": "application/octet-stream"})
    cache = CollateralCache(tmp_path / "cache")
    kds_client = client(base, cache=cache)
    report = SnpReport.from_bytes(GSG_REPORT)
    assert kds_client.vcek_for_report(report, product=Product.MILAN, at=AT_MILAN) == GSG_VCEK
    entry = cache.get(GSG_URL, at=AT_MILAN)
    assert entry is not None
    assert entry.body == GSG_VCEK
    assert entry.not_after is None
    assert entry.header("content-type") == "application/octet-stream"
    # a second look-up is served by the cache: no new request
    assert kds_client.vcek_for_report(report, product=Product.MILAN, at=AT_MILAN) == GSG_VCEK
    assert len(recorded.requests) == 1


def test_429_then_success_honours_retry_after(kds: tuple[str, Recorded]) -> None:
    base, recorded = kds
    recorded.serve(TURIN_URL, b"slow down", status=429, headers={"Retry-After": "2"})
    recorded.serve(TURIN_URL, TURIN_VCEK)
    sleeps = Sleeps()
    report = SnpReport.from_bytes(TURIN_REPORT)
    assert client(base, sleeps).vcek_for_report(report, at=AT_TURIN) == TURIN_VCEK
    assert sleeps.calls == [2.0]
    assert len(recorded.requests) == 2
    assert recorded.requests[0] == TURIN_URL.removeprefix("https://kdsintf.amd.com")


def test_503_without_retry_after_backs_off_exponentially(kds: tuple[str, Recorded]) -> None:
    base, recorded = kds
    recorded.serve(TURIN_URL, b"", status=503)
    recorded.serve(TURIN_URL, b"", status=503)
    recorded.serve(TURIN_URL, TURIN_VCEK)
    sleeps = Sleeps()
    kds_client = client(base, sleeps, initial_delay=1.5, max_delay=10.0)
    assert (
        kds_client.vcek(
            Product.TURIN,
            SnpReport.from_bytes(TURIN_REPORT).chip_id,
            TcbParts(1, 0, 2, 71, fmc_spl=0),
            at=AT_TURIN,
        )
        == TURIN_VCEK
    )
    assert sleeps.calls == [1.5, 3.0]


def test_retries_are_bounded(kds: tuple[str, Recorded]) -> None:
    base, recorded = kds
    recorded.serve(TURIN_URL, b"", status=429, headers={"Retry-After": "1"})
    sleeps = Sleeps()
    with pytest.raises(CollateralError) as err:
        client(base, sleeps, max_attempts=3).vcek_for_report(SnpReport.from_bytes(TURIN_REPORT), at=AT_TURIN)
    assert err.value.missing == TURIN_URL
    assert "after 3 attempts" in str(err.value)
    assert sleeps.calls == [1.0, 1.0]
    assert len(recorded.requests) == 3


def test_long_retry_after_gives_up_without_sleeping(kds: tuple[str, Recorded]) -> None:
    base, recorded = kds
    recorded.serve(TURIN_URL, b"", status=429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(CollateralError) as err:
        client(base, sleeps).vcek_for_report(SnpReport.from_bytes(TURIN_REPORT), at=AT_TURIN)
    assert "rate limiting" in str(err.value)
    assert sleeps.calls == []


def test_404_is_collateral_error_naming_the_url(kds: tuple[str, Recorded]) -> None:
    base, _ = kds
    with pytest.raises(CollateralError) as err:
        client(base).vcek_for_report(SnpReport.from_bytes(TURIN_REPORT), at=AT_TURIN)
    assert err.value.missing == TURIN_URL
    assert "HTTP 404" in str(err.value)
    assert err.value.exit_code == 3


def test_non_certificate_answer_is_collateral_error(kds: tuple[str, Recorded]) -> None:
    base, recorded = kds
    recorded.serve(TURIN_URL, b"<html>maintenance</html>")
    with pytest.raises(CollateralError) as err:
        client(base).vcek_for_report(SnpReport.from_bytes(TURIN_REPORT), at=AT_TURIN)
    assert "not a certificate" in str(err.value)


def test_unreachable_kds_is_collateral_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CollateralError) as err:
        client(f"http://127.0.0.1:{port}").vcek_for_report(SnpReport.from_bytes(TURIN_REPORT), at=AT_TURIN)
    assert "unreachable" in str(err.value)
    assert err.value.missing == TURIN_URL


def test_cert_chains(kds: tuple[str, Recorded]) -> None:
    base, recorded = kds
    recorded.serve(chain_url("milan"), MILAN_CHAIN)
    recorded.serve(chain_url("milan", "vlek"), MILAN_VLEK_CHAIN)
    kds_client = client(base)
    ask, ark = kds_client.cert_chain("milan", at=AT_MILAN)
    assert ask == to_der(fixture_bytes(SNP + "amd-roots/milan_ask.pem"))
    assert ark == to_der(fixture_bytes(SNP + "amd-roots/milan_ark.pem"))
    asvk, ark2 = kds_client.cert_chain(Product.MILAN, VekKind.VLEK, at=AT_MILAN)
    assert asvk == to_der(fixture_bytes(SNP + "amd-roots/milan_asvk.pem"))
    assert ark2 == ark


def test_crl_is_cached_with_its_validity(kds: tuple[str, Recorded], tmp_path: Path) -> None:
    base, recorded = kds
    pki = AmdTestPki(Product.MILAN, rsa_key_size=2048)
    crl = pki.crl(
        this_update=REFERENCE_TIME - timedelta(days=1), next_update=REFERENCE_TIME + timedelta(days=6)
    )
    recorded.serve(crl_url("milan"), crl)
    cache = CollateralCache(tmp_path)
    assert client(base, cache=cache).crl("milan", at=REFERENCE_TIME) == crl
    entry = cache.get(crl_url("milan"), at=REFERENCE_TIME)
    assert entry is not None
    assert entry.not_before == REFERENCE_TIME - timedelta(days=1)
    assert entry.not_after == REFERENCE_TIME + timedelta(days=6)
    # past nextUpdate the cached CRL is not served; offline that is a miss
    with pytest.raises(CollateralError):
        client(base, cache=cache, offline=True).crl("milan", at=REFERENCE_TIME + timedelta(days=7))


# ------------------------------------------------------------------------------ offline


def test_offline_miss_names_the_url(tmp_path: Path) -> None:
    with pytest.raises(CollateralError) as err:
        KdsClient(offline=True, cache=CollateralCache(tmp_path)).vcek_for_report(
            SnpReport.from_bytes(TURIN_REPORT), at=AT_TURIN
        )
    assert err.value.missing == TURIN_URL


def test_offline_bundle_serves_the_vcek(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    CollateralBundle.write(path, [CacheEntry(GSG_URL, GSG_VCEK)])
    kds_client = KdsClient(offline=True, sources=[CollateralBundle.load(path)])
    report = SnpReport.from_bytes(GSG_REPORT)
    assert kds_client.vcek_for_report(report, product=Product.MILAN, at=AT_MILAN) == GSG_VCEK


def test_v2_report_needs_a_product_to_form_the_url() -> None:
    with pytest.raises(CollateralError) as err:
        KdsClient(offline=True).vcek_for_report(SnpReport.from_bytes(GSG_REPORT), at=AT_MILAN)
    assert err.value.missing == "product"


def test_zero_chip_id_cannot_be_fetched() -> None:
    with pytest.raises(CollateralError) as err:
        KdsClient(offline=True).vcek(Product.MILAN, bytes(64), TcbParts(1, 0, 1, 1), at=AT_MILAN)
    assert "MASK_CHIP_ID" in str(err.value)


# ------------------------------------------------------------------------------ end to end


def test_fetch_then_verify_over_http(kds: tuple[str, Recorded], tmp_path: Path) -> None:
    base, recorded = kds
    recorded.serve(TURIN_URL, b"", status=429, headers={"Retry-After": "1"})
    recorded.serve(TURIN_URL, TURIN_VCEK)
    cache = CollateralCache(tmp_path)
    certs = fetch_snp_certs(TURIN_REPORT, SnpCertificates(), client(base, cache=cache), at=AT_TURIN)
    assert certs.vcek == TURIN_VCEK
    verdict = verify_snp(TURIN_REPORT, certs, at=AT_TURIN, policy=UNSAFE_NO_POLICY)  # no KDS CRL here
    assert verdict.product is Product.TURIN
    # offline, from the cache alone
    again = fetch_snp_certs(
        TURIN_REPORT, SnpCertificates(), KdsClient(offline=True, cache=cache), at=AT_TURIN
    )
    assert again.vcek == TURIN_VCEK


def test_fetch_snp_certs_for_a_vlek_report_is_collateral_error() -> None:
    vlek_report = fixture_bytes(SNP + "trustee/test-vlek-report.bin")
    certs = fetch_snp_certs(vlek_report, SnpCertificates(), KdsClient(offline=True), at=AT_MILAN)
    with pytest.raises(CollateralError) as err:
        verify_snp(vlek_report, certs, at=AT_MILAN)
    assert err.value.missing == "VLEK certificate"


def test_fetch_crl_then_verify_under_a_test_root(kds: tuple[str, Recorded]) -> None:
    from ccverify.verifier.testing.snp_builder import build_snp_report

    base, recorded = kds
    pki = AmdTestPki(Product.GENOA, rsa_key_size=2048)
    recorded.serve(crl_url("genoa"), pki.crl(revoked_serials=[pki.ask_cert.serial_number]))
    report = build_snp_report(
        pki.vcek_key, product=Product.GENOA, tcb=pki.tcb, chip_id=pki.chip_id
    ).to_bytes()
    certs = SnpCertificates(vcek=pki.vcek_der(), ask=pki.ask_der(), ark=pki.ark_der())
    with_crl = fetch_snp_certs(report, certs, client(base), at=REFERENCE_TIME, crl=True)
    assert with_crl.crl is not None
    assert with_crl.sources[-1] == "crl: KDS/cache/bundle"
    from ccverify.verifier.errors import VerificationError

    with pytest.raises(VerificationError) as err:
        verify_snp(report, with_crl, at=REFERENCE_TIME, trust_root=pki.ark_der())
    assert err.value.code == "certificate_revoked"


def test_cli_fetches_the_vcek_into_the_cache(
    kds: tuple[str, Recorded], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from ccverify.cli.app import app

    base, recorded = kds
    recorded.serve(TURIN_URL, TURIN_VCEK)
    monkeypatch.setenv("CCVERIFY_KDS_URL", base)
    report = tmp_path / "report.bin"
    report.write_bytes(TURIN_REPORT)
    cache = tmp_path / "cache"
    cache.mkdir()
    # the real Turin report's KDS CRL is not among the fixtures: revocation unchecked, explicitly
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"snp": {"allow_unchecked_revocation": True}}))
    args = ["verify", str(report), "--collateral", str(cache), "--at", "2025-08-01T00:00:00Z", "--json"]
    args += ["--allow-missing-crl", "--policy", str(policy)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert envelope_result(result.stdout, "verify")["verdict"]["product"] == "TURIN"
    assert CollateralCache(cache).get(TURIN_URL, at=AT_TURIN) is not None
    offline = CliRunner().invoke(app, [*args, "--offline"])
    assert offline.exit_code == 0, offline.output
    assert len(recorded.requests) == 1


def test_cli_fetches_the_kds_crl_when_none_is_given(
    kds: tuple[str, Recorded], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As TDX's CRLs come with its collateral: the sample's SNP CRL from a loopback KDS, cached."""

    from typer.testing import CliRunner

    from ccverify.cli.app import app

    sample = Path(__file__).resolve().parents[2] / "reference-values" / "examples"
    base, recorded = kds
    recorded.serve("https://kdsintf.amd.com/vcek/v1/Milan/crl", (sample / "snp-crl.der").read_bytes())
    monkeypatch.setenv("CCVERIFY_KDS_URL", base)
    cache = tmp_path / "cache"
    cache.mkdir()
    args = [
        "verify", str(sample / "snp-report.bin"), "--vcek", str(sample / "snp-vcek.der"),
        "--cert-chain", str(sample / "snp-cert-chain.pem"),
        "--trust-root", str(sample / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem"),
        "--at", "2026-01-15T00:00:00Z", "--collateral", str(cache), "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    verdict = envelope_result(result.stdout, "verify")["verdict"]
    assert verdict["crl_checked"] is True and verdict["crl_source"] == "kds"
    assert recorded.requests == ["/vcek/v1/Milan/crl"]
    again = CliRunner().invoke(app, [*args, "--offline"])  # now from the cache
    assert again.exit_code == 0, again.output
    assert len(recorded.requests) == 1


def test_cli_without_collateral_uses_the_default_cache(
    kds: tuple[str, Recorded], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As TDX's collateral: without --collateral the KDS answers go to the user's cache
    ($XDG_CACHE_HOME/ccverify/collateral), and --offline verifies from it."""
    from typer.testing import CliRunner

    from ccverify.cli.app import app
    from ccverify.verifier.collateral.cache import CollateralCache, default_cache_dir

    sample = Path(__file__).resolve().parents[2] / "reference-values" / "examples"
    base, recorded = kds
    recorded.serve("https://kdsintf.amd.com/vcek/v1/Milan/crl", (sample / "snp-crl.der").read_bytes())
    monkeypatch.setenv("CCVERIFY_KDS_URL", base)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    args = [
        "verify", str(sample / "snp-report.bin"), "--vcek", str(sample / "snp-vcek.der"),
        "--cert-chain", str(sample / "snp-cert-chain.pem"),
        "--trust-root", str(sample / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem"),
        "--at", "2026-01-15T00:00:00Z",
    ]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert CollateralCache(default_cache_dir()).entries()
    again = CliRunner().invoke(app, [*args, "--offline"])
    assert again.exit_code == 0, again.output
    assert recorded.requests == ["/vcek/v1/Milan/crl"]
