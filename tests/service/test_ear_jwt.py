"""The EAR JWT checked by JWT libraries nobody here wrote: PyJWT (Python) and panva's jose (Node,
from npm), both against the JWKS the service publishes at /.well-known/jwks.json."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.appraisal import appraise
from ccverify.verifier.collateral.tdx_loader import load_collateral
from ccverify.verifier.refvalues import load_reference_values
from ccverify.verifier.release import sealing
from ccverify.verifier.result import AttestationResult, public_jwk
from ccverify.verifier.service.attestation import key_id
from ccverify.verifier.service.client import RelyingPartyClient
from ccverify.verifier.tdx.verify import verify_tdx
from ccverify.verifier.testing.sample import SAMPLE_TIME
from tests.service.conftest import (
    EVENT_LOG,
    EXAMPLES,
    REFVALUES,
    SAMPLE_QUOTE,
    make_config,
    mint,
    provision,
    start,
)

JOSE = Path(__file__).resolve().parent / "jose"
NONCE = bytes(range(32))


@pytest.fixture(scope="module")
def result() -> AttestationResult:
    verdict = verify_tdx(
        SAMPLE_QUOTE,
        load_collateral(EXAMPLES / "tdx-collateral.json"),
        at=SAMPLE_TIME,
        trust_root=(EXAMPLES / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem").read_bytes(),
    )
    rv = load_reference_values(REFVALUES, [EXAMPLES / "EXAMPLE-refvalues-signer.pub.pem"], at=SAMPLE_TIME)
    return appraise(verdict, rv, event_log=EVENT_LOG, evidence=SAMPLE_QUOTE, at=SAMPLE_TIME)


@pytest.mark.parametrize(("curve", "alg"), [(ec.SECP256R1(), "ES256"), (ec.SECP384R1(), "ES384")])
def test_pyjwt_verifies_es256_and_es384(result: AttestationResult, curve: ec.EllipticCurve, alg: str) -> None:
    key = ec.generate_private_key(curve)
    kid = key_id(key.public_key())
    exp = datetime.now(UTC) + timedelta(minutes=5)
    token = result.to_jwt(key, kid=kid, iss="https://rp.example", nonce=NONCE, exp=exp)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "typ": "JWT", "kid": kid}
    jwks = jwt.PyJWKSet.from_dict({"keys": [public_jwk(key.public_key(), kid)]})
    claims = jwt.decode(
        token,
        jwks[kid].key,
        algorithms=[alg],
        issuer="https://rp.example",
        options={"require": ["exp", "iat", "iss"]},
    )
    assert claims["eat_nonce"] == base64.urlsafe_b64encode(NONCE).rstrip(b"=").decode()
    assert claims["exp"] == int(exp.timestamp())
    own = {k: v for k, v in result.to_json().items() if k != "exp"}
    assert {k: v for k, v in claims.items() if k not in ("iss", "exp", "eat_nonce")} == own
    other = ec.generate_private_key(curve)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other.public_key(), algorithms=[alg], options={"verify_exp": False})


def test_embedding_the_jwk_is_opt_in(result: AttestationResult) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert "jwk" not in jwt.get_unverified_header(result.to_jwt(key))
    assert jwt.get_unverified_header(result.to_jwt(key, embed_jwk=True))["jwk"] == public_jwk(
        key.public_key()
    )
    with pytest.raises(ValueError):
        result.to_jwt(ec.generate_private_key(ec.SECP521R1()))


def _npm_ready() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node/npm missing (tests/setup-system.sh installs them)")
        pytest.skip("node and npm are not installed")
    if not (JOSE / "node_modules" / "jose").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=JOSE, check=True, capture_output=True, timeout=300
        )
    return node


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()], ids=["ES256", "ES384"])
def test_panva_jose_on_node_verifies_against_the_jwks_endpoint(
    tmp_path: Path, curve: ec.EllipticCurve
) -> None:
    node = _npm_ready()
    config, token = make_config(tmp_path / "rp")
    key = ec.generate_private_key(curve)
    (config.parent / "result-signing-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    running = start(config)
    try:
        client = RelyingPartyClient(running.url, admin_token=token)
        provision(client)
        release_key = sealing.generate_key()
        challenge = client.challenge("tdx")
        answer = client.attest(
            challenge, mint(challenge.nonce, release_key), release_key, event_log=EVENT_LOG
        )
        issuer = jwt.decode(answer.result, options={"verify_signature": False})["iss"]
        run = subprocess.run(
            [node, str(JOSE / "verify.mjs"), running.url + "/.well-known/jwks.json", answer.result, issuer],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        verified = json.loads(run.stdout)
        assert verified["header"]["alg"] == ("ES256" if isinstance(curve, ec.SECP256R1) else "ES384")
        assert verified["claims"]["ear_status"] == "affirming"
        assert (
            verified["claims"]["eat_nonce"] == base64.urlsafe_b64encode(challenge.nonce).rstrip(b"=").decode()
        )
        forged = answer.result[:-4] + ("AAAA" if not answer.result.endswith("AAAA") else "BBBB")
        bad = subprocess.run(
            [node, str(JOSE / "verify.mjs"), running.url + "/.well-known/jwks.json", forged, issuer],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 1 and "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" in bad.stderr
    finally:
        running.stop()
