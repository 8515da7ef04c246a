"""Recording a turn: its usage, exact cost, timings and status as a `TurnRecord`; the final write,
also of a turn stopped part-way; and what the engine learns from it (model health, the user's
explicit choices)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from chatroute.engine.common import STOP_SAVE_WAIT_S, STORAGE_ERRORS, StorageError
from chatroute.engine.route import decide_route
from chatroute.errors import ChatrouteError
from chatroute.format import fmt_wait
from chatroute.providers.base import ACCEPTED, ErrorKind, Message, ProviderError, Sending, UsageReport

if TYPE_CHECKING:
    from chatroute.catalog import ModelInfo
    from chatroute.engine.core import Engine
    from chatroute.routing.policy import RouteDecision
    from chatroute.store.records import TurnRecord


@dataclass
class Attempt:
    """What one provider call produced."""

    text: str = ""
    reasoning: str = ""  # thinking the model streamed: never shown, but billed as output
    held: str | None = None  # the start of the answer held back while it may be thinking (HeldDelta)
    usage: UsageReport | None = None
    finish: str | None = None
    sent_at: float = 0.0
    first_token_at: float | None = None
    last_token_at: float | None = None
    error: ProviderError | None = None
    reroutes: list[dict[str, Any]] = field(default_factory=list)
    save_error: str | None = None  # the first failed save of the partial text (a full disk)
    sending: Sending = field(default_factory=Sending)  # how far the request got (the adapter notes it)


@dataclass(frozen=True)
class _Billed:
    """The usage a record states, and how it was arrived at."""

    usage: UsageReport | None
    estimated: bool = False
    unbilled: bool = False
    warning: str | None = None


def build_record(
    conversation_id: str | None,
    message_id: str | None,
    info: ModelInfo,
    decision: RouteDecision,
    attempt: Attempt,
    route_ms: float,
    cache_status: str,
    messages: tuple[Message, ...],
    system: str | None,
    *,
    stopped: str | None = None,
) -> TurnRecord:
    """`stopped`: the error line of a stream stopped by something other than the provider
    (the turn is 'interrupted', its usage estimated if the API had not reported it yet)."""
    from chatroute.catalog.cost import provider_cost, turn_cost
    from chatroute.store.records import TurnRecord

    billed = _billed_usage(info, attempt, messages, system, stopped)
    usage = billed.usage
    cost = turn_cost(info, usage) if usage is not None else (0.0 if billed.unbilled else None)
    # A cost the provider reported is its price on the day, not the price table's as of its date.
    price_as_of, price_source = info.price_as_of, info.price_source
    if usage is not None and provider_cost(info, usage) is not None:
        price_as_of, price_source = None, "provider"
    ttft_ms, total_ms, tokens_per_s = _timings(attempt, usage)
    status = _status(attempt, stopped)
    route = decision.to_dict()
    route["reroutes"] = attempt.reroutes
    if billed.warning:
        route["usage_warning"] = billed.warning
    return TurnRecord(
        conversation_id=conversation_id, message_id=message_id, model=info.id, provider=info.provider,
        route_kind=decision.kind, route=route, cache_status=cache_status,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cached_tokens=usage.cached_input_tokens if usage else 0,
        cache_write_tokens=usage.cache_write_tokens if usage else 0,
        usage_estimated=billed.estimated, cost_usd=cost, price_as_of=price_as_of, price_source=price_source,
        route_ms=route_ms,
        status=status, finish_reason=attempt.finish,
        error=stopped or (error_line(info.id, attempt.error, status) if attempt.error else None),
        ttft_ms=ttft_ms, total_ms=total_ms, tokens_per_s=tokens_per_s,
    )


def _billed_usage(info: ModelInfo, attempt: Attempt, messages: tuple[Message, ...], system: str | None,
                  stopped: str | None) -> _Billed:
    """The usage to bill: the API's report when it is sound and complete, else an estimate
    (flagged), or none at all when the request failed before anything was billed."""
    from chatroute.catalog.tokens import count_messages

    usage = attempt.usage
    warning = None
    if usage is not None and usage.problems:
        # Counts the server got wrong (negative, absurd, not numbers) are not billed as
        # such: the turn is estimated like one without a report, and says why.
        warning = f"usage report refused ({'; '.join(usage.problems)}): tokens and cost estimated"
        usage = None
    if failed_unbilled(attempt) and not stopped and (usage is None or usage.partial):
        # Failed before the model produced anything (a 429, a 5xx, a refused key): nothing was billed.
        return _Billed(None, unbilled=True, warning=warning)
    # Thinking is output the provider bills like the text: a stream cut during it is not free.
    output = attempt.reasoning + attempt.text
    if usage is not None and usage.partial:
        # The stream ended before the final counts: the server's input and cache figures
        # stand, the output is counted from what streamed.
        n_out = estimate_output(output, info)
        return _Billed(replace(usage, output_tokens=max(usage.output_tokens, n_out), partial=False),
                       estimated=True, warning=warning)
    if usage is None and (output or attempt.error is None or attempt.first_token_at is not None or stopped
                          or hung_up_on(attempt)):
        # No usage from the API (some servers omit it, or the stream broke): estimate, and say so.
        n_in, _ = count_messages(list(messages), system, info.id)
        return _Billed(UsageReport(input_tokens=n_in, output_tokens=estimate_output(output, info)),
                       estimated=True, warning=warning)
    return _Billed(usage, warning=warning)


def failed_unbilled(attempt: Attempt) -> bool:
    """The request failed before the model produced anything, visible or thinking: the
    provider bills nothing for it. Unless the provider said it did (a whole usage report: a
    stream that failed only at its end), or chatroute hung up on it (a timeout) once the server
    had taken it: to the provider that is a stopped stream, billed as Esc's is, from the input
    it reported or, with no report (OpenAI's wire), an estimate of it."""
    return (attempt.error is not None and not attempt.text and not attempt.reasoning
            and attempt.first_token_at is None and not _billed_by_report(attempt) and not hung_up_on(attempt))


def hung_up_on(attempt: Attempt) -> bool:
    """A timeout once the request had left: chatroute hung up, as Esc does, whether the server
    had answered with a stream yet or not. One before it left (a connection that never opened),
    or after the server answered with an error, stays free."""
    err = attempt.error
    return (err is not None and err.kind is ErrorKind.TIMEOUT
            and (err.extra.get(ACCEPTED) is True or request_left(attempt)))


def request_left(attempt: Attempt) -> bool:
    """The request went out and no error answered it: the provider may bill it. With an adapter
    that does not say (none ships), the call's start stands for it."""
    if not attempt.sending.tracked:
        return bool(attempt.sent_at)
    return attempt.sending.may_be_billed()


def _billed_by_report(attempt: Attempt) -> bool:
    usage, err = attempt.usage, attempt.error
    if err is None or usage is None or usage.problems:
        return False
    if not usage.partial:
        return usage.input_tokens + usage.output_tokens + usage.cached_input_tokens + usage.cache_write_tokens > 0
    return (err.kind is ErrorKind.TIMEOUT
            and usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens > 0)


def _timings(attempt: Attempt, usage: UsageReport | None) -> tuple[float | None, float | None, float | None]:
    """Time to first token and in total (ms), and the output rate after the first token."""
    ttft_ms: float | None = None
    total_ms: float | None = None
    tokens_per_s: float | None = None
    if attempt.first_token_at is not None:
        ttft_ms = (attempt.first_token_at - attempt.sent_at) * 1000
        end = attempt.last_token_at or attempt.first_token_at
        total_ms = (end - attempt.sent_at) * 1000
        gen_s = end - attempt.first_token_at
        if usage is not None and usage.output_tokens > 1 and gen_s > 0:
            tokens_per_s = (usage.output_tokens - 1) / gen_s
    elif attempt.sent_at:
        total_ms = (time.perf_counter() - attempt.sent_at) * 1000
    return ttft_ms, total_ms, tokens_per_s


def _status(attempt: Attempt, stopped: str | None) -> str:
    if stopped:
        return "interrupted"
    if attempt.error is None:
        return "ok"
    return "interrupted" if attempt.text else "error"


def estimate_output(text: str, info: ModelInfo) -> int:
    """Output tokens of `text` when the API never said; never above the request's max_tokens,
    which is all a provider bills for a stream it was made to stop."""
    from chatroute.catalog.tokens import count_tokens

    n_out, _ = count_tokens(text, info.id)
    return min(n_out, info.max_output_tokens) if info.max_output_tokens else n_out


def save_stopped(
    engine: Engine,
    conversation_id: str,
    message_id: str,
    decision: RouteDecision,
    route_ms: float,
    cache_status: str,
    messages: tuple[Message, ...],
    system: str | None,
    info: ModelInfo,
    attempt: Attempt,
    exc: BaseException,
) -> None:
    """The final write of a stream stopped mid-way: the partial text, marked interrupted,
    and an 'interrupted' turn record with the usage the API reported so far or, when it
    had not, estimated from the request and the partial text (flagged as estimated)."""
    kept = " — partial reply kept" if attempt.text else ""
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit, SystemExit)):
        line = f"{info.id}: stopped before the reply was complete{kept}"
    else:
        line = f"{info.id}: the turn failed mid-stream ({type(exc).__name__}){kept}"
    if attempt.error is None:
        attempt.error = ProviderError(ErrorKind.CONNECTION, "stopped", provider=info.provider, model=info.id)
    store = engine.store
    # On the event loop and while stopping: a lock held by another process gets a moment,
    # not minutes. If it is still held, the next open recovers the stream instead.
    try:
        with store.waits.at_most(STOP_SAVE_WAIT_S):
            if not request_left(attempt):  # the request never left: nothing was billed
                store.finish_turn(message_id, attempt.text, "interrupted")
                return
            record = build_record(conversation_id, message_id, info, decision, attempt, route_ms, cache_status,
                                  messages, system, stopped=line)
            store.finish_turn(message_id, attempt.text, "interrupted", record)
    except Exception:  # noqa: BLE001 - the stop goes on; the next open recovers the stream instead
        pass


