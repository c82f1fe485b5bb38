"""TDX collateral: TCB info and QE identity models, their signatures, issuer chains and CRLs.

``TdxCollateral`` holds what verification needs besides the quote: TDX TCB infos (one per
FMSPC, possibly several versions), TD QE identities, PCK CRLs (platform and/or processor CA)
and Intel SGX Root CA CRLs, each with the issuer chain Intel served with it. Verification
picks, for the quote at hand, the item for its FMSPC / CA that is valid at the verification
time (the newest one if none is, which then fails as ``collateral_expired``).

Signatures over TCB info and QE identity are checked over the EXACT raw bytes of the
``tcbInfo`` / ``enclaveIdentity`` JSON value as served (``raw_json_member`` finds that value in
the PCS body without re-serialising it: key order and spacing are part of what is signed).
The models are parsed separately from the same bytes.

Expensive, time-independent results (a signer chain checked against a root, a CRL signature,
a parsed model) are memoized by content in bounded LRU caches (keyed by the bytes involved and
the trust root's DER); a JSON signature is memoized by the verifier with its signer and model.
Nothing time-dependent is memoized: every validity window is compared with the verification
time on every call, so a memo can never serve a stale decision.

CRLs are required unless the collateral is built with ``allow_missing_crl=True``; a verdict
made without them records ``revocation_checked = False``.
"""

from __future__ import annotations

import binascii
import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature

# (the enums' own module: the ``serialization`` package would load its SSH key support, ~3 ms of
# the initramfs hook's start-up, for nothing used here; ``cryptography.x509`` imports it so too)
from cryptography.hazmat.primitives._serialization import Encoding
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from ccverify.verifier import x509load
from ccverify.verifier.ecdsa import ECDSA_SHA256, signed_by
from ccverify.verifier.errors import Code, InputError, VerificationError
from ccverify.verifier.jsonable import JSON_ERRORS, iso8601
from ccverify.verifier.timeutil import iso_to_utc
from ccverify.verifier.x509profile import CrlScope, LeafProfile, check_chain, crl_scope, distribution_points

if TYPE_CHECKING:
    from ccverify.verifier.collateral.cache import CacheEntry

TCB_SIGNING_CN = "Intel SGX TCB Signing"
PLATFORM_CA_CN = "Intel SGX PCK Platform CA"
PROCESSOR_CA_CN = "Intel SGX PCK Processor CA"


class TcbStatus(enum.Enum):
    """Intel's TCB status names (TCB info, QE identity, and the converged result)."""

    UpToDate = "UpToDate"
    SWHardeningNeeded = "SWHardeningNeeded"
    ConfigurationNeeded = "ConfigurationNeeded"
    ConfigurationAndSWHardeningNeeded = "ConfigurationAndSWHardeningNeeded"
    OutOfDate = "OutOfDate"
    OutOfDateConfigurationNeeded = "OutOfDateConfigurationNeeded"
    Revoked = "Revoked"
    TDRelaunchAdvised = "TDRelaunchAdvised"
    TDRelaunchAdvisedConfigurationNeeded = "TDRelaunchAdvisedConfigurationNeeded"
    NotSupported = "NotSupported"


# -- models -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TcbLevel:
    """A platform TCB level of a TDX TCB info."""

    sgx_components: tuple[int, ...]
    pcesvn: int
    tdx_components: tuple[int, ...]
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class IsvTcbLevel:
    """A TCB level of a TDX module identity or of the QE identity (by ISVSVN)."""

    isvsvn: int
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TdxModuleIdentity:
    """``tdxModule`` (id None) or one of ``tdxModuleIdentities`` (id ``TDX_%02X``)."""

    id: str | None
    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes
    tcb_levels: tuple[IsvTcbLevel, ...] = ()


@dataclass(frozen=True)
class TcbInfo:
    """Intel's TDX TCB info for one FMSPC (its signed JSON body, decoded): the TCB levels and
    their statuses, the TDX module identities, and when it was issued and is next updated."""

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    fmspc: bytes
    pce_id: bytes
    tcb_type: int
    tcb_evaluation_data_number: int
    tdx_module: TdxModuleIdentity | None
    tdx_module_identities: tuple[TdxModuleIdentity, ...]
    tcb_levels: tuple[TcbLevel, ...]

    def module_identity(self, ident: str) -> TdxModuleIdentity | None:
        wanted = ident.upper()
        for module in self.tdx_module_identities:
            if module.id is not None and module.id.upper() == wanted:
                return module
        return None


