"""The relying-party service over HTTP (FastAPI on uvicorn): ``create_app(config)``.

Protocol (binary fields standard base64; every refusal is 4xx with ``{"error": code, "detail"}``,
never a 500 for anything a client sends):

- ``POST /v1/challenge`` ``{"tee"}`` -> ``{"nonce", "expires_at"}``
- ``POST /v1/attest`` ``{"nonce", "tee", "evidence", "event_log"?, "snp_certs"?, "hpke_public_key",
  "hpke_suite"?}`` -> ``{"affirming", "result" (EAR JWT), "sealed"}``
- admin (``Authorization: Bearer``): ``PUT /v1/admin/reference-values``,
  ``/v1/admin/device-policies/{name}``, ``/v1/admin/secrets/{name}``,
  ``/v1/admin/release-rules/{name}``; ``GET /v1/admin/audit``
- ``GET /healthz``, ``/metrics``, ``/.well-known/jwks.json``, ``/openapi.json``

Handlers parse bodies themselves (the OpenAPI document still describes them): every field gets a
size limit and a precise reason. Verification runs inline in the event loop (a TDX verification
is well under a millisecond); the ``Guard`` middleware bounds body size, request time and each
client's request rate before a handler runs. ``ccverify serve`` answers the two guest endpoints
in its HTTP protocol (``fasthttp.py``) with the same handlers and the same bounds.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ccverify.verifier.errors import CCVerifyError, CollateralError, InputError, ParseError, VerificationError
from ccverify.verifier.jsonable import JSON_ERRORS, iso8601
from ccverify.verifier.release.sealing import SUITES
from ccverify.verifier.service import metrics
from ccverify.verifier.service.attestation import TEES, AttestRequest, Clock, RelyingParty, utcnow
from ccverify.verifier.service.config import Limits, ServiceConfig

log = logging.getLogger("ccverify.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: codes refused with something other than 403
_STATUS = {
    "refvalues_rollback": 409,
    "unknown_reference_values": 409,
    "unknown_device_policy": 409,
    "unknown_secret": 409,
    "release_incomplete": 409,
    "no_trust_anchors": 409,
    "unauthorized": 401,
    "too_many_challenges": 503,
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class _Refusal(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _refusal(error: Exception) -> tuple[int, dict[str, str]]:
    """The status and body of a refusal (a ``_Refusal`` or one of the library's errors)."""
    if isinstance(error, _Refusal):
        return error.status, {"error": error.code, "detail": error.detail}
    if isinstance(error, ParseError):
        return 400, {"error": "evidence_malformed", "detail": str(error)}
    if isinstance(error, InputError):
        return 400, {"error": "bad_request", "detail": str(error)}
    if isinstance(error, VerificationError):
        return _STATUS.get(error.code, 403), {"error": error.code, "detail": str(error)}
    if isinstance(error, CollateralError):
        return 503, {"error": "collateral_unavailable", "detail": str(error)}
    if isinstance(error, CCVerifyError):
        return 400, {"error": "bad_request", "detail": str(error)}
    raise error


def _from_exception(error: Exception) -> JSONResponse:
    status, body = _refusal(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


# ---------------------------------------------------------------------------------- parsing


def _document(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except JSON_ERRORS:
        raise InputError("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise InputError("the body must be a JSON object")
    return document


def _fields(document: dict[str, Any], required: set[str], optional: set[str]) -> None:
    missing = sorted(required - set(document))
    if missing:
        raise InputError(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(set(document) - required - optional)
    if unknown:
        raise InputError(f"unknown field(s): {', '.join(unknown)}")


def _b64(document: dict[str, Any], name: str, limit: int) -> bytes | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name}: must be a base64 string")
    if len(value) > (limit + 2) // 3 * 4:
        raise InputError(f"{name}: more than {limit} bytes (limit)")
    try:  # strict: only the standard alphabet, correct padding (b64decode's validate is a slow regex)
        decoded = binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InputError(f"{name}: not standard base64") from None
    if not decoded:
        raise InputError(f"{name}: empty")
    return decoded


def _tee(document: dict[str, Any]) -> str:
    tee = document.get("tee")
    if not isinstance(tee, str) or tee not in TEES:
        raise InputError(f"tee: expected one of {', '.join(TEES)}")
    return tee


def _name(value: str, limits: Limits) -> str:
    if len(value) > limits.name_chars or not _NAME.match(value):
        raise InputError(
            f"name: 1-{limits.name_chars} characters of A-Z a-z 0-9 . _ -, not starting with . _ -"
        )
    return value


def parse_attest(raw: bytes, limits: Limits) -> AttestRequest:
    document = _document(raw)
    _fields(
        document, {"nonce", "tee", "evidence", "hpke_public_key"}, {"event_log", "snp_certs", "hpke_suite"}
    )
    suite = document.get("hpke_suite")
    if suite is not None and (not isinstance(suite, str) or suite not in SUITES):
        raise InputError(f"hpke_suite: expected one of {', '.join(SUITES)}")
    tee = _tee(document)
    nonce = _b64(document, "nonce", 32)
    evidence = _b64(document, "evidence", limits.evidence_bytes)
    key = _b64(document, "hpke_public_key", limits.hpke_public_key_bytes)
    assert nonce is not None and evidence is not None and key is not None
    return AttestRequest(
        nonce=nonce,
        tee=tee,
        evidence=evidence,
        hpke_public_key=key,
        hpke_suite=suite,
        event_log=_b64(document, "event_log", limits.event_log_bytes),
        snp_certs=_b64(document, "snp_certs", limits.snp_certs_bytes),
    )


# ---------------------------------------------------------------------------------- guard


class Guard:
    """Pure ASGI middleware: body-size limit (413), per-client token bucket (429), and a bound on
    each request's handling time (408; it fires at the request's awaits, e.g. a slow body)."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        fast_paths: Mapping[str, Callable[[bytes], tuple[int, dict[str, Any]]]] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}
        #: POST path -> handler of the raw body, answered here without the router (the same
        #: handlers the FastAPI routes call: one implementation, two ways in)
        self.fast_paths = dict(fast_paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        if limits.rate_per_second > 0 and not self._take(scope):
            await _send_json(
                send,
                429,
                "rate_limited",
                "too many requests from this client; slow down",
                {"retry-after": "1"},
            )
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length < 0 or length > limits.max_body_bytes:
                    await _send_json(
                        send, 413, "body_too_large", f"the body limit is {limits.max_body_bytes} bytes"
                    )
                    return
        started = False
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limits.max_body_bytes:
                    raise _Refusal(413, "body_too_large", f"the body limit is {limits.max_body_bytes} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        fast = self.fast_paths.get(scope["path"]) if scope["method"] == "POST" else None
        try:
            async with asyncio.timeout(limits.request_timeout_seconds):
                if fast is None:
                    await self.app(scope, bounded_receive, tracking_send)
                else:
                    raw = await _read_body(bounded_receive)
                    status, body = fast(raw)
                    started = True
                    await _send_body(send, status, json.dumps(body).encode())
        except _Refusal as refusal:
            if not started:
                await _send_json(send, refusal.status, refusal.code, refusal.detail)
        except TimeoutError:
            if not started:
                await _send_json(
                    send, 408, "timeout", f"the request took over {limits.request_timeout_seconds} s"
                )

    def _take(self, scope: Scope) -> bool:
        client = scope.get("client")
        return self.take(client[0] if client else "-")

    def take(self, who: str) -> bool:
        """A token from ``who``'s bucket (False: none left, and nothing taken)."""
        now = self.clock()
        rate, burst = self.limits.rate_per_second, float(self.limits.rate_burst)
        tokens, last = self.buckets.get(who, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens < 1:
            self.buckets[who] = (tokens, now)
            return False
        if len(self.buckets) > 100_000:
            self.buckets.clear()
        self.buckets[who] = (tokens - 1, now)
        return True


async def _send_json(
    send: Send, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> None:
    await _send_body(send, status, json.dumps({"error": code, "detail": detail}).encode(), headers)


async def _send_body(send: Send, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refusal(400, "bad_request", "the client went away before sending the whole body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


# ---------------------------------------------------------------------------------- OpenAPI

_B64 = {"type": "string", "contentEncoding": "base64"}
_ERROR = {
    "description": "Refused, with a reason",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error", "detail"],
                "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
            }
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    str(code): _ERROR for code in (400, 401, 403, 404, 408, 409, 413, 429, 503)
}


_METRICS: dict[int | str, dict[str, Any]] = {
    "200": {
        "description": "Prometheus text format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _binary_body(media: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


def _ok(schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}, **_ERRORS}


_CHALLENGE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tee"],
    "properties": {"tee": {"enum": list(TEES)}},
}
_ATTEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["nonce", "tee", "evidence", "hpke_public_key"],
    "properties": {
        "nonce": _B64,
        "tee": {"enum": list(TEES)},
        "evidence": _B64,
        "event_log": _B64,
        "snp_certs": _B64,
        "hpke_public_key": _B64,
        "hpke_suite": {"enum": list(SUITES)},
    },
}
_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reference_values", "secrets"],
    "properties": {
        "reference_values": {"type": "string", "minLength": 1},
        "device_policy": {"type": ["string", "null"]},
        "secrets": {"type": "array", "items": {"type": "string"}},
    },
}
_ANY_OBJECT = {"type": "object"}
_CHALLENGE_OK = {
    "type": "object",
    "required": ["nonce", "expires_at"],
    "properties": {"nonce": _B64, "expires_at": {"type": "string", "format": "date-time"}},
}
_ATTEST_OK = {
    "type": "object",
    "required": ["affirming", "result", "sealed"],
    "properties": {
        "affirming": {"type": "boolean"},
        "result": {"type": "string", "description": "EAR JWT (compact JWS, ES256 or ES384)"},
        "sealed": {"anyOf": [_B64, {"type": "null"}]},
    },
}
_JWKS = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty", "kid"]}}},
}
_AUDIT = {
    "type": "object",
    "required": ["entries"],
    "properties": {"entries": {"type": "array", "items": {"type": "object"}}},
}


# ---------------------------------------------------------------------------------- the app


def create_app(config: ServiceConfig, *, clock: Clock = utcnow, party: RelyingParty | None = None) -> FastAPI:
    """The service for ``config``; ``clock`` gives the time nonces expire by (tests pass a fixed one)."""
    rp = party or RelyingParty(config, clock=clock)
    limits = config.limits

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        rp.audit.flush()  # what is pending is written before the process ends

    app = FastAPI(
        lifespan=lifespan,
        title="ccverify relying party",
        version="1",
        description="Challenge, attest, attestation result (EAR JWT), HPKE-sealed release.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.party = rp

    def authenticated(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        presented = hashlib.sha256(token.strip().encode()).digest()
        return scheme.lower() == "bearer" and hmac.compare_digest(presented, config.admin_token_sha256)

    def actor(request: Request) -> str:
        if not authenticated(request):
            if not request.headers.get("authorization"):
                raise _Refusal(401, "unauthorized", "the admin API needs Authorization: Bearer <token>")
            raise _Refusal(401, "unauthorized", "the admin token is not valid")
        if config.tls_client_ca is not None and client_cert(request.scope) is None:
            raise _Refusal(401, "unauthorized", "the admin API needs a client certificate ([tls] client_ca)")
        return "admin"

    def who(request: Request) -> str:
        """The audit log's actor of an admin request, refused ones included."""
        return "admin" if authenticated(request) else "unauthenticated"

    def audit(who: str, action: str, subject: str | None, outcome: str, detail: dict[str, Any]) -> None:
        try:
            rp.store.audit(time.time(), who, action, subject, outcome, detail)
        except Exception:  # the answer stands; the failure is logged
            log.exception("audit write failed for %s %s", action, subject)

    async def run(handler: Callable[[], Any], action: str, subject: str | None, request: Request) -> Response:
        try:
            return JSONResponse(handler())
        except (_Refusal, CCVerifyError) as error:
            response = _from_exception(error)
            code = error.code if isinstance(error, (_Refusal, VerificationError)) else "bad_request"
            audit(who(request), action, subject, code, {"status": response.status_code})
            log.info("%s %s refused: %s", action, subject or "", code)
            return response

    @app.get("/healthz", responses=_ok({"type": "object"}))
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/.well-known/jwks.json", responses=_ok(_JWKS))
    async def jwks() -> Response:
        return JSONResponse(rp.jwks(), headers={"cache-control": "max-age=300"})

    @app.get("/metrics", responses=_METRICS, response_class=PlainTextResponse)
    async def prometheus() -> Response:
        body, media = metrics.exposition(rp.store.outstanding_nonces)
        return Response(body, media_type=media)

    def challenge_core(raw: bytes) -> tuple[int, dict[str, Any]]:
        try:
            document = _document(raw)
            _fields(document, {"tee"}, set())
            issued = rp.challenge(_tee(document))
        except (_Refusal, CCVerifyError) as error:
            return _refusal(error)
        return 200, {
            "nonce": base64.b64encode(issued.nonce).decode(),
            "expires_at": iso8601(issued.expires_at),
        }

    def attest_core(raw: bytes) -> tuple[int, dict[str, Any]]:
        started = time.perf_counter()
        tee = "-"
        try:
            parsed = parse_attest(raw, limits)
            tee = parsed.tee
            answer = rp.attest(parsed)
        except (_Refusal, CCVerifyError) as error:
            status, body = _refusal(error)
            metrics.VERIFICATIONS.labels("refused", tee).inc()
            metrics.LATENCY.observe(time.perf_counter() - started)
            rp.audit.add("guest", "attest", tee, str(body["error"]), {"status": status})
            return status, body
        outcome = "affirming" if answer.affirming else "not_affirming"
        metrics.VERIFICATIONS.labels(outcome, parsed.tee).inc()
        rp.audit.add(
            "guest", "attest", parsed.tee, outcome,
            {"rule": answer.rule, "evidence_sha256": answer.result.evidence_sha256,
             "status": answer.result.status.name.lower()},
        )  # fmt: skip
        metrics.LATENCY.observe(time.perf_counter() - started)
        return 200, {
            "affirming": answer.affirming,
            "result": answer.token,
            "sealed": None if answer.sealed is None else base64.b64encode(answer.sealed).decode(),
        }

    #: the two guest endpoints, which the Guard also serves without FastAPI's routing
    app.state.fast_paths = {"/v1/challenge": challenge_core, "/v1/attest": attest_core}

    @app.post("/v1/challenge", openapi_extra=_json_body(_CHALLENGE), responses=_ok(_CHALLENGE_OK))
    async def challenge(request: Request) -> Response:
        status, body = challenge_core(await request.body())
        return JSONResponse(body, status_code=status)

    @app.post("/v1/attest", openapi_extra=_json_body(_ATTEST), responses=_ok(_ATTEST_OK))
    async def attest(request: Request) -> Response:
        status, body = attest_core(await request.body())
        return JSONResponse(body, status_code=status)

    @app.put(
        "/v1/admin/reference-values",
        openapi_extra=_binary_body("application/octet-stream"),
        responses=_ok(_ANY_OBJECT),
    )
    async def put_reference_values(request: Request) -> Response:
        raw = await request.body()

        def handle() -> dict[str, Any]:
            who = actor(request)
            if not raw or len(raw) > limits.reference_values_bytes:
                raise InputError(
                    f"reference values: 1 to {limits.reference_values_bytes} bytes of signed CoRIM"
                )
            stored = rp.upload_reference_values(raw)
            audit(
                who,
                "put_reference_values",
                stored["id"],
                "stored",
                {"sequence": stored["sequence"], "changed": stored["changed"]},
            )
            return stored

        return await run(handle, "put_reference_values", None, request)

    @app.put(
        "/v1/admin/device-policies/{name}",
        openapi_extra=_binary_body("application/octet-stream"),
        responses=_ok(_ANY_OBJECT),
    )
    async def put_device_policy(name: str, request: Request) -> Response:
        raw = await request.body()

        def handle() -> dict[str, Any]:
            who = actor(request)
            _name(name, limits)
            if not raw or len(raw) > limits.device_policy_bytes:
                raise InputError(f"device policy: 1 to {limits.device_policy_bytes} bytes of COSE_Sign1")
            stored = rp.upload_device_policy(name, raw)
            audit(who, "put_device_policy", name, "stored", {"sha256": stored["sha256"]})
            return stored

        return await run(handle, "put_device_policy", name, request)

    @app.put(
        "/v1/admin/secrets/{name}",
        openapi_extra=_binary_body("application/octet-stream"),
        responses=_ok(_ANY_OBJECT),
    )
    async def put_secret(name: str, request: Request) -> Response:
        raw = await request.body()

        def handle() -> dict[str, Any]:
            who = actor(request)
            _name(name, limits)
            if not raw or len(raw) > limits.secret_bytes:
                raise InputError(f"secret: 1 to {limits.secret_bytes} bytes")
            stored = rp.upload_secret(name, raw)
            audit(who, "put_secret", name, "stored", {"size": len(raw)})
            return stored

        return await run(handle, "put_secret", name, request)

    @app.put(
        "/v1/admin/release-rules/{name}",
        openapi_extra=_json_body(_RULE),
        responses=_ok(_ANY_OBJECT),
    )
    async def put_rule(name: str, request: Request) -> Response:
        raw = await request.body()

        def handle() -> dict[str, Any]:
            who = actor(request)
            _name(name, limits)
            document = _document(raw)
            _fields(document, {"reference_values", "secrets"}, {"device_policy"})
            rv_id, policy, names = (
                document["reference_values"],
                document.get("device_policy"),
                document["secrets"],
            )
            if not isinstance(rv_id, str) or not rv_id or len(rv_id) > 512:
                raise InputError("reference_values: the id (1-512 characters) of stored reference values")
            if policy is not None and not isinstance(policy, str):
                raise InputError("device_policy: a stored device policy's name, or null")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise InputError("secrets: a list of stored secrets' names")
            if len(names) > limits.rule_secrets:
                raise InputError(f"secrets: at most {limits.rule_secrets} per rule")
            stored = rp.upload_rule(name, rv_id, policy, names)
            audit(who, "put_release_rule", name, "stored", stored)
            return stored

        return await run(handle, "put_release_rule", name, request)

    @app.get(
        "/v1/admin/audit",
        openapi_extra={
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1},
                },
            ]
        },
        responses=_ok(_AUDIT),
    )
    async def get_audit(request: Request) -> Response:
        def handle() -> dict[str, Any]:
            actor(request)
            rp.audit.flush()
            after = _query_int(request, "after", 0)
            limit = min(_query_int(request, "limit", limits.audit_page), limits.audit_page)
            return {"entries": rp.store.audit_entries(after, max(limit, 1))}

        return await run(handle, "audit", None, request)

    return app


def client_cert(scope: Any) -> bytes | None:
    """A request's client certificate (DER) as ``tls.ClientCertHttpProtocol`` records it, or None."""
    tls = scope.get("extensions", {}).get("tls", {})
    cert = tls.get("client_cert")
    return cert if isinstance(cert, bytes) and cert else None


def _query_int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise InputError(f"{name}: a non-negative integer")
    return int(value)


def guarded_app(config: ServiceConfig, *, clock: Clock = utcnow) -> ASGIApp:
    """The app behind the ``Guard`` (what uvicorn serves). What is built up to here lives as long
    as the process, so the garbage collector is told to leave it out of its scans (``gc.freeze``)."""
    import gc

    app = create_app(config, clock=clock)
    guarded = Guard(app, config.limits, fast_paths=app.state.fast_paths)
    gc.collect()
    gc.freeze()
    return guarded


def from_environment() -> ASGIApp:
    """uvicorn's factory for worker processes: the configuration file named by
    ``_CCVERIFY_SERVE_CONFIG`` (set by ``ccverify serve``; internal)."""
    import os
    from pathlib import Path

    from ccverify.verifier.service.config import load_config, parse_database

    config = load_config(Path(os.environ["_CCVERIFY_SERVE_CONFIG"]))
    overrides = json.loads(os.environ.get("_CCVERIFY_SERVE_OVERRIDES") or "{}")
    if "database" in overrides:
        overrides["database"] = parse_database(overrides["database"], Path.cwd())
    return guarded_app(config.with_(**overrides))
