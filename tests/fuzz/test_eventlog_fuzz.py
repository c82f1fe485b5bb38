"""Hypothesis: random bytes and mutated real logs raise nothing but ParseError, and whatever
parses round-trips exactly and replays without any other exception escaping."""

from __future__ import annotations

import contextlib
import os
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccverify.verifier.errors import CCVerifyError, ParseError
from ccverify.verifier.evidence.eventlog import CcelTable, EventLog
from ccverify.verifier.replay import (
    boot_components,
    check_separators,
    replay,
    rtmrs_from_ccel,
    verify_event_digests,
)
from tests.conftest import fixture_bytes

SEEDS = [
    "measure/go-eventlog/ccel/cos-113-intel-tdx-dupe-separator-unpadded.bin",
    "measure/go-eventlog/ccel/CCEL_unpadded.data.bin",
    "tdx/trustee/CCEL_data_ovmf",
    "measure/go-eventlog/tpm/arch-linux-workstation.bin",
    "measure/go-eventlog/tpm/debian-10.bin",
]
#: CCVERIFY_FUZZ_EXAMPLES=5000 for a longer run
EXAMPLES = int(os.environ.get("CCVERIFY_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def seed(index: int) -> bytes:
    data = fixture_bytes(SEEDS[index])
    return data[:4096] if len(data) > 4096 else data


def exercise(data: bytes) -> None:
    """Parse; on success everything downstream may only raise ccverify's own errors."""
    try:
        log = EventLog.from_bytes(data)
    except ParseError:
        return
    assert log.to_bytes() == data
    for event in log.events:
        event.describe()
    for alg in log.algorithms:
        with contextlib.suppress(CCVerifyError):
            replay(log, algorithm=alg)
    for check in (rtmrs_from_ccel, check_separators, verify_event_digests, boot_components):
        with contextlib.suppress(CCVerifyError):
            check(log)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    exercise(data)


@FUZZ
@given(st.binary(min_size=28, max_size=512))
def test_random_bytes_behind_a_spec_id_header(tail: bytes) -> None:
    exercise(seed(0)[:0x21 + 0x20] + tail)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(seed(draw(st.integers(0, len(SEEDS) - 1))))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_real_logs(data: bytes) -> None:
    exercise(data)


@FUZZ
@given(st.binary(max_size=80), st.integers(0, 55), st.integers(0, 255))
def test_ccel_tables(data: bytes, pos: int, value: int) -> None:
    real = bytearray(fixture_bytes("measure/go-eventlog/ccel/CCEL.bin"))
    real[pos] = value
    for candidate in (data, bytes(real)):
        try:
            table = CcelTable.from_bytes(candidate)
        except ParseError:
            continue
        assert table.to_bytes() == candidate
