"""The spending caps as a turn meets them: whether it may spend, and what it runs on when the
user says to send anyway. The caps and their state live in routing/budget.py and accounting.py."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chatroute.engine.cache_path import cache_params
from chatroute.engine.common import as_pairs
from chatroute.engine.history import regenerated_question, window_for
from chatroute.engine.route import decide_route
from chatroute.errors import ChatrouteError
from chatroute.format import short_model

if TYPE_CHECKING:
    from chatroute.engine.core import Engine
    from chatroute.routing.budget import BudgetBlock
    from chatroute.routing.policy import RouteDecision


class InFlight:
    """What this process's turns still streaming are expected to cost, from their decision to
    their record. The ledger only holds finished turns: without these, every request `serve`
    decided while others streamed saw the cap as the others had never been sent."""

    def __init__(self) -> None:
        self._held: dict[int, float] = {}  # id(decision): its model's expected cost

    def hold(self, decision: RouteDecision) -> None:
        cost = next((c.expected_cost_usd for c in decision.candidates if c.model == decision.model), None)
        self._held[id(decision)] = cost or 0.0

    def release(self, decision: RouteDecision) -> None:
        self._held.pop(id(decision), None)

    def total(self, *, but: RouteDecision | None = None) -> float:
        """`but`: a turn failing over does not count its own expected cost against itself."""
        return sum(cost for key, cost in list(self._held.items()) if but is None or key != id(but))


def blocked_by_budget(
    engine: Engine,
    conversation_id: str | None,
    prompt: str,
    *,
    use_cache: bool = True,
    regenerate_of: str | None = None,
    system: str | None = None,
) -> BudgetBlock | None:
    """Why this turn may not spend, or None (see Engine.budget_block)."""
    from chatroute.routing.budget import block_from_refusal, budget_state, is_budget_refusal
    from chatroute.routing.policy import NoRouteError, parse_override

    # No cap configured: no query at all.
    state = budget_state(engine.store, engine.config.budget, pending_usd=engine.in_flight.total())
    if state is None:
        return None
    at_model, prompt = parse_override(prompt)
    if at_model:
        return None
    conv = engine.store.get_conversation(conversation_id) if conversation_id else None
    if conv is not None:
        if conv.pinned_model:
            return None
        system = conv.system_prompt
    user = None
    if regenerate_of is not None:
        user = regenerated_question(engine, regenerate_of)
        if user is None:
            return None  # run_turn says what is wrong with it
        prompt, use_cache = user.content, False
    window = window_for(engine, conv.id if conv is not None else None, prompt, question=user, system=system,
                        pin=None, override=None)
    history = window.messages
    # Under the cap too: a turn may cost more than is left on every model. The decision
    # comes first, as it is the cheaper check; the cache is only asked about a refused turn.
    try:
        decide_route(engine, prompt, history=history, system=system, pin=None, override=None,
                     current_model=window.current_model)
        return None
    except NoRouteError as exc:
        if not is_budget_refusal(exc):
            return None  # not a budget matter: the turn reports it
        block = block_from_refusal(state, exc)
    except ChatrouteError:
        return None  # likewise
    if use_cache and engine.cache_enabled and (conv is None or conv.cache_enabled):
        try:
            # count=False: a peek; the turn itself counts its lookup.
            if engine.cache.lookup(system, as_pairs(history), prompt, cache_params(engine, None), None,
                                   count=False) is not None:
                return None
        except Exception:  # noqa: BLE001 - a broken cache must never block a turn
            pass
    return block


def with_figures(engine: Engine, exc: ChatrouteError) -> ChatrouteError:
    """The router's budget refusal names no figure ('the budget cap is reached'): as
    BudgetExceeded it says which cap, what was spent and the cap. Any other error as it is."""
    from chatroute.routing.budget import BudgetExceeded, block_from_refusal, budget_state, is_budget_refusal
    from chatroute.routing.policy import NoRouteError

    if not isinstance(exc, NoRouteError) or isinstance(exc, BudgetExceeded) or not is_budget_refusal(exc):
        return exc
    state = budget_state(engine.store, engine.config.budget, pending_usd=engine.in_flight.total())
    if state is None:
        return exc
    return BudgetExceeded(block_from_refusal(state, exc), exc.candidates)


def over_budget_decision(engine: Engine, exc: ChatrouteError, started: float) -> RouteDecision | None:
    """The user said yes past the cap: the cheapest model the cap excluded, and only that
    one (kind `routed` fails over through decide(), which refuses again: no paid surprises)."""
    from chatroute.routing.budget import block_from_refusal, budget_state, is_budget_refusal
    from chatroute.routing.policy import BudgetState, NoRouteError, RouteDecision

    if not isinstance(exc, NoRouteError) or not is_budget_refusal(exc):
        return None
    state = budget_state(engine.store, engine.config.budget, pending_usd=engine.in_flight.total())
    block = block_from_refusal(state or BudgetState(), exc)
    if block.cheapest_model is None:
        return None
    over = (f"the {block.period} budget cap is reached" if block.reached else
            f"this turn would exceed the {block.period} budget")
    reason = f"{short_model(block.cheapest_model)}: the cheapest model; {over} and you chose to send anyway"
    return RouteDecision(model=block.cheapest_model, kind="routed", reason=reason, candidates=exc.candidates,
                         route_ms=(time.perf_counter() - started) * 1000, preset=engine.preset,
                         notes=[f"over budget: {block.summary}"],
                         why=f"over the {block.period} budget, sent as you asked")
