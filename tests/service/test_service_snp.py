"""SEV-SNP through the service: a report bound to the challenge, its VCEK and chain as snp_certs,
revocation checked with the KDS CRL from the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.release import binding, sealing
from ccverify.verifier.service.client import RelyingPartyClient
from ccverify.verifier.testing.service_fixtures import sample_snp_report
from tests.service.conftest import EXAMPLES, SECRET, make_config, start

SAMPLE_REPORT = (EXAMPLES / "snp-report.bin").read_bytes()
VCEK_PEM = x509.load_der_x509_certificate((EXAMPLES / "snp-vcek.der").read_bytes()).public_bytes(
    serialization.Encoding.PEM
)
CERTS = VCEK_PEM + (EXAMPLES / "snp-cert-chain.pem").read_bytes()


def _provisioned(tmp_path: Path, *, snp_crl: bool = True) -> tuple[object, RelyingPartyClient]:
    config, token = make_config(tmp_path / "rp", snp_crl=snp_crl)
    running = start(config)
    client = RelyingPartyClient(running.url, admin_token=token)
    client.put_reference_values((EXAMPLES / "snp-refvalues.cbor").read_bytes())
    client.put_secret("snp-key", SECRET)
    client.put_release_rule("snp-guest", "ccverify-example-snp", secrets=["snp-key"])
    return running, client


@pytest.mark.parametrize("suite", ["mlkem768-x25519", "p384"])
def test_an_snp_guest_gets_its_release(tmp_path: Path, suite: str) -> None:
    running, client = _provisioned(tmp_path)
    try:
        key = sealing.generate_key(suite)
        challenge = client.challenge("snp")
        report = sample_snp_report(SAMPLE_REPORT, binding.report_data(challenge.nonce, key.public_bytes))
        answer = client.attest(challenge, report, key, snp_certs=CERTS)
        assert answer.affirming, answer.claims()["submods"]
        assert answer.open(key).secrets == {"snp-key": SECRET}
        assert answer.claims(client.jwks())["submods"]["snp"]["ear_status"] == "affirming"
        with pytest.raises(InputError, match="event_log"):
            other = client.challenge("snp")
            client.attest(other, report, key, snp_certs=CERTS, event_log=b"x")
    finally:
        running.stop()  # type: ignore[attr-defined]


def test_without_a_crl_the_default_policy_refuses(tmp_path: Path) -> None:
    running, client = _provisioned(tmp_path, snp_crl=False)
    try:
        key = sealing.generate_key()
        challenge = client.challenge("snp")
        report = sample_snp_report(SAMPLE_REPORT, binding.report_data(challenge.nonce, key.public_bytes))
        answer = client.attest(challenge, report, key, snp_certs=CERTS)
        assert not answer.affirming and answer.sealed is None
        with pytest.raises(VerificationError):
            answer.open(key)
    finally:
        running.stop()  # type: ignore[attr-defined]
