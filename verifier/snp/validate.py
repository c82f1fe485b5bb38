"""SEV-SNP policy: what a relying party accepts from a *verified* report (``validate_snp``).

Modelled on go-sev-guest's ``validate.Options``. Every field is optional; ``None`` means
"not checked". The default policy (``SnpPolicy()``) refuses a verdict whose revocation was not
checked (no KDS CRL: ``revocation_not_checked``, the code and opt-out TDX's policy has:
``allow_unchecked_revocation``), and forbids a DEBUG guest and a guest whose POLICY allows CXL
(CXL_ALLOW, bit 21); it checks nothing else. Failures raise ``PolicyError`` whose ``code`` is
``policy_<field>`` (``revocation_not_checked`` for the CRL) and whose message names the field
with the expected and actual values.

``maximum_crl_age_hours`` bounds how old the checked CRL may be (its thisUpdate at most that
many hours before the verification time): a CRL from the host-controlled certificate table
may be any ARK-signed, unexpired one, an old one too (the verdict's ``crl_source`` says where
it came from). With it, a verdict without a CRL is refused as well.

JSON form (the ``"snp"`` object of a policy file; ``SnpPolicy.from_json``)::

    {"measurement": ["<hex48>", ...],          # allowed values (a single hex string works too)
     "host_data": [...], "report_data": [...], "family_id": [...], "image_id": [...],
     "id_key_digest": [...], "author_key_digest": [...],
     "report_id": "<hex32>", "report_id_ma": "<hex32>", "chip_id": "<hex64>",
     "minimum_guest_svn": 1,
     "minimum_tcb": {"bl_spl": 3, "tee_spl": 0, "snp_spl": 8, "ucode_spl": 115, "fmc_spl": 0},
     "minimum_current_tcb": {...}, "minimum_committed_tcb": {...},
     "minimum_reported_tcb": {...}, "minimum_launch_tcb": {...},
     "allow_debug": false, "allow_migrate_ma": false, "allow_smt": true,
     "require_single_socket": false, "minimum_abi": "1.51",
     "vmpl": 0, "maximum_vmpl": 0,
     "platform_info_required": ["TSME_EN"], "platform_info_forbidden": ["SMT_EN"],
     "signing_key": "vcek" | "vlek" | "any",
     "minimum_build": 3, "minimum_version": "1.55",
     "permit_provisional_firmware": false,
     "minimum_launch_mit_vector": 1, "minimum_current_mit_vector": 1,
     "require_author_key": false, "require_id_block": false,
     "allow_cxl": false, "require_mem_aes_256_xts": false, "require_rapl_disabled": false,
     "require_ciphertext_hiding": false, "require_page_swap_disabled": false,
     "allow_unchecked_revocation": false, "maximum_crl_age_hours": 168,
     "products": ["Milan", "Genoa"]}

Values shorter than their field (``report_data``, ``host_data``...) are zero-padded on the
right, as Trustee compares them. ``minimum_tcb`` applies to the current, committed and reported
TCB; a component absent from a minimum is 0; ``fmc_spl`` is only compared on Turin.
``minimum_*_mit_vector`` are bit sets the (v5) report's vector must contain.
``permit_provisional_firmware: false`` requires committed == current (TCB and version);
``true`` requires only committed <= current. ``vmpl`` and ``maximum_vmpl`` are 0-3.
``minimum_abi``/``minimum_version`` are ``"MAJOR.MINOR"`` in ASCII digits (or ``[MAJOR, MINOR]``).

Guest POLICY bits, as go-sev-guest's ``validatePolicy``: ``allow_cxl: false`` (the default)
refuses CXL_ALLOW (bit 21); ``require_mem_aes_256_xts`` (bit 22, MEM_AES_256_XTS),
``require_rapl_disabled`` (bit 23, RAPL_DIS), ``require_ciphertext_hiding`` (bit 24,
CIPHERTEXT_HIDING_DRAM) and ``require_page_swap_disabled`` (bit 25, PAGE_SWAP_DISABLE) default
to false; when true the bit must be set.

ID block and author key, as go-sev-guest's ``validateKeys``: ``require_id_block`` needs an ID
block (ID_KEY_DIGEST non-zero) whose digest is in ``id_key_digest``; ``require_author_key``
needs KEY_INFO.AUTHOR_KEY_EN and AUTHOR_KEY_DIGEST in ``author_key_digest``. A policy with
``require_id_block`` but no ``id_key_digest`` list (or ``require_author_key`` but no
``author_key_digest`` list) trusts no key, so it is an ``InputError`` when read.

Codes (``PolicyError.code``): ``policy_<field>`` for each field above, e.g. ``policy_measurement``,
``policy_allow_debug``, ``policy_allow_cxl``, ``policy_require_mem_aes_256_xts``,
``policy_require_rapl_disabled``, ``policy_require_ciphertext_hiding``,
``policy_require_page_swap_disabled``, ``policy_require_id_block``, ``policy_require_author_key``,
``policy_maximum_crl_age_hours``; and ``revocation_not_checked`` (as TDX's policy names it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from ccverify.verifier.errors import InputError, PolicyError
from ccverify.verifier.evidence.snp_report import PlatformInfo, Product, SnpReport, TcbParts
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.snp.certs import VekKind
from ccverify.verifier.snp.verify import SnpVerdict, tcb_text

_SIZES = {
    "measurement": 48,
    "host_data": 32,
    "report_data": 64,
    "family_id": 16,
    "image_id": 16,
    "id_key_digest": 48,
    "author_key_digest": 48,
}
_EXACT_SIZES = {"report_id": 32, "report_id_ma": 32, "chip_id": 64}
_TCB_NAMES = ("bl_spl", "tee_spl", "snp_spl", "ucode_spl", "fmc_spl")


@dataclass(frozen=True)
class TcbMinimum:
    """A component-wise TCB minimum (absent components are 0; fmc only on Turin)."""

    bl_spl: int = 0
    tee_spl: int = 0
    snp_spl: int = 0
    ucode_spl: int = 0
    fmc_spl: int = 0

    def below(self, actual: TcbParts) -> list[str]:
        out = []
        for name in _TCB_NAMES:
            have = getattr(actual, name)
            if have is not None and have < getattr(self, name):
                out.append(name)
        return out

    def text(self, turin: bool) -> str:
        base = f"bl>={self.bl_spl} tee>={self.tee_spl} snp>={self.snp_spl} ucode>={self.ucode_spl}"
        return f"fmc>={self.fmc_spl} {base}" if turin else base


@dataclass(frozen=True)
class SnpPolicy:
    """What to accept; ``None`` = unchecked. See the module docstring for the JSON form."""

    measurement: tuple[bytes, ...] | None = None
    host_data: tuple[bytes, ...] | None = None
    report_data: tuple[bytes, ...] | None = None
    family_id: tuple[bytes, ...] | None = None
    image_id: tuple[bytes, ...] | None = None
    id_key_digest: tuple[bytes, ...] | None = None
    author_key_digest: tuple[bytes, ...] | None = None
    report_id: bytes | None = None
    report_id_ma: bytes | None = None
    chip_id: bytes | None = None
    minimum_guest_svn: int | None = None
    minimum_tcb: TcbMinimum | None = None
    minimum_current_tcb: TcbMinimum | None = None
    minimum_committed_tcb: TcbMinimum | None = None
    minimum_reported_tcb: TcbMinimum | None = None
    minimum_launch_tcb: TcbMinimum | None = None
    allow_debug: bool = False
    allow_migrate_ma: bool | None = None
    allow_smt: bool | None = None
    require_single_socket: bool = False
    minimum_abi: tuple[int, int] | None = None
    vmpl: int | None = None
    maximum_vmpl: int | None = None
    platform_info_required: PlatformInfo | None = None
    platform_info_forbidden: PlatformInfo | None = None
    signing_key: str = "any"
    minimum_build: int | None = None
    minimum_version: tuple[int, int] | None = None
    permit_provisional_firmware: bool | None = None
    minimum_launch_mit_vector: int | None = None
    minimum_current_mit_vector: int | None = None
    require_author_key: bool = False
    require_id_block: bool = False
    products: tuple[Product, ...] | None = None
    allow_cxl: bool = False
    require_mem_aes_256_xts: bool = False
    require_rapl_disabled: bool = False
    require_ciphertext_hiding: bool = False
    require_page_swap_disabled: bool = False
    allow_unchecked_revocation: bool = False
    maximum_crl_age_hours: int | None = None

    def __post_init__(self) -> None:
        if self.signing_key not in ("any", "vcek", "vlek"):
            raise InputError(f"policy signing_key must be 'vcek', 'vlek' or 'any', got {self.signing_key!r}")
        for name in ("vmpl", "maximum_vmpl"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 0 <= value <= 3):
                raise InputError(f"snp policy {name}: a VMPL is 0-3, got {value!r}")
        if self.require_id_block and not self.id_key_digest:
            raise InputError(
                "snp policy require_id_block needs the trusted ID keys: give an id_key_digest list "
                "(the SHA-384 digests of the ID keys allowed to sign the ID block)"
            )
        if self.require_author_key and not self.author_key_digest:
            raise InputError(
                "snp policy require_author_key needs the trusted author keys: give an author_key_digest "
                "list (the SHA-384 digests of the author keys allowed to sign the ID key)"
            )

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SnpPolicy:
        """The policy from its JSON object (unknown keys and bad values are ``InputError``)."""
        if not isinstance(obj, Mapping):
            raise InputError("the snp policy must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise InputError(
                f"snp policy: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for key, value in obj.items():
            if value is None:
                continue
            where = f"snp policy {key}"
            if key in _SIZES:
                items = value if isinstance(value, list) else [value]
                values[key] = tuple(_hex(item, _SIZES[key], where, pad=True) for item in items)
            elif key in _EXACT_SIZES:
                values[key] = _hex(value, _EXACT_SIZES[key], where, pad=False)
            elif key in (
                "minimum_tcb",
                "minimum_current_tcb",
                "minimum_committed_tcb",
                "minimum_reported_tcb",
                "minimum_launch_tcb",
            ):
                values[key] = _tcb(value, where)
            elif key in _BOOL_KEYS:
                if not isinstance(value, bool):
                    raise InputError(f"{where} must be true or false, got {value!r}")
                values[key] = value
            elif key in (
                "minimum_guest_svn",
                "vmpl",
                "maximum_vmpl",
                "minimum_build",
                "minimum_launch_mit_vector",
                "minimum_current_mit_vector",
                "maximum_crl_age_hours",
            ):
                values[key] = _int(value, where)
            elif key in ("minimum_abi", "minimum_version"):
                values[key] = _version(value, where)
            elif key in ("platform_info_required", "platform_info_forbidden"):
                values[key] = _platform(value, where)
            elif key == "signing_key":
                values[key] = str(value).lower()
            elif key == "products":
                items = value if isinstance(value, list) else [value]
                values[key] = tuple(Product.from_name(str(item)) for item in items)
        return cls(**values)


def _hex(value: Any, size: int, where: str, *, pad: bool) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a hex string, got {value!r}")
    text = value.strip().lower().removeprefix("0x")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{where}: {value!r} is not hex") from None
    if len(data) > size or (not pad and len(data) != size):
        raise InputError(f"{where}: {len(data)} bytes, the field is {size}")
    return data.ljust(size, b"\0")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"{where}: expected an integer, got {value!r}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii():
        try:
            number = int(value, 0)
        except ValueError:
            number = -1
        if number >= 0:
            return number
    raise InputError(f"{where}: expected a non-negative integer, got {value!r}")


def _ascii_digits(text: str) -> bool:
    """``str.isdigit`` also accepts '²' and other non-ASCII digits that ``int()`` refuses or reads;
    and more than 4300 digits ``int()`` refuses too (no version number needs 19)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _version(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, str) and value.count(".") == 1:
        major, minor = value.split(".")
        if _ascii_digits(major) and _ascii_digits(minor):
            return int(major), int(minor)
    if isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        return int(value[0]), int(value[1])
    raise InputError(f"{where}: expected 'MAJOR.MINOR', got {value!r}")


