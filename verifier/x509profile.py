"""One certificate and CRL profile for both platforms' chains (RFC 5280 §4.2, §5.2, §6.1.4, §6.3.3).

Signatures and names are checked by each platform's chain code; this module checks what a
certificate or CRL says about *how it may be used*, the part a pinned root or its CA could
get wrong by signing something unusual:

``check_chain(chain, leaf=...)``, ``chain`` leaf first and root last:

- every certificate above the leaf is a CA: basicConstraints present with ``cA`` TRUE
  (``basic_constraints``), keyUsage present with keyCertSign (``key_usage``), and a pathLen,
  where one is given, of at least the number of CAs between it and the leaf
  (``basic_constraints``; RFC 5280 §6.1.4 (k), (l), (m), (n));
- the leaf is no CA (basicConstraints absent or ``cA`` FALSE, ``basic_constraints``) and its
  keyUsage has the bits its key is used for (``key_usage``; required present or not, per
  platform: Intel's PCK and TCB-signing certificates carry keyUsage, AMD's VCEK/VLEK carry
  none);
- no certificate has a critical extension other than basicConstraints and keyUsage
  (``unknown_critical_extension``, §4.2: a critical extension the verifier does not process
  must make it refuse the certificate).

``crl_scope(crl, issuer, what)`` decides once per CRL whether it may be used at all
(``crl_unusable``): a CRL with an unknown critical extension or CRL-entry extension (§5.2,
§5.3), a delta CRL (DeltaCRLIndicator, §5.2.4: not a complete CRL), and an
IssuingDistributionPoint making it indirect, partial by reasons or only for attribute
certificates (§5.2.5, §6.3.3 (b), (d)) are refused; a CRL issuer whose keyUsage lacks cRLSign
is ``key_usage`` (§6.3.3 (f)). What is left of an IssuingDistributionPoint is a scope (only
end-entity certificates, only CA certificates, distribution-point names) that
``CrlScope.check_covers`` holds each certificate checked against the CRL to: a CRL whose
scope excludes the certificate did not check it (``crl_unusable``).

Both are meant to run once per chain or CRL (the callers memoize by content), never per
quote or report.

Codes: ``basic_constraints``, ``key_usage``, ``unknown_critical_extension``, ``crl_unusable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from ccverify.verifier.errors import Code, VerificationError

__all__ = [
    "CrlScope",
    "LeafProfile",
    "check_chain",
    "crl_scope",
    "distribution_points",
]

_E = TypeVar("_E", bound=x509.ExtensionType)

#: the certificate extensions this profile processes (and so may be critical)
_PROCESSED = frozenset({ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE})
#: the CRL extensions a complete CRL may carry critical: its number, the issuer's key
#: identifier, and an IssuingDistributionPoint (whose scope is honoured)
_CRL_PROCESSED = frozenset(
    {
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
    }
)
#: the CRL-entry extensions processed (a reason and a date; certificateIssuer belongs to
#: indirect CRLs, which are refused)
_ENTRY_PROCESSED = frozenset({CRLEntryExtensionOID.CRL_REASON, CRLEntryExtensionOID.INVALIDITY_DATE})

_USAGE_NAMES = {
    "digital_signature": "digitalSignature",
    "content_commitment": "nonRepudiation",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
}


@dataclass(frozen=True)
class LeafProfile:
    """What the leaf's keyUsage must allow (``key_usage`` names cryptography's ``KeyUsage``
    attributes) and whether the extension must be present at all."""

    key_usage: tuple[str, ...] = ("digital_signature",)
    key_usage_required: bool = True


def _name(oid: x509.ObjectIdentifier) -> str:
    name = getattr(oid, "_name", "Unknown OID")
    return oid.dotted_string if name == "Unknown OID" else f"{name} ({oid.dotted_string})"


def _extension(
    cert: x509.Certificate, oid: x509.ObjectIdentifier
) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def _value(cert: x509.Certificate, oid: x509.ObjectIdentifier, kind: type[_E]) -> _E | None:
    """The value of ``cert``'s ``oid`` extension, or None without it (or of another type)."""
    extension = _extension(cert, oid)
    if extension is None:
        return None
    value = extension.value
    return value if isinstance(value, kind) else None


