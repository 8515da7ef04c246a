"""A scripted stand-in for chatroute.engine.Engine and chatroute.store.Store, for TUI tests.

`FakeEngine` implements `chatroute.engine_api.EngineAPI`, the surface the TUI uses, with the
real records, models and config, and mypy checks that it does (this file is in mypy's
`files`; see `_implements_the_seam` at the end), so the real engine can be swapped in
without touching the UI. Turns are scripted: push `Reply`/`Fail` items on `engine.script`
(or per model in `engine.compare_script`); with an empty script every turn echoes the prompt.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

from chatroute.catalog.models import ModelInfo
from chatroute.config import BudgetConfig, Config, RouterConfig, UIConfig
from chatroute.engine_api import EngineAPI, ExportFormat
from chatroute.errors import ChatrouteError
from chatroute.paths import Paths, resolve_paths
from chatroute.routing.budget import BudgetBlock
from chatroute.routing.policy import PromptTooLargeError
from chatroute.store.records import Conversation, SearchHit, SpendRow, StoredMessage, TurnRecord
from chatroute.store.waits import LockWaits
from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, TurnEvent, TurnFinished, TurnStarted

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


FIXED_TIME = "2026-11-01T12:00:00Z"  # snapshots must not depend on the clock


# --- records ---------------------------------------------------------------------------------
def fake_turn_record(*, id: str, conversation_id: str, message_id: str, model: str, provider: str,
                     **fields: Any) -> TurnRecord:
    """A real TurnRecord with the fake's defaults (a routed, priced, finished turn at FIXED_TIME)."""
    defaults: dict[str, Any] = {"route_kind": "routed", "cache_status": "miss", "price_as_of": "2026-11-01",
                                "route_ms": 0.4, "finish_reason": "stop", "created_at": FIXED_TIME}
    return TurnRecord(id=id, conversation_id=conversation_id, message_id=message_id, model=model, provider=provider,
                      **{**defaults, **fields})