def _tcb(value: Any, where: str) -> TcbMinimum:
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: expected an object of {', '.join(_TCB_NAMES)}")
    unknown = sorted(set(value) - set(_TCB_NAMES))
    if unknown:
        raise InputError(f"{where}: unknown component(s) {', '.join(unknown)}")
    parts = {k: _int(v, f"{where}.{k}") for k, v in value.items()}
    for k, v in parts.items():
        if v > 255:
            raise InputError(f"{where}.{k}: an SPL is one byte, got {v}")
    return TcbMinimum(**parts)


def _platform(value: Any, where: str) -> PlatformInfo:
    items = value if isinstance(value, list) else [value]
    flags = PlatformInfo(0)
    for item in items:
        try:
            flags |= PlatformInfo[str(item).upper()]
        except KeyError:
            names = ", ".join(m.name or "" for m in PlatformInfo)
            raise InputError(f"{where}: unknown platform-info flag {item!r}; known: {names}") from None
    return flags


def _fail(field: str, detail: str, expected: Any, actual: Any) -> PolicyError:
    return PolicyError(f"policy_{field}", f"{field}: {detail}", expected=expected, actual=actual)


#: the policy's on/off keys, as the dataclass declares them (annotations are strings here;
#: ``bool | None``: None means "the default rule")
_BOOL_KEYS = frozenset(f.name for f in fields(SnpPolicy) if f.type in ("bool", "bool | None"))


