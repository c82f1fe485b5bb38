"""SEV-SNP policy: what a relying party accepts from a *verified* report (``validate_snp``).

Modelled on go-sev-guest's ``validate.Options``. Every field is optional; ``None`` means
"not checked" (as in ``TdxPolicy``); every value is checked when the policy is built (an
``InputError`` listing every problem; an empty allow-list is refused). The default policy
(``SnpPolicy()``) refuses a verdict whose revocation was not checked (no KDS CRL:
``revocation_not_checked``, the code and opt-out TDX's policy has: ``allow_unchecked_revocation``),
and forbids a DEBUG guest and a guest whose POLICY allows CXL (CXL_ALLOW, bit 21); it checks
nothing else. Failures raise ``PolicyError`` naming the field with the expected and actual
values (codes below).

``maximum_crl_age_hours`` bounds how old the checked CRL may be (its thisUpdate at most that
many hours before the verification time): a CRL from the host-controlled certificate table
may be any ARK-signed, unexpired one, an old one too (the verdict's ``crl_source`` says where
it came from). With it, a verdict without a CRL is refused as well.

JSON form (the ``"snp"`` object of a policy file; ``SnpPolicy.from_json``, by the rules of
``verifier/policy.py`` and ``verifier/schemas/policy.schema.json``: unknown keys, ``null`` and
empty lists refused)::

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

``validate_snp`` runs every check and raises one ``PolicyError`` whose ``violations`` lists each
failure (its own code is the first's). Codes, named as TDX's (the evidence field, then what is
wrong with it): ``<field>_mismatch`` (measurement, host_data, report_data, family_id, image_id,
id_key_digest, author_key_digest, report_id, report_id_ma, chip_id, vmpl, launch_mit_vector,
current_mit_vector), ``product_not_accepted``, ``signing_key_not_accepted``,
``guest_svn_too_low``, ``current_tcb_too_low``, ``committed_tcb_too_low``,
``reported_tcb_too_low``, ``launch_tcb_too_low``, ``abi_too_low``, ``build_too_low``,
``version_too_low``, ``vmpl_too_high``, ``debug_guest``, ``migrate_ma_not_allowed``,
``smt_not_allowed``, ``cxl_not_allowed``, ``single_socket_required``,
``mem_aes_256_xts_required``, ``rapl_disabled_required``, ``ciphertext_hiding_required``,
``page_swap_disabled_required``, ``platform_info_missing``, ``platform_info_not_allowed``,
``provisional_firmware_not_permitted``, ``committed_above_current``, ``id_block_required``,
``id_key_not_trusted``, ``author_key_required``, ``author_key_not_trusted``,
``revocation_not_checked`` (as TDX's policy names it), ``crl_too_old``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from ccverify.verifier.errors import Code, InputError, PolicyError
from ccverify.verifier.evidence.snp_report import PlatformInfo, Product, SnpReport, TcbParts
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.policy import (
    Problems,
    allowed_values,
    count,
    exact_bytes,
    flag,
    json_bool,
    json_hex,
    json_hex_list,
    json_strings,
    start,
)
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
#: the code of each field the report's value fails
_MISMATCH = {
    "measurement": Code.MEASUREMENT_MISMATCH,
    "host_data": Code.HOST_DATA_MISMATCH,
    "report_data": Code.REPORT_DATA_MISMATCH,
    "family_id": Code.FAMILY_ID_MISMATCH,
    "image_id": Code.IMAGE_ID_MISMATCH,
    "id_key_digest": Code.ID_KEY_DIGEST_MISMATCH,
    "author_key_digest": Code.AUTHOR_KEY_DIGEST_MISMATCH,
    "report_id": Code.REPORT_ID_MISMATCH,
    "report_id_ma": Code.REPORT_ID_MA_MISMATCH,
    "chip_id": Code.CHIP_ID_MISMATCH,
}
_TCB_TOO_LOW = {
    "current": Code.CURRENT_TCB_TOO_LOW,
    "committed": Code.COMMITTED_TCB_TOO_LOW,
    "reported": Code.REPORTED_TCB_TOO_LOW,
    "launch": Code.LAUNCH_TCB_TOO_LOW,
}
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
        problems = Problems("snp policy")

        def store(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name, size in _SIZES.items():
            store(name, allowed_values(problems, name, getattr(self, name), size, pad=True))
        for name, size in _EXACT_SIZES.items():
            store(name, exact_bytes(problems, name, getattr(self, name), size))
        for name in _TCB_KEYS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, TcbMinimum):
                if isinstance(value, Mapping):
                    store(name, _tcb(problems, name, value))
                else:
                    problems.add(name, f"expected a TcbMinimum, got {type(value).__name__}")
        for name in _BOOL_KEYS:
            flag(problems, name, getattr(self, name), optional=name in _OPTIONAL_BOOL_KEYS)
        for name in _COUNT_KEYS:
            count(problems, name, getattr(self, name), maximum=_MAXIMA.get(name))
        for name in ("minimum_abi", "minimum_version"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, tuple) and len(value) == 2 and all(type(v) is int and v >= 0 for v in value)
            ):
                problems.add(name, f"expected (MAJOR, MINOR), got {value!r}")
        for name in ("platform_info_required", "platform_info_forbidden"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, PlatformInfo):
                problems.add(name, f"expected PlatformInfo flags, got {value!r}")
        if isinstance(self.signing_key, str):
            store("signing_key", self.signing_key.lower())
        if self.signing_key not in ("any", "vcek", "vlek"):
            problems.add("signing_key", f"expected 'vcek', 'vlek' or 'any', got {self.signing_key!r}")
        store("products", _products(problems, self.products))
        if self.require_id_block is True and not self.id_key_digest:
            problems.add(
                "require_id_block",
                "needs the trusted ID keys: give an id_key_digest list "
                "(the SHA-384 digests of the ID keys allowed to sign the ID block)",
            )
        if self.require_author_key is True and not self.author_key_digest:
            problems.add(
                "require_author_key",
                "needs the trusted author keys: give an author_key_digest list "
                "(the SHA-384 digests of the author keys allowed to sign the ID key)",
            )
        problems.raise_any()

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> SnpPolicy:
        """The policy from a policy file's ``"snp"`` object (the rules of ``verifier/policy.py``:
        unknown keys, ``null`` and empty lists refused; every problem reported at once)."""
        problems, todo = start(obj, "snp policy", (f.name for f in fields(cls)))
        values: dict[str, Any] = {}
        for key, value in todo.items():
            if key in _SIZES:
                values[key] = json_hex_list(problems, key, value, _SIZES[key], pad=True)
            elif key in _EXACT_SIZES:
                values[key] = json_hex(problems, key, value, _EXACT_SIZES[key])
            elif key in _TCB_KEYS:
                values[key] = _tcb(problems, key, value)
            elif key in _BOOL_KEYS:
                values[key] = json_bool(problems, key, value)
            elif key in _COUNT_KEYS:
                values[key] = _int(problems, key, value, _MAXIMA.get(key))
            elif key in ("minimum_abi", "minimum_version"):
                values[key] = _version(problems, key, value)
            elif key in ("platform_info_required", "platform_info_forbidden"):
                values[key] = _platform(problems, key, value)
            elif key == "signing_key":
                if value in ("vcek", "vlek", "any", "VCEK", "VLEK", "ANY"):
                    values[key] = value.lower()
                else:
                    problems.add(key, f"expected 'vcek', 'vlek' or 'any', got {value!r}")
            elif key == "products":
                names = json_strings(problems, key, value)
                for name in names:
                    if not _PRODUCT.fullmatch(name):
                        problems.add(key, f"unknown SEV-SNP product {name!r}: expected Milan, Genoa or Turin "
                                     "(optionally with a stepping such as Milan-B0)")
                if names and not problems:
                    values[key] = _products(problems, names)
        problems.raise_any()
        return cls(**values)


_TCB_KEYS = (
    "minimum_tcb",
    "minimum_current_tcb",
    "minimum_committed_tcb",
    "minimum_reported_tcb",
    "minimum_launch_tcb",
)
#: VMPLs are 0-3
_MAXIMA = {"vmpl": 3, "maximum_vmpl": 3}
_COUNT_KEYS = (
    "maximum_crl_age_hours",
    "minimum_guest_svn",
    "vmpl",
    "maximum_vmpl",
    "minimum_build",
    "minimum_launch_mit_vector",
    "minimum_current_mit_vector",
)


def _products(problems: Problems, value: Any) -> tuple[Product, ...] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, (str, Product)) else value
    if not isinstance(items, (tuple, list, set, frozenset)):
        problems.add("products", f"expected products, got {type(value).__name__}")
        return None
    if not items:
        problems.add("products", "an empty list accepts no product; leave the key out to not check it")
    out: list[Product] = []
    for item in items:
        try:
            out.append(item if isinstance(item, Product) else Product.from_name(str(item)))
        except InputError as error:
            problems.add("products", str(error))
    return tuple(out)


def _int(problems: Problems, key: str, value: Any, maximum: int | None) -> int | None:
    """A non-negative integer: a JSON number, or a ``"0x.."`` / decimal string."""
    number = -1
    if type(value) is int:
        number = value
    elif isinstance(value, str) and _NUMBER.fullmatch(value):
        number = int(value, 0)
    if number >= 0 and (maximum is None or number <= maximum):
        return number
    bound = f"0-{maximum}" if maximum is not None else "a non-negative integer"
    problems.add(key, f"expected {bound}, got {value!r}")
    return None


#: a number as a string: decimal or 0x-hex (the schema's "count")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]{1,18}|0|[1-9][0-9]{0,19}")
_PRODUCT = re.compile(
    r"(?:milan|Milan|MILAN|genoa|Genoa|GENOA|bergamo|Bergamo|BERGAMO|siena|Siena|SIENA|turin|Turin|TURIN)"
    r"(?:-[A-Za-z0-9]+)?"
)


def _ascii_digits(text: str) -> bool:
    """``str.isdigit`` also accepts '²' and other non-ASCII digits that ``int()`` refuses or reads;
    and more than 4300 digits ``int()`` refuses too (no version number needs 19)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _version(problems: Problems, key: str, value: Any) -> tuple[int, int] | None:
    if isinstance(value, str) and value.count(".") == 1:
        major, minor = value.split(".")
        if _ascii_digits(major) and _ascii_digits(minor):
            return int(major), int(minor)
    if isinstance(value, list) and len(value) == 2 and all(type(v) is int and v >= 0 for v in value):
        return int(value[0]), int(value[1])
    problems.add(key, f"expected 'MAJOR.MINOR', got {value!r}")
    return None


