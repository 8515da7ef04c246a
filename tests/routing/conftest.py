from __future__ import annotations

from typing import Any

import pytest

try:
    from chatroute.catalog.models import ModelInfo
except ImportError:  # catalogue not there yet: a stand-in with the same fields
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class ModelInfo:  # type: ignore[no-redef]
        id: str
        provider: str
        name: str
        input_cost_per_mtok: float | None
        output_cost_per_mtok: float | None
        cached_input_cost_per_mtok: float | None = None
        cache_write_cost_per_mtok: float | None = None
        context_window: int | None = None
        max_output_tokens: int | None = None
        ability: float = 0.5
        capabilities: frozenset[str] = field(default_factory=frozenset)
        price_source: str = "unknown"
        price_as_of: str | None = None


def make_model(mid: str, inp: float | None, out: float | None, ability: float, **kw: Any) -> ModelInfo:
    provider, name = mid.split("/", 1)
    return ModelInfo(
        id=mid,
        provider=provider,
        name=name,
        input_cost_per_mtok=inp,
        output_cost_per_mtok=out,
        context_window=kw.pop("context_window", 128_000),
        max_output_tokens=kw.pop("max_output_tokens", 16_000),
        ability=ability,
        capabilities=frozenset(kw.pop("capabilities", ())),
        **kw,
    )


@pytest.fixture
def pool() -> list[ModelInfo]:
    return [
        make_model("openai/gpt-4o-mini", 0.15, 0.6, 0.54),
        make_model("openai/gpt-4o", 2.5, 10.0, 0.61, capabilities={"vision"}),
        make_model("anthropic/claude-sonnet-4-5", 3.0, 15.0, 0.86, context_window=200_000),
    ]


class StubQuality:
    """Deterministic qualities for policy tests."""

    ability0 = 0.3

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def predict(self, features: Any, models: Any) -> dict[str, float]:
        return {m.id: self.table.get(m.id, 0.5) for m in models}
