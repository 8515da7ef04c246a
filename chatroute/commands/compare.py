"""`chatroute compare -m A -m B PROMPT`: one prompt to several models at once, side by side.

Answers stream concurrently; each is printed whole under its header as soon as it completes
(interleaving live tokens from several models on one terminal would be unreadable), then a
table compares cost and timings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

from chatroute.commands.common import (
    CONFIG_ERROR_KINDS,
    budget_warning,
    display_width,
    json_text,
    open_engine,
    print_json,
    read_prompt,
    run_stoppable,
    table,
    terminal_columns,
    terminal_line,
)
from chatroute.format import badge_text, fmt_ms
from chatroute.money import usd
from chatroute.store.records import TurnRecord
from chatroute.turn_events import Delta, TurnEvent, TurnFinished, TurnStarted


def run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args.prompt, command="compare")
    engine = open_engine()
    return run_stoppable(_compare(engine, args, prompt), saved="the answers are saved as interrupted")


async def _drain(model: str, stream: AsyncIterator[TurnEvent], out: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """`out` is filled as the answer streams: a stop leaves in it what had come."""
    async for event in stream:
        if isinstance(event, TurnStarted):
            out["conversation_id"] = event.conversation_id
            out["message_id"] = event.assistant_message_id
        elif isinstance(event, Delta):
            out["text"] = out.get("text", "") + event.text
        elif isinstance(event, TurnFinished):
            out["record"] = event.record
            out["text"] = event.text
            out["error"] = event.error
            out["error_kind"] = event.error_kind
    return model, out


async def _compare(engine: Any, args: argparse.Namespace, prompt: str) -> int:
    tasks: list[asyncio.Task[tuple[str, dict[str, Any]]]] = []
    outs: dict[str, dict[str, Any]] = {}
    warning: str | None = None
    try:
        streams = engine.compare(None, prompt, args.models)
        outs = {m: {"model": m} for m in streams}
        tasks = [asyncio.create_task(_drain(m, s, outs[m])) for m, s in streams.items()]
        results: dict[str, dict[str, Any]] = {}
        # In the order they finish; one that raises ends the command (the others are stopped
        # below) instead of leaving it waiting for an answer that will never come.
        for finished in asyncio.as_completed(tasks):
            model, out = await finished
            results[model] = out
            if not (args.json or args.jsonl):
                _print_answer(model, out)
    except asyncio.CancelledError:
        # Ctrl+C or a stop signal (`timeout` sends SIGTERM): once each stream has saved its
        # answer, a script asked for JSON gets them, as they were stopped.
        if args.json or args.jsonl:
            await _stop(tasks)
            _print_json(args, [_stopped(engine, out) for out in outs.values()])
        raise
    finally:
        await _stop(tasks)
        # A cap never stops a compare (its models are the user's choice), but it spends on
        # every one at once: past 80% or the cap it says so, as `ask` does.
        warning = budget_warning(engine)
        await engine.aclose()
    ordered = [results[m] for m in streams]
    complete = any(o["record"].status == "ok" for o in ordered)
    partial = [o for o in ordered if o["record"].status == "interrupted" and o.get("text", "").strip()]
    if args.json or args.jsonl:
        _print_json(args, [_as_json(out) for out in ordered])
    else:
        rows = []
        for out in ordered:
            r = out["record"]
            rows.append([
                r.model, ("≈" if r.usage_estimated else "") + usd(r.cost_usd), fmt_ms(r.ttft_ms),
                fmt_ms(r.total_ms), f"{r.tokens_per_s:.0f}" if r.tokens_per_s else "—",
                {"ok": "ok", "interrupted": "interrupted", "error": "failed"}[r.status],
            ])
        print(table(rows, ["model", "cost", "ttft", "total", "tok/s", "status"], "lrrrrl",
                    fit=terminal_columns(sys.stdout)))
        conv = ordered[0].get("conversation_id")
        # With no text at all there is nothing to pick: the error line below says so. Partial
        # answers (every one interrupted) are kept and can be gone on from as whole ones can.
        if conv and (complete or partial):
            # The first asked, unless it has no text: the engine shows the first answer that has.
            kept = next((o for o in ordered if o.get("text", "").strip()), ordered[0])
            which = "the first" if kept is ordered[0] else f"{kept['model']}'s, the first answer"
            what = "answers kept as siblings" if complete else "partial answers kept as siblings (none complete)"
            print(f"\nconversation {conv}: {what}; pick one in the TUI to continue, "
                  f"or `chatroute ask -c {conv}` goes on from {which}")
    if warning:
        print(f"chatroute: warning: {warning}", file=sys.stderr)
    if complete:
        return 0
    # An error line names its model already.
    failures = "; ".join(o.get("error") or f"{o['record'].model}: {o['record'].status}" for o in ordered)
    said = "no model answered"
    if partial:
        said = f"no model answered in full; what {', '.join(o['model'] for o in partial)} streamed is kept"
    print(f"chatroute: error: {said} ({terminal_line(sys.stderr, failures)})", file=sys.stderr)
    # A key or a base_url is the config's to fix, as `ask` says with the same code.
    return 2 if all(o.get("error_kind") in CONFIG_ERROR_KINDS for o in ordered) else 1


async def _stop(tasks: list[asyncio.Task[tuple[str, dict[str, Any]]]]) -> None:
    """Stop each stream still running: it saves its answer as interrupted, priced, before the
    clients close. Closed first, the streams would see a dropped connection and record a
    failure before the first token as an unbilled error."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _print_json(args: argparse.Namespace, answers: list[dict[str, Any]]) -> None:
    if args.json:
        print_json(answers)  # one document: a list, in the order asked
    else:
        for answer in answers:
            sys.stdout.write(json_text(answer) + "\n")
        sys.stdout.flush()


