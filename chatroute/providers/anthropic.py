"""Anthropic Messages API (and Anthropic-compatible servers) on the official `anthropic` SDK.

Raw stream events are read directly (the SDK's streamed POST to /v1/messages, as plain JSON
objects), not the helper MessageStream, because we only need text, usage and the stop reason
and want no extra accumulation or model building per token. Usage: `message_start` carries
input and cache read/write tokens, `message_delta` the output tokens (cumulative). Anthropic's
`input_tokens` excludes cache reads and writes; the UsageReport puts them back in (every prompt
token sent, as OpenAI counts).

Event order contract: a partial UsageReport as soon as `message_start` reports usage (so a
stream stopped before its end is still priced from the server's counts), TextDelta* (after any
ReasoningDelta*), the final UsageReport (partial when `message_delta` gave no output count:
`message_start`'s is a placeholder), Finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Imported at module level: make_provider loads this module lazily, and the SDK import
# (over 1 s cold) must not count against the first request's first-token deadline.
from anthropic import AsyncAnthropic, AsyncStream, DefaultAsyncHttpxClient, Timeout

from chatroute.providers.base import (
    ANTHROPIC_DEFAULT_MAX_TOKENS,
    ChatRequest,
    ErrorKind,
    Finish,
    FinishReason,
    ProviderError,
    StreamEvent,
    UsageReport,
    output_guard,
    reported_count,
)
from chatroute.providers.deadlines import StreamDeadlines
from chatroute.providers.errors import stream_ended_early
from chatroute.providers.sdk_provider import NOTHING, SDKProvider, stream_deltas
from chatroute.providers.think_tags import ThinkTags, opens_think_itself
from chatroute.providers.warmup import import_first_request_modules

DEFAULT_MAX_TOKENS = ANTHROPIC_DEFAULT_MAX_TOKENS  # Anthropic requires max_tokens on every request

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


def map_stop_reason(reason: str | None) -> FinishReason:
    return _FINISH.get(reason or "", "other")


class AnthropicProvider(SDKProvider[AsyncAnthropic]):
    kind = "anthropic"
    key_env = "ANTHROPIC_API_KEY"

    def _new_client(self, *, api_key: str, timeout_s: float, max_retries: int) -> tuple[AsyncAnthropic, Any]:
        http = DefaultAsyncHttpxClient()
        client = AsyncAnthropic(api_key=api_key, base_url=self.base_url, max_retries=max_retries, http_client=http,
                                timeout=Timeout(timeout_s, connect=min(timeout_s, 10.0)))
        return client, http

    def prepare(self) -> None:
        """Create the SDK client now, so the request's clock does not count its set-up. The
        messages resource is touched too: the SDK may import it lazily, on first use."""
        _ = self.client().messages
        import_first_request_modules(self.kind)

    def _params(self, req: ChatRequest) -> dict[str, Any]:
        system_parts = [req.system] if req.system and not req.system.isspace() else []
        messages: list[dict[str, str]] = []
        for m in req.messages:
            if not m.content or m.content.isspace():
                # Anthropic refuses a message (or system prompt) with no text in it, where OpenAI's
                # API takes one (a served client's empty assistant turn): it says nothing, so it is
                # left out, and Anthropic takes the turns around it as one.
                continue
            if m.role == "system":  # Anthropic has no system role inside `messages`
                system_parts.append(m.content)
            else:
                messages.append({"role": m.role, "content": m.content})
        params: dict[str, Any] = {
            "model": req.model,
            "messages": messages,
            "max_tokens": _max_tokens(req),
            "stream": True,
        }
        if system_parts:
            params["system"] = "\n\n".join(system_parts)
        # No temperature: the Messages API of the anthropic 2.x SDK has no sampling
        # parameters any more, and sending one as an extra field would risk a 400.
        return params

    async def _open(self, request: ChatRequest, limits: StreamDeadlines) -> Any:
        return await limits.before_first_token(self._post(self._params(request)))

    async def _post(self, params: dict[str, Any]) -> AsyncStream[Any]:
        """The SDK's own request, error mapping and SSE decoding (pings skipped, error events
        raised), with each event handed back as the server's JSON object rather than built into
        the SDK's pydantic model: that took more CPU a token than the adapter's own work."""
        return await self.client().post("/v1/messages", body=params, cast_to=object, stream=True,
                                        stream_cls=AsyncStream[object])

    def _reader(self, request: ChatRequest) -> _StreamState:
        return _StreamState(guard=output_guard(_max_tokens(request)), provider=self.name, model=request.model,
                            tags=ThinkTags(lone_close=self.cfg.on_own_network() and opens_think_itself(request.model)))


def _max_tokens(req: ChatRequest) -> int:
    return req.max_tokens if req.max_tokens is not None else DEFAULT_MAX_TOKENS


@dataclass
class _StreamState:
    """What one stream has told so far: its progress, stop reason and token counts."""

    guard: int  # text or thinking deltas allowed: the server streaming past max_tokens is cut
    provider: str
    model: str
    got_text: bool = False
    started: bool = False  # first token (text or thinking) seen: stall and whole-request limits from here on
    stopped: bool = False
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read: int = 0
    cache_write: int = 0
    pieces: int = 0  # text or thinking deltas: each is at least one output token
    truncated: bool = False  # cut by the client: the server streamed past max_tokens
    # message_delta said how long the answer was: message_start's output_tokens is a placeholder.
    output_final: bool = False
    tags: ThinkTags = field(default_factory=ThinkTags)  # `<think>` blocks inside the text

    @property
    def done(self) -> bool:
        return self.truncated

    def feed(self, raw: Any) -> Sequence[StreamEvent]:
        """What one raw stream event adds, and the event to pass on, if any."""
        try:
            etype = _field(raw, "type")
            if etype == "content_block_delta":
                return self.delta(raw["delta"])
            if etype == "message_start":
                u = _field(raw["message"], "usage")
                if u is not None:
                    self.count(u)
                    # Billed from here on: a stop before the end still has these counts.
                    report = self.report(partial=True)
                    return (report,) if report is not None else NOTHING
            elif etype == "message_delta":
                reason = _field(raw["delta"], "stop_reason")
                if reason:
                    self.stop_reason = reason
                u = _field(raw, "usage")
                if u is not None:
                    self.count(u, restated=True)
            elif etype == "message_stop":
                self.stopped = True
            # content_block_start/stop and unknown future events carry nothing we need
            return NOTHING
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise ProviderError(ErrorKind.MALFORMED_STREAM, f"unexpected event shape ({type(exc).__name__})",
                                provider=self.provider, model=self.model) from exc

    def end(self) -> Sequence[StreamEvent]:
        if self.stop_reason is None and not self.stopped:
            raise stream_ended_early(provider=self.provider, model=self.model, got_text=self.got_text)
        held = self._deltas(*self.tags.rest())
        if self.stop_reason is None and self.got_text:
            # message_stop with no reason (some compatible servers): the answer ended as it should.
            self.stop_reason = "end_turn"
        # Without message_delta's output count the engine counts the output from the text.
        final = self.report(partial=self.truncated or not self.output_final)
        finish = Finish(map_stop_reason(self.stop_reason))
        return (*held, final, finish) if final is not None else (*held, finish)

    def on_failure(self) -> Sequence[StreamEvent]:
        # Once the model produced output, visible or thinking, the request is billed:
        # message_start's input and cache counts price it (the engine counts the output).
        # Before that (an overloaded error right after message_start) nothing is billed.
        thinking = self._deltas(self.tags.rest_on_failure(), "")
        kept = self.report(partial=True) if self.started else None
        return (*thinking, kept) if kept is not None else thinking

    def delta(self, delta: Any) -> Sequence[StreamEvent]:
        kind = _field(delta, "type")
        if kind in ("text_delta", "thinking_delta"):
            self.pieces += 1
            if self.pieces > self.guard:
                # End the answer here, as truncated, rather than read forever (closing the
                # response hangs up).
                self.stop_reason, self.truncated = "max_tokens", True
                return NOTHING
        if kind == "text_delta" and delta["text"]:
            # A local server's Anthropic endpoint may send a model's <think> block as text.
            events = self._deltas(*self.tags.split(delta["text"]))
            self.started = self.started or self.tags.holding
            return (*events, *self.tags.still_held(delta["text"]))
        if kind == "thinking_delta":
            self.started = True  # not visible, but progress: the deadline is met
            released = self.tags.thinking_apart()  # a start held meanwhile is text
            thinking = delta.get("thinking")
            return self._deltas(thinking if isinstance(thinking, str) else "", released)
        # signature / tool-input deltas are neither text nor progress
        return NOTHING

    def _deltas(self, thinking: str, text: str) -> Sequence[StreamEvent]:
        events = stream_deltas(thinking, text)
        if events:
            self.started = True
            self.got_text = self.got_text or bool(text)
        return events

    def count(self, usage: Any, *, restated: bool = False) -> None:
        """`restated`: message_delta's counts, cumulative: they may grow the input (a server
        tool's results) but never lower it; a 0 there (SGLang's) is a server not restating it."""
        def kept(name: str, known: int | None) -> int | None:
            value = _int(_field(usage, name), known)
            if restated and value is not None and known is not None and value >= 0:
                return max(value, known)
            return value  # a count that is no count reaches UsageReport, which refuses it

        self.input_tokens = kept("input_tokens", self.input_tokens)
        self.cache_read = kept("cache_read_input_tokens", self.cache_read) or 0
        self.cache_write = kept("cache_creation_input_tokens", self.cache_write) or 0
        output = _int(_field(usage, "output_tokens"), None)
        if output is not None:
            self.output_tokens = output
            self.output_final = self.output_final or restated

    def report(self, *, partial: bool) -> UsageReport | None:
        """The counts so far, or None before the server reported its input."""
        if self.input_tokens is None:
            return None
        return _report(self.input_tokens, self.output_tokens or 0, self.cache_read, self.cache_write, partial=partial)


def _report(input_tokens: int, output_tokens: int, cache_read: int, cache_write: int, *,
            partial: bool) -> UsageReport:
    """Anthropic's counts on the common footing: input is every prompt token sent, cache reads
    and writes included (Anthropic reports them apart from its `input_tokens`)."""
    return UsageReport(
        input_tokens=input_tokens + cache_read + cache_write,
        output_tokens=output_tokens,
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
        partial=partial,
    )


def _field(obj: Any, name: str) -> Any:
    """An optional field of an event's JSON object: None when it is absent or the object is none."""
    return obj.get(name) if isinstance(obj, dict) else None


def _int(value: Any, default: int | None) -> int | None:
    # reported_count never raises: an infinite or huge count reaches UsageReport, which refuses it.
    return reported_count(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
