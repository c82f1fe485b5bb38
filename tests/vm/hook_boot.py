"""Parts of the guest-hook tests (issue #17): initramfs images built by the distribution's own
generators with ccverify's hook, a LUKS2 root image, and a QEMU boot of the two.

Both generators are Debian's, installed side by side by ``tests/setup-system.sh``: the
``dracut`` package conflicts with ``initramfs-tools`` (``Conflicts: initramfs-tools``), but the
``dracut-core`` package that holds ``/usr/bin/dracut`` and its modules does not. Neither
touches the host's own configuration: ``mkinitramfs -d`` reads a copy of
``/etc/initramfs-tools`` that the hook is installed into, and dracut runs with
``dracutbasedir`` set to a copy of ``/usr/lib/dracut`` holding the module.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.vm.harness import Kernel, VmBootError, _read_console, _tail, find_busybox, find_qemu

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "reference-values" / "examples"
ANCHOR = EXAMPLES / "EXAMPLE-refvalues-signer.pub.pem"
DISK_KEY = b"ccverify-vm-disk-key-4b1d9e"
ROOT_REACHED = "@@ccverify-root-reached@@"
#: the LUKS root's /sbin/init: list the devices with a driver, say it got there, power off
ROOT_INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
out=
for d in /sys/bus/pci/devices/* /sys/bus/virtio/devices/* /sys/bus/usb/devices/*; do
  [ -e "$d/driver" ] || continue
  driver=$(/bin/busybox readlink "$d/driver"); bus=${d#/sys/bus/}
  out="$out ${bus%%/*}/${d##*/}=${driver##*/}"
done
echo "root: devices bound:$out"
echo "root: secrets left: $(/bin/busybox ls /run/ccverify/secrets 2>/dev/null | /bin/busybox wc -l)"
echo "@@ccverify-root-reached@@"
/bin/busybox poweroff -f
"""


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(
            f"{args[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done  # type: ignore[no-any-return]


def ccverify_ok(ccverify: str, *args: str) -> bytes:
    done = subprocess.run([ccverify, *args], capture_output=True, check=False)
    assert done.returncode == 0, (args, done.stderr.decode())
    return done.stdout


def guest_config(work: Path, ccverify: str) -> tuple[Path, Path]:
    """``work/etc-ccverify`` (remote mode through 10.0.2.100:8443, the example provider, the
    signed device policy, ``[volumes.root]`` from the secret ``disk-key``) and the key that
    signed the policy (the example reference-value signer, so one anchor serves both)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ccverify.verifier.testing.pki import derive_ec_key
    from ccverify.verifier.testing.sample import SEED

    key = derive_ec_key(SEED, "refvalues-signer", ec.SECP256R1())
    signer = work / "signer.pem"
    signer.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    # the template: virtio-net the bootstrap NIC (with the virtio-pci transports of net and
    # blk), virtio blk allowed, the rest (rng, e1000, the q35 chipset) denied
    template = ccverify_ok(ccverify, "devices", "template", "confidential-computing-default")
    (work / "policy.json").write_bytes(template)
    config_dir = work / "etc-ccverify"
    config_dir.mkdir()
    ccverify_ok(ccverify, "devices", "sign", str(work / "policy.json"), "--key", str(signer),
                "-o", str(config_dir / "device-policy.cose"))  # fmt: skip
    (config_dir / ANCHOR.name).write_bytes(ANCHOR.read_bytes())
    # the relying party's result-signing keys, pinned in the image (plain HTTP on the path)
    (config_dir / "rp-jwks.json").write_text(json.dumps(result_jwks()))
    (config_dir / "guest.toml").write_text(
        'relying_party = "http://10.0.2.100:8443"\n'
        'relying_party_jwks = "rp-jwks.json"\n'
        f'trust_anchors = ["{ANCHOR.name}"]\n'
        'device_policy = "device-policy.cose"\n'
        'evidence_provider = "example"\n'
        "deadline = 20\n"
        '[volumes.root]\nsecret = "disk-key"\n'
    )
    return config_dir, signer


def result_key() -> Any:
    """The test relying party's result-signing key: fixed (derived from the sample's seed), so
    that an image built before the service starts can pin it."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from ccverify.verifier.testing.pki import derive_ec_key
    from ccverify.verifier.testing.sample import SEED

    return derive_ec_key(SEED, "test-relying-party/result-signing", ec.SECP256R1())


def result_jwks() -> dict[str, Any]:
    """``result_key``'s public JWKS, as the service serves it at /.well-known/jwks.json."""
    from ccverify.verifier.result import public_jwk
    from ccverify.verifier.service.attestation import key_id

    public = result_key().public_key()
    return {"keys": [public_jwk(public, key_id(public))]}


