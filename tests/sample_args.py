"""The shipped sample (``reference-values/examples/``) as ``ccverify verify`` arguments: the
README's main job, one list for every test that runs it."""

from __future__ import annotations

from tests.conftest import REPO

SAMPLE = REPO / "reference-values" / "examples"
AT = "2026-01-15T00:00:00Z"

#: the TDX quote, its collateral and the example root, at the sample's time
TDX = [
    "verify", str(SAMPLE / "tdx-quote.dat"),
    "--collateral", str(SAMPLE / "tdx-collateral.json"),
    "--trust-root", str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"),
    "--at", AT,
]  # fmt: skip
#: what appraises it: the signed reference values, their signer, the event log
TDX_REFERENCE = [
    "--reference-values", str(SAMPLE / "tdx-refvalues.cbor"),
    "--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"),
    "--event-log", str(SAMPLE / "tdx-event-log.bin"),
]  # fmt: skip
#: the SNP report, its VCEK, chain and CRL and the example ARK, at the sample's time
SNP = [
    "verify", str(SAMPLE / "snp-report.bin"),
    "--vcek", str(SAMPLE / "snp-vcek.der"),
    "--cert-chain", str(SAMPLE / "snp-cert-chain.pem"),
    "--crl", str(SAMPLE / "snp-crl.der"),
    "--trust-root", str(SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem"),
    "--at", AT,
]  # fmt: skip
SNP_REFERENCE = [
    "--reference-values", str(SAMPLE / "snp-refvalues.cbor"),
    "--trust-anchor", str(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem"),
]  # fmt: skip


def without(args: list[str], option: str) -> list[str]:
    """``args`` without ``option`` and its value."""
    index = args.index(option)
    return args[:index] + args[index + 2 :]
