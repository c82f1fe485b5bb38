"""Appraise a verified quote against signed reference values and its event log, then release
only on an affirming result (README "Library").

Run: ``python tests/examples/appraise.py [SAMPLE_DIR]`` (default: the shipped sample).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccverify import verifier

SAMPLE = Path(__file__).resolve().parents[2] / "reference-values" / "examples"
AT = "2026-01-15T00:00:00Z"


def main(argv: list[str]) -> int:
    sample = Path(argv[0]) if argv else SAMPLE
    verdict = verifier.verify_tdx(
        sample / "tdx-quote.dat",
        verifier.load_collateral(sample / "tdx-collateral.json"),
        at=AT,
        trust_root=sample / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem",
    )
    reference_values = verifier.load_reference_values(
        sample / "tdx-refvalues.cbor", [sample / "EXAMPLE-refvalues-signer.pub.pem"], at=AT
    )
    result: verifier.AttestationResult = verifier.appraise(
        verdict, reference_values, event_log=sample / "tdx-event-log.bin"
    )  # at: the verdict's time; policy: the default TdxPolicy()
    for reason in result.reasons:
        print(f"{reason.claim}: {reason.code}: {reason.detail}")
    try:
        released = verifier.require_affirming(result, at=AT)  # what a release layer calls
    except verifier.VerificationError as refused:
        print(f"not released: {refused.code}")
        return 1
    print(f"released: {released.status.name}, expires {released.expires_at}")
    print(f"EAR status: {released.to_json()['ear_status']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