@dataclass(frozen=True)
class QeIdentity:
    """Intel's identity of the TD quoting enclave (its signed JSON body, decoded): the
    MISCSELECT, attributes and MRSIGNER the QE report must show, and its TCB levels."""

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    tcb_evaluation_data_number: int
    miscselect: int  # as a u32, like the QE report's MISCSELECT (little-endian in both)
    miscselect_mask: int
    attributes: bytes
    attributes_mask: bytes
    mrsigner: bytes
    isvprodid: int
    tcb_levels: tuple[IsvTcbLevel, ...]


# -- raw collateral items -----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedJson:
    """A signed PCS JSON object: the exact signed bytes, the r||s signature, the issuer chain."""

    raw: bytes
    signature: bytes
    issuer_chain: bytes  # PEM: the signing certificate, then (normally) the root
    source: str = ""


@dataclass(frozen=True)
class CrlItem:
    """A CRL as collateral gives it: the DER, the issuer chain that came with it, and whence."""

    der: bytes
    issuer_chain: bytes | None = None
    source: str = ""


@dataclass(frozen=True)
class TdxCollateral:
    """Collateral for TDX quotes; ``pool`` means a cache/bundle that may lack some platforms.

    Build it with ``from_quote_collateral_v3`` (dcap-qvl / PCCS JSON), ``from_pcs`` (the PCS
    answers: bodies and issuer-chain headers), ``from_entries`` (cache or bundle entries), or
    directly. ``allow_missing_crl`` must be set explicitly to verify without CRLs.
    """

    tcb_infos: tuple[SignedJson, ...] = ()
    qe_identities: tuple[SignedJson, ...] = ()
    pck_crls: tuple[CrlItem, ...] = ()
    root_ca_crls: tuple[CrlItem, ...] = ()
    allow_missing_crl: bool = False
    pool: bool = False
    origin: str = "memory"

    @cached_property
    def content_key(self) -> bytes:
        """SHA-256 over everything verification reads of this collateral (every item's bytes
        and source, the flags, the origin): what memoized checks are keyed on, so two objects
        with the same content share them and an object is never confused with another that
        was later built at its address. Computed once per object."""
        digest = hashlib.sha256()

        def put(*parts: bytes | str | None) -> None:
            for part in parts:
                data = b"\xff" if part is None else part.encode() if isinstance(part, str) else part
                digest.update(len(data).to_bytes(8, "big") + data)

        for items, tag in ((self.tcb_infos, "tcb_info"), (self.qe_identities, "qe_identity")):
            put(tag, str(len(items)))
            for item in items:
                put(item.raw, item.signature, item.issuer_chain, item.source)
        for crls, tag in ((self.pck_crls, "pck_crl"), (self.root_ca_crls, "root_ca_crl")):
            put(tag, str(len(crls)))
            for crl in crls:
                put(crl.der, crl.issuer_chain, crl.source)
        put(str(self.allow_missing_crl), str(self.pool), self.origin)
        return digest.digest()

    @classmethod
    def from_quote_collateral_v3(
        cls,
        doc: Mapping[str, object] | bytes | str,
        *,
        origin: str = "QuoteCollateralV3",
        allow_missing_crl: bool = False,
    ) -> TdxCollateral:
        """The JSON dcap-qvl and PCCS clients use (``tcb_info`` is the raw signed JSON text)."""
        if isinstance(doc, (bytes, str)):
            try:
                doc = json.loads(doc)
            except JSON_ERRORS:
                raise InputError(f"{origin}: not valid JSON") from None
        if not isinstance(doc, Mapping):
            raise InputError(f"{origin}: a QuoteCollateralV3 document is a JSON object")

        def required(key: str) -> str:
            value = doc.get(key)
            if not isinstance(value, str) or not value:
                raise InputError(f"{origin}: '{key}' is missing or not a string")
            return value

        def optional(key: str) -> str | None:
            return None if doc.get(key) is None else required(key)

        def signed(key: str) -> SignedJson:
            raw = required(key)
            sig = required(f"{key}_signature")
            chain = required(f"{key}_issuer_chain")
            return SignedJson(
                raw=raw.encode("utf-8"),
                signature=_hex_signature(sig, f"{origin}: {key}_signature"),
                issuer_chain=chain.encode("ascii", "replace"),
                source=f"{origin}#{key}",
            )

        pck_crl = optional("pck_crl")
        root_crl = optional("root_ca_crl")
        pck_chain = optional("pck_crl_issuer_chain")
        return cls(
            tcb_infos=(signed("tcb_info"),),
            qe_identities=(signed("qe_identity"),),
            pck_crls=()
            if pck_crl is None
            else (
                CrlItem(
                    crl_bytes(pck_crl, f"{origin}: pck_crl"),
                    pck_chain.encode("ascii", "replace") if pck_chain else None,
                    f"{origin}#pck_crl",
                ),
            ),
            root_ca_crls=()
            if root_crl is None
            else (CrlItem(crl_bytes(root_crl, f"{origin}: root_ca_crl"), None, f"{origin}#root_ca_crl"),),
            allow_missing_crl=allow_missing_crl,
            origin=origin,
        )

    @classmethod
    def from_pcs(
        cls,
        *,
        tcb_info: bytes,
        tcb_info_issuer_chain: bytes | str,
        qe_identity: bytes,
        qe_identity_issuer_chain: bytes | str,
        pck_crl: bytes | None = None,
        pck_crl_issuer_chain: bytes | str | None = None,
        root_ca_crl: bytes | None = None,
        allow_missing_crl: bool = False,
        origin: str = "PCS",
    ) -> TdxCollateral:
        """From PCS bodies (``{"tcbInfo":...,"signature":...}``) and issuer-chain headers.

        Header values may be URL-encoded (as Intel serves them) or plain PEM.
        """
        return cls(
            tcb_infos=(signed_from_body(tcb_info, "tcbInfo", tcb_info_issuer_chain, f"{origin}: TCB info"),),
            qe_identities=(
                signed_from_body(
                    qe_identity, "enclaveIdentity", qe_identity_issuer_chain, f"{origin}: QE identity"
                ),
            ),
            pck_crls=()
            if pck_crl is None
            else (
                CrlItem(
                    crl_bytes(pck_crl, f"{origin}: PCK CRL"),
                    _chain_bytes(pck_crl_issuer_chain),
                    f"{origin}: PCK CRL",
                ),
            ),
            root_ca_crls=()
            if root_ca_crl is None
            else (CrlItem(crl_bytes(root_ca_crl, f"{origin}: root CA CRL"), None, f"{origin}: root CA CRL"),),
            allow_missing_crl=allow_missing_crl,
            origin=origin,
        )

    @classmethod
    def from_entries(
        cls, entries: Iterable[CacheEntry], *, origin: str, allow_missing_crl: bool = False
    ) -> TdxCollateral:
        """From cache or bundle entries (``CacheEntry``), recognised by their canonical URL."""
        tcb: list[SignedJson] = []
        qe: list[SignedJson] = []
        pck: list[CrlItem] = []
        root: list[CrlItem] = []
        for entry in entries:
            kind = classify_url(entry.url)
            where = f"{origin}: {entry.url}"
            if kind == "tcb_info":
                chain = entry.header("tcb-info-issuer-chain") or entry.header("sgx-tcb-info-issuer-chain")
                tcb.append(signed_from_body(entry.body, "tcbInfo", chain or b"", where))
            elif kind == "qe_identity":
                chain = entry.header("sgx-enclave-identity-issuer-chain")
                qe.append(signed_from_body(entry.body, "enclaveIdentity", chain or b"", where))
            elif kind == "pck_crl":
                chain = entry.header("sgx-pck-crl-issuer-chain")
                pck.append(CrlItem(crl_bytes(entry.body, where), _chain_bytes(chain), where))
            elif kind == "root_ca_crl":
                root.append(CrlItem(crl_bytes(entry.body, where), None, where))
        return cls(tuple(tcb), tuple(qe), tuple(pck), tuple(root), allow_missing_crl, True, origin)


