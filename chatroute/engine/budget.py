"""The spending caps as a turn meets them: whether it may spend, and what it runs on when the
user says to send anyway. The caps and their state live in routing/budget.py and accounting.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from chatroute.engine.cache_path import cache_params
from chatroute.engine.common import as_pairs
from chatroute.engine.history import regenerated_question, window_for
from chatroute.engine.route import decide_route
from chatroute.errors import ChatrouteError
from chatroute.format import short_model
from chatroute.routing.decision import BUDGET_WOULD_EXCEED

if TYPE_CHECKING:
    from chatroute.config import Config
    from chatroute.engine.core import Engine
    from chatroute.routing.budget import BudgetBlock
    from chatroute.routing.decision import BudgetState
    from chatroute.routing.policy import RouteDecision
    from chatroute.store.records import TurnRecord

T = TypeVar("T")

# Decided again at most this many times when other processes reserve what the decision counted
# on, between its reading of the budget and its reservation (each miss is another's progress).
RESERVE_TRIES = 5
# A reservation outlives its turn's longest run by this much before others stop counting it.
RESERVATION_SLACK_S = 60.0
# The kinds of decision the budget shaped: only these are checked again as they reserve.
BUDGETED_KINDS = ("routed", "default")


class InFlight:
    """What the turns streaming now are expected to cost, from their decision to their record,
    in this process and in every other sharing the database (store/reservations.py). The ledger
    only holds finished turns: without these, every request `serve` decided while others
    streamed, and every `ask` run beside the TUI, saw the cap as the others had never been sent.
    Nothing is reserved while no cap is configured: no one would count it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._held: dict[int, int | None] = {}  # id(decision): its reservation (None: none taken)
        # id(decision): the budget as its check under the lock found it, and why it did not fit.
        self._lost: dict[int, tuple[BudgetState, str]] = {}

    def hold(self, decision: RouteDecision, *, check: bool = False) -> bool:
        """Reserve the decision's expected cost until `release`. `check`: the decision was made
        on a budget read before this, so it is taken only if it still fits under the lock, with
        the ledger and every process's reservations read again; False when it no longer does
        (another process reserved meanwhile): decide again (reserved_decision)."""
        if not self.capped():
            self._held[id(decision)] = None
            return True
        return self._reserve(decision, decision, check=check) is None

    def hold_at(self, decision: RouteDecision, cost_usd: float | None) -> None:
        """Reserve `cost_usd` for the turn of `decision` until `release`, unchecked: a compare
        answer, whose model the user named (no cap refuses it, as none refuses `-m`) and which
        no decision priced. An unknown price reserves nothing, as a decision's does."""
        if not self.capped():
            self._held[id(decision)] = None
            return
        self._held[id(decision)] = self._engine.store.reserve(
            cost_usd or 0.0, expires_after_s=longest_turn_s(self._engine.config))

    def move(self, decision: RouteDecision, to: RouteDecision, billed_usd: float = 0.0) -> str | None:
        """The turn of `decision` fails over to `to.model`: its reservation becomes what the turn
        is expected to cost there, checked under the lock as a decision's is (the model the
        first reservation priced is no longer to come; a dearer one would pass the cap unseen).
        `billed_usd`: what the attempt it fails over from is known to cost (it streamed thinking),
        not yet in the ledger: counted by the check and held in the reservation until its record
        is written (record_billed). None once it is held; else why the budget keeps that model
        from the turn, which then skips it (its reservation is left as it was)."""
        if not self.capped():
            return None
        return self._reserve(decision, to, check=True, replacing=self._held.get(id(decision)), billed_usd=billed_usd)

    def record_billed(self, decision: RouteDecision, record: TurnRecord, billed_usd: float,
                      write: Callable[[TurnRecord], object]) -> None:
        """Write the record of an attempt the turn of `decision` failed over from, billed
        (`billed_usd`, which its moved reservation holds: see move), and take that part off the
        reservation in the same transaction."""
        rid = self._held.get(id(decision)) if self.capped() else None
        if rid is None or billed_usd <= 0:
            write(record)
            return
        self._engine.store.lower_reservation(rid, billed_usd, partial(write, record))

    def _reserve(self, decision: RouteDecision, priced: RouteDecision, *, check: bool,
                 replacing: int | None = None, billed_usd: float = 0.0) -> str | None:
        """Reserve, for the turn of `decision`, the expected cost of `priced.model` (and
        `billed_usd`: see move); None when it is held, else the budget's reason against it
        (nothing reserved)."""
        engine = self._engine
        budget = engine.config.budget
        chosen = next((c for c in priced.candidates if c.model == priced.model), None)
        cost = chosen.expected_cost_usd if chosen is not None else None
        refused: list[tuple[BudgetState, str]] = []

        def fits(reserved: float) -> bool:
            from chatroute.routing.budget import budget_state
            from chatroute.routing.decision import budget_exclusion

            state = budget_state(engine.store, budget, pending_usd=reserved + billed_usd)
            if state is None or chosen is None:
                return True  # a model the decision does not price (a default outside the pool)
            why = budget_exclusion(state.remaining_usd(), state.used_fraction(), cost or 0.0,
                                   price_known=cost is not None)
            if why is not None:
                refused.append((state, why))
            return why is None

        rid = engine.store.reserve((cost or 0.0) + billed_usd, expires_after_s=longest_turn_s(engine.config),
                                   fits=fits if check else None, replacing=replacing)
        if rid is None:
            if not refused:
                return BUDGET_WOULD_EXCEED
            if priced is decision:
                self._lost[id(decision)] = refused[-1]
            return refused[-1][1]
        self._held[id(decision)] = rid
        return None

    def lost(self, decision: RouteDecision) -> tuple[BudgetState, str] | None:
        """The budget as the check of `decision`'s reservation found it when it did not fit (the
        ledger's spend, every turn in progress), and the reason; None when it was not refused."""
        return self._lost.pop(id(decision), None)

    def capped(self) -> bool:
        """Whether a cap is configured: without one, nothing is reserved or counted."""
        budget = self._engine.config.budget
        return budget.daily_usd is not None or budget.monthly_usd is not None

    def release(self, decision: RouteDecision) -> None:
        rid = self._held.pop(id(decision), None)
        if rid is not None:
            self._engine.store.release_reservation(rid)

    def total(self, *, but: RouteDecision | None = None) -> float:
        """`but`: a turn failing over does not count its own expected cost against itself."""
        if not self.capped():
            return 0.0
        return self._engine.store.reserved_usd(but=self._held.get(id(but)) if but is not None else None)


