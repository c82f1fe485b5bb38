"""Hash the kernel and initrd while the ``measure`` command is still starting up.

The command spends its time in two independent places: starting up (the interpreter, typer
and our modules: about as long as hashing 100 MiB) and SHA-256/384 over the kernel and initrd
(one core each; hashlib releases the GIL). So the console entry point, before it imports
anything else, names the files its arguments point at (:func:`start`) and daemon threads
hash them while the main thread imports. When the measurement later hashes the same file
with the same algorithms, :func:`take` hands that work over (waiting for the rest) instead of
reading the file again.

A hand-over happens only when the file is the same one: its device, inode, size and
modification time are those it had when hashing began, both when it is handed over and
after the last byte was read. Otherwise (a file replaced or written to meanwhile, an
unreadable file) the caller hashes it itself, as without prefetching, and reports any error
in its own words. Either way the digest is of the file as it was while the command ran, which
is all that streaming it later would promise too. Work that nothing takes is abandoned at
exit (a daemon thread).
This module imports only the standard library: it runs before everything else.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable, Sequence

__all__ = ["Prefetched", "start", "take"]

CHUNK_SIZE = 4 << 20  # fewer GIL hand-backs per file while the main thread imports
#: while prefetch threads run, the main thread (importing) yields the GIL this often (s), so
#: a hashing thread gets it back quickly between its GIL-free 1 MiB updates
_SWITCH_INTERVAL = 0.0005

_Identity = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


def _identity(path: str) -> _Identity | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Prefetched:
    """Hashing of one file with some algorithms, running in a daemon thread."""

    def __init__(self, path: str, algorithms: tuple[str, ...], identity: _Identity) -> None:
        self.path = path
        self.algorithms = algorithms
        self.identity = identity
        self.done_bytes = 0
        self.digests: dict[str, bytes] | None = None  # set on success
        self.finished = threading.Event()
        self.handed_over = 0  # times wait() returned the digests

    def run(self) -> None:
        try:
            hashers = [hashlib.new(name) for name in self.algorithms]
            buffer = bytearray(CHUNK_SIZE)
            view = memoryview(buffer)
            with open(self.path, "rb", buffering=0) as stream:
                while got := stream.readinto(buffer):
                    chunk = view[:got]
                    for hasher in hashers:
                        hasher.update(chunk)
                    self.done_bytes += got
            if _identity(self.path) == self.identity and self.done_bytes == self.identity[2]:
                self.digests = {name: h.digest() for name, h in zip(self.algorithms, hashers, strict=True)}
        except (OSError, ValueError):
            pass  # the taker hashes the file itself and reports the error
        finally:
            self.finished.set()
            _job_finished()

    def wait(self, advance: Callable[[int], None]) -> tuple[int, dict[str, bytes]] | None:
        """``(size, digests)`` once done, reporting progress; ``None``: hash it yourself."""
        reported = 0
        while not self.finished.wait(0.05):
            done = self.done_bytes
            advance(done - reported)
            reported = done
        if self.digests is None or _identity(self.path) != self.identity:
            if reported:
                advance(-reported)  # the caller hashes it again from the start
            return None
        advance(self.done_bytes - reported)
        self.handed_over += 1
        return self.done_bytes, self.digests


_JOBS: dict[tuple[int, int, tuple[str, ...]], Prefetched] = {}
_LOCK = threading.Lock()
_running = 0
_saved_interval: float | None = None


def _job_finished() -> None:
    global _running, _saved_interval
    with _LOCK:
        _running -= 1
        if _running == 0 and _saved_interval is not None:
            sys.setswitchinterval(_saved_interval)
            _saved_interval = None


def start(files: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Begin hashing each ``(path, algorithms)`` (regular files only), one after the other in
    one daemon thread: the main thread, importing, keeps the other core (two hashing threads
    and an importing one on a two-core machine only slowed each other down)."""
    global _running, _saved_interval
    queue: list[Prefetched] = []
    for path, algorithms in files:
        names = tuple(algorithms)
        identity = _identity(path)
        if identity is None or not os.path.isfile(path):
            continue
        key = (identity[0], identity[1], names)
        with _LOCK:
            if key in _JOBS:
                continue
            job = _JOBS[key] = Prefetched(path, names, identity)
            _running += 1
            if _saved_interval is None:
                _saved_interval = sys.getswitchinterval()
                sys.setswitchinterval(_SWITCH_INTERVAL)
        queue.append(job)
    if queue:
        threading.Thread(target=_run_all, args=(queue,), name="ccverify prefetch", daemon=True).start()


def _run_all(queue: list[Prefetched]) -> None:
    for job in queue:
        job.run()


def take(path: str | os.PathLike[str], algorithms: Sequence[str]) -> Prefetched | None:
    """The prefetch of this very file with exactly these algorithms, if one was started."""
    if not _JOBS:
        return None
    identity = _identity(os.fspath(path))
    if identity is None:
        return None
    job = _JOBS.get((identity[0], identity[1], tuple(algorithms)))
    return job if job is not None and job.identity == identity else None


def clear() -> None:
    """Forget every prefetch (tests); running threads finish on their own."""
    with _LOCK:
        _JOBS.clear()
