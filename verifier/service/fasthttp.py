"""uvicorn's HTTP protocol (httptools), with the two guest endpoints answered in the protocol.

``POST /v1/challenge`` and ``POST /v1/attest`` are most of the service's requests, and their
handlers are synchronous functions of the body (``app.py``'s ``challenge_core`` and
``attest_core``, which the ``Guard`` also serves). This protocol runs them as soon as the body
is complete, without an ASGI task, scope or messages, and writes the answer (status line,
uvicorn's default headers, the JSON body) in one write. Every other request, and a guest
request this path does not take, goes to the ASGI app as before (``Guard``, FastAPI), which
answers it exactly as it always has.

What the ``Guard`` checks holds here too: the client's address (``X-Forwarded-For`` from a
trusted proxy, as uvicorn's proxy-headers middleware reads it) draws from the same token bucket;
a body must announce a ``content-length`` within ``max_body_bytes`` (otherwise, or with
``Expect: 100-continue``, over the concurrency limit, or with a request still being answered on
the connection, the request takes the ASGI path, which refuses or serves it); a body that does
not arrive within ``request_timeout_seconds`` is answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("ccverify.service")

#: what this protocol reads and calls of uvicorn's (not a public API): the attributes its
#: ``HttpToolsProtocol.__init__`` sets and the methods it has, as in uvicorn 0.30-0.55
_ATTRIBUTES = frozenset(
    [
        "access_log",
        "access_logger",
        "app",
        "client",
        "connections",
        "cycle",
        "expect_100_continue",
        "headers",
        "limit_concurrency",
        "loop",
        "parser",
        "pipeline",
        "server_state",
        "timeout_keep_alive",
        "timeout_keep_alive_task",
        "transport",
    ]
)
_METHODS = [
    "on_headers_complete",
    "on_body",
    "on_message_complete",
    "on_url",
    "data_received",
    "connection_lost",
    "_unset_keepalive_if_required",
    "timeout_keep_alive_handler",
]


def compatible(protocol: type = HttpToolsProtocol, status_lines: object = STATUS_LINE) -> bool:
    """Whether uvicorn's protocol still has what this one uses (another uvicorn may not: then
    every request takes the ASGI path, as with plain ``httptools``, and ``serve`` says so)."""
    init = getattr(protocol, "__init__", None)
    names = set(getattr(getattr(init, "__code__", None), "co_names", ()))
    return (
        names >= _ATTRIBUTES
        and all(callable(getattr(protocol, name, None)) for name in _METHODS)
        and isinstance(status_lines, dict)
        and all(isinstance(status_lines.get(code), bytes) for code in (200, 400, 408, 500))
    )


COMPATIBLE = compatible()

Handler = Callable[[bytes], tuple[int, dict[str, Any]]]
#: ``json.dumps`` (default separators), without the circular-reference check: an answer is a tree
_ENCODE = json.JSONEncoder(check_circular=False).encode
_JSON = b"content-type: application/json\r\ncontent-length: "


class _Route:
    """What the fast path needs from the app uvicorn serves: the Guard, its handlers by raw
    path, and the trusted proxies (None: the app is not wrapped as this path expects)."""

    def __init__(self, app: object) -> None:
        from ccverify.verifier.service.app import Guard

        self.guard: Guard | None = None
        self.trusted: Any = None
        self.proxied = False
        seen = 0
        while app is not None and seen < 8:
            seen += 1
            if isinstance(app, ProxyHeadersMiddleware):
                self.trusted, self.proxied = app.trusted_hosts, True
            elif isinstance(app, Guard):
                self.guard = app
                break
            else:
                break  # another middleware in between (uvicorn's trace logger): not this path
            app = app.app
        self.handlers: dict[bytes, Handler] = (
            {path.encode(): handler for path, handler in self.guard.fast_paths.items()}
            if self.guard is not None
            else {}
        )


_ROUTES: dict[int, tuple[object, _Route]] = {}


def _route(app: object) -> _Route:
    cached = _ROUTES.get(id(app))
    if cached is None or cached[0] is not app:
        cached = _ROUTES[id(app)] = (app, _Route(app))
    return cached[1]


class FastHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with the guest endpoints answered in the protocol (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._route = _route(self.app)
        self._fast: Handler | None = None
        self._fast_body: list[bytes] = []
        self._fast_timer: asyncio.TimerHandle | None = None

    # a request the fast path takes: decided when its headers are complete
    def on_headers_complete(self) -> None:
        handler = self._take()
        if handler is None:
            super().on_headers_complete()
            return
        self._fast = handler
        self._fast_body = []
        self._fast_keep_alive = self.parser.should_keep_alive() and self.parser.get_http_version() == "1.1"

    def _take(self) -> Handler | None:
        route = self._route
        guard = route.guard
        if not COMPATIBLE or guard is None or self.parser.get_method() != b"POST" or self.expect_100_continue:
            return None
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            return None  # an answer is still being written on this connection: in order, by ASGI
        if self.parser.should_upgrade() or self.parser.get_http_version() not in ("1.1", "1.0"):
            return None
        handler = route.handlers.get(httptools.parse_url(self.url).path)
        if handler is None:
            return None
        if self.limit_concurrency is not None and len(self.connections) >= self.limit_concurrency:
            return None  # the ASGI path answers 503
        length = -1
        forwarded: list[bytes] = []
        for name, value in self.headers:
            if name == b"content-length":
                if length != -1:
                    return None
                length = int(value) if value.isdigit() and len(value) < 16 else -1
                if length < 0:
                    return None
            elif name == b"transfer-encoding" or name == b"x-forwarded-proto":
                return None
            elif name == b"x-forwarded-for":
                forwarded.append(value)
        if length < 0 or length > guard.limits.max_body_bytes:
            return None  # the Guard answers 413 (or reads a body of unknown length, bounded)
        if guard.limits.rate_per_second > 0 and not guard.take(self._client_host(forwarded)):
            return None  # the Guard answers 429 (a refused take leaves the bucket as it was)
        return handler

    def _client_host(self, forwarded: list[bytes]) -> str:
        """The client's address as the Guard sees it behind uvicorn's proxy-headers middleware."""
        host = self.client[0] if self.client else None
        route = self._route
        if route.proxied and forwarded and host in route.trusted:
            found, _port = route.trusted.get_trusted_client_address(b", ".join(forwarded).decode("latin1"))
            if found:
                return str(found)
        return host if host else "-"

    def on_body(self, body: bytes) -> None:
        if self._fast is None:
            super().on_body(body)
            return
        self._fast_body.append(body)

    def on_message_complete(self) -> None:
        handler = self._fast
        if handler is None:
            super().on_message_complete()
            return
        self._fast = None
        if self._fast_timer is not None:
            self._fast_timer.cancel()
            self._fast_timer = None
        raw = b"".join(self._fast_body)
        self._fast_body = []
        try:
            status, document = handler(raw)
            body = _ENCODE(document).encode()
        except Exception:
            log.exception("fast path: exception in a handler")
            self._answer(500, b"Internal Server Error", b"text/plain; charset=utf-8", keep_alive=False)
            return
        self._answer(status, body, None, keep_alive=self._fast_keep_alive)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._fast is not None and self._fast_timer is None and not self.transport.is_closing():
            # a body still on its way: bounded as the Guard bounds it
            timeout = self._route.guard.limits.request_timeout_seconds if self._route.guard else 10.0
            self._fast_timer = self.loop.call_later(timeout, self._fast_timed_out, timeout)

    def _fast_timed_out(self, timeout: float) -> None:
        self._fast_timer = None
        if self._fast is None or self.transport.is_closing():
            return
        self._fast = None
        self._fast_body = []
        detail = json.dumps({"error": "timeout", "detail": f"the request took over {timeout} s"}).encode()
        self._answer(408, detail, None, keep_alive=False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._fast_timer is not None:
            self._fast_timer.cancel()
            self._fast_timer = None
        self._fast = None
        super().connection_lost(exc)

    def _answer(self, status: int, body: bytes, media: bytes | None, *, keep_alive: bool) -> None:
        """The whole answer in one write, then what uvicorn does when a response completes."""
        parts = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        if media is None:
            parts += [_JSON, b"%d\r\n" % len(body)]
        else:
            parts += [b"content-type: ", media, b"\r\ncontent-length: %d\r\n" % len(body)]
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts += [b"\r\n", body]
        if self.access_log:
            self.access_logger.info(
                '%s - "POST %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "-",
                self.url.decode("latin1"),
                self.parser.get_http_version(),
                status,
            )
        self.transport.write(b"".join(parts))
        self.server_state.total_requests += 1
        if not keep_alive:
            self.transport.close()
        elif not self.transport.is_closing():
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
