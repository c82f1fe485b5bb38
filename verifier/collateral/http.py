"""One bounded GET for every collateral service (Intel PCS, AMD KDS): timeout, retry, messages.

It runs at boot in the initramfs, so every wait is bounded: a per-request ``timeout``
(default ``DEFAULT_TIMEOUT`` seconds, ``CCVERIFY_NET_TIMEOUT`` in the CLI), at most
``max_attempts`` requests, each retry of HTTP 429/503 honouring ``Retry-After`` (seconds or an
HTTP date) up to ``max_delay``, and at most ``max_total_wait`` seconds asleep in all. Every
message names the URL actually contacted and says what happened in words (no urllib3 pool
reprs); each retry is announced through ``on_retry`` (the CLI prints it on stderr).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from ccverify.verifier.errors import CollateralError, InputError

#: seconds a collateral service may take to answer one request (connect and each read)
DEFAULT_TIMEOUT = 5.0
#: the environment variable read for it when no timeout is given
TIMEOUT_ENV = "CCVERIFY_NET_TIMEOUT"
#: HTTP statuses worth retrying: rate limited, temporarily unavailable
RETRY_STATUSES = frozenset({429, 503})


def timeout_from(value: float | str | None) -> float:
    """``value`` (an option), else ``$CCVERIFY_NET_TIMEOUT``, else the default, checked."""
    origin = "timeout"
    if value is None:
        value = os.environ.get(TIMEOUT_ENV)
        origin = TIMEOUT_ENV
        if value is None or value == "":
            return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise InputError(f"{origin} {value!r}: not a number of seconds") from None
    if not 0 < seconds <= 600:  # NaN fails this too
        raise InputError(f"{origin} {value!r}: expected seconds in (0, 600]")
    return seconds


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header as seconds from ``now`` (delta-seconds or HTTP-date), or None.

    delta-seconds is ASCII digits only (RFC 9110 ``1*DIGIT``): ``str.isdigit`` would also take
    '²' or other Unicode digits, which ``float()`` refuses. Anything that is neither a
    non-negative ASCII integer nor an HTTP-date is None (the client backs off on its own); this
    never raises.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def describe_failure(error: requests.RequestException, timeout: float) -> str:
    """What went wrong with a request, in words a person at a boot console can act on."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS failed (certificate not trusted, or not a TLS server)"
    if isinstance(error, requests.exceptions.ProxyError):
        return "the proxy refused or failed the request"
    if isinstance(error, requests.ConnectionError):
        return "could not connect (refused, unreachable, or the name does not resolve)"
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "the URL is not valid"
    if isinstance(error, requests.exceptions.TooManyRedirects):
        return "too many redirects"
    return "the request failed"


@dataclass
class RetryPolicy:
    """How long one collateral request may take in all, and who hears about retries."""

    timeout: float = DEFAULT_TIMEOUT
    max_attempts: int = 4
    initial_delay: float = 2.0
    max_delay: float = 30.0
    max_total_wait: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_retry: Callable[[str], None] | None = None


def bounded_get(
    session: requests.Session,
    url: str,
    *,
    service: str,
    policy: RetryPolicy,
    missing: str,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """GET ``url`` until a non-retryable answer; the 200 response, or ``CollateralError``.

    ``service`` names the server in messages ("Intel PCS"); ``missing`` is the canonical
    resource the verifier needed (the error's ``missing``).
    """
    waited = 0.0
    last = ""
    attempts = max(1, policy.max_attempts)
    for attempt in range(1, attempts + 1):
        try:
            if headers:
                response = session.get(url, timeout=policy.timeout, headers=headers)
            else:
                response = session.get(url, timeout=policy.timeout)
        except requests.RequestException as error:
            raise CollateralError(
                f"{service} at {url}: {describe_failure(error, policy.timeout)}; the verifier needed",
                missing=missing,
            ) from None
        if response.status_code == 200:
            return response
        last = f"HTTP {response.status_code}"
        if response.status_code not in RETRY_STATUSES:
            raise CollateralError(
                f"{service} answered {last} ({response.reason or 'error'}) at {url}; the verifier needed",
                missing=missing,
            )
        if attempt == attempts:
            break
        delay = retry_after_seconds(response.headers.get("Retry-After"), policy.now())
        if delay is None:
            delay = min(policy.max_delay, policy.initial_delay * 2 ** (attempt - 1))
        if delay > policy.max_delay or waited + delay > policy.max_total_wait:
            allowed = min(policy.max_delay, policy.max_total_wait - waited)
            raise CollateralError(
                f"{service} is rate limiting at {url} ({last}, Retry-After {delay:.0f} s exceeds the "
                f"{allowed:.0f} s allowed); retry later, or use a cache or bundle, for",
                missing=missing,
            )
        if policy.on_retry is not None:
            policy.on_retry(
                f"{service} answered {last} at {url}; retrying in {delay:.0f} s "
                f"(attempt {attempt + 1} of {attempts})"
            )
        policy.sleep(delay)
        waited += delay
    raise CollateralError(
        f"{service} still answered {last} at {url} after {attempts} attempts; retry later, "
        "or use a cache or bundle, for",
        missing=missing,
    )
