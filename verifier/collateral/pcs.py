"""Intel PCS v4 client for TDX collateral, with the cache and offline bundles in front of it.

Resources (canonical URLs: the cache and bundle keys, whatever server actually answered)::

    TDX TCB info    https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=<hex12>
                    header TCB-Info-Issuer-Chain
    TD QE identity  https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity
                    header SGX-Enclave-Identity-Issuer-Chain
    PCK CRL         https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der
                    header SGX-PCK-CRL-Issuer-Chain
    Root CA CRL     https://certificates.trustedservices.intel.com/IntelSGXRootCA.der

Issuer-chain headers are URL-encoded PEM (signer, then root) as Intel serves them; they are
stored decoded, names lower-case. ``PcsClient(base_url=...)`` points the PCS resources at
another server (a PCCS, or a test server); the root CA CRL then comes from
``<base>/sgx/certification/v4/rootcacrl`` (PCCS's path) unless ``root_crl_url`` says otherwise.
Every network problem (connection, timeout, HTTP status, an answer that is not the collateral
asked for) is a ``CollateralError`` naming the canonical URL.

``gather_tdx_collateral`` finds the four items a quote needs: cache first, then bundles, then
the network (not at all when offline), writing network answers to the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import unquote

import requests

from ccverify.verifier import x509load
from ccverify.verifier.collateral.cache import (
    CacheEntry,
    CollateralCache,
    CollateralSource,
    fetch_chain,
)
from ccverify.verifier.collateral.http import DEFAULT_TIMEOUT, RetryPolicy, bounded_get
from ccverify.verifier.errors import Code, CollateralError, InputError, VerificationError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.jsonable import JSON_ERRORS
from ccverify.verifier.tdx.collateral import (
    PCS_BASE_URL,
    PLATFORM_CA_CN,
    ROOT_CA_CRL_URL,
    CaKind,
    TdxCollateral,
    classify_url,
    common_name,
    crl_bytes,
    pck_crl_url,
    qe_identity_url,
    tcb_info_url,
)
from ccverify.verifier.tdx.pck import pck_extensions
from ccverify.verifier.timeutil import iso_to_utc

PCCS_ROOT_CA_CRL_PATH = "/sgx/certification/v4/rootcacrl"

__all__ = [
    "PCCS_ROOT_CA_CRL_PATH",
    "PCS_BASE_URL",
    "ROOT_CA_CRL_URL",
    "CaKind",
    "PcsClient",
    "entry_from_body",
    "gather_tdx_collateral",
    "pck_crl_url",
    "qe_identity_url",
    "quote_collateral_urls",
    "tcb_info_url",
    "validity_window",
]

#: issuer-chain headers kept with an entry (lower-case)
ISSUER_CHAIN_HEADERS = (
    "tcb-info-issuer-chain",
    "sgx-tcb-info-issuer-chain",
    "sgx-enclave-identity-issuer-chain",
    "sgx-pck-crl-issuer-chain",
)

def quote_collateral_urls(quote: TdxQuote) -> list[str]:
    """The canonical URLs of the collateral ``quote`` needs (its FMSPC and PCK CA)."""
    certs = quote.pck_chain_certificates()
    if len(certs) < 2:
        raise VerificationError(Code.PCK_CHAIN_INVALID, "the quote's PCK chain has fewer than 2 certificates")
    if certs[0].subject == certs[0].issuer:  # root first
        certs = certs[::-1]
    leaf, ca = certs[0], certs[1]
    ext = pck_extensions(leaf)
    kind: CaKind = "platform" if common_name(ca.subject) == PLATFORM_CA_CN else "processor"
    return [tcb_info_url(ext.fmspc), qe_identity_url(), pck_crl_url(kind), ROOT_CA_CRL_URL]


def validity_window(url: str, body: bytes) -> tuple[datetime | None, datetime | None]:
    """(issueDate/thisUpdate, nextUpdate) of a PCS answer; ``InputError`` if it is not one."""
    kind = classify_url(url)
    if kind in ("tcb_info", "qe_identity"):
        key = "tcbInfo" if kind == "tcb_info" else "enclaveIdentity"
        try:
            doc = json.loads(body)
            inner = doc[key]
            return _time(inner["issueDate"]), _time(inner["nextUpdate"])
        except (*JSON_ERRORS, KeyError, TypeError):  # ValueError: also a bad time
            raise InputError(f"{url}: the answer is not a signed {key} JSON document") from None
    if kind in ("pck_crl", "root_ca_crl"):
        try:
            crl = x509load.crl(crl_bytes(body, url))
        except ValueError:
            raise InputError(f"{url}: the answer is not a CRL") from None
        return crl.last_update_utc, crl.next_update_utc
    return None, None


def _time(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError("not a time")
    return iso_to_utc(text)


class PcsClient:
    """Fetch canonical PCS URLs from ``base_url`` (Intel by default) with ``requests``."""

    def __init__(
        self,
        base_url: str = PCS_BASE_URL,
        *,
        root_crl_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] | None = None,
        api_key: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if root_crl_url is None:
            root_crl_url = (
                ROOT_CA_CRL_URL if self.base_url == PCS_BASE_URL else self.base_url + PCCS_ROOT_CA_CRL_PATH
            )
        self.root_crl_url = root_crl_url
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy(timeout=timeout)
        self.session = session or requests.Session()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.api_key = api_key

    def location(self, url: str) -> str:
        """Where the canonical ``url`` is fetched from."""
        if url == ROOT_CA_CRL_URL:
            return self.root_crl_url
        if url.startswith(PCS_BASE_URL):
            return self.base_url + url[len(PCS_BASE_URL) :]
        return url

    def fetch(self, url: str) -> CacheEntry:
        """GET the canonical ``url``; a ``CacheEntry`` keyed by it, or ``CollateralError``."""
        where = self.location(url)
        headers = {"Ocp-Apim-Subscription-Key": self.api_key} if self.api_key else {}
        response = bounded_get(
            self.session, where, service="Intel PCS", policy=self.retry, missing=url, headers=headers
        )
        body = response.content
        kept = {
            name: unquote(value)
            for name in ISSUER_CHAIN_HEADERS
            if (value := response.headers.get(name)) is not None
        }
        try:
            not_before, not_after = validity_window(url, body)
        except InputError as error:
            raise CollateralError(f"Intel PCS answer from {where} unusable: {error}", missing=url) from None
        return CacheEntry(
            url=url,
            body=body,
            headers=kept,
            fetched_at=self.clock(),
            not_before=not_before,
            not_after=not_after,
        )


def entry_from_body(url: str, body: bytes, headers: dict[str, str] | None = None) -> CacheEntry:
    """A cache entry for recorded collateral (validity read from the body)."""
    not_before, not_after = validity_window(url, body)
    return CacheEntry(
        url=url,
        body=body,
        headers={k.lower(): unquote(v) for k, v in (headers or {}).items()},
        fetched_at=not_before or datetime(1970, 1, 1, tzinfo=UTC),
        not_before=not_before,
        not_after=not_after,
    )


def gather_tdx_collateral(
    quote: TdxQuote,
    *,
    at: datetime,
    cache: CollateralCache | None = None,
    sources: Sequence[CollateralSource] = (),
    client: PcsClient | None = None,
    origin: str = "PCS",
) -> tuple[TdxCollateral, list[CacheEntry]]:
    """The collateral ``quote`` needs at ``at``: cache, then bundles, then PCS (``client=None``: offline)."""
    entries = [
        fetch_chain(
            url, sources=sources, fetch=client.fetch if client is not None else None, cache=cache, at=at
        )
        for url in quote_collateral_urls(quote)
    ]
    return TdxCollateral.from_entries(entries, origin=origin), entries
