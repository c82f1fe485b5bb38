"""Start-up prefetching for ``ccverify measure``: what is prefetched, and that only the same
file's digests are ever handed over."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccverify.cli.entry import prefetch_plan
from ccverify.measurements import prefetch
from ccverify.measurements.hashing import hash_source
from tests.conftest import fixture

K, I = "/k/vmlinuz", "/k/initrd.img"  # noqa: E741


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    prefetch.clear()
    yield
    prefetch.clear()


def _wait_all() -> None:
    for job in list(prefetch._JOBS.values()):
        assert job.finished.wait(30)


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


def _measure(tmp_path: Path, prefetching: bool) -> dict[str, object]:
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd.img"
    if not kernel.exists():
        kernel.write_bytes(os.urandom(5 << 20))
        initrd.write_bytes(os.urandom(9 << 20))
    env = {**os.environ, "CCVERIFY_NO_PREFETCH": "" if prefetching else "1"}
    done = subprocess.run(
        [sys.executable, "-m", "ccverify.cli.entry", "measure", "snp",
         "--firmware", str(fixture("ovmf/ovmf_AmdSev_suffix.bin")), "--vcpus", "2", "--vcpu-type", "EPYC-v4",
         "--guest-features", "0x1", "--kernel", str(kernel), "--initrd", str(initrd), "--cmdline", "quiet",
         "--json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    return result


def test_the_console_entry_gives_the_same_measurement_with_and_without_prefetching(tmp_path: Path) -> None:
    with_prefetch, without = _measure(tmp_path, True), _measure(tmp_path, False)
    assert with_prefetch == without
    components = with_prefetch["components"]
    assert isinstance(components, dict)
    initrd = (tmp_path / "initrd.img").read_bytes()
    assert components["initrd"]["sha256"] == hashlib.sha256(initrd).hexdigest()
