from __future__ import annotations

import time

import pytest

from chatroute.store import Store, StoreError, TurnRecord, new_id


def test_ids_sort_by_creation() -> None:
    ids = [new_id() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 for i in ids)


def test_conversation_crud(store: Store) -> None:
    a = store.create_conversation("first", system_prompt="be brief")
    time.sleep(0.002)
    b = store.create_conversation()
    assert [c.id for c in store.list_conversations()] == [b.id, a.id]  # newest activity first
    got = store.get_conversation(a.id)
    assert got is not None and got.title == "first" and got.system_prompt == "be brief"
    assert got.cache_enabled is True and got.pinned_model is None and got.archived is False
    assert got.created_at.endswith("Z")

    time.sleep(0.002)
    store.rename_conversation(a.id, "renamed")
    store.set_pin(a.id, "anthropic/claude-3-5-haiku")
    store.set_cache_enabled(a.id, False)
    got = store.get_conversation(a.id)
    assert got is not None
    assert (got.title, got.pinned_model, got.cache_enabled) == ("renamed", "anthropic/claude-3-5-haiku", False)
    assert [c.id for c in store.list_conversations()][0] == a.id  # bumped by the update

    store.set_pin(a.id, None)
    assert store.get_conversation(a.id).pinned_model is None  # type: ignore[union-attr]

    store.set_archived(b.id)
    assert [c.id for c in store.list_conversations()] == [a.id]
    assert len(store.list_conversations(include_archived=True)) == 2

    with pytest.raises(StoreError):
        store.rename_conversation("nope", "x")
    assert store.get_conversation("nope") is None


def test_pin_survives_reopen(db_path) -> None:  # type: ignore[no-untyped-def]
    with Store.open(db_path) as s:
        c = s.create_conversation("p")
        s.set_pin(c.id, "openai/gpt-4o-mini")
    with Store.open(db_path) as s:
        assert s.get_conversation(c.id).pinned_model == "openai/gpt-4o-mini"  # type: ignore[union-attr]


def test_delete_cascades_but_keeps_spend(store: Store) -> None:
    c = store.create_conversation("doomed")
    u = store.add_message(c.id, "user", "secret plans")
    a = store.add_message(c.id, "assistant", "", u.id, status="streaming")
    rec = TurnRecord(conversation_id=c.id, message_id=a.id, model="m", provider="p", cost_usd=0.5)
    store.finish_turn(a.id, "the plans", "complete", rec)
    store.add_preference("override", "m", ["n"], "secret plans", conversation_id=c.id)
    other = store.create_conversation("other")
    store.add_message(other.id, "user", "unrelated")

    assert store.delete_conversation(c.id) is True
    assert store.get_conversation(c.id) is None
    assert store.get_message(u.id) is None and store.get_message(a.id) is None
    assert store.search("plans") == []
    assert store.preferences() == []
    # The money was spent: the turn stays, detached from the deleted conversation.
    t = store.get_turn(rec.id)
    assert t is not None and t.conversation_id is None and t.message_id is None
    assert store.spend_totals().cost_usd == pytest.approx(0.5)
    rows = store.spend("conversation")
    assert [(r.key, r.label) for r in rows] == [(None, "(deleted)")]
    assert len(store.history(other.id)) == 1
    assert store.delete_conversation(c.id) is False
    assert store.integrity_check() == "ok"


def test_message_in_wrong_conversation_is_refused(store: Store) -> None:
    a = store.create_conversation()
    b = store.create_conversation()
    m = store.add_message(a.id, "user", "hi")
    with pytest.raises(StoreError):
        store.add_message(b.id, "assistant", "x", m.id)


def test_turn_record_round_trip(store: Store) -> None:
    c = store.create_conversation()
    m = store.add_message(c.id, "assistant", "x")
    rec = TurnRecord(
        conversation_id=c.id,
        message_id=m.id,
        model="anthropic/claude-3-5-sonnet",
        provider="anthropic",
        route_kind="routed",
        route={"reason": "best utility", "candidates": [{"model": "a", "utility": 0.5}], "reroutes": []},
        cache_status="miss",
        cache_similarity=0.91,
        input_tokens=1200,
        output_tokens=300,
        cached_tokens=1000,
        cache_write_tokens=200,
        usage_estimated=True,
        cost_usd=0.0123,
        saved_usd=0.001,
        price_as_of="2025-01-01",
        route_ms=1.5,
        ttft_ms=320.0,
        total_ms=2100.0,
        tokens_per_s=55.5,
        status="ok",
        finish_reason="stop",
        created_at="2025-03-04T05:06:07+00:00",
    )
    store.add_turn(rec)
    got = store.get_turn(rec.id)
    assert got is not None
    assert got.created_at == "2025-03-04T05:06:07.000Z"  # normalised to the sortable form
    assert got == rec
    assert TurnRecord.from_row(rec.to_dict()) == rec
    assert store.turns(c.id) == [rec]
    assert store.turn_for_message(m.id) == rec


def test_error_text_is_redacted(store: Store) -> None:
    c = store.create_conversation()
    rec = TurnRecord(
        conversation_id=c.id, message_id=None, model="m", provider="p", status="error",
        error="401: Incorrect API key provided: sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234",
    )
    store.add_turn(rec)
    got = store.get_turn(rec.id)
    assert got is not None and got.error is not None
    assert "ABCDEFGHIJKLMNOP" not in got.error and "redacted" in got.error


def test_preferences(store: Store) -> None:
    c = store.create_conversation()
    p1 = store.add_preference("compare_pick", "a", ["b", "c"], "which is best?", conversation_id=c.id,
                              embedding=b"\x00\x01")
    p2 = store.add_preference("cache_false_hit", None, [], "prompt")
    assert [p.id for p in store.preferences()] == [p1.id, p2.id]
    got = store.preferences("compare_pick")
    assert len(got) == 1 and got[0].rejected_models == ["b", "c"] and got[0].embedding == b"\x00\x01"
    with pytest.raises(ValueError):
        store.add_preference("bogus", "a")


def test_conversations_read_in_pages_list_each_once_in_order(store: Store) -> None:
    """The sidebar reads a page at a time after the last one listed; conversations active in the
    same millisecond (a script, an import) are told apart by id, none skipped or listed twice."""
    ids = [store.create_conversation(f"c{i}").id for i in range(25)]
    with store.transaction() as c:
        c.execute("UPDATE conversations SET updated_at = '2026-01-01T00:00:00.000Z' WHERE title < 'c2'")
    whole = [c.id for c in store.list_conversations()]
    assert sorted(whole) == sorted(ids)
    paged: list[str] = []
    after = None
    while page := store.list_conversations(limit=4, after=after):
        paged += [c.id for c in page]
        after = (page[-1].updated_at, page[-1].id)
    assert paged == whole
