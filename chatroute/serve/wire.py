"""The OpenAI wire format of `chatroute serve`: request bodies parsed and checked into a
`ServedRequest`, and the error, completion and chunk shapes sent back.

Only what chatroute can honour is accepted: text messages, temperature and a token limit. A
parameter that would change the answer and cannot be passed on (tools, stop sequences, n > 1) is
a 400 naming it, not silently dropped; sampling knobs that only shift randomness are accepted and
not forwarded (see IGNORED)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatroute.providers.base import Message
from chatroute.surrogates import SurrogateCarry, clean_text, encodes

ROUTED_PREFIX = "chatroute/"
PRESETS = ("frugal", "balanced", "best")
ROUTED_MODELS = ("chatroute/auto", *(ROUTED_PREFIX + p for p in PRESETS))
ACCEPTED = frozenset({"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
                      "temperature", "n", "response_format"})
# Accepted and not passed on: they do not change what a good answer is.
IGNORED = frozenset({"user", "metadata", "store", "service_tier", "seed", "top_p", "presence_penalty",
                     "frequency_penalty", "parallel_tool_calls", "logprobs", "top_logprobs", "prompt_cache_key",
                     "prompt_cache_retention", "prompt_cache_options", "safety_identifier", "reasoning_effort",
                     "verbosity"})
MAX_BODY_BYTES = 16 * 1024 * 1024
# The model name is echoed in the response headers (x-chatroute-model) and looked up among the
# catalogue's names with difflib: it must be header-safe, and short enough that the look-up is
# quick (a 15 MB name took 4.4 s of the event loop).
MAX_MODEL_CHARS = 256
_MODEL_NAME = re.compile(r"[\x20-\x7e]+")
# An escaped UTF-16 surrogate in the raw body: only then can a parsed string hold a lone one.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


class ApiError(Exception):
    """A request chatroute answers with an OpenAI-shaped error body."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None,
                 anthropic_type: str | None = None) -> None:
        message = clean_text(message)  # a provider's error line may hold half a surrogate pair
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}  # sent with the error (Retry-After)
        self.anthropic_type = anthropic_type  # on Anthropic's wire, instead of the status's usual type

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class InputField:
    """Where a wire's request holds its text, in that wire's words: the `param` a refusal of an
    input too large names, and what it tells the client to shorten."""

    param: str
    shorten: str


# Chat completions: the system prompt is one of the messages (Anthropic's Messages names it apart,
# messages_wire.ANTHROPIC_INPUT).
MESSAGES_INPUT = InputField("messages", "shorten the messages")


