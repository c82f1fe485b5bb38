"""One exception hierarchy for everything ccverify raises on purpose.

Every message is meant to be read by the person who has to act on it: it names the
structure, field and byte offset for bad input, the stable reason code and the expected
and actual values for a failed check, and what was missing for unavailable collateral.
The CLI maps the classes onto its exit codes (see ``exit_code``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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

    ``code`` is stable and machine-readable (``"quote_signature_invalid"``); ``detail`` is
    a sentence a person can act on. ``expected``/``actual`` are filled in where a value
    was compared.
    """

    exit_code = 1

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        expected: Any = None,
        actual: Any = None,
    ) -> None:
        self.code = code
        self.detail = detail
        self.expected = expected
        self.actual = actual
        text = f"{code}: {detail}"
        if expected is not None or actual is not None:
            text += f" (expected {_show(expected)}, got {_show(actual)})"
        super().__init__(text)


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
        code: str,
        detail: str,
        *,
        expected: Any = None,
        actual: Any = None,
    ) -> None:
        super().__init__(code, detail, expected=expected, actual=actual)
        self.violations: tuple[PolicyError, ...] = (self,)
        self.verdict: Any = None

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


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex() or "<empty>"
    return repr(value) if isinstance(value, str) else str(value)


def exit_code(error: BaseException) -> int:
    """The CLI exit code for an error: 1 verification, 2 input, 3 collateral."""
    if isinstance(error, CCVerifyError):
        return error.exit_code
    return 2
