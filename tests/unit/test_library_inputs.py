"""The library's one input convention (issue #13): ``bytes`` is content, an ``os.PathLike`` is a
file, a ``str`` is refused; a wrong type is an ``InputError`` before anything is read. And the
fail-open spots of the public API, each a test that failed before.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ccverify import verifier
from ccverify.verifier.errors import InputError
from ccverify.verifier.refvalues import load_reference_values, load_trust_anchors
from ccverify.verifier.snp.validate import SnpPolicy
from ccverify.verifier.tdx.validate import TdxPolicy
from tests.conftest import REPO

SAMPLE = REPO / "reference-values" / "examples"
AT = "2026-01-15T00:00:00Z"
TDX_ROOT = SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"
SNP_ROOT = SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem"
ANCHOR = SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"


def snp_certs() -> verifier.SnpCertificates:
    return verifier.load_snp_certs(
        vcek=SAMPLE / "snp-vcek.der", chain=SAMPLE / "snp-cert-chain.pem", crl=SAMPLE / "snp-crl.der"
    )


def tdx_verdict() -> verifier.TdxVerdict:
    collateral = verifier.load_collateral(SAMPLE / "tdx-collateral.json")
    return verifier.verify_tdx(SAMPLE / "tdx-quote.dat", collateral, at=AT, trust_root=TDX_ROOT)


# -- bytes are content, a PathLike is a file ------------------------------------------------------


def test_a_path_is_a_file_and_bytes_are_its_content_on_both_platforms() -> None:
    # verify_snp(Path) parsed the bytes of the file *name* ("truncated: ... of 1184 bytes")
    by_path = verifier.verify_snp(SAMPLE / "snp-report.bin", snp_certs(), at=AT, trust_root=SNP_ROOT)
    by_bytes = verifier.verify_snp(
        (SAMPLE / "snp-report.bin").read_bytes(), snp_certs(), at=AT, trust_root=SNP_ROOT.read_bytes()
    )
    assert by_path.report == by_bytes.report and by_path.status == by_bytes.status
    quote = (SAMPLE / "tdx-quote.dat").read_bytes()
    # load_collateral(bytes) raised a bare TypeError
    collateral = verifier.load_collateral((SAMPLE / "tdx-collateral.json").read_bytes())
    verdict = verifier.verify_tdx(quote, collateral, at=AT, trust_root=TDX_ROOT.read_bytes())
    assert verdict.quote == tdx_verdict().quote
    assert load_trust_anchors(ANCHOR.read_bytes())[0].kid == load_trust_anchors(ANCHOR)[0].kid


STR_CALLS: dict[str, Any] = {
    "verify_snp report": lambda: verifier.verify_snp(str(SAMPLE / "snp-report.bin"), snp_certs()),
    "verify_snp trust_root": lambda: verifier.verify_snp(
        SAMPLE / "snp-report.bin", snp_certs(), trust_root=SNP_ROOT.read_text()
    ),
    "verify_tdx quote": lambda: verifier.verify_tdx(
        str(SAMPLE / "tdx-quote.dat"), SAMPLE / "tdx-collateral.json"
    ),
    "verify_tdx collateral": lambda: verifier.verify_tdx(
        SAMPLE / "tdx-quote.dat", str(SAMPLE / "tdx-collateral.json")
    ),
    "verify_tdx trust_root (PEM text)": lambda: verifier.verify_tdx(
        SAMPLE / "tdx-quote.dat", SAMPLE / "tdx-collateral.json", trust_root=TDX_ROOT.read_text()
    ),
    "load_collateral": lambda: verifier.load_collateral(str(SAMPLE / "tdx-collateral.json")),
    "load_snp_certs": lambda: verifier.load_snp_certs(vcek=str(SAMPLE / "snp-vcek.der")),
    "load_trust_anchors (PEM text)": lambda: load_trust_anchors(ANCHOR.read_text()),
    "load_trust_anchors (list)": lambda: load_trust_anchors([str(ANCHOR)]),
    "load_reference_values": lambda: load_reference_values(str(SAMPLE / "tdx-refvalues.cbor"), [ANCHOR]),
    "load_reference_values anchors": lambda: load_reference_values(
        SAMPLE / "tdx-refvalues.cbor", ANCHOR.read_text()
    ),
    "load_policy_file": lambda: verifier.load_policy_file("policy.json"),
    "appraise event_log": lambda: verifier.appraise(tdx_verdict(), None, event_log="tdx-event-log.bin"),
}


@pytest.mark.parametrize("call", STR_CALLS.values(), ids=STR_CALLS.keys())
def test_a_str_is_refused_everywhere_with_what_to_pass_instead(call: Any) -> None:
    # (a PEM str trust anchor was opened as a file name; verify_snp(str) was a bare TypeError)
    with pytest.raises(InputError, match="is a str, which is neither content nor a file here"):
        call()


WRONG_TYPES: dict[str, Any] = {
    "verify_snp certs=Path": lambda: verifier.verify_snp(SAMPLE / "snp-report.bin", SAMPLE / "snp-vcek.der"),
    "verify_snp report=int": lambda: verifier.verify_snp(1184, snp_certs()),
    "verify_tdx collateral=dict": lambda: verifier.verify_tdx(SAMPLE / "tdx-quote.dat", {}),
    "verify_tdx trust_root=int": lambda: verifier.verify_tdx(
        SAMPLE / "tdx-quote.dat", SAMPLE / "tdx-collateral.json", trust_root=1
    ),
    "load_snp_certs table=list": lambda: verifier.load_snp_certs(table=[]),
}


@pytest.mark.parametrize("call", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_a_wrong_type_is_an_input_error(call: Any) -> None:
    # certs=Path was an AttributeError ('PosixPath' object has no attribute 'vcek')
    with pytest.raises(InputError, match="must be"):
        call()


def test_a_wrong_type_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "never-opened"
    with pytest.raises(InputError, match="trust_root"):
        verifier.verify_tdx(fifo, fifo, trust_root=1)  # neither file is read: neither exists
    with pytest.raises(InputError, match="certs"):
        verifier.verify_snp(fifo, None)  # type: ignore[arg-type]


# -- appraisal's fail-open spots ------------------------------------------------------------------


def test_appraise_issues_results_only_for_verified_verdicts() -> None:
    verdict = tdx_verdict()
    rv = load_reference_values(SAMPLE / "tdx-refvalues.cbor", [ANCHOR], at=AT)
    log = (SAMPLE / "tdx-event-log.bin").read_bytes()
    assert verifier.appraise(verdict, rv, event_log=log).affirming
    # an object with a verdict's every field, never verified: it was issued an affirming result
    look_alike = SimpleNamespace(
        **{f.name: getattr(verdict, f.name) for f in dataclasses.fields(verdict)}, debug=False
    )
    with pytest.raises(InputError, match="TdxVerdict or an SnpVerdict"):
        verifier.appraise(look_alike, rv, event_log=log)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", [SnpPolicy(), verifier.UNSAFE_NO_POLICY, "default"])
def test_appraise_refuses_a_policy_it_cannot_apply(policy: object) -> None:
    # another platform's policy or UNSAFE_NO_POLICY was an AttributeError deep in validate_tdx
    with pytest.raises(InputError, match="appraise"):
        verifier.appraise(tdx_verdict(), None, policy=policy)  # type: ignore[arg-type]


def test_appraise_reports_every_policy_violation() -> None:
    policy = TdxPolicy(mrtd=(bytes(48),), mrseam=(bytes(48),))
    result = verifier.appraise(tdx_verdict(), None, policy=policy)
    codes = [reason.code for reason in result.reasons]
    assert "mrtd_mismatch" in codes and "mrseam_mismatch" in codes  # was: the first only
    assert not result.affirming


def test_measurements_take_images_as_bytes_or_files_and_refuse_a_str() -> None:
    from ccverify import measurements
    from tests.conftest import fixture

    image = fixture("ovmf/ovmf_AmdSev_suffix.bin")
    by_path = measurements.measure_snp(image, mode=measurements.SevMode.SEV)
    by_bytes = measurements.measure_snp(image.read_bytes(), mode=measurements.SevMode.SEV)
    assert by_path.values == by_bytes.values
    with pytest.raises(InputError, match="measure_snp: firmware is a str"):
        measurements.measure_snp(str(image), mode=measurements.SevMode.SEV)  # was: opened as a path
    with pytest.raises(InputError, match="measure_tdx: kernel is a str"):
        measurements.measure_tdx(image, kernel="vmlinuz")  # type: ignore[arg-type]
