"""Start-up prefetching for ``ccverify measure``: what is prefetched, and that only the same
file's digests are ever handed over."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccverify.cli.entry import prefetch_plan
from ccverify.measurements import prefetch
from ccverify.measurements.hashing import hash_files, hash_source
from ccverify.verifier.errors import InputError
from tests.cli_json import envelope_result
from tests.conftest import fixture

K, I = "/k/vmlinuz", "/k/initrd.img"  # noqa: E741


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    prefetch.clear()
    interval = sys.getswitchinterval()
    yield
    _wait_all()
    prefetch.clear()
    assert sys.getswitchinterval() == interval  # restored by the last job done, however it ended


def _wait_all() -> None:
    for job in list(prefetch._JOBS.values()):
        assert job.finished.wait(30)


def _sparse(path: Path, size: int) -> Path:
    """A file that takes a while to hash (no disk space used): keeps the prefetch thread busy."""
    with path.open("wb") as out:
        out.truncate(size)
    return path


BUSY = 128 << 20  # a sparse file this large keeps the thread hashing for some tens of milliseconds


@pytest.mark.parametrize(
    ("argv", "plan"),
    [
        (["measure", "snp", "--kernel", K, "--initrd", I], [(K, ("sha256",)), (I, ("sha256",))]),
        (["measure", "snp", f"--kernel={K}", f"--initrd={I}"], [(K, ("sha256",)), (I, ("sha256",))]),
        (["measure", "snp", "--kernel", "/old", "--kernel", K], [(K, ("sha256",))]),
        (["measure", "tdx", "--firmware", "f", "--kernel", K, "--initrd", I], [(I, ("sha384",))]),
        (["measure", "tdx", "--kernel", K], []),
        (["measure", "snp", "--initrd", I], []),  # no kernel: the initrd is not measured
        (["measure", "snp", "--kernel", K, "--help"], []),
        (["measure", "snp", "--", "--kernel", K], []),
        (["measure", "snp", "--kernel"], []),
        (["measure", "snp", "--kernel=", "--initrd", I], [("", ("sha256",)), (I, ("sha256",))]),
        # values that look like options: click takes them as values too (a guess, not a must)
        (["measure", "snp", "--kernel", "--initrd", "x"], [("--initrd", ("sha256",))]),
        (["measure", "snp", "--cmdline", "--kernel", "--kernel", K], [("--kernel", ("sha256",))]),
        (["measure", "snp", "--kernel", K, "--kernel=/new"], [("/new", ("sha256",))]),
        (["measure", "snp", "--kernel", K, "--", "--initrd", I], [(K, ("sha256",))]),
        (["verify", "--kernel", K], []),
        (["measure"], []),
        ([], []),
    ],
)
def test_plan(argv: list[str], plan: list[tuple[str, tuple[str, ...]]]) -> None:
    assert prefetch_plan(argv) == plan


def test_a_prefetched_file_is_handed_over_with_its_digests(tmp_path: Path) -> None:
    data = os.urandom(3 * prefetch.CHUNK_SIZE + 123)
    path = tmp_path / "initrd"
    path.write_bytes(data)
    prefetch.start([(str(path), ("sha256", "sha384"))])
    _wait_all()
    seen: list[int] = []
    result = hash_source(path, ("sha256", "sha384"), advance=seen.append)
    expected = {"sha256": hashlib.sha256(data).digest(), "sha384": hashlib.sha384(data).digest()}
    assert result.digests == expected
    assert result.size == len(data) and sum(seen) == len(data)
    job = prefetch.take(path, ("sha256", "sha384"))
    assert job is not None and job.handed_over == 1


def test_other_algorithms_are_not_handed_over(tmp_path: Path) -> None:
    path = tmp_path / "initrd"
    path.write_bytes(b"abc")
    prefetch.start([(str(path), ("sha256",))])
    _wait_all()
    assert prefetch.take(path, ("sha384",)) is None
    assert hash_source(path, ("sha384",))["sha384"] == hashlib.sha384(b"abc").digest()


@pytest.mark.parametrize("how", ["replaced", "grown"])
def test_a_file_changed_after_prefetching_is_hashed_again(tmp_path: Path, how: str) -> None:
    path = tmp_path / "kernel"
    path.write_bytes(b"old contents")
    prefetch.start([(str(path), ("sha256",))])
    _wait_all()
    if how == "replaced":  # a new inode under the same name, same size
        (tmp_path / "new").write_bytes(b"new contents")
        os.replace(tmp_path / "new", path)
    else:
        path.write_bytes(b"old contents, and more")
    assert prefetch.take(path, ("sha256",)) is None
    assert hash_source(path, ("sha256",))["sha256"] == hashlib.sha256(path.read_bytes()).digest()


def test_nothing_is_started_for_missing_files_or_directories(tmp_path: Path) -> None:
    prefetch.start([(str(tmp_path / "missing"), ("sha256",)), (str(tmp_path), ("sha256",))])
    assert prefetch._JOBS == {}


def test_the_same_file_twice_is_hashed_once(tmp_path: Path) -> None:
    path = tmp_path / "same"
    path.write_bytes(b"x" * 10)
    prefetch.start([(str(path), ("sha256",)), (str(path), ("sha256",))])
    _wait_all()
    assert len(prefetch._JOBS) == 1


def _entry(args: list[str], prefetching: bool, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The console entry point, as installed, in a child process."""
    env = {**os.environ, "CCVERIFY_NO_PREFETCH": "" if prefetching else "1"}
    return subprocess.run(
        [sys.executable, "-m", "ccverify.cli.entry", *args],
        capture_output=True, text=True, env=env, check=False, cwd=cwd,
    )  # fmt: skip


