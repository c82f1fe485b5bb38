"""The reference-value model: matching rules, Measurement JSON, rollback protection."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.refvalues import (
    SHA256,
    SHA384,
    SHA512,
    Digest,
    Digests,
    Environment,
    FileSequenceStore,
    MemorySequenceStore,
    MinSvns,
    RawValue,
    ReferenceValue,
    check_sequence,
    decode,
    encode,
    example_reference_values,
    from_measurements,
)
from ccverify.verifier.refvalues.model import canonical_alg, digests_match
from ccverify.verifier.refvalues.profile import names

H32 = bytes(range(32))
H48 = bytes(range(48))
H64 = bytes(range(64))

TDX_DOC: dict[str, Any] = {
    "format": "ccverify-measurements/1",
    "platform": "tdx",
    "values": {
        "mrtd": "aa" * 48,
        "rtmr0": "b0" * 48,
        "rtmr1": "b1" * 48,
        "rtmr2": "b2" * 48,
        "rtmr3": "00" * 48,
        "mrseam": "5e" * 48,
        "mrsignerseam": "00" * 48,
        "xfam": "e718060000000000",
        "td_attributes": {"value": "0000001000000000", "mask": "ffffffff00000000"},
        "tee_tcb_svn": "07010300000000000000000000000000",
    },
    "components": {
        "firmware": {"sha384": "f1" * 48},
        "kernel": {"sha256": "c1" * 32, "authenticode-sha384": "a1" * 48},
        "cmdline": {"sha384": "d1" * 48, "text": "console=hvc0 root=/dev/vda1"},
        "initrd": {"sha384": "e1" * 48},
    },
    "parameters": {"memory": "2G"},
}

SNP_DOC: dict[str, Any] = {
    "format": "ccverify-measurements/1",
    "platform": "snp",
    "values": {
        "measurement": "ab" * 48,
        "host_data": "00" * 32,
        "id_key_digest": "11" * 48,
        "author_key_digest": "22" * 48,
        "policy": "0x30000",
        "reported_tcb": "0x1b00000000000304",
    },
    "components": {"kernel": {"sha256": "c1" * 32}},
    "parameters": {"vcpus": 4, "vcpu_type": "EPYC-Milan", "guest_features": "0x21"},
}


# --------------------------------------------------------------------------- digests


def test_digests_common_algorithms_must_all_match() -> None:
    ref = [Digest(SHA256, H32), Digest(SHA384, H48)]
    assert digests_match(ref, [Digest(SHA384, H48)])
    assert digests_match(ref, [Digest(SHA256, H32), Digest(SHA384, H48), Digest(SHA512, H64)])
    # anti-downgrade: sha-256 matches but sha-384 does not
    assert not digests_match(ref, [Digest(SHA256, H32), Digest(SHA384, bytes(48))])


def test_digests_no_common_algorithm_duplicate_or_empty() -> None:
    assert not digests_match([Digest(SHA256, H32)], [Digest(SHA384, H48)])
    assert not digests_match([Digest(SHA384, H48), Digest(SHA384, H48)], [Digest(SHA384, H48)])
    assert not digests_match([Digest(SHA384, H48)], [Digest(SHA384, H48), Digest(SHA384, bytes(48))])
    assert not digests_match([], [Digest(SHA384, H48)])
    assert not digests_match([Digest(SHA384, H48)], [])


def test_digests_text_and_int_ids_for_one_algorithm() -> None:
    assert digests_match([Digest("sha-384", H48)], [Digest(SHA384, H48)])
    assert not digests_match([Digest("sha-384", H48), Digest(SHA384, H48)], [Digest(SHA384, H48)])
    assert not digests_match([Digest("my-alg", b"x")], [Digest(SHA384, H48)])


def test_algorithm_ids_and_names() -> None:
    assert canonical_alg("SHA-384") == SHA384
    assert canonical_alg("sha512") == SHA512
    assert canonical_alg(SHA256) == SHA256
    assert canonical_alg("my-alg") == "my-alg"
    assert canonical_alg(99) == 99
    assert Digest(SHA384, H48).alg_name == "sha-384"
    assert Digest(99, b"x").alg_name == 99
    assert Digest("my-alg", b"x").alg_name == "my-alg"
    assert Digest(99, b"x").to_json() == {"alg": 99, "value": "78"}


def test_bare_bytes_take_the_algorithm_from_their_length() -> None:
    d = Digests((Digest(SHA384, H48),))
    assert d.accepts(H48)
    assert not d.accepts(H48[:-1] + b"\xff")
    assert not d.accepts(H32)  # sha-256 sized: no common algorithm
    assert not d.accepts(b"")


# --------------------------------------------------------------------------- raw, masked, svn


def test_raw_values() -> None:
    exact = RawValue(bytes.fromhex("0102"))
    assert exact.accepts(bytes.fromhex("0102"))
    assert not exact.accepts(bytes.fromhex("0103"))
    assert not exact.accepts(bytes.fromhex("010200"))
    masked = RawValue(bytes.fromhex("0100"), bytes.fromhex("0f00"))
    assert masked.accepts(bytes.fromhex("f1ff"))
    assert not masked.accepts(bytes.fromhex("f2ff"))
    assert not masked.accepts(bytes.fromhex("01"))
    assert not RawValue(b"\x01\x00", b"\xff").accepts(b"\x01\x00")  # a mask of the wrong length


def test_min_svns() -> None:
    minimum = MinSvns((2, 0, 5))
    assert minimum.accepts(bytes([2, 0, 5]))
    assert minimum.accepts(bytes([9, 9, 9]))
    assert not minimum.accepts(bytes([1, 9, 9]))
    assert not minimum.accepts(bytes([2, 0]))


def test_alternatives_and_unknown_names() -> None:
    rv = example_reference_values()
    assert rv.accepts("rtmr1", bytes.fromhex("22" * 48))
    assert rv.accepts("rtmr1", bytes.fromhex("23" * 48))
    assert not rv.accepts("rtmr1", bytes.fromhex("24" * 48))
    assert not rv.accepts("rtmr3", bytes(48))  # not listed: not accepted
    assert "mrtd" in rv
    assert rv.get("nothing") is None
    assert rv.environments == (Environment("Intel", "TDX"), Environment("Intel", "TDX", "kernel"))
    value = rv.get("kernel.authenticode")
    assert value is not None and value.environment.component == "kernel"


# --------------------------------------------------------------------------- Measurement JSON


def test_from_tdx_measurements() -> None:
    rv = from_measurements(TDX_DOC, id="tdx-1", sequence=4)
    assert rv.platform == "tdx"
    assert rv.sequence == 4
    assert rv.accepts("mrtd", bytes.fromhex("aa" * 48))
    assert rv.accepts("td_attributes", bytes.fromhex("0000001012345678"))
    assert not rv.accepts("td_attributes", bytes.fromhex("0100001000000000"))
    assert rv.accepts("tee_tcb_svn", bytes([7, 1, 4] + [0] * 13))
    assert not rv.accepts("tee_tcb_svn", bytes([6, 1, 4] + [0] * 13))
    kernel = rv.get("kernel.digest")
    assert kernel is not None
    assert kernel.alternatives == (Digests((Digest(SHA256, bytes.fromhex("c1" * 32)),)),)
    assert rv.accepts("kernel.authenticode", bytes.fromhex("a1" * 48))
    assert rv.accepts("cmdline.text", b"console=hvc0 root=/dev/vda1")
    assert set(rv.names) <= set(names("tdx"))
    assert decode(encode(rv)) == rv


def test_from_snp_measurements() -> None:
    rv = from_measurements(SNP_DOC, id="snp-1")
    assert rv.accepts("measurement", bytes.fromhex("ab" * 48))
    assert rv.accepts("policy", (0x30000).to_bytes(8, "little"))
    assert not rv.accepts("policy", (0x30001).to_bytes(8, "little"))
    # REPORTED_TCB as a u64: bl 4, tee 3, snp 0x1b ... compared byte by byte as minimums
    assert rv.accepts("reported_tcb", (0x1B00000000000304).to_bytes(8, "little"))
    assert rv.accepts("reported_tcb", (0x1C00000000000305).to_bytes(8, "little"))
    assert not rv.accepts("reported_tcb", (0x1A00000000000304).to_bytes(8, "little"))
    assert decode(encode(rv)) == rv


def test_several_measurements_become_alternatives() -> None:
    second = copy.deepcopy(TDX_DOC)
    second["values"]["rtmr1"] = "b9" * 48
    second["components"]["kernel"] = {"sha256": "c9" * 32, "authenticode-sha384": "a9" * 48}
    rv = from_measurements([TDX_DOC, second, TDX_DOC], id="rollout")
    rtmr1 = rv.get("rtmr1")
    mrtd = rv.get("mrtd")
    assert rtmr1 is not None and len(rtmr1.alternatives) == 2
    assert mrtd is not None and len(mrtd.alternatives) == 1  # identical values are not repeated
    assert rv.accepts("rtmr1", bytes.fromhex("b9" * 48)) and rv.accepts("rtmr1", bytes.fromhex("b1" * 48))
    assert decode(encode(rv)) == rv


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other/1"), "format"),
        (lambda d: d.update(platform="sgx"), "platform"),
        (lambda d: d["values"].update(mrtd="aa" * 47), "48 bytes"),
        (lambda d: d["values"].update(mrtd="zz"), "not hex"),
        (lambda d: d["values"].update(mrtd=5), "hex string"),
        (lambda d: d["values"].update(measurement="00" * 48), "not a tdx reference value"),
        (lambda d: d["values"].update(xfam="0x1" + "0" * 17), "does not fit"),
        (lambda d: d["values"].update(td_attributes={"value": "00" * 8, "extra": 1}), "expected"),
        (lambda d: d["components"].update(bootloader={"sha384": "00" * 48}), "unknown boot component"),
        (lambda d: d["components"]["kernel"].update(md5="00" * 16), "unknown digest"),
        (lambda d: d["components"]["kernel"].update(text="x"), "only the cmdline"),
        (lambda d: d["components"]["kernel"].update(sha256="00" * 31), "32 bytes"),
        (lambda d: d.update(values=[], components={}), "values must be an object"),
        (lambda d: d.update(values={}, components={}), "no values"),
    ],
)
def test_measurement_json_errors(change: Any, message: str) -> None:
    doc = copy.deepcopy(TDX_DOC)
    change(doc)
    with pytest.raises(InputError, match=message):
        from_measurements(doc, id="x")


def test_platforms_cannot_be_mixed() -> None:
    with pytest.raises(InputError, match="different platforms"):
        from_measurements([TDX_DOC, SNP_DOC], id="x")
    with pytest.raises(InputError):
        from_measurements([], id="x")


def test_encode_refuses_what_the_profile_cannot_carry() -> None:
    rv = example_reference_values()
    bad = ReferenceValue("mrtd", Environment("Intel", "TDX"), (RawValue(b"\x00" * 48),))
    with pytest.raises(InputError):
        encode(type(rv)(**{**rv.__dict__, "values": (bad,), "environments": ()}))
    odd = ReferenceValue("measurement", Environment("Intel", "TDX"), (Digests((Digest(SHA384, H48),)),))
    with pytest.raises(InputError):
        encode(type(rv)(**{**rv.__dict__, "values": (odd,), "environments": ()}))


# --------------------------------------------------------------------------- rollback


def test_memory_sequence_store() -> None:
    store = MemorySequenceStore()
    rv = example_reference_values()
    check_sequence(store, rv)
    assert store.last(rv.id) == rv.sequence
    check_sequence(store, rv)  # the same sequence again is fine
    newer = type(rv)(**{**rv.__dict__, "sequence": rv.sequence + 5})
    check_sequence(store, newer)
    with pytest.raises(VerificationError) as info:
        check_sequence(store, rv)
    assert info.value.code == "refvalues_rollback"
    assert store.last(rv.id) == rv.sequence + 5


def test_file_sequence_store(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sequences.json"
    store = FileSequenceStore(path)
    assert store.last("a") is None
    store.record("a", 3)
    store.record("b", 1)
    store.record("a", 2)  # never goes down
    assert json.loads(path.read_text()) == {"a": 3, "b": 1}
    assert FileSequenceStore(path).last("a") == 3
    path.write_text("[1, 2]")
    with pytest.raises(InputError):
        store.last("a")
    path.write_text("{not json")
    with pytest.raises(InputError):
        store.last("a")


@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"id": ' + "9" * 5000 + "}", "\xff", "{"], ids=repr
)
def test_a_sequence_store_that_is_not_json_is_an_input_error(tmp_path: Path, text: str) -> None:
    """Deep nesting (RecursionError) and an integer over int()'s digit limit (ValueError) escaped
    from json.loads; every unreadable store is an InputError naming the file."""
    from ccverify.verifier.refvalues import FileSequenceStore

    path = tmp_path / "store.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape") if text != "\xff" else b"\xff")
    with pytest.raises(InputError, match="sequence store"):
        FileSequenceStore(path).last("any")


def test_authenticode_reads_in_both_spellings() -> None:
    """measure writes ``authenticode_sha384`` (snake_case); ``authenticode-sha384``, the earlier
    spelling (the shipped sample's measurement files), reads to the same reference values."""
    import copy

    new = copy.deepcopy(TDX_DOC)
    new["components"]["kernel"] = {"sha256": "c1" * 32, "authenticode_sha384": "a1" * 48}
    assert from_measurements(new, id="x") == from_measurements(TDX_DOC, id="x")
    names = {value.name for value in from_measurements(new, id="x").values}
    assert "kernel.authenticode" in names
