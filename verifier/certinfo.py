"""What a person reads off a certificate, CRL or public key: ``ccverify show`` prints these.

Names, validity, the key, the extensions that decide how the certificate may be used, and the
vendor extensions the verifiers rely on (Intel SGX PCK: FMSPC, PCE-ID, TCB; AMD VCEK/VLEK: the
TCB SPLs and HWID), decoded rather than shown as DER. Nothing here verifies anything.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from ccverify.verifier import x509load
from ccverify.verifier.errors import InputError

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
_SGX_EXTENSION = x509.ObjectIdentifier("1.2.840.113741.1.13.1")
_AMD_PREFIX = "1.3.6.1.4.1.3704.1."
#: AMD's VCEK/VLEK extension names (VCEK spec #57230 table 8), by OID suffix
_AMD_NAMES = {
    "1": "struct_version", "2": "product_name", "3.1": "bl_spl", "3.2": "tee_spl", "3.3": "snp_spl",
    "3.4": "spl_4", "3.5": "spl_5", "3.6": "spl_6", "3.7": "spl_7", "3.8": "ucode_spl",
    "3.9": "fmc_spl", "4": "hwid", "5": "csp_id",
}  # fmt: skip


@dataclass(frozen=True)
class Described:
    """One decoded item: ``kind`` is ``certificate``, ``crl`` or ``public_key``."""

    kind: str
    fields: dict[str, Any]


def looks_like_x509(data: bytes) -> bool:
    """PEM blocks of certificates, CRLs or keys, or one DER certificate/CRL."""
    if _PEM_BLOCK.search(data[:65536]) is not None:
        return True
    return data[:1] == b"\x30" and _der_item(data) is not None


def describe_all(data: bytes) -> list[Described]:
    """Every certificate, CRL and public key in ``data`` (PEM, possibly several, or one DER)."""
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        item = _der_item(data)
        if item is None:
            raise InputError("not a certificate, CRL or public key (PEM or DER)")
        return [item]
    out: list[Described] = []
    for number, match in enumerate(blocks):
        label = match.group(1).decode()
        block = match.group(0)
        try:
            if label == "CERTIFICATE":
                out.append(describe_certificate(x509load.certificate(block)))
            elif label == "X509 CRL":
                out.append(describe_crl(x509load.crl(block)))
            elif label == "PUBLIC KEY":
                out.append(
                    Described("public_key", {"key": key_text(serialization.load_pem_public_key(block))})
                )
            else:
                out.append(Described("pem", {"label": label, "note": "not decoded (private keys never are)"}))
        except ValueError as error:
            reason = x509load.in_words(error)
            raise InputError(f"PEM block {number} ({label}): not decodable: {reason}") from None
    return out


def _der_item(data: bytes) -> Described | None:
    try:
        return describe_certificate(x509load.der_certificate(data))
    except (ValueError, InputError):
        pass
    try:
        return describe_crl(x509load.crl(data))
    except (ValueError, InputError):
        pass
    try:
        return Described("public_key", {"key": key_text(serialization.load_der_public_key(data))})
    except (ValueError, TypeError):
        return None


def key_text(key: Any) -> str:
    """``EC P-384``, ``RSA 4096``, ``Ed25519``... with the SHA-256 of the SubjectPublicKeyInfo."""
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"{key_kind(key)} (SPKI SHA-256 {hashlib.sha256(spki).hexdigest()})"


def key_kind(key: Any) -> str:
    """What a person calls a key (public or private): ``EC P-384``, ``RSA 4096``, ``Ed25519``...,
    never a Python class name (messages say this, not ``_RSAPublicKey``)."""
    public = getattr(key, "public_key", None)
    if callable(public):  # a private key (or a certificate): the kind of its public key
        try:
            key = public()
        except Exception:  # not a key after all
            return "unknown key type"
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            key.curve.name, key.curve.name
        )
        kind = f"EC {name}"
    elif isinstance(key, rsa.RSAPublicKey):
        kind = f"RSA {key.key_size}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        kind = "Ed25519"
    elif isinstance(key, ed448.Ed448PublicKey):
        kind = "Ed448"
    elif isinstance(key, x25519.X25519PublicKey):
        kind = "X25519"
    elif isinstance(key, x448.X448PublicKey):
        kind = "X448"
    elif isinstance(key, dsa.DSAPublicKey):
        kind = f"DSA {key.key_size}"
    else:
        kind = "unknown key type"
    return kind


def describe_certificate(cert: x509.Certificate) -> Described:
    with warnings.catch_warnings():  # AMD's VCEKs carry serial number 0, which cryptography warns of
        warnings.simplefilter("ignore")
        return _describe_certificate(cert)


def _describe_certificate(cert: x509.Certificate) -> Described:
    try:
        fields: dict[str, Any] = {
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "serial": f"{cert.serial_number:x}",
            "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc,
            "key": key_text(cert.public_key()),
            "signature_algorithm": _signature_name(cert),
            "sha256": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
        }
        fields.update(_extensions(cert.extensions))
    except ValueError as error:  # cryptography parses names and extensions lazily
        raise InputError(f"certificate not decodable: {x509load.in_words(error)}") from None
    return Described("certificate", fields)


def describe_crl(crl: x509.CertificateRevocationList) -> Described:
    try:
        fields: dict[str, Any] = {
            "issuer": crl.issuer.rfc4514_string(),
            "this_update": crl.last_update_utc,
            "next_update": crl.next_update_utc,
            "revoked": [f"{entry.serial_number:x}" for entry in crl],
            "signature_algorithm": crl.signature_algorithm_oid._name,
        }
        critical = [ext.oid.dotted_string for ext in crl.extensions if ext.critical]
        if critical:
            fields["critical_extensions"] = critical
    except ValueError as error:
        raise InputError(f"CRL not decodable: {x509load.in_words(error)}") from None
    return Described("crl", fields)


def _signature_name(cert: x509.Certificate) -> str:
    return _oid_name(cert.signature_algorithm_oid)


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = oid._name
    return name if name != "Unknown OID" else oid.dotted_string


def _extensions(extensions: x509.Extensions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unknown_critical: list[str] = []
    for ext in extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints):
            out["ca"] = value.ca
            if value.path_length is not None:
                out["path_length"] = value.path_length
        elif isinstance(value, x509.KeyUsage):
            out["key_usage"] = _key_usage(value)
        elif isinstance(value, x509.ExtendedKeyUsage):
            out["extended_key_usage"] = [_oid_name(oid) for oid in value]
        elif isinstance(value, x509.CRLDistributionPoints):
            out["crl_distribution_points"] = [
                name.value for point in value for name in (point.full_name or []) if hasattr(name, "value")
            ]
        elif isinstance(value, x509.SubjectKeyIdentifier):
            out["subject_key_id"] = value.digest.hex()
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            if value.key_identifier is not None:
                out["authority_key_id"] = value.key_identifier.hex()
        elif ext.oid == _SGX_EXTENSION:
            out["sgx"] = _sgx(ext)
        elif ext.oid.dotted_string.startswith(_AMD_PREFIX):
            name = _AMD_NAMES.get(ext.oid.dotted_string[len(_AMD_PREFIX) :], ext.oid.dotted_string)
            out.setdefault("amd", {})[name] = _amd_value(ext)
        elif ext.critical:
            unknown_critical.append(ext.oid.dotted_string)
    if unknown_critical:
        out["unknown_critical_extensions"] = unknown_critical
    return out


def _key_usage(usage: x509.KeyUsage) -> list[str]:
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign"]  # fmt: skip
    found = [name for name in names if getattr(usage, name)]
    if usage.key_agreement:
        found += [name for name in ("encipher_only", "decipher_only") if getattr(usage, name)]
    return found


def _sgx(ext: x509.Extension[x509.ExtensionType]) -> dict[str, Any]:
    from ccverify.verifier.errors import VerificationError
    from ccverify.verifier.tdx.pck import parse_sgx_extension_value

    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    try:
        parsed = parse_sgx_extension_value(raw)
    except VerificationError as error:
        return {"undecodable": error.detail}
    return {
        "fmspc": parsed.fmspc,
        "pce_id": parsed.pce_id,
        "ppid": parsed.ppid,
        "pcesvn": parsed.tcb.pcesvn,
        "cpusvn": parsed.tcb.cpusvn,
        "sgx_tcb_components": list(parsed.tcb.sgx_components),
        "sgx_type": parsed.sgx_type,
    }


def _amd_value(ext: x509.Extension[x509.ExtensionType]) -> str | int:
    """AMD's VCEK extensions: IA5 strings (product name), DER INTEGERs (SPLs), octets (HWID)."""
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    if len(raw) >= 2 and raw[0] == 0x02 and raw[1] == len(raw) - 2:  # INTEGER
        return int.from_bytes(raw[2:], "big", signed=True)
    if len(raw) >= 2 and raw[0] == 0x16 and raw[1] == len(raw) - 2:  # IA5String
        return raw[2:].decode("ascii", "replace")
    return raw.hex()


def described_json(items: list[Described]) -> list[dict[str, Any]]:
    """``[{"kind": ..., **fields}]``, for JSON and tables."""
    return [{"kind": item.kind, **item.fields} for item in items]
