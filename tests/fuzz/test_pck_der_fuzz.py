"""The SGX extension parser on verifier/der.py against the pyasn1 parser it replaced (the oracle).

``verifier/tdx/pck.py`` parsed the extension with pyasn1's DER decoder until the guest's boot
budget made it read DER itself. The old implementation is kept here, unchanged but for noting
what it let through, as the reference:

* valid extensions built with ``verifier/testing/sgx_ext.py`` (random SVNs 0..255, optional
  entries present or absent, INTEGER/ENUMERATED swapped where the old parser took either,
  entries in any order): both give the same ``PckExtensions``;
* mutated encodings (bytes flipped, inserted, deleted; and, still DER, elements retagged,
  replaced, dropped, duplicated, swapped, wrapped): the new parser returns exactly what the oracle
  returns, or raises ``pck_extension_invalid``; where it accepts, the oracle accepts the same
  value (it may be stricter, never looser). Where both refuse well-formed DER for its content
  they say the same thing.

Where the new parser refuses what the oracle accepted, the input must be one of the intended
tightenings, and the test checks which: not DER (pyasn1's decoder is lax: long-form or
zero-padded lengths, non-minimal or empty INTEGERs, the high-tag-number form; a DER encoder,
pyasn1's with INTEGERs from ``tests/der_encoding.py``, re-encodes such input differently), or a
value without the universal tag the grammar names (old code checked ``isinstance``: a string
type passed for an OCTET STRING, a BOOLEAN for an INTEGER, and an explicit tag around anything
was looked through), or, in an entry both skip
(an unknown OID under the SGX arc), a type the reader has no rules for (pyasn1 decoded any type
it knew there), or a Configuration flag named twice (the old parser let the last one win).
``TIGHTER`` lists one of each; the reader's bound on the elements of a SEQUENCE (``MAX_ITEMS``)
is the other difference (a skipped entry holding a longer SEQUENCE; a Configuration that long
repeats a flag anyway).

Found while writing this: pyasn1 decodes a constructed BOOLEAN (0x21; DER says primitive), and
an empty SEQUENCE as None, so the old parser refused valid DER with an empty SEQUENCE anywhere;
the new one keeps that refusal where it could otherwise accept (an empty Configuration, an empty
SEQUENCE in a skipped entry).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char, tag, univ

from ccverify.verifier import der
from ccverify.verifier.errors import Code, VerificationError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.tdx.pck import (
    PckExtensions,
    PckTcb,
    PlatformConfiguration,
    SgxType,
    parse_sgx_extension_value,
)
from ccverify.verifier.testing.sgx_ext import (
    CACHED_KEYS_OID,
    CONFIGURATION_OID,
    CPUSVN_OID,
    DYNAMIC_PLATFORM_OID,
    FMSPC_OID,
    PCEID_OID,
    PCESVN_OID,
    PPID_OID,
    SGX_EXTENSION_OID,
    SGX_TYPE_OID,
    TCB_OID,
    SgxConfiguration,
    SgxExtension,
    encode_sgx_items,
    sgx_extension_items,
    tcb_component_oid,
    tcb_items,
)
from tests import der_encoding
from tests.conftest import fixture

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- the oracle: the pyasn1 implementation verifier/tdx/pck.py had, noting what it looked through --

_PREFIX = SGX_EXTENSION_OID + "."
NOT_DER = "not DER (a DER encoder re-encodes it differently)"
WRONG_FORM = "not DER (a universal type in the wrong form)"
SKIPPED = "an entry the parser skips holds what its validate() refuses"
TWICE = "a Configuration flag named twice"


class _OracleError(Exception):
    pass


@dataclass
class Oracle:
    """One run of the old parser: ``value`` or the ``message`` it refused with; ``tree`` is
    pyasn1's decoding (None if it did not decode), ``lax`` the values it accepted by class
    although they did not carry the universal tag the grammar names."""

    value: PckExtensions | None = None
    message: str = ""
    tree: Any = None
    lax: list[str] = field(default_factory=list)

    def note(self, value: Any, name: str, *types: Any) -> None:
        # by class and tags: schemaless pyasn1 decodes ENUMERATED as an Integer with its own tags
        if type(value) not in types or value.tagSet not in [kind.tagSet for kind in types]:
            self.lax.append(f"{name}: {type(value).__name__} {value.tagSet!r}")
        # pyasn1's tags compare equal whatever their form, and its decoder takes a constructed
        # BOOLEAN (0x21), which DER forbids and its encoder writes back as it found it
        elif value.tagSet[0].tagFormat != type(value).tagSet[0].tagFormat:
            self.lax.append(f"{WRONG_FORM}: {name}")


def _fail(detail: str) -> _OracleError:
    return _OracleError(f"PCK certificate SGX extension: {detail}")


def oracle(der_bytes: bytes) -> Oracle:
    run = Oracle()
    try:
        run.value = _old_parse(der_bytes, run)
    except _OracleError as error:
        run.message = str(error)
    except Exception as error:
        reason = f" ({error})" if isinstance(error, PyAsn1Error) and str(error) else ""
        run.message = f"PCK certificate SGX extension: not valid DER{reason}"
    return run


def _old_pairs(run: Oracle, value: Any, where: str) -> list[tuple[str, Any]]:
    if not isinstance(value, (univ.SequenceOf, univ.Sequence)):
        raise _fail(f"{where} is not a SEQUENCE")
    run.note(value, where, univ.SequenceOf, univ.Sequence)
    pairs: list[tuple[str, Any]] = []
    for item in value:
        if not isinstance(item, (univ.SequenceOf, univ.Sequence)) or len(item) != 2:
            raise _fail(f"{where}: an entry is not SEQUENCE{{OID, value}}")
        run.note(item, f"{where} entry", univ.SequenceOf, univ.Sequence)
        oid = item[0]
        if not isinstance(oid, univ.ObjectIdentifier):
            raise _fail(f"{where}: an entry does not start with an OID")
        run.note(oid, f"{where} OID", univ.ObjectIdentifier)
        pairs.append((str(oid), item[1]))
    return pairs


def _old_octets(run: Oracle, value: Any, name: str, size: int | None) -> bytes:
    if not isinstance(value, univ.OctetString):
        raise _fail(f"{name} is not an OCTET STRING")
    run.note(value, name, univ.OctetString)
    data = bytes(value)
    if size is not None and len(data) != size:
        raise _fail(f"{name} is {len(data)} bytes, expected {size}")
    return data


def _old_integer(run: Oracle, value: Any, name: str) -> int:
    if not isinstance(value, univ.Integer):
        raise _fail(f"{name} is not an INTEGER")
    run.note(value, name, univ.Integer, univ.Enumerated)
    number = int(value)
    if number < 0:
        raise _fail(f"{name} is negative ({number})")
    return number


def _old_boolean(run: Oracle, value: Any, name: str) -> bool:
    if not isinstance(value, univ.Boolean):
        raise _fail(f"{name} is not a BOOLEAN")
    run.note(value, name, univ.Boolean)
    return bool(value)


def _old_parse(der_bytes: bytes, run: Oracle) -> PckExtensions:
    try:
        value, rest = decoder.decode(der_bytes)
    except (PyAsn1Error, ValueError, TypeError) as error:
        raise _fail(f"not valid DER ({error})") from None
    run.tree = value
    if rest:
        raise _fail(f"{len(rest)} bytes after the extension value")
    entries: dict[str, Any] = {}
    for oid, item in _old_pairs(run, value, "extension"):
        if not oid.startswith(_PREFIX):
            raise _fail(f"unexpected OID {oid}")
        suffix = oid[len(_PREFIX) :]
        if suffix in entries:
            raise _fail(f"OID {oid} appears twice")
        entries[suffix] = item
    for needed, name in (("1", "PPID"), ("2", "TCB"), ("3", "PCE-ID"), ("4", "FMSPC"), ("5", "SGX Type")):
        if needed not in entries:
            raise _fail(f"{name} ({_PREFIX}{needed}) is missing")
    for suffix, item in entries.items():  # (not in the old code: notes only)
        if suffix not in "1234567" or len(suffix) != 1:
            _note_skipped(run, _PREFIX + suffix, item)
    tcb = _old_tcb(run, entries["2"])
    sgx_type_raw = _old_integer(run, entries["5"], "SGX Type")
    try:
        sgx_type: SgxType | int = SgxType(sgx_type_raw)
    except ValueError:
        sgx_type = sgx_type_raw
    piid = _old_octets(run, entries["6"], "PlatformInstanceID", 16) if "6" in entries else None
    configuration = _old_configuration(run, entries["7"]) if "7" in entries else None
    return PckExtensions(
        ppid=_old_octets(run, entries["1"], "PPID", 16),
        tcb=tcb,
        pce_id=_old_octets(run, entries["3"], "PCE-ID", 2),
        fmspc=_old_octets(run, entries["4"], "FMSPC", 6),
        sgx_type=sgx_type,
        platform_instance_id=piid,
        configuration=configuration,
    )


#: what the new parser's ``Element.validate`` checks in an entry it skips (class: form)
_CHECKED = {
    univ.SequenceOf: tag.tagFormatConstructed,
    univ.Sequence: tag.tagFormatConstructed,
    univ.Integer: tag.tagFormatSimple,
    univ.Enumerated: tag.tagFormatSimple,
    univ.Boolean: tag.tagFormatSimple,
    univ.OctetString: tag.tagFormatSimple,
    univ.Null: tag.tagFormatSimple,
    univ.ObjectIdentifier: tag.tagFormatSimple,
}


def _note_skipped(run: Oracle, oid: str, value: Any) -> None:
    """Note what, in an entry the old parser skipped, the new one's ``validate`` refuses although
    pyasn1 decoded it: a type outside ``_CHECKED`` (or tagged, or in the wrong form), an OID
    longer than ``der.MAX_OID_LENGTH``, nesting beyond ``der.MAX_DEPTH``, more than
    ``der.MAX_ITEMS`` elements in a SEQUENCE."""
    stack = [(value, 2)]  # the extension is depth 0, an entry 1, its value 2
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        allowed = (
            [kinds.tagSet for kinds in (univ.Integer, univ.Enumerated)]
            if kind is univ.Integer
            else [kind.tagSet]
        )
        if kind not in _CHECKED or node.tagSet not in allowed or node.tagSet[0].tagFormat != _CHECKED[kind]:
            run.lax.append(f"{SKIPPED}: {oid} holds {kind.__name__} {node.tagSet!r}")
        elif depth > der.MAX_DEPTH:
            run.lax.append(f"{SKIPPED}: {oid} nests deeper than {der.MAX_DEPTH}")
        elif kind is univ.ObjectIdentifier and len(encoder.encode(node)) - 2 > der.MAX_OID_LENGTH:
            run.lax.append(f"{SKIPPED}: {oid} holds an OID longer than {der.MAX_OID_LENGTH} octets")
        elif kind in (univ.SequenceOf, univ.Sequence):
            if len(node) > der.MAX_ITEMS:
                run.lax.append(f"{SKIPPED}: {oid} holds a SEQUENCE of more than {der.MAX_ITEMS}")
            stack.extend((node[i], depth + 1) for i in range(len(node)))  # (a Sequence iterates names)


def _old_tcb(run: Oracle, value: Any) -> PckTcb:
    prefix = "2."
    comps: dict[int, int] = {}
    pcesvn: int | None = None
    cpusvn: bytes | None = None
    pairs = _old_pairs(run, value, "TCB")
    if len(pairs) != 18:
        raise _fail(f"TCB has {len(pairs)} entries, expected 18")
    for oid, item in pairs:
        suffix = oid[len(_PREFIX) :] if oid.startswith(_PREFIX) else ""
        if not suffix.startswith(prefix) or not suffix[len(prefix) :].isdigit():
            raise _fail(f"unexpected OID {oid} in TCB")
        index = int(suffix[len(prefix) :])
        if 1 <= index <= 16:
            if index in comps:
                raise _fail(f"TCB component {index} appears twice")
            comps[index] = _old_integer(run, item, f"TCB component {index}")
        elif index == 17:
            pcesvn = _old_integer(run, item, "PCESVN")
        elif index == 18:
            cpusvn = _old_octets(run, item, "CPUSVN", 16)
        else:
            raise _fail(f"unexpected OID {oid} in TCB")
    if len(comps) != 16 or pcesvn is None or cpusvn is None:
        raise _fail("TCB lacks a component SVN, the PCESVN or the CPUSVN")
    return PckTcb(sgx_components=tuple(comps[i] for i in range(1, 17)), pcesvn=pcesvn, cpusvn=cpusvn)


_CONFIGURATION_FIELDS = {"7.1": "dynamic_platform", "7.2": "cached_keys", "7.3": "smt_enabled"}


def _old_configuration(run: Oracle, value: Any) -> PlatformConfiguration:
    found: dict[str, bool] = {}
    for oid, item in _old_pairs(run, value, "Configuration"):
        suffix = oid[len(_PREFIX) :] if oid.startswith(_PREFIX) else ""
        name = _CONFIGURATION_FIELDS.get(suffix)
        if name is None:
            raise _fail(f"unexpected OID {oid} in Configuration")
        if name in found:  # the old parser let the last one win; the new one refuses
            run.lax.append(f"{TWICE}: {name}")
        found[name] = _old_boolean(run, item, name)
    return PlatformConfiguration(
        dynamic_platform=found.get("dynamic_platform"),
        cached_keys=found.get("cached_keys"),
        smt_enabled=found.get("smt_enabled"),
    )


# -- the comparison ----------------------------------------------------------------------------------


def why_tighter(run: Oracle, data: bytes) -> list[str]:
    """Why the oracle's acceptance of ``data`` is one the new parser may refuse (empty: none)."""
    reasons = list(run.lax)
    if der_encoding.encode(run.tree) != data:
        reasons.append(NOT_DER)
    return reasons


