"""Benchmark ``ccverify measure snp`` against sev-snp-measure and against the hashing floor.

Run: ``.venv/bin/python tests/benchmarks/bench_measure.py [--initrd-mib 100] [--big-gib 1]``

Inputs, generated in a temporary directory: a 4 MiB OVMF (Debian trixie OVMF.fd with its
last 4 KiB replaced by sev-snp-measure's AmdSev tail, so the kernel-hashes path runs), a
30 MiB kernel, a 100 MiB initrd, 64 vCPUs, EPYC-Milan, guest features 0x21. Prints, in one
run, with the ratios against baselines measured in the same run:

1. our command vs sev-snp-measure's command on the same inputs (subprocess wall time, best
   of interleaved rounds; target: ours >= 2x faster), after checking both print the same digest. Measured as
   installed: both packages pip-installed (not editable, byte-compiled) into one directory and
   run through their console-script entry points with ``python -S``, so neither pays this
   development venv's .pth hooks; also without start-up prefetching, through the typer app
   (``ccverify.cli.app:main``: neither prefetching nor the typer-free path of well-formed
   ``measure`` arguments), and as both run in this venv (the ``.venv/bin`` scripts), for
   comparison;
2. our in-process time (``measure_snp``) vs the hashing floor = hashlib SHA-256 over the
   kernel and initrd bytes (streamed, sequential) + the SNP page hashing of the firmware
   (SHA-384 of every page and of every PAGE_INFO) (target: <= 1.15x);
3. peak memory (ru_maxrss of a child process running our command; target <= 40 MB), also
   for a sparse 1 GiB initrd;
4. for information, the TDX direct-boot path (MRTD + Authenticode of a 30 MiB PE kernel +
   SHA-384 of the initrd) in-process.

No assertions: this prints numbers (tests/benchmarks convention).

The real-kernel Authenticode comparison (sbverify/pesign/osslsigncode on Debian's
linux-image-6.1.0-50 kernels) is recorded in tests/unit/test_pe.py's docstring.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
PYTHON = sys.executable
SEV_SNP_MEASURE = shutil.which("sev-snp-measure", path=str(Path(PYTHON).parent)) or "sev-snp-measure"
CCVERIFY = shutil.which("ccverify", path=str(Path(PYTHON).parent)) or "ccverify"
MIB = 1 << 20


def write_random(path: Path, size: int, seed: int) -> None:
    block = hashlib.shake_256(str(seed).encode()).digest(MIB)
    with path.open("wb") as out:
        for i in range(size // MIB):
            out.write(block[i % 7 :] + block[: i % 7])
        out.write(block[: size % MIB])


def write_pe_kernel(path: Path, size: int) -> None:
    """A minimal PE32+ image with one section filling ``size`` bytes (for the TDX path)."""
    header = bytearray(0x400)
    header[0:2] = b"MZ"
    struct.pack_into("<I", header, 0x3C, 0x80)
    header[0x80:0x84] = b"PE\0\0"
    opt_size = 112 + 16 * 8
    struct.pack_into("<HHIIIHH", header, 0x84, 0x8664, 1, 0, 0, 0, opt_size, 0x22)
    opt = 0x98
    struct.pack_into("<H", header, opt, 0x20B)
    struct.pack_into("<I", header, opt + 60, 0x400)
    struct.pack_into("<I", header, opt + 108, 16)
    table = opt + opt_size
    header[table : table + 8] = b".text\0\0\0"
    struct.pack_into("<II", header, table + 16, size - 0x400, 0x400)
    with path.open("wb") as out:
        out.write(header)
    write_random(path.with_suffix(".body"), size - 0x400, 3)
    with path.open("ab") as out, path.with_suffix(".body").open("rb") as body:
        shutil.copyfileobj(body, out, MIB)
    path.with_suffix(".body").unlink()


def installed_site(work: Path) -> list[str]:
    """ccverify installed (not editable, byte-compiled) into a directory, then this venv's
    site-packages for typer, cryptography and sev-snp-measure; for ``python -S``."""
    target = work / "site"
    subprocess.run(
        [PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(REPO)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(target)], check=True, capture_output=True)
    import sysconfig

    return [str(target), sysconfig.get_paths()["purelib"]]


def interleaved(
    rounds: int, commands: dict[str, tuple[list[str], dict[str, str]]]
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Wall times of each command over ``rounds`` rounds, the commands taking turns in each
    round (so a change in machine load hits all of them), and each one's last output."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    outputs: dict[str, str] = {}
    for _ in range(rounds):
        for name, (command, env) in commands.items():
            start = time.perf_counter()
            done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
            walls[name].append(time.perf_counter() - start)
            outputs[name] = done.stdout
    return walls, outputs


def ratio(walls: dict[str, list[float]], slow: str, fast: str) -> float:
    """Median over rounds of slow/fast."""
    return statistics.median(a / b for a, b in zip(walls[slow], walls[fast], strict=True))


def best_of(runs: int, command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    best = float("inf")
    output = ""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
        best = min(best, time.perf_counter() - start)
        output = done.stdout
    return best, output


def peak_rss_mib(command: list[str]) -> float:
    """ru_maxrss of ``command`` alone, measured by a wrapper process that only runs it."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run([PYTHON, "-c", wrapper, *command], check=True, capture_output=True, text=True)
    return int(done.stdout.strip()) / 1024


