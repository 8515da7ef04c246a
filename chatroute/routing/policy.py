"""The routing policy: which model answers this turn, and why.

    utility = quality + preference adjustment - lambda * expected cost (USD) - mu * expected latency (s)
              + stickiness if the model is the conversation's current model

Quality comes from each model's ability, lowered (boundedly) by what was observed of its
answers (observed.py); the preference adjustment is learned from the user's choices and applies
only where a turn needs a stronger model (preferences.prompt_weight).

after hard filters: a pin or an override decides outright; models that are cooling down or
disabled, that cannot fit the context, that lack a needed capability or that would break
the budget are excluded (and listed, with the reason, in the decision).

Units: quality is a probability (0..1), so lambda is "quality points per US dollar" and mu
"quality points per second". Under a preset, lambda is set per turn from the preset's operating
point on the quality model's need scale (operating.py); the figures below are used only when the
model has no operating points or the pool no price spread. Presets:

    frugal    lambda 100 /$  mu 0.004 /s   1 cent costs 1.00 quality: cheap unless far better
    balanced  lambda  25 /$  mu 0.003 /s   1 cent costs 0.25 quality
    best      lambda   2 /$  mu 0.001 /s   cost barely matters

(A short chat turn costs ~0.01-0.3 cents on current models, so at "balanced" a model 10x
dearer must be predicted a few quality points better to win.)

An explicit `cost_weight` / `latency_weight` in the config replaces the preset's value.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from chatroute.accounting import CapSpend
from chatroute.errors import ChatrouteError
from chatroute.routing.features import TurnFeatures, extract, lexical_features
from chatroute.routing.health import HealthBoard
from chatroute.routing.observed import Observed
from chatroute.routing.operating import preset_price
from chatroute.routing.preferences import PreferenceModel, prompt_weight

Preset = Literal["frugal", "balanced", "best"]
PRESETS: dict[str, tuple[float, float]] = {
    "frugal": (100.0, 0.004),
    "balanced": (25.0, 0.003),
    "best": (2.0, 0.001),
}
CHARS_PER_TOKEN = 3.6  # routing-time estimate; exact counts are the catalogue's job
BUDGET_SOFT_START = 0.8  # from 80% of a cap, lambda grows; at 100% only free models remain
MIN_OUTPUT_TOKENS = 16
MESSAGE_FRAMING_TOKENS = 8  # per message in the routing-time estimate (role, separators)


class NoRouteError(ChatrouteError):
    """Every candidate was excluded (or the pool is empty); `candidates` says why each was.

    Exit code 2: the way out is the user's (a config, a budget, a pin), not a provider's."""

    exit_code = 2

    def __init__(self, message: str, candidates: list[RouteCandidate]) -> None:
        super().__init__(message)
        self.candidates = candidates


class PromptTooLargeError(NoRouteError):
    """The turn's input (prompt, history and system prompt) fits the context window of no
    model it could go to. Raised before anything is stored or sent: a request bound to fail
    would still cost a round trip, and only the user can shorten the input."""

    def __init__(self, message: str, *, tokens: int, window: int, model: str) -> None:
        super().__init__(message, [])
        self.tokens = tokens
        self.window = window
        self.model = model


@dataclass
class RouteCandidate:
    model: str
    quality: float | None
    expected_cost_usd: float | None
    expected_latency_s: float | None
    utility: float | None
    excluded: str | None = None
    adjustment: float = 0.0  # from the user's choices, as applied to this turn (in the utility)
    price_known: bool = True
    learned_adjustment: float = 0.0  # the model's learned adjustment, before this turn's weight
    ability: float | None = None  # as used for `quality`: the prior, less any observed lowering
    ability_note: str | None = None  # where the ability came from, when it is a guess or lowered

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("quality", "expected_cost_usd", "expected_latency_s", "utility", "adjustment",
                  "learned_adjustment", "ability"):
            if isinstance(d[k], float):
                d[k] = round(d[k], 8 if k == "expected_cost_usd" else 4)
        return d


@dataclass
class RouteDecision:
    model: str
    kind: str  # routed | pinned | override | default
    reason: str
    candidates: list[RouteCandidate]
    route_ms: float
    preset: str
    cost_weight: float = 0.0
    latency_weight: float = 0.0
    expected_input_tokens: int = 0
    expected_output_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "reason": self.reason,
            "candidates": [c.to_dict() for c in self.candidates],
            "route_ms": round(self.route_ms, 3),
            "preset": self.preset,
            "cost_weight": self.cost_weight,
            "latency_weight": self.latency_weight,
            "expected_input_tokens": self.expected_input_tokens,
            "expected_output_tokens": self.expected_output_tokens,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class BudgetState(CapSpend):
    """Spend so far against the configured caps (None = no cap); the fields and
    used_fraction() live in accounting (the costs report needs them without the router)."""

    def remaining_usd(self) -> float | None:
        caps = ((self.daily_cap_usd, self.daily_spent_usd), (self.monthly_cap_usd, self.monthly_spent_usd))
        rem = [c - s for c, s in caps if c is not None]
        return min(rem) if rem else None


# --------------------------------------------------------------------------- helpers

_OVERRIDE = re.compile(r"^\s*@([A-Za-z0-9][\w.:/\-]*[\w])(?:\s+|$)(.*)\Z", re.DOTALL)


def parse_override(prompt: str) -> tuple[str | None, str]:
    """`@gpt-4o explain this` -> ("gpt-4o", "explain this"); no prefix -> (None, prompt)."""
    m = _OVERRIDE.match(prompt)
    if not m:
        return None, prompt
    return m.group(1), m.group(2)


_N_WORDS = re.compile(r"\b(\d{2,5})\s*(?:-|\s)?(words|tokens)\b", re.I)


def expected_output_tokens(features: TurnFeatures, prompt: str) -> int:
    """A simple predictor of the answer's length (tokens), from the prompt's surface.

    No labelled output lengths ship with the developer data, so this is a hand-set rule:
    ~300 tokens for a generic question, more for code, writing and multi-step asks, less for
    short factual questions; an explicit "in 200 words" wins."""
    return _expected_output(features.lexical.tolist(), prompt)


def expected_output_tokens_for(prompt: str) -> int:
    """expected_output_tokens without the embedding: what a client needs to leave room for
    the answer before it routes (the length rule reads only the prompt's surface)."""
    return _expected_output(lexical_features(prompt).tolist(), prompt)


def _expected_output(lexical: list[float], prompt: str) -> int:
    m = _N_WORDS.search(prompt)
    if m:
        n = int(m.group(1))
        return int(min(8000, n * (1.35 if m.group(2).lower() == "words" else 1.0)))
    lex = dict(zip(_LEX_NAMES, lexical, strict=True))
    est = 300.0
    if lex["code_fence"] or lex["code_ask"] > 0.5 or lex["code_tokens"] > 1.0:
        est *= 1.8
    if lex["creative"] > 0.5:
        est *= 1.4
    if lex["steps"] > 0.5 or lex["math"] > 1.0:
        est *= 1.3
    if lex["format_ask"] > 0.5:
        est *= 1.2
    words = math.expm1(lex["log_words"])
    if words < 12 and lex["steps"] == 0 and lex["code_ask"] == 0 and lex["creative"] == 0:
        est *= 0.6
    return int(est)


from chatroute.format import short_model as _short  # noqa: E402
from chatroute.routing.features import LEXICAL_NAMES as _LEX_NAMES  # noqa: E402


def _ratio_words(r: float) -> str:
    if r <= 0:
        return "no cost"
    if r < 1:
        inv = 1 / r
        return f"1/{inv:.0f} of the cost" if inv >= 2 else f"{r:.0%} of the cost"
    return f"{r:.0f}x the cost" if r >= 2 else f"{r:.1f}x the cost"


CONTEXT_TOO_SMALL = "context too small"


def estimate_input_tokens(prompt: str, history: Sequence[Any], system: str | None) -> int:
    """The routing-time size of a request: characters / CHARS_PER_TOKEN plus a little framing
    per message. Lengths only, so it costs nothing even on a long conversation."""
    chars = sum(len(getattr(m, "content", "") or "") for m in history) + len(system or "") + len(prompt)
    return int(math.ceil(chars / CHARS_PER_TOKEN)) + MESSAGE_FRAMING_TOKENS * (len(history) + 1)


class _Fit:
    """Whether one turn's input fits a model's context window.

    The estimate over-counts English by about a quarter (4.5 characters per o200k token, not
    3.6): harmless when it only steers routing, but a refusal resting on it would turn away
    prompts that fit. So a "no" from the estimate is checked with the catalogue's tokenizer
    (exact for OpenAI, scaled for other vendors), counted once per tokenizer."""

    def __init__(self, prompt: str, history: Sequence[Any], system: str | None) -> None:
        self._messages = [*history, {"role": "user", "content": prompt}]
        self._system = system
        self.has_history = bool(history)
        self.estimate = estimate_input_tokens(prompt, history, system)
        self._counts: dict[tuple[str, str | None], int] = {}

    def tokens(self, model: Any) -> int:
        """The input's size in `model`'s tokens (the estimate when it cannot be counted)."""
        try:
            from chatroute.catalog.tokens import count_messages, tokenizer_for

            key = tokenizer_for(model.id)
            if key not in self._counts:
                self._counts[key] = count_messages(self._messages, self._system, model.id)[0]
            return self._counts[key]
        except (ImportError, OSError, RuntimeError, ValueError):  # stand-alone use, or no encoding data
            return self.estimate

    def possible(self, model: Any) -> bool:
        """False only when even the shortest answer cannot fit after the input."""
        window = getattr(model, "context_window", None)
        if not window or self.estimate + MIN_OUTPUT_TOKENS <= window:
            return True
        return self.tokens(model) + MIN_OUTPUT_TOKENS <= window

    def subject(self) -> str:
        return "this prompt with the conversation so far" if self.has_history else "this prompt"

    def advice(self) -> str:
        # A client that windows the history (the engine) only refuses a prompt too large on
        # its own: a new conversation would not help that one.
        return "shorten it or start a new conversation" if self.has_history else "shorten it"


# --------------------------------------------------------------------------- router


class Router:
    """Picks a model per turn. Cheap to construct; the quality model loads lazily, once."""

    def __init__(
        self,
        *,
        preset: str = "balanced",
        cost_weight: float | None = None,
        latency_weight: float | None = None,
        stickiness: float = 0.03,
        preferences: PreferenceModel | None = None,
        learn: bool = True,
        quality_model: Any = None,
        embedder: Any = None,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}")
        self.preset = preset
        self.cost_weight_override = cost_weight
        self.latency_weight_override = latency_weight
        self.stickiness = stickiness
        self.preferences = preferences
        self.learn = learn
        self._quality = quality_model
        self._embedder = embedder
        self.observed: dict[str, Observed] = {}

    @classmethod
    def from_config(cls, router_cfg: Any) -> Router:
        """From config.router; preferences come later from the store (learn_preferences)."""
        learn = getattr(router_cfg, "learn", True)
        return cls(
            preset=router_cfg.preset,
            cost_weight=router_cfg.cost_weight,
            latency_weight=router_cfg.latency_weight,
            stickiness=router_cfg.stickiness,
            preferences=PreferenceModel() if learn else None,
            learn=learn,
        )

    def learn_preferences(self, records: Iterable[Any]) -> None:
        """Rebuild the per-user adjustment from the store's preference records."""
        if self.learn:
            self.preferences = PreferenceModel.from_preferences(records)

    def learn_observed(self, observed: dict[str, Observed]) -> None:
        """Regenerations and failures per model (observed.observe): they lower its ability."""
        self.observed = dict(observed)

    def reset_preferences(self) -> None:
        self.preferences = PreferenceModel() if self.learn else None

    @property
    def weights(self) -> tuple[float, float]:
        lam, mu = PRESETS[self.preset]
        if self.cost_weight_override is not None:
            lam = float(self.cost_weight_override)
        if self.latency_weight_override is not None:
            mu = float(self.latency_weight_override)
        return lam, mu

    def set_preset(self, preset: str) -> None:
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}")
        self.preset = preset
        self.cost_weight_override = None  # switching the knob means "use the preset"

    @property
    def quality_model(self) -> Any:
        if self._quality is None:
            from chatroute.routing.quality import get_quality_model

            self._quality = get_quality_model()
        return self._quality

    def warm(self) -> None:
        """Load the embedder and weights now (e.g. while the UI starts)."""
        if self._embedder is None and getattr(self.quality_model, "use_emb", True):
            from chatroute.embed import get_embedder

            self._embedder = get_embedder()

    # -- the decision ----------------------------------------------------------------------

    def decide(
        self,
        prompt: str,
        *,
        history: Sequence[Any] = (),
        system: str | None = None,
        pool: Sequence[Any],
        current_model: str | None = None,
        pin: str | None = None,
        override: str | None = None,
        turn_index: int = 0,
        health: HealthBoard | None = None,
        budget_state: BudgetState | None = None,
        exclude: Iterable[str] = (),
        capabilities: Iterable[str] = (),
        preset: str | None = None,
        default: str | None = None,
        known: Iterable[Any] = (),
    ) -> RouteDecision:
        """Pick the model for this turn. `preset` overrides the router's preset for this call
        (the TUI knob); `default` is the model to fall back on when every candidate is
        excluded (if it is not itself excluded for this turn); `known` describes the pin,
        override and default when they are not in the pool (for their context windows).

        Raises PromptTooLargeError when the input fits none of the models the turn could go
        to, and NoRouteError when every candidate is excluded and there is no default."""
        t0 = time.perf_counter()
        if preset is not None and preset != self.preset and preset in PRESETS:
            self.set_preset(preset)
        models = list(pool)
        by_id = {m.id: m for m in [*known, *models]}
        fit = _Fit(prompt, history, system)
        # Before the embedding: a 1 MB prompt that nothing can take should not cost one.
        too_large = self._too_large(fit, models, by_id, pin=pin, override=override, default=default)
        if too_large is not None:
            raise too_large
        self.warm()
        exclude = set(exclude)
        needs = frozenset(capabilities)
        prev_user = [m.content for m in history if getattr(m, "role", None) == "user"]
        hist_chars = sum(len(getattr(m, "content", "")) for m in history)
        feats = extract(
            prompt,
            previous_user_turns=prev_user,
            history_chars=hist_chars,
            system=system,
            turn_index=turn_index,
            embedder=self._embedder,
            embed=bool(getattr(self.quality_model, "use_emb", True)),
        )
        in_tokens = fit.estimate
        out_tokens = expected_output_tokens(feats, prompt)
        lam, mu = self.weights
        notes: list[str] = []

        # Budget: step down as a cap nears.
        remaining = budget_state.remaining_usd() if budget_state else None
        used = budget_state.used_fraction() if budget_state else 0.0
        budget_factor = 1.0
        if used >= BUDGET_SOFT_START:
            factor = 1.0 + 20.0 * min(1.0, (used - BUDGET_SOFT_START) / (1 - BUDGET_SOFT_START))
            budget_factor = factor
            lam *= factor
            notes.append(f"budget {used:.0%} used: cost weight x{factor:.1f}")

        rated = [self._rated(m) for m in models]
        need_quantile = None
        if models and hasattr(self.quality_model, "need_quantile"):
            feats = replace(feats, need=self.quality_model.need_of(feats))  # once: predict() reuses it
            need_quantile = self.quality_model.need_quantile(feats.need)
        qualities = self.quality_model.predict(feats, [m for m, _ in rated]) if models else {}
        learned = {m.id: self.preferences.bias(m.id) for m in models} if (self.preferences and self.learn) else {}
        share = [0.0]  # of the learned adjustments, for this turn: set once the unadjusted pick is known
        # Prompt-cache discount: the current model may serve the history from its cache.
        cands: list[RouteCandidate] = []
        priced = []
        for m, (as_rated, ability_note) in zip(models, rated, strict=True):
            cached = hist_chars and m.id == current_model and m.cached_input_cost_per_mtok is not None
            cost = _estimate_cost(m, in_tokens, out_tokens, int(hist_chars / CHARS_PER_TOKEN) if cached else 0)
            if cost is not None:
                priced.append(cost)
            local = m.input_cost_per_mtok == 0 and m.output_cost_per_mtok == 0
            lat = (health or _NO_HEALTH).expected_latency(m.id, out_tokens, local=local)
            cands.append(
                RouteCandidate(
                    model=m.id,
                    quality=qualities.get(m.id),
                    expected_cost_usd=cost,
                    expected_latency_s=lat,
                    utility=None,
                    price_known=cost is not None,
                    learned_adjustment=learned.get(m.id, 0.0),
                    ability=getattr(as_rated, "ability", None),
                    ability_note=ability_note,
                )
            )
        # Unknown price: assume the dearest known price (never free), and say so.
        fallback_cost = max(priced) if priced else 0.0
        if self.cost_weight_override is None and hasattr(self.quality_model, "need_at"):
            # The preset is an operating point on the need scale; its price depends on the pool.
            spread = [(self.quality_model.ability(m), c.expected_cost_usd) for m, c in zip(models, cands, strict=True)
                      if c.expected_cost_usd is not None and (health is None or not health.unavailable_reason(m.id))
                      and m.id not in exclude]
            price = preset_price(self.quality_model, self.preset, spread)
            if price is not None:
                lam = price * budget_factor

        def why_not(c: RouteCandidate, m: Any, *, check_size: bool = True) -> str | None:
            if c.model in exclude:
                return "excluded for this turn (failed already)"
            if health is not None and (hr := health.unavailable_reason(c.model)):
                return hr
            needed = in_tokens + min(out_tokens, m.max_output_tokens or out_tokens)
            if check_size and m.context_window and needed > m.context_window:
                return f"{CONTEXT_TOO_SMALL} ({in_tokens:,} tokens in, window {m.context_window:,})"
            if needs and not needs <= set(m.capabilities):
                return f"lacks {', '.join(sorted(needs - set(m.capabilities)))}"
            if remaining is not None:
                cost = c.expected_cost_usd if c.expected_cost_usd is not None else fallback_cost
                if used >= 1.0 and cost > 0:
                    return "budget cap reached"
                if cost > max(0.0, remaining):
                    return f"would exceed the budget (${remaining:.4f} left)"
            return None

        def admit(c: RouteCandidate) -> None:
            cost = c.expected_cost_usd if c.expected_cost_usd is not None else fallback_cost
            c.adjustment = c.learned_adjustment * share[0] if share[0] else 0.0
            u = (c.quality or 0.0) + c.adjustment - lam * cost - mu * (c.expected_latency_s or 0.0)
            if c.model == current_model:
                u += self.stickiness
            c.utility = u

        for c in cands:
            c.excluded = why_not(c, by_id[c.model])
            if c.excluded is None:
                admit(c)
        unadjusted = max((c for c in cands if c.excluded is None), key=lambda c: c.utility or 0.0, default=None)
        if learned:
            # The adjustment applies as far as the turn needs a stronger model (prompt_weight).
            share[0] = prompt_weight(unadjusted.quality if unadjusted else None, need_quantile)
            for c in cands:
                if c.excluded is None:
                    admit(c)

        # Pins and overrides decide outright.
        forced = override or pin
        if forced:
            kind = "override" if override else "pinned"
            fc = next((c for c in cands if c.model == forced), None)
            if fc is None:
                fc = RouteCandidate(forced, None, None, None, None)
                cands.append(fc)
            reason = f"{_short(forced)}: {'per-turn override' if override else 'pinned for this conversation'}"
            if fc.excluded:
                reason += f" (note: {fc.excluded})"
            return self._finish(forced, kind, reason, cands, t0, in_tokens, out_tokens, lam, mu, notes)

        live = [c for c in cands if c.excluded is None]
        if not live:
            # The estimate errs large; a model it found too small may still take the input.
            for c in cands:
                if c.excluded and c.excluded.startswith(CONTEXT_TOO_SMALL) and fit.possible(by_id[c.model]):
                    c.excluded = why_not(c, by_id[c.model], check_size=False)
                    if c.excluded is None:
                        admit(c)
                        notes.append(f"{_short(c.model)}: little room left in its context window "
                                     f"(window {by_id[c.model].context_window:,})")
            live = [c for c in cands if c.excluded is None]
        budget_blocked = {c.model for c in cands if c.excluded and c.excluded == "budget cap reached"}
        # A default the input cannot fit would only fail at the provider.
        default_fits = bool(live) or default is None or default not in by_id or fit.possible(by_id[default])
        if not live and default and default not in exclude and default not in budget_blocked and default_fits:
            reason = f"{_short(default)}: configured default (no routed candidate is available)"
            return self._finish(default, "default", reason, cands, t0, in_tokens, out_tokens, lam, mu, notes)
        if not live:
            why = "; ".join(f"{_short(c.model)}: {c.excluded}" for c in cands) or "the pool is empty"
            if default and not default_fits and default not in {c.model for c in cands}:
                why += f"; {_short(default)} (the default): {CONTEXT_TOO_SMALL}"
            if budget_blocked:
                why = "the budget cap is reached; raise [budget] in the config, pin a model or use a free one"
            raise NoRouteError(f"no model can take this turn ({why})", cands)
        live.sort(key=lambda c: c.utility or 0.0, reverse=True)
        best = live[0]
        kind = "default" if len(models) == 1 else "routed"
        reason = self._reason(best, live, current_model, lam, unadjusted)
        return self._finish(best.model, kind, reason, cands, t0, in_tokens, out_tokens, lam, mu, notes)

    def check_fits(
        self,
        prompt: str,
        *,
        history: Sequence[Any] = (),
        system: str | None = None,
        pool: Sequence[Any],
        pin: str | None = None,
        override: str | None = None,
        default: str | None = None,
        known: Iterable[Any] = (),
    ) -> None:
        """Raise PromptTooLargeError if decide() would: the same check, without the routing
        (no embedding, no health or budget), so a client can refuse before it stores anything."""
        models = list(pool)
        error = self._too_large(_Fit(prompt, history, system), models, {m.id: m for m in [*known, *models]},
                                pin=pin, override=override, default=default)
        if error is not None:
            raise error

    def _too_large(self, fit: _Fit, models: list[Any], by_id: dict[str, Any], *, pin: str | None,
                   override: str | None, default: str | None) -> PromptTooLargeError | None:
        """The refusal when the input fits no model this turn could go to: the pin or override
        if there is one, else any model of the pool or the default. A model of unknown size
        (no window, or not described) might take it, so it is never refused on its account."""
        forced = override or pin
        if forced:
            info = by_id.get(forced)
            if info is None or fit.possible(info):
                return None
            tokens, window = fit.tokens(info), int(info.context_window)
            how = "chosen for this turn" if override else "pinned for this conversation"
            roomier = [m for m in models if (m.context_window or 0) > window and fit.possible(m)]
            bigger = max(roomier, key=lambda m: m.context_window or 0, default=None)
            advice = fit.advice()
            if bigger is not None:
                hint = f"choose a model with a larger one (such as {_short(bigger.id)}, {bigger.context_window:,})"
                advice = f"{hint}, {advice}" if fit.has_history else f"{hint} or {advice}"
            return PromptTooLargeError(
                f"{fit.subject()} is about {tokens:,} tokens; the context window of {_short(forced)} ({how}) "
                f"is {window:,}; {advice}",
                tokens=tokens, window=window, model=forced)
        targets = list(models)
        if default:
            if default not in by_id:
                return None
            if all(m.id != default for m in targets):
                targets.append(by_id[default])
        if not targets or any(fit.possible(m) for m in targets):
            return None
        largest = max(targets, key=lambda m: m.context_window or 0)
        tokens, window = fit.tokens(largest), int(largest.context_window)
        what = "the largest context window" if len(targets) > 1 else "the context window"
        return PromptTooLargeError(
            f"{fit.subject()} is about {tokens:,} tokens; {what} is {window:,} ({_short(largest.id)}); "
            + fit.advice(),
            tokens=tokens, window=window, model=largest.id)

    def _finish(
        self, model: str, kind: str, reason: str, cands: list[RouteCandidate], t0: float, in_tokens: int,
        out_tokens: int, lam: float, mu: float, notes: list[str],
    ) -> RouteDecision:
        cands.sort(key=lambda c: (c.excluded is not None, -(c.utility if c.utility is not None else -1e9)))
        return RouteDecision(
            model=model,
            kind=kind,
            reason=reason,
            candidates=cands,
            route_ms=(time.perf_counter() - t0) * 1000,
            preset=self.preset,
            cost_weight=lam,
            latency_weight=mu,
            expected_input_tokens=in_tokens,
            expected_output_tokens=out_tokens,
            notes=notes,
        )

    def _rated(self, m: Any) -> tuple[Any, str | None]:
        """The model as the quality model should see it (its ability lowered by what was
        observed, unless the user set it) and a note when its ability is a guess or lowered."""
        source = getattr(m, "ability_source", "leaderboard")
        note = getattr(m, "ability_note", None) if source in ("unknown", "name", "server") else None
        obs = self.observed.get(getattr(m, "id", ""))
        if obs is None or source == "config" or obs.penalty <= 0:
            return m, note
        try:
            lowered = replace(m, ability=max(0.0, float(m.ability) - obs.penalty))
        except TypeError:  # not a dataclass: a stand-in without abilities
            return m, note
        return lowered, f"{note or f'ability {m.ability:.2f}'}, {obs.describe()}"

    def _reason(self, best: RouteCandidate, live: list[RouteCandidate], current: str | None, lam: float,
                unadjusted: RouteCandidate | None = None) -> str:
        name = _short(best.model)
        q = best.quality or 0.0
        if len(live) == 1:
            return f"{name}: the only available model (predicted quality {q:.2f})"
        top_q = max(live, key=lambda c: c.quality or 0.0)
        extras = []
        if best.model == current:
            runner = live[1]
            if (runner.utility or 0) > (best.utility or 0) - self.stickiness:
                extras.append(f"kept as the conversation's model (switching would gain < {self.stickiness:.2f})")
        if unadjusted is not None and unadjusted.model != best.model:
            extras.append(f"your choices moved it over {_short(unadjusted.model)} (adjustment "
                          f"{best.adjustment:+.3f} vs {unadjusted.adjustment:+.3f})")
        elif abs(best.adjustment) >= 0.005:
            extras.append(f"your choices {'favour' if best.adjustment > 0 else 'disfavour'} it "
                          f"(adjustment {best.adjustment:+.3f})")
        elif any(c.learned_adjustment for c in live) and not any(c.adjustment for c in live):
            extras.append(f"your choices not applied: predicted {q:.2f} already")
        if best.ability_note:
            extras.append(best.ability_note)
        tail = ("; " + "; ".join(extras)) if extras else ""
        if top_q.model != best.model and (top_q.quality or 0) > q:
            cost_part = ""
            if best.expected_cost_usd is not None and top_q.expected_cost_usd:
                cost_part = f" at {_ratio_words(best.expected_cost_usd / top_q.expected_cost_usd)}"
            elif (best.expected_latency_s or 0) < (top_q.expected_latency_s or 0):
                faster = (top_q.expected_latency_s or 0) - (best.expected_latency_s or 0)
                cost_part = f", {faster:.1f}s faster"
            return (
                f"{name}: predicted quality {q:.2f} vs {top_q.quality:.2f} for {_short(top_q.model)}"
                f"{cost_part}{tail}"
            )
        # The winner is also the best predicted: say what the cheaper runner-up would lose.
        runner = next(c for c in live if c.model != best.model)
        cost_part = ""
        if best.expected_cost_usd is not None and runner.expected_cost_usd:
            ratio = _ratio_words(best.expected_cost_usd / runner.expected_cost_usd)
            cost_part = f" ({ratio} of {_short(runner.model)})"
        return (
            f"{name}: highest predicted quality {q:.2f} vs {runner.quality or 0:.2f} for "
            f"{_short(runner.model)}{cost_part}{tail}"
        )

    # -- learning from the user ------------------------------------------------------------

    def record_preference(self, kind: str, chosen: str, rejected: Iterable[str]) -> None:
        if self.preferences is not None and self.learn:
            self.preferences.record(kind, chosen, rejected)


_NO_HEALTH = HealthBoard(path=None)


def _estimate_cost(info: Any, input_tokens: int, output_tokens: int, cached_tokens: int) -> float | None:
    try:
        from chatroute.catalog.cost import estimate_cost

        return estimate_cost(info, input_tokens, output_tokens, cached_tokens)
    except ImportError:  # stand-alone use without the catalogue
        if info.input_cost_per_mtok is None or info.output_cost_per_mtok is None:
            return None
        return (input_tokens * info.input_cost_per_mtok + output_tokens * info.output_cost_per_mtok) / 1e6

