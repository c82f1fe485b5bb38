"""``/dev/sev-guest``: SNP attestation reports through the SEV guest driver's ioctls.

The structures are those of the kernel's ``include/uapi/linux/sev-guest.h`` (x86-64, natural
alignment; ``tests/unit/test_guest_evidence.py`` pins sizes and offsets against the header's
text)::

    struct snp_report_req { __u8 user_data[64]; __u32 vmpl; __u8 rsvd[28]; };          //  96 bytes
    struct snp_report_resp { __u8 data[4000]; };                                        // 4000 bytes
    struct snp_guest_request_ioctl { __u8 msg_version; __u64 req_data; __u64 resp_data;
                                     union { __u64 exitinfo2; struct { __u32 fw_error;
                                                                       __u32 vmm_error; }; }; };  // 32
    struct snp_ext_report_req { struct snp_report_req data; __u64 certs_address;
                                __u32 certs_len; };                                      // 112 bytes
    #define SNP_GET_REPORT     _IOWR('S', 0x0, struct snp_guest_request_ioctl)
    #define SNP_GET_EXT_REPORT _IOWR('S', 0x2, struct snp_guest_request_ioctl)

``snp_report_resp.data`` is the firmware's MSG_REPORT_RSP: ``u32 status; u32 report_size;
u8 reserved[24]``, then the report (the driver's ``struct snp_msg_report_resp_hdr``).
``SNP_GET_EXT_REPORT`` also copies the host's certificate table to ``certs_address``; the
buffer must be page-aligned in size and at most ``SEV_FW_BLOB_MAX_SIZE`` (16 KiB). When it is
too small the ioctl fails with EIO, ``vmm_error`` = 1 (INVALID_LEN) and ``certs_len`` set to
the size needed; the driver has then consumed the request as a plain report request (the
message sequence number must not be reused), so the provider asks again.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
from collections.abc import Callable
from pathlib import Path

from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.release.guest import DEV_ROOT, REPORT_DATA_SIZE, GuestEvidence, require_report_data

# -- <asm-generic/ioctl.h>: _IOC(dir, type, nr, size) ------------------------------------------
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = 8
_IOC_SIZESHIFT = 16
_IOC_DIRSHIFT = 30
_IOC_WRITE = 1
_IOC_READ = 2


def _IOWR(kind: str, nr: int, size: int) -> int:  # the kernel's macro name
    return (
        ((_IOC_READ | _IOC_WRITE) << _IOC_DIRSHIFT)
        | (size << _IOC_SIZESHIFT)
        | (ord(kind) << _IOC_TYPESHIFT)
        | (nr << _IOC_NRSHIFT)
    )


# -- include/uapi/linux/sev-guest.h ---------------------------------------------------------------
SNP_REPORT_USER_DATA_SIZE = 64


class SnpReportReq(ctypes.Structure):
    _fields_ = [
        ("user_data", ctypes.c_uint8 * SNP_REPORT_USER_DATA_SIZE),
        ("vmpl", ctypes.c_uint32),
        ("rsvd", ctypes.c_uint8 * 28),
    ]


class SnpReportResp(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint8 * 4000)]


class SnpGuestRequestIoctl(ctypes.Structure):
    _fields_ = [
        ("msg_version", ctypes.c_uint8),
        ("req_data", ctypes.c_uint64),
        ("resp_data", ctypes.c_uint64),
        ("exitinfo2", ctypes.c_uint64),  # union { u64 exitinfo2; struct { u32 fw_error; u32 vmm_error; } }
    ]

    @property
    def fw_error(self) -> int:
        return int(self.exitinfo2) & 0xFFFFFFFF

    @property
    def vmm_error(self) -> int:
        return int(self.exitinfo2) >> 32


class SnpExtReportReq(ctypes.Structure):
    _fields_ = [
        ("data", SnpReportReq),
        ("certs_address", ctypes.c_uint64),
        ("certs_len", ctypes.c_uint32),
    ]


SNP_GUEST_REQ_IOC_TYPE = "S"
SNP_GET_REPORT = _IOWR(SNP_GUEST_REQ_IOC_TYPE, 0x0, ctypes.sizeof(SnpGuestRequestIoctl))
SNP_GET_DERIVED_KEY = _IOWR(SNP_GUEST_REQ_IOC_TYPE, 0x1, ctypes.sizeof(SnpGuestRequestIoctl))
SNP_GET_EXT_REPORT = _IOWR(SNP_GUEST_REQ_IOC_TYPE, 0x2, ctypes.sizeof(SnpGuestRequestIoctl))
SNP_GUEST_VMM_ERR_INVALID_LEN = 1
SNP_GUEST_VMM_ERR_BUSY = 2

# -- the driver and the firmware ABI ---------------------------------------------------------
#: include/linux/psp-sev.h: the largest certificate buffer the driver takes
SEV_FW_BLOB_MAX_SIZE = 0x4000
PAGE_SIZE = 4096
#: MSG_REPORT_RSP: u32 status; u32 report_size; u8 reserved[24]; then the report
_REPORT_RSP_HEADER = struct.Struct("<II24x")
_CERT_ENTRY = struct.Struct("<16sII")  # GUID, offset, length (the GHCB cert table)

Ioctl = Callable[[int, int, ctypes.Structure], None]


def _system_ioctl(fd: int, request: int, argument: ctypes.Structure) -> None:
    fcntl.ioctl(fd, request, argument, True)


class SevGuestProvider:
    """SNP reports from ``/dev/sev-guest``: ``SNP_GET_EXT_REPORT`` (report and the host's
    certificate table), or ``SNP_GET_REPORT`` (the report alone) with ``certificates=False``
    or when the host's certificates do not fit the driver's 16 KiB buffer.

    ``vmpl`` is the VMPL asked for (0-3); ``ioctl`` is the system call (tests pass a fake that
    plays the driver on the same structures).
    """

    name = "sev-guest"

    def __init__(
        self,
        device: Path = DEV_ROOT / "sev-guest",
        *,
        vmpl: int = 0,
        certificates: bool = True,
        ioctl: Ioctl | None = None,
    ) -> None:
        if not 0 <= vmpl <= 3:
            raise InputError(f"vmpl is 0-3, got {vmpl}")
        self.device = Path(device)
        self.vmpl = vmpl
        self.certificates = certificates
        self.ioctl = ioctl or _system_ioctl

    def get(self, report_data: bytes) -> GuestEvidence:
        data = require_report_data(report_data)
        try:
            fd = os.open(self.device, os.O_RDWR | os.O_CLOEXEC)
        except OSError as error:
            raise InputError(f"{self.device}: {error.strerror or error}") from None
        try:
            certs: bytes | None = None
            if self.certificates:
                response, certs = self._ext_report(fd, data)
            else:
                response = self._report(fd, data)
        finally:
            os.close(fd)
        report = _report_from_response(response)
        from ccverify.verifier.evidence.snp_report import SnpReport

        got = SnpReport.from_bytes(report).report_data
        if got != data:
            raise VerificationError(
                "report_data_mismatch",
                f"{self.device} returned a report for another REPORT_DATA than was asked",
                expected=data,
                actual=got,
            )
        return GuestEvidence(
            tee="snp", evidence=report, aux_blob=certs, event_log=None,
            provider_name=f"sev-guest ({self.device})", report_data=data,
        )  # fmt: skip

    def _request(self, data: bytes) -> SnpReportReq:
        request = SnpReportReq()
        ctypes.memmove(request.user_data, data, SNP_REPORT_USER_DATA_SIZE)
        request.vmpl = self.vmpl
        return request

    def _call(
        self, fd: int, code: int, request: ctypes.Structure, response: SnpReportResp
    ) -> SnpGuestRequestIoctl:
        guest = SnpGuestRequestIoctl(
            msg_version=1, req_data=ctypes.addressof(request), resp_data=ctypes.addressof(response)
        )
        try:
            self.ioctl(fd, code, guest)
        except OSError as error:
            if error.errno == errno.EIO and guest.vmm_error == SNP_GUEST_VMM_ERR_INVALID_LEN:
                raise _CertsTooSmall from None
            raise InputError(
                f"{self.device}: {'SNP_GET_EXT_REPORT' if code == SNP_GET_EXT_REPORT else 'SNP_GET_REPORT'} "
                f"failed: {error.strerror or error} (firmware error 0x{guest.fw_error:x}, "
                f"VMM error 0x{guest.vmm_error:x})"
            ) from None
        return guest

    def _report(self, fd: int, data: bytes) -> bytes:
        request = self._request(data)
        response = SnpReportResp()
        try:
            self._call(fd, SNP_GET_REPORT, request, response)
        except _CertsTooSmall:
            raise InputError(f"{self.device}: SNP_GET_REPORT failed with INVALID_LEN") from None
        return bytes(response.data)

    def _ext_report(self, fd: int, data: bytes) -> tuple[bytes, bytes | None]:
        certs = (ctypes.c_uint8 * SEV_FW_BLOB_MAX_SIZE)()
        request = SnpExtReportReq(data=self._request(data), certs_address=ctypes.addressof(certs))
        request.certs_len = SEV_FW_BLOB_MAX_SIZE
        response = SnpReportResp()
        try:
            self._call(fd, SNP_GET_EXT_REPORT, request, response)
        except _CertsTooSmall:
            # the host needs more than the driver's largest buffer: the report alone (the verifier
            # fetches the VCEK from AMD KDS)
            return self._report(fd, data), None
        return bytes(response.data), _cert_table(bytes(certs))


class _CertsTooSmall(Exception):
    """EIO with VMM error INVALID_LEN: the certificate buffer is too small."""


def _report_from_response(data: bytes) -> bytes:
    status, size = _REPORT_RSP_HEADER.unpack_from(data)
    if status != 0:
        raise InputError(f"the SNP firmware refused the report request: MSG_REPORT_RSP status 0x{status:x}")
    if size == 0 or _REPORT_RSP_HEADER.size + size > len(data):
        raise InputError(
            f"MSG_REPORT_RSP says the report is {size} bytes, which does not fit the "
            f"{len(data) - _REPORT_RSP_HEADER.size} bytes after its header"
        )
    return data[_REPORT_RSP_HEADER.size : _REPORT_RSP_HEADER.size + size]


def _cert_table(buffer: bytes) -> bytes | None:
    """The certificate table the host wrote: entries up to the all-zero one, and their data.

    Trimmed as the kernel's configfs-tsm trims its ``auxblob`` (to the end of the furthest
    entry), so both interfaces give the same bytes. None when the host gave no certificates.
    """
    end = 0
    for position in range(0, len(buffer) - _CERT_ENTRY.size + 1, _CERT_ENTRY.size):
        guid, offset, length = _CERT_ENTRY.unpack_from(buffer, position)
        if guid == bytes(16) and offset == 0 and length == 0:
            break
        end = max(end, offset + length)
    else:
        raise InputError("the host's certificate table has no terminating entry")
    if end == 0:
        return None
    if end > len(buffer):
        raise InputError(f"the host's certificate table points {end} bytes into a {len(buffer)}-byte buffer")
    return buffer[:end]


__all__ = [
    "PAGE_SIZE",
    "REPORT_DATA_SIZE",
    "SEV_FW_BLOB_MAX_SIZE",
    "SNP_GET_EXT_REPORT",
    "SNP_GET_REPORT",
    "SevGuestProvider",
    "SnpExtReportReq",
    "SnpGuestRequestIoctl",
    "SnpReportReq",
    "SnpReportResp",
]