def _chain_bytes(chain: bytes | str | None) -> bytes | None:
    if chain is None:
        return None
    text = chain.decode("ascii", "replace") if isinstance(chain, bytes) else chain
    if "%" in text:
        text = unquote(text)
    return text.encode("ascii", "replace")


# -- canonical PCS URLs (the cache and bundle keys; what a CollateralError names as missing) -----

PCS_BASE_URL = "https://api.trustedservices.intel.com"
ROOT_CA_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"

CaKind = Literal["platform", "processor"]


def tcb_info_url(fmspc: bytes | str) -> str:
    text = fmspc.hex() if isinstance(fmspc, bytes) else fmspc.lower()
    return f"{PCS_BASE_URL}/tdx/certification/v4/tcb?fmspc={text}"


def qe_identity_url() -> str:
    return f"{PCS_BASE_URL}/tdx/certification/v4/qe/identity"


def pck_crl_url(ca: CaKind) -> str:
    return f"{PCS_BASE_URL}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"


UrlKind = Literal["tcb_info", "qe_identity", "pck_crl", "root_ca_crl", "other"]


def classify_url(url: str) -> UrlKind:
    """What a canonical PCS URL serves."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/tdx/certification/v4/tcb"):
        return "tcb_info"
    if path.endswith("/tdx/certification/v4/qe/identity"):
        return "qe_identity"
    if path.endswith("/sgx/certification/v4/pckcrl"):
        return "pck_crl"
    if path.endswith(("/IntelSGXRootCA.der", "/rootcacrl", "/IntelSGXRootCA.crl")):
        return "root_ca_crl"
    return "other"


def url_query(url: str, key: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(key)
    return values[0] if values else None


# -- raw JSON extraction ------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


def raw_json_member(body: bytes, key: str, where: str = "collateral") -> bytes:
    """The exact bytes of the value of top-level member ``key`` of the JSON object ``body``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 JSON") from None
    try:
        pos = _skip(text, 0)
        if text[pos : pos + 1] != "{":
            raise InputError(f"{where}: not a JSON object")
        pos = _skip(text, pos + 1)
        found: tuple[int, int] | None = None
        while text[pos : pos + 1] != "}":
            if text[pos : pos + 1] != '"':
                raise InputError(f"{where}: malformed JSON object (offset {pos})")
            name, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
            pos = _skip(text, pos)
            if text[pos : pos + 1] != ":":
                raise InputError(f"{where}: malformed JSON object (offset {pos})")
            start = _skip(text, pos + 1)
            _value, end = _DECODER.raw_decode(text, start)
            if name == key:
                if found is not None:
                    raise InputError(f"{where}: member {key!r} appears twice")
                found = (start, end)
            pos = _skip(text, end)
            if text[pos : pos + 1] == ",":
                pos = _skip(text, pos + 1)
            elif text[pos : pos + 1] != "}":
                raise InputError(f"{where}: malformed JSON object (offset {pos})")
        if _skip(text, pos + 1) != len(text):
            raise InputError(f"{where}: data after the JSON object")
    except (*JSON_ERRORS, IndexError) as error:
        detail = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise InputError(f"{where}: not valid JSON ({detail})") from None
    if found is None:
        raise InputError(f"{where}: no {key!r} member")
    return text[found[0] : found[1]].encode("utf-8")


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def signed_from_body(body: bytes, key: str, chain: bytes | str, where: str) -> SignedJson:
    """A PCS body ``{"<key>": {...}, "signature": "<hex r||s>"}`` as a ``SignedJson``."""
    raw = raw_json_member(body, key, where)
    try:
        doc = json.loads(body)
    except JSON_ERRORS:
        raise InputError(f"{where}: not valid JSON") from None
    sig = doc.get("signature") if isinstance(doc, dict) else None
    if not isinstance(sig, str):
        raise InputError(f"{where}: no 'signature' string")
    return SignedJson(raw, _hex_signature(sig, f"{where}: signature"), _chain_bytes(chain) or b"", where)


