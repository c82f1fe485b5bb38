"""The initramfs payload's Python modules in one file, found without searching a file system.

Python finds a module by asking each folder on ``sys.path`` in turn (a listing per folder, then
a ``stat``, ``open``, ``read`` and ``close`` of the ``.pyc``): for the ~200 modules under the
payload's site folder that local-mode ``guest authorize`` imports, a twentieth of its start-up
on the host and more under an emulated CPU, where every system call is slow. The hook's payload
(``cli/hook_payload.py``) therefore writes the code of every module it would have put under
its site folder into one file, ``hook_payload.MODULE_STORE``: an index (module name -> where
its code is, the file it stands for, whether it is a package) and the modules' code,
marshalled by the interpreter the initramfs runs (``tag``). At boot the launcher calls
``install`` before anything else: a finder first on ``sys.meta_path`` answers for the names in
the index, with one ``pread`` of the module's code; every other name (the standard library, a
module the store does not hold) is found as before.

The store holds the standard library's modules the guest commands import too, under their
files' absolute places, instead of those files (but ``hook_payload.STARTUP``: what the
interpreter reads before any launcher runs and this module's own ``__future__`` import stay
files); a module this interpreter has frozen is left to its frozen copy.

A stored module looks as it would from its ``.pyc``: ``__file__`` and ``__spec__.origin`` name
that file's place (relative to the store's folder, so a copy of the payload elsewhere works),
packages search their folder for submodules the store does not hold, and
``importlib.resources`` reads a package's data files from its folder (certifi's CA bundle, the
pinned roots), which the payload still ships as files. Only the ``.pyc`` files themselves are
gone. A store that cannot be read, or was made for another interpreter, stops the command with
a message (the ``.pyc`` files it replaces would fail the same way): rebuild the initramfs.

Standard library only, and only what the interpreter has loaded before any import (``sys``,
``marshal``, ``posix``): it runs first.
"""

from __future__ import annotations

import _imp
import marshal
import os
import sys

TYPE_CHECKING = False  # not typing's: this runs before anything else is imported
if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import ModuleType
    from typing import Any, NoReturn

#: the store's first bytes
MAGIC = b"ccverify module store 2\n"


def tag() -> str:
    """What compiled code is valid for: this interpreter (its bytecode, its version) and its
    optimisation level (``-O`` strips asserts from the compiled code). The store's and the
    dataclass-code table's (``cli/dataclass_code.py``)."""
    return f"{sys.implementation.cache_tag} {sys.version} O{sys.flags.optimize}"


# The file format both this store and the dataclass-code table use: ``magic``, the head's
# length (8 bytes, little-endian), the head (``marshal``: this interpreter's ``tag``, an index,
# name -> (*what the format records, offset, size), and the build's id), then the blobs the
# index points into (offsets from the end of the head): a run reads the head, then only the
# blobs it uses. The build id ties files made together: the dataclass table's recipes are
# followed only with the store they were recorded from (``cli/dataclass_snapshot.py``).

#: the build id of the store ``install`` put in place ("" before, or for a store without one)
BUILD = ""


def pack(magic: bytes, entries: Iterable[tuple[str, tuple[Any, ...], bytes]], build: str = "") -> bytes:
    """The file for ``(name, what the format records of it, blob)`` entries (a name given twice
    is a ``ValueError``), made by build ``build``."""
    index: dict[str, tuple[Any, ...]] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, recorded, blob in entries:
        if name in index:
            raise ValueError(f"{name} given twice")
        index[name] = (*recorded, offset, len(blob))
        blobs.append(blob)
        offset += len(blob)
    head = marshal.dumps((tag(), index, build))
    return magic + len(head).to_bytes(8, "little") + head + b"".join(blobs)


def unpack_index(data: bytes, magic: bytes, what: str) -> tuple[str, dict[str, Any]]:
    """``(tag, index)`` of a packed file's bytes (tests and tools; a run reads only the head);
    ``what`` names the format in an error."""
    made_for, index, _build = unpack_head(data, magic, what)
    return made_for, index


def unpack_head(data: bytes, magic: bytes, what: str) -> tuple[str, dict[str, Any], str]:
    """``(tag, index, build id)`` of a packed file's bytes (tests and tools)."""
    if not data.startswith(magic):
        raise ValueError(f"not a {what}")
    size = int.from_bytes(data[len(magic) : len(magic) + 8], "little")
    made_for, index, build = marshal.loads(data[len(magic) + 8 : len(magic) + 8 + size])
    return made_for, index, build