def start_relying_party(folder: Path, refvalues: bytes, policy: bytes) -> tuple[int, Any]:
    """``ccverify serve`` (HTTP on 127.0.0.1) trusting the example root, provisioned with
    ``refvalues``, the device policy and ``disk-key``, one release rule naming them; its port
    and the running service (``.stop()``)."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives import serialization

    from ccverify.verifier.service.client import RelyingPartyClient
    from ccverify.verifier.service.init import initialize
    from ccverify.verifier.testing.sample import mint_tdx_quote
    from tests.service.conftest import free_port, start

    folder.mkdir(parents=True)
    collateral = folder / "collateral.json"
    collateral.write_bytes(mint_tdx_quote(b"\0", now=datetime.now(UTC).replace(microsecond=0))[1])
    done = initialize(
        folder / "rp",
        roots=[EXAMPLES / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"],
        anchors=[ANCHOR],
        collateral=[collateral],
        tls=False,
        online=False,
        port=free_port(),
    )
    with done.config.open("a") as out:
        out.write("rate_per_second = 0\n")
    # the result-signing key the guest images pin (``result_jwks``), not the fresh one
    pkcs8 = serialization.PrivateFormat.PKCS8
    (done.directory / "result-signing-key.pem").write_bytes(
        result_key().private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())
    )
    (done.directory / "jwks.json").write_text(json.dumps(result_jwks()))
    service = start(done.config)
    admin = RelyingPartyClient(service.url, admin_token=done.admin_token_file.read_text().strip())
    admin.put_reference_values(refvalues)
    admin.put_device_policy("guest-devices", policy)
    admin.put_secret("disk-key", DISK_KEY)
    admin.put_release_rule(
        "example-guest", "ccverify-example-tdx", device_policy="guest-devices", secrets=["disk-key"]
    )
    admin.session.close()
    return int(service.url.rsplit(":", 1)[1]), service


def build_initramfs_tools(
    kernel: Kernel, output: Path, *, ccverify: str | None, config: Path | None, work: Path
) -> Path:
    """``mkinitramfs`` with a copy of /etc/initramfs-tools; with the hook when ``ccverify`` is given."""
    confdir = work / "initramfs-tools"
    shutil.rmtree(confdir, ignore_errors=True)
    shutil.copytree("/etc/initramfs-tools", confdir, symlinks=True)
    if ccverify is not None:
        assert config is not None
        run([ccverify, "guest", "install-hook", "--initramfs-tools", "--config", str(config),
             "--into", str(confdir), "--lib-dir", str(work / "ccverify-lib")])  # fmt: skip
    run(["mkinitramfs", "-d", str(confdir), "-o", str(output), kernel.version])
    return output


def build_dracut(
    kernel: Kernel, output: Path, *, ccverify: str | None, config: Path | None, work: Path
) -> Path:
    """``dracut`` (systemd in the initramfs, crypt, network) with ``dracutbasedir`` a copy of
    /usr/lib/dracut; with the ccverify module when ``ccverify`` is given."""
    base = work / "dracut"
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree("/usr/lib/dracut", base, symlinks=True)
    modules = "systemd systemd-initrd base kernel-modules crypt network"
    if ccverify is not None:
        assert config is not None
        run([ccverify, "guest", "install-hook", "--dracut", "--config", str(config),
             "--into", str(base / "modules.d"), "--lib-dir", str(work / "ccverify-lib")])  # fmt: skip
        modules += " ccverify"
    confdir = work / "dracut.conf.d"
    confdir.mkdir(exist_ok=True)
    import os

    env = {**os.environ, "dracutbasedir": str(base)}
    run(["dracut", "--force", "--conf", "/dev/null", "--confdir", str(confdir), "--no-hostonly",
         "--modules", modules, str(output), kernel.version], env=env)  # fmt: skip
    return output


def luks_root(work: Path, key: bytes) -> Path:
    """A LUKS2 image (PBKDF2, few iterations: TCG is slow) holding an ext4 whose /sbin/init
    prints ROOT_REACHED and powers off. Built without device-mapper: mkfs.ext4 -d, then
    cryptsetup's offline encryption of the file in place."""
    tree = work / "root-tree"
    shutil.rmtree(tree, ignore_errors=True)
    for folder in ("bin", "sbin", "proc", "sys", "dev", "run", "etc"):
        (tree / folder).mkdir(parents=True)
    # systemd in the initramfs switches only into an OS tree: one with an os-release file
    (tree / "etc" / "os-release").write_text('ID=ccverify-test-root\nNAME="ccverify test root"\n')
    shutil.copy2(find_busybox(), tree / "bin" / "busybox")
    (tree / "sbin" / "init").write_text(ROOT_INIT)
    (tree / "sbin" / "init").chmod(0o755)
    image = work / "root.img"
    with image.open("wb") as f:
        f.truncate(48 << 20)
    run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image), "16M"])
    run(["cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "--reduce-device-size", "32M",
         "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file=-", "--batch-mode",
         str(image)], input=key.decode())  # fmt: skip
    return image