def _hex_signature(text: str, where: str) -> bytes:
    try:
        sig = bytes.fromhex(text.strip())
    except ValueError:
        raise InputError(f"{where}: not hex") from None
    if len(sig) != 64:
        raise InputError(f"{where}: an ECDSA P-256 signature is 64 bytes (r||s), got {len(sig)}")
    return sig


def crl_bytes(value: bytes | str, where: str) -> bytes:
    """A CRL as DER, from DER, PEM or hex text (the forms PCS, PCCS and dcap-qvl use)."""
    data = value.encode("ascii", "replace") if isinstance(value, str) else value
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            return x509load.crl(stripped).public_bytes(Encoding.DER)
        except ValueError:
            raise InputError(f"{where}: PEM CRL does not parse") from None
    if stripped[:1] == b"0" or stripped[:1].isalnum():
        try:
            text = stripped.decode("ascii")
            if all(c in "0123456789abcdefABCDEF" for c in text) and len(text) % 2 == 0 and text:
                return binascii.unhexlify(text)
        except UnicodeDecodeError:
            pass
    return data


# -- model parsing ------------------------------------------------------------------------------


class _Fields:
    """Typed access to a JSON object; any problem is a VerificationError with ``code``."""

    def __init__(self, obj: Any, code: str, where: str) -> None:
        if not isinstance(obj, dict):
            raise VerificationError(code, f"{where} is not a JSON object")
        self.obj = obj
        self.code = code
        self.where = where

    def fail(self, detail: str) -> VerificationError:
        return VerificationError(self.code, f"{self.where}: {detail}")

    def get(self, key: str, kind: type | tuple[type, ...], required: bool = True) -> Any:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise self.fail(f"'{key}' is missing")
            return None
        matches = isinstance(value, kind) and not (type(value) is bool and kind is not bool)
        if not matches:
            raise self.fail(f"'{key}' has the wrong type")
        return value

    def integer(self, key: str) -> int:
        value: int = self.get(key, int)
        return value

    def hexbytes(self, key: str, size: int | None = None) -> bytes:
        text = self.get(key, str)
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise self.fail(f"'{key}' is not hex") from None
        if size is not None and len(value) != size:
            raise self.fail(f"'{key}' is {len(value)} bytes, expected {size}")
        return value

    def time(self, key: str) -> datetime:
        return _time(self.get(key, str), self)

    def status(self, key: str = "tcbStatus") -> TcbStatus:
        text = self.get(key, str)
        try:
            return TcbStatus(text)
        except ValueError:
            raise self.fail(f"unknown {key} {text!r}") from None

    def advisories(self) -> tuple[str, ...]:
        ids = self.get("advisoryIDs", list, required=False) or []
        if not all(isinstance(i, str) for i in ids):
            raise self.fail("'advisoryIDs' must be strings")
        return tuple(ids)


