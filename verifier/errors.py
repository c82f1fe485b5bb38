"""One exception hierarchy for everything ccverify raises on purpose, and its error codes.

Every message is meant to be read by the person who has to act on it: it names the
structure, field and byte offset for bad input, the stable reason code and the expected
and actual values for a failed check, and what was missing for unavailable collateral.
The CLI maps the classes onto its exit codes (see ``exit_code``).

```
CCVerifyError
├── InputError                 bad input: wrong type, unreadable file, bad value     (CLI exit 2)
│   ├── InputTooLargeError     longer than its kind's limit (verifier/limits.py)
│   └── ParseError             bytes that are not the structure they claim to be
├── VerificationError          a check failed; ``code`` is a ``Code``                (CLI exit 1)
│   ├── ExpiredError           past its validity: a certificate, collateral, CRL, reference
│   │                          values, a result (refetch or renew)
│   ├── RevokedError           a certificate is on a CRL
│   ├── RollbackError          reference values older than ones already accepted
│   ├── SignatureError         a signature does not verify (evidence, chain, collateral, CRL,
│   │                          reference values)
│   ├── UntrustedRootError     a chain or signature ends in a root / key that is not trusted
│   ├── EnforcementError       a verified decision could not be applied (the device gate)
│   └── PolicyError            verified, but the policy refuses it (``violations``)
└── CollateralError            collateral unavailable (alias CollateralUnavailableError) (exit 3)
```

``VerificationError(code, ...)`` returns the subclass of its code's family (``FAMILIES``), so
``except RevokedError`` catches every revocation wherever it was raised, and ``except
VerificationError`` still catches them all. Branch on the class for the family, on ``code``
(a ``Code``; compare with its members, ``error.code == Code.REVOKED``) for the exact check.
Every code the library raises, in a ``VerificationError``, a ``PolicyError`` or a result's
reasons, is a member of ``Code`` (a test holds the source to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from ccverify.verifier.snp.verify import SnpVerdict
    from ccverify.verifier.tdx.verify import TdxVerdict

    _C = TypeVar("_C")
    _CodeBase = StrEnum

    def _simple_enum(etype: type[StrEnum]) -> Callable[[_C], _C]: ...
else:
    # ``Code`` is written as a plain class and made the StrEnum by ``enum._simple_enum``, the
    # standard library's own way to build its large enums at import (re, socket, http): the same
    # members and behaviour (a test compares it with the class the metaclass makes), in 0.7
    # instead of 1.7 ms, which the guest's hook pays at every boot. Without it, the metaclass.
    try:
        from enum import _simple_enum

        _CodeBase = object
    except ImportError:
        _CodeBase = StrEnum

        def _simple_enum(etype):
            return lambda cls: cls


@_simple_enum(StrEnum)
class Code(_CodeBase):
    """Every error and reason code ccverify gives (a ``str``: ``Code.REVOKED == "revoked"``).

    The meaning of each is tabled where it is raised (``verifier/tdx/verify.py``,
    ``verifier/snp/verify.py``, ``verifier/snp/certs.py``, the validators'
    ``verifier/tdx/validate.py`` / ``verifier/snp/validate.py``, ``verifier/refvalues/cose.py``,
    ``verifier/appraisal.py``, ``verifier/result.py``). Policy codes have one pattern on both
    platforms: the evidence field, then what is wrong with it (``mrtd_mismatch``,
    ``measurement_mismatch``, ``tee_tcb_svn_too_low``, ``guest_svn_too_low``).
    """

    # -- TDX quote verification (``verify_tdx``; ``verifier/tdx/verify.py``)
    UNSUPPORTED_QUOTE = "unsupported_quote"
    UNSUPPORTED_QE_VENDOR = "unsupported_qe_vendor"
    PCK_CHAIN_INVALID = "pck_chain_invalid"
    PCK_CHAIN_SIGNATURE_INVALID = "pck_chain_signature_invalid"
    UNTRUSTED_ROOT = "untrusted_root"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    PCK_EXTENSION_INVALID = "pck_extension_invalid"
    BASIC_CONSTRAINTS = "basic_constraints"
    KEY_USAGE = "key_usage"
    UNKNOWN_CRITICAL_EXTENSION = "unknown_critical_extension"
    REVOKED = "revoked"
    CRL_INVALID = "crl_invalid"
    CRL_UNUSABLE = "crl_unusable"
    CRL_ISSUER_MISMATCH = "crl_issuer_mismatch"
    CRL_SIGNATURE_INVALID = "crl_signature_invalid"
    COLLATERAL_SIGNER_INVALID = "collateral_signer_invalid"
    TCB_INFO_SIGNATURE_INVALID = "tcb_info_signature_invalid"
    QE_IDENTITY_SIGNATURE_INVALID = "qe_identity_signature_invalid"
    TCB_INFO_INVALID = "tcb_info_invalid"
    QE_IDENTITY_INVALID = "qe_identity_invalid"
    COLLATERAL_EXPIRED = "collateral_expired"
    COLLATERAL_NOT_YET_VALID = "collateral_not_yet_valid"
    FMSPC_MISMATCH = "fmspc_mismatch"
    PCE_ID_MISMATCH = "pce_id_mismatch"
    TDX_MODULE_IDENTITY_NOT_FOUND = "tdx_module_identity_not_found"
    TDX_MODULE_MISMATCH = "tdx_module_mismatch"
    QE_REPORT_SIGNATURE_INVALID = "qe_report_signature_invalid"
    ATTESTATION_KEY_BINDING_INVALID = "attestation_key_binding_invalid"
    ATTESTATION_KEY_INVALID = "attestation_key_invalid"
    QE_MISCSELECT_MISMATCH = "qe_miscselect_mismatch"
    QE_ATTRIBUTES_MISMATCH = "qe_attributes_mismatch"
    QE_MRSIGNER_MISMATCH = "qe_mrsigner_mismatch"
    QE_ISVPRODID_MISMATCH = "qe_isvprodid_mismatch"
    QUOTE_SIGNATURE_INVALID = "quote_signature_invalid"
    TCB_NOT_SUPPORTED = "tcb_not_supported"
    TCB_STATUS_UNRECOGNIZED = "tcb_status_unrecognized"
    # -- SEV-SNP report and certificates (``verify_snp``; ``verifier/snp/verify.py``, ``certs.py``)
    SIGNATURE_ALGO_UNSUPPORTED = "signature_algo_unsupported"
    POLICY_RESERVED_BIT = "policy_reserved_bit"
    VMPL_OUT_OF_RANGE = "vmpl_out_of_range"
    REPORT_UNSIGNED = "report_unsigned"
    SIGNING_KEY_MISMATCH = "signing_key_mismatch"
    PRODUCT_MISMATCH = "product_mismatch"
    REPORT_SIGNATURE_INVALID = "report_signature_invalid"
    TCB_MISMATCH = "tcb_mismatch"
    REPORTED_TCB_ABOVE_CURRENT = "reported_tcb_above_current"
    CHIP_ID_MISMATCH = "chip_id_mismatch"
    CERTIFICATE_MALFORMED = "certificate_malformed"
    CERTIFICATE_NAME = "certificate_name"
    CERTIFICATE_EXTENSION = "certificate_extension"
    CERTIFICATE_REVOKED = "certificate_revoked"
    CHAIN_ROLE_MISMATCH = "chain_role_mismatch"
    CHAIN_ISSUER_MISMATCH = "chain_issuer_mismatch"
    CHAIN_SIGNATURE_ALGORITHM = "chain_signature_algorithm"
    CHAIN_SIGNATURE_INVALID = "chain_signature_invalid"
    ROOT_NOT_SELF_SIGNED = "root_not_self_signed"
    WRONG_PRODUCT_ROOT = "wrong_product_root"
    PRODUCT_UNKNOWN = "product_unknown"
    LEAF_KEY_TYPE = "leaf_key_type"
    CRL_EXPIRED = "crl_expired"
    CRL_NOT_YET_VALID = "crl_not_yet_valid"
    # -- TDX policy (``validate_tdx``; ``PolicyError``)
    TCB_STATUS_NOT_ACCEPTED = "tcb_status_not_accepted"
    ADVISORY_NOT_ACCEPTED = "advisory_not_accepted"
    TCB_DATE_TOO_OLD = "tcb_date_too_old"
    TCB_EVALUATION_DATA_NUMBER_TOO_LOW = "tcb_evaluation_data_number_too_low"
    DEBUG_TD = "debug_td"
    REVOCATION_NOT_CHECKED = "revocation_not_checked"
    MRTD_MISMATCH = "mrtd_mismatch"
    RTMR0_MISMATCH = "rtmr0_mismatch"
    RTMR1_MISMATCH = "rtmr1_mismatch"
    RTMR2_MISMATCH = "rtmr2_mismatch"
    RTMR3_MISMATCH = "rtmr3_mismatch"
    MRSEAM_MISMATCH = "mrseam_mismatch"
    MRSIGNERSEAM_MISMATCH = "mrsignerseam_mismatch"
    MRCONFIGID_MISMATCH = "mrconfigid_mismatch"
    MROWNER_MISMATCH = "mrowner_mismatch"
    MROWNERCONFIG_MISMATCH = "mrownerconfig_mismatch"
    MRSERVICETD_MISMATCH = "mrservicetd_mismatch"
    REPORT_DATA_MISMATCH = "report_data_mismatch"
    XFAM_MISMATCH = "xfam_mismatch"
    TD_ATTRIBUTES_MISMATCH = "td_attributes_mismatch"
    TEE_TCB_SVN_TOO_LOW = "tee_tcb_svn_too_low"
    SEPT_VE_DISABLE_REQUIRED = "sept_ve_disable_required"
    # -- SEV-SNP policy (``validate_snp``; ``PolicyError``)
    MEASUREMENT_MISMATCH = "measurement_mismatch"
    HOST_DATA_MISMATCH = "host_data_mismatch"
    FAMILY_ID_MISMATCH = "family_id_mismatch"
    IMAGE_ID_MISMATCH = "image_id_mismatch"
    ID_KEY_DIGEST_MISMATCH = "id_key_digest_mismatch"
    AUTHOR_KEY_DIGEST_MISMATCH = "author_key_digest_mismatch"
    REPORT_ID_MISMATCH = "report_id_mismatch"
    REPORT_ID_MA_MISMATCH = "report_id_ma_mismatch"
    VMPL_MISMATCH = "vmpl_mismatch"
    LAUNCH_MIT_VECTOR_MISMATCH = "launch_mit_vector_mismatch"
    CURRENT_MIT_VECTOR_MISMATCH = "current_mit_vector_mismatch"
    PRODUCT_NOT_ACCEPTED = "product_not_accepted"
    SIGNING_KEY_NOT_ACCEPTED = "signing_key_not_accepted"
    GUEST_SVN_TOO_LOW = "guest_svn_too_low"
    CURRENT_TCB_TOO_LOW = "current_tcb_too_low"
    COMMITTED_TCB_TOO_LOW = "committed_tcb_too_low"
    REPORTED_TCB_TOO_LOW = "reported_tcb_too_low"
    LAUNCH_TCB_TOO_LOW = "launch_tcb_too_low"
    ABI_TOO_LOW = "abi_too_low"
    BUILD_TOO_LOW = "build_too_low"
    VERSION_TOO_LOW = "version_too_low"
    VMPL_TOO_HIGH = "vmpl_too_high"
    DEBUG_GUEST = "debug_guest"
    MIGRATE_MA_NOT_ALLOWED = "migrate_ma_not_allowed"
    SMT_NOT_ALLOWED = "smt_not_allowed"
    CXL_NOT_ALLOWED = "cxl_not_allowed"
    SINGLE_SOCKET_REQUIRED = "single_socket_required"
    MEM_AES_256_XTS_REQUIRED = "mem_aes_256_xts_required"
    RAPL_DISABLED_REQUIRED = "rapl_disabled_required"
    CIPHERTEXT_HIDING_REQUIRED = "ciphertext_hiding_required"
    PAGE_SWAP_DISABLED_REQUIRED = "page_swap_disabled_required"
    PLATFORM_INFO_MISSING = "platform_info_missing"
    PLATFORM_INFO_NOT_ALLOWED = "platform_info_not_allowed"
    PROVISIONAL_FIRMWARE_NOT_PERMITTED = "provisional_firmware_not_permitted"
    COMMITTED_ABOVE_CURRENT = "committed_above_current"
    ID_BLOCK_REQUIRED = "id_block_required"
    ID_KEY_NOT_TRUSTED = "id_key_not_trusted"
    AUTHOR_KEY_REQUIRED = "author_key_required"
    AUTHOR_KEY_NOT_TRUSTED = "author_key_not_trusted"
    CRL_TOO_OLD = "crl_too_old"
    # -- Signed reference values (``load_reference_values``; ``verifier/refvalues``)
    REFVALUES_UNSIGNED = "refvalues_unsigned"
    REFVALUES_BAD_CONTENT_TYPE = "refvalues_bad_content_type"
    REFVALUES_ALG_UNSUPPORTED = "refvalues_alg_unsupported"
    REFVALUES_ALG_MISMATCH = "refvalues_alg_mismatch"
    REFVALUES_CRIT_UNSUPPORTED = "refvalues_crit_unsupported"
    REFVALUES_SIGNATURE_INVALID = "refvalues_signature_invalid"
    REFVALUES_WRONG_KEY = "refvalues_wrong_key"
    REFVALUES_EXPIRED = "refvalues_expired"
    REFVALUES_NOT_YET_VALID = "refvalues_not_yet_valid"
    REFVALUES_ROLLBACK = "refvalues_rollback"
    REFVALUES_UNKNOWN_PROFILE = "refvalues_unknown_profile"
    # -- Event logs (``verifier/replay.py``)
    EVENT_LOG_MISMATCH = "event_log_mismatch"
    EVENT_LOG_DIGEST_MISSING = "event_log_digest_missing"
    EVENT_LOG_DUPLICATE_SEPARATOR = "event_log_duplicate_separator"
    # -- Attestation results (``require_affirming``)
    RESULT_NOT_ISSUED = "result_not_issued"
    RESULT_NOT_AFFIRMING = "result_not_affirming"
    RESULT_EXPIRED = "result_expired"
    RESULT_NOT_YET_VALID = "result_not_yet_valid"
    # -- The release layer (``verifier/release``: guest evidence, RTMR3 record, device gate; a device
    #    policy's signature codes are the reference values' with ``device_policy_`` for ``refvalues_``)
    RTMR3_CONCURRENT_EXTEND = "rtmr3_concurrent_extend"
    RTMR3_LOG_MISMATCH = "rtmr3_log_mismatch"
    TEE_MISMATCH = "tee_mismatch"
    DEVICE_AUTHORIZE_FAILED = "device_authorize_failed"
    DEVICE_BIND_FAILED = "device_bind_failed"
    DEVICE_UNBIND_FAILED = "device_unbind_failed"
    DEVICE_DRIVER_MISSING = "device_driver_missing"
    DEVICE_MODULE_LOAD_FAILED = "device_module_load_failed"
    DEVICE_STATE_UNWRITABLE = "device_state_unwritable"
    DEVICE_WRITE_REFUSED = "device_write_refused"
    DEVICE_POLICY_UNSIGNED = "device_policy_unsigned"
    DEVICE_POLICY_BAD_CONTENT_TYPE = "device_policy_bad_content_type"
    DEVICE_POLICY_ALG_UNSUPPORTED = "device_policy_alg_unsupported"
    DEVICE_POLICY_ALG_MISMATCH = "device_policy_alg_mismatch"
    DEVICE_POLICY_CRIT_UNSUPPORTED = "device_policy_crit_unsupported"
    DEVICE_POLICY_SIGNATURE_INVALID = "device_policy_signature_invalid"
    DEVICE_POLICY_WRONG_KEY = "device_policy_wrong_key"
    DEVICE_POLICY_EXPIRED = "device_policy_expired"
    DEVICE_POLICY_NOT_YET_VALID = "device_policy_not_yet_valid"
    DEVICE_POLICY_ROLLBACK = "device_policy_rollback"
    DEVICE_POLICY_UNKNOWN_PROFILE = "device_policy_unknown_profile"
    # -- The sealed release (``verifier/release/sealing.py``) and the relying-party service
    #    (``verifier/service``: its HTTP refusals carry these as ``error``; ``client.py`` raises
    #    them again on the guest's side)
    RELEASE_MALFORMED = "release_malformed"
    RELEASE_UNOPENABLE = "release_unopenable"
    RELEASE_INCOMPLETE = "release_incomplete"
    NO_RELEASE_RULE = "no_release_rule"
    NONCE_UNKNOWN = "nonce_unknown"
    NONCE_EXPIRED = "nonce_expired"
    NONCE_WRONG_TEE = "nonce_wrong_tee"
    TOO_MANY_CHALLENGES = "too_many_challenges"
    NO_TRUST_ANCHORS = "no_trust_anchors"
    UNKNOWN_REFERENCE_VALUES = "unknown_reference_values"
    UNKNOWN_DEVICE_POLICY = "unknown_device_policy"
    UNKNOWN_SECRET = "unknown_secret"
    SECRET_UNDECRYPTABLE = "secret_undecryptable"
    RESULT_MALFORMED = "result_malformed"
    RESULT_ALG_REFUSED = "result_alg_refused"
    RESULT_KEY_UNKNOWN = "result_key_unknown"
    RESULT_SIGNATURE_INVALID = "result_signature_invalid"
    RESULT_NONCE_MISMATCH = "result_nonce_mismatch"
    RESPONSE_MALFORMED = "response_malformed"
    RELYING_PARTY_REFUSED = "relying_party_refused"
    BAD_REQUEST = "bad_request"
    EVIDENCE_MALFORMED = "evidence_malformed"
    UNAUTHORIZED = "unauthorized"
    BODY_TOO_LARGE = "body_too_large"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    COLLATERAL_UNAVAILABLE = "collateral_unavailable"
    # -- The guest gate's released secrets (``verifier/release/secrets.py``)
    RUN_DIR_NOT_IN_MEMORY = "run_dir_not_in_memory"
    SECRET_NOT_RELEASED = "secret_not_released"
    # -- Appraisal: the reasons of an AttestationResult (``appraise``; besides the codes above)
    OK = "ok"
    EVENT_LOG_SEPARATORS = "event_log_separators"
    EVENT_LOG_CONTRADICTION = "event_log_contradiction"
    EVENT_LOG_UNRECOGNIZED_EVENT = "event_log_unrecognized_event"
    EVENT_LOG_ACCOUNTED = "event_log_accounted"
    POLICY_MISMATCH = "policy_mismatch"
    TEE_TCB_SVN_MISMATCH = "tee_tcb_svn_mismatch"
    REPORTED_TCB_MISMATCH = "reported_tcb_mismatch"
    FIRMWARE_MISMATCH = "firmware_mismatch"
    KERNEL_MISMATCH = "kernel_mismatch"
    CMDLINE_MISMATCH = "cmdline_mismatch"
    INITRD_MISMATCH = "initrd_mismatch"
    MRTD_UNVERIFIABLE = "mrtd_unverifiable"
    RTMR0_UNVERIFIABLE = "rtmr0_unverifiable"
    RTMR1_UNVERIFIABLE = "rtmr1_unverifiable"
    RTMR2_UNVERIFIABLE = "rtmr2_unverifiable"
    RTMR3_UNVERIFIABLE = "rtmr3_unverifiable"
    MRSEAM_UNVERIFIABLE = "mrseam_unverifiable"
    MRSIGNERSEAM_UNVERIFIABLE = "mrsignerseam_unverifiable"
    MEASUREMENT_UNVERIFIABLE = "measurement_unverifiable"
    XFAM_UNVERIFIABLE = "xfam_unverifiable"
    TD_ATTRIBUTES_UNVERIFIABLE = "td_attributes_unverifiable"
    POLICY_UNVERIFIABLE = "policy_unverifiable"
    HOST_DATA_UNVERIFIABLE = "host_data_unverifiable"
    TEE_TCB_SVN_UNVERIFIABLE = "tee_tcb_svn_unverifiable"
    REPORTED_TCB_UNVERIFIABLE = "reported_tcb_unverifiable"
    ID_KEY_DIGEST_UNVERIFIABLE = "id_key_digest_unverifiable"
    AUTHOR_KEY_DIGEST_UNVERIFIABLE = "author_key_digest_unverifiable"
    REPORT_DATA_UNVERIFIABLE = "report_data_unverifiable"
    EVENT_LOG_UNVERIFIABLE = "event_log_unverifiable"
    FIRMWARE_UNVERIFIABLE = "firmware_unverifiable"
    KERNEL_UNVERIFIABLE = "kernel_unverifiable"
    CMDLINE_UNVERIFIABLE = "cmdline_unverifiable"
    INITRD_UNVERIFIABLE = "initrd_unverifiable"
    FIRMWARE_AMBIGUOUS = "firmware_ambiguous"
    KERNEL_AMBIGUOUS = "kernel_ambiguous"
    CMDLINE_AMBIGUOUS = "cmdline_ambiguous"
    INITRD_AMBIGUOUS = "initrd_ambiguous"



class CCVerifyError(Exception):
    """Base of every error ccverify raises deliberately."""

    #: exit code the CLI uses for this class of error
    exit_code: int = 2

    @property
    def message(self) -> str:
        return str(self)


class InputError(CCVerifyError):
    """Input that cannot be used at all: unreadable file, bad option value, wrong format."""

    exit_code = 2


class InputTooLargeError(InputError):
    """An input longer than the limit for its kind (``verifier/limits.py``); nothing past the
    limit was read. ``kind`` is the input kind (``"evidence"``), ``limit`` its maximum in bytes."""

    def __init__(self, message: str, *, kind: str, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        super().__init__(message)


class ParseError(InputError):
    """Bytes that do not form the structure they claim to be.

    ``structure`` is the structure being parsed (``"TdxQuote"``), ``field`` the field that
    failed (``"header.version"``) and ``offset`` its absolute byte offset in the input.
    """

    def __init__(self, structure: str, field: str, offset: int | None, detail: str) -> None:
        self.structure = structure
        self.field = field
        self.offset = offset
        self.detail = detail
        where = f"{structure}.{field}"
        if offset is not None:
            where += f" at offset {offset} (0x{offset:x})"
        super().__init__(f"{where}: {detail}")


class VerificationError(CCVerifyError):
    """A check failed: the evidence, its certificates or its collateral are not acceptable.

    ``code`` is stable and machine-readable: the value of a ``Code`` member (a plain ``str``,
    ``"quote_signature_invalid"``, so it serializes as itself); ``detail`` is a sentence a
    person can act on. ``expected``/``actual`` are filled in where a value was compared.

    Constructing ``VerificationError(code, ...)`` gives the subclass of the code's family
    (``FAMILIES``: ``RevokedError`` for ``revoked``...); a subclass constructed directly is
    itself. A ``str`` that is not a ``Code`` value is still accepted (compatibility) but the
    library never raises one.
    """

    exit_code = 1

    def __new__(
        cls,
        code: Code | str,
        detail: str = "",
        *,
        expected: object = None,
        actual: object = None,
    ) -> VerificationError:
        if cls is VerificationError:
            family = FAMILIES.get(str(code))
            if family is not None:
                cls = family
        return super().__new__(cls)

    def __init__(
        self,
        code: Code | str,
        detail: str,
        *,
        expected: object = None,
        actual: object = None,
    ) -> None:
        self.code: str = str(code)
        self.detail = detail
        self.expected = expected
        self.actual = actual
        text = f"{self.code}: {detail}"
        # only what was compared: never "expected None" (an empty expected says so in words)
        shown = [f"expected {_show(expected)}"] if expected is not None else []
        shown += [f"got {_show(actual)}"] if actual is not None else []
        if shown:
            text += f" ({', '.join(shown)})"
        super().__init__(text)

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only fields: rebuilt from the state, not by calling __init__ again
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[CCVerifyError], args: tuple[object, ...], state: dict[str, object]) -> CCVerifyError:
    error = Exception.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ExpiredError(VerificationError):
    """Past its validity at the time of verification: a certificate, collateral (TCB info, QE
    identity, a CRL), reference values or an attestation result. Fresh collateral or newly
    signed values may cure it."""


class RevokedError(VerificationError):
    """A certificate (PCK, PCK CA, collateral signer, VCEK/VLEK, ASK/ASVK) is on a CRL."""


class RollbackError(VerificationError):
    """Reference values whose sequence number is below one already accepted."""


class SignatureError(VerificationError):
    """A signature does not verify: the evidence's, a certificate's, a CRL's, the collateral's
    or the reference values'."""