def _tcb(problems: Problems, key: str, value: Any) -> TcbMinimum | None:
    if not isinstance(value, Mapping):
        problems.add(key, f"expected an object of {', '.join(_TCB_NAMES)}")
        return None
    unknown = sorted(str(k) for k in value if k not in _TCB_NAMES)
    if unknown:
        problems.add(key, f"unknown component(s) {', '.join(unknown)}")
        return None
    if not value:
        problems.add(key, f"an empty minimum checks nothing; give some of {', '.join(_TCB_NAMES)}")
        return None
    parts: dict[str, int] = {}
    for name, item in value.items():
        number = _int(problems, f"{key}.{name}", item, 255)
        if number is not None:
            parts[name] = number
    return TcbMinimum(**parts) if len(parts) == len(value) else None


def _platform(problems: Problems, key: str, value: Any) -> PlatformInfo | None:
    items = json_strings(problems, key, value)
    flags = PlatformInfo(0)
    for item in items:
        name = item.upper() if item.islower() else item  # SMT_EN or smt_en
        try:
            flags |= PlatformInfo[name]
        except KeyError:
            names = ", ".join(m.name or "" for m in PlatformInfo)
            problems.add(key, f"unknown platform-info flag {item!r}; known: {names} (or in lower case)")
    return flags if items else None


