"""A guest's pin of the relying party's result-signing keys (``relying_party_jwks``): the JWKS
file read strictly (``service.client.load_jwks``), the configuration key, and the rule that
plain http:// needs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.cli import guest_gate
from ccverify.verifier.errors import InputError
from ccverify.verifier.release.guest_config import load_guest_config
from ccverify.verifier.result import public_jwk
from ccverify.verifier.service.attestation import key_id
from ccverify.verifier.service.client import MAX_JWKS_KEYS, load_jwks
from ccverify.verifier.service.init import initialize


def _jwk(curve: ec.EllipticCurve | None = None) -> dict[str, Any]:
    public = ec.generate_private_key(curve or ec.SECP256R1()).public_key()
    return public_jwk(public, key_id(public))


def test_a_published_jwks_loads() -> None:
    keys = [_jwk(), _jwk(ec.SECP384R1())]
    assert load_jwks(json.dumps({"keys": keys}).encode(), "jwks.json") == {"keys": keys}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (b"not json", "not JSON"),
        (b"[]", "keys: a non-empty array"),
        (json.dumps({"keys": []}).encode(), "an empty allow-list pins nothing"),
        (json.dumps({"keys": ["x"]}).encode(), "keys[0]: a JSON object"),
        (json.dumps({"keys": [{**_jwk(), "kty": "RSA"}]}).encode(), "keys[0]: an EC key on P-256 or P-384"),
        (json.dumps({"keys": [{**_jwk(), "crv": "P-521"}]}).encode(), "keys[0]: an EC key"),
        (json.dumps({"keys": [{**_jwk(), "d": "AAAA"}]}).encode(), "keys[0]: holds a private key"),
        (json.dumps({"keys": [{**_jwk(), "kid": ""}]}).encode(), "keys[0].kid: a non-empty string"),
        (json.dumps({"keys": [_jwk(), {**_jwk(), "x": "AAAA"}]}).encode(), "keys[1].x: 32 bytes"),
        (json.dumps({"keys": [{**_jwk(), "y": _jwk()["y"] + "="}]}).encode(), "keys[0].y: 32 bytes"),
        (json.dumps({"keys": [_jwk()] * (MAX_JWKS_KEYS + 1)}).encode(), f"at most {MAX_JWKS_KEYS} keys"),
    ],
)
def test_a_jwks_that_pins_nothing_certain_is_refused(document: bytes, says: str) -> None:
    with pytest.raises(InputError, match=r"jwks\.json: ") as refused:
        load_jwks(document, "jwks.json")
    assert says in str(refused.value)


def test_a_point_off_the_curve_is_refused() -> None:
    jwk = _jwk()
    jwk["y"] = jwk["x"]  # (x, x) is on P-256 for no x a key has
    with pytest.raises(InputError, match=r"keys\[0\]: x, y is not a point on P-256"):
        load_jwks(json.dumps({"keys": [jwk]}).encode(), "jwks.json")


def test_serve_init_writes_the_jwks_the_service_serves(tmp_path: Path) -> None:
    from ccverify.verifier.service.attestation import RelyingParty
    from ccverify.verifier.service.config import load_config

    done = initialize(tmp_path / "rp", tls=False, online=False, port=1)
    written = json.loads((tmp_path / "rp" / "jwks.json").read_text())
    assert "jwks.json" in done.files
    party = RelyingParty(load_config(done.config))
    assert written == party.jwks()
    assert load_jwks((tmp_path / "rp" / "jwks.json").read_bytes(), "jwks.json") == written


def _settings(tmp_path: Path, body: str) -> guest_gate.Settings:
    path = tmp_path / "guest.toml"
    path.write_text(body)
    return guest_gate.Settings.resolve(load_guest_config(path))


def test_the_configuration_names_the_pin_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "rp-jwks.json").write_text(json.dumps({"keys": [_jwk()]}))
    settings = _settings(
        tmp_path, 'relying_party = "http://10.0.2.100:8080"\nrelying_party_jwks = "rp-jwks.json"\n'
    )
    assert settings.relying_party_jwks == tmp_path / "rp-jwks.json"
    keys = guest_gate._result_keys(settings)
    assert keys is not None and len(keys["keys"]) == 1


def test_http_without_a_pin_is_refused_https_relies_on_tls(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="over http:// nothing authenticates the answer"):
        guest_gate._result_keys(_settings(tmp_path, 'relying_party = "http://10.0.2.100:8080"\n'))
    path = tmp_path / "guest.toml"
    for url in ("HTTP://10.0.2.100:8080", "Http://rp", "ftp://rp"):  # the command line's URL, unchecked
        settings = guest_gate.Settings.resolve(load_guest_config(path), relying_party=url)
        with pytest.raises(InputError, match="nothing authenticates the answer"):
            guest_gate._result_keys(settings)
    upper = guest_gate.Settings.resolve(load_guest_config(path), relying_party="HTTPS://rp.example")
    assert guest_gate._result_keys(upper) is None
    assert guest_gate._result_keys(_settings(tmp_path, 'relying_party = "https://rp.example:8443"\n')) is None


def test_a_pin_that_is_not_there_is_refused(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, 'relying_party = "https://rp.example"\nrelying_party_jwks = "absent.json"\n'
    )
    with pytest.raises(InputError, match=r"absent\.json"):
        guest_gate._result_keys(settings)
