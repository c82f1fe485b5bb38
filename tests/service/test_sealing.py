"""HPKE sealing and the REPORT_DATA binding: typed errors for every way a release must not open."""

from __future__ import annotations

import hashlib

import pytest

from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.release import binding, sealing
from ccverify.verifier.testing import sample

TOKEN = "eyJhbGciOiJFUzI1NiJ9.e30.sig"
NONCE = bytes(range(32))
PAYLOAD = sealing.ReleasePayload(b"\xd2\x84signed-cose", {"disk": b"\x00secret\xff", "api": b"k"})


def test_binding_is_the_design_formula_and_the_samples() -> None:
    key = bytes(range(97))
    assert binding.report_data(NONCE, key) == hashlib.sha512(b"ccverify/v1" + NONCE + key).digest()
    assert binding.report_data(sample.NONCE, key) == sample.report_data(sample.NONCE, key)
    binding.check_report_data(binding.report_data(NONCE, key), NONCE, key)
    with pytest.raises(VerificationError) as mismatch:
        binding.check_report_data(bytes(64), NONCE, key)
    assert mismatch.value.code == "report_data_mismatch"
    with pytest.raises(InputError):
        binding.report_data(NONCE[:16], key)


@pytest.mark.parametrize("suite", sorted(sealing.SUITES))
def test_seal_and_open(suite: str) -> None:
    key = sealing.generate_key(suite)
    assert len(key.public_bytes) == sealing.SUITES[suite].public_key_size
    info = sealing.release_info(NONCE, TOKEN)
    assert info == b"ccverify/v1 release" + NONCE + hashlib.sha256(TOKEN.encode()).digest()
    sealed = sealing.seal(PAYLOAD.to_bytes(), key.public_bytes, info, suite)
    assert sealing.open_release(sealed, key, NONCE, TOKEN) == PAYLOAD
    again = sealing.ReleaseKey.from_private_bytes(suite, key.private_bytes)
    assert again.public_bytes == key.public_bytes
    assert sealing.open_release(sealed, again, NONCE, TOKEN) == PAYLOAD


@pytest.mark.parametrize("suite", sorted(sealing.SUITES))
def test_wrong_key_replay_and_tampering_are_typed_errors(suite: str) -> None:
    key = sealing.generate_key(suite)
    sealed = sealing.seal(PAYLOAD.to_bytes(), key.public_bytes, sealing.release_info(NONCE, TOKEN), suite)
    attempts = {
        "wrong key": lambda: sealing.open_release(sealed, sealing.generate_key(suite), NONCE, TOKEN),
        "another session": lambda: sealing.open_release(sealed, key, bytes(32), TOKEN),
        "another result token": lambda: sealing.open_release(sealed, key, NONCE, TOKEN + "x"),
        "tampered ciphertext": lambda: sealing.open_release(
            sealed[:-1] + bytes([sealed[-1] ^ 1]), key, NONCE, TOKEN
        ),
        "tampered encapsulation": lambda: sealing.open_release(
            bytes([sealed[0] ^ 1]) + sealed[1:], key, NONCE, TOKEN
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(VerificationError) as refused:
            attempt()
        assert refused.value.code == "release_unopenable", what
    with pytest.raises(VerificationError) as short:
        sealing.open_release(sealed[:40], key, NONCE, TOKEN)
    assert short.value.code == "release_malformed"


def test_public_keys_are_checked() -> None:
    with pytest.raises(InputError, match="1216 bytes"):
        sealing.load_public_key(None, bytes(97))
    with pytest.raises(InputError):
        sealing.load_public_key("p384", b"\x04" + bytes(96))  # not on the curve
    with pytest.raises(InputError):
        sealing.suite("x25519")


def test_only_an_issued_affirming_result_releases() -> None:
    key = sealing.generate_key()
    with pytest.raises(VerificationError) as refused:
        sealing.seal_release(object(), TOKEN, NONCE, PAYLOAD, key.public_bytes)  # type: ignore[arg-type]
    assert refused.value.code == "result_not_issued"


def test_payload_json_is_the_protocols() -> None:
    import json

    document = json.loads(PAYLOAD.to_bytes())
    assert document == {
        "device_policy": "0oRzaWduZWQtY29zZQ==",
        "secrets": {"api": "aw==", "disk": "AHNlY3JldP8="},
    }
    assert (
        sealing.ReleasePayload.from_bytes(b'{"device_policy": null, "secrets": {}}')
        == sealing.ReleasePayload()
    )
    for bad in (
        b"[]",
        b'{"secrets": {}}',
        b'{"device_policy": 1, "secrets": {}}',
        b'{"device_policy": null, "secrets": {"a": "!"}}',
    ):
        with pytest.raises(InputError):
            sealing.ReleasePayload.from_bytes(bad)


def test_the_client_sends_the_event_log_without_its_padding() -> None:
    from ccverify.verifier.evidence.eventlog import EventLog
    from ccverify.verifier.service.client import trim_event_log
    from tests.service.conftest import EVENT_LOG

    trimmed = trim_event_log(EVENT_LOG)
    assert len(trimmed) < len(EVENT_LOG) and EVENT_LOG.startswith(trimmed)
    assert set(EVENT_LOG[len(trimmed) :]) == {0xFF}
    assert EventLog.from_bytes(trimmed).events == EventLog.from_bytes(EVENT_LOG).events
    assert trim_event_log(trimmed) == trimmed and trim_event_log(b"not a log") == b"not a log"
