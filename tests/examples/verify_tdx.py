"""Verify a TDX quote with its collateral (README "Library").

Run: ``python tests/examples/verify_tdx.py [SAMPLE_DIR]`` (default: the shipped sample).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccverify import verifier

SAMPLE = Path(__file__).resolve().parents[2] / "reference-values" / "examples"


def main(argv: list[str]) -> int:
    sample = Path(argv[0]) if argv else SAMPLE
    # bytes are content, a Path is a file (a str is refused: InputError)
    collateral = verifier.load_collateral(sample / "tdx-collateral.json")  # or TdxCollateral.from_pcs(...)
    verdict = verifier.verify_tdx(
        (sample / "tdx-quote.dat").read_bytes(),
        collateral,
        at="2026-01-15T00:00:00Z",  # default: now
        trust_root=sample / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem",  # default: the pinned Intel root
    )  # the default policy applied: UpToDate, no DEBUG TD, revocation checked
    assert verdict.status is verifier.TcbStatus.UpToDate
    production = verdict.root.production
    print(f"status {verdict.status.value}, policy {verdict.policy}, production root {production}")
    print(f"mrtd {verdict.quote.body.mr_td.hex()}")
    print(f"collateral valid until {verdict.earliest_next_update.isoformat()}")
    document = verifier.verdict_to_json(verdict)  # bytes as hex, enums by name, times ISO 8601
    print(f"fmspc {document['fmspc']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
