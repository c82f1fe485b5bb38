"""Error codes are one enumeration (``verifier.errors.Code``), and the families a caller
branches on are classes (issue #13).

Every code the library passes to ``VerificationError`` / ``PolicyError`` (and the validators'
``_fail``), or names with ``code=`` / ``*_code=``, is read here from the source: a string
literal must be a member, and a code built at run time (an f-string) is refused. The suite's
``conftest`` also records every code the library raises while the tests run and fails the
session on one that is not a member.
"""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

from ccverify import verifier
from ccverify.verifier import errors
from ccverify.verifier.errors import (
    FAMILIES,
    Code,
    CollateralError,
    CollateralUnavailableError,
    ExpiredError,
    PolicyError,
    RevokedError,
    RollbackError,
    SignatureError,
    UntrustedRootError,
    VerificationError,
    exit_code,
)

SOURCE = Path(__file__).resolve().parents[2] / "verifier"
_CONSTRUCTORS = {"VerificationError", "PolicyError", "_fail", *(c.__name__ for c in set(FAMILIES.values()))}


def _code_arguments() -> list[tuple[str, ast.expr]]:
    found: list[tuple[str, ast.expr]] = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(SOURCE.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                # (``_fail`` of the validators; cose's and pck's take a field, not a code)
                if name in _CONSTRUCTORS and node.args and (name != "_fail" or path.name == "validate.py"):
                    found.append((where, node.args[0]))
                found += [
                    (where, kw.value)
                    for kw in node.keywords
                    if kw.arg is not None and (kw.arg == "code" or kw.arg.endswith("_code"))
                ]
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and (t.id == "code" or t.id.endswith("_code")) for t in node.targets
            ):
                found.append((where, node.value))
    return found


def test_every_code_in_the_source_is_a_member_and_none_is_built_at_run_time() -> None:
    members = {c.value for c in Code}
    arguments = _code_arguments()
    assert len(arguments) > 200  # the scan sees the raise sites
    bad = []
    for where, expr in arguments:
        parts = [expr.body, expr.orelse] if isinstance(expr, ast.IfExp) else [expr]
        for part in parts:
            if isinstance(part, ast.JoinedStr) or (
                isinstance(part, ast.BinOp)
                and any(isinstance(side, ast.JoinedStr | ast.Constant) and not isinstance(
                    getattr(side, "value", ""), int) for side in (part.left, part.right))
            ):
                bad.append(f"{where}: built at run time: {ast.unparse(part)}")
            elif isinstance(part, ast.Constant) and isinstance(part.value, str) and part.value not in members:
                bad.append(f"{where}: {part.value!r} is not a Code member")
    assert not bad, "\n".join(bad)


def test_codes_are_snake_case_and_their_own_names() -> None:
    for code in Code:
        assert code.name == code.value.upper()
        assert code == code.value and str(code) == code.value


@pytest.mark.parametrize(
    ("code", "family"),
    [
        (Code.REVOKED, RevokedError),
        (Code.CERTIFICATE_REVOKED, RevokedError),
        (Code.CERTIFICATE_EXPIRED, ExpiredError),
        (Code.COLLATERAL_EXPIRED, ExpiredError),
        (Code.REFVALUES_EXPIRED, ExpiredError),
        (Code.REFVALUES_ROLLBACK, RollbackError),
        (Code.QUOTE_SIGNATURE_INVALID, SignatureError),
        (Code.REPORT_SIGNATURE_INVALID, SignatureError),
        (Code.UNTRUSTED_ROOT, UntrustedRootError),
        (Code.TCB_MISMATCH, VerificationError),
    ],
)
def test_a_code_raises_its_family(code: Code, family: type[VerificationError]) -> None:
    error = VerificationError(code, "detail", expected=1, actual=2)
    assert type(error) is family
    assert isinstance(error, VerificationError)
    assert error.code == code.value and type(error.code) is str  # serializes as itself
    assert exit_code(error) == 1  # the CLI's exit code is the class's, unchanged
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is family and copy.code == error.code and str(copy) == str(error)
    # the str value is still accepted (compatibility) and gives the same class
    assert type(VerificationError(code.value, "detail")) is family


def test_policy_errors_stay_policy_errors_and_collateral_unavailable_is_collateral_error() -> None:
    refusal = PolicyError(Code.REVOKED, "a policy may use any code")
    assert type(refusal) is PolicyError and exit_code(refusal) == 1
    assert CollateralUnavailableError is CollateralError
    assert exit_code(CollateralUnavailableError("no TCB info")) == 3
    assert all(isinstance(code, Code) for code in FAMILIES)


def test_the_public_module_exports_codes_and_families() -> None:
    for name in ("Code", "ExpiredError", "RevokedError", "RollbackError", "SignatureError",
                 "UntrustedRootError", "CollateralUnavailableError"):
        assert getattr(verifier, name) is getattr(errors, name)
        assert name in verifier.__all__


def test_code_is_the_enum_the_metaclass_would_make() -> None:
    """``Code`` is made by ``enum._simple_enum`` (verifier/errors.py says why): the standard
    library's own check finds it equal, member by member, to the class ``StrEnum``'s metaclass
    makes from the same body."""
    import enum

    source = Path(errors.__file__).read_text()
    head = "@_simple_enum(StrEnum)\nclass Code(_CodeBase):"
    body = source[source.index(head) : source.index("\nclass CCVerifyError")]
    checked_source = body.replace(head, "class Code(StrEnum):")
    namespace: dict[str, object] = {"StrEnum": enum.StrEnum, "__name__": errors.__name__}
    exec(compile(checked_source, errors.__file__, "exec"), namespace)
    checked = namespace["Code"]
    assert isinstance(checked, enum.EnumType) and type(Code) is enum.EnumType
    enum._test_simple_enum(checked, Code)  # raises on a difference
    assert [(c.name, c.value) for c in Code] == [(c.name, c.value) for c in checked]  # type: ignore[attr-defined]
    assert Code("revoked") is Code.REVOKED and f"{Code.REVOKED}" == "revoked"
    assert pickle.loads(pickle.dumps(Code.REVOKED)) is Code.REVOKED
    with pytest.raises(ValueError):
        Code("no such code")
