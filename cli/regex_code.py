"""The regular expressions of the guest path, compiled once when the initramfs is built.

``re.compile`` parses a pattern and assembles its program in Python (``re._parser``,
``re._compiler``) before handing it to the C engine (``_sre.compile``). The modules the guest
path imports compile theirs as they load, about forty patterns of which ``cryptography.x509``'s
name parser has the largest: a tenth of local-mode ``guest authorize`` on the host, compiled
again at every boot by an interpreter as slow as the VM.

The hook's payload (``cli/hook_payload.py``) has its loader, which imports the guest path,
``capture`` the arguments ``re._compiler.compile`` passes to ``_sre.compile`` for every pattern
then in ``re``'s cache, and ships the table (pattern, flags) -> arguments, marshalled for
exactly that interpreter (``module_store.tag``), as ``hook_payload.REGEX_CODE``. At boot the
launcher calls ``install`` right after the module store: ``re._compiler.compile`` then gives a
pattern in the table straight to ``_sre.compile`` with the recorded arguments, and compiles any
other as before. The arguments are the ones the same interpreter computes from the same
pattern and flags, so the compiled pattern is the same (``Pattern.__eq__`` compares the
program, which the tests do). Nothing else changes; outside the initramfs nothing installs it.
Standard library only: it runs before anything else is imported.
"""

from __future__ import annotations

import marshal
import sys

from ccverify.cli.module_store import tag

TYPE_CHECKING = False  # not typing's: this runs before anything else is imported
if TYPE_CHECKING:
    from typing import Any

#: the table file's first bytes
MAGIC = b"ccverify regex code 1\n"


def _engine() -> tuple[Any, Any]:
    """``re._compiler`` and ``_sre``, which ``re`` loads (typeshed describes neither)."""
    import re  # noqa: F401

    return sys.modules["re._compiler"], sys.modules["_sre"]


def arguments(pattern: str | bytes, flags: int) -> tuple[Any, ...]:
    """What ``re._compiler.compile(pattern, flags)`` passes to ``_sre.compile``, as plain values
    (``int`` for the opcodes' named constants and for flags)."""
    _compiler, _sre = _engine()
    seen: list[tuple[Any, ...]] = []

    class _Capture:
        """``_sre`` for the one call: its ``compile`` keeps the arguments."""

        def __getattr__(self, name: str) -> Any:
            return getattr(_sre, name)

        @staticmethod
        def compile(*args: Any) -> Any:
            seen.append(args)
            return _sre.compile(*args)

    real = _compiler._sre
    _compiler._sre = _Capture()
    try:
        _compiler.compile(pattern, flags)
    finally:
        _compiler._sre = real
    (source, final_flags, code, groups, groupindex, indexgroup) = seen[-1]
    return (
        source,
        int(final_flags),
        [int(op) for op in code],
        int(groups),
        {str(name): int(index) for name, index in groupindex.items()},
        tuple(indexgroup),
    )


def capture() -> dict[tuple[str | bytes, int], tuple[Any, ...]]:
    """The arguments for every string pattern in ``re``'s cache (what this process compiled)."""
    import re

    keys: list[Any] = []
    for cache_name in ("_cache", "_cache2"):  # 3.12 added a second cache beside the first
        keys.extend(getattr(re, cache_name, {}))
    table: dict[tuple[str | bytes, int], tuple[Any, ...]] = {}
    for key in keys:
        _, pattern, flags = key
        if isinstance(pattern, (str, bytes)) and (pattern, int(flags)) not in table:
            table[pattern, int(flags)] = arguments(pattern, int(flags))
    return table


def dump(table: dict[tuple[str | bytes, int], tuple[Any, ...]]) -> bytes:
    """The table as its file holds it: ``MAGIC``, then (this interpreter's ``tag``, (pattern,
    flags) -> the arguments marshalled on their own: a run unmarshals only those it uses)."""
    return MAGIC + marshal.dumps((tag(), {key: marshal.dumps(args) for key, args in table.items()}))


def load(data: bytes) -> dict[tuple[str | bytes, int], bytes] | None:
    """The table in a file's bytes (each entry's arguments still marshalled), None unless made
    by this interpreter and well formed."""
    if not data.startswith(MAGIC):
        return None
    try:
        made_for, table = marshal.loads(data[len(MAGIC) :])
    except (ValueError, EOFError, TypeError):
        return None
    if made_for != tag() or not isinstance(table, dict):
        return None
    return table


def install(path: str) -> bool:
    """Give ``re`` the table in ``path`` (False, and nothing changed: no file, not readable,
    damaged, or made for another interpreter)."""
    try:
        with open(path, "rb") as file:
            table = load(file.read())
    except OSError:
        return False
    if table is None:
        return False
    _compiler, _sre = _engine()
    compile_anew = _compiler.compile

    def compile_from_table(pattern: Any, flags: int = 0) -> Any:
        kind = type(pattern)
        if kind is str or kind is bytes:
            recorded = table.get((pattern, flags))
            if recorded is not None:
                try:
                    return _sre.compile(*marshal.loads(recorded))
                except (ValueError, EOFError, TypeError):
                    pass  # a damaged entry: compiled as before
        return compile_anew(pattern, flags)

    _compiler.compile = compile_from_table
    return True
