"""Prometheus metrics (prometheus-client): verifications by outcome and TEE, attestation latency,
and the nonces outstanding (read from the shared database at scrape time, so every replica
reports the same number). With several workers, ``PROMETHEUS_MULTIPROC_DIR`` (set by
``ccverify serve``) makes each scrape add up every worker's counters."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

VERIFICATIONS = Counter(
    "ccverify_verifications",
    "Attestations by outcome (affirming, not_affirming, refused, error) and TEE",
    ["outcome", "tee"],
)
LATENCY = Histogram(
    "ccverify_attest_duration_seconds",
    "Time to handle POST /v1/attest",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class _Outstanding(Collector):
    def __init__(self, count: Callable[[float], int]) -> None:
        self._count = count

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("ccverify_nonces_outstanding", "Challenges issued, not yet used or expired")
        gauge.add_metric([], self._count(time.time()))
        yield gauge


def exposition(outstanding: Callable[[float], int]) -> tuple[bytes, str]:
    """The metrics text and its content type."""
    extra = CollectorRegistry()
    extra.register(_Outstanding(outstanding))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    return generate_latest(registry) + generate_latest(extra), CONTENT_TYPE_LATEST
