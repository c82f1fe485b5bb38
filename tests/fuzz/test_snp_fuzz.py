"""Property tests: SNP report and certificate-table parsers raise nothing but ParseError.

Whatever parses must serialise back to exactly the input bytes.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccverify.verifier.errors import ParseError
from ccverify.verifier.evidence.certtable import CertKind, CertTable
from ccverify.verifier.evidence.snp_report import REPORT_SIZE, Product, SnpReport, TcbParts, TcbVersion
from ccverify.verifier.jsonable import to_jsonable
from tests.conftest import fixture_bytes

SAMPLES = [
    fixture_bytes(name)
    for name in (
        "snp/go-sev-guest/attestation.bin",
        "snp/virtee-sev/report_milan.hex",
        "snp/trustee/test-vlek-report.bin",
        "snp/trustee/azure-genoa-snp-report.bin",
        "snp/teekit/sev-gcp.bin",
        "snp/project-oak/turin_oc_report.bin",
        "snp/project-oak/genoa_oc_report.bin",
    )
]
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def parse_or_parse_error(data: bytes, *, strict: bool = True) -> SnpReport | None:
    try:
        report = SnpReport.from_bytes(data, strict=strict)
    except ParseError:
        return None
    assert report.to_bytes() == data
    to_jsonable(report)
    _ = report.product, report.signed_data, report.signature_der
    return report


@FUZZ
@given(st.binary(max_size=REPORT_SIZE + 64))
def test_random_bytes(data: bytes) -> None:
    parse_or_parse_error(data)
    parse_or_parse_error(data, strict=False)


@FUZZ
@given(
    st.sampled_from([2, 3, 4, 5]),
    st.binary(min_size=REPORT_SIZE - 4, max_size=REPORT_SIZE - 4),
)
def test_random_reports_of_a_supported_version(version: int, rest: bytes) -> None:
    data = version.to_bytes(4, "little") + rest
    parse_or_parse_error(data)
    lax = parse_or_parse_error(data, strict=False)
    signing_key = rest[0x48 - 4] >> 2 & 7
    assert (lax is not None) == (signing_key in (0, 1, 7))


@FUZZ
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(0, REPORT_SIZE - 1), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(REPORT_SIZE - 8, REPORT_SIZE + 8),
)
def test_mutated_real_reports(sample: bytes, changes: list[tuple[int, int]], size: int) -> None:
    data = bytearray(sample)
    for offset, value in changes:
        data[offset] = value
    mutated = bytes(data[:size]) + bytes(max(0, size - REPORT_SIZE))
    parse_or_parse_error(mutated)
    parse_or_parse_error(mutated, strict=False)


@FUZZ
@given(st.integers(0, (1 << 64) - 1), st.sampled_from(list(Product)))
def test_tcb_parts_round_trip(raw: int, product: Product) -> None:
    tcb = TcbVersion(raw)
    parts = tcb.parts(product)
    rebuilt = TcbVersion.from_parts(parts, product)
    assert rebuilt.parts(product) == parts
    assert isinstance(parts, TcbParts)
    assert parts >= parts


def table_or_parse_error(data: bytes) -> None:
    try:
        table = CertTable.from_bytes(data)
    except ParseError:
        return
    assert table.to_bytes() == data
    to_jsonable(table)
    for kind in CertKind:
        table.get(kind)


@FUZZ
@given(st.binary(max_size=512))
def test_random_cert_tables(data: bytes) -> None:
    table_or_parse_error(data)


ENTRY = st.tuples(
    st.one_of(
        st.sampled_from([k for k in CertKind if k is not CertKind.UNKNOWN]),
        st.uuids().filter(lambda u: u != uuid.UUID(int=0)),
    ),
    st.binary(max_size=64),
)


@FUZZ
@given(st.lists(ENTRY, max_size=6))
def test_built_cert_tables_round_trip(entries: list[tuple[CertKind | uuid.UUID, bytes]]) -> None:
    table = CertTable.build(entries)
    data = table.to_bytes()
    parsed = CertTable.from_bytes(data)
    assert parsed == table
    assert parsed.to_bytes() == data
    for kind, body in entries:
        if isinstance(kind, CertKind) and kind not in (CertKind.ASK, CertKind.ASVK):
            assert parsed.get(kind) is not None
            assert body in [e.data for e in parsed.get_all(kind)]


@FUZZ
@given(
    st.lists(ENTRY, min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_mutated_cert_tables(
    entries: list[tuple[CertKind | uuid.UUID, bytes]], changes: list[tuple[int, int]]
) -> None:
    data = bytearray(CertTable.build(entries).to_bytes())
    for offset, value in changes:
        data[offset % len(data)] = value
    table_or_parse_error(bytes(data))
