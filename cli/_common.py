"""What every command shares: error-to-exit-code mapping, JSON and table output.

Commands stay thin: parse options, call the library, print. Any ``CCVerifyError`` becomes
one line on stderr and its exit code (1 verification failed, 2 bad input or usage,
3 collateral or network unavailable); anything else unexpected is still one line and
exit 2, never a traceback (set ``CCVERIFY_DEBUG=1`` to see one).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ccverify.verifier.errors import CCVerifyError, InputError
from ccverify.verifier.jsonable import JSON_ERRORS, iso8601, to_jsonable
from ccverify.verifier.limits import InputKind, read_bounded, read_bounded_path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_COLLATERAL = 3

T = TypeVar("T")

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ccverify.verifier.collateral.pcs import PcsClient


class _LazyConsole:
    """rich costs ~80 ms to import; JSON output and the initramfs hook never need it."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, soft_wrap=True)
        return getattr(self._console, name)

    @property
    def is_terminal(self) -> bool:
        stream = sys.stderr if self._stderr else sys.stdout
        isatty = getattr(stream, "isatty", None)
        return bool(isatty is not None and isatty())

    def print(self, *objects: Any, **options: Any) -> None:
        """On a terminal, rich's rendering; into a pipe or file, plain lines (``plain_lines``)."""
        if not self.is_terminal:
            stream = sys.stderr if self._stderr else sys.stdout
            for item in objects:
                lines = plain_lines(item)
                if lines is None:
                    break
                stream.write("".join(line + "\n" for line in lines))
            else:
                return
        self.__getattr__("print")(*objects, **options)


def plain_lines(item: Any) -> list[str] | None:
    """A table as lines for pipes: ``# title``, then ``field: value`` (two columns) or the
    header and tab-separated cells (more); values whole, never wrapped. None: not a table."""
    from rich.table import Table
    from rich.text import Text

    if not isinstance(item, Table):
        return None

    def plain(value: Any) -> str:  # what rich would show, without its markup
        if isinstance(value, Text):
            return value.plain
        return Text.from_markup(value).plain if isinstance(value, str) else str(value)

    lines = [f"# {plain(item.title)}"] if item.title else []
    cells = [[plain(cell) for cell in column._cells] for column in item.columns]
    rows = list(zip(*cells, strict=True)) if cells else []
    if len(item.columns) == 2 and str(item.columns[0].header) == "field":
        lines.extend(f"{name}: {value}" for name, value in rows)
    else:
        lines.append("\t".join(str(column.header) for column in item.columns))
        lines.extend("\t".join(row) for row in rows)
    return lines


stdout: Any = _LazyConsole(stderr=False)
stderr: Any = _LazyConsole(stderr=True)


def fail(error: BaseException, json_command: str | None = None) -> NoReturn:
    """Print one line for ``error`` (and, for ``json_command``, the envelope) and exit with its code.

    ``SystemExit``, not typer's ``Exit``: this module must not import typer (the console
    entry runs well-formed ``measure`` commands without it), and click passes a
    ``SystemExit`` through unchanged, exit code and all.
    """
    if os.environ.get("CCVERIFY_DEBUG"):
        import traceback

        traceback.print_exception(error)
    code = error.exit_code if isinstance(error, CCVerifyError) else EXIT_INPUT
    if json_command is not None:
        from ccverify.cli.envelope import emit_envelope

        emit_envelope(json_command, error=error, exit_code=code)
    if isinstance(error, CCVerifyError):
        stderr.print(f"[bold red]error[/] ({error_kind(error)}): {error}", highlight=False, markup=True)
    else:
        stderr.print(f"error (unexpected): {error}", highlight=False, markup=False)
    raise SystemExit(code)


#: the word each error family is shown with (a user reads "policy", not a Python class name)
_KINDS = (
    ("PolicyError", "policy"),
    ("VerificationError", "verification"),
    ("CollateralError", "collateral"),
    ("ParseError", "parse"),
    ("InputError", "input"),
)


