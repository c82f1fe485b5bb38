"""``verifier/release/sev_guest.py``'s ctypes structures and ioctl numbers against the kernel's header.

``HEADER`` is ``include/uapi/linux/sev-guest.h`` as in torvalds/linux (commit 0ea5c948cb64,
the structures and ioctl definitions verbatim, comments dropped). The test lays the structures
out from that text with the C rules for x86-64 (natural alignment) and compares every field's
offset and every size with the ctypes definitions, and computes the ioctl numbers the way
``<asm-generic/ioctl.h>``'s ``_IOWR`` does.
"""

from __future__ import annotations

import ctypes
import re

import pytest

from ccverify.verifier.release import sev_guest

HEADER = """
#define SNP_REPORT_USER_DATA_SIZE 64

struct snp_report_req {
	__u8 user_data[SNP_REPORT_USER_DATA_SIZE];
	__u32 vmpl;
	__u8 rsvd[28];
};

struct snp_report_resp {
	__u8 data[4000];
};

struct snp_derived_key_req {
	__u32 root_key_select;
	__u32 rsvd;
	__u64 guest_field_select;
	__u32 vmpl;
	__u32 guest_svn;
	__u64 tcb_version;
};

struct snp_derived_key_resp {
	__u8 data[64];
};

struct snp_guest_request_ioctl {
	__u8 msg_version;
	__u64 req_data;
	__u64 resp_data;
	union {
		__u64 exitinfo2;
		struct {
			__u32 fw_error;
			__u32 vmm_error;
		};
	};
};

struct snp_ext_report_req {
	struct snp_report_req data;
	__u64 certs_address;
	__u32 certs_len;
};

#define SNP_GUEST_REQ_IOC_TYPE	'S'
#define SNP_GET_REPORT _IOWR(SNP_GUEST_REQ_IOC_TYPE, 0x0, struct snp_guest_request_ioctl)
#define SNP_GET_DERIVED_KEY _IOWR(SNP_GUEST_REQ_IOC_TYPE, 0x1, struct snp_guest_request_ioctl)
#define SNP_GET_EXT_REPORT _IOWR(SNP_GUEST_REQ_IOC_TYPE, 0x2, struct snp_guest_request_ioctl)
#define SNP_GUEST_VMM_ERR_INVALID_LEN	1
#define SNP_GUEST_VMM_ERR_BUSY		2
"""

_SCALARS = {"__u8": 1, "__u16": 2, "__u32": 4, "__u64": 8}
_DEFINES = dict(re.findall(r"#define (\w+)\s+(\d+)\n", HEADER))


def _body(name: str) -> str:
    match = re.search(r"struct " + name + r" \{\n(.*?)\n\};", HEADER, re.S)
    assert match, name
    return match.group(1)


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def _layout(name: str) -> tuple[dict[str, int], int, int]:
    """Field offsets, size and alignment of a struct of the header (x86-64 C layout)."""
    body = _body(name)
    offsets: dict[str, int] = {}
    offset, alignment = 0, 1
    # a union of a __u64 and a struct of two __u32 is 8 bytes, aligned to 8, named by its u64
    body = re.sub(r"union \{\s*__u64 (\w+);.*?\};\s*\};", r"__u64 \1;", body, flags=re.S)
    for line in filter(None, (part.strip() for part in body.split(";"))):
        nested = re.fullmatch(r"struct (\w+) (\w+)", line)
        if nested:
            _, size, field_alignment = _layout(nested.group(1))
            field = nested.group(2)
        else:
            match = re.fullmatch(r"(__u\d+) (\w+)(?:\[(\w+)\])?", line)
            assert match, line
            base, field, count = match.groups()
            field_alignment = _SCALARS[base]
            size = field_alignment * int(_DEFINES.get(count, count) if count else 1)
        offset = _align(offset, field_alignment)
        offsets[field] = offset
        offset += size
        alignment = max(alignment, field_alignment)
    return offsets, _align(offset, alignment), alignment


@pytest.mark.parametrize(
    ("c_name", "structure"),
    [
        ("snp_report_req", sev_guest.SnpReportReq),
        ("snp_report_resp", sev_guest.SnpReportResp),
        ("snp_guest_request_ioctl", sev_guest.SnpGuestRequestIoctl),
        ("snp_ext_report_req", sev_guest.SnpExtReportReq),
    ],
)
def test_structures_match_the_header(c_name: str, structure: type[ctypes.Structure]) -> None:
    offsets, size, _ = _layout(c_name)
    assert ctypes.sizeof(structure) == size
    assert {name: getattr(structure, name).offset for name, *_ in structure._fields_} == offsets


def test_the_layouts_are_the_ones_the_driver_documents() -> None:
    """Independent of the layout rules above: the sizes everyone hard-codes."""
    assert _layout("snp_report_req")[1] == 96
    expected = {"msg_version": 0, "req_data": 8, "resp_data": 16, "exitinfo2": 24}
    assert _layout("snp_guest_request_ioctl")[0] == expected
    assert _layout("snp_ext_report_req")[0] == {"data": 0, "certs_address": 96, "certs_len": 104}
    assert _layout("snp_ext_report_req")[1] == 112


def _iowr(kind: str, nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord(kind) << 8) | nr


def test_ioctl_numbers_are_iowr_of_the_header() -> None:
    size = _layout("snp_guest_request_ioctl")[1]
    kind = re.search(r"SNP_GUEST_REQ_IOC_TYPE\s+'(.)'", HEADER).group(1)  # type: ignore[union-attr]
    for name, nr in re.findall(r"#define (SNP_GET_\w+) _IOWR\(SNP_GUEST_REQ_IOC_TYPE, (0x\d+),", HEADER):
        assert getattr(sev_guest, name) == _iowr(kind, int(nr, 16), size), name
    assert sev_guest.SNP_GET_REPORT == 0xC0205300
    assert sev_guest.SNP_GET_EXT_REPORT == 0xC0205302
    assert int(_DEFINES["SNP_GUEST_VMM_ERR_INVALID_LEN"]) == sev_guest.SNP_GUEST_VMM_ERR_INVALID_LEN


def test_exitinfo2_splits_as_the_union_does() -> None:
    request = sev_guest.SnpGuestRequestIoctl(exitinfo2=(1 << 32) | 0x16)
    assert (request.fw_error, request.vmm_error) == (0x16, 1)
