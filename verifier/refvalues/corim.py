"""CoRIM / CoMID CBOR codec (draft-ietf-rats-corim), strict where it matters.

Decoding goes in two steps: ``loads_strict`` turns bytes into plain CBOR values with every
tag left as a ``cbor2.CBORTag`` (no built-in semantic conversion: a tag 1 stays a tag), with
indefinite lengths, duplicate map keys, trailing bytes and deep nesting refused; then the
``decode_*`` functions walk that tree and build frozen dataclasses, raising
``ParseError("CoRIM", "<path>", None, detail)`` with a CBOR path such as
``corim.tags[0].triples.reference-triples[1]`` for anything of the wrong type.

Unknown *optional* map keys are tolerated as the draft requires (extension sockets
``$$...-extension``) and kept in ``extensions``; unknown *critical* content is refused: a
concise tag type other than CoSWID (505), CoMID (506) or CoTL (508), an unknown tag where a
typed value is expected, a missing mandatory key.

``describe_corim(data)`` renders any CoRIM (signed tag 18, unsigned tag 501, the legacy
500/502 wrappers, or a bare CoMID) as a JSON-able structure for ``ccverify show``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from ccverify.verifier.jsonable import to_jsonable

# the CBOR layer (cbor_base.py) under its old names too: corim.loads_strict, corim.TAG_* ...
from ccverify.verifier.refvalues.cbor_base import (  # noqa: F401
    _RAW_DECODERS,
    _SEMANTIC_TAGS,
    CONCISE_TAG_TYPES,
    MAX_DEPTH,
    STRUCTURE,
    TAG_BYTES,
    TAG_COMID,
    TAG_CORIM,
    TAG_CORIM_LEGACY,
    TAG_COSE_SIGN1,
    TAG_COSWID,
    TAG_COTL,
    TAG_INT,
    TAG_MASKED_RAW_VALUE,
    TAG_MIN_SVN,
    TAG_OID,
    TAG_SIGNED_CORIM_LEGACY,
    TAG_SVN,
    TAG_TIME,
    TAG_UEID,
    TAG_URI,
    TAG_UUID,
    TRIPLE_NAMES,
    Validity,
    _array,
    _bool,
    _bytes,
    _extensions,
    _fail,
    _get,
    _has_bool_key,
    _int,
    _key_name,
    _kind,
    _map,
    _raw_tag,
    _require,
    _tagged,
    _text,
    _time,
    _uint,
    _uri,
    decode_validity,
    dumps,
    encode_time,
    encode_validity,
    is_int,
    is_label,
    is_number,
    loads_strict,
    oid_from_text,
    oid_to_text,
    plain,
)

# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class TypedId:
    """An identifier that can take several forms: ``type`` is oid, uuid, int, bytes, ueid, text, uint."""

    type: str
    value: str | int | bytes

    def encode(self) -> Any:
        if self.type == "oid":
            return cbor2.CBORTag(TAG_OID, oid_from_text(str(self.value)))
        if self.type == "uuid":
            import uuid  # (where a UUID is met: its import costs a run that has none, as the guest's)

            return cbor2.CBORTag(TAG_UUID, uuid.UUID(str(self.value)).bytes)
        if self.type == "int":
            return cbor2.CBORTag(TAG_INT, self.value)
        if self.type == "bytes":
            return cbor2.CBORTag(TAG_BYTES, self.value)
        if self.type == "ueid":
            return cbor2.CBORTag(TAG_UEID, self.value)
        return self.value

    def __str__(self) -> str:
        return self.value.hex() if isinstance(self.value, bytes) else str(self.value)


def _typed_id(value: Any, path: str, allowed: tuple[str, ...]) -> TypedId:
    if isinstance(value, cbor2.CBORTag):
        inner = value.value
        if value.tag == TAG_OID and "oid" in allowed:
            body = _bytes(inner, path)
            try:
                return TypedId("oid", oid_to_text(body))
            except (ValueError, IndexError):
                raise _fail(path, "malformed OID") from None
        if value.tag == TAG_UUID and "uuid" in allowed:
            body = _bytes(inner, path)
            if len(body) != 16:
                raise _fail(path, f"UUID must be 16 bytes, got {len(body)}")
            import uuid

            return TypedId("uuid", str(uuid.UUID(bytes=body)))
        if value.tag == TAG_INT and "int" in allowed:
            return TypedId("int", _int(inner, path))
        if value.tag == TAG_BYTES and "bytes" in allowed:
            return TypedId("bytes", _bytes(inner, path))
        if value.tag == TAG_UEID and "ueid" in allowed:
            return TypedId("ueid", _bytes(inner, path))
        raise _fail(path, f"unexpected tag {value.tag} (allowed: {', '.join(allowed)})")
    if isinstance(value, str) and "text" in allowed:
        return TypedId("text", value)
    if is_int(value) and value >= 0 and "uint" in allowed:
        return TypedId("uint", value)
    if isinstance(value, (bytes, bytearray)) and "bstr" in allowed:
        return TypedId("bstr", bytes(value))
    raise _fail(path, f"unexpected {_kind(value)} (allowed: {', '.join(allowed)})")


@dataclass(frozen=True)
class Digest:
    """``[alg, value]``: alg an IANA Named Information id (sha-256 = 1, sha-384 = 7, sha-512 = 8) or text."""

    alg: int | str
    value: bytes

    def encode(self) -> list[Any]:
        return [self.alg, self.value]


def decode_digests(value: Any, path: str) -> tuple[Digest, ...]:
    out: list[Digest] = []
    for i, entry in enumerate(_array(value, path)):
        here = f"{path}[{i}]"
        pair = _array(entry, here)
        if len(pair) != 2:
            raise _fail(here, f"a digest is [alg, value], got {len(pair)} elements")
        alg = pair[0]
        if not is_label(alg):
            raise _fail(f"{here}.alg", f"expected an integer or text, got {_kind(alg)}")
        out.append(Digest(alg, _bytes(pair[1], f"{here}.val")))
    return tuple(out)


@dataclass(frozen=True)
class MaskedRawValue:
    """``#6.563([value, mask])``: compare ``actual & mask == value & mask``."""

    value: bytes
    mask: bytes


