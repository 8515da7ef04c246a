"""The ASGI app of `chatroute serve` (Starlette): POST /v1/chat/completions, POST /v1/responses
(OpenAI's Responses API), POST /v1/messages (Anthropic's Messages API, and its /count_tokens) and
GET /v1/models.

Every request needs the bearer token, as `Authorization: Bearer` or Anthropic's `x-api-key` (a
tiny ASGI middleware checks it before routing, so even a wrong path says 401 to a stranger).
Every error is a JSON body in the endpoint's own shape (Anthropic's on /v1/messages, OpenAI's
elsewhere); an unexpected
exception is logged on the server's stderr as one line and answered with a 500 body that names
no internals. Provider keys stay in the engine: nothing a client sends reaches them and no
response carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from chatroute.errors import ChatrouteError, ConfigError
from chatroute.format import reroute_line
from chatroute.safetext import strip_terminal_controls
from chatroute.serve import messages_wire, responses_wire
from chatroute.serve.limits import DEFAULT_BODY_TIMEOUT_S
from chatroute.serve.listing import ModelListing
from chatroute.serve.messages_wire import COUNT_PATH, MESSAGES_PATH, MODELS_PATH, anthropic_wire
from chatroute.serve.relay import FrameRelay, take_what_arrived, tallied
from chatroute.serve.turns import OnRecord, decision_of, request_cost, serve_turn, usage_of
from chatroute.serve.wire import (
    MAX_BODY_BYTES,
    MAX_MODEL_CHARS,
    ROUTED_MODELS,
    ROUTED_PREFIX,
    ApiError,
    ChunkWriter,
    ServedRequest,
    build_request,
    clean_text,
    finish_reason,
    header_value,
    parse_body,
    parse_request,
)
from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, TurnFinished

if TYPE_CHECKING:
    from chatroute.engine import Engine
    from chatroute.serve.tokens import TokenSource
    from chatroute.store.records import TurnRecord

log = logging.getLogger("chatroute.serve")

# A served success is written to health.json at most this often (a failure at once): with many
# requests finishing together, rewriting the file for each was a good part of their CPU.
HEALTH_SAVE_EVERY_S = 1.0

# Upstream failures by kind: the status a client's retry logic understands.
_UPSTREAM_STATUS = {"rate_limited": 429, "quota": 429, "credit_limited": 402, "overloaded": 503, "timeout": 504,
                    "context_overflow": 400, "request_too_large": 413, "content_policy": 400,
                    "bad_request": 400}
# A spent quota, and a prompt longer than the model takes, in the codes OpenAI itself gives them
# (the second is also what serve's own check before sending says): clients look for them.
_UPSTREAM_CODE = {"quota": "insufficient_quota", "context_overflow": "context_length_exceeded"}
# Failures no wait lifts (a spent quota, a provider refusing chatroute's key, a missing model),
# after the request has failed over already: the SDKs retry a 429 and a 5xx unless told not to,
# and each retry would be sent to the provider again and written to the ledger as a failure.
_NO_RETRY = frozenset({"quota", "auth", "not_found", "endpoint_not_found"})


def error_response(err: ApiError, headers: dict[str, str] | None = None, *, scope: Scope) -> JSONResponse:
    """The error in the wire format of the client asking (see anthropic_wire)."""
    body = messages_wire.error_body(err) if anthropic_wire(scope) else err.body()
    return JSONResponse(body, status_code=err.status, headers={**err.headers, **(headers or {})} or None)


class BearerAuth:
    """Rejects any request without a valid token; puts the client's name in scope['state']."""

    def __init__(self, app: ASGIApp, tokens: TokenSource) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = time.perf_counter()
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, presented = auth.partition(" ")
        if not auth:  # Anthropic's API takes its key as x-api-key (its SDK 2.x sends a bearer token)
            presented = headers.get(b"x-api-key", b"").decode("latin-1")
            scheme = "bearer" if presented else ""
        ok, name = (False, None)
        tokens = self.tokens.current()
        if scheme.lower() == "bearer" and presented.strip() and tokens is not None:
            ok, name = tokens.client_for(presented.strip())
        if not ok:
            why = "missing bearer token" if not (auth or presented) else "invalid bearer token"
            err = ApiError(401, f"{why}: pass the token `chatroute serve` printed as the API key",
                           type_="authentication_error", code="invalid_api_key")
            # Closed after the answer: a stranger gets no kept-alive connection, nor one that goes on
            # reading (and dropping) a body it chose to send after its headers.
            await error_response(err, {"www-authenticate": "Bearer", "connection": "close"},
                                 scope=scope)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["client"] = name or client_from_agent(headers.get(b"user-agent"))
        state["received"] = received
        await self.app(scope, receive, send)


