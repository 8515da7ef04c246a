from __future__ import annotations

import json

import pytest

from chatroute.store import Store, StoreError, TurnRecord


def _conv(store: Store) -> str:
    c = store.create_conversation("Export me", system_prompt="Be terse.")
    u = store.add_message(c.id, "user", "What is 2+2?")
    a = store.add_message(c.id, "assistant", "", u.id, status="streaming")
    store.finish_turn(
        a.id, "**4**", "complete",
        TurnRecord(conversation_id=c.id, message_id=a.id, model="openai/gpt-4o-mini", provider="openai",
                   input_tokens=12, output_tokens=3, cost_usd=0.000123, ttft_ms=250.0, total_ms=1250.0,
                   tokens_per_s=42.0, route_kind="routed", route={"reason": "cheap and good"}),
    )
    b = store.add_message(c.id, "assistant", "", u.id, status="streaming")
    store.finish_turn(
        b.id, "Four.", "complete",
        TurnRecord(conversation_id=c.id, message_id=b.id, model="local/llama", provider="local",
                   input_tokens=12, output_tokens=2, cost_usd=None, ttft_ms=40.0, total_ms=90.0),
    )
    return c.id


def test_markdown_export(store: Store) -> None:
    md = store.export_conversation(_conv(store), "markdown")
    assert md.startswith("# Export me")
    assert "Be terse." in md and "What is 2+2?" in md and "Four." in md
    assert "local/llama · n/a · ttft 40 ms · total 90 ms" in md
    assert "**4**" not in md  # the alternative (inactive sibling) is not on the shown branch
    assert "unknown price" in md


