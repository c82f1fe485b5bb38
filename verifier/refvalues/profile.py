"""The ccverify CoRIM profile for TDX and SEV-SNP boot configurations.

Profile id: ``tag:ccverify.dev,2026:boot-refvalues/v1`` (a ``tag:`` URI, RFC 4151, carried
as ``#6.32(tstr)`` in corim-map key 3). ``reference-values/README.md`` is the prose version of
this module; ``reference-values/profile.cddl`` the CDDL.

Layout: one CoRIM (``#6.501``) with one CoMID (``#6.506``) whose ``reference-triples`` hold one
triple per environment:

- the platform, class ``{1 vendor: "Intel", 2 model: "TDX"}`` or ``{1: "AMD", 2: "SEV-SNP"}``;
- each boot component, class ``{1 vendor: <platform vendor>, 2 model: "firmware" | "kernel" |
  "cmdline" | "initrd", 3 layer: 1}`` (layer 1: loaded on top of the platform).

Each named value is one ``measurement-map`` (see ``TDX_VALUES``, ``SNP_VALUES``,
``COMPONENT_VALUES``). A name that appears in more than one measurement-map of the same
environment has alternatives: any one of them matching accepts the value (rollouts).

The CoRIM id is the reference-value set's id; the CoMID ``tag-identity`` carries the same id
as ``tag-id`` and the **sequence number** as ``tag-version`` (rollback protection: a verifier
with state refuses a lower sequence than the last it accepted for that id, see
``SequenceStore``). ``rim-validity`` is the validity window; the signer is a corim entity
with role manifest-creator (1) and, when signed, the corim-meta signer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ccverify.verifier.errors import Code, InputError, ParseError, VerificationError
from ccverify.verifier.jsonable import JSON_ERRORS
from ccverify.verifier.limits import read_bounded
from ccverify.verifier.refvalues import cbor_base as cb
from ccverify.verifier.refvalues import corim as c
from ccverify.verifier.refvalues.model import (
    ALG_BY_NAME,
    COMPONENTS,
    DIGEST_SIZES,
    PLATFORMS,
    SHA384,
    SNP,
    TDX,
    Digest,
    Digests,
    Environment,
    Expected,
    MinSvns,
    RawValue,
    ReferenceValue,
    ReferenceValues,
    Signer,
    merge_alternatives,
)

PROFILE_ID = "tag:ccverify.dev,2026:boot-refvalues/v1"
MEASUREMENTS_FORMAT = "ccverify-measurements/1"

#: measurement-values-map key for a vector of min-svns (the Intel profile's tcbcompsvn, -125)
MVAL_SVN_VECTOR = -125
#: measurement-values-map keys this profile uses
MVAL_DIGESTS = 2
MVAL_RAW = 4
MVAL_REGISTERS = 14

ROLE_MANIFEST_CREATOR = 1
COMPONENT_LAYER = 1


@dataclass(frozen=True)
class ValueSpec:
    """How one named value is carried: mkey, the mval form, and the evidence field's size."""

    name: str
    mkey: int | str | None  # None: an integrity register (the register id is the name)
    form: str  # "register", "digest", "raw", "min-svn"
    size: int | None  # bytes in the evidence (None: any)
    offset: str  # where it is in the evidence, for the README and messages


TDX_VALUES = {
    s.name: s
    for s in (
        ValueSpec("mrtd", None, "register", 48, "TD report MRTD, quote offset 184 (0xB8)"),
        ValueSpec("rtmr0", None, "register", 48, "RTMR0, quote offset 376 (0x178)"),
        ValueSpec("rtmr1", None, "register", 48, "RTMR1, quote offset 424 (0x1A8)"),
        ValueSpec("rtmr2", None, "register", 48, "RTMR2, quote offset 472 (0x1D8)"),
        ValueSpec("rtmr3", None, "register", 48, "RTMR3, quote offset 520 (0x208)"),
        ValueSpec("mrseam", "mrseam", "digest", 48, "MRSEAM, quote offset 64 (0x40)"),
        ValueSpec("mrsignerseam", "mrsignerseam", "digest", 48, "MRSIGNERSEAM, quote offset 112 (0x70)"),
        ValueSpec("xfam", "xfam", "raw", 8, "XFAM, quote offset 176 (0xB0)"),
        ValueSpec("td_attributes", "td_attributes", "raw", 8, "TD_ATTRIBUTES, quote offset 168 (0xA8)"),
        ValueSpec("tee_tcb_svn", "tee_tcb_svn", "min-svn", 16, "TEE_TCB_SVN, quote offset 48 (0x30)"),
    )
}

