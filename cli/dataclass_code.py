"""The code of the methods ``dataclasses`` writes, compiled once when the initramfs is built.

``dataclasses`` makes a class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and (frozen)
``__setattr__``/``__delattr__`` by writing their source text and compiling it with ``exec`` as
the class is created: about half a millisecond per class, which for the hundred-odd classes on
the guest path was a third of local-mode ``guest authorize``'s time (the initramfs compiles
them again at every boot, and its interpreter is as slow as the VM).

The hook's payload (``cli/hook_payload.py``) records those texts while its loader imports the
guest path (``recorder``), compiles each one as ``exec`` would (file name ``<string>``, no
inherited ``__future__`` flags) and ships the table, text -> code, marshalled for exactly that
interpreter (``tag``), as ``hook_payload.DATACLASS_CODE`` in the payload's site folder: an
index, then each module's part, read (``pread``) when that module first makes a class. At boot
the initramfs launcher calls ``install`` before anything but the module store and the regular
expressions (``cli/regex_code.py``): ``dataclasses``' own name ``exec`` then takes
the code compiled from the very same text (the table's key is the whole text) instead of
compiling it again; a text that is not in the table is compiled as before. The code is the
same, so is the class. ``verifier/_frozen.py``'s ``positional`` writes its constructors' text
the same way and goes through the same table. Nothing else changes, and outside the initramfs
nothing installs it.
Standard library only: it runs before anything else is imported.
"""

from __future__ import annotations

import builtins
import marshal

# the launcher installed the module store first; its file format and ``tag`` serve here too
from ccverify.cli.module_store import open_packed, pack, tag, unpack_index

TYPE_CHECKING = False  # not typing's: this runs before anything else is imported
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType
    from typing import Any


def compile_text(text: str) -> CodeType:
    """``text`` compiled as ``exec(text)`` compiles it in ``dataclasses`` (whose module has no
    ``__future__`` import, so nothing is inherited: ``dont_inherit``, not this module's)."""
    return compile(text, "<string>", "exec", dont_inherit=True)


def _run(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    builtins.exec(source, globals, locals)


def _module(globals: Any) -> str:
    """The module a class is made in (``dataclasses`` passes the module's globals)."""
    name = globals.get("__name__") if isinstance(globals, dict) else None
    return name if isinstance(name, str) else ""


def recorder() -> dict[str, dict[str, CodeType]]:
    """Make ``dataclasses`` compile through here, keeping each text's code in the table
    returned, by module (module -> text -> code)."""
    import dataclasses

    table: dict[str, dict[str, CodeType]] = {}

    def exec_recording(source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            source = table.setdefault(_module(globals), {}).setdefault(source, compile_text(source))
        _run(source, globals, locals)

    dataclasses.exec = exec_recording  # type: ignore[attr-defined]  # its globals only: the builtin stays
    _frozen().exec = exec_recording
    return table


#: the table file's first bytes
MAGIC = b"ccverify dataclass code 2\n"


def dump(table: dict[str, dict[str, CodeType]]) -> bytes:
    """The table as its file holds it (``module_store.pack``): an index and each module's part
    (text -> code) marshalled on its own, so that a run reads and unmarshals only the parts of
    the modules it imports."""
    return pack(MAGIC, ((module, (), marshal.dumps(texts)) for module, texts in table.items()))


def read_index(data: bytes) -> tuple[str, dict[str, tuple[int, int]]]:
    """``(tag, index)`` of a table file's bytes (tests and tools; ``install`` reads only the head)."""
    return unpack_index(data, MAGIC, "dataclass code table")


def cached_exec(read: Callable[[str], bytes | None]) -> Callable[..., None]:
    """An ``exec`` for ``dataclasses`` that runs the table's code for a text it holds (``read``:
    a module's part, None when the table has none)."""
    loaded: dict[str, dict[str, CodeType]] = {}

    def exec_cached(source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            module = _module(globals)
            texts = loaded.get(module)
            if texts is None:
                part = read(module)
                try:
                    texts = marshal.loads(part) if part is not None else {}
                except (ValueError, EOFError, TypeError):
                    texts = {}  # a damaged part: this module's methods are compiled as before
                loaded[module] = texts if isinstance(texts, dict) else {}
                texts = loaded[module]
            code = texts.get(source)
            if code is not None:
                source = code
        _run(source, globals, locals)

    return exec_cached


def install(path: str) -> bool:
    """Give ``dataclasses`` the table in ``path`` (False, and nothing changed: no file, not
    readable, or made for another interpreter). The file stays open; a module's part is read
    when a class of that module is first made."""
    import os

    try:
        fd, made_for, index, base = open_packed(path, MAGIC, "dataclass code table")
    except (OSError, ValueError):
        return False
    if made_for != tag():
        os.close(fd)
        return False

    def read(module: str) -> bytes | None:
        where = index.get(module)
        if where is None:
            return None
        offset, length = where
        try:
            part = os.pread(fd, length, base + offset)
        except OSError:
            return None
        return part if len(part) == length else None

    import dataclasses

    dataclasses.exec = cached_exec(read)  # type: ignore[attr-defined]
    _frozen().exec = dataclasses.exec  # type: ignore[attr-defined]
    return True


def _frozen() -> Any:
    """``verifier/_frozen.py``, whose ``positional`` writes a constructor's text as
    ``dataclasses`` writes methods: the table holds its compiled code too, by the same key
    (module ``ccverify.verifier._frozen``); imported here, as the guest path imports it anyway."""
    from ccverify.verifier import _frozen

    return _frozen
