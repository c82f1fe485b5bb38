"""SEV-SNP attestation report verification: report -> ``SnpVerdict`` (notes/snp.md §3).

```python
certs = load_snp_certs(vcek="vcek.der", chain="cert_chain.pem")   # or table=auxblob, vlek=...
verdict = verify_snp(report_bytes, certs, at=None, product=None, trust_root=None)
```

Steps, in order (the first failure raises ``VerificationError`` with the code below):

1. parse (``ParseError`` for malformed bytes); SIGNATURE_ALGO must be 1; POLICY bit 17 set;
   VMPL 0-3 (a report the host requested carries 0xFFFFFFFF); KEY_INFO.SIGNING_KEY must be VCEK
   or VLEK, and the certificate given must be of that kind;
2. the product: the certificates' (intermediate CN / productName), the report's CPUID (v3+) and
   the ``product`` argument must all agree. A v2 report carries no CPUID: without ``product``
   the certificates' product is used and the verdict says so (``notes``);
3. the chain ARK -> ASK -> VCEK or ARK -> ASVK -> VLEK (``certs.verify_vek_chain``: pinned
   ARK or explicit ``trust_root``, RSA-PSS/SHA-384, names, the RFC 5280 profile TDX's chain
   passes too, P-384 leaf, optional CRL usable under RFC 5280), memoized by the certificates'
   bytes; validity checked at ``at``. The verdict says whether a CRL was checked and where it
   came from (``crl_source``); the default policy refuses a verdict without one;
4. the report signature: ECDSA P-384/SHA-384 over bytes 0x000-0x29F, R and S little-endian;
5. REPORTED_TCB == the certificate's TCB as a whole 64-bit TCB_VERSION
   (``VekExtensions.tcb_version``, go-sev-guest's ``ComposeTCBParts``: Milan/Genoa bytes 2-5 are
   the VEK's spl_4..spl_7; Turin has FMC in byte 0 and bytes 4-6 zero, and a Turin VEK with a
   non-zero spl_4..spl_7 matches no report); then REPORTED_TCB <= CURRENT_TCB in every byte of
   the product's layout (go-sev-guest ``validateTcb``: the host may report an older TCB than
   the one running, never a newer one);
6. VCEK: CHIP_ID == hwID (Turin: the first 8 bytes, the rest zero). When KEY_INFO.MASK_CHIP_KEY
   is set, or the platform masks CHIP_ID (MASK_CHIP_ID: CHIP_ID all zero), CHIP_ID must be zero
   and the verdict records that the chip binding was not possible. VLEK: no chip binding (it has
   a csp_id instead, which the verdict records).

Error codes (besides those of ``verifier.snp.certs``, listed there):

========================== ================================================================
code                       meaning
========================== ================================================================
signature_algo_unsupported SIGNATURE_ALGO is not 1 (ECDSA P-384 with SHA-384)
policy_reserved_bit        POLICY bit 17 (reserved, must be one) is clear
vmpl_out_of_range          VMPL is not 0-3 (0xFFFFFFFF: the host, not the guest, requested it)
report_unsigned            KEY_INFO.SIGNING_KEY is 7 (none): the report is not signed
signing_key_mismatch       KEY_INFO says VCEK but a VLEK certificate was given, or vice versa
product_mismatch           CPUID, the ``product`` argument and the certificates disagree
                           (an unknown ``product`` name is an ``InputError``)
report_signature_invalid   the report's ECDSA signature does not verify under the VCEK/VLEK
tcb_mismatch               REPORTED_TCB differs from the certificate's 64-bit TCB (shows both
                           raw values and names the bytes), or a Turin VEK has non-zero
                           spl_4..spl_7
reported_tcb_above_current REPORTED_TCB is greater than CURRENT_TCB in a component (names it)
chip_id_mismatch           CHIP_ID differs from the VCEK's hwID (or is non-zero when masked)
========================== ================================================================

A missing VCEK/VLEK is not a verification failure but missing collateral: ``CollateralError``
(CLI exit 3) naming the KDS URL that would provide it. ``fetch_snp_certs`` fills in a VCEK (and
optionally the CRL) from the cache, bundles or AMD KDS.

Concurrency: ``verify_snp`` may run in many threads at once over shared certificates; the
chain memo (``certs.py``) is locked and keyed by the certificates' and CRL's bytes, and holds
only time-independent results, so the verdicts are those of one verification at a time.
``clear_caches()`` empties it and the parsers' memos.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from ccverify.verifier.ecdsa import ECDSA_SHA384
from ccverify.verifier.errors import Code, CollateralError, InputError, VerificationError
from ccverify.verifier.evidence.certtable import CertKind, CertTable
from ccverify.verifier.evidence.snp_report import (
    SIGNATURE_ALGO_ECDSA_P384_SHA384,
    SIGNED_SIZE,
    Product,
    SigningKey,
    SnpReport,
    TcbParts,
)
from ccverify.verifier.inputs import Source, read_source, refuse
from ccverify.verifier.jsonable import to_jsonable
from ccverify.verifier.limits import InputKind
from ccverify.verifier.policy import UnsafeNoPolicy, choose_policy
from ccverify.verifier.roots import RootInfo
from ccverify.verifier.snp.certs import (
    CertSummary,
    CrlInfo,
    VekKind,
    VerifiedChain,
    der,
    load_certificates,
    load_crl,
    subject_cn,
    verify_vek_chain,
)
from ccverify.verifier.timeutil import resolve_time

if TYPE_CHECKING:
    from ccverify.verifier.snp.validate import SnpPolicy

_NO_JSON: dict[str, Any] = {"json": False}

# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnpCertificates:
    """The certificates offered for a report, all DER; any may be missing.

    ``sources`` says where each came from (``"vcek: /path"``, ``"table: ASK"``...).
    """

    vcek: bytes | None = None
    vlek: bytes | None = None
    ask: bytes | None = None
    asvk: bytes | None = None
    ark: bytes | None = None
    crl: bytes | None = None
    sources: tuple[str, ...] = ()
    #: where ``crl`` came from (``CRL_SOURCES``); None for a CRL set directly: "given"
    crl_source: str | None = None

    def with_(self, **changes: bytes | str | tuple[str, ...] | None) -> SnpCertificates:
        """A copy with ``changes`` (field names of this class)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, str | list[str] | None]:
        out: dict[str, str | list[str] | None] = {}
        for name in ("vcek", "vlek", "ask", "asvk", "ark", "crl"):
            value = getattr(self, name)
            out[name] = None if value is None else hashlib.sha256(value).hexdigest()
        out["sources"] = list(self.sources)
        return out


