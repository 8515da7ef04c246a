"""The routing policy: which model answers this turn, and why.

    utility = quality + preference adjustment - lambda * expected cost (USD) - mu * expected latency (s)
              + stickiness if the model is the conversation's current model

except that a model predicted better for this turn than the conversation's current model (a
move up) needs to win by UPGRADE_MARGIN only, not by the whole stickiness.

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

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from chatroute.accounting import percent_used
from chatroute.format import short_model
from chatroute.money import usd
from chatroute.routing.decision import (
    BUDGET_CAP_REACHED,
    BudgetState,
    NoRouteError,
    PromptTooLargeError,
    RouteCandidate,
    RouteDecision,
    RouteRequest,
    budget_exclusion,
    is_budget_exclusion,
)
from chatroute.routing.features import TurnFeatures, extract
from chatroute.routing.health import HealthBoard
from chatroute.routing.observed import Observed
from chatroute.routing.operating import preset_price
from chatroute.routing.preferences import PreferenceModel, not_applied_because, prompt_weight
from chatroute.routing.sizing import (
    CHARS_PER_TOKEN,
    CONTEXT_TOO_SMALL,
    MESSAGE_FRAMING_TOKENS,
    MIN_OUTPUT_TOKENS,
    Fit,
    answer_tokens,
    estimate_input_tokens,
    expected_answer,
    expected_output_tokens,
    expected_output_tokens_for,
    too_large,
)

# The request, decision and sizing types live in decision.py and sizing.py; clients import
# them from here, with the router.
__all__ = [
    "BUDGET_SOFT_START",
    "CHARS_PER_TOKEN",
    "CONTEXT_TOO_SMALL",
    "MESSAGE_FRAMING_TOKENS",
    "MIN_OUTPUT_TOKENS",
    "PRESETS",
    "BudgetState",
    "NoRouteError",
    "PromptTooLargeError",
    "RouteCandidate",
    "RouteDecision",
    "RouteRequest",
    "Router",
    "estimate_input_tokens",
    "expected_cost_on",
    "expected_output_tokens",
    "expected_output_tokens_for",
    "parse_override",
]

Preset = Literal["frugal", "balanced", "best"]
PRESETS: dict[str, tuple[float, float]] = {
    "frugal": (100.0, 0.004),
    "balanced": (25.0, 0.003),
    "best": (2.0, 0.001),
}
BUDGET_SOFT_START = 0.8  # from 80% of a cap, lambda grows; at 100% only free models remain
# Predicted quality gaps between models are a few points, smaller than the stickiness: with the
# bonus asked of every move, a conversation begun on the cheaper model stayed there however
# needy its later turns, under every preset. A move down or sideways still needs the whole bonus.
UPGRADE_MARGIN = 0.005

# People write a name as they would address someone: "@gpt-4o, what is this?", "@gpt-4o: …".
# A name begins and ends with a letter or digit of any script ("@通义千问-7b"): an ASCII-only
# name sent a local model's own name to the router as part of the prompt, with no word said.
_OVERRIDE = re.compile(r"^\s*@([^\W_](?:[\w.:/\-]*[^\W_])?)[,:]?(?:\s+|$)(.*)\Z", re.DOTALL)


def parse_override(prompt: str) -> tuple[str | None, str]:
    """`@gpt-4o explain this` -> ("gpt-4o", "explain this"), a comma or colon after the name
    too; no prefix -> (None, prompt)."""
    m = _OVERRIDE.match(prompt)
    if not m:
        return None, prompt
    return m.group(1), m.group(2)


def _gist(excluded: str) -> str:
    """An exclusion in a few words: "cooling down for 30s after 429" stays, "disabled (provider:
    authentication failed) until …" is "disabled", "no API key: set X" is "no API key"."""
    return re.split(r" \(|: | until ", excluded, maxsplit=1)[0]


def _ratio_words(r: float) -> str:
    if r <= 0:
        return "no cost"
    if r < 1:
        inv = 1 / r
        return f"1/{inv:.0f} of the cost" if inv >= 2 else f"{r:.0%} of the cost"
    return f"{r:.0f}x the cost" if r >= 2 else f"{r:.1f}x the cost"


