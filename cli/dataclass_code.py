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

Each module's part also holds its classes' recipes (``cli/dataclass_snapshot.py``), and then
only the texts that a run still compiles (those of classes without a recipe, and
``positional``'s). ``install`` follows the recipes only when the module store in place was made
by the same build (the build id in both files' heads).
Standard library only: it runs before anything else is imported.
"""

from __future__ import annotations

import builtins
import marshal

# the launcher installed the module store first; its file format and ``tag`` serve here too
from ccverify.cli.module_store import open_packed, pack, tag, unpack_head, unpack_index

TYPE_CHECKING = False  # not typing's: this runs before anything else is imported
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
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


class Recorded:
    """What ``recorder`` gathers while the guest path is imported: each module's method texts
    with their code, and its classes' recipes (``cli/dataclass_snapshot.py``)."""

    def __init__(self) -> None:
        self.texts: dict[str, dict[str, CodeType]] = {}  # module -> text -> code
        self.recipes: dict[str, dict[str, tuple[Any, ...]]] = {}  # module -> qualified name -> recipe
        # the texts run while no class with a recipe was being finished: those the table keeps
        self.needed: set[str] = set()
        self.finishing: list[set[str]] = []  # the texts run for each class being finished

    def modules(self) -> set[str]:
        return set(self.texts) | set(self.recipes)

    def part(self, module: str) -> tuple[dict[str, CodeType], dict[str, tuple[Any, ...]]]:
        """A module's texts (only those a run still compiles) and recipes."""
        texts = {t: c for t, c in self.texts.get(module, {}).items() if t in self.needed}
        return texts, dict(self.recipes.get(module, {}))


def recorder(recipes_for: Callable[[str], bool] = lambda module: True) -> Recorded:
    """Make ``dataclasses`` compile through here and record each class it finishes: the
    methods' texts and code, and (for the modules ``recipes_for`` names) the class's recipe
    (``cli/dataclass_snapshot.py``)."""
    import dataclasses

    from ccverify.cli import dataclass_snapshot

    recorded = Recorded()

    def exec_recording(source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            code = recorded.texts.setdefault(_module(globals), {}).setdefault(source, compile_text(source))
            (recorded.finishing[-1] if recorded.finishing else recorded.needed).add(source)
            source = code
        _run(source, globals, locals)

    original = dataclasses._process_class  # type: ignore[attr-defined]
    recipes = dataclass_snapshot.recorder(original, recorded.recipes)

    def process_recording(cls: type, *args: Any) -> type:
        if not recipes_for(cls.__module__):
            return original(cls, *args)  # type: ignore[no-any-return]
        recorded.finishing.append(set())
        try:
            result = recipes(cls, *args)
        finally:
            texts = recorded.finishing.pop()
        if cls.__qualname__ not in recorded.recipes.get(cls.__module__, {}):
            recorded.needed |= texts  # finished by dataclasses at boot too
        return result

    dataclasses.exec = exec_recording  # type: ignore[attr-defined]  # its globals only: the builtin stays
    dataclasses._process_class = process_recording  # type: ignore[attr-defined]
    _frozen().exec = exec_recording
    return recorded


#: the table file's first bytes
MAGIC = b"ccverify dataclass code 3\n"


def dump(recorded: Recorded, modules: Iterable[str] | None = None, build: str = "") -> bytes:
    """The table as its file holds it (``module_store.pack``): an index and each module's part
    (its texts and recipes) marshalled on its own, so that a run reads and unmarshals only the
    parts of the modules it imports; ``modules``: only those (default all); ``build``: the id
    the module store made with it carries (recipes are followed only with that store)."""
    chosen = sorted(recorded.modules() if modules is None else set(modules) & recorded.modules())
    return pack(MAGIC, ((m, (), marshal.dumps(recorded.part(m))) for m in chosen), build)


def read_index(data: bytes) -> tuple[str, dict[str, tuple[int, int]]]:
    """``(tag, index)`` of a table file's bytes (tests and tools; ``install`` reads only the head)."""
    return unpack_index(data, MAGIC, "dataclass code table")


def read_build(data: bytes) -> str:
    """The build id in a table file's bytes (``hook_payload`` gives it to the module store)."""
    return unpack_head(data, MAGIC, "dataclass code table")[2]


class _Parts:
    """Each module's part of the table, read and unmarshalled when the module first needs it."""

    def __init__(self, read: Callable[[str], bytes | None]) -> None:
        self._read = read
        self._loaded: dict[str, tuple[dict[str, CodeType], dict[str, tuple[Any, ...]]]] = {}

    def __call__(self, module: str) -> tuple[dict[str, CodeType], dict[str, tuple[Any, ...]]]:
        part = self._loaded.get(module)
        if part is None:
            data = self._read(module)
            try:
                part = marshal.loads(data) if data is not None else _EMPTY
            except (ValueError, EOFError, TypeError):
                part = _EMPTY  # a damaged part: this module's classes are made as before
            if not (isinstance(part, tuple) and len(part) == 2 and all(isinstance(p, dict) for p in part)):
                part = _EMPTY
            self._loaded[module] = part
        return part

    def recipes(self, module: str) -> dict[str, tuple[Any, ...]]:
        return self(module)[1]


_EMPTY: tuple[dict[str, CodeType], dict[str, tuple[Any, ...]]] = ({}, {})


def cached_exec(parts: Callable[[str], tuple[dict[str, CodeType], Any]]) -> Callable[..., None]:
    """An ``exec`` for ``dataclasses`` that runs the table's code for a text it holds (``parts``:
    a module's part, empty when the table has none)."""

    def exec_cached(source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            code = parts(_module(globals))[0].get(source)
            if code is not None:
                source = code
        _run(source, globals, locals)

    return exec_cached


def install(path: str) -> bool:
    """Give ``dataclasses`` the table in ``path`` (False, and nothing changed: no file, not
    readable, or made for another interpreter). The file stays open; a module's part is read
    when a class of that module is first made. The recipes are followed only when the module
    store in place was made by the same build (``module_store.BUILD``)."""
    import os

    from ccverify.cli import module_store

    try:
        fd, made_for, index, base, build = open_packed(path, MAGIC, "dataclass code table")
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

    parts = _Parts(read)
    dataclasses.exec = cached_exec(parts)  # type: ignore[attr-defined]
    _frozen().exec = dataclasses.exec  # type: ignore[attr-defined]
    if build and build == module_store.BUILD:
        from ccverify.cli.dataclass_snapshot import fast_process_class

        original = dataclasses._process_class  # type: ignore[attr-defined]
        dataclasses._process_class = fast_process_class(parts.recipes, original)  # type: ignore[attr-defined]
    return True


def _frozen() -> Any:
    """``verifier/_frozen.py``, whose ``positional`` writes a constructor's text as
    ``dataclasses`` writes methods: the table holds its compiled code too, by the same key
    (module ``ccverify.verifier._frozen``); imported here, as the guest path imports it anyway."""
    from ccverify.verifier import _frozen

    return _frozen