def _new(data: bytes) -> tuple[PckExtensions | None, str]:
    try:
        return parse_sgx_extension_value(data), ""
    except VerificationError as error:
        assert error.code == Code.PCK_EXTENSION_INVALID
        return None, error.detail


def _same(new: PckExtensions, old: PckExtensions) -> None:
    assert new == old
    assert type(new.sgx_type) is type(old.sgx_type)


#: refusals for the DER, whose words differ (pyasn1's, the reader's) and which may come before
#: or after a refusal for the content: the old parser decoded everything first, the new one reads
#: as it goes
_DER_LEVEL = ("not valid DER", "is not DER it can check")
#: where pyasn1's schemaless decoding picked SequenceOf or Sequence by the elements' types (and a
#: Sequence iterates its field names): the old parser could say "an entry is not SEQUENCE{OID,
#: value}" of an entry whose fault was not starting with an OID
_ENTRY_SHAPE = ("an entry is not SEQUENCE{OID, value}", "an entry does not start with an OID")


def compare(data: bytes) -> str:
    """Both parsers on ``data``; the outcome: ``same`` (equal value), ``refused`` (both refuse) or
    ``tighter`` (only the oracle accepts, for a reason ``why_tighter`` names)."""
    new, new_message = _new(data)
    run = oracle(data)
    if new is not None:
        assert run.value is not None, f"the new parser accepts what the oracle refused: {run.message}"
        _same(new, run.value)
        assert not why_tighter(run, data), "accepted although not DER or not its own universal tag"
        return "same"
    if run.value is not None:
        assert why_tighter(run, data), f"refused valid DER the oracle accepts: {new_message}"
        return "tighter"
    if run.lax or any(words in message for words in _DER_LEVEL for message in (new_message, run.message)):
        return "refused"
    if all(any(words in message for words in _ENTRY_SHAPE) for message in (new_message, run.message)):
        return "refused"
    if run.tree is None or "is an empty SEQUENCE" in new_message:  # pyasn1: an empty SEQUENCE is None
        return "refused"
    assert new_message == run.message
    return "refused"


