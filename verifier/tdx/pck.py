"""The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1), parsed with a strict DER reader.

The extension value is a SEQUENCE of SEQUENCE{OID, value}::

    .1  PPID            OCTET STRING (16)
    .2  TCB             SEQUENCE of 18 SEQUENCE{OID, value}:
                          .2.1 .. .2.16  INTEGER  SGX TCB component SVNs 1..16
                          .2.17          INTEGER  PCESVN
                          .2.18          OCTET STRING (16) CPUSVN
    .3  PCE-ID          OCTET STRING (2)
    .4  FMSPC           OCTET STRING (6)
    .5  SGX Type        ENUMERATED (0 Standard, 1 Scalable, 2 Scalable with integrity)
    .6  PlatformInstanceID  OCTET STRING (16)        (optional; Platform CA certificates)
    .7  Configuration   SEQUENCE{.7.1 dynamicPlatform, .7.2 cachedKeys, .7.3 smtEnabled: BOOLEAN}
                                                     (optional; Platform CA certificates)

The 16 component INTEGERs (not the CPUSVN bytes) are what TCB level matching compares;
values above 127 occur in real certificates. INTEGER and ENUMERATED are interchangeable for
the SVNs, the PCESVN and the SGX Type (as when pyasn1 decoded them); negative values are refused.
Other entries under the SGX arc are skipped, but must still be DER of the types the reader
checks (``der.Element.validate``: SEQUENCE, BOOLEAN, INTEGER, ENUMERATED, OCTET STRING, NULL,
OID), as pyasn1 decoded every value before anything was read; an empty SEQUENCE there or as
the Configuration is refused, as it was (pyasn1 decoded one as None).

The DER is read with ``verifier/der.py`` (standard library only), not pyasn1: importing pyasn1's
decoder cost ~9 ms of ``ccverify guest authorize`` at boot, which has a hard start-up budget.
The reader is strict DER (it refuses the BER leniencies pyasn1's decoder let through: long-form
or zero-padded lengths, non-minimal or empty INTEGERs, the high-tag-number form) and each value
must carry its own universal tag (no string type for an OCTET STRING, no BOOLEAN for an INTEGER,
no explicit tag around a value). A missing or malformed entry raises ``VerificationError`` with
code ``pck_extension_invalid``; a DER error's message names what was wrong and its byte offset.
Parsing is memoized by the extension's DER bytes (PCK certificates repeat).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509

from ccverify.verifier.der import (
    BOOLEAN,
    ENUMERATED,
    INTEGER,
    OCTET_STRING,
    OID,
    SEQUENCE,
    DerError,
    Element,
    read,
)
from ccverify.verifier.errors import Code, VerificationError

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
_SGX_OID = x509.ObjectIdentifier(SGX_EXTENSION_OID)
_PREFIX = SGX_EXTENSION_OID + "."
#: the entries read (by suffix); others under the SGX arc are skipped, as they always were
_ENTRIES = frozenset("1234567")


class SgxType(enum.IntEnum):
    STANDARD = 0
    SCALABLE = 1
    SCALABLE_WITH_INTEGRITY = 2


@dataclass(frozen=True)
class PckTcb:
    """The TCB the PCK certificate was issued for."""

    sgx_components: tuple[int, ...]  # 16 SGX TCB component SVNs
    pcesvn: int
    cpusvn: bytes


@dataclass(frozen=True)
class PlatformConfiguration:
    """The PCK certificate's PlatformConfiguration (multi-package platforms): None where absent."""

    dynamic_platform: bool | None
    cached_keys: bool | None
    smt_enabled: bool | None


@dataclass(frozen=True)
class PckExtensions:
    """The decoded SGX extension of a PCK leaf certificate."""

    ppid: bytes
    tcb: PckTcb
    pce_id: bytes
    fmspc: bytes
    sgx_type: SgxType | int
    platform_instance_id: bytes | None = None
    configuration: PlatformConfiguration | None = None


def _fail(detail: str) -> VerificationError:
    return VerificationError(Code.PCK_EXTENSION_INVALID, f"PCK certificate SGX extension: {detail}")


def _pairs(value: Element, where: str) -> list[tuple[str, Element]]:
    """The (OID, value) pairs of a SEQUENCE of SEQUENCE{OID, value}."""
    if value.tag != SEQUENCE:
        raise _fail(f"{where} is not a SEQUENCE")
    pairs: list[tuple[str, Element]] = []
    for item in value.children():
        fields = item.children() if item.tag == SEQUENCE else ()
        if len(fields) != 2:
            raise _fail(f"{where}: an entry is not SEQUENCE{{OID, value}}")
        oid = fields[0]
        if oid.tag != OID:
            raise _fail(f"{where}: an entry does not start with an OID")
        pairs.append((oid.oid(), fields[1]))
    return pairs


def _octets(value: Element, name: str, size: int | None) -> bytes:
    if value.tag != OCTET_STRING:
        raise _fail(f"{name} is not an OCTET STRING")
    data = value.octet_string()
    if size is not None and len(data) != size:
        raise _fail(f"{name} is {len(data)} bytes, expected {size}")
    return data


