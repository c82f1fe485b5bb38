"""What an event log may claim about the boot components, and what appraisal makes of it.

The replay binds digests to the quoted RTMRs, nothing more: which events count as the
firmware, kernel, command line and initrd is appraisal's rule. Each case here is an event log
that replays exactly to a genuine quote (example test PKI, real signatures) yet tries to make
a component look like the one the reference values name.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify import verifier
from ccverify.verifier.evidence.eventlog import (
    INITRD_EVENT_TAG_ID,
    LOAD_OPTIONS_EVENT_TAG_ID,
    EventLog,
    EventType,
)
from ccverify.verifier.evidence.tdx_quote import TdAttributes
from ccverify.verifier.refvalues import load_reference_values, sign_reference_values
from ccverify.verifier.refvalues.profile import MEASUREMENTS_FORMAT, from_measurements
from ccverify.verifier.replay import boot_components, rtmrs_from_ccel
from ccverify.verifier.testing import sample
from ccverify.verifier.testing.eventlog_builder import (
    LogEvent,
    action,
    build_log,
    load_options_digest,
    separator,
    sha384,
    tagged,
)
from ccverify.verifier.testing.pki import DEFAULT_TEE_TCB_SVN, IntelTestPki, derive_ec_key
from ccverify.verifier.testing.tdx_builder import build_tdx_quote
from tests.conftest import REPO, fixture_bytes

AT = sample.SAMPLE_TIME
EXAMPLES = REPO / "reference-values" / "examples"
EVIL_KERNEL = sha384(b"EVIL kernel")
EVIL_CMDLINE = "console=hvc0 root=/dev/vda1 ro init=/bin/evil"
GOOD = {
    "firmware": {"sha384": sha384(sample.FIRMWARE_VOLUME).hex()},
    "kernel": {"authenticode-sha384": sha384(sample.KERNEL).hex()},
    "cmdline": {"sha384": load_options_digest(sample.CMDLINE, initrd=True).hex()},
    "initrd": {"sha384": sha384(sample.INITRD).hex()},
}


@pytest.fixture(scope="module")
def pki() -> IntelTestPki:
    return IntelTestPki(seed=sample.SEED + b"/intel")


def _verdict(pki: IntelTestPki, log: bytes, rtmrs: list[bytes] | None = None) -> verifier.TdxVerdict:
    """A genuine verdict whose quote carries ``rtmrs`` (by default: the log's own replay)."""
    registers = rtmrs if rtmrs is not None else list(rtmrs_from_ccel(EventLog.from_bytes(log)))
    quote = build_tdx_quote(
        pck_key=pki.pck_key,
        pck_chain_pem=pki.pck_chain_pem(),
        attestation_key=derive_ec_key(sample.SEED, "intel/attestation-key", ec.SECP256R1()),
        body_fields={
            "tee_tcb_svn": DEFAULT_TEE_TCB_SVN,
            "mr_td": sample.MRTD,
            "rtmrs": tuple(registers),
            "td_attributes": int(TdAttributes.SEPT_VE_DISABLE).to_bytes(8, "little"),
            "report_data": bytes(64),
        },
    )
    return verifier.verify_tdx(
        quote,
        verifier.load_collateral(EXAMPLES / "tdx-collateral.json"),
        at=AT,
        trust_root=(EXAMPLES / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem").read_bytes(),
    )


def _rtmr0() -> bytes:
    """RTMR0 of ``_boot()``: the host-provided configuration a component set cannot account for."""
    return rtmrs_from_ccel(EventLog.from_bytes(build_log(_boot())))[0]


def _reference_values(
    components: dict[str, dict[str, str]], *, rtmr0: bool = True
) -> verifier.ReferenceValues:
    """MRTD, RTMR0 and the components: RTMR1 and RTMR2 unpinned, so the components must carry
    the check (``rtmr0=False``: RTMR0 unpinned too)."""
    values = {"mrtd": sample.MRTD.hex()}
    if rtmr0:
        values["rtmr0"] = _rtmr0().hex()
    document = {
        "format": MEASUREMENTS_FORMAT,
        "platform": "tdx",
        "values": values,
        "components": components,
    }
    rv = from_measurements(
        document, id="log-rules", sequence=1, not_before=datetime(2026, 1, 1, tzinfo=UTC),
        not_after=datetime(2026, 2, 1, tzinfo=UTC),
    )  # fmt: skip
    key = sample._signer_key()
    return load_reference_values(sign_reference_values(rv, key), [key.public_key()], at=AT)


def _boot(
    *, kernel: bytes = sha384(sample.KERNEL), cmdline: str = sample.CMDLINE, initrd: bytes = sample.INITRD
) -> list[LogEvent]:
    """TDVF + EFI stub direct boot up to (not including) ExitBootServices."""
    return [
        LogEvent(1, EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2, sha384(sample.FIRMWARE_VOLUME),
                 b"\x29Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)" + (0xFFC00000).to_bytes(8, "little")
                 + len(sample.FIRMWARE_VOLUME).to_bytes(8, "little")),
        separator(1),
        LogEvent(2, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, kernel, bytes(32)),
        action(2, "Calling EFI Application from Boot Option"),
        separator(2),
        tagged(3, LOAD_OPTIONS_EVENT_TAG_ID, b"LOADED_IMAGE::LoadOptions\x00",
               load_options_digest(cmdline, initrd=True)),
        tagged(3, INITRD_EVENT_TAG_ID, b"Linux initrd\x00", sha384(initrd)),
    ]  # fmt: skip


EXIT_BOOT_SERVICES = [
    action(2, "Exit Boot Services Invocation"),
    action(2, "Exit Boot Services Returned with Success"),
]


def _appraise(pki: IntelTestPki, events: list[LogEvent], **kwargs: object) -> verifier.AttestationResult:
    log = build_log(events)
    rtmrs = kwargs.pop("rtmrs", None)
    return verifier.appraise(
        _verdict(pki, log, rtmrs),  # type: ignore[arg-type]
        _reference_values(GOOD),
        event_log=log,
        at=AT,
        **kwargs,  # type: ignore[arg-type]
    )


def _codes(result: verifier.AttestationResult) -> set[str]:
    return {reason.code for reason in result.reasons}


def test_a_plain_direct_boot_is_affirming_on_its_components(pki: IntelTestPki) -> None:
    """The rules below must not refuse the boot they protect."""
    result = _appraise(pki, _boot() + EXIT_BOOT_SERVICES)
    assert result.affirming, result.reasons
    assert _codes(result) == {"ok"}


def test_a_kernel_event_appended_after_the_one_that_ran_is_ambiguous(pki: IntelTestPki) -> None:
    """The evil kernel ran (its digest is in RTMR1) and extended RTMR1 with the benign digest
    itself: taking the last application would appraise the benign one."""
    events = _boot(kernel=EVIL_KERNEL)
    benign = LogEvent(2, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, sha384(sample.KERNEL), bytes(32))
    events.insert(5, benign)
    result = _appraise(pki, events + EXIT_BOOT_SERVICES)
    assert not result.affirming
    assert "kernel_ambiguous" in _codes(result)
    (reason,) = [r for r in result.reasons if r.code == "kernel_ambiguous"]
    assert "(3, 6)" in reason.detail


@pytest.mark.parametrize("ignore_rtmr3", [False, True])
def test_components_claimed_in_rtmr3_are_not_components(pki: IntelTestPki, ignore_rtmr3: bool) -> None:
    """RTMR3 is the running guest's: benign command line, initrd and firmware logged there
    (and, with ignore_rtmr3, not even in the quote) do not stand for the evil ones in RTMR2."""
    events = _boot(cmdline=EVIL_CMDLINE, initrd=b"EVIL initrd") + EXIT_BOOT_SERVICES + [
        tagged(4, LOAD_OPTIONS_EVENT_TAG_ID, b"LOADED_IMAGE::LoadOptions\x00",
               load_options_digest(sample.CMDLINE, initrd=True)),
        tagged(4, INITRD_EVENT_TAG_ID, b"Linux initrd\x00", sha384(sample.INITRD)),
    ]  # fmt: skip
    log = build_log(events)
    rtmrs = list(rtmrs_from_ccel(EventLog.from_bytes(log)))
    if ignore_rtmr3:
        rtmrs[3] = bytes(48)
    result = _appraise(pki, events, rtmrs=rtmrs, ignore_rtmr3=ignore_rtmr3)
    assert not result.affirming
    assert {"cmdline_mismatch", "initrd_mismatch"} <= _codes(result)
    assert not {"cmdline_ambiguous", "initrd_ambiguous"} & _codes(result)


def test_rtmr1_events_after_a_proven_exit_boot_services_are_not_components(pki: IntelTestPki) -> None:
    """RTMR1's order is bound: a kernel digest extended after ExitBootServices (the hash of the
    string, in the same register) was not booted by the firmware. An approved digest there is
    accounted for (it is approved); it is not a second kernel."""
    extra = LogEvent(2, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, sha384(sample.KERNEL), bytes(32))
    events = _boot() + EXIT_BOOT_SERVICES + [extra]
    assert [c.number for c in boot_components(EventLog.from_bytes(build_log(events))).kernel] == [3]
    result = _appraise(pki, events)
    assert result.affirming, result.reasons


def test_an_unapproved_digest_after_exit_boot_services_is_unrecognized(pki: IntelTestPki) -> None:
    events = _boot() + EXIT_BOOT_SERVICES + [LogEvent(2, EventType.EV_POST_CODE, EVIL_KERNEL, b"late")]
    result = _appraise(pki, events)
    assert not result.affirming
    (reason,) = [r for r in result.reasons if r.code == "event_log_unrecognized_event"]
    assert reason.actual == EVIL_KERNEL.hex()
    assert "RTMR1 event 10 (claimed EV_POST_CODE" in reason.detail
    assert result.trust_vector["executables"] == 33


def test_rtmr1_exit_boot_services_does_not_order_rtmr2(pki: IntelTestPki) -> None:
    """The evil command line was measured; the benign one placed after ExitBootServices in file
    order could have been extended at any time: RTMR2's order against RTMR1 is not bound, so
    both are command lines (ambiguous), and the evil digest is unrecognized."""
    events = _boot(cmdline=EVIL_CMDLINE) + EXIT_BOOT_SERVICES + [
        tagged(3, LOAD_OPTIONS_EVENT_TAG_ID, b"LOADED_IMAGE::LoadOptions\x00",
               load_options_digest(sample.CMDLINE, initrd=True)),
    ]  # fmt: skip
    result = _appraise(pki, events)
    assert not result.affirming
    assert {"cmdline_ambiguous", "event_log_unrecognized_event"} <= _codes(result)
    components = boot_components(EventLog.from_bytes(build_log(events)))
    assert [c.number for c in components.cmdline] == [6, 10]
    (unrecognized,) = [r for r in result.reasons if r.code == "event_log_unrecognized_event"]
    assert unrecognized.actual == load_options_digest(EVIL_CMDLINE, initrd=True).hex()
    assert "RTMR2 event 6" in unrecognized.detail


def _with_grub_cmdline(text: bytes) -> bytes:
    """go-tdx-guest's real COS-113 CCEL with event 41's grub command line text replaced and
    its digest kept (the quote's RTMRs still match: the replay binds digests only)."""
    raw = fixture_bytes("tdx/go-tdx-guest/ccel/ccel_data.dat")
    event = next(e for e in EventLog.from_bytes(raw).events if e.number == 41)
    data = b"kernel_cmdline: " + text + b"\x00"
    start = event.data_offset
    forged = raw[: start - 4] + len(data).to_bytes(4, "little") + data + raw[start + len(event.data) :]
    return forged[: len(raw)] if len(forged) >= len(raw) else forged + b"\xff" * (len(raw) - len(forged))


def test_a_command_line_text_not_bound_by_its_digest_is_not_given() -> None:
    real = boot_components(EventLog.from_bytes(fixture_bytes("tdx/go-tdx-guest/ccel/ccel_data.dat")))
    assert real.cmdline[0].text is not None and real.cmdline[0].text.startswith("/syslinux/vmlinuz.A")
    forged = boot_components(EventLog.from_bytes(_with_grub_cmdline(b"console=ttyS0 lockdown=integrity")))
    (cmdline,) = forged.cmdline
    assert cmdline.text is None
    assert cmdline.digest == real.cmdline[0].digest


def test_a_forged_grub_command_line_text_is_not_affirmed(pki: IntelTestPki) -> None:
    log = _with_grub_cmdline(b"console=ttyS0 lockdown=integrity")
    rv = _reference_values({"cmdline": {"text": "console=ttyS0 lockdown=integrity"}})
    result = verifier.appraise(_verdict(pki, log), rv, event_log=log, at=AT)
    assert not result.affirming
    assert "cmdline_unverifiable" in _codes(result)


def test_reference_values_are_checked_for_validity_at_the_appraisal_time(pki: IntelTestPki) -> None:
    """Loaded once while valid, appraised after they expired: not affirming."""
    events = _boot() + EXIT_BOOT_SERVICES
    log = build_log(events)
    rv = _reference_values(GOOD)
    late = verifier.appraise(_verdict(pki, log), rv, event_log=log, at=datetime(2026, 3, 1, tzinfo=UTC))
    assert not late.affirming
    assert "refvalues_expired" in _codes(late)
    early = verifier.appraise(_verdict(pki, log), rv, event_log=log, at=datetime(2025, 12, 1, tzinfo=UTC))
    assert "refvalues_not_yet_valid" in _codes(early)


# ------------------------------------------------------------------------------------------
# Forged logs that replay to a genuine quote (issue #11 §1): the same digests per register,
# other labels, data or order across registers

RETURNING = action(2, "Returning from EFI Application from Boot Option")
CALLING = action(2, "Calling EFI Application from Boot Option")
EVIL_INITRD = b"EVIL initrd"


def _relabel(event: LogEvent, event_type: int, data: bytes) -> LogEvent:
    """The same register and digest (so the same replay), another label."""
    return LogEvent(event.index, event_type, event.digest, data)


def _per_register(events: list[LogEvent]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for event in events:
        out.setdefault(event.index, []).append(event.digest)
    return out


def _failed_start_then_evil() -> list[LogEvent]:
    """TDVF started the approved kernel, whose EFI stub measured the approved command line and
    initrd and then failed and returned; then it started an unapproved kernel (event 9), which
    ran with its own initrd (event 11)."""
    boot = _boot()
    evil = LogEvent(2, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, EVIL_KERNEL, bytes(32))
    evil_initrd = tagged(3, INITRD_EVENT_TAG_ID, b"Linux initrd\x00", sha384(EVIL_INITRD))
    return [*boot, RETURNING, evil, CALLING, evil_initrd, *EXIT_BOOT_SERVICES]


def test_a_failed_approved_start_then_an_unapproved_kernel_is_refused_on_the_honest_log(
    pki: IntelTestPki,
) -> None:
    result = _appraise(pki, _failed_start_then_evil())
    assert not result.affirming
    assert {"kernel_ambiguous", "initrd_ambiguous"} <= _codes(result)
    unrecognized = {r.actual for r in result.reasons if r.code == "event_log_unrecognized_event"}
    assert unrecognized == {EVIL_KERNEL.hex(), sha384(EVIL_INITRD).hex()}


def test_an_unapproved_kernel_relabelled_as_exit_boot_services_is_refused(pki: IntelTestPki) -> None:
    """Issue #11 §1, first case: the unapproved kernel's event says EV_EFI_ACTION "Exit Boot
    Services Invocation" (its digest kept, so RTMR1 still replays) and the unapproved initrd's
    tag comes after it in file order. Affirming before: everything after the fake
    ExitBootServices was dropped, so kernel, command line and initrd each "matched"."""
    honest = _failed_start_then_evil()
    forged = list(honest)
    forged[8] = _relabel(honest[8], EventType.EV_EFI_ACTION, b"Exit Boot Services Invocation")
    assert forged[10].index == 3 and forged[10].digest == sha384(EVIL_INITRD)
    assert _per_register(forged) == _per_register(honest)
    log = build_log(forged)
    rtmrs = list(rtmrs_from_ccel(EventLog.from_bytes(build_log(honest))))
    assert list(rtmrs_from_ccel(EventLog.from_bytes(log))) == rtmrs
    result = _appraise(pki, forged, rtmrs=rtmrs)
    assert not result.affirming
    assert result.trust_vector["executables"] == 96
    (contradiction,) = [r for r in result.reasons if r.code == "event_log_contradiction"]
    assert "RTMR1 event 9" in contradiction.detail and "EV_EFI_ACTION" in contradiction.detail
    assert contradiction.actual == EVIL_KERNEL.hex()
    assert contradiction.expected == sha384(b"Exit Boot Services Invocation").hex()
    # the fake ExitBootServices ends nothing: the unapproved initrd is still an initrd
    assert "initrd_ambiguous" in _codes(result)
    unrecognized = {r.actual for r in result.reasons if r.code == "event_log_unrecognized_event"}
    assert sha384(EVIL_INITRD).hex() in unrecognized


def test_run_time_extends_of_approved_digests_do_not_stand_for_the_boot(pki: IntelTestPki) -> None:
    """Issue #11 §1, second case: an unapproved kernel booted with an unapproved initrd, then at
    run time extended RTMR1 with the approved kernel's digest and RTMR2 with the approved
    initrd's. The forged log labels its own events EV_POST_CODE (the ExitBootServices action
    too, so nothing ends the boot) and the run-time extends as the kernel application and the
    INITRD tag. Affirming before: ``appraise`` never looked at EV_POST_CODE events."""
    boot = _boot(kernel=EVIL_KERNEL, initrd=EVIL_INITRD)
    late_kernel = LogEvent(2, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, sha384(sample.KERNEL), bytes(32))
    late_initrd = tagged(3, INITRD_EVENT_TAG_ID, b"Linux initrd\x00", sha384(sample.INITRD))
    honest = boot + EXIT_BOOT_SERVICES + [late_kernel, late_initrd]
    forged = [
        *boot[:2],
        _relabel(boot[2], EventType.EV_POST_CODE, b"ACPI DATA"),
        *boot[3:6],
        _relabel(boot[6], EventType.EV_POST_CODE, b"ACPI DATA"),
        late_initrd,
        _relabel(EXIT_BOOT_SERVICES[0], EventType.EV_POST_CODE, b"ACPI DATA"),
        EXIT_BOOT_SERVICES[1],
        late_kernel,
    ]
    assert _per_register(forged) == _per_register(honest)
    rtmrs = list(rtmrs_from_ccel(EventLog.from_bytes(build_log(honest))))
    result = _appraise(pki, forged, rtmrs=rtmrs)
    assert not result.affirming
    unrecognized = [r for r in result.reasons if r.code == "event_log_unrecognized_event"]
    assert {r.actual for r in unrecognized} == {
        EVIL_KERNEL.hex(), sha384(EVIL_INITRD).hex(), sha384(b"Exit Boot Services Invocation").hex()
    }
    assert any("RTMR1 event 3 (claimed EV_POST_CODE" in r.detail for r in unrecognized)
    assert any("RTMR2 event 7 (claimed EV_POST_CODE" in r.detail for r in unrecognized)


def _uefi_variable(name: str, value: bytes) -> bytes:
    import uuid

    guid = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c").bytes_le
    encoded = name.encode("utf-16-le")
    return guid + (len(name)).to_bytes(8, "little") + len(value).to_bytes(8, "little") + encoded + value


def test_measured_content_relabelled_as_bound_free_form_data_is_unrecognized(pki: IntelTestPki) -> None:
    """The evil load options' digest is H(their UTF-16 bytes): relabelled as a BootOrder
    variable whose data are those bytes, the event's data hashes to its digest. Bound
    free-form data can wrap any measured content, so it accounts for nothing."""
    options = (EVIL_CMDLINE + " initrd=initrd").encode("utf-16-le") + b"\x00\x00"
    boot = _boot(cmdline=EVIL_CMDLINE)
    assert boot[5].digest == sha384(options)
    wrapped = _relabel(boot[5], EventType.EV_EFI_VARIABLE_BOOT, _uefi_variable("BootOrder", options))
    late = tagged(3, LOAD_OPTIONS_EVENT_TAG_ID, b"LOADED_IMAGE::LoadOptions\x00",
                  load_options_digest(sample.CMDLINE, initrd=True))  # fmt: skip
    events = [*boot[:5], wrapped, boot[6], late, *EXIT_BOOT_SERVICES]
    from ccverify.verifier.replay import verify_event_digests

    assert verify_event_digests(EventLog.from_bytes(build_log(events))) == []
    result = _appraise(pki, events)
    assert not result.affirming
    (reason,) = [r for r in result.reasons if r.code == "event_log_unrecognized_event"]
    assert "RTMR2 event 6 (claimed EV_EFI_VARIABLE_BOOT" in reason.detail
    assert "free-form" in reason.detail


def test_the_firmware_component_needs_rtmr0(pki: IntelTestPki) -> None:
    """RTMR0 carries host-provided blobs (TD HOB, ACPI tables) that no rule binds: which of its
    events is the firmware volume is a label, so a firmware value without rtmr0 is unverifiable."""
    log = build_log(_boot() + EXIT_BOOT_SERVICES)
    result = verifier.appraise(_verdict(pki, log), _reference_values(GOOD, rtmr0=False), event_log=log, at=AT)
    assert not result.affirming
    assert "firmware_unverifiable" in _codes(result)
    assert result.trust_vector["executables"] == 33
    without = {k: v for k, v in GOOD.items() if k != "firmware"}
    result = verifier.appraise(
        _verdict(pki, log), _reference_values(without, rtmr0=False), event_log=log, at=AT
    )
    assert result.affirming, result.reasons


def test_a_kernel_only_set_accounts_for_rtmr2_too(pki: IntelTestPki) -> None:
    """RTMR2 holds the command line, the initrd and UEFI drivers: a set that names only the
    kernel cannot say they are approved, so a direct boot is refused rather than half-proven."""
    log = build_log(_boot() + EXIT_BOOT_SERVICES)
    rv = _reference_values({"kernel": GOOD["kernel"]})
    result = verifier.appraise(_verdict(pki, log), rv, event_log=log, at=AT)
    assert not result.affirming
    details = [r.detail for r in result.reasons if r.code == "event_log_unrecognized_event"]
    assert len(details) == 2
    assert all(d.startswith("RTMR2 event") for d in details)


@pytest.mark.parametrize("ignore_rtmr3", [False, True])
def test_contradictions_count_in_every_compared_register(pki: IntelTestPki, ignore_rtmr3: bool) -> None:
    """A contradicting label in RTMR3 refuses the result when the quote binds RTMR3; with
    ignore_rtmr3 nothing binds RTMR3's events, so they are not read at all."""
    forged = LogEvent(4, EventType.EV_EFI_ACTION, EVIL_KERNEL, b"Exit Boot Services Invocation")
    events = [*_boot(), *EXIT_BOOT_SERVICES, forged]
    rtmrs = list(rtmrs_from_ccel(EventLog.from_bytes(build_log(events))))
    if ignore_rtmr3:
        rtmrs[3] = bytes(48)
    result = _appraise(pki, events, rtmrs=rtmrs, ignore_rtmr3=ignore_rtmr3)
    assert result.affirming is ignore_rtmr3, result.reasons
    assert ("event_log_contradiction" in _codes(result)) is not ignore_rtmr3
