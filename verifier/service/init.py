"""``ccverify serve --init DIR``: a working configuration with fresh keys.

Writes ``DIR/config.toml``, the result-signing key (P-256, ES256), the storage key for secrets
at rest, a self-signed TLS certificate for the listening address (unless ``tls=False``), copies
of the given evidence roots, signer keys and collateral, and the admin token in
``DIR/admin-token`` (mode 0600; the configuration keeps only its SHA-256).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ccverify.verifier.errors import InputError
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.service.config import token_digest


@dataclass(frozen=True)
class Initialized:
    directory: Path
    config: Path
    admin_token_file: Path
    files: tuple[str, ...]
    url: str


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tls(directory: Path, host: str, now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ccverify relying party {host}")])
    alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        alt.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        alt.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "tls-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _private(directory / "tls-key.pem", _pem(key))


def _is_crl(path: Path) -> bool:
    """An AMD KDS CRL (DER or PEM) among the --collateral files; the rest is TDX collateral."""
    try:
        data = path.read_bytes()
    except OSError:
        return False  # copy() names the missing file
    try:
        if data.lstrip().startswith(b"-----BEGIN X509 CRL"):
            x509.load_pem_x509_crl(data)
        else:
            x509.load_der_x509_crl(data)
    except ValueError:
        return False
    return True


def initialize(
    directory: Path,
    *,
    roots: list[Path] = [],  # noqa: B006 - read only
    anchors: list[Path] = [],  # noqa: B006
    collateral: list[Path] = [],  # noqa: B006
    host: str = "127.0.0.1",
    port: int = 8443,
    workers: int = 1,
    database: str | None = None,
    tls: bool = True,
    verification_time: datetime | None = None,
    online: bool = True,
    now: datetime | None = None,
) -> Initialized:
    """Write a fresh configuration into ``directory`` (refused if it already holds one)."""
    moment = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "config.toml").exists():
        raise InputError(f"{directory}/config.toml exists; refusing to overwrite a configuration")
    written: list[str] = []

    def copy(source: Path, kind: str, index: int) -> str:
        if not source.is_file():
            raise InputError(f"{kind} {source}: no such file")
        name = f"{kind}-{index}-{source.name}"
        shutil.copyfile(source, directory / name)
        written.append(name)
        return name

    root_names = [copy(p, "root", i) for i, p in enumerate(roots)]
    anchor_names = [copy(p, "anchor", i) for i, p in enumerate(anchors)]
    crls = [p for p in collateral if _is_crl(p)]
    collateral_names = [copy(p, "collateral", i) for i, p in enumerate(collateral) if p not in crls]
    crl_names = [copy(p, "snp-crl", i) for i, p in enumerate(crls)]
    result_key = ec.generate_private_key(ec.SECP256R1())
    _private(directory / "result-signing-key.pem", _pem(result_key))
    # its public half as /.well-known/jwks.json serves it: what a guest image pins
    # (guest.toml's relying_party_jwks)
    from ccverify.verifier.result import public_jwk
    from ccverify.verifier.service.attestation import key_id

    public = result_key.public_key()
    jwks = {"keys": [public_jwk(public, key_id(public))]}
    (directory / "jwks.json").write_text(json.dumps(jwks, indent=1) + "\n")
    _private(directory / "storage.key", base64.b64encode(secrets.token_bytes(32)) + b"\n")
    token = secrets.token_urlsafe(32)
    _private(directory / "admin-token", token.encode() + b"\n")
    written += ["result-signing-key.pem", "jwks.json", "storage.key", "admin-token"]
    if tls:
        _tls(directory, host, moment)
        written += ["tls-cert.pem", "tls-key.pem"]
    scheme = "https" if tls else "http"
    url_host = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{url_host}:{port}"
    lines = [
        "# ccverify relying-party service (written by `ccverify serve --init`)",
        "[server]",
        f"host = {_toml_str(host)}",
        f"port = {port}",
        f"workers = {workers}",
        f"database = {_toml_str(database or 'sqlite:///ccverify.db')}",
        f"issuer = {_toml_str(url)}",
    ]
    if verification_time is not None:
        lines.append("# verify at this fixed time: recorded samples only, never in production")
        lines.append(f"verification_time = {_toml_str(iso8601(verification_time))}")
    if tls:
        lines += ["", "[tls]", 'cert = "tls-cert.pem"', 'key = "tls-key.pem"']
    lines += [
        "",
        "[keys]",
        'result_signing_key = "result-signing-key.pem"',
        'storage_key = "storage.key"',
        f'admin_token_sha256 = "{token_digest(token).hex()}"',
        "",
        "[trust]",
        f"roots = [{', '.join(_toml_str(n) for n in root_names)}]",
        f"anchors = [{', '.join(_toml_str(n) for n in anchor_names)}]",
        f"collateral = [{', '.join(_toml_str(n) for n in collateral_names)}]",
        f"snp_crls = [{', '.join(_toml_str(n) for n in crl_names)}]",
        'collateral_cache = "collateral-cache"',
        f"online = {'true' if online else 'false'}",
        "",
        "[limits]",
        "# defaults: see the README (Relying-party service); e.g. rate_per_second = 100.0",
        "",
    ]
    (directory / "config.toml").write_text("\n".join(lines))
    written.insert(0, "config.toml")
    return Initialized(directory, directory / "config.toml", directory / "admin-token", tuple(written), url)
