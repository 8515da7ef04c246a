"""`chatroute ask`: one turn, streamed to stdout and recorded like a TUI turn."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from chatroute.commands.common import (
    CONFIG_ERROR_KINDS,
    ThinkingNote,
    budget_warning,
    cache_damage_notice,
    conversation_ref,
    for_terminal,
    open_engine,
    print_json,
    read_prompt,
    reembed_notice,
    run_stoppable,
    terminal_line,
    wait_notice,
)
from chatroute.errors import UsageError
from chatroute.money import usd
from chatroute.routing.budget import BudgetExceeded
from chatroute.store.records import TurnRecord
from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, Thinking, TurnFinished, TurnStarted


def run(args: argparse.Namespace) -> int:
    if args.model is not None and not args.model.strip():
        # `-m "$MODEL"` with MODEL unset: the router's pick would be sent, and paid for, unasked.
        raise UsageError("-m is empty: give a model (provider/model or a bare name), or leave -m out "
                         "to let the router pick")
    if args.system == "-":
        # One stream holds one text: the prompt then comes as an argument.
        if args.prompt == "-":
            raise UsageError("ask: '-' reads standard input for PROMPT or for -s/--system, not both")
        if args.prompt is None:
            raise UsageError("ask: -s - reads the system prompt from standard input; give PROMPT as an argument")
    try:
        if args.system == "-":
            args.system = read_prompt("-", command="ask", what="system prompt")
        prompt = read_prompt(args.prompt, command="ask")
        engine = open_engine()  # may wait for the database's lock: Ctrl+C is likely here
        if getattr(args, "preset", None):
            engine.set_preset(args.preset)
    except KeyboardInterrupt:
        if args.json:
            print_json(_unstarted_json(None, args.no_cache))  # -c not resolved yet: no id to give
        raise
    return run_stoppable(_ask(engine, args, prompt), saved="the turn is saved as interrupted")


async def _ask(engine: Any, args: argparse.Namespace, prompt: str) -> int:
    finished: TurnFinished | None = None
    started: TurnStarted | None = None
    routed: Routed | None = None
    hit: CacheHit | None = None
    received: list[str] = []  # the answer so far, for --json if a signal stops the turn
    stream = not args.json
    show = for_terminal(sys.stdout)
    thinking = ThinkingNote(enabled=stream)
    waits = getattr(engine.store, "waits", None)
    if waits is not None:
        # A stopped or stuck process holding the database's write lock: say what we wait for.
        waits.on_wait = wait_notice
    engine.on_cache_reembed = reembed_notice
    engine.on_cache_damaged = cache_damage_notice
    args.conversation = conversation_ref(engine, args.conversation)
    _refuse_if_its_answer_is_being_written(engine, args.conversation)
    _warn_if_system_is_ignored(engine, args)
    try:
        async for event in engine.run_turn(
            args.conversation,
            prompt,
            override=args.model,
            use_cache=not args.no_cache,
            system=args.system,
            allow_over_budget=getattr(args, "over_budget", False),
        ):
            if isinstance(event, TurnStarted):
                started = event
            elif isinstance(event, Routed):
                routed = event
            elif isinstance(event, CacheHit):
                hit = event
            elif isinstance(event, Thinking):
                thinking.show()
            elif isinstance(event, Rerouted):
                thinking.clear()
                print(f"chatroute: {terminal_line(sys.stderr, event.message)}", file=sys.stderr)
            elif isinstance(event, Delta) and stream:
                thinking.clear()
                sys.stdout.write(show.feed(event.text))
                sys.stdout.flush()
            elif isinstance(event, Delta):
                received.append(event.text)
            elif isinstance(event, TurnFinished):
                finished = event
    except BudgetExceeded as exc:
        raise UsageError(_over_budget_line(exc)) from None
    except asyncio.CancelledError:
        # Ctrl+C or a stop signal (`timeout` sends SIGTERM): the engine has saved the partial
        # answer; a script asked for JSON gets it, and the conversation to go on with.
        if args.json and started is not None and finished is None:
            print_json(_stopped_json(engine, started, routed, "".join(received), bypass=args.no_cache))
        elif args.json and started is None:  # stopped before the turn was stored (a lock wait)
            print_json(_unstarted_json(args.conversation, args.no_cache, routed))
        raise
    finally:
        thinking.clear()  # before any line that follows: the error, the badge, "interrupted"
        warning = budget_warning(engine)
        await engine.aclose()
    assert finished is not None and started is not None
    record = finished.record
    if args.json:
        print_json(_as_json(started, routed, hit, finished, bypass=args.no_cache))
    else:
        sys.stdout.write(show.flush())
        if finished.text and not finished.text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
        print(terminal_line(sys.stderr, _badge(record)), file=sys.stderr)
    if finished.not_saved:
        print(f"chatroute: error: the answer was shown but could not be saved ({finished.not_saved}); "
              "copy it from above if you need it", file=sys.stderr)
    if finished.error:
        hint = _next_step(finished) if finished.retryable else ""
        print(f"chatroute: error: {terminal_line(sys.stderr, finished.error)}{hint}", file=sys.stderr)
    if record.route.get("usage_warning"):
        print(f"chatroute: warning: {terminal_line(sys.stderr, str(record.route['usage_warning']))}", file=sys.stderr)
    if warning:
        print(f"chatroute: warning: {warning}", file=sys.stderr)
    if finished.not_saved or (record.status == "error" and finished.error_kind in CONFIG_ERROR_KINDS):
        return 2  # a key or a base_url is the config's to fix: retrying as it stands cannot help
    return 0 if record.status == "ok" else 1


# Failures that may pass by themselves; after the others the same command fails the same way.
_TRANSIENT = frozenset({"rate_limited", "overloaded", "server", "connection", "timeout", "malformed_stream"})


def _next_step(finished: TurnFinished) -> str:
    if finished.error_kind in CONFIG_ERROR_KINDS:
        return ""  # the error line says which key or base_url to set or check
    if finished.error_kind == "quota":
        return " — pick a model of another provider with -m"
    if finished.error_kind in _TRANSIENT or finished.error_kind is None:
        return " — to retry, run the same command again, or pick another model with -m"
    return " — pick another model with -m"


def _over_budget_line(exc: BudgetExceeded) -> str:
    """One line that says what happened and names the way out."""
    block = exc.block
    if block.cheapest_model is None:
        return (f"{exc}; no model with a known price can take it: choose a free model with -m, "
                "or raise [budget] in the config")
    cost = f", about {usd(block.expected_cost_usd)}" if block.expected_cost_usd else ""
    return f"{exc}; add --over-budget to send this turn anyway on {block.cheapest_model}{cost}"


def _refuse_if_its_answer_is_being_written(engine: Any, conversation_id: str | None) -> None:
    """`ask q1 & ask -c last q2`: q1's answer, still streaming in the other process, may have no
    text yet, and the history leaves out a question whose answer has none; q2 would go out
    without q1 and be answered blind (and paid for). A stream left by a killed process was
    recovered when the store opened, so one still 'streaming' has a live writer."""
    if conversation_id is None:
        return
    ids = engine.store.history_ids(conversation_id)
    leaf = engine.store.get_message(ids[-1]) if ids else None
    if leaf is not None and leaf.role == "assistant" and leaf.status == "streaming":
        raise UsageError(f"conversation {conversation_id}: its last answer is still being written (by another "
                         "chatroute); sent now, this turn would go without it. Wait for that answer to finish, "
                         "then run this again")


def _warn_if_system_is_ignored(engine: Any, args: argparse.Namespace) -> None:
    """`-s` on a conversation that exists: its own system prompt stays (the turns before were
    answered under it), which was silent, so the user believed the new one applied."""
    if not (args.conversation and args.system):
        return
    conv = engine.store.get_conversation(args.conversation)
    if conv is not None and (conv.system_prompt or "") != args.system:
        print(f"chatroute: warning: -s sets the system prompt of a new conversation; {args.conversation} keeps "
              "its own (start a new conversation to use another)", file=sys.stderr)


def _stopped_json(engine: Any, started: TurnStarted, routed: Routed | None, text: str, *,
                  bypass: bool) -> dict[str, Any]:
    """The turn a stop ended, as saved: its record, or, when the request had not been sent
    (no record, nothing billed), an interrupted turn without one (turn_id null)."""
    record = engine.store.turn_for_message(started.assistant_message_id)
    if record is not None:
        return _as_json(started, routed, None, TurnFinished(record=record, text=text, error=record.error),
                        bypass=bypass)
    model = routed.model if routed else ""
    record = TurnRecord(conversation_id=started.conversation_id, message_id=started.assistant_message_id,
                        model=model, provider=model.partition("/")[0], route_kind=routed.kind if routed else "",
                        route=dict(routed.decision) if routed else {}, cache_status="miss", cost_usd=0.0,
                        status="interrupted", error="stopped before the request was sent")
    out = _as_json(started, routed, None, TurnFinished(record=record, text=text, error=record.error), bypass=bypass)
    out["turn_id"] = None
    if not model:  # stopped before a model was chosen
        out["model"] = out["provider"] = None
    return out


def _unstarted_json(conversation_id: str | None, bypass: bool, routed: Routed | None = None) -> dict[str, Any]:
    """A turn stopped before anything of it was stored: nothing sent, no message, no record; a
    script still reads `.status` as for every other outcome."""
    started = TurnStarted(conversation_id=conversation_id or "", user_message_id="", assistant_message_id="")
    model = routed.model if routed else ""
    record = TurnRecord(conversation_id=conversation_id, message_id=None, model=model,
                        provider=model.partition("/")[0], route_kind=routed.kind if routed else "",
                        route=dict(routed.decision) if routed else {}, cache_status="miss", cost_usd=0.0,
                        status="interrupted", error="stopped before the request was sent")
    out = _as_json(started, routed, None, TurnFinished(record=record, text="", error=record.error), bypass=bypass)
    out.update(conversation_id=conversation_id, message_id=None, turn_id=None)
    if not model:
        out["model"] = out["provider"] = None
    return out


def _as_json(started: TurnStarted, routed: Routed | None, hit: CacheHit | None, finished: TurnFinished,
             *, bypass: bool) -> dict[str, Any]:
    r = finished.record
    route = dict(r.route)
    route.setdefault("reason", routed.reason if routed else "")
    route.setdefault("candidates", [])
    route.setdefault("reroutes", [])
    route["kind"] = r.route_kind
    out: dict[str, Any] = {
        "model": r.model,
        "provider": r.provider,
        "route": route,
        "cache": "bypass" if bypass else r.cache_status,
        "tokens": {
            "input": r.input_tokens,
            "output": r.output_tokens,
            "cached": r.cached_tokens,
            "cache_write": r.cache_write_tokens,
            "estimated": r.usage_estimated,
        },
        "cost_usd": r.cost_usd,
        "saved_usd": r.saved_usd,
        "price_as_of": r.price_as_of,
        "price_source": r.price_source,
        "latency": {
            "route_ms": r.route_ms,
            "ttft_ms": r.ttft_ms,
            "total_ms": r.total_ms,
            "tokens_per_s": r.tokens_per_s,
        },
        "status": r.status,
        "finish_reason": r.finish_reason,
        "error": finished.error,
        "text": finished.text,
        "conversation_id": started.conversation_id,
        "message_id": started.assistant_message_id,
        "turn_id": r.id,
    }
    if finished.not_saved:
        out["not_saved"] = finished.not_saved
    if hit is not None:
        out["cache_similarity"] = hit.similarity
        out["cache_tier"] = hit.tier
        out["cache_source_turn"] = hit.source_turn_id
    return out


def _badge(record: Any) -> str:
    from chatroute.format import badge_text

    return badge_text(record)