@dataclass(frozen=True)
class Svn:
    """A security version number: exact (``svn``, tag 552) or a minimum (``min-svn``, tag 553)."""

    value: int
    minimum: bool  # tag 553 min-svn (True) or 552 svn (False)


@dataclass(frozen=True)
class MeasurementValues:
    """A CoRIM ``measurement-values-map``: what a measured element is expected to be
    (digests, SVN, raw value, integrity registers...); None where the map says nothing."""

    version: str | None = None
    version_scheme: int | str | None = None
    svn: Svn | None = None
    digests: tuple[Digest, ...] | None = None
    flags: tuple[tuple[int | str, Any], ...] | None = None
    raw_value: bytes | MaskedRawValue | None = None
    raw_value_mask: bytes | None = None  # deprecated key 5
    name: str | None = None
    integrity_registers: tuple[tuple[int | str, tuple[Digest, ...]], ...] | None = None
    extensions: tuple[tuple[int | str, Any], ...] = ()


_MVAL_KNOWN = {0, 1, 2, 3, 4, 5, 11, 14}


def decode_measurement_values(value: Any, path: str) -> MeasurementValues:
    mval = _map(value, path, nonempty=True)
    version = scheme = None
    if (raw := _get(mval, 0, path)) is not None:
        vmap = _map(raw, f"{path}.version")
        version = _text(_require(vmap, 0, "version", f"{path}.version"), f"{path}.version.version")
        if (s := _get(vmap, 1, f"{path}.version")) is not None:
            if not is_label(s):
                raise _fail(f"{path}.version.version-scheme", f"expected int or text, got {_kind(s)}")
            scheme = s
    svn = None
    if (raw := _get(mval, 1, path)) is not None:
        if isinstance(raw, cbor2.CBORTag) and raw.tag in (TAG_SVN, TAG_MIN_SVN):
            svn = Svn(_uint(raw.value, f"{path}.svn"), raw.tag == TAG_MIN_SVN)
        elif is_int(raw) and raw >= 0:
            svn = Svn(raw, False)  # draft: an untagged uint is an exact svn
        else:
            raise _fail(f"{path}.svn", f"expected tag 552 or 553, got {_kind(raw)}")
    digests = None
    if (raw := _get(mval, 2, path)) is not None:
        digests = decode_digests(raw, f"{path}.digests")
    flags = None
    if (raw := _get(mval, 3, path)) is not None:
        fmap = _map(raw, f"{path}.flags")
        flags = tuple(
            (k if isinstance(k, (int, str)) else repr(k), _bool(v, f"{path}.flags.{_key_name(k)}"))
            for k, v in fmap.items()
        )
    raw_value: bytes | MaskedRawValue | None = None
    if (raw := _get(mval, 4, path)) is not None:
        here = f"{path}.raw-value"
        if isinstance(raw, cbor2.CBORTag) and raw.tag == TAG_BYTES:
            raw_value = _bytes(raw.value, here)
        elif isinstance(raw, cbor2.CBORTag) and raw.tag == TAG_MASKED_RAW_VALUE:
            pair = _array(raw.value, here)
            if len(pair) != 2:
                raise _fail(here, "masked-raw-value is [value, mask]")
            value_b, mask_b = _bytes(pair[0], f"{here}.value"), _bytes(pair[1], f"{here}.mask")
            if len(value_b) != len(mask_b):
                raise _fail(here, f"value ({len(value_b)} B) and mask ({len(mask_b)} B) differ in length")
            raw_value = MaskedRawValue(value_b, mask_b)
        else:
            raise _fail(here, f"expected tag 560 or 563, got {_kind(raw)}")
    mask = None
    if (raw := _get(mval, 5, path)) is not None:
        if raw_value is None:
            raise _fail(f"{path}.raw-value-mask", "raw-value-mask without raw-value")
        mask = _bytes(raw, f"{path}.raw-value-mask")
    name = None
    if (raw := _get(mval, 11, path)) is not None:
        name = _text(raw, f"{path}.name")
    registers = None
    if (raw := _get(mval, 14, path)) is not None:
        here = f"{path}.integrity-registers"
        rmap = _map(raw, here, nonempty=True)
        entries: list[tuple[int | str, tuple[Digest, ...]]] = []
        for key, digests_raw in rmap.items():
            if not is_label(key) or (isinstance(key, int) and key < 0):
                raise _fail(here, f"register id must be uint or text, got {_kind(key)}")
            entries.append((key, decode_digests(digests_raw, f"{here}.{key}")))
        registers = tuple(entries)
    return MeasurementValues(
        version=version,
        version_scheme=scheme,
        svn=svn,
        digests=digests,
        flags=flags,
        raw_value=raw_value,
        raw_value_mask=mask,
        name=name,
        integrity_registers=registers,
        extensions=_extensions(mval, _MVAL_KNOWN),
    )


