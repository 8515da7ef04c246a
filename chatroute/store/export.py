"""Conversation export: readable Markdown or structured JSON, each turn with its model, cost,
latency and tokens. The store never holds API keys, so nothing needs scrubbing here."""

from __future__ import annotations

import re
from typing import Any, Protocol

from chatroute import jsonsafe
from chatroute.format import reroute_line
from chatroute.markdown_breaks import closed_fences, hard_breaks
from chatroute.money import marked_usd, usd
from chatroute.providers.think_tags import stored_answer
from chatroute.store.dbfile import StoreError
from chatroute.store.records import Conversation, StoredMessage, TurnRecord


class ExportSource(Protocol):
    """What an export reads from the store (Store has all of it): typed here rather than by
    importing Store, which calls into this module."""

    def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    def history(self, conversation_id: str) -> list[StoredMessage]: ...

    def turns(self, conversation_id: str, *, include_route: bool = True) -> list[TurnRecord]: ...

    def siblings(self, message_id: str) -> list[StoredMessage]: ...

    def children(self, message_id: str) -> list[StoredMessage]: ...

EXPORT_FORMAT = "chatroute.conversation/1"


def _ms(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.0f} ms" if v < 1000 else f"{v / 1000:.2f} s"


def badge(turn: TurnRecord) -> str:
    """model · cost · ttft · total · tok/s · tokens, spelled out for a document (labelled totals, token counts
    in and out)."""
    # ≈ on a cost counted from estimated usage, as the chat's badge and `costs` write it.
    parts = [turn.model, marked_usd(turn.cost_usd, estimated=turn.usage_estimated), f"ttft {_ms(turn.ttft_ms)}",
             f"total {_ms(turn.total_ms)}"]
    parts.append(f"{turn.tokens_per_s:.1f} tok/s" if turn.tokens_per_s is not None else "n/a tok/s")
    approx = "≈" if turn.usage_estimated else ""
    tokens = f"{approx}{turn.input_tokens:,} in / {approx}{turn.output_tokens:,} out"
    if turn.cached_tokens:
        tokens += f" ({turn.cached_tokens:,} cached)"
    parts.append(tokens)
    if turn.route_kind == "cache":
        parts.append("from cache")
    if turn.status != "ok":
        parts.append(turn.status)
    return " · ".join(parts)


def export_conversation(store: ExportSource, conversation_id: str, fmt: str = "markdown") -> str:
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise StoreError(f"no conversation {conversation_id}")
    branch = store.history(conversation_id)
    records = store.turns(conversation_id)
    turns: dict[str, TurnRecord] = {}
    for t in records:
        if t.message_id:
            turns[t.message_id] = t  # the latest record wins (turns() is oldest first): the one that answered
    # Totals over every billed request, as `costs` counts them: an answer a routed turn failed
    # over to keeps a record of the attempt before it (billed thinking) beside its own.
    billed = [t for t in records if _counted(t)]
    if fmt == "markdown":
        return _markdown(conv.title, conv.system_prompt, branch, turns, billed)
    if fmt == "json":
        return _json(store, conv.to_dict(), branch, turns, billed)
    raise ValueError(f"export format must be markdown or json, not {fmt!r}")


def _counted(turn: TurnRecord) -> bool:
    """A turn as `costs` counts one: a request that failed before any token cost nothing."""
    return turn.status != "error" or turn.input_tokens + turn.output_tokens > 0


def _estimated(billed: list[TurnRecord]) -> tuple[int, float]:
    """How many billed turns were priced from estimated usage, and their known cost."""
    guessed = [t for t in billed if t.usage_estimated]
    return len(guessed), sum(t.cost_usd for t in guessed if t.cost_usd is not None)


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#|])")


def _literal(text: str) -> str:
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text.replace("\n", " "))


