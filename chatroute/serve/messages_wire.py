"""The Anthropic Messages wire format of `chatroute serve` (POST /v1/messages): request bodies
checked into the same `ServedRequest` as a chat completion, and the message, event-stream and
error shapes the `anthropic` SDK (and tools built on it) read back.

As on the OpenAI side, only what chatroute can honour is accepted: text blocks, a system prompt,
temperature and max_tokens. Tools, images, stop sequences, extended thinking, an assistant
prefill and anything else it does not know would change the answer or cannot be kept on every
model, so each is a 400 naming it; what only shifts sampling or bookkeeping is accepted and not
forwarded (IGNORED)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from chatroute.providers.base import Message
from chatroute.serve.wire import (
    ApiError,
    InputField,
    ServedRequest,
    SurrogateCarry,
    clean_text,
    each_message,
    integer_field,
    last_prompt,
    model_of,
    number_field,
    object_field,
    preset_of,
    refuse_unknown,
    stream_of,
    temperature_of,
    text_of,
    user_of,
)

ACCEPTED = frozenset({"model", "messages", "system", "max_tokens", "stream", "temperature", "stop_sequences",
                      "thinking", "output_config"})
# Accepted and not passed on: sampling knobs, bookkeeping, and hints to Anthropic's own prompt
# cache and scheduling that change nothing about what a good answer is.
IGNORED = frozenset({"metadata", "top_p", "top_k", "service_tier", "cache_control", "speed", "user_profile_id",
                     "workspace_id"})

# What POST /v1/messages/count_tokens takes: a Messages request without what shapes only the answer.
COUNT_ACCEPTED = frozenset({"model", "messages", "system", "thinking", "output_config"})

MESSAGES_PATH = "/v1/messages"
# The system prompt is a field of its own here, beside the messages: a refusal of an input too
# large names both (on chat completions it is one of the messages).
ANTHROPIC_INPUT = InputField("messages", "shorten the messages or the system prompt")
COUNT_PATH = MESSAGES_PATH + "/count_tokens"
MODELS_PATH = "/v1/models"


def anthropic_wire(scope: Mapping[str, Any]) -> bool:
    """Whether to answer a request in Anthropic's shapes: always on /v1/messages and its
    count_tokens; on /v1/models (and a model under it), which both SDKs call, when the client is
    Anthropic's (its SDK sends anthropic-version with every request, OpenAI's never does). A
    trailing slash is the same path (see app.TrailingSlash)."""
    path = scope.get("path", "").rstrip("/")
    if path in (MESSAGES_PATH, COUNT_PATH):
        return True
    return (path == MODELS_PATH or path.startswith(MODELS_PATH + "/")) and any(
        name == b"anthropic-version" for name, _ in scope.get("headers", ()))


# Anthropic's error types by HTTP status (its SDK maps the status to an exception class; the type
# is what a client shows).
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                403: "permission_error", 404: "not_found_error", 408: "timeout_error", 413: "request_too_large",
                429: "rate_limit_error", 503: "overloaded_error", 504: "timeout_error", 529: "overloaded_error"}


def error_body(err: ApiError) -> dict[str, Any]:
    kind = err.anthropic_type or _ERROR_TYPES.get(err.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}


# Parameters of Anthropic's API that ask for what a router in front of several providers cannot
# do, each refused unless null with what it would need. The anthropic SDK sends none of them unless
# its caller sets one (each defaults to omitted), so a plain call never meets these.
_CANNOT = {
    "container": "chatroute serve runs no containers (Anthropic's code execution and skills): leave 'container' "
                 "unset",
    "diagnostics": "chatroute serve gives no prompt-cache diagnostics: it keeps no earlier messages to compare "
                   "with; leave 'diagnostics' unset",
    "inference_geo": "chatroute serve cannot keep a request to a region ('inference_geo'): each model runs "
                     "where its provider runs it; leave it unset",
}


def _refuse_what_cannot_be_honoured(body: dict[str, Any]) -> None:
    for name, why in _CANNOT.items():
        if body.get(name) is not None:
            raise ApiError(400, why, code="unsupported_parameter", param=name)


def parse_messages_request(body: dict[str, Any]) -> str:
    """Check the fields of a Messages request; returns the model named."""
    _refuse_what_cannot_be_honoured(body)
    refuse_unknown(body, ACCEPTED, IGNORED)
    stops = body.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        raise ApiError(400, "'stop_sequences' must be an array of strings", param="stop_sequences")
    if stops:
        raise ApiError(400, "chatroute serve does not support 'stop_sequences'", param="stop_sequences")
    _check_reasoning(body)
    _check_hints(body)
    return model_of(body)


def parse_count_request(body: dict[str, Any]) -> str:
    """Check the fields of a count_tokens request, refused where /v1/messages would refuse them
    (a count of what cannot be sent is no use); returns the model named."""
    _refuse_what_cannot_be_honoured(body)
    refuse_unknown(body, COUNT_ACCEPTED, IGNORED)
    _check_reasoning(body)
    _check_hints(body)
    return model_of(body)


def _check_hints(body: dict[str, Any]) -> None:
    """The types of what is accepted and not passed on (Anthropic's ranges): a wrong one is a 400
    as on the OpenAI wires, not dropped. The user_id keys the cache (end_user)."""
    end_user(body)
    number_field(body.get("top_p"), "top_p", 0, 1)
    integer_field(body.get("top_k"), "top_k", least=0)


def end_user(body: dict[str, Any]) -> str | None:
    """Whom the client serves: `metadata.user_id`, a string (empty: none), or None. Anthropic's
    metadata holds nothing else, and its API refuses another key (null or not): so does serve, or
    a request it answers would be one Anthropic refuses."""
    metadata = object_field(body.get("metadata"), "metadata")
    other = sorted(key for key in metadata if key != "user_id")
    if other:
        name = f"metadata.{other[0][:64]}"  # not repeated back whole: it may be any length
        raise ApiError(400, f"'{name}' is not allowed: Anthropic's metadata holds only 'user_id'", param=name)
    return user_of(metadata.get("user_id"), "metadata.user_id")


def _check_reasoning(body: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is not None and not (isinstance(thinking, dict) and thinking.get("type") == "disabled"):
        raise ApiError(400, "chatroute serve does not support extended 'thinking'", param="thinking")
    # Its effort is OpenAI's reasoning_effort, accepted there and left to the routed model; a
    # structured output format would change the answer.
    output = body.get("output_config")
    if output is not None and not (isinstance(output, dict)
                                   and all(v is None for k, v in output.items() if k != "effort")):
        raise ApiError(400, "chatroute serve does not support 'output_config' other than its 'effort'",
                       param="output_config")


def build_messages_request(body: dict[str, Any], model: str, *, pinned: str | None) -> ServedRequest:
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise ApiError(400, "'max_tokens' is required", param="max_tokens")
    integer_field(max_tokens, "max_tokens", least=1)
    stream = stream_of(body)
    temperature = temperature_of(body, 1)
    system = _system(body.get("system"))
    history, prompt = _turns(body.get("messages"))
    return ServedRequest(model=model, preset=preset_of(model, pinned), pinned=pinned, system=system,
                         history=history, prompt=prompt, stream=stream, include_usage=stream,
                         max_tokens=max_tokens, temperature=temperature, user=end_user(body),
                         input_field=ANTHROPIC_INPUT)


def build_count_request(body: dict[str, Any], model: str, *, pinned: str | None) -> ServedRequest:
    system = _system(body.get("system"))
    history, prompt = _turns(body.get("messages"))
    return ServedRequest(model=model, preset=preset_of(model, pinned), pinned=pinned, system=system,
                         history=history, prompt=prompt, stream=False, include_usage=False, max_tokens=None,
                         temperature=None, input_field=ANTHROPIC_INPUT)


def _system(raw: Any) -> str | None:
    if raw is None:
        return None
    text = text_of(raw, "system", pieces="blocks")
    return text if text.strip() else None


def _turns(raw: Any) -> tuple[tuple[Message, ...], str]:
    turns: list[Message] = []
    for where, m in each_message(raw):
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise ApiError(400, f"{where}.role must be user or assistant (the system prompt is 'system')",
                           param=where)
        turns.append(Message(role=role, content=text_of(m.get("content"), where, pieces="blocks")))
    return last_prompt(turns, "the last message must be the user's: an assistant prefill is not supported by "
                              "chatroute serve")


# -- responses ------------------------------------------------------------------------------

# The ledger's finish reasons (OpenAI's names) as Anthropic's stop_reason. A provider's safety
# filter cutting the answer is Anthropic's "refusal": "end_turn" told a client the answer was whole.
_STOP_REASONS = {"length": "max_tokens", "content_filter": "refusal"}


def stop_reason(finish: str | None) -> str:
    return _STOP_REASONS.get(finish or "", "end_turn")


def usage(input_tokens: int, output_tokens: int, cached: int, cache_write: int) -> dict[str, int]:
    """Anthropic's usage: input_tokens without the prompt-cache reads and writes, which it counts
    apart (the ledger's input_tokens, on OpenAI's footing, holds all three)."""
    return {"input_tokens": max(0, input_tokens - cached - cache_write), "output_tokens": output_tokens,
            "cache_read_input_tokens": cached, "cache_creation_input_tokens": cache_write}


def model_info(model: dict[str, Any]) -> dict[str, Any]:
    """A model of GET /v1/models (OpenAI's shape) as Anthropic's models API gives it. No release
    date is known for most (a local server's, a router's virtual name): Anthropic gives the epoch
    then."""
    return {"type": "model", "id": model["id"], "display_name": model["id"], "created_at": "1970-01-01T00:00:00Z",
            "lifecycle": "active"}


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def message_body(model: str, text: str, stop: str, use: dict[str, int], decision: dict[str, Any]) -> dict[str, Any]:
    return {"id": message_id(), "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": clean_text(text)}], "stop_reason": stop, "stop_sequence": None,
            "usage": use, "chatroute": decision}


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


class EventWriter:
    """The events of one streamed message. As with ChunkWriter, the frame around a text delta is
    made once, and a UTF-16 high surrogate that ends one delta waits for the low one."""

    _PRE = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, ' \
           b'"delta": {"type": "text_delta", "text": '
    _POST = b"}}\n\n"

    def __init__(self, model: str) -> None:
        self.model = model
        self._carry = SurrogateCarry()

    def start(self, input_tokens: int = 0) -> bytes:
        """`input_tokens`: the prompt as counted before the answer; the billed usage is known at
        the end only, and message_delta carries it."""
        message: dict[str, Any] = {"id": message_id(), "type": "message", "role": "assistant", "model": self.model,
                                   "content": [], "stop_reason": None, "stop_sequence": None,
                                   "usage": {"input_tokens": input_tokens, "output_tokens": 0}}
        return (_event("message_start", {"type": "message_start", "message": message})
                + _event("content_block_start", {"type": "content_block_start", "index": 0,
                                                 "content_block": {"type": "text", "text": ""}})
                + _event("ping", {"type": "ping"}))

    def text(self, text: str) -> bytes:
        text = self._carry.take(text)
        return self._PRE + json.dumps(text).encode() + self._POST if text else b""

    def finish(self, stop: str, use: dict[str, int], decision: dict[str, Any]) -> bytes:
        rest = self._carry.rest()
        return ((self.text(rest) if rest else b"")
                + _event("content_block_stop", {"type": "content_block_stop", "index": 0})
                + _event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": stop, "stop_sequence": None},
                                           "usage": use, "chatroute": decision})
                + _event("message_stop", {"type": "message_stop"}))

    @staticmethod
    def error(err: ApiError) -> bytes:
        return _event("error", error_body(err))