def encode_measurement_values(mv: MeasurementValues) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    if mv.version is not None:
        vmap: dict[int, Any] = {0: mv.version}
        if mv.version_scheme is not None:
            vmap[1] = mv.version_scheme
        out[0] = vmap
    if mv.svn is not None:
        out[1] = cbor2.CBORTag(TAG_MIN_SVN if mv.svn.minimum else TAG_SVN, mv.svn.value)
    if mv.digests is not None:
        out[2] = [d.encode() for d in mv.digests]
    if mv.flags is not None:
        out[3] = dict(mv.flags)
    if isinstance(mv.raw_value, MaskedRawValue):
        out[4] = cbor2.CBORTag(TAG_MASKED_RAW_VALUE, [mv.raw_value.value, mv.raw_value.mask])
    elif mv.raw_value is not None:
        out[4] = cbor2.CBORTag(TAG_BYTES, mv.raw_value)
    if mv.raw_value_mask is not None:
        out[5] = mv.raw_value_mask
    if mv.name is not None:
        out[11] = mv.name
    if mv.integrity_registers is not None:
        out[14] = {k: [d.encode() for d in v] for k, v in mv.integrity_registers}
    for key, value in mv.extensions:
        out[key] = _unplain(value)
    return out


def _unplain(value: Any) -> Any:
    """Inverse of ``plain`` for values our own encoder writes into extension keys."""
    if isinstance(value, Mapping):
        if set(value) == {"tag", "value"} and isinstance(value["tag"], int):
            return cbor2.CBORTag(value["tag"], _unplain(value["value"]))
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unplain(v) for v in value]
    return value


@dataclass(frozen=True)
class MeasurementMap:
    """A CoRIM ``measurement-map``: the measured element's key and its expected values."""

    mkey: TypedId | None
    mval: MeasurementValues
    authorized_by: tuple[Any, ...] | None = None