def _markdown(title: str | None, system: str | None, branch: list[StoredMessage], turns: dict[str, TurnRecord],
              billed: list[TurnRecord]) -> str:
    # The title is the first prompt's start, shown as typed in the app: its Markdown is literal.
    out = [f"# {_literal(title) if title else 'Untitled conversation'}", ""]
    if system:
        out += ["> **System:** " + system.replace("\n", "\n> "), ""]
    for m in branch:
        heading = {"user": "You", "assistant": "Assistant", "system": "System"}.get(m.role, m.role.title())
        turn = turns.get(m.id)
        if m.role == "assistant" and (turn or m.model):
            heading += f" · {turn.model if turn else m.model}"
        # Each line of a prompt or an answer stays a line, as the chat shows it (a three-line
        # prompt read as one in a Markdown viewer), and a code block left open is closed; the
        # text is otherwise exported as sent.
        body = closed_fences(hard_breaks(stored_answer(m.role, m.content)))
        out += [f"## {heading}", "", body if body else "_(no text)_", ""]
        if m.status in ("interrupted", "error"):
            # Why, as the line under it in the chat says (its record's one-line error).
            why = f": {_literal(turn.error)}" if turn is not None and turn.error else ""
            out += [f"_({m.status}{why})_", ""]
        elif m.status == "streaming":  # exported while it streams: what had arrived by then
            out += ["_(still streaming when exported: incomplete)_", ""]
        if turn is not None:
            # An attempt billed before a reroute is in the total: its line says what it was, as in the chat.
            for r in (turn.route or {}).get("reroutes") or []:
                if isinstance(r, dict):
                    out += [f"<sub>↪ {_literal(reroute_line(r))}</sub>", ""]
            out += [f"<sub>{badge(turn)}</sub>", ""]
    if turns:
        out += [_total_line(branch, turns, billed), ""]
    return "\n".join(out)


def _total_line(branch: list[StoredMessage], turns: dict[str, TurnRecord], billed: list[TurnRecord]) -> str:
    """The Markdown's closing total. Every billed turn, as the JSON export, `costs` and the ledger
    count them: answers regenerated or compared away from the shown branch were paid for too."""
    total = sum(t.cost_usd for t in billed if t.cost_usd is not None)
    unknown = sum(1 for t in billed if t.cost_usd is None)
    n_estimated, estimated = _estimated(billed)
    line = f"---\n\nTotal cost: {'≈' if n_estimated else ''}{usd(total)}"
    hidden = len({t.message_id for t in turns.values()} - {m.id for m in branch})
    if hidden:
        # Which branch this is: the shown one; the others are in the JSON export.
        line += (f", {hidden} of its {len(turns)} answers not shown above (on other branches: regenerated, "
                 "compared or after those; the JSON export has them under alternatives)")
    if unknown:
        line += f" (+ {unknown} turn{'' if unknown == 1 else 's'} with unknown price)"
    if n_estimated:  # as `costs` says it under its table
        line += f" (≈ includes {n_estimated} turn{'' if n_estimated == 1 else 's'}, {usd(estimated)}, " \
                "whose usage was estimated)"
    return line


def _json(store: ExportSource, conv: dict[str, Any], branch: list[StoredMessage], turns: dict[str, TurnRecord],
          billed: list[TurnRecord]) -> str:
    shown = {m.id for m in branch}

    def item(m: StoredMessage) -> dict[str, Any]:
        d = m.to_dict()
        d["content"] = stored_answer(m.role, m.content)  # as the chat shows it: no old think block
        t = turns.get(m.id)
        d["turn"] = t.to_dict() if t else None
        return d

    # Every message off the shown branch, so nothing the user generated is dropped: the sibling
    # replies and, below each, the turns that went on from it (a regenerate branches there). The
    # first question has siblings too when two first turns were asked at once.
    alternatives = []
    for m in branch:
        for s in store.siblings(m.id):
            if s.id not in shown:
                alternatives += [item(d) for d in _subtree(store, s)]
    known = [t.cost_usd for t in billed if t.cost_usd is not None]
    n_estimated, estimated = _estimated(billed)
    doc = {
        "format": EXPORT_FORMAT,
        "conversation": conv,
        "messages": [item(m) for m in branch],
        "alternatives": alternatives,
        "totals": {
            "turns": len(billed),
            "cost_usd": sum(known) if known else None,
            "unknown_cost_turns": sum(1 for t in billed if t.cost_usd is None),
            # The part priced from estimated usage (stopped streams, no usage report), as `costs` has it.
            "estimated_turns": n_estimated,
            "estimated_cost_usd": estimated,
            "input_tokens": sum(t.input_tokens for t in billed),
            "output_tokens": sum(t.output_tokens for t in billed),
        },
    }
    return jsonsafe.dumps(doc, ensure_ascii=False, indent=2, default=str)


def _subtree(store: ExportSource, root: StoredMessage) -> list[StoredMessage]:
    """`root` and every message below it, each before its replies."""
    out, todo = [], [root]
    while todo:
        m = todo.pop()
        out.append(m)
        todo += reversed(store.children(m.id))
    return out
