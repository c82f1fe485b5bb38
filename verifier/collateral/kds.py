"""AMD Key Distribution Service (KDS) client: VCEKs, cert chains and CRLs, with cache and retry.

Endpoints (notes/snp.md §4, AMD VCEK spec #57230), ``{P}`` = Milan | Genoa | Turin:

- ``/vcek/v1/{P}/{hwid}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..`` (Turin adds ``&fmcSPL=..``):
  the VCEK, DER. ``hwid`` is the report's CHIP_ID in lowercase hex: all 64 bytes on
  Milan/Genoa, the first 8 bytes on Turin. The SPLs are REPORTED_TCB's (never CURRENT_TCB's),
  in decimal.
- ``/vcek/v1/{P}/cert_chain`` and ``/vlek/v1/{P}/cert_chain``: PEM, ASK (or ASVK) then ARK.
- ``/vcek/v1/{P}/crl`` and ``/vlek/v1/{P}/crl``: the CRL (DER), signed by the ARK.

VLEKs are provisioned to cloud providers and cannot be fetched per chip.

Every answer is looked up first in the collateral cache, then in the offline bundles, then on
the network (``cache.fetch_chain``); network answers are written back to the cache. Entries are
keyed by the canonical ``https://kdsintf.amd.com/...`` URL even when ``base_url`` points
elsewhere (a mirror, or a test server), so caches and bundles stay portable. VCEKs and chains are
immutable (no ``not_after``); a CRL is valid from ``thisUpdate`` to ``nextUpdate``.

KDS rate-limits (about one request per 10 s per client) with HTTP 429, and has transient 503s:
those are retried, honouring ``Retry-After`` (seconds or an HTTP date), else with exponential
backoff, within a bounded number of attempts and a bounded total wait. The sleep function is a
parameter so tests never sleep. Anything that cannot be had (offline, unreachable, 404, retries
exhausted) is a ``CollateralError`` (CLI exit 3) naming the URL that was needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import requests
from cryptography.hazmat.primitives.serialization import Encoding

from ccverify.verifier.collateral.cache import CacheEntry, CollateralCache, CollateralSource, fetch_chain
from ccverify.verifier.collateral.http import (
    DEFAULT_TIMEOUT,
    RetryPolicy,
    bounded_get,
)
from ccverify.verifier.errors import CollateralError, InputError, VerificationError
from ccverify.verifier.evidence.snp_report import Product, SnpReport, TcbParts, TcbVersion
from ccverify.verifier.snp.certs import VekKind, der, load_certificate, load_certificates, load_crl

KDS_BASE_URL = "https://kdsintf.amd.com"


def _product(product: Product | str) -> Product:
    return product if isinstance(product, Product) else Product.from_name(product)


def _kind(kind: VekKind | str) -> VekKind:
    if isinstance(kind, VekKind):
        return kind
    try:
        return VekKind(kind.upper())
    except ValueError:
        raise InputError(f"unknown endorsement key kind {kind!r}: expected vcek or vlek") from None


def hwid_hex(product: Product | str, chip_id: bytes) -> str:
    """The KDS hwid path segment: 64 bytes of CHIP_ID (Milan/Genoa) or the first 8 (Turin)."""
    chosen = _product(product)
    return (chip_id[:8] if chosen.uses_fmc else chip_id[:64]).hex()


def vcek_url(
    product: Product | str, chip_id: bytes, tcb: TcbParts | TcbVersion, *, base_url: str = KDS_BASE_URL
) -> str:
    """The VCEK URL for a chip at a TCB (give REPORTED_TCB, as parts or raw)."""
    chosen = _product(product)
    parts = tcb.parts(chosen) if isinstance(tcb, TcbVersion) else tcb
    query = f"blSPL={parts.bl_spl}&teeSPL={parts.tee_spl}&snpSPL={parts.snp_spl}&ucodeSPL={parts.ucode_spl}"
    if chosen.uses_fmc:
        if parts.fmc_spl is None:
            raise CollateralError("a Turin VCEK URL needs fmcSPL", missing="fmc_spl")
        query += f"&fmcSPL={parts.fmc_spl}"
    return f"{base_url.rstrip('/')}/vcek/v1/{chosen.value}/{hwid_hex(chosen, chip_id)}?{query}"


def chain_url(
    product: Product | str, kind: VekKind | str = VekKind.VCEK, *, base_url: str = KDS_BASE_URL
) -> str:
    """``/vcek/v1/{P}/cert_chain`` (ASK, ARK) or ``/vlek/v1/{P}/cert_chain`` (ASVK, ARK)."""
    return f"{base_url.rstrip('/')}/{_kind(kind).value.lower()}/v1/{_product(product).value}/cert_chain"


def crl_url(
    product: Product | str, kind: VekKind | str = VekKind.VCEK, *, base_url: str = KDS_BASE_URL
) -> str:
    return f"{base_url.rstrip('/')}/{_kind(kind).value.lower()}/v1/{_product(product).value}/crl"


class KdsClient:
    """AMD KDS over HTTPS with a cache, offline bundles and bounded retry.

    ``offline=True`` never touches the network (a miss is a ``CollateralError``).
    ``max_attempts`` bounds the requests per resource, ``max_total_wait`` the seconds spent
    sleeping between them, ``max_delay`` a single wait (a longer ``Retry-After`` gives up at
    once rather than blocking). ``sleep`` and ``now`` are injectable for tests.
    """

    def __init__(
        self,
        *,
        base_url: str = KDS_BASE_URL,
        cache: CollateralCache | None = None,
        sources: Sequence[CollateralSource] = (),
        offline: bool = False,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = 4,
        initial_delay: float = 10.0,
        max_delay: float = 30.0,
        max_total_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.cache = cache
        self.sources = tuple(sources)
        self.offline = offline
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.max_total_wait = max_total_wait
        self.sleep = sleep
        self.now = now
        self.on_retry = on_retry

    # ------------------------------------------------------------------ network

    def _network_url(self, canonical: str) -> str:
        return self.base_url + canonical[len(KDS_BASE_URL) :]

    def download(self, canonical_url: str) -> CacheEntry:
        """GET one resource (retrying 429/503); the entry is keyed by ``canonical_url``."""
        policy = RetryPolicy(
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
            max_total_wait=self.max_total_wait,
            sleep=self.sleep,
            now=self.now,
            on_retry=self.on_retry,
        )
        url = self._network_url(canonical_url)
        response = bounded_get(self.session, url, service="AMD KDS", policy=policy, missing=canonical_url)
        return self._entry(canonical_url, response)

    def _entry(self, canonical_url: str, response: requests.Response) -> CacheEntry:
        body = response.content
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() in ("content-type", "date")}
        not_before = not_after = None
        if canonical_url.endswith("/crl"):
            try:
                crl = load_crl(body, f"KDS answer for {canonical_url}")
            except VerificationError as exc:
                raise CollateralError(
                    f"AMD KDS answered with something that is not a CRL ({exc.detail}) for",
                    missing=canonical_url,
                ) from None
            not_before, not_after = crl.last_update_utc, crl.next_update_utc
        else:
            try:
                if canonical_url.endswith("/cert_chain"):
                    load_certificates(body, f"KDS answer for {canonical_url}")
                else:
                    load_certificate(body, f"KDS answer for {canonical_url}")
            except VerificationError as exc:
                raise CollateralError(
                    f"AMD KDS answered with something that is not a certificate ({exc.detail}) for",
                    missing=canonical_url,
                ) from None
        return CacheEntry(
            url=canonical_url,
            body=body,
            headers=headers,
            fetched_at=self.now(),
            not_before=not_before,
            not_after=not_after,
        )

    # ------------------------------------------------------------------ look-ups

    def get(self, canonical_url: str, *, at: datetime) -> CacheEntry:
        """Cache, then bundles, then (unless offline) the network."""
        return fetch_chain(
            canonical_url,
            sources=self.sources,
            fetch=None if self.offline else self.download,
            cache=self.cache,
            at=at,
        )

    def vcek(
        self, product: Product | str, chip_id: bytes, reported_tcb: TcbParts | TcbVersion, *, at: datetime
    ) -> bytes:
        """The VCEK (DER) for ``chip_id`` at ``reported_tcb``."""
        if not any(chip_id):
            raise CollateralError(
                "the report's CHIP_ID is zero (MASK_CHIP_ID), so its VCEK cannot be fetched from AMD KDS; "
                "supply the VCEK (certificate table, a VCEK file, cache or bundle)",
                missing="VCEK",
            )
        entry = self.get(vcek_url(product, chip_id, reported_tcb), at=at)
        return der(load_certificate(entry.body, f"VCEK from {entry.url}"))

    def vcek_for_report(self, report: SnpReport, *, product: Product | None = None, at: datetime) -> bytes:
        chosen = product or report.product
        if chosen is None:
            raise CollateralError(
                f"the product of this version {report.version} report is unknown, so the VCEK URL cannot be "
                "formed; name the product (milan, genoa, turin)",
                missing="product",
            )
        return self.vcek(chosen, report.chip_id, report.reported_tcb, at=at)

    def cert_chain(
        self, product: Product | str, kind: VekKind | str = VekKind.VCEK, *, at: datetime
    ) -> tuple[bytes, bytes]:
        """``(ASK or ASVK, ARK)`` as DER, from the KDS cert_chain PEM."""
        entry = self.get(chain_url(product, kind), at=at)
        certs = load_certificates(entry.body, f"cert_chain from {entry.url}")
        if len(certs) != 2:
            raise CollateralError(
                f"the KDS cert_chain holds {len(certs)} certificates, expected 2 (intermediate, ARK)",
                missing=entry.url,
            )
        return der(certs[0]), der(certs[1])

    def crl(self, product: Product | str, kind: VekKind | str = VekKind.VCEK, *, at: datetime) -> bytes:
        """The KDS CRL (DER) valid at ``at``."""
        entry = self.get(crl_url(product, kind), at=at)
        return load_crl(entry.body, f"CRL from {entry.url}").public_bytes(Encoding.DER)