def decode_measurement_map(value: Any, path: str) -> MeasurementMap:
    mmap = _map(value, path)
    mkey = None
    if (raw := _get(mmap, 0, path)) is not None:
        mkey = _typed_id(raw, f"{path}.mkey", ("oid", "uuid", "uint", "text"))
    mval = decode_measurement_values(_require(mmap, 1, "mval", path), f"{path}.mval")
    authorized = None
    if (raw := _get(mmap, 2, path)) is not None:
        authorized = tuple(plain(v) for v in _array(raw, f"{path}.authorized-by"))
    return MeasurementMap(mkey, mval, authorized)


def encode_measurement_map(mm: MeasurementMap) -> dict[int, Any]:
    out: dict[int, Any] = {}
    if mm.mkey is not None:
        out[0] = mm.mkey.encode()
    out[1] = encode_measurement_values(mm.mval)
    if mm.authorized_by is not None:
        out[2] = [_unplain(v) for v in mm.authorized_by]
    return out


@dataclass(frozen=True)
class ClassMap:
    """A CoRIM ``class-map``: which kind of environment (vendor, model, layer...)."""

    class_id: TypedId | None = None
    vendor: str | None = None
    model: str | None = None
    layer: int | None = None
    index: int | None = None


@dataclass(frozen=True)
class EnvironmentMap:
    """A CoRIM ``environment-map``: the class, instance and group an assertion is about."""

    klass: ClassMap | None = None  # "class" in CDDL and in JSON
    instance: Any = None
    group: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "class": to_jsonable(self.klass),
            "instance": to_jsonable(self.instance),
            "group": to_jsonable(self.group),
        }


def decode_environment(value: Any, path: str) -> EnvironmentMap:
    env = _map(value, path, nonempty=True)
    klass = None
    if (raw := _get(env, 0, path)) is not None:
        here = f"{path}.class"
        cmap = _map(raw, here, nonempty=True)
        class_id = None
        if (cid := _get(cmap, 0, here)) is not None:
            class_id = _typed_id(cid, f"{here}.class-id", ("oid", "uuid", "int", "bytes"))
        vendor = _get(cmap, 1, here)
        model = _get(cmap, 2, here)
        layer = _get(cmap, 3, here)
        index = _get(cmap, 4, here)
        klass = ClassMap(
            class_id,
            None if vendor is None else _text(vendor, f"{here}.vendor"),
            None if model is None else _text(model, f"{here}.model"),
            None if layer is None else _uint(layer, f"{here}.layer"),
            None if index is None else _uint(index, f"{here}.index"),
        )
    instance = _get(env, 1, path)
    group = _get(env, 2, path)
    if instance is not None and not isinstance(instance, cbor2.CBORTag):
        raise _fail(f"{path}.instance", f"expected a tagged instance id, got {_kind(instance)}")
    if group is not None and not isinstance(group, cbor2.CBORTag):
        raise _fail(f"{path}.group", f"expected a tagged group id, got {_kind(group)}")
    return EnvironmentMap(
        klass, None if instance is None else plain(instance), None if group is None else plain(group)
    )


def encode_environment(env: EnvironmentMap) -> dict[int, Any]:
    out: dict[int, Any] = {}
    if env.klass is not None:
        cmap: dict[int, Any] = {}
        k = env.klass
        if k.class_id is not None:
            cmap[0] = k.class_id.encode()
        for key, item in ((1, k.vendor), (2, k.model), (3, k.layer), (4, k.index)):
            if item is not None:
                cmap[key] = item
        out[0] = cmap
    if env.instance is not None:
        out[1] = _unplain(env.instance)
    if env.group is not None:
        out[2] = _unplain(env.group)
    return out


@dataclass(frozen=True)
class Triple:
    """A reference or endorsed triple: an environment and the measurements it is expected to have."""

    environment: EnvironmentMap
    measurements: tuple[MeasurementMap, ...]


def _decode_triple(value: Any, path: str) -> Triple:
    record = _array(value, path)
    if len(record) != 2:
        raise _fail(path, f"a triple is [environment, [+ measurement]], got {len(record)} elements")
    env = decode_environment(record[0], f"{path}.environment")
    claims = _array(record[1], f"{path}.measurements")
    return Triple(
        env, tuple(decode_measurement_map(m, f"{path}.measurements[{i}]") for i, m in enumerate(claims))
    )


