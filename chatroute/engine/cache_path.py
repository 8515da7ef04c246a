"""A turn's way through the answer cache: a hit answers it for $0 (and says where the answer came
from and what it saved), a complete answer is stored, and a regenerated hit counts against its
source entry. The cache itself is cache/answer_cache.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from chatroute.engine.common import CACHE_PARAMS, as_pairs
from chatroute.engine.records import Attempt, finish_saving
from chatroute.engine.route import decide_route
from chatroute.errors import ChatrouteError
from chatroute.providers.base import Message
from chatroute.turn_events import CacheHit, Delta, Routed, TurnEvent, TurnFinished

if TYPE_CHECKING:
    from chatroute.cache.answer_cache import CacheHit as CacheHitResult
    from chatroute.engine.core import Engine
    from chatroute.routing.policy import RouteDecision

def hit_saving(engine: Engine, hit: CacheHitResult, prompt: str, history: list[Message], system: str | None, *,
               pin: str | None, override: str | None,
               current_model: str | None) -> tuple[float | None, RouteDecision | None]:
    """What a hit saved: the cost of the model that would have answered (and that decision).
    With no routing now (over the budget cap, say), the model that wrote the answer would have
    been asked again, so its price is the saving. None (n/a) when that cost is unknown."""
    from chatroute.catalog.cost import estimate_cost
    from chatroute.catalog.tokens import count_messages, count_tokens

    # The request as it would have been sent (the system prompt too) and the answer, counted
    # with the model's tokenizer, as a turn without a usage report is.
    messages = [*history, {"role": "user", "content": prompt}]

    def priced(model: str) -> float | None:
        info = engine.catalog.get(model)
        n_in, _ = count_messages(messages, system, info.id)
        n_out, _ = count_tokens(hit.text, info.id)
        cost = estimate_cost(info, n_in, max(1, n_out))
        if cost is None and model == hit.model:
            # No price in the table (most OpenRouter ids), but the provider said what this very
            # answer cost it (usage.cost): asking that model again would cost about as much.
            return source_cost(engine, hit.source_turn_id, model)
        return cost

    try:
        would = decide_route(engine, prompt, history=history, system=system, pin=pin, override=override,
                             current_model=current_model)
        return priced(would.model), would
    except ChatrouteError:
        pass
    try:
        return priced(hit.model or ""), None
    except ChatrouteError:
        return None, None


def source_cost(engine: Engine, turn_id: str | None, model: str) -> float | None:
    """What the turn that wrote a cached answer cost, when that model wrote it and its cost is
    known; None otherwise."""
    if not turn_id:
        return None
    try:
        turn = engine.store.get_turn(turn_id)
    except Exception:  # noqa: BLE001 - an unreadable source leaves the saving unknown, never fails a hit
        return None
    if turn is None or turn.model != model or turn.cost_usd is None or turn.cost_usd < 0:
        return None
    return turn.cost_usd


def cache_params(engine: Engine, key_model: str | None) -> dict[str, Any]:
    """The parameters of a chat turn's cache key: the sampling ones, and for a routed turn the
    preset when the session picked another than the configured one (Ctrl+R). That preset's
    router trades quality for cost its own way, so its answers are its own, as a served
    chatroute/best request's are; the configured preset adds nothing, so it keeps the entries
    it had, and shares them with chatroute/auto."""
    params = dict(CACHE_PARAMS)
    if key_model is None and engine.preset != engine.config.router.preset:
        params["preset"] = engine.preset
    return params


def cached_answer(engine: Engine, system: str | None, history: list[Message], prompt: str,
                  key_model: str | None) -> dict[str, Any] | None:
    """The entry a turn would be answered from (its model, tier and similarity), or None; a
    peek that counts no lookup, for a preview of the turn."""
    try:
        hit = engine.cache.lookup(system, as_pairs(history), prompt, cache_params(engine, key_model), key_model,
                                  count=False)
    except Exception:  # noqa: BLE001 - a broken cache is a miss, as for the turn itself
        return None
    if hit is None or hit.model is None:
        return None
    return {"model": hit.model, "tier": hit.tier, "similarity": round(hit.similarity, 4)}


async def serve_from_cache(
    engine: Engine,
    conversation_id: str,
    message_id: str,
    system: str | None,
    history: list[Message],
    prompt: str,
    params: dict[str, Any],
    key_model: str | None,
    *,
    pin: str | None,
    override: str | None,
    current_model: str | None,
) -> AsyncIterator[TurnEvent]:
    """The events of a turn the cache answers, ending with TurnFinished; none on a miss."""
    from chatroute.store.records import TurnRecord

    try:
        hit = engine.cache.lookup(system, as_pairs(history), prompt, params, key_model)
    except Exception:  # noqa: BLE001 - a broken cache must never block a turn
        return
    if hit is None or hit.model is None:  # an entry that does not say which model wrote it cannot be billed
        return
    saved, would = hit_saving(engine, hit, prompt, history, system, pin=pin, override=override,
                              current_model=current_model)
    reason = f"answered from the cache ({hit.tier}, similarity {hit.similarity:.3f})"
    decision: dict[str, Any] = {
        "kind": "cache",
        "model": hit.model,
        "reason": reason,
        "why": "",  # the badge says (cache) after the model instead
        "candidates": [],
        "reroutes": [],
        "would_route_to": would.model if would else None,
        "source": cache_source(engine, hit.source_turn_id),
    }
    yield Routed(hit.model, "cache", reason, decision)
    yield CacheHit(hit.similarity, hit.tier, hit.source_turn_id, hit.lookup_ms)
    yield Delta(hit.text)
    record = TurnRecord(
        conversation_id=conversation_id, message_id=message_id, model=hit.model,
        provider=hit.model.split("/", 1)[0], route_kind="cache", route=decision, cache_status="hit",
        cache_similarity=hit.similarity, cache_source_turn=hit.source_turn_id, cost_usd=0.0,
        saved_usd=saved, route_ms=hit.lookup_ms, ttft_ms=hit.lookup_ms, total_ms=hit.lookup_ms,
        status="ok", finish_reason="stop",
    )
    # As a model's answer is saved: on a full disk the answer was shown all the same, so the
    # turn ends saying it could not be saved, its $0 record kept where that still fits.
    not_saved = await finish_saving(engine, message_id, Attempt(text=hit.text), "complete", record)
    try:
        engine.cache.record_hit(hit.entry_id, saved)
    except Exception:  # noqa: BLE001
        pass
    yield TurnFinished(record=record, text=hit.text, not_saved=not_saved)


def cache_source(engine: Engine, turn_id: str | None) -> dict[str, Any] | None:
    """Where a hit came from, for the badge's link: the source turn's message, its
    conversation and title (or the serve client that asked it), and when it was answered (a
    snapshot; the TUI re-resolves the turn id when the user follows the link, in case it was
    deleted since)."""
    if not turn_id:
        return None
    try:
        turn = engine.store.get_turn(turn_id)
        conv = engine.store.get_conversation(turn.conversation_id) if turn and turn.conversation_id else None
    except Exception:  # noqa: BLE001 - a missing link must never fail a hit
        return {"turn_id": turn_id}
    if turn is None:
        return {"turn_id": turn_id}
    source = {"turn_id": turn_id, "message_id": turn.message_id, "conversation_id": turn.conversation_id,
              "conversation_title": conv.title if conv is not None else None, "created_at": turn.created_at}
    if turn.client is not None:
        source["client"] = turn.client  # a request to `chatroute serve`: it never had a conversation
    return source


def cache_store(engine: Engine, system: str | None, history: list[Message], prompt: str, params: dict[str, Any],
                key_model: str | None, text: str, model: str, turn_id: str) -> None:
    try:
        engine.cache.store(system, as_pairs(history), prompt, params, key_model, text=text, model=model,
                           turn_id=turn_id, finish_reason="stop")
    except Exception:  # noqa: BLE001 - caching is best effort; the turn is already saved
        pass


def penalise_regenerated_answer(engine: Engine, message_id: str | None) -> None:
    """A regenerated answer is trusted less by the cache: the entry it came from, when it was a
    hit, or the entry it was stored as, when a model wrote it (the user rejects it either way;
    only the first is a false hit)."""
    if message_id is None:
        return
    turn = engine.store.turn_for_message(message_id)
    if turn is None:
        return
    try:
        if turn.cache_status == "hit":
            engine.cache.penalise_turn(turn.cache_source_turn)
        else:
            engine.cache.penalise_turn(turn.id, false_hit=False)
    except Exception:  # noqa: BLE001
        pass