#: where a verdict's KDS CRL came from: ``given`` by the caller (``--crl``, ``crl=``), the
#: extended report's ``certificate_table`` (chosen by the host: any unexpired ARK-signed CRL,
#: an old one too; a policy may bound its age with ``maximum_crl_age_hours``), or fetched
#: from ``kds`` (AMD KDS, or the cache or a bundle holding its answer)
CRL_SOURCES = ("given", "certificate_table", "kds")


def _read(
    source: object, what: str, kind: InputKind = "certificate", function: str = "load_snp_certs"
) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), f"{what}: bytes"
    if isinstance(source, os.PathLike):
        return read_source(source, kind, what, function)[0], f"{what}: {os.fspath(source)}"
    raise refuse(source, what, function)


_ROLE_SLOTS = {"VCEK": "vcek", "VLEK": "vlek", "ASK": "ask", "ASVK": "asvk", "ARK": "ark"}


def _role(cert: x509.Certificate) -> str | None:
    cn = subject_cn(cert)
    if cn == "SEV-VCEK":
        return "VCEK"
    if cn == "SEV-VLEK":
        return "VLEK"
    if cn.startswith("SEV-VLEK-"):
        return "ASVK"
    if cn.startswith("ARK-") or (cert.issuer == cert.subject):
        return "ARK"
    if cn.startswith("SEV-"):
        return "ASK"
    return None


