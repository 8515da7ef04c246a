"""Compare mode: one prompt to 2-4 models at once, each answer a sibling reply of the same user
message, and the user's pick taught to the router."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chatroute.engine.answer import answer
from chatroute.engine.common import StorageError, not_reserved_line, required_max_tokens, title
from chatroute.engine.history import HistoryWindow, history_budget, history_window, narrowed, noted
from chatroute.errors import ChatrouteError
from chatroute.format import short_model
from chatroute.store.dbfile import StoreError
from chatroute.turn_events import Routed, TurnEvent, TurnFinished, TurnStarted

if TYPE_CHECKING:
    from chatroute.engine.core import Engine
    from chatroute.routing.policy import RouteDecision


def open_compare_streams(engine: Engine, conversation_id: str | None, prompt: str,
            models: list[str]) -> dict[str, AsyncIterator[TurnEvent]]:
    """The streams of one prompt to several models (see Engine.compare)."""
    if not 2 <= len(models) <= 4:
        raise ChatrouteError("compare takes 2 to 4 models", exit_code=2)
    resolved = [engine.catalog.resolve(m) for m in models]
    if len(set(resolved)) != len(resolved):
        raise ChatrouteError("compare needs distinct models", exit_code=2)
    if not prompt.strip():
        raise ChatrouteError("the prompt is empty", exit_code=2)
    store = engine.store
    if conversation_id is None:
        conv = store.create_conversation(title=title(prompt))
    else:
        found = store.get_conversation(conversation_id)
        if found is None:
            raise ChatrouteError(f"no conversation {conversation_id!r}", exit_code=2)
        conv = found
    # Each model gets what fits its own window: the tail is read once, for the roomiest.
    budgets = {m: history_budget(engine, prompt, system=conv.system_prompt, pin=None, override=m)
               for m in resolved}
    widest = history_window(engine, conv.id, prompt, system=conv.system_prompt, pin=None, override=None,
                            budget=max(budgets.values(), key=lambda b: b[0]))
    # Every SDK imported and client made before the first stream starts: otherwise one
    # stream's set-up blocks the event loop while another's clock runs.
    engine.prepare_providers(engine.catalog.get(m).provider for m in resolved)
    if not conv.title and widest.leaf_id is None:
        # Made empty before its first turn (a pin, the cache switched off): titled by its first
        # prompt, as Engine.run_turn titles one.
        store.rename_conversation(conv.id, title(prompt))
        conv = replace(conv, title=title(prompt))
    user_msg = store.add_message(conv.id, "user", prompt, parent_id=widest.leaf_id)
    streams: dict[str, AsyncIterator[TurnEvent]] = {}
    for i, model in enumerate(resolved):
        msg = store.add_message(conv.id, "assistant", "", parent_id=user_msg.id, status="streaming",
                                active=i == 0)
        streams[model] = _CompareStream(engine, msg.id, model, _compare_one(
            engine, conv, user_msg.id, msg.id, narrowed(widest, *budgets[model]), prompt, model))
    return streams


class _CompareStream(AsyncIterator[TurnEvent]):
    """One answer's events. Its answer is stored `streaming` before the stream runs, and an async
    generator closed before its first step runs none of its code: a compare stopped in the
    instant it started left it so for as long as the process lived. Closed before it ran, the
    answer is settled here: interrupted, empty, nothing sent or billed."""

    def __init__(self, engine: Engine, message_id: str, model: str, events: AsyncGenerator[TurnEvent, None]) -> None:
        self._engine, self._message_id, self._model = engine, message_id, model
        self._events = events
        self._ran = self._closed = False

    async def __anext__(self) -> TurnEvent:
        if self._closed:
            raise StopAsyncIteration
        self._ran = True
        return await self._events.__anext__()

    async def aclose(self) -> None:
        if self._closed:
            return
        await self._events.aclose()  # raises, and stays open, while another task runs it
        self._closed = True
        if not self._ran:
            await self._engine._db(_close_unsent, self._engine, self._message_id, self._model)


def _close_unsent(engine: Engine, message_id: str, model: str) -> None:
    try:
        engine.store.set_message_model(message_id, model, "compare")
        engine.store.close_unsaved(message_id)
    except (StoreError, sqlite3.Error):  # the next open marks it interrupted instead
        return
    _show_an_answer(engine, message_id)


async def _compare_one(engine: Engine, conv: Any, user_id: str, message_id: str, window: HistoryWindow,
                       prompt: str, model: str) -> AsyncGenerator[TurnEvent, None]:
    from chatroute.routing.policy import RouteDecision, expected_cost_on

    history = window.messages
    yield TurnStarted(conv.id, user_id, message_id)
    decision = RouteDecision(model=model, kind="compare", reason=f"compare mode: {model} chosen by the user",
                             candidates=[], route_ms=0.0, preset=engine.preset)
    decision = noted(decision, window)
    try:
        if engine.in_flight.capped():
            # Its expected cost is reserved until its record is in the ledger (released below),
            # as a turn's on a model named with -m is: other processes count it against the cap.
            info = engine.catalog.get(model)
            cost = expected_cost_on(info, prompt, history, conv.system_prompt,
                                    required=required_max_tokens(engine.config, info))
            try:
                await engine._db(engine.in_flight.hold_at, decision, cost)
            except StorageError as exc:
                # Not sent: no reservation holds its cost from the others, and a database that
                # took none is unlikely to take its record. It ends failed here and now.
                yield await _unreserved(engine, conv, message_id, decision, str(exc))
                return
        yield Routed(model, "compare", decision.reason, decision.to_dict())
        async with aclosing(answer(engine, conv, message_id, history, prompt, decision, 0.0, "bypass",
                                   cache_key=None, current_model=None)) as events:
            async for event in events:
                yield event
    finally:
        engine.in_flight.release(decision)
        _show_an_answer(engine, message_id)


async def _unreserved(engine: Engine, conv: Any, message_id: str, decision: RouteDecision,
                      problem: str) -> TurnFinished:
    """The end of a compare answer whose reservation could not be written: stored as failed
    (its model named, empty), unsent; when even that write fails, it stays `streaming` until
    the next open settles it, and the line says so. No turn record: nothing was billed."""
    from chatroute.store.records import TurnRecord

    model = decision.model
    line = f"{short_model(model)}: {not_reserved_line('its', problem)}"
    not_saved = None

    def close() -> None:
        with engine.store.transaction():
            engine.store.set_message_model(message_id, model, "compare")
            engine.store.finish_turn(message_id, "", "error")

    try:
        await engine._db(close)
    except StorageError as exc:
        not_saved = str(exc)
        line += "; its status could not be written either; the next start marks it interrupted"
    record = TurnRecord(conversation_id=conv.id, message_id=message_id, model=model, provider=model.split("/", 1)[0],
                        route_kind="compare", route=decision.to_dict(), cost_usd=0.0, status="error", error=line)
    return TurnFinished(record=record, text="", error=line, retryable=True, not_saved=not_saved)


def _show_an_answer(engine: Engine, message_id: str) -> None:
    """Once an answer ends: when the one shown (the first asked, until a pick) ended with no text
    (a 429, a refused key), the first in the order asked that has text is shown instead, once
    those before it have ended. The next turn's history leaves a question with no answer out, so
    continuing from a failed first answer dropped the compare, question and answers, from what
    the model was sent."""
    store = engine.store
    try:
        siblings = store.siblings(message_id)
        shown = next((m for m in siblings if m.active), None)
        if shown is None or shown.status == "streaming" or shown.content.strip():
            return
        for m in siblings:
            if m.status == "streaming":
                return  # it may yet answer: the last of these to end decides
            if m.content.strip():
                store.set_active(m.id)
                return
    except (StoreError, sqlite3.Error):  # deleted meanwhile, locked, a full disk: the answer is saved all the same
        return


def record_compare_pick(engine: Engine, conversation_id: str, message_id: str) -> None:
    """The user picked this answer: show it, continue from it, and teach the router."""
    store = engine.store
    chosen = store.get_message(message_id)
    if chosen is None or chosen.conversation_id != conversation_id:
        raise ChatrouteError(f"no message {message_id!r} in that conversation", exit_code=2)
    store.set_active(message_id)
    if not engine.config.router.learn:
        return
    # Passed over: the answers the user read and did not pick. A model whose column failed
    # with nothing to read (a rate limit, a bad key) was not judged, so it is not counted.
    rejected = [m.model for m in store.siblings(message_id)
                if m.id != message_id and m.model and m.content.strip() and m.status != "error"]
    user = store.get_message(chosen.parent_id) if chosen.parent_id else None
    store.add_preference(
        "compare_pick", chosen_model=chosen.model, rejected_models=rejected,
        prompt=user.content if user else None, conversation_id=conversation_id, message_id=message_id,
    )
    engine._relearn()
