"""The device policy: hand validation (field named), the published JSON Schema held to it by
jsonschema, signing under its own COSE content type, the template."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import cbor2
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccverify.verifier.errors import InputError, ParseError, VerificationError
from ccverify.verifier.refvalues import load_reference_values
from ccverify.verifier.release.devices import (
    CONTENT_TYPE,
    load_policy,
    parse_policy,
    sign_policy,
    template,
)
from ccverify.verifier.release.devices.policy import MATCH_KEYS
from tests.conftest import REPO
from tests.unit.fake_sysfs import EXAMPLE_POLICY, signing_key

SCHEMA = json.loads((REPO / "verifier" / "release" / "device-policy.schema.json").read_text())
SAMPLE = REPO / "reference-values" / "examples"


def _bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_issue_example_parses() -> None:
    policy = parse_policy(_bytes(EXAMPLE_POLICY))
    assert policy.default == "deny"
    assert [r.action for r in policy.rules] == ["allow", "allow", "deny", "allow"]
    assert policy.bootstrap[0].vendor == frozenset({0x1AF4})
    assert policy.bootstrap[1].virtio_id == frozenset({1, 3, 9})
    assert policy.rules[1].match.class_code == (0x010802,)
    assert policy.rules[1].match.driver == ("nvme",)
    assert policy.rules[3].match.usb_id == ((0x0627, 0x0001),)
    assert policy.rules[3].match.with_interface == ((0x03, None, None),)
    assert policy.buses == ("pci", "virtio", "usb", "thunderbolt")


def test_hex_forms_are_equal() -> None:
    forms = ["1af4", "0x1AF4", "0X1af4", "1AF4"]
    parsed = {
        parse_policy(_bytes({"version": 1, "default": "deny", "rules": [{"action": "allow", "vendor": f}]}))
        .rules[0]
        .match.vendor
        for f in forms
    }
    assert parsed == {frozenset({0x1AF4})}


def test_platform_is_covered_only_when_named() -> None:
    doc = {
        "version": 1,
        "default": "deny",
        "rules": [{"action": "allow", "bus": "platform", "name": "serial8250"}],
    }
    assert "platform" in parse_policy(_bytes(doc)).buses


def test_class_mask_applies_to_the_rule_value() -> None:
    doc = {
        "version": 1,
        "default": "deny",
        "rules": [{"action": "allow", "class": "0604ff", "class_mask": "ffff00"}],
    }
    assert parse_policy(_bytes(doc)).rules[0].match.class_code == (0x060400,)


BAD = [
    ({"extra": 1}, "extra"),
    ({"default": "allow"}, "default"),
    ({"version": 2}, "version"),
    ({"version": True}, "version"),
    ({"rules": [{"action": "allow", "vendor": "1af4", "colour": "red"}]}, "rules[0].colour"),
    ({"rules": [{"action": "permit", "vendor": "1af4"}]}, "rules[0].action"),
    ({"rules": [{"vendor": "1af4"}]}, "rules[0].action"),
    ({"rules": [{"action": "allow"}]}, "rules[0]"),
    ({"rules": [{"action": "allow", "vendor": "11af4"}]}, "rules[0].vendor"),
    ({"rules": [{"action": "allow", "vendor": 6900}]}, "rules[0].vendor"),
    ({"rules": [{"action": "allow", "vendor": []}]}, "rules[0].vendor"),
    ({"rules": [{"action": "allow", "class": "1010802"}]}, "rules[0].class"),
    ({"rules": [{"action": "allow", "class_mask": "ffff00"}]}, "rules[0].class_mask"),
    ({"rules": [{"action": "allow", "virtio_id": True}]}, "rules[0].virtio_id"),
    ({"rules": [{"action": "allow", "virtio_id": "2"}]}, "rules[0].virtio_id"),
    ({"rules": [{"action": "allow", "bus": "pci", "virtio_id": 2}]}, "rules[0].virtio_id"),
    ({"rules": [{"action": "allow", "bus": "isa"}]}, "rules[0].bus"),
    ({"rules": [{"action": "allow", "driver": ""}]}, "rules[0].driver"),
    ({"rules": [{"action": "allow", "id": "0627-0001"}]}, "rules[0].id"),
    ({"rules": [{"action": "allow", "with_interface": "03:00"}]}, "rules[0].with_interface"),
    ({"bootstrap": [{"bus": "pci", "action": "allow"}]}, "bootstrap[0].action"),
    ({"bootstrap": {"bus": "pci"}}, "bootstrap"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_refused_with_the_field_named(change: dict[str, Any], field: str) -> None:
    doc = {"version": 1, "default": "deny", **change}
    with pytest.raises(ParseError) as caught:
        parse_policy(_bytes(doc))
    assert caught.value.structure == "DevicePolicy"
    assert caught.value.field == field
    assert caught.value.exit_code == 2


def test_not_json_is_an_input_error() -> None:
    with pytest.raises(InputError):
        parse_policy(b"{" * 100_000)
    with pytest.raises(InputError):
        parse_policy(b"\xff\xfe")


# --------------------------------------------------------------------------- JSON Schema


def test_schema_is_valid_and_names_every_key() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert set(SCHEMA["$defs"]["match"]["properties"]) == set(MATCH_KEYS)
    assert set(SCHEMA["$defs"]["rule"]["properties"]) == set(MATCH_KEYS) | {"action"}


def test_schema_accepts_the_example_and_the_template() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    validator.validate(EXAMPLE_POLICY)
    validator.validate(template("confidential-computing-default"))


def _schema_bad(change: dict[str, Any]) -> bool:
    # the one check the schema cannot express: keys that only one bus has, on another bus
    return "virtio_id" in json.dumps(change) and "pci" in json.dumps(change)


@pytest.mark.parametrize(("change", "field"), [b for b in BAD if not _schema_bad(b[0])])
def test_schema_refuses_what_the_validator_refuses(change: dict[str, Any], field: str) -> None:
    doc = {"version": 1, "default": "deny", **change}
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(doc)


_hex16 = st.integers(0, 0xFFFF).map(lambda v: f"{v:04x}")
_entry = st.fixed_dictionaries(
    {},
    optional={
        "bus": st.sampled_from(["virtio", "usb", "thunderbolt"])
        | st.lists(st.sampled_from(["virtio", "usb"]), min_size=1, max_size=2),
        "vendor": _hex16 | st.lists(_hex16, min_size=1, max_size=3),
        "device": _hex16,
        "driver": st.sampled_from(["virtio_blk", "e1000", "nvme"]),
        "name": st.sampled_from(["virtio0", "1-1"]),
        "modalias": st.sampled_from(["virtio:*", "pci:v00001AF4*"]),
        "id": st.sampled_from(["0627:0001", "*:0001"]),
    },
).filter(bool)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_entry, max_size=4),
    st.lists(st.tuples(st.sampled_from(["allow", "deny"]), _entry), max_size=5),
    st.sampled_from([None, "unknown", "default"]),
)
def test_schema_and_validator_agree(
    bootstrap: list[dict[str, Any]], rules: list[tuple[str, dict[str, Any]]], damage: str | None
) -> None:
    doc: dict[str, Any] = {
        "version": 1,
        "default": "deny",
        "bootstrap": bootstrap,
        "rules": [{"action": a, **e} for a, e in rules],
    }
    if damage == "unknown" and doc["rules"]:
        doc["rules"][0]["vendr"] = "1af4"
    elif damage == "default":
        doc["default"] = "allow"
    schema_ok = jsonschema.Draft202012Validator(SCHEMA).is_valid(doc)
    try:
        parse_policy(_bytes(doc))
        ours = True
    except ParseError:
        ours = False
    assert schema_ok == ours


# --------------------------------------------------------------------------- signatures


@pytest.fixture()
def signed(tmp_path: Path) -> tuple[bytes, Path, bytes]:
    key, public = signing_key(tmp_path)
    data = _bytes(EXAMPLE_POLICY)
    return sign_policy(data, key), public, data


def test_signed_round_trip(signed: tuple[bytes, Path, bytes]) -> None:
    cose, public, data = signed
    loaded = load_policy(cose, [public])
    assert loaded.signed and loaded.signer == "ccverify device policy"
    assert loaded.policy == parse_policy(data)
    tag = cbor2.loads(cose)
    assert cbor2.loads(tag.value[0])[3] == CONTENT_TYPE
    assert tag.value[2] == data  # the payload is the JSON bytes themselves


def test_unsigned_refused_unless_planning(signed: tuple[bytes, Path, bytes]) -> None:
    _cose, public, data = signed
    with pytest.raises(VerificationError) as caught:
        load_policy(data, [public])
    assert caught.value.code == "device_policy_unsigned"
    assert not load_policy(data, [], allow_unsigned=True).signed


def test_tampered_policy_refused(signed: tuple[bytes, Path, bytes]) -> None:
    cose, public, _data = signed
    tampered = cose.replace(b'"100e"', b'"100f"', 1)  # the denied e1000 no longer denied
    assert tampered != cose
    with pytest.raises(VerificationError) as caught:
        load_policy(tampered, [public])
    assert caught.value.code == "device_policy_signature_invalid"
    assert "reference values" not in str(caught.value)


def test_other_key_refused(signed: tuple[bytes, Path, bytes], tmp_path: Path) -> None:
    cose, _public, _data = signed
    other = tmp_path / "other"
    other.mkdir()
    _key, other_public = signing_key(other)
    with pytest.raises(VerificationError) as caught:
        load_policy(cose, [other_public])
    assert caught.value.code == "device_policy_wrong_key"


def test_signed_policy_needs_an_anchor(signed: tuple[bytes, Path, bytes]) -> None:
    with pytest.raises(InputError):
        load_policy(signed[0], [], allow_unsigned=True)


def test_a_corim_is_never_a_device_policy_nor_the_reverse(tmp_path: Path) -> None:
    """Same signer for both: the content type keeps them apart."""
    corim = (SAMPLE / "tdx-refvalues.cbor").read_bytes()
    anchor = SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"
    with pytest.raises(VerificationError) as caught:
        load_policy(corim, [anchor], at=None)
    assert caught.value.code in ("device_policy_bad_content_type", "device_policy_expired")
    key, public = signing_key(tmp_path)
    cose = sign_policy(_bytes(EXAMPLE_POLICY), key)
    with pytest.raises(VerificationError) as caught:
        load_reference_values(cose, [public])
    assert caught.value.code == "refvalues_bad_content_type"


def test_a_corim_is_refused_on_content_type_at_its_valid_time() -> None:
    from datetime import UTC, datetime

    corim = (SAMPLE / "tdx-refvalues.cbor").read_bytes()
    with pytest.raises(VerificationError) as caught:
        load_policy(
            corim, [SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"], at=datetime(2026, 1, 15, tzinfo=UTC)
        )
    assert caught.value.code == "device_policy_bad_content_type"


def test_sign_refuses_an_invalid_policy(tmp_path: Path) -> None:
    key, _public = signing_key(tmp_path)
    bad = copy.deepcopy(EXAMPLE_POLICY)
    bad["default"] = "allow"
    with pytest.raises(ParseError):
        sign_policy(_bytes(bad), key)


def test_template_is_a_valid_policy() -> None:
    doc = template("confidential-computing-default")
    policy = parse_policy(_bytes(doc))
    allowed = sorted(v for r in policy.rules for v in (r.match.virtio_id or ()))
    assert allowed == [1, 2, 3, 9, 19]
    assert all(r.action == "allow" and r.match.vendor == frozenset({0x1AF4}) for r in policy.rules)
    with pytest.raises(InputError):
        template("permissive")


def test_readme_shows_the_schema_and_a_valid_example() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Device authorization") : readme.index("## Layout")]
    blocks = section.split("```json\n")[1:]
    example, shown_schema = (block.split("\n```")[0] for block in blocks)
    assert json.loads(shown_schema) == SCHEMA
    parse_policy(example.encode())
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(example))
