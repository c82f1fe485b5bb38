"""Reference values as ccverify uses them: named values, each with one or more accepted values.

A ``ReferenceValues`` set belongs to one platform (TDX or SEV-SNP). Each ``ReferenceValue``
names what it constrains (``mrtd``, ``measurement``, ``kernel.digest`` ...), the environment it
belongs to (the platform, or a boot component under it) and the accepted alternatives (more
than one during a rollout). ``accepts(name, actual)`` answers whether evidence bytes match.

Comparison rules:
- digests (draft-ietf-rats-corim, "Comparison for digests entries"): every algorithm both
  sides have must match; no common algorithm, an algorithm listed twice on either side, or an
  empty list means no match. Evidence given as bare bytes is taken as one digest whose
  algorithm follows from its length (32 sha-256, 48 sha-384, 64 sha-512).
- raw values: exact byte equality, or ``actual & mask == value & mask`` for masked values
  (lengths must agree).
- minimum SVN vectors (TDX TEE_TCB_SVN, SNP REPORTED_TCB): same length, and every byte of the
  evidence is at least the reference byte.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SHA256 = 1
SHA384 = 7
SHA512 = 8
#: IANA Named Information Hash Algorithm ids and digest sizes
DIGEST_SIZES = {SHA256: 32, SHA384: 48, SHA512: 64}
ALG_NAMES = {SHA256: "sha-256", SHA384: "sha-384", SHA512: "sha-512"}
ALG_BY_NAME = {"sha256": SHA256, "sha384": SHA384, "sha512": SHA512, **{v: k for k, v in ALG_NAMES.items()}}
ALG_BY_SIZE = {size: alg for alg, size in DIGEST_SIZES.items()}

TDX = "tdx"
SNP = "snp"
PLATFORMS = {TDX: ("Intel", "TDX"), SNP: ("AMD", "SEV-SNP")}
COMPONENTS = ("firmware", "kernel", "cmdline", "initrd")


@dataclass(frozen=True)
class Environment:
    """The platform (vendor/model ``Intel``/``TDX`` or ``AMD``/``SEV-SNP``) or a boot component.

    A boot component has ``component`` set (firmware, kernel, cmdline, initrd) and keeps its
    platform's vendor and model, so one CoRIM describes one machine type.
    """

    vendor: str
    model: str
    component: str | None = None

    @classmethod
    def platform(cls, platform: str) -> Environment:
        vendor, model = PLATFORMS[platform]
        return cls(vendor, model)

    @property
    def platform_name(self) -> str:
        for name, pair in PLATFORMS.items():
            if pair == (self.vendor, self.model):
                return name
        return f"{self.vendor}/{self.model}"

    def __str__(self) -> str:
        base = f"{self.vendor} {self.model}"
        return base if self.component is None else f"{base} {self.component}"


@dataclass(frozen=True)
class Digest:
    """A digest with its algorithm (a COSE/IANA id, or a name where the source gave one)."""

    alg: int | str
    value: bytes

    @property
    def alg_name(self) -> int | str:
        """The algorithm's name (``sha-384``) when known, else the id as given."""
        return ALG_NAMES.get(self.alg, self.alg) if isinstance(self.alg, int) else self.alg

    def to_json(self) -> dict[str, Any]:
        return {"alg": self.alg_name, "value": self.value.hex()}


@dataclass(frozen=True)
class Digests:
    """One measured object's digests, possibly under several algorithms (all must match)."""

    digests: tuple[Digest, ...]
    kind: str = "digests"

    def accepts(self, actual: bytes | Sequence[Digest]) -> bool:
        evidence = [_bytes_as_digest(actual)] if isinstance(actual, (bytes, bytearray)) else list(actual)
        return digests_match(self.digests, evidence)


@dataclass(frozen=True)
class RawValue:
    """Exact bytes, or bytes under a mask (``mask`` None means every bit counts)."""

    value: bytes
    mask: bytes | None = None
    kind: str = "raw"

    def accepts(self, actual: bytes) -> bool:
        actual = bytes(actual)
        if len(actual) != len(self.value):
            return False
        if self.mask is None:
            return hmac.compare_digest(actual, self.value)
        if len(self.mask) != len(self.value):
            return False
        mask = int.from_bytes(self.mask, "little")
        return int.from_bytes(actual, "little") & mask == int.from_bytes(self.value, "little") & mask


