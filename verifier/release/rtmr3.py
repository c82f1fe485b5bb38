"""Extend TDX RTMR3 with an applied policy's digest, and keep ccverify's own log of it.

Linux >= 6.16 exposes ``/sys/devices/virtual/misc/tdx_guest/measurements/rtmr3:sha384``
(``Documentation/ABI/testing/sysfs-devices-virtual-misc-tdx_guest``): reading gives the 48-byte
register, a write of exactly 48 bytes at offset 0 extends it (RTMR3 = SHA-384(RTMR3 || data)).
The kernel adds no event-log entry for such an extend (Trustee issue 1056 broke on exactly
this), so ``Rtmr3Recorder`` appends a CCEL-format event (``verifier/evidence/rtmr3_log.py``) to
``<run_dir>/rtmr3-events.bin`` for every extend it makes; the verifier replays RTMR3 over the
firmware's CCEL followed by that log (``rtmr3_log.with_runtime_log``).

Order, under an exclusive ``flock`` on the log: read RTMR3, extend, read it again, append the
event (fsync). A register that did not move to SHA-384(before || digest) was extended by someone
else at the same time: the event is still appended (the extend happened) and
``VerificationError("rtmr3_concurrent_extend")`` says the log can no longer replay. A crash
between the extend and the append leaves the log one event short: the replay then fails
closed (the relying party refuses), it never passes wrongly.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.evidence import rtmr3_log
from ccverify.verifier.release.guest import SYSFS_ROOT, FileOps

RTMR3_PATH = Path("devices/virtual/misc/tdx_guest/measurements/rtmr3:sha384")
RUN_DIR = Path("/run/ccverify")
LOG_NAME = "rtmr3-events.bin"
RTMR_SIZE = 48


class Rtmr3Register(Protocol):
    """RTMR3 as the kernel exposes it: read the value, extend with 48 bytes."""

    def available(self) -> bool: ...

    def read(self) -> bytes: ...

    def extend(self, digest: bytes) -> None: ...


class SysfsRtmr3:
    """``<sysfs_root>/devices/virtual/misc/tdx_guest/measurements/rtmr3:sha384`` (Linux >= 6.16)."""

    def __init__(self, sysfs_root: Path = SYSFS_ROOT, *, ops: FileOps | None = None) -> None:
        self.path = Path(sysfs_root) / RTMR3_PATH
        self.ops = ops or FileOps()

    def available(self) -> bool:
        return self.ops.exists(self.path)

    def read(self) -> bytes:
        try:
            value = self.ops.read(self.path, RTMR_SIZE)
        except OSError as error:
            raise InputError(f"{self.path}: {error.strerror or error}") from None
        if len(value) != RTMR_SIZE:
            raise InputError(f"{self.path}: read {len(value)} bytes, an RTMR is {RTMR_SIZE}")
        return value

    def extend(self, digest: bytes) -> None:
        if len(digest) != RTMR_SIZE:
            raise InputError(f"an RTMR is extended with exactly {RTMR_SIZE} bytes, got {len(digest)}")
        try:
            self.ops.write(self.path, digest)
        except OSError as error:
            raise InputError(f"extending RTMR3 through {self.path}: {error.strerror or error}") from None


@dataclass(frozen=True)
class Rtmr3Extend:
    """One recorded extend: the digest, RTMR3 before and after, and where the event went."""

    digest: bytes
    rtmr3_before: bytes
    rtmr3_after: bytes
    log: Path
    event_offset: int


class Rtmr3Recorder:
    """Extend RTMR3 with a policy's digest and record the event in ``<run_dir>/rtmr3-events.bin``."""

    def __init__(
        self,
        sysfs_root: Path = SYSFS_ROOT,
        run_dir: Path = RUN_DIR,
        *,
        register: Rtmr3Register | None = None,
    ) -> None:
        self.register = register if register is not None else SysfsRtmr3(sysfs_root)
        self.run_dir = Path(run_dir)
        self.log_path = self.run_dir / LOG_NAME

    def available(self) -> bool:
        """Whether the kernel offers run-time RTMR3 extends (Linux >= 6.16 in a TD)."""
        return self.register.available()

    def record_policy(self, policy: bytes) -> Rtmr3Extend:
        """Extend RTMR3 with SHA-384(policy) and append the event that says so."""
        return self.record(rtmr3_log.policy_digest(policy))

    def record(self, digest: bytes) -> Rtmr3Extend:
        if len(digest) != RTMR_SIZE:
            raise InputError(f"RTMR3 is extended with a {RTMR_SIZE}-byte SHA-384 digest, got {len(digest)}")
        if not self.register.available():
            raise InputError(
                "this kernel has no run-time RTMR3 extend (/sys/devices/virtual/misc/tdx_guest/measurements/"
                "rtmr3:sha384, Linux >= 6.16 in a TDX guest)"
            )
        try:
            self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise InputError(f"{self.log_path}: {error.strerror or error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            existing = _read_all(fd)
            rtmr3_log.parse_runtime_log(existing)  # refuse to append to something else
            before = self.register.read()
            self.register.extend(digest)
            after = self.register.read()
            header = b"" if existing else rtmr3_log.log_header()
            offset = len(existing) + len(header)
            os.write(fd, header + rtmr3_log.policy_event(digest))
            os.fsync(fd)
        except OSError as error:
            raise InputError(f"{self.log_path}: {error.strerror or error}") from None
        finally:
            os.close(fd)
        expected = hashlib.sha384(before + digest).digest()
        if after != expected:
            raise VerificationError(
                "rtmr3_concurrent_extend",
                "RTMR3 was extended by someone else at the same time, without an event in "
                f"{self.log_path}: the log no longer replays to RTMR3",
                expected=expected,
                actual=after,
            )
        return Rtmr3Extend(digest, before, after, self.log_path, offset)

    def log_bytes(self) -> bytes:
        """The run-time log as it is now (empty when nothing was extended)."""
        try:
            return self.log_path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as error:
            raise InputError(f"{self.log_path}: {error.strerror or error}") from None

    def check(self, firmware_ccel: bytes) -> bytes:
        """RTMR3 replayed over the firmware CCEL and this log; it must equal the register.

        Returns the value; ``VerificationError("rtmr3_log_mismatch")`` when the register differs
        (an extend without an event, or an event without an extend).
        """
        from ccverify.verifier.replay import rtmrs_from_ccel

        merged = rtmr3_log.with_runtime_log(firmware_ccel, self.log_bytes())
        replayed = rtmrs_from_ccel(merged)[3]
        current = self.register.read()
        if replayed != current:
            raise VerificationError(
                "rtmr3_log_mismatch",
                f"the firmware CCEL followed by {self.log_path} does not replay to RTMR3",
                expected=current,
                actual=replayed,
            )
        return replayed


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)