SNP = ["measure", "snp", "--firmware", str(fixture("ovmf/ovmf_AmdSev_suffix.bin")), "--vcpus", "2",
       "--vcpu-type", "EPYC-v4", "--guest-features", "0x1"]  # fmt: skip


def _measure(
    tmp_path: Path, prefetching: bool, extra: list[str] | None = None, cwd: Path | None = None
) -> dict[str, object]:
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd.img"
    if not kernel.exists():
        kernel.write_bytes(os.urandom(5 << 20))
        initrd.write_bytes(os.urandom(9 << 20))
    if extra is None:
        extra = ["--kernel", str(kernel), "--initrd", str(initrd), "--cmdline", "quiet"]
    done = _entry([*SNP, *extra, "--json"], prefetching, cwd)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return envelope_result(done.stdout, "measure snp")


def test_the_console_entry_gives_the_same_measurement_with_and_without_prefetching(tmp_path: Path) -> None:
    with_prefetch, without = _measure(tmp_path, True), _measure(tmp_path, False)
    assert with_prefetch == without
    components = with_prefetch["components"]
    assert isinstance(components, dict)
    initrd = (tmp_path / "initrd.img").read_bytes()
    assert components["initrd"]["sha256"] == hashlib.sha256(initrd).hexdigest()


def test_the_same_file_as_kernel_and_initrd_gives_the_same_measurement(tmp_path: Path) -> None:
    _measure(tmp_path, False)
    same = ["--kernel", str(tmp_path / "vmlinuz"), "--initrd", str(tmp_path / "vmlinuz")]
    assert _measure(tmp_path, True, same) == _measure(tmp_path, False, same)