# -- valid extensions -----------------------------------------------------------------------------------

_SVN = st.integers(min_value=0, max_value=255)


@st.composite
def extensions(draw: st.DrawFn) -> SgxExtension:
    config = draw(st.none() | st.builds(SgxConfiguration, st.booleans(), st.booleans(), st.booleans()))
    return SgxExtension(
        ppid=draw(st.binary(min_size=16, max_size=16)),
        tcb_components=tuple(draw(st.lists(_SVN, min_size=16, max_size=16))),
        pcesvn=draw(_SVN),
        cpusvn=draw(st.none() | st.binary(min_size=16, max_size=16)),
        pce_id=draw(st.binary(min_size=2, max_size=2)),
        fmspc=draw(st.binary(min_size=6, max_size=6)),
        sgx_type=draw(st.integers(min_value=0, max_value=3) | _SVN),
        platform_instance_id=draw(st.none() | st.binary(min_size=16, max_size=16)),
        configuration=config,
    )


@st.composite
def encodings(draw: st.DrawFn) -> tuple[SgxExtension, bytes]:
    """A valid encoding of a random extension: some INTEGERs as ENUMERATED and the SGX Type as an
    INTEGER (the old parser took either), the entries of both levels in any order."""
    ext = draw(extensions())
    tcb = []
    for oid, value in tcb_items(ext):
        if isinstance(value, univ.Integer) and draw(st.booleans()):
            value = univ.Enumerated(int(value))
        tcb.append((oid, value))
    tcb = draw(st.permutations(tcb))
    items = []
    for oid, value in sgx_extension_items(ext, tcb=tcb):
        if oid == SGX_TYPE_OID and draw(st.booleans()):
            value = univ.Integer(int(value))
        items.append((oid, value))
    return ext, encode_sgx_items(draw(st.permutations(items)))


