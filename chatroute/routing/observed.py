"""What was seen of each model's answers, turned into a bounded lowering of its ability prior.

A regeneration says the user did not accept a model's answer; a failed request says it did
not give one. Both count as bad outcomes. A failure weighs half: a server error or a timeout
says as much about the provider's load as about the model. Rate limits, bad keys, unknown
model names and rejected requests say nothing about it and do not count. Each answer that was
neither is weak evidence the other way, and abilities.observed_penalty turns the counts into
at most MAX_OBSERVED_PENALTY ability points. A model whose ability the user set is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chatroute.catalog.abilities import observed_penalty

FAILURE_WEIGHT = 0.5


@dataclass(frozen=True)
class Observed:
    regenerations: int = 0
    failures: int = 0
    answers: int = 0  # requests that succeeded

    @property
    def penalty(self) -> float:
        bad = self.regenerations + FAILURE_WEIGHT * self.failures
        good = max(0, self.answers - self.regenerations)
        return observed_penalty(bad, good)

    def describe(self) -> str:
        parts = []
        if self.regenerations:
            parts.append(f"{self.regenerations} regeneration{'s' if self.regenerations != 1 else ''}")
        if self.failures:
            parts.append(f"{self.failures} failure{'s' if self.failures != 1 else ''}")
        return f"lowered {self.penalty:.2f} after {' and '.join(parts)}" if parts else ""


def observe(preferences: Iterable[Any], health: Mapping[str, Mapping[str, Any]]) -> dict[str, Observed]:
    """Per model, from the store's preference records and a HealthBoard snapshot."""
    regens: dict[str, int] = {}
    for p in preferences:
        if getattr(p, "kind", None) == "regenerate":
            for m in getattr(p, "rejected_models", None) or []:
                regens[m] = regens.get(m, 0) + 1
    out: dict[str, Observed] = {}
    for model in set(regens) | set(health):
        h = health.get(model) or {}
        all_failures = int(h.get("failures") or 0)
        failures = max(0, all_failures - int(h.get("provider_failures") or 0))
        answers = max(0, int(h.get("requests") or 0) - all_failures)
        obs = Observed(regens.get(model, 0), failures, answers)
        if obs.penalty > 0:
            out[model] = obs
    return out