@dataclass(frozen=True)
class HookBoot:
    console: str
    seconds: float
    cpu_seconds: float
    reached_root: bool

    def lines(self, prefix: str) -> list[str]:
        return [line.strip() for line in self.console.splitlines() if line.strip().startswith(prefix)]

    def bound(self, prefix: str) -> dict[str, str]:
        """bus/name -> driver from the last ``<prefix> devices bound:`` line."""
        found = self.lines(f"{prefix} devices bound:")
        assert found, f"no '{prefix} devices bound' line:\n{_tail(self.console, 80)}"
        pairs = found[-1].split(":", 1)[1].split()
        return dict(pair.split("=", 1) for pair in pairs if "=" in pair)

    def stage_seconds(self, stage: int) -> float | None:
        for line in self.lines(f"ccverify: stage {stage} ("):
            span = line.rsplit(" took ", 1)[1].split()[0]
            start, _, end = span.partition("..")
            return float(end) - float(start)
        return None


def boot(
    kernel: Kernel,
    initrd: Path,
    disk: Path,
    *,
    relying_party_port: int,
    console_log: Path,
    timeout: float = 420.0,
    append: str = "",
    end_on: str | None = None,
    cmdline: str | None = None,
) -> HookBoot:
    """Boot ``initrd`` with the LUKS ``disk`` (virtio-blk, opened read-only underneath: snapshot),
    a virtio-net whose user network is restricted (``restrict=on``: the guest reaches nothing of
    the host's or beyond) except for the guestfwd rule 10.0.2.100:8443 -> the host's
    127.0.0.1:``relying_party_port`` (rules set explicitly are not affected by restrict), a
    virtio-rng and an e1000 (the policy denies both). Returns when QEMU exits (the root's init
    powers off; a panic reboots, which -no-reboot ends); killed after ``timeout`` seconds, or 10 s
    after ``end_on`` appears on the console (a boot that waits for ever by design: systemd in the
    initramfs waiting for a volume ccverify did not unlock). ``cmdline`` replaces the kernel
    command line's start (initramfs-tools' ``root=/dev/mapper/root ip=dhcp ...``)."""
    import resource

    default = "console=ttyS0 root=/dev/mapper/root ip=dhcp panic=1 rootdelay=5"
    base = cmdline if cmdline is not None else default
    kernel_cmdline = f"{base} {append}".strip()
    # a program per guest connection (guestfwd.py): QEMU's tcp: target is one connection, made
    # at start-up (QEMU refuses to start when nothing listens there)
    forward = f"{sys.executable} {Path(__file__).with_name('guestfwd.py')} {relying_party_port}"
    args = [
        find_qemu(), "-machine", "q35", "-accel", "tcg", "-m", "1G", "-smp", "1",
        "-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
        "-kernel", str(kernel.image), "-initrd", str(initrd), "-append", kernel_cmdline,
        "-netdev", f"user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:8443-cmd:{forward}",
        "-device", "virtio-net-pci,netdev=n0",
        "-drive", f"file={disk},if=none,id=d0,format=raw,snapshot=on", "-device", "virtio-blk-pci,drive=d0",
        "-object", "rng-random,id=r0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=r0",
        "-netdev", "user,id=n1,restrict=on", "-device", "e1000,netdev=n1",
    ]  # fmt: skip
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with console_log.open("wb") as out:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(process, console_log, timeout, end_on)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise VmBootError(
                f"the hook boot did not end within {timeout:.0f} s; console tail:\n"
                f"{_tail(_read_console(console_log), 60)}"
            ) from None
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    console = _read_console(console_log).replace("\r\n", "\n")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return HookBoot(console, seconds, cpu, ROOT_REACHED in console)


def _wait(process: subprocess.Popen[bytes], console_log: Path, timeout: float, end_on: str | None) -> None:
    """Until QEMU exits; or 10 s after ``end_on`` is on the console (then QEMU is killed)."""
    if end_on is None:
        process.wait(timeout=timeout)
        return
    deadline = time.monotonic() + timeout
    marker = end_on.encode()
    while process.poll() is None:
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(process.args, timeout)
        if marker in console_log.read_bytes():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return
        time.sleep(0.5)


def sha384_file(path: Path) -> bytes:
    return hashlib.sha384(path.read_bytes()).digest()
