"""The service under real uvicorn on 127.0.0.1, with real requests and a SQLite file."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests

from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.release import binding, sealing
from ccverify.verifier.service.client import RelyingPartyClient, verify_result
from ccverify.verifier.testing.service_fixtures import sample_tdx_quote
from tests.service.conftest import (
    EVENT_LOG,
    REFVALUES,
    SAMPLE_QUOTE,
    SECRET,
    Running,
    b64,
    make_config,
    mint,
    provision,
    start,
)


def _attest(client: RelyingPartyClient, suite: str | None = None) -> tuple[sealing.ReleaseKey, bytes, object]:
    key = sealing.generate_key(suite)
    challenge = client.challenge("tdx")
    answer = client.attest(challenge, mint(challenge.nonce, key), key, event_log=EVENT_LOG)
    return key, challenge.nonce, answer


@pytest.mark.parametrize("suite", ["mlkem768-x25519", "p384"])
def test_challenge_attest_release_opens_only_with_the_guests_key(
    service: tuple[Running, RelyingPartyClient], suite: str
) -> None:
    _running, client = service
    key, _nonce, answer = _attest(client, suite)
    assert answer.affirming and answer.sealed is not None  # type: ignore[attr-defined]
    release = answer.open(key)  # type: ignore[attr-defined]
    assert release.secrets == {"disk-key": SECRET} and release.device_policy is None
    other = sealing.generate_key(suite)
    with pytest.raises(VerificationError) as wrong:
        answer.open(other)  # type: ignore[attr-defined]
    assert wrong.value.code == "release_unopenable"


def test_the_result_is_an_ear_jwt_pyjwt_verifies_against_the_jwks(
    service: tuple[Running, RelyingPartyClient],
) -> None:
    running, client = service
    _key, nonce, answer = _attest(client)
    jwks = requests.get(running.url + "/.well-known/jwks.json", timeout=5).json()
    header = jwt.get_unverified_header(answer.result)  # type: ignore[attr-defined]
    assert header["alg"] == "ES256" and "jwk" not in header
    signing = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    issuer = jwt.decode(answer.result, options={"verify_signature": False})["iss"]  # type: ignore[attr-defined]
    claims = jwt.decode(
        answer.result,
        signing.key,
        algorithms=["ES256"],
        issuer=issuer,  # type: ignore[attr-defined]
        options={"require": ["exp", "iat", "iss"]},
    )
    assert issuer.endswith(running.url.rsplit(":", 1)[1])
    assert claims["eat_nonce"] == base64.urlsafe_b64encode(nonce).rstrip(b"=").decode()
    assert claims["ear_status"] == "affirming" and claims["submods"]["tdx"]["ear_status"] == "affirming"
    assert claims["eat_profile"] == "tag:ietf.org,2026:rats/ear#03"
    assert verify_result(answer.result, jwks, nonce=nonce)["iss"] == claims["iss"]  # type: ignore[attr-defined]
    with pytest.raises(VerificationError) as other:
        verify_result(answer.result, jwks, nonce=bytes(32))  # type: ignore[attr-defined]
    assert other.value.code == "result_nonce_mismatch"


def test_a_replayed_expired_or_other_tee_nonce_is_refused(tmp_path: Path) -> None:
    config, token = make_config(tmp_path / "rp", limits={"nonce_ttl_seconds": 1})
    running = start(config)
    try:
        client = RelyingPartyClient(running.url, admin_token=token)
        provision(client)
        key = sealing.generate_key()
        challenge = client.challenge("tdx")
        quote = mint(challenge.nonce, key)
        assert client.attest(challenge, quote, key, event_log=EVENT_LOG).affirming
        with pytest.raises(VerificationError) as replay:
            client.attest(challenge, quote, key, event_log=EVENT_LOG)
        assert replay.value.code == "nonce_unknown"
        snp = client.challenge("snp")
        with pytest.raises(VerificationError) as tee:
            client.attest(snp.nonce, mint(snp.nonce, key), key, tee="tdx", event_log=EVENT_LOG)
        assert tee.value.code == "nonce_wrong_tee"
        late = client.challenge("tdx")
        time.sleep(1.2)
        with pytest.raises(VerificationError) as expired:
            client.attest(late, mint(late.nonce, key), key, event_log=EVENT_LOG)
        assert expired.value.code == "nonce_expired"
    finally:
        running.stop()


def test_evidence_for_another_challenge_or_key_is_refused(
    service: tuple[Running, RelyingPartyClient],
) -> None:
    _running, client = service
    key = sealing.generate_key()
    challenge = client.challenge("tdx")
    with pytest.raises(VerificationError) as recorded:
        client.attest(challenge, SAMPLE_QUOTE, key, event_log=EVENT_LOG)
    assert recorded.value.code == "report_data_mismatch"
    challenge = client.challenge("tdx")
    with pytest.raises(VerificationError) as other_key:
        client.attest(challenge, mint(challenge.nonce, sealing.generate_key()), key, event_log=EVENT_LOG)
    assert other_key.value.code == "report_data_mismatch"


def test_not_affirming_answers_with_reasons_and_no_release(
    service: tuple[Running, RelyingPartyClient],
) -> None:
    _running, client = service
    key = sealing.generate_key()
    challenge = client.challenge("tdx")
    other_boot = sample_tdx_quote(
        SAMPLE_QUOTE, binding.report_data(challenge.nonce, key.public_bytes), mr_td=bytes(48)
    )
    answer = client.attest(challenge, other_boot, key, event_log=EVENT_LOG)
    assert not answer.affirming and answer.sealed is None
    claims = answer.claims()
    assert claims["ear_status"] != "affirming"
    assert any(r["code"] != "ok" for r in claims["submods"]["tdx"]["ccverify_reasons"])
    with pytest.raises(VerificationError):
        answer.open(key)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "bad_request"),
        (b"[]", 400, "bad_request"),
        (
            json.dumps(
                {"nonce": "!!!", "tee": "tdx", "evidence": "AA==", "hpke_public_key": "AA=="}
            ).encode(),
            400,
            "bad_request",
        ),
        (
            json.dumps(
                {"nonce": b64(bytes(32)), "tee": "sgx", "evidence": "AA==", "hpke_public_key": "AA=="}
            ).encode(),
            400,
            "bad_request",
        ),
        (
            json.dumps(
                {"nonce": b64(bytes(32)), "tee": 7, "evidence": "AA==", "hpke_public_key": "AA=="}
            ).encode(),
            400,
            "bad_request",
        ),
        (
            json.dumps(
                {
                    "nonce": b64(bytes(32)),
                    "tee": "tdx",
                    "evidence": b64(bytes(20000)),
                    "hpke_public_key": "AA==",
                }
            ).encode(),
            400,
            "bad_request",
        ),
        (
            json.dumps(
                {
                    "nonce": b64(bytes(32)),
                    "tee": "tdx",
                    "evidence": "AA==",
                    "hpke_public_key": b64(bytes(1216)),
                    "x": 1,
                }
            ).encode(),
            400,
            "bad_request",
        ),
        (
            json.dumps(
                {"nonce": b64(bytes(32)), "tee": "tdx", "evidence": "AA==", "hpke_public_key": b64(bytes(5))}
            ).encode(),
            400,
            "bad_request",
        ),
        (b"x" * (2 << 20), 413, "body_too_large"),
    ],
)
def test_malformed_requests_get_4xx_with_a_reason(
    service: tuple[Running, RelyingPartyClient], body: bytes, status: int, code: str
) -> None:
    running, _client = service
    response = requests.post(
        running.url + "/v1/attest", data=body, headers={"content-type": "application/json"}, timeout=10
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == code and response.json()["detail"]


def test_malformed_evidence_for_a_real_nonce_is_400(service: tuple[Running, RelyingPartyClient]) -> None:
    _running, client = service
    key = sealing.generate_key()
    challenge = client.challenge("tdx")
    with pytest.raises(InputError, match="evidence_malformed"):
        client.attest(challenge, SAMPLE_QUOTE[:700], key)


def test_admin_api_needs_the_token_and_refuses_rollback(service: tuple[Running, RelyingPartyClient]) -> None:
    running, client = service
    for token in (None, "wrong"):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = requests.put(running.url + "/v1/admin/secrets/x", data=b"v", headers=headers, timeout=5)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert requests.get(running.url + "/v1/admin/audit", timeout=5).status_code == 401
    refused = [e for e in client.audit() if e["outcome"] == "unauthorized"]
    assert {e["actor"] for e in refused} == {"unauthenticated"} and len(refused) == 3
    assert client.put_reference_values(REFVALUES)["changed"] is False  # the same bytes again
    with pytest.raises(VerificationError) as unsigned:
        client.put_reference_values(REFVALUES[:-1] + bytes([REFVALUES[-1] ^ 1]))
    assert unsigned.value.code == "refvalues_signature_invalid"
    with pytest.raises(VerificationError) as unknown:
        client.put_release_rule("r2", "ccverify-example-tdx", secrets=["nope"])
    assert unknown.value.code == "unknown_secret"


def test_no_secret_byte_in_any_log_response_or_audit(service: tuple[Running, RelyingPartyClient]) -> None:
    running, client = service
    _key, _nonce, answer = _attest(client)
    audit = json.dumps(client.audit())
    assert "put_secret" in audit and "attest" in audit
    texts = [
        running.log.read_bytes(),
        audit.encode(),
        requests.get(running.url + "/metrics", timeout=5).content,
        answer.result.encode(),  # type: ignore[attr-defined]
        base64.urlsafe_b64decode(answer.result.split(".")[1] + "==="),  # type: ignore[attr-defined]
    ]
    for encoded in (SECRET, base64.b64encode(SECRET), SECRET.hex().encode()):
        for text in texts:
            assert encoded not in text
    db = running.config.parent / "ccverify.db"
    assert SECRET not in db.read_bytes() + (db.parent / "ccverify.db-wal").read_bytes()


def test_state_survives_a_restart(tmp_path: Path) -> None:
    config, token = make_config(tmp_path / "rp")
    running = start(config)
    client = RelyingPartyClient(running.url, admin_token=token)
    provision(client)
    policy = _signed_policy()
    client.put_device_policy("cc-default", policy)
    client.put_release_rule(
        "example-guest", "ccverify-example-tdx", device_policy="cc-default", secrets=["disk-key"]
    )
    running.stop()
    running = start(config)
    try:
        client = RelyingPartyClient(running.url, admin_token=token)
        key, _nonce, answer = _attest(client)
        release = answer.open(key)  # type: ignore[attr-defined]
        assert release.secrets == {"disk-key": SECRET} and release.device_policy == policy
    finally:
        running.stop()


def _signed_policy() -> bytes:
    from ccverify.verifier.release.devices.policy import sign_policy, template
    from ccverify.verifier.testing.sample import _signer_key

    document = json.dumps(template("confidential-computing-default")).encode()
    return sign_policy(document, _signer_key(), signer="ccverify EXAMPLE device-policy owner")


def test_metrics_healthz_openapi(service: tuple[Running, RelyingPartyClient]) -> None:
    running, client = service
    _attest(client)
    client.challenge("tdx")
    text = requests.get(running.url + "/metrics", timeout=5).text
    assert 'ccverify_verifications_total{outcome="affirming",tee="tdx"} 1.0' in text
    assert "ccverify_attest_duration_seconds_bucket" in text
    assert "ccverify_nonces_outstanding 1.0" in text
    spec = requests.get(running.url + "/openapi.json", timeout=5).json()
    assert {"/v1/challenge", "/v1/attest", "/v1/admin/reference-values", "/.well-known/jwks.json"} <= set(
        spec["paths"]
    )


def test_rate_limit_answers_429(tmp_path: Path) -> None:
    config, _token = make_config(tmp_path / "rp")
    text = config.read_text().replace("rate_per_second = 0\n", "rate_per_second = 1\nrate_burst = 3\n")
    config.write_text(text)
    running = start(config)
    try:
        statuses = [
            requests.post(running.url + "/v1/challenge", json={"tee": "tdx"}, timeout=5).status_code
            for _ in range(8)
        ]
        assert statuses[:2] == [200, 200] and 429 in statuses
        # another guest behind the (trusted, loopback) load balancer has its own bucket
        other = requests.post(
            running.url + "/v1/challenge",
            json={"tee": "tdx"},
            headers={"X-Forwarded-For": "10.0.0.9"},
            timeout=5,
        )
        assert other.status_code == 200
    finally:
        running.stop()


def test_tls_from_the_configuration(tmp_path: Path) -> None:
    config, _token = make_config(tmp_path / "rp", tls=True)
    ca = str(config.parent / "tls-cert.pem")
    running = start(config, scheme="https", verify=ca)
    try:
        assert RelyingPartyClient(running.url, verify=ca).challenge("snp").tee == "snp"
        with pytest.raises(Exception):  # noqa: B017 - any TLS failure: the self-signed cert is not trusted by default
            requests.get(running.url + "/healthz", timeout=5)
    finally:
        running.stop()


def test_the_client_does_not_import_the_service() -> None:
    code = (
        "import sys, ccverify.verifier.service.client, ccverify.verifier.release.sealing;"
        "heavy = ('fastapi', 'sqlalchemy', 'uvicorn', 'starlette', 'prometheus_client');"
        "bad = [m for m in heavy if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_a_signed_device_policy_is_released_as_its_owner_signed_it(
    service: tuple[Running, RelyingPartyClient],
) -> None:
    from ccverify.verifier.release.devices.policy import load_policy, sign_policy, template
    from ccverify.verifier.testing.sample import _signer_key
    from tests.service.conftest import EXAMPLES

    _running, client = service
    document = json.dumps(template("confidential-computing-default")).encode()
    signed = sign_policy(document, _signer_key(), signer="ccverify EXAMPLE device-policy owner")
    with pytest.raises(VerificationError) as unsigned:
        client.put_device_policy("cc-default", document)
    assert unsigned.value.code == "device_policy_unsigned"
    assert client.put_device_policy("cc-default", signed)["sha256"]
    client.put_release_rule(
        "example-guest", "ccverify-example-tdx", device_policy="cc-default", secrets=["disk-key"]
    )
    key, _nonce, answer = _attest(client)
    release = answer.open(key)  # type: ignore[attr-defined]
    assert release.device_policy == signed and release.secrets == {"disk-key": SECRET}
    anchor = (EXAMPLES / "EXAMPLE-refvalues-signer.pub.pem").read_bytes()
    assert load_policy(release.device_policy, [anchor]).signer == "ccverify EXAMPLE device-policy owner"


def _signed_refvalues(sequence: int) -> bytes:
    from datetime import timedelta

    from ccverify.verifier.refvalues import sign_reference_values
    from ccverify.verifier.refvalues.profile import from_measurements
    from ccverify.verifier.testing.sample import SAMPLE_TIME, _signer_key
    from tests.service.conftest import EXAMPLES

    measurements = json.loads((EXAMPLES / "tdx-measurements.json").read_text())
    rv = from_measurements(
        measurements,
        id="ccverify-example-tdx",
        sequence=sequence,
        not_before=SAMPLE_TIME - timedelta(days=365),
        not_after=SAMPLE_TIME + timedelta(days=3650),
    )
    return sign_reference_values(rv, _signer_key())


def test_an_older_sequence_for_the_same_id_is_refused(service: tuple[Running, RelyingPartyClient]) -> None:
    _running, client = service  # holds the sample's set, sequence 1
    assert client.put_reference_values(_signed_refvalues(3))["sequence"] == 3
    for older in (2, 3):  # lower, and other bytes at the same sequence
        with pytest.raises(VerificationError) as refused:
            client.put_reference_values(_signed_refvalues(older))
        assert refused.value.code == "refvalues_rollback"
    with pytest.raises(VerificationError) as rollback:
        client.put_reference_values(REFVALUES)
    assert rollback.value.code == "refvalues_rollback"
    key, _nonce, answer = _attest(client)  # the newer set still appraises the sample
    assert answer.open(key).secrets == {"disk-key": SECRET}  # type: ignore[attr-defined]


def test_a_slow_body_times_out_with_408(tmp_path: Path) -> None:
    import socket

    config, _token = make_config(tmp_path / "rp", limits={"request_timeout_seconds": 1})
    running = start(config)
    try:
        port = int(running.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"POST /v1/attest HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         b"content-length: 1000\r\n\r\n{\"nonce\":")  # fmt: skip
            answer = b""
            while b'"timeout"' not in answer and (chunk := conn.recv(4096)):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408") and b'"timeout"' in answer
    finally:
        running.stop()


def test_two_workers_add_up_their_metrics(tmp_path: Path) -> None:
    config, token = make_config(tmp_path / "rp")
    running = start(config, workers=2)
    try:
        client = RelyingPartyClient(running.url, admin_token=token)
        provision(client)
        for _ in range(4):
            key, _nonce, answer = _attest(client)
            assert answer.open(key).secrets == {"disk-key": SECRET}  # type: ignore[attr-defined]
        for _ in range(3):  # whichever worker answers, it reports both workers' counts
            text = requests.get(running.url + "/metrics", timeout=5).text
            assert 'ccverify_verifications_total{outcome="affirming",tee="tdx"} 4.0' in text
        # both workers started on the new database and still run (a worker that lost the race
        # to migrate it used to die at start, and the service ran on with one)
        assert len(_workers(running.process.pid)) == 2
        assert "Traceback" not in running.log.read_text()
    finally:
        running.stop()


def _workers(pid: int) -> list[int]:
    """uvicorn's running worker processes under its supervisor ``pid`` (spawned children; not
    multiprocessing's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    workers = []
    for child in found:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.append(child)
        except OSError:
            continue  # gone
    return workers


