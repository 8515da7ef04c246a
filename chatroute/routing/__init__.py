"""The router: features, quality model, policy, health, preferences, evaluation.

Submodules are imported on demand (`from chatroute.routing.policy import Router`), so
importing this package costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Router": "policy",
    "RouteRequest": "decision",
    "RouteDecision": "decision",
    "RouteCandidate": "decision",
    "BudgetState": "decision",
    "NoRouteError": "decision",
    "PromptTooLargeError": "decision",
    "parse_override": "policy",
    "PRESETS": "policy",
    "HealthBoard": "health",
    "PreferenceModel": "preferences",
    "QualityModel": "quality",
    "get_quality_model": "quality",
    "evaluate_file": "evaluate",
    "format_table": "evaluate",
}


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(name)
    return getattr(import_module(f"chatroute.routing.{mod}"), name)


__all__ = sorted(_EXPORTS)