class UntrustedRootError(VerificationError):
    """A chain ends in a root that is not the pinned (or given) one, or reference values are
    signed by a key that is not a trust anchor."""


class PolicyError(VerificationError):
    """Evidence verified, but a policy or reference value does not accept it.

    ``violations`` holds every check the policy failed, each a ``PolicyError`` of its own
    (``code``, ``detail``, ``expected``, ``actual``); the error's own fields are the first's and
    its message lists them all. A single violation is its own only entry. ``verdict`` is the
    verified verdict the policy refused, when the refusal came from ``verify_tdx`` /
    ``verify_snp`` (so a caller can still show what was verified).
    """

    def __init__(
        self,
        code: Code | str,
        detail: str,
        *,
        expected: object = None,
        actual: object = None,
    ) -> None:
        super().__init__(code, detail, expected=expected, actual=actual)
        self.violations: tuple[PolicyError, ...] = (self,)
        self.verdict: TdxVerdict | SnpVerdict | None = None

    @classmethod
    def of(cls, violations: Sequence[PolicyError]) -> PolicyError:
        """One error for ``violations`` (at least one): the first's fields, every message."""
        if not violations:
            raise ValueError("PolicyError.of needs at least one violation")
        if len(violations) == 1:
            return violations[0]
        first = violations[0]
        error = cls(first.code, first.detail, expected=first.expected, actual=first.actual)
        error.violations = tuple(violations)
        error.args = ("; ".join(str(v) for v in violations) + f" ({len(violations)} policy violations)",)
        return error