def _stopped(engine: Any, out: dict[str, Any]) -> dict[str, Any]:
    """One answer of a stopped compare, as saved: its record, or, when its request had not been
    sent (no record, nothing billed), an interrupted answer without one (turn_id null)."""
    if "record" in out:  # it had finished
        return _as_json(out)
    record = engine.store.turn_for_message(out["message_id"]) if out.get("message_id") else None
    if record is not None:
        return _as_json({**out, "record": record, "error": record.error})
    model = out["model"]
    record = TurnRecord(conversation_id=out.get("conversation_id"), message_id=out.get("message_id"), model=model,
                        provider=model.partition("/")[0], route_kind="compare", cost_usd=0.0,
                        status="interrupted", error="stopped before the request was sent")
    return {**_as_json({**out, "record": record, "error": record.error}), "turn_id": None}


RULE_CELLS = 64  # the line over each answer


def _print_answer(model: str, out: dict[str, Any]) -> None:
    def show(text: str) -> str:
        return terminal_line(sys.stdout, text)

    # 64 cells, or the terminal's width less one: a rule that wraps leaves a stray line of ━.
    width = min(RULE_CELLS, (terminal_columns(sys.stdout) or RULE_CELLS + 1) - 1)
    model = show(model)  # an id from the config file, quoted as a warning quotes one
    print(f"━━ {model} " + "━" * max(0, width - 4 - display_width(model)))
    if out.get("text"):
        print(show(out["text"].rstrip()))
    if out.get("error"):
        print(f"✗ {show(out['error'])}")
    print(f"   {show(badge_text(out['record']))}\n")
    sys.stdout.flush()


def _as_json(out: dict[str, Any]) -> dict[str, Any]:
    """One answer, with the keys of `ask --json` (README: Compare mode)."""
    r = out["record"]
    route = dict(r.route or {})
    route["kind"] = r.route_kind
    return {
        "model": r.model,
        "provider": r.provider,
        "route": route,
        "cache": r.cache_status,
        "tokens": {"input": r.input_tokens, "output": r.output_tokens, "cached": r.cached_tokens,
                   "cache_write": r.cache_write_tokens, "estimated": r.usage_estimated},
        "cost_usd": r.cost_usd,
        "saved_usd": r.saved_usd,
        "price_as_of": r.price_as_of,
        "price_source": r.price_source,
        "latency": {"route_ms": r.route_ms, "ttft_ms": r.ttft_ms, "total_ms": r.total_ms,
                    "tokens_per_s": r.tokens_per_s},
        "status": r.status,
        "finish_reason": r.finish_reason,
        "error": out.get("error"),
        "text": out.get("text", ""),
        "conversation_id": out.get("conversation_id"),
        "message_id": out.get("message_id"),
        "turn_id": r.id,
    }
