"""Released secrets in the guest: only in memory-backed ``/run/ccverify/secrets/``, root only.

``guest authorize`` (remote mode) writes each secret the relying party released into a
``SecretStore``: one file per secret, mode 0400, in a 0700 directory, written to a temporary
name and renamed (never seen half-written). The run directory must be on tmpfs or ramfs
(``statfs`` ``f_type``: ``TMPFS_MAGIC`` / ``RAMFS_MAGIC``), so a secret never reaches a disk;
``allow_any_filesystem`` lifts that for tests only. ``read`` is ``guest unlock NAME`` (a key
for ``cryptsetup --key-file=-``), ``scrub`` is ``guest finish``'s (before switch-root, unless
the configuration says ``persist_secrets``): each file is overwritten with zeros, then removed.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from pathlib import Path

from ccverify.verifier.errors import InputError, VerificationError

SECRETS_DIR = "secrets"
#: what a secret's name may be (the service's names: 1-128 of A-Za-z0-9._-, not starting with '.')
NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
#: statfs f_type of the memory-backed filesystems (linux/magic.h)
TMPFS_MAGIC = 0x01021994
RAMFS_MAGIC = 0x858458F6
MEMORY_FILESYSTEMS = {TMPFS_MAGIC: "tmpfs", RAMFS_MAGIC: "ramfs"}
#: the largest secret read back (the service releases at most 64 KiB per secret)
SECRET_MAX = 1 << 20


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InputError(f"secret name {name!r}: 1-128 characters of A-Za-z0-9._- (not starting with '.')")
    return name


def filesystem_type(path: Path) -> int:
    """``statfs(path).f_type`` (Linux); ``InputError`` when it cannot be had."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    # struct statfs starts with f_type (__fsword_t: a C long); 120 bytes on 64-bit Linux
    buffer = ctypes.create_string_buffer(256)
    if libc.statfs(os.fsencode(path), buffer) != 0:
        code = ctypes.get_errno()
        raise InputError(f"{path}: statfs failed: {os.strerror(code)}")
    size = ctypes.sizeof(ctypes.c_long)
    return int.from_bytes(buffer.raw[:size], sys.byteorder, signed=True) & 0xFFFFFFFF


class SecretStore:
    """The released secrets under ``<run_dir>/secrets``."""

    def __init__(self, run_dir: Path, *, allow_any_filesystem: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.directory = self.run_dir / SECRETS_DIR
        self.allow_any_filesystem = allow_any_filesystem

    def require_memory(self) -> str:
        """The run directory's filesystem name (tmpfs or ramfs); refused on anything else."""
        probe = self.run_dir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        kind = filesystem_type(probe)
        name = MEMORY_FILESYSTEMS.get(kind)
        if name is None:
            if self.allow_any_filesystem:
                return f"0x{kind:08x} (allowed for tests)"
            raise VerificationError(
                "run_dir_not_in_memory",
                f"{self.run_dir} is not on tmpfs or ramfs (statfs f_type 0x{kind:08x}): released secrets "
                "are never written where they could reach a disk",
            )
        return name

    def _directory(self) -> Path:
        try:
            self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.directory, 0o700)
        except OSError as error:
            raise InputError(f"{self.directory}: {error.strerror or error}") from None
        return self.directory

    def write(self, secrets: dict[str, bytes]) -> list[str]:
        """Write every secret (0400); all or none: on a failure the ones written are removed."""
        for name in secrets:
            check_name(name)
        self.require_memory()
        directory = self._directory()
        written: list[str] = []
        try:
            for name, value in sorted(secrets.items()):
                temporary = directory / f".{name}.{os.getpid()}"
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o400)
                try:
                    view = memoryview(value)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                os.replace(temporary, directory / name)
                written.append(name)
        except OSError as error:
            for name in written:
                self._remove(directory / name)
            raise InputError(f"{directory}: could not write a secret: {error.strerror or error}") from None
        return written

    def names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.directory) if NAME.fullmatch(n))
        except FileNotFoundError:
            return []
        except OSError as error:
            raise InputError(f"{self.directory}: {error.strerror or error}") from None

    def read(self, name: str) -> bytes:
        """One secret's bytes; ``VerificationError("secret_not_released")`` when there is none."""
        path = self.directory / check_name(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise VerificationError(
                "secret_not_released",
                f"no secret {name!r} in {self.directory}: not released (yet), or already removed "
                "('guest finish')",
            ) from None
        except OSError as error:
            raise InputError(f"{path}: {error.strerror or error}") from None
        try:
            chunks: list[bytes] = []
            total = 0
            while chunk := os.read(fd, 1 << 16):
                total += len(chunk)
                if total > SECRET_MAX:
                    raise InputError(f"{path}: larger than {SECRET_MAX} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def scrub(self) -> list[str]:
        """Overwrite each secret with zeros and remove it, then the directory; the names removed."""
        removed: list[str] = []
        try:
            entries = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return removed
        except OSError as error:
            raise InputError(f"{self.directory}: {error.strerror or error}") from None
        for entry in entries:
            self._remove(self.directory / entry)
            if NAME.fullmatch(entry):
                removed.append(entry)
        try:
            self.directory.rmdir()
        except OSError as error:
            if error.errno != errno.ENOENT:
                raise InputError(f"{self.directory}: {error.strerror or error}") from None
        return removed

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            size = path.stat().st_size
            os.chmod(path, 0o600)
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                os.write(fd, b"\0" * size)
            finally:
                os.close(fd)
        except OSError:
            pass  # removing it is what matters
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise InputError(f"{path}: could not remove a secret: {error.strerror or error}") from None