_VERSIONED = re.compile(r"^(.+?)/v?\d")


def client_from_agent(agent: bytes | None) -> str:
    """A client's name from its User-Agent: the first product without its version
    ('OpenAI/Python 1.54.0' -> 'OpenAI/Python', 'curl/8.5.0' -> 'curl')."""
    text = (agent or b"").decode("latin-1").strip()
    if not text:
        return "unknown"
    first = text.split()[0]
    m = _VERSIONED.match(first)
    name = m.group(1) if m else first
    return "".join(ch for ch in name if ch.isprintable())[:64] or "unknown"


def create_app(engine: Engine, tokens: TokenSource, *, on_served: OnRecord | None = None,
               on_active: Callable[[int], None] | None = None, on_ready: Any = None,
               body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> ASGIApp:
    """`on_served(record, final)`: each record written for a request (see turns.OnRecord; the
    live-state file); `on_active(+1 / -1)`: a chat request begins / has ended, its stream
    included, however it ended; `on_ready()`: once the router, SDKs and embedder are loaded;
    `body_timeout_s`: how long a request's body may take to arrive (a 408 after)."""

    listing = ModelListing(engine)

    async def models(request: Request) -> Response:
        data = await listing.data()
        if anthropic_wire(request.scope):  # Anthropic's SDK pages through ModelInfo objects
            infos = [messages_wire.model_info(m) for m in data]
            return JSONResponse({"data": infos, "has_more": False, "first_id": infos[0]["id"] if infos else None,
                                 "last_id": infos[-1]["id"] if infos else None})
        return JSONResponse({"object": "list", "data": data})

    async def model(request: Request) -> Response:
        # The SDKs' models.retrieve. An id holds a slash, which they send as %2F: uvicorn decodes
        # it before routing, hence the {model_id:path} route.
        model_id = request.path_params["model_id"]
        data = await listing.data()
        found = next((m for m in data if m["id"] == model_id), None)
        if found is None and len(model_id) <= MAX_MODEL_CHARS:
            # A name POST takes for a listed model (a bare `claude-haiku-4-5`) is that model here too.
            try:
                resolved = engine.catalog.resolve(model_id)
            except ConfigError:
                resolved = None
            found = next((m for m in data if m["id"] == resolved), None)
        if found is None:
            raise ApiError(404, f"unknown model {model_id!r}: GET /v1/models lists those served",
                           type_="not_found_error", code="model_not_found", param="model")
        return JSONResponse(messages_wire.model_info(found) if anthropic_wire(request.scope) else found)

    def answering(serve: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            path = request.url.path
            try:
                return await serve(request)
            except ApiError as err:
                # After a 413 the rest of the body is still coming, maybe without end (chunked), and
                # after a 408 it is still trickling in: closing the connection stops it, where keeping
                # it alive would read and drop all of it.
                return error_response(err, {"connection": "close"} if err.status in (408, 413) else None,
                                      scope=request.scope)
            except Exception as exc:  # noqa: BLE001 - one line in the log, a plain 500 to the client
                # The path is the client's (a model id in /v1/models/{id}, percent-decoded), and so
                # may be the error's words: one line, cleaned for the terminal serve runs in.
                said = strip_terminal_controls(f"{request.method} {path} failed: {type(exc).__name__}: {exc}")
                log.error("chatroute serve: %s", " ".join(said.split()))
                return error_response(ApiError(500, "internal error in chatroute serve (see its log)",
                                               type_="server_error"), scope=request.scope)
        return endpoint

    def events_of(request: Request, req: ServedRequest) -> tuple[AsyncGenerator[Any, None], float]:
        state = request.scope.get("state", {})
        events = serve_turn(engine, req, state.get("client", "unknown"), on_served)
        return events, state.get("received", time.perf_counter())

    async def answer(request: Request, req: ServedRequest, stream: _Stream, whole: _Whole) -> Response:
        """One request answered on its wire: streamed in `stream`'s frames, or whole by `whole`."""
        events, received = events_of(request, req)
        if req.stream:
            return await _stream_response(request.receive, stream, events, received, req)
        tally = [0]
        return await _while_connected(request, whole(tallied(events, tally), received, req), tally)

    async def chat_completions(request: Request) -> Response:
        body, model = parse_request(parse_body(await _read_body(request, body_timeout_s)))
        req = build_request(body, model, pinned=_pinned(engine, model))
        return await answer(request, req, _ChatStream(req.include_usage), _complete_response)

    async def messages(request: Request) -> Response:
        body = parse_body(await _read_body(request, body_timeout_s))
        model = messages_wire.parse_messages_request(body)
        req = messages_wire.build_messages_request(body, model, pinned=_pinned(engine, model))
        return await answer(request, req, _MessageStream(req), _complete_message)

    async def responses(request: Request) -> Response:
        body = parse_body(await _read_body(request, body_timeout_s))
        model = responses_wire.parse_responses_request(body)
        req = responses_wire.build_responses_request(body, model, pinned=_pinned(engine, model))
        return await answer(request, req, _ResponseStream(req), _complete_responses)

    async def count_tokens(request: Request) -> Response:
        # Anthropic's messages.count_tokens: the prompt as message_start counts it, nothing sent.
        body = parse_body(await _read_body(request, body_timeout_s))
        model = messages_wire.parse_count_request(body)
        req = messages_wire.build_count_request(body, model, pinned=_pinned(engine, model))
        # A routed name may go to any model of the pool: the most any of them counts.
        models = [req.pinned] if req.pinned else [m.id for m in engine.catalog.pool()] or [model]
        counts = await asyncio.to_thread(lambda: [_count_input(req, m) for m in models])
        return JSONResponse({"input_tokens": max(counts)})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        detail = exc.detail
        if exc.status_code == 404:
            detail = _not_served(request.url.path) or detail
        # A 405's Allow header (the methods the path takes), which HTTP requires, is kept.
        return error_response(ApiError(exc.status_code, f"{request.method} {request.url.path}: {detail}",
                                       type_=kind), dict(exc.headers or {}), scope=request.scope)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine.warm()
        engine.health.save_every_s = HEALTH_SAVE_EVERY_S
        if engine.cache_enabled:
            from chatroute.embed import get_embedder

            get_embedder()  # loaded now, not in the first request's time to first token
        settle_heap()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            try:
                engine.health.flush()
            except OSError:
                pass
            await engine.aclose()

    def counted(endpoint: Callable[[Request], Awaitable[Response]]) -> Any:
        # Starlette wraps a plain function itself; an ASGI object (_Active) it calls as it is.
        return endpoint if on_active is None else _Active(request_response(endpoint), on_active)

    app = Starlette(
        routes=[Route("/v1/chat/completions", counted(answering(chat_completions)), methods=["POST"]),
                Route(responses_wire.RESPONSES_PATH, counted(answering(responses)), methods=["POST"]),
                Route(MESSAGES_PATH, counted(answering(messages)), methods=["POST"]),
                Route(COUNT_PATH, answering(count_tokens), methods=["POST"]),
                Route(MODELS_PATH, models, methods=["GET"]),
                Route(MODELS_PATH + "/{model_id:path}", answering(model), methods=["GET"])],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    return BearerAuth(TrailingSlash(app), tokens)


class TrailingSlash:
    """Routes a path with a trailing slash (/v1/chat/completions/) as the path without it.
    Starlette answered it with a redirect, which many clients do not follow for a POST; and
    /v1/models/ reached the model route, as a model named ''."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)


class _Active:
    """Tells `on_active` a request began and, once its response is over (a stream's last frame
    sent, or the client gone, or the server stopping), that it ended: the one place both ends
    are sure to pass, whatever happened in between."""

    def __init__(self, app: ASGIApp, on_active: Callable[[int], None]) -> None:
        self.app = app
        self.on_active = on_active

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.on_active(1)
        try:
            await self.app(scope, receive, send)
        finally:
            self.on_active(-1)


def settle_heap() -> None:
    """Move everything start-up made (SDKs, router weights, embedder: ~240,000 objects) out of
    the garbage collector's reach. A full collection walks every tracked object: with them it
    took 125-205 ms here, and when one fell inside a burst of requests every one of them waited
    for it (the p99). The start-up objects live as long as the server; what requests make is
    still collected, in a fraction of a millisecond."""
    gc.collect()
    gc.freeze()


async def _read_body(request: Request, timeout_s: float) -> bytes:
    """The request body, refused with a 413 as soon as it passes MAX_BODY_BYTES. A chunked body
    has no Content-Length to check first: counting as it arrives is what keeps it from being
    buffered whole, however much is sent."""
    too_large = ApiError(413, f"the request body is larger than {MAX_BODY_BYTES // 2**20} MB",
                         code="request_too_large")
    length = request.headers.get("content-length", "")
    if length.isdigit() and (len(length) > 12 or int(length) > MAX_BODY_BYTES):
        raise too_large
    pieces: list[bytes] = []
    size = 0
    try:
        # The header deadline (serve/limits.py) ends where the body starts: a client with a valid
        # token that then sends its body a byte at a time would hold the connection forever.
        async with asyncio.timeout(timeout_s):
            async for piece in request.stream():
                size += len(piece)
                if size > MAX_BODY_BYTES:
                    raise too_large
                pieces.append(piece)
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout_s:g} s",
                       code="request_timeout") from None
    return b"".join(pieces)


# OpenAI endpoints a tool pointed at serve may call, with what to use instead: a bare "Not Found"
# left the user to guess whether the URL or the token was wrong.
_NOT_SERVED = (
    ("/v1/completions", "legacy text completions are not served; use POST /v1/chat/completions"),
    ("/v1/embeddings", "embeddings are not served by chatroute serve; point the tool's embedding model at its "
                       "provider directly"),
    ("/v1/responses/", "chatroute serve keeps no responses to retrieve: POST /v1/responses answers in full"),
    ("/v1/images/", "images are not served by chatroute serve"),
    ("/v1/audio/", "audio is not served by chatroute serve"),
)


def _not_served(path: str) -> str | None:
    return next((why for prefix, why in _NOT_SERVED
                 if path == prefix or (prefix.endswith("/") and path.startswith(prefix))), None)


def _pinned(engine: Engine, model: str) -> str | None:
    """The catalogue model a pass-through request goes to; None for chatroute/auto and presets."""
    if model in ROUTED_MODELS:
        return None
    if model.startswith(ROUTED_PREFIX):
        raise ApiError(404, f"unknown model {model!r}: use {', '.join(ROUTED_MODELS)} or a configured model",
                       type_="not_found_error", code="model_not_found", param="model")
    try:
        return engine.catalog.resolve(model)
    except ConfigError as exc:
        message = str(exc)
        if message == f"unknown model {model!r}":  # no close name to suggest: a tool's default, such as 'auto'
            message += (f": use {ROUTED_MODELS[0]} (or {', '.join(ROUTED_MODELS[1:])}) or a model GET /v1/models "
                        "lists")
        raise ApiError(404, message, type_="not_found_error", code="model_not_found", param="model") from None


def _refusal(exc: ChatrouteError, req: ServedRequest) -> ApiError:
    """A request the engine refused before sending anything."""
    from chatroute.engine.common import StorageError
    from chatroute.routing.budget import is_budget_refusal
    from chatroute.routing.policy import PromptTooLargeError

    if isinstance(exc, PromptTooLargeError):  # named as its wire names the input (its advice already is)
        return ApiError(400, str(exc), code="context_length_exceeded", param=req.input_field.param)
    if isinstance(exc, StorageError):  # serve's own database, not the request: a server error
        return ApiError(503, f"chatroute serve: {exc}", type_="server_error", anthropic_type="api_error")
    if is_budget_refusal(exc):
        # No retry lifts a cap: the SDKs retry a 429 unless told not to (twice by default). The
        # status is OpenAI's for a spent quota; on Anthropic's wire rate_limit_error would read as
        # a wait to sit out, billing_error as the account's limit it is.
        return ApiError(429, f"budget: {exc}; raise [budget] in chatroute's config, or name a model (a named "
                        "model is not capped)", type_="insufficient_quota", code="insufficient_quota",
                        headers={"x-should-retry": "false"}, anthropic_type="billing_error")
    return ApiError(503 if exc.exit_code == 1 else 400, str(exc), type_="invalid_request_error")


def _filtered(finished: TurnFinished) -> bool:
    """The provider's safety filter ended the answer before any text. The APIs answer that with
    a 200 (OpenAI: finish_reason content_filter; Anthropic: stop_reason refusal) and empty
    content, which a client handles as such; the chat shows it as an error, serve does not."""
    return finished.error is not None and finished.record.finish_reason == "content_filter"


def _upstream(record: TurnRecord, line: str | None) -> ApiError:
    from chatroute.store.turns import redact_secrets

    route = record.route or {}
    kind = str(route.get("error_kind") or "")
    message = redact_secrets(line or record.error) or "the provider failed"
    # The models that failed before the one named, as `chatroute ask` prints them: a routed request
    # is not one model's failure.
    tried = [reroute_line(r) for r in route.get("reroutes", [])]
    if tried:
        message += f" (rerouted: {', '.join(tried)})"
    wait = route.get("retry_after")
    headers = {"retry-after": str(max(1, math.ceil(wait)))} if isinstance(wait, (int, float)) and wait > 0 else {}
    if kind in _NO_RETRY:
        headers["x-should-retry"] = "false"
    # A spent quota is the account's limit, not a wait to sit out (see _refusal's budget cap).
    return ApiError(_UPSTREAM_STATUS.get(kind, 502), message, type_="upstream_error",
                    code=_UPSTREAM_CODE.get(kind, kind or "upstream_error"),
                    headers=headers, anthropic_type="billing_error" if kind == "quota" else None)


def _headers(record: TurnRecord, reason: str, *, cost: bool) -> dict[str, str]:
    headers = {"x-chatroute-model": header_value(record.model), "x-chatroute-route-reason": header_value(reason)}
    if cost:
        total = request_cost(record)
        headers["x-chatroute-cost-usd"] = "unknown" if total is None else f"{total:.8f}"
    return headers


async def _first_events(events: AsyncGenerator[Any, None], req: ServedRequest) -> tuple[str, list[Any]]:
    """Run `req` up to its first text (or its end): the model is then final, since reroutes
    happen before the first token. Returns the route reason and the events read."""
    reason, seen = "", []
    try:
        async for event in events:
            if isinstance(event, Routed):
                reason = event.reason
            elif isinstance(event, Rerouted):  # the reason names the model that answers
                reason = f"rerouted: {event.message}"
            seen.append(event)
            if isinstance(event, (Delta, TurnFinished)):
                break
    except ChatrouteError as exc:
        raise _refusal(exc, req) from None
    return reason, seen


async def _client_gone(receive: Receive) -> None:
    """Returns once the client has hung up (its request body already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _while_connected(request: Request, answer: Coroutine[Any, Any, Response], tally: list[int]) -> Response:
    """A request answered whole, stopped when its client hangs up: the provider's stream is closed
    then and the request recorded as interrupted with what it cost so far (it read on to the end,
    billing every token for nobody, and was recorded as finished). What the provider had already
    sent is read first (relay.take_what_arrived; `tally` counts the events read): it is billed."""
    work = asyncio.ensure_future(answer)
    watch = asyncio.ensure_future(_client_gone(request.receive))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            await take_what_arrived(work, lambda: tally[0])
    finally:
        if not work.done():  # the client left first (or this handler was cancelled)
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    if work.cancelled():
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it
    return work.result()


# A request answered whole: its events, when it came in, the request; the response on its wire.
_Whole = Callable[[AsyncGenerator[Any, None], float, ServedRequest], Coroutine[Any, Any, Response]]


async def _complete_response(events: AsyncGenerator[Any, None], received: float, req: ServedRequest) -> Response:
    reason, record, text, decision = await _answer(events, received, req)
    body = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
        "model": record.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": clean_text(text)},
                     "finish_reason": finish_reason(record.finish_reason), "logprobs": None}],
        "usage": usage_of(record),
        "chatroute": decision,
    }
    return JSONResponse(body, headers=_headers(record, reason, cost=True))


async def _complete_message(events: AsyncGenerator[Any, None], received: float, req: ServedRequest) -> Response:
    reason, record, text, decision = await _answer(events, received, req)
    body = messages_wire.message_body(record.model, text, messages_wire.stop_reason(record.finish_reason),
                                      _message_usage(record), decision)
    return JSONResponse(body, headers=_headers(record, reason, cost=True))


async def _complete_responses(events: AsyncGenerator[Any, None], received: float, req: ServedRequest) -> Response:
    reason, record, text, decision = await _answer(events, received, req)
    body = responses_wire.ResponseWriter(req, record.model).body(
        status="completed", text=text, finish=record.finish_reason, use=_responses_usage(record), decision=decision)
    return JSONResponse(body, headers=_headers(record, reason, cost=True))


def _responses_usage(record: TurnRecord) -> dict[str, Any]:
    reasoning = (record.route or {}).get("reasoning_tokens")
    return responses_wire.usage(record.input_tokens, record.output_tokens, record.cached_tokens,
                                record.cache_write_tokens, reasoning if isinstance(reasoning, int) else 0)


def _message_usage(record: TurnRecord) -> dict[str, int]:
    return messages_wire.usage(record.input_tokens, record.output_tokens, record.cached_tokens,
                               record.cache_write_tokens)


async def _answer(events: AsyncGenerator[Any, None], received: float,
                  req: ServedRequest) -> tuple[str, TurnRecord, str, dict[str, Any]]:
    """A request run to its end: (route reason, record, the whole text, the `chatroute` decision)."""
    async with aclosing(events):
        reason, seen = await _first_events(events, req)
        parts = [e.text for e in seen if isinstance(e, Delta)]
        finished = seen[-1] if seen and isinstance(seen[-1], TurnFinished) else None
        if finished is None:
            async for event in events:
                if isinstance(event, Delta):
                    parts.append(event.text)
                elif isinstance(event, TurnFinished):
                    finished = event
    if finished is None:  # pragma: no cover - serve_turn always ends with TurnFinished
        raise ApiError(500, "the request ended without an answer", type_="server_error")
    record = finished.record
    if finished.error is not None and not _filtered(finished):
        raise _upstream(record, finished.error)
    decision = decision_of(record, reason)
    if record.total_ms is not None:
        decision["added_ms"] = round((time.perf_counter() - received) * 1000 - record.total_ms, 2)
    # The deltas joined again, so a surrogate pair a provider split between two is whole.
    return reason, record, "".join(parts), decision


class _Stream(Protocol):
    async def prepare(self, model: str, seen: list[Any]) -> None: ...  # what open() needs, once the model is known
    def open(self, model: str) -> bytes: ...  # the frames before the first text
    def text(self, text: str) -> bytes: ...
    def close(self, record: TurnRecord, decision: dict[str, Any]) -> bytes: ...  # the closing frames
    def error(self, err: ApiError) -> bytes: ...


class _ChatStream:
    """OpenAI's chunks: the role, the text, the finish reason, the usage if asked for, [DONE]."""

    writer: ChunkWriter

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    async def prepare(self, model: str, seen: list[Any]) -> None:
        pass

    def open(self, model: str) -> bytes:
        self.writer = ChunkWriter(f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), model)
        return self.writer.role()

    def text(self, text: str) -> bytes:
        return self.writer.text(text)

    def close(self, record: TurnRecord, decision: dict[str, Any]) -> bytes:
        # The closing frames in one write: the finish reason, the usage, [DONE].
        tail = [self.writer.finish(finish_reason(record.finish_reason), decision)]
        if self.include_usage:
            tail.append(self.writer.usage(usage_of(record), decision))
        tail.append(ChunkWriter.DONE)
        return b"".join(tail)

    def error(self, err: ApiError) -> bytes:
        return ChunkWriter.error(err)