def _expected(ext: SgxExtension) -> PckExtensions:
    config = ext.configuration
    try:
        sgx_type: SgxType | int = SgxType(ext.sgx_type)
    except ValueError:
        sgx_type = ext.sgx_type
    return PckExtensions(
        ppid=ext.ppid,
        tcb=PckTcb(ext.tcb_components, ext.pcesvn, ext.effective_cpusvn),
        pce_id=ext.pce_id,
        fmspc=ext.fmspc,
        sgx_type=sgx_type,
        platform_instance_id=ext.platform_instance_id,
        configuration=None
        if config is None
        else PlatformConfiguration(config.dynamic_platform, config.cached_keys, config.smt_enabled),
    )


@FUZZ
@given(encodings())
def test_valid_extensions_give_equal_results(built: tuple[SgxExtension, bytes]) -> None:
    ext, data = built
    assert compare(data) == "same"
    new = parse_sgx_extension_value(data)
    _same(new, _expected(ext))


_TDX_SAMPLES = (
    "dcap-qvl/tdx_quote",
    "dcap-qvl/near_gas_test_quote_hex.txt",
    "go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
    "go-tdx-guest/quote_v5_sample.dat",
    "trustee/tdx_quote_4.dat",
    "trustee/tdx_quote_6.dat",
)