SNP_VALUES = {
    s.name: s
    for s in (
        ValueSpec("measurement", 641, "digest", 48, "MEASUREMENT, report offset 0x090"),
        ValueSpec("host_data", 642, "raw", 32, "HOST_DATA, report offset 0x0C0"),
        ValueSpec("id_key_digest", 643, "digest", 48, "ID_KEY_DIGEST, report offset 0x0E0"),
        ValueSpec("author_key_digest", 644, "digest", 48, "AUTHOR_KEY_DIGEST, report offset 0x110"),
        ValueSpec("policy", 2, "raw", 8, "POLICY (u64 LE), report offset 0x008"),
        ValueSpec("reported_tcb", 647, "min-svn", 8, "REPORTED_TCB, report offset 0x180"),
    )
}

#: per boot component: mkey -> form (the name is ``<component>.<mkey>``)
COMPONENT_VALUES = {
    "digest": ValueSpec(
        "digest", "digest", "digest", None, "the component's hash as the event log records it"
    ),
    "authenticode": ValueSpec("authenticode", "authenticode", "digest", None, "PE Authenticode hash"),
    "text": ValueSpec("text", "text", "raw", None, "the command line text (UTF-8)"),
}

PLATFORM_VALUES = {TDX: TDX_VALUES, SNP: SNP_VALUES}

_FAIL = "CoRIM"


def _perr(path: str, detail: str) -> ParseError:
    return ParseError(_FAIL, path, None, detail)


def spec_for(platform: str, name: str) -> ValueSpec:
    """The spec of a (possibly component-qualified) value name; InputError when unknown."""
    if "." in name:
        component, key = name.split(".", 1)
        if component in COMPONENTS and key in COMPONENT_VALUES:
            return COMPONENT_VALUES[key]
    elif name in PLATFORM_VALUES[platform]:
        return PLATFORM_VALUES[platform][name]
    raise InputError(f"{name!r} is not a {platform} reference value name")


# --------------------------------------------------------------------------- model -> CoRIM


def _environment_map(env: Environment) -> c.EnvironmentMap:
    if env.component is None:
        return c.EnvironmentMap(c.ClassMap(vendor=env.vendor, model=env.model))
    return c.EnvironmentMap(c.ClassMap(vendor=env.vendor, model=env.component, layer=COMPONENT_LAYER))


def _measurement(spec: ValueSpec, expected: Expected) -> c.MeasurementMap:
    if isinstance(expected, Digests):
        digests = tuple(c.Digest(d.alg, d.value) for d in expected.digests)
        if spec.form == "register":
            return c.MeasurementMap(None, c.MeasurementValues(integrity_registers=((spec.name, digests),)))
        return c.MeasurementMap(_mkey(spec), c.MeasurementValues(digests=digests))
    if isinstance(expected, RawValue):
        raw: bytes | c.MaskedRawValue = (
            expected.value if expected.mask is None else c.MaskedRawValue(expected.value, expected.mask)
        )
        return c.MeasurementMap(_mkey(spec), c.MeasurementValues(raw_value=raw))
    vector = [{"tag": cb.TAG_MIN_SVN, "value": m} for m in expected.minimums]
    return c.MeasurementMap(_mkey(spec), c.MeasurementValues(extensions=((MVAL_SVN_VECTOR, vector),)))


def _mkey(spec: ValueSpec) -> c.TypedId:
    assert spec.mkey is not None
    return c.TypedId("uint", spec.mkey) if isinstance(spec.mkey, int) else c.TypedId("text", spec.mkey)