def test_a_wrong_guess_of_the_arguments_costs_only_work(tmp_path: Path) -> None:
    """``--cmdline --kernel --kernel K``: click's cmdline is "--kernel" and its kernel K; the scan
    guesses the kernel is the file named "--kernel" (there is one here) and prefetches it."""
    _measure(tmp_path, False)
    (tmp_path / "--kernel").write_bytes(b"not the kernel")
    guessed = ["--cmdline", "--kernel", "--kernel", "vmlinuz", "--initrd", "initrd.img"]
    assert prefetch_plan([*SNP, *guessed]) == [("--kernel", ("sha256",)), ("initrd.img", ("sha256",))]
    with_prefetch = _measure(tmp_path, True, guessed, cwd=tmp_path)
    assert with_prefetch == _measure(tmp_path, False, guessed, cwd=tmp_path)
    components = with_prefetch["components"]
    assert isinstance(components, dict)
    assert components["cmdline"]["text"] == "--kernel"
    assert components["kernel"]["sha256"] == hashlib.sha256((tmp_path / "vmlinuz").read_bytes()).hexdigest()


def test_usage_errors_exit_2_while_the_thread_still_hashes(tmp_path: Path) -> None:
    """The daemon thread is abandoned at exit: no wait for it, no traceback, click's exit code."""
    big = _sparse(tmp_path / "big", 4 * BUSY)
    for args in (
        ["measure", "snp", "--kernel", str(big), "--initrd", str(big), "--bogus"],
        ["measure", "snp", "--kernel", str(big)],  # missing --firmware
        [
            "measure",
            "tdx",
            "--firmware",
            str(big),
            "--kernel",
            str(big),
            "--initrd",
            str(big),
            "--order",
            "?",
        ],
    ):
        assert prefetch_plan(args)
        done = _entry(args, True)
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        for word in ("Traceback", "Fatal", "Exception"):
            assert word not in done.stderr


def test_an_unreadable_file_is_reported_by_the_command_as_without_prefetching() -> None:
    """/proc/self/mem is a regular file (size 0) whose first read fails (EIO), even for root."""
    args = [*SNP, "--kernel", "/proc/self/mem"]
    assert prefetch_plan(args) == [("/proc/self/mem", ("sha256",))]
    with_prefetch, without = _entry(args, True), _entry(args, False)
    assert (with_prefetch.returncode, with_prefetch.stdout, with_prefetch.stderr) == (
        without.returncode, without.stdout, without.stderr,
    )  # fmt: skip
    assert with_prefetch.returncode == 2
    assert with_prefetch.stderr.count("\n") == 1 and "/proc/self/mem" in with_prefetch.stderr


def test_an_unreadable_file_is_not_handed_over_and_the_error_is_the_takers() -> None:
    prefetch.start([("/proc/self/mem", ("sha256",))])
    _wait_all()
    job = prefetch.take("/proc/self/mem", ("sha256",))
    assert job is not None and job.digests is None
    with pytest.raises(InputError, match="/proc/self/mem"):
        hash_source("/proc/self/mem", ("sha256",))


@pytest.mark.parametrize("algorithm", ["shake_128", "no-such-hash"])
def test_a_failure_in_the_thread_ends_that_job_only_and_prints_nothing(
    algorithm: str, tmp_path: Path
) -> None:
    """shake_128.digest() raises TypeError (not OSError/ValueError); an unknown name ValueError.
    The job after it still runs, takers never wait forever, the switch interval comes back."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    script = f"""
import hashlib, sys
from ccverify.measurements import prefetch
from ccverify.measurements.hashing import hash_source
interval = sys.getswitchinterval()
prefetch.start([({str(first)!r}, ({algorithm!r},)), ({str(second)!r}, ("sha256",))])
jobs = list(prefetch._JOBS.values())
assert all(job.finished.wait(30) for job in jobs)
assert jobs[0].digests is None and jobs[1].digests is not None
assert hash_source({str(second)!r}, ("sha256",))["sha256"] == hashlib.sha256(b"second").digest()
assert jobs[1].handed_over == 1
assert sys.getswitchinterval() == interval
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


