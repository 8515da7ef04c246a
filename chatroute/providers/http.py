"""What the adapters add to the SDKs' HTTP handling: no prompt follows a redirect to another
origin, and a page of HTML is reported as what it is.

Imports neither SDK: the hook and the checks work on httpx/httpx2 request and response objects
by duck typing, so both adapters share them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from chatroute.providers.base import ErrorKind, ProviderError, Sending

# The request being opened in this task: the client is shared by every stream, so the hook
# finds each request's own note here (set only around the call that sends it).
SENDING: ContextVar[Sending | None] = ContextVar("chatroute_sending", default=None)


class RedirectRefused(Exception):
    """Raised from the HTTP client's request hook: the request would leave the provider's origin."""


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _shown(url: str) -> str:
    # Scheme, host and port only: a redirect's path or query may carry tokens.
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def same_origin_guard(base_url: Callable[[], str]) -> Callable[[Any], Awaitable[None]]:
    """A request hook for the SDK's HTTP client. The client follows redirects, and on a 307 or
    308 it re-sends the body (the whole prompt) and, for Anthropic, the x-api-key header, to
    wherever the server points. Only a redirect within the provider's own origin (scheme, host
    and port of its base URL) is let through; any other raises RedirectRefused before sending."""

    async def check(request: Any) -> None:
        home = base_url()
        if origin(str(request.url)) != origin(home):
            raise RedirectRefused(
                f"the server redirected the request to {_shown(str(request.url))}, another origin than "
                f"{_shown(home)}: not followed, so the prompt was not sent there "
                "(set base_url to the new address if you trust it)"
            )

    return check


async def note_sending(request: Any) -> None:
    """A request hook: has the transport (httpcore's trace) say when the request has gone out
    and when an answer came back, into the note of the request being opened."""
    sending = SENDING.get()
    if sending is None:
        return

    async def trace(name: str, info: dict[str, Any]) -> None:
        if name.endswith(".send_request_body.complete"):
            sending.sent, sending.answered = True, False
        elif name.endswith(".receive_response_headers.complete"):
            sending.answered = True

    request.extensions = {**request.extensions, "trace": trace}


def refused_redirect(exc: BaseException) -> RedirectRefused | None:
    """The RedirectRefused behind `exc` (the SDKs may wrap it), or None."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, RedirectRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def check_api_response(response: Any, *, provider: str, model: str) -> None:
    """A 200 whose body is a web page, not an event stream: a wrong base_url (the site's home
    page), a captive portal or a proxy's login page. Said plainly rather than as an empty stream."""
    headers = getattr(response, "headers", None)
    ctype = str(headers.get("content-type", "") if headers is not None else "").lower()
    if "html" in ctype:
        url = getattr(getattr(response, "request", None), "url", None)
        where = f" at {_shown(str(url))}" if url is not None else ""
        # SERVER: a routed turn fails over to another provider, and this one cools down.
        raise ProviderError(
            ErrorKind.SERVER,
            f"the server{where} returned an HTML page, not an API response "
            "(a wrong base_url, or a login page in the way?)",
            provider=provider,
            model=model,
        )


async def json_instead_of_events(response: Any) -> Any:
    """The JSON document a 200 carried where an event stream was asked for: an error (a proxy, or
    a server failing so) or a whole answer (a server that ignores `stream`); None for a stream.
    A body labelled JSON that is not one is left to be read as events (httpx keeps it)."""
    headers = getattr(response, "headers", None)
    ctype = str(headers.get("content-type", "") if headers is not None else "").lower()
    if "json" not in ctype or "event-stream" in ctype:
        return None
    try:
        return json.loads(await response.aread())
    except (ValueError, RecursionError):  # RecursionError: a hostile body nested too deep
        return None