def load_snp_certs(
    *,
    vcek: Source | None = None,
    vlek: Source | None = None,
    chain: Source | None = None,
    table: Source | CertTable | None = None,
    crl: Source | None = None,
    ark: Source | None = None,
) -> SnpCertificates:
    """Gather certificates from files (``os.PathLike``) or bytes (DER or PEM; a PEM may hold
    several). A ``str`` is refused, like any other type (``InputError``, before anything is read).

    ``chain`` is a KDS ``cert_chain`` (ASK or ASVK, then ARK); ``table`` an extended-report
    certificate table (configfs-tsm ``auxblob``). Roles are told by subject CN, so a PEM file
    holding VCEK + ASK + ARK fills all three. Explicit arguments win over the table.
    """
    for value, what in ((vcek, "vcek"), (vlek, "vlek"), (chain, "chain"), (crl, "crl"), (ark, "ark")):
        if value is not None and not isinstance(value, bytes | bytearray | memoryview | os.PathLike):
            raise refuse(value, what, "load_snp_certs")
    if table is not None and not isinstance(table, CertTable | bytes | bytearray | memoryview | os.PathLike):
        raise refuse(table, "table", "load_snp_certs", "or a CertTable")
    slots: dict[str, bytes] = {}
    sources: list[str] = []

    def put(role: str, data: bytes, where: str) -> None:
        slot = _ROLE_SLOTS[role]
        if slot not in slots:
            slots[slot] = data
            sources.append(f"{slot}: {where}")

    for value, what, default_role in (
        (vcek, "vcek", "VCEK"),
        (vlek, "vlek", "VLEK"),
        (chain, "chain", "ASK"),
        (ark, "ark", "ARK"),
    ):
        if value is None:
            continue
        data, where = _read(value, what)
        certs = load_certificates(data, where)
        for cert in certs:
            # a certificate of no AMD role is kept in the slot its source implies, so that
            # verification names what is wrong with it
            put(_role(cert) or default_role, der(cert), where)
    crl_data: bytes | None = None
    crl_source: str | None = None
    if crl is not None:
        raw, where = _read(crl, "crl", "crl")
        crl_data = load_crl(raw, where).public_bytes(Encoding.DER)
        sources.append(f"crl: {where}")
        crl_source = "given"
    if table is not None:
        if isinstance(table, CertTable):
            parsed = table
        else:
            parsed = CertTable.from_bytes(_read(table, "table", "cert_table")[0])
        for kind in (CertKind.VCEK, CertKind.VLEK, CertKind.ASK, CertKind.ASVK, CertKind.ARK):
            entry = parsed.get(kind)
            if entry is not None:
                put(
                    kind.name,
                    der(load_certificates(entry, f"certificate table {kind.name}")[0]),
                    f"table {kind.name}",
                )
        table_crl = parsed.get(CertKind.CRL)
        if crl_data is None and table_crl is not None:
            crl_data = load_crl(table_crl, "certificate table CRL").public_bytes(Encoding.DER)
            sources.append("crl: table CRL")
            crl_source = "certificate_table"
    return SnpCertificates(
        vcek=slots.get("vcek"),
        vlek=slots.get("vlek"),
        ask=slots.get("ask"),
        asvk=slots.get("asvk"),
        ark=slots.get("ark"),
        crl=crl_data,
        sources=tuple(sources),
        crl_source=crl_source,
    )


# --------------------------------------------------------------------------------------------
# Verdict
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnpTcb:
    """The report's TCB values decoded with the product's layout, and the certificate's.

    ``current``, ``committed`` and ``launch`` are decoded on first use (they are not needed to
    verify, only to validate and to show).
    """

    reported: TcbParts
    certificate: TcbParts
    product: Product = field(repr=False, metadata=_NO_JSON)
    source: SnpReport = field(repr=False, compare=False, metadata=_NO_JSON)

    @cached_property
    def current(self) -> TcbParts:
        return self.source.current_tcb.parts(self.product)

    @cached_property
    def committed(self) -> TcbParts:
        return self.source.committed_tcb.parts(self.product)

    @cached_property
    def launch(self) -> TcbParts:
        return self.source.launch_tcb.parts(self.product)

    def to_json(self) -> dict[str, Any]:
        return {
            name: to_jsonable(getattr(self, name))
            for name in ("reported", "current", "committed", "launch", "certificate")
        }