def _check_critical(cert: x509.Certificate, what: str) -> None:
    for extension in cert.extensions:
        if extension.critical and extension.oid not in _PROCESSED:
            raise VerificationError(
                Code.UNKNOWN_CRITICAL_EXTENSION,
                f"{what} has a critical extension this verifier does not process: "
                f"{_name(extension.oid)} (RFC 5280 §4.2: such a certificate must be refused)",
                actual=extension.oid.dotted_string,
            )


def _usages(usage: x509.KeyUsage) -> list[str]:
    names = []
    for attribute, name in _USAGE_NAMES.items():
        if getattr(usage, attribute):
            names.append(name)
    for attribute, name in (
        ("key_encipherment", "keyEncipherment"),
        ("data_encipherment", "dataEncipherment"),
        ("key_agreement", "keyAgreement"),
    ):
        if getattr(usage, attribute):
            names.append(name)
    return names


def _require_usage(cert: x509.Certificate, what: str, needed: Sequence[str], *, required: bool) -> None:
    usage = _value(cert, ExtensionOID.KEY_USAGE, x509.KeyUsage)
    if usage is None:
        if required:
            raise VerificationError(
                Code.KEY_USAGE,
                f"{what} has no keyUsage extension",
                expected=", ".join(_USAGE_NAMES.get(n, n) for n in needed),
                actual="absent",
            )
        return
    missing = [n for n in needed if not getattr(usage, n)]
    if missing:
        raise VerificationError(
            Code.KEY_USAGE,
            f"{what}: keyUsage lacks {', '.join(_USAGE_NAMES.get(n, n) for n in missing)}",
            expected=", ".join(_USAGE_NAMES.get(n, n) for n in needed),
            actual=", ".join(_usages(usage)) or "none",
        )


