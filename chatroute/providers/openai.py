"""OpenAI and every OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio, OpenRouter).

Built on the official `openai` SDK's AsyncOpenAI, one client per provider, SDK retries off
(the engine fails over to another model instead of hammering the same one).

Event order contract: TextDelta* (after or among ReasoningDelta*) then, at the end, UsageReport
(only if the server reported usage) then Finish. Any failure raises ProviderError; text already
yielded stays yielded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# Imported here, not in client(): this module is only loaded by make_provider (lazily), and
# a ~0.5 s SDK import must not count against the first request's first-token deadline.
from openai import AsyncOpenAI, AsyncStream, DefaultAsyncHttpxClient, Timeout

from chatroute.providers.base import (
    ChatRequest,
    ErrorKind,
    Finish,
    FinishReason,
    ProviderError,
    StreamEvent,
    UsageReport,
    output_guard,
    reported_cost,
    reported_count,
)
from chatroute.providers.deadlines import StreamDeadlines
from chatroute.providers.errors import stream_ended_early
from chatroute.providers.sdk_provider import NOTHING, SDKProvider, stream_deltas
from chatroute.providers.think_tags import ThinkTags, opens_think_itself
from chatroute.providers.warmup import import_first_request_modules

if TYPE_CHECKING:
    from chatroute.config import ProviderConfig

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    # Hugging Face TGI's own names: the end-of-sequence token, or one of the request's stops.
    "eos_token": "stop",
    "stop_sequence": "stop",
    "end_turn": "stop",
    "length": "length",
    "max_tokens": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


# At most this many models remembered as refusing a temperature (or max_tokens).
MAX_NO_TEMPERATURE = 256


def map_finish(reason: str | None) -> FinishReason:
    return _FINISH.get(reason or "", "other")


class OpenAIProvider(SDKProvider[AsyncOpenAI]):
    """A chat-completions endpoint. Create once per configured provider and reuse."""

    kind = "openai"
    key_env = "OPENAI_API_KEY"

    def __init__(self, cfg: ProviderConfig) -> None:
        super().__init__(cfg)
        # Flipped off for good once this server rejects `stream_options` (older local servers).
        self.include_usage = True
        # Models that refused a temperature (OpenAI's reasoning models take only their default):
        # theirs is left out from then on.
        self.no_temperature: set[str] = set()
        # Models that refused max_tokens for max_completion_tokens: OpenAI's reasoning models
        # behind a gateway that passes requests on (it is no api.openai.com base_url).
        self.completion_tokens: set[str] = set()

    def _new_client(self, *, api_key: str, timeout_s: float, max_retries: int) -> tuple[AsyncOpenAI, Any]:
        http = DefaultAsyncHttpxClient()
        client = AsyncOpenAI(api_key=api_key, base_url=self.base_url, max_retries=max_retries, http_client=http,
                             timeout=Timeout(timeout_s, connect=min(timeout_s, 10.0)))
        return client, http

    def prepare(self) -> None:
        """Create the SDK client now, so the request's clock does not count its set-up. The
        chat resource is touched too: the SDK imports it lazily, on first use (~0.2 s cold)."""
        _ = self.client().chat.completions
        import_first_request_modules(self.kind)

    # -- request ------------------------------------------------------------------------

    def _params(self, req: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, str]] = []
        if req.system:
            messages.append({"role": "system", "content": req.system})
        messages.extend({"role": m.role, "content": m.content} for m in req.messages)
        params: dict[str, Any] = {"model": req.model, "messages": messages, "stream": True}
        if req.max_tokens is not None:
            # The official API wants max_completion_tokens (o-series/gpt-5 reject max_tokens);
            # compatible servers broadly only know max_tokens.
            official = self._official or req.model in self.completion_tokens
            params["max_completion_tokens" if official else "max_tokens"] = req.max_tokens
        if req.temperature is not None and req.model not in self.no_temperature:
            params["temperature"] = req.temperature
        if self.include_usage:
            params["stream_options"] = {"include_usage": True}
        return params

    async def _open(self, request: ChatRequest, limits: StreamDeadlines) -> Any:
        params = self._params(request)
        while True:  # each retry drops or renames one parameter, so at most three
            try:
                return await limits.before_first_token(self._post(params))
            except Exception as exc:
                if "stream_options" in params and _rejects(exc, "stream_options"):
                    self.include_usage = False
                    params.pop("stream_options")
                elif "max_tokens" in params and _rejects(exc, "max_tokens") and _rejects(exc, "max_completion_tokens"):
                    # "Unsupported parameter: 'max_tokens' … Use 'max_completion_tokens' instead."
                    if len(self.completion_tokens) >= MAX_NO_TEMPERATURE:
                        self.completion_tokens.clear()
                    self.completion_tokens.add(request.model)
                    params["max_completion_tokens"] = params.pop("max_tokens")
                elif "temperature" in params and _rejects(exc, "temperature"):
                    # Only `chatroute serve` sends one (its client's): a routed request must not
                    # fail for a parameter that only shifts randomness.
                    if len(self.no_temperature) >= MAX_NO_TEMPERATURE:  # names a client made up, for a local server
                        self.no_temperature.clear()
                    self.no_temperature.add(request.model)
                    params.pop("temperature")
                else:
                    raise

    async def _post(self, params: dict[str, Any]) -> AsyncStream[Any]:
        """The SDK's own request, error mapping and SSE decoding, with each chunk handed back as
        the JSON object the server sent: building the SDK's pydantic model of a chunk cost more
        CPU than everything else done with a token, and the adapter reads four fields of it."""
        return await self.client().post("/chat/completions", body=params, cast_to=object, stream=True,
                                        stream_cls=_ChunkStream)

    def _whole_answer(self, body: Any) -> Sequence[Any]:
        # A chat.completion, though a stream was asked for: the one chunk it amounts to, each
        # choice's message its delta (content, reasoning_content), the usage beside it.
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list):
            return NOTHING
        # A document is whole: ended as [DONE] ends a stream, finish_reason or not.
        return ({"choices": [{"index": c.get("index", 0), "delta": c.get("message"),
                              "finish_reason": c.get("finish_reason")} for c in choices if isinstance(c, dict)],
                 "usage": body.get("usage")}, STREAM_DONE)

    def _reader(self, request: ChatRequest) -> _ChunkReader:
        return _ChunkReader(guard=output_guard(request.max_tokens), provider=self.name, model=request.model,
                            tags=ThinkTags(lone_close=self.cfg.on_own_network() and opens_think_itself(request.model)))


# Handed to the reader after the last chunk when the server closed the stream with `data: [DONE]`.
STREAM_DONE = object()


class _ChunkStream(AsyncStream[object]):
    """The SDK's stream, which ends its iteration alike on `data: [DONE]` and on a body that just
    stopped; this one tells the two apart, by passing STREAM_DONE on after the last chunk. Some
    local servers never write a finish_reason: [DONE] is then all that says the answer is whole."""

    done = False

    async def _iter_events(self) -> AsyncIterator[Any]:  # the SDK's ServerSentEvents, in a private module
        async for sse in super()._iter_events():
            if sse.data.startswith("[DONE]"):
                self.done = True
            yield sse

    async def __aiter__(self) -> AsyncIterator[object]:
        async for item in super().__aiter__():
            yield item
        if self.done:
            yield STREAM_DONE


@dataclass
class _ChunkReader:
    """What one stream of chat.completion.chunk objects has told so far."""

    guard: int  # chunks carrying text or reasoning allowed: each is at least one output token
    provider: str
    model: str
    got_text: bool = False
    started: bool = False
    done: bool = False  # cut by the client: the server streamed past max_tokens
    finish: str | None = None
    usage: UsageReport | None = None
    pieces: int = 0
    server_done: bool = False  # the stream closed with `data: [DONE]`
    tags: ThinkTags = field(default_factory=ThinkTags)  # `<think>` blocks inside the content

    def feed(self, raw: Any) -> Sequence[StreamEvent]:
        if raw is STREAM_DONE:
            self.server_done = True
            return NOTHING
        try:
            text, thinking, reason, usage = _read_chunk(raw)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise ProviderError(ErrorKind.MALFORMED_STREAM, f"unexpected chunk shape ({type(exc).__name__})",
                                provider=self.provider, model=self.model) from exc
        if text or thinking:
            self.pieces += 1
            if self.pieces > self.guard:
                # The server streams past max_tokens: end the answer here, as truncated, rather
                # than read forever (closing the response hangs up).
                self.finish, self.done = "length", True
                return NOTHING
        if usage is not None:
            self.usage = usage  # some servers repeat running usage; the last one wins
        if reason:
            self.finish = reason
        released = self.tags.thinking_apart() if thinking else ""
        held: Sequence[StreamEvent] = NOTHING
        if text:
            content = text
            tagged, text = self.tags.split(content)
            thinking += tagged
            self.started = self.started or self.tags.holding
            held = self.tags.still_held(content)
        return (*self._deltas(thinking, released + text), *held)

    def _deltas(self, thinking: str, text: str) -> Sequence[StreamEvent]:
        events = stream_deltas(thinking, text)
        if events:
            self.started = True  # reasoning is progress too: the first-token deadline is met
            self.got_text = self.got_text or bool(text)
        return events

    def end(self) -> Sequence[StreamEvent]:
        held = self._deltas(*self.tags.rest())
        if self.finish is None and self.server_done and self.got_text:
            self.finish = "stop"  # no reason written, but the server ended the answer as it should
        if self.finish is None:
            raise stream_ended_early(provider=self.provider, model=self.model, got_text=self.got_text)
        finish = Finish(map_finish(self.finish))
        return (*held, self.usage, finish) if self.usage is not None else (*held, finish)

    def on_failure(self) -> Sequence[StreamEvent]:
        # Usage comes only in the last chunk, so a stream cut off reported none. One that failed at
        # its end (no text and no finish reason before [DONE]) may have: it is what was billed.
        held = self._deltas(self.tags.rest_on_failure(), "")
        return (*held, self.usage) if self.usage is not None else held


def _rejects(exc: BaseException, param: str) -> bool:
    """Whether `exc` is the server refusing the request for `param`."""
    status = getattr(exc, "status_code", None)
    if status not in (400, 422):
        return False
    text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}"
    return param in text


def _read_chunk(chunk: Any) -> tuple[str, str, str | None, UsageReport | None]:
    """(visible text, reasoning text, finish_reason, usage) of one chat.completion.chunk (the
    server's JSON object; a shape that is not one raises AttributeError or TypeError)."""
    text = ""
    thinking = ""
    reason: str | None = None
    raw = chunk.get("usage")
    for choice in chunk.get("choices") or ():
        if choice.get("index", 0) not in (0, None):
            continue  # n > 1 is never requested; ignore stray choices
        delta = choice.get("delta")
        if delta is not None:
            content = delta.get("content")
            if content:
                text += content
            # DeepSeek/vLLM `reasoning_content`, OpenRouter/Ollama `reasoning`: not shown, but progress.
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str):
                thinking += reasoning
        if choice.get("finish_reason"):
            reason = choice["finish_reason"]
        if raw is None:
            raw = choice.get("usage")  # Moonshot's stream: the usage inside the finishing choice
    return text, thinking, reason, (_usage(raw) if raw is not None else None)


