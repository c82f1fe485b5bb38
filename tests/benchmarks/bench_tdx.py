"""TDX verification throughput: warm, cold, against the ECDSA floor and against dcap-qvl.

Run: ``.venv/bin/python tests/benchmarks/bench_tdx.py [--rounds N] [--batch N]``

Quote and collateral: dcap-qvl's ``tdx_quote`` + ``tdx_quote_collateral.json`` (real, UpToDate
at 2025-07-19T10:00:34Z). Figures:

- warm: ``verify_tdx(bytes, collateral)`` with every content-keyed memo warm (the steady
  state of a verifier: chains, CRLs, TCB info and the QE's report seen before; the quote
  itself is parsed and its signature verified every time);
- warm, new QE report: the same with the memo of QE report signatures emptied first (the first
  quote of a QE: both signatures verified, as ``floor``);
- floor: the irreducible per-quote work done directly with ``cryptography``: the quote
  signature and the QE report signature verified with keys already loaded; ``floor+key`` also
  loads the attestation key from its point every time (``verify_tdx`` memoizes loaded
  attestation keys by their 64 bytes, as a QE signs many quotes with one key);
- cold: ``clear_caches()`` before each verification (every chain, CRL and JSON signature
  checked again);
- dcap-qvl (PyPI ``dcap_qvl``, if importable): ``dcap_qvl.verify(quote, collateral, now)``.

Rounds interleave the candidates and each ratio is the median of per-round ratios, so drift
in machine load cancels out. Targets: warm/floor <= 1.3 (also for a new QE report), ours/dcap-qvl
>= 4 (warm).
"""

from __future__ import annotations

import argparse
import calendar
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ccverify.verifier.collateral.tdx_loader import load_collateral
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.tdx import verify as _verify
from ccverify.verifier.tdx.collateral import TcbStatus
from ccverify.verifier.tdx.verify import clear_caches, verify_tdx

AT = datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tdx" / "dcap-qvl"


def per_call(func: Callable[[], object], batch: int) -> float:
    """Seconds per call over one batch."""
    start = time.perf_counter()
    for _ in range(batch):
        func()
    return (time.perf_counter() - start) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--batch", type=int, default=40)
    args = parser.parse_args()

    quote = (FIXTURES / "tdx_quote").read_bytes()
    collateral_path = FIXTURES / "tdx_quote_collateral.json"
    collateral = load_collateral(collateral_path)
    verdict = verify_tdx(quote, collateral, at=AT)
    assert verdict.status is TcbStatus.UpToDate

    parsed = TdxQuote.from_bytes(quote)
    pck_key = parsed.pck_chain_certificates()[0].public_key()
    assert isinstance(pck_key, ec.EllipticCurvePublicKey)
    signed, qe_report = parsed.signed_data, parsed.qe_report_bytes
    signature, qe_signature, att_key = parsed.signature, parsed.qe_report_signature, parsed.attestation_key

    def der(raw: bytes) -> bytes:
        return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))

    loaded_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + att_key)

    def floor() -> None:  # the two ECDSA verifies, keys already loaded
        loaded_key.verify(der(signature), signed, ec.ECDSA(hashes.SHA256()))
        pck_key.verify(der(qe_signature), qe_report, ec.ECDSA(hashes.SHA256()))

    def floor_with_key() -> None:  # ... and the attestation key loaded from its point each time
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + att_key)
        key.verify(der(signature), signed, ec.ECDSA(hashes.SHA256()))
        pck_key.verify(der(qe_signature), qe_report, ec.ECDSA(hashes.SHA256()))

    def warm() -> None:
        verify_tdx(quote, collateral, at=AT)

    def new_qe_report() -> None:
        _verify._QE_REPORT_SIGNATURES.clear()
        verify_tdx(quote, collateral, at=AT)

    def cold() -> None:
        clear_caches()
        verify_tdx(quote, collateral, at=AT)

    candidates: dict[str, Callable[[], object]] = {
        "floor": floor,
        "floor+key": floor_with_key,
        "warm": warm,
        "warm-newqe": new_qe_report,
        "cold": cold,
    }
    try:
        import dcap_qvl

        qvl_collateral = dcap_qvl.QuoteCollateralV3.from_json(collateral_path.read_text())
        now = calendar.timegm(AT.utctimetuple())
        report = dcap_qvl.verify(quote, qvl_collateral, now)
        assert report.status == "UpToDate", report.status

        def qvl() -> None:
            dcap_qvl.verify(quote, qvl_collateral, now)

        candidates["dcap-qvl"] = qvl
    except ImportError:
        print("dcap_qvl not importable: no dcap-qvl comparison")

    times: dict[str, list[float]] = {name: [] for name in candidates}
    for func in candidates.values():  # warm-up
        per_call(func, 5)
    warm()
    for _ in range(args.rounds):
        for name, func in candidates.items():
            times[name].append(per_call(func, args.batch if name != "cold" else max(5, args.batch // 4)))
            if name == "cold":
                warm()  # leave the memos warm for the next round

    print(f"quote: dcap-qvl tdx_quote (v4, {len(quote)} B), {args.rounds} rounds x {args.batch} calls")
    for name, samples in times.items():
        best, median = min(samples), statistics.median(samples)
        print(
            f"  {name:10s} {1 / median:9.0f} /s   median {median * 1e6:8.1f} us   best {best * 1e6:8.1f} us"
        )

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    print(f"warm / floor       = {ratio('warm', 'floor'):.2f}   (target <= 1.3)")
    print(f"warm / floor+key   = {ratio('warm', 'floor+key'):.2f}")
    print(f"warm-newqe / floor = {ratio('warm-newqe', 'floor'):.2f}   (a QE's first quote; target <= 1.3)")
    print(f"cold / warm        = {ratio('cold', 'warm'):.2f}")
    if "dcap-qvl" in times:
        print(f"ours / dcap-qvl    = {ratio('dcap-qvl', 'warm'):.2f}x throughput, warm   (target >= 4)")
        print(f"ours / dcap-qvl    = {ratio('dcap-qvl', 'cold'):.2f}x throughput, cold")


if __name__ == "__main__":
    main()