@dataclass(frozen=True)
class SnpVerdict:
    """A verified SEV-SNP report: what was checked, against what, at which time."""

    report: SnpReport
    status: str
    product: Product
    product_source: str
    key_type: VekKind
    tcb: SnpTcb
    chip_binding: str
    csp_id: str | None
    root: RootInfo
    certificates: tuple[CertSummary, ...]
    crl_checked: bool
    crl: CrlInfo | None
    at: datetime
    notes: tuple[str, ...] = ()
    certificate_product_name: str | None = None
    #: where the certificates came from (``SnpCertificates.sources``)
    certificate_sources: tuple[str, ...] = ()
    #: where the checked CRL came from (``CRL_SOURCES``: given, certificate_table, kds); None
    #: when no CRL was checked
    crl_source: str | None = None
    #: the policy applied: "default", "custom" or "UNSAFE_NO_POLICY" (none: the caller's job)
    policy: str = "UNSAFE_NO_POLICY"

    @property
    def measurement(self) -> bytes:
        return self.report.measurement

    @property
    def production_root(self) -> bool:
        return self.root.production


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def _trust_root_der(trust_root: Source | x509.Certificate | None) -> bytes | None:
    if trust_root is None:
        return None
    if isinstance(trust_root, x509.Certificate):
        return der(trust_root)
    data, where = _read(trust_root, "trust root", function="verify_snp")
    return _root_der(data, where)


@lru_cache(maxsize=16)
def _root_der(data: bytes, where: str) -> bytes:
    """DER of the single certificate in ``data`` (memoized: callers pass the same root often)."""
    certs = load_certificates(data, where)
    if len(certs) != 1:
        raise InputError(f"{where}: a trust root is one certificate, found {len(certs)}")
    return der(certs[0])


def _product_hint(product: Product | str | None) -> Product | None:
    """The caller's product (a name is parsed; an unknown name is an ``InputError``)."""
    if product is None or isinstance(product, Product):
        return product
    return Product.from_name(product)


