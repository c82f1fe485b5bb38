"""Appraisal of verified evidence against signed reference values and the event log.

Everything here is made by the project's own test PKI (``ccverify example``): real
signatures, a real CCEL log and real COSE-signed CoRIMs, under EXAMPLE roots passed
explicitly as trust roots.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography import x509

from ccverify import verifier
from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.refvalues import load_reference_values, sign_reference_values
from ccverify.verifier.refvalues.profile import from_measurements
from ccverify.verifier.result import Tier
from ccverify.verifier.testing.eventlog_builder import direct_boot_log, sha384
from ccverify.verifier.testing.sample import (
    CMDLINE,
    FIRMWARE_VOLUME,
    INITRD,
    KERNEL,
    SAMPLE_TIME,
    write_example,
)

AT = SAMPLE_TIME


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("example")
    write_example(directory)
    return directory


def _root(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture(scope="module")
def tdx_verdict(sample: Path) -> verifier.TdxVerdict:
    collateral = verifier.load_collateral(sample / "tdx-collateral.json")
    return verifier.verify_tdx(
        (sample / "tdx-quote.dat").read_bytes(),
        collateral,
        at=AT,
        trust_root=_root(sample / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"),
    )


@pytest.fixture(scope="module")
def tdx_rv(sample: Path):  # type: ignore[no-untyped-def]
    return load_reference_values(
        sample / "tdx-refvalues.cbor", [sample / "EXAMPLE-refvalues-signer.pub.pem"], at=AT
    )


def _codes(result: verifier.AttestationResult) -> set[str]:
    return {r.code for r in result.reasons}


def test_sample_is_refused_by_the_production_roots(sample: Path) -> None:
    collateral = verifier.load_collateral(sample / "tdx-collateral.json")
    with pytest.raises(VerificationError) as refused:
        verifier.verify_tdx((sample / "tdx-quote.dat").read_bytes(), collateral, at=AT)
    assert refused.value.code == "untrusted_root"


def test_affirming_with_event_log(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    result = verifier.appraise(
        tdx_verdict, tdx_rv, event_log=(sample / "tdx-event-log.bin").read_bytes(), at=AT
    )
    assert result.affirming, result.reasons
    assert result.status is Tier.AFFIRMING
    assert dict(result.trust_vector) == {
        "runtime_opaque": 2,
        "hardware": 2,
        "executables": 2,
        "configuration": 2,
    }
    assert {"ok"} == _codes(result)
    assert result.reference_values_id == "ccverify-example-tdx"
    assert "EXAMPLE" in (result.root or "")
    ear = result.to_json()
    assert ear["ear_status"] == "affirming"
    assert ear["submods"]["tdx"]["ear_trustworthiness_vector"]["executables"] == 2


def test_component_values_without_the_log_are_unverifiable(tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    result = verifier.appraise(tdx_verdict, tdx_rv, at=AT)
    assert not result.affirming
    assert result.trust_vector["executables"] == 33
    assert {
        "kernel_unverifiable",
        "initrd_unverifiable",
        "cmdline_unverifiable",
        "firmware_unverifiable",
    } <= _codes(result)


def test_no_reference_values_is_not_affirming(tdx_verdict) -> None:  # type: ignore[no-untyped-def]
    result = verifier.appraise(tdx_verdict, None, at=AT)
    assert not result.affirming
    assert result.trust_vector["executables"] == 33


def _signed(measurements: dict, *, platform_id: str = "t"):  # type: ignore[no-untyped-def,type-arg]
    rv = from_measurements(measurements, id=platform_id, sequence=1)
    return rv


def _tdx_measurements(sample: Path) -> dict:  # type: ignore[type-arg]
    import json

    return json.loads((sample / "tdx-measurements.json").read_text())


def test_mrtd_mismatch_is_contraindicated(sample: Path, tdx_verdict) -> None:  # type: ignore[no-untyped-def]
    doc = _tdx_measurements(sample)
    doc["values"]["mrtd"] = "00" * 48
    result = verifier.appraise(
        tdx_verdict, _signed(doc), event_log=(sample / "tdx-event-log.bin").read_bytes(), at=AT
    )
    assert not result.affirming
    assert result.trust_vector["executables"] == 96
    failed = [r for r in result.reasons if r.code == "mrtd_mismatch"]
    assert (
        failed
        and failed[0].expected is not None
        and failed[0].actual == "sha-384:" + tdx_verdict.quote.body.mr_td.hex()
    )


def test_rollout_alternatives_accept_either(sample: Path, tdx_verdict) -> None:  # type: ignore[no-untyped-def]
    old = _tdx_measurements(sample)
    new = _tdx_measurements(sample)
    old["values"]["mrtd"] = "11" * 48
    rv = from_measurements([old, new], id="rollout", sequence=2)
    result = verifier.appraise(tdx_verdict, rv, event_log=(sample / "tdx-event-log.bin").read_bytes(), at=AT)
    assert result.affirming, result.reasons


def test_kernel_in_log_differs(sample: Path, tdx_verdict) -> None:  # type: ignore[no-untyped-def]
    doc = _tdx_measurements(sample)
    doc["components"]["kernel"]["authenticode-sha384"] = sha384(b"another kernel").hex()
    result = verifier.appraise(
        tdx_verdict, _signed(doc), event_log=(sample / "tdx-event-log.bin").read_bytes(), at=AT
    )
    assert not result.affirming
    failed = [r for r in result.reasons if r.code == "kernel_mismatch"]
    assert failed and failed[0].actual == "sha-384:" + sha384(KERNEL).hex()
    assert result.trust_vector["executables"] == 96


def test_event_log_that_does_not_replay_is_contraindicated(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    other = direct_boot_log(
        firmware_volume=FIRMWARE_VOLUME,
        kernel_authenticode_sha384=sha384(KERNEL + b"!"),
        cmdline=CMDLINE,
        initrd=INITRD,
    )
    result = verifier.appraise(tdx_verdict, tdx_rv, event_log=other, at=AT)
    assert not result.affirming
    assert result.trust_vector["executables"] == 96
    assert "rtmr1_mismatch" in _codes(result)


def test_a_log_given_as_bytes_is_read_once_with_the_same_results(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    """Memoized by its bytes: the same reasons as the log given parsed, for a log that affirms
    and one that does not replay, before and after clear_caches (which empties the memo)."""
    from ccverify.verifier import appraisal
    from ccverify.verifier.evidence.eventlog import EventLog

    good = (sample / "tdx-event-log.bin").read_bytes()
    other = direct_boot_log(
        firmware_volume=FIRMWARE_VOLUME, kernel_authenticode_sha384=sha384(KERNEL + b"!"), cmdline=CMDLINE,
        initrd=INITRD,
    )  # fmt: skip
    for data in (good, other):
        fresh = verifier.appraise(tdx_verdict, tdx_rv, event_log=EventLog.from_bytes(data), at=AT)
        for _ in range(2):
            memoized = verifier.appraise(tdx_verdict, tdx_rv, event_log=data, at=AT)
            assert memoized.reasons == fresh.reasons
            assert dict(memoized.trust_vector) == dict(fresh.trust_vector)
        assert data in appraisal._LOG_FACTS._data
        verifier.clear_caches()
        assert data not in appraisal._LOG_FACTS._data and data not in appraisal._PARSED_LOGS._data
    assert verifier.appraise(tdx_verdict, tdx_rv, event_log=good, at=AT).affirming


def _fresh(verdict, rv, log: bytes, **kwargs):  # type: ignore[no-untyped-def]
    """The appraisal without any memo: emptied before and after."""
    verifier.clear_caches()
    try:
        return verifier.appraise(verdict, rv, event_log=log, at=AT, **kwargs)
    finally:
        verifier.clear_caches()


def _same(one: verifier.AttestationResult, other: verifier.AttestationResult) -> bool:
    return one.to_json() == other.to_json() and one.reasons == other.reasons


def test_memoized_checks_equal_a_fresh_appraisal_and_a_changed_input_misses(  # type: ignore[no-untyped-def]
    sample: Path, tdx_verdict, tdx_rv
) -> None:
    """The value, log and component checks are memoized by the content they read: a second
    appraisal of the same content hits and gives the same result as one with the memos empty;
    another event log, an RTMR or a measurement changed in the quote, REPORT_DATA when the
    values name it, and other reference values (a new object) each miss, and each of those
    gives what a fresh appraisal gives."""
    from ccverify.verifier import appraisal
    from ccverify.verifier.refvalues.model import RawValue, ReferenceValue

    good = (sample / "tdx-event-log.bin").read_bytes()
    expected = _fresh(tdx_verdict, tdx_rv, good, expected_report_data=tdx_verdict.quote.body.report_data)
    assert expected.affirming
    verifier.appraise(tdx_verdict, tdx_rv, event_log=good, at=AT)  # fills the memos
    filled = len(appraisal._MEASURED._data)
    hit = verifier.appraise(
        tdx_verdict, tdx_rv, event_log=good, at=AT, expected_report_data=tdx_verdict.quote.body.report_data
    )
    assert len(appraisal._MEASURED._data) == filled and _same(hit, expected)

    def with_body(**changes: object) -> verifier.TdxVerdict:
        body = dataclasses.replace(tdx_verdict.quote.body, **changes)
        return dataclasses.replace(tdx_verdict, quote=dataclasses.replace(tdx_verdict.quote, body=body))

    other_log = direct_boot_log(
        firmware_volume=FIRMWARE_VOLUME, kernel_authenticode_sha384=sha384(KERNEL + b"!"), cmdline=CMDLINE,
        initrd=INITRD,
    )  # fmt: skip
    rtmrs = list(tdx_verdict.quote.body.rtmrs)
    rtmrs[2] = bytes(48)
    mrtd = next(v for v in tdx_rv.values if v.name == "mrtd")
    other_rv = dataclasses.replace(
        tdx_rv,
        values=tuple(
            ReferenceValue("mrtd", mrtd.environment, (RawValue(bytes(48)),)) if v is mrtd else v
            for v in tdx_rv.values
        ),
    )
    bound = ReferenceValue("report_data", mrtd.environment, (RawValue(tdx_verdict.quote.body.report_data),))
    rv_with_report_data = dataclasses.replace(tdx_rv, values=(*tdx_rv.values, bound))
    changed = [
        (tdx_verdict, tdx_rv, other_log, "rtmr1_mismatch"),
        (with_body(rtmrs=tuple(rtmrs)), tdx_rv, good, "rtmr2_mismatch"),
        (with_body(mr_td=bytes(48)), tdx_rv, good, "mrtd_mismatch"),
        (tdx_verdict, other_rv, good, "mrtd_mismatch"),
        (with_body(report_data=bytes(64)), rv_with_report_data, good, "report_data_mismatch"),
    ]
    verifier.appraise(tdx_verdict, rv_with_report_data, event_log=good, at=AT)  # its good content memoized
    for verdict, rv, log, code in changed:
        before = len(appraisal._MEASURED._data)
        memoized = verifier.appraise(verdict, rv, event_log=log, at=AT)
        assert len(appraisal._MEASURED._data) == before + 1, code  # a miss, then remembered
        assert not memoized.affirming and code in _codes(memoized)
        again = verifier.appraise(verdict, rv, event_log=log, at=AT)
        fresh = _fresh(verdict, rv, log)
        assert _same(memoized, fresh) and _same(again, fresh), code
    # and the good content still gives the good result after all of them
    assert _same(
        verifier.appraise(
            tdx_verdict,
            tdx_rv,
            event_log=good,
            at=AT,
            expected_report_data=tdx_verdict.quote.body.report_data,
        ),
        expected,
    )


def test_debug_td_is_refused_and_memory_visible(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    body = dataclasses.replace(tdx_verdict.quote.body, td_attributes=(1 | 1 << 28).to_bytes(8, "little"))
    debug_verdict = dataclasses.replace(tdx_verdict, quote=dataclasses.replace(tdx_verdict.quote, body=body))
    result = verifier.appraise(
        debug_verdict, tdx_rv, event_log=(sample / "tdx-event-log.bin").read_bytes(), at=AT
    )
    assert not result.affirming
    assert result.trust_vector["runtime_opaque"] == 96
    assert result.trust_vector["configuration"] == 96


def test_reference_values_for_the_other_platform_are_refused(sample: Path, tdx_verdict) -> None:  # type: ignore[no-untyped-def]
    snp_rv = load_reference_values(
        sample / "snp-refvalues.cbor", [sample / "EXAMPLE-refvalues-signer.pub.pem"], at=AT
    )
    with pytest.raises(InputError, match="are for snp"):
        verifier.appraise(tdx_verdict, snp_rv, at=AT)


def test_snp_sample_affirms(sample: Path) -> None:
    certs = verifier.load_snp_certs(
        vcek=sample / "snp-vcek.der", chain=sample / "snp-cert-chain.pem", crl=sample / "snp-crl.der"
    )
    verdict = verifier.verify_snp(
        (sample / "snp-report.bin").read_bytes(),
        certs,
        at=AT,
        trust_root=_root(sample / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem"),
    )
    rv = load_reference_values(
        sample / "snp-refvalues.cbor", [sample / "EXAMPLE-refvalues-signer.pub.pem"], at=AT
    )
    result = verifier.appraise(verdict, rv, at=AT)
    assert result.affirming, result.reasons
    with pytest.raises(InputError):
        verifier.appraise(verdict, rv, event_log=(sample / "tdx-event-log.bin").read_bytes(), at=AT)


def test_reference_values_signed_by_another_key_are_refused(sample: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    rv = from_measurements(_tdx_measurements(sample), id="x", sequence=1)
    forged = tmp_path / "forged.cbor"
    forged.write_bytes(sign_reference_values(rv, ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(VerificationError) as refused:
        load_reference_values(forged, [sample / "EXAMPLE-refvalues-signer.pub.pem"], at=AT)
    assert refused.value.code in {"refvalues_signature_invalid", "refvalues_wrong_key"}


# ------------------------------------------------------------------------------------------
# Issuance (issue #13): only a result exactly as appraise issued it can be released


def test_a_replaced_result_is_not_issued_and_cannot_be_released(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    from ccverify.verifier.result import require_affirming

    refused = verifier.appraise(tdx_verdict, None, at=AT)
    assert refused.issued and not refused.affirming
    with pytest.raises(VerificationError) as error:
        require_affirming(refused)
    assert error.value.code == "result_not_affirming"
    forged = dataclasses.replace(refused, trust_vector={"executables": 2, "hardware": 2})
    assert forged.affirming
    assert not forged.issued
    with pytest.raises(VerificationError) as error:
        require_affirming(forged)
    assert error.value.code == "result_not_issued"
    # replace with no change at all still makes a result appraisal did not issue
    assert not dataclasses.replace(refused).issued

    log = (sample / "tdx-event-log.bin").read_bytes()
    good = verifier.appraise(tdx_verdict, tdx_rv, event_log=log, at=AT)
    assert require_affirming(good) is good
    assert require_affirming(good, at=AT) is good


def test_an_issued_result_cannot_be_edited(tdx_verdict) -> None:  # type: ignore[no-untyped-def]
    from ccverify.verifier.result import require_affirming

    result = verifier.appraise(tdx_verdict, None, at=AT)
    with pytest.raises(TypeError):
        result.trust_vector["executables"] = 2  # type: ignore[index]
    object.__setattr__(result, "trust_vector", {"executables": 2})
    assert result.affirming and not result.issued
    with pytest.raises(VerificationError) as error:
        require_affirming(result)
    assert error.value.code == "result_not_issued"
    with pytest.raises(VerificationError) as error:
        require_affirming(True)
    assert error.value.code == "result_not_issued"


def test_the_seal_covers_every_field_and_each_reason(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    """Any field set to another value (of the same or another type, equal JSON included), and
    any reason edited in place, leaves a result that was not issued."""
    import datetime as dt
    from types import MappingProxyType

    from ccverify.verifier.result import AttestationResult

    log = (sample / "tdx-event-log.bin").read_bytes()

    def fresh() -> AttestationResult:
        result = verifier.appraise(tdx_verdict, tdx_rv, event_log=log, at=AT)
        assert result.issued and result.affirming
        return result

    sealed = [f.name for f in dataclasses.fields(AttestationResult) if f.name not in ("_token", "_seal")]
    for name in sealed:
        result = fresh()
        value = getattr(result, name)
        if isinstance(value, dt.datetime):
            others = [value + dt.timedelta(microseconds=1), value.isoformat(), value.replace(tzinfo=None)]
        elif isinstance(value, str):
            others = [value + " ", value.encode(), None]
        elif isinstance(value, tuple):
            others = [value[:-1], value[1:], ()]
        elif value is None:
            others = ["", 0, AT]
        else:  # the mappings
            items = dict(value)
            key = next(iter(items))
            others = [
                MappingProxyType({**items, key: 3}),
                dict(items),
                MappingProxyType(dict(reversed(items.items()))),
            ]
        for other in others:
            result = fresh()
            object.__setattr__(result, name, other)
            assert not result.issued, (name, other)
    for field in ("claim", "code", "detail", "expected", "actual"):
        result = fresh()
        reason = result.reasons[1]
        object.__setattr__(reason, field, (getattr(reason, field) or "") + "x")
        assert not result.issued, field
    result = fresh()
    object.__setattr__(result.reasons[1], "detail", result.reasons[1].detail.encode())
    assert not result.issued


def test_appraisal_time_defaults_to_the_verdicts(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    """Not now: the sample's reference values and collateral are long expired by the wall clock
    (and the tests never read it), yet the verdict was made while both were valid."""
    result = verifier.appraise(tdx_verdict, tdx_rv, event_log=(sample / "tdx-event-log.bin").read_bytes())
    assert result.affirming, result.reasons
    assert result.issued_at == tdx_verdict.at == AT
    assert result.evidence_verified_at == AT


def test_the_result_records_the_earliest_collateral_expiry(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from ccverify.verifier.result import require_affirming

    log = (sample / "tdx-event-log.bin").read_bytes()
    result = verifier.appraise(tdx_verdict, tdx_rv, event_log=log, at=AT)
    expected = min(tdx_verdict.earliest_next_update, tdx_verdict.pck.not_after)
    assert result.expires_at == expected == AT + timedelta(days=30)  # the sample's TCB info and CRLs
    ear = result.to_json()
    assert (ear["iat"], ear["exp"]) == (int(AT.timestamp()), int(expected.timestamp()))
    assert ear["ccverify_expires_at"] == "2026-02-14T00:00:00Z"
    with pytest.raises(VerificationError) as error:
        require_affirming(result, at=expected + timedelta(seconds=1))
    assert error.value.code == "result_expired"
    with pytest.raises(VerificationError) as error:
        require_affirming(result, at=AT - timedelta(seconds=1))
    assert error.value.code == "result_not_yet_valid"
    late = verifier.appraise(tdx_verdict, tdx_rv, event_log=log, at=expected + timedelta(days=1))
    assert not late.affirming
    assert late.trust_vector["hardware"] == 96
    (reason,) = [r for r in late.reasons if r.code == "collateral_expired"]
    assert reason.expected == "2026-02-14T00:00:00Z"


def test_snp_results_expire_with_their_certificates(sample: Path) -> None:
    certs = verifier.load_snp_certs(vcek=sample / "snp-vcek.der", chain=sample / "snp-cert-chain.pem")
    verdict = verifier.verify_snp(
        (sample / "snp-report.bin").read_bytes(),
        certs,
        at=AT,
        policy=verifier.UNSAFE_NO_POLICY,  # no CRL here: the certificates alone bound the result
        trust_root=_root(sample / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem"),
    )
    result = verifier.appraise(verdict, None)
    assert result.issued_at == AT
    assert result.expires_at == min(c.not_after for c in verdict.certificates)


def test_expected_and_actual_are_spelled_alike() -> None:
    """A digest compared with ``sha-384:..`` alternatives reads ``sha-384:..`` as actual too."""
    from ccverify.verifier.appraisal import _same_form

    assert _same_form("sha-384:" + "ab" * 48, "cd" * 48) == "sha-384:" + "cd" * 48
    assert _same_form("sha-256:" + "ab" * 32 + " + sha-384:" + "ab" * 48, "cd" * 48) == "sha-384:" + "cd" * 48
    assert _same_form("e702060000000000", "e702060000000000") == "e702060000000000"
    assert _same_form(None, "cd") == "cd"


def test_the_seal_form_is_of_values_and_tags_what_is_not_plain(sample: Path, tdx_verdict, tdx_rv) -> None:  # type: ignore[no-untyped-def]
    """The sealed form depends on the values only (equal values in other objects keep a result
    issued), and a plain value never takes the form of a tagged one."""
    import datetime as dt
    import enum
    from types import MappingProxyType

    from ccverify.verifier.result import _sealed_bytes

    log = (sample / "tdx-event-log.bin").read_bytes()
    one = verifier.appraise(tdx_verdict, tdx_rv, event_log=log, at=AT)
    copy = verifier.appraise(tdx_verdict, tdx_rv, event_log=bytes(bytearray(log)), at=AT)
    assert one is not copy and one == copy
    assert _sealed_bytes(one) == _sealed_bytes(copy) == _sealed_bytes(one)
    same = verifier.appraise(tdx_verdict, tdx_rv, event_log=log, at=AT)
    object.__setattr__(same, "evidence_sha256", "".join(list(same.evidence_sha256)))
    object.__setattr__(same, "reasons", tuple(dataclasses.replace(r) for r in same.reasons))
    claims = {"".join(list(k)): v for k, v in same.claims.items()}
    object.__setattr__(same, "claims", MappingProxyType(claims))
    assert same.issued

    class Text(enum.StrEnum):
        TDX = "tdx"

    items = list(one.trust_vector.items())
    for name, other in [
        ("reasons", list(one.reasons)),  # not the tuple appraisal issues
        ("trust_vector", ("M", items)),  # what a proxy's items are written as
        ("trust_vector", ["mapping", items]),  # a proxy's tagged form by _sealed_form
        ("trust_vector", dict(items)),
        ("issued_at", ("D", one.issued_at.isoformat())),
        ("issued_at", one.issued_at.isoformat()),
        ("issued_at", one.issued_at.astimezone(dt.timezone(dt.timedelta(hours=1)))),
        ("evidence_kind", Text.TDX),
        ("claims", MappingProxyType({k: MappingProxyType({"v": v}) for k, v in one.claims.items()})),
        ("claims", MappingProxyType({k: {"v": v} for k, v in one.claims.items()})),
    ]:
        result = verifier.appraise(tdx_verdict, tdx_rv, event_log=log, at=AT)
        assert result.issued
        object.__setattr__(result, name, other)
        assert not result.issued, (name, other)
