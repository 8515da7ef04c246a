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


def pricer(catalog: Catalog) -> Callable[[RecoveredStream], TurnRecord | None]:
    def price(stream: RecoveredStream) -> TurnRecord | None:
        from chatroute.catalog.cost import estimate_cost
        from chatroute.catalog.tokens import count_messages, count_tokens

        try:
            info = catalog.get(stream.model)
        except ChatrouteError:  # no longer configured: tokens still count, the price is unknown
            info = None
        n_in, _ = count_messages([{"role": r, "content": c} for r, c in stream.request], stream.system,
                                 stream.model)
        n_out, _ = count_tokens(stream.text, stream.model)
        if info is not None and info.max_output_tokens:
            n_out = min(n_out, info.max_output_tokens)  # all a provider bills for one reply
        return stream.record(
            input_tokens=n_in, output_tokens=n_out,
            cost_usd=estimate_cost(info, n_in, n_out) if info is not None else None,
            provider=info.provider if info is not None else None,
            price_as_of=info.price_as_of if info is not None else None,
        )

    return price