@dataclass
class _Turn:
    """One decision's working state: the candidates, and the weights their utilities use."""

    request: RouteRequest
    by_id: dict[str, Any]  # the pool, and the pin, override and default when described
    fit: Fit
    out_tokens: int
    lam: float
    mu: float
    stickiness: float
    notes: list[str] = field(default_factory=list)
    cands: list[RouteCandidate] = field(default_factory=list)
    fallback_cost: float = 0.0  # an unknown price counts as the dearest known one (never free)
    share: float = 0.0  # of the learned adjustments, for this turn: set once the unadjusted pick is known
    need_quantile: float | None = None  # what set the share, when the quality model scores need
    unadjusted: RouteCandidate | None = None
    hist_chars: int = 0  # of the history sent: the current model may read it from its prompt cache
    exclude: set[str] = field(init=False)
    needs: frozenset[str] = field(init=False)
    remaining: float | None = field(init=False)  # of the tightest budget cap; None: no cap
    used: float = field(init=False)  # of the fullest budget cap

    def __post_init__(self) -> None:
        budget = self.request.budget_state
        self.exclude = set(self.request.exclude)
        self.needs = frozenset(self.request.capabilities)
        self.remaining = budget.remaining_usd() if budget else None
        self.used = budget.used_fraction() if budget else 0.0

    @property
    def in_tokens(self) -> int:
        return self.fit.estimate

    def cost(self, c: RouteCandidate) -> float:
        return c.expected_cost_usd if c.expected_cost_usd is not None else self.fallback_cost

    def answer(self, m: Any) -> int:
        """The answer this turn is expected to run on model `m`, priced and timed: the predicted
        length, no longer than it can run there (sizing.answer_limit)."""
        return expected_answer(m, self.out_tokens, self.fit, required=self.request.required_max_tokens.get(m.id))

    def expected_cost(self, m: Any, answer: int | None = None) -> float | None:
        """This turn's expected cost on model `m` (`answer`: self.answer(m), when known); None
        when its price is unknown."""
        # Prompt-cache discount: the current model may serve the history from its cache.
        cached = self.hist_chars and m.id == self.request.current_model and m.cached_input_cost_per_mtok is not None
        cached_tokens = int(self.hist_chars / CHARS_PER_TOKEN) if cached else 0
        return _estimate_cost(m, self.in_tokens, self.answer(m) if answer is None else answer, cached_tokens)

    def over_budget(self, c: RouteCandidate) -> str | None:
        """Why the budget keeps this candidate from answering, or None."""
        return budget_exclusion(self.remaining, self.used, self.cost(c), price_known=c.expected_cost_usd is not None)

    def default_candidate(self) -> RouteCandidate | None:
        """The configured default as a candidate: the pool's own, else one made for it here, so
        that a default outside the pool is priced (and budgeted) like any other model."""
        default = self.request.default
        if not default:
            return None
        found = next((c for c in self.cands if c.model == default), None)
        if found is not None:
            return found
        m = self.by_id.get(default)
        cost = self.expected_cost(m) if m is not None else None
        return RouteCandidate(default, None, cost, None, None, price_known=cost is not None)

    def why_not(self, c: RouteCandidate, *, check_size: bool = True) -> str | None:
        """Why this candidate may not answer this turn, or None."""
        m = self.by_id[c.model]
        health = self.request.health
        if c.model in self.exclude:
            return "excluded for this turn (failed already)"
        if (why := self.request.unavailable.get(c.model)) is not None:
            return why
        if health is not None and (hr := health.unavailable_reason(c.model)):
            return hr
        # The window's room is left out: it is what is checked here.
        needed = self.in_tokens + answer_tokens(m, self.out_tokens, required=self.request.required_max_tokens.get(m.id))
        if check_size and m.context_window and needed > m.context_window:
            return f"{CONTEXT_TOO_SMALL} ({self.in_tokens:,} tokens in, window {m.context_window:,})"
        if self.needs and not self.needs <= set(m.capabilities):
            return f"lacks {', '.join(sorted(self.needs - set(m.capabilities)))}"
        return self.over_budget(c)

    def admit(self, c: RouteCandidate, cap: float | None = None) -> None:
        """Set the utility of a candidate that may answer. `cap`: the most of its learned
        adjustment that applies (see admit_all)."""
        learned = c.learned_adjustment if cap is None else min(c.learned_adjustment, cap)
        c.adjustment = learned * self.share if self.share else 0.0
        u = (c.quality or 0.0) + c.adjustment - self.lam * self.cost(c) - self.mu * (c.expected_latency_s or 0.0)
        if c.model == self.request.current_model:
            u += self.stickiness
        c.utility = u

    def admit_all(self, learned: bool, need_quantile: float | None, chosen: frozenset[str] = frozenset()) -> None:
        """`chosen`: the models the user has chosen (an override, a pick), whose learned
        adjustments may carry a turn past the pick routing makes without them."""
        self.need_quantile = need_quantile
        for c in self.cands:
            c.excluded = self.why_not(c)
            if c.excluded is None:
                self.admit(c)
        self.unadjusted = unadjusted = max(self.live(), key=lambda c: c.utility or 0.0, default=None)
        if learned:
            # The adjustment applies as far as the turn needs a stronger model (prompt_weight).
            self.share = prompt_weight(unadjusted.quality if unadjusted else None, need_quantile)
            # Rejecting a model says "not that one", not which other: a model never chosen gains
            # nothing on routing's pick from the losses of that pick.
            for c in self.live():
                never_chosen = unadjusted is not None and c is not unadjusted and c.model not in chosen
                self.admit(c, cap=unadjusted.learned_adjustment if never_chosen and unadjusted else None)

    def live(self) -> list[RouteCandidate]:
        return [c for c in self.cands if c.excluded is None]

    def admit_tight_fits(self) -> list[RouteCandidate]:
        """The estimate errs large; a model it found too small may still take the input."""
        for c in self.cands:
            m = self.by_id[c.model]
            if c.excluded and c.excluded.startswith(CONTEXT_TOO_SMALL) and self.fit.possible(m):
                c.excluded = self.why_not(c, check_size=False)
                if c.excluded is None:
                    self.admit(c)
                    self.notes.append(f"{short_model(c.model)}: little room left in its context window "
                                      f"(window {m.context_window:,})")
        return self.live()


