"""The history window: which earlier turns of a conversation one turn sends.

The budget is the roomiest context window the turn could go to, after the system prompt, the
prompt and the answer the router expects (capped by [chat] max_history_tokens); the window is
the branch's latest whole turns that fit it. Older turns stay in the store and on screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from chatroute.engine.route import window_targets
from chatroute.format import short_model
from chatroute.providers.base import Message
from chatroute.providers.think_tags import stored_answer
from chatroute.store.branch import text_chars, unanswered

if TYPE_CHECKING:
    from chatroute.catalog import ModelInfo
    from chatroute.engine.core import Engine
    from chatroute.routing.policy import RouteDecision
    from chatroute.store.records import StoredMessage


@dataclass(frozen=True)
class HistoryWindow:
    """The history one turn sends: the most recent whole turns that fit its budget. Older
    turns stay in the store and on screen; the request and the cache key see only these."""

    messages: list[Message] = field(default_factory=list)
    total_turns: int = 0  # earlier turns on the branch, sent or not
    budget_tokens: int = 0
    limited_by: str | None = None  # the model whose context window set the budget, when the cap did not
    leaf_id: str | None = None  # the branch's last message: the parent of the new prompt
    current_model: str | None = None  # the model of the branch's latest answer, sent or not

    @property
    def sent_turns(self) -> int:
        return sum(1 for m in self.messages if m.role == "user")

    @property
    def note(self) -> str | None:
        """For the decision's notes when turns were left out: the why panel and --json show them."""
        if self.sent_turns >= self.total_turns:
            return None
        why = f"history budget {self.budget_tokens:,} tokens"
        if self.limited_by:
            why += f": what the context window of {short_model(self.limited_by)} leaves"
        if not self.sent_turns:
            return f"sent none of the {self.total_turns:,} earlier turns ({why})"
        return f"sent the last {self.sent_turns:,} of {self.total_turns:,} turns ({why})"


def history_messages(history: list[StoredMessage]) -> list[Message]:
    # An answer stored before thinking in `<think>` tags was split off is read as a new one
    # (stored_answer); one that was only such a block is no answer, and its question is not
    # sent without one (two questions in a row), as history_tail leaves out any empty answer.
    sent = [(m.role, stored_answer(m.role, m.content)) for m in history
            if m.role in ("user", "assistant") and m.content]
    skipped = unanswered([(role, text_chars(text)) for role, text in sent])
    return [Message(role=role, content=text)  # type: ignore[arg-type]
            for i, (role, text) in enumerate(sent) if i not in skipped and text]


def regenerated_question(engine: Engine, message_id: str) -> StoredMessage | None:
    """The user message an answer replied to (what a regenerate asks again), or None."""
    old = engine.store.get_message(message_id)
    user = engine.store.get_message(old.parent_id) if old is not None and old.parent_id else None
    return user if user is not None and user.role == "user" else None


def history_window(engine: Engine, conversation_id: str | None, prompt: str, *, system: str | None,
                   pin: str | None, override: str | None, upto: str | None = None,
                   budget: tuple[int, str | None] | None = None) -> HistoryWindow:
    """What of the conversation this turn sends (see HistoryWindow). `upto`: the branch
    ends at that message instead of the shown leaf (a regenerate). `budget`: as
    history_budget gives it, when the caller has it already. Reads the bodies of the
    sent turns only, so its cost follows the budget, not the conversation's length."""
    if conversation_id is None:
        return HistoryWindow()
    tokens, limited_by = budget or history_budget(engine, prompt, system=system, pin=pin, override=override)
    max_chars, per_message = budget_chars(tokens)
    tail = engine.store.history_tail(conversation_id, max_chars, per_message_chars=per_message, upto=upto)
    return HistoryWindow(messages=history_messages(tail.messages), total_turns=tail.total_turns,
                         budget_tokens=tokens, limited_by=limited_by, leaf_id=tail.leaf_id,
                         current_model=tail.current_model)


def window_for(engine: Engine, conversation_id: str | None, prompt: str, *, question: StoredMessage | None,
               system: str | None, pin: str | None, override: str | None) -> HistoryWindow:
    """The window of a new turn in the conversation, or of a regenerate of `question` (the
    branch then ends at the message before it)."""
    if question is not None:
        return history_window(engine, question.conversation_id if question.parent_id else None, prompt,
                              system=system, pin=pin, override=override, upto=question.parent_id)
    return history_window(engine, conversation_id, prompt, system=system, pin=pin, override=override)


def history_budget(engine: Engine, prompt: str, *, system: str | None, pin: str | None,
                   override: str | None) -> tuple[int, str | None]:
    """How many (estimated) tokens of history this turn may send, and the model whose
    context window set that, or None when the [chat] max_history_tokens cap did: the
    roomiest window the turn could go to (the pin's or override's own, else the pool's and
    the default's), after the system prompt, the prompt and the answer the router expects."""
    from chatroute.routing.policy import MIN_OUTPUT_TOKENS, estimate_input_tokens, expected_output_tokens_for

    cap = engine.config.chat.max_history_tokens
    targets = window_targets(engine, pin, override)
    if not targets:
        return cap, None
    fixed = estimate_input_tokens(prompt, (), system)
    answer = expected_output_tokens_for(prompt)

    def room(m: ModelInfo) -> int:
        # The same reserve as the router's size filter: the expected answer, capped at the
        # model's output limit; one token of slack absorbs the estimate's rounding.
        reserve = max(MIN_OUTPUT_TOKENS, min(answer, m.max_output_tokens or answer))
        return int(m.context_window or 0) - fixed - reserve - 1

    roomiest = max(targets, key=room)
    if room(roomiest) >= cap:
        return cap, None
    return max(0, room(roomiest)), roomiest.id


def budget_chars(tokens: int) -> tuple[float, float]:
    """A history budget of `tokens` as the store weighs a branch: (max_chars, per_message).
    Messages whose characters plus per_message each stay within max_chars are exactly those
    the router estimates at ceil(chars / 3.6) + 8 a message <= `tokens`, so the model the
    budget was made for never finds the trimmed input too large."""
    from chatroute.routing.policy import CHARS_PER_TOKEN, MESSAGE_FRAMING_TOKENS

    return tokens * CHARS_PER_TOKEN, MESSAGE_FRAMING_TOKENS * CHARS_PER_TOKEN


def narrowed(window: HistoryWindow, tokens: int, limited_by: str | None) -> HistoryWindow:
    """`window` cut further to a smaller budget, without reading the store again."""
    from chatroute.store.db import tail_start
    from chatroute.textsize import text_weight

    max_chars, per_message = budget_chars(tokens)
    start = tail_start([(m.role, text_weight(m.content)) for m in window.messages], max_chars, per_message)
    return replace(window, messages=window.messages[start:], budget_tokens=tokens, limited_by=limited_by)


def noted(decision: RouteDecision, window: HistoryWindow) -> RouteDecision:
    """The decision, saying which turns were left out of the request (if any were)."""
    note = window.note
    if note and note not in decision.notes:
        decision.notes.append(note)
    return decision