def longest_turn_s(config: Config) -> float:
    """How long a turn may run at most: failing over until a first token, then the slowest
    provider's whole-request limit. A reservation older than this (and a slack) is left behind."""
    whole = max((p.timeout_s for p in config.providers.values()), default=600.0)
    return config.router.failover_timeout_s + whole + RESERVATION_SLACK_S


async def reserved_decision(engine: Engine, decide: Callable[[], RouteDecision],
                            hold: Callable[[RouteDecision, bool], Awaitable[bool]]) -> RouteDecision:
    """`decide()`'s decision with its expected cost reserved by `hold(decision, check)` (off the
    event loop: the write may wait for another process's lock). One the budget shaped is checked
    again as it reserves; when another process took what it counted on meanwhile, it is made
    again, on a budget that now counts the other's (a cheaper model, or the budget's refusal)."""
    for _ in range(RESERVE_TRIES):
        decision = decide()
        try:
            held = await hold(decision, decision.kind in BUDGETED_KINDS)
        except BaseException:
            engine.in_flight.release(decision)  # a wait cancelled after the write went through
            engine.in_flight.lost(decision)
            raise
        lost = engine.in_flight.lost(decision)
        if held:
            return decision
    raise crowded_out(engine, decision, lost)


async def hold_in_thread(engine: Engine, decision: RouteDecision, check: bool) -> bool:
    """`in_flight.hold` for a client serving many requests at once (`serve`): in a thread of its
    own, and not abandoned when the request is cancelled, which would leave the reservation
    behind. (A turn's own writes go through Engine._db, whose cancel ends every wait.)"""
    if not engine.in_flight.capped():
        return engine.in_flight.hold(decision)  # nothing to write
    return await _shielded(engine, decision, partial(engine.in_flight.hold, decision, check=check))


async def move_in_thread(engine: Engine, decision: RouteDecision, to: RouteDecision,
                         billed_usd: float = 0.0) -> str | None:
    """`in_flight.move` for `serve`, as hold_in_thread holds."""
    if not engine.in_flight.capped():
        return None
    return await _shielded(engine, decision, partial(engine.in_flight.move, decision, to, billed_usd))


async def _shielded(engine: Engine, decision: RouteDecision, write: Callable[[], T]) -> T:
    job = asyncio.ensure_future(asyncio.to_thread(write))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        # The write goes on: the reservation it leaves is released once it is done.
        job.add_done_callback(lambda _: engine.in_flight.release(decision))
        raise


def crowded_out(engine: Engine, decision: RouteDecision, lost: tuple[BudgetState, str] | None) -> ChatrouteError:
    """Other processes kept taking what is left of the cap before this turn could: refused as
    the budget refuses it, so a client asks (or `--over-budget` sends it) as for any refusal,
    with the figures that refused it the last time (`lost`: read again now, the others' turns
    may have ended, and the refusal told of a cap with room to spare)."""
    from chatroute.routing.budget import BudgetExceeded, block_from_refusal
    from chatroute.routing.decision import NoRouteError

    why = lost[1] if lost is not None else BUDGET_WOULD_EXCEED
    blocked = [replace(c, excluded=why) if c.model == decision.model else c for c in decision.candidates]
    refusal = NoRouteError("this turn would exceed the budget", blocked)
    if lost is None:
        return with_figures(engine, refusal)
    return BudgetExceeded(block_from_refusal(lost[0], refusal), blocked)


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