def test_a_policy_refusal_is_a_non_affirming_result_with_its_reason(
    service: tuple[Running, RelyingPartyClient],
) -> None:
    from ccverify.verifier.evidence.tdx_quote import TdAttributes

    _running, client = service
    key = sealing.generate_key()
    challenge = client.challenge("tdx")
    debug = int(TdAttributes.DEBUG | TdAttributes.SEPT_VE_DISABLE).to_bytes(8, "little")
    report_data = binding.report_data(challenge.nonce, key.public_bytes)
    answer = client.attest(challenge, sample_tdx_quote(SAMPLE_QUOTE, report_data, td_attributes=debug), key,
                           event_log=EVENT_LOG)  # fmt: skip
    assert not answer.affirming and answer.sealed is None
    codes = {r["code"] for r in answer.claims()["submods"]["tdx"]["ccverify_reasons"]}
    assert "debug_td" in codes, codes


def test_admin_mutual_tls_when_configured(tmp_path: Path) -> None:
    import datetime as dt

    from cryptography import x509 as x
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(
        name: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: x.Name,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x.Certificate:
        builder = (
            x.CertificateBuilder().subject_name(x.Name([x.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer).public_key(key.public_key()).serial_number(x.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x.BasicConstraints(ca=ca, path_length=None), critical=True)
        )  # fmt: skip
        if not ca:
            builder = builder.add_extension(
                x.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, admin_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x.Name([x.NameAttribute(NameOID.COMMON_NAME, "ccverify test admin CA")])
    ca_cert = cert("ccverify test admin CA", ca_key, ca_name, ca_key, True)
    admin_cert = cert("operator", admin_key, ca_name, ca_key, False)
    pem = serialization.Encoding.PEM
    (tmp_path / "admin-ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (tmp_path / "admin.pem").write_bytes(admin_cert.public_bytes(pem))
    (tmp_path / "admin.key").write_bytes(
        admin_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    config, token = make_config(tmp_path / "rp", tls=True)
    text = config.read_text().replace(
        'key = "tls-key.pem"\n', f'key = "tls-key.pem"\nclient_ca = "{tmp_path}/admin-ca.pem"\n'
    )
    config.write_text(text)
    ca = str(config.parent / "tls-cert.pem")
    running = start(config, scheme="https", verify=ca)
    try:
        without = RelyingPartyClient(running.url, verify=ca, admin_token=token)
        with pytest.raises(VerificationError, match="client certificate"):
            without.put_secret("x", b"v")
        assert without.challenge("tdx").tee == "tdx"  # guests need no certificate
        with_cert = RelyingPartyClient(running.url, verify=ca, admin_token=token)
        with_cert.session.cert = (str(tmp_path / "admin.pem"), str(tmp_path / "admin.key"))
        provision(with_cert)
        key, _nonce, answer = _attest(without)
        assert answer.open(key).secrets == {"disk-key": SECRET}  # type: ignore[attr-defined]
    finally:
        running.stop()


def _read_answers(conn: object, count: int) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """``count`` HTTP/1.1 answers (status line, headers, body) read from a socket."""
    import socket

    assert isinstance(conn, socket.socket)
    buffer = b""
    answers = []
    while len(answers) < count:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            lines = buffer[:head_end].split(b"\r\n")
            headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
            end = head_end + 4 + int(headers[b"content-length"])
            if len(buffer) >= end:
                answers.append((lines[0], headers, buffer[head_end + 4 : end]))
                buffer = buffer[end:]
                continue
        chunk = conn.recv(65536)
        assert chunk, f"the service closed the connection after {len(answers)} answers"
        buffer += chunk
    return answers


def test_guest_endpoints_on_one_connection_pipelined_chunked_and_expect(
    service: tuple[Running, RelyingPartyClient],
) -> None:
    """The guest endpoints answered in the protocol (fasthttp.py) and through ASGI agree: three
    requests in one write on a keep-alive connection are answered in order (a malformed one with
    its typed 400); a chunked body and one sent after ``Expect: 100-continue`` (the ASGI path)
    are served too; ``Connection: close`` is honoured."""
    import socket

    running, _client = service
    port = int(running.url.rsplit(":", 1)[1])
    challenge = b'{"tee":"tdx"}'
    plain = (
        b"POST /v1/challenge HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 13\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            plain + b"\r\n" + challenge
            + b"POST /v1/attest HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}"
            + plain + b"\r\n" + challenge
        )  # fmt: skip
        answers = _read_answers(conn, 3)
        assert [a[0] for a in answers] == [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 400 Bad Request",
            b"HTTP/1.1 200 OK",
        ]
        for _status, headers, _body in answers:
            assert headers[b"content-type"] == b"application/json" and b"date" in headers
        nonces = [json.loads(answers[i][2])["nonce"] for i in (0, 2)]
        assert len(set(nonces)) == 2 and all(len(base64.b64decode(n)) == 32 for n in nonces)
        refused = json.loads(answers[1][2])
        assert refused["error"] == "bad_request" and "missing field" in refused["detail"]
        chunked = b"POST /v1/challenge HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nd\r\n"
        conn.sendall(chunked + challenge + b"\r\n0\r\n\r\n")
        ((status, _headers, body),) = _read_answers(conn, 1)
        assert status == b"HTTP/1.1 200 OK" and "nonce" in json.loads(body)
        conn.sendall(plain + b"expect: 100-continue\r\n\r\n")
        time.sleep(0.2)
        conn.sendall(challenge)
        received = b""
        while b'"nonce"' not in received:
            chunk = conn.recv(65536)
            assert chunk
            received += chunk
        assert b"HTTP/1.1 200 OK" in received
        conn.sendall(plain + b"connection: close\r\n\r\n" + challenge)
        ((status, headers, body),) = _read_answers(conn, 1)
        assert status == b"HTTP/1.1 200 OK" and headers[b"connection"] == b"close"
        assert conn.recv(65536) == b""  # closed by the service


def test_the_fast_path_checks_the_uvicorn_it_runs_on() -> None:
    """fasthttp reads uvicorn internals (no public API): with the installed uvicorn it is on; a
    protocol without what it reads (another uvicorn) turns it off, leaving every request to ASGI."""
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    from ccverify.verifier.service import fasthttp

    assert fasthttp.COMPATIBLE and fasthttp.compatible(HttpToolsProtocol, STATUS_LINE)

    class Renamed(HttpToolsProtocol):
        def __init__(self) -> None:  # sets none of what the fast path reads
            self.something_else = None

    class Missing(HttpToolsProtocol):
        _unset_keepalive_if_required = None  # type: ignore[assignment]

    assert not fasthttp.compatible(Renamed, STATUS_LINE)
    assert not fasthttp.compatible(Missing, STATUS_LINE)
    assert not fasthttp.compatible(HttpToolsProtocol, {200: b"HTTP/1.1 200 OK\r\n"})
