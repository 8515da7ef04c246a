"""Plain records the store reads and writes. No UI or provider imports here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, NamedTuple

from chatroute import jsonsafe
from chatroute.store.ids import new_id, utc_now
from chatroute.store.migrations import CHOSEN_KINDS

MessageStatus = Literal["complete", "streaming", "interrupted", "error"]
TurnStatus = Literal["ok", "interrupted", "error"]
RouteKind = Literal["routed", "pinned", "override", "cache", "default"]
CacheStatus = Literal["hit", "miss", "bypass"]
PreferenceKind = Literal["override", "regenerate", "compare_pick", "cache_false_hit"]

MESSAGE_STATUSES = ("complete", "streaming", "interrupted", "error")
PREFERENCE_KINDS = ("override", "regenerate", "compare_pick", "cache_false_hit")


@dataclass(kw_only=True)
class TurnRecord:
    """Everything known about one model call (or cache hit), as persisted in `turns`.

    Token counts follow the provider's usage; `cost_usd` is None when the price is unknown
    (shown "n/a", never summed as 0).
    """

    id: str = field(default_factory=new_id)
    conversation_id: str | None
    message_id: str | None
    model: str
    provider: str
    route_kind: str = "default"  # routed | pinned | override | cache | default | compare | recovered
    route: dict[str, Any] = field(default_factory=dict)  # reason, candidates, reroutes
    cache_status: str = "bypass"  # hit | miss | bypass
    cache_similarity: float | None = None
    cache_source_turn: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    usage_estimated: bool = False
    cost_usd: float | None = None
    saved_usd: float | None = None
    price_as_of: str | None = None
    # Where the price came from: the model's (bundled, refreshed, override, local, unknown), or
    # "provider" for the cost the provider reported (price_as_of None: no table's date).
    price_source: str | None = None
    route_ms: float | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    tokens_per_s: float | None = None
    status: str = "ok"  # ok | interrupted | error
    finish_reason: str | None = None
    error: str | None = None
    client: str | None = None  # who sent a request through `chatroute serve`; None: chatroute's own chat
    created_at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TurnRecord:
        """From a `turns` row (route as JSON text, booleans as 0/1) or a to_dict() result."""
        data = {k: row[k] for k in row.keys() if k in _TURN_FIELDS}
        route = data.get("route")
        if isinstance(route, str):
            data["route"] = json.loads(route) if route else {}
        elif route is None:
            data["route"] = {}
        data["usage_estimated"] = bool(data.get("usage_estimated", False))
        return cls(**data)

    def to_row(self) -> dict[str, Any]:
        row = self.to_dict()
        row["route"] = jsonsafe.dumps(self.route, ensure_ascii=False, separators=(",", ":"), default=str)
        row["usage_estimated"] = int(self.usage_estimated)
        return row


_TURN_FIELDS = frozenset(f.name for f in fields(TurnRecord))


@dataclass
class Conversation:
    id: str
    title: str | None
    system_prompt: str | None
    pinned_model: str | None
    cache_enabled: bool
    created_at: str
    updated_at: str
    archived: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Conversation:
        return cls(
            id=row["id"],
            title=row["title"],
            system_prompt=row["system_prompt"],
            pinned_model=row["pinned_model"],
            cache_enabled=bool(row["cache_enabled"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            archived=bool(row["archived"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StoredMessage:
    """One message node. Siblings share `parent_id`; `active` marks the one shown."""

    id: str
    conversation_id: str
    parent_id: str | None
    role: str  # user | assistant | system
    content: str
    model: str | None
    status: str  # complete | streaming | interrupted | error
    active: bool
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredMessage:
        return cls(
            id=row["id"],
            conversation_id=row["conversation_id"],
            parent_id=row["parent_id"],
            role=row["role"],
            content=row["content"],
            model=row["model"],
            status=row["status"],
            active=bool(row["active"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchHit:
    message_id: str
    conversation_id: str
    conversation_title: str | None
    role: str
    model: str | None
    snippet: str  # matched terms wrapped in [ and ]
    created_at: str
    rank: float  # bm25, lower is better


@dataclass
class SpendRow:
    """Aggregated spend for one key (a UTC day 'YYYY-MM-DD', a model id or a conversation id).

    `cost_usd` sums only known costs; it is None when every turn's cost is unknown.
    `unknown_cost_turns` counts the turns whose price was unknown, so "n/a" can be shown.
    """

    key: str | None
    turns: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float | None
    saved_usd: float | None
    unknown_cost_turns: int
    label: str | None = None  # conversation title when grouped by conversation
    cache_write_tokens: int = 0  # of input_tokens; read where a baseline is priced (known_cost_usage)
    # Of turns, those whose usage was estimated (no usage report): their tokens and cost are
    # estimates, so the row's are in part.
    estimated_turns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Rough tokens from characters where no tokenizer is at hand (the store stays free of the catalogue).
CHARS_PER_TOKEN = 4
RECOVERED_ERROR = "chatroute stopped while the reply streamed — partial reply kept, cost estimated"


@dataclass(frozen=True)
class ReportedInput:
    """The input a provider reported as its stream started (Anthropic's message_start): every
    prompt token sent, of which `cached` were cache reads and `cache_write` cache writes."""

    input: int
    cached: int = 0
    cache_write: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, text: str | None) -> ReportedInput | None:
        """None for no report or one that is not what this class writes (a damaged row)."""
        try:
            d = json.loads(text) if text else None
            values = [d[k] if k in d else 0 for k in ("input", "cached", "cache_write")] if isinstance(d, dict) else []
        except (ValueError, TypeError):
            return None
        if len(values) != 3 or not all(type(v) is int and 0 <= v < 2**53 for v in values):
            return None
        return cls(*values)


@dataclass(frozen=True)
class RecoveredStream:
    """A reply that a stopped process (killed, crashed, lost power) left mid-stream, as the
    store finds it at open: the model it went to, what the request held and what came back,
    so an estimated turn record can count what the provider billed for it."""

    message_id: str | None  # None: a served request (chatroute serve keeps no messages)
    conversation_id: str | None
    model: str  # saved on the message when routing decided, before the request was sent
    text: str  # the partial reply as last saved
    request: tuple[tuple[str, str], ...]  # (role, content) sent: the branch up to the prompt
    system: str | None
    ended_at: str  # the last partial save: the turn counts on that day
    thinking_chars: int = 0  # thinking streamed by the last partial save: billed output, never shown
    reported_input: ReportedInput | None = None  # the provider's own count, when it gave one
    route_kind: str | None = None  # who chose the model (saved with it); None before schema 7

    @property
    def thinking_tokens(self) -> int:
        """The saved thinking's tokens, from its length: its text is not kept."""
        return -(-self.thinking_chars // CHARS_PER_TOKEN)

    @property
    def recorded_kind(self) -> str:
        """A model the user named stays the user's choice in `costs`; any other is 'recovered',
        counted with the router's turns."""
        return self.route_kind if self.route_kind in CHOSEN_KINDS else "recovered"

    def rough_record(self) -> TurnRecord:
        """Characters / 4 for the tokens, cost unknown: what the store can say on its own. A
        client that knows prices passes Store.open a pricer that does better."""
        n_out = -(-len(self.text) // CHARS_PER_TOKEN) + self.thinking_tokens
        if self.reported_input is not None:
            r = self.reported_input
            return self.record(input_tokens=r.input, output_tokens=n_out, cost_usd=None, cached_tokens=r.cached,
                               cache_write_tokens=r.cache_write)
        n_in = sum(len(content) for _, content in self.request) + len(self.system or "")
        return self.record(input_tokens=-(-n_in // CHARS_PER_TOKEN), output_tokens=n_out, cost_usd=None)

    def record(self, *, input_tokens: int, output_tokens: int, cost_usd: float | None,
               provider: str | None = None, price_as_of: str | None = None, price_source: str | None = None,
               cached_tokens: int = 0, cache_write_tokens: int = 0) -> TurnRecord:
        return TurnRecord(
            conversation_id=self.conversation_id, message_id=self.message_id, model=self.model,
            provider=provider or self.model.split("/", 1)[0], route_kind=self.recorded_kind,
            route={"reason": "recovered at the next open: the process stopped while the reply streamed"},
            input_tokens=input_tokens, output_tokens=output_tokens, usage_estimated=True, cost_usd=cost_usd,
            cached_tokens=cached_tokens, cache_write_tokens=cache_write_tokens,
            price_as_of=price_as_of, price_source=price_source, status="interrupted",
            error=f"{self.model}: {RECOVERED_ERROR}",
            created_at=self.ended_at,
        )


class UsageRow(NamedTuple):
    """One turn's usage, for baseline ("what if everything ran on model X") arithmetic."""

    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    cost_usd: float | None
    route_kind: str
    cache_status: str
    created_at: str


@dataclass
class Preference:
    """A signal for the router: the user preferred `chosen_model` over `rejected_models`."""

    id: str
    kind: str  # override | regenerate | compare_pick | cache_false_hit
    chosen_model: str | None
    rejected_models: list[str]
    prompt: str | None
    conversation_id: str | None
    message_id: str | None
    embedding: bytes | None
    created_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Preference:
        rejected = row["rejected_models"]
        return cls(
            id=row["id"],
            kind=row["kind"],
            chosen_model=row["chosen_model"],
            rejected_models=json.loads(rejected) if rejected else [],
            prompt=row["prompt"],
            conversation_id=row["conversation_id"],
            message_id=row["message_id"],
            embedding=row["embedding"],
            created_at=row["created_at"],
        )
