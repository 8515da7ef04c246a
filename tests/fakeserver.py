"""A fake LLM provider: real HTTP on 127.0.0.1 speaking OpenAI and Anthropic streaming wire formats.

Tests drive the official SDKs against it, so faults look exactly as they would from a real
server: status codes with JSON error bodies and Retry-After, error events inside a 200 stream,
connections cut mid-body (an incomplete chunked read), unparseable chunks, slow first tokens.

Scripting: each request pops the next step from the queue of its model (else the default
queue), else gets a deterministic default reply.

    server.script("gpt-4o-mini", Fault(status=429, retry_after=2), Reply(text="hello world"))
    server.script(Reply(text="for any model"))             # default queue
    server.requests[-1].model / .messages / .auth / .body   # what the SDK sent

Endpoints: POST /v1/chat/completions (OpenAI SSE, with the usage chunk when
stream_options.include_usage is set, then `data: [DONE]`), POST /v1/messages (Anthropic SSE:
message_start, content_block_start, ping, content_block_delta*, content_block_stop,
message_delta, message_stop), GET /v1/models.

Standalone (benchmarks): `python -m tests.fakeserver --port 0` prints its base URL.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

try:  # the standalone server (benchmarks) does not need pytest
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

Wire = Literal["openai", "anthropic"]

# -- script steps -------------------------------------------------------------------------


@dataclass
class Reply:
    """A successful streamed answer.

    text: the answer (None: a deterministic echo of the last user message).
    n_tokens: instead of text, stream this many one-token chunks ("w0 w1 ...") — benchmarks.
    chunk_words: one chunk per word (default) or the whole text in one chunk.
    ttft: seconds between the response headers (and role/message_start preamble) and the first text.
    hold: after ttft, the first text waits until this event is set: a test holds the reply until
        it has done what must happen meanwhile, with no timing to outlast on a loaded machine.
    hold_after: with hold, the text chunk that waits instead of the first: this many chunks are
        sent first (a stream the client has begun to show and save, then held); once released the
        rest keeps its tokens_per_s from there, not bunched to catch up with the hold.
    tokens_per_s: pacing of the following chunks; None streams as fast as possible.
    input_tokens / output_tokens: reported usage (defaults: ~chars/4 of the prompt, chunk count).
    cached_tokens: OpenAI prompt_tokens_details.cached_tokens (a subset of input) /
        Anthropic cache_read_input_tokens (apart from input). cache_write_tokens: Anthropic only.
    cost: OpenRouter-style usage.cost (OpenAI wire only).
    reasoning_tokens: OpenAI completion_tokens_details.reasoning_tokens, part of output_tokens
        (OpenAI's convention, total_tokens = input + output), or, with reasoning_apart, on top
        of it (xAI's: completion_tokens is the visible text, total_tokens adds the reasoning).
    usage_extra: OpenAI only: more keys of the usage object, as given (OpenRouter's is_byok and
        cost_details, Kimi's top-level cached_tokens); a key given None is left out.
    usage_in_choice: OpenAI only: the usage inside the finishing chunk's choice, not a chunk of its
        own, sent whether or not it was asked for (Moonshot's stream).
    delta_usage: Anthropic only: the message_delta's usage object as given, instead of
        {"output_tokens": n} (a server restating input there, or writing 0 for it); {} sends none.
    omit_usage: never report usage, even when asked.
    reasoning: thinking text sent before the answer, as OpenAI-compatible `delta.reasoning_content`
        or an Anthropic `thinking` content block (not visible text, but progress).
    think_tags: the reasoning sent inside the text (OpenAI `content`, an Anthropic text block) as
        `<think>…</think>` followed by a blank line, each tag split between two chunks (Qwen3 or a
        DeepSeek-R1 distill on a server that does not split it off); unclosed when the reply is cut
        at max_tokens within it.
    think_open: with think_tags, False leaves the opening `<think>` out (it was the chat template's,
        as the DeepSeek-R1 distills and QwQ write it): the thinking, then a lone `</think>`.
    lead: text sent before the `reasoning` (a server that splits thinking off only once it has
        begun): OpenAI `content`; on Anthropic's wire a text block before the thinking block.
    endless: ignore max_tokens and stream until the client hangs up (or the server stops).
    finish_reason: neutral name ("stop", "length", "content_filter", "tool_calls"), translated
        for Anthropic; anything else is sent verbatim. Truncated by max_tokens -> "length". None:
        no reason at all, as some local servers send: OpenAI `finish_reason: null` on every chunk,
        then `data: [DONE]` as usual; Anthropic a `message_delta` with `stop_reason: null`, then
        `message_stop`.
    """

    text: str | None = None
    n_tokens: int | None = None
    chunk_words: bool = True
    ttft: float = 0.0
    hold: threading.Event | None = None
    hold_after: int = 0
    tokens_per_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cost: float | None = None
    reasoning_tokens: int = 0
    reasoning_apart: bool = False
    delta_usage: dict[str, Any] | None = None
    usage_extra: dict[str, Any] | None = None
    usage_in_choice: bool = False
    omit_usage: bool = False
    endless: bool = False
    finish_reason: str | None = "stop"
    respect_max_tokens: bool = True
    reasoning: str | None = None  # streamed (paced like text) before the answer: reasoning_content / thinking
    think_tags: bool = False
    think_open: bool = True
    lead: str | None = None
    # Bytes spliced raw (not JSON-escaped) into an extra text delta sent after the first chunk,
    # e.g. b"\xff\xfe" for invalid UTF-8 inside the stream.
    raw_bytes: bytes | None = None


_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    # status: (type, message) — types as the real APIs name them
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "Invalid API key."),
    402: ("billing_error", "Insufficient credits."),
    403: ("permission_error", "Permission denied."),
    404: ("not_found_error", "The model does not exist or you do not have access to it."),
    408: ("timeout_error", "Request timed out."),
    413: ("request_too_large", "Request exceeds the maximum allowed size."),
    422: ("invalid_request_error", "Unprocessable request."),
    429: ("rate_limit_error", "Rate limit reached, please try again later."),
    500: ("api_error", "Internal server error."),
    502: ("api_error", "Bad gateway."),
    503: ("api_error", "Service unavailable."),
    504: ("api_error", "Gateway timeout."),
    529: ("overloaded_error", "Overloaded"),
}


@dataclass
class Fault:
    """An HTTP error response with a JSON error body in the wire's own format.

    retry_after: seconds (number) or a raw header value (e.g. an HTTP date) for `Retry-After`.
    retry_after_ms: sets `retry-after-ms`. error_type / code / message override the defaults.
    echo_key: put the received credential into the message, as some servers do (tests scrubbing).
    delay: seconds to wait before answering.
    hold: the answer waits until this event is set (after the delay), as Reply's hold.
    """

    status: int
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    message: str | None = None
    error_type: str | None = None
    code: str | None = None
    anthropic_overloaded: bool = False
    echo_key: bool = False
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None

    @classmethod
    def context_overflow(cls) -> Fault:
        return cls(
            status=400,
            code="context_length_exceeded",
            message="This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9000 tokens. Please reduce the length of the messages.",
        )

    @classmethod
    def content_policy(cls) -> Fault:
        return cls(
            status=400,
            code="content_policy_violation",
            message="Your request was rejected as a result of our safety system.",
        )

    def body(self, wire: Wire, key: str | None) -> dict[str, Any]:
        etype, msg = _DEFAULT_ERRORS.get(self.status, ("api_error", f"HTTP {self.status}"))
        if self.anthropic_overloaded:
            etype, msg = "overloaded_error", "Overloaded"
        etype = self.error_type or etype
        msg = self.message or msg
        if self.echo_key:
            msg = f"{msg} Incorrect API key provided: {key}."
        if wire == "anthropic":
            return {"type": "error", "error": {"type": etype, "message": msg}}
        return {"error": {"message": msg, "type": etype, "param": None, "code": self.code}}


@dataclass
class InStreamError:
    """A 200 stream that reports an error event after `after_chunks` text chunks.

    Anthropic: `event: error` with {"type":"error","error":{"type": error_type, ...}}.
    OpenAI: `data: {"error": {...}}` (how OpenAI-compatible servers report mid-stream errors).
    """

    error_type: str = "overloaded_error"
    message: str = "Overloaded"
    after_chunks: int = 0
    text: str = "partial answer before the error"
    input_tokens: int | None = None  # Anthropic message_start usage (default: ~prompt chars/4)


@dataclass
class Drop:
    """Cut the connection after `after_chunks` text chunks (0: right after the headers and
    preamble, before any token); before_headers: close without any response. reasoning:
    thinking streamed before the text (as Reply's), so a cut at 0 comes after only thinking; lead:
    content before that thinking (as Reply's)."""

    after_chunks: int = 0
    before_headers: bool = False
    text: str = "this answer will be cut off in the middle"
    input_tokens: int | None = None  # Anthropic message_start usage (default: ~prompt chars/4)
    reasoning: str | None = None
    lead: str | None = None


@dataclass
class Malformed:
    """Send an unparseable SSE data line after `after_chunks` text chunks, then carry on."""

    after_chunks: int = 1
    payload: str = '{"choices": [{"delta": {"content": "broken'
    text: str = "a reply with a malformed chunk"
    input_tokens: int | None = None  # Anthropic message_start usage (default: ~prompt chars/4)


@dataclass
class Raw:
    """Any response at all, bytes as given: an HTML page with 200 (a wrong base URL, a login
    page), a redirect (status 307 and a `location` header), or a body trickled at
    `bytes_per_s` (a stream that never stalls long enough for a read timeout)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    bytes_per_s: float | None = None
    burst: int = 0  # bytes sent at once before the trickle starts


def sse_body(wire: Wire, text: str, model: str = "fake-model") -> bytes:
    """The bytes of a complete, well-formed streamed answer of `text` (one chunk a word)."""
    if wire == "anthropic":
        events = [("message_start", {"type": "message_start", "message": {
            "id": "msg-raw", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}})]
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": w}}) for w in _words(text)]
        events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                      "stop_sequence": None}, "usage": {"output_tokens": len(_words(text))}}),
                   ("message_stop", {"type": "message_stop"})]
        return b"".join(f"event: {n}\ndata: {json.dumps(p)}\n\n".encode() for n, p in events)
    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        payload = {"id": "chatcmpl-raw", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(payload)}\n\n".encode()
    body = chunk({"role": "assistant", "content": ""}, None)
    body += b"".join(chunk({"content": w}, None) for w in _words(text))
    return body + chunk({}, "stop") + b"data: [DONE]\n\n"


Step = Reply | Fault | InStreamError | Drop | Malformed | Raw


def anthropic_refusal(body: dict[str, Any]) -> str | None:
    """The message Anthropic's Messages API refuses this request body with (a 400
    invalid_request_error, in the API's wording), by its rules on max_tokens and the messages;
    None when it takes them."""
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, m in enumerate(messages):
        if m.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        content = m.get("content")
        texts = [content] if isinstance(content, str) else [b.get("text", "") for b in content or ()]
        final_assistant = i == len(messages) - 1 and m["role"] == "assistant"
        if not final_assistant and not any(texts):
            return (f"messages.{i}: all messages must have non-empty content except for the optional final "
                    "assistant message")
        if any(t == "" for t in texts) and not final_assistant:
            return "messages: text content blocks must be non-empty"
        if any(t and not t.strip() for t in texts):
            return "messages: text content blocks must contain non-whitespace text"
        if final_assistant and texts and texts[-1] != texts[-1].rstrip():
            return "messages: final assistant content cannot end with trailing whitespace"
    return None


@dataclass
class RecordedRequest:
    path: str
    wire: Wire | None
    model: str | None
    headers: dict[str, str]  # lower-case names; credential values replaced by "<redacted>"
    auth: str | None  # the credential as sent (Bearer token or x-api-key), for assertions
    body: dict[str, Any]
    received_at: float  # time.monotonic()
    first_text_at: float | None = None  # time.monotonic() when the first text token was written
    ended_at: float | None = None  # ... and when the stream's last byte was (it was all sent)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def system(self) -> Any:
        return self.body.get("system")

    @property
    def stream_options(self) -> Any:
        return self.body.get("stream_options")


# -- the server ---------------------------------------------------------------------------

DEFAULT = "*"
_WORD = re.compile(r"\S+\s*|\s+")
_AUTH_HEADERS = ("authorization", "x-api-key", "api-key", "proxy-authorization")


class _Stop(Exception):
    """The server is stopping or the client went away: end this response quietly."""


class FakeServer:
    """Start with `start()` (or as a context manager); base URLs in `openai_base_url` / `anthropic_base_url`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Step]] = {}
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self.requests: list[RecordedRequest] = []
        self.default_reply = Reply()
        # Behave like an older OpenAI-compatible server: 400 on any request carrying stream_options.
        self.reject_stream_options = False
        # Refuse, as Anthropic's API does (400 invalid_request_error), a Messages request that
        # breaks its rules on messages (anthropic_refusal): off by default.
        self.anthropic_rules = False
        self.models: list[str] = ["fake-model"]  # listed by GET /v1/models (plus scripted names)
        self.on_request: Callable[[RecordedRequest], None] | None = None  # called as each request arrives

    # -- lifecycle --

    def start(self) -> FakeServer:
        server = self

        class Handler(_Handler):
            fake = server

        httpd = _Listener((self._host, self._port), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fakeserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # release keep-alive and streaming clients at once
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url  # the Anthropic SDK appends /v1/messages itself

    # -- scripting --

    def script(self, *args: Any) -> FakeServer:
        """script(model, *steps) queues steps for that model; script(*steps) for any model.
        Steps may also be passed as one list."""
        key = DEFAULT
        items = list(args)
        if items and isinstance(items[0], str):
            key = items.pop(0)
        steps: list[Step] = []
        for item in items:
            steps.extend(item if isinstance(item, (list, tuple)) else [item])
        for step in steps:
            if not isinstance(step, (Reply, Fault, InStreamError, Drop, Malformed, Raw)):
                raise TypeError(f"not a script step: {step!r}")
        with self._lock:
            self._queues.setdefault(key, deque()).extend(steps)
        return self

    def pending(self, model: str | None = None) -> int:
        """Steps not consumed yet (for one model, or all queues)."""
        with self._lock:
            if model is not None:
                return len(self._queues.get(model, ()))
            return sum(len(q) for q in self._queues.values())

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self.requests.clear()
        self.reject_stream_options = False
        self.anthropic_rules = False

    def requests_for(self, model: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    def _next_step(self, model: str | None) -> Step:
        with self._lock:
            for key in (model, DEFAULT):
                queue = self._queues.get(key) if key else None
                if queue:
                    return queue.popleft()
        return self.default_reply

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)
        if self.on_request is not None:
            self.on_request(req)

    def _known_models(self) -> list[str]:
        with self._lock:
            scripted = [k for k in self._queues if k != DEFAULT]
        return list(dict.fromkeys([*self.models, *scripted]))


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets connections when dozens open at once (benchmarks).
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    recorded: RecordedRequest
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like real APIs
    server_version = "FakeLLM/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError, _Stop):
            pass  # the client hung up (timeouts, cancelled streams): normal for a test server
        except OSError:
            if not self.fake._stopping.is_set():
                raise

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests and benchmarks read stdout

    # -- routing --

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.fake._known_models()]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found_error"}})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?", 1)[0].rstrip("/")
        wire: Wire | None = (
            "openai" if path.endswith("/chat/completions") else "anthropic" if path.endswith("/messages") else None
        )
        headers = {k.lower(): v for k, v in self.headers.items()}
        auth = headers.get("x-api-key")
        if auth is None and "authorization" in headers:
            auth = headers["authorization"].removeprefix("Bearer ").strip()
        safe = {k: ("<redacted>" if k in _AUTH_HEADERS else v) for k, v in headers.items()}
        model = body.get("model") if isinstance(body, dict) else None
        self.recorded = RecordedRequest(path, wire, model, safe, auth, body if isinstance(body, dict) else {},
                                        time.monotonic())
        self.fake._record(self.recorded)
        if wire is None:
            self._json(404, {"error": {"message": f"no route {path}", "type": "not_found_error"}})
            return
        if not body.get("stream"):
            self._json(400, Fault(400, message="the fake server only streams (stream=true)").body(wire, None))
            return
        if wire == "openai" and self.fake.reject_stream_options and "stream_options" in body:
            self._json(400, Fault(400, code="invalid_request_error",
                                  message="Unrecognized request argument supplied: stream_options").body(wire, None))
            return
        refusal = anthropic_refusal(body) if wire == "anthropic" and self.fake.anthropic_rules else None
        if refusal is not None:
            self._json(400, Fault(400, message=refusal).body(wire, None))
            return
        step = self.fake._next_step(model)
        try:
            self._serve(step, wire, body, auth)
        except (_Stop, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    # -- responses --

    def _json(self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, step: Step, wire: Wire, body: dict[str, Any], auth: str | None) -> None:
        if isinstance(step, Raw):
            self._raw(step)
            return
        if isinstance(step, Fault):
            self._sleep(step.delay)
            if step.hold is not None:
                self._hold(step.hold)
            extra = dict(step.headers)
            if step.retry_after is not None:
                extra["retry-after"] = (
                    step.retry_after if isinstance(step.retry_after, str) else f"{step.retry_after:g}"
                )
            if step.retry_after_ms is not None:
                extra["retry-after-ms"] = f"{step.retry_after_ms:g}"
            if step.status == 529 or step.anthropic_overloaded:
                extra.setdefault("x-should-retry", "true")
            self._json(step.status, step.body(wire, auth), extra)
            return
        if isinstance(step, Drop) and step.before_headers:
            self._cut()
            return
        sse = _SSE(self, wire, body, step if isinstance(step, Reply) else None)
        sse.step_input_tokens = getattr(step, "input_tokens", None)
        sse.reasoning = getattr(step, "reasoning", None)
        sse.lead = getattr(step, "lead", None)
        sse.begin()
        if isinstance(step, Reply):
            sse.reply(step)
        elif isinstance(step, InStreamError):
            sse.text_chunks(_words(step.text)[: step.after_chunks])
            sse.error(step.error_type, step.message)
        elif isinstance(step, Drop):
            if step.reasoning:
                sse.reason(step.reasoning)
            sse.text_chunks(_words(step.text)[: step.after_chunks])
            sse.flush()
            self._cut()
        elif isinstance(step, Malformed):
            words = _words(step.text)
            sse.text_chunks(words[: step.after_chunks])
            sse.raw_data(step.payload)
            sse.text_chunks(words[step.after_chunks :])
            sse.end("stop", None)

    def _raw(self, step: Raw) -> None:
        self.send_response(step.status)
        self.send_header("content-type", step.content_type)
        self.send_header("content-length", str(len(step.body)))
        for k, v in step.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not step.bytes_per_s:
            self.wfile.write(step.body)
            self.recorded.ended_at = time.monotonic()
            return
        self.wfile.write(step.body[: step.burst])
        self.wfile.flush()
        for i in range(step.burst, len(step.body)):
            self.wfile.write(step.body[i : i + 1])
            self.wfile.flush()
            self._sleep(1.0 / step.bytes_per_s)

    def _cut(self) -> None:
        """Hang up mid-response: the client sees an incomplete chunked body (or no response)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.fake._stopping.wait(seconds):
            raise _Stop

    def _hold(self, until: threading.Event) -> None:
        while not until.wait(0.02):
            if self.fake._stopping.is_set():
                raise _Stop


class _SSE:
    """Writes one streamed answer in the request's wire format over a chunked body."""

    def __init__(self, handler: _Handler, wire: Wire, body: dict[str, Any], reply: Reply | None) -> None:
        self.h = handler
        self.reply_step = reply  # message_start must already carry the input/cache usage
        self.step_input_tokens: int | None = None  # a failing step's message_start input usage
        self.reasoning: str | None = None  # thinking before the text: Anthropic opens a thinking block
        self.lead: str | None = None  # content before that thinking
        self.wire = wire
        self.body = body
        self.model = str(body.get("model") or "fake-model")
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.buf: list[bytes] = []
        self.buffered = 0
        self.sent_text = 0
        self.block = 0  # Anthropic content block index of the answer text
        self.id = f"{'msg' if wire == 'anthropic' else 'chatcmpl'}-fake{int(time.time() * 1000) % 10**9}"
        self.created = int(time.time())

    # -- framing --

    def begin(self) -> None:
        h = self.h
        h.send_response(200)
        h.send_header("content-type", "text/event-stream; charset=utf-8")
        h.send_header("cache-control", "no-cache")
        h.send_header("transfer-encoding", "chunked")
        h.send_header("date", formatdate(usegmt=True))
        h.end_headers()
        if self.wire == "anthropic":
            self.event("message_start", {"type": "message_start", "message": self._message_start()})
            thinking = self.reasoning and not self.lead  # a lead opens a text block first
            self.event("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "thinking", "thinking": ""} if thinking
                                               else {"type": "text", "text": ""}})
            self.event("ping", {"type": "ping"})
        else:
            # Real servers open with a role-only chunk: bytes arrive but no visible token yet.
            self.data(self._chunk({"role": "assistant", "content": ""}, None))
        self.flush()

    def event(self, name: str | None, payload: dict[str, Any]) -> None:
        head = f"event: {name}\n" if name else ""
        self._put(f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode())

    def data(self, payload: dict[str, Any]) -> None:
        self.event(None, payload)

    def raw_data(self, text: str) -> None:
        name = "content_block_delta" if self.wire == "anthropic" else None
        head = f"event: {name}\n" if name else ""
        self._put(f"{head}data: {text}\n\n".encode())
        self.flush()

    def _put(self, frame: bytes) -> None:
        self.buf.append(frame)
        self.buffered += len(frame)

    def flush(self) -> None:
        if not self.buf:
            return
        payload = b"".join(self.buf)
        self.buf.clear()
        self.buffered = 0
        if self.h.fake._stopping.is_set():
            raise _Stop
        self.h.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))

    def close(self) -> None:
        self.flush()
        self.h.wfile.write(b"0\r\n\r\n")
        self.h.wfile.flush()
        self.h.recorded.ended_at = time.monotonic()

    # -- content --

    def text_chunks(self, chunks: list[str], tokens_per_s: float | None = None) -> None:
        for chunk in chunks:
            self.text(chunk)
            if tokens_per_s:
                self.flush()
                self.h._sleep(1.0 / tokens_per_s)
        self.flush()

    def text(self, chunk: str) -> None:
        if self.wire == "anthropic":
            self.event("content_block_delta", {"type": "content_block_delta", "index": self.block,
                                               "delta": {"type": "text_delta", "text": chunk}})
        else:
            self.data(self._chunk({"content": chunk}, None))
        self.sent_text += 1
        # Flush the first token at once (time to first token), then coalesce up to ~4 KB
        # so a fast stream is not one syscall per token.
        if self.sent_text == 1 or self.buffered >= 4096:
            self.flush()
        if self.sent_text == 1:
            self.h.recorded.first_text_at = time.monotonic()

    def raw_text(self, raw: bytes) -> None:
        """One text delta whose string holds `raw` verbatim: bytes no JSON encoder would write."""
        marker = "\u0000RAW\u0000"
        self.flush()  # so text() below only buffers the marker frame
        self.text(marker)
        frame = self.buf.pop()
        self.buffered -= len(frame)
        self._put(frame.replace(json.dumps(marker)[1:-1].encode(), raw))
        self.flush()

    def reply(self, r: Reply) -> None:
        self.h._sleep(r.ttft)
        if r.hold is not None and not r.hold_after:
            self.h._hold(r.hold)
        limit = self._max_tokens() if r.respect_max_tokens and not r.endless else None
        count = 0
        finish = r.finish_reason
        if r.reasoning and r.think_tags:
            # Each tag split between two chunks; every chunk one token against max_tokens.
            opening = ["<thi", "nk>\n"] if r.think_open else []
            for piece in [*opening, *_words(r.reasoning), "\n</th", "ink>\n\n"]:
                if limit is not None and count >= limit:
                    self.end("length", None if r.omit_usage else self._usage(r, count))
                    return
                if r.tokens_per_s and count:
                    self.flush()
                    self.h._sleep(1.0 / r.tokens_per_s)
                self.text(piece)
                count += 1
        elif r.reasoning:
            self.reason(r.reasoning, r.tokens_per_s)
        interval = 1.0 / r.tokens_per_s if r.tokens_per_s else 0.0
        start = time.monotonic()
        for chunk in self._reply_chunks(r):
            if limit is not None and count >= limit:
                finish = "length"
                break
            if interval and count:
                # Absolute schedule so sleep overshoot does not accumulate.
                self.flush()
                self.h._sleep(start + count * interval - time.monotonic())
            if r.hold is not None and r.hold_after and count == r.hold_after:
                self.flush()
                held_at = time.monotonic()
                self.h._hold(r.hold)
                start += time.monotonic() - held_at
            self.text(chunk)
            count += 1
            if count == 1 and r.raw_bytes is not None:
                self.raw_text(r.raw_bytes)
        self.end(finish, None if r.omit_usage else self._usage(r, count))

    def _usage(self, r: Reply, count: int) -> dict[str, Any]:
        return {
            "input": r.input_tokens if r.input_tokens is not None else self._prompt_tokens(),
            "output": r.output_tokens if r.output_tokens is not None else count,
            "cached": r.cached_tokens,
            "cache_write": r.cache_write_tokens,
            "cost": r.cost,
            "reasoning": r.reasoning_tokens,
            "reasoning_apart": r.reasoning_apart,
            "delta_usage": r.delta_usage,
            "extra": r.usage_extra or {},
            "in_choice": r.usage_in_choice,
        }

    def reason(self, reasoning: str, tokens_per_s: float | None = None) -> None:
        block = 0  # Anthropic: the thinking block's index
        if self.lead:
            for chunk in _words(self.lead):
                if self.wire == "anthropic":
                    self.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                       "delta": {"type": "text_delta", "text": chunk}})
                else:
                    self.data(self._chunk({"content": chunk}, None))
            if self.wire == "anthropic":  # the lead's text block ends, the thinking block opens
                block = 1
                self.event("content_block_stop", {"type": "content_block_stop", "index": 0})
                self.event("content_block_start", {"type": "content_block_start", "index": block,
                                                   "content_block": {"type": "thinking", "thinking": ""}})
            self.flush()
        for i, chunk in enumerate(_words(reasoning)):
            if tokens_per_s and i:
                self.h._sleep(1.0 / tokens_per_s)
            if self.wire == "anthropic":
                self.event("content_block_delta", {"type": "content_block_delta", "index": block,
                                                   "delta": {"type": "thinking_delta", "thinking": chunk}})
            else:
                self.data(self._chunk({"content": None, "reasoning_content": chunk}, None))
            self.flush()
        if self.wire == "anthropic":
            self.event("content_block_delta", {"type": "content_block_delta", "index": block,
                                               "delta": {"type": "signature_delta", "signature": "fake"}})
            self.event("content_block_stop", {"type": "content_block_stop", "index": block})
            self.block = block + 1
            self.event("content_block_start", {"type": "content_block_start", "index": self.block,
                                               "content_block": {"type": "text", "text": ""}})
        if tokens_per_s:
            self.h._sleep(1.0 / tokens_per_s)

    def _reply_chunks(self, r: Reply) -> Iterator[str]:
        if r.endless:
            i = 0
            while True:
                yield f"w{i % 100} "
                i += 1
                if not r.tokens_per_s and i % 256 == 0:
                    self.h._sleep(0.001)  # endless but not a busy loop
        elif r.n_tokens is not None:
            for i in range(r.n_tokens):
                yield f"w{i % 100} "
        else:
            text = r.text if r.text is not None else self._echo()
            yield from (_words(text) if r.chunk_words else [text])

    def end(self, finish: str | None, usage: dict[str, Any] | None) -> None:
        if self.wire == "anthropic":
            self.event("content_block_stop", {"type": "content_block_stop", "index": self.block})
            delta: dict[str, Any] = {"type": "message_delta",
                                     "delta": {"stop_reason": _ANTHROPIC_STOP.get(finish or "", finish),
                                               "stop_sequence": None}}
            if usage is not None and usage["delta_usage"] is not None:
                if usage["delta_usage"]:
                    delta["usage"] = usage["delta_usage"]
            elif usage is not None:
                delta["usage"] = {"output_tokens": usage["output"]}
            self.event("message_delta", delta)
            self.event("message_stop", {"type": "message_stop"})
        else:
            in_choice = usage is not None and usage["in_choice"]
            if not in_choice:
                self.data(self._chunk({}, finish))
            if usage is not None and (self.include_usage or in_choice):
                u: dict[str, Any] = {
                    "prompt_tokens": usage["input"],
                    "completion_tokens": usage["output"],
                    "total_tokens": usage["input"] + usage["output"]
                    + (usage["reasoning"] if usage["reasoning_apart"] else 0),
                    "prompt_tokens_details": {"cached_tokens": usage["cached"], "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": usage["reasoning"]},
                }
                if usage["cost"] is not None:
                    u["cost"] = usage["cost"]
                for key, value in usage["extra"].items():  # None: the key left out
                    u.pop(key) if value is None else u.__setitem__(key, value)
                if in_choice:  # Moonshot: the usage inside the finishing choice
                    last = self._chunk({}, finish)
                    last["choices"][0]["usage"] = u
                    self.data(last)
                else:
                    self.data({**self._chunk(None, None), "choices": [], "usage": u})
            self._put(b"data: [DONE]\n\n")
        self.close()

    def error(self, etype: str, message: str) -> None:
        if self.wire == "anthropic":
            self.event("error", {"type": "error", "error": {"type": etype, "message": message}})
        else:
            self.data({"error": {"message": message, "type": etype, "code": etype, "param": None}})
        self.close()

    # -- payloads --

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                               "model": self.model, "system_fingerprint": "fp_fake"}
        if delta is not None:
            out["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if self.include_usage:
            out["usage"] = None
        return out

    def _message_start(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                               "content": [], "stop_reason": None, "stop_sequence": None}
        reply = self.reply_step
        if reply is None or not reply.omit_usage:
            default_input = self.step_input_tokens if self.step_input_tokens is not None else self._prompt_tokens()
            msg["usage"] = {
                "input_tokens": (reply.input_tokens if reply and reply.input_tokens is not None
                                 else default_input),
                "cache_creation_input_tokens": reply.cache_write_tokens if reply else 0,
                "cache_read_input_tokens": reply.cached_tokens if reply else 0,
                "output_tokens": 1,
            }
        return msg

    def _max_tokens(self) -> int | None:
        value = self.body.get("max_tokens") or self.body.get("max_completion_tokens")
        return int(value) if isinstance(value, int) and value > 0 else None

    def _prompt_tokens(self) -> int:
        chars = len(json.dumps(self.body.get("messages") or [])) + len(str(self.body.get("system") or ""))
        return max(1, chars // 4)

    def _echo(self) -> str:
        last = ""
        for m in self.body.get("messages") or []:
            if isinstance(m, dict) and m.get("role") == "user":
                content = m.get("content")
                last = content if isinstance(content, str) else json.dumps(content)
        last = " ".join(last.split())[:200]
        return f"Echo from {self.model}: {last}" if last else f"Hello from {self.model}."


_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal",
                   "tool_calls": "tool_use"}


def _words(text: str) -> list[str]:
    return _WORD.findall(text) or [text]


# -- pytest fixture -----------------------------------------------------------------------


def _fake_server() -> Iterator[FakeServer]:
    """A started FakeServer, stopped (streams and keep-alive connections closed) after the test."""
    server = FakeServer().start()
    try:
        yield server
    finally:
        server.stop()


if pytest is not None:
    fake_server = pytest.fixture(_fake_server, name="fake_server")


# -- standalone -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeserver", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--n-tokens", type=int, default=None, help="default reply: this many tokens")
    parser.add_argument("--tokens-per-s", type=float, default=None, help="default reply pacing (none: flat out)")
    parser.add_argument("--ttft", type=float, default=0.0, help="default reply: seconds before the first token")
    parser.add_argument("--log-requests", action="store_true",
                        help="print 'REQ <time.monotonic()>' on stdout as each request arrives")
    args = parser.parse_args(argv)
    server = FakeServer(args.host, args.port)
    if args.log_requests:
        server.on_request = lambda req: print(f"REQ {req.received_at:.6f}", flush=True)
    server.default_reply = Reply(n_tokens=args.n_tokens, tokens_per_s=args.tokens_per_s, ttft=args.ttft)
    server.start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