def _time(text: str, fields: _Fields) -> datetime:
    try:
        return iso_to_utc(text)
    except ValueError:
        raise fields.fail(f"{text!r} is not an ISO 8601 time") from None


def _svns(items: Any, fields: _Fields, name: str) -> tuple[int, ...]:
    if not isinstance(items, list) or len(items) != 16:
        raise fields.fail(f"'{name}' must list 16 components")
    out: list[int] = []
    for item in items:
        comp = _Fields(item, fields.code, f"{fields.where} {name}")
        out.append(comp.integer("svn"))
    return tuple(out)


def _isv_levels(items: Any, fields: _Fields) -> tuple[IsvTcbLevel, ...]:
    if not isinstance(items, list):
        raise fields.fail("'tcbLevels' must be a list")
    levels: list[IsvTcbLevel] = []
    for item in items:
        level = _Fields(item, fields.code, f"{fields.where} tcbLevel")
        tcb = _Fields(level.get("tcb", dict), fields.code, f"{fields.where} tcbLevel.tcb")
        levels.append(
            IsvTcbLevel(tcb.integer("isvsvn"), level.time("tcbDate"), level.status(), level.advisories())
        )
    return tuple(levels)


def _module(obj: Any, fields: _Fields, with_id: bool) -> TdxModuleIdentity:
    mod = _Fields(obj, fields.code, f"{fields.where} TDX module")
    return TdxModuleIdentity(
        id=mod.get("id", str) if with_id else None,
        mrsigner=mod.hexbytes("mrsigner", 48),
        attributes=mod.hexbytes("attributes", 8),
        attributes_mask=mod.hexbytes("attributesMask", 8),
        # QVL orders a module identity's levels by ISVSVN, descending (TdxModuleTcbLevel::operator>)
        tcb_levels=tuple(sorted(_isv_levels(mod.get("tcbLevels", list), mod), key=_isvsvn, reverse=True))
        if with_id
        else (),
    )


def _isvsvn(level: IsvTcbLevel) -> int:
    return level.isvsvn


@lru_cache(maxsize=64)
def parse_tcb_info(raw: bytes) -> TcbInfo:
    """Parse the raw ``tcbInfo`` object (id TDX, version 3); ``tcb_info_invalid`` otherwise."""
    code = Code.TCB_INFO_INVALID
    try:
        obj = json.loads(raw)
    except JSON_ERRORS:
        raise VerificationError(code, "TCB info is not valid JSON") from None
    f = _Fields(obj, code, "TCB info")
    ident = f.get("id", str)
    version = f.integer("version")
    if ident != "TDX":
        raise VerificationError(code, "TCB info is not for TDX", expected="TDX", actual=ident)
    if version != 3:
        raise VerificationError(code, "unsupported TCB info version", expected=3, actual=version)
    levels: list[TcbLevel] = []
    raw_levels = f.get("tcbLevels", list)
    if not raw_levels:
        raise f.fail("'tcbLevels' is empty")
    for item in raw_levels:
        level = _Fields(item, code, "TCB info tcbLevel")
        tcb = _Fields(level.get("tcb", dict), code, "TCB info tcbLevel.tcb")
        levels.append(
            TcbLevel(
                sgx_components=_svns(tcb.get("sgxtcbcomponents", list), tcb, "sgxtcbcomponents"),
                pcesvn=tcb.integer("pcesvn"),
                tdx_components=_svns(tcb.get("tdxtcbcomponents", list), tcb, "tdxtcbcomponents"),
                tcb_date=level.time("tcbDate"),
                tcb_status=level.status(),
                advisory_ids=level.advisories(),
            )
        )
    module_obj = f.get("tdxModule", dict, required=False)
    identities = f.get("tdxModuleIdentities", list, required=False) or []
    return TcbInfo(
        id=ident,
        version=version,
        issue_date=f.time("issueDate"),
        next_update=f.time("nextUpdate"),
        fmspc=f.hexbytes("fmspc", 6),
        pce_id=f.hexbytes("pceId", 2),
        tcb_type=f.integer("tcbType"),
        tcb_evaluation_data_number=f.integer("tcbEvaluationDataNumber"),
        tdx_module=None if module_obj is None else _module(module_obj, f, with_id=False),
        tdx_module_identities=tuple(_module(m, f, with_id=True) for m in identities),
        # Intel's QVL keeps the levels in a std::set ordered by TcbLevel::operator> (SGX
        # components, then PCESVN, then TDX components) and matches in that descending order,
        # whatever order the JSON lists them in; a stable sort keeps equal levels as listed
        tcb_levels=tuple(sorted(levels, key=_platform_order, reverse=True)),
    )