@dataclass(frozen=True)
class ServedRequest:
    model: str  # as the client named it
    preset: str | None  # the routing preset of a chatroute/* model; None: the configured one
    pinned: str | None  # the catalogue model a pass-through request goes to; None: routed
    system: str | None
    history: tuple[Message, ...]
    prompt: str
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float | None
    seed: int | None = None  # not passed on; another seed asks for another sample
    # Whom the client serves (OpenAI's `user`, Anthropic's `metadata.user_id`): not passed on.
    user: str | None = None
    # OpenAI's newer name for the same (`safety_identifier`), keyed apart from `user`: a request
    # may carry both, and neither may be served what was cached for another. Not passed on.
    safety_identifier: str | None = None
    # What the Responses API's response echoes of the request as sent (`instructions`, also in
    # `system`; `metadata`, `reasoning`, the end user's names): none of it is passed on.
    echo: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # The wire's field holding the text: a refusal of an input too large names it.
    input_field: InputField = MESSAGES_INPUT

    @property
    def params(self) -> dict[str, Any]:
        """What besides the messages makes two requests the same question (the cache key). A
        preset the client names is its own trade-off, so a chatroute/best request is never served
        what a chatroute/frugal one's router picked a cheap model for; chatroute/auto (None) routes
        as the chat does and shares the chat's answers. A seed (unset: no key, as before) is a
        client sampling several answers, which one cached answer would collapse into one. So is a
        user the client names (unset: no key, as before): a tool serving several people must not
        serve one person's answer to another."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "preset": self.preset,
                "seed": self.seed, "user": self.user, "safety_identifier": self.safety_identifier}


# Lists and objects outside strings a body may hold. Decoding them holds the event loop, every
# other stream with it: 16 MB of `[],` is over 5 million lists and seconds of json.loads. A real
# request's size is its text, its structure a few containers a message (a conversation of 50,000
# messages with content parts is about 100,000); strings and numbers decode cheaply.
MAX_JSON_CONTAINERS = 200_000


def _containers(raw: bytes) -> int:
    """How many lists and objects `raw` opens outside its strings, without decoding it. The
    brackets are counted first, at C speed; strings are set aside only when that passes the cap,
    as text full of brackets (code, a table pasted as a message) may."""
    count = raw.count(b"[") + raw.count(b"{")
    if count <= MAX_JSON_CONTAINERS:
        return count
    # An escaped quote or backslash ends no string; then every other piece between quotes is one.
    outside = b"".join(raw.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[::2])
    return outside.count(b"[") + outside.count(b"{")


def parse_body(raw: bytes) -> dict[str, Any]:
    if _containers(raw) > MAX_JSON_CONTAINERS:
        raise ApiError(400, f"the request body holds more than {MAX_JSON_CONTAINERS:,} JSON arrays and objects; "
                            "a chat request needs far fewer")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({type(exc).__name__})") from None
    except RecursionError:
        raise ApiError(400, "the request body is not valid JSON: it is nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    if _ESCAPED_SURROGATE.search(raw) and _has_lone_surrogate(body):
        # json.loads accepts "\ud800" alone, but such a string is not text: the tokenizer, the
        # store and the response's UTF-8 encoding all fail on it further on.
        raise ApiError(400, "the request body is not valid JSON text: a string holds a lone UTF-16 surrogate "
                            "(\\ud800-\\udfff not part of a pair)")
    return body


def _has_lone_surrogate(value: Any) -> bool:
    # Iterative: the body may be nested as deep as json.loads allows, near the recursion limit.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and not encodes(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def refuse_unknown(body: dict[str, Any], accepted: frozenset[str], ignored: frozenset[str]) -> None:
    """A 400 naming the first parameter that is neither accepted nor ignored (both wire formats).
    null and an empty list ask for nothing (no stop sequences, no tools): nothing is dropped."""
    unknown = sorted(k for k in body if k not in accepted and k not in ignored and body[k] not in (None, []))
    if unknown:
        name = unknown[0]
        raise ApiError(400, f"chatroute serve does not support the parameter {name!r}",
                       code="unsupported_parameter", param=name)


def parse_request(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Check the fields of a chat completion request; returns (body, model) for `resolve`."""
    refuse_unknown(body, ACCEPTED, IGNORED)
    # Asked for, log probabilities would be missing from the answer: a client reading them must
    # hear so now, not find null (false and 0 ask for nothing and pass).
    for name in ("logprobs", "top_logprobs"):
        if body.get(name) not in (None, False, 0):
            raise ApiError(400, "chatroute serve does not return log probabilities", code="unsupported_parameter",
                           param=name)
    # {"type": "text"} is OpenAI's default, which many clients send: plain text, what every answer
    # is, so there is nothing to pass on. A JSON mode or schema would change the answer and is not
    # passed on, so it is refused like any such parameter.
    response_format = body.get("response_format")
    if response_format is not None and not (isinstance(response_format, dict)
                                            and response_format.get("type") == "text"):
        raise ApiError(400, "chatroute serve does not support the parameter 'response_format' other than "
                            '{"type": "text"}', code="unsupported_parameter", param="response_format")
    model = model_of(body)
    n = body.get("n")
    # bool is an int in Python (True == 1): `n: true` is not a count.
    if n is not None and (type(n) is not int or n != 1):
        raise ApiError(400, "chatroute serve answers with one choice: n must be 1", code="unsupported_parameter",
                       param="n")
    return body, model


