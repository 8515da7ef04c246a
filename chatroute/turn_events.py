"""Events the engine emits while it runs one turn; every client (TUI, CLI) renders these.

They are plain data so the core stays free of any UI toolkit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatroute.store.records import TurnRecord


@dataclass(frozen=True)
class TurnStarted:
    conversation_id: str
    user_message_id: str
    assistant_message_id: str
    # The prompt as stored and sent: without an `@model ` prefix, which chose the model.
    prompt: str | None = None


@dataclass(frozen=True)
class Routed:
    """The router's choice (or the pin/override/default that decided)."""

    model: str
    kind: str  # routed | pinned | override | default | cache
    reason: str
    decision: dict[str, Any]


@dataclass(frozen=True)
class Rerouted:
    """A failure before the first token moved the turn to another model."""

    from_model: str
    error: str  # short label, e.g. "429" or "timeout"
    to_model: str
    message: str  # one line for the user: "gpt-4o-mini 429 → claude-3-5-haiku"


@dataclass(frozen=True)
class CacheHit:
    similarity: float
    tier: str  # exact | semantic
    source_turn_id: str | None
    lookup_ms: float


@dataclass(frozen=True)
class Thinking:
    """The model began to think (streamed reasoning, or a `<think>` block opening its text): no
    answer text comes until it is done, which can take a minute. Once per attempt, never its
    text: thinking is not shown."""


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class TurnFinished:
    """The turn ended; `record.status` says ok, interrupted or error. Nothing is lost: the
    partial text, if any, is in `text` and in the store."""

    record: TurnRecord
    text: str
    error: str | None = None  # one line, shown inline with a retry action
    retryable: bool = False
    # What kind of failure `error` is (providers.base.ErrorKind's value), for a client's advice.
    error_kind: str | None = None
    # Why the answer could not be saved (a full disk): it was streamed, and `text` is the only
    # copy. None when it is in the store.
    not_saved: str | None = None


TurnEvent = TurnStarted | Routed | Rerouted | CacheHit | Thinking | Delta | TurnFinished
