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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ccverify.verifier.errors import CCVerifyError, InputError, PolicyError, VerificationError
from ccverify.verifier.jsonable import iso8601, to_jsonable
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
        """On a terminal, rich's rendering; into a pipe or file, plain lines (``plain_lines``).

        Into a pipe, a line of text with no markup to read and nothing but printable characters
        (``_verbatim``) is written as it is, without importing rich: the initramfs hook's
        stages print into a log file at every boot."""
        if not self.is_terminal:
            stream = sys.stderr if self._stderr else sys.stdout
            if len(objects) == 1 and isinstance(objects[0], str) and _verbatim(objects[0], options):
                stream.write(objects[0] + "\n")
                stream.flush()  # as rich does after each print (stderr and stdout interleave)
                return
            for item in objects:
                lines = plain_lines(item)
                if lines is None:
                    break
                stream.write("".join(line + "\n" for line in lines))
            else:
                return
        self.__getattr__("print")(*objects, **options)


def _verbatim(text: str, options: dict[str, Any]) -> bool:
    """Whether ``text`` goes into a pipe as it is: no markup to read (``markup=False``, or no
    ``[``), nothing but printable characters (rich would expand a tab), no colours asked for
    (``FORCE_COLOR``). Emoji codes are not replaced there: ``0000:ab:00.0`` is a PCI address,
    not ``:ab:``."""
    if set(options) - {"highlight", "markup", "emoji"} or os.environ.get("FORCE_COLOR"):
        return False
    if options.get("markup", True) and "[" in text:
        return False  # rich reads markup (and its escapes)
    return all(line.isprintable() for line in text.split("\n"))


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

    lines = [f"# {line}" for line in plain(item.title).splitlines()] if item.title else []
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