# --------------------------------------------------------------------------- router


def _only_model_reason(best: RouteCandidate, turn: _Turn, switched: tuple[str, str] | None) -> tuple[str, str]:
    """Router._reason when `best` is the one model left, with the models skipped and why."""
    name = short_model(best.model)
    q = best.quality or 0.0
    tail = f"; {switched[0]}" if switched else ""
    short_tail = f"; {switched[1]}" if switched else ""
    others = [c.excluded for c in turn.cands if c is not best]
    if others and all(is_budget_exclusion(why) for why in others):
        left = f" ({usd(max(0.0, turn.remaining or 0.0))} left)" if turn.remaining is not None else ""
        return (f"{name}: the only model within the budget{left} (predicted quality {q:.2f}){tail}",
                f"the only model within the budget{short_tail}")
    skipped = [c for c in turn.cands if c is not best and c.excluded]
    # Which models were skipped, and why: after a refused key or a spent quota every later
    # turn goes here, and "the only model available" alone hid that a provider was out.
    long_skip = "; ".join(f"{short_model(c.model)}: {c.excluded}" for c in skipped)
    short_skip = ", ".join(f"{short_model(c.model)} {_gist(c.excluded or '')}" for c in skipped[:2])
    more = f" and {len(skipped) - 2} more" if len(skipped) > 2 else ""
    return (f"{name}: the only available model (predicted quality {q:.2f}){tail}"
            + (f"; skipped {long_skip}" if long_skip and not switched else ""),
            f"the only model available{short_tail}"
            + (f" ({short_skip}{more})" if short_skip and not switched else ""))


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

    def decide(self, request: RouteRequest) -> RouteDecision:
        """Pick the model for this turn. `request.preset` overrides the router's preset from
        this call on (the TUI knob); `request.default` is the model to fall back on when every
        candidate is excluded (if it is not itself excluded for this turn); `request.known`
        describes the pin, override and default when they are not in the pool.

        Raises PromptTooLargeError when the input fits none of the models the turn could go
        to, and NoRouteError when every candidate is excluded and there is no default."""
        t0 = time.perf_counter()
        if request.preset is not None and request.preset != self.preset and request.preset in PRESETS:
            self.set_preset(request.preset)
        models = list(request.pool)
        by_id = {m.id: m for m in [*request.known, *models]}
        fit = Fit(request.prompt, request.history, request.system, served=request.served,
                  shorten=request.shorten)
        # Before the embedding: a 1 MB prompt that nothing can take should not cost one.
        refusal = too_large(fit, models, by_id, pin=request.pin, override=request.override, default=request.default)
        if refusal is not None:
            raise refusal
        self.warm()
        turn = self._weigh(request, models, by_id, fit)
        # Pins and overrides decide outright.
        forced = request.override or request.pin
        if forced:
            return self._forced(turn, forced, t0)
        return self._best(turn, len(models), t0)

    def _weigh(self, request: RouteRequest, models: list[Any], by_id: dict[str, Any], fit: Fit) -> _Turn:
        """Every candidate of the pool with its predicted quality, cost, latency and, unless
        it is excluded (and why), its utility."""
        feats, hist_chars = self._features(request)
        lam, mu = self.weights
        # A client's own limit bounds the answer on every model; a model's own, on that model.
        out_tokens = answer_tokens(None, expected_output_tokens(feats, request.prompt), request.max_output_tokens)
        turn = _Turn(request=request, by_id=by_id, fit=fit, out_tokens=out_tokens,
                     lam=lam, mu=mu, stickiness=self.stickiness, hist_chars=hist_chars)
        # Budget: step down as a cap nears.
        budget_factor = 1.0
        if turn.used >= BUDGET_SOFT_START:
            factor = 1.0 + 20.0 * min(1.0, (turn.used - BUDGET_SOFT_START) / (1 - BUDGET_SOFT_START))
            budget_factor = factor
            turn.lam *= factor
            turn.notes.append(f"budget {percent_used(turn.used)}% used: cost weight x{factor:.1f}")

        rated = [self._rated(m) for m in models]
        need_quantile = None
        if models and hasattr(self.quality_model, "need_quantile"):
            feats = replace(feats, need=self.quality_model.need_of(feats))  # once: predict() reuses it
            need_quantile = self.quality_model.need_quantile(feats.need)
            if feats.choices and getattr(self.quality_model, "choice_gap", 1.0) < 1.0:
                turn.notes.append("multiple choice (lettered options): the stronger model is needed less")
        qualities = self.quality_model.predict(feats, [m for m, _ in rated]) if models else {}
        learned = {m.id: self.preferences.bias(m.id) for m in models} if (self.preferences and self.learn) else {}
        prefs = self.preferences
        chosen = frozenset(m.id for m in models if learned and prefs and prefs.signals(m.id)[0] > 0)
        turn.cands = self._candidates(turn, models, rated, qualities, learned)
        priced = [c.expected_cost_usd for c in turn.cands if c.expected_cost_usd is not None]
        turn.fallback_cost = max(priced) if priced else 0.0
        if self.cost_weight_override is None and hasattr(self.quality_model, "need_at"):
            # The preset is an operating point on the need scale; its price depends on the pool.
            health = request.health
            spread = [(self.quality_model.ability(m), c.expected_cost_usd)
                      for m, c in zip(models, turn.cands, strict=True)
                      if c.expected_cost_usd is not None and (health is None or not health.unavailable_reason(m.id))
                      and m.id not in turn.exclude]
            price = preset_price(self.quality_model, self.preset, spread)
            if price is not None:
                turn.lam = price * budget_factor
        turn.admit_all(bool(learned), need_quantile, chosen)
        return turn

    def _features(self, request: RouteRequest) -> tuple[TurnFeatures, int]:
        """The turn's features for the quality model, and the history's length in characters."""
        history = request.history
        prev_user = [m.content for m in history if getattr(m, "role", None) == "user"]
        hist_chars = sum(len(getattr(m, "content", "")) for m in history)
        feats = extract(
            request.prompt,
            previous_user_turns=prev_user,
            history_chars=hist_chars,
            system=request.system,
            turn_index=request.turn_index,
            embedder=self._embedder,
            embed=bool(getattr(self.quality_model, "use_emb", True)),
        )
        return feats, hist_chars

    def _candidates(self, turn: _Turn, models: list[Any], rated: list[tuple[Any, str | None]],
                    qualities: dict[str, float], learned: dict[str, float]) -> list[RouteCandidate]:
        health = turn.request.health or _NO_HEALTH
        cands: list[RouteCandidate] = []
        for m, (as_rated, ability_note) in zip(models, rated, strict=True):
            answer = turn.answer(m)
            cost = turn.expected_cost(m, answer)
            local = m.input_cost_per_mtok == 0 and m.output_cost_per_mtok == 0
            cands.append(
                RouteCandidate(
                    model=m.id,
                    quality=qualities.get(m.id),
                    expected_cost_usd=cost,
                    expected_latency_s=health.expected_latency(m.id, answer, local=local),
                    utility=None,
                    price_known=cost is not None,
                    learned_adjustment=learned.get(m.id, 0.0),
                    ability=getattr(as_rated, "ability", None),
                    ability_note=ability_note,
                )
            )
        return cands

    def _forced(self, turn: _Turn, forced: str, t0: float) -> RouteDecision:
        """The pin's or override's decision: it stands even when the model is excluded (noted)."""
        override = turn.request.override
        kind = "override" if override else "pinned"
        fc = next((c for c in turn.cands if c.model == forced), None)
        if fc is None:
            # Outside the pool: priced all the same, as the turn's budget reservation is its cost.
            m = turn.by_id.get(forced)
            cost = turn.expected_cost(m) if m is not None else None
            fc = RouteCandidate(forced, None, cost, None, None, price_known=cost is not None)
            turn.cands.append(fc)
        how = "per-turn override" if override else "named in the request" if turn.request.served else (
            "pinned for this conversation")
        reason = f"{short_model(forced)}: {how}"
        if fc.excluded:
            reason += f" (note: {fc.excluded})"
        return self._finish(forced, kind, reason, turn, t0)

    def _best(self, turn: _Turn, pool_size: int, t0: float) -> RouteDecision:
        """The highest utility among the candidates not excluded (or a move up, _move_up), else
        the default (when the budget allows it), else a NoRouteError saying why each candidate
        was excluded."""
        live = turn.live() or turn.admit_tight_fits()
        if not live:
            return self._default_or_refuse(turn, t0)
        live.sort(key=lambda c: c.utility or 0.0, reverse=True)
        best = self._move_up(live[0], live, turn) or live[0]
        kind = "default" if pool_size == 1 else "routed"
        reason, why = self._reason(best, live, turn)
        return self._finish(best.model, kind, reason, turn, t0, why=why)

    def _move_up(self, best: RouteCandidate, live: list[RouteCandidate], turn: _Turn) -> RouteCandidate | None:
        """A model predicted better for this turn than the conversation's current one, which the
        stickiness alone keeps out: it wins once it is ahead by UPGRADE_MARGIN without the bonus."""
        if best.model != turn.request.current_model or best.quality is None:
            return None
        margin = min(self.stickiness, UPGRADE_MARGIN)
        staying = (best.utility or 0.0) - self.stickiness
        ups = [c for c in live if c is not best and (c.quality or 0.0) > best.quality
               and (c.utility or 0.0) - staying > margin]
        return max(ups, key=lambda c: c.utility or 0.0, default=None)

    def _default_or_refuse(self, turn: _Turn, t0: float) -> RouteDecision:
        cands, by_id, default = turn.cands, turn.by_id, turn.request.default
        # The default obeys the budget like any candidate, else it would be an unlimited way
        # past the cap. Only the budget rule is applied again: a pool default excluded for
        # another reason (a cooldown) is still the last resort it always was.
        default_cand = turn.default_candidate()
        over = turn.over_budget(default_cand) if default_cand is not None else None
        # A default the input cannot fit would only fail at the provider.
        default_fits = default is None or default not in by_id or turn.fit.possible(by_id[default])
        # Nor can one whose provider has no key: it would fail before the request.
        keyless = turn.request.unavailable.get(default) if default else None
        if default and default not in turn.exclude and over is None and default_fits and keyless is None:
            reason = f"{short_model(default)}: configured default (no routed candidate is available)"
            if default_cand is not None and all(c is not default_cand for c in cands):
                cands.append(default_cand)  # priced: what the turn reserves against the caps
            return self._finish(default, "default", reason, turn, t0)
        if default_cand is not None and over is not None and all(c is not default_cand for c in cands):
            default_cand.excluded = over  # listed, so a refusal can offer it to send anyway
            cands.append(default_cand)
        why = "; ".join(f"{short_model(c.model)}: {c.excluded}" for c in cands) or "the pool is empty"
        if default and default not in {c.model for c in cands}:
            if not default_fits:
                why += f"; {short_model(default)} (the default): {CONTEXT_TOO_SMALL}"
            elif keyless is not None:
                why += f"; {short_model(default)} (the default): {keyless}"
        budget = {c.excluded for c in cands if is_budget_exclusion(c.excluded)}
        if BUDGET_CAP_REACHED in budget:
            why = "the budget cap is reached; raise [budget] in the config, pin a model or use a free one"
        elif budget:
            why = (f"it would cost more than the {usd(max(0.0, turn.remaining or 0.0))} left of the budget; "
                   "raise [budget] in the config, pin a model or use a free one")
        raise NoRouteError(f"no model can take this turn ({why})", cands)

    def check_fits(self, request: RouteRequest) -> None:
        """Raise PromptTooLargeError if decide() would: the same check, without the routing
        (no embedding, no health or budget), so a client can refuse before it stores anything."""
        models = list(request.pool)
        fit = Fit(request.prompt, request.history, request.system, served=request.served,
                  shorten=request.shorten)
        error = too_large(fit, models, {m.id: m for m in [*request.known, *models]},
                          pin=request.pin, override=request.override, default=request.default)
        if error is not None:
            raise error

    def _finish(self, model: str, kind: str, reason: str, turn: _Turn, t0: float, *, why: str = "") -> RouteDecision:
        cands = turn.cands
        cands.sort(key=lambda c: (c.excluded is not None, -(c.utility if c.utility is not None else -1e9)))
        return RouteDecision(
            model=model,
            kind=kind,
            reason=reason,
            candidates=cands,
            route_ms=(time.perf_counter() - t0) * 1000,
            preset=self.preset,
            cost_weight=turn.lam,
            latency_weight=turn.mu,
            expected_input_tokens=turn.in_tokens,
            expected_output_tokens=turn.out_tokens,
            notes=turn.notes,
            why=why,
            max_output_tokens=turn.request.max_output_tokens,
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

    def _reason(self, best: RouteCandidate, live: list[RouteCandidate], turn: _Turn) -> tuple[str, str]:
        """The decision's reason, and the same in a few words (the line under an answer)."""
        current, unadjusted = turn.request.current_model, turn.unadjusted
        name = short_model(best.model)
        q = best.quality or 0.0
        # A model change mid-conversation changes tone and format: it is always said, with why.
        switched = self._switched(best, turn)
        if len(live) == 1:
            return _only_model_reason(best, turn, switched)
        top_q = max(live, key=lambda c: c.quality or 0.0)
        extras = [switched[0]] if switched else []
        short_extras = [switched[1]] if switched else []
        if best.model == current:
            runner = live[1]
            if (runner.utility or 0) > (best.utility or 0) - self.stickiness:
                extras.append(f"kept as the conversation's model (switching would gain < {self.stickiness:.2f})")
                short_extras.append("kept as the conversation's model")
        if unadjusted is not None and unadjusted.model != best.model:
            extras.append(f"your choices moved it over {short_model(unadjusted.model)} (adjustment "
                          f"{best.adjustment:+.3f} vs {unadjusted.adjustment:+.3f})")
            short_extras.append("your choices moved it")
        elif abs(best.adjustment) >= 0.005:
            extras.append(f"your choices {'favour' if best.adjustment > 0 else 'disfavour'} it "
                          f"(adjustment {best.adjustment:+.3f})")
        elif any(c.learned_adjustment for c in live) and not any(c.adjustment for c in live):
            extras.append(f"your choices not applied: {not_applied_because(q, turn.need_quantile)}")
        if best.ability_note:
            extras.append(best.ability_note)
        tail = ("; " + "; ".join(extras)) if extras else ""
        short_tail = ("; " + "; ".join(short_extras)) if short_extras else ""
        if top_q.model != best.model and (top_q.quality or 0) > q:
            cost_part = ""
            if best.expected_cost_usd is not None and top_q.expected_cost_usd:
                cost_part = f" at {_ratio_words(best.expected_cost_usd / top_q.expected_cost_usd)}"
            elif (best.expected_latency_s or 0) < (top_q.expected_latency_s or 0):
                faster = (top_q.expected_latency_s or 0) - (best.expected_latency_s or 0)
                cost_part = f", {faster:.1f}s faster"
            return (
                f"{name}: predicted quality {q:.2f} vs {top_q.quality:.2f} for {short_model(top_q.model)}"
                f"{cost_part}{tail}",
                f"quality {q:.2f} vs {top_q.quality:.2f}{cost_part}{short_tail}",
            )
        # The winner is also the best predicted: say what the cheaper runner-up would lose.
        runner = next(c for c in live if c.model != best.model)
        cost_part = ""
        if best.expected_cost_usd is not None and runner.expected_cost_usd:
            ratio = _ratio_words(best.expected_cost_usd / runner.expected_cost_usd)
            cost_part = f" ({ratio} of {short_model(runner.model)})"
        return (
            f"{name}: highest predicted quality {q:.2f} vs {runner.quality or 0:.2f} for "
            f"{short_model(runner.model)}{cost_part}{tail}",
            f"highest quality {q:.2f} vs {runner.quality or 0:.2f}{short_tail}",
        )

    def _switched(self, best: RouteCandidate, turn: _Turn) -> tuple[str, str] | None:
        """Why the turn leaves the conversation's model (in full, in a few words), or None when
        it stays on it or the conversation has none yet."""
        current = turn.request.current_model
        if not current or best.model == current:
            return None
        was = next((c for c in turn.cands if c.model == current), None)
        if was is not None and was.excluded is None:
            if (best.utility or 0.0) <= (was.utility or 0.0):  # a move up (_move_up)
                margin = min(self.stickiness, UPGRADE_MARGIN)
                return (f"switched up from {short_model(current)} (predicted better for this turn, ahead by more "
                        f"than the {margin:.3f} a move up needs)", f"switched up from {short_model(current)}")
            return (f"switched from {short_model(current)} (better by more than the {self.stickiness:.2f} stickiness)",
                    f"switched from {short_model(current)}")
        if was is None or was.excluded is None:
            why = f"switched from {short_model(current)}: not in the pool"
            return why, why
        # The badge gets the gist; the provider's own message (up to 200 characters) stays in the reason.
        return (f"switched from {short_model(current)}: {was.excluded}",
                f"switched from {short_model(current)}: {_gist(was.excluded)}")

    # -- learning from the user ------------------------------------------------------------

    def record_preference(self, kind: str, chosen: str, rejected: Iterable[str]) -> None:
        if self.preferences is not None and self.learn:
            self.preferences.record(kind, chosen, rejected)


_NO_HEALTH = HealthBoard(path=None)


def expected_cost_on(m: Any, prompt: str, history: Sequence[Any], system: str | None, *,
                     required: int | None = None) -> float | None:
    """What a turn is expected to cost on model `m` by the rule a decision prices it with (the
    input's estimate, the answer's predicted length up to what it can run there: `required` is
    the max_tokens its wire sends when none is named, RouteRequest.required_max_tokens), without
    deciding: for a compare answer, whose model no router picks. None when its price is unknown."""
    fit = Fit(prompt, history, system)
    return _estimate_cost(m, fit.estimate, expected_answer(m, expected_output_tokens_for(prompt), fit,
                                                           required=required), 0)


def _estimate_cost(info: Any, input_tokens: int, output_tokens: int, cached_tokens: int) -> float | None:
    try:
        from chatroute.catalog.cost import estimate_cost

        return estimate_cost(info, input_tokens, output_tokens, cached_tokens)
    except ImportError:  # stand-alone use without the catalogue
        if info.input_cost_per_mtok is None or info.output_cost_per_mtok is None:
            return None
        return (input_tokens * info.input_cost_per_mtok + output_tokens * info.output_cost_per_mtok) / 1e6

