"""Two replicas (two ``ccverify serve`` processes, real uvicorn) sharing a real PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import requests

from ccverify.verifier.release import sealing
from ccverify.verifier.service.client import RelyingPartyClient
from tests.service.conftest import EVENT_LOG, SECRET, b64, free_port, make_config, mint, provision, start


def test_fifty_concurrent_attestations_with_one_nonce_exactly_one_succeeds(
    tmp_path: Path, postgres: str
) -> None:
    config, token = make_config(tmp_path / "rp", database=postgres)
    first = start(config)
    second = start(config, port=free_port())
    try:
        provision(RelyingPartyClient(first.url, admin_token=token))
        key = sealing.generate_key()
        challenge = RelyingPartyClient(second.url).challenge("tdx")  # issued by one replica
        body = {
            "nonce": b64(challenge.nonce),
            "tee": "tdx",
            "evidence": b64(mint(challenge.nonce, key)),
            "event_log": b64(EVENT_LOG),
            "hpke_public_key": b64(key.public_bytes),
        }
        statuses: list[tuple[int, str]] = []
        barrier = threading.Barrier(50)

        def one(index: int) -> None:
            url = (first.url, second.url)[index % 2]
            barrier.wait()
            response = requests.post(url + "/v1/attest", json=body, timeout=60)
            statuses.append((response.status_code, response.json().get("error", "")))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(statuses) == 50
        assert sorted(statuses).count((200, "")) == 1, statuses
        assert all(s == (403, "nonce_unknown") for s in statuses if s[0] != 200)
    finally:
        first.stop()
        second.stop()


def test_state_survives_restarting_both_replicas(tmp_path: Path, postgres: str) -> None:
    config, token = make_config(tmp_path / "rp", database=postgres)
    first = start(config)
    provision(RelyingPartyClient(first.url, admin_token=token), secrets={"pg-key": SECRET})
    first.stop()
    second = start(config, port=free_port())
    try:
        client = RelyingPartyClient(second.url, admin_token=token)
        key = sealing.generate_key()
        challenge = client.challenge("tdx")
        answer = client.attest(challenge, mint(challenge.nonce, key), key, event_log=EVENT_LOG)
        assert answer.open(key).secrets == {"pg-key": SECRET}
        assert any(e["action"] == "put_secret" and e["subject"] == "pg-key" for e in client.audit())
    finally:
        second.stop()
