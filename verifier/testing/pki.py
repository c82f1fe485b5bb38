"""Test PKI: Intel- and AMD-shaped certificate hierarchies, CRLs and signed collateral.

Everything here is for tests and for the shipped example (``ccverify example``), never for
production trust. Every certificate carries ``O=ccverify example PKI - NOT TRUSTED``; the Intel
root CN says EXAMPLE and the AMD ARK carries ``OU=ccverify EXAMPLE`` (its CN stays ``ARK-<P>``,
because verifiers read the product from it). Intermediate and leaf CNs copy the vendors'
(``Intel SGX PCK Platform CA``, ``SEV-Milan``, ``SEV-VCEK`` ...) so that the verifiers run
the same code paths as on real evidence. Extension sets, their order and ASN.1 types, the
CRL shapes and the collateral JSON copy the real artefacts in ``tests/fixtures``.

Determinism
    * EC keys (Intel: all P-256 keys; AMD: the VCEK/VLEK P-384 keys) are derived from
      ``seed`` (``ec.derive_private_key(int(SHA-512(seed/label)) mod n)``), so rebuilding a PKI
      with the same seed gives the same keys.
    * ECDSA signatures use RFC 6979 deterministic nonces where the OpenSSL in use supports them
      (OpenSSL >= 3.2), so Intel certificates, CRLs and collateral signatures are byte-for-byte
      reproducible; with an older OpenSSL they fall back to randomised ECDSA (still valid).
    * RSA keys (AMD ARK/ASK/ASVK) cannot be derived from a seed with ``cryptography``: they are
      generated once per (seed, product, role, size) and cached in-process (``functools.cache``)
      and on disk in ``$TMPDIR/ccverify-test-pki-<uid>/`` (override with the
      ``CCVERIFY_TEST_PKI_CACHE`` environment variable; set it to ``off`` to disable the disk
      cache). RSASSA-PSS signatures are randomised (random salt), so AMD certificate bytes
      differ between builds; keys, names and extensions do not.
    * Nothing reads the clock: validity windows default to wide windows around
      ``REFERENCE_TIME`` (2025-01-01T00:00:00Z).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from ccverify.verifier.errors import InputError
from ccverify.verifier.testing.sgx_ext import (
    SGX_EXTENSION_OID,
    SGX_TYPE_SCALABLE,
    SGX_TYPE_STANDARD,
    SgxConfiguration,
    SgxExtension,
)

if TYPE_CHECKING:
    from ccverify.verifier.evidence.snp_report import Product, TcbParts

__all__ = [
    "AMD_EXTENSION_OIDS",
    "AMD_KDS_CRL_URL",
    "DEFAULT_FMSPC",
    "DEFAULT_PCESVN",
    "DEFAULT_PCE_ID",
    "DEFAULT_QE_IDENTITY_LEVELS",
    "DEFAULT_SGX_COMPONENTS",
    "DEFAULT_TEE_TCB_SVN",
    "EXAMPLE_ORGANIZATION",
    "INTEL_PCK_CN",
    "INTEL_PCK_CRL_URL",
    "INTEL_PLATFORM_CA_CN",
    "INTEL_PROCESSOR_CA_CN",
    "INTEL_ROOT_CN",
    "INTEL_ROOT_CRL_URL",
    "INTEL_TCB_SIGNING_CN",
    "REFERENCE_TIME",
    "TD_QE_ATTRIBUTES",
    "TD_QE_ATTRIBUTES_MASK",
    "TD_QE_ISVPRODID",
    "TD_QE_MISCSELECT",
    "TD_QE_MISCSELECT_MASK",
    "TD_QE_MRSIGNER",
    "AmdTestPki",
    "ExtensionOverride",
    "IntelTestPki",
    "SignedJson",
    "Validity",
    "VekKind",
    "derive_ec_key",
    "ecdsa_sign",
    "ecdsa_sign_raw",
    "json_time",
    "key_usage",
    "module_tcb_level",
    "qe_tcb_level",
    "tcb_level",
    "tdx_module_identity",
]

#: The fixed "now" every default validity window is built around.
REFERENCE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
EXAMPLE_ORGANIZATION = "ccverify example PKI - NOT TRUSTED"

_YEAR = timedelta(days=365)
_MONTH = timedelta(days=30)


@dataclass(frozen=True)
class Validity:
    """A certificate's notBefore/notAfter (aware UTC datetimes)."""

    not_before: datetime
    not_after: datetime

    @classmethod
    def around(
        cls, at: datetime = REFERENCE_TIME, *, before: timedelta = _YEAR, after: timedelta = 5 * _YEAR
    ) -> Validity:
        return cls(at - before, at + after)

    def contains(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after


# ------------------------------------------------------------------------------------------------
# keys and signatures
# ------------------------------------------------------------------------------------------------

_CURVE_ORDERS: dict[str, int] = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}