def test_a_file_swapped_in_before_the_thread_opens_it_is_not_handed_over(tmp_path: Path) -> None:
    """The name points at another file (same size and times) when the thread opens it, and at
    the original again when it is taken: the thread checks what it opened, not the name."""
    algorithms = ("sha3_512", "sha512", "sha384")
    path, keep, other = tmp_path / "f", tmp_path / "keep", tmp_path / "other"
    original, impostor = os.urandom(16 << 20), os.urandom(16 << 20)
    path.write_bytes(original)
    os.link(path, keep)
    other.write_bytes(impostor)
    st = path.stat()
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    prefetch.start([(str(_sparse(tmp_path / "busy", BUSY)), ("sha256",)), (str(path), algorithms)])
    os.replace(other, path)  # while the thread hashes "busy"
    (job,) = (job for job in prefetch._JOBS.values() if job.path == str(path))
    while job.done_bytes == 0 and not job.finished.is_set():
        pass  # the thread opened the impostor
    os.replace(keep, path)  # the original is back under its name
    assert job.finished.wait(30)
    assert job.digests is None
    result = hash_source(path, algorithms)
    assert result["sha384"] == hashlib.sha384(original).digest()
    assert job.handed_over == 0


def test_a_fifo_is_not_prefetched_nor_read_by_the_thread(tmp_path: Path) -> None:
    """Named at start, or swapped in under a file's name before the thread opens it: opening
    it does not block the thread (waiting for a writer), and it is not handed over."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    prefetch.start([(str(fifo), ("sha256",))])
    assert prefetch._JOBS == {}
    path = tmp_path / "file"
    path.write_bytes(b"regular")
    prefetch.start([(str(_sparse(tmp_path / "busy", BUSY)), ("sha256",)), (str(path), ("sha256",))])
    (job,) = (job for job in prefetch._JOBS.values() if job.path == str(path))
    os.replace(fifo, path)
    assert stat.S_ISFIFO(path.stat().st_mode)
    _wait_all()  # the thread did not wait for a writer
    assert job.digests is None and job.done_bytes == 0
    assert prefetch.take(path, ("sha256",)) is None


def test_a_symlink_is_followed_and_retargeting_it_is_seen(tmp_path: Path) -> None:
    target, other, link = tmp_path / "target", tmp_path / "other", tmp_path / "link"
    target.write_bytes(b"target")
    other.write_bytes(b"other!")
    link.symlink_to(target)
    prefetch.start([(str(link), ("sha256",))])
    _wait_all()
    assert hash_source(target, ("sha256",))["sha256"] == hashlib.sha256(b"target").digest()
    job = prefetch.take(target, ("sha256",))
    assert job is not None and job.handed_over == 1
    link.unlink()
    link.symlink_to(other)
    assert prefetch.take(link, ("sha256",)) is None
    assert hash_source(link, ("sha256",))["sha256"] == hashlib.sha256(b"other!").digest()


def test_a_job_not_begun_is_left_to_the_taker_at_once(tmp_path: Path) -> None:
    """Queued behind a long job (a wrongly guessed big file, say): the taker does not wait."""
    path = tmp_path / "initrd"
    path.write_bytes(b"initrd")
    busy = _sparse(tmp_path / "busy", BUSY)
    prefetch.start([(str(busy), ("sha256", "sha512")), (str(path), ("sha256",))])
    job = prefetch.take(path, ("sha256",))
    assert job is not None
    assert hash_source(path, ("sha256",))["sha256"] == hashlib.sha256(b"initrd").digest()
    assert job.finished.is_set() and job.handed_over == 0
    _wait_all()
    assert job.done_bytes == 0  # the thread skipped it


def _take_while_running(path: Path, algorithms: tuple[str, ...], change: bool) -> None:
    prefetch.clear()
    prefetch.start([(str(path), algorithms)])
    job = prefetch.take(path, algorithms)
    assert job is not None
    while job.done_bytes == 0 and not job.finished.is_set():
        pass  # begun: the taker waits for it rather than hashing it itself
    seen: list[int] = []

    def advance(n: int) -> None:
        if change and not seen and n > 0 and not job.finished.is_set():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        seen.append(n)

    size = path.stat().st_size
    result = hash_source(path, algorithms, advance=advance)
    assert result.size == size and sum(seen) == size
    assert result[algorithms[0]] == hashlib.new(algorithms[0], bytes(size)).digest()
    if change and len(seen) > 1 and seen[0] > 0:  # the file changed while the thread read it
        assert job.handed_over == 0 and min(seen) < 0
    elif not change:
        assert job.handed_over == 1
    _wait_all()


@pytest.mark.parametrize("change", [False, True], ids=["same", "changed"])
def test_progress_while_waiting_adds_up_to_the_size(tmp_path: Path, change: bool) -> None:
    """A taker arriving while the file is being hashed reports progress as it goes; if the
    file then changes (its times, here), what was reported is taken back and hashed again."""
    _take_while_running(_sparse(tmp_path / "big", BUSY), ("sha256",), change)


def test_the_same_file_taken_twice_at_once_is_handed_to_both(tmp_path: Path) -> None:
    data = os.urandom(9 << 20)
    path = tmp_path / "same"
    path.write_bytes(data)
    prefetch.start([(str(path), ("sha256",))])
    job = prefetch.take(path, ("sha256",))
    assert job is not None
    while job.done_bytes == 0 and not job.finished.is_set():
        pass
    results = hash_files([(path, ("sha256",)), (str(path), ("sha256",))])
    assert [r["sha256"] for r in results] == [hashlib.sha256(data).digest()] * 2
    assert [r.size for r in results] == [len(data)] * 2
    assert job.handed_over == 2


@pytest.mark.parametrize("path", ["", "\0", "/nonexistent/x"])
def test_names_that_cannot_be_used_are_skipped(path: str) -> None:
    prefetch.start([(path, ("sha256",))])
    assert prefetch._JOBS == {}
    assert prefetch.take(path, ("sha256",)) is None


def test_assist_hashes_what_the_thread_has_not_begun_in_the_caller(tmp_path: Path) -> None:
    """The thread keeps the largest file; the caller hashes the rest before it goes on, and a
    taker later gets those digests without waiting."""
    kernel = tmp_path / "kernel"
    kernel.write_bytes(os.urandom(3 << 20))
    busy = _sparse(tmp_path / "busy", BUSY)
    prefetch.start([(str(kernel), ("sha256",)), (str(busy), ("sha256",))])  # largest first anyway
    prefetch.assist()
    job = prefetch.take(kernel, ("sha256",))
    assert job is not None and job.finished.is_set() and job.done_bytes == 3 << 20
    big = prefetch.take(busy, ("sha256",))
    assert big is not None and big.handed_over == 0  # the thread's
    assert hash_source(kernel, ("sha256",))["sha256"] == hashlib.sha256(kernel.read_bytes()).digest()
    assert job.handed_over == 1
    prefetch.assist()  # nothing left that has not begun: returns at once
    _wait_all()
    assert hash_source(busy, ("sha256",))["sha256"] == hashlib.sha256(bytes(BUSY)).digest()
    assert big.handed_over == 1


def test_parallel_jobs_give_results_in_order_and_raise_the_first_failure() -> None:
    from ccverify.measurements.hashing import Job, run_jobs

    def ok(value: int) -> Job:
        return Job(str(value), 1, lambda advance: value)

    def bad(error: Exception) -> Job:
        def run(advance: object) -> None:
            raise error

        return Job("bad", 1, run)

    assert run_jobs([ok(1), ok(2), ok(3)]) == [1, 2, 3]
    first, second = InputError("first"), ValueError("second")
    with pytest.raises(InputError, match="first"):
        run_jobs([ok(1), bad(first), bad(second)])
    with pytest.raises(ValueError, match="second"):
        run_jobs([bad(second), ok(2)])