def test_json_export(store: Store) -> None:
    doc = json.loads(store.export_conversation(_conv(store), "json"))
    assert doc["conversation"]["title"] == "Export me"
    msgs = doc["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    turn = msgs[1]["turn"]
    assert turn["model"] == "local/llama" and turn["cost_usd"] is None and turn["ttft_ms"] == 40.0
    assert [a["content"] for a in doc["alternatives"]] == ["**4**"]
    assert doc["alternatives"][0]["turn"]["route"]["reason"] == "cheap and good"
    assert doc["totals"]["turns"] == 2 and doc["totals"]["cost_usd"] == pytest.approx(0.000123)
    assert doc["totals"]["unknown_cost_turns"] == 1


def test_export_errors(store: Store) -> None:
    with pytest.raises(StoreError):
        store.export_conversation("missing")
    c = store.create_conversation()
    with pytest.raises(ValueError):
        store.export_conversation(c.id, "pdf")  # type: ignore[arg-type]
    assert store.export_conversation(c.id).startswith("# Untitled")


def test_markdown_total_counts_every_billed_answer_as_the_json_does(store: Store) -> None:
    """An answer regenerated or compared away from the shown branch was paid for: the Markdown's
    total left it out while the JSON's, `costs` and the ledger counted it."""
    cid = _conv(store)
    doc = json.loads(store.export_conversation(cid, "json"))
    md = store.export_conversation(cid, "markdown")
    assert doc["totals"]["cost_usd"] == pytest.approx(0.000123)
    assert md.rstrip().endswith("Total cost: $0.00012, 1 of its 2 answers not shown above (on other branches: "
                                "regenerated, compared or after those; the JSON export has them under "
                                "alternatives) (+ 1 turn with unknown price)")


def test_an_answer_exported_while_it_streams_says_it_is_incomplete(store: Store) -> None:
    c = store.create_conversation("Streaming")
    u = store.add_message(c.id, "user", "Tell me a long story.")
    store.add_message(c.id, "assistant", "Once upon a", u.id, status="streaming")
    md = store.export_conversation(c.id, "markdown")
    assert "Once upon a\n\n_(still streaming when exported: incomplete)_" in md


def _answer(store: Store, cid: str, parent: str, text: str, cost: float, model: str = "openai/gpt-4o-mini") -> str:
    a = store.add_message(cid, "assistant", "", parent, status="streaming")
    store.finish_turn(a.id, text, "complete",
                      TurnRecord(conversation_id=cid, message_id=a.id, model=model, provider="openai",
                                 input_tokens=10, output_tokens=5, cost_usd=cost))
    return a.id


def test_the_json_export_keeps_the_later_turns_of_a_branch_left_by_a_regenerate(store: Store) -> None:
    """g on the first answer of a two-turn conversation starts a branch: the JSON export's
    alternatives held the first answer replaced, but the second question and its answer (on the
    branch left) were in neither list, though the totals counted their cost."""
    c = store.create_conversation("Branches")
    q1 = store.add_message(c.id, "user", "First question")
    a1 = _answer(store, c.id, q1.id, "First answer", 0.001)
    q2 = store.add_message(c.id, "user", "Second question", a1)
    _answer(store, c.id, q2.id, "Second answer", 0.002)
    _answer(store, c.id, q1.id, "First answer, regenerated", 0.004)  # the shown branch now
    doc = json.loads(store.export_conversation(c.id, "json"))
    assert [m["content"] for m in doc["messages"]] == ["First question", "First answer, regenerated"]
    assert [m["content"] for m in doc["alternatives"]] == ["First answer", "Second question", "Second answer"]
    assert doc["totals"]["cost_usd"] == pytest.approx(0.007)


def test_exports_count_a_billed_attempt_a_turn_failed_over_from(store: Store) -> None:
    """A routed turn whose first model streamed thinking, then broke, and was answered by another
    keeps two turn records on one answer: `costs` counts both, the exports counted the last."""
    c = store.create_conversation("Failed over")
    q = store.add_message(c.id, "user", "Prove it")
    a = store.add_message(c.id, "assistant", "", q.id, status="streaming")
    store.add_turn(TurnRecord(conversation_id=c.id, message_id=a.id, model="anthropic/claude-haiku-4-5",
                              provider="anthropic", input_tokens=5000, output_tokens=900, cost_usd=0.0095,
                              status="error"))
    store.finish_turn(a.id, "Euclid.", "complete",
                      TurnRecord(conversation_id=c.id, message_id=a.id, model="openai/gpt-4o", provider="openai",
                                 input_tokens=20, output_tokens=9, cost_usd=0.0005))
    doc = json.loads(store.export_conversation(c.id, "json"))
    assert doc["totals"]["turns"] == 2 and doc["totals"]["cost_usd"] == pytest.approx(0.01)
    assert doc["messages"][1]["turn"]["model"] == "openai/gpt-4o"  # the answer's own record
    md = store.export_conversation(c.id, "markdown")
    assert "Total cost: $0.01\n" in md and "openai/gpt-4o · $0.0005 ·" in md


def test_export_totals_mark_the_estimated_part_as_costs_does(store: Store) -> None:
    """An answer stopped mid-stream is priced from estimated usage: `costs` and the costs screen
    write the total '≈$0.0081' and count the estimated turns; the exports said '$0.0081' flat."""
    c = store.create_conversation("Stopped")
    q = store.add_message(c.id, "user", "Write an essay")
    a = store.add_message(c.id, "assistant", "", q.id, status="streaming")
    store.finish_turn(a.id, "It was", "interrupted",
                      TurnRecord(conversation_id=c.id, message_id=a.id, model="openai/gpt-4o", provider="openai",
                                 input_tokens=47, output_tokens=315, cost_usd=0.0032675, status="interrupted",
                                 usage_estimated=True))
    q2 = store.add_message(c.id, "user", "Shorter", a.id)
    b = store.add_message(c.id, "assistant", "", q2.id, status="streaming")
    store.finish_turn(b.id, "Fine.", "complete",
                      TurnRecord(conversation_id=c.id, message_id=b.id, model="openai/gpt-4o-mini",
                                 provider="openai", input_tokens=3000, output_tokens=700, cost_usd=0.00087))
    totals = json.loads(store.export_conversation(c.id, "json"))["totals"]
    assert totals["estimated_turns"] == 1 and totals["estimated_cost_usd"] == pytest.approx(0.0032675)
    md = store.export_conversation(c.id, "markdown")
    assert "Total cost: ≈$0.0041 (≈ includes 1 turn, $0.0033, whose usage was estimated)" in md, md


def test_the_markdown_names_an_attempt_billed_before_a_reroute(store: Store) -> None:
    """The total counts the attempt a routed turn failed over from (it streamed thinking, then
    broke), but no line said what it was: the answers' badges added up to less than the total.
    The reroute line the chat shows above the answer is under it in the export too."""
    c = store.create_conversation("Failed over")
    q = store.add_message(c.id, "user", "Prove it")
    a = store.add_message(c.id, "assistant", "", q.id, status="streaming")
    failed = TurnRecord(conversation_id=c.id, message_id=a.id, model="openai/gpt-4o-mini", provider="openai",
                        input_tokens=14, output_tokens=10, cost_usd=0.0000081, status="error", usage_estimated=True)
    store.add_turn(failed)
    reroute = {"from": "openai/gpt-4o-mini", "error": "connection", "kind": "connection",
               "to": "anthropic/claude-haiku-4-5", "cost_usd": 0.0000081, "turn_id": failed.id, "estimated": True}
    store.finish_turn(a.id, "Euclid.", "complete",
                      TurnRecord(conversation_id=c.id, message_id=a.id, model="anthropic/claude-haiku-4-5",
                                 provider="anthropic", input_tokens=1000, output_tokens=500, cost_usd=0.0035,
                                 route={"reroutes": [reroute]}))
    md = store.export_conversation(c.id, "markdown")
    assert "gpt-4o-mini connection (billed ≈$0.0000081) → claude-haiku-4-5" in md, md
    assert "Total cost: ≈$0.0035\n" not in md and "Total cost: ≈$0.0035 " in md


@pytest.mark.parametrize(("text", "closed"), [
    ("```py\nx = 1", "```py\nx = 1\n```"),
    ("~~~~\ncode\n```", "~~~~\ncode\n```\n~~~~"),  # a shorter or other fence does not close it
    ("Run:\n\n  ````sh\nls\n", "Run:\n\n  ````sh\nls\n````"),
    ("```\ncode\n```", "```\ncode\n```"),  # closed already: left as it is
    ("```\n```", "```\n```"),
    ("- ```\n  code", "- ```\n  code"),  # in a list: the next line outside it closes it
    ("no code here", "no code here"),
])
def test_a_code_block_an_answer_leaves_open_is_closed_where_it_ends(text: str, closed: str) -> None:
    from chatroute.markdown_breaks import closed_fences

    assert closed_fences(text) == closed


def test_the_json_export_keeps_a_first_turn_asked_at_once_with_another(store: Store) -> None:
    """Two first turns asked at once in a conversation made empty (a pin, then `ask -c ID` twice):
    two questions with no parent, the later one shown. The JSON export's alternatives left the
    other out (it looked for siblings of every message but the first), though the totals counted
    its cost."""
    c = store.create_conversation(None, pinned_model="openai/gpt-4o-mini")
    q1 = store.add_message(c.id, "user", "Count to three")
    q2 = store.add_message(c.id, "user", "Capital of France?")  # asked while the first was answered
    _answer(store, c.id, q2.id, "Paris.", 0.001)
    _answer(store, c.id, q1.id, "One, two, three.", 0.002)
    doc = json.loads(store.export_conversation(c.id, "json"))
    assert [m["content"] for m in doc["messages"]] == ["Capital of France?", "Paris."]
    assert [m["content"] for m in doc["alternatives"]] == ["Count to three", "One, two, three."]
    assert doc["totals"]["cost_usd"] == pytest.approx(0.003)
