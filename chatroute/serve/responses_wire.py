"""OpenAI's Responses wire format of `chatroute serve` (POST /v1/responses): request bodies
checked into the same `ServedRequest` as a chat completion, and the response object and event
stream the `openai` SDK's `responses.create` / `responses.stream` (and tools built on them) read.

As on the other endpoints, only what chatroute can honour is accepted: text input (a string or
message items), instructions, temperature and max_output_tokens. serve keeps no responses, so
`previous_response_id`, `conversation` and `background` are refused with the way round (send the
conversation in `input`); tools, images, files and structured output would change the answer
and are refused naming them; what only shifts sampling or bookkeeping is accepted and not
forwarded (IGNORED)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from chatroute.providers.base import Message
from chatroute.serve.wire import (
    REASONING_EFFORTS,
    VERBOSITIES,
    ApiError,
    InputField,
    ServedRequest,
    SurrogateCarry,
    check_openai_hints,
    choice_field,
    clean_text,
    integer_field,
    json_type,
    last_prompt,
    model_of,
    number_field,
    object_field,
    preset_of,
    refuse_unknown,
    stream_of,
    string_field,
    string_map,
    temperature_of,
    text_of,
    user_of,
)

RESPONSES_PATH = "/v1/responses"
# This API has no messages: the text is in `input` and `instructions`.
RESPONSES_INPUT = InputField("input", "shorten the input or the instructions")

ACCEPTED = frozenset({"model", "input", "instructions", "stream", "stream_options", "max_output_tokens",
                      "temperature", "text", "reasoning", "tool_choice", "include", "truncation", "top_logprobs",
                      "user", "safety_identifier", "metadata", "top_p"})
# Accepted and not passed on: they do not change what a good answer is. `store` asks OpenAI to keep
# the response for later retrieval; serve keeps none, and says so in the response (`store: false`).
IGNORED = frozenset({"store", "service_tier", "parallel_tool_calls", "prompt_cache_key",
                     "prompt_cache_retention", "prompt_cache_options", "max_tool_calls"})
# This API's values where they differ from chat completions' (wire.SERVICE_TIERS, PROMPT_CACHE_TTLS).
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast", "ultrafast")
PROMPT_CACHE_TTLS = ("30m", "12h")

# What `include` may ask for, as the openai SDK (3.63) types it. The log probabilities are refused
# (they would be missing); the rest, and a value newer than these, are accepted with nothing to add,
# as the output holds no tool calls, input images or reasoning items.
INCLUDABLE = ("file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
              "message.input_image.image_url", "computer_call_output.output.image_url", "code_interpreter_call.outputs",
              "reasoning.encrypted_content", "message.output_text.logprobs")

# What each refused parameter needs instead, where there is a way round.
_STATEFUL = {
    "previous_response_id": "chatroute serve keeps no responses: send the whole conversation in 'input'",
    "conversation": "chatroute serve keeps no conversations: send the whole conversation in 'input'",
    "background": "chatroute serve does not run responses in the background: leave 'background' unset",
    "prompt": "chatroute serve does not support stored prompt templates ('prompt'): send the text in 'input'",
}
_TEXT_PARTS = {"user": ("input_text",), "system": ("input_text",), "developer": ("input_text",),
               "assistant": ("output_text", "input_text")}


def parse_responses_request(body: dict[str, Any]) -> str:
    """Check the fields of a Responses request; returns the model named."""
    for name, why in _STATEFUL.items():
        if body.get(name) not in (None, False):
            raise ApiError(400, why, code="unsupported_parameter", param=name)
    refuse_unknown(body, ACCEPTED, IGNORED)
    choice = body.get("tool_choice")
    if choice not in (None, "none", "auto"):
        raise ApiError(400, "chatroute serve does not support tools: 'tool_choice' may only be \"none\" or \"auto\"",
                       code="unsupported_parameter", param="tool_choice")
    text = body.get("text")
    if text is not None:
        fmt = text.get("format") if isinstance(text, dict) else None
        if not isinstance(text, dict) or not (fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text")):
            raise ApiError(400, "chatroute serve does not support 'text.format' other than {\"type\": \"text\"}",
                           code="unsupported_parameter", param="text")
        choice_field(text.get("verbosity"), "text.verbosity", VERBOSITIES)
    check_openai_hints(body, service_tiers=SERVICE_TIERS, ttls=PROMPT_CACHE_TTLS)
    integer_field(body.get("max_tool_calls"), "max_tool_calls")
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise ApiError(400, "'truncation' must be \"auto\" or \"disabled\"", param="truncation")
    include = body.get("include")
    if include is not None and not isinstance(include, list):
        raise ApiError(400, f"'include' must be an array of strings, got {json_type(include)}", param="include")
    for i, entry in enumerate(include or ()):
        if not isinstance(entry, str):
            raise ApiError(400, f"'include' must be an array of strings: include[{i}] is {json_type(entry)}",
                           param="include")
    # Asked for, log probabilities would be missing from the answer: a client reading them must
    # hear so now (0 asks for none and passes).
    if body.get("top_logprobs") not in (None, 0) or "message.output_text.logprobs" in (include or []):
        raise ApiError(400, "chatroute serve does not return log probabilities", code="unsupported_parameter",
                       param="top_logprobs" if body.get("top_logprobs") else "include")
    return model_of(body)


def build_responses_request(body: dict[str, Any], model: str, *, pinned: str | None) -> ServedRequest:
    stream = stream_of(body)
    if body.get("stream_options") is not None and not stream:
        raise ApiError(400, "'stream_options' is only allowed when 'stream' is true", param="stream_options")
    max_tokens = integer_field(body.get("max_output_tokens"), "max_output_tokens", least=1)
    instructions = string_field(body.get("instructions"), "instructions")
    echo = _echoed(body)
    system, history, prompt = _input(body.get("input"))
    if instructions and instructions.strip():
        system.insert(0, instructions)
    return ServedRequest(model=model, preset=preset_of(model, pinned), pinned=pinned,
                         system="\n\n".join(system) if system else None, history=history, prompt=prompt,
                         stream=stream, include_usage=stream, max_tokens=max_tokens,
                         temperature=temperature_of(body, 2), user=user_of(body.get("user"), "user"),
                         safety_identifier=user_of(body.get("safety_identifier"), "safety_identifier"), echo=echo,
                         input_field=RESPONSES_INPUT)


def _echoed(body: dict[str, Any]) -> dict[str, Any]:
    """What the response echoes of the request as sent, as OpenAI's does, each field checked:
    a client that sent the wrong type would otherwise read its own mistake back as accepted.
    None of them is passed on: `reasoning.effort` is not, as chat completions' reasoning_effort
    is not (the routed model decides), nor `top_p`, as there; the end user's names key the cache
    (ServedRequest.params)."""
    metadata = string_map(body.get("metadata"), "metadata")
    # Not passed on (it only shifts sampling), but checked as chat completions checks it.
    number_field(body.get("top_p"), "top_p", 0, 1)
    reasoning = object_field(body.get("reasoning"), "reasoning")
    choice_field(reasoning.get("effort"), "reasoning.effort", REASONING_EFFORTS)
    for key in ("summary", "generate_summary"):
        string_field(reasoning.get(key), f"reasoning.{key}")
    for name in ("safety_identifier", "user"):
        string_field(body.get(name), name)
    # truncation and tool_choice were checked with the request (parse_responses_request).
    return {"instructions": body.get("instructions"), "metadata": metadata,
            "reasoning": {"effort": None, "summary": None, **reasoning},
            "safety_identifier": body.get("safety_identifier"), "user": body.get("user"),
            "top_p": body.get("top_p"), "tool_choice": body.get("tool_choice") or "auto",
            "truncation": body.get("truncation") or "disabled"}


def _input(raw: Any) -> tuple[list[str], tuple[Message, ...], str]:
    """(system texts, history, prompt) from `input`: a string is one user message."""
    if isinstance(raw, str):
        if not raw.strip():
            raise ApiError(400, "'input' is empty", param="input")
        return [], (), raw
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'input' must be a string or a non-empty array of messages", param="input")
    system: list[str] = []
    turns: list[Message] = []
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise ApiError(400, f"{where} must be an object, got {json_type(item)}", param=where)
        kind = item.get("type", "message")
        if kind != "message":
            got = repr(kind) if isinstance(kind, str) else f"type {json_type(kind)}"
            raise ApiError(400, f"{where}: only message items are supported by chatroute serve (got {got}; tool "
                                "calls and reasoning items are not)", code="unsupported_parameter", param=where)
        role = item.get("role")
        if role not in _TEXT_PARTS:
            raise ApiError(400, f"{where}.role must be user, assistant, system or developer", param=where)
        kinds = _TEXT_PARTS[role]
        text = text_of(item.get("content"), where, pieces=f"parts ({', '.join(kinds)})", kinds=kinds)
        if role in ("system", "developer"):
            system.append(text)
        else:
            turns.append(Message(role=role, content=text))
    history, prompt = last_prompt(turns, "the last message of 'input' must be the user's", RESPONSES_INPUT)
    return system, history, prompt


# -- responses ------------------------------------------------------------------------------

def usage(input_tokens: int, output_tokens: int, cached: int, cache_write: int = 0,
          reasoning: int = 0) -> dict[str, Any]:
    """The Responses API's usage from the ledger's counts (input_tokens holds every prompt token
    once, prompt-cache reads and writes included, as on the chat completions wire). `reasoning`:
    of the output, the thinking as the provider counted it; 0 where it gave no count. Every detail
    is there, 0 or not: the openai SDK types each as a count (not optional), so a client adds them
    up, and a missing one is None in its hands."""
    return {"input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": cache_write},
            "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens}


# The ledger's finish reasons (OpenAI's chat names) as the Responses API's incomplete reasons.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


class ResponseWriter:
    """One response: its object (whole, or at each stage of a stream) and the stream's events,
    numbered as the API numbers them. A UTF-16 high surrogate that ends one delta waits for the
    low one, as on the other wires."""

    def __init__(self, req: ServedRequest, model: str) -> None:
        self.id = f"resp_{uuid.uuid4().hex[:24]}"
        self.item_id = f"msg_{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model
        self.req = req
        self._seq = 0
        self._parts: list[str] = []
        self._carry = SurrogateCarry()
        self._pre = (b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "item_id": '
                     + json.dumps(self.item_id).encode() + b', "output_index": 0, "content_index": 0, '
                     b'"logprobs": [], "sequence_number": ')

    def body(self, *, status: str, text: str | None = None, finish: str | None = None,
             use: dict[str, Any] | None = None, decision: dict[str, Any] | None = None,
             error: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response object. `text` None: no output yet."""
        incomplete = _INCOMPLETE.get(finish or "")
        if status == "completed" and incomplete:
            status = "incomplete"
        # A message cut short is itself incomplete, as the API marks it (clients read either).
        item_status = "incomplete" if status == "incomplete" else "completed"
        body: dict[str, Any] = {
            "id": self.id, "object": "response", "created_at": self.created, "status": status,
            "error": error, "incomplete_details": {"reason": incomplete} if status == "incomplete" else None,
            "max_output_tokens": self.req.max_tokens, "model": self.model,
            "output": [] if text is None else [self._item(text, item_status)],
            "parallel_tool_calls": False, "previous_response_id": None, "store": False,
            "temperature": self.req.temperature, "text": {"format": {"type": "text"}}, "tools": [], "top_p": None,
            "usage": use,
            # instructions, metadata, reasoning, safety_identifier, user, top_p, tool_choice and
            # truncation as the request gave them
            **self.req.echo,
        }
        if decision is not None:
            body["chatroute"] = decision
        return body

    def _item(self, text: str | None, status: str) -> dict[str, Any]:
        content = [] if text is None else [self._part(text)]
        return {"id": self.item_id, "type": "message", "status": status, "role": "assistant", "content": content}

    @staticmethod
    def _part(text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": clean_text(text), "annotations": []}

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        data = {"type": kind, **payload, "sequence_number": self._seq}
        self._seq += 1
        return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

    def start(self) -> bytes:
        where = {"output_index": 0}
        return (self._event("response.created", {"response": self.body(status="in_progress")})
                + self._event("response.in_progress", {"response": self.body(status="in_progress")})
                + self._event("response.output_item.added", {**where, "item": self._item(None, "in_progress")})
                + self._event("response.content_part.added",
                              {"item_id": self.item_id, **where, "content_index": 0, "part": self._part("")}))

    def text(self, text: str) -> bytes:
        text = self._carry.take(text)
        if not text:
            return b""
        self._parts.append(text)
        frame = self._pre + str(self._seq).encode() + b', "delta": ' + json.dumps(text).encode() + b"}\n\n"
        self._seq += 1
        return frame

    def finish(self, finish: str | None, use: dict[str, Any], decision: dict[str, Any]) -> bytes:
        rest = self._carry.rest()
        head = self.text(rest) if rest else b""
        text = "".join(self._parts)
        where = {"item_id": self.item_id, "output_index": 0, "content_index": 0}
        final = self.body(status="completed", text=text, finish=finish, use=use, decision=decision)
        done = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        return (head
                + self._event("response.output_text.done", {**where, "text": clean_text(text), "logprobs": []})
                + self._event("response.content_part.done", {**where, "part": self._part(text)})
                + self._event("response.output_item.done", {"output_index": 0, "item": final["output"][0]})
                + self._event(done, {"response": final}))

    def failed(self, err: ApiError) -> bytes:
        """The stream's end when the answer failed after it began. The top-level `error` is what
        the openai SDK raises on (as it does on a chat stream's error chunk); the event itself is
        the API's response.failed, for clients that read the events."""
        error = {"code": err.code or err.type, "message": err.message}
        return self._event("response.failed", {"response": self.body(status="failed", error=error),
                                               "error": err.body()["error"]})
