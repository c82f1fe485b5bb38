"""Verify an SEV-SNP report with its certificates (README "Library").

Run: ``python tests/examples/verify_snp.py [SAMPLE_DIR]`` (default: the shipped sample).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccverify import verifier

SAMPLE = Path(__file__).resolve().parents[2] / "reference-values" / "examples"


def main(argv: list[str]) -> int:
    sample = Path(argv[0]) if argv else SAMPLE
    certs: verifier.SnpCertificates = verifier.load_snp_certs(
        vcek=sample / "snp-vcek.der",  # or table=<the extended report's certificate table bytes>
        chain=sample / "snp-cert-chain.pem",  # ASK + ARK (pinned ARKs ship with ccverify)
        crl=sample / "snp-crl.der",  # the default policy refuses a verdict whose CRL was not checked
    )
    verdict = verifier.verify_snp(
        (sample / "snp-report.bin").read_bytes(),
        certs,
        at="2026-01-15T00:00:00Z",
        trust_root=sample / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem",  # default: AMD's pinned ARKs
    )
    assert verdict.product is verifier.Product.MILAN and verdict.crl_checked
    print(f"product {verdict.product.name}, key {verdict.key_type.value}, policy {verdict.policy}")
    print(f"measurement {verdict.measurement.hex()}")
    print(f"chip binding: {verdict.chip_binding}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
