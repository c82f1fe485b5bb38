"""Fake configfs-tsm and sysfs trees for the guest-evidence tests.

The trees are real files under a temporary folder; ``FakeKernel`` (a ``FileOps``) plays the
kernel's part where a plain file cannot: ``mkdir`` in ``tsm/report`` populates an entry as the
configfs-tsm core does, a write to ``inblob``/``privlevel`` bumps ``generation``, a read of
``outblob``/``auxblob`` generates the evidence from the current ``inblob``, and a 48-byte write
to an ``rtmr*:sha384`` file extends it (anything else is EINVAL).
"""

from __future__ import annotations

import errno
import hashlib
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.evidence.snp_report import Product
from ccverify.verifier.release.guest import CCEL_DATA, FileOps
from ccverify.verifier.release.rtmr3 import RTMR3_PATH
from ccverify.verifier.testing.pki import derive_ec_key
from ccverify.verifier.testing.sample import mint_tdx_quote, sample_tdx_event_log
from ccverify.verifier.testing.snp_builder import build_snp_report

MINTED_AT = datetime(2027, 3, 1, tzinfo=UTC)


def tdx_outblob(inblob: bytes) -> tuple[bytes, bytes]:
    return mint_tdx_quote(inblob, now=MINTED_AT)[0], b""


def snp_report(report_data: bytes) -> bytes:
    key = derive_ec_key(b"ccverify-guest-tests", "vcek", ec.SECP384R1())
    return build_snp_report(key, product=Product.MILAN, report_data=report_data).to_bytes()


def cert_table(entries: list[tuple[str, bytes]]) -> bytes:
    """A GHCB certificate table: (GUID, offset, length) entries, the all-zero one, then the data."""
    import struct
    import uuid

    header = 24 * (len(entries) + 1)
    table, blobs = b"", b""
    for guid, data in entries:
        table += uuid.UUID(guid).bytes_le + struct.pack("<II", header + len(blobs), len(data))
        blobs += data
    return table + bytes(24) + blobs


VCEK_GUID = "63da758d-e664-4564-adc5-f4b93be8accd"
SNP_CERTS = cert_table([(VCEK_GUID, b"0\x82 pretend DER VCEK")])


def snp_outblob(inblob: bytes) -> tuple[bytes, bytes]:
    return snp_report(inblob), SNP_CERTS


class FakeKernel(FileOps):
    """configfs-tsm and tsm-mr semantics on a tree of plain files."""

    def __init__(
        self,
        config_root: Path,
        *,
        provider: str = "tdx_guest",
        generate: Callable[[bytes], tuple[bytes, bytes]] = tdx_outblob,
        racing_attempts: int = 0,
        outblob_error: int | None = None,
        with_auxblob: bool | None = None,
    ) -> None:
        self.reports = config_root / "tsm" / "report"
        self.reports.mkdir(parents=True, exist_ok=True)
        self.provider = provider
        self.generate = generate
        self.racing_attempts = racing_attempts  # this many entries see a concurrent write
        self.outblob_error = outblob_error
        self.with_auxblob = provider == "sev_guest" if with_auxblob is None else with_auxblob
        self.made: list[Path] = []
        self.removed: list[Path] = []
        self.writes: list[tuple[str, bytes]] = []
        self.extra_extend: bytes | None = None  # a concurrent RTMR3 extend, once

    # -- configfs-tsm --------------------------------------------------------------------
    def mkdir(self, path: Path) -> None:
        super().mkdir(path)
        if path.parent == self.reports:
            self.made.append(path)
            (path / "provider").write_text(self.provider + "\n")
            (path / "generation").write_text("0\n")
            (path / "inblob").write_bytes(b"")
            (path / "outblob").write_bytes(b"")
            if self.with_auxblob:
                (path / "auxblob").write_bytes(b"")
            if self.provider == "sev_guest":
                (path / "privlevel").write_bytes(b"")

    def rmdir(self, path: Path) -> None:
        if path.parent == self.reports:
            self.removed.append(path)
            shutil.rmtree(path)
        else:
            super().rmdir(path)

    def _bump(self, entry: Path, by: int = 1) -> None:
        generation = int((entry / "generation").read_text())
        (entry / "generation").write_text(f"{generation + by}\n")

    def write(self, path: Path, data: bytes) -> None:
        self.writes.append((path.name, data))
        if path.name.startswith("rtmr") and path.name.endswith(":sha384"):
            self._extend(path, data)
            return
        super().write(path, data)
        if path.parent.parent == self.reports and path.name in ("inblob", "privlevel"):
            self._bump(path.parent)
            if len(self.made) <= self.racing_attempts and path.name == "inblob":
                self._bump(path.parent)  # another process wrote an option meanwhile

    def read(self, path: Path, limit: int) -> bytes:
        if path.parent.parent == self.reports and path.name in ("outblob", "auxblob"):
            if path.name == "outblob" and self.outblob_error is not None:
                raise OSError(self.outblob_error, "fake " + errno.errorcode[self.outblob_error])
            outblob, auxblob = self.generate((path.parent / "inblob").read_bytes())
            (path.parent / "outblob").write_bytes(outblob)
            if self.with_auxblob:
                (path.parent / "auxblob").write_bytes(auxblob)
        return super().read(path, limit)

    # -- tsm-mr ----------------------------------------------------------------------------
    def _extend(self, path: Path, data: bytes) -> None:
        if len(data) != 48:
            raise OSError(errno.EINVAL, "Invalid argument")
        value = hashlib.sha384(path.read_bytes() + data).digest()
        if self.extra_extend is not None:
            value = hashlib.sha384(value + self.extra_extend).digest()
            self.extra_extend = None
        path.write_bytes(value)


