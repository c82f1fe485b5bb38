"""Evidence for the relying-party service's tests: the shipped sample's TDX quote with another
REPORT_DATA (so the sample's reference values, collateral and event log still apply).

Until ``ccverify example tdx-quote`` exists this is how a test mints a quote for a challenge.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.testing import sample
from ccverify.verifier.testing.pki import IntelTestPki, derive_ec_key
from ccverify.verifier.testing.tdx_builder import build_tdx_quote


@cache
def _pki() -> IntelTestPki:
    return IntelTestPki(seed=sample.SEED + b"/intel")


@cache
def _attestation_key() -> ec.EllipticCurvePrivateKey:
    return derive_ec_key(sample.SEED, "intel/attestation-key", ec.SECP256R1())


def sample_tdx_quote(sample_quote: bytes, report_data: bytes, **overrides: Any) -> bytes:
    """``sample_quote`` (the shipped ``tdx-quote.dat``) re-signed with ``report_data`` (and any
    other body fields in ``overrides``, e.g. ``mr_td`` for a boot the reference values refuse)."""
    body = TdxQuote.from_bytes(sample_quote).body
    pki = _pki()
    return build_tdx_quote(
        pck_key=pki.pck_key,
        pck_chain_pem=pki.pck_chain_pem(),
        attestation_key=_attestation_key(),
        body_fields={
            "tee_tcb_svn": body.tee_tcb_svn,
            "mr_td": body.mr_td,
            "rtmrs": body.rtmrs,
            "td_attributes": body.td_attributes,
            "report_data": report_data,
            **overrides,
        },
    )


def sample_snp_report(sample_report: bytes, report_data: bytes, **overrides: Any) -> bytes:
    """``sample_report`` (the shipped ``snp-report.bin``) signed again with ``report_data`` by the
    example VCEK (its key derives from the sample's seed, so the shipped VCEK and chain apply)."""
    from ccverify.verifier.evidence.snp_report import Product, SnpReport
    from ccverify.verifier.testing.snp_builder import build_snp_report

    report = SnpReport.from_bytes(sample_report)
    fields: dict[str, Any] = {
        "product": Product.MILAN,
        "measurement": report.measurement,
        "chip_id": report.chip_id,
        "policy": report.policy.raw,
        "report_data": report_data,
    }
    fields.update(overrides)
    return build_snp_report(_vcek_key(), **fields).to_bytes()


@cache
def _vcek_key() -> ec.EllipticCurvePrivateKey:
    return derive_ec_key(sample.SEED + b"/amd", "amd/Milan/vcek", ec.SECP384R1())