def to_corim(rv: ReferenceValues) -> c.Corim:
    triples: list[c.Triple] = []
    for env in rv.environments:
        measurements: list[c.MeasurementMap] = []
        for value in rv.values:
            if value.environment != env:
                continue
            spec = spec_for(rv.platform, value.name)
            measurements.extend(_measurement(spec, alt) for alt in value.alternatives)
        if measurements:
            triples.append(c.Triple(_environment_map(env), tuple(measurements)))
    entities: tuple[c.Entity, ...] = ()
    if rv.signer is not None:
        entities = (c.Entity(rv.signer.name, (ROLE_MANIFEST_CREATOR,), rv.signer.uri),)
    comid = c.Comid(tag_id=rv.id, tag_version=rv.sequence, triples=c.Triples(reference=tuple(triples)))
    validity = None if rv.not_after is None else cb.Validity(rv.not_after, rv.not_before)
    return c.Corim(id=rv.id, tags=(comid,), profile=rv.profile, validity=validity, entities=entities)


def encode(rv: ReferenceValues) -> bytes:
    """The unsigned CoRIM (``#6.501``) for ``rv``."""
    check(rv)
    return c.encode_corim(to_corim(rv))


# --------------------------------------------------------------------------- CoRIM -> model


def _platform_of(env: c.EnvironmentMap, path: str) -> tuple[str, str | None]:
    k = env.klass
    if k is None or env.instance is not None or env.group is not None or k.class_id is not None:
        raise _perr(
            path, "this profile's environments are a class with vendor, model and optional layer only"
        )
    if k.index is not None:
        raise _perr(f"{path}.class.index", "not used by this profile")
    if k.layer is None:
        for platform, pair in PLATFORMS.items():
            if (k.vendor, k.model) == pair:
                return platform, None
        raise _perr(
            f"{path}.class", f"unknown platform {k.vendor}/{k.model} (expected Intel/TDX or AMD/SEV-SNP)"
        )
    if k.layer != COMPONENT_LAYER or k.model not in COMPONENTS:
        raise _perr(f"{path}.class", f"unknown boot component {k.model!r} at layer {k.layer}")
    for platform, pair in PLATFORMS.items():
        if k.vendor == pair[0]:
            return platform, k.model
    raise _perr(f"{path}.class.vendor", f"unknown platform vendor {k.vendor!r}")


def _only(mval: c.MeasurementValues, key: str, path: str) -> None:
    present = {
        "version": mval.version is not None,
        "svn": mval.svn is not None,
        "digests": mval.digests is not None,
        "flags": mval.flags is not None,
        "raw-value": mval.raw_value is not None,
        "raw-value-mask": mval.raw_value_mask is not None,
        "name": mval.name is not None,
        "integrity-registers": mval.integrity_registers is not None,
    }
    for ext_key, _ in mval.extensions:
        present[str(ext_key)] = True
    extra = sorted(k for k, on in present.items() if on and k != key)
    if extra:
        raise _perr(path, f"unexpected measurement values {extra}: this profile does not define them here")
    if not present.get(key):
        raise _perr(path, f"missing {key}")


def _digests(digests: tuple[c.Digest, ...], spec: ValueSpec, path: str) -> Digests:
    out: list[Digest] = []
    for i, d in enumerate(digests):
        if isinstance(d.alg, int) and d.alg in DIGEST_SIZES and len(d.value) != DIGEST_SIZES[d.alg]:
            raise _perr(
                f"{path}[{i}]", f"a {d.alg} digest is {DIGEST_SIZES[d.alg]} bytes, got {len(d.value)}"
            )
        out.append(Digest(d.alg, d.value))
    if spec.size is not None and not any(len(d.value) == spec.size for d in out):
        raise _perr(path, f"{spec.name} needs a {spec.size}-byte digest")
    return Digests(tuple(out))


