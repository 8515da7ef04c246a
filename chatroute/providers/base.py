"""What every provider adapter speaks: the request, the stream events and the error kinds.

The engine only sees these types, so OpenAI, Anthropic and OpenAI-compatible servers are
interchangeable to it, and faults are classified once, here, into kinds the router acts on.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass
class Sending:
    """How far one request got, for pricing a turn that ends with no reply (Esc, a timeout): the
    provider may bill a request it received, never one that did not leave. An adapter that sees
    its HTTP client marks it (`tracked`); for one that does not, the call's start stands for it."""

    tracked: bool = False
    sent: bool = False  # the whole request went out (the last one, after any redirect or retry)
    answered: bool = False  # response headers came back for it
    accepted: bool = False  # ... and they opened a stream: the server took it

    def may_be_billed(self) -> bool:
        """Sent, and not answered by anything but a stream (an error status is never billed)."""
        return self.sent and (self.accepted or not self.answered)


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request, provider-neutral.

    `model` is the provider's own model id (no `provider/` prefix). The system prompt is
    kept apart from `messages` because Anthropic takes it as a separate field.
    """

    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    # Event-loop time by which the first token must arrive, whatever the provider's own limit:
    # what remains of a routed turn's failover deadline. None: only the provider's limits.
    first_token_deadline: float | None = None
    # Where the adapter notes how far the request got; the engine prices a turn stopped with no reply by it.
    sending: Sending | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Thinking the model streamed (Anthropic `thinking`, OpenAI-compatible `reasoning_content`):
    never shown, but output the provider bills, so a stream that fails after it is not free."""

    text: str


@dataclass(frozen=True)
class HeldDelta:
    """Content held back while it may be thinking whose `<think>` was the chat template's (an R1
    distill, QwQ: think_tags.py): not yet text or thinking, until the lone `</think>` tells (then
    it comes again as a ReasoningDelta or a TextDelta). The model is most likely thinking, and a
    stream stopped meanwhile bills it as such."""

    text: str


@dataclass(frozen=True)
class UsageReport:
    """Token usage as the API reported it, on one footing for every provider (as LiteLLM's
    prompt_tokens): `input_tokens` is every prompt token sent; `cached_input_tokens` (cache
    reads) and `cache_write_tokens` are parts of it, reported apart because they are priced
    apart. The adapters convert (Anthropic reports its input without cache reads and writes).
    `input_includes_cached=False` is the other convention, kept for callers that build a
    report from raw Anthropic figures.
    """

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    input_includes_cached: bool = True
    reported_cost_usd: float | None = None  # OpenRouter's usage.cost, when present
    # The stream ended before the final counts (a mid-stream failure, or cut at max_tokens):
    # the input and cache figures are the server's, output_tokens is not final: count it.
    partial: bool = False
    # What was wrong with the report as received (negative, absurd or non-numeric counts, an
    # impossible cost): those fields are zeroed here and the engine estimates the turn instead.
    problems: tuple[str, ...] = ()
    # Of output_tokens, the thinking, as the provider counted it (OpenAI's
    # completion_tokens_details.reasoning_tokens); 0 when it gave no count (Anthropic gives none).
    # Told to clients, not billed apart: output_tokens holds it already.
    reasoning_tokens: int = 0

    def __post_init__(self) -> None:
        # Checked on construction so no adapter can hand the engine a count that overflows
        # SQLite or the cost arithmetic, or a negative one that would read as a saving.
        problems = list(self.problems)
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            problem = _count_problem(value)
            if problem:
                problems.append(f"{name} {problem}")
                object.__setattr__(self, name, 0)
        cost = self.reported_cost_usd
        if cost is not None and not (math.isfinite(cost) and 0 <= cost <= MAX_REPORTED_COST_USD):
            problems.append(f"cost {cost:g} USD is impossible")
            object.__setattr__(self, "reported_cost_usd", None)
        if len(problems) != len(self.problems):
            object.__setattr__(self, "problems", tuple(problems))


# No request comes near this many tokens (the largest context windows are ~10M): a larger
# count is a broken or hostile report, not usage.
# Anthropic's API requires max_tokens on every request: what is sent when nothing else says how
# much (a model with no output limit in the table or the config).
ANTHROPIC_DEFAULT_MAX_TOKENS = 4096
MAX_REPORTED_TOKENS = 100_000_000
MAX_REPORTED_COST_USD = 1_000.0  # for one turn
_NOT_A_COUNT = -(2**62)  # what reported_count gives for a value that is no number at all
_COUNT_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")


