"""Streaming one answer: the provider call, the partial text saved as it grows, fail-over to the
next model before the first token, then the turn's record, its final write and what is learned."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from chatroute.engine.cache_path import cache_store
from chatroute.engine.common import (
    PARTIAL_SAVE_INTERVAL_S,
    NotReserved,
    StorageError,
    not_reserved_line,
    output_limit,
    required_max_tokens,
)
from chatroute.engine.records import (
    Attempt,
    build_record,
    error_line,
    failed_unbilled,
    finish_saving,
    learn,
    record_failure,
    save_stopped,
)
from chatroute.engine.route import decide_route
from chatroute.errors import ChatrouteError
from chatroute.format import reroute_line, skipped_text
from chatroute.providers.base import (
    REROUTABLE,
    ChatRequest,
    ErrorKind,
    Finish,
    HeldDelta,
    Message,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    UsageReport,
)
from chatroute.store.records import ReportedInput
from chatroute.turn_events import Delta, Rerouted, Thinking, TurnEvent, TurnFinished

if TYPE_CHECKING:
    from chatroute.catalog import ModelInfo
    from chatroute.engine.core import Engine
    from chatroute.routing.policy import RouteCandidate, RouteDecision
    from chatroute.store.records import TurnRecord


async def answer(
    engine: Engine,
    conv: Any,
    message_id: str,
    history: list[Message],
    prompt: str,
    decision: RouteDecision,
    route_ms: float,
    cache_status: str,
    *,
    cache_key: tuple[dict[str, Any], str | None] | None,
    current_model: str | None,
) -> AsyncGenerator[TurnEvent, None]:
    """Stream the answer from the decided model, failing over before the first token,
    then persist the turn in one transaction and learn from it."""
    messages = tuple([*history, Message("user", prompt)])

    def request_for(info: ModelInfo, first_token_deadline: float | None) -> ChatRequest:
        # max_tokens: the model's own output limit (what its window leaves), so every stream
        # has a known end; the adapters also cut a server that streams past it (finish "length").
        return ChatRequest(model=info.name, messages=messages, system=conv.system_prompt,
                           max_tokens=output_limit(info, messages, conv.system_prompt,
                                                   required=required_max_tokens(engine.config, info)),
                           first_token_deadline=first_token_deadline)

    async def before(info: ModelInfo) -> None:
        # Before the request: if the process dies mid-stream, the next open can price it.
        await engine._db(engine.store.set_message_model, message_id, info.id, decision.kind)

    def billed(info: ModelInfo, failed: Attempt) -> TurnRecord:
        return build_record(conv.id, message_id, info, decision, failed, route_ms, cache_status, messages,
                            conv.system_prompt)

    async def on_failover(record: TurnRecord, billed_usd: float) -> None:
        # Its own record, before the next model is tried: the final write only records the
        # model that answered.
        try:
            await engine._db(engine.in_flight.record_billed, decision, record, billed_usd, engine.store.add_turn)
        except StorageError:
            pass  # a full disk: the turn's final write reports it; the reroute still names the cost

    async def move(to: RouteDecision, billed_usd: float) -> str | None:
        if not engine.in_flight.capped():
            return None  # nothing is reserved: no write
        try:
            return await engine._db(engine.in_flight.move, decision, to, billed_usd)
        except StorageError as exc:
            # As a first reservation that cannot be written (Engine.reserved): nothing would hold
            # the next model's cost from the others under the cap, so it is not sent.
            raise NotReserved(not_reserved_line("the turn's", exc, failing_over_to=to.model)) from None

    out = Failover()
    on_stop = partial(save_stopped, engine, conv.id, message_id, decision, route_ms, cache_status, messages,
                      conv.system_prompt)
    try:
        async with aclosing(attempts(engine, decision, out, prompt=prompt, history=history,
                                     system=conv.system_prompt, current_model=current_model, request_for=request_for,
                                     on_stop=on_stop, billed=billed, on_failover=on_failover, message_id=message_id,
                                     before=before, move=move)) as events:
            async for event in events:
                yield event
    except NotReserved as exc:
        await engine._close_unsent(message_id, exc)  # closed as a first reservation's refusal closes it
        raise
    info, attempt = out.answered()

    record = build_record(
        conv.id, message_id, info, decision, attempt, route_ms, cache_status, messages, conv.system_prompt
    )
    status_text = {"ok": "complete", "interrupted": "interrupted", "error": "error"}[record.status]
    not_saved = await finish_saving(engine, message_id, attempt, status_text, record)
    learn(engine, info, attempt, record)
    if (cache_key is not None and not_saved is None and record.status == "ok" and attempt.finish == "stop"
            and attempt.text.strip()):
        params, key_model = cache_key
        cache_store(engine, conv.system_prompt, history, prompt, params, key_model, attempt.text, info.id, record.id)
    line = None
    retryable = False
    if attempt.error is not None:
        line = error_line(info.id, attempt.error, record.status)
        retryable = attempt.error.kind is not ErrorKind.CONTENT_POLICY
    yield TurnFinished(record=record, text=attempt.text, error=line, retryable=retryable, not_saved=not_saved,
                       error_kind=None if attempt.error is None else str(attempt.error.kind))


# The fewest output tokens worth asking for again when the credit covers no more: fewer is no
# answer, so the turn moves on instead.
MIN_AFFORDED_ANSWER = 256


@dataclass
class Failover:
    """Where `attempts` leaves the model that answered (or failed last) and its attempt."""

    info: ModelInfo | None = None
    attempt: Attempt = field(default_factory=Attempt)

    def answered(self) -> tuple[ModelInfo, Attempt]:
        assert self.info is not None, "attempts() ran no attempt"
        return self.info, self.attempt


async def attempts(
    engine: Engine,
    decision: RouteDecision,
    out: Failover,
    *,
    prompt: str,
    history: list[Message],
    system: str | None,
    current_model: str | None,
    request_for: Callable[[ModelInfo, float | None], ChatRequest],
    on_stop: Callable[[ModelInfo, Attempt, BaseException], None],
    billed: Callable[[ModelInfo, Attempt], TurnRecord] | None = None,
    on_failover: Callable[[TurnRecord, float], Awaitable[None]] | None = None,
    message_id: str | None = None,
    before: Callable[[ModelInfo], Awaitable[None]] | None = None,
    move: Callable[[RouteDecision, float], Awaitable[str | None]] | None = None,
    progress: Callable[[ModelInfo, Attempt], Awaitable[None]] | None = None,
) -> AsyncGenerator[TurnEvent, None]:
    """Stream from the decided model and, while no token has come, fail over to the next one,
    noting each reroute: the loop a chat turn and a served request share. What differs between
    them comes in: the provider request for a model (given the first-token deadline, loop time),
    what records a stopped stream, the record of an attempt that was billed although the turn
    moves on (it streamed only thinking: `billed` builds it, `on_failover` writes it once the
    turn moves on, given what it cost), a step before each attempt (a turn names its message's
    model), and the move of the turn's budget reservation to the model it fails over to
    (InFlight.move: None once moved, else why the budget refuses that model). A billed attempt's
    cost counts in the fail-over's budget checks (its decision and the move) before its record
    is in the ledger. `progress`: the partial save of a stream with no message (a served request)."""
    loop = asyncio.get_running_loop()
    # Fail-overs share one deadline: two hanging candidates must not each take their own
    # first-token timeout. Pins and overrides never fail over, so only their own limits apply.
    failover_s = engine.config.router.failover_timeout_s
    failover_at = loop.time() + failover_s if decision.kind in ("routed", "default") else None
    shim = SimpleNamespace(system_prompt=system)  # what fallback reads of a conversation
    model_id = decision.model
    tried: set[str] = set()
    capped: dict[str, int] = {}  # max_tokens lowered to what the credit covers, once a model
    while True:
        tried.add(model_id)
        info = engine.catalog.get(model_id)
        out.info, out.attempt = info, Attempt(reroutes=out.attempt.reroutes)
        attempt = out.attempt
        if before is not None:
            await before(info)
        request = request_for(info, failover_at)
        if model_id in capped:
            request = replace(request, max_tokens=min(request.max_tokens or capped[model_id], capped[model_id]))
        async with aclosing(stream(engine, info, request, attempt, message_id, on_stop, progress)) as events:
            async for event in events:
                yield event
        err = attempt.error
        if err is None or attempt.first_token_at is not None:
            return
        record_failure(engine, info.id, err)
        if failover_at is not None and loop.time() >= failover_at - 0.05:
            if "failover" not in err.message:
                err.message = f"{err.message}; no other model tried: the {failover_s:g} s failover deadline passed"
            return
        affords = err.extra.get("affordable_tokens")
        if (err.kind is ErrorKind.CREDIT_LIMITED and isinstance(affords, int) and affords >= MIN_AFFORDED_ANSWER
                and model_id not in capped):
            # The model the router (or the user) chose, with the answer the credit pays for: a
            # cut answer, marked as such, rather than another model's or none.
            capped[model_id] = affords
            retry: dict[str, Any] = {"from": model_id, "error": err.short, "kind": err.kind.value, "to": model_id,
                                     "message": err.message, "hint": err.extra.get("hint"), "max_tokens": affords}
            attempt.reroutes.append(retry)
            yield Rerouted(model_id, err.short, model_id, reroute_line(retry))
            continue
        # Priced before the next model is weighed: the checks count it, as the ledger will.
        record = None if failed_unbilled(attempt) or billed is None or on_failover is None else billed(info, attempt)
        billed_usd = (record.cost_usd or 0.0) if record is not None else 0.0
        try:
            again, skipped = await failover_to(engine, decision, err, info, tried, prompt, history, shim,
                                               current_model, move, billed_usd)
        except NotReserved:
            # The move could not be written, so the turn ends here; an attempt billed before it
            # is recorded all the same, written alone: the reservation, not moved, holds no part of it.
            if record is not None and on_failover is not None:
                await on_failover(record, 0.0)
            raise
        if again is None:
            if skipped:
                err.message = f"{err.message}; no other model tried: {skipped_text(skipped)}"
            return
        next_model = again.model
        reroute: dict[str, Any] = {"from": model_id, "error": err.short, "kind": err.kind.value, "to": next_model,
                                   "message": err.message}
        if err.extra.get("hint"):
            reroute["hint"] = err.extra["hint"]  # what the user must fix (a refused key), on the line
        if skipped:
            reroute["skipped"] = skipped  # the models the budget kept this turn from, on the line
        attempt.reroutes.append(reroute)
        if record is not None and on_failover is not None:
            # The model thought before failing: that is billed, so it is recorded and said.
            await on_failover(record, billed_usd)
            # Its output is mostly counted from the thinking (no usage report came): an estimate.
            reroute.update(cost_usd=record.cost_usd, turn_id=record.id, estimated=record.usage_estimated)
        yield Rerouted(model_id, err.short, next_model, reroute_line(reroute))
        model_id = next_model


async def stream(
    engine: Engine, info: ModelInfo, request: ChatRequest, attempt: Attempt, message_id: str | None,
    on_stop: Callable[[ModelInfo, Attempt, BaseException], None],
    save_progress: Callable[[ModelInfo, Attempt], Awaitable[None]] | None = None,
) -> AsyncGenerator[TurnEvent, None]:
    """Stream one provider call into `attempt`, saving the partial reply as it grows (when it
    has a message; a served request keeps no text, and `save_progress` saves how much has come).
    Stopped by anything but the provider, it hands the attempt to `on_stop` first."""
    saved = (0, 0)  # (text, thinking) lengths of the last partial save
    try:
        provider = engine.provider(info.provider)  # may import the SDK: not part of the request's time
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            prepare()  # the SDK client, made once: not part of the request's time either
        attempt.sent_at = last_save = time.perf_counter()
        async for event in provider.stream(replace(request, sending=attempt.sending)):
            if isinstance(event, TextDelta | ReasoningDelta | HeldDelta):
                if not event.text:
                    continue
                now = time.perf_counter()
                if isinstance(event, HeldDelta):
                    if attempt.held is None and not (attempt.reasoning or attempt.text):
                        yield Thinking()  # most likely: `ask` says so rather than look hung
                    attempt.held = (attempt.held or "") + event.text
                elif attempt.held:
                    attempt.held = ""  # the hold is over: this delta brings what it held
                if isinstance(event, TextDelta):
                    if attempt.first_token_at is None:
                        attempt.first_token_at = now
                    attempt.last_token_at = now
                    attempt.text += event.text
                    yield Delta(event.text)
                elif isinstance(event, ReasoningDelta):
                    if not (attempt.reasoning or attempt.text or attempt.held is not None):
                        yield Thinking()
                    attempt.reasoning += event.text
                # What is held is most likely thinking, and saved as such until the hold ends.
                progress = (len(attempt.text), len(attempt.reasoning) + len(attempt.held or ""))
                if (now - last_save >= PARTIAL_SAVE_INTERVAL_S and progress != saved
                        and (message_id is not None or save_progress is not None) and attempt.save_error is None):
                    # Thinking is saved too, as a length: a crash during a long think must
                    # not leave a billed reply recovered as free.
                    try:
                        if message_id is None:
                            assert save_progress is not None
                            await save_progress(info, attempt)
                        else:
                            await engine._db(engine.store.update_message_text, message_id, attempt.text,
                                             "streaming", thinking_chars=progress[1],
                                             reported_input=reported_input(attempt.usage))
                    except StorageError as exc:
                        # The answer is paid for and still arriving: keep streaming it to the
                        # user, and stop trying to save it until the end.
                        attempt.save_error = str(exc)
                    last_save, saved = now, progress
            elif isinstance(event, UsageReport):
                attempt.usage = event
            elif isinstance(event, Finish):
                attempt.finish = event.reason
    except ProviderError as exc:
        attempt.error = exc
    except ChatrouteError as exc:
        attempt.error = ProviderError(ErrorKind.BAD_REQUEST, str(exc), provider=info.provider, model=info.id)
    except BaseException as exc:
        # Stopped: Ctrl+C or Esc (CancelledError), a signal, the app closing, a consumer that
        # walked away (GeneratorExit), or a bug. The provider billed the request and what
        # streamed, and nothing after this point will record it: do it now. A start still held
        # back was most likely the thinking, and is billed so, as when the stream fails then.
        attempt.reasoning, attempt.held = attempt.reasoning + (attempt.held or ""), None
        on_stop(info, attempt, exc)
        raise
    if attempt.error is None and attempt.finish == "content_filter" and not attempt.text:
        attempt.error = ProviderError(ErrorKind.CONTENT_POLICY, "the provider refused this prompt",
                                      provider=info.provider, model=info.id)


def reported_input(usage: UsageReport | None) -> ReportedInput | None:
    """The input the provider reported so far (Anthropic's message_start), for a partial save."""
    if usage is None or usage.problems or not usage.input_tokens:
        return None
    if usage.input_includes_cached:
        return ReportedInput(usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens)
    return ReportedInput(usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens,
                         usage.cached_input_tokens, usage.cache_write_tokens)


async def failover_to(
    engine: Engine,
    decision: RouteDecision,
    err: ProviderError,
    info: ModelInfo,
    tried: set[str],
    prompt: str,
    history: list[Message],
    conv: Any,
    current_model: str | None,
    move: Callable[[RouteDecision, float], Awaitable[str | None]] | None,
    billed_usd: float = 0.0,
) -> tuple[RouteDecision | None, list[dict[str, str]]]:
    """The decision of the model to fail over to (None: stop), its expected cost reserved in
    place of the turn's (`move`), and the models the budget made the turn skip on the way, each
    with why: ones it would have tried before that one, for which what was spent or reserved
    since the turn's decision leaves no room (the router's exclusion, or the check as the
    reservation moves, when another process reserved in between). `billed_usd`: what the failed
    attempt cost, not yet in the ledger, which both count as spent."""
    skipped: list[dict[str, str]] = []
    passed: set[str] = set()
    while True:
        again, candidates = fallback(engine, decision, err, info, tried | passed, prompt, history, conv,
                                     current_model, billed_usd)
        named = {s["model"] for s in skipped}
        skipped += [s for s in budget_skips(decision, again, candidates) if s["model"] not in named]
        if again is None or move is None:
            return again, skipped
        refused = await move(again, billed_usd)
        if refused is None:
            return again, skipped
        skipped.append({"model": again.model, "why": refused})
        passed.add(again.model)


def budget_skips(decision: RouteDecision, again: RouteDecision | None,
                 candidates: list[RouteCandidate]) -> list[dict[str, str]]:
    """The models a fail-over's decision (`again`, with its `candidates`; None: none left) leaves
    out for the budget that the turn's own decision had not excluded and ranked no lower than
    the one it goes to now: those it would have tried, but for the budget."""
    from chatroute.routing.decision import is_budget_exclusion

    before = {c.model: c for c in decision.candidates}
    was_next = before.get(again.model) if again is not None else None
    bar = was_next.utility if was_next is not None else None
    out = []
    for c in candidates:
        was = before.get(c.model)
        if not is_budget_exclusion(c.excluded) or was is None or was.excluded is not None:
            continue
        if bar is not None and (was.utility or 0.0) < bar:
            continue
        out.append({"model": c.model, "why": c.excluded or ""})
    return out


def fallback(
    engine: Engine,
    decision: RouteDecision,
    err: ProviderError,
    info: ModelInfo,
    tried: set[str],
    prompt: str,
    history: list[Message],
    conv: Any,
    current_model: str | None,
    billed_usd: float = 0.0,
) -> tuple[RouteDecision | None, list[RouteCandidate]]:
    """The next model's decision after a failure before the first token, or None to stop; and
    the candidates that decision (or its refusal) weighed (`billed_usd`: see failover_to).

    Only routed (and default) turns fail over: a pin or override is the user's explicit
    choice, so its failure is shown with a retry instead. Content-policy refusals are
    never rerouted.
    """
    from chatroute.routing.decision import NoRouteError

    if err.kind not in REROUTABLE or decision.kind not in ("routed", "default"):
        return None, []
    exclude = set(tried)
    if err.kind is ErrorKind.CONTEXT_OVERFLOW:
        window = info.context_window or 0
        exclude |= {m.id for m in engine.catalog.pool() if (m.context_window or 0) <= window}
    try:
        again = decide_route(
            engine, prompt, history=history, system=conv.system_prompt, pin=None, override=None,
            current_model=current_model, exclude=exclude, preset=decision.preset, failing_over=decision,
            max_output_tokens=decision.max_output_tokens, billed_usd=billed_usd,
        )
    except NoRouteError as exc:
        return None, exc.candidates
    except ChatrouteError:
        return None, []
    if again.model in tried or again.kind not in ("routed", "default"):
        return None, again.candidates
    return again, again.candidates