async def finish_saving(engine: Engine, message_id: str, attempt: Attempt, status_text: str,
                        record: TurnRecord) -> str | None:
    """The final write of a turn; None when it is stored, else why not (a full disk, or its
    conversation deleted by another process meanwhile). After a failed write the turn record
    and the message's status are written on their own if they still fit, so the message is not
    left 'streaming'; failing that, the next open recovers it."""
    try:
        if await engine._db(engine.store.finish_turn, message_id, attempt.text, status_text, record):
            return None
        # Its record is written, so the cost counts (under the deleted conversation's row).
        return "its conversation was deleted while it was being answered"
    except StorageError as exc:
        problem = attempt.save_error or str(exc)
    with engine.store.waits.at_most(STOP_SAVE_WAIT_S):
        for keep in (record, None):  # the cost if it fits, else at least the status
            try:
                engine.store.close_unsaved(message_id, keep)
                break
            except STORAGE_ERRORS:
                continue
    return problem


def learn(engine: Engine, info: ModelInfo, attempt: Attempt, record: TurnRecord) -> None:
    """Feed the health board a successful stream's timings (failures before the first
    token are recorded as they happen, so a reroute's cooldown holds for the next turn and
    the next process). A stream that broke after its first token is a failure too, not a
    success: it counts against the model, and a routed retry goes elsewhere meanwhile."""
    if attempt.error is not None:
        if attempt.first_token_at is not None:
            record_failure(engine, info.id, attempt.error)
        return
    if record.ttft_ms is None:
        return
    try:
        engine.health.record_success(info.id, ttft_s=record.ttft_ms / 1000, tokens_per_s=record.tokens_per_s,
                                     output_tokens=record.output_tokens)
    except OSError:
        pass


