"""Per-user preference adjustment: a small, bounded per-model shift of predicted quality.

The store's `preferences` table is the source of truth: `PreferenceModel.from_preferences(
store.preferences())` replays the events oldest first (the engine does this once per process);
new events are applied with `record(...)` as they happen. Resetting = starting from no events.

Signals (recorded by the engine): a per-turn override or an `@model` prefix (the user chose
that model over the routed one), a regeneration (the answer was rejected), a compare-mode pick
(chosen over the others shown). Each adds to the chosen model's wins and the rejected models'
losses (weights in KIND_WEIGHT; a pick among several spreads its loss over them), and a
model's learned adjustment is

    MAX_BIAS * (wins - losses) / (wins + losses + PRIOR_COUNT)

so one signal moves it by MAX_BIAS / 9 (0.009), each further one in the same direction by
less than the one before, five by 5/13 of the cap (0.031), and no number of them past the cap.
Old signals fade (DECAY per event), so the router follows what the user chooses now.

How much of it applies to a turn: `prompt_weight`. Paying for a dearer model only buys
something where the cheaper one may fail. With a quality model that scores each turn's need
(how much a stronger model helps), the adjustment does not apply to the least needy tenth of
prompts (need quantile <= SETTLED_NEED), applies fully from SETTLED_NEED + NEED_RAMP up, and in
part between. Without one, the same holds on the predicted quality of the pick routing would
make without the adjustment (no effect at >= SETTLED_QUALITY, full from SETTLED_QUALITY - RAMP).
So a trivial question stays on the cheapest capable model whatever was learned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatroute import jsonsafe
from chatroute.fsutil import atomic_write

if TYPE_CHECKING:
    from chatroute.paths import Paths

# In the data directory: when the user last reset the learned adjustment (`chatroute prefs reset`).
PREFS_RESET_FILE = "preferences-reset-at"


def preferences_reset_at(paths: Paths) -> str | None:
    """When the user last reset the learned adjustment (signals before it are ignored)."""
    from chatroute.store.ids import ts_bound

    try:
        text = (paths.data_dir / PREFS_RESET_FILE).read_text(encoding="utf-8").strip()
        ts_bound(text)
    except (OSError, ValueError):  # missing, unreadable or not a time: no reset to honour
        return None
    return text

FILE_NAME = "router_preferences.json"
MAX_BIAS = 0.08  # at most +-8 quality points: a nudge, never a veto
PRIOR_COUNT = 8.0  # pseudo-signals of "no preference" every model starts with
DECAY = 0.995  # per event; a signal loses half its weight after ~140 newer events
SETTLED_QUALITY = 0.95  # routing's own pick predicted at least this good: preferences do not apply
RAMP = 0.05  # ...and they apply fully once it is predicted SETTLED_QUALITY - RAMP or worse
SETTLED_NEED = 0.10  # need quantile at or below which preferences do not apply
NEED_RAMP = 0.20  # ...and above which they apply fully once past SETTLED_NEED + NEED_RAMP

KIND_WEIGHT = {"override": 1.0, "compare_pick": 1.0, "regenerate": 0.7}


def prompt_weight(quality: float | None, need_quantile: float | None = None) -> float:
    """The share (0..1) of the learned adjustments that applies to a turn whose need sits at
    `need_quantile` of the training prompts, or, without one, on which the model routing would
    pick without them is predicted `quality` (both None: unknown, all of it)."""
    if need_quantile is not None:
        return min(1.0, max(0.0, (need_quantile - SETTLED_NEED) / NEED_RAMP))
    if quality is None:
        return 1.0
    return min(1.0, max(0.0, (SETTLED_QUALITY - quality) / RAMP))


def not_applied_because(quality: float | None, need_quantile: float | None) -> str:
    """Why prompt_weight gave a turn none of the learned adjustments, by the rule it used."""
    if need_quantile is not None:
        return f"among the {SETTLED_NEED:.0%} least needy prompts"
    return f"predicted {quality or 0.0:.2f} already"


def applies_when() -> str:
    """prompt_weight's rule in words (the quality model chatroute ships scores need), for
    `chatroute prefs show`."""
    return (f"none of it on the {SETTLED_NEED:.0%} least needy prompts, all of it from the "
            f"{(SETTLED_NEED + NEED_RAMP) * 100:.0f}th percentile on")


@dataclass
class PreferenceModel:
    path: Path | None = None
    wins: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    events: int = 0

    @classmethod
    def from_preferences(cls, records: Iterable[Any]) -> PreferenceModel:
        """Replay store Preference records (kind, chosen_model, rejected_models), oldest first."""
        model = cls()
        for r in records:
            chosen = getattr(r, "chosen_model", None)
            if chosen or getattr(r, "rejected_models", None):
                rejected = list(getattr(r, "rejected_models", []) or [])
                model.record(str(getattr(r, "kind", "")), chosen, rejected, save=False)
        return model

    @property
    def biases(self) -> dict[str, float]:
        models = sorted(set(self.wins) | set(self.losses))
        return {m: round(self.bias(m), 4) for m in models if abs(self.bias(m)) >= 1e-4}

    def signals(self, model: str) -> tuple[float, float]:
        """(wins, losses) of a model, faded by age."""
        return self.wins.get(model, 0.0), self.losses.get(model, 0.0)

    @classmethod
    def open(cls, data_dir: Path | None = None) -> PreferenceModel:
        if data_dir is None:
            from chatroute.paths import resolve_paths

            data_dir = resolve_paths().data_dir
        prefs = cls(path=Path(data_dir) / FILE_NAME)
        if prefs.path and prefs.path.exists():
            try:
                d = json.loads(prefs.path.read_text(encoding="utf-8"))
                if d.get("version") == 2:  # version 1 kept raw scores of the old rule: start afresh
                    prefs.wins = {str(k): float(v) for k, v in d.get("wins", {}).items()}
                    prefs.losses = {str(k): float(v) for k, v in d.get("losses", {}).items()}
                    prefs.events = int(d.get("events", 0))
            except (OSError, ValueError, AttributeError):
                pass
        return prefs

    def bias(self, model: str) -> float:
        """The model's learned adjustment (quality points, before prompt_weight)."""
        w, lo = self.signals(model)
        return MAX_BIAS * (w - lo) / (w + lo + PRIOR_COUNT)

    def record(self, kind: str, chosen: str | None, rejected: Iterable[str], *, save: bool = True) -> None:
        """One preference event: `chosen` (if any) was preferred over each of `rejected`."""
        rejected = [r for r in dict.fromkeys(rejected) if r and r != chosen]
        if not rejected:
            return
        w = KIND_WEIGHT.get(kind, 0.5)
        for counts in (self.wins, self.losses):
            for m in counts:
                counts[m] *= DECAY
        if chosen:
            self.wins[chosen] = self.wins.get(chosen, 0.0) + w
        for r in rejected:
            self.losses[r] = self.losses.get(r, 0.0) + w / len(rejected)
        self.events += 1
        if save:
            self.save()

    def reset(self) -> None:
        self.wins.clear()
        self.losses.clear()
        self.events = 0
        self.save()

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "max_bias": MAX_BIAS, "bias": self.biases}

    def save(self) -> None:
        if self.path is None:
            return
        data = jsonsafe.dumps({"version": 2, "events": self.events, "wins": self.wins, "losses": self.losses})
        atomic_write(self.path, data, durable=False)


UserPreferences = PreferenceModel  # older name