def fail(error: BaseException, json_command: str | None = None, result: Any = None) -> NoReturn:
    """Print one line for ``error`` (and, for ``json_command``, the envelope, with ``result`` if
    the command has one to report beside the error) and exit with its code.

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

        emit_envelope(json_command, result=result, error=error, exit_code=code)
    if isinstance(error, CCVerifyError) and stderr.is_terminal:
        stderr.print(f"[bold red]error[/] ({error_kind(error)}): {error}", highlight=False, markup=True)
    elif isinstance(error, CCVerifyError):  # into a pipe or file: the message as it is, no rich
        stderr.print(f"error ({error_kind(error)}): {error}", highlight=False, markup=False)
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


def guarded(
    call: Callable[[], T], json_command: str | None = None, partial: Callable[[], Any] | None = None
) -> T:
    """Run library code; turn every failure into a one-line message and an exit code.

    With ``json_command`` (the command's words, given when ``--json`` is on) a failure also
    prints the ``--json`` envelope with its ``error`` on stdout, so a script always gets JSON;
    ``partial`` gives that envelope's ``result`` (what a multi-step command did before failing).
    """
    try:
        return call()
    except (CCVerifyError, OSError, ValueError) as error:
        if isinstance(error, OSError):
            error = InputError(f"{getattr(error, 'filename', None) or 'file'}: {error.strerror or error}")
        fail(error, json_command, None if partial is None else partial())
    except Exception as error:  # the CLI never shows a traceback
        if _is_click_exit(error):
            raise
        fail(error, json_command, None if partial is None else partial())


def _is_click_exit(error: Exception) -> bool:
    """typer's or click's ``Exit`` (a ``RuntimeError``), raised by a command on purpose. Only a
    loaded typer or click can have raised one, so a run without them never imports them to ask."""
    typer, click = sys.modules.get("typer"), sys.modules.get("click")
    return (typer is not None and isinstance(error, typer.Exit)) or (
        click is not None and isinstance(error, click.exceptions.Exit)
    )


@contextmanager
def about(option: str, path: Path | str) -> Iterator[None]:
    """Input errors raised inside name the option and its file first: ``--key k.pem: ...``
    (a message that began with the bare path loses it; the error keeps its class and fields)."""
    try:
        yield
    except InputError as error:
        text = str(error)
        if not text.startswith("--"):  # a message that names an option already keeps it
            # "collateral X: ...", "X: ...": the file is named once, after its option
            named = text.find(f"{path}: ")
            if 0 <= named <= 40:
                text = text[named + len(f"{path}: ") :]
            error.args = (f"{option} {path}: {text}",)
        raise
    except VerificationError as error:
        # the code stays first (``refvalues_unsigned: --reference-values rv.cbor: ...``)
        text, head = str(error), f"{error.code}: "
        if not isinstance(error, PolicyError) and text.startswith(head) and not text[len(head) :].startswith("--"):
            error.detail = f"{option} {path}: {error.detail}"
            error.args = (f"{head}{option} {path}: {text[len(head) :]}",)
        raise


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


def emit_json(value: Any, command: str) -> None:
    """Print ``value`` on stdout as the ``result`` of ``command``'s ``--json`` envelope
    (``cli/envelope.py``; bytes as hex, flags as names)."""
    from ccverify.cli.envelope import emit_envelope

    emit_envelope(command, result=value)


def when(moment: datetime | None) -> str:
    """A time as ISO 8601 (``Z``), or ``-`` for none."""
    return "-" if moment is None else iso8601(moment)


def table(title: str, rows: Iterable[tuple[str, Any]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, show_header=True, header_style="bold", title_justify="left")
    rows = list(rows)
    # field paths whole words (broken only after a '.', never mid-word) in at most ~half the
    # width; the value (hex, mostly) folds into what is left. Into a pipe nothing is broken.
    width = None
    if stdout.is_terminal and rows:
        longest = max(len(name) for name, _ in rows)
        width = min(longest, max(16, (stdout.width - 7) // 2))
    out.add_column("field", style="cyan", no_wrap=True, width=width)
    out.add_column("value", overflow="fold", min_width=16, ratio=1)
    for name, value in rows:
        # Text, not markup: values come from the evidence, and "[...]" in them is data
        shown = name if width is None else wrap_path(name, width)
        out.add_row(Text(shown), Text(format_value(value)))
    return out


def wrap_path(name: str, width: int) -> str:
    """``name`` in lines of at most ``width``, broken only after ``.`` or before ``[`` or a
    space (a single part longer than ``width`` is the only thing ever cut)."""
    import re

    parts = [part for part in re.split(r"(?<=\.)|(?=\[)|(?<= )", name) if part]
    lines: list[str] = []
    line = ""
    for part in parts:
        if line and len(line) + len(part) > width:
            lines.append(line.rstrip())
            line = ""
        while len(part) > width:
            lines.append(part[:width])
            part = part[width:]
        line += part
    if line:
        lines.append(line.rstrip())
    return "\n".join(lines)


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
    timeout: float | None = None
    init: bool = False
    #: ccverify's run-time RTMR3 log, replayed after the CCEL (``rtmr3_log.with_runtime_log``)
    rtmr3_log: Path | None = None


def option_timeout(value: float | None) -> float:
    """``--timeout SECONDS`` (else ``$CCVERIFY_NET_TIMEOUT``, else 5 s), checked; a bad value is
    an error naming the option (or the variable) it came from."""
    from ccverify.verifier.collateral.http import timeout_from

    try:
        return timeout_from(value)
    except InputError as error:
        text = str(error)
        if value is not None and text.startswith("timeout "):
            error.args = ("--" + text,)
        raise


def pcs_client(url: str | None, timeout: float | None = None) -> PcsClient:
    """An Intel PCS client for ``url``, else ``$CCVERIFY_PCS_URL``, else Intel PCS itself
    (API key from ``$CCVERIFY_PCS_API_KEY``); ``timeout`` else ``$CCVERIFY_NET_TIMEOUT`` else
    5 s per request; each retry is announced on stderr."""
    from ccverify.verifier.collateral.http import RetryPolicy
    from ccverify.verifier.collateral.pcs import PCS_BASE_URL, PcsClient

    base = url or os.environ.get("CCVERIFY_PCS_URL") or PCS_BASE_URL
    seconds = option_timeout(timeout)
    policy = RetryPolicy(timeout=seconds, on_retry=announce)
    return PcsClient(base, api_key=os.environ.get("CCVERIFY_PCS_API_KEY"), timeout=seconds, retry=policy)


def announce(message: str) -> None:
    """A progress line on stderr (a retry the user is waiting for), never on stdout."""
    sys.stderr.write(f"ccverify: {message}\n")
    sys.stderr.flush()


def sequence_store(path: Path, init: bool = False) -> Any:
    """The ``FileSequenceStore`` at ``--sequence-store path``, refusing a path whose folder does
    not exist (a mistyped path would start an empty store: rollback protection reset) unless
    ``init``, which creates it. A store that does not exist yet is announced on stderr."""
    from ccverify.verifier.refvalues import FileSequenceStore

    if os.path.lexists(path):
        if path.is_dir():
            raise InputError(f"--sequence-store {path}: a directory, not a store file")
        return FileSequenceStore(path)
    folder = path.parent
    if not folder.is_dir():
        if not init:
            raise InputError(
                f"--sequence-store {path}: no directory {folder} (a new store would forget every "
                "sequence accepted before; create the directory, or pass --init)"
            )
        folder.mkdir(parents=True, exist_ok=True)
    announce(f"--sequence-store {path}: a new store (no sequence recorded before)")
    return FileSequenceStore(path)