def error_kind(error: BaseException) -> str:
    """``policy``, ``verification``, ``collateral``, ``parse``, ``input`` or ``unexpected``."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return next((word for name, word in _KINDS if name in names), "unexpected")


def guarded(call: Callable[[], T], json_command: str | None = None) -> T:
    """Run library code; turn every failure into a one-line message and an exit code.

    With ``json_command`` (the command's words, given when ``--json`` is on) a failure also
    prints the ``--json`` envelope with its ``error`` on stdout, so a script always gets JSON.
    """
    try:
        return call()
    except (CCVerifyError, OSError, ValueError) as error:
        if isinstance(error, OSError):
            error = InputError(f"{getattr(error, 'filename', None) or 'file'}: {error.strerror or error}")
        fail(error, json_command)
    except Exception as error:  # the CLI never shows a traceback
        if _is_click_exit(error):
            raise
        fail(error, json_command)


def _is_click_exit(error: Exception) -> bool:
    """typer's ``Exit`` (a ``RuntimeError``), raised by a command on purpose. Only a loaded
    typer can have raised one, so a run without typer never imports it to ask."""
    typer = sys.modules.get("typer")
    return typer is not None and isinstance(error, typer.Exit)


def read_file(path: Path, what: str, kind: InputKind) -> bytes:
    """The bytes of ``path``, at most the limit for ``kind`` (``verifier/limits.py``); an
    unreadable, too large or non-file input is an ``InputError`` naming ``what`` (an option)."""
    return read_bounded(path, kind, what)


def read_input(path: Path, what: str = "input", kind: InputKind = "evidence") -> bytes:
    """Read a file (bounded as ``read_file``); ``-`` is stdin. Hex text (as some tools write
    quotes) is decoded."""
    return maybe_unhex(read_bounded_path(path, kind, what))


def maybe_unhex(data: bytes) -> bytes:
    """Decode ``data`` if it is nothing but hex digits (and white space)."""
    stripped = b"".join(data.split())
    if stripped.startswith((b"0x", b"0X")):
        stripped = stripped[2:]
    if len(stripped) >= 2 and len(stripped) % 2 == 0:
        try:
            text = stripped.decode("ascii")
        except UnicodeDecodeError:
            return data
        if all(c in "0123456789abcdefABCDEF" for c in text):
            return bytes.fromhex(text)
    return data


def load_policy(path: Path | None, platform: str) -> Any:
    """The ``platform`` (``"tdx"``/``"snp"``) policy of the ``--policy`` file ``path`` (None: no
    file, or no section for the platform: the default policy applies).

    The whole file is read by ``verifier/policy.py``'s rules (both sections, whatever the
    evidence): unknown keys, ``null`` values and empty allow-lists are refused (exit 2).
    """
    if path is None:
        return None
    from ccverify.verifier.policy import read_policy_file

    document = read_policy_file(read_file(path, "--policy", "policy"), f"--policy {path}")
    return getattr(document, platform)


def policy_section(path: Path | None, platform: str) -> dict[str, Any] | None:
    """The ``platform`` object of a policy file as JSON (None: absent), once the whole file
    has been read by the rules of ``load_policy``."""
    if path is None:
        return None
    from ccverify.verifier.policy import read_policy_document

    data = read_file(path, "--policy", "policy")
    try:
        document = json.loads(data)
    except JSON_ERRORS:
        raise InputError(f"--policy {path}: not valid JSON") from None
    read_policy_document(document, f"--policy {path}")
    section: dict[str, Any] | None = document.get(platform)
    return section


def emit_json(value: Any, command: str | None = None) -> None:
    """Print ``value`` on stdout as JSON (bytes as hex, flags as names): for ``command``, as the
    ``result`` of the ``--json`` envelope (``cli/envelope.py``); without one, bare (``verify``,
    until it moves onto the envelope)."""
    if command is not None:
        from ccverify.cli.envelope import emit_envelope

        emit_envelope(command, result=value)
        return
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2) + "\n")


def when(moment: datetime | None) -> str:
    """A time as ISO 8601 (``Z``), or ``-`` for none."""
    return "-" if moment is None else iso8601(moment)


def table(title: str, rows: Iterable[tuple[str, Any]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, show_header=True, header_style="bold", title_justify="left")
    out.add_column("field", style="cyan", max_width=36, overflow="fold")
    out.add_column("value", overflow="fold", min_width=32)
    for name, value in rows:
        # Text, not markup: values come from the evidence, and "[...]" in them is data
        out.add_row(Text(name), Text(format_value(value)))
    return out


def format_value(value: Any) -> str:
    shown = to_jsonable(value)
    if isinstance(shown, list):
        return ", ".join(str(v) for v in shown) if shown else "-"
    if isinstance(shown, dict):
        return json.dumps(shown)
    return "-" if shown is None or shown == "" else str(shown)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Rows ``(dotted.name, leaf)`` of a JSON-able structure, for a readable table."""
    shown = to_jsonable(value)
    rows: list[tuple[str, Any]] = []
    if isinstance(shown, dict):
        for key, item in shown.items():
            name = f"{prefix}.{key}" if prefix else key
            if _nested(item):
                rows.extend(flatten(item, name))
            else:
                rows.append((name, item))
    elif isinstance(shown, list):
        for index, item in enumerate(shown):
            name = f"{prefix}[{index}]"
            rows.extend(flatten(item, name) if _nested(item) else [(name, item)])
    else:
        rows.append((prefix or "value", shown))
    return rows