def record_failure(engine: Engine, model_id: str, err: ProviderError) -> None:
    try:
        engine.health.record_failure(model_id, err.kind.value, retry_after=err.retry_after, message=err.message)
    except OSError:
        pass


async def record_override(engine: Engine, conv: Any, message_id: str, prompt: str, history: list[Message],
                          override: str, current_model: str | None) -> None:
    """The signal is "the user preferred X over what routing would have picked"."""
    if not engine.config.router.learn:  # off: nothing is kept that a later `learn = true` would apply
        return
    would: list[str] = []
    try:
        routed = decide_route(engine, prompt, history=history, system=conv.system_prompt, pin=None, override=None,
                        current_model=current_model).model
        if routed != override:
            would = [routed]
    except ChatrouteError:
        pass
    try:
        await engine._db(
            engine.store.add_preference, "override", chosen_model=override, rejected_models=would, prompt=prompt,
            conversation_id=conv.id, message_id=message_id,
        )
    except StorageError:
        pass  # a learning signal; the turn already said whether it was saved
    engine._relearn()


def error_line(model_id: str, err: ProviderError, status: str) -> str:
    what = {
        ErrorKind.RATE_LIMITED: "rate limited",
        ErrorKind.OVERLOADED: "overloaded",
        ErrorKind.SERVER: "server error",
        ErrorKind.AUTH: "authentication failed (check the API key)",
        ErrorKind.QUOTA: "the account's quota or credit is used up (check the provider's plan and billing)",
        ErrorKind.CREDIT_LIMITED: "the credit left covers too short an answer (check the provider's billing)",
        ErrorKind.NOT_FOUND: "model not found",
        ErrorKind.ENDPOINT_NOT_FOUND: "wrong endpoint",
        ErrorKind.CONTEXT_OVERFLOW: "the conversation is longer than the model's context window",
        ErrorKind.REQUEST_TOO_LARGE: "the request is over the provider's whole per-minute token limit "
                                     "(no wait lets it through)",
        ErrorKind.CONTENT_POLICY: "refused by the provider's content policy",
        ErrorKind.CONNECTION: "connection failed",
        ErrorKind.TIMEOUT: "timed out",
        ErrorKind.MALFORMED_STREAM: "the stream was malformed",
        ErrorKind.BAD_REQUEST: "bad request",
    }[err.kind]
    if err.kind is ErrorKind.CREDIT_LIMITED and isinstance(allowed := err.extra.get("prompt_tokens_allowed"), int):
        what = f"the prompt is over the {allowed:,} tokens the account allows (check the provider's billing)"
    code = f" ({err.status})" if err.status else ""
    if err.retry_after:
        # The server said when it will take requests again: the user's retry hint.
        wait = f"retry after {fmt_wait(err.retry_after)}"
        code = f" ({err.status}, {wait})" if err.status else f" ({wait})"
    tail = " — partial reply kept" if status == "interrupted" else ""
    detail = f": {err.message}" if err.message and err.message not in what else ""
    line = f"{model_id}: {what}{code}{detail}{tail}"
    return " ".join(line.split())
