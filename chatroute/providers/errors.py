"""Classify every provider failure into one ProviderError kind, in one place.

Both SDKs (openai 3.x, anthropic 2.x) share a lineage: status errors carry `status_code`,
`response` and a JSON `body`; transport failures are `APIConnectionError` / `APITimeoutError`
or, mid-stream on the Anthropic SDK, raw httpx2 exceptions. We classify by duck typing and
class names so this module imports neither SDK (start-up time matters, and the engine can
use it on any exception).

Messages are one line, short and scrubbed of secrets: the caller passes the API key, and
anything shaped like a key is masked as well, since servers sometimes echo the key back.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from chatroute.providers.base import ErrorKind, ProviderError

MAX_MESSAGE_CHARS = 300
# The longest Retry-After honoured. Longer is a broken proxy or a hostile header (10^9 seconds
# benched a model for 31 years); past this, one trial request costs less than a model lost.
MAX_RETRY_AFTER_S = 3600.0

_CONTEXT_WORDS = (
    "context_length_exceeded",
    "context length",
    "maximum context",
    "context window",
    "context limit",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "reduce the length",
    "exceeds the context",
    "request_too_large",
    "prompt too long",
    # Local servers refusing what the context they loaded the model with cannot hold: llama.cpp
    # ("request (N tokens) exceeds the available context size", type exceed_context_size_error)
    # and vLLM V1 ("The decoder prompt (length N) is longer than the maximum model length of M").
    "available context size",
    "exceed_context_size",
    "maximum model length",
)
_POLICY_WORDS = (
    "content_policy",
    "content policy",
    "content_filter",
    "content filter",
    "content management policy",
    "safety",
    "usage policy",
    "flagged",
    "moderation",
)
_OVERLOADED_WORDS = ("overloaded",)
# A local server up but with no model in memory (LM Studio's 400, or 404, "No models loaded.
# Please load a model …"): the request is sound and the model there, so it is a server not ready
# (fail over, cool down), neither a bad request nor a missing model disabled until the config changes.
_NOT_LOADED_WORDS = ("no models loaded", "no model loaded", "model is not loaded", "model not loaded")
# Groq's own status for its flex service tier when it has no room (error `capacity_exceeded`):
# an overload to wait out elsewhere, as a 503 or 529.
_GROQ_FLEX_FULL = 498
_RATE_WORDS = ("rate_limit", "rate limit", "too many requests")
# A per-minute token budget spent (Groq's 413 "Request too large ... on tokens per minute (TPM)",
# type `tokens`): a rate limit that its x-ratelimit-reset-tokens times, not a context overflow.
_TOKEN_BUDGET_WORDS = ("tokens per minute", "tokens per min", "(tpm)")
# The budget and what the request asks of it: "... (TPM): Limit 6000, Requested 9000, ...".
_BUDGET_ASKED = re.compile(r"limit (\d[\d,]*), requested (\d[\d,]*)")
# A spent quota or credit balance: OpenAI's 429 `insufficient_quota`, Anthropic's 400 "credit
# balance is too low" and 402 `billing_error`, OpenRouter's 402.
_QUOTA_WORDS = ("insufficient_quota", "billing_error", "billing_hard_limit", "exceeded your current quota",
                "credit balance is too low", "insufficient credits")

# OpenRouter's 402 when the balance or the key's limit pays for less output than max_tokens asks:
# "This request requires more credits, or fewer max_tokens. You requested up to 16384 tokens, but
# can only afford 3021.", and in its older wording (requested > affordable) "max_tokens limit
# exceeded: 100000 > 9577".
_AFFORDS = re.compile(r"can only afford (\d[\d,]*)|max[ _]tokens?[ _]limit[ _]exceeded:?\s*\d[\d,]*\s*>\s*(\d[\d,]*)")
# OpenRouter's 402 when the balance or the key's limit pays for fewer prompt tokens than the
# request sends: "Prompt tokens limit exceeded: 230799 > 91442. To increase, visit ...". The
# request's, not the account's: a shorter conversation or a cheaper model may pass.
_PROMPT_ALLOWANCE = re.compile(r"prompt[ _]tokens?[ _]limit[ _]exceeded:?\s*\d[\d,]*\s*>\s*(\d[\d,]*)")

# Key-shaped tokens: OpenAI (sk-..., sk-proj-...), Anthropic (sk-ant-...), OpenRouter (sk-or-...),
# and bearer tokens echoed back in messages.
_KEYLIKE = re.compile(r"(?:\bsk-[A-Za-z0-9_\-*]{6,}|(?i:bearer)\s+[A-Za-z0-9._\-~+/=]{8,})")


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """One line, no secrets, bounded length: safe for the UI, logs and the database."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _KEYLIKE.sub("***", text)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def parse_retry_after(headers: Mapping[str, str] | Any, *, now: float | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms`, or `retry-after` as seconds or an HTTP date; at
    most MAX_RETRY_AFTER_S."""
    if headers is None:
        return None
    get = getattr(headers, "get", None)
    if get is None:
        return None
    raw_ms = get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
            if value >= 0:
                return min(value, MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    raw = get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return min(value, MAX_RETRY_AFTER_S) if value >= 0 else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - current), MAX_RETRY_AFTER_S)


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_reset(value: str | None) -> float | None:
    """Seconds from an x-ratelimit-reset-* header, a Go duration as Groq and OpenAI write it
    ('7.66s', '2m59.56s', '20ms'); at most MAX_RETRY_AFTER_S. None when it is not one."""
    text = (value or "").strip()
    if not text:
        return None
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = _GO_DURATION.findall(text)
    if "".join(n + u for n, u in parts) != text:
        return None
    return min(sum(float(n) * unit[u] for n, u in parts), MAX_RETRY_AFTER_S)


def _error_fields(body: object) -> tuple[str, str, str]:
    """(type, code, message) from either wire format's error body, as lower-risk strings.

    OpenAI SDK bodies are the inner `error` object; Anthropic's are `{"type": "error",
    "error": {...}}`; a raw string body (non-JSON error page) becomes the message.
    """
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: a hostile body nested too deep
            return "", "", str(body)
    if not isinstance(body, Mapping):
        return "", "", ""
    inner = body.get("error")
    if isinstance(inner, Mapping):
        body = inner
    elif isinstance(inner, str):  # some OpenAI-compatible servers: {"error": "message"}
        return "", "", inner
    etype = body.get("type")
    code = body.get("code")
    msg = body.get("message") or body.get("detail") or ""
    if not isinstance(msg, str):
        msg = json.dumps(msg, default=str)
    upstream = _upstream_cause(body.get("metadata"))
    if upstream:
        msg = f"{msg} ({upstream})" if msg else upstream
    return (str(etype) if etype else "", str(code) if code else "", msg)


def _upstream_cause(metadata: object) -> str:
    """'Anthropic: Overloaded' from OpenRouter's `metadata` of an upstream error, whose own
    message is only "Provider returned error": the provider it forwarded to, and what that one
    said (its error body as a string, JSON or plain text). Empty when there is none."""
    if not isinstance(metadata, Mapping):
        return ""
    raw = metadata.get("raw")
    if isinstance(raw, Mapping):
        raw = json.dumps(raw, default=str)
    if not isinstance(raw, str) or not raw.strip():
        return ""
    etype, code, said = _error_fields(raw)
    said = said or etype or code
    if not said or said.lstrip().startswith("{"):
        said = raw
    name = metadata.get("provider_name")
    return f"{name}: {said}" if isinstance(name, str) and name else said


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _has_any(text: str, words: Iterable[str]) -> bool:
    return any(word in text for word in words)


def classify_status(
    status: int | None, etype: str, code: str, message: str
) -> ErrorKind:
    """The kind for an HTTP error (or an error event inside a 200 stream, status None/200)."""
    text = f"{etype} {code} {message}".lower()
    if status in (529, _GROQ_FLEX_FULL) or "capacity_exceeded" in (etype, code) or _has_any(text, _OVERLOADED_WORDS):
        return ErrorKind.OVERLOADED
    if (status is None or status < 500) and (affords := affordable_tokens(text)) is not None and affords > 0:
        return ErrorKind.CREDIT_LIMITED  # none at all is a spent quota
    if (status is None or status < 500) and (allowed := allowed_prompt_tokens(text)) is not None and allowed > 0:
        return ErrorKind.CREDIT_LIMITED  # this prompt is over what the credit pays for; none at all is spent
    if status == 402 or ((status is None or status < 500) and _has_any(text, _QUOTA_WORDS)):
        return ErrorKind.QUOTA
    if status in (413, 429) and over_whole_budget(text) is not None:
        return ErrorKind.REQUEST_TOO_LARGE  # waiting for the budget to refill never lets it through
    if status == 429 or (status == 413 and (_has_any(text, _RATE_WORDS) or _has_any(text, _TOKEN_BUDGET_WORDS))):
        return ErrorKind.RATE_LIMITED
    if status == 403 and _has_any(text, _POLICY_WORDS):
        # OpenRouter answers a prompt its moderation flagged with a 403: a refusal of this
        # prompt, not of the key, so the provider must not be disabled for it.
        return ErrorKind.CONTENT_POLICY
    if status in (401, 403):
        return ErrorKind.AUTH
    if status in (None, 400, 404) and _has_any(text, _NOT_LOADED_WORDS):
        return ErrorKind.SERVER
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 408:
        return ErrorKind.TIMEOUT
    if status is not None and status >= 500:
        return ErrorKind.SERVER
    if status in (400, 413, 422) or status is None or status < 400:
        if _has_any(text, _CONTEXT_WORDS) or status == 413:
            return ErrorKind.CONTEXT_OVERFLOW
        if _has_any(text, _POLICY_WORDS):
            return ErrorKind.CONTENT_POLICY
        if status is None or status < 400:
            # An error event inside a stream that answered 200: the server failed mid-answer.
            if _has_any(text, _RATE_WORDS):
                return ErrorKind.RATE_LIMITED
            if "authentication" in text or "permission" in text:
                return ErrorKind.AUTH
            if "not_found" in text:
                return ErrorKind.NOT_FOUND
            return ErrorKind.SERVER
        return ErrorKind.BAD_REQUEST
    return ErrorKind.BAD_REQUEST


def affordable_tokens(text: str) -> int | None:
    """The output tokens the credit covers, from a refusal for too large a max_tokens; None when
    the text is no such refusal."""
    found = _AFFORDS.search(text.lower())
    return int((found.group(1) or found.group(2)).replace(",", "")) if found else None


def over_whole_budget(text: str) -> tuple[int, int] | None:
    """(limit, requested) of a per-minute token budget the request alone is over; None when the
    text is no such refusal, or the request would fit once the budget refills."""
    lowered = text.lower()
    found = _BUDGET_ASKED.search(lowered) if _has_any(lowered, _TOKEN_BUDGET_WORDS) else None
    if found is None:
        return None
    limit, requested = (int(g.replace(",", "")) for g in found.groups())
    return (limit, requested) if requested > limit > 0 else None


def allowed_prompt_tokens(text: str) -> int | None:
    """The prompt tokens the credit covers, from a refusal for too long a prompt; None when the
    text is no such refusal."""
    found = _PROMPT_ALLOWANCE.search(text.lower())
    return int(found.group(1).replace(",", "")) if found else None


def map_exception(
    exc: BaseException,
    *,
    provider: str = "",
    model: str = "",
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """Turn any exception raised while talking to a provider into a ProviderError."""
    secrets = tuple(secrets)

    def make(kind: ErrorKind, message: str, status: int | None = None, retry_after: float | None = None,
             **extra: object) -> ProviderError:
        return ProviderError(
            kind=kind,
            message=scrub(message, secrets) or kind.value.replace("_", " "),
            status=status,
            retry_after=retry_after,
            provider=provider,
            model=model,
            extra={k: v for k, v in extra.items() if v},
        )

    if isinstance(exc, ProviderError):
        return exc
    from chatroute.providers.http import refused_redirect

    redirect = refused_redirect(exc)
    if redirect is not None:
        return make(ErrorKind.CONNECTION, str(redirect))
    names = _class_names(exc)

    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and ("APIStatusError" in names or "APIError" in names):
        etype, code, msg = _error_fields(getattr(exc, "body", None))
        in_stream = status < 400  # Anthropic raises error events of a 200 stream with the 200 status
        kind = classify_status(None if in_stream else status, etype, code, msg)
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        retry_after = parse_retry_after(headers) if not in_stream else None
        if (retry_after is None and not in_stream and kind is ErrorKind.RATE_LIMITED and headers is not None
                and _has_any(f"{etype} {msg}".lower(), _TOKEN_BUDGET_WORDS)):
            # No Retry-After (Groq sends one only with a 429): the token budget's own reset.
            retry_after = parse_reset(headers.get("x-ratelimit-reset-tokens"))
        label = etype or code
        if kind is ErrorKind.NOT_FOUND and status == 404 and _no_route(getattr(exc, "body", None), msg, model):
            where = _request_url(response)
            return make(ErrorKind.ENDPOINT_NOT_FOUND, wrong_endpoint(where, html=_looks_like_html(msg)), status,
                        retry_after, type=etype, code=code, hint=wrong_endpoint(where, html=False, hint=True))
        if _looks_like_html(msg):
            msg = "the server returned an HTML page, not an API response (a wrong base_url, or a login page?)"
        text = msg or (label.replace("_", " ") if label else f"HTTP {status}")
        if in_stream:
            text = f"error in stream: {text}"
        affords = affordable_tokens(msg) if kind is ErrorKind.CREDIT_LIMITED else None
        allowed = allowed_prompt_tokens(msg) if kind is ErrorKind.CREDIT_LIMITED and not affords else None
        hint = (f"credits cover only {affords:,} output tokens" if affords
                else f"the account allows {allowed:,} prompt tokens" if allowed else None)
        if kind is ErrorKind.REQUEST_TOO_LARGE and (sizes := over_whole_budget(msg)) is not None:
            hint = (f"request too large for {provider or 'the provider'}: {sizes[1]:,} tokens, over its whole"
                    f" {sizes[0]:,} a minute")
            retry_after = None  # no wait lets it through
        return make(kind, text, None if in_stream else status, retry_after, type=etype, code=code,
                    affordable_tokens=affords, prompt_tokens_allowed=allowed, hint=hint)

    if "APITimeoutError" in names:
        return make(ErrorKind.TIMEOUT, "request timed out")
    if "APIConnectionError" in names:
        return make(ErrorKind.CONNECTION, _unreachable(exc) or _connection_text(exc))
    if "APIResponseValidationError" in names:
        return make(ErrorKind.MALFORMED_STREAM, "response did not match the API schema")
    if "APIError" in names:
        # The OpenAI SDK raises a status-less APIError for `data: {"error": ...}` inside a stream.
        etype, code, msg = _error_fields(getattr(exc, "body", None))
        msg = msg or getattr(exc, "message", "") or str(exc)
        kind = classify_status(None, etype, code, msg)
        return make(kind, f"error in stream: {msg}", type=etype, code=code)

    # Raw transport errors (the Anthropic SDK lets httpx2 errors through mid-stream).
    if "TimeoutException" in names or isinstance(exc, TimeoutError):
        return make(ErrorKind.TIMEOUT, "timed out waiting for the server")
    if names & {"TransportError", "RequestError", "NetworkError", "ProtocolError", "EndOfStream",
                "ClosedResourceError", "BrokenResourceError"} or isinstance(exc, (ConnectionError, OSError)):
        return make(ErrorKind.CONNECTION, _connection_text(exc))
    if isinstance(exc, ValueError):
        # json.JSONDecodeError / UnicodeDecodeError from decoding an SSE chunk.
        return make(ErrorKind.MALFORMED_STREAM, f"could not parse the stream: {type(exc).__name__}")
    if "CredentialsError" in names or "Missing credentials" in str(exc) or "authentication method" in str(exc):
        return make(ErrorKind.AUTH, f"missing credentials: {exc}")
    return make(ErrorKind.SERVER, f"unexpected {type(exc).__name__}: {exc}")


# How servers word a 404 for a path they have no route for (OpenAI's own 'Invalid URL (POST ...)'
# and 'Unknown request URL', Python frameworks' 'Not Found', proxies' 'no route').
_NO_ROUTE_WORDS = ("not found", "no route", "invalid url", "unknown request url", "unknown url",
                   "unrecognized request url", "cannot post", "no such route", "no such path")


def _no_route(body: object, message: str, model: str) -> bool:
    """A 404 that is not the API's own 'no such model': an empty, HTML or text page, or a JSON
    error in a router's generic words, none naming a model. A specific API error (OpenRouter's
    'No endpoints found matching your data policy') stays the model's."""
    if _looks_like_html(message):
        return True  # a web page, whatever it says (a site's 404 page may well list "Models")
    text = message.lower()
    if "model" in text or (model and model.lower() in text):
        return False
    if not isinstance(body, Mapping) or not message.strip():
        return True  # not the API's JSON error: a page, plain text or nothing
    return _has_any(text, _NO_ROUTE_WORDS)


def _request_url(response: object) -> str:
    """Where the request went, without its query or credentials: scheme, host, port and path."""
    from urllib.parse import urlsplit

    url = getattr(getattr(response, "request", None), "url", None)
    if url is None:
        return "the base_url"
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*/", re.IGNORECASE)


def wrong_endpoint(where: str, *, html: bool, hint: bool = False) -> str:
    """'openai-compatible endpoint not found at https://api.together.xyz/chat/completions (does
    base_url end in /v1?)'; as a reroute line's hint, without the parentheses."""
    path = where.lower()
    if path.endswith("/messages"):
        what = "anthropic"
        advice = ("base_url should not end in /v1: /v1/messages is added to it" if "/v1/v1/" in path
                  else "check base_url")
    else:
        what = "openai-compatible" if path.endswith("/chat/completions") else "API"
        advice = "check base_url" if _VERSION_SEGMENT.search(path) else "does base_url end in /v1?"
    if html:
        advice = f"the server answered with an HTML page; {advice}"
    said = f"{what} endpoint not found at {where}"
    return f"{said}: {advice}" if hint else f"{said} ({advice})"


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body")) or (head.startswith("<") and "<html" in head)


def _connection_text(exc: BaseException) -> str:
    """Describe a transport failure by its root cause (e.g. 'incomplete chunked read')."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and cause.__cause__ is not None and seen < 5:
        cause = cause.__cause__
        seen += 1
    detail = str(cause) if cause is not None and cause is not exc else ""
    if not detail:
        detail = str(exc) if str(exc) and str(exc) != "Connection error." else type(exc).__name__
    return detail  # shown after "connection failed:", so no "connection error:" prefix of its own


_LOOPBACK = ("127.", "localhost", "::1", "[::1]", "0.0.0.0")


def _unreachable(exc: BaseException) -> str | None:
    """For a request that never reached a server (refused, no route, an unknown host), where it
    was going: httpx's own words ('All connection attempts failed') name no address, and a local
    server that was stopped is the usual cause. None for any other transport failure."""
    names: set[str] = set()
    cause: BaseException | None = exc
    for _ in range(5):
        if cause is None:
            break
        names |= _class_names(cause)
        cause = cause.__cause__ or cause.__context__
    url = getattr(getattr(exc, "request", None), "url", None)
    if "ConnectError" not in names or url is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(str(url))
    host = parts.hostname or ""
    shown = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{f':{parts.port}' if parts.port else ''}"
    local = host.startswith(_LOOPBACK)
    return f"could not connect to {shown} ({_connection_text(exc)})" + ("; is the server running?" if local else "")


def stream_ended_early(*, provider: str, model: str, got_text: bool) -> ProviderError:
    """A stream whose body ended cleanly but without a finish: treat as a broken stream."""
    where = "mid-answer" if got_text else "before any text"
    return ProviderError(
        kind=ErrorKind.MALFORMED_STREAM,
        message=f"stream ended {where} without a finish reason",
        provider=provider,
        model=model,
    )


def error_instead_of_stream(body: object, *, provider: str, model: str,
                            secrets: Iterable[str | None] = ()) -> ProviderError | None:
    """The error a server sent as a JSON document with status 200 where an event stream was asked
    for (a proxy, or a server reporting a failure so), or None when `body` holds no error."""
    if not isinstance(body, Mapping) or not body.get("error"):
        return None
    etype, code, msg = _error_fields(body)
    kind = classify_status(None, etype, code, msg)
    text = scrub(msg or etype or code, secrets) or "no message"
    extra: dict[str, object] = {k: v for k, v in (("type", etype), ("code", code)) if v}
    return ProviderError(kind, f"error instead of a stream: {text}", provider=provider, model=model, extra=extra)


def first_token_timeout(*, provider: str, model: str, seconds: float) -> ProviderError:
    return ProviderError(
        kind=ErrorKind.TIMEOUT,
        message=f"no first token within {seconds:g} s (first_token_timeout_s)",
        provider=provider,
        model=model,
    )


def is_official_endpoint(url: str | None) -> bool:
    """True for the vendors' own APIs (or the SDK default), which always need a key."""
    if not url:
        return True
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host.endswith("openai.com") or host.endswith("anthropic.com")


def key_hint(env: str | None) -> str:
    """How to give a provider its key: the variable it reads, or the config field to add."""
    return f"set {env}" if env else "set api_key_env in the config"


def missing_key(*, provider: str, env: str | None) -> ProviderError:
    return ProviderError(
        kind=ErrorKind.AUTH, message=f"no API key for provider {provider!r}: {key_hint(env)}", provider=provider
    )
