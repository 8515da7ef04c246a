"""Estimated turn records for replies that a stopped process left mid-stream.

The store finds them when it opens (see `Store.open(price_recovered=...)`) but knows no
tokenizer or price; a client that has the catalogue passes `pricer(catalog)`, which counts the
request and the partial reply with the catalogue's tokenizer and prices them like any turn
whose usage the API never reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chatroute.errors import ChatrouteError

if TYPE_CHECKING:
    from chatroute.catalog import Catalog
    from chatroute.store.records import RecoveredStream, TurnRecord


def pricer(catalog: Catalog, *,
           max_history_tokens: int | None = None) -> Callable[[RecoveredStream], TurnRecord | None]:
    """`max_history_tokens`: the [chat] cap the engine windows each request's history to, so
    a stream of a long conversation is not priced as if all of it had been sent."""

    def price(stream: RecoveredStream) -> TurnRecord | None:
        from chatroute.catalog.cost import turn_cost
        from chatroute.catalog.tokens import count_messages, count_tokens
        from chatroute.providers.base import UsageReport

        try:
            info = catalog.get(stream.model)
        except ChatrouteError:  # no longer configured: tokens still count, the price is unknown
            info = None
        n_out, _ = count_tokens(stream.text, stream.model)
        n_out += stream.thinking_tokens
        if info is not None and info.max_output_tokens:
            n_out = min(n_out, info.max_output_tokens)  # all a provider bills for one reply
        reported = stream.reported_input
        if reported is not None:  # the provider's own count of what it was sent
            n_in, cached, writes = reported.input, reported.cached, reported.cache_write
        else:
            request = _windowed(stream.request, max_history_tokens)
            n_in, _ = count_messages([{"role": r, "content": c} for r, c in request], stream.system, stream.model)
            cached = writes = 0
        usage = UsageReport(input_tokens=n_in, output_tokens=n_out, cached_input_tokens=cached,
                            cache_write_tokens=writes)
        return stream.record(
            input_tokens=n_in, output_tokens=n_out, cached_tokens=cached, cache_write_tokens=writes,
            cost_usd=turn_cost(info, usage) if info is not None else None,
            provider=info.provider if info is not None else None,
            price_as_of=info.price_as_of if info is not None else None,
            price_source=info.price_source if info is not None else None,
        )

    return price


Request = tuple[tuple[str, str], ...]


def _windowed(request: Request, max_history_tokens: int | None) -> Request:
    """The request with its history cut as the engine cuts it under the cap: an upper bound
    of what was sent (a small context window may have cut it further)."""
    if max_history_tokens is None or len(request) < 2:
        return request
    from chatroute.routing.policy import CHARS_PER_TOKEN, MESSAGE_FRAMING_TOKENS
    from chatroute.store.db import tail_start
    from chatroute.textsize import text_weight

    *history, prompt = request
    start = tail_start([(role, text_weight(content)) for role, content in history],
                       max_history_tokens * CHARS_PER_TOKEN, MESSAGE_FRAMING_TOKENS * CHARS_PER_TOKEN)
    return (*history[start:], prompt)