def _real_extension(name: str) -> bytes:
    data = fixture("tdx/" + name).read_bytes()
    if name.endswith("_hex.txt"):
        data = bytes.fromhex(b"".join(data.split()).decode().removeprefix("0x"))
    leaf = TdxQuote.from_bytes(data).pck_chain_certificates()[0]
    value = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID)).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


REAL = {name: _real_extension(name) for name in _TDX_SAMPLES}
_PROCESSOR_CA_LEAF = x509.load_pem_x509_certificate(
    fixture("tdx/intel-qvl-synthetic/pckCert.pem").read_bytes()
)
_PROCESSOR_CA_VALUE = _PROCESSOR_CA_LEAF.extensions.get_extension_for_oid(
    x509.ObjectIdentifier(SGX_EXTENSION_OID)
).value
assert isinstance(_PROCESSOR_CA_VALUE, x509.UnrecognizedExtension)
REAL["intel-qvl-synthetic/pckCert.pem"] = _PROCESSOR_CA_VALUE.value


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_extensions_give_equal_results(name: str) -> None:
    assert compare(REAL[name]) == "same"


# -- mutated encodings -------------------------------------------------------------------------------

#: bytes that matter to a DER reader: tags, forms, length forms, INTEGER/BOOLEAN edges
_ASN1_BYTES = st.sampled_from([0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0A, 0x1F, 0x30, 0x31, 0x7F, 0x80, 0x81])
_BYTE = st.one_of(_ASN1_BYTES, st.sampled_from([0x82, 0xA0, 0xFF]), st.integers(min_value=0, max_value=255))


@st.composite
def _mutation(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    kind = draw(st.sampled_from(["set", "flip", "insert", "delete"]))
    where = draw(st.integers(min_value=0))
    value = draw(_BYTE)
    bit = draw(st.integers(min_value=0, max_value=7))
    size = draw(st.integers(min_value=1, max_value=4))

    def apply(data: bytes) -> bytes:
        at = where % (len(data) + 1)
        if kind == "insert":
            return data[:at] + bytes([value]) * size + data[at:]
        if kind == "delete":
            return data[:at] + data[at + size :]
        at = min(at, len(data) - 1)
        new = value if kind == "set" else data[at] ^ (1 << bit)
        return data[:at] + bytes([new]) + data[at + 1 :]

    return apply


@FUZZ
@given(encodings(), st.lists(_mutation(), min_size=1, max_size=3))
def test_mutated_built_extensions(built: tuple[SgxExtension, bytes], mutations: list[Any]) -> None:
    data = built[1]
    for mutate in mutations:
        data = mutate(data)
    compare(data)


@FUZZ
@given(st.sampled_from(sorted(REAL)), st.lists(_mutation(), min_size=1, max_size=3))
def test_mutated_real_extensions(name: str, mutations: list[Any]) -> None:
    data = REAL[name]
    for mutate in mutations:
        data = mutate(data)
    compare(data)


def test_every_single_byte_change_of_a_real_extension() -> None:
    """Deterministic: at every position of a real extension, a few values, a deletion, insertions."""
    raw = REAL["dcap-qvl/tdx_quote"]
    outcomes: dict[str, int] = {}
    for at in range(len(raw)):
        variants = [raw[:at] + raw[at + 1 :]]
        variants += [raw[:at] + bytes([b]) + raw[at + 1 :] for b in (0x00, 0x80, 0xFF, raw[at] ^ 1)]
        variants += [raw[:at] + bytes([b]) + raw[at:] for b in (0x00, 0x81)]
        for variant in variants:
            outcome = compare(variant)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes["same"] and outcomes["refused"]


def _tlv(tag_octet: int, content: bytes, *, length: bytes | None = None) -> bytes:
    """A TLV with the minimal length, or the given length octets (to write non-DER lengths)."""
    if length is None:
        size = len(content)
        if size < 0x80:
            length = bytes([size])
        else:
            octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
            length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag_octet]) + length + content


def _enc(value: Any) -> bytes:
    return der_encoding.encode(value)


# -- structural mutations: still DER, other tags, values, entries ------------------------------------------
#
# Flipped bytes mostly break the DER, so both parsers refuse at the first length. These keep the
# input DER (re-encoded with minimal lengths) and change what is in it, so the checks after the
# decoding meet other tags, values and entry lists.

Node = tuple[int, "bytes | list[Node]"]


def _tree(element: der.Element) -> Node:
    if element.tag in (der.SEQUENCE, der.SET) or element.tag & 0xE0 == 0xA0:
        return element.tag, [_tree(child) for child in element.children()]
    return element.tag, element.content


def _encode(node: Node) -> bytes:
    tag_octet, body = node
    return _tlv(tag_octet, body if isinstance(body, bytes) else b"".join(map(_encode, body)))


def _nodes(node: Node) -> list[Node]:
    found = [node]
    if isinstance(node[1], list):
        for child in node[1]:
            found += _nodes(child)
    return found