def _decode_measurement(
    platform: str, component: str | None, mm: c.MeasurementMap, path: str
) -> tuple[str, Expected]:
    mval = mm.mval
    if mm.mkey is None:
        if component is not None or mval.integrity_registers is None:
            raise _perr(path, "a measurement without mkey must be one TDX integrity register")
        _only(mval, "integrity-registers", f"{path}.mval")
        if len(mval.integrity_registers) != 1:
            raise _perr(
                f"{path}.mval.integrity-registers", "this profile puts one register per measurement-map"
            )
        reg, digests = mval.integrity_registers[0]
        spec = TDX_VALUES.get(str(reg)) if platform == TDX else None
        if spec is None or spec.form != "register":
            raise _perr(f"{path}.mval.integrity-registers", f"unknown register {reg!r}")
        return spec.name, _digests(digests, spec, f"{path}.mval.integrity-registers.{reg}")
    key = mm.mkey.value
    if component is None:
        specs = PLATFORM_VALUES[platform]
        spec_opt = next((s for s in specs.values() if s.mkey == key and s.form != "register"), None)
        if spec_opt is None or mm.mkey.type not in ("uint", "text"):
            raise _perr(f"{path}.mkey", f"unknown {platform} reference value {key!r}")
        spec = spec_opt
        name = spec.name
    else:
        if not isinstance(key, str) or key not in COMPONENT_VALUES:
            raise _perr(f"{path}.mkey", f"unknown {component} reference value {key!r}")
        spec = COMPONENT_VALUES[key]
        name = f"{component}.{key}"
    if mm.authorized_by is not None:
        raise _perr(f"{path}.authorized-by", "not used by this profile")
    here = f"{path}.mval"
    if spec.form == "digest":
        _only(mval, "digests", here)
        assert mval.digests is not None
        return name, _digests(mval.digests, spec, f"{here}.digests")
    if spec.form == "raw":
        _only(mval, "raw-value", here)
        raw = mval.raw_value
        if isinstance(raw, c.MaskedRawValue):
            expected = RawValue(raw.value, raw.mask)
        else:
            assert raw is not None
            expected = RawValue(raw)
        if spec.size is not None and len(expected.value) != spec.size:
            raise _perr(f"{here}.raw-value", f"{name} is {spec.size} bytes, got {len(expected.value)}")
        return name, expected
    _only(mval, str(MVAL_SVN_VECTOR), here)
    vector = dict(mval.extensions)[MVAL_SVN_VECTOR]
    if not isinstance(vector, list) or len(vector) != spec.size:
        raise _perr(f"{here}.{MVAL_SVN_VECTOR}", f"{name} is a vector of {spec.size} min-svn values")
    minimums: list[int] = []
    for i, item in enumerate(vector):
        ok = isinstance(item, dict) and item.get("tag") == cb.TAG_MIN_SVN
        svn = item.get("value") if isinstance(item, dict) else None
        if not ok or not cb.is_int(svn) or not 0 <= svn <= 255:
            raise _perr(f"{here}.{MVAL_SVN_VECTOR}[{i}]", "expected #6.553(uint 0..255)")
        minimums.append(svn)
    return name, MinSvns(tuple(minimums))


def from_corim(corim: c.Corim, *, signer: Signer | None = None) -> ReferenceValues:
    """The profile's view of a decoded CoRIM; ParseError/VerificationError when it does not fit."""
    if corim.profile != PROFILE_ID:
        raise VerificationError(
            Code.REFVALUES_UNKNOWN_PROFILE,
            "the CoRIM does not use the ccverify reference-value profile",
            expected=PROFILE_ID,
            actual=corim.profile,
        )
    if corim.dependent_rims:
        raise _perr("corim.dependent-rims", "this profile's CoRIMs stand alone (no dependent RIMs)")
    comids = corim.comids
    if len(comids) != 1 or len(corim.tags) != 1:
        raise _perr("corim.tags", "this profile carries exactly one CoMID")
    comid = comids[0]
    path = "corim.tags[0]"
    if comid.triples.endorsed or comid.triples.other:
        raise _perr(f"{path}.triples", "this profile uses reference-triples only")
    if not comid.triples.reference:
        raise _perr(f"{path}.triples", "no reference-triples")
    platform: str | None = None
    values: list[ReferenceValue] = []
    for i, triple in enumerate(comid.triples.reference):
        here = f"{path}.triples.reference-triples[{i}]"
        plat, component = _platform_of(triple.environment, f"{here}.environment")
        if platform is None:
            platform = plat
        elif plat != platform:
            raise _perr(f"{here}.environment", "one CoRIM describes one platform")
        vendor, model = PLATFORMS[plat]
        env = Environment(vendor, model, component)
        for j, mm in enumerate(triple.measurements):
            name, expected = _decode_measurement(plat, component, mm, f"{here}.measurements[{j}]")
            values.append(ReferenceValue(name, env, (expected,)))
    assert platform is not None
    if signer is None:
        creators = [e for e in corim.entities if ROLE_MANIFEST_CREATOR in e.roles]
        if creators:
            signer = Signer(creators[0].name, creators[0].reg_id)
    try:
        merged = merge_alternatives(values)
    except ValueError as error:
        raise _perr(f"{path}.triples", str(error)) from None
    return ReferenceValues(
        profile=corim.profile,
        id=corim.id,
        platform=platform,
        values=merged,
        not_before=None if corim.validity is None else corim.validity.not_before,
        not_after=None if corim.validity is None else corim.validity.not_after,
        sequence=comid.tag_version,
        signer=signer,
    )


