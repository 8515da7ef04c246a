from __future__ import annotations

import pytest

from chatroute.store import Store
from chatroute.store.search import fts_query


@pytest.fixture
def filled(store: Store) -> Store:
    c1 = store.create_conversation("Rust questions")
    c2 = store.create_conversation("Cooking")
    u = store.add_message(c1.id, "user", "How do I borrow a value mutably in Rust?")
    store.add_message(c1.id, "assistant", "Use &mut to borrow mutably; the borrow checker enforces AND rules.", u.id,
                      model="m1")
    v = store.add_message(c2.id, "user", "Crème brûlée recipe, s'il vous plaît")
    store.add_message(c2.id, "assistant", "Caramelise the sugar with a torch. 日本語 テキスト also works.", v.id,
                      model="m2")
    store.add_message(c2.id, "user", 'She said "hello*world" (NEAR) OR NOT: col^umn', v.id)
    return store


def test_search_finds_words_with_snippet_and_title(filled: Store) -> None:
    hits = filled.search("borrow")
    assert len(hits) == 2
    assert {h.conversation_title for h in hits} == {"Rust questions"}
    assert all("[borrow]" in h.snippet for h in hits)
    assert {h.role for h in hits} == {"user", "assistant"}


def test_search_is_prefix_on_last_word_and_stems(filled: Store) -> None:
    assert len(filled.search("borr")) == 2
    assert len(filled.search("caramelised")) == 1  # porter stemming


@pytest.mark.parametrize(
    "query",
    ['"', '""', "'", "AND", "OR", "NOT", "NEAR", "*", "a*b", "^", ":", "(", ")", "col:umn", "-", "+", "\\",
     'borrow"', '"borrow', "borrow AND", "AND borrow", "borrow OR *", "NEAR(borrow mut)", "{x}", "\x00", "", "   ",
     "🙂", "日本語", "crème", "creme", "ÉCLAIR", "a" * 2000, "%_", "x' OR 1=1 --"],
)
def test_tricky_input_never_raises(filled: Store, query: str) -> None:
    hits = filled.search(query)
    assert isinstance(hits, list)


def test_operators_are_plain_words(filled: Store) -> None:
    # "AND" is searched as the word 'and', not an operator.
    assert [h.conversation_title for h in filled.search("AND")] == ["Rust questions"]
    assert len(filled.search('"hello*world"')) == 1
    assert len(filled.search("NEAR OR NOT")) == 1
    assert filled.search('"') == []


def test_unicode_and_diacritics(filled: Store) -> None:
    assert len(filled.search("crème")) == 1
    assert len(filled.search("creme brulee")) == 1  # diacritics folded
    assert len(filled.search("日本語")) == 1


def test_search_limit_and_conversation_filter(store: Store) -> None:
    a = store.create_conversation("A")
    b = store.create_conversation("B")
    for i in range(20):
        store.add_message(a.id, "user", f"needle {i}")
        store.add_message(b.id, "user", f"needle {i}")
    assert len(store.search("needle", limit=5)) == 5
    hits = store.search("needle", limit=100, conversation_id=b.id)
    assert len(hits) == 20 and {h.conversation_id for h in hits} == {b.id}


def test_fts_query_escaping() -> None:
    assert fts_query('say "hi" AND *') == '"say" "hi" "AND"*'
    assert fts_query("***") is None
    assert fts_query("x", prefix_last=False) == '"x"'


def test_rename_and_edit_keep_index_in_sync(store: Store) -> None:
    c = store.create_conversation("old title")
    m = store.add_message(c.id, "user", "alpha")
    store.update_message_text(m.id, "beta", "complete")
    assert store.search("alpha") == []
    assert [h.message_id for h in store.search("beta")] == [m.id]
    store.rename_conversation(c.id, "new title")
    assert store.search("beta")[0].conversation_title == "new title"
    assert store.integrity_check() == "ok"


def test_index_stays_consistent_through_every_transition(store: Store) -> None:
    c = store.create_conversation()
    u = store.add_message(c.id, "user", "zebra question")
    a = store.add_message(c.id, "assistant", "", u.id, status="streaming")
    for text in ("zeb", "zebra ans", "zebra answer partial"):
        store.update_message_text(a.id, text)
    assert store.integrity_check() == "ok"
    store.finish_turn(a.id, "zebra answer final", "error")
    store.update_message_text(a.id, "edited zebra", "complete")
    store.update_message_text(a.id, "streaming again", "streaming")
    store.update_message_text(a.id, "interrupted zebra", "interrupted")
    s = store.add_message(c.id, "assistant", "never finished zebra", u.id, status="streaming")
    store.set_active(a.id)  # touches only the active flag: no index work
    assert store.integrity_check() == "ok"
    assert {h.message_id for h in store.search("zebra")} == {u.id, a.id, s.id}
    store.delete_conversation(c.id)
    assert store.integrity_check() == "ok"
    assert store.search("zebra") == [] and store.get_message(s.id) is None


def test_snippets_highlight_and_cut() -> None:
    from chatroute.store.search import make_snippet

    text = (" ".join(f"w{i}" for i in range(100)) + " the Borrowed value\nis moved "
            + " ".join(f"x{i}" for i in range(100)))
    snip = make_snippet(text, ["borrow", "valu"])
    assert "[Borrowed] [value]" in snip
    assert snip.startswith("…") and snip.endswith("…")
    assert "\n" not in snip
    assert make_snippet("Crème brûlée", ["creme"]) == "[Crème] brûlée"
    assert make_snippet("short text", ["zzz"]) == "short text"


def test_turns_without_route(store: Store) -> None:
    from chatroute.store import TurnRecord

    c = store.create_conversation()
    store.add_turn(TurnRecord(conversation_id=c.id, message_id=None, model="m", provider="p", route={"reason": "r"}))
    assert store.turns(c.id)[0].route == {"reason": "r"}
    light = store.turns(c.id, include_route=False)[0]
    assert light.route == {} and light.model == "m"