def reported_count(value: object, default: int = 0) -> int:
    """A token count from a server's JSON as an int, never raising: None gives `default`;
    anything that is no finite number gives a value UsageReport flags as a problem."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _NOT_A_COUNT
    if isinstance(value, float) and not math.isfinite(value):
        return _NOT_A_COUNT
    return int(value)


def reported_cost(value: object) -> float | None:
    """A provider-reported cost as a float (possibly non-finite: UsageReport refuses it), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float
        return math.inf


def _count_problem(value: object) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or value == _NOT_A_COUNT:
        return "is not a number"
    if value < 0:
        return f"is negative ({value})"
    if value > MAX_REPORTED_TOKENS:
        digits = len(str(value)) if value < 10**4300 else 4300  # str() of a longer int raises
        return f"is impossibly large ({digits} digits)"
    return None


FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "other"]

# A request without max_tokens is still bounded: no model streams more than this many text
# chunks (each carries at least one token), so a server that never ends a stream cannot
# hold a turn forever.
UNBOUNDED_OUTPUT_GUARD = 131_072


def output_guard(max_tokens: int | None) -> int:
    """How many text chunks to read before the client ends the stream as finish "length".

    A server that honours max_tokens ends its stream first; one that ignores it (a looping
    local model, a buggy proxy) is cut when a chunk beyond the limit arrives, which is dropped.
    """
    return max_tokens if max_tokens is not None and max_tokens > 0 else UNBOUNDED_OUTPUT_GUARD


@dataclass(frozen=True)
class Finish:
    reason: FinishReason


StreamEvent = TextDelta | ReasoningDelta | HeldDelta | UsageReport | Finish


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER = "server"
    AUTH = "auth"
    QUOTA = "quota"  # the account's quota or credit is spent: billing, not a rate limit
    # The credit pays for fewer output tokens than max_tokens asks (OpenRouter's 402 "... or
    # fewer max_tokens"): this request's, not the account's, so a lower max_tokens may do.
    CREDIT_LIMITED = "credit_limited"
    NOT_FOUND = "not_found"
    # A 404 on the path, not the API's word that the model is missing: a wrong base_url.
    ENDPOINT_NOT_FOUND = "endpoint_not_found"
    CONTEXT_OVERFLOW = "context_overflow"
    # The request alone asks for more than the provider's whole per-minute token limit (Groq's
    # 413 "Limit 6000, Requested 9000"): no wait lets it through there, another provider may take it.
    REQUEST_TOO_LARGE = "request_too_large"
    CONTENT_POLICY = "content_policy"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    MALFORMED_STREAM = "malformed_stream"
    BAD_REQUEST = "bad_request"


# Kinds after which another deployment may well succeed, so a routed turn fails over.
REROUTABLE = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER,
        ErrorKind.CONNECTION,
        ErrorKind.TIMEOUT,
        ErrorKind.MALFORMED_STREAM,
        ErrorKind.AUTH,
        ErrorKind.QUOTA,
        ErrorKind.CREDIT_LIMITED,
        ErrorKind.NOT_FOUND,
        ErrorKind.ENDPOINT_NOT_FOUND,
        ErrorKind.CONTEXT_OVERFLOW,
        ErrorKind.REQUEST_TOO_LARGE,
    }
)


# ProviderError.extra key: the server had accepted the request (answered 200 with a stream)
# when it failed, so a timeout there is chatroute hanging up on a request being processed.
ACCEPTED = "accepted"


@dataclass
class ProviderError(Exception):
    """A classified provider failure. `message` is one line, safe to show (no keys)."""

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after: float | None = None
    provider: str = ""
    model: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        code = f"{self.status} " if self.status else ""
        return f"{code}{self.kind.value}: {self.message}"

    @property
    def short(self) -> str:
        """A compact label for reroute trails, e.g. '429' or 'timeout'; 'quota' for a spent quota,
        which OpenAI sends as a 429 that is no rate limit."""
        if self.kind is ErrorKind.QUOTA:
            return self.kind.value
        return str(self.status) if self.status else self.kind.value


class Provider(Protocol):
    """A configured provider endpoint with one shared async SDK client."""

    name: str
    kind: str

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Yield events for one completion; raise ProviderError on any failure."""
        ...

    def prepare(self) -> None:
        """Create the SDK client ahead of the request (raises ProviderError without a key)."""
        ...

    async def aclose(self) -> None: ...