_TAGS = st.sampled_from([0x01, 0x02, 0x04, 0x05, 0x06, 0x0A, 0x0C, 0x13, 0x30, 0x31, 0xA0, 0x80, 0x21])
_CONTENT = st.one_of(
    st.binary(max_size=20),
    st.integers(min_value=-300, max_value=2**70).map(lambda n: _enc(univ.Integer(n))[2:]),
    st.sampled_from([b"\x00", b"\xff", b"\x01", _enc(univ.ObjectIdentifier(TCB_OID + ".3"))[2:]]),
)


@st.composite
def _structural(draw: st.DrawFn) -> bytes:
    _, data = draw(encodings())
    root = _tree(der.parse(data))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(_nodes(root)))
        parents = [node for node in _nodes(root) if isinstance(node[1], list)]
        children = draw(st.sampled_from(parents))[1] if parents else []
        assert isinstance(children, list)
        kind = draw(st.sampled_from(["retag", "content", "delete", "duplicate", "swap", "wrap", "oid"]))
        if kind == "retag":
            replacement: Node = (draw(_TAGS), target[1])
        elif kind == "content":
            replacement = (target[0], draw(_CONTENT))
        elif kind == "wrap":
            replacement = (draw(st.sampled_from([0x30, 0xA0])), [target])
        elif kind == "oid":  # another arc under the SGX extension's
            arcs = draw(st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=3))
            replacement = (
                der.OID,
                _enc(univ.ObjectIdentifier(".".join([SGX_EXTENSION_OID, *map(str, arcs)])))[2:],
            )
        else:
            replacement = target
        if kind in ("delete", "duplicate", "swap"):
            if children:
                at = draw(st.integers(min_value=0, max_value=len(children) - 1))
                if kind == "delete":
                    del children[at]
                elif kind == "duplicate":
                    children.insert(at, children[at])
                else:
                    other = draw(st.integers(min_value=0, max_value=len(children) - 1))
                    children[at], children[other] = children[other], children[at]
            continue
        if target is root:
            root = replacement
            continue
        for node in _nodes(root):
            if isinstance(node[1], list):
                node[1][:] = [replacement if child is target else child for child in node[1]]
    return _encode(root)


@FUZZ
@given(_structural())
def test_structural_mutations(data: bytes) -> None:
    compare(data)


# -- the tightenings, one of each kind ---------------------------------------------------------------------


def _pair(oid: str, value: bytes) -> bytes:
    return _tlv(0x30, _enc(univ.ObjectIdentifier(oid)) + value)


_EXT = SgxExtension(tcb_components=tuple(range(1, 17)), pcesvn=9, configuration=SgxConfiguration())


def _tcb(replace: dict[str, bytes]) -> bytes:
    """The TCB entry's SEQUENCE with the value of each OID in ``replace`` swapped for raw bytes."""
    return _tlv(0x30, b"".join(_pair(oid, replace.get(oid, _enc(value))) for oid, value in tcb_items(_EXT)))


def _raw(replace: dict[str, bytes]) -> bytes:
    """The extension's DER with the value of each OID in ``replace`` swapped for raw bytes."""
    items = b""
    for oid, value in sgx_extension_items(_EXT):
        default = _tcb(replace) if oid == TCB_OID else _enc(value)
        items += _pair(oid, replace.get(oid, default))
    return _tlv(0x30, items)


def _explicit(value: bytes) -> bytes:
    """``[0] EXPLICIT`` around an encoded value."""
    return _tlv(0xA0, value)


def _skipped(value: bytes, suffix: str = "8") -> bytes:
    """The default extension with one more entry, which both parsers skip (OID .8 by default)."""
    whole = der.parse(_raw({}))
    return _tlv(0x30, whole.content + _pair(f"{SGX_EXTENSION_OID}.{suffix}", value))


_TCB_CONTENT = der.parse(_tcb({})).content
_TCB_SIZE = len(_TCB_CONTENT).to_bytes(4, "big")
_CONFIG = _tlv(
    0x30, b"".join(_pair(oid, bytes.fromhex("0101ff")) for oid in (DYNAMIC_PLATFORM_OID, CACHED_KEYS_OID))
)
_COMPONENT_1 = tcb_component_oid(1)
_CONFIG_TWICE = _tlv(
    0x30, _pair(CACHED_KEYS_OID, bytes.fromhex("0101ff")) + _pair(CACHED_KEYS_OID, bytes.fromhex("010100"))
)