# --- store -----------------------------------------------------------------------------------
class FakeStore:
    """In-memory store with the methods of chatroute.store.Store that the TUI calls (`StoreAPI`)."""

    def __init__(self) -> None:
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, StoredMessage] = {}
        self.order: dict[str, list[str]] = {}  # conversation -> message ids in insertion order
        self.active: dict[tuple[str, str | None], str] = {}  # (conversation, parent id) -> the active child
        self.records: dict[str, TurnRecord] = {}  # message id -> record
        self.preferences: list[dict[str, Any]] = []
        self.children: dict[tuple[str, str | None], list[str]] = {}
        # The fake keeps no spend ledger: budget caps read this sum (never reached unless a test sets it).
        self.spent_usd = 0.0
        self.waits = LockWaits(300.0)

    # conversations
    def create_conversation(self, title: str | None = None, system_prompt: str | None = None) -> Conversation:
        conv = Conversation(id=_new_id("c"), title=title, system_prompt=system_prompt, pinned_model=None,
                            cache_enabled=True, created_at=FIXED_TIME, updated_at=FIXED_TIME)
        self.conversations[conv.id] = conv
        self.order[conv.id] = []
        return conv

    def list_conversations(self, *, limit: int | None = None,
                           after: tuple[str, str] | None = None) -> list[Conversation]:
        """Newest first (all share FIXED_TIME: creation order), a page after `after` as the store's."""
        convs = list(reversed(self.conversations.values()))
        if after is not None:
            convs = [c for c in convs if (c.updated_at, c.id) < after]
        return convs[:limit] if limit else convs

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        return self.conversations.get(conversation_id)

    def rename_conversation(self, conversation_id: str, title: str | None) -> None:
        self.conversations[conversation_id].title = title

    def delete_conversation(self, conversation_id: str) -> bool:
        found = self.conversations.pop(conversation_id, None) is not None
        for mid in self.order.pop(conversation_id, []):
            self.messages.pop(mid, None)
        return found

    def set_pin(self, conversation_id: str, model: str | None) -> None:
        self.conversations[conversation_id].pinned_model = model

    def set_cache_enabled(self, conversation_id: str, enabled: bool) -> int:
        self.conversations[conversation_id].cache_enabled = enabled
        return 0

    # messages
    def add_message(self, conversation_id: str, role: str, content: str, parent_id: str | None = None,
                    status: str = "complete") -> StoredMessage:
        msg = StoredMessage(id=_new_id("m"), conversation_id=conversation_id, parent_id=parent_id, role=role,
                            content=content, model=None, status=status, active=True, created_at=FIXED_TIME,
                            updated_at=FIXED_TIME)
        self.messages[msg.id] = msg
        self.order[conversation_id].append(msg.id)
        self.children.setdefault((conversation_id, parent_id), []).append(msg.id)
        self.active[(conversation_id, parent_id)] = msg.id
        conv = self.conversations[conversation_id]
        if conv.title is None and role == "user":
            conv.title = content[:40]
        return msg

    def get_message(self, message_id: str) -> StoredMessage | None:
        return self.messages.get(message_id)

    def history(self, conversation_id: str) -> list[StoredMessage]:
        out: list[StoredMessage] = []
        parent: str | None = None
        while True:
            mid = self.active.get((conversation_id, parent))
            if mid is None or mid not in self.messages:
                return out
            out.append(self.messages[mid])
            parent = mid

    def history_ids(self, conversation_id: str) -> list[str]:
        return [m.id for m in self.history(conversation_id)]

    def messages_by_id(self, ids: Sequence[str]) -> list[StoredMessage]:
        return [self.messages[i] for i in ids if i in self.messages]

    def siblings(self, message_id: str) -> list[StoredMessage]:
        msg = self.messages[message_id]
        return [self.messages[i] for i in self.children.get((msg.conversation_id, msg.parent_id), [])
                if i in self.messages]

    def replies(self, message_id: str) -> list[StoredMessage]:
        return self.siblings(message_id)  # the fake asks one turn at a time: no questions side by side

    def sibling_positions(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for mid in ids:
            if mid not in self.messages:
                continue
            sibs = [s.id for s in self.siblings(mid)]
            if len(sibs) > 1:
                out[mid] = (sibs.index(mid) + 1, len(sibs))
        return out

    def set_active(self, message_id: str) -> None:
        msg = self.messages[message_id]
        self.active[(msg.conversation_id, msg.parent_id)] = message_id

    # turn records
    def turns(self, conversation_id: str, *, include_route: bool = True) -> list[TurnRecord]:
        out = [r for r in self.records.values() if r.conversation_id == conversation_id]
        if not include_route:  # like the real store: badges without the route JSON
            out = [replace(r, route={}) for r in out]
        return out

    def get_turn(self, turn_id: str) -> TurnRecord | None:
        return next((r for r in self.records.values() if r.id == turn_id), None)

    def turn_for_message(self, message_id: str) -> TurnRecord | None:
        return self.records.get(message_id)

    def turns_for_messages(self, message_ids: Sequence[str]) -> dict[str, TurnRecord]:
        return {mid: self.records[mid] for mid in message_ids if mid in self.records}

    # search, spend, export
    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        q = query.lower()
        hits = []
        for m in self.messages.values():
            if q and q in m.content.lower():
                conv = self.conversations.get(m.conversation_id)
                hits.append(SearchHit(message_id=m.id, conversation_id=m.conversation_id,
                                      conversation_title=conv.title if conv else None, role=m.role, model=m.model,
                                      snippet=m.content[:80], created_at=m.created_at, rank=0.0))
        return hits[:limit]

    def spend_totals(self, since: str | date | datetime | None = None) -> SpendRow:
        return SpendRow(key=None, turns=0, input_tokens=0, output_tokens=0, cached_tokens=0, cost_usd=self.spent_usd,
                        saved_usd=None, unknown_cost_turns=0)

    def export_conversation(self, conversation_id: str, fmt: ExportFormat = "markdown") -> str:
        conv = self.conversations[conversation_id]
        msgs = self.history(conversation_id)
        if fmt == "json":
            messages = [dict(asdict(m), turn=asdict(self.records[m.id]) if m.id in self.records else None)
                        for m in msgs]
            return json.dumps({"conversation": asdict(conv), "messages": messages}, indent=2)
        lines = [f"# {conv.title or 'Untitled'}", ""]
        for m in msgs:
            lines += [f"## {m.role}", "", m.content, ""]
            if m.id in self.records:
                r = self.records[m.id]
                lines += [f"_{r.model} · ${r.cost_usd} · {r.total_ms} ms_", ""]
        return "\n".join(lines)


# --- scripted turns --------------------------------------------------------------------------
@dataclass
class Reply:
    text: str = "Hello **world**."
    model: str = "openai/gpt-4o-mini"
    cost_usd: float | None = 0.00042
    chunks: int = 4
    delay: float = 0.0
    ttft_ms: float = 320.0
    total_ms: float = 2100.0
    tokens_per_s: float = 85.0
    input_tokens: int = 120
    output_tokens: int = 340
    usage_estimated: bool = False
    reroutes: list[tuple[str, str, str]] = field(default_factory=list)  # (from, error, to)
    cache_similarity: float | None = None  # set -> answer comes from the cache
    cache_source_turn: str | None = None
    interrupted: bool = False  # stream breaks after the first half
    pieces: list[str] | None = None  # exact fragments (text and chunks are then ignored)
    gate: asyncio.Queue[None] | None = None  # each fragment waits for one item put here


@dataclass
class Fail:
    error: str = "openai/gpt-4o-mini: 500 server error"
    model: str = "openai/gpt-4o-mini"
    partial: str = ""
    retryable: bool = True
    delay: float = 0.0


MODELS = [
    ModelInfo(id="openai/gpt-4o-mini", provider="openai", name="gpt-4o-mini", input_cost_per_mtok=0.15,
              output_cost_per_mtok=0.6, context_window=128000, ability=0.62, price_as_of="2026-11-01",
              price_source="bundled"),
    ModelInfo(id="openai/gpt-4o", provider="openai", name="gpt-4o", input_cost_per_mtok=2.5,
              output_cost_per_mtok=10.0, context_window=128000, ability=0.8, price_as_of="2026-11-01",
              price_source="bundled"),
    ModelInfo(id="anthropic/claude-3-5-haiku-20241022", provider="anthropic", name="claude-3-5-haiku-20241022",
              input_cost_per_mtok=0.8, output_cost_per_mtok=4.0, context_window=200000, ability=0.66,
              price_as_of="2026-11-01", price_source="bundled"),
    ModelInfo(id="ollama/qwen2.5:7b", provider="ollama", name="qwen2.5:7b", input_cost_per_mtok=0.0,
              output_cost_per_mtok=0.0, context_window=32768, ability=0.55, price_as_of=None,
              price_source="override"),
]


class FakeCatalog:
    """The catalogue calls the TUI makes (`CatalogAPI`), over MODELS."""

    def __init__(self, models: list[ModelInfo]) -> None:
        self.models = models
        self.warnings: list[str] = []

    def get(self, name: str) -> ModelInfo:
        for m in self.models:
            if name in (m.id, m.name):
                return m
        raise ChatrouteError(f"unknown model {name!r}", exit_code=2)

    def resolve(self, name: str) -> str:
        return self.get(name).id

    def all(self) -> list[ModelInfo]:
        return list(self.models)

    def pool(self) -> list[ModelInfo]:
        return list(self.models)


# The why every routed fake decision gives; its badge reads "model · why: … · $cost · …".
FAKE_WHY = "quality 0.71 vs 0.83 at 1/18 of the cost"


def decision_for(model: str, kind: str = "routed", preset: str = "balanced") -> dict[str, Any]:
    cands = [
        {"model": "openai/gpt-4o-mini", "quality": 0.71, "expected_cost_usd": 0.0004, "expected_latency_s": 2.1,
         "utility": 0.69, "excluded": None},
        {"model": "openai/gpt-4o", "quality": 0.83, "expected_cost_usd": 0.0071, "expected_latency_s": 3.4,
         "utility": 0.64, "excluded": None},
        {"model": "anthropic/claude-3-5-haiku-20241022", "quality": 0.74, "expected_cost_usd": 0.0028,
         "expected_latency_s": 2.6, "utility": 0.66, "excluded": None},
        {"model": "ollama/qwen2.5:7b", "quality": 0.52, "expected_cost_usd": 0.0, "expected_latency_s": 6.0,
         "utility": 0.40, "excluded": "cooling down (429, 30 s left)"},
    ]
    return {"model": model, "kind": kind, "preset": preset, "route_ms": 0.4,
            "reason": f"{model.split('/')[-1]}: best utility for a short factual question",
            "why": FAKE_WHY if kind == "routed" else "",
            "candidates": cands, "reroutes": []}


class FakeEngine:
    def __init__(self, store: FakeStore | None = None, *, theme: str = "chatroute-dark",
                 cost_report: dict[str, Any] | None = None) -> None:
        self.store = store or FakeStore()
        self.config = Config(ui=UIConfig(theme=theme, baseline_model="openai/gpt-4o"),
                             router=RouterConfig(preset="balanced", pool=[m.id for m in MODELS]),
                             budget=BudgetConfig(daily_usd=1.0, monthly_usd=20.0))
        self.catalog = FakeCatalog(MODELS)
        self.preset: str = self.config.router.preset
        self.on_cache_reembed: Callable[[int], None] | None = None
        self.on_cache_damaged: Callable[[str], None] | None = None
        self.script: list[Reply | Fail] = []
        self.compare_script: dict[str, Reply | Fail] = {}
        self.calls: list[dict[str, Any]] = []
        self.compare_calls: list[dict[str, Any]] = []
        self.picks: list[tuple[str, str]] = []
        self.presets: list[str] = []
        self.refusal: PromptTooLargeError | None = None  # what context_refusal answers
        self.block: BudgetBlock | None = None  # what budget_block answers
        self._cost_report = cost_report or sample_cost_report()
        self.closed = False

    # --- the Engine surface ---
    @property
    def paths(self) -> Paths:
        return resolve_paths()  # read when used: tests point CHATROUTE_HOME at a temp dir

    def warm(self) -> None:
        pass  # nothing to import or connect ahead of the first turn

    def models(self) -> list[ModelInfo]:
        return list(MODELS)

    def unavailable(self) -> dict[str, str]:
        return {}

    def set_preset(self, preset: str) -> None:
        self.presets.append(preset)
        self.preset = preset

    async def reload_config(self) -> list[str]:
        return []

    def route(self, prompt: str, conversation_id: str | None = None) -> dict[str, Any]:
        return decision_for("openai/gpt-4o-mini")

    def context_refusal(self, conversation_id: str | None, prompt: str, *,
                        override: str | None = None) -> PromptTooLargeError | None:
        return self.refusal

    def budget_block(self, conversation_id: str | None, prompt: str, *, use_cache: bool = True,
                     regenerate_of: str | None = None) -> BudgetBlock | None:
        return self.block

    def cost_report(self, since: str | None = None) -> dict[str, Any]:
        return self._cost_report

    async def aclose(self) -> None:
        self.closed = True

    async def run_turn(self, conversation_id: str | None, prompt: str, *, override: str | None = None,
                       use_cache: bool = True, regenerate_of: str | None = None,
                       allow_over_budget: bool = False) -> AsyncIterator[TurnEvent]:
        self.calls.append({"conversation_id": conversation_id, "prompt": prompt, "override": override,
                           "use_cache": use_cache, "regenerate_of": regenerate_of})
        step = self.script.pop(0) if self.script else Reply(text=f"Echo: {prompt}")
        conv_id = conversation_id or self.store.create_conversation().id
        conv = self.store.conversations[conv_id]
        if regenerate_of:
            parent_id = self.store.messages[regenerate_of].parent_id
            assert parent_id is not None, "an answer always replies to a question"
            user = self.store.messages[parent_id]
        else:
            hist = self.store.history(conv_id)
            user = self.store.add_message(conv_id, "user", prompt, parent_id=hist[-1].id if hist else None)
        text_prompt = prompt
        kind = "routed"
        model = step.model
        if text_prompt.startswith("@"):
            name, _, _rest = text_prompt[1:].partition(" ")
            model = next((m.id for m in MODELS if m.id == name or m.name == name), model)
            kind = "override"
        elif override:
            model, kind = override, "override"
        elif conv.pinned_model:
            model, kind = conv.pinned_model, "pinned"
        asst = self.store.add_message(conv_id, "assistant", "", parent_id=user.id, status="streaming")
        yield TurnStarted(conv_id, user.id, asst.id)
        decision = decision_for(model, kind, self.preset)
        yield Routed(model=model, kind=kind, reason=decision["reason"], decision=decision)
        await asyncio.sleep(0)
        if isinstance(step, Fail):
            if step.delay:
                await asyncio.sleep(step.delay)
            rec = fake_turn_record(id=_new_id("t"), conversation_id=conv_id, message_id=asst.id, model=model,
                                   provider=model.split("/")[0], route_kind=kind, route=decision, status="error",
                                   error=step.error, cost_usd=None)
            if step.partial:
                yield Delta(step.partial)
                rec.status = "interrupted"
            asst.content, asst.status = step.partial, rec.status
            self.store.records[asst.id] = rec
            yield TurnFinished(record=rec, text=step.partial, error=step.error, retryable=step.retryable)
            return
        reroutes = []
        for frm, err, to in step.reroutes:
            reroutes.append({"from": frm, "error": err, "to": to})
            yield Rerouted(frm, err, to, f"{frm.split('/')[-1]} {err} → {to.split('/')[-1]}")
        decision["reroutes"] = reroutes
        if reroutes:  # as the engine records it: the decision is the first pick's, not the answering model's
            decision = {**decision_for(reroutes[0]["from"], kind, self.preset), "reroutes": reroutes}
        rec = fake_turn_record(id=_new_id("t"), conversation_id=conv_id, message_id=asst.id, model=model,
                               provider=model.split("/")[0], route_kind=kind, route=decision,
                               input_tokens=step.input_tokens, output_tokens=step.output_tokens,
                               usage_estimated=step.usage_estimated, cost_usd=step.cost_usd, ttft_ms=step.ttft_ms,
                               total_ms=step.total_ms, tokens_per_s=step.tokens_per_s)
        text = step.text
        if step.cache_similarity is not None:
            rec.route_kind, rec.cache_status = "cache", "hit"
            rec.cache_similarity, rec.cache_source_turn = step.cache_similarity, step.cache_source_turn
            rec.cost_usd, rec.ttft_ms, rec.total_ms, rec.tokens_per_s = 0.0, 3.0, 4.0, None
            yield CacheHit(step.cache_similarity, "semantic", step.cache_source_turn, 3.0)
        n = max(1, step.chunks)
        size = max(1, len(text) // n + 1)
        pieces = [text[i:i + size] for i in range(0, len(text), size)]
        if step.pieces is not None:
            pieces, text = step.pieces, "".join(step.pieces)
        if step.interrupted:
            pieces = pieces[: max(1, len(pieces) // 2)]
            text = "".join(pieces)
            rec.status, rec.error = "interrupted", "connection dropped mid-stream"
        for piece in pieces:
            if step.gate is not None:
                await step.gate.get()
            if step.delay:
                await asyncio.sleep(step.delay)
            yield Delta(piece)
        asst.content, asst.status = text, rec.status
        self.store.records[asst.id] = rec
        self.store.set_active(asst.id)
        yield TurnFinished(record=rec, text=text, error=rec.error, retryable=rec.status != "ok")

    def prepare_models(self, models: Iterable[str]) -> None:
        pass  # no SDK to import

    def compare(self, conversation_id: str | None, prompt: str,
                models: list[str]) -> dict[str, AsyncIterator[TurnEvent]]:
        self.compare_calls.append({"conversation_id": conversation_id, "prompt": prompt, "models": list(models)})
        conv_id = conversation_id or self.store.create_conversation().id
        hist = self.store.history(conv_id)
        user = self.store.add_message(conv_id, "user", prompt, parent_id=hist[-1].id if hist else None)
        return {m: self._compare_stream(conv_id, user.id, m) for m in models}

    async def _compare_stream(self, conv_id: str, user_id: str, model: str) -> AsyncIterator[TurnEvent]:
        step = self.compare_script.get(model) or Reply(text=f"Answer from {model}.", model=model)
        asst = self.store.add_message(conv_id, "assistant", "", parent_id=user_id, status="streaming")
        yield TurnStarted(conv_id, user_id, asst.id)
        decision = decision_for(model, "override")
        yield Routed(model=model, kind="override", reason="compare mode", decision=decision)
        if isinstance(step, Fail):
            if step.delay:
                await asyncio.sleep(step.delay)
            rec = fake_turn_record(id=_new_id("t"), conversation_id=conv_id, message_id=asst.id, model=model,
                                   provider=model.split("/")[0], route_kind="override", status="error",
                                   error=step.error)
            asst.status = "error"
            self.store.records[asst.id] = rec
            yield TurnFinished(record=rec, text="", error=step.error, retryable=True)
            return
        pieces = step.pieces if step.pieces is not None else [step.text[i:i + 8] for i in range(0, len(step.text), 8)]
        text = "".join(pieces)
        for piece in pieces:
            if step.gate is not None:
                await step.gate.get()
            if step.delay:
                await asyncio.sleep(step.delay)
            yield Delta(piece)
        rec = fake_turn_record(id=_new_id("t"), conversation_id=conv_id, message_id=asst.id, model=model,
                               provider=model.split("/")[0], route_kind="override", cost_usd=step.cost_usd,
                               usage_estimated=step.usage_estimated,
                               input_tokens=step.input_tokens, output_tokens=step.output_tokens, ttft_ms=step.ttft_ms,
                               total_ms=step.total_ms, tokens_per_s=step.tokens_per_s)
        asst.content, asst.status = text, "complete"
        self.store.records[asst.id] = rec
        yield TurnFinished(record=rec, text=text)

    def pick_compare(self, conversation_id: str, message_id: str) -> None:
        self.picks.append((conversation_id, message_id))
        self.store.set_active(message_id)


def sample_cost_report() -> dict[str, Any]:
    """The dict shape `Engine.cost_report(since=None)` returns (documented in chatroute/tui/screens/costs.py)."""
    daily = [0.0, 0.12, 0.08, 0.0, 0.31, 0.22, 0.05, 0.0, 0.0, 0.44, 0.19, 0.27, 0.09, 0.0, 0.15,
             0.33, 0.41, 0.12, 0.0, 0.06, 0.18, 0.52, 0.24, 0.11, 0.0, 0.07, 0.29, 0.35, 0.14, 0.21]
    return {
        "currency": "USD",
        "as_of": "2026-11-01",
        "totals": {"today": 0.21, "week": 1.41, "month": 4.19, "all": 12.87},
        "turns": {"today": 7, "week": 48, "month": 131, "all": 402},
        "by_model": [
            {"model": "openai/gpt-4o", "turns": 61, "input_tokens": 182000, "output_tokens": 91000,
             "cached_tokens": 40000, "cost_usd": 9.12, "unknown_cost_turns": 0},
            {"model": "openai/gpt-4o-mini", "turns": 250, "input_tokens": 410000, "output_tokens": 220000,
             "cached_tokens": 120000, "cost_usd": 2.98, "unknown_cost_turns": 0},
            {"model": "anthropic/claude-3-5-haiku-20241022", "turns": 51, "input_tokens": 90000,
             "output_tokens": 40000, "cached_tokens": 0, "cost_usd": 0.77, "unknown_cost_turns": 0},
            {"model": "ollama/qwen2.5:7b", "turns": 40, "input_tokens": 30000, "output_tokens": 25000,
             "cached_tokens": 0, "cost_usd": 0.0, "unknown_cost_turns": 0},
        ],
        "by_day": [{"day": f"2026-11-{d:02d}", "turns": 5 + d, "cost_usd": round(0.1 * d, 2)} for d in (1,)] + [
            {"day": f"2026-10-{d:02d}", "turns": 3 + d % 5, "cost_usd": daily[d - 2]} for d in range(31, 24, -1)],
        "by_conversation": [
            {"conversation_id": "c1", "title": "Rust lifetimes", "turns": 34, "cost_usd": 1.92},
            {"conversation_id": "c2", "title": "Trip to Lisbon", "turns": 12, "cost_usd": 0.31},
            {"conversation_id": "c3", "title": "SQL window functions", "turns": 20, "cost_usd": 0.88},
        ],
        "daily_30": daily,
        "baseline": {"model": "openai/gpt-4o", "cost_usd": 31.40, "actual_usd": 12.87,
                     "routing_saved_usd": 16.90, "cache_saved_usd": 1.63},
        "budget": {"daily_usd": 1.0, "daily_spent": 0.21, "monthly_usd": 5.0, "monthly_spent": 4.19,
                   "state": "warn", "message": "monthly budget at 84% ($4.19 of $5.00)"},
    }


def seed_conversation(store: FakeStore, title: str, pairs: list[tuple[str, str]], *, model: str = "openai/gpt-4o-mini",
                      cost: float | None = 0.0012) -> Conversation:
    """A stored conversation of (user, assistant) pairs with turn records, without running turns."""
    conv = store.create_conversation(title=title)
    route = decision_for(model)  # shared: a 10,000-turn seed should not build 10,000 dicts
    parent: str | None = None
    for i, (q, a) in enumerate(pairs):
        u = store.add_message(conv.id, "user", q, parent_id=parent)
        m = store.add_message(conv.id, "assistant", a, parent_id=u.id)
        store.records[m.id] = fake_turn_record(id=f"t{conv.id}-{i}", conversation_id=conv.id, message_id=m.id,
                                               model=model, provider=model.split("/")[0], route=route,
                                               input_tokens=50, output_tokens=120, cost_usd=cost, ttft_ms=250.0,
                                               total_ms=1400.0, tokens_per_s=90.0)
        parent = m.id
    return conv


def _implements_the_seam(engine: FakeEngine) -> EngineAPI:
    return engine  # mypy fails here when the fake and the engine's seam drift apart