def verify_snp(
    report: Source | SnpReport,
    certs: SnpCertificates,
    *,
    at: datetime | str | None = None,
    product: Product | str | None = None,
    trust_root: Source | x509.Certificate | None = None,
    policy: SnpPolicy | UnsafeNoPolicy | None = None,
) -> SnpVerdict:
    """Verify ``report`` with ``certs``, then apply ``policy``; raise ``VerificationError`` /
    ``PolicyError`` or return the verdict.

    ``policy`` (``validate.py``): ``None`` is the default policy (``SnpPolicy()``). A refusal
    raises ``PolicyError`` (every violation, and the refused verdict as its ``verdict``).
    ``policy=UNSAFE_NO_POLICY`` skips it: the verdict (``policy == "UNSAFE_NO_POLICY"``) is then
    returned for a DEBUG guest alike, and accepting it is the caller's job (``validate_snp``).
    """
    applying = choose_policy(policy, "verify_snp", "an SnpPolicy", _policy_class)
    moment = resolve_time(at)
    # every argument's type is checked before anything is read
    if not isinstance(report, SnpReport | bytes | bytearray | memoryview | os.PathLike):
        raise refuse(report, "report", "verify_snp", "or an SnpReport")
    if not isinstance(certs, SnpCertificates):
        raise InputError(
            f"verify_snp: certs must be SnpCertificates (from load_snp_certs), not {type(certs).__name__}"
        )
    if trust_root is not None and not isinstance(
        trust_root, x509.Certificate | bytes | bytearray | memoryview | os.PathLike
    ):
        raise refuse(trust_root, "trust_root", "verify_snp", "or an x509.Certificate")
    if isinstance(report, SnpReport):
        parsed = report
        signed = parsed.signed_data
    else:
        raw = read_source(report, "evidence", "report", "verify_snp")[0]
        parsed = SnpReport.from_bytes(raw)
        signed = raw[:SIGNED_SIZE]

    # 1. sanity and signing key
    if parsed.signature_algo != SIGNATURE_ALGO_ECDSA_P384_SHA384:
        raise VerificationError(
            Code.SIGNATURE_ALGO_UNSUPPORTED,
            "SIGNATURE_ALGO must be 1 (ECDSA P-384 with SHA-384)",
            expected=1,
            actual=parsed.signature_algo,
        )
    if not parsed.policy.reserved_bit17:
        raise VerificationError(
            Code.POLICY_RESERVED_BIT,
            "POLICY bit 17 is reserved and must be one",
            expected=f"0x{parsed.policy.raw | 1 << 17:x}",
            actual=f"0x{parsed.policy.raw:x}",
        )
    if not 0 <= parsed.vmpl <= 3:
        raise VerificationError(
            Code.VMPL_OUT_OF_RANGE,
            f"VMPL {parsed.vmpl} (0x{parsed.vmpl:x}) is not a guest VMPL: a guest's report comes from "
            "VMPL 0-3, and 0xFFFFFFFF marks a report the host requested",
            expected="0..3",
            actual=parsed.vmpl,
        )
    signing = parsed.key_info.signing_key
    if signing is SigningKey.NONE:
        raise VerificationError(
            Code.REPORT_UNSIGNED,
            "KEY_INFO.SIGNING_KEY is 7 (none): the report is not signed",
            expected="VCEK or VLEK",
        )
    kind = VekKind.VCEK if signing is SigningKey.VCEK else VekKind.VLEK

    # 2. the product the report and the caller expect
    hint = _product_hint(product)
    cpuid = parsed.product
    notes: list[str] = []
    if hint is not None and cpuid is not None and hint is not cpuid:
        raise VerificationError(
            Code.PRODUCT_MISMATCH,
            f"the report's CPUID (family 0x{parsed.cpuid_fam_id:02x} model 0x{parsed.cpuid_mod_id:02x}) is "
            f"{cpuid.value}, but the product given is {hint.value}",
            expected=hint.value,
            actual=cpuid.value,
        )
    if parsed.layout_version >= 3 and cpuid is None:
        notes.append(
            f"the report's CPUID (family 0x{parsed.cpuid_fam_id or 0:02x} "
            f"model 0x{parsed.cpuid_mod_id or 0:02x}) is not a known product; "
            "the product is taken from elsewhere"
        )
    expected = hint or cpuid

    # 3. the chain
    vek = certs.vcek if kind is VekKind.VCEK else certs.vlek
    if vek is None:
        other = certs.vlek if kind is VekKind.VCEK else certs.vcek
        if other is not None:
            raise VerificationError(
                Code.SIGNING_KEY_MISMATCH,
                f"KEY_INFO says the report is signed by the {kind.value}, but only a "
                f"{'VLEK' if kind is VekKind.VCEK else 'VCEK'} certificate was given",
                expected=kind.value,
                actual="VLEK" if kind is VekKind.VCEK else "VCEK",
            )
        raise _missing_vek(parsed, kind, expected)
    intermediate = certs.ask if kind is VekKind.VCEK else certs.asvk
    if intermediate is None:  # offer the other one so a VLEK under an ASK is named as such
        intermediate = certs.asvk if kind is VekKind.VCEK else certs.ask
    chain = verify_vek_chain(
        vek, intermediate, certs.ark, product=expected, trust_root=_trust_root_der(trust_root), crl=certs.crl
    )
    if chain.kind is not kind:
        raise VerificationError(
            Code.SIGNING_KEY_MISMATCH,
            f"KEY_INFO says the report is signed by the {kind.value}, "
            f"but the certificate is a {chain.kind.value}",
            expected=kind.value,
            actual=chain.kind.value,
        )
    chosen = chain.product
    if hint is not None and cpuid is not None:
        source = "report CPUID, product option and certificates agree"
    elif cpuid is not None:
        source = "report CPUID (certificates agree)"
    elif hint is not None:
        source = "product option (certificates agree)"
    else:
        source = f"certificates ({chain.product_source})"
        if parsed.layout_version < 3:
            notes.append(
                f"version {parsed.version} report carries no CPUID and no product was given: "
                f"product {chosen.value} taken from the certificates"
            )
    chain.check_time(moment)

    # 4. the report signature
    try:
        chain.public_key.verify(
            encode_dss_signature(parsed.signature_r, parsed.signature_s), signed, ECDSA_SHA384
        )
    except InvalidSignature:
        raise VerificationError(
            Code.REPORT_SIGNATURE_INVALID,
            f"the report's ECDSA P-384 signature does not verify under the {kind.value} "
            f"({chain.leaf.sha256[:16]}...)",
        ) from None

    # 5. TCB
    _check_tcb(parsed, kind, chosen, chain)
    reported = parsed.reported_tcb.parts(chosen)
    cert_tcb = chain.certificate_tcb

    # 6. chip binding
    binding = _chip_binding(parsed, kind, chosen, chain.extensions.hw_id)

    verdict = SnpVerdict(
        report=parsed,
        status="verified",
        product=chosen,
        product_source=source,
        key_type=kind,
        tcb=SnpTcb(reported=reported, certificate=cert_tcb, product=chosen, source=parsed),
        chip_binding=binding,
        csp_id=chain.extensions.csp_id,
        root=chain.root,
        certificates=chain.certificates,
        crl_checked=chain.crl is not None,
        crl=chain.crl,
        at=moment,
        notes=tuple(notes),
        certificate_product_name=chain.extensions.product_name,
        certificate_sources=certs.sources,
        crl_source=None if chain.crl is None else certs.crl_source or "given",
        policy=applying.applied,
    )
    return applying.check(verdict)


