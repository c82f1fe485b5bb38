"""RTMR3 extends of applied policies (``verifier/release/rtmr3.py``) and their log
(``verifier/evidence/rtmr3_log.py``): checked with the project's own parser and replay, and
appraised: the firmware CCEL alone no longer replays a quote's RTMR3, the CCEL followed by
ccverify's log does."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify import verifier
from ccverify.verifier.errors import InputError, ParseError, VerificationError
from ccverify.verifier.evidence import rtmr3_log
from ccverify.verifier.evidence.eventlog import EventLog, EventType
from ccverify.verifier.refvalues import load_reference_values
from ccverify.verifier.release.rtmr3 import RTMR3_PATH, Rtmr3Recorder, SysfsRtmr3
from ccverify.verifier.replay import rtmrs_from_ccel
from tests.conftest import REPO
from tests.unit.guest_fakes import SAMPLE_CCEL, FakeKernel, sysfs_tree

SAMPLE = REPO / "reference-values" / "examples"
POLICY_A = b'{"rules": [{"bus": "pci", "allow": true}]}'
POLICY_B = b'{"rules": []}'


def _recorder(tmp_path: Path) -> tuple[Rtmr3Recorder, FakeKernel, Path]:
    start = rtmrs_from_ccel(EventLog.from_bytes(SAMPLE_CCEL))[3]
    sysfs = sysfs_tree(tmp_path / "sys", ccel=SAMPLE_CCEL, rtmr3=start)
    fake = FakeKernel(tmp_path / "config")
    recorder = Rtmr3Recorder(sysfs, tmp_path / "run" / "ccverify", register=SysfsRtmr3(sysfs, ops=fake))
    return recorder, fake, sysfs


def test_extends_rtmr3_and_logs_what_it_extended(tmp_path: Path) -> None:
    recorder, fake, sysfs = _recorder(tmp_path)
    first = recorder.record_policy(POLICY_A)
    second = recorder.record_policy(POLICY_B)
    digest_a, digest_b = hashlib.sha384(POLICY_A).digest(), hashlib.sha384(POLICY_B).digest()
    assert fake.writes == [("rtmr3:sha384", digest_a), ("rtmr3:sha384", digest_b)]  # 48 bytes each
    assert first.rtmr3_after == hashlib.sha384(first.rtmr3_before + digest_a).digest()
    assert second.rtmr3_before == first.rtmr3_after
    assert (sysfs / RTMR3_PATH).read_bytes() == second.rtmr3_after

    log = EventLog.from_bytes(recorder.log_bytes())  # the project's own parser
    assert [e.index for e in log.events] == [4, 4]  # CC MR index 4 = RTMR3
    assert [e.event_type for e in log.events] == [EventType.EV_EVENT_TAG] * 2
    assert log.events[0].offset == first.event_offset and log.events[1].offset == second.event_offset
    assert log.events[0].describe() == f"tag 0x63637670: 'ccverify device policy sha384:{digest_a.hex()}'"
    assert rtmr3_log.policy_digests(recorder.log_bytes()) == (digest_a, digest_b)
    assert recorder.check(SAMPLE_CCEL) == second.rtmr3_after  # CCEL + this log replay to RTMR3
    assert oct(os.stat(recorder.log_path).st_mode & 0o777) == "0o600"


def test_the_firmware_log_alone_no_longer_replays_rtmr3(tmp_path: Path) -> None:
    recorder, _, _ = _recorder(tmp_path)
    extended = recorder.record_policy(POLICY_A).rtmr3_after
    assert rtmrs_from_ccel(EventLog.from_bytes(SAMPLE_CCEL))[3] != extended
    merged = rtmr3_log.with_runtime_log(SAMPLE_CCEL, recorder.log_bytes())
    assert rtmrs_from_ccel(merged)[:3] == rtmrs_from_ccel(EventLog.from_bytes(SAMPLE_CCEL))[:3]
    assert rtmrs_from_ccel(merged)[3] == extended


def test_a_concurrent_extend_is_reported(tmp_path: Path) -> None:
    recorder, fake, _ = _recorder(tmp_path)
    fake.extra_extend = bytes(48)
    with pytest.raises(VerificationError) as refused:
        recorder.record_policy(POLICY_A)
    assert refused.value.code == "rtmr3_concurrent_extend"
    assert len(EventLog.from_bytes(recorder.log_bytes()).events) == 1  # the extend that happened
    with pytest.raises(VerificationError) as mismatch:
        recorder.check(SAMPLE_CCEL)
    assert mismatch.value.code == "rtmr3_log_mismatch"


def test_a_failed_extend_logs_nothing(tmp_path: Path) -> None:
    recorder, _, sysfs = _recorder(tmp_path)
    (sysfs / RTMR3_PATH).unlink()
    (sysfs / RTMR3_PATH).mkdir()  # present but not writable as a file
    with pytest.raises(InputError):
        recorder.record_policy(POLICY_A)
    assert recorder.log_bytes() == b""


def test_only_48_byte_writes(tmp_path: Path) -> None:
    _, fake, sysfs = _recorder(tmp_path)
    register = SysfsRtmr3(sysfs, ops=fake)
    with pytest.raises(InputError, match="exactly 48 bytes"):
        register.extend(bytes(32))
    assert fake.writes == []


def test_without_the_kernel_interface(tmp_path: Path) -> None:
    recorder = Rtmr3Recorder(tmp_path / "sys", tmp_path / "run")
    assert not recorder.available()
    with pytest.raises(InputError, match=r"Linux >= 6\.16"):
        recorder.record_policy(POLICY_A)
    assert not (tmp_path / "run").exists()


def test_refuses_to_append_to_a_foreign_log(tmp_path: Path) -> None:
    recorder, fake, _ = _recorder(tmp_path)
    recorder.run_dir.mkdir(parents=True)
    recorder.log_path.write_bytes(SAMPLE_CCEL)  # events in RTMR0-2
    with pytest.raises(ParseError):
        recorder.record_policy(POLICY_A)
    assert fake.writes == []


def test_runtime_log_parser_refuses_other_registers_and_padding() -> None:
    event = rtmr3_log.policy_event(bytes(48))
    assert len(rtmr3_log.parse_runtime_log(rtmr3_log.log_header() + event).events) == 1
    other = bytearray(event)
    other[0] = 3  # RTMR2
    with pytest.raises(ParseError, match="RTMR3"):
        rtmr3_log.parse_runtime_log(rtmr3_log.log_header() + bytes(other))
    with pytest.raises(ParseError):
        rtmr3_log.parse_runtime_log(rtmr3_log.log_header() + event + b"\xff" * 16)
    assert rtmr3_log.parse_runtime_log(b"").events == ()
    assert rtmr3_log.with_runtime_log(SAMPLE_CCEL, None).events == EventLog.from_bytes(SAMPLE_CCEL).events


def test_a_policy_event_counts_only_when_its_text_names_its_digest() -> None:
    event = bytearray(rtmr3_log.policy_event(bytes(48)))
    event[20] ^= 1  # a digest byte: the text now names another digest
    assert rtmr3_log.policy_digests(rtmr3_log.log_header() + bytes(event)) == ()


# -- the verifier's side ----------------------------------------------------------------------


def _quote_with_rtmr3(rtmr3: bytes, report_data: bytes) -> tuple[bytes, bytes]:
    """A quote under the example root with the sample's measurements except RTMR3."""
    from ccverify.verifier.testing import sample
    from ccverify.verifier.testing.pki import DEFAULT_TEE_TCB_SVN, derive_ec_key
    from ccverify.verifier.testing.tdx_builder import build_tdx_quote

    pki = sample._intel_pki()
    rtmrs = rtmrs_from_ccel(EventLog.from_bytes(SAMPLE_CCEL))
    quote = build_tdx_quote(
        pck_key=pki.pck_key,
        pck_chain_pem=pki.pck_chain_pem(),
        attestation_key=derive_ec_key(sample.SEED, "intel/attestation-key", ec.SECP256R1()),
        body_fields={"tee_tcb_svn": DEFAULT_TEE_TCB_SVN, "mr_td": sample.MRTD, "rtmrs": (*rtmrs[:3], rtmr3),
                     "td_attributes": sample._TD_ATTRIBUTES, "report_data": report_data},
    )  # fmt: skip
    collateral = sample._tdx_collateral(pki, AT - timedelta(days=1), AT + timedelta(days=29))
    import json

    return quote, json.dumps(collateral).encode()


AT = datetime(2027, 3, 1, tzinfo=UTC)


def test_appraisal_replays_rtmr3_with_the_runtime_log(tmp_path: Path) -> None:
    recorder, _, _ = _recorder(tmp_path)
    extended = recorder.record_policy(POLICY_A).rtmr3_after
    quote, collateral = _quote_with_rtmr3(extended, bytes(64))
    (tmp_path / "c.json").write_bytes(collateral)
    root = SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"
    collateral_set = verifier.load_collateral(tmp_path / "c.json")
    verdict = verifier.verify_tdx(quote, collateral_set, at=AT, trust_root=root)
    anchor = SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"
    rv = load_reference_values(SAMPLE / "tdx-refvalues.cbor", [anchor], at=AT)
    alone = verifier.appraise(verdict, rv, event_log=SAMPLE_CCEL, at=AT)
    assert not alone.affirming
    assert "rtmr3" in str(alone.to_json())
    merged = rtmr3_log.with_runtime_log(SAMPLE_CCEL, recorder.log_bytes())
    assert verifier.appraise(verdict, rv, event_log=merged, at=AT).affirming