def validate_snp(verdict: SnpVerdict, policy: SnpPolicy | None = None) -> SnpVerdict:
    """Check a verified report against ``policy`` (default: DEBUG forbidden); returns the verdict."""
    policy = policy or SnpPolicy()
    report = verdict.report
    turin = verdict.product.uses_fmc

    _check_revocation(verdict, policy)

    if policy.products is not None and verdict.product not in policy.products:
        raise _fail(
            "products",
            "the product is not allowed",
            [p.value for p in policy.products],
            verdict.product.value,
        )
    if policy.signing_key != "any" and verdict.key_type is not VekKind(policy.signing_key.upper()):
        raise _fail(
            "signing_key",
            "the report is signed by a key the policy does not allow",
            policy.signing_key.upper(),
            verdict.key_type.value,
        )

    _check_keys(report, policy)
    for name in _SIZES:
        allowed: tuple[bytes, ...] | None = getattr(policy, name)
        if allowed is None:
            continue
        actual: bytes = getattr(report, name)
        if actual not in allowed:
            shown: Any = allowed[0] if len(allowed) == 1 else [a.hex() for a in allowed]
            raise _fail(name, "not an allowed value" if len(allowed) > 1 else "does not match", shown, actual)
    for name in _EXACT_SIZES:
        wanted: bytes | None = getattr(policy, name)
        if wanted is not None and getattr(report, name) != wanted:
            raise _fail(name, "does not match", wanted, getattr(report, name))

    if policy.minimum_guest_svn is not None and report.guest_svn < policy.minimum_guest_svn:
        raise _fail(
            "minimum_guest_svn", "GUEST_SVN is too low", f">= {policy.minimum_guest_svn}", report.guest_svn
        )

    tcbs = {
        "current": verdict.tcb.current,
        "committed": verdict.tcb.committed,
        "reported": verdict.tcb.reported,
        "launch": verdict.tcb.launch,
    }
    checks: list[tuple[str, str, TcbMinimum]] = []
    if policy.minimum_tcb is not None:
        checks += [
            ("minimum_tcb", which, policy.minimum_tcb) for which in ("current", "committed", "reported")
        ]
    for which in ("current", "committed", "reported", "launch"):
        minimum: TcbMinimum | None = getattr(policy, f"minimum_{which}_tcb")
        if minimum is not None:
            checks.append((f"minimum_{which}_tcb", which, minimum))
    for field_name, which, minimum in checks:
        low = minimum.below(tcbs[which])
        if low:
            raise _fail(
                field_name,
                f"{which.upper()}_TCB is below the minimum in {', '.join(low)}",
                minimum.text(turin),
                tcb_text(tcbs[which]),
            )

    gp = report.policy
    if gp.debug and not policy.allow_debug:
        raise _fail(
            "allow_debug",
            "the guest policy allows DEBUG (the guest's memory can be read by the host)",
            False,
            True,
        )
    if policy.allow_migrate_ma is False and gp.migrate_ma:
        raise _fail("allow_migrate_ma", "the guest policy allows a migration agent", False, True)
    if policy.allow_smt is False and gp.smt:
        raise _fail("allow_smt", "the guest policy allows SMT", False, True)
    if policy.require_single_socket and not gp.single_socket:
        raise _fail("require_single_socket", "the guest policy does not require a single socket", True, False)
    if gp.cxl_allow and not policy.allow_cxl:
        raise _fail("allow_cxl", "the guest policy allows CXL (CXL_ALLOW, bit 21)", False, True)
    for field_name, bit_name, bit, what in _REQUIRED_POLICY_BITS:
        if getattr(policy, field_name) and not getattr(gp, bit_name):
            raise _fail(
                field_name,
                f"the guest policy does not {what} ({bit_name.upper()}, bit {bit}, is clear; "
                f"POLICY 0x{gp.raw:x})",
                True,
                False,
            )
    if policy.minimum_abi is not None and (gp.abi_major, gp.abi_minor) < policy.minimum_abi:
        raise _fail(
            "minimum_abi",
            "the guest policy's ABI version is too old",
            f">= {policy.minimum_abi[0]}.{policy.minimum_abi[1]}",
            f"{gp.abi_major}.{gp.abi_minor}",
        )

    if policy.vmpl is not None and report.vmpl != policy.vmpl:
        raise _fail("vmpl", "the report comes from another VMPL", policy.vmpl, report.vmpl)
    if policy.maximum_vmpl is not None and report.vmpl > policy.maximum_vmpl:
        raise _fail(
            "maximum_vmpl",
            "the report comes from a less privileged VMPL",
            f"<= {policy.maximum_vmpl}",
            report.vmpl,
        )

    info = report.platform_info
    if policy.platform_info_required is not None:
        missing = policy.platform_info_required & ~info
        if missing:
            raise _fail(
                "platform_info_required",
                f"PLATFORM_INFO lacks {_flags(missing)}",
                _flags(policy.platform_info_required),
                _flags(info),
            )
    if policy.platform_info_forbidden is not None:
        present = policy.platform_info_forbidden & info
        if present:
            raise _fail(
                "platform_info_forbidden",
                f"PLATFORM_INFO has {_flags(present)} set",
                f"none of {_flags(policy.platform_info_forbidden)}",
                _flags(info),
            )

    if policy.minimum_build is not None and report.current_build < policy.minimum_build:
        raise _fail(
            "minimum_build",
            "the firmware build is too old",
            f">= {policy.minimum_build}",
            report.current_build,
        )
    if (
        policy.minimum_version is not None
        and (report.current_major, report.current_minor) < policy.minimum_version
    ):
        raise _fail(
            "minimum_version",
            "the firmware version is too old",
            f">= {policy.minimum_version[0]}.{policy.minimum_version[1]}",
            f"{report.current_major}.{report.current_minor}",
        )
    if policy.permit_provisional_firmware is not None:
        _check_provisional(verdict, policy.permit_provisional_firmware)

    for which, minimum_vector in (
        ("launch", policy.minimum_launch_mit_vector),
        ("current", policy.minimum_current_mit_vector),
    ):
        if minimum_vector is None:
            continue
        vector: int | None = getattr(report, f"{which}_mit_vector")
        if vector is None:
            raise _fail(
                f"minimum_{which}_mit_vector",
                f"a version {report.version} report has no mitigation vectors (v5 has)",
                f"0x{minimum_vector:x}",
                None,
            )
        if minimum_vector & ~vector:
            raise _fail(
                f"minimum_{which}_mit_vector",
                f"{which.upper()}_MIT_VECTOR lacks bits 0x{minimum_vector & ~vector:x}",
                f"all of 0x{minimum_vector:x}",
                f"0x{vector:x}",
            )

    return verdict


