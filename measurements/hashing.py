"""Streaming file hashing: fixed-size chunks, several digests per pass, files in parallel.

Kernels and initrds can be hundreds of MiB; they are never read whole. Each file is read in
``CHUNK_SIZE`` pieces into one reused buffer and every requested hash object is fed the same
``memoryview`` slice, so peak memory is a few MiB whatever the file size. hashlib releases
the GIL while it hashes more than 2 KiB, so hashing the kernel and the initrd in two threads
really runs on two cores.

A file the ``measure`` command's entry point began hashing at start-up (``prefetch.py``) is
handed over instead of read again, when it is still the same file.

A progress bar (rich.progress) is shown on stderr only when stderr is a terminal and the
work is large enough to be worth one; stdout (where JSON goes) is never touched.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ccverify.measurements import prefetch
from ccverify.verifier.errors import InputError
from ccverify.verifier.limits import read_bounded

if TYPE_CHECKING:
    from rich.progress import Progress

CHUNK_SIZE = 1 << 20
#: below this many bytes in total no progress bar is shown
PROGRESS_THRESHOLD = 64 << 20

T = TypeVar("T")

#: a file on disk or bytes already in memory
Source = Path | str | bytes | bytearray | memoryview

Advance = Callable[[int], None]
#: what :func:`open_source` returns
Stream = io.FileIO | io.BytesIO


def _noop(_: int) -> None:
    return None


@dataclass(frozen=True)
class FileDigests:
    """Digests of one input: ``digests`` maps hashlib algorithm names to raw digests."""

    name: str
    size: int
    digests: dict[str, bytes]

    def __getitem__(self, algorithm: str) -> bytes:
        return self.digests[algorithm]


def source_name(source: Source) -> str:
    return str(source) if isinstance(source, (str, Path)) else "<bytes>"


def source_size(source: Source) -> int:
    if isinstance(source, (str, Path)):
        try:
            return os.stat(source).st_size
        except OSError as error:
            raise InputError(f"{source}: {error.strerror or error}") from None
    return len(source)


def open_source(source: Source) -> Stream:
    """A binary file object over ``source`` (an unbuffered file, or a BytesIO over bytes).

    Only a regular file: images are read by offset, and a FIFO (opened without blocking, so one
    without a writer cannot hang the open) or a device such as ``/dev/zero`` is refused at once.
    """
    if isinstance(source, (str, Path)):
        try:
            fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        except OSError as error:
            raise InputError(f"{source}: {error.strerror or error}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(f"{source}: not a regular file (an image is read by offset)")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return open(fd, "rb", buffering=0)
    return io.BytesIO(source)


def feed_range(
    stream: Stream,
    start: int,
    length: int,
    hashers: Sequence[Any],
    buffer: bytearray,
    advance: Advance = _noop,
) -> int:
    """Feed ``length`` bytes of ``stream`` from ``start`` to every hasher; returns bytes fed.

    Stops early (returning fewer bytes) only at the end of the stream.
    """
    view = memoryview(buffer)
    stream.seek(start)
    done = 0
    while done < length:
        want = min(len(buffer), length - done)
        got = stream.readinto(view[:want])
        if not got:
            break
        chunk = view[:got]
        for hasher in hashers:
            hasher.update(chunk)
        done += got
        advance(got)
    return done


def hash_source(
    source: Source,
    algorithms: Iterable[str] = ("sha256",),
    *,
    advance: Advance = _noop,
    chunk_size: int = CHUNK_SIZE,
) -> FileDigests:
    """Digests of the whole of ``source`` in one streaming pass."""
    names = tuple(algorithms)
    if isinstance(source, (bytes, bytearray, memoryview)):
        digests = {name: hashlib.new(name, source).digest() for name in names}
        advance(len(source))
        return FileDigests("<bytes>", len(source), digests)
    handed = prefetch.take(source, names)
    if handed is not None:
        done = handed.wait(advance, source)
        if done is not None:
            return FileDigests(source_name(source), done[0], done[1])
    hashers = [hashlib.new(name) for name in names]
    buffer = bytearray(chunk_size)
    try:
        with open_source(source) as stream:
            size = feed_range(stream, 0, 1 << 62, hashers, buffer, advance)
    except OSError as error:
        raise InputError(f"{source}: {error.strerror or error}") from None
    return FileDigests(
        source_name(source), size, {name: h.digest() for name, h in zip(names, hashers, strict=True)}
    )


def _want_progress(total: int, show: bool | None) -> bool:
    if show is not None:
        return show
    return total >= PROGRESS_THRESHOLD and sys.stderr.isatty()


def _make_progress() -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@dataclass(frozen=True)
class Job:
    """One unit of concurrent hashing work: ``run(advance)`` over ``size`` bytes."""

    label: str
    size: int
    run: Callable[[Advance], Any]


def run_jobs(jobs: Sequence[Job], *, show_progress: bool | None = None) -> list[Any]:
    """Run the jobs in parallel threads (one each); results in the order given.

    Exceptions raised by a job propagate (the first one, in job order).
    """
    if not jobs:
        return []
    total = sum(job.size for job in jobs)
    if _want_progress(total, show_progress):
        progress = _make_progress()
        with progress:
            tasks = [progress.add_task(job.label, total=max(job.size, 1)) for job in jobs]

            def advancer(task: Any) -> Advance:
                return lambda n: progress.update(task, advance=n)

            return _run([(job, advancer(task)) for job, task in zip(jobs, tasks, strict=True)])
    return _run([(job, _noop) for job in jobs])


def _run(pairs: list[tuple[Job, Advance]]) -> list[Any]:
    """The first job in this thread, each other one in a thread of its own (plain threads:
    concurrent.futures would add its import, and logging's, to the measure command)."""
    outcomes: list[tuple[bool, Any]] = [(False, None)] * len(pairs)

    def work(index: int) -> None:
        job, advance = pairs[index]
        try:
            outcomes[index] = (True, job.run(advance))
        except BaseException as error:  # re-raised in the caller, in job order
            outcomes[index] = (False, error)

    threads: list[threading.Thread] = []
    try:
        for index in range(1, len(pairs)):
            thread = threading.Thread(target=work, args=(index,))
            thread.start()
            threads.append(thread)
        work(0)
    finally:  # whatever happened here, no job outlives the call
        for thread in threads:
            thread.join()
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]


def file_job(label: str, source: Source, algorithms: Sequence[str]) -> Job:
    """A :class:`Job` hashing the whole of ``source`` with ``algorithms``."""
    names = tuple(algorithms)

    def run(advance: Advance) -> FileDigests:
        return hash_source(source, names, advance=advance)

    return Job(label, source_size(source), run)


def hash_files(
    sources: Sequence[tuple[Source, Sequence[str]]], *, show_progress: bool | None = None
) -> list[FileDigests]:
    """Hash several inputs concurrently; each with its own algorithms."""
    jobs = [file_job(Path(source_name(src)).name, src, algs) for src, algs in sources]
    return run_jobs(jobs, show_progress=show_progress)


def read_small(source: Source, what: str) -> bytes:
    """Read a firmware-sized input whole (firmware is measured page by page anyway), at most
    ``verifier/limits.py``'s firmware limit (256 MiB)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    return read_bounded(source, "firmware", what)
