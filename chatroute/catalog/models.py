"""ModelInfo: everything the router, engine and UI need to know about one model."""

from __future__ import annotations

from dataclasses import dataclass, field

PriceSource = str  # "override" | "refreshed" | "bundled" | "local" | "unknown"

# Capability names (from LiteLLM's supports_* flags, prefix dropped).
CAPABILITIES = ("function_calling", "vision", "prompt_caching", "reasoning")


@dataclass(frozen=True)
class PriceTier:
    """The rates of a request whose prompt (cache reads and writes included) is over
    `above_tokens`, per million tokens; None keeps the model's base rate of that kind."""

    above_tokens: int
    input_cost_per_mtok: float | None = None
    output_cost_per_mtok: float | None = None
    cached_input_cost_per_mtok: float | None = None
    cache_write_cost_per_mtok: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    """One model as `provider/model`, priced per million tokens (None = unknown, never 0)."""

    id: str  # "provider/model", provider being the config's provider name
    provider: str
    name: str  # the provider's own model id, sent in requests
    input_cost_per_mtok: float | None
    output_cost_per_mtok: float | None
    cached_input_cost_per_mtok: float | None = None
    cache_write_cost_per_mtok: float | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    ability: float = 0.5  # 0..1, the router's prior for this model's strength
    # Where `ability` came from: leaderboard | name | server | unknown | config (see abilities.py),
    # and the size it was read from ("135M") for name and server.
    ability_source: str = "leaderboard"
    ability_detail: str | None = None
    capabilities: frozenset[str] = field(default_factory=frozenset)
    price_source: PriceSource = "unknown"
    price_as_of: str | None = None  # ISO date the price held
    price_tiers: tuple[PriceTier, ...] = ()  # long-context prices, by ascending threshold

    @property
    def price_known(self) -> bool:
        return self.input_cost_per_mtok is not None and self.output_cost_per_mtok is not None

    @property
    def ability_note(self) -> str:
        """`ability unknown: prior 0.30`, `ability from size (135M, name): 0.05`, ..."""
        from chatroute.catalog.abilities import AbilityPrior

        return AbilityPrior(self.ability, self.ability_source, self.ability_detail).describe()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for `chatroute models --json`)."""
        return {
            "id": self.id,
            "provider": self.provider,
            "name": self.name,
            "input_cost_per_mtok": self.input_cost_per_mtok,
            "output_cost_per_mtok": self.output_cost_per_mtok,
            "cached_input_cost_per_mtok": self.cached_input_cost_per_mtok,
            "cache_write_cost_per_mtok": self.cache_write_cost_per_mtok,
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "ability": self.ability,
            "ability_source": self.ability_source,
            "ability_detail": self.ability_detail,
            "ability_note": self.ability_note,
            "capabilities": sorted(self.capabilities),
            "price_source": self.price_source,
            "price_as_of": self.price_as_of,
        }