class _MessageStream:
    """Anthropic's events: message_start, the text block, message_delta with the usage, message_stop."""

    writer: messages_wire.EventWriter

    def __init__(self, req: ServedRequest) -> None:
        self.req = req
        self.input_tokens = 0

    async def prepare(self, model: str, seen: list[Any]) -> None:
        # Anthropic's message_start carries the input count, and clients that log usage read it
        # there (a 0 was logged as a free prompt). Only the end has the billed figure, so this
        # is the prompt counted with the answering model's tokenizer (exact for OpenAI's, an
        # estimate for others); message_delta then gives the billed one, which the SDK keeps.
        # A cache hit sends nothing to a model: 0, as its final usage says.
        if not any(isinstance(e, CacheHit) for e in seen):
            # In a thread: a long prompt (or the encoding's first load) must not stall the others.
            self.input_tokens = await asyncio.to_thread(_count_input, self.req, model)

    def open(self, model: str) -> bytes:
        self.writer = messages_wire.EventWriter(model)
        return self.writer.start(self.input_tokens)

    def text(self, text: str) -> bytes:
        return self.writer.text(text)

    def close(self, record: TurnRecord, decision: dict[str, Any]) -> bytes:
        return self.writer.finish(messages_wire.stop_reason(record.finish_reason), _message_usage(record), decision)

    def error(self, err: ApiError) -> bytes:
        return messages_wire.EventWriter.error(err)