def _fail(code: Code, field: str, detail: str, expected: Any, actual: Any) -> PolicyError:
    """A violation ``code`` of the policy key ``field``."""
    return PolicyError(code, f"{field}: {detail}", expected=expected, actual=actual)


#: the policy's on/off keys, as the dataclass declares them (annotations are strings here;
#: ``bool | None``: None means "the default rule")
_BOOL_KEYS = frozenset(f.name for f in fields(SnpPolicy) if f.type in ("bool", "bool | None"))
_OPTIONAL_BOOL_KEYS = frozenset(f.name for f in fields(SnpPolicy) if f.type == "bool | None")


def validate_snp(verdict: SnpVerdict, policy: SnpPolicy | None = None) -> SnpVerdict:
    """Check a verified report against ``policy`` (default: ``SnpPolicy()``); returns the verdict.

    Every check runs: the ``PolicyError`` raised lists each failed one in ``violations``; its
    own code is the first's.
    """
    policy = policy or _DEFAULT
    report = verdict.report
    turin = verdict.product.uses_fmc
    out: list[PolicyError] = []
    fail = out.append

    out.extend(_check_revocation(verdict, policy))

    if policy.products is not None and verdict.product not in policy.products:
        fail(
            _fail(
                Code.PRODUCT_NOT_ACCEPTED,
                "products",
                "the product is not allowed",
                [p.value for p in policy.products],
                verdict.product.value,
            )
        )
    if policy.signing_key != "any" and verdict.key_type is not VekKind(policy.signing_key.upper()):
        fail(
            _fail(
                Code.SIGNING_KEY_NOT_ACCEPTED,
                "signing_key",
                "the report is signed by a key the policy does not allow",
                policy.signing_key.upper(),
                verdict.key_type.value,
            )
        )

    out.extend(_check_keys(report, policy))
    for name in _SIZES:
        allowed: tuple[bytes, ...] | None = getattr(policy, name)
        if allowed is None or (name == "id_key_digest" and policy.require_id_block):
            continue  # (the required ID block's / author key's digest is checked by _check_keys)
        if name == "author_key_digest" and policy.require_author_key:
            continue
        actual: bytes = getattr(report, name)
        if actual not in allowed:
            shown: Any = allowed[0] if len(allowed) == 1 else [a.hex() for a in allowed]
            detail = "not an allowed value" if len(allowed) > 1 else "does not match"
            fail(_fail(_MISMATCH[name], name, detail, shown, actual))
    for name in _EXACT_SIZES:
        wanted: bytes | None = getattr(policy, name)
        if wanted is not None and getattr(report, name) != wanted:
            fail(_fail(_MISMATCH[name], name, "does not match", wanted, getattr(report, name)))

    if policy.minimum_guest_svn is not None and report.guest_svn < policy.minimum_guest_svn:
        fail(
            _fail(
                Code.GUEST_SVN_TOO_LOW,
                "minimum_guest_svn",
                "GUEST_SVN is too low",
                f">= {policy.minimum_guest_svn}",
                report.guest_svn,
            )
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
            fail(
                _fail(
                    _TCB_TOO_LOW[which],
                    field_name,
                    f"{which.upper()}_TCB is below the minimum in {', '.join(low)}",
                    minimum.text(turin),
                    tcb_text(tcbs[which]),
                )
            )

    gp = report.policy
    if gp.debug and not policy.allow_debug:
        fail(
            _fail(
                Code.DEBUG_GUEST,
                "allow_debug",
                "the guest policy allows DEBUG (the guest's memory can be read by the host)",
                False,
                True,
            )
        )
    if policy.allow_migrate_ma is False and gp.migrate_ma:
        fail(
            _fail(
                Code.MIGRATE_MA_NOT_ALLOWED,
                "allow_migrate_ma",
                "the guest policy allows a migration agent",
                False,
                True,
            )
        )
    if policy.allow_smt is False and gp.smt:
        fail(_fail(Code.SMT_NOT_ALLOWED, "allow_smt", "the guest policy allows SMT", False, True))
    if policy.require_single_socket and not gp.single_socket:
        fail(
            _fail(
                Code.SINGLE_SOCKET_REQUIRED,
                "require_single_socket",
                "the guest policy does not require a single socket",
                True,
                False,
            )
        )
    if gp.cxl_allow and not policy.allow_cxl:
        detail = "the guest policy allows CXL (CXL_ALLOW, bit 21)"
        fail(_fail(Code.CXL_NOT_ALLOWED, "allow_cxl", detail, False, True))
    for field_name, bit_name, bit, what, code in _REQUIRED_POLICY_BITS:
        if getattr(policy, field_name) and not getattr(gp, bit_name):
            fail(
                _fail(
                    code,
                    field_name,
                    f"the guest policy does not {what} ({bit_name.upper()}, bit {bit}, is clear; "
                    f"POLICY 0x{gp.raw:x})",
                    True,
                    False,
                )
            )
    if policy.minimum_abi is not None and (gp.abi_major, gp.abi_minor) < policy.minimum_abi:
        fail(
            _fail(
                Code.ABI_TOO_LOW,
                "minimum_abi",
                "the guest policy's ABI version is too old",
                f">= {policy.minimum_abi[0]}.{policy.minimum_abi[1]}",
                f"{gp.abi_major}.{gp.abi_minor}",
            )
        )

    if policy.vmpl is not None and report.vmpl != policy.vmpl:
        detail = "the report comes from another VMPL"
        fail(_fail(Code.VMPL_MISMATCH, "vmpl", detail, policy.vmpl, report.vmpl))
    if policy.maximum_vmpl is not None and report.vmpl > policy.maximum_vmpl:
        fail(
            _fail(
                Code.VMPL_TOO_HIGH,
                "maximum_vmpl",
                "the report comes from a less privileged VMPL",
                f"<= {policy.maximum_vmpl}",
                report.vmpl,
            )
        )

    info = report.platform_info
    if policy.platform_info_required is not None:
        missing = policy.platform_info_required & ~info
        if missing:
            fail(
                _fail(
                    Code.PLATFORM_INFO_MISSING,
                    "platform_info_required",
                    f"PLATFORM_INFO lacks {_flags(missing)}",
                    _flags(policy.platform_info_required),
                    _flags(info),
                )
            )
    if policy.platform_info_forbidden is not None:
        present = policy.platform_info_forbidden & info
        if present:
            fail(
                _fail(
                    Code.PLATFORM_INFO_NOT_ALLOWED,
                    "platform_info_forbidden",
                    f"PLATFORM_INFO has {_flags(present)} set",
                    f"none of {_flags(policy.platform_info_forbidden)}",
                    _flags(info),
                )
            )

    if policy.minimum_build is not None and report.current_build < policy.minimum_build:
        fail(
            _fail(
                Code.BUILD_TOO_LOW,
                "minimum_build",
                "the firmware build is too old",
                f">= {policy.minimum_build}",
                report.current_build,
            )
        )
    if (
        policy.minimum_version is not None
        and (report.current_major, report.current_minor) < policy.minimum_version
    ):
        fail(
            _fail(
                Code.VERSION_TOO_LOW,
                "minimum_version",
                "the firmware version is too old",
                f">= {policy.minimum_version[0]}.{policy.minimum_version[1]}",
                f"{report.current_major}.{report.current_minor}",
            )
        )
    if policy.permit_provisional_firmware is not None:
        out.extend(_check_provisional(verdict, policy.permit_provisional_firmware))

    for which, minimum_vector, vector_code in (
        ("launch", policy.minimum_launch_mit_vector, Code.LAUNCH_MIT_VECTOR_MISMATCH),
        ("current", policy.minimum_current_mit_vector, Code.CURRENT_MIT_VECTOR_MISMATCH),
    ):
        if minimum_vector is None:
            continue
        vector: int | None = getattr(report, f"{which}_mit_vector")
        if vector is None:
            fail(
                _fail(
                    vector_code,
                    f"minimum_{which}_mit_vector",
                    f"a version {report.version} report has no mitigation vectors (v5 has)",
                    f"0x{minimum_vector:x}",
                    None,
                )
            )
        elif minimum_vector & ~vector:
            fail(
                _fail(
                    vector_code,
                    f"minimum_{which}_mit_vector",
                    f"{which.upper()}_MIT_VECTOR lacks bits 0x{minimum_vector & ~vector:x}",
                    f"all of 0x{minimum_vector:x}",
                    f"0x{vector:x}",
                )
            )

    if out:
        raise PolicyError.of(out)
    return verdict


def _check_revocation(verdict: SnpVerdict, policy: SnpPolicy) -> list[PolicyError]:
    """A KDS CRL was checked (unless the policy allows it unchecked), and is fresh enough."""
    out: list[PolicyError] = []
    crl = verdict.crl
    if (not verdict.crl_checked or crl is None) and not policy.allow_unchecked_revocation:
        out.append(
            PolicyError(
                Code.REVOCATION_NOT_CHECKED,
                "revocation: the report was verified without a KDS CRL, so the ASK/ASVK may be revoked; "
                "the policy requires revocation checks (give the CRL, or set allow_unchecked_revocation "
                "to accept)",
                expected="CRL checked",
                actual="no CRL",
            )
        )
    limit = policy.maximum_crl_age_hours
    if limit is None:
        return out
    if crl is None:
        detail = "no KDS CRL was checked, so none is fresh"
        out.append(_fail(Code.CRL_TOO_OLD, "maximum_crl_age_hours", detail, f"<= {limit} h", "none"))
        return out
    age = verdict.at - crl.this_update
    if age > timedelta(hours=limit):
        out.append(
            _fail(
                Code.CRL_TOO_OLD,
                "maximum_crl_age_hours",
                f"the KDS CRL (from {verdict.crl_source or 'the caller'}) was issued "
                f"{iso8601(crl.this_update)}, {age.total_seconds() / 3600:.1f} hours before the "
                "verification time; the policy wants a fresher one",
                f"thisUpdate >= {iso8601(verdict.at - timedelta(hours=limit))}",
                iso8601(crl.this_update),
            )
        )
    return out


#: (policy field, GuestPolicy attribute, bit, what the bit means, code) for the bits a policy may require
_REQUIRED_POLICY_BITS = (
    ("require_mem_aes_256_xts", "mem_aes_256_xts", 22, "require AES-256-XTS memory encryption",
     Code.MEM_AES_256_XTS_REQUIRED),
    ("require_rapl_disabled", "rapl_dis", 23, "require RAPL to be disabled", Code.RAPL_DISABLED_REQUIRED),
    ("require_ciphertext_hiding", "ciphertext_hiding_dram", 24, "require ciphertext hiding for DRAM",
     Code.CIPHERTEXT_HIDING_REQUIRED),
    ("require_page_swap_disabled", "page_swap_disable", 25, "disable page swapping",
     Code.PAGE_SWAP_DISABLED_REQUIRED),
)  # fmt: skip


def _check_keys(report: SnpReport, policy: SnpPolicy) -> list[PolicyError]:
    """go-sev-guest ``validateKeys``: a required author key / ID block must be a trusted one."""
    out: list[PolicyError] = []
    if policy.require_author_key:
        out.extend(
            _require_trusted(
                ("require_author_key", Code.AUTHOR_KEY_REQUIRED, Code.AUTHOR_KEY_NOT_TRUSTED),
                report.key_info.author_key_en,
                "the report has no author key (KEY_INFO.AUTHOR_KEY_EN clear)",
                report.author_key_digest,
                policy.author_key_digest,
                "AUTHOR_KEY_DIGEST is not one of the trusted author keys (author_key_digest)",
            )
        )
    if policy.require_id_block:
        out.extend(
            _require_trusted(
                ("require_id_block", Code.ID_BLOCK_REQUIRED, Code.ID_KEY_NOT_TRUSTED),
                any(report.id_key_digest),
                "the guest was launched without an ID block (ID_KEY_DIGEST zero)",
                report.id_key_digest,
                policy.id_key_digest,
                "ID_KEY_DIGEST is not one of the trusted ID keys (id_key_digest)",
            )
        )
    return out


def _require_trusted(
    names: tuple[str, Code, Code],
    present: bool,
    absent: str,
    digest: bytes,
    trusted: tuple[bytes, ...] | None,
    untrusted: str,
) -> list[PolicyError]:
    key, absent_code, untrusted_code = names
    if not present:
        return [_fail(absent_code, key, absent, True, False)]
    allowed = trusted or ()
    if digest not in allowed:
        shown = allowed[0] if len(allowed) == 1 else [d.hex() for d in allowed]
        return [_fail(untrusted_code, key, untrusted, shown, digest)]
    return []


def _check_provisional(verdict: SnpVerdict, permit: bool) -> list[PolicyError]:
    report = verdict.report
    committed, current = verdict.tcb.committed, verdict.tcb.current
    key = "permit_provisional_firmware"
    out: list[PolicyError] = []
    if not permit:
        if committed != current:
            out.append(
                _fail(
                    Code.PROVISIONAL_FIRMWARE_NOT_PERMITTED,
                    key,
                    "provisional firmware is not permitted: COMMITTED_TCB differs from CURRENT_TCB",
                    tcb_text(current),
                    tcb_text(committed),
                )
            )
        if report.committed_version != report.current_version:
            out.append(
                _fail(
                    Code.PROVISIONAL_FIRMWARE_NOT_PERMITTED,
                    key,
                    "provisional firmware is not permitted: the committed firmware version differs "
                    "from the current one",
                    _version_text(report.current_version),
                    _version_text(report.committed_version),
                )
            )
        return out
    if not current.meets(committed) or report.committed_version > report.current_version:
        out.append(
            _fail(
                Code.COMMITTED_ABOVE_CURRENT,
                key,
                "the committed firmware is newer than the current one",
                f"<= {tcb_text(current)} / {_version_text(report.current_version)}",
                f"{tcb_text(committed)} / {_version_text(report.committed_version)}",
            )
        )
    return out


def _version_text(version: tuple[int, int, int]) -> str:
    return f"{version[0]}.{version[1]}.{version[2]}"


def _flags(value: PlatformInfo) -> str:
    names = [m.name for m in PlatformInfo if m.name and value & m]
    rest = int(value) & ~sum(int(m) for m in PlatformInfo)
    if rest:
        names.append(f"0x{rest:x}")
    return "|".join(names) or "none"


#: ``SnpPolicy()``, built once
_DEFAULT = SnpPolicy()
