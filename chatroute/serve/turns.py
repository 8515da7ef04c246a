"""One served request through the engine: the TUI's cache, router, health, reroutes and
accounting, without its conversations.

The client sends its own history, so no history window is applied and no message is stored: the
ledger gets a turn record (with the client's name) and nothing else. The cache key is the whole
request (system, every message, temperature, max_tokens, a seed, the end user named, the pinned
model, a named preset: ServedRequest.params). A budget cap refuses
routed requests (there is no one to ask for consent); a pinned request is the client's explicit
choice, as in the TUI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any

from chatroute.engine.answer import Failover, attempts
from chatroute.engine.budget import hold_in_thread, move_in_thread, reserved_decision, with_figures
from chatroute.engine.cache_path import cache_store, hit_saving
from chatroute.engine.common import (
    STORAGE_ERRORS,
    NotReserved,
    not_reserved_line,
    output_limit,
    required_max_tokens,
    storage_problem,
)
from chatroute.engine.records import Attempt, build_record, error_line, learn, request_left
from chatroute.engine.route import fits_request, pinned_decision
from chatroute.errors import ChatrouteError
from chatroute.format import reroute_line
from chatroute.providers.base import ChatRequest, ErrorKind, Message, ProviderError
from chatroute.turn_events import CacheHit, Delta, Routed, TurnEvent, TurnFinished

if TYPE_CHECKING:
    from chatroute.catalog import ModelInfo
    from chatroute.engine import Engine
    from chatroute.routing.policy import RouteDecision
    from chatroute.serve.wire import ServedRequest
    from chatroute.store.records import TurnRecord

log = logging.getLogger("chatroute.serve")

# Told of each record written for a request: (record, final). Final: the request's end, whichever
# way it ended (a client that hung up mid-stream included: no TurnFinished reaches anyone then);
# not final: an attempt billed before a reroute.
OnRecord = Callable[["TurnRecord", bool], None]


async def serve_turn(engine: Engine, req: ServedRequest, client: str,
                     on_record: OnRecord | None = None) -> AsyncGenerator[TurnEvent, None]:
    """Yield the request's events, ending with TurnFinished. Raises ChatrouteError (an input
    no model takes, no route, a budget cap) before anything is sent or recorded."""
    history = list(req.history)
    # The size check counts the prompt's tokens: on the event loop a long prompt held every other
    # stream until it was counted. The catalogue is read here, only the counting goes to a thread.
    fits = fits_request(engine, req.prompt, history, system=req.system, pin=req.pinned, override=None, served=True,
                        shorten=req.input_field.shorten)
    await asyncio.to_thread(engine.router.check_fits, fits)
    cache_status = "bypass"
    if engine.cache_enabled:
        # Closed with this generator: a hit's writes happen as it closes (see _from_cache).
        async with aclosing(_from_cache(engine, req, client, on_record)) as hits:
            async for event in hits:
                yield event
                if isinstance(event, TurnFinished):
                    return
        cache_status = "miss"
    started = time.perf_counter()
    # Its expected cost is reserved until its record is in the ledger (released below): requests
    # at once, here and in other processes on the same database, share the cap. The answer is
    # expected no longer than the client's max_tokens allows.
    def hold(decision: RouteDecision, budgeted: bool) -> Awaitable[bool]:
        return _hold(engine, decision, budgeted)

    if (pin := req.pinned):
        decision = await reserved_decision(
            engine, lambda: pinned_decision(engine, req.prompt, history=history, system=req.system, pin=pin,
                                            max_output_tokens=req.max_tokens), hold)
    else:
        try:
            decision = await reserved_decision(engine, lambda: engine.decide(
                req.prompt, history=history, system=req.system, pin=None, override=None, current_model=None,
                preset=req.preset, max_output_tokens=req.max_tokens), hold)
        except ChatrouteError as exc:
            raise with_figures(engine, exc) from None  # a cap's refusal: which cap, spent and cap
    route_ms = (time.perf_counter() - started) * 1000
    try:
        yield Routed(decision.model, decision.kind, decision.reason, decision.to_dict())
        async with aclosing(_answer(engine, req, client, decision, route_ms, cache_status, on_record)) as answer:
            async for event in answer:
                yield event
    finally:
        engine.in_flight.release(decision)


async def _hold(engine: Engine, decision: RouteDecision, budgeted: bool) -> bool:
    """The request's reservation (hold_in_thread); one that cannot be written (a full disk, a
    read-only file) refuses the request before it is sent, as a chat turn's does: nothing would
    hold its cost from the other processes under the cap."""
    try:
        return await hold_in_thread(engine, decision, budgeted)
    except STORAGE_ERRORS as exc:
        line = not_reserved_line("the request's", storage_problem(engine.store.path, exc))
        log.warning("chatroute serve: warning: %s", line)
        raise NotReserved(line) from None


def _tell(on_record: OnRecord | None, record: TurnRecord, final: bool) -> None:
    if on_record is None:
        return
    try:
        on_record(record, final)
    except Exception:  # noqa: BLE001 - the live state is informative; the request and ledger go on
        pass


def _record(engine: Engine, record: TurnRecord, write: Callable[[TurnRecord], object] | None = None) -> str | None:
    """Write a served request's record to the ledger; None when it is written, else why not (a
    full disk, a read-only file), said once in serve's log. The answer is the client's all the
    same: the provider has answered and billed it, and failing the request would lose it too."""
    try:
        (write or engine.store.add_turn)(record)
        return None
    except STORAGE_ERRORS as exc:
        problem = storage_problem(engine.store.path, exc)
    cost = f"${record.cost_usd:.6f}" if record.cost_usd is not None else "unknown"
    log.warning("chatroute serve: warning: %s", " ".join(
        f"{record.model}: the request was answered but its record could not be written to the ledger "
        f"({problem}); its cost ({cost}) is not counted by `chatroute costs` or the budget".split()))
    return problem


async def _from_cache(engine: Engine, req: ServedRequest, client: str,
                      on_record: OnRecord | None) -> AsyncGenerator[TurnEvent, None]:
    from chatroute.store.records import TurnRecord

    pairs = [(m.role, m.content) for m in req.history]
    try:
        hit = engine.cache.lookup(req.system, pairs, req.prompt, req.params, req.pinned)
    except Exception:  # noqa: BLE001 - a broken cache must never block a request
        return
    if hit is None or not hit.model:
        return
    reason = f"answered from the cache ({hit.tier}, similarity {hit.similarity:.3f})"
    decision: dict[str, Any] = {"kind": "cache", "model": hit.model, "reason": reason, "why": "", "candidates": [],
                                "reroutes": []}
    # What it saved, as a chat turn's hit counts it (the ledger said $0 saved for every served hit).
    saved, would = hit_saving(engine, hit, req.prompt, list(req.history), req.system, pin=req.pinned, override=None,
                              current_model=None)
    decision["would_route_to"] = would.model if would else None
    record = TurnRecord(conversation_id=None, message_id=None, model=hit.model, provider=hit.model.split("/", 1)[0],
                        route_kind="cache", route=decision, cache_status="hit", cache_similarity=hit.similarity,
                        cache_source_turn=hit.source_turn_id, cost_usd=0.0, saved_usd=saved, route_ms=hit.lookup_ms,
                        ttft_ms=hit.lookup_ms, total_ms=hit.lookup_ms, status="ok", finish_reason="stop",
                        client=client)
    yield Routed(hit.model, "cache", reason, decision)
    yield CacheHit(hit.similarity, hit.tier, hit.source_turn_id, hit.lookup_ms)
    try:
        yield Delta(hit.text)  # the answer goes out before its two writes, not after them
    finally:
        # Also when the client is already gone (the generator closed at the yield above): the
        # answer was served, so it is in the ledger.
        if _record(engine, record) is None:
            _tell(on_record, record, True)
        try:
            engine.cache.record_hit(hit.entry_id, saved)
        except Exception:  # noqa: BLE001
            pass
    yield TurnFinished(record=record, text=hit.text)


async def _answer(engine: Engine, req: ServedRequest, client: str, decision: RouteDecision, route_ms: float,
                  cache_status: str, on_record: OnRecord | None) -> AsyncGenerator[TurnEvent, None]:
    """Stream from the decided model, failing over before the first token as a chat turn does,
    then record the request (stopped part-way too: see _record_stopped)."""
    history = list(req.history)
    messages = tuple([*history, Message("user", req.prompt)])
    saves = _Saves(engine, client, decision)

    def request_for(info: ModelInfo, first_token_deadline: float | None) -> ChatRequest:
        return ChatRequest(model=info.name, messages=messages, system=req.system,
                           max_tokens=output_limit(info, messages, req.system, req.max_tokens,
                                                   required=required_max_tokens(engine.config, info)),
                           temperature=req.temperature,
                           first_token_deadline=first_token_deadline)

    def on_stop(info: ModelInfo, stopped: Attempt, exc: BaseException) -> None:
        saves.ended = True
        record = _record_stopped(engine, req, client, decision, route_ms, cache_status, messages, info, stopped,
                                 exc, saves.write)
        if record is not None:
            _tell(on_record, record, True)

    def billed(info: ModelInfo, failed: Attempt) -> TurnRecord:
        record = build_record(None, None, info, decision, failed, route_ms, cache_status, messages, req.system)
        record.client = client
        return record

    async def on_failover(record: TurnRecord, billed_usd: float) -> None:
        # Billed (it streamed thinking) though the request moves on: in the ledger on its own.
        await saves.settled()  # the failed attempt's last save, before the record that replaces it
        write = partial(engine.in_flight.record_billed, decision, write=saves.write, billed_usd=billed_usd)
        if _record(engine, record, write) is None:
            _tell(on_record, record, False)

    async def move(to: RouteDecision, billed_usd: float) -> str | None:
        # A move that cannot be written refuses the request as a first reservation does (_hold):
        # the next model would run with nothing holding its cost from the others under the cap.
        try:
            return await move_in_thread(engine, decision, to, billed_usd)
        except STORAGE_ERRORS as exc:
            line = not_reserved_line("the request's", storage_problem(engine.store.path, exc), failing_over_to=to.model)
            log.warning("chatroute serve: warning: %s", line)
            raise NotReserved(line) from None

    out = Failover()
    async with aclosing(attempts(engine, decision, out, prompt=req.prompt, history=history, system=req.system,
                                 current_model=None, request_for=request_for, on_stop=on_stop,
                                 billed=billed, on_failover=on_failover, move=move, progress=saves.save)) as events:
        async for event in events:
            yield event
    info, attempt = out.answered()

    record = build_record(None, None, info, decision, attempt, route_ms, cache_status, messages, req.system)
    record.client = client
    if attempt.error is not None:
        record.route["error_kind"] = attempt.error.kind.value  # the HTTP status the client gets
        if attempt.error.retry_after:  # passed on as Retry-After: the client's SDK waits that long
            record.route["retry_after"] = attempt.error.retry_after
    if attempt.usage is not None and attempt.usage.reasoning_tokens and not record.usage_estimated:
        # The provider's own count of the thinking, for the Responses API's usage (no column of
        # the ledger holds it; an estimated turn has none to give).
        record.route["reasoning_tokens"] = attempt.usage.reasoning_tokens
    saves.ended = True
    not_saved = _record(engine, record, saves.write)
    if not_saved is None:
        _tell(on_record, record, True)
    learn(engine, info, attempt, record)
    # Not cached when its record is missing: a cache entry names the turn it came from.
    if (not_saved is None and engine.cache_enabled and record.status == "ok" and attempt.finish == "stop"
            and attempt.text.strip()):
        cache_store(engine, req.system, history, req.prompt, req.params, req.pinned, attempt.text, info.id,
                    record.id)
    line = error_line(info.id, attempt.error, record.status) if attempt.error is not None else None
    yield TurnFinished(record=record, text=attempt.text, error=line,
                       retryable=attempt.error is not None and attempt.error.kind is not ErrorKind.CONTENT_POLICY,
                       not_saved=not_saved)


class _Saves:
    """A served request's partial saves (store/served.py): how much has streamed, so a server
    killed before it writes the request's record leaves enough for the next open to write an
    estimated one. A save runs in a thread and is not waited for, so the stream never waits on
    the database; one at a time, the next skipped while one is under way."""

    def __init__(self, engine: Engine, client: str, decision: RouteDecision) -> None:
        import uuid

        self.engine, self.client, self.decision = engine, client, decision
        self.stream_id = uuid.uuid4().hex
        self.ended = False  # the record is being written: a save after it would outlive it
        self._pending: asyncio.Future[None] | None = None

    async def save(self, info: ModelInfo, attempt: Attempt) -> None:
        if self._pending is not None and not self._pending.done():
            return
        from chatroute.engine.answer import reported_input
        from chatroute.store.records import ReportedInput
        from chatroute.store.served import ServedProgress

        estimate = ReportedInput(self.decision.expected_input_tokens, 0, 0)
        progress = ServedProgress(
            stream_id=self.stream_id, model=info.id, client=self.client, route_kind=self.decision.kind,
            input=reported_input(attempt.usage) or estimate,
            output_chars=len(attempt.text) + len(attempt.reasoning) + len(attempt.held or ""))
        self._pending = asyncio.ensure_future(asyncio.to_thread(self._save, progress))

    def _save(self, progress: Any) -> None:
        try:
            self.engine.store.save_served(progress, ended=lambda: self.ended)
        except Exception:  # noqa: BLE001 - a save is insurance: the request goes on without it
            pass

    async def settled(self) -> None:
        if self._pending is not None:
            await asyncio.wait([self._pending], timeout=1.0)

    def write(self, record: TurnRecord) -> None:
        """Write the request's record (or a billed attempt's) and drop its partial save with it."""
        self.engine.store.add_served_turn(record, self.stream_id)


def _record_stopped(engine: Engine, req: ServedRequest, client: str, decision: RouteDecision, route_ms: float,
                    cache_status: str, messages: tuple[Message, ...], info: ModelInfo, attempt: Attempt,
                    exc: BaseException, write: Callable[[TurnRecord], object]) -> TurnRecord | None:
    """The client hung up (or the server stopped) mid-stream: the provider billed the request and
    what streamed, so it is recorded as interrupted, with the reported usage or an estimate.
    Returns the record written, if any."""
    if not request_left(attempt):
        return None  # the request never left: nothing was billed
    kept = " — partial reply kept" if attempt.text else ""
    line = f"{info.id}: the client stopped the request before the reply was complete{kept}"
    if attempt.error is None:
        attempt.error = ProviderError(ErrorKind.CONNECTION, "stopped", provider=info.provider, model=info.id)
    try:
        record = build_record(None, None, info, decision, attempt, route_ms, cache_status, messages, req.system,
                              stopped=line)
        record.client = client
        write(record)
    except Exception:  # noqa: BLE001 - the stop goes on; nothing else could record it
        return None
    return record


def usage_of(record: TurnRecord) -> dict[str, Any]:
    """OpenAI's usage object for a record. The record is already on OpenAI's footing for every
    provider (the adapters fold Anthropic's cache reads and writes into input_tokens), so
    prompt_tokens is its input_tokens as they stand: adding the cache figures again counted them
    twice (3,020 prompt tokens told to the client against 1,520 in the ledger)."""
    details: dict[str, Any] = {"cached_tokens": record.cached_tokens}
    if record.cache_write_tokens:
        details["cache_write_tokens"] = record.cache_write_tokens  # OpenRouter's name for them
    return {"prompt_tokens": record.input_tokens, "completion_tokens": record.output_tokens,
            "total_tokens": record.input_tokens + record.output_tokens, "prompt_tokens_details": details}


def request_cost(record: TurnRecord) -> float | None:
    """What the request cost in all: the answer, and any attempt that was billed before it
    failed over (it streamed thinking), which the ledger holds as a turn of its own."""
    if record.cost_usd is None:
        return None
    billed = [r.get("cost_usd") for r in (record.route or {}).get("reroutes", [])]
    return record.cost_usd + sum(c for c in billed if isinstance(c, (int, float)))


def decision_of(record: TurnRecord, reason: str) -> dict[str, Any]:
    """The `chatroute` key of a response: what answered, why, and what it cost (every billed
    attempt of the request: `cost_usd`; the answer alone: `answer_cost_usd`)."""
    route = record.route or {}
    return {"model": record.model, "route_kind": record.route_kind, "reason": reason,
            "cost_usd": request_cost(record), "answer_cost_usd": record.cost_usd,
            "usage_estimated": record.usage_estimated, "cache": record.cache_status,
            "reroutes": [reroute_line(r) for r in route.get("reroutes", [])],
            "status": record.status, "turn_id": record.id}