#: (name, input, the kind of reason ``why_tighter`` must give: NOT_DER or the lax value's name)
TIGHTER: list[tuple[str, bytes, str]] = [
    ("long-form length below 128", _raw({PPID_OID: _tlv(0x04, bytes(16), length=b"\x81\x10")}), NOT_DER),
    ("zero-padded length", _raw({FMSPC_OID: _tlv(0x04, bytes(6), length=b"\x82\x00\x06")}), NOT_DER),
    ("4-octet length", _raw({TCB_OID: _tlv(0x30, _TCB_CONTENT, length=b"\x84" + _TCB_SIZE)}), NOT_DER),
    ("non-minimal INTEGER", _raw({_COMPONENT_1: bytes.fromhex("02020001")}), NOT_DER),
    ("non-minimal ENUMERATED", _raw({SGX_TYPE_OID: bytes.fromhex("0a020001")}), NOT_DER),
    ("empty INTEGER (pyasn1: 0)", _raw({_COMPONENT_1: bytes.fromhex("0200")}), NOT_DER),
    ("empty ENUMERATED", _raw({SGX_TYPE_OID: bytes.fromhex("0a00")}), NOT_DER),
    ("high-tag-number INTEGER", _raw({PCESVN_OID: bytes.fromhex("1f020109")}), NOT_DER),
    ("high-tag-number OCTET STRING", _raw({CPUSVN_OID: b"\x1f\x04\x10" + bytes(16)}), NOT_DER),
    (
        "constructed BOOLEAN",
        _raw({CONFIGURATION_OID: _tlv(0x30, _pair(CACHED_KEYS_OID, bytes.fromhex("2101ff")))}),
        WRONG_FORM,
    ),
    ("UTF8String for PPID", _raw({PPID_OID: _enc(char.UTF8String("0123456789abcdef"))}), "PPID"),
    ("PrintableString for FMSPC", _raw({FMSPC_OID: _enc(char.PrintableString("abcdef"))}), "FMSPC"),
    ("IA5String for CPUSVN", _raw({CPUSVN_OID: _enc(char.IA5String("x" * 16))}), "CPUSVN"),
    ("BOOLEAN for a TCB component", _raw({_COMPONENT_1: _enc(univ.Boolean(True))}), "TCB component 1"),
    ("BOOLEAN for the SGX Type", _raw({SGX_TYPE_OID: _enc(univ.Boolean(False))}), "SGX Type"),
    ("[0] around a TCB component", _raw({_COMPONENT_1: _explicit(_enc(univ.Integer(1)))}), "TCB component 1"),
    ("[0] around PCE-ID", _raw({PCEID_OID: _explicit(_enc(univ.OctetString(bytes(2))))}), "PCE-ID"),
    (
        "[0] around a BOOLEAN",
        _raw(
            {CONFIGURATION_OID: _tlv(0x30, _pair(DYNAMIC_PLATFORM_OID, _explicit(bytes.fromhex("0101ff"))))}
        ),
        "dynamic_platform",
    ),
    ("[0] around the whole extension", _explicit(_raw({})), "extension"),
    ("[0] around the TCB", _raw({TCB_OID: _explicit(_tcb({}))}), "TCB"),
    ("UTF8String in a skipped entry", _skipped(_enc(char.UTF8String("x"))), SKIPPED),
    ("SET in a skipped entry", _skipped(_tlv(0x30, _tlv(0x31, _enc(univ.Integer(1))))), SKIPPED),
    ("[0] in a skipped entry", _skipped(_explicit(_enc(univ.Integer(1)))), SKIPPED),
    ("BIT STRING in a skipped entry", _skipped(bytes.fromhex("03020780")), SKIPPED),
    # what pyasn1's own encoder writes for -128, which its re-encoding would not tell from DER
    ("INTEGER -128 as ff80 in a skipped entry", _skipped(bytes.fromhex("0202ff80")), NOT_DER),
    ("a Configuration flag twice", _raw({CONFIGURATION_OID: _CONFIG_TWICE}), TWICE),
]


@pytest.mark.parametrize(("data", "kind"), [case[1:] for case in TIGHTER], ids=[case[0] for case in TIGHTER])
def test_tighter_than_the_oracle_only_where_intended(data: bytes, kind: str) -> None:
    run = oracle(data)
    assert run.value is not None, run.message
    assert compare(data) == "tighter"
    reasons = why_tighter(run, data)
    assert any(reason == kind or reason.startswith(kind + ":") for reason in reasons), reasons
    with pytest.raises(VerificationError) as info:
        parse_sgx_extension_value(data)
    assert info.value.code == Code.PCK_EXTENSION_INVALID


def test_minimal_negative_integers_in_a_skipped_entry_are_accepted_by_both() -> None:
    for value in (-128, -129, -32768, -1):
        assert compare(_skipped(_enc(univ.Integer(value)))) == "same", value


def test_the_builder_default_is_accepted_by_both() -> None:
    assert compare(_raw({})) == "same"
    assert compare(_raw({CONFIGURATION_OID: _CONFIG})) == "same"


