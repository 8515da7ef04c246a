"""Answers stored before thinking sent as `<think>…</think>` in the text was split off (803b49b)
keep that block at the start of their stored text. Read back, they are as a new answer is: the
block is neither shown nor sent back as history, and the stored row is left as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatroute.store import Store
from chatroute.store.ids import new_id, utc_now
from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import FakeServer, Reply

THOUGHT = "The user asks for the capital. It is Paris, I am sure."
OLD_ANSWER = f"<think>\n{THOUGHT}\n</think>\n\nParis."


def old_conversation(db: Path, answer: str = OLD_ANSWER) -> str:
    """A conversation whose one turn was stored the old way: its answer's row, written directly,
    holds the think block. Returns its id."""
    with Store.open(db) as store:
        conv = store.create_conversation("What is the capital of France?")
    now = utc_now()
    question, reply = new_id(), new_id()
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO messages (id, conversation_id, parent_id, role, content, model, status, active,"
                  " created_at, updated_at) VALUES (?, ?, NULL, 'user', ?, NULL, 'complete', 1, ?, ?)",
                  (question, conv.id, "What is the capital of France?", now, now))
        c.execute("INSERT INTO messages (id, conversation_id, parent_id, role, content, model, status, active,"
                  " created_at, updated_at) VALUES (?, ?, ?, 'assistant', ?, 'openai/gpt-4o-mini', 'complete', 1,"
                  " ?, ?)", (reply, conv.id, question, answer, now, now))
    return conv.id


def stored_answers(db: Path) -> list[str]:
    with sqlite3.connect(db) as c:
        return [r[0] for r in c.execute("SELECT content FROM messages WHERE role = 'assistant' ORDER BY seq")]


def test_an_old_answers_think_block_is_not_sent_back_as_history(capsys: pytest.CaptureFixture[str],
                                                                configured: FakeServer, chatroute_home: Path) -> None:
    db = chatroute_home / "chatroute.db"
    conversation_id = old_conversation(db)
    configured.script("gpt-4o-mini", Reply(text="About 2.1 million."))
    code, out = ask_json(capsys, "--no-cache", "-m", "openai/gpt-4o-mini", "-c", conversation_id, "Its population?")
    assert code == 0, out
    sent = [(m["role"], m["content"]) for m in configured.requests[-1].messages if m["role"] != "system"]
    assert sent == [("user", "What is the capital of France?"), ("assistant", "Paris."),
                    ("user", "Its population?")]
    assert stored_answers(db) == [OLD_ANSWER, "About 2.1 million."]  # the old row is kept as it was


def test_an_old_answer_that_is_only_thinking_is_sent_as_no_answer(capsys: pytest.CaptureFixture[str],
                                                                  configured: FakeServer,
                                                                  chatroute_home: Path) -> None:
    """A block never closed (cut at max tokens) leaves an empty answer, as it does live now."""
    conversation_id = old_conversation(chatroute_home / "chatroute.db", f"<think>\n{THOUGHT}")
    configured.script("gpt-4o-mini", Reply(text="Paris."))
    code, out = ask_json(capsys, "--no-cache", "-m", "openai/gpt-4o-mini", "-c", conversation_id, "And Spain's?")
    assert code == 0, out
    sent = [m["content"] for m in configured.requests[-1].messages if m["role"] != "system"]
    assert not any(THOUGHT in c for c in sent), sent


def test_an_old_answers_think_block_is_not_exported(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                    chatroute_home: Path) -> None:
    db = chatroute_home / "chatroute.db"
    conversation_id = old_conversation(db)
    with Store.open(db) as store:
        for fmt in ("markdown", "json"):
            body = store.export_conversation(conversation_id, fmt)  # type: ignore[arg-type]
            assert "Paris." in body and THOUGHT not in body and "<think>" not in body, body


def test_a_later_think_tag_in_an_old_answer_is_its_text(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                        chatroute_home: Path) -> None:
    """Only a block opening the answer is thinking, as in the live stream."""
    answer = "Models such as Qwen3 write <think>…</think> before their answer."
    conversation_id = old_conversation(chatroute_home / "chatroute.db", answer)
    configured.script("gpt-4o-mini", Reply(text="Yes."))
    code, _, err = run_cli(capsys, "ask", "--no-cache", "-m", "openai/gpt-4o-mini", "-c", conversation_id, "Really?")
    assert code == 0, err
    sent = [m["content"] for m in configured.requests[-1].messages if m["role"] == "assistant"]
    assert sent == [answer]


def test_an_old_cached_answer_with_its_think_block_is_not_served(capsys: pytest.CaptureFixture[str],
                                                                 configured: FakeServer,
                                                                 chatroute_home: Path) -> None:
    """The answer cache kept such answers too, and a hit served the block again as the answer.
    Such an entry is no longer served: the request goes to the model, whose answer replaces it."""
    configured.script("gpt-4o-mini", Reply(text="Paris."))
    code, _, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "What is the capital of France?")
    assert code == 0, err
    with sqlite3.connect(chatroute_home / "chatroute.db") as c:
        assert c.execute("UPDATE cache_entries SET text = ?", (OLD_ANSWER,)).rowcount == 1  # as stored then
    configured.script("gpt-4o-mini", Reply(text="Paris is the capital."))
    code, text, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "What is the capital of France?")
    assert code == 0, err
    assert text == "Paris is the capital.\n" and len(configured.requests) == 2, (text, err)
    code, text, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "What is the capital of France?")
    assert text == "Paris is the capital.\n" and "cache" in err and len(configured.requests) == 2, (text, err)


def test_a_search_hit_on_an_old_answer_quotes_none_of_its_think_block(configured: FakeServer,
                                                                     chatroute_home: Path) -> None:
    """The words of the block are still in the search index (the row is untouched), so a search
    for one still finds the answer, but the snippet shows the answer as the chat does."""
    db = chatroute_home / "chatroute.db"
    old_conversation(db)
    with Store.open(db) as store:
        snippets = {query: [h.snippet for h in store.search(query) if h.role == "assistant"]
                    for query in ("Paris", "sure")}
    assert snippets == {"Paris": ["[Paris]"], "sure": ["Paris"]}, snippets
