"""What the release-layer commands (``devices``, ``guest``) share: the run-with-envelope
wrapper, the sysfs and module options, and reading a device policy.

``enveloped`` runs library code; with ``--json`` it prints the envelope of
``cli/envelope.py`` on success and on failure (then also the one error line on stderr) and
exits with the error's code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ccverify.cli._common import EXIT_INPUT, fail, read_file
from ccverify.verifier.errors import CCVerifyError, InputError

if TYPE_CHECKING:
    from ccverify.verifier.release.devices import LoadedPolicy, ModuleIndex

T = TypeVar("T")


def _as_error(error: BaseException) -> BaseException:
    if isinstance(error, OSError):
        return InputError(f"{getattr(error, 'filename', None) or 'file'}: {error.strerror or error}")
    return error


def failed(command: str, json_out: bool, error: BaseException, partial: Any = None) -> NoReturn:
    """End ``command`` with ``error``: the envelope (``--json``), one line on stderr, its exit code."""
    error = _as_error(error)
    if json_out:
        from ccverify.cli.envelope import emit_envelope

        code = error.exit_code if isinstance(error, CCVerifyError) else EXIT_INPUT
        emit_envelope(command, result=partial, error=error, exit_code=code)
    fail(error)


def enveloped(
    command: str, json_out: bool, call: Callable[[], T], partial: Callable[[], Any] | None = None
) -> T:
    """Run ``call``; any failure ends the command (see ``failed``)."""
    try:
        return call()
    except SystemExit:
        raise
    except Exception as error:  # the CLI never shows a traceback
        if type(error).__name__ == "Exit" and type(error).__module__.startswith(("typer", "click")):
            raise
        failed(command, json_out, error, None if partial is None else partial())


def modules_index(modules_dir: Path | None) -> ModuleIndex:
    from ccverify.verifier.release.devices import ModuleIndex, default_modules_dir

    return ModuleIndex.load(modules_dir if modules_dir is not None else default_modules_dir())


def read_policy(
    path: Path, anchors: Sequence[Path], *, allow_unsigned: bool = False, at: Any = None
) -> LoadedPolicy:
    from ccverify.verifier.release.devices import load_policy

    data = read_file(path, "--device-policy", "device_policy")
    keys = [read_file(a, "--trust-anchor", "certificate") for a in anchors]
    return load_policy(data, keys, allow_unsigned=allow_unsigned, at=at)