@pytest.mark.parametrize(
    "value",
    [
        bytes.fromhex("020105"),
        bytes.fromhex("0500"),
        bytes.fromhex("0400"),
        _tlv(0x30, bytes.fromhex("0101ff 0a0102 0500") + _enc(univ.ObjectIdentifier("2.999.1"))),
        _tlv(0x30, _tlv(0x30, _tlv(0x30, bytes.fromhex("020100")))),
    ],
    ids=["INTEGER", "NULL", "empty OCTET STRING", "SEQUENCE of the types", "nested"],
)
def test_entries_both_skip_are_checked_and_accepted_alike(value: bytes) -> None:
    # unknown entries under the SGX arc were ignored (after pyasn1 decoded them); still are
    assert compare(_skipped(value)) == "same"
    assert compare(_skipped(value, "2.5")) == "same"  # ".2.5" at the top level is no TCB entry


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (bytes.fromhex("3000"), "empty SEQUENCE"),
        (_tlv(0x30, bytes.fromhex("020101 3000")), "empty SEQUENCE"),
        (bytes.fromhex("02020001"), "INTEGER is not minimally encoded"),
        (bytes.fromhex("050100"), "NULL has 1 content octets"),
        (bytes.fromhex("010101"), "BOOLEAN is 0x01"),
    ],
)
def test_entries_both_skip_are_refused_alike(value: bytes, words: str) -> None:
    data = _skipped(value)
    assert compare(data) in ("refused", "tighter")
    assert oracle(data).value is None or why_tighter(oracle(data), data) == [NOT_DER]
    with pytest.raises(
        VerificationError, match=f"entry {SGX_EXTENSION_OID}.8, which this parser skips, .*{words}"
    ):
        parse_sgx_extension_value(data)


def test_an_empty_configuration_is_refused_as_before() -> None:
    # valid DER, but pyasn1 decoded an empty SEQUENCE as None and the old parser refused it
    data = _raw({CONFIGURATION_OID: bytes.fromhex("3000")})
    assert oracle(data).value is None
    assert compare(data) == "refused"
    with pytest.raises(VerificationError, match="Configuration is an empty SEQUENCE"):
        parse_sgx_extension_value(data)


def test_integer_and_enumerated_are_interchangeable_as_before() -> None:
    # INTEGER for the SGX Type, ENUMERATED for an SVN and the PCESVN: both parsers accept
    swapped = _raw(
        {
            SGX_TYPE_OID: _enc(univ.Integer(2)),
            _COMPONENT_1: _enc(univ.Enumerated(200)),
            PCESVN_OID: _enc(univ.Enumerated(9)),
        }
    )
    assert compare(swapped) == "same"
    ext = parse_sgx_extension_value(swapped)
    assert ext.sgx_type is SgxType.SCALABLE_WITH_INTEGRITY
    assert ext.tcb.sgx_components[0] == 200 and ext.tcb.pcesvn == 9


def test_negative_values_are_refused_as_before() -> None:
    for replace, words in (
        ({_COMPONENT_1: _enc(univ.Integer(-1))}, "TCB component 1 is negative (-1)"),
        ({SGX_TYPE_OID: _enc(univ.Enumerated(-200))}, "SGX Type is negative (-200)"),
    ):
        data = _raw(replace)
        assert compare(data) == "refused"
        with pytest.raises(VerificationError, match=re.escape(words)):
            parse_sgx_extension_value(data)


def test_a_der_error_names_the_reason_and_offset() -> None:
    data = _raw({_COMPONENT_1: bytes.fromhex("02020001")})
    at = data.index(bytes.fromhex("02020001")) + 2
    with pytest.raises(VerificationError) as info:
        parse_sgx_extension_value(data)
    assert str(info.value) == (
        "pck_extension_invalid: PCK certificate SGX extension: not valid DER "
        f"(INTEGER is not minimally encoded (leading 0x00) at offset {at})"
    )


def test_a_repeated_configuration_flag_is_refused_up_to_the_element_bound_and_beyond() -> None:
    # the old parser let a Configuration entry repeat (the last one counts); the new one refuses
    # a flag named twice, and more than der.MAX_ITEMS entries by its bound, before reading them
    many = _tlv(0x30, _pair(DYNAMIC_PLATFORM_OID, bytes.fromhex("0101ff")) * (der.MAX_ITEMS + 1))
    data = _raw({CONFIGURATION_OID: many})
    run = oracle(data)
    assert run.value is not None and any(reason.startswith(TWICE) for reason in why_tighter(run, data))
    with pytest.raises(VerificationError, match=f"more than {der.MAX_ITEMS} elements"):
        parse_sgx_extension_value(data)
    few = _raw({CONFIGURATION_OID: _tlv(0x30, _pair(DYNAMIC_PLATFORM_OID, bytes.fromhex("010100")) * 3)})
    assert compare(few) == "tighter"
    with pytest.raises(VerificationError, match=r"\(dynamic_platform\) appears twice in Configuration"):
        parse_sgx_extension_value(few)
