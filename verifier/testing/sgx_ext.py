"""DER encoder for the Intel SGX PCK certificate extension (OID 1.2.840.113741.1.13.1).

Encoder only, for the test PKI; the parser lives in ``verifier/tdx/pck.py``. The layout follows
Intel's "SGX PCK Certificate and CRL Profile" and the real PCK certificates in the fixtures::

    SgxExtensions ::= SEQUENCE OF SEQUENCE { sgxExtensionId OID, value ANY }
      .1  PPID                 OCTET STRING (16)
      .2  TCB                  SEQUENCE OF 18 SEQUENCE { OID, value }
            .2.1 .. .2.16      INTEGER   SGX TCB component SVNs 1..16
            .2.17              INTEGER   PCESVN
            .2.18              OCTET STRING (16) CPUSVN
      .3  PCE-ID               OCTET STRING (2)
      .4  FMSPC                OCTET STRING (6)
      .5  SGX Type             ENUMERATED (0 Standard, 1 Scalable, 2 Scalable with integrity)
      .6  PlatformInstanceID   OCTET STRING (16)        (Platform CA certificates only)
      .7  Configuration        SEQUENCE { .7.1 dynamicPlatform, .7.2 cachedKeys,
                                          .7.3 smtEnabled: BOOLEAN }   (Platform CA only)

For negative tests, ``sgx_extension_items`` returns the (OID, pyasn1 value) list that
``encode_sgx_items`` turns into DER, so a test can drop, reorder, duplicate or retype entries;
a PCK certificate can also be given arbitrary extension bytes (``IntelTestPki(sgx_extension_der=...)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyasn1.codec.der import encoder
from pyasn1.type import univ

from ccverify.verifier.errors import InputError

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
PPID_OID = SGX_EXTENSION_OID + ".1"
TCB_OID = SGX_EXTENSION_OID + ".2"
PCESVN_OID = TCB_OID + ".17"
CPUSVN_OID = TCB_OID + ".18"
PCEID_OID = SGX_EXTENSION_OID + ".3"
FMSPC_OID = SGX_EXTENSION_OID + ".4"
SGX_TYPE_OID = SGX_EXTENSION_OID + ".5"
PLATFORM_INSTANCE_ID_OID = SGX_EXTENSION_OID + ".6"
CONFIGURATION_OID = SGX_EXTENSION_OID + ".7"
DYNAMIC_PLATFORM_OID = CONFIGURATION_OID + ".1"
CACHED_KEYS_OID = CONFIGURATION_OID + ".2"
SMT_ENABLED_OID = CONFIGURATION_OID + ".3"

SGX_TYPE_STANDARD = 0
SGX_TYPE_SCALABLE = 1
SGX_TYPE_SCALABLE_WITH_INTEGRITY = 2


def tcb_component_oid(index: int) -> str:
    """OID of SGX TCB component ``index`` (1..16)."""
    if not 1 <= index <= 16:
        raise InputError(f"SGX TCB component index must be 1..16, got {index}")
    return f"{TCB_OID}.{index}"


@dataclass(frozen=True)
class SgxConfiguration:
    """The Platform CA ``Configuration`` entry (.7); all three are True in the real fixtures."""

    dynamic_platform: bool = True
    cached_keys: bool = True
    smt_enabled: bool = True


@dataclass(frozen=True)
class SgxExtension:
    """Values of the SGX extension of one PCK certificate.

    ``cpusvn`` defaults to the 16 component SVNs as bytes (that is how real certificates
    relate them). ``platform_instance_id``/``configuration`` are emitted only when set
    (real Platform CA leaves carry both; Processor CA leaves carry neither).
    """

    ppid: bytes = bytes(16)
    tcb_components: tuple[int, ...] = (0,) * 16
    pcesvn: int = 0
    cpusvn: bytes | None = None
    pce_id: bytes = bytes(2)
    fmspc: bytes = bytes(6)
    sgx_type: int = SGX_TYPE_STANDARD
    platform_instance_id: bytes | None = None
    configuration: SgxConfiguration | None = field(default=None)

    def __post_init__(self) -> None:
        if len(self.tcb_components) != 16:
            raise InputError(f"need 16 SGX TCB components, got {len(self.tcb_components)}")

    @property
    def effective_cpusvn(self) -> bytes:
        if self.cpusvn is not None:
            return self.cpusvn
        return bytes(min(svn, 255) for svn in self.tcb_components)

    def to_der(self) -> bytes:
        """The DER extension value (the bytes inside the X.509 extnValue OCTET STRING)."""
        return encode_sgx_items(sgx_extension_items(self))


def _pair(oid: str, value: Any) -> Any:
    seq = univ.Sequence()
    seq.setComponentByPosition(0, univ.ObjectIdentifier(oid))
    seq.setComponentByPosition(1, value)
    return seq


def _sequence(items: Iterable[tuple[str, Any]]) -> Any:
    seq = univ.Sequence()
    for position, (oid, value) in enumerate(items):
        seq.setComponentByPosition(position, _pair(oid, value))
    return seq


def tcb_items(ext: SgxExtension) -> list[tuple[str, Any]]:
    """The 18 (OID, pyasn1 value) entries of the TCB (.2) entry, in the real order."""
    items: list[tuple[str, Any]] = [
        (tcb_component_oid(i + 1), univ.Integer(svn)) for i, svn in enumerate(ext.tcb_components)
    ]
    items.append((PCESVN_OID, univ.Integer(ext.pcesvn)))
    items.append((CPUSVN_OID, univ.OctetString(ext.effective_cpusvn)))
    return items


def sgx_extension_items(
    ext: SgxExtension, *, tcb: Sequence[tuple[str, Any]] | None = None
) -> list[tuple[str, Any]]:
    """The top-level (OID, pyasn1 value) entries, in the order real certificates use.

    ``tcb`` replaces the TCB entry's inner list (default ``tcb_items(ext)``).
    """
    items: list[tuple[str, Any]] = [
        (PPID_OID, univ.OctetString(ext.ppid)),
        (TCB_OID, _sequence(tcb if tcb is not None else tcb_items(ext))),
        (PCEID_OID, univ.OctetString(ext.pce_id)),
        (FMSPC_OID, univ.OctetString(ext.fmspc)),
        (SGX_TYPE_OID, univ.Enumerated(ext.sgx_type)),
    ]
    if ext.platform_instance_id is not None:
        items.append((PLATFORM_INSTANCE_ID_OID, univ.OctetString(ext.platform_instance_id)))
    if ext.configuration is not None:
        config = ext.configuration
        items.append(
            (
                CONFIGURATION_OID,
                _sequence(
                    [
                        (DYNAMIC_PLATFORM_OID, univ.Boolean(config.dynamic_platform)),
                        (CACHED_KEYS_OID, univ.Boolean(config.cached_keys)),
                        (SMT_ENABLED_OID, univ.Boolean(config.smt_enabled)),
                    ]
                ),
            )
        )
    return items


def encode_sgx_items(items: Iterable[tuple[str, Any]]) -> bytes:
    """DER of ``SEQUENCE OF SEQUENCE {OID, value}`` for the given (OID, pyasn1 value) list."""
    der = encoder.encode(_sequence(items))
    if not isinstance(der, bytes):  # pragma: no cover - pyasn1 always returns bytes
        raise TypeError("pyasn1 encoder returned a non-bytes value")
    return der