def _usage(raw: Any) -> UsageReport | None:
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    total = raw.get("total_tokens")
    if prompt is None:
        return None  # no input count (nulls, as some servers send): the turn is estimated, not free
    partial = False
    if completion is None:
        if _count(total) and _count(prompt) and total >= prompt:
            completion = total - prompt  # what the total holds beyond the prompt is the output
        else:
            partial = True  # the output is counted from what streamed, not billed as none
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = raw.get("prompt_cache_hit_tokens")  # DeepSeek's spelling
    if cached is None:
        cached = raw.get("cached_tokens")  # Kimi's (Moonshot)
    output = reported_count(completion) + _reasoning_apart(raw, prompt, completion)
    return UsageReport(
        input_tokens=reported_count(prompt),
        output_tokens=output,
        cached_input_tokens=reported_count(cached),
        cache_write_tokens=0,
        input_includes_cached=True,
        reported_cost_usd=_reported_cost(raw),
        partial=partial,
        reasoning_tokens=_reasoning_of(raw, output),
    )


def _reasoning_of(raw: dict[str, Any], output: int) -> int:
    """The server's count of the thinking among `output` tokens; 0 for none or a count that is
    no part of them."""
    details = raw.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return reasoning if isinstance(reasoning, int) and _count(reasoning) and 0 < reasoning <= output else 0


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _reported_cost(raw: dict[str, Any]) -> float | None:
    """What the request cost as the server reports it (usage.cost), or None. OpenRouter writes a
    number; Perplexity an object whose total_cost holds its request fee as well as the tokens.
    With the user's own provider key on OpenRouter (is_byok) usage.cost is OpenRouter's fee
    alone; the provider billed that key cost_details.upstream_inference_cost, which is added.
    Without it the fee is not the cost."""
    value = raw.get("cost")
    cost = reported_cost(value.get("total_cost") if isinstance(value, dict) else value)
    if raw.get("is_byok") is not True:
        return cost
    details = raw.get("cost_details")
    upstream = reported_cost(details.get("upstream_inference_cost")) if isinstance(details, dict) else None
    return cost + upstream if cost is not None and upstream is not None else None


def _reasoning_apart(raw: dict[str, Any], prompt: Any, completion: Any) -> int:
    """Output tokens a server counts outside completion_tokens, to bill as output; 0 when
    completion_tokens holds them all. OpenAI counts reasoning in completion_tokens; xAI (and
    others) count only the visible text there, the reasoning in
    completion_tokens_details.reasoning_tokens; Gemini's OpenAI-compatible endpoint counts its
    thoughts in total_tokens alone. total_tokens tells which: prompt + completion, or more."""
    details = raw.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    counts = [n for n in (prompt, completion, raw.get("total_tokens"))
              if isinstance(n, int) and not isinstance(n, bool) and n >= 0]
    if len(counts) < 3:
        return 0  # a count that is no count is refused on its own (UsageReport)
    prompt, completion, total = counts
    gap = total - prompt - completion
    if reasoning is None:  # no breakdown: what the total holds beyond both is generated output
        return max(gap, 0)
    if not isinstance(reasoning, int) or isinstance(reasoning, bool):
        return 0
    return reasoning if reasoning > 0 and gap == reasoning else 0