def _check_revocation(verdict: SnpVerdict, policy: SnpPolicy) -> None:
    """A KDS CRL was checked (unless the policy allows it unchecked), and is fresh enough."""
    crl = verdict.crl
    if (not verdict.crl_checked or crl is None) and not policy.allow_unchecked_revocation:
        raise PolicyError(
            "revocation_not_checked",
            "revocation: the report was verified without a KDS CRL, so the ASK/ASVK may be revoked; "
            "the policy requires revocation checks (give the CRL, or set allow_unchecked_revocation "
            "to accept)",
            expected="CRL checked",
            actual="no CRL",
        )
    limit = policy.maximum_crl_age_hours
    if limit is None:
        return
    if crl is None:
        raise _fail(
            "maximum_crl_age_hours", "no KDS CRL was checked, so none is fresh", f"<= {limit} h", "none"
        )
    age = verdict.at - crl.this_update
    if age > timedelta(hours=limit):
        raise _fail(
            "maximum_crl_age_hours",
            f"the KDS CRL (from {verdict.crl_source or 'the caller'}) was issued "
            f"{iso8601(crl.this_update)}, {age.total_seconds() / 3600:.1f} hours before the "
            "verification time; the policy wants a fresher one",
            f"thisUpdate >= {iso8601(verdict.at - timedelta(hours=limit))}",
            iso8601(crl.this_update),
        )