class EnforcementError(VerificationError):
    """A verified decision could not be applied: the kernel refused a sysfs write, a module
    did not load, a device did not bind or unbind. ``code`` says which (``device_write_refused``,
    ``device_module_load_failed``, ``device_bind_failed``...); nothing beyond bootstrap stays
    authorized."""


class CollateralError(CCVerifyError):
    """Collateral (TCB info, QE identity, CRLs, VCEKs, cert chains) could not be had.

    ``missing`` names what was needed (an URL or a cache key); the verifier cannot
    decide without it, so it says no. A server that did not answer or answered that it
    cannot now also carries ``status`` (the HTTP status; None: no answer at all) and
    ``retry_after`` (its ``Retry-After``, seconds): only no answer, 503 and 429 are worth a
    retry (``retryable``).
    """

    exit_code = 3

    def __init__(
        self,
        detail: str,
        *,
        missing: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.detail = detail
        self.missing = missing
        self.status = status
        self.retry_after = retry_after
        text = detail if missing is None else f"{detail}: {missing}"
        super().__init__(text)

    @property
    def retryable(self) -> bool:
        """Worth asking again: no answer (``status`` None), 503 or 429."""
        return self.status in (None, 429, 503)


#: another name for ``CollateralError``: what it means to a caller (retry with collateral)
CollateralUnavailableError = CollateralError

#: the subclass ``VerificationError(code)`` raises for each code of a family
FAMILIES: dict[str, type[VerificationError]] = {
    **dict.fromkeys(
        (
            Code.CERTIFICATE_EXPIRED,
            Code.COLLATERAL_EXPIRED,
            Code.CRL_EXPIRED,
            Code.REFVALUES_EXPIRED,
            Code.DEVICE_POLICY_EXPIRED,
            Code.RESULT_EXPIRED,
        ),
        ExpiredError,
    ),
    **dict.fromkeys((Code.REVOKED, Code.CERTIFICATE_REVOKED), RevokedError),
    **dict.fromkeys((Code.REFVALUES_ROLLBACK, Code.DEVICE_POLICY_ROLLBACK), RollbackError),
    **dict.fromkeys(
        (
            Code.PCK_CHAIN_SIGNATURE_INVALID,
            Code.TCB_INFO_SIGNATURE_INVALID,
            Code.QE_IDENTITY_SIGNATURE_INVALID,
            Code.QE_REPORT_SIGNATURE_INVALID,
            Code.QUOTE_SIGNATURE_INVALID,
            Code.CRL_SIGNATURE_INVALID,
            Code.REPORT_SIGNATURE_INVALID,
            Code.CHAIN_SIGNATURE_INVALID,
            Code.ROOT_NOT_SELF_SIGNED,
            Code.REFVALUES_SIGNATURE_INVALID,
            Code.DEVICE_POLICY_SIGNATURE_INVALID,
            Code.RESULT_SIGNATURE_INVALID,
        ),
        SignatureError,
    ),
    **dict.fromkeys(
        (
            Code.UNTRUSTED_ROOT,
            Code.WRONG_PRODUCT_ROOT,
            Code.REFVALUES_WRONG_KEY,
            Code.DEVICE_POLICY_WRONG_KEY,
        ),
        UntrustedRootError,
    ),
}


def _show(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex() or "<empty>"
    if isinstance(value, (list, tuple, set, frozenset)) and not value:
        return "none"
    if value == "":
        return "<empty>"
    return repr(value) if isinstance(value, str) else str(value)


def exit_code(error: BaseException) -> int:
    """The CLI exit code for an error: 1 verification, 2 input, 3 collateral."""
    if isinstance(error, CCVerifyError):
        return error.exit_code
    return 2
