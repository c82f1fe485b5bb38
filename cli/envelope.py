"""The one JSON shape every command's ``--json`` prints, on success and on failure.

```json
{"ccverify": "1", "command": "devices plan", "ok": true, "exit_code": 0,
 "result": {...} | null, "error": null | {"class": "PolicyError", "code": "...", "message": "...",
                                          "expected": ..., "actual": ..., "structure": ...,
                                          "field": ..., "offset": ...}}
```

``ok`` is ``exit_code == 0``. ``result`` is the command's own object (documented per command
by a JSON Schema under ``cli/schemas/``); a failure may still carry a partial ``result`` (a
verdict whose policy refused it) beside the ``error``. Keys of ``error`` that do not apply to
the error's class are ``null``, so a script can read every key unconditionally.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ccverify.verifier.errors import CCVerifyError, ParseError, VerificationError
from ccverify.verifier.jsonable import to_jsonable

ENVELOPE_VERSION = "1"


def error_object(error: BaseException) -> dict[str, Any]:
    """What a script needs to branch on ``error``: its class, stable code and values."""
    code: str | None = None
    expected: Any = None
    actual: Any = None
    structure: str | None = None
    field: str | None = None
    offset: int | None = None
    if isinstance(error, VerificationError):
        code = error.code
        expected = to_jsonable(error.expected)
        actual = to_jsonable(error.actual)
    if isinstance(error, ParseError):
        structure, field, offset = error.structure, error.field, error.offset
    if code is None:
        code = getattr(error, "code", None)
        if not isinstance(code, str):
            code = None
    return {
        "class": type(error).__name__ if isinstance(error, CCVerifyError) else "UnexpectedError",
        "code": code,
        "message": str(error),
        "expected": expected,
        "actual": actual,
        "structure": structure,
        "field": field,
        "offset": offset,
    }


def envelope(
    command: str, *, result: Any = None, error: BaseException | None = None, exit_code: int = 0
) -> dict[str, Any]:
    """The envelope for ``command`` (its words after ``ccverify``, e.g. ``"guest authorize"``)."""
    return {
        "ccverify": ENVELOPE_VERSION,
        "command": command,
        "ok": exit_code == 0,
        "exit_code": exit_code,
        "result": None if result is None else to_jsonable(result),
        "error": None if error is None else error_object(error),
    }


def emit_envelope(
    command: str, *, result: Any = None, error: BaseException | None = None, exit_code: int = 0
) -> None:
    """Print the envelope on stdout as one JSON document."""
    document = envelope(command, result=result, error=error, exit_code=exit_code)
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()
