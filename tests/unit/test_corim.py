"""CoRIM/CoMID codec: the public Veraison examples, round trips, and malformed CBOR of every kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import cbor2
import pytest

from ccverify.verifier.errors import ParseError, VerificationError
from ccverify.verifier.jsonable import to_jsonable
from ccverify.verifier.refvalues import corim as c
from ccverify.verifier.refvalues import example_reference_values
from ccverify.verifier.refvalues.profile import PROFILE_ID, decode, encode, from_corim, to_corim
from tests.conftest import FIXTURES, fixture_bytes

CORIM_FILES = sorted(p.name for p in (FIXTURES / "corim").glob("*.cbor"))
UNSIGNED = ["corim-1.cbor", "corim-2.cbor", "unsigned-good-corim.cbor", "unsigned-example-corim.cbor"]
SIGNED = ["signed-good-corim.cbor", "signed-example-corim.cbor", "signed-corim-with-extensions.cbor"]


def test_all_fixture_files_are_listed() -> None:
    assert len(CORIM_FILES) == 12
    assert set(UNSIGNED + SIGNED) <= set(CORIM_FILES)


@pytest.mark.parametrize("name", CORIM_FILES)
def test_describe_every_public_example(name: str) -> None:
    described = c.describe_corim(fixture_bytes(f"corim/{name}"))
    rendered = json.loads(json.dumps(to_jsonable(described)))
    assert rendered["signed"] is name.startswith("signed")
    assert ("corim" in rendered) != ("comid" in rendered)


def test_unsigned_good_corim_published_values() -> None:
    corim = c.decode_corim(fixture_bytes("corim/unsigned-good-corim.cbor"))
    assert corim.id == "test corim id"
    assert corim.profile is None
    (comid,) = corim.comids
    assert comid.tag_id == "43bbe37f-2e61-4b33-aed3-53cff1428b16"
    assert comid.language == "en-GB"
    assert comid.entities[0].name == "ACME Ltd."
    assert comid.entities[0].reg_id == "https://acme.example"
    assert comid.entities[0].roles == (0, 1, 2)
    (triple,) = comid.triples.reference
    klass = triple.environment.klass
    assert klass is not None
    assert (klass.vendor, klass.model) == ("ACME", "RoadRunner")
    assert klass.class_id == c.TypedId("bytes", b"acme-implementation-id-000000001")
    assert len(triple.measurements) == 3
    first = triple.measurements[0]
    assert first.mkey == c.TypedId("uuid", "31fb5abf-023e-4992-aa4e-95f9c1503bfa")
    assert first.mval.digests == (
        c.Digest(1, bytes.fromhex("87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7")),
    )


def test_unsigned_example_corim_profile_and_extensions() -> None:
    corim = c.decode_corim(fixture_bytes("corim/unsigned-example-corim.cbor"))
    assert corim.profile == "http://example.com/example-profile"
    assert (-1, "foo") in corim.extensions
    entity = corim.comids[0].entities[0]
    assert (-1, "123 Fake Street") in entity.extensions
    mval = corim.comids[0].triples.reference[0].measurements[0].mval
    assert (-1, 1720782190) in mval.extensions  # an unknown optional key is kept, not refused


def test_corim2_layers_and_svn() -> None:
    corim = c.decode_corim(fixture_bytes("corim/corim-2.cbor"))
    comid = corim.comids[0]
    assert [t.environment.klass.layer for t in comid.triples.reference if t.environment.klass] == [1, 2, 2]
    (endorsed,) = comid.triples.endorsed
    assert endorsed.measurements[0].mval.svn == c.Svn(1, False)


def test_bare_comids_integrity_registers_and_raw_values() -> None:
    regs = c.describe_corim(fixture_bytes("corim/comid-integrity-registers.cbor"))
    assert isinstance(regs, dict)
    mval = regs["comid"].triples.reference[0].measurements[0].mval
    ids = [rid for rid, _ in mval.integrity_registers]
    assert ids == [0, "my-ir"]
    assert mval.integrity_registers[0][1][1] == c.Digest("my-alg-id", bytes.fromhex("deadbeef"))
    raw = c.describe_corim(fixture_bytes("corim/comid-raw-value.cbor"))
    assert isinstance(raw, dict)
    triples = raw["comid"].triples.reference
    assert triples[0].measurements[0].mval.raw_value == bytes.fromhex("12345678")
    assert triples[1].measurements[0].mval.raw_value == c.MaskedRawValue(
        bytes.fromhex("12340000"), bytes.fromhex("ffff0000")
    )
    assert triples[2].measurements[0].mval.raw_value_mask == bytes.fromhex("ffff0000")


def test_intel_profile_comids_keep_their_extensions() -> None:
    seam = c.describe_corim(fixture_bytes("corim/comid_seam_refval.cbor"))
    assert isinstance(seam, dict)
    triple = seam["comid"].triples.reference[0]
    assert triple.environment.klass.class_id == c.TypedId("oid", "2.16.840.1.113741.1.2.3.4.3")
    assert triple.environment.klass.model == "TDX SEAM"
    keys = [k for k, _ in triple.measurements[0].mval.extensions]
    assert keys == [-82, -85, -73, -83, -84, -86]
    assert triple.measurements[0].authorized_by is not None


@pytest.mark.parametrize("name", UNSIGNED)
def test_unsigned_fixture_round_trip(name: str) -> None:
    corim = c.decode_corim(fixture_bytes(f"corim/{name}"))
    assert c.decode_corim(c.encode_corim(corim)) == corim


def test_oid_text_round_trip() -> None:
    for text in ("2.16.840.1.113741.1.16.1", "1.3.6.1.4.1.3704.3.1", "0.9.2342", "2.999.1"):
        assert c.oid_to_text(c.oid_from_text(text)) == text
    assert c.oid_from_text("2.16.840.1.113741.1.16.1").hex() == "6086480186f84d011001"
    with pytest.raises(ValueError):
        c.oid_from_text("3.1")
    with pytest.raises(ValueError):
        c.oid_to_text(b"\x86")


def test_profile_round_trip() -> None:
    rv = example_reference_values()
    data = encode(rv)
    assert data[:3] == b"\xd9\x01\xf5"  # tag 501
    assert decode(data) == rv
    corim = c.decode_corim(data)
    assert corim.profile == PROFILE_ID
    assert corim.comids[0].tag_version == rv.sequence
    # TDX registers are integrity registers, one per measurement-map
    regs = [m.mval.integrity_registers for m in corim.comids[0].triples.reference[0].measurements]
    assert (("mrtd", (c.Digest(7, bytes.fromhex("11" * 48)),)),) in regs


def test_profile_id_is_a_uri_tag() -> None:
    item = cbor2.loads(encode(example_reference_values()))
    assert item.value[3] == cbor2.CBORTag(32, PROFILE_ID)


def test_decode_refuses_signed_input() -> None:
    with pytest.raises(ParseError, match="signed CoRIM"):
        c.decode_corim(fixture_bytes("corim/signed-good-corim.cbor"))


# --------------------------------------------------------------------------- malformed CBOR


def _raises_parse(call: Callable[[], Any]) -> ParseError:
    with pytest.raises(ParseError) as info:
        call()
    return info.value


def test_every_truncation_is_a_parse_error() -> None:
    data = encode(example_reference_values())
    for cut in range(len(data)):
        _raises_parse(lambda cut=cut: decode(data[:cut]))


def test_trailing_bytes() -> None:
    data = encode(example_reference_values())
    error = _raises_parse(lambda: decode(data + b"\x00"))
    assert error.offset == len(data)
    assert "trailing" in error.detail


@pytest.mark.parametrize(
    "blob",
    [
        b"\x9f\x01\xff",  # indefinite array
        b"\xbf\x01\x02\xff",  # indefinite map
        b"\x5f\x41a\xff",  # indefinite byte string
        b"\x7f\x61a\xff",  # indefinite text string
        b"\xff",  # lone break
        b"\x1c",  # reserved additional info
        b"\x62\xff\xfe",  # invalid UTF-8
        b"\xa2\x01\x01\x01\x02",  # duplicate map key
        b"\x81" * 10_000 + b"\x00",  # deeply nested
        b"\x5b" + b"\xff" * 8,  # huge byte string length
        b"\x9b" + b"\xff" * 8,  # huge array length
        b"\xbb" + b"\xff" * 8,  # huge map length
        b"\x7b\x00\x00\x00\x01\x00\x00\x00\x00",  # 4 GiB text string, not there
        b"",
    ],
)
def test_malformed_cbor(blob: bytes) -> None:
    _raises_parse(lambda: c.loads_strict(blob))
    _raises_parse(lambda: c.describe_corim(blob))
    _raises_parse(lambda: decode(blob))


def test_indefinite_length_inside_a_valid_corim() -> None:
    # re-encode the example with indefinite containers: refused, though otherwise identical
    data = cbor2.dumps(cbor2.loads(encode(example_reference_values())), indefinite_containers=True)
    _raises_parse(lambda: decode(data))


def _corim_with(**changes: Any) -> bytes:
    """The example CoRIM as a CBOR map, with top-level keys replaced (None removes)."""
    base = c.corim_map(to_corim(example_reference_values()))
    for key, value in changes.items():
        number = int(key[1:])
        if value is None:
            base.pop(number, None)
        else:
            base[number] = value
    return cbor2.dumps(cbor2.CBORTag(501, base))


def _comid_with(mutate: Callable[[dict[Any, Any]], None]) -> bytes:
    comid = c.encode_comid(to_corim(example_reference_values()).comids[0])
    mutate(comid)
    return _corim_with(k1=[cbor2.CBORTag(506, cbor2.dumps(comid))])


def _set(path: list[Any], value: Any) -> Callable[[dict[Any, Any]], None]:
    def mutate(comid: dict[Any, Any]) -> None:
        target: Any = comid
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


TRIPLE = [4, 0, 0]  # comid.triples.reference-triples[0]
MEAS0 = [*TRIPLE, 1, 0]  # first measurement-map of the platform triple (mrtd register)
MEAS_XFAM = [*TRIPLE, 1, 4]  # xfam (raw value)

WRONG_TYPES: list[tuple[str, bytes, str]] = [
    ("top not a tag", cbor2.dumps({0: "x"}), "corim"),
    ("wrong tag", cbor2.dumps(cbor2.CBORTag(999, {})), "corim"),
    ("corim-map not a map", cbor2.dumps(cbor2.CBORTag(501, [1, 2])), "corim"),
    ("id wrong type", _corim_with(k0=1.5), "corim.id"),
    ("id missing", _corim_with(k0=None), "corim"),
    ("tags not array", _corim_with(k1={}), "corim.tags"),
    ("tags empty", _corim_with(k1=[]), "corim.tags"),
    ("tag unknown", _corim_with(k1=[cbor2.CBORTag(999, b"")]), "corim.tags[0]"),
    ("tag not tagged", _corim_with(k1=[b"\xa0"]), "corim.tags[0]"),
    ("comid not bstr", _corim_with(k1=[cbor2.CBORTag(506, {})]), "corim.tags[0]"),
    ("comid bstr not cbor", _corim_with(k1=[cbor2.CBORTag(506, b"\xff")]), "corim.tags[0]"),
    ("profile wrong type", _corim_with(k3=5), "corim.profile"),
    ("validity not map", _corim_with(k4=[1]), "corim.rim-validity"),
    ("validity untagged time", _corim_with(k4={1: 5}), "corim.rim-validity.not-after"),
    (
        "validity backwards",
        _corim_with(k4={0: cbor2.CBORTag(1, 10), 1: cbor2.CBORTag(1, 5)}),
        "corim.rim-validity",
    ),
    ("entities wrong", _corim_with(k5=[{0: 1, 2: [1]}]), "corim.entities[0].entity-name"),
    ("null value", _corim_with(k4={0: None, 1: cbor2.CBORTag(1, 5)}), "corim.rim-validity"),
    ("comid not a map", _corim_with(k1=[cbor2.CBORTag(506, cbor2.dumps([]))]), "corim.tags[0]"),
    ("triples missing", _comid_with(lambda m: m.pop(4)), "corim.tags[0]"),
    ("triples not map", _comid_with(_set([4], [])), "corim.tags[0].triples"),
    ("reference not array", _comid_with(_set([4, 0], {})), "corim.tags[0].triples.reference-triples"),
    ("triple not pair", _comid_with(_set([4, 0, 0], [1])), "corim.tags[0].triples.reference-triples[0]"),
    (
        "environment not map",
        _comid_with(_set([*TRIPLE, 0], 7)),
        "corim.tags[0].triples.reference-triples[0].environment",
    ),
    (
        "class vendor not text",
        _comid_with(_set([*TRIPLE, 0, 0, 1], b"Intel")),
        "corim.tags[0].triples.reference-triples[0].environment.class.vendor",
    ),
    (
        "measurements not array",
        _comid_with(_set([*TRIPLE, 1], {})),
        "corim.tags[0].triples.reference-triples[0].measurements",
    ),
    (
        "mval missing",
        _comid_with(_set([*MEAS0], {0: "mrseam"})),
        "corim.tags[0].triples.reference-triples[0].measurements[0]",
    ),
    (
        "digest alg wrong type",
        _comid_with(_set([*MEAS0, 1, 14, "mrtd", 0, 0], b"x")),
        "corim.tags[0].triples.reference-triples[0].measurements[0].mval.integrity-registers.mrtd[0].alg",
    ),
    (
        "digest value wrong type",
        _comid_with(_set([*MEAS0, 1, 14, "mrtd", 0, 1], "hex")),
        "corim.tags[0].triples.reference-triples[0].measurements[0].mval.integrity-registers.mrtd[0].val",
    ),
    (
        "raw value bad tag",
        _comid_with(_set([*MEAS_XFAM, 1, 4], cbor2.CBORTag(999, b""))),
        "corim.tags[0].triples.reference-triples[0].measurements[4].mval.raw-value",
    ),
    (
        "masked raw lengths differ",
        _comid_with(_set([*MEAS_XFAM, 1, 4], cbor2.CBORTag(563, [b"\x00" * 8, b"\x00"]))),
        "corim.tags[0].triples.reference-triples[0].measurements[4].mval.raw-value",
    ),
    (
        "svn bad tag",
        _comid_with(_set([*MEAS_XFAM, 1, 1], cbor2.CBORTag(554, 1))),
        "corim.tags[0].triples.reference-triples[0].measurements[4].mval.svn",
    ),
    (
        "mkey bad tag",
        _comid_with(_set([*MEAS_XFAM, 0], cbor2.CBORTag(37, b"short"))),
        "corim.tags[0].triples.reference-triples[0].measurements[4].mkey",
    ),
]


@pytest.mark.parametrize(("case", "blob", "field"), WRONG_TYPES, ids=[w[0] for w in WRONG_TYPES])
def test_wrong_types_name_the_cbor_path(case: str, blob: bytes, field: str) -> None:
    error = _raises_parse(lambda: decode(blob))
    assert error.structure == "CoRIM"
    assert error.field == field, (case, str(error))


def test_profile_refuses_unknown_content() -> None:
    # unknown mkey in our profile: fail closed
    def add_unknown(comid: dict[Any, Any]) -> None:
        comid[4][0][0][1].append({0: "no_such_value", 1: {2: [[7, b"\x00" * 48]]}})

    error = _raises_parse(lambda: decode(_comid_with(add_unknown)))
    assert "no_such_value" in error.detail
    # two registers in one measurement-map would couple them: refused
    error = _raises_parse(lambda: decode(_comid_with(_set([*MEAS0, 1, 14, "rtmr0"], [[7, b"\x00" * 48]]))))
    assert "one register" in error.detail
    # an extra mval key the profile does not define here: refused, not ignored
    error = _raises_parse(lambda: decode(_comid_with(_set([*MEAS_XFAM, 1, 11], "name"))))
    assert "unexpected measurement values" in error.detail
    error = _raises_parse(lambda: decode(_corim_with(k2=[{0: cbor2.CBORTag(32, "https://x.example/rim")}])))
    assert error.field == "corim.dependent-rims"
    # endorsed triples are not part of this profile
    error = _raises_parse(lambda: decode(_comid_with(_set([4, 1], [[{0: {1: "x"}}, [{1: {11: "n"}}]]]))))
    assert "reference-triples only" in error.detail


def test_unknown_profile_is_refused() -> None:
    corim = c.decode_corim(_corim_with(k3=cbor2.CBORTag(32, "tag:example.com,2026:other")))
    with pytest.raises(VerificationError) as info:
        from_corim(corim)
    assert info.value.code == "refvalues_unknown_profile"


def test_bool_and_float_keys_are_not_integers() -> None:
    base = c.corim_map(to_corim(example_reference_values()))
    base[True] = base.pop(1)
    _raises_parse(lambda: decode(cbor2.dumps(cbor2.CBORTag(501, base))))


def test_cbor_type_predicates_refuse_bools() -> None:
    assert c.is_int(0) and c.is_int(-3)
    assert not c.is_int(True) and not c.is_int(1.0) and not c.is_int("1")
    assert c.is_label(7) and c.is_label("sha-384")
    assert not c.is_label(False) and not c.is_label(b"x") and not c.is_label(None)
    assert c.is_number(1) and c.is_number(1.5)
    assert not c.is_number(True) and not c.is_number("1")
