"""Model catalogue: prices, context windows, abilities, costs and token counts.

Importing this package is cheap: no JSON is parsed and tiktoken is not imported until a
function that needs them is called. Names below are re-exported lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the redundant aliases mark these as re-exports for type checkers and linters
    from chatroute.catalog.catalog import Catalog as Catalog
    from chatroute.catalog.cost import estimate_cost as estimate_cost
    from chatroute.catalog.cost import turn_cost as turn_cost
    from chatroute.catalog.models import ModelInfo as ModelInfo
    from chatroute.catalog.prices import PriceFeedError as PriceFeedError
    from chatroute.catalog.prices import PriceTable as PriceTable
    from chatroute.catalog.prices import UpdateResult as UpdateResult
    from chatroute.catalog.prices import update_prices as update_prices
    from chatroute.catalog.tokens import count_messages as count_messages
    from chatroute.catalog.tokens import count_tokens as count_tokens

_EXPORTS = {
    "Catalog": "catalog",
    "ModelInfo": "models",
    "turn_cost": "cost",
    "estimate_cost": "cost",
    "PriceTable": "prices",
    "PriceFeedError": "prices",
    "UpdateResult": "prices",
    "update_prices": "prices",
    "count_tokens": "tokens",
    "count_messages": "tokens",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'chatroute.catalog' has no attribute {name!r}")
    value = getattr(import_module(f"chatroute.catalog.{mod}"), name)
    globals()[name] = value
    return value
