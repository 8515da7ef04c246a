"""Human formatting of turn figures, shared by the TUI badge and the CLI."""

from __future__ import annotations

from typing import Any

from chatroute.catalog.cost import format_cost as cost


def duration_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


def short_model(model_id: str) -> str:
    return model_id.split("/", 1)[-1]


def badge(record: Any) -> str:
    """One line: model · cost · time to first token · total · tokens/s (and cache/status marks)."""
    if record.cache_status == "hit":
        sim = f"{record.cache_similarity:.2f}" if record.cache_similarity is not None else "?"
        parts = [f"cache ({short_model(record.model)})", cost(0.0), f"similarity {sim}",
                 duration_ms(record.total_ms)]
        if record.saved_usd:
            parts.append(f"saved {cost(record.saved_usd)}")
        return " · ".join(parts)
    approx = "≈" if record.usage_estimated else ""
    parts = [short_model(record.model), approx + cost(record.cost_usd)]
    parts.append(f"ttft {duration_ms(record.ttft_ms)}")
    parts.append(duration_ms(record.total_ms))
    if record.tokens_per_s:
        parts.append(f"{record.tokens_per_s:.0f} tok/s")
    if record.status == "interrupted":
        parts.append("⚠ interrupted")
    elif record.status == "error":
        parts.append("✗ failed")
    return " · ".join(parts)
