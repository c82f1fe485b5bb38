"""Recognise what a blob of evidence is, from its first bytes, without parsing it all."""

from __future__ import annotations

import enum

from ccverify.verifier.evidence.eventlog import SPEC_ID_SIGNATURE as _SPEC_ID
from ccverify.verifier.evidence.tdx_quote import TDX_TEE_TYPE as _TDX_TEE_TYPE

#: ``snp_report.REPORT_SIZE`` (a test holds the two equal): telling a TDX quote from an SNP
#: report needs no SNP parser loaded
SNP_REPORT_SIZE = 0x4A0
_CBOR_TAGS = (b"\xd9\x01\xf5", b"\xd9\x01\xfa", b"\xd9\x01\xf4", b"\xd9\x01\xf6")


class Kind(enum.Enum):
    TDX_QUOTE = "tdx-quote"
    SNP_REPORT = "snp-report"
    SNP_CERT_TABLE = "snp-cert-table"
    EVENT_LOG = "event-log"
    CCEL_TABLE = "ccel-table"
    CORIM = "corim"
    #: certificates, CRLs or public keys (PEM or DER): ``show`` decodes them, ``detect`` never says so
    X509 = "x509"
    UNKNOWN = "unknown"


def detect(data: bytes) -> Kind:
    if len(data) >= 8:
        version = int.from_bytes(data[0:2], "little")
        tee_type = int.from_bytes(data[4:8], "little")
        if version in (4, 5) and tee_type == _TDX_TEE_TYPE:
            return Kind.TDX_QUOTE
        if version == 3 and tee_type == 0 and len(data) != SNP_REPORT_SIZE:
            # an SGX quote: let the TDX parser say precisely why it is not a TD quote
            return Kind.TDX_QUOTE
    if data[:4] == b"CCEL":
        return Kind.CCEL_TABLE
    if len(data) >= 32 and data[32:48] == _SPEC_ID:
        return Kind.EVENT_LOG
    # CBOR tag 501 (unsigned CoRIM), 18 (COSE_Sign1) or 506 (bare CoMID); legacy 500/502 wrappers
    if data[:3] in _CBOR_TAGS or data[:1] == b"\xd2":
        return Kind.CORIM
    if len(data) == SNP_REPORT_SIZE:
        version = int.from_bytes(data[0:4], "little")
        algo = int.from_bytes(data[0x34:0x38], "little")
        if 2 <= version <= 5 and algo == 1:
            return Kind.SNP_REPORT
    if len(data) >= 24 and _looks_like_cert_table(data):
        return Kind.SNP_CERT_TABLE
    return Kind.UNKNOWN


def _looks_like_cert_table(data: bytes) -> bool:
    """Entries of 24 bytes (GUID, offset, length) ending in a zero entry, offsets in range."""
    pos = 0
    while pos + 24 <= len(data):
        entry = data[pos : pos + 24]
        if entry == bytes(24):
            return pos > 0
        offset = int.from_bytes(entry[16:20], "little")
        length = int.from_bytes(entry[20:24], "little")
        if offset + length > len(data) or offset < pos + 24:
            return False
        pos += 24
    return False