def decode(data: bytes) -> ReferenceValues:
    """Reference values from an *unsigned* CoRIM (no signature, no validity check)."""
    return from_corim(c.decode_corim(data))


def check(rv: ReferenceValues) -> None:
    """Refuse a model that the profile cannot carry (unknown names, wrong sizes)."""
    if rv.platform not in PLATFORMS:
        raise InputError(f"unknown platform {rv.platform!r} (tdx or snp)")
    if rv.profile != PROFILE_ID:
        raise InputError(f"profile must be {PROFILE_ID}")
    if rv.sequence < 0:
        raise InputError("sequence must not be negative")
    if not rv.values:
        raise InputError("no reference values")
    vendor, model = PLATFORMS[rv.platform]
    for value in rv.values:
        spec = spec_for(rv.platform, value.name)
        component = value.name.split(".", 1)[0] if "." in value.name else None
        if value.environment != Environment(vendor, model, component):
            raise InputError(f"{value.name}: environment {value.environment} does not fit")
        if not value.alternatives:
            raise InputError(f"{value.name}: no accepted value")
        for alt in value.alternatives:
            want = {"register": Digests, "digest": Digests, "raw": RawValue, "min-svn": MinSvns}[spec.form]
            if not isinstance(alt, want):
                raise InputError(f"{value.name}: expected a {spec.form} value")
            if isinstance(alt, RawValue) and spec.size is not None and len(alt.value) != spec.size:
                raise InputError(f"{value.name}: {spec.size} bytes expected, got {len(alt.value)}")
            if isinstance(alt, MinSvns) and len(alt.minimums) != spec.size:
                raise InputError(f"{value.name}: {spec.size} SVNs expected")
            if isinstance(alt, Digests) and not alt.digests:
                raise InputError(f"{value.name}: no digest")
    if rv.not_before is not None and rv.not_after is not None and rv.not_before > rv.not_after:
        raise InputError("not-before is later than not-after")


# --------------------------------------------------------------------------- Measurement JSON


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"{what}: expected a hex string")
    text = value.strip()
    if text.lower().startswith("0x"):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{what}: {value!r} is not hex") from None


def _u64(value: Any, what: str, size: int) -> bytes:
    """An integer (JSON number or ``"0x..."``) as little-endian bytes, or plain hex of ``size`` bytes."""
    if isinstance(value, bool):
        raise InputError(f"{what}: expected an integer or hex")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lower().startswith("0x"):
        try:
            number = int(value.strip(), 16)
        except ValueError:
            raise InputError(f"{what}: {value!r} is not hex") from None
    else:
        return _hex(value, what)
    if not 0 <= number < 1 << (8 * size):
        raise InputError(f"{what}: {number} does not fit in {size} bytes")
    return number.to_bytes(size, "little")


