"""The guest hook's start-up cost on the host (issue #17), against a bare cryptography import.

    .venv/bin/python tests/benchmarks/bench_guest_host.py [--repeat 20]

Builds a fake q35 sysfs tree (``tests/unit/fake_sysfs.py``) and a signed device policy in a
temporary folder, writes a guest.toml naming them, then times, interleaved, ``--repeat`` real
processes of each:

- baseline: ``python -c "import cryptography.x509"`` (the same interpreter);
- lockdown: ``ccverify guest lockdown --config F`` (the hook's command line; the fake tree's
  modules.alias and a stub modprobe are passed as ``--modules-dir``/``--modprobe`` only
  with ``--options``, as the hook itself never passes them);
- finish: ``ccverify guest finish --config F``;
- authorize: local-mode ``ccverify guest authorize --config F --trust-root`` the example Intel
  root, as ``bench_boot.py`` runs it: the example evidence provider mints a quote for fresh
  REPORT_DATA, the sample's signed reference values appraise it, the policy is applied (the
  sample's reference-values signer signs the device policy too, so one anchor checks both).

Prints min and median wall time of each and the ratio of the medians to the baseline (goal
<= 1.5). The run folder lives in /dev/shm (the gate refuses one not in memory). No
assertions: this is a script, not a test.

This runs the venv's ``ccverify`` (site, the editable install's finder; no compiled dataclass
table, which only the initramfs launcher installs: ``cli/dataclass_code.py``). Last measured
(2026-12-06, shared 2-core machine, Python 3.11, medians of 20): baseline 68 ms; lockdown
1.07x (73 ms), with ``--json`` 1.07x; finish 0.58x; local authorize 2.73x (186 ms);
``lockdown+options`` 1.81x (typer reads ``--modules-dir``/``--modprobe``, which the hook never
passes). Before issue #17's stage-time work: lockdown 2.0x, local authorize 5x. After the example
provider's pre-minted template and the version constant (medians of 15): the venv's
``ccverify``: baseline 68 ms, lockdown 1.08x, finish 0.59x, local authorize 2.54x (173 ms; the
venv has no pre-minted template, so the provider still mints: only ``importlib.metadata`` went);
``--payload`` (as the initramfs runs it): baseline 66 ms, lockdown 1.00x, finish 0.60x, local
authorize 1.90x (125 ms; 2.08-2.18x before). Session 6 (``--payload``, medians of 20): baseline
65.7 ms, lockdown 0.88x, finish 0.55x, local authorize **1.57x** (102.9 ms): the guest verbs
wake the cycle collector every 50,000 allocations (~10 ms), pyasn1 is gone from the PCK path
(``verifier/der.py``, ~8 ms), public keys and the example key load without
``serialization`` (~3 ms), the payload's modules come from one store (``cli/module_store.py``,
~5 ms), 30 dataclasses got docstrings (``dataclasses`` wrote one with ``inspect.signature``).
Session 7 (``--payload``, medians of 20, the machine slower: baseline 88.8 ms): lockdown 0.79x,
finish 0.52x, local authorize **1.38x** (123.0 ms): the payload's regular expressions come
compiled (``cli/regex_code.py``: cryptography's name parser alone was a tenth of authorize;
1.56x -> 1.43x), ECDSA objects no longer import cryptography's OpenSSL backend module
(``verifier/ecdsa.py``), ``positional()``'s constructors come from the dataclass-code table, and
the launcher raises the collector's threshold before its own imports. At the session's end
(modules.alias indexed by need, errors.Code by ``enum._simple_enum``, certificates read once):
baseline 84.1 ms, lockdown 0.78x, finish 0.50x, local authorize 1.39x (117.2 ms).
Session 8 (``--payload``, medians of 20): with the dataclasses finished from recorded recipes
(``cli/dataclass_snapshot.py``) and the standard library's guest-path modules in the store:
baseline 69.7 ms, lockdown 0.70x, finish 0.46x, local authorize **1.20x** (83.9 ms).

``--payload`` builds the hook's payload (``cli/hook_payload.py``) into a temporary folder and
runs its launcher (``-I -S``, the module store, the compiled dataclass methods, the pre-minted
example evidence); the baseline runs the same interpreter with the same flags, importing
``cryptography.x509`` from the payload's site folder as plain ``.pyc`` files
(``plain_site.py``: as any Python imports it, not through the store); ``--importtime`` prints
authorize's top self-time imports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.plain_site import plain_site  # noqa: E402
from tests.unit.fake_sysfs import EXAMPLE_POLICY, q35  # noqa: E402

CCVERIFY = str(Path(sys.executable).with_name("ccverify"))
EXAMPLES = ROOT / "reference-values" / "examples"
EXAMPLE_ROOT = str(EXAMPLES / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem")


def prepare(root: Path) -> Path:
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ccverify.verifier.testing.pki import derive_ec_key
    from ccverify.verifier.testing.sample import SEED

    tree = q35(root / "q35", e1000_builtin=True)
    # the sample's reference-values signer signs the device policy too, so that one anchor
    # checks both in local-mode authorize (as bench_boot's configuration)
    key = derive_ec_key(SEED, "refvalues-signer", ec.SECP256R1())
    anchor = root / "signer.pub.pem"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    anchor.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, spki))
    pem = root / "owner.pem"
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    policy = root / "policy.json"
    policy.write_text(json.dumps(EXAMPLE_POLICY))
    cose = root / "policy.cose"
    subprocess.run([CCVERIFY, "devices", "sign", str(policy), "--key", str(pem), "-o", str(cose)], check=True)
    run_dir = root / "shm" / "ccverify"  # root/shm links to a folder in /dev/shm (main removes it)
    config = root / "guest.toml"
    config.write_text(
        f'device_policy = "{cose}"\ntrust_anchors = ["{anchor}"]\n'
        f'sysfs = "{tree.sysfs}"\nrun_dir = "{run_dir}"\n'
        f'reference_values = "{EXAMPLES / "tdx-refvalues.cbor"}"\nevidence_provider = "example"\n'
    )
    # the first lockdown in this process, with the fake kernel answering the writes (a plain
    # tree does not unbind): the timed ones then find the tree locked down, as a second run would
    from typer.testing import CliRunner

    from ccverify.cli.app import app
    from ccverify.verifier.release.devices import enforce
    from tests.unit.fake_sysfs import FakeKernel

    kernel = FakeKernel(tree)
    enforce.default_writer = lambda: kernel  # type: ignore[assignment]
    first = ["guest", "lockdown", "--config", str(config), "--modules-dir", str(tree.modules_dir),
             "--modprobe", str(tree.modprobe_script())]  # fmt: skip
    done = CliRunner().invoke(app, first)
    if done.exit_code != 0:
        sys.exit(f"the first lockdown failed: {done.output}")
    (root / "modules").write_text(str(tree.modules_dir))
    (root / "modprobe").write_text(str(tree.modprobe_script()))
    return config


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr.decode()}")
    return took


def payload_launcher(staging: Path) -> tuple[str, list[str]]:
    """The hook's payload compiled into ``staging`` (``cli/hook_payload.py``) and its launcher
    pointed there; the baseline with the same interpreter, flags and path."""
    from ccverify.cli.hook_payload import SITE

    listed = subprocess.run(
        [sys.executable, "-I", "-m", "ccverify.cli.hook_payload", "--list", str(staging)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    for kind, source, destination in lines:  # what the generator copies to its place, into staging
        placed = Path(str(staging) + destination)
        if kind == "file" and destination.startswith(SITE) and not placed.exists():
            placed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, placed)
    launcher_source = next(source for _, source, destination in lines if destination == "/usr/bin/ccverify")
    site = str(staging) + SITE
    launcher = staging / "ccverify"
    launcher.write_text(Path(launcher_source).read_text().replace(SITE, site))
    launcher.chmod(0o755)
    python = Path(launcher_source).read_text().split("exec ", 1)[1].split()[0]
    # the baseline imports cryptography.x509 as any Python does, from .pyc files on sys.path
    # (plain_site.py), not through the payload's module store
    plain = plain_site(Path(site), staging.parent / "plain-site")
    return str(launcher), [
        python,
        "-I",
        "-S",
        "-c",
        f"import sys; sys.path.insert(0, {str(plain)!r}); import cryptography.x509",
    ]


def importtime(command: list[str], env: dict[str, str], top: int = 25) -> None:
    """``command`` once under ``-X importtime``: the modules with the most self time."""
    import re

    if Path(command[0]).name == "ccverify" and Path(command[0]).read_text().startswith("#!/bin/sh"):
        text = Path(command[0]).read_text().replace(" -I -S ", " -I -S -X importtime ")
        traced = Path(command[0]).with_name("ccverify-importtime")
        traced.write_text(text)
        traced.chmod(0o755)
        run = [str(traced), *command[1:]]
    else:
        run = command
    done = subprocess.run(run, capture_output=True, text=True, env=dict(env, PYTHONPROFILEIMPORTTIME="1"))
    rows = [
        (int(m.group(1)), int(m.group(2)), m.group(3))
        for m in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \| +(\S+)", done.stderr)
    ]
    print(
        f"authorize under -X importtime: {len(rows)} modules, "
        f"{sum(r[0] for r in rows) / 1e3:.1f} ms; by self time:"
    )
    for self_us, cumulative, name in sorted(rows, reverse=True)[:top]:
        print(f"  {self_us / 1e3:7.2f} ms self {cumulative / 1e3:7.2f} ms cumulative  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--payload",
        action="store_true",
        help="run as the initramfs does: the hook's payload (compiled, its launcher: -I -S, the "
        "compiled dataclass methods, the pre-minted example evidence) built into a temporary folder",
    )
    parser.add_argument(
        "--importtime", action="store_true", help="print authorize's top self-time imports (-X importtime)"
    )
    args = parser.parse_args()
    env = dict(os.environ, CCVERIFY_MODULES_DIR="")
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        root = Path(folder)
        (root / "shm").symlink_to(shm)
        config = prepare(root)
        modules = ["--modules-dir", (root / "modules").read_text()]
        modules += ["--modprobe", (root / "modprobe").read_text()]
        ccverify, baseline = CCVERIFY, [sys.executable, "-c", "import cryptography.x509"]
        if args.payload:
            ccverify, baseline = payload_launcher(root / "payload")
        commands = {
            "baseline": baseline,
            "lockdown": [ccverify, "guest", "lockdown", "--config", str(config)],
            "lockdown+options": [ccverify, "guest", "lockdown", "--config", str(config), *modules],
            "lockdown --json": [ccverify, "guest", "lockdown", "--config", str(config), "--json"],
            "finish": [ccverify, "guest", "finish", "--config", str(config)],
            "authorize": [
                ccverify,
                "guest",
                "authorize",
                "--config",
                str(config),
                "--trust-root",
                EXAMPLE_ROOT,
            ],
        }
        if args.payload:
            del commands["lockdown+options"]  # (typer's path: the hook never passes them)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(timed(command, env))
        if args.importtime:
            importtime(commands["authorize"], env)
    base = statistics.median(times["baseline"])
    for name, values in times.items():
        median = statistics.median(values)
        best = min(values) * 1000
        print(f"{name:18} min {best:6.1f} ms  median {median * 1000:6.1f} ms  x{median / base:.2f}")


if __name__ == "__main__":
    main()
