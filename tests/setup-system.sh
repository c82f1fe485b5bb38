#!/usr/bin/env bash
# System packages the test suite needs (Debian bookworm), installed as root by CI (.ci/run).
# Idempotent: a package already installed is not touched, and with everything installed the
# script changes nothing (no apt-get update, no apt-get install).
#
# To add a package: append it to PACKAGES with a comment saying which tests need it.
#
# Linux 6.12 on bookworm: Debian ships it in bookworm-security ("linux-6.12" and
# "linux-signed-6.12-amd64", 6.12.x-1~deb12uN), which a standard bookworm sources list
# already has; no backports or trixie source is needed. `linux-image-6.12-amd64` is the
# meta-package that follows the newest 6.12 generic build (the -cloud flavour lacks 9p, which
# tests/vm needs to share the host's root with the guest).
set -euo pipefail

PACKAGES=(
    # tests/vm: a real Linux kernel under QEMU (TCG, no /dev/kvm needed)
    qemu-system-x86          # qemu-system-x86_64
    linux-image-6.12-amd64   # /boot/vmlinuz-6.12.*-amd64 and /lib/modules/6.12.*-amd64
    busybox-static           # the test initramfs's /init and tools (/bin/busybox, static)
    kmod                     # modinfo/modprobe, on the host and inside the guest's chroot
    # tests/vm/test_vm_hook.py, test_hook_build.py, tests/benchmarks/bench_boot.py: the guest hook
    # built by Debian's own generators. The `dracut` package conflicts with initramfs-tools;
    # `dracut-core` (/usr/bin/dracut and its modules) does not, so both are installed side by
    # side and the tests run each on a copy of its configuration.
    initramfs-tools          # mkinitramfs, unmkinitramfs
    dracut-core              # dracut, lsinitrd
    dracut-network           # dracut's network module (the hook depends on it)
    cryptsetup-initramfs     # cryptsetup, and the cryptroot hook and boot script
    e2fsprogs                # mkfs.ext4 -d (the LUKS root's file system)
    binutils                 # strip: the hook ships stripped copies of the interpreter's libraries
    # tests/service: a real PostgreSQL server (two replicas share it), started by the tests in a
    # temporary data directory (initdb/pg_ctl as the postgres user)
    postgresql
)
# tests/service: Node.js and npm for panva's jose, which checks the EAR JWTs against the
# service's JWKS endpoint. Checked as commands: a NodeSource nodejs bundles npm (and conflicts
# with Debian's npm package), Debian's needs both packages.
COMMANDS=(node npm)
COMMAND_PACKAGES=(nodejs npm)

missing=()
for pkg in "${PACKAGES[@]}"; do
    # Installed means dpkg's status says "install ok installed" (not just "config-files").
    if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

for cmd in "${COMMANDS[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        missing+=("${COMMAND_PACKAGES[@]}")
        break
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "tests/setup-system.sh: all ${#PACKAGES[@]} packages installed"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "tests/setup-system.sh: missing ${missing[*]}: run as root (sudo) to install them" >&2
    exit 2
fi
echo "tests/setup-system.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (shared machines) instead of failing on its lock.
APT_OPTS=(-o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
apt-get "${APT_OPTS[@]}" update
apt-get "${APT_OPTS[@]}" install "${missing[@]}"