def _platform_order(level: TcbLevel) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
    return level.sgx_components, level.pcesvn, level.tdx_components


@lru_cache(maxsize=64)
def parse_qe_identity(raw: bytes) -> QeIdentity:
    """Parse the raw ``enclaveIdentity`` object (id TD_QE, version 2); ``qe_identity_invalid``."""
    code = Code.QE_IDENTITY_INVALID
    try:
        obj = json.loads(raw)
    except JSON_ERRORS:
        raise VerificationError(code, "QE identity is not valid JSON") from None
    f = _Fields(obj, code, "QE identity")
    ident = f.get("id", str)
    version = f.integer("version")
    if ident != "TD_QE":
        raise VerificationError(
            code, "QE identity is not the TD quoting enclave's", expected="TD_QE", actual=ident
        )
    if version != 2:
        raise VerificationError(code, "unsupported QE identity version", expected=2, actual=version)
    levels = _isv_levels(f.get("tcbLevels", list), f)
    if not levels:
        raise f.fail("'tcbLevels' is empty")
    return QeIdentity(
        id=ident,
        version=version,
        issue_date=f.time("issueDate"),
        next_update=f.time("nextUpdate"),
        tcb_evaluation_data_number=f.integer("tcbEvaluationDataNumber"),
        # the hex is of the 4 bytes as they appear in the QE report, whose MISCSELECT is a
        # little-endian u32: read it as such, as Intel's QVL (EnclaveReportVerifier:
        # swapBytes(toUint32(b0..b3))) and its Go/Rust peers (LittleEndian) do
        miscselect=int.from_bytes(f.hexbytes("miscselect", 4), "little"),
        miscselect_mask=int.from_bytes(f.hexbytes("miscselectMask", 4), "little"),
        attributes=f.hexbytes("attributes", 16),
        attributes_mask=f.hexbytes("attributesMask", 16),
        mrsigner=f.hexbytes("mrsigner", 32),
        isvprodid=f.integer("isvprodid"),
        tcb_levels=levels,
    )


def peek_json(raw: bytes) -> dict[str, Any]:
    """The raw object's top-level members, without validating them (for selection)."""
    return _peek(raw)


