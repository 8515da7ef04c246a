"""OpenAI and every OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio, OpenRouter).

Built on the official `openai` SDK's AsyncOpenAI, one client per provider, SDK retries off
(the engine fails over to another model instead of hammering the same one).

Event order contract: TextDelta* (after or among ReasoningDelta*) then, at the end, UsageReport
(only if the server reported usage) then Finish. Any failure raises ProviderError; text already
yielded stays yielded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    UsageReport,
    output_guard,
    reported_cost,
    reported_count,
)
from chatroute.providers.deadlines import StreamDeadlines
from chatroute.providers.errors import (
    is_official_endpoint,
    map_exception,
    missing_key,
    stream_ended_early,
)
from chatroute.providers.http import check_api_response, same_origin_guard
from chatroute.providers.warmup import import_first_request_modules

if TYPE_CHECKING:
    from chatroute.config import ProviderConfig

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "end_turn": "stop",
    "length": "length",
    "max_tokens": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def map_finish(reason: str | None) -> FinishReason:
    return _FINISH.get(reason or "", "other")


class OpenAIProvider:
    """A chat-completions endpoint. Create once per configured provider and reuse."""

    kind = "openai"

    def __init__(self, cfg: ProviderConfig) -> None:
        self.cfg = cfg
        self.name: str = cfg.name
        self.base_url: str | None = cfg.resolved_base_url()
        self._key: str | None = cfg.api_key()
        self._client: AsyncOpenAI | None = None
        # Flipped off for good once this server rejects `stream_options` (older local servers).
        self.include_usage = True
        # The official API wants max_completion_tokens (o-series/gpt-5 reject max_tokens);
        # compatible servers broadly only know max_tokens.
        self._official = is_official_endpoint(self.base_url)

    # -- client -------------------------------------------------------------------------

    def client(self) -> AsyncOpenAI:
        if self._client is None:
            if self._key is None and self._official:
                env = getattr(self.cfg, "default_key_env", lambda: None)()
                raise missing_key(provider=self.name, env=env or "OPENAI_API_KEY")
            timeout = float(self.cfg.timeout_s)
            http = DefaultAsyncHttpxClient()
            self._client = AsyncOpenAI(
                # Keyless compatible servers still get a header: the SDK insists on a key.
                api_key=self._key or "not-needed",
                base_url=self.base_url,
                timeout=Timeout(timeout, connect=min(timeout, 10.0)),
                max_retries=int(getattr(self.cfg, "max_retries", 0) or 0),
                http_client=http,
            )
            client = self._client
            http.event_hooks = {"request": [same_origin_guard(lambda: str(client.base_url))]}
        return self._client

    def prepare(self) -> None:
        """Create the SDK client now, so the request's clock does not count its set-up. The
        chat resource is touched too: the SDK imports it lazily, on first use (~0.2 s cold)."""
        _ = self.client().chat.completions
        import_first_request_modules(self.kind)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    # -- request ------------------------------------------------------------------------

    def _params(self, req: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, str]] = []
        if req.system:
            messages.append({"role": "system", "content": req.system})
        messages.extend({"role": m.role, "content": m.content} for m in req.messages)
        params: dict[str, Any] = {"model": req.model, "messages": messages, "stream": True}
        if req.max_tokens is not None:
            params["max_completion_tokens" if self._official else "max_tokens"] = req.max_tokens
        if req.temperature is not None:
            params["temperature"] = req.temperature
        if self.include_usage:
            params["stream_options"] = {"include_usage": True}
        return params

    async def _open(self, req: ChatRequest, limits: StreamDeadlines) -> Any:
        params = self._params(req)
        try:
            return await limits.before_first_token(self._post(params))
        except Exception as exc:
            if "stream_options" in params and _rejects_stream_options(exc):
                self.include_usage = False
                params.pop("stream_options")
                return await limits.before_first_token(self._post(params))
            raise

    async def _post(self, params: dict[str, Any]) -> AsyncStream[Any]:
        """The SDK's own request, error mapping and SSE decoding, with each chunk handed back as
        the JSON object the server sent: building the SDK's pydantic model of a chunk cost more
        CPU than everything else done with a token, and the adapter reads four fields of it."""
        return await self.client().post("/chat/completions", body=params, cast_to=object, stream=True,
                                        stream_cls=AsyncStream[object])


    # -- stream -------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        limits = StreamDeadlines.start(self.cfg, request, provider=self.name)
        sdk_stream: Any = None
        failure: ProviderError | None = None
        got_text = False
        started = False  # first token (text or reasoning) seen: stall and whole-request limits from here on
        finish: str | None = None
        usage: UsageReport | None = None
        guard = output_guard(request.max_tokens)
        pieces = 0  # chunks carrying text or reasoning: each is at least one output token
        try:
            sdk_stream = await self._open(request, limits)
            check_api_response(getattr(sdk_stream, "response", None), provider=self.name, model=request.model)
            chunks = sdk_stream.__aiter__()
            while True:
                try:
                    if started:
                        chunk = await limits.after_first_token(anext(chunks))
                    else:
                        chunk = await limits.before_first_token(anext(chunks))
                except StopAsyncIteration:
                    break
                try:
                    text, thinking, reason, chunk_usage = _read_chunk(chunk)
                except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
                    raise ProviderError(
                        ErrorKind.MALFORMED_STREAM,
                        f"unexpected chunk shape ({type(exc).__name__})",
                        provider=self.name,
                        model=request.model,
                    ) from exc
                if text or thinking:
                    pieces += 1
                    if pieces > guard:
                        # The server streams past max_tokens: end the answer here, as truncated,
                        # rather than read forever (closing the response below hangs up).
                        finish = "length"
                        break
                if chunk_usage is not None:
                    usage = chunk_usage  # some servers repeat running usage; the last one wins
                if reason:
                    finish = reason
                if thinking:
                    started = True  # reasoning is progress: the first-token deadline is met
                    yield ReasoningDelta(thinking)
                if text:
                    got_text = started = True
                    yield TextDelta(text)
            if finish is None:
                raise stream_ended_early(provider=self.name, model=request.model, got_text=got_text)
            if usage is not None:
                yield usage
            yield Finish(map_finish(finish))
        except ProviderError as err:
            if not err.provider:
                err.provider = self.name
            raise
        except Exception as exc:
            # SDK exceptions quote the raw error body, which may echo the key, so the mapped
            # error is raised outside this block: no __cause__/__context__ chain to print.
            failure = map_exception(exc, provider=self.name, model=request.model, secrets=(self._key,))
            failure.extra.setdefault("cause", type(exc).__name__)
        finally:
            if sdk_stream is not None:
                try:
                    await sdk_stream.close()
                except Exception:  # closing a broken connection may fail; nothing to save
                    pass
        if failure is not None:
            raise failure


def _rejects_stream_options(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None)
    if status not in (400, 422):
        return False
    text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}"
    return "stream_options" in text


def _read_chunk(chunk: Any) -> tuple[str, str, str | None, UsageReport | None]:
    """(visible text, reasoning text, finish_reason, usage) of one chat.completion.chunk (the
    server's JSON object; a shape that is not one raises AttributeError or TypeError)."""
    text = ""
    thinking = ""
    reason: str | None = None
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
    raw = chunk.get("usage")
    return text, thinking, reason, (_usage(raw) if raw is not None else None)


def _usage(raw: Any) -> UsageReport | None:
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    if prompt is None and completion is None:
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = raw.get("prompt_cache_hit_tokens")  # DeepSeek's spelling
    return UsageReport(
        input_tokens=reported_count(prompt),
        output_tokens=reported_count(completion),
        cached_input_tokens=reported_count(cached),
        cache_write_tokens=0,
        input_includes_cached=True,
        reported_cost_usd=reported_cost(raw.get("cost")),  # OpenRouter
    )