@dataclass(frozen=True)
class Triples:
    """A CoMID's ``triples-map``: reference and endorsed values, other kinds kept as given."""

    reference: tuple[Triple, ...] = ()
    endorsed: tuple[Triple, ...] = ()
    other: tuple[tuple[str, Any], ...] = ()  # other triple kinds, kept generic


def decode_triples(value: Any, path: str) -> Triples:
    tmap = _map(value, path, nonempty=True)
    reference: tuple[Triple, ...] = ()
    endorsed: tuple[Triple, ...] = ()
    other: list[tuple[str, Any]] = []
    for key, items in tmap.items():
        name = TRIPLE_NAMES.get(key, _key_name(key)) if is_int(key) else _key_name(key)
        here = f"{path}.{name}"
        if key in (0, 1) and not isinstance(key, bool):
            triples = tuple(_decode_triple(t, f"{here}[{i}]") for i, t in enumerate(_array(items, here)))
            if key == 0:
                reference = triples
            else:
                endorsed = triples
        else:
            _array(items, here)
            other.append((name, plain(items)))
    return Triples(reference, endorsed, tuple(other))


def encode_triples(triples: Triples) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for key, records in ((0, triples.reference), (1, triples.endorsed)):
        if records:
            out[key] = [
                [encode_environment(t.environment), [encode_measurement_map(m) for m in t.measurements]]
                for t in records
            ]
    return out


@dataclass(frozen=True)
class Entity:
    """A CoRIM/CoMID ``entity-map``: who (name, registration id) in which roles."""

    name: str
    roles: tuple[int, ...]
    reg_id: str | None = None
    extensions: tuple[tuple[int | str, Any], ...] = ()


def _decode_entities(value: Any, path: str) -> tuple[Entity, ...]:
    out: list[Entity] = []
    for i, raw in enumerate(_array(value, path)):
        here = f"{path}[{i}]"
        emap = _map(raw, here)
        name = _text(_require(emap, 0, "entity-name", here), f"{here}.entity-name")
        reg = _get(emap, 1, here)
        roles = tuple(
            _int(r, f"{here}.role[{j}]")
            for j, r in enumerate(_array(_require(emap, 2, "role", here), f"{here}.role"))
        )
        out.append(
            Entity(
                name,
                roles,
                None if reg is None else _uri(reg, f"{here}.reg-id"),
                _extensions(emap, {0, 1, 2}),
            )
        )
    return tuple(out)


def _encode_entities(entities: tuple[Entity, ...]) -> list[dict[Any, Any]]:
    out: list[dict[Any, Any]] = []
    for e in entities:
        emap: dict[Any, Any] = {0: e.name}
        if e.reg_id is not None:
            emap[1] = cbor2.CBORTag(TAG_URI, e.reg_id)
        emap[2] = list(e.roles)
        for key, value in e.extensions:
            emap[key] = _unplain(value)
        out.append(emap)
    return out


@dataclass(frozen=True)
class Comid:
    """A concise-mid-tag (CoMID)."""

    tag_id: str
    triples: Triples
    tag_version: int = 0
    language: str | None = None
    entities: tuple[Entity, ...] = ()
    linked_tags: tuple[tuple[str, int], ...] = ()
    extensions: tuple[tuple[int | str, Any], ...] = ()


