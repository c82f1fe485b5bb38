"""The relying-party service's configuration: one TOML file (stdlib ``tomllib``).

``ccverify serve --init DIR`` writes a working one (``DIR/config.toml``) with fresh keys;
relative paths in it are relative to the file's directory. Sections and defaults::

    [server]
    host = "127.0.0.1"            # loopback unless told otherwise
    port = 8443
    workers = 1
    database = "sqlite:///DIR/ccverify.db"   # or postgresql+psycopg://user@host/db (replicas)
    issuer = "https://127.0.0.1:8443"        # the EAR JWTs' iss
    access_log = false            # uvicorn's line per request (the audit log has every attestation)
    trusted_proxies = ["127.0.0.1"]  # load balancers whose X-Forwarded-For names the client
    # verification_time = "2026-01-15T00:00:00Z"  # verify at a fixed time (recorded samples only)

    [tls]                          # both or neither; without them the service speaks plain HTTP
    cert = "tls-cert.pem"
    key = "tls-key.pem"
    # client_ca = "admin-ca.pem"   # admin requests then need a client certificate it issued

    [keys]
    result_signing_key = "result-signing-key.pem"  # P-256 (ES256) or P-384 (ES384), PKCS#8 PEM
    storage_key = "storage.key"                    # 32 bytes, base64: secrets at rest (AES-256-GCM)
    admin_token_sha256 = "<hex>"                   # SHA-256 of the admin bearer token

    [trust]
    roots = []          # evidence roots INSTEAD of the pinned production roots (test PKIs only)
    anchors = []        # reference-value and device-policy signers (PEM keys or certificates)
    collateral = []     # TDX collateral files (QuoteCollateralV3 JSON or offline bundle), tried first
    snp_crls = []       # AMD KDS CRLs (DER or PEM) for SNP chains whose certificates carry none
    collateral_cache = "collateral-cache"   # then this cache ...
    online = true       # ... refreshed from Intel PCS ($CCVERIFY_PCS_URL overrides the server)

    [limits]            # see LIMITS below for each default
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ccverify.verifier.errors import InputError


@dataclass(frozen=True)
class Limits:
    """Bounds on what a request may carry (each documented in the README's service section).

    Sizes are of the decoded bytes; a body over ``max_body_bytes`` is refused (413) before it is
    parsed. ``rate_per_second``/``rate_burst`` bound each client address (token bucket, per
    worker process; 0 disables); ``request_timeout_seconds`` bounds a request's whole handling.
    """

    max_body_bytes: int = 1 << 20
    evidence_bytes: int = 16 << 10
    event_log_bytes: int = 256 << 10
    snp_certs_bytes: int = 32 << 10
    hpke_public_key_bytes: int = 2048
    secret_bytes: int = 64 << 10
    reference_values_bytes: int = 256 << 10
    device_policy_bytes: int = 256 << 10
    name_chars: int = 128
    rule_secrets: int = 64
    nonce_ttl_seconds: int = 300
    result_ttl_seconds: int = 300
    outstanding_nonces: int = 100_000
    rate_per_second: float = 100.0
    rate_burst: int = 200
    request_timeout_seconds: float = 10.0
    audit_page: int = 500
    #: how long a replica may answer from its copy of the release rules and the resources they
    #: name (an admin change made on another replica applies after at most this long)
    release_cache_seconds: float = 1.0
    #: attestation audit entries are written in batches at least this often (0: one at a time)
    audit_flush_seconds: float = 0.2


LIMITS = Limits()


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service reads from its configuration file."""

    database: str
    result_signing_key: bytes = field(repr=False)
    storage_key: bytes = field(repr=False)
    admin_token_sha256: bytes
    host: str = "127.0.0.1"
    port: int = 8443
    workers: int = 1
    issuer: str = "ccverify"
    #: uvicorn's access log (one line per request); the audit log records every attestation
    access_log: bool = False
    #: load balancers whose X-Forwarded-For names the client (rate limits and the audit log
    #: then see the guest's address); uvicorn's forwarded_allow_ips
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    verification_time: datetime | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: CA of the admin clients' certificates: the admin API then needs one beside the token
    tls_client_ca: Path | None = None
    roots: tuple[bytes, ...] = ()
    anchors: tuple[bytes, ...] = ()
    collateral: tuple[Path, ...] = ()
    snp_crls: tuple[bytes, ...] = ()
    collateral_cache: Path | None = None
    online: bool = True
    limits: Limits = LIMITS
    source: Path | None = None

    def with_(self, **changes: Any) -> ServiceConfig:
        return replace(self, **changes)


def token_digest(token: str) -> bytes:
    """What the configuration stores of an admin token: its SHA-256."""
    return hashlib.sha256(token.encode()).digest()


def load_config(path: Path) -> ServiceConfig:
    """Read and check ``path``; any problem is an ``InputError`` naming the key."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"config {path}: {error.strerror or error}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"config {path}: not valid TOML ({error})") from None
    return parse_config(document, path.parent.resolve(), source=path)


def parse_config(document: Mapping[str, Any], base: Path, *, source: Path | None = None) -> ServiceConfig:
    known = {"server", "tls", "keys", "trust", "limits"}
    unknown = set(document) - known
    if unknown:
        raise InputError(f"config: unknown section(s) {sorted(unknown)}")
    server = _section(document, "server")
    tls = _section(document, "tls")
    keys = _section(document, "keys")
    trust = _section(document, "trust")

    def path(value: Any, key: str) -> Path:
        if not isinstance(value, str) or not value:
            raise InputError(f"config: {key} must be a path")
        candidate = Path(value)
        return candidate if candidate.is_absolute() else base / candidate

    def read(value: Any, key: str) -> bytes:
        target = path(value, key)
        try:
            return target.read_bytes()
        except OSError as error:
            raise InputError(f"config: {key} {target}: {error.strerror or error}") from None

    def paths(value: Any, key: str) -> list[Path]:
        if not isinstance(value, list):
            raise InputError(f"config: {key} must be a list of paths")
        return [path(item, key) for item in value]

    database = parse_database(server.get("database", "sqlite:///ccverify.db"), base)
    if "result_signing_key" not in keys or "storage_key" not in keys or "admin_token_sha256" not in keys:
        raise InputError("config: [keys] needs result_signing_key, storage_key and admin_token_sha256")
    try:
        storage_key = base64.b64decode(read(keys["storage_key"], "keys.storage_key").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("config: keys.storage_key must hold 32 bytes in base64") from None
    if len(storage_key) != 32:
        raise InputError("config: keys.storage_key must hold 32 bytes in base64")
    try:
        token_hash = bytes.fromhex(str(keys["admin_token_sha256"]))
    except ValueError:
        raise InputError("config: keys.admin_token_sha256 must be 64 hex digits") from None
    if len(token_hash) != 32:
        raise InputError("config: keys.admin_token_sha256 must be 64 hex digits")
    at = server.get("verification_time")
    moment = None
    if at is not None:
        from ccverify.verifier.timeutil import parse_time

        moment = parse_time(str(at), "server.verification_time")
    if ("cert" in tls) != ("key" in tls):
        raise InputError("config: [tls] needs both cert and key, or neither")
    if "client_ca" in tls and "cert" not in tls:
        raise InputError("config: [tls] client_ca needs cert and key (mutual TLS is TLS)")
    cache = trust.get("collateral_cache")
    config = ServiceConfig(
        database=database,
        result_signing_key=read(keys["result_signing_key"], "keys.result_signing_key"),
        storage_key=storage_key,
        admin_token_sha256=token_hash,
        host=_typed(server, "host", str, "127.0.0.1"),
        port=_typed(server, "port", int, 8443),
        workers=_typed(server, "workers", int, 1),
        issuer=_typed(server, "issuer", str, "ccverify"),
        access_log=_typed(server, "access_log", bool, False),
        trusted_proxies=tuple(
            _strings(server.get("trusted_proxies", ["127.0.0.1"]), "server.trusted_proxies")
        ),
        verification_time=moment,
        tls_cert=path(tls["cert"], "tls.cert") if "cert" in tls else None,
        tls_key=path(tls["key"], "tls.key") if "key" in tls else None,
        tls_client_ca=path(tls["client_ca"], "tls.client_ca") if "client_ca" in tls else None,
        roots=tuple(read(str(p), "trust.roots") for p in paths(trust.get("roots", []), "trust.roots")),
        anchors=tuple(
            read(str(p), "trust.anchors") for p in paths(trust.get("anchors", []), "trust.anchors")
        ),
        collateral=tuple(paths(trust.get("collateral", []), "trust.collateral")),
        snp_crls=tuple(
            read(str(p), "trust.snp_crls") for p in paths(trust.get("snp_crls", []), "trust.snp_crls")
        ),
        collateral_cache=None if cache is None else path(cache, "trust.collateral_cache"),
        online=_typed(trust, "online", bool, True),
        limits=_limits(_section(document, "limits")),
        source=source,
    )
    if config.workers < 1 or not 0 < config.port < 65536:
        raise InputError("config: server.workers must be >= 1 and server.port a TCP port")
    return config


def parse_database(url: Any, base: Path) -> str:
    """A SQLAlchemy URL; a relative SQLite path is relative to ``base``."""
    if not isinstance(url, str) or not url:
        raise InputError("config: server.database must be a SQLAlchemy URL")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            return "sqlite:///" + str(base / relative)
    return url


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"config: {key} must be a list of strings")
    return value


def _section(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise InputError(f"config: [{name}] must be a table")
    return value


def _typed(section: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = section.get(key, default)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise InputError(f"config: {key} must be a {kind.__name__}")
    return value


def _limits(section: Mapping[str, Any]) -> Limits:
    names = {f.name: f for f in fields(Limits)}
    unknown = set(section) - set(names)
    if unknown:
        raise InputError(f"config: unknown [limits] key(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in section.items():
        default = getattr(LIMITS, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InputError(f"config: limits.{key} must be a number >= 0")
        values[key] = float(value) if isinstance(default, float) else int(value)
    return replace(LIMITS, **values)
