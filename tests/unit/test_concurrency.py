"""The concurrency contract (``verifier/__init__.py``, README "Library"): verification may run
in many threads at once over shared collateral; the memoized checks are locked, keyed by
content, and give the same verdicts as verifying one at a time (issue #13)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from ccverify import verifier
from tests.conftest import REPO

SAMPLE = REPO / "reference-values" / "examples"
AT = "2026-01-15T00:00:00Z"
THREADS, ROUNDS = 8, 15


def _run_concurrently(verify: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(THREADS)
    results: list[object] = []
    lock = threading.Lock()

    def work() -> None:
        barrier.wait()
        for round_ in range(ROUNDS):
            if round_ == ROUNDS // 2:
                verifier.clear_caches()  # a cold path in the middle costs time, never a verdict
            try:
                outcome: object = verify()
            except Exception as error:
                outcome = error
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_tdx_verdicts_over_shared_collateral_are_the_same_in_every_thread() -> None:
    collateral = verifier.load_collateral(SAMPLE / "tdx-collateral.json")
    quote = (SAMPLE / "tdx-quote.dat").read_bytes()
    root = (SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem").read_bytes()
    verifier.clear_caches()
    alone = verifier.verify_tdx(quote, collateral, at=AT, trust_root=root)
    results = _run_concurrently(lambda: verifier.verify_tdx(quote, collateral, at=AT, trust_root=root))
    assert len(results) == THREADS * ROUNDS
    assert all(result == alone for result in results), {type(r).__name__ for r in results}


def test_snp_verdicts_over_shared_certificates_are_the_same_in_every_thread() -> None:
    certs = verifier.load_snp_certs(
        vcek=SAMPLE / "snp-vcek.der", chain=SAMPLE / "snp-cert-chain.pem", crl=SAMPLE / "snp-crl.der"
    )
    report = (SAMPLE / "snp-report.bin").read_bytes()
    root = (SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem").read_bytes()
    verifier.clear_caches()
    alone = verifier.verify_snp(report, certs, at=AT, trust_root=root)
    results = _run_concurrently(lambda: verifier.verify_snp(report, certs, at=AT, trust_root=root))
    assert all(result == alone for result in results), {type(r).__name__ for r in results}


def test_memoized_collateral_checks_follow_the_content_not_the_object() -> None:
    quote = (SAMPLE / "tdx-quote.dat").read_bytes()
    root = SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"
    first = verifier.load_collateral(SAMPLE / "tdx-collateral.json")
    again = verifier.load_collateral((SAMPLE / "tdx-collateral.json").read_bytes())
    renamed = dataclasses.replace(first, origin="another origin")
    assert first.content_key == verifier.load_collateral(SAMPLE / "tdx-collateral.json").content_key
    assert again.content_key != first.content_key  # its origin differs: it is recorded in verdicts
    assert renamed.content_key != first.content_key
    for collateral in (first, again, renamed, first):
        verdict = verifier.verify_tdx(quote, collateral, at=AT, trust_root=root)
        assert verdict.collateral.origin == collateral.origin


def test_collateral_loaded_anew_with_the_same_content_reuses_the_checked_context() -> None:
    from ccverify.verifier.tdx import verify as tdx_verify

    quote = (SAMPLE / "tdx-quote.dat").read_bytes()
    root = SAMPLE / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"
    verifier.clear_caches()
    for _ in range(3):  # a service loading the same collateral per request (was: keyed by id())
        collateral = verifier.load_collateral(SAMPLE / "tdx-collateral.json")
        verifier.verify_tdx(quote, collateral, at=AT, trust_root=root)
    assert len(tdx_verify._CONTEXTS._data) == 1