def model_of(body: dict[str, Any]) -> str:
    """The model a request names, checked (both wire formats)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "'model' is required: chatroute/auto, chatroute/frugal|balanced|best or a model name",
                       param="model")
    model = model.strip()
    if len(model) > MAX_MODEL_CHARS:
        raise ApiError(400, f"'model' is longer than {MAX_MODEL_CHARS} characters", param="model")
    if not _MODEL_NAME.fullmatch(model):
        raise ApiError(400, "'model' may hold only printable ASCII characters (no line breaks or control "
                            "characters)", param="model")
    return model


def preset_of(model: str, pinned: str | None) -> str | None:
    """The routing preset a chatroute/* model names; None for chatroute/auto and pinned models."""
    if pinned is not None:
        return None
    name = model[len(ROUTED_PREFIX):]
    return name if name in PRESETS else None


def stream_of(body: dict[str, Any]) -> bool:
    # null is the default (OpenAI's SDK types it Optional: stream=None sends it), as for the others.
    stream = body.get("stream")
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false", param="stream")
    return stream


def temperature_of(body: dict[str, Any], highest: int) -> float | None:
    """The temperature asked for, from 0 to `highest` (2 for OpenAI, 1 for Anthropic)."""
    return number_field(body.get("temperature"), "temperature", 0, highest)


# A field's type is checked even where its value is not passed on: a client that sent the wrong
# type must hear so, not have it dropped, and some of them key the answer cache (ServedRequest.params),
# where a dropped one would share, or split, what is cached for them. null is unset, on every wire.

def number_field(value: Any, name: str, low: int, high: int) -> float | None:
    """A number from `low` to `high`, or None. `name`: as the request's field, named by a refusal."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ApiError(400, f"'{name}' must be a number from {low} to {high}", param=name)
    return float(value)


def integer_field(value: Any, name: str, *, least: int | None = None) -> int | None:
    """An integer (not a boolean, nor 1.0), at least `least` if given, or None."""
    if value is None:
        return None
    if type(value) is not int or (least is not None and value < least):
        kind = {None: "an integer", 1: "a positive integer"}.get(least, f"an integer of at least {least}")
        raise ApiError(400, f"'{name}' must be {kind}", param=name)
    return value


def string_field(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a string, got {json_type(value)}", param=name)
    return value


def object_field(value: Any, name: str) -> dict[str, Any]:
    """An object; {} when unset."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"'{name}' must be an object, got {json_type(value)}", param=name)
    return value


# OpenAI's limits on `metadata` (its API refuses more): a request within them here is one OpenAI takes.
METADATA_KEYS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512


def string_map(value: Any, name: str) -> dict[str, Any]:
    """An object of string values within OpenAI's limits (its `metadata`); {} when unset."""
    found = object_field(value, name)
    if len(found) > METADATA_KEYS:
        raise ApiError(400, f"'{name}' may hold at most {METADATA_KEYS} keys, got {len(found)}", param=name)
    for key, item in found.items():
        if len(key) > METADATA_KEY_CHARS:
            # Not repeated back whole: it may be any length.
            raise ApiError(400, f"'{name}' keys may be at most {METADATA_KEY_CHARS} characters: "
                                f"{key[:20]!r}… is {len(key):,}", param=name)
        if not isinstance(item, str):
            raise ApiError(400, f"'{name}' values must be strings: {key!r} is {json_type(item)}", param=name)
        if len(item) > METADATA_VALUE_CHARS:
            raise ApiError(400, f"'{name}' values may be at most {METADATA_VALUE_CHARS} characters: {key!r} is "
                                f"{len(item):,}", param=name)
    return found


def bool_field(value: Any, name: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, f"'{name}' must be true or false, got {json_type(value)}", param=name)
    return value


def choice_field(value: Any, name: str, choices: tuple[str, ...]) -> str | None:
    """A string or None, for a hint serve accepts and does not pass on; `choices` (the values
    OpenAI's SDK knows today) only name what is meant in the refusal of another type. A string
    outside them is accepted: nothing reads it, and OpenAI adds values (reasoning_effort gained
    "none", "xhigh" and "max" in a year), so refusing one would fail a newer client's every request
    over a field that changes nothing here. The client's string is not repeated back."""
    if value is None or isinstance(value, str):
        return value
    quoted = [json.dumps(c) for c in choices]
    such = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    raise ApiError(400, f"'{name}' must be a string such as {such}, got {json_type(value)}", param=name)


# The values OpenAI's SDK (3.63) knows for the hints serve accepts and does not pass on: named in
# the refusal of a wrongly typed one (choice_field), which accepts any string.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
VERBOSITIES = ("low", "medium", "high")
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast")  # chat completions'
PROMPT_CACHE_RETENTIONS = ("in_memory", "24h")
PROMPT_CACHE_MODES = ("implicit", "explicit")
PROMPT_CACHE_TTLS = ("30m",)  # chat completions'


def check_openai_hints(body: dict[str, Any], *, service_tiers: tuple[str, ...] = SERVICE_TIERS,
                       ttls: tuple[str, ...] = PROMPT_CACHE_TTLS) -> None:
    """The types of the bookkeeping hints both OpenAI wires accept and do not pass on: storage,
    scheduling and OpenAI's own prompt cache. `service_tiers`, `ttls`: that wire's values."""
    for name in ("store", "parallel_tool_calls"):
        bool_field(body.get(name), name)
    choice_field(body.get("service_tier"), "service_tier", service_tiers)
    string_field(body.get("prompt_cache_key"), "prompt_cache_key")
    choice_field(body.get("prompt_cache_retention"), "prompt_cache_retention", PROMPT_CACHE_RETENTIONS)
    options = object_field(body.get("prompt_cache_options"), "prompt_cache_options")
    choice_field(options.get("mode"), "prompt_cache_options.mode", PROMPT_CACHE_MODES)
    choice_field(options.get("ttl"), "prompt_cache_options.ttl", ttls)


def build_request(body: dict[str, Any], model: str, *, pinned: str | None) -> ServedRequest:
    system, history, prompt = _messages(body.get("messages"))
    stream = stream_of(body)
    options = body.get("stream_options")
    if options is not None and not stream:
        # As OpenAI answers: the options would be silently meaningless.
        raise ApiError(400, "'stream_options' is only allowed when 'stream' is true", param="stream_options")
    options = options or {}
    if not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object", param="stream_options")
    include_usage = options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise ApiError(400, "'stream_options.include_usage' must be true or false", param="stream_options")
    # Each is checked on its own: `max_completion_tokens: null` must not hide a bad `max_tokens`.
    limits = [integer_field(body.get(name), name, least=1) for name in ("max_completion_tokens", "max_tokens")]
    max_tokens = next((n for n in limits if n is not None), None)
    temperature = temperature_of(body, 2)
    # Not passed on, but checked: OpenAI's ranges.
    string_map(body.get("metadata"), "metadata")
    number_field(body.get("top_p"), "top_p", 0, 1)
    for name in ("presence_penalty", "frequency_penalty"):
        number_field(body.get(name), name, -2, 2)
    choice_field(body.get("reasoning_effort"), "reasoning_effort", REASONING_EFFORTS)
    choice_field(body.get("verbosity"), "verbosity", VERBOSITIES)
    check_openai_hints(body)
    return ServedRequest(model=model, preset=preset_of(model, pinned), pinned=pinned, system=system,
                         history=history, prompt=prompt, stream=stream, include_usage=include_usage and stream,
                         max_tokens=max_tokens, temperature=temperature,
                         seed=integer_field(body.get("seed"), "seed"), user=user_of(body.get("user"), "user"),
                         safety_identifier=user_of(body.get("safety_identifier"), "safety_identifier"))


def user_of(value: Any, name: str) -> str | None:
    """The end user a request names in its field `name`, or None (none, or an empty string). Another
    type is a 400: dropped, it would key the cache as if no user were named."""
    return string_field(value, name) or None


def each_message(raw: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The entries of a messages array with their place ("messages[3]"), each an object."""
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty array", param="messages")
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise ApiError(400, f"{where} must be an object", param=where)
        yield where, m


def last_prompt(turns: list[Message], not_users: str,
                source: InputField = MESSAGES_INPUT) -> tuple[tuple[Message, ...], str]:
    """(history, prompt): the last turn must be a user's and say something. `source`: where the
    wire holds the turns, which a refusal names."""
    if not turns or turns[-1].role != "user":
        raise ApiError(400, not_users, param=source.param)
    prompt = turns[-1].content
    if not prompt.strip():
        raise ApiError(400, "the last user message is empty", param=source.param)
    return tuple(turns[:-1]), prompt


def _messages(raw: Any) -> tuple[str | None, tuple[Message, ...], str]:
    system: list[str] = []
    turns: list[Message] = []
    for where, m in each_message(raw):
        role = m.get("role")
        if role in ("tool", "function") or m.get("tool_calls") or m.get("function_call"):
            raise ApiError(400, f"{where}: tool calls are not supported by chatroute serve",
                           code="unsupported_parameter", param=where)
        if role not in ("system", "developer", "user", "assistant"):
            raise ApiError(400, f"{where}.role must be system, developer, user or assistant", param=where)
        text = text_of(m.get("content"), where)
        if role in ("system", "developer"):
            system.append(text)
        else:
            turns.append(Message(role=role, content=text))
    history, prompt = last_prompt(turns, "the last message must be the user's")
    return ("\n\n".join(system) if system else None), history, prompt


def text_of(content: Any, where: str, *, pieces: str = "parts", kinds: tuple[str, ...] = ("text",)) -> str:
    """A message's text: a string, or the text of an array of text parts (Anthropic's "blocks",
    whose other keys, such as a prompt-cache hint, are dropped), one to a line: each part is a
    piece of text of its own, and run together "Hello" and "World" would be "HelloWorld". The
    cache key and the size check read this same text. `kinds`: the part types that hold text
    (the Responses API's input_text / output_text). Anything else is a 400."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            at = f"{where}.content[{i}]"
            if not isinstance(part, dict):
                raise ApiError(400, f"{at} must be an object, got {json_type(part)}", param=at)
            if part.get("type") not in kinds:
                kind = part.get("type")
                got = repr(kind) if isinstance(kind, str) else f"type {json_type(kind)}"
                raise ApiError(400, f"{where}.content: only text {pieces} are supported by chatroute serve "
                                    f"(got {got})", code="unsupported_parameter", param=where)
            # A text part that is not one (no text, or text that is no string) is malformed, not
            # an unsupported kind of part: say which field is wrong.
            if "text" not in part:
                raise ApiError(400, f"{at}.text is missing", param=f"{at}.text")
            if not isinstance(part["text"], str):
                raise ApiError(400, f"{at}.text must be a string, got {json_type(part['text'])}", param=f"{at}.text")
            parts.append(part["text"])
        return "\n".join(parts)
    raise ApiError(400, f"{where}.content must be a string or an array of text {pieces}", param=where)


def json_type(value: Any) -> str:
    """A decoded JSON value's type in JSON's words, for an error the client reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


# -- responses ------------------------------------------------------------------------------

_HEADER_UNSAFE = re.compile(r"[^\x20-\x7e]")
_ASCII = {"→": "->", "…": "...", "—": "-", "–": "-", "≈": "~"}


def header_value(text: str, limit: int = 300) -> str:
    """A header-safe (printable ASCII) rendering of a reason line."""
    for k, v in _ASCII.items():
        text = text.replace(k, v)
    return _HEADER_UNSAFE.sub("?", " ".join(text.split()))[:limit]


def finish_reason(reason: str | None) -> str:
    return reason if reason in ("stop", "length", "content_filter") else "stop"


class ChunkWriter:
    """SSE frames of one streamed completion. The frame around a text delta is made once, so
    a token costs one json.dumps of its text."""

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self._head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        head = json.dumps(self._head)[:-1]
        self._pre = f'data: {head}, "choices": [{{"index": 0, "delta": {{"content": '.encode()
        self._post = b'}, "finish_reason": null}]}\n\n'
        self._carry = SurrogateCarry()

    def frame(self, payload: dict[str, Any]) -> bytes:
        return f"data: {json.dumps({**self._head, **payload})}\n\n".encode()

    def role(self) -> bytes:
        return self.frame({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]})

    def text(self, text: str) -> bytes:
        text = self._carry.take(text)
        return self._pre + json.dumps(text).encode() + self._post if text else b""

    def finish(self, reason: str, decision: dict[str, Any]) -> bytes:
        # A high surrogate still held never got its other half: it ends the text as U+FFFD.
        rest = self._carry.rest()
        end = self.frame({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}], "chatroute": decision})
        return (self.text(rest) if rest else b"") + end

    def usage(self, usage: dict[str, Any], decision: dict[str, Any]) -> bytes:
        return self.frame({"choices": [], "usage": usage, "chatroute": decision})

    @staticmethod
    def error(err: ApiError) -> bytes:
        return f"data: {json.dumps(err.body())}\n\n".encode()

    DONE = b"data: [DONE]\n\n"
