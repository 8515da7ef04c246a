"""Store.history_tail: the most recent whole turns of the shown branch that fit a budget, read
without loading the bodies of the rest."""

from __future__ import annotations

import re
from string import ascii_uppercase

from chatroute.store import Store

USER, ANSWER = "u" * 10, "a" * 30  # one turn weighs 40 characters


def _turns(store: Store, n: int, *, conversation: str | None = None, parent: str | None = None,
           tag: str = "") -> tuple[str, list[str]]:
    """`n` turns of USER and ANSWER (each lettered at its start, same length), ids in order. A
    letter, not a digit: the estimate weighs digits more (o200k cuts numbers small)."""
    conv = conversation or store.create_conversation().id
    ids: list[str] = []
    for i in range(n):
        label = f"{tag}{ascii_uppercase[i // 26]}{ascii_uppercase[i % 26]}"
        u = store.add_message(conv, "user", label.ljust(len(USER), "u"), parent)
        a = store.add_message(conv, "assistant", label.ljust(len(ANSWER), "a"), u.id, model=f"m/{tag}{i}")
        ids += [u.id, a.id]
        parent = a.id
    return conv, ids


def test_the_tail_is_the_latest_whole_turns_that_fit(store: Store) -> None:
    conv, ids = _turns(store, 6)
    whole = store.history_tail(conv)
    assert [m.id for m in whole.messages] == [m.id for m in store.history(conv)] == ids
    assert (whole.total_turns, whole.sent_turns, whole.leaf_id, whole.current_model) == (6, 6, ids[-1], "m/5")

    assert [m.id for m in store.history_tail(conv, 80).messages] == ids[-4:]  # two turns, exactly
    assert [m.id for m in store.history_tail(conv, 119).messages] == ids[-4:]
    assert [m.id for m in store.history_tail(conv, 120).messages] == ids[-6:]
    # 79 would take the last turn and the answer before it, but never half a turn.
    tail = store.history_tail(conv, 79)
    assert [m.id for m in tail.messages] == ids[-2:] and tail.messages[0].role == "user"
    # Framing per message counts too: a turn weighs 2 x 10 more.
    assert [m.id for m in store.history_tail(conv, 120, per_message_chars=10).messages] == ids[-4:]

    # Not even the last turn fits: nothing, but the branch is still known.
    empty = store.history_tail(conv, 39)
    assert empty.messages == [] and (empty.total_turns, empty.sent_turns) == (6, 0)
    assert empty.leaf_id == ids[-1] and empty.current_model == "m/5"


def test_messages_that_are_never_sent_weigh_nothing(store: Store) -> None:
    conv, ids = _turns(store, 2)
    failed = store.add_message(conv, "user", USER, ids[-1])
    error = store.add_message(conv, "assistant", "", failed.id, status="error")  # no text: never sent
    _, last = _turns(store, 1, conversation=conv, parent=error.id, tag="x")
    # With 5 characters of framing a message: the last turn weighs 50, and the failed turn
    # nothing: an empty answer is never sent, nor its question without it (half a turn).
    tail = store.history_tail(conv, 50, per_message_chars=5)
    assert [m.id for m in tail.messages] == last
    assert tail.total_turns == 3 and tail.current_model == "m/x0"
    tail = store.history_tail(conv, 100, per_message_chars=5)
    assert [m.id for m in tail.messages] == [*ids[-2:], *last] and tail.sent_turns == 2
    assert [m.id for m in store.history_tail(conv).messages] == [*ids, *last]


def test_only_the_shown_branch_of_a_regenerated_conversation(store: Store) -> None:
    conv, ids = _turns(store, 3)  # u0 a0 u1 a1 u2 a2
    # Regenerate a1: a sibling reply that becomes the shown one, and the talk goes on from it.
    again = store.add_message(conv, "assistant", "again".ljust(30, "a"), ids[2], model="m/again")
    _, after = _turns(store, 2, conversation=conv, parent=again.id, tag="n")

    tail = store.history_tail(conv)
    assert [m.id for m in tail.messages] == [*ids[:3], again.id, *after]
    assert tail.total_turns == 4 and tail.current_model == "m/n1"
    assert [m.id for m in store.history_tail(conv, 120).messages] == [ids[2], again.id, *after]

    # Back to the first reply: its own continuation is shown, the regenerated one is not.
    store.set_active(ids[3])
    tail = store.history_tail(conv, 80)
    assert [m.id for m in tail.messages] == ids[2:] and tail.leaf_id == ids[-1] and tail.current_model == "m/2"
    assert tail.total_turns == 3

    # `upto`: the ancestry of a message that is not shown (a regenerate of its answer sends it).
    hidden = store.history_tail(conv, upto=after[0])
    assert [m.id for m in hidden.messages] == [*ids[:3], again.id, after[0]]
    assert hidden.leaf_id == after[0] and hidden.current_model == "m/again" and hidden.total_turns == 3
    assert [m.id for m in store.history_tail(conv, 50, upto=after[0]).messages] == [ids[2], again.id, after[0]]
    # A message of another conversation is no branch of this one.
    other, _ = _turns(store, 1)
    assert store.history_tail(other, upto=after[0]).messages == []


def test_only_the_bodies_of_the_tail_are_read(store: Store) -> None:
    conv, ids = _turns(store, 300)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        tail = store.history_tail(conv, 120)
    finally:
        store.conn.set_trace_callback(None)
    assert [m.id for m in tail.messages] == ids[-6:]
    # Every statement that reads message text, other than its length (in characters or bytes,
    # none when it is blank), names only tail ids.
    lengths = (r"CASE WHEN (m\.)?content GLOB '[^']*' THEN length\((m\.)?content\) ELSE 0 END"
               r"|length\((m\.)?content\)|length\(CAST\((m\.)?content AS BLOB\)\)")
    reads_text = [s for s in statements if "content" in re.sub(lengths, "", s)]
    assert reads_text, statements
    named = {i for s in reads_text for i in re.findall(r"'([0-9a-f]{32})'", s)}
    assert named == set(ids[-6:])