#: (policy field, GuestPolicy attribute, bit, what the bit means) for the bits a policy may require
_REQUIRED_POLICY_BITS = (
    ("require_mem_aes_256_xts", "mem_aes_256_xts", 22, "require AES-256-XTS memory encryption"),
    ("require_rapl_disabled", "rapl_dis", 23, "require RAPL to be disabled"),
    ("require_ciphertext_hiding", "ciphertext_hiding_dram", 24, "require ciphertext hiding for DRAM"),
    ("require_page_swap_disabled", "page_swap_disable", 25, "disable page swapping"),
)


def _check_keys(report: SnpReport, policy: SnpPolicy) -> None:
    """go-sev-guest ``validateKeys``: a required author key / ID block must be a trusted one."""
    if policy.require_author_key:
        _require_trusted(
            "require_author_key",
            report.key_info.author_key_en,
            "the report has no author key (KEY_INFO.AUTHOR_KEY_EN clear)",
            report.author_key_digest,
            policy.author_key_digest,
            "AUTHOR_KEY_DIGEST is not one of the trusted author keys (author_key_digest)",
        )
    if policy.require_id_block:
        _require_trusted(
            "require_id_block",
            any(report.id_key_digest),
            "the guest was launched without an ID block (ID_KEY_DIGEST zero)",
            report.id_key_digest,
            policy.id_key_digest,
            "ID_KEY_DIGEST is not one of the trusted ID keys (id_key_digest)",
        )