def _policy_class() -> tuple[type[SnpPolicy], Callable[[SnpVerdict, SnpPolicy | None], object]]:
    from ccverify.verifier.snp.validate import SnpPolicy, validate_snp

    return SnpPolicy, validate_snp


def _check_tcb(report: SnpReport, kind: VekKind, product: Product, chain: VerifiedChain) -> None:
    """REPORTED_TCB == the VEK's whole TCB_VERSION, and REPORTED_TCB <= CURRENT_TCB."""
    reported = report.reported_tcb
    cert = chain.certificate_tcb_version
    reserved = chain.extensions.reserved_spls if product.uses_fmc else {}
    if reserved:
        shown = ", ".join(f"{name}={value}" for name, value in reserved.items())
        raise VerificationError(
            Code.TCB_MISMATCH,
            f"the {product.value} {kind.value} carries non-zero reserved SPLs ({shown}), which a "
            f"{product.value} TCB_VERSION has no place for: no REPORTED_TCB can match it "
            f"(REPORTED_TCB 0x{reported.raw:016x}, the {kind.value}'s TCB without them 0x{cert.raw:016x})",
            expected="spl_4..spl_7 absent or 0",
            actual=shown,
        )
    if reported != cert:
        differ = reported.differs(cert, product)
        raise VerificationError(
            Code.TCB_MISMATCH,
            f"REPORTED_TCB 0x{reported.raw:016x} differs from the {kind.value}'s TCB 0x{cert.raw:016x} "
            f"in {', '.join(differ)}",
            expected=f"0x{cert.raw:016x} ({tcb_text(cert.parts(product))})",
            actual=f"0x{reported.raw:016x} ({tcb_text(reported.parts(product))})",
        )
    current = report.current_tcb
    above = reported.above(current, product)
    if above:
        have = dict(reported.components(product))
        limit = dict(current.components(product))
        raise VerificationError(
            Code.REPORTED_TCB_ABOVE_CURRENT,
            f"REPORTED_TCB 0x{reported.raw:016x} is greater than CURRENT_TCB 0x{current.raw:016x} in "
            f"{', '.join(above)}: the host may report a TCB older than the one running, never a newer one",
            expected=", ".join(f"{name} <= {limit[name]}" for name in above),
            actual=", ".join(f"{name} = {have[name]}" for name in above),
        )


def tcb_text(parts: TcbParts) -> str:
    """A TCB for messages: ``bl=3 tee=0 snp=8 ucode=115`` (Turin: ``fmc=...`` first)."""
    text = f"bl={parts.bl_spl} tee={parts.tee_spl} snp={parts.snp_spl} ucode={parts.ucode_spl}"
    return text if parts.fmc_spl is None else f"fmc={parts.fmc_spl} {text}"