def _tag_id(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    raw = _bytes(value, path)
    if len(raw) != 16:
        raise _fail(path, f"a binary tag id is a 16-byte UUID, got {len(raw)} bytes")
    import uuid

    return str(uuid.UUID(bytes=raw))


def decode_comid(value: Any, path: str = "comid") -> Comid:
    cmap = _map(value, path)
    language = _get(cmap, 0, path)
    ident = _map(_require(cmap, 1, "tag-identity", path), f"{path}.tag-identity")
    tag_id = _tag_id(_require(ident, 0, "tag-id", f"{path}.tag-identity"), f"{path}.tag-identity.tag-id")
    version_raw = _get(ident, 1, f"{path}.tag-identity")
    version = 0 if version_raw is None else _uint(version_raw, f"{path}.tag-identity.tag-version")
    entities: tuple[Entity, ...] = ()
    if (raw := _get(cmap, 2, path)) is not None:
        entities = _decode_entities(raw, f"{path}.entities")
    linked: list[tuple[str, int]] = []
    if (raw := _get(cmap, 3, path)) is not None:
        for i, item in enumerate(_array(raw, f"{path}.linked-tags")):
            here = f"{path}.linked-tags[{i}]"
            lmap = _map(item, here)
            linked.append(
                (
                    _tag_id(_require(lmap, 0, "linked-tag-id", here), f"{here}.linked-tag-id"),
                    _uint(_require(lmap, 1, "tag-rel", here), f"{here}.tag-rel"),
                )
            )
    triples = decode_triples(_require(cmap, 4, "triples", path), f"{path}.triples")
    return Comid(
        tag_id=tag_id,
        triples=triples,
        tag_version=version,
        language=None if language is None else _text(language, f"{path}.language"),
        entities=entities,
        linked_tags=tuple(linked),
        extensions=_extensions(cmap, {0, 1, 2, 3, 4}),
    )


def encode_comid(comid: Comid) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    if comid.language is not None:
        out[0] = comid.language
    ident: dict[int, Any] = {0: comid.tag_id}
    if comid.tag_version:
        ident[1] = comid.tag_version
    out[1] = ident
    if comid.entities:
        out[2] = _encode_entities(comid.entities)
    if comid.linked_tags:
        out[3] = [{0: tid, 1: rel} for tid, rel in comid.linked_tags]
    out[4] = encode_triples(comid.triples)
    for key, value in comid.extensions:
        out[key] = _unplain(value)
    return out


@dataclass(frozen=True)
class OpaqueTag:
    """A CoSWID or CoTL carried in ``tags``: recognised, kept as bytes, not interpreted."""

    kind: str
    data: bytes




@dataclass(frozen=True)
class Corim:
    """An unsigned CoRIM (``#6.501(corim-map)``)."""

    id: str
    tags: tuple[Comid | OpaqueTag, ...]
    profile: str | None = None
    validity: Validity | None = None
    entities: tuple[Entity, ...] = ()
    dependent_rims: tuple[Any, ...] = ()
    extensions: tuple[tuple[int | str, Any], ...] = ()

    @property
    def comids(self) -> tuple[Comid, ...]:
        return tuple(t for t in self.tags if isinstance(t, Comid))


def _profile(value: Any, path: str) -> str:
    if isinstance(value, cbor2.CBORTag) and value.tag == TAG_OID:
        try:
            return oid_to_text(_bytes(value.value, path))
        except (ValueError, IndexError):
            raise _fail(path, "malformed OID") from None
    if isinstance(value, (list, tuple)):  # an older draft allowed [+ profile]
        items = _array(value, path)
        if len(items) != 1:
            raise _fail(path, "more than one profile")
        return _profile(items[0], f"{path}[0]")
    return _uri(value, path)


def encode_profile(profile: str) -> Any:
    if profile and profile[0].isdigit() and all(p.isdigit() for p in profile.split(".")):
        return cbor2.CBORTag(TAG_OID, oid_from_text(profile))
    return cbor2.CBORTag(TAG_URI, profile)


def decode_corim_map(value: Any, path: str = "corim") -> Corim:
    cmap = _map(value, path)
    raw_id = _require(cmap, 0, "id", path)
    if isinstance(raw_id, cbor2.CBORTag) and raw_id.tag == TAG_UUID:
        raw_id = _bytes(raw_id.value, f"{path}.id")
    corim_id = _tag_id(raw_id, f"{path}.id")
    tags: list[Comid | OpaqueTag] = []
    for i, raw in enumerate(_array(_require(cmap, 1, "tags", path), f"{path}.tags")):
        here = f"{path}.tags[{i}]"
        if not isinstance(raw, cbor2.CBORTag) or raw.tag not in CONCISE_TAG_TYPES:
            raise _fail(here, f"unknown concise tag type ({_kind(raw)}); expected tag 505, 506 or 508")
        body = _bytes(raw.value, here)
        if raw.tag == TAG_COMID:
            tags.append(decode_comid(loads_strict(body, STRUCTURE, here), here))
        else:
            tags.append(OpaqueTag(CONCISE_TAG_TYPES[raw.tag], body))
    dependent: tuple[Any, ...] = ()
    if (raw := _get(cmap, 2, path)) is not None:
        locs: list[Any] = []
        for i, item in enumerate(_array(raw, f"{path}.dependent-rims")):
            here = f"{path}.dependent-rims[{i}]"
            lmap = _map(item, here)
            _uri(_require(lmap, 0, "href", here), f"{here}.href")
            locs.append(plain(lmap))
        dependent = tuple(locs)
    profile = None
    if (raw := _get(cmap, 3, path)) is not None:
        profile = _profile(raw, f"{path}.profile")
    validity = None
    if (raw := _get(cmap, 4, path)) is not None:
        validity = decode_validity(raw, f"{path}.rim-validity")
    entities: tuple[Entity, ...] = ()
    if (raw := _get(cmap, 5, path)) is not None:
        entities = _decode_entities(raw, f"{path}.entities")
    return Corim(
        id=corim_id,
        tags=tuple(tags),
        profile=profile,
        validity=validity,
        entities=entities,
        dependent_rims=dependent,
        extensions=_extensions(cmap, {0, 1, 2, 3, 4, 5}),
    )


def encode_corim(corim: Corim) -> bytes:
    """The ``#6.501(corim-map)`` bytes."""
    return dumps(cbor2.CBORTag(TAG_CORIM, corim_map(corim)))


def corim_map(corim: Corim) -> dict[Any, Any]:
    out: dict[Any, Any] = {0: corim.id}
    tags: list[cbor2.CBORTag] = []
    for tag in corim.tags:
        if isinstance(tag, Comid):
            tags.append(cbor2.CBORTag(TAG_COMID, dumps(encode_comid(tag))))
        else:
            number = {v: k for k, v in CONCISE_TAG_TYPES.items()}[tag.kind]
            tags.append(cbor2.CBORTag(number, tag.data))
    out[1] = tags
    if corim.dependent_rims:
        out[2] = [_unplain(d) for d in corim.dependent_rims]
    if corim.profile is not None:
        out[3] = encode_profile(corim.profile)
    if corim.validity is not None:
        out[4] = encode_validity(corim.validity)
    if corim.entities:
        out[5] = _encode_entities(corim.entities)
    for key, value in corim.extensions:
        out[key] = _unplain(value)
    return out


def decode_corim(data: bytes) -> Corim:
    """An unsigned CoRIM from bytes: ``#6.501(corim-map)`` (a legacy ``#6.500`` wrapper is removed)."""
    item = loads_strict(data)
    if isinstance(item, cbor2.CBORTag) and item.tag == TAG_CORIM_LEGACY:
        item = item.value
    if isinstance(item, cbor2.CBORTag) and item.tag == TAG_COSE_SIGN1:
        raise _fail("corim", "this is a signed CoRIM (COSE_Sign1); verify it, do not decode it unverified")
    return decode_corim_map(_tagged(item, TAG_CORIM, "corim"), "corim")


def decode_payload(payload: bytes) -> Corim:
    """The CoRIM inside a COSE_Sign1 payload: ``bstr .cbor tagged-unsigned-corim-map``."""
    item = loads_strict(payload, STRUCTURE, "payload")
    return decode_corim_map(_tagged(item, TAG_CORIM, "payload"), "corim")


# --------------------------------------------------------------------------- show


def describe_corim(data: bytes) -> object:
    """A JSON-able description of a signed or unsigned CoRIM or a bare CoMID (nothing verified)."""
    item = loads_strict(data)
    if isinstance(item, cbor2.CBORTag) and item.tag in (TAG_CORIM_LEGACY, TAG_SIGNED_CORIM_LEGACY):
        item = item.value
    if isinstance(item, cbor2.CBORTag) and item.tag == TAG_COSE_SIGN1:
        from ccverify.verifier.refvalues.cose import parse_sign1

        envelope = parse_sign1(data)
        corim = decode_payload(envelope.payload)
        return {
            "signed": True,
            "verified": False,
            "protected": envelope.header.describe(),
            "unprotected": plain(envelope.unprotected),
            "signature": envelope.signature,
            "corim": corim,
        }
    if isinstance(item, cbor2.CBORTag) and item.tag == TAG_CORIM:
        return {"signed": False, "corim": decode_corim_map(item.value, "corim")}
    if isinstance(item, cbor2.CBORTag) and item.tag == TAG_COMID:
        body = _bytes(item.value, "comid")
        return {"signed": False, "comid": decode_comid(loads_strict(body, STRUCTURE, "comid"), "comid")}
    if isinstance(item, Mapping):
        return {"signed": False, "comid": decode_comid(item, "comid")}
    raise _fail("corim", f"not a CoRIM or CoMID: {_kind(item)}")