def _require_trusted(
    key: str, present: bool, absent: str, digest: bytes, trusted: tuple[bytes, ...] | None, untrusted: str
) -> None:
    if not present:
        raise _fail(key, absent, True, False)
    allowed = trusted or ()
    if digest not in allowed:
        raise _fail(key, untrusted, allowed[0] if len(allowed) == 1 else [d.hex() for d in allowed], digest)


def _check_provisional(verdict: SnpVerdict, permit: bool) -> None:
    report = verdict.report
    committed, current = verdict.tcb.committed, verdict.tcb.current
    if not permit:
        if committed != current:
            raise _fail(
                "permit_provisional_firmware",
                "provisional firmware is not permitted: COMMITTED_TCB differs from CURRENT_TCB",
                tcb_text(current),
                tcb_text(committed),
            )
        if report.committed_version != report.current_version:
            raise _fail(
                "permit_provisional_firmware",
                "provisional firmware is not permitted: the committed firmware version differs "
                "from the current one",
                _version_text(report.current_version),
                _version_text(report.committed_version),
            )
        return
    if not current.meets(committed) or report.committed_version > report.current_version:
        raise _fail(
            "permit_provisional_firmware",
            "the committed firmware is newer than the current one",
            f"<= {tcb_text(current)} / {_version_text(report.current_version)}",
            f"{tcb_text(committed)} / {_version_text(report.committed_version)}",
        )


def _version_text(version: tuple[int, int, int]) -> str:
    return f"{version[0]}.{version[1]}.{version[2]}"


def _flags(value: PlatformInfo) -> str:
    names = [m.name for m in PlatformInfo if m.name and value & m]
    rest = int(value) & ~sum(int(m) for m in PlatformInfo)
    if rest:
        names.append(f"0x{rest:x}")
    return "|".join(names) or "none"