def _check_ca(cert: x509.Certificate, what: str, cas_below: int) -> None:
    constraints = _value(cert, ExtensionOID.BASIC_CONSTRAINTS, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        raise VerificationError(
            Code.BASIC_CONSTRAINTS,
            f"{what} must carry basicConstraints CA:TRUE",
            expected="CA:TRUE",
            actual="absent" if constraints is None else "CA:FALSE",
        )
    if constraints.path_length is not None and constraints.path_length < cas_below:
        raise VerificationError(
            Code.BASIC_CONSTRAINTS,
            f"{what} allows {constraints.path_length} CA(s) below it (pathLenConstraint), "
            f"the chain has {cas_below}",
            expected=f"pathLen >= {cas_below}",
            actual=f"pathLen {constraints.path_length}",
        )
    _require_usage(cert, what, ("key_cert_sign",), required=True)


def check_chain(chain: Sequence[tuple[x509.Certificate, str]], *, leaf: LeafProfile) -> None:
    """The profile of a chain given leaf first and root last, each with its name for messages."""
    if not chain:
        return
    for cert, what in chain:
        _check_critical(cert, what)
    leaf_cert, leaf_what = chain[0]
    constraints = _value(leaf_cert, ExtensionOID.BASIC_CONSTRAINTS, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise VerificationError(
            Code.BASIC_CONSTRAINTS, f"{leaf_what} must not be a CA", expected="CA:FALSE", actual="CA:TRUE"
        )
    _require_usage(leaf_cert, leaf_what, leaf.key_usage, required=leaf.key_usage_required)
    for index, (cert, what) in enumerate(chain[1:]):
        _check_ca(cert, what, cas_below=index)


# -- CRLs -----------------------------------------------------------------------------------------


def distribution_points(cert: x509.Certificate) -> frozenset[str] | None:
    """The full names (URIs and other general names, as text) of ``cert``'s
    cRLDistributionPoints, or None without the extension."""
    points = _value(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS, x509.CRLDistributionPoints)
    if points is None:
        return None
    names: set[str] = set()
    for point in points:
        for general in point.full_name or ():
            names.add(_general_name(general))
    return frozenset(names)


def _general_name(name: x509.GeneralName) -> str:
    value = name.value
    if isinstance(value, x509.Name):
        return f"{type(name).__name__}:{value.rfc4514_string()}"
    return f"{type(name).__name__}:{value}"


def _unusable(what: str, detail: str) -> VerificationError:
    return VerificationError(
        Code.CRL_UNUSABLE,
        f"{what}: {detail}; RFC 5280 forbids using it to decide revocation, so revocation "
        "could not be checked with it",
    )


@dataclass(frozen=True)
class CrlScope:
    """The certificates an IssuingDistributionPoint limits a CRL to (RFC 5280 §5.2.5)."""

    what: str
    only_user_certs: bool = False
    only_ca_certs: bool = False
    #: the IDP's distribution-point full names; None: the IDP names none
    names: frozenset[str] | None = None

    def check_covers(self, cert_what: str, *, is_ca: bool, points: frozenset[str] | None) -> None:
        """``crl_unusable`` unless the CRL's scope includes the certificate (§6.3.3 (b))."""
        if self.only_user_certs and is_ca:
            raise _unusable(
                self.what,
                f"its IssuingDistributionPoint covers end-entity certificates only, and {cert_what} is a CA",
            )
        if self.only_ca_certs and not is_ca:
            raise _unusable(
                self.what,
                f"its IssuingDistributionPoint covers CA certificates only, and {cert_what} is not a CA",
            )
        if self.names is not None and not (points and self.names & points):
            shown = ", ".join(sorted(points)) if points else "none"
            raise _unusable(
                self.what,
                f"its IssuingDistributionPoint names {', '.join(sorted(self.names))}, none of "
                f"{cert_what}'s cRLDistributionPoints ({shown})",
            )


def crl_scope(crl: x509.CertificateRevocationList, issuer: x509.Certificate, what: str) -> CrlScope | None:
    """Whether ``crl`` may be used at all (``crl_unusable``; its issuer's keyUsage must allow
    cRLSign, ``key_usage``); its scope when an IssuingDistributionPoint limits it, else None."""
    _require_usage(issuer, f"{what} issuer", ("crl_sign",), required=False)
    scope: CrlScope | None = None
    for extension in crl.extensions:
        oid = extension.oid
        if oid == ExtensionOID.DELTA_CRL_INDICATOR:
            raise _unusable(what, "it is a delta CRL (DeltaCRLIndicator), not a complete CRL")
        if oid == ExtensionOID.ISSUING_DISTRIBUTION_POINT:
            scope = _idp_scope(extension.value, what)
        elif extension.critical and oid not in _CRL_PROCESSED:
            raise _unusable(what, f"it has a critical extension this verifier does not process: {_name(oid)}")
    for entry in crl:
        for extension in entry.extensions:
            if extension.oid == CRLEntryExtensionOID.CERTIFICATE_ISSUER:
                raise _unusable(what, "an entry names a certificateIssuer (an indirect CRL)")
            if extension.critical and extension.oid not in _ENTRY_PROCESSED:
                name = _name(extension.oid)
                raise _unusable(what, f"an entry has a critical extension not processed here: {name}")
    return scope


def _idp_scope(value: x509.ExtensionType, what: str) -> CrlScope:
    if not isinstance(value, x509.IssuingDistributionPoint):
        raise _unusable(what, "its IssuingDistributionPoint cannot be read")
    if value.indirect_crl:
        raise _unusable(what, "its IssuingDistributionPoint makes it an indirect CRL")
    if value.only_some_reasons is not None:
        raise _unusable(
            what, "its IssuingDistributionPoint limits it to some revocation reasons (onlySomeReasons)"
        )
    if value.only_contains_attribute_certs:
        raise _unusable(what, "its IssuingDistributionPoint limits it to attribute certificates")
    if value.relative_name is not None:
        raise _unusable(what, "its IssuingDistributionPoint names a relative distribution point")
    names = None
    if value.full_name is not None:
        names = frozenset(_general_name(name) for name in value.full_name)
    return CrlScope(
        what=what,
        only_user_certs=value.only_contains_user_certs,
        only_ca_certs=value.only_contains_ca_certs,
        names=names,
    )