def derive_ec_key(seed: bytes, label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    """A deterministic EC private key: scalar = SHA-512(seed || "/" || label) mod (n - 1) + 1."""
    order = _CURVE_ORDERS[curve.name]
    digest = hashlib.sha512(seed + b"/" + label.encode()).digest()
    scalar = int.from_bytes(digest, "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, curve)


def _derive_int(seed: bytes, label: str, size: int) -> int:
    """A deterministic positive integer of ``size`` bytes with the top bit clear (a DER serial)."""
    digest = hashlib.sha256(seed + b"/serial/" + label.encode()).digest()[:size]
    return (int.from_bytes(digest, "big") >> 1) | 1


def _derive_bytes(seed: bytes, label: str, size: int) -> bytes:
    return hashlib.sha512(seed + b"/bytes/" + label.encode()).digest()[:size]


@functools.cache
def _deterministic_ecdsa_supported() -> bool:
    key = derive_ec_key(b"probe", "probe", ec.SECP256R1())
    try:
        key.sign(b"probe", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    except UnsupportedAlgorithm:
        return False
    return True


def _ecdsa(algorithm: hashes.HashAlgorithm) -> ec.ECDSA:
    return ec.ECDSA(algorithm, deterministic_signing=_deterministic_ecdsa_supported())


def ecdsa_sign(
    key: ec.EllipticCurvePrivateKey, data: bytes, algorithm: hashes.HashAlgorithm | None = None
) -> tuple[int, int]:
    """ECDSA (r, s) over ``data``; SHA-256 for P-256 keys and SHA-384 for P-384 unless given."""
    if algorithm is None:
        algorithm = hashes.SHA384() if key.curve.key_size > 256 else hashes.SHA256()
    return decode_dss_signature(key.sign(data, _ecdsa(algorithm)))


def ecdsa_sign_raw(
    key: ec.EllipticCurvePrivateKey, data: bytes, algorithm: hashes.HashAlgorithm | None = None
) -> bytes:
    """ECDSA signature as raw big-endian r||s (64 bytes for P-256, 96 for P-384), as Intel uses."""
    r, s = ecdsa_sign(key, data, algorithm)
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _rsa_cache_dir() -> Path | None:
    configured = os.environ.get("CCVERIFY_TEST_PKI_CACHE")
    if configured is not None:
        if configured.strip().lower() in ("", "0", "off", "no", "false"):
            return None
        return Path(configured)
    import tempfile  # (here only: the example provider mints at boot and needs no cache folder)

    uid = getattr(os, "getuid", lambda: 0)()
    return Path(tempfile.gettempdir()) / f"ccverify-test-pki-{uid}"


@functools.cache
def _rsa_key(tag: str, bits: int) -> rsa.RSAPrivateKey:
    """The RSA test key named ``tag`` (generated once, cached in-process and on disk)."""
    name = hashlib.sha256(f"{tag}/{bits}".encode()).hexdigest()[:32] + ".pem"
    directory = _rsa_cache_dir()
    if directory is not None and _private_dir(directory):
        try:
            # our own file in a directory only we can write: skip the (1.5 s) RSA key check
            loaded = serialization.load_pem_private_key(
                (directory / name).read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
            )
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
            loaded = None
        if isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == bits:
            return loaded
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if directory is not None:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if _private_dir(directory):
                tmp = directory / f".{name}.{os.getpid()}.tmp"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(pem)
                os.replace(tmp, directory / name)
        except OSError:
            pass  # the cache is an optimisation only
    return key


def _private_dir(directory: Path) -> bool:
    """True if ``directory`` exists, is ours and nobody else can write to it."""
    try:
        info = directory.stat()
    except OSError:
        return False
    owner_ok = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return owner_ok and not info.st_mode & 0o022


# ------------------------------------------------------------------------------------------------
# small DER helpers (to re-encode what cryptography's builders cannot express)
# ------------------------------------------------------------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def _der_split(data: bytes) -> list[bytes]:
    """Split concatenated DER TLVs (single-byte tags) into their full encodings."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        first = data[pos + 1]
        if first < 0x80:
            header, length = 2, first
        else:
            size = first & 0x7F
            header, length = 2 + size, int.from_bytes(data[pos + 2 : pos + 2 + size], "big")
        out.append(data[pos : pos + header + length])
        pos += header + length
    return out


def _der_content(tlv: bytes) -> bytes:
    first = tlv[1]
    return tlv[2:] if first < 0x80 else tlv[2 + (first & 0x7F) :]


def _der_integer(value: int) -> bytes:
    if value < 0:
        raise InputError("negative DER INTEGERs are not needed here")
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _der_ia5(text: str) -> bytes:
    return _der(0x16, text.encode("ascii"))


def _der_octets(data: bytes) -> bytes:
    return _der(0x04, data)


# ------------------------------------------------------------------------------------------------
# certificate building
# ------------------------------------------------------------------------------------------------

_PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_AMD_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


def _key_usage(
    *,
    digital_signature: bool = False,
    non_repudiation: bool = False,
    cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: _PublicKey, serial: int, validity: Validity
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
    )


#: an extension override: an extension (replaces the one of its OID in place, or is appended)
#: with its criticality, or an OID alone with any flag (the extension of that OID is left out)
ExtensionOverride = tuple[x509.ExtensionType | x509.ObjectIdentifier, bool]


def key_usage(*names: str) -> x509.KeyUsage:
    """A keyUsage with the named bits (cryptography's attribute names: ``key_cert_sign``...)."""
    bits = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    for name in names:
        if name not in bits:
            raise InputError(f"unknown keyUsage bit {name!r}")
        bits[name] = True
    return x509.KeyUsage(**bits)


#: an extension no verifier knows, marked critical (RFC 5280 §4.2: the certificate or CRL is refused)
UNKNOWN_CRITICAL: ExtensionOverride = (
    x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"),
    True,
)


def idp(**fields: Any) -> ExtensionOverride:
    """A critical IssuingDistributionPoint (IDP) for a CRL: every field at its empty value but those
    given (cryptography's names: ``full_name``, ``only_contains_ca_certs``...)."""
    values: dict[str, Any] = {
        "full_name": None,
        "relative_name": None,
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }
    values.update(fields)
    return (x509.IssuingDistributionPoint(**values), True)


def uris(url: str) -> list[x509.GeneralName]:
    """``url`` as a distribution point's full name."""
    return [x509.UniformResourceIdentifier(url)]


def _overridden(
    extensions: Iterable[tuple[x509.ExtensionType, bool]], overrides: Sequence[ExtensionOverride]
) -> list[tuple[x509.ExtensionType, bool]]:
    """``extensions`` with ``overrides`` applied (see ``ExtensionOverride``)."""
    out = list(extensions)
    for item, critical in overrides:
        oid = item if isinstance(item, x509.ObjectIdentifier) else item.oid
        index = next((i for i, (ext, _c) in enumerate(out) if ext.oid == oid), None)
        if isinstance(item, x509.ObjectIdentifier):
            if index is not None:
                del out[index]
        elif index is None:
            out.append((item, critical))
        else:
            out[index] = (item, critical)
    return out


def _add(
    builder: x509.CertificateBuilder, extensions: Iterable[tuple[x509.ExtensionType, bool]]
) -> x509.CertificateBuilder:
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder


def _sign_ec(builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=_deterministic_ecdsa_supported())


def _load_der_cert(der: bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        # serial number 0, as on real VCEKs
        warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive")
        return x509.load_der_x509_certificate(der)


def _pss_algorithm_identifier(explicit_trailer: bool) -> bytes:
    """RSASSA-PSS(SHA-384, MGF1-SHA-384, salt 48), optionally with trailerField [3] INTEGER 1.

    AMD's ARK writes the (DEFAULT-valued) trailer field explicitly in what it signs (ARK, ASK,
    ASVK); the ASK/ASVK leave it out in VCEK/VLEK signatures. We copy both.
    """
    sha384 = _der(0x30, bytes.fromhex("0609608648016503040202") + b"\x05\x00")
    params = (
        _der(0xA0, sha384)
        + _der(0xA1, _der(0x30, bytes.fromhex("06092a864886f70d010108") + sha384))
        + _der(0xA2, _der_integer(48))
    )
    if explicit_trailer:
        params += _der(0xA3, _der_integer(1))
    return _der(0x30, bytes.fromhex("06092a864886f70d01010a") + _der(0x30, params))


def _sign_pss(
    builder: x509.CertificateBuilder,
    key: rsa.RSAPrivateKey,
    *,
    serial: int,
    explicit_trailer: bool,
) -> x509.Certificate:
    """Sign with RSASSA-PSS the way AMD does, with a serial that may be 0 (as real VCEKs have).

    cryptography's builder cannot write serial 0 nor the explicit trailer field, so the TBS it
    produces is re-encoded (serial and signature AlgorithmIdentifier replaced) and re-signed.
    """
    # the draft's own signature and AlgorithmIdentifier are thrown away: sign it cheaply
    draft = builder.sign(_draft_key(), hashes.SHA256())
    tbs_fields = _der_split(_der_content(draft.tbs_certificate_bytes))
    algorithm = _pss_algorithm_identifier(explicit_trailer)
    tbs_fields[1] = _der_integer(serial)
    tbs_fields[2] = algorithm
    tbs = _der(0x30, b"".join(tbs_fields))
    signature = key.sign(tbs, _AMD_PSS, hashes.SHA384())
    return _load_der_cert(_der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature)))


@functools.cache
def _draft_key() -> ec.EllipticCurvePrivateKey:
    return derive_ec_key(b"ccverify-test-pki", "draft", ec.SECP256R1())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _crl(
    issuer: x509.Certificate,
    key: _PrivateKey,
    *,
    revoked_serials: Iterable[int],
    this_update: datetime,
    next_update: datetime,
    revocation_date: datetime | None,
    crl_number: int | None,
    reason: x509.ReasonFlags | None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
    )
    for serial in revoked_serials:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(revocation_date or this_update)
        )
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    if crl_number is not None:
        builder = builder.add_extension(x509.CRLNumber(crl_number), critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
        critical=False,
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    if isinstance(key, rsa.RSAPrivateKey):
        crl = builder.sign(key, hashes.SHA384(), rsa_padding=_AMD_PSS)
    else:
        crl = builder.sign(key, hashes.SHA256(), ecdsa_deterministic=_deterministic_ecdsa_supported())
    return crl.public_bytes(serialization.Encoding.DER)


# ------------------------------------------------------------------------------------------------
# Intel: PCK hierarchy, TCB signing, CRLs, TCB info / QE identity, QuoteCollateralV3
# ------------------------------------------------------------------------------------------------

INTEL_ROOT_CN = "ccverify EXAMPLE Intel SGX Root CA"
INTEL_PLATFORM_CA_CN = "Intel SGX PCK Platform CA"
INTEL_PROCESSOR_CA_CN = "Intel SGX PCK Processor CA"
INTEL_PCK_CN = "Intel SGX PCK Certificate"
INTEL_TCB_SIGNING_CN = "Intel SGX TCB Signing"
INTEL_ROOT_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
INTEL_PCK_CRL_URL = "https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"

#: The PCK's SGX TCB component SVNs and PCESVN of the real dcap-qvl ``tdx_quote`` (FMSPC B0C06F000000).
DEFAULT_SGX_COMPONENTS = (3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0)
DEFAULT_PCESVN = 11
DEFAULT_FMSPC = bytes.fromhex("b0c06f000000")
DEFAULT_PCE_ID = bytes(2)
#: A TEE_TCB_SVN that the default TCB info rates UpToDate (module TDX_01, isvsvn 6; the real quote's).
DEFAULT_TEE_TCB_SVN = bytes.fromhex("06010300000000000000000000000000")

#: The real TD_QE identity (Intel PCS, tcbEvaluationDataNumber 17).
TD_QE_MRSIGNER = "DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5"
TD_QE_ISVPRODID = 2
TD_QE_MISCSELECT = "00000000"
TD_QE_MISCSELECT_MASK = "FFFFFFFF"
TD_QE_ATTRIBUTES = "11000000000000000000000000000000"
TD_QE_ATTRIBUTES_MASK = "FBFFFFFFFFFFFFFF0000000000000000"

# Labels Intel attaches to the first components (the parser must ignore them).
_SGX_COMPONENT_LABELS: dict[int, dict[str, str]] = {
    0: {"category": "BIOS", "type": "Early Microcode Update"},
    1: {"category": "OS/VMM", "type": "SGX Late Microcode Update"},
    2: {"category": "OS/VMM", "type": "TXT SINIT"},
    3: {"category": "BIOS"},
    4: {"category": "BIOS"},
    5: {"category": "BIOS"},
    7: {"category": "OS/VMM", "type": "SEAMLDR ACM"},
}
_TDX_COMPONENT_LABELS: dict[int, dict[str, str]] = {
    0: {"category": "OS/VMM", "type": "TDX Module"},
    1: {"category": "OS/VMM", "type": "TDX Module"},
    2: {"category": "OS/VMM", "type": "TDX Late Microcode Update"},
}


def json_time(value: datetime | str) -> str:
    """``2025-01-01T00:00:00Z`` (the format of Intel's collateral dates); strings pass through."""
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _components(svns: Sequence[int], labels: Mapping[int, Mapping[str, str]]) -> list[dict[str, Any]]:
    if len(svns) != 16:
        raise InputError(f"need 16 TCB components, got {len(svns)}")
    return [{"svn": svn, **labels.get(i, {})} for i, svn in enumerate(svns)]


def tcb_level(
    sgx_components: Sequence[int],
    pcesvn: int,
    tdx_components: Sequence[int],
    *,
    tcb_date: datetime | str = "2024-03-13T00:00:00Z",
    tcb_status: str = "UpToDate",
    advisory_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One TDX ``tcbLevels`` entry (keys in Intel's order; ``advisoryIDs`` only when given)."""
    level: dict[str, Any] = {
        "tcb": {
            "sgxtcbcomponents": _components(sgx_components, _SGX_COMPONENT_LABELS),
            "pcesvn": pcesvn,
            "tdxtcbcomponents": _components(tdx_components, _TDX_COMPONENT_LABELS),
        },
        "tcbDate": json_time(tcb_date),
        "tcbStatus": tcb_status,
    }
    if advisory_ids is not None:
        level["advisoryIDs"] = list(advisory_ids)
    return level


def module_tcb_level(
    isvsvn: int,
    *,
    tcb_date: datetime | str = "2024-03-13T00:00:00Z",
    tcb_status: str = "UpToDate",
    advisory_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One ``tcbLevels`` entry of a TDX module identity or of the QE identity: ``{"tcb": {"isvsvn"}}``."""
    level: dict[str, Any] = {
        "tcb": {"isvsvn": isvsvn},
        "tcbDate": json_time(tcb_date),
        "tcbStatus": tcb_status,
    }
    if advisory_ids is not None:
        level["advisoryIDs"] = list(advisory_ids)
    return level


#: QE identity TCB levels use the same shape as module levels.
qe_tcb_level = module_tcb_level


def tdx_module_identity(
    module_id: str,
    tcb_levels: Sequence[Mapping[str, Any]],
    *,
    mrsigner: bytes = bytes(48),
    attributes: bytes = bytes(8),
    attributes_mask: bytes = b"\xff" * 8,
) -> dict[str, Any]:
    """One ``tdxModuleIdentities`` entry (``id`` like ``"TDX_01"``)."""
    return {
        "id": module_id,
        "mrsigner": mrsigner.hex().upper(),
        "attributes": attributes.hex().upper(),
        "attributesMask": attributes_mask.hex().upper(),
        "tcbLevels": [dict(level) for level in tcb_levels],
    }


def _default_tdx_module() -> dict[str, Any]:
    return {"mrsigner": "00" * 48, "attributes": "00" * 8, "attributesMask": "FF" * 8}


def _default_module_identities() -> list[dict[str, Any]]:
    # as in the real B0C06F000000 TCB info (tcbEvaluationDataNumber 17)
    return [
        tdx_module_identity("TDX_03", [module_tcb_level(3)]),
        tdx_module_identity(
            "TDX_01",
            [
                module_tcb_level(4),
                module_tcb_level(2, tcb_date="2023-08-09T00:00:00Z", tcb_status="OutOfDate"),
            ],
        ),
    ]


_DEFAULT_SGX_THRESHOLDS = (2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0)
_DEFAULT_TDX_THRESHOLDS = (5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _default_tcb_levels() -> list[dict[str, Any]]:
    return [
        tcb_level(_DEFAULT_SGX_THRESHOLDS, 11, _DEFAULT_TDX_THRESHOLDS),
        tcb_level(
            _DEFAULT_SGX_THRESHOLDS,
            5,
            _DEFAULT_TDX_THRESHOLDS,
            tcb_date="2018-01-04T00:00:00Z",
            tcb_status="OutOfDate",
            advisory_ids=["INTEL-SA-00106", "INTEL-SA-00115"],
        ),
    ]


DEFAULT_QE_IDENTITY_LEVELS: tuple[dict[str, Any], ...] = (module_tcb_level(4),)


@dataclass(frozen=True)
class SignedJson:
    """Signed Intel collateral: the exact raw JSON text, its hex r||s signature, the PCS body key.

    ``raw`` is what was signed (UTF-8) and what a verifier must check the signature over;
    ``body`` is the PCS response, built by concatenation so that it contains ``raw`` verbatim.
    """

    key: str  # "tcbInfo" or "enclaveIdentity"
    raw: str
    signature: str  # lowercase hex, 64 bytes r||s

    @property
    def value(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed

    @property
    def body(self) -> bytes:
        return f'{{"{self.key}":{self.raw},"signature":"{self.signature}"}}'.encode()


def _compact(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class IntelTestPki:
    """An Intel-shaped PCK PKI: root, Platform (or Processor) CA, PCK leaf, TCB signing cert.

    All keys are P-256, derived from ``seed`` (``root_key``, ``ca_key``, ``pck_key``,
    ``tcb_signing_key``); all signatures are ecdsa-with-SHA256. The PCK leaf has the six
    extensions of a real one, in the same order: authorityKeyIdentifier, cRLDistributionPoints,
    subjectKeyIdentifier, keyUsage (critical), basicConstraints (critical), SGX extension.

    Negative tests: build a second PKI with another seed (another root; same names), pass
    ``sgx_extension_der``/``sgx_extension`` for odd extensions, ``pck_extra_extensions`` for a
    seventh extension, ``*_common_name`` for wrong names, ``*_validity`` for expired certs,
    ``signer_key=`` on CRLs/collateral for bad signatures, and ``revoked_serials=`` on CRLs.
    ``extension_overrides`` (keys ``root``, ``ca``, ``pck``, ``tcb_signing``) replaces, drops or
    adds extensions of a certificate (a CA:FALSE CA, a root with pathLen 0, a TCB signer with
    an unknown critical extension...); ``extensions=`` on CRLs adds CRL extensions.
    """

    def __init__(
        self,
        *,
        seed: bytes = b"ccverify-intel-test-pki",
        ca: Literal["platform", "processor"] = "platform",
        fmspc: bytes = DEFAULT_FMSPC,
        pce_id: bytes = DEFAULT_PCE_ID,
        tcb_components: Sequence[int] = DEFAULT_SGX_COMPONENTS,
        pcesvn: int = DEFAULT_PCESVN,
        cpusvn: bytes | None = None,
        ppid: bytes | None = None,
        sgx_type: int | None = None,
        platform_instance_id: bytes | None = None,
        configuration: SgxConfiguration | None = None,
        sgx_extension: SgxExtension | None = None,
        sgx_extension_der: bytes | None = None,
        pck_extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
        root_validity: Validity | None = None,
        ca_validity: Validity | None = None,
        pck_validity: Validity | None = None,
        tcb_signing_validity: Validity | None = None,
        root_serial: int | None = None,
        ca_serial: int | None = None,
        pck_serial: int | None = None,
        tcb_signing_serial: int | None = None,
        root_common_name: str = INTEL_ROOT_CN,
        ca_common_name: str | None = None,
        pck_common_name: str = INTEL_PCK_CN,
        tcb_signing_common_name: str = INTEL_TCB_SIGNING_CN,
        root_crl_url: str = INTEL_ROOT_CRL_URL,
        pck_crl_url: str | None = None,
        extension_overrides: Mapping[str, Sequence[ExtensionOverride]] | None = None,
    ) -> None:
        if ca not in ("platform", "processor"):
            raise InputError(f"ca must be 'platform' or 'processor', got {ca!r}")
        overrides = dict(extension_overrides or {})
        unknown = sorted(set(overrides) - {"root", "ca", "pck", "tcb_signing"})
        if unknown:
            raise InputError(f"extension_overrides: unknown certificate(s) {', '.join(unknown)}")
        self.seed = seed
        self.ca = ca
        self.root_key = derive_ec_key(seed, "intel/root", ec.SECP256R1())
        self.ca_key = derive_ec_key(seed, f"intel/{ca}-ca", ec.SECP256R1())
        self.pck_key = derive_ec_key(seed, "intel/pck", ec.SECP256R1())
        self.tcb_signing_key = derive_ec_key(seed, "intel/tcb-signing", ec.SECP256R1())

        platform = ca == "platform"
        if sgx_extension is None:
            sgx_extension = SgxExtension(
                ppid=ppid if ppid is not None else _derive_bytes(seed, "intel/ppid", 16),
                tcb_components=tuple(tcb_components),
                pcesvn=pcesvn,
                cpusvn=cpusvn,
                pce_id=pce_id,
                fmspc=fmspc,
                sgx_type=sgx_type
                if sgx_type is not None
                else (SGX_TYPE_SCALABLE if platform else SGX_TYPE_STANDARD),
                platform_instance_id=(
                    platform_instance_id
                    if platform_instance_id is not None or not platform
                    else _derive_bytes(seed, "intel/platform-instance-id", 16)
                ),
                configuration=configuration
                if configuration is not None or not platform
                else SgxConfiguration(),
            )
        self.sgx_extension = sgx_extension
        self.fmspc = sgx_extension.fmspc
        self.pce_id = sgx_extension.pce_id

        self.root_validity = root_validity or Validity(
            datetime(2018, 5, 21, 10, 45, 10, tzinfo=UTC), datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
        )
        self.ca_validity = ca_validity or Validity(
            datetime(2018, 5, 21, 10, 50, 10, tzinfo=UTC), datetime(2033, 5, 21, 10, 50, 10, tzinfo=UTC)
        )
        self.pck_validity = pck_validity or Validity.around(before=_YEAR, after=6 * _YEAR)
        self.tcb_signing_validity = tcb_signing_validity or Validity.around(before=_YEAR, after=7 * _YEAR)

        def org(cn: str) -> x509.Name:
            return _name(
                (NameOID.COMMON_NAME, cn),
                (NameOID.ORGANIZATION_NAME, EXAMPLE_ORGANIZATION),
                (NameOID.LOCALITY_NAME, "Santa Clara"),
                (NameOID.STATE_OR_PROVINCE_NAME, "CA"),
                (NameOID.COUNTRY_NAME, "US"),
            )

        root_name = org(root_common_name)
        ca_name = org(ca_common_name or (INTEL_PLATFORM_CA_CN if platform else INTEL_PROCESSOR_CA_CN))
        ski = x509.SubjectKeyIdentifier.from_public_key
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key
        root_pub = self.root_key.public_key()
        ca_pub = self.ca_key.public_key()

        self.root_cert = _sign_ec(
            _add(
                _builder(
                    root_name,
                    root_name,
                    root_pub,
                    root_serial or _derive_int(seed, "root", 20),
                    self.root_validity,
                ),
                _overridden(
                    [
                        (aki(root_pub), False),
                        (_crl_dp(root_crl_url), False),
                        (ski(root_pub), False),
                        (_key_usage(cert_sign=True, crl_sign=True), True),
                        (x509.BasicConstraints(ca=True, path_length=1), True),
                    ],
                    overrides.get("root", ()),
                ),
            ),
            self.root_key,
        )
        self.ca_cert = _sign_ec(
            _add(
                _builder(
                    ca_name, root_name, ca_pub, ca_serial or _derive_int(seed, "ca", 20), self.ca_validity
                ),
                _overridden(
                    [
                        (aki(root_pub), False),
                        (_crl_dp(root_crl_url), False),
                        (ski(ca_pub), False),
                        (_key_usage(cert_sign=True, crl_sign=True), True),
                        (x509.BasicConstraints(ca=True, path_length=0), True),
                    ],
                    overrides.get("ca", ()),
                ),
            ),
            self.root_key,
        )
        pck_pub = self.pck_key.public_key()
        extension_der = sgx_extension_der if sgx_extension_der is not None else sgx_extension.to_der()
        self.pck_cert = _sign_ec(
            _add(
                _builder(
                    org(pck_common_name),
                    ca_name,
                    pck_pub,
                    pck_serial or _derive_int(seed, "pck", 20),
                    self.pck_validity,
                ),
                _overridden(
                    [
                        (aki(ca_pub), False),
                        (_crl_dp(pck_crl_url or INTEL_PCK_CRL_URL.format(ca=ca)), False),
                        (ski(pck_pub), False),
                        (_key_usage(digital_signature=True, non_repudiation=True), True),
                        (x509.BasicConstraints(ca=False, path_length=None), True),
                        (
                            x509.UnrecognizedExtension(
                                x509.ObjectIdentifier(SGX_EXTENSION_OID), extension_der
                            ),
                            False,
                        ),
                        *pck_extra_extensions,
                    ],
                    overrides.get("pck", ()),
                ),
            ),
            self.ca_key,
        )
        tcb_pub = self.tcb_signing_key.public_key()
        self.tcb_signing_cert = _sign_ec(
            _add(
                _builder(
                    org(tcb_signing_common_name),
                    root_name,
                    tcb_pub,
                    tcb_signing_serial or _derive_int(seed, "tcb-signing", 20),
                    self.tcb_signing_validity,
                ),
                _overridden(
                    [
                        (aki(root_pub), False),
                        (_crl_dp(root_crl_url), False),
                        (ski(tcb_pub), False),
                        (_key_usage(digital_signature=True, non_repudiation=True), True),
                        (x509.BasicConstraints(ca=False, path_length=None), True),
                    ],
                    overrides.get("tcb_signing", ()),
                ),
            ),
            self.root_key,
        )

    # -- certificates -----------------------------------------------------------------------

    def root_pem(self) -> bytes:
        return _pem(self.root_cert)

    def root_der(self) -> bytes:
        return _der_of(self.root_cert)

    def ca_pem(self) -> bytes:
        return _pem(self.ca_cert)

    def ca_der(self) -> bytes:
        return _der_of(self.ca_cert)

    def pck_pem(self) -> bytes:
        return _pem(self.pck_cert)

    def pck_der(self) -> bytes:
        return _der_of(self.pck_cert)

    def tcb_signing_pem(self) -> bytes:
        return _pem(self.tcb_signing_cert)

    def tcb_signing_der(self) -> bytes:
        return _der_of(self.tcb_signing_cert)

    def pck_chain_pem(self, *, trailing_nul: bool = False) -> bytes:
        """Leaf, intermediate, root as PEM, as they appear inside a quote (cert data type 5)."""
        chain = self.pck_pem() + self.ca_pem() + self.root_pem()
        return chain + b"\x00" if trailing_nul else chain

    def tcb_issuer_chain_pem(self) -> str:
        """``TCB-Info-Issuer-Chain`` / ``SGX-Enclave-Identity-Issuer-Chain``: TCB signing, root."""
        return (self.tcb_signing_pem() + self.root_pem()).decode()

    def pck_crl_issuer_chain_pem(self) -> str:
        """``SGX-PCK-CRL-Issuer-Chain``: Platform/Processor CA, root."""
        return (self.ca_pem() + self.root_pem()).decode()

    # -- signing helpers ---------------------------------------------------------------------

    def sign_qe_report(self, qe_report: bytes) -> bytes:
        """The 64-byte r||s QE report signature (PCK key, ECDSA P-256 SHA-256)."""
        return ecdsa_sign_raw(self.pck_key, qe_report)

    # -- CRLs ---------------------------------------------------------------------------------

    def root_crl(
        self,
        *,
        revoked_serials: Iterable[int] = (),
        this_update: datetime = REFERENCE_TIME - _MONTH,
        next_update: datetime = REFERENCE_TIME + _MONTH,
        revocation_date: datetime | None = None,
        crl_number: int | None = 1,
        signer_key: ec.EllipticCurvePrivateKey | None = None,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ) -> bytes:
        """DER root CA CRL, issuer = root, signed by the root (or ``signer_key``)."""
        return _crl(
            self.root_cert,
            signer_key or self.root_key,
            revoked_serials=revoked_serials,
            this_update=this_update,
            next_update=next_update,
            revocation_date=revocation_date,
            crl_number=crl_number,
            reason=x509.ReasonFlags.key_compromise,
            extensions=extensions,
        )

    def pck_crl(
        self,
        *,
        revoked_serials: Iterable[int] = (),
        this_update: datetime = REFERENCE_TIME - _MONTH,
        next_update: datetime = REFERENCE_TIME + _MONTH,
        revocation_date: datetime | None = None,
        crl_number: int | None = 1,
        signer_key: ec.EllipticCurvePrivateKey | None = None,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ) -> bytes:
        """DER PCK CRL, issuer = the Platform/Processor CA, signed by it (or ``signer_key``)."""
        return _crl(
            self.ca_cert,
            signer_key or self.ca_key,
            revoked_serials=revoked_serials,
            this_update=this_update,
            next_update=next_update,
            revocation_date=revocation_date,
            crl_number=crl_number,
            reason=x509.ReasonFlags.key_compromise,
            extensions=extensions,
        )

    # -- signed collateral --------------------------------------------------------------------

    def sign_json(
        self, key: str, raw: str, *, signer_key: ec.EllipticCurvePrivateKey | None = None
    ) -> SignedJson:
        """Sign arbitrary raw JSON text as ``key`` ("tcbInfo"/"enclaveIdentity") collateral."""
        signature = ecdsa_sign_raw(signer_key or self.tcb_signing_key, raw.encode())
        return SignedJson(key=key, raw=raw, signature=signature.hex())

    def tcb_info(
        self,
        *,
        fmspc: bytes | str | None = None,
        pce_id: bytes | str | None = None,
        issue_date: datetime | str = REFERENCE_TIME - _MONTH,
        next_update: datetime | str = REFERENCE_TIME + _MONTH,
        tcb_type: int = 0,
        tcb_evaluation_data_number: int = 17,
        tdx_module: Mapping[str, Any] | None = None,
        tdx_module_identities: Sequence[Mapping[str, Any]] | None = None,
        tcb_levels: Sequence[Mapping[str, Any]] | None = None,
        id: str = "TDX",
        version: int = 3,
        signer_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> SignedJson:
        """Signed TDX TCB Info v3, keys in Intel's order.

        Defaults copy the real FMSPC B0C06F000000 TCB info (eval number 17): an UpToDate level
        the default PCK meets (with ``DEFAULT_TEE_TCB_SVN``), an OutOfDate level with advisories,
        and module identities TDX_03 and TDX_01. ``fmspc``/``pce_id`` default to the PCK's
        (upper-case hex, as Intel serves them). ``tdx_module_identities=[]`` emits an empty
        list; pass a level list from ``tcb_level`` to control matching.
        """
        info: dict[str, Any] = {
            "id": id,
            "version": version,
            "issueDate": json_time(issue_date),
            "nextUpdate": json_time(next_update),
            "fmspc": _hex_upper(fmspc if fmspc is not None else self.fmspc),
            "pceId": _hex_upper(pce_id if pce_id is not None else self.pce_id),
            "tcbType": tcb_type,
            "tcbEvaluationDataNumber": tcb_evaluation_data_number,
            "tdxModule": dict(tdx_module) if tdx_module is not None else _default_tdx_module(),
            "tdxModuleIdentities": (
                [dict(m) for m in tdx_module_identities]
                if tdx_module_identities is not None
                else _default_module_identities()
            ),
            "tcbLevels": [dict(level) for level in tcb_levels]
            if tcb_levels is not None
            else _default_tcb_levels(),
        }
        return self.sign_json("tcbInfo", _compact(info), signer_key=signer_key)

    def qe_identity(
        self,
        *,
        issue_date: datetime | str = REFERENCE_TIME - _MONTH,
        next_update: datetime | str = REFERENCE_TIME + _MONTH,
        tcb_evaluation_data_number: int = 17,
        miscselect: str = TD_QE_MISCSELECT,
        miscselect_mask: str = TD_QE_MISCSELECT_MASK,
        attributes: str = TD_QE_ATTRIBUTES,
        attributes_mask: str = TD_QE_ATTRIBUTES_MASK,
        mrsigner: str = TD_QE_MRSIGNER,
        isvprodid: int = TD_QE_ISVPRODID,
        tcb_levels: Sequence[Mapping[str, Any]] = DEFAULT_QE_IDENTITY_LEVELS,
        id: str = "TD_QE",
        version: int = 2,
        signer_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> SignedJson:
        """Signed TD_QE identity v2 (defaults = the real TD_QE: isvsvn 4 UpToDate)."""
        identity: dict[str, Any] = {
            "id": id,
            "version": version,
            "issueDate": json_time(issue_date),
            "nextUpdate": json_time(next_update),
            "tcbEvaluationDataNumber": tcb_evaluation_data_number,
            "miscselect": miscselect,
            "miscselectMask": miscselect_mask,
            "attributes": attributes,
            "attributesMask": attributes_mask,
            "mrsigner": mrsigner,
            "isvprodid": isvprodid,
            "tcbLevels": [dict(level) for level in tcb_levels],
        }
        return self.sign_json("enclaveIdentity", _compact(identity), signer_key=signer_key)

    def quote_collateral_v3(
        self,
        *,
        tcb_info: SignedJson | None = None,
        qe_identity: SignedJson | None = None,
        root_crl: bytes | None = None,
        pck_crl: bytes | None = None,
        tcb_info_issuer_chain: str | None = None,
        qe_identity_issuer_chain: str | None = None,
        pck_crl_issuer_chain: str | None = None,
    ) -> dict[str, str]:
        """A dict in dcap-qvl's QuoteCollateralV3 JSON shape (same keys, order and encodings):
        chains as PEM text (signer, root), CRLs as lowercase hex DER, the JSON as raw text and
        the signatures as lowercase hex r||s. Defaults: ``tcb_info()``, ``qe_identity()``,
        ``root_crl()``, ``pck_crl()``."""
        tcb = tcb_info or self.tcb_info()
        qe = qe_identity or self.qe_identity()
        return {
            "pck_crl_issuer_chain": pck_crl_issuer_chain or self.pck_crl_issuer_chain_pem(),
            "root_ca_crl": (root_crl if root_crl is not None else self.root_crl()).hex(),
            "pck_crl": (pck_crl if pck_crl is not None else self.pck_crl()).hex(),
            "tcb_info_issuer_chain": tcb_info_issuer_chain or self.tcb_issuer_chain_pem(),
            "tcb_info": tcb.raw,
            "tcb_info_signature": tcb.signature,
            "qe_identity_issuer_chain": qe_identity_issuer_chain or self.tcb_issuer_chain_pem(),
            "qe_identity": qe.raw,
            "qe_identity_signature": qe.signature,
        }


def _hex_upper(value: bytes | str) -> str:
    return value.upper() if isinstance(value, str) else value.hex().upper()


# ------------------------------------------------------------------------------------------------
# AMD: ARK / ASK / ASVK / VCEK / VLEK, CRL
# ------------------------------------------------------------------------------------------------

_AMD_OID = "1.3.6.1.4.1.3704.1"
#: The VCEK/VLEK extension OIDs by name.
AMD_EXTENSION_OIDS: dict[str, str] = {
    "struct_version": f"{_AMD_OID}.1",
    "product_name": f"{_AMD_OID}.2",
    "bl_spl": f"{_AMD_OID}.3.1",
    "tee_spl": f"{_AMD_OID}.3.2",
    "snp_spl": f"{_AMD_OID}.3.3",
    "spl_4": f"{_AMD_OID}.3.4",
    "spl_5": f"{_AMD_OID}.3.5",
    "spl_6": f"{_AMD_OID}.3.6",
    "spl_7": f"{_AMD_OID}.3.7",
    "ucode_spl": f"{_AMD_OID}.3.8",
    "fmc_spl": f"{_AMD_OID}.3.9",
    "hwid": f"{_AMD_OID}.4",
    "csp_id": f"{_AMD_OID}.5",
}


@functools.cache
def _amd_tables() -> tuple[
    dict[Product, int], dict[Product, int], dict[Product, str], dict[Product, TcbParts]
]:
    """Serial number bases, ASK serial offsets, VCEK product names and default TCBs by product
    (made on first use: the example provider mints Intel quotes at boot without the SNP types)."""
    from ccverify.verifier.evidence.snp_report import Product, TcbParts

    return (
        {Product.MILAN: 0x10000, Product.GENOA: 0x20000, Product.TURIN: 0x30000},
        {Product.MILAN: 1, Product.GENOA: 2, Product.TURIN: 1},
        {Product.MILAN: "Milan-B0", Product.GENOA: "Genoa", Product.TURIN: "Turin"},
        {
            # REPORTED_TCBs of real reports in the fixtures (project-oak)
            Product.MILAN: TcbParts(bl_spl=4, tee_spl=0, snp_spl=24, ucode_spl=219),
            Product.GENOA: TcbParts(bl_spl=10, tee_spl=0, snp_spl=25, ucode_spl=84),
            Product.TURIN: TcbParts(bl_spl=1, tee_spl=0, snp_spl=2, ucode_spl=71, fmc_spl=0),
        },
    )


AMD_KDS_CRL_URL = "https://kdsintf.amd.com/{kind}/v1/{product}/crl"

VekKind = Literal["vcek", "vlek"]


class AmdTestPki:
    """An AMD-shaped KDS PKI for one product: ARK, ASK, ASVK (RSA, RSASSA-PSS SHA-384 salt 48),
    VCEK and VLEK (EC P-384 leaves with AMD's extensions), and the ARK-signed CRL.

    ``rsa_key_size`` defaults to 4096 like AMD's (so signatures and key checks look real);
    generation costs ~1 s per key the first time, after which keys come from the in-process
    and on-disk caches (see the module docstring). Pass 2048 where realism does not matter.

    The VEK extensions copy the real VCEKs exactly: DER INTEGER structVersion and SPLs,
    IA5String productName/csp_id, raw hwID (64 bytes; Turin 8 bytes), and the real order
    (Milan/Genoa: 1, 2, 3.1, 3.2, 3.4-3.7, 3.3, 3.8, 4; Turin: 1, 2, 3.9, 3.1-3.3, 3.5-3.7,
    3.8, 4 — real Turin VCEKs have no 3.4). The VLEK has csp_id (.5) instead of hwID.
    ``issue_vek`` makes further (odd) leaves for negative tests; ``extension_overrides`` (keys
    ``ark``, ``ask``, ``asvk``, ``vcek``, ``vlek``) replaces, drops or adds extensions of a
    certificate (an ASK without keyCertSign, a VCEK that is a CA...); ``crl(extensions=...)``
    adds CRL extensions.
    """

    def __init__(
        self,
        product: Product | str = "Milan",
        *,
        seed: bytes = b"ccverify-amd-test-pki",
        rsa_key_size: int = 4096,
        tcb: TcbParts | None = None,
        chip_id: bytes | None = None,
        product_name: str | None = None,
        vlek_product_name: str | None = None,
        csp_id: str = "CN=csp.example",
        ark_validity: Validity | None = None,
        ask_validity: Validity | None = None,
        asvk_validity: Validity | None = None,
        vcek_validity: Validity | None = None,
        vlek_validity: Validity | None = None,
        ark_serial: int | None = None,
        ask_serial: int | None = None,
        asvk_serial: int | None = None,
        vcek_serial: int = 0,
        vlek_serial: int = 0,
        hwid_octet_string: bool = False,
        ark_common_name: str | None = None,
        ask_common_name: str | None = None,
        asvk_common_name: str | None = None,
        ark_key: rsa.RSAPrivateKey | None = None,
        ask_key: rsa.RSAPrivateKey | None = None,
        asvk_key: rsa.RSAPrivateKey | None = None,
        extension_overrides: Mapping[str, Sequence[ExtensionOverride]] | None = None,
    ) -> None:
        self.overrides = dict(extension_overrides or {})
        unknown = sorted(set(self.overrides) - {"ark", "ask", "asvk", "vcek", "vlek"})
        if unknown:
            raise InputError(f"extension_overrides: unknown certificate(s) {', '.join(unknown)}")
        from ccverify.verifier.evidence.snp_report import Product

        serial_base, ask_offset, vcek_name, default_tcb = _amd_tables()
        self.product = product if isinstance(product, Product) else Product.from_name(product)
        p = self.product.value
        self.seed = seed
        self.rsa_key_size = rsa_key_size
        self.tcb = tcb or default_tcb[self.product]
        if self.product.uses_fmc != (self.tcb.fmc_spl is not None):
            raise InputError(f"{p} TCB {'needs' if self.product.uses_fmc else 'has no'} fmc_spl: {self.tcb}")
        raw_chip = chip_id if chip_id is not None else _derive_bytes(seed + p.encode(), "amd/chip-id", 64)
        if self.product.uses_fmc:
            self.hwid = raw_chip[:8]
            self.chip_id = self.hwid + bytes(56)
        else:
            self.hwid = raw_chip
            self.chip_id = raw_chip
        self.product_name = product_name or vcek_name[self.product]
        self.vlek_product_name = vlek_product_name or p  # real VLEKs: "Milan" (no stepping)
        self.csp_id = csp_id
        self.hwid_octet_string = hwid_octet_string

        tag = f"{seed.hex()}/{p}"
        # explicit keys (e.g. loaded from a PEM shipped with a sample) win over the cache
        self.ark_key = ark_key or _rsa_key(f"{tag}/ark", rsa_key_size)
        self.ask_key = ask_key or _rsa_key(f"{tag}/ask", rsa_key_size)
        self.asvk_key = asvk_key or _rsa_key(f"{tag}/asvk", rsa_key_size)
        self.vcek_key = derive_ec_key(seed, f"amd/{p}/vcek", ec.SECP384R1())
        self.vlek_key = derive_ec_key(seed, f"amd/{p}/vlek", ec.SECP384R1())

        self.ark_validity = ark_validity or Validity.around(before=4 * _YEAR, after=20 * _YEAR)
        self.ask_validity = ask_validity or Validity.around(before=4 * _YEAR, after=20 * _YEAR)
        self.asvk_validity = asvk_validity or Validity.around(before=2 * _YEAR, after=22 * _YEAR)
        self.vcek_validity = vcek_validity or Validity.around(before=_YEAR, after=6 * _YEAR)
        self.vlek_validity = vlek_validity or Validity.around(before=_YEAR, after=_YEAR)

        base = serial_base[self.product]
        self.ark_name = self._name(ark_common_name or f"ARK-{p}", ou="ccverify EXAMPLE")
        self.ask_name = self._name(ask_common_name or f"SEV-{p}")
        self.asvk_name = self._name(asvk_common_name or f"SEV-VLEK-{p}")
        ark_pub = self.ark_key.public_key()
        self.ark_cert = _sign_pss(
            _add(
                _builder(self.ark_name, self.ark_name, ark_pub, 1, self.ark_validity),
                _overridden(
                    [
                        (_key_usage(cert_sign=True, crl_sign=True), True),
                        (x509.SubjectKeyIdentifier.from_public_key(ark_pub), False),
                        (x509.BasicConstraints(ca=True, path_length=None), True),
                        (_crl_dp(AMD_KDS_CRL_URL.format(kind="vcek", product=p)), False),
                    ],
                    self.overrides.get("ark", ()),
                ),
            ),
            self.ark_key,
            serial=ark_serial if ark_serial is not None else base,
            explicit_trailer=True,
        )
        self.ask_cert = self._issue_ca(
            self.ask_name,
            self.ask_key.public_key(),
            "vcek",
            self.ask_validity,
            ask_serial if ask_serial is not None else base + ask_offset[self.product],
            self.overrides.get("ask", ()),
        )
        self.asvk_cert = self._issue_ca(
            self.asvk_name,
            self.asvk_key.public_key(),
            "vlek",
            self.asvk_validity,
            asvk_serial if asvk_serial is not None else base + 0x101,
            self.overrides.get("asvk", ()),
        )
        self.vcek_cert = self.issue_vek("vcek", serial=vcek_serial)
        self.vlek_cert = self.issue_vek("vlek", serial=vlek_serial)

    @staticmethod
    def _name(common_name: str, *, ou: str = "Engineering") -> x509.Name:
        return _name(
            (NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            (NameOID.COUNTRY_NAME, "US"),
            (NameOID.LOCALITY_NAME, "Santa Clara"),
            (NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            (NameOID.ORGANIZATION_NAME, EXAMPLE_ORGANIZATION),
            (NameOID.COMMON_NAME, common_name),
        )

    def _issue_ca(
        self,
        name: x509.Name,
        public_key: rsa.RSAPublicKey,
        kind: VekKind,
        validity: Validity,
        serial: int,
        overrides: Sequence[ExtensionOverride] = (),
    ) -> x509.Certificate:
        ark_pub = self.ark_key.public_key()
        return _sign_pss(
            _add(
                _builder(name, self.ark_name, public_key, 1, validity),
                _overridden(
                    [
                        (x509.SubjectKeyIdentifier.from_public_key(public_key), False),
                        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ark_pub), False),
                        (x509.BasicConstraints(ca=True, path_length=0), True),
                        (_key_usage(cert_sign=True), True),
                        (_crl_dp(AMD_KDS_CRL_URL.format(kind=kind, product=self.product.value)), False),
                    ],
                    overrides,
                ),
            ),
            self.ark_key,
            serial=serial,
            explicit_trailer=True,
        )

    # -- VCEK / VLEK ----------------------------------------------------------------------------

    def vek_extensions(
        self,
        kind: VekKind = "vcek",
        *,
        tcb: TcbParts | None = None,
        product_name: str | None = None,
        hwid: bytes | None = None,
        csp_id: str | None = None,
        struct_version: int | None = None,
    ) -> list[tuple[str, bytes]]:
        """The (OID, DER value) extensions of a VCEK/VLEK, in the real order and encodings."""
        tcb = tcb or self.tcb
        turin = self.product.uses_fmc
        names = product_name or (self.product_name if kind == "vcek" else self.vlek_product_name)
        spl = {
            "bl_spl": tcb.bl_spl,
            "tee_spl": tcb.tee_spl,
            "snp_spl": tcb.snp_spl,
            "spl_4": 0,
            "spl_5": 0,
            "spl_6": 0,
            "spl_7": 0,
            "ucode_spl": tcb.ucode_spl,
            "fmc_spl": tcb.fmc_spl or 0,
        }
        order = (
            ["fmc_spl", "bl_spl", "tee_spl", "snp_spl", "spl_5", "spl_6", "spl_7", "ucode_spl"]
            if turin
            else ["bl_spl", "tee_spl", "spl_4", "spl_5", "spl_6", "spl_7", "snp_spl", "ucode_spl"]
        )
        oids = AMD_EXTENSION_OIDS
        items: list[tuple[str, bytes]] = [
            (
                oids["struct_version"],
                _der_integer(struct_version if struct_version is not None else int(turin)),
            ),
            (oids["product_name"], _der_ia5(names)),
        ]
        items += [(oids[name], _der_integer(spl[name])) for name in order]
        if kind == "vcek":
            value = hwid if hwid is not None else self.hwid
            items.append((oids["hwid"], _der_octets(value) if self.hwid_octet_string else value))
        else:
            items.append((oids["csp_id"], _der_ia5(csp_id if csp_id is not None else self.csp_id)))
        return items

    def issue_vek(
        self,
        kind: VekKind = "vcek",
        *,
        extensions: Sequence[tuple[str, bytes]] | None = None,
        tcb: TcbParts | None = None,
        hwid: bytes | None = None,
        csp_id: str | None = None,
        product_name: str | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
        validity: Validity | None = None,
        serial: int = 0,
        common_name: str | None = None,
        signer: Literal["ask", "asvk"] | None = None,
    ) -> x509.Certificate:
        """A VCEK (issuer ASK) or VLEK (issuer ASVK); ``extensions`` replaces the AMD extension
        list (use ``vek_extensions`` and edit it); ``signer`` swaps the issuing CA."""
        if kind not in ("vcek", "vlek"):
            raise InputError(f"kind must be 'vcek' or 'vlek', got {kind!r}")
        signer = signer or ("ask" if kind == "vcek" else "asvk")
        issuer_name, issuer_key = (
            (self.ask_name, self.ask_key) if signer == "ask" else (self.asvk_name, self.asvk_key)
        )
        leaf_key = key or (self.vcek_key if kind == "vcek" else self.vlek_key)
        items = (
            extensions
            if extensions is not None
            else self.vek_extensions(kind, tcb=tcb, hwid=hwid, csp_id=csp_id, product_name=product_name)
        )
        default_validity = self.vcek_validity if kind == "vcek" else self.vlek_validity
        builder = _builder(
            self._name(common_name or ("SEV-VCEK" if kind == "vcek" else "SEV-VLEK")),
            issuer_name,
            leaf_key.public_key(),
            1,
            validity or default_validity,
        )
        builder = _add(
            builder,
            _overridden(
                [
                    (x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), False)
                    for oid, value in items
                ],
                self.overrides.get(kind, ()),
            ),
        )
        return _sign_pss(builder, issuer_key, serial=serial, explicit_trailer=False)

    def sign_report(self, signed_data: bytes, kind: VekKind = "vcek") -> tuple[int, int]:
        """ECDSA P-384 SHA-384 (r, s) over report bytes 0x000-0x29F with the VCEK or VLEK key."""
        return ecdsa_sign(self.vcek_key if kind == "vcek" else self.vlek_key, signed_data, hashes.SHA384())

    # -- accessors ----------------------------------------------------------------------------

    def ark_pem(self) -> bytes:
        return _pem(self.ark_cert)

    def ark_der(self) -> bytes:
        return _der_of(self.ark_cert)

    def ask_pem(self) -> bytes:
        return _pem(self.ask_cert)

    def ask_der(self) -> bytes:
        return _der_of(self.ask_cert)

    def asvk_pem(self) -> bytes:
        return _pem(self.asvk_cert)

    def asvk_der(self) -> bytes:
        return _der_of(self.asvk_cert)

    def vcek_pem(self) -> bytes:
        return _pem(self.vcek_cert)

    def vcek_der(self) -> bytes:
        return _der_of(self.vcek_cert)

    def vlek_pem(self) -> bytes:
        return _pem(self.vlek_cert)

    def vlek_der(self) -> bytes:
        return _der_of(self.vlek_cert)

    def cert_chain_pem(self, kind: VekKind = "vcek") -> bytes:
        """KDS ``/{vcek|vlek}/v1/{P}/cert_chain`` order: ASK (or ASVK) first, then ARK."""
        if kind not in ("vcek", "vlek"):
            raise InputError(f"kind must be 'vcek' or 'vlek', got {kind!r}")
        return (self.ask_pem() if kind == "vcek" else self.asvk_pem()) + self.ark_pem()

    def crl(
        self,
        *,
        revoked_serials: Iterable[int] = (),
        this_update: datetime = REFERENCE_TIME - _MONTH,
        next_update: datetime = REFERENCE_TIME + _MONTH,
        revocation_date: datetime | None = None,
        crl_number: int | None = 1,
        signer_key: rsa.RSAPrivateKey | None = None,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ) -> bytes:
        """DER CRL issued by the ARK, RSASSA-PSS SHA-384 (what KDS serves at .../crl);
        ``extensions`` are added after the usual ones (a delta indicator, an IDP...)."""
        return _crl(
            self.ark_cert,
            signer_key or self.ark_key,
            revoked_serials=revoked_serials,
            this_update=this_update,
            next_update=next_update,
            revocation_date=revocation_date,
            crl_number=crl_number,
            reason=None,
            extensions=extensions,
        )
