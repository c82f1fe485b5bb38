"""SEV-SNP verification throughput with warm certificates, against baselines measured in this run.

    .venv/bin/python tests/benchmarks/bench_snp.py [--seconds 2]

Prints reports verified per second for:

- ccverify ``verify_snp`` with warm certificates (the chain is memoized by the certificates'
  bytes, so each call parses the report, checks the times, verifies the P-384 signature and
  compares TCB and chip id) and applies a policy (the default one with DEBUG allowed, as
  omne-attest's below, and revocation unchecked: some of the real reports are debug guests,
  and their KDS CRLs are not among the fixtures);
- the floor: the ECDSA P-384/SHA-384 verification alone, straight with ``cryptography``
  (R and S read from the report, public key loaded once);
- omne-attest (``omne_attest.verify``: parse, signature, chain, binding, policy) on the same
  reports, when it is installed.

and the ratios: ccverify time / floor time (target <= 1.2) and ccverify throughput / omne-attest
throughput (target >= 1.8). No assertions: this is a script, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ccverify.verifier.snp.certs import der, load_certificates, to_der
from ccverify.verifier.snp.validate import SnpPolicy
from ccverify.verifier.snp.verify import SnpCertificates, load_snp_certs, verify_snp

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "snp"

#: (report, VCEK, KDS chain, verification time) -- real VCEK-signed reports of Milan and Genoa
CASES = [
    (
        "go-sev-guest/attestation.bin",
        "go-sev-guest/vcek.testcer",
        "go-sev-guest/ask_ark_milan.pem",
        "2023-01-01",
    ),
    ("trustee/test-report.bin", "trustee/test-vcek.der", "go-sev-guest/ask_ark_milan.pem", "2024-01-01"),
    ("teekit/sev-gcp.bin", "teekit/sev-gcp-vcek.pem", "teekit/sev-gcp-cert-chain.pem", "2026-01-01"),
    (
        "trustee/azure-genoa-snp-report.bin",
        "trustee/vcek-genoa.pem",
        "go-sev-guest/ask_ark_genoa.pem",
        "2025-06-01",
    ),
    (
        "project-oak/genoa_oc_report.bin",
        "project-oak/genoa_oc_vcek.der",
        "go-sev-guest/ask_ark_genoa.pem",
        "2025-09-01",
    ),
    (
        "project-oak/milan_oc_release_report.bin",
        "project-oak/milan_oc_release_vcek.der",
        "go-sev-guest/ask_ark_milan.pem",
        "2025-06-01",
    ),
]
_ECDSA = ec.ECDSA(hashes.SHA384())

Case = tuple[bytes, SnpCertificates, datetime]
FloorCase = tuple[bytes, ec.EllipticCurvePublicKey]


def verify_all(cases: list[Case]) -> Callable[[], None]:
    """ccverify: ``verify_snp`` on every case."""

    policy = SnpPolicy(allow_debug=True, allow_unchecked_revocation=True)

    def work() -> None:
        for report, loaded, at in cases:
            verify_snp(report, loaded, at=at, policy=policy)

    return work


def floor_all(cases: list[FloorCase]) -> Callable[[], None]:
    """The floor: the report's ECDSA P-384 signature alone, with the key loaded once."""

    def work() -> None:
        for report, key in cases:
            r = int.from_bytes(report[0x2A0:0x2E8], "little")
            s = int.from_bytes(report[0x2E8:0x330], "little")
            key.verify(encode_dss_signature(r, s), report[:0x2A0], _ECDSA)

    return work


def race(contenders: dict[str, tuple[Callable[[], None], int]], seconds: float) -> dict[str, float]:
    """Reports per second of each contender (``work``, reports per call).

    The contenders run in alternating short batches for ``seconds`` in total, and each keeps its
    best batch: on a shared machine that compares them under the same conditions.
    """
    best = dict.fromkeys(contenders, float("inf"))
    for work, _ in contenders.values():
        work()  # warm up
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for name, (work, _) in contenders.items():
            start = time.perf_counter()
            for _ in range(5):
                work()
            best[name] = min(best[name], (time.perf_counter() - start) / 5)
    rates = {name: contenders[name][1] / best[name] for name in contenders}
    for name, value in rates.items():
        print(f"  {name:<44} {value:10.0f} reports/s  ({1e6 / value:7.1f} us/report)")
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    args = parser.parse_args()

    reports: list[bytes] = []
    certs = []
    times = []
    keys: list[ec.EllipticCurvePublicKey] = []
    chains: list[tuple[bytes, bytes, bytes]] = []
    for report, vcek, chain, at in CASES:
        data = (FIXTURES / report).read_bytes()
        reports.append(data)
        loaded = load_snp_certs(vcek=FIXTURES / vcek, chain=FIXTURES / chain)
        certs.append(loaded)
        times.append(datetime.fromisoformat(at).replace(tzinfo=UTC))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # real VCEKs have serial 0
            key = x509.load_der_x509_certificate(to_der((FIXTURES / vcek).read_bytes())).public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        keys.append(key)
        ask, ark = (der(c) for c in load_certificates((FIXTURES / chain).read_bytes()))
        assert loaded.vcek is not None
        chains.append((loaded.vcek, ask, ark))
    cases: list[Case] = list(zip(reports, certs, times, strict=True))
    floor_cases: list[FloorCase] = list(zip(reports, keys, strict=True))
    count = len(cases)
    print(f"SEV-SNP verification, {count} real reports (Milan and Genoa, VCEK), warm certificates")

    ours = verify_all(cases)
    floor = floor_all(floor_cases)
    ours()  # every report verifies (and the chains are now memoized)
    rates = race(
        {
            "ccverify verify_snp (warm)": (ours, count),
            "floor: P-384 verify with cryptography": (floor, count),
        },
        args.seconds,
    )
    ratio = rates["floor: P-384 verify with cryptography"] / rates["ccverify verify_snp (warm)"]
    print(f"  ratio ccverify time / floor time: {ratio:.3f}  (target <= 1.2)")

    try:
        import omne_attest
    except ImportError:
        print("  omne-attest not installed: no comparison")
        return 0
    policy = omne_attest.Policy(max_vmpl=3, reject_debug=False)
    omne_cases = []
    for report, (vcek, ask, ark) in zip(reports, chains, strict=True):
        pin = hashlib.sha256(ark).digest()
        try:
            omne_attest.verify(report, vcek, ask, ark, pin, policy)
        except Exception as error:  # a report omne-attest cannot verify is left out of both sides
            print(f"  (omne-attest rejects one report: {error}; left out of the comparison)")
            continue
        omne_cases.append((report, vcek, ask, ark, pin))

    def omne() -> None:
        for report, vcek, ask, ark, pin in omne_cases:
            omne_attest.verify(report, vcek, ask, ark, pin, policy)

    same = [case for case in cases if any(case[0] is o[0] for o in omne_cases)]
    same_floor = [case for case in floor_cases if any(case[0] is o[0] for o in omne_cases)]
    versus = race(
        {
            "omne-attest verify": (omne, len(omne_cases)),
            "ccverify verify_snp on the same reports": (verify_all(same), len(same)),
            "floor on the same reports": (floor_all(same_floor), len(same)),
        },
        args.seconds,
    )
    speedup = versus["ccverify verify_snp on the same reports"] / versus["omne-attest verify"]
    ceiling = versus["floor on the same reports"] / versus["omne-attest verify"]
    print(f"  ratio ccverify / omne-attest throughput: {speedup:.2f}x  (target >= 1.8x)")
    print(f"  ceiling (floor / omne-attest: the P-384 verify both must do): {ceiling:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
