"""Hash the kernel and initrd while the ``measure`` command is still starting up.

The command spends its time in two independent places: starting up (the interpreter and our
modules) and SHA-256/384 over the kernel and initrd (one core each; hashlib releases the
GIL). So the console entry point, before it imports anything else, names the files its
arguments point at (:func:`start`) and a daemon thread hashes them, largest first, while the
main thread goes on; once the command is sure to measure, the main thread hashes what the
thread has not begun (:func:`assist`) before its imports. When the measurement later hashes
the same file with the same algorithms, :func:`take` hands that work over (waiting for the
rest) instead of reading the file again; a file whose hashing has not begun yet is left to the
taker, who hashes it at once (so a prefetch queued behind a wrongly guessed file delays
nothing).

A hand-over happens only when the file is the same one. Its identity (device, inode, size,
modification and change times) is taken when prefetching is asked for; the file descriptor
the thread opens must have that identity (the name may point at another file by then), and
still have it after the last byte was read; and the taker's path must still name a file with
that identity when it is handed over. Otherwise (a file replaced or written to meanwhile, an
unreadable file, a FIFO or device under that name, any failure in the thread) the caller
hashes it itself, as without prefetching, and reports any error in its own words. Either way
the digest is of the file as it was while the command ran, which is all that streaming it
later would promise too (a writer changing a file in place within one tick of the file
system's clock, same size, is not seen by either). Work that nothing takes is abandoned at
exit (a daemon thread).
This module imports only the standard library: it runs before everything else.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
from collections.abc import Callable, Sequence

__all__ = ["Prefetched", "assist", "start", "take"]

CHUNK_SIZE = 4 << 20  # fewer GIL hand-backs per file while the main thread imports
#: while prefetching runs, the main thread (importing) yields the GIL this often (s), so
#: the hashing thread gets it back quickly between its GIL-free CHUNK_SIZE updates
_SWITCH_INTERVAL = 0.0001
#: how often (s) a taker waiting for a running prefetch reports its progress
_POLL = 0.05

_Identity = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns

_QUEUED, _RUNNING, _DONE = "queued", "running", "done"


def _identity_of(st: os.stat_result) -> _Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _identity(path: str) -> _Identity | None:
    """The identity of the regular file ``path`` names (through symlinks), else ``None``."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the name, unencodable names
        return None
    return _identity_of(st) if stat.S_ISREG(st.st_mode) else None


class Prefetched:
    """Hashing of one file with some algorithms, run by the prefetch thread."""

    def __init__(self, path: str, algorithms: tuple[str, ...], identity: _Identity) -> None:
        self.path = path
        self.algorithms = algorithms
        self.identity = identity
        self.done_bytes = 0
        self.digests: dict[str, bytes] | None = None  # set on success, before `finished`
        self.finished = threading.Event()
        self.handed_over = 0  # times wait() returned the digests
        self._state = _QUEUED  # under _LOCK: queued -> running -> done, or queued -> done

    def run(self) -> None:
        """Hash the file, unless a taker claimed it first; never raises."""
        with _LOCK:
            if self._state != _QUEUED:
                return
            self._state = _RUNNING
        try:
            self.digests = self._hash()
        except Exception:  # any failure (MemoryError, an algorithm that cannot be used...):
            self.digests = None  # the taker hashes the file itself and words the error
        finally:
            self._finish()

    def _hash(self) -> dict[str, bytes] | None:
        hashers = [hashlib.new(name) for name in self.algorithms]
        # O_NONBLOCK: should the name now be a FIFO, opening it must not wait for a writer
        # (nor read what the taker will read); the identity check below turns it away
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb", buffering=0) as stream:
            if _identity_of(os.fstat(fd)) != self.identity:
                return None  # not the file named at start (replaced meanwhile)
            os.set_blocking(fd, True)
            buffer = bytearray(CHUNK_SIZE)
            view = memoryview(buffer)
            while got := stream.readinto(buffer):
                chunk = view[:got]
                for hasher in hashers:
                    hasher.update(chunk)
                self.done_bytes += got
            if _identity_of(os.fstat(fd)) != self.identity or self.done_bytes != self.identity[2]:
                return None  # written to while it was read
        return {name: h.digest() for name, h in zip(self.algorithms, hashers, strict=True)}

    def _finish(self, only_if_queued: bool = False) -> bool:
        """Mark the job done, once (``only_if_queued``: only if it has not begun); ``True`` if
        this call did. The last job done restores the switch interval."""
        global _running, _saved_interval
        with _LOCK:
            if self._state == _DONE or (only_if_queued and self._state != _QUEUED):
                return False
            self._state = _DONE
            _running -= 1
            if _running == 0 and _saved_interval is not None:
                sys.setswitchinterval(_saved_interval)
                _saved_interval = None
        self.finished.set()
        return True

    def wait(
        self, advance: Callable[[int], None], path: str | os.PathLike[str] | None = None
    ) -> tuple[int, dict[str, bytes]] | None:
        """``(size, digests)`` once done, reporting progress; ``None``: hash it yourself.

        ``path`` is the name the caller hashes (by default the one prefetched): it must still
        name this file. A job not begun yet is given up, so the caller starts at once.
        """
        if self._finish(only_if_queued=True):
            return None
        reported = 0
        while not self.finished.wait(_POLL):
            done = self.done_bytes
            advance(done - reported)
            reported = done
        digests = self.digests
        name = self.path if path is None else os.fspath(path)
        if digests is None or _identity(name) != self.identity:
            if reported:
                advance(-reported)  # the caller hashes it again from the start
            return None
        advance(self.done_bytes - reported)
        self.handed_over += 1
        return self.done_bytes, dict(digests)


_JOBS: dict[tuple[int, int, tuple[str, ...]], Prefetched] = {}
_LOCK = threading.Lock()
_running = 0  # jobs not done
_saved_interval: float | None = None


def start(files: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Begin hashing each ``(path, algorithms)`` (regular files only), one after the other in
    one daemon thread: the main thread, importing, keeps the other core (two hashing threads
    and an importing one on a two-core machine only slowed each other down). Never raises
    for a path it cannot use (it skips it)."""
    global _running, _saved_interval
    queue: list[Prefetched] = []
    for path, algorithms in files:
        names = tuple(algorithms)
        identity = _identity(path)
        if identity is None:
            continue  # missing, not a regular file (a FIFO would block and lose its data)
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
    # largest first: the file left to a taker or to assist() is then the shorter one
    queue.sort(key=lambda job: job.identity[2], reverse=True)
    if queue:
        try:
            threading.Thread(target=_run_all, args=(queue,), name="ccverify prefetch", daemon=True).start()
        except Exception:  # RuntimeError: can't start new thread
            for job in queue:
                job._finish()  # takers hash the files themselves


def assist() -> None:
    """Hash, in the calling thread, every job the prefetch thread has not begun, smallest
    first (the thread then skips them), and return when they are done.

    For a caller whose next work would compete for the GIL: two GIL-free hashes share two
    cores without contention, and the imports that follow overlap the rest of the thread's
    file. The console entry hashes the kernel so while the thread hashes the initrd.
    """
    with _LOCK:
        jobs = sorted(_JOBS.values(), key=lambda job: job.identity[2])
    for job in jobs:
        job.run()  # returns at once for a job begun or done


def _run_all(queue: list[Prefetched]) -> None:
    try:
        for job in queue:
            job.run()
    finally:
        for job in queue:
            job._finish()  # whatever happened, no taker waits for a job that will not run


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