def _chip_binding(report: SnpReport, kind: VekKind, product: Product, hw_id: bytes | None) -> str:
    chip = report.chip_id
    if kind is VekKind.VLEK:
        return "not applicable: VLEK (bound to the cloud provider's csp_id, not to a chip)"
    zero = not any(chip)
    if report.key_info.mask_chip_key:
        if not zero:
            raise VerificationError(
                Code.CHIP_ID_MISMATCH,
                "KEY_INFO.MASK_CHIP_KEY is set, so CHIP_ID must be zero",
                expected=bytes(64),
                actual=chip,
            )
        return "not possible: MASK_CHIP_KEY is set and CHIP_ID is zero"
    if zero:
        return "not possible: CHIP_ID is zero (platform MASK_CHIP_ID)"
    assert hw_id is not None  # the chain check requires hwID on a VCEK
    if product.uses_fmc:
        ok = chip[:8] == hw_id and not any(chip[8:])
        shown = chip if not ok else chip[:8]
    else:
        ok = chip == hw_id
        shown = chip
    if not ok:
        raise VerificationError(
            Code.CHIP_ID_MISMATCH,
            "the report's CHIP_ID is not the VCEK's hwID"
            + (" (Turin: first 8 bytes, the rest zero)" if product.uses_fmc else ""),
            expected=hw_id if not product.uses_fmc else hw_id + bytes(56),
            actual=shown,
        )
    return "CHIP_ID matches the VCEK hwID"


def _missing_vek(report: SnpReport, kind: VekKind, product: Product | None) -> CollateralError:
    if kind is VekKind.VLEK:
        return CollateralError(
            "the report is signed by a VLEK, which AMD KDS does not serve per chip; supply the VLEK "
            "certificate (certificate table or a VLEK file) from the cloud provider",
            missing="VLEK certificate",
        )
    if not any(report.chip_id):
        return CollateralError(
            "no VCEK given, and the report's CHIP_ID is zero (MASK_CHIP_ID) so it cannot be fetched; "
            "supply the VCEK (certificate table or a VCEK file)",
            missing="VCEK certificate",
        )
    if product is None:
        return CollateralError(
            "no VCEK given; to fetch it the product must be known (v2 report: give milan, genoa or turin)",
            missing="VCEK certificate",
        )
    from ccverify.verifier.collateral.kds import vcek_url

    return CollateralError(
        "no VCEK given (certificate table, a VCEK file, cache, bundle or KDS); it is available at",
        missing=vcek_url(product, report.chip_id, report.reported_tcb),
    )


def fetch_snp_certs(
    report: Source | SnpReport,
    certs: SnpCertificates,
    client: Any,
    *,
    at: datetime | str | None = None,
    product: Product | str | None = None,
    crl: bool = False,
) -> SnpCertificates:
    """Fill in what ``certs`` lacks from ``client`` (a ``collateral.kds.KdsClient``: cache,
    bundles, then AMD KDS): the VCEK for a VCEK-signed report, and the CRL when ``crl``."""
    moment = resolve_time(at)
    if isinstance(report, SnpReport):
        parsed = report
    else:
        parsed = SnpReport.from_bytes(read_source(report, "evidence", "report", "fetch_snp_certs")[0])
    hint = _product_hint(product)
    chosen = hint or parsed.product
    kind = VekKind.VLEK if parsed.key_info.signing_key is SigningKey.VLEK else VekKind.VCEK
    sources = list(certs.sources)
    if certs.vcek is None and parsed.key_info.signing_key is SigningKey.VCEK:
        if chosen is None:
            raise _missing_vek(parsed, kind, None)
        if not any(parsed.chip_id):
            raise _missing_vek(parsed, kind, chosen)
        certs = certs.with_(vcek=client.vcek_for_report(parsed, product=chosen, at=moment))
        sources.append("vcek: KDS/cache/bundle")
    if crl and certs.crl is None:
        if chosen is None:
            raise CollateralError("the product must be known to fetch the KDS CRL", missing="product")
        certs = certs.with_(crl=client.crl(chosen, kind, at=moment), crl_source="kds")
        sources.append("crl: KDS/cache/bundle")
    return certs.with_(sources=tuple(sources))


def clear_caches() -> None:
    """Forget every memoized SNP check: verified chains, trust roots, parsed report fields."""
    from ccverify.verifier.evidence import snp_report
    from ccverify.verifier.snp.certs import clear_chain_memo

    clear_chain_memo()
    _root_der.cache_clear()
    for cached in (snp_report._policy, snp_report._tcb, snp_report._key_info, snp_report._platform_info):
        cached.cache_clear()


__all__ = [
    "SnpCertificates",
    "SnpTcb",
    "SnpVerdict",
    "clear_caches",
    "fetch_snp_certs",
    "load_snp_certs",
    "verify_snp",
]