class _ResponseStream:
    """The Responses API's events: response.created, the message item and its text part, the
    text deltas, their done events, response.completed (or .incomplete) with the usage."""

    writer: responses_wire.ResponseWriter

    def __init__(self, req: ServedRequest) -> None:
        self.req = req

    async def prepare(self, model: str, seen: list[Any]) -> None:
        pass

    def open(self, model: str) -> bytes:
        self.writer = responses_wire.ResponseWriter(self.req, model)
        return self.writer.start()

    def text(self, text: str) -> bytes:
        return self.writer.text(text)

    def close(self, record: TurnRecord, decision: dict[str, Any]) -> bytes:
        return self.writer.finish(record.finish_reason, _responses_usage(record), decision)

    def error(self, err: ApiError) -> bytes:
        return self.writer.failed(err)


class _ClientGone(Exception):
    """The client hung up while a _HangUpStops block ran."""


class _HangUpStops:
    """Within its block, the client hanging up cancels the block's task, which ends the block
    in _ClientGone. The work stays in that task, the request's own: handing it to another task
    to race it against the hang-up would cost a trip through the event loop's queue before the
    first token (see _SSEResponse)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._gone = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        await _client_gone(self._receive)
        self._gone = True
        self._task.cancel()

    async def __aexit__(self, etype: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        # No await before this: once the block has ended, the listener can no longer cancel it.
        self._listener.cancel()
        # The cancellation is ours (also if something within swallowed it): the client left, which
        # is no error of the server's.
        if self._gone and (etype is None or issubclass(etype, asyncio.CancelledError)):
            self._task.uncancel()
            raise _ClientGone from None


async def _stream_response(receive: Receive, wire: _Stream, events: AsyncGenerator[Any, None],
                           received: float, req: ServedRequest) -> Response:
    # The response starts at the first token: until then a failure is still an HTTP error status.
    # A client that hangs up meanwhile stops the provider's request at once, or a model thinking
    # long before its first token would go on, billed, until that token found nobody to take it.
    try:
        async with _HangUpStops(receive):
            reason, seen = await _first_events(events, req)
            first = seen[-1] if seen else None
            if isinstance(first, TurnFinished) and first.error is not None and not _filtered(first):
                raise _upstream(first.record, first.error)
            model = first.record.model if isinstance(first, TurnFinished) else _current_model(seen)
            await wire.prepare(model, seen)
    except _ClientGone:
        await events.aclose()  # already closed by the cancellation, which recorded the request
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it
    except BaseException:  # an error status, or the server stopping: the provider's stream is closed and recorded
        await events.aclose()
        raise
    head = wire.open(model)

    async def body() -> AsyncGenerator[bytes, None]:
        relay = FrameRelay(events, wire.text)
        first_out = time.perf_counter() if any(isinstance(e, Delta) for e in seen) else 0.0
        # Closed with the body: a client gone mid-stream stops the reader (which records the partial).
        async with aclosing(relay.batches(head, seen)) as pieces:
            async for piece in pieces:
                yield piece
        finished = relay.finished
        if finished is None:  # pragma: no cover
            return
        record = finished.record
        decision = decision_of(record, reason)
        if first_out and record.ttft_ms is not None:
            # What serve added before the first token: request in, auth, cache, routing, first chunk out.
            decision["added_ttft_ms"] = round((first_out - received) * 1000 - record.ttft_ms, 2)
        if finished.error is not None and not _filtered(finished):
            yield wire.error(_upstream(record, finished.error))
            return
        yield wire.close(record, decision)

    headers = {"x-chatroute-model": header_value(model), "x-chatroute-route-reason": header_value(reason),
               "cache-control": "no-cache", "x-accel-buffering": "no"}
    return _SSEResponse(body(), headers)


class _SSEResponse(Response):
    """A streamed body written from the request's own task, its first piece at once.

    Starlette's StreamingResponse runs the body in a task of its own (in an anyio task group,
    beside a disconnect listener): one more trip through the event loop's queue before the first
    token goes out, which under a burst of requests is a wait behind every other request's work.
    Here the first piece is written straight away and only then does a listener start; a client
    that hangs up stops the body (its generator is closed, which records the partial reply)."""

    def __init__(self, body: AsyncGenerator[bytes, None], headers: dict[str, str]) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.background = None
        self.media_type = "text/event-stream"
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        gone = False
        listener: asyncio.Task[None] | None = None

        async def listen() -> None:
            nonlocal gone
            await _client_gone(receive)
            gone = True
            task.cancel()

        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for piece in self.body_iterator:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                if listener is None:
                    listener = asyncio.get_running_loop().create_task(listen())
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()  # ours: the client left, which is no error of the server's
        finally:
            if listener is not None and not listener.done():
                listener.cancel()
            await self.body_iterator.aclose()


def _count_input(req: ServedRequest, model: str) -> int:
    """The request's prompt tokens on `model`; 0 when they cannot be counted (no encoding data)."""
    from chatroute.catalog.tokens import count_messages
    from chatroute.providers.base import Message

    try:
        return count_messages([*req.history, Message("user", req.prompt)], req.system, model)[0]
    except (OSError, RuntimeError, ValueError):
        return 0


def _current_model(seen: list[Any]) -> str:
    """The model answering once the first token is in: the last reroute's target, else the routed one."""
    for event in reversed(seen):
        if isinstance(event, Rerouted):
            return event.to_model
        if isinstance(event, Routed):
            return event.model
    return "chatroute/auto"