@dataclass(frozen=True)
class MinSvns:
    """Minimum security versions, one per byte of the evidence field."""

    minimums: tuple[int, ...]
    kind: str = "min-svn"

    def accepts(self, actual: bytes) -> bool:
        actual = bytes(actual)
        return len(actual) == len(self.minimums) and all(
            a >= m for a, m in zip(actual, self.minimums, strict=True)
        )


Expected = Digests | RawValue | MinSvns


def _bytes_as_digest(actual: bytes | bytearray) -> Digest:
    alg = ALG_BY_SIZE.get(len(actual))
    return Digest(alg if alg is not None else f"unknown-{len(actual)}", bytes(actual))


def digests_match(reference: Sequence[Digest], evidence: Sequence[Digest]) -> bool:
    """The draft's digest comparison (anti-downgrade: every common algorithm must match)."""
    if not reference or not evidence:
        return False
    ref = _by_alg(reference)
    ev = _by_alg(evidence)
    if ref is None or ev is None:
        return False
    common = set(ref) & set(ev)
    if not common:
        return False
    return all(hmac.compare_digest(ref[alg], ev[alg]) for alg in common)


def canonical_alg(alg: int | str) -> int | str:
    """One id per algorithm: a known text name (``sha384``, ``sha-384``) becomes its IANA number."""
    return ALG_BY_NAME.get(alg.lower(), alg) if isinstance(alg, str) else alg


def _by_alg(digests: Sequence[Digest]) -> dict[int | str, bytes] | None:
    out: dict[int | str, bytes] = {}
    for d in digests:
        alg = canonical_alg(d.alg)
        if alg in out:
            return None
        out[alg] = bytes(d.value)
    return out


@dataclass(frozen=True)
class ReferenceValue:
    """A named value and its accepted alternatives (any one of them matching accepts it)."""

    name: str
    environment: Environment
    alternatives: tuple[Expected, ...]

    def accepts(self, actual: Any) -> bool:
        return any(alt.accepts(actual) for alt in self.alternatives)


@dataclass(frozen=True)
class Signer:
    """Who signed reference values, as the signature's header names them."""

    name: str
    uri: str | None = None


@dataclass(frozen=True)
class ReferenceValues:
    """A signed set of reference values for one platform."""

    profile: str
    id: str
    platform: str
    values: tuple[ReferenceValue, ...]
    not_before: datetime | None = None
    not_after: datetime | None = None
    sequence: int = 0
    signer: Signer | None = None
    environments: tuple[Environment, ...] = field(default=())

    def __post_init__(self) -> None:
        # environments in a fixed order, values grouped by environment (as the CoRIM holds them)
        envs: list[Environment] = list(self.environments)
        for value in self.values:
            if value.environment not in envs:
                envs.append(value.environment)
        order = {env: i for i, env in enumerate(envs)}
        values = tuple(sorted(self.values, key=lambda v: order[v.environment]))
        object.__setattr__(self, "environments", tuple(envs))
        object.__setattr__(self, "values", values)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.values)

    def get(self, name: str) -> ReferenceValue | None:
        return next((v for v in self.values if v.name == name), None)

    def __contains__(self, name: object) -> bool:
        return any(v.name == name for v in self.values)

    def accepts(self, name: str, actual: object) -> bool:
        """Does evidence ``actual`` match the reference value ``name``? False when not listed."""
        value = self.get(name)
        return value is not None and value.accepts(actual)


def merge_alternatives(values: Sequence[ReferenceValue]) -> tuple[ReferenceValue, ...]:
    """Values with the same name become one value with the union of their alternatives."""
    merged: dict[str, ReferenceValue] = {}
    for value in values:
        seen = merged.get(value.name)
        if seen is None:
            merged[value.name] = value
            continue
        if seen.environment != value.environment:
            raise ValueError(f"{value.name} appears under two environments")
        alternatives = seen.alternatives + tuple(a for a in value.alternatives if a not in seen.alternatives)
        merged[value.name] = ReferenceValue(value.name, value.environment, alternatives)
    return tuple(merged.values())
