"""Hypothesis: random bytes and mutated real logs raise nothing but ParseError, and whatever
parses round-trips exactly and replays without any other exception escaping."""

from __future__ import annotations

import contextlib
import os
from functools import cache

import pytest
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


# ------------------------------------------------------------------------------------------
# Forged logs (issue #11 §1): relabel events and reorder them across registers while every
# register keeps its digest sequence, so each forgery replays to the same genuine quote.

from ccverify import verifier  # noqa: E402
from ccverify.verifier.evidence.eventlog import (  # noqa: E402
    INITRD_EVENT_TAG_ID,
    LOAD_OPTIONS_EVENT_TAG_ID,
    EventType,
)
from ccverify.verifier.testing import sample  # noqa: E402
from ccverify.verifier.testing.eventlog_builder import (  # noqa: E402
    LogEvent,
    build_log,
    load_options_digest,
    sha384,
    tagged,
)
from ccverify.verifier.testing.pki import IntelTestPki  # noqa: E402
from tests.unit import test_appraisal_log_rules as rules  # noqa: E402

_KERNEL = sha384(sample.KERNEL)
_EVIL_OPTIONS = rules.EVIL_CMDLINE + " initrd=initrd"


def _options(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


#: content whose digest a forger can wrap as bound free-form data
PREIMAGES = {
    sha384(b"EVIL kernel"): b"EVIL kernel",
    sha384(rules.EVIL_INITRD): rules.EVIL_INITRD,
    sha384(_options(_EVIL_OPTIONS)): _options(_EVIL_OPTIONS),
    _KERNEL: sample.KERNEL,
    sha384(sample.INITRD): sample.INITRD,
}
assert sha384(b"EVIL kernel") == rules.EVIL_KERNEL
assert load_options_digest(rules.EVIL_CMDLINE, initrd=True) == sha384(_options(_EVIL_OPTIONS))


def _late(index: int, digest: bytes) -> LogEvent:
    """A run-time extend labelled as an EFI application."""
    return LogEvent(index, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, digest, bytes(32))


#: honest logs of boots the component set must refuse; each ends with run-time extends of the
#: approved digests, which a forger can relabel as the components
BAD_BOOTS = {
    "evil kernel": rules._boot(kernel=rules.EVIL_KERNEL) + rules.EXIT_BOOT_SERVICES + [_late(2, _KERNEL)],
    "evil initrd": rules._boot(initrd=rules.EVIL_INITRD) + rules.EXIT_BOOT_SERVICES + [
        tagged(3, INITRD_EVENT_TAG_ID, b"Linux initrd\x00", sha384(sample.INITRD))],
    "evil cmdline": rules._boot(cmdline=rules.EVIL_CMDLINE) + rules.EXIT_BOOT_SERVICES + [
        tagged(3, LOAD_OPTIONS_EVENT_TAG_ID, b"LOADED_IMAGE::LoadOptions\x00",
               load_options_digest(sample.CMDLINE, initrd=True))],
    "failed start, then evil": rules._failed_start_then_evil(),
}  # fmt: skip
GOOD_BOOT = rules._boot() + rules.EXIT_BOOT_SERVICES


def _labels(digest: bytes) -> list[tuple[int, bytes]]:
    """Labels a forger may give an event with ``digest``: every claim appraisal reads, and the
    bound free-form wrappings of its content when the forger knows it."""
    labels = [
        (EventType.EV_EFI_BOOT_SERVICES_APPLICATION, bytes(32)),
        (EventType.EV_EFI_ACTION, b"Exit Boot Services Invocation"),
        (EventType.EV_EFI_ACTION, b"Calling EFI Application from Boot Option"),
        (EventType.EV_POST_CODE, b"ACPI DATA"),
        (EventType.EV_SEPARATOR, bytes(4)),
        (EventType.EV_EVENT_TAG, LOAD_OPTIONS_EVENT_TAG_ID.to_bytes(4, "little") + (26).to_bytes(4, "little")
         + b"LOADED_IMAGE::LoadOptions\x00"),
        (EventType.EV_EVENT_TAG, INITRD_EVENT_TAG_ID.to_bytes(4, "little") + (13).to_bytes(4, "little")
         + b"Linux initrd\x00"),
        (EventType.EV_PLATFORM_CONFIG_FLAGS, b"DirectBoot Command Line\x00"),
        (EventType.EV_IPL, b"kernel_cmdline: " + sample.CMDLINE.encode()),
        (EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2, b"\x0atd_payload" + bytes(16)),
    ]  # fmt: skip
    content = PREIMAGES.get(digest)
    if content is not None:
        labels += [
            (EventType.EV_EFI_GPT_EVENT, content),
            (EventType.EV_EFI_ACTION, content),
            (EventType.EV_IPL, b"grub_cmd: " + content),
            (EventType.EV_EFI_VARIABLE_BOOT, rules._uefi_variable("BootOrder", content)),
        ]
    return labels


@st.composite
def forged(draw: st.DrawFn, honest: list[LogEvent], *, relabel: bool = True) -> list[LogEvent]:
    """``honest`` with some events relabelled (digest kept) and the registers interleaved anew
    (each register's own order kept)."""
    events = list(honest)
    if relabel:
        for position in sorted(draw(st.sets(st.integers(0, len(events) - 1), max_size=3))):
            event = events[position]
            event_type, data = draw(st.sampled_from(_labels(event.digest)))
            events[position] = LogEvent(event.index, event_type, event.digest, data)
    queues: dict[int, list[LogEvent]] = {}
    for event in events:
        queues.setdefault(event.index, []).append(event)
    out: list[LogEvent] = []
    while queues:
        index = draw(st.sampled_from(sorted(queues)))
        out.append(queues[index].pop(0))
        if not queues[index]:
            del queues[index]
    return out


@cache
def _pki() -> IntelTestPki:
    return IntelTestPki(seed=sample.SEED + b"/intel")


@cache
def _verdict_for(name: str) -> verifier.TdxVerdict:
    """One genuine verdict per boot: every forgery replays to the same RTMRs."""
    honest = GOOD_BOOT if name == "good" else BAD_BOOTS[name]
    return rules._verdict(_pki(), build_log(honest))


@cache
def _component_values() -> verifier.ReferenceValues:
    return rules._reference_values(rules.GOOD)


def _appraise_forged(name: str, events: list[LogEvent]) -> verifier.AttestationResult:
    log = build_log(events)
    return verifier.appraise(_verdict_for(name), _component_values(), event_log=log, at=rules.AT)


FORGERY = settings(max_examples=EXAMPLES, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD_BOOTS))
def test_no_relabelling_or_reordering_makes_a_refused_boot_affirming(name: str) -> None:
    assert not _appraise_forged(name, BAD_BOOTS[name]).affirming

    @FORGERY
    @given(forged(BAD_BOOTS[name]))
    def check(events: list[LogEvent]) -> None:
        result = _appraise_forged(name, events)
        assert not result.affirming, (name, events, result.reasons)

    check()


@FORGERY
@given(forged(GOOD_BOOT, relabel=False))
def test_the_order_across_registers_does_not_change_an_affirming_result(events: list[LogEvent]) -> None:
    result = _appraise_forged("good", events)
    assert result.affirming, result.reasons
