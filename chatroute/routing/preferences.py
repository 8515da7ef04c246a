"""Per-user preference adjustment: a small, bounded per-model bias on predicted quality.

The store's `preferences` table is the source of truth: `PreferenceModel.from_preferences(
store.preferences())` replays the events oldest first (the engine does this once per process);
new events are applied with `record(...)` as they happen. Resetting = starting from no events.

Signals (recorded by the engine): a per-turn override or an `@model` prefix (the user chose
that model over the routed one), a regeneration on another model (the first answer was
rejected), a compare-mode pick (chosen over the others shown). Each is a pairwise
"chosen beats rejected" event; we take a Bradley-Terry style step on a raw score per model
and squash it: bias = MAX_BIAS * tanh(raw / MAX_BIAS). Old signals fade (decay per event),
so the router keeps following what the user chooses now. Reset clears everything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatroute import jsonsafe
from chatroute.fsutil import atomic_write

FILE_NAME = "router_preferences.json"
MAX_BIAS = 0.08  # at most +-8 quality points: a nudge, never a veto
STEP = 0.02
DECAY = 0.995  # per event; a signal loses half its weight after ~140 newer events

KIND_WEIGHT = {"override": 1.0, "compare_pick": 1.0, "regenerate": 0.7}


@dataclass
class PreferenceModel:
    path: Path | None = None
    raw: dict[str, float] = field(default_factory=dict)
    events: int = 0

    @classmethod
    def from_preferences(cls, records: Iterable[Any]) -> PreferenceModel:
        """Replay store Preference records (kind, chosen_model, rejected_models), oldest first."""
        model = cls()
        for r in records:
            chosen = getattr(r, "chosen_model", None)
            if chosen or getattr(r, "rejected_models", None):
                model.record(str(getattr(r, "kind", "")), chosen, list(getattr(r, "rejected_models", []) or []), save=False)
        return model

    @property
    def biases(self) -> dict[str, float]:
        return {m: round(self.bias(m), 4) for m in sorted(self.raw) if abs(self.bias(m)) >= 1e-4}

    @classmethod
    def open(cls, data_dir: Path | None = None) -> PreferenceModel:
        if data_dir is None:
            from chatroute.paths import resolve_paths

            data_dir = resolve_paths().data_dir
        prefs = cls(path=Path(data_dir) / FILE_NAME)
        if prefs.path and prefs.path.exists():
            try:
                d = json.loads(prefs.path.read_text(encoding="utf-8"))
                prefs.raw = {str(k): float(v) for k, v in d.get("raw", {}).items()}
                prefs.events = int(d.get("events", 0))
            except (OSError, ValueError):
                pass
        return prefs

    def bias(self, model: str) -> float:
        r = self.raw.get(model, 0.0)
        return MAX_BIAS * math.tanh(r / MAX_BIAS)

    def record(self, kind: str, chosen: str | None, rejected: Iterable[str], *, save: bool = True) -> None:
        """One preference event: `chosen` was preferred over each of `rejected`."""
        rejected = [r for r in rejected if r and r != chosen]
        if not rejected:
            return
        w = KIND_WEIGHT.get(kind, 0.5)
        for m in list(self.raw):
            self.raw[m] *= DECAY
        for r in rejected:
            # Logistic step: learn less once the bias already agrees with the choice.
            # A regenerate says only what was rejected: compare it with a neutral model.
            chosen_bias = self.bias(chosen) if chosen else 0.0
            p = 1.0 / (1.0 + math.exp(-(chosen_bias - self.bias(r)) / (MAX_BIAS / 2)))
            g = STEP * w * (1.0 - p) / len(rejected) * 2
            if chosen:
                self.raw[chosen] = self.raw.get(chosen, 0.0) + g
            self.raw[r] = self.raw.get(r, 0.0) - g
        self.events += 1
        if save:
            self.save()

    def reset(self) -> None:
        self.raw.clear()
        self.events = 0
        self.save()

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "max_bias": MAX_BIAS, "bias": self.biases}

    def save(self) -> None:
        if self.path is None:
            return
        data = jsonsafe.dumps({"version": 1, "events": self.events, "raw": self.raw})
        atomic_write(self.path, data, durable=False)


UserPreferences = PreferenceModel  # older name