def _integer(value: Element, name: str) -> int:
    # INTEGER or ENUMERATED, either place (pyasn1 decoded ENUMERATED as an Integer subclass)
    if value.tag == INTEGER:
        number = value.integer()
    elif value.tag == ENUMERATED:
        number = value.enumerated()
    else:
        raise _fail(f"{name} is not an INTEGER")
    if number < 0:
        try:
            shown = str(number)
        except ValueError:  # beyond int -> str's digit limit
            shown = f"{value.end - value.start} octets"
        raise _fail(f"{name} is negative ({shown})")
    return number


def _boolean(value: Element, name: str) -> bool:
    if value.tag != BOOLEAN:
        raise _fail(f"{name} is not a BOOLEAN")
    return value.boolean()


def parse_sgx_extension_value(der: bytes) -> PckExtensions:
    """Decode the DER value of the SGX extension."""
    return _parse_cached(bytes(der))


@lru_cache(maxsize=256)
def _parse_cached(data: bytes) -> PckExtensions:
    try:
        return _parse(data)
    except DerError as error:
        raise _fail(f"not valid DER ({error})") from None


def _parse(data: bytes) -> PckExtensions:
    value = read(data)
    if value.end != len(data):
        raise _fail(f"{len(data) - value.end} bytes after the extension value")
    entries: dict[str, Element] = {}
    for oid, item in _pairs(value, "extension"):
        if not oid.startswith(_PREFIX):
            raise _fail(f"unexpected OID {oid}")
        suffix = oid[len(_PREFIX) :]
        if suffix in entries:
            raise _fail(f"OID {oid} appears twice")
        entries[suffix] = item
    for suffix, item in entries.items():
        # an entry this parser does not read is still held to DER, as pyasn1 decoded every value
        # (and refused an empty SEQUENCE anywhere: it decoded one as None)
        if suffix not in _ENTRIES:
            try:
                item.validate(empty_sequences=False)
            except DerError as error:
                raise _fail(
                    f"entry {_PREFIX}{suffix}, which this parser skips, is not DER it can check ({error})"
                ) from None
    for needed, name in (("1", "PPID"), ("2", "TCB"), ("3", "PCE-ID"), ("4", "FMSPC"), ("5", "SGX Type")):
        if needed not in entries:
            raise _fail(f"{name} ({_PREFIX}{needed}) is missing")
    tcb = _parse_tcb(entries["2"])
    sgx_type_raw = _integer(entries["5"], "SGX Type")
    try:
        sgx_type: SgxType | int = SgxType(sgx_type_raw)
    except ValueError:
        sgx_type = sgx_type_raw
    piid = _octets(entries["6"], "PlatformInstanceID", 16) if "6" in entries else None
    configuration = _parse_configuration(entries["7"]) if "7" in entries else None
    return PckExtensions(
        ppid=_octets(entries["1"], "PPID", 16),
        tcb=tcb,
        pce_id=_octets(entries["3"], "PCE-ID", 2),
        fmspc=_octets(entries["4"], "FMSPC", 6),
        sgx_type=sgx_type,
        platform_instance_id=piid,
        configuration=configuration,
    )


def _parse_tcb(value: Element) -> PckTcb:
    prefix = "2."
    comps: dict[int, int] = {}
    pcesvn: int | None = None
    cpusvn: bytes | None = None
    pairs = _pairs(value, "TCB")
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
            comps[index] = _integer(item, f"TCB component {index}")
        elif index == 17:
            pcesvn = _integer(item, "PCESVN")
        elif index == 18:
            cpusvn = _octets(item, "CPUSVN", 16)
        else:
            raise _fail(f"unexpected OID {oid} in TCB")
    if len(comps) != 16 or pcesvn is None or cpusvn is None:
        raise _fail("TCB lacks a component SVN, the PCESVN or the CPUSVN")
    return PckTcb(sgx_components=tuple(comps[i] for i in range(1, 17)), pcesvn=pcesvn, cpusvn=cpusvn)


_CONFIGURATION_FIELDS = {"7.1": "dynamic_platform", "7.2": "cached_keys", "7.3": "smt_enabled"}


def _parse_configuration(value: Element) -> PlatformConfiguration:
    found: dict[str, bool] = {}
    pairs = _pairs(value, "Configuration")
    if not pairs:  # valid DER, but refused as before (pyasn1 decoded an empty SEQUENCE as None)
        raise _fail("Configuration is an empty SEQUENCE")
    for oid, item in pairs:
        suffix = oid[len(_PREFIX) :] if oid.startswith(_PREFIX) else ""
        name = _CONFIGURATION_FIELDS.get(suffix)
        if name is None:
            raise _fail(f"unexpected OID {oid} in Configuration")
        if name in found:  # (pyasn1's parser let the last one win)
            raise _fail(f"{oid} ({name}) appears twice in Configuration")
        found[name] = _boolean(item, name)
    return PlatformConfiguration(
        dynamic_platform=found.get("dynamic_platform"),
        cached_keys=found.get("cached_keys"),
        smt_enabled=found.get("smt_enabled"),
    )


def pck_extensions(cert: x509.Certificate) -> PckExtensions:
    """The SGX extension of a PCK leaf certificate; ``pck_extension_invalid`` if absent or bad."""
    try:
        ext = cert.extensions.get_extension_for_oid(_SGX_OID)
    except x509.ExtensionNotFound:
        raise _fail(f"the certificate has no extension {SGX_EXTENSION_OID}") from None
    except ValueError as error:  # duplicate or malformed extensions
        raise _fail(f"the certificate's extensions cannot be read ({error})") from None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise _fail("unexpected extension type")
    return parse_sgx_extension_value(value.value)