def hashing_floor(firmware: bytes, kernel: Path, initrd: Path, vcpus: int) -> float:
    """SHA-256 of kernel and initrd (1 MiB chunks, one after the other) + SNP page hashing."""
    start = time.perf_counter()
    buffer = bytearray(MIB)
    view = memoryview(buffer)
    for path in (kernel, initrd):
        h = hashlib.sha256()
        with path.open("rb", buffering=0) as stream:
            while n := stream.readinto(buffer):
                h.update(view[:n])
        h.digest()
    ld = bytes(48)
    tail = bytes(16)
    fw = memoryview(firmware)
    for offset in range(0, len(firmware), 4096):
        ld = hashlib.sha384(ld + hashlib.sha384(fw[offset : offset + 4096]).digest() + tail).digest()
    for _ in range(vcpus):
        ld = hashlib.sha384(ld + ld + tail).digest()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kernel-mib", type=int, default=30)
    parser.add_argument("--initrd-mib", type=int, default=100)
    parser.add_argument(
        "--big-gib", type=int, default=1, help="size of the sparse initrd for the memory check"
    )
    parser.add_argument("--vcpus", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds of the command timings")
    args = parser.parse_args()

    from ccverify.measurements.model import measure_snp, measure_tdx

    with tempfile.TemporaryDirectory(prefix="ccverify-bench-") as tmp:
        work = Path(tmp)
        trixie = (FIXTURES / "measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1").read_bytes()
        tail = (FIXTURES / "ovmf/ovmf_AmdSev_suffix.bin").read_bytes()
        firmware_bytes = trixie[:-4096] + tail
        firmware = work / "OVMF.fd"
        firmware.write_bytes(firmware_bytes)
        kernel = work / "vmlinuz"
        initrd = work / "initrd.img"
        write_random(kernel, args.kernel_mib * MIB, 1)
        write_random(initrd, args.initrd_mib * MIB, 2)
        cmdline = "console=ttyS0 root=/dev/vda1 ro"
        vcpus = str(args.vcpus)

        ours_args = [
            "measure", "snp", "--firmware", str(firmware), "--kernel", str(kernel),
            "--initrd", str(initrd), "--cmdline", cmdline, "--vcpus", vcpus, "--vcpu-type", "EPYC-Milan",
            "--guest-features", "0x21", "--json",
        ]  # fmt: skip
        theirs_args = [
            "--mode", "snp", "--ovmf", str(firmware), "--kernel", str(kernel), "--initrd",
            str(initrd), "--append", cmdline, "--vcpus", vcpus, "--vcpu-type", "EPYC-Milan",
            "--guest-features", "0x21",
        ]  # fmt: skip
        # the console scripts as pip writes them (ccverify's is cli.entry:main, which prefetches)
        ours_cmd = [CCVERIFY, *ours_args]
        theirs_cmd = [SEV_SNP_MEASURE, *theirs_args]

        print(f"inputs: firmware {len(firmware_bytes) // MIB} MiB, kernel {args.kernel_mib} MiB, "
              f"initrd {args.initrd_mib} MiB, {args.vcpus} vCPUs, {os.cpu_count()} CPUs")  # fmt: skip

        # 1. commands, (a) as installed: both packages installed non-editably into one directory
        # and started with -S, so neither pays this development venv's .pth hooks (its editable
        # finder and setuptools' distutils shim: ~0.04 s per start here, which a user's install
        # does not have); (b) as they run in this venv
        site = installed_site(work)
        scripts = {
            "ccverify": "from ccverify.cli.entry import main",
            "ccverify-typer": "from ccverify.cli.app import main",
            "sev-snp-measure": "from sevsnpmeasure.cli import main",
        }
        installed = {}
        for name, entry in scripts.items():
            script = work / f"run-{name}.py"  # not ccverify.py: that would shadow the package
            script.write_text(f"import sys\n{entry}\nsys.argv[0] = {name!r}\nsys.exit(main())\n")
            installed[name] = [PYTHON, "-S", str(script)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(site)}
        import json

        commands = {
            "ours": ([*installed["ccverify"], *ours_args], env),
            "theirs": ([*installed["sev-snp-measure"], *theirs_args], env),
            "ours, no prefetch": ([*installed["ccverify"], *ours_args], {**env, "CCVERIFY_NO_PREFETCH": "1"}),
            "ours, typer app": ([*installed["ccverify-typer"], *ours_args], env),
        }
        walls, outputs = interleaved(args.rounds, commands)
        ours_digest = json.loads(outputs["ours"])["values"]["measurement"]
        variants = ("ours, no prefetch", "ours, typer app")
        others = [json.loads(outputs[name])["values"]["measurement"] for name in variants]
        same = ours_digest == outputs["theirs"].strip() == others[0] == others[1]
        med = {name: statistics.median(times) for name, times in walls.items()}
        print(f"[1] command wall time, as installed (median of {args.rounds} interleaved rounds): ccverify "
              f"{med['ours']:.3f} s, sev-snp-measure {med['theirs']:.3f} s -> speed-up "
              f"{ratio(walls, 'theirs', 'ours'):.2f}x (target >= 2x); same digest: {same}")  # fmt: skip
        print(f"    without start-up prefetching (CCVERIFY_NO_PREFETCH=1): {med['ours, no prefetch']:.3f} s "
              f"-> {ratio(walls, 'theirs', 'ours, no prefetch'):.2f}x")  # fmt: skip
        print(f"    through the typer app (no prefetching either): {med['ours, typer app']:.3f} s "
              f"-> {ratio(walls, 'theirs', 'ours, typer app'):.2f}x")  # fmt: skip
        ours_wall, ours_out = best_of(3, ours_cmd)
        theirs_wall, theirs_out = best_of(3, theirs_cmd)
        same = json.loads(ours_out)["values"]["measurement"] == theirs_out.strip()
        print(f"    in this development venv: ccverify {ours_wall:.3f} s, "
              f"sev-snp-measure {theirs_wall:.3f} s "
              f"-> speed-up {theirs_wall / ours_wall:.2f}x; same digest: {same}")  # fmt: skip
        engine = (
            "import sys\n"
            "from ccverify.measurements.model import measure_snp\n"
            "r = measure_snp(sys.argv[1], kernel=sys.argv[2], initrd=sys.argv[3], cmdline=sys.argv[4],\n"
            "                vcpus=int(sys.argv[5]), vcpu_type='EPYC-Milan', guest_features=0x21)\n"
            "print(r.values['measurement'].hex())\n"
        )
        engine_cmd = [PYTHON, "-c", engine, str(firmware), str(kernel), str(initrd), cmdline, vcpus]
        engine_wall, engine_out = best_of(3, engine_cmd)
        print(
            f"    measure_snp called from a script in this venv (no prefetching): {engine_wall:.3f} s -> "
            f"speed-up "
            f"{theirs_wall / engine_wall:.2f}x; same digest: {engine_out.strip() == ours_digest}"
        )
        bare, _ = best_of(3, [PYTHON, "-S", "-c", "pass"])
        venv_bare, _ = best_of(3, [PYTHON, "-c", "pass"])
        fast_imports = "import ccverify.cli.measure_run, ccverify.measurements.model"
        start_up, _ = best_of(3, [PYTHON, "-S", "-c", fast_imports], env)
        typer_up, _ = best_of(3, [PYTHON, "-S", "-c", fast_imports + ", ccverify.cli.app"], env)
        print(f"    (as installed: interpreter start {bare:.3f} s, start + measure's imports "
              f"{start_up:.3f} s, and with the typer app {typer_up:.3f} s; "
              f"interpreter start in this venv {venv_bare:.3f} s)")  # fmt: skip

        # 2. in-process vs floor
        # interleaved, best of 5 each: the machine may be shared, so compare like with like
        floor = ours_in = float("inf")
        for _ in range(5):
            floor = min(floor, hashing_floor(firmware_bytes, kernel, initrd, args.vcpus))
            start = time.perf_counter()
            result = measure_snp(
                firmware, kernel=kernel, initrd=initrd, cmdline=cmdline, vcpus=args.vcpus,
                vcpu_type="EPYC-Milan", guest_features=0x21, show_progress=False,
            )  # fmt: skip
            ours_in = min(ours_in, time.perf_counter() - start)
        assert result.values["measurement"].hex() == ours_digest
        print(f"[2] in-process: measure_snp {ours_in:.3f} s vs hashing floor {floor:.3f} s "
              f"-> ratio {ours_in / floor:.2f}x (target <= 1.15x)")  # fmt: skip

        # 3. memory
        rss = peak_rss_mib(ours_cmd)
        theirs_rss = peak_rss_mib(theirs_cmd)
        print(f"[3] peak RSS: ccverify {rss:.1f} MiB (target <= 40), sev-snp-measure {theirs_rss:.1f} MiB "
              f"(it reads every input whole)")  # fmt: skip
        big = work / "big-initrd.img"
        with big.open("wb") as out:
            out.truncate(args.big_gib << 30)
            for position in range(0, args.big_gib << 30, 64 * MIB):
                out.seek(position)
                out.write(b"ccverify" * 512)
        big_cmd = [*ours_cmd]
        big_cmd[big_cmd.index(str(initrd))] = str(big)
        start = time.perf_counter()
        big_rss = peak_rss_mib(big_cmd)
        print(f"    with a sparse {args.big_gib} GiB initrd: ccverify {big_rss:.1f} MiB "
              f"({time.perf_counter() - start:.2f} s)")  # fmt: skip

        # 4. TDX, for information
        pe_kernel = work / "vmlinuz.efi"
        write_pe_kernel(pe_kernel, args.kernel_mib * MIB)
        tdx_time = tdx_floor = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            measure_tdx(firmware, kernel=pe_kernel, initrd=initrd, cmdline=cmdline, show_progress=False)
            tdx_time = min(tdx_time, time.perf_counter() - start)
            start = time.perf_counter()
            for path in (pe_kernel, initrd):
                h = hashlib.sha384()
                with path.open("rb") as stream:
                    while chunk := stream.read(MIB):
                        h.update(chunk)
            tdx_floor = min(tdx_floor, time.perf_counter() - start)
        print(f"[4] TDX in-process (MRTD + Authenticode SHA-384 + initrd SHA-384): {tdx_time:.3f} s; "
              f"SHA-384 kernel+initrd {tdx_floor:.3f} s -> {tdx_time / tdx_floor:.2f}x")  # fmt: skip
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"(benchmark process itself: max RSS {usage.ru_maxrss / 1024:.1f} MiB)")


if __name__ == "__main__":
    main()
