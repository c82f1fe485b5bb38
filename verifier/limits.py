"""How many bytes ccverify reads of each kind of input, and the one reader that keeps to it.

Every file a user names (evidence, event logs, collateral, reference values, policies,
certificates...) is read by ``read_bounded(path, kind, what)``: at most ``LIMITS[kind]`` bytes,
refusing anything longer with ``InputTooLargeError`` (an ``InputError``, CLI exit 2) that names
the input and the limit. So ``/dev/zero`` is refused after its first bytes past the limit
instead of filling memory, and the verification service can rely on the same bounds.

The limits (generous for real data: each is far above anything a real platform produces):

==================== ======== ================================================================
kind                 limit    what it bounds
==================== ======== ================================================================
evidence             16 MiB   a TDX quote or SNP report (configfs-tsm's outblob maximum since
                              Linux 7.0; real quotes are ~5 KiB, reports 1184 bytes), hex
                              text included
cert_table           16 MiB   an SNP extended-report certificate table (configfs-tsm auxblob)
event_log            16 MiB   a CCEL / TCG2 event log or ACPI CCEL table (real ones: 64 KiB
                              areas, a few KiB used)
collateral           64 MiB   a collateral bundle or QuoteCollateralV3 JSON (a whole exported
                              cache, every FMSPC, fits)
collateral_entry      4 MiB   one collateral cache file (one PCS/KDS answer: TCB info, CRL,
                              certificate chain)
reference_values     16 MiB   a signed CoRIM (reference values for many images)
measurements          4 MiB   a measurement JSON (``ccverify measure --json``)
policy                1 MiB   a policy JSON file
device_policy         1 MiB   a device-authorization policy file
certificate           1 MiB   a certificate, certificate chain, public key or trust root
                              (PEM or DER)
crl                  16 MiB   a certificate revocation list (PEM or DER)
sequence_store        1 MiB   the reference-value sequence store (JSON)
firmware            256 MiB   a firmware image measured whole (OVMF/TDVF, an SVSM image)
guest_config          1 MiB   the guest gate's configuration (``/etc/ccverify/guest.toml``)
==================== ======== ================================================================

Non-regular files are opened without blocking (``O_NONBLOCK``, so a FIFO without a writer
does not hang the open) and then read blocking under the same bound: a FIFO whose writer is
gone, or that never had one, reads as empty at once; a character device (``/dev/zero``) is
refused at the limit. Directories are refused. ``-`` (stdin) is read with the same bound by
``read_bounded_stdin``.

Library functions that take bytes keep their own checks (a parser refuses what is malformed
whatever its size); these limits are about what is read from the outside.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO, Literal

from ccverify.verifier.errors import InputError, InputTooLargeError

MiB = 1 << 20

InputKind = Literal[
    "evidence",
    "cert_table",
    "event_log",
    "collateral",
    "collateral_entry",
    "reference_values",
    "measurements",
    "policy",
    "device_policy",
    "certificate",
    "crl",
    "sequence_store",
    "firmware",
    "guest_config",
]

#: the most bytes read of each kind of input (see the module docstring)
LIMITS: dict[InputKind, int] = {
    "evidence": 16 * MiB,
    "cert_table": 16 * MiB,
    "event_log": 16 * MiB,
    "collateral": 64 * MiB,
    "collateral_entry": 4 * MiB,
    "reference_values": 16 * MiB,
    "measurements": 4 * MiB,
    "policy": 1 * MiB,
    "device_policy": 1 * MiB,
    "certificate": 1 * MiB,
    "crl": 16 * MiB,
    "sequence_store": 1 * MiB,
    "firmware": 256 * MiB,
    "guest_config": 1 * MiB,
}

_CHUNK = 1 * MiB
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def limit_text(size: int) -> str:
    """``16 MiB``, ``512 KiB``, ``100 bytes``."""
    if size % MiB == 0:
        return f"{size // MiB} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def too_large(kind: InputKind, what: str, limit: int | None = None) -> InputTooLargeError:
    """The error for input ``what`` of ``kind`` longer than its limit."""
    bound = LIMITS[kind] if limit is None else limit
    return InputTooLargeError(
        f"{what}: larger than the {limit_text(bound)} limit for {kind.replace('_', ' ')} input "
        f"({bound} bytes)",
        kind=kind,
        limit=bound,
    )


def read_bounded(path: str | os.PathLike[str], kind: InputKind, what: str | None = None) -> bytes:
    """The bytes of ``path``, at most ``LIMITS[kind]``; ``what`` names it in errors (an option).

    Raises ``InputTooLargeError`` for a longer input, ``InputError`` for an unreadable one or a
    directory. Never blocks on a FIFO without a writer (it reads as empty).
    """
    limit = LIMITS[kind]
    name = f"{what} {path}" if what else str(path)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as error:
        raise InputError(f"{name}: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{name}: is a directory, not a file")
        if stat.S_ISREG(info.st_mode):
            if info.st_size > limit:
                raise too_large(kind, name)
            first = info.st_size + 1  # one more, to see a file that grew past its size
        else:
            # opened without blocking so that a FIFO without a writer cannot hang the open;
            # read blocking: a FIFO with no writer is at its end at once
            os.set_blocking(fd, True)
            first = _CHUNK
        data = _read_fd(fd, limit, first)
    except OSError as error:
        raise InputError(f"{name}: {error.strerror or error}") from None
    finally:
        os.close(fd)
    if data is None:
        raise too_large(kind, name)
    return data


def read_bounded_stdin(kind: InputKind, what: str = "stdin", stream: BinaryIO | None = None) -> bytes:
    """Standard input (or ``stream``), at most ``LIMITS[kind]`` bytes."""
    limit = LIMITS[kind]
    source = stream if stream is not None else sys.stdin.buffer
    chunks: list[bytes] = []
    total = 0
    try:
        while total <= limit:
            chunk = source.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as error:
        raise InputError(f"{what}: {error.strerror or error}") from None
    if total > limit:
        raise too_large(kind, what)
    return b"".join(chunks)


def read_bounded_path(path: Path | str, kind: InputKind, what: str | None = None) -> bytes:
    """``read_bounded``, with ``-`` meaning standard input."""
    if str(path) == "-":
        return read_bounded_stdin(kind, f"{what} -" if what else "stdin")
    return read_bounded(path, kind, what)


def _read_fd(fd: int, limit: int, first: int) -> bytes | None:
    """Up to ``limit`` bytes of ``fd``; ``None`` when there are more."""
    chunks: list[bytes] = []
    total = 0
    want = min(first, limit + 1)
    while total <= limit:
        chunk = os.read(fd, want)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = min(_CHUNK, limit + 1 - total)
    if total > limit:
        return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