@lru_cache(maxsize=128)
def _peek(raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except JSON_ERRORS:  # not JSON: no members to select by (its parser words the error)
        return {}
    return obj if isinstance(obj, dict) else {}


# -- X.509 helpers ------------------------------------------------------------------------------


def common_name(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(attrs) != 1:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def load_chain(pem: bytes, code: str, what: str) -> list[x509.Certificate]:
    try:
        certs = x509load.pem_certificates(pem)
    except ValueError as error:
        raise VerificationError(code, f"{what}: the certificate chain does not parse ({error})") from None
    return certs


def check_issued_by(
    child: x509.Certificate, parent: x509.Certificate, what: str, *, code: str, signature_code: str
) -> None:
    """Issuer DN equals the parent's subject (``code``), and the parent's key verifies the signature."""
    if child.issuer != parent.subject:
        raise VerificationError(
            code,
            f"{what}: issuer does not match the issuing certificate's subject",
            expected=parent.subject.rfc4514_string(),
            actual=child.issuer.rfc4514_string(),
        )
    if not _ecdsa_signed(child, parent):
        raise VerificationError(
            signature_code,
            f"{what}: signature does not verify with the key of {parent.subject.rfc4514_string()}",
        )


def _ecdsa_signed(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """``child``'s ECDSA signature verifies with ``parent``'s key (Intel's PKI signs with ECDSA
    only; ``ecdsa.signed_by``, not ``verify_directly_issued_by``, whose ``ec.ECDSA`` imports
    cryptography's OpenSSL backend module)."""
    key = parent.public_key()
    return isinstance(key, ec.EllipticCurvePublicKey) and signed_by(child.public_bytes(Encoding.DER), key)


def check_profile(cert: x509.Certificate, code: str, what: str) -> None:
    """X.509 v3, ecdsa-with-SHA256, P-256 public key."""
    if cert.version is not x509.Version.v3:
        raise VerificationError(code, f"{what}: not an X.509 v3 certificate")
    if cert.signature_algorithm_oid != x509.oid.SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        raise VerificationError(
            code,
            f"{what}: signature algorithm is not ecdsa-with-SHA256",
            actual=cert.signature_algorithm_oid.dotted_string,
        )
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise VerificationError(code, f"{what}: public key is not ECDSA P-256")


def check_cert_time(cert: x509.Certificate, at: datetime, what: str, *, collateral: bool = False) -> None:
    """``notBefore <= at <= notAfter``; collateral signers fail as collateral_*."""
    if at < cert.not_valid_before_utc:
        code = Code.COLLATERAL_NOT_YET_VALID if collateral else Code.CERTIFICATE_NOT_YET_VALID
        raise VerificationError(
            code,
            f"{what} is not valid yet at {iso8601(at)}",
            expected=f">= {iso8601(cert.not_valid_before_utc)}",
            actual=iso8601(at),
        )
    if at > cert.not_valid_after_utc:
        code = Code.COLLATERAL_EXPIRED if collateral else Code.CERTIFICATE_EXPIRED
        raise VerificationError(
            code,
            f"{what} expired at {iso8601(cert.not_valid_after_utc)}",
            expected=f"<= {iso8601(cert.not_valid_after_utc)}",
            actual=iso8601(at),
        )


def check_window(not_before: datetime, not_after: datetime, at: datetime, what: str) -> None:
    """``not_before <= at < not_after`` for a collateral item; distinct codes either side."""
    if at < not_before:
        raise VerificationError(
            Code.COLLATERAL_NOT_YET_VALID,
            f"{what} is not valid yet (issued {iso8601(not_before)})",
            expected=f">= {iso8601(not_before)}",
            actual=iso8601(at),
        )
    if at >= not_after:
        raise VerificationError(
            Code.COLLATERAL_EXPIRED,
            f"{what} expired: its nextUpdate is {iso8601(not_after)}; fetch fresh collateral",
            expected=f"< {iso8601(not_after)}",
            actual=iso8601(at),
        )


class ExpiryCheck:
    """The windows of several collateral items at ``at``, checked together: one that is not
    valid yet fails at once (``check_window``); expired ones are collected, so that
    ``raise_if_expired`` names every expired item and the earliest expiry in one
    ``collateral_expired`` (a user refreshes them all at once, not one per run)."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.expired: list[tuple[str, datetime]] = []

    def window(self, not_before: datetime, not_after: datetime, what: str) -> None:
        if self.at >= not_after and self.at >= not_before:
            self.expired.append((what, not_after))
        else:
            check_window(not_before, not_after, self.at, what)

    def raise_if_expired(self) -> None:
        if not self.expired:
            return
        earliest = min(moment for _, moment in self.expired)
        if len(self.expired) == 1:
            what = self.expired[0][0]
            detail = f"{what} expired: its nextUpdate is {iso8601(earliest)}; fetch fresh collateral"
        else:
            items = ", ".join(f"{what} (nextUpdate {iso8601(moment)})" for what, moment in self.expired)
            detail = (
                f"{len(self.expired)} collateral items expired: {items}; the earliest at "
                f"{iso8601(earliest)}; fetch fresh collateral"
            )
        raise VerificationError(
            Code.COLLATERAL_EXPIRED, detail, expected=f"< {iso8601(earliest)}", actual=iso8601(self.at)
        )


def raw_signature_to_der(sig: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"))


def verify_raw_signature(key: ec.EllipticCurvePublicKey, sig: bytes, data: bytes) -> bool:
    """ECDSA P-256 SHA-256 over ``data`` with a raw r||s signature."""
    if len(sig) != 64:
        return False
    try:
        key.verify(raw_signature_to_der(sig), data, ECDSA_SHA256)
    except (InvalidSignature, ValueError):
        return False
    return True


# -- memoized checks ----------------------------------------------------------------------------

#: Intel's PCK leaf and TCB-signing certificates sign with their keys (the QE report; TCB info
#: and QE identity): keyUsage with digitalSignature, as the real ones carry
SIGNER_PROFILE = LeafProfile(key_usage=("digital_signature",), key_usage_required=True)


@dataclass(frozen=True)
class SignerCheck:
    """A collateral signer chain verified against the trust root (time not yet checked)."""

    signer: x509.Certificate
    key: ec.EllipticCurvePublicKey = field(repr=False)
    #: the signer's cRLDistributionPoints (held to a root CA CRL's scope)
    points: frozenset[str] | None = None


@lru_cache(maxsize=32)
def _load_der_cert(data: bytes) -> x509.Certificate:
    return x509load.der_certificate(data)


@lru_cache(maxsize=64)
def verified_signer(chain_pem: bytes, root_der: bytes, expected_cn: str, what: str) -> SignerCheck:
    """The collateral signer of ``chain_pem``, chained to the trust root (by bytes)."""
    root = _load_der_cert(root_der)
    code = Code.COLLATERAL_SIGNER_INVALID
    if not chain_pem.strip():
        raise VerificationError(code, f"{what}: no issuer chain (the issuer-chain header was not kept)")
    certs = load_chain(chain_pem, code, what)
    if not certs:
        raise VerificationError(code, f"{what}: the issuer chain holds no certificate")
    signer = certs[0]
    cn = common_name(signer.subject)
    if cn != expected_cn:
        raise VerificationError(
            code, f"{what}: unexpected signer certificate", expected=expected_cn, actual=cn
        )
    check_profile(signer, code, f"{what} signer")
    for extra in certs[1:]:
        if der(extra) != root_der and extra.subject == extra.issuer:
            raise VerificationError(
                Code.UNTRUSTED_ROOT,
                f"{what}: the issuer chain ends in a root that is not the trusted root",
                expected=root.subject.rfc4514_string(),
                actual=extra.subject.rfc4514_string(),
            )
    if signer.issuer != root.subject:
        raise VerificationError(
            Code.UNTRUSTED_ROOT,
            f"{what}: the signer is not issued by the trusted root",
            expected=root.subject.rfc4514_string(),
            actual=signer.issuer.rfc4514_string(),
        )
    if not _ecdsa_signed(signer, root):
        raise VerificationError(
            Code.UNTRUSTED_ROOT,
            f"{what}: the signer certificate's signature does not verify with the trusted root's key",
        )
    # a TCB signer is an end entity signing with its key (digitalSignature), under the root
    check_chain(
        ((signer, f"{what}: the {expected_cn} certificate"), (root, f"{what}: the root")), leaf=SIGNER_PROFILE
    )
    key = signer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):  # check_profile made sure; kept under -O
        raise VerificationError(code, f"{what}: the signer's public key is not ECDSA P-256")
    return SignerCheck(signer, key, distribution_points(signer))


def json_signature_ok(item: SignedJson, signer: SignerCheck) -> bool:
    """The signature over the raw JSON verifies with the signer's key (the verifier memoizes
    it together with the signer and the parsed model)."""
    return verify_raw_signature(signer.key, item.signature, item.raw)


@dataclass(frozen=True)
class CrlCheck:
    """A CRL whose signature verified with its issuer's key (time not yet checked)."""

    crl: x509.CertificateRevocationList
    issuer_cn: str | None
    this_update: datetime
    next_update: datetime
    revoked_serials: frozenset[int]
    #: what an IssuingDistributionPoint limits the CRL to (None: no IDP, every certificate of
    #: its issuer); ``scope.check_covers`` before a certificate counts as checked against it
    scope: CrlScope | None = None


@lru_cache(maxsize=32)
def parse_crl(der_bytes: bytes) -> x509.CertificateRevocationList:
    try:
        return x509load.crl(der_bytes)
    except ValueError as error:
        raise VerificationError(Code.CRL_INVALID, f"CRL does not parse as DER ({error})") from None


@lru_cache(maxsize=32)
def verified_crl(der_bytes: bytes, issuer_der: bytes, what: str) -> CrlCheck:
    """``der_bytes`` parsed, its issuer equal to the issuer's subject, its signature valid."""
    crl = parse_crl(der_bytes)
    issuer = _load_der_cert(issuer_der)
    if crl.issuer != issuer.subject:
        raise VerificationError(
            Code.CRL_ISSUER_MISMATCH,
            f"{what}: the CRL is not issued by the expected CA",
            expected=issuer.subject.rfc4514_string(),
            actual=crl.issuer.rfc4514_string(),
        )
    key = issuer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not signed_by(der_bytes, key):
        raise VerificationError(
            Code.CRL_SIGNATURE_INVALID,
            f"{what}: the CRL signature does not verify with {common_name(issuer.subject)}'s key",
        )
    if crl.next_update_utc is None:
        raise VerificationError(Code.CRL_INVALID, f"{what}: the CRL has no nextUpdate")
    scope = crl_scope(crl, issuer, f"the {what}")
    serials = frozenset(entry.serial_number for entry in crl)
    return CrlCheck(crl, common_name(crl.issuer), crl.last_update_utc, crl.next_update_utc, serials, scope)


def crl_issuer_cn(der_bytes: bytes) -> str | None:
    """The issuer CN of a CRL (for picking platform vs processor), or None if it does not parse."""
    try:
        return common_name(parse_crl(der_bytes).issuer)
    except VerificationError:
        return None