def open_packed(path: str, magic: bytes, what: str) -> tuple[int, str, dict[str, Any], int, str]:
    """``(descriptor, tag, index, where the blobs start, build id)`` of the packed file at
    ``path``, its head read with two ``pread``s; the file stays open. ``OSError`` if it cannot
    be opened; ``ValueError`` (the descriptor closed) if it is not such a file (``what`` names
    the format)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        start = os.pread(fd, len(magic) + 8, 0)
        if len(start) != len(magic) + 8 or not start.startswith(magic):
            raise ValueError(f"not a {what}")
        size = int.from_bytes(start[len(magic) :], "little")
        made_for, index, build = marshal.loads(os.pread(fd, size, len(magic) + 8))
        if not isinstance(index, dict) or not isinstance(build, str):
            raise ValueError("its index is not a table")
    except (OSError, ValueError, EOFError, TypeError) as error:
        os.close(fd)
        raise ValueError(str(error) or type(error).__name__) from None
    return fd, made_for, index, len(magic) + 8 + size, build


def dump(modules: Iterable[tuple[str, str, bool, bytes]], build: str = "") -> bytes:
    """The store's bytes for ``(name, file, is_package, marshalled code)`` entries, ``file``
    relative to the folder the store will be in, made by build ``build``."""
    try:
        entries = ((name, (file, is_package), code) for name, file, is_package, code in modules)
        return pack(MAGIC, entries, build)
    except ValueError as error:
        raise ValueError(f"module {error}") from None


def read_index(data: bytes) -> tuple[str, dict[str, tuple[str, bool, int, int]]]:
    """``(tag, index)`` of a store's bytes (tests and tools: ``install`` reads only the head)."""
    return unpack_index(data, MAGIC, "ccverify module store")


class _Store:
    """The finder and loader of the modules in one store file (kept open for the process)."""

    def __init__(self, fd: int, base: int, folder: str, index: dict[str, tuple[str, bool, int, int]]) -> None:
        self._fd = fd
        self._base = base
        self._folder = folder
        self._index = index

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        entry = self._index.get(name)
        if entry is None:
            return None
        file, is_package = entry[0], entry[1]
        if file.startswith("/") and _imp.is_frozen(name):
            return None  # a standard-library module this interpreter has frozen: faster still
        origin = os.path.join(self._folder, file)
        # importlib's own ModuleSpec (importing importlib.machinery here would recurse)
        spec = sys.modules["_frozen_importlib"].ModuleSpec(name, self, origin=origin, is_package=is_package)
        spec.has_location = True  # so __file__ is set, as for a .pyc
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec: Any) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        _file, _package, offset, size = self._index[module.__name__]
        data = os.pread(self._fd, size, self._base + offset)
        if len(data) != size:
            raise ImportError(
                f"ccverify module store: {module.__name__}'s code is cut short", name=module.__name__
            )
        exec(marshal.loads(data), module.__dict__)

    def get_resource_reader(self, name: str) -> Any:
        """A package's data files, from its folder (``importlib.resources.files``)."""
        entry = self._index.get(name)
        if entry is None or not entry[1]:
            return None
        return _FolderReader(os.path.dirname(os.path.join(self._folder, entry[0])))


class _FolderReader:
    """``importlib.resources``' reader for a stored package: the files in its folder."""

    def __init__(self, folder: str) -> None:
        self._folder = folder

    def files(self) -> Any:
        import pathlib

        return pathlib.Path(self._folder)


def _refuse(message: str) -> NoReturn:
    sys.stderr.write(f"ccverify: {message}\n")
    raise SystemExit(2)


def install(path: str) -> None:
    """Put the store in ``path`` first on ``sys.meta_path``; a store that cannot be read or was
    made for another interpreter exits with a message (status 2)."""
    try:
        fd, made_for, index, base, build = open_packed(path, MAGIC, "ccverify module store")
    except OSError as error:
        _refuse(f"cannot open the module store {path}: {error.strerror}")
    except ValueError as error:
        _refuse(f"the module store {path} cannot be read ({error}): rebuild the initramfs")
    if made_for != tag():
        os.close(fd)
        _refuse(
            f"the module store {path} was made for {made_for!r}, not this interpreter ({tag()!r}): "
            "rebuild the initramfs"
        )
    sys.meta_path.insert(0, _Store(fd, base, os.path.dirname(os.path.abspath(path)), index))
    global BUILD
    BUILD = build