def _nested(item: Any) -> bool:
    """Objects, and lists holding objects, get rows of their own."""
    if isinstance(item, dict):
        return bool(item)
    return isinstance(item, list) and any(isinstance(v, (dict, list)) for v in item)


@dataclass(frozen=True)
class VerifyOptions:
    """Everything ``ccverify verify`` was given; the TDX and SNP runners take what they need."""

    evidence: bytes
    evidence_path: Path
    collateral: Path | None = None
    offline: bool = False
    at: datetime | None = None
    policy: Path | None = None
    trust_root: Path | None = None
    json: bool = False
    reference_values: Path | None = None
    trust_anchor: Path | None = None
    event_log: Path | None = None
    sequence_store: Path | None = None
    vcek: Path | None = None
    vlek: Path | None = None
    cert_chain: Path | None = None
    cert_table: Path | None = None
    product: str | None = None
    crl: Path | None = None
    allow_missing_crl: bool = False
    pcs_url: str | None = None
    #: ccverify's run-time RTMR3 log, replayed after the CCEL (``rtmr3_log.with_runtime_log``)
    rtmr3_log: Path | None = None


def pcs_client(url: str | None, timeout: float | None = None) -> PcsClient:
    """An Intel PCS client for ``url``, else ``$CCVERIFY_PCS_URL``, else Intel PCS itself
    (API key from ``$CCVERIFY_PCS_API_KEY``); ``timeout`` else ``$CCVERIFY_NET_TIMEOUT`` else
    5 s per request; each retry is announced on stderr."""
    from ccverify.verifier.collateral.http import RetryPolicy, timeout_from
    from ccverify.verifier.collateral.pcs import PCS_BASE_URL, PcsClient

    base = url or os.environ.get("CCVERIFY_PCS_URL") or PCS_BASE_URL
    seconds = timeout_from(timeout)
    policy = RetryPolicy(timeout=seconds, on_retry=announce)
    return PcsClient(base, api_key=os.environ.get("CCVERIFY_PCS_API_KEY"), timeout=seconds, retry=policy)


def announce(message: str) -> None:
    """A progress line on stderr (a retry the user is waiting for), never on stdout."""
    sys.stderr.write(f"ccverify: {message}\n")
    sys.stderr.flush()