def _expected_from_json(platform: str, spec: ValueSpec, value: Any, what: str) -> Expected:
    if spec.form in ("register", "digest"):
        raw = _hex(value, what)
        if spec.size is not None and len(raw) != spec.size:
            raise InputError(f"{what}: {spec.size} bytes expected, got {len(raw)}")
        return Digests((Digest(SHA384, raw),))
    if spec.form == "raw":
        mask = None
        if isinstance(value, Mapping):
            if set(value) - {"value", "mask"} or "value" not in value:
                raise InputError(f"{what}: expected {{'value': hex, 'mask': hex}}")
            mask_raw = value.get("mask")
            value = value["value"]
            if mask_raw is not None:
                mask = (
                    _u64(mask_raw, f"{what}.mask", spec.size or 0) if spec.size == 8 else _hex(mask_raw, what)
                )
        raw = _u64(value, what, spec.size) if spec.size == 8 else _hex(value, what)
        if spec.size is not None and len(raw) != spec.size:
            raise InputError(f"{what}: {spec.size} bytes expected, got {len(raw)}")
        if mask is not None and len(mask) != len(raw):
            raise InputError(f"{what}: mask and value differ in length")
        return RawValue(raw, mask)
    raw = _u64(value, what, spec.size) if spec.size == 8 else _hex(value, what)
    if len(raw) != spec.size:
        raise InputError(f"{what}: {spec.size} bytes expected, got {len(raw)}")
    return MinSvns(tuple(raw))


def _component_values(platform: str, name: str, entry: Any) -> list[ReferenceValue]:
    if name not in COMPONENTS:
        raise InputError(f"components: unknown boot component {name!r} (expected {', '.join(COMPONENTS)})")
    if not isinstance(entry, Mapping):
        raise InputError(f"components.{name}: expected an object")
    vendor, model = PLATFORMS[platform]
    env = Environment(vendor, model, name)
    plain: list[Digest] = []
    authenticode: list[Digest] = []
    out: list[ReferenceValue] = []
    for key, value in entry.items():
        what = f"components.{name}.{key}"
        if key == "text":
            if name != "cmdline" or not isinstance(value, str):
                raise InputError(f"{what}: only the cmdline has a text")
            out.append(ReferenceValue(f"{name}.text", env, (RawValue(value.encode()),)))
            continue
        target = plain
        alg_name = key
        # authenticode_<alg> (snake_case, what measure writes); authenticode-<alg>, the spelling
        # of measurement JSON before it, is read alike (the shipped sample's files use it)
        if key.startswith(("authenticode_", "authenticode-")):
            target, alg_name = authenticode, key[len("authenticode_") :]
        alg = ALG_BY_NAME.get(alg_name)
        if alg is None:
            raise InputError(f"{what}: unknown digest (sha256, sha384, sha512, authenticode_<alg>, text)")
        raw = _hex(value, what)
        if len(raw) != DIGEST_SIZES[alg]:
            raise InputError(f"{what}: {DIGEST_SIZES[alg]} bytes expected, got {len(raw)}")
        target.append(Digest(alg, raw))
    if plain:
        out.insert(0, ReferenceValue(f"{name}.digest", env, (Digests(tuple(plain)),)))
    if authenticode:
        out.insert(
            1 if plain else 0, ReferenceValue(f"{name}.authenticode", env, (Digests(tuple(authenticode)),))
        )
    return out


def values_from_measurements(doc: Mapping[str, Any]) -> tuple[str, list[ReferenceValue]]:
    """The platform and values of one Measurement JSON document (DEVELOPERS.md contract)."""
    if not isinstance(doc, Mapping):
        raise InputError("measurements: expected a JSON object")
    fmt = doc.get("format")
    if fmt != MEASUREMENTS_FORMAT:
        raise InputError(f"measurements: format must be {MEASUREMENTS_FORMAT!r}, got {fmt!r}")
    platform = doc.get("platform")
    if platform not in PLATFORMS:
        raise InputError(f"measurements: platform must be 'tdx' or 'snp', got {platform!r}")
    specs = PLATFORM_VALUES[platform]
    env = Environment.platform(platform)
    out: list[ReferenceValue] = []
    values = doc.get("values", {})
    if not isinstance(values, Mapping):
        raise InputError("measurements: values must be an object")
    for name, value in values.items():
        if name not in specs:
            raise InputError(f"values.{name}: not a {platform} reference value ({', '.join(specs)})")
        out.append(
            ReferenceValue(name, env, (_expected_from_json(platform, specs[name], value, f"values.{name}"),))
        )
    components = doc.get("components", {})
    if not isinstance(components, Mapping):
        raise InputError("measurements: components must be an object")
    for name, entry in components.items():
        out.extend(_component_values(platform, name, entry))
    if not out:
        raise InputError("measurements: no values and no components")
    return platform, out