def sysfs_tree(root: Path, *, ccel: bytes | None = None, rtmr3: bytes | None = None) -> Path:
    """A /sys with the CCEL's data file and the tdx_guest measurement registers, as asked."""
    if ccel is not None:
        (root / CCEL_DATA).parent.mkdir(parents=True, exist_ok=True)
        (root / CCEL_DATA).write_bytes(ccel)
        (root / CCEL_DATA).parent.parent.joinpath("CCEL").write_bytes(b"CCEL table")
    if rtmr3 is not None:
        (root / RTMR3_PATH).parent.mkdir(parents=True, exist_ok=True)
        (root / RTMR3_PATH).write_bytes(rtmr3)
    return root


SAMPLE_CCEL = sample_tdx_event_log()


class FakeSevGuest:
    """Plays the sev-guest driver's ioctls on the caller's structures (same process memory)."""

    def __init__(
        self,
        *,
        certs: bytes = SNP_CERTS,
        status: int = 0,
        report_for: Callable[[bytes], bytes] = snp_report,
        fail_errno: int | None = None,
    ) -> None:
        self.certs = certs
        self.status = status
        self.report_for = report_for
        self.fail_errno = fail_errno
        self.calls: list[tuple[int, int, int]] = []  # (request, certs_len, vmpl)

    def __call__(self, fd: int, request: int, guest: object) -> None:
        import ctypes
        import struct

        from ccverify.verifier.release import sev_guest as sg

        assert isinstance(guest, sg.SnpGuestRequestIoctl)
        assert guest.msg_version == 1
        if request == sg.SNP_GET_EXT_REPORT:
            ext = sg.SnpExtReportReq.from_address(guest.req_data)
            report_req = ext.data
            self.calls.append((request, ext.certs_len, report_req.vmpl))
            if self.certs and ext.certs_len < len(self.certs):
                ext.certs_len = (len(self.certs) + 4095) // 4096 * 4096
                guest.exitinfo2 = sg.SNP_GUEST_VMM_ERR_INVALID_LEN << 32
                raise OSError(errno.EIO, "Input/output error")
            ctypes.memmove(ext.certs_address, bytes(ext.certs_len), ext.certs_len)
            ctypes.memmove(ext.certs_address, self.certs, len(self.certs))
        elif request == sg.SNP_GET_REPORT:
            report_req = sg.SnpReportReq.from_address(guest.req_data)
            self.calls.append((request, 0, report_req.vmpl))
        else:
            raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")
        if self.fail_errno is not None:
            guest.exitinfo2 = 0x16
            raise OSError(self.fail_errno, "fake failure")
        report = self.report_for(bytes(report_req.user_data))
        response = struct.pack("<II24x", self.status, len(report)) + report
        ctypes.memmove(guest.resp_data, response.ljust(4000, b"\0"), 4000)
