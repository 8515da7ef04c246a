"""What the router is asked and what it answers: `RouteRequest` in, `RouteDecision` (with every
candidate and why it won or was excluded) out, or a `NoRouteError` saying why none could."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from chatroute.accounting import CapSpend
from chatroute.errors import ChatrouteError
from chatroute.money import usd

if TYPE_CHECKING:
    from chatroute.routing.health import HealthBoard


# The exclusion reasons the budget gives a paid model: the cap is used up, or this turn's
# expected cost is more than what is left of it. Clients match them (routing/budget.py).
BUDGET_CAP_REACHED = "budget cap reached"
BUDGET_WOULD_EXCEED = "would exceed the budget"


def is_budget_exclusion(reason: str | None) -> bool:
    return reason is not None and (reason == BUDGET_CAP_REACHED or reason.startswith(BUDGET_WOULD_EXCEED))


def budget_exclusion(remaining: float | None, used: float, cost: float, *, price_known: bool) -> str | None:
    """Why the budget keeps a model this turn would cost `cost` on from answering, or None.
    `remaining` and `used`: of the tightest and the fullest cap (None: no cap). The router's
    rule, and the one a turn's reservation is checked against under the lock (engine/budget.py)."""
    if remaining is None:
        return None
    # An unknown price is no free model (n/a, never $0): with no priced model to stand in
    # for it, the router's fallback cost is 0, and at the cap it was taken for free.
    if used >= 1.0 and (cost > 0 or not price_known):
        return BUDGET_CAP_REACHED
    if cost > max(0.0, remaining):
        return f"{BUDGET_WOULD_EXCEED} ({usd(remaining)} left)"
    return None


@dataclass(frozen=True)
class BudgetState(CapSpend):
    """Spend so far against the configured caps (None = no cap); the fields and
    used_fraction() live in accounting (the costs report needs them without the router).
    `pending_usd`: the part of each spend that is turns still streaming, at their expected cost
    (reserved, not yet in the ledger), so a refusal can tell the two apart."""

    pending_usd: float = 0.0

    def remaining_usd(self) -> float | None:
        caps = ((self.daily_cap_usd, self.daily_spent_usd), (self.monthly_cap_usd, self.monthly_spent_usd))
        rem = [c - s for c, s in caps if c is not None]
        return min(rem) if rem else None


# What a served request too large is told to shorten, unless its wire says otherwise.
SHORTEN_MESSAGES = "shorten the messages"


@dataclass(frozen=True)
class RouteRequest:
    """One turn as the router sees it: the input, the models it could go to, and what limits
    the choice. Only `prompt` and `pool` are required; the rest default to "not given"."""

    prompt: str
    pool: Sequence[Any]  # ModelInfo-like: id, prices, ability, context_window, capabilities
    history: Sequence[Any] = ()  # earlier messages sent with the prompt (role, content)
    system: str | None = None
    current_model: str | None = None  # the conversation's model so far: it gets the stickiness bonus
    pin: str | None = None  # the conversation's pinned model: decides outright
    override: str | None = None  # this turn's `@model`: decides outright, before the pin
    turn_index: int = 0
    health: HealthBoard | None = None  # cooldowns, disables and observed speeds
    budget_state: BudgetState | None = None
    exclude: AbstractSet[str] = frozenset()  # models this turn may not use (already failed)
    capabilities: AbstractSet[str] = frozenset()  # abilities the answer needs (e.g. "vision")
    preset: str | None = None  # replaces the router's preset from this call on (the TUI knob)
    default: str | None = None  # answers when every candidate is excluded, unless it is too
    known: Sequence[Any] = ()  # the pin, override and default when they are not in the pool
    # Models that cannot be asked at all, with why (a provider whose API key is not set): left
    # out up front rather than tried, failed and rerouted on every first turn.
    unavailable: Mapping[str, str] = field(default_factory=dict)
    # A request to `chatroute serve`: it has no conversation, its history is the messages the
    # client sent and its pin the model the request named. Only the words said about it differ.
    served: bool = False
    # What a served request's client is told to shorten when its input fits no model, in the
    # words of the wire it came on (the Responses API has `input`, not messages).
    shorten: str = SHORTEN_MESSAGES
    # The client's own limit on the answer (a served request's max_tokens): no model's answer
    # runs longer, so none is expected to (sizing.answer_tokens).
    max_output_tokens: int | None = None
    # Per model id, the max_tokens a request to it carries when neither the client nor the model
    # names a limit (Anthropic's API requires one): its answer runs no longer either.
    required_max_tokens: Mapping[str, int] = field(default_factory=dict)


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
    # The reason in a few words, for the line under an answer ("quality 0.95 vs 0.98 at 1/25
    # the cost"); "" where the kind says it all (a pin, an override, the default).
    why: str = ""
    # The client's limit on the answer it was priced under (RouteRequest.max_output_tokens):
    # a fail-over's decision prices the next model under it too.
    max_output_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "reason": self.reason,
            "why": self.why,
            "candidates": [c.to_dict() for c in self.candidates],
            "route_ms": round(self.route_ms, 3),
            "preset": self.preset,
            "cost_weight": self.cost_weight,
            "latency_weight": self.latency_weight,
            "expected_input_tokens": self.expected_input_tokens,
            "expected_output_tokens": self.expected_output_tokens,
            "notes": list(self.notes),
        }


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
