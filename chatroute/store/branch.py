"""The shown branch of a message tree: walking it from the root, and the tail of it that
fits a request's budget (whole turns only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chatroute.store.records import StoredMessage


def walk(by_parent: dict[str | None, Any]) -> list[str | None]:
    """The parent keys of a branch, root first: None, then each node's id in turn. `by_parent`
    maps a parent id (None for the root) to its active child, as a row dict or a bare id."""
    keys: list[str | None] = []
    key: str | None = None
    seen: set[str] = set()
    while key in by_parent:
        keys.append(key)
        node = by_parent[key]
        key = node if isinstance(node, str) else node["id"]
        if key in seen:  # guards against a cycle
            break
        seen.add(key)
    return keys


# The roles a request carries; a message of another role, or an empty one, is never sent.
SENT_ROLES = ("user", "assistant")
# A message of nothing but these has no text: Anthropic refuses one ("text content blocks must
# contain non-whitespace text"), so it is empty as the history counts it.
BLANK = " \t\n\r\f\v"
# SQLite GLOB matching a text with something other than BLANK in it.
HAS_TEXT_GLOB = f"*[^{BLANK}]*"


def text_chars(text: str) -> int:
    """The characters of a message as the history counts them: none for one of only BLANK."""
    return len(text) if text.strip(BLANK) else 0


def unanswered(outline: Sequence[tuple[str, int]]) -> set[int]:
    """The turns of `outline` ((role, characters) per message, oldest first) whose answer has
    no text (text_chars 0), a failed turn or one stopped before its first token (or with only a
    blank line): the indices of the question and of its empty answer. Sent, such a question
    would be half a turn, two user messages in a row (the next model answers both, or sees it
    twice when the user asks it again)."""
    out: set[int] = set()
    for i in range(len(outline) - 1):  # the last message ends the branch: the caller's to judge
        if outline[i][0] != "user":
            continue
        role, chars = outline[i + 1]
        if role != "assistant":
            out.add(i)
        elif not chars:
            out.update((i, i + 1))
    return out


def tail_start(outline: Sequence[tuple[str, float]], max_chars: float | None, per_message_chars: float = 0.0) -> int:
    """Where the longest tail of whole turns that weighs at most `max_chars` begins, in
    `outline` ((role, characters, or their weight) per message of a branch, oldest first): 0 when all of it
    fits, else the index of a user message (a turn is never cut in half, so the request never
    opens on an answer without its question), or len(outline) when not even the last turn
    fits. A sent message weighs its characters plus `per_message_chars` (the framing a
    token estimate adds per message); one that is never sent weighs nothing."""
    if max_chars is None:
        return 0
    used = 0.0
    start = len(outline)
    for i in range(len(outline) - 1, -1, -1):
        role, chars = outline[i]
        if chars and role in SENT_ROLES:
            used += chars + per_message_chars
            if used > max_chars:
                return start
        if role == "user":
            start = i
    return 0


@dataclass(frozen=True)
class HistoryTail:
    """The end of a branch that fits a budget (see Store.history_tail), and what a turn needs
    to know about the rest of it without reading it."""

    messages: list[StoredMessage]  # the tail, oldest first: whole turns only
    total_turns: int  # user messages on the whole branch
    leaf_id: str | None  # the branch's last message: the parent of the next one
    current_model: str | None  # the model of the branch's latest answer that has one

    @property
    def sent_turns(self) -> int:
        return sum(1 for m in self.messages if m.role == "user" and m.content)
