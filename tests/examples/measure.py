"""Compute launch measurements offline (README "Library").

Run: ``python tests/examples/measure.py AMDSEV_OVMF [TDVF]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccverify import measurements


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: measure.py AMDSEV_OVMF [TDVF]", file=sys.stderr)
        return 2
    # images are bytes or files (a Path); the command line is text
    digest: bytes = measurements.snp_launch_digest(
        Path(argv[0]), vcpus=2, vcpu_type="EPYC-Milan", guest_features=0x1
    )
    print(f"snp measurement {digest.hex()}")
    if len(argv) > 1:
        m: measurements.Measurement = measurements.measure_tdx(
            Path(argv[1]), order=measurements.PageOrder.SINGLE_PASS
        )
        print(f"tdx mrtd {m.values['mrtd'].hex()}")
        print(f"format {m.to_measurement_json()['format']}")  # what `ccverify measure --json` prints
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