def from_measurements(
    docs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    id: str,
    sequence: int = 0,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    signer: Signer | None = None,
) -> ReferenceValues:
    """Reference values from one Measurement JSON document, or several (rollout alternatives)."""
    items: Sequence[Mapping[str, Any]] = [docs] if isinstance(docs, Mapping) else list(docs)
    if not items:
        raise InputError("no measurements given")
    platform: str | None = None
    values: list[ReferenceValue] = []
    for doc in items:
        plat, found = values_from_measurements(doc)
        if platform is not None and plat != platform:
            raise InputError("measurements for different platforms cannot be combined")
        platform = plat
        values.extend(found)
    assert platform is not None
    rv = ReferenceValues(
        profile=PROFILE_ID,
        id=id,
        platform=platform,
        values=merge_alternatives(values),
        not_before=not_before,
        not_after=not_after,
        sequence=sequence,
        signer=signer,
    )
    check(rv)
    return rv


# --------------------------------------------------------------------------- rollback protection


class SequenceStore(Protocol):
    """Where a verifier remembers the highest sequence number it accepted per reference-value id."""

    def last(self, rv_id: str) -> int | None: ...

    def record(self, rv_id: str, sequence: int) -> None: ...


class MemorySequenceStore:
    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def last(self, rv_id: str) -> int | None:
        return self._seen.get(rv_id)

    def record(self, rv_id: str, sequence: int) -> None:
        self._seen[rv_id] = max(sequence, self._seen.get(rv_id, sequence))


class FileSequenceStore:
    """A JSON file ``{"<id>": <sequence>}``, replaced atomically on every update."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, int]:
        if not os.path.lexists(self.path):
            return {}
        # json.loads decodes it (and words a bad encoding)
        text = read_bounded(self.path, "sequence_store", "sequence store")
        try:
            data = json.loads(text) if text.strip() else {}
        except JSON_ERRORS:
            raise InputError(f"sequence store {self.path}: not JSON") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in data.items()
        ):
            raise InputError(f"sequence store {self.path}: expected {{id: sequence}}")
        return data

    def last(self, rv_id: str) -> int | None:
        return self._load().get(rv_id)

    def record(self, rv_id: str, sequence: int) -> None:
        data = self._load()
        data[rv_id] = max(sequence, data.get(rv_id, sequence))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # (only when a sequence is recorded)

        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def check_sequence(store: SequenceStore, rv: ReferenceValues, *, record: bool = True) -> None:
    """Refuse ``rv`` if its sequence is lower than the last accepted one for its id; then record it."""
    last = store.last(rv.id)
    if last is not None and rv.sequence < last:
        raise VerificationError(
            Code.REFVALUES_ROLLBACK,
            f"reference values {rv.id!r} are older than ones already accepted (rollback)",
            expected=f">= {last}",
            actual=rv.sequence,
        )
    if record:
        store.record(rv.id, rv.sequence)


def names(platform: str) -> Iterable[str]:
    """Every value name of a platform (components as ``<component>.<mkey>``)."""
    yield from PLATFORM_VALUES[platform]
    for component in COMPONENTS:
        for key in COMPONENT_VALUES:
            if key != "text" or component == "cmdline":
                yield f"{component}.{key}"


__all__ = [
    "PROFILE_ID",
    "FileSequenceStore",
    "MemorySequenceStore",
    "SequenceStore",
    "check_sequence",
    "decode",
    "encode",
    "from_corim",
    "from_measurements",
    "to_corim",
]
