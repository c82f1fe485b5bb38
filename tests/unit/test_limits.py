"""Every input is read with a bound (``verifier/limits.py``): /dev/zero, a FIFO without a
writer, an over-limit (sparse) file and a directory, for each kind of input and each command
option that reads a file; a few through real ``ccverify`` processes under ``timeout``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccverify.cli.app import app
from ccverify.verifier import limits
from ccverify.verifier.errors import CCVerifyError, InputError, InputTooLargeError
from ccverify.verifier.limits import LIMITS, read_bounded, read_bounded_path, read_bounded_stdin
from tests import sample_args
from tests.conftest import REPO
from tests.sample_args import AT, SAMPLE, TDX, without

ZERO = "/dev/zero"
KINDS = sorted(LIMITS)

SNP = without(sample_args.SNP, "--crl")
QUOTE = SAMPLE / "tdx-quote.dat"
COLLATERAL = SAMPLE / "tdx-collateral.json"
REFS = ["--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem")]


def with_option(args: list[str], option: str, value: str) -> list[str]:
    """``args`` with ``option`` set to ``value`` (replaced, or appended)."""
    out = list(args)
    if option in out:
        out[out.index(option) + 1] = value
    else:
        out += [option, value]
    return out


def in_time(call: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Run ``call`` in a thread; a call still running after ``seconds`` fails the test (a
    regression to a blocking read fails instead of hanging the suite)."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = call()
        except BaseException as error:
            out["error"] = error

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the read blocked"
    if "error" in out:
        raise out["error"]
    return out.get("value")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def sparse(tmp_path: Path, size: int, name: str = "big") -> Path:
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


# -- the reader -----------------------------------------------------------------------------------


def test_every_kind_has_a_documented_limit() -> None:
    lines = (limits.__doc__ or "").splitlines()
    rows = {line.split()[0]: line.split()[1:3] for line in lines if line[:1].isalpha()}
    for kind, size in LIMITS.items():
        assert " ".join(rows[kind]) == limits.limit_text(size), kind
    assert LIMITS["evidence"] == 16 << 20  # the configfs-tsm outblob maximum (Linux 7.0)
    assert LIMITS["device_policy"] == 1 << 20


@pytest.mark.parametrize("kind", KINDS)
def test_an_over_limit_file_is_refused_before_reading(tmp_path: Path, kind: limits.InputKind) -> None:
    path = sparse(tmp_path, LIMITS[kind] + 1)
    with pytest.raises(InputTooLargeError) as caught:
        read_bounded(path, kind, "--option")
    assert caught.value.kind == kind and caught.value.limit == LIMITS[kind]
    assert f"--option {path}" in str(caught.value) and limits.limit_text(LIMITS[kind]) in str(caught.value)


def test_a_file_at_the_limit_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LIMITS, "policy", 4096)
    path = tmp_path / "exact"
    path.write_bytes(b"x" * 4096)
    assert read_bounded(path, "policy") == b"x" * 4096
    path.write_bytes(b"x" * 4097)
    with pytest.raises(InputTooLargeError):
        read_bounded(path, "policy")


@pytest.mark.parametrize("kind", KINDS)
def test_dev_zero_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch, kind: limits.InputKind) -> None:
    monkeypatch.setitem(LIMITS, kind, 3 << 20 | 5)  # several chunks, not a multiple of one
    with pytest.raises(InputTooLargeError, match=f"{ZERO}: larger than"):
        read_bounded(ZERO, kind, "x")


def test_dev_zero_at_the_real_evidence_limit() -> None:
    with pytest.raises(InputTooLargeError, match="16 MiB limit for evidence"):
        in_time(lambda: read_bounded(ZERO, "evidence", "evidence"))


def test_a_fifo_without_a_writer_is_empty_at_once(fifo: Path) -> None:
    assert in_time(lambda: read_bounded(fifo, "policy")) == b""


def test_a_fifo_with_a_writer_is_read_to_its_end(fifo: Path) -> None:
    def write() -> None:
        with open(fifo, "wb") as handle:  # blocks until the reader opened it
            handle.write(b"{}")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    # the reader may open before the writer: then the FIFO is empty at once (no hang either way)
    data = in_time(lambda: read_bounded(fifo, "policy"))
    assert data in (b"", b"{}")
    if data == b"":
        in_time(lambda: read_bounded(fifo, "policy"))  # let the writer finish
    writer.join(5)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        read_bounded(tmp_path, "evidence", "evidence")


def test_a_missing_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--policy .*nope: No such file"):
        read_bounded(tmp_path / "nope", "policy", "--policy")


def test_stdin_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LIMITS, "evidence", 1000)
    assert read_bounded_stdin("evidence", stream=io.BytesIO(b"q" * 1000)) == b"q" * 1000
    with pytest.raises(InputTooLargeError, match="stdin: larger than"):
        read_bounded_stdin("evidence", stream=io.BytesIO(b"q" * 1001))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"q" * 2000)))
    with pytest.raises(InputTooLargeError, match="evidence -: larger than"):
        read_bounded_path("-", "evidence", "evidence")


# -- the library's path-taking functions ------------------------------------------------------------


def _library_readers(tmp_path: Path) -> list[tuple[str, limits.InputKind, Callable[[Path], object]]]:
    from ccverify.verifier.collateral.bundle import CollateralBundle
    from ccverify.verifier.collateral.cache import CollateralCache
    from ccverify.verifier.collateral.tdx_loader import load_collateral
    from ccverify.verifier.refvalues import load_reference_values
    from ccverify.verifier.refvalues.cose import load_trust_anchor
    from ccverify.verifier.refvalues.profile import FileSequenceStore
    from ccverify.verifier.snp.verify import load_snp_certs
    from ccverify.verifier.tdx.verify import verify_tdx

    def cache_entry(path: Path) -> object:
        return CollateralCache(path.parent)._read(path)

    return [
        ("load_collateral", "collateral", load_collateral),
        ("bundle", "collateral", CollateralBundle.load),
        ("cache entry", "collateral_entry", cache_entry),
        ("reference values", "reference_values", lambda p: load_reference_values(p, [])),
        ("trust anchor", "certificate", load_trust_anchor),
        ("sequence store", "sequence_store", lambda p: FileSequenceStore(p).last("x")),
        ("vcek", "certificate", lambda p: load_snp_certs(vcek=p)),
        ("crl", "crl", lambda p: load_snp_certs(crl=p)),
        ("cert table", "cert_table", lambda p: load_snp_certs(table=p)),
        ("quote", "evidence", lambda p: verify_tdx(p, COLLATERAL, at=AT)),
        ("tdx trust root", "certificate", lambda p: verify_tdx(QUOTE, COLLATERAL, trust_root=p)),
    ]


def test_library_readers_refuse_over_limit_files(tmp_path: Path) -> None:
    for name, kind, reader in _library_readers(tmp_path):
        path = sparse(tmp_path, LIMITS[kind] + 1, "big.json")
        with pytest.raises(InputTooLargeError) as caught:
            in_time(lambda r=reader, p=path: r(p))  # type: ignore[misc]
        assert caught.value.kind == kind, name
        path.unlink()


def test_library_readers_do_not_hang_on_a_fifo(tmp_path: Path, fifo: Path) -> None:
    for name, _kind, reader in _library_readers(tmp_path):
        target = fifo
        if name == "cache entry":
            target = tmp_path / "cache" / "entry.json"
            target.parent.mkdir(exist_ok=True)
            if not target.exists():
                os.mkfifo(target)
        try:  # empty input: refused as whatever it is not, or (a sequence store) empty
            in_time(lambda r=reader, p=target: r(p))  # type: ignore[misc]
        except CCVerifyError as error:
            assert not isinstance(error, InputTooLargeError), name


def test_firmware_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from ccverify.measurements.hashing import read_small

    monkeypatch.setitem(LIMITS, "firmware", 1 << 20)
    with pytest.raises(InputTooLargeError, match="firmware /dev/zero"):
        read_small(ZERO, "firmware")


# -- every command option that reads a file (in-process) --------------------------------------------


def run(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


RV = str(SAMPLE / "tdx-refvalues.cbor")
OPTIONS = [
    ("show", ["show", "{}"], "file", "evidence"),
    ("verify", ["verify", "{}"], "evidence", "evidence"),
    ("--policy", with_option(TDX, "--policy", "{}"), "--policy", "policy"),
    ("--event-log", [*TDX, "--event-log", "{}"], "--event-log", "event_log"),
    ("--trust-root tdx", with_option(TDX, "--trust-root", "{}"), "--trust-root", "certificate"),
    ("--collateral", with_option(TDX, "--collateral", "{}"), "--collateral", "collateral"),
    (
        "--reference-values",
        [*TDX, "--reference-values", "{}", *REFS],
        "--reference-values",
        "reference_values",
    ),
    ("--trust-anchor", [*TDX, "--reference-values", RV, "--trust-anchor", "{}"], "--trust-anchor",
     "certificate"),
    ("--vcek", with_option(SNP, "--vcek", "{}"), "--vcek", "certificate"),
    ("--cert-chain", with_option(SNP, "--cert-chain", "{}"), "--cert-chain", "certificate"),
    ("--cert-table", [*SNP, "--cert-table", "{}"], "--cert-table", "cert_table"),
    ("--crl", [*SNP, "--crl", "{}"], "--crl", "crl"),
    ("--trust-root snp", with_option(SNP, "--trust-root", "{}"), "--trust-root", "certificate"),
    ("reference show", ["reference", "show", "{}"], "reference values", "reference_values"),
    ("reference verify", ["reference", "verify", "{}", *REFS], "reference values", "reference_values"),
    ("collateral fetch --quote", ["collateral", "fetch", "--quote", "{}", "-o", "/nonexistent", "--offline"],
     "--quote", "evidence"),
    ("measure --rtmr0-from-log", ["measure", "tdx", "--firmware", str(SAMPLE / "tdx-quote.dat"),
                                   "--rtmr0-from-log", "{}"], "--rtmr0-from-log", "event_log"),
]  # fmt: skip


def _fill(args: list[str], path: Path | str) -> list[str]:
    return [str(path) if a == "{}" else a for a in args]


@pytest.mark.parametrize(("name", "args", "what", "kind"), OPTIONS, ids=[o[0] for o in OPTIONS])
def test_each_option_refuses_an_over_limit_file(
    tmp_path: Path, name: str, args: list[str], what: str, kind: limits.InputKind
) -> None:
    path = sparse(tmp_path, LIMITS[kind] + 1)
    result = in_time(lambda: run(_fill(args, path)), 60)
    assert result.exit_code == 2, (name, result.output)
    assert f"{what} {path}: larger than the {limits.limit_text(LIMITS[kind])} limit" in result.output, name
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("name", "args", "what", "kind"), OPTIONS, ids=[o[0] for o in OPTIONS])
def test_each_option_reads_a_fifo_without_a_writer_as_an_empty_file_at_once(
    tmp_path: Path, fifo: Path, name: str, args: list[str], what: str, kind: limits.InputKind
) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    from_fifo = in_time(lambda: run(_fill(args, fifo)), 60)
    from_file = run(_fill(args, empty))
    assert from_fifo.exit_code == from_file.exit_code, (name, from_fifo.output)
    if name != "--collateral":  # there a FIFO is neither a file nor a cache directory: exit 2 too
        assert from_fifo.output.replace(str(fifo), "X") == from_file.output.replace(str(empty), "X")
    assert "Traceback" not in from_fifo.output and "unexpected" not in from_fifo.output


@pytest.mark.parametrize(
    ("name", "args", "what", "kind"),
    [o for o in OPTIONS if o[0] != "--collateral"],  # a directory there is a collateral cache
    ids=[o[0] for o in OPTIONS if o[0] != "--collateral"],
)
def test_each_option_refuses_a_directory(
    tmp_path: Path, name: str, args: list[str], what: str, kind: limits.InputKind
) -> None:
    result = run(_fill(args, tmp_path))
    assert result.exit_code == 2, (name, result.output)
    assert f"{tmp_path}: is a directory" in result.output, name


# -- real processes ---------------------------------------------------------------------------------


def ccverify(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """A real ``ccverify`` process under ``timeout`` (a hang fails, exit 124)."""
    return subprocess.run(
        ["timeout", "60", sys.executable, "-m", "ccverify.cli.entry", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", ZERO], "file /dev/zero: larger than the 16 MiB limit for evidence input"),
        (["verify", ZERO], "evidence /dev/zero: larger than the 16 MiB limit for evidence input"),
        ([*TDX, "--event-log", ZERO], "--event-log /dev/zero: larger than the 16 MiB limit for event log"),
        ([*TDX, "--policy", ZERO], "--policy /dev/zero: larger than the 1 MiB limit for policy"),
    ],
    ids=["show", "verify", "event-log", "policy"],
)
def test_processes_refuse_dev_zero(tmp_path: Path, args: list[str], message: str) -> None:
    done = ccverify(args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_processes_do_not_hang_on_a_fifo(tmp_path: Path, fifo: Path) -> None:
    for args in (["show", str(fifo)], [*TDX, "--policy", str(fifo)], [*TDX, "--event-log", str(fifo)]):
        done = ccverify(args, tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("platform", ["tdx", "snp"])
def test_measure_refuses_a_fifo_or_a_device_as_an_image(tmp_path: Path, fifo: Path, platform: str) -> None:
    """Images are read by offset: a FIFO (which used to hang the open) or /dev/zero (which would
    be hashed forever) is refused at once."""
    firmware = str(REPO / "tests/fixtures/measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1")
    snp = ["--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC-Milan", "--guest-features", "0x1"]
    extra = ["--rtmr0", "00" * 48] if platform == "tdx" else snp
    for image in (str(fifo), ZERO):
        done = ccverify(["measure", platform, "--firmware", firmware, "--kernel", image, *extra], tmp_path)
        assert done.returncode == 2, done.stderr
        assert f"{image}: not a regular file" in done.stderr
