"""The answer cache in the TUI, through the real Engine, Store, embedder and cache,
with the official SDKs talking to the fake provider server. A hit is proven by the server
*not* receiving a request, a miss by it receiving one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.pilot import Pilot

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.badge import Badge
from chatroute.tui.widgets.message import AssistantMessage
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import (
    answer_question,
    assistants,
    badge,
    run_palette_command,
    settle,
    subtitle,
    type_and_send,
    until,
)

SIZE = (120, 40)
# Pairs from tests/data/cache_pairs.jsonl (also used by tests/engine/test_cache_cli.py).
CACHED = "How do I center a div in CSS?"
PARAPHRASE = "How can I center a div using CSS?"  # labelled paraphrase / hit
NEG_CACHED = "Which foods are safe for dogs?"
NEGATED = "Which foods are not safe for dogs?"  # labelled negation / must not hit


async def _ask(pilot: Pilot, server: FakeServer, prompt: str, *, new: bool = True) -> tuple[AssistantMessage, int]:
    """Send `prompt` (in a new conversation: the cache is scoped to the history) and return
    the answer's widget and how many requests reached the server for it. The server echoes
    the prompt back, so a wrong hit would show another prompt's echo.

    It waits for what each key does, not for a number of frames: a key pressed after Ctrl+N or
    Ctrl+R waits in the app's key gate (chatroute/tui/key_gate.py) until the app has settled,
    which on a loaded machine was after settle() returned, and the Enter not yet read counted
    as an answer that sent nothing (from the cache)."""
    app = pilot.app
    if new:
        await pilot.press("ctrl+n")
        await until(pilot, lambda: app.screen.conversation_id is None and not assistants(app), "a new conversation")
    before, answers = len(server.requests), len(assistants(app))
    await type_and_send(pilot, prompt)
    await until(pilot, lambda: len(assistants(app)) > answers and assistants(app)[-1].record is not None,
                f"the answer to {prompt!r}", timeout=30)
    await settle(pilot, app)
    return assistants(app)[-1], len(server.requests) - before


def _entry(home: Path, source_turn: str) -> tuple[int, int]:
    """(penalties, count) of the cache entries stored for that turn, read from the DB file."""
    db = home / "chatroute.db" if (home / "chatroute.db").exists() else next(home.rglob("chatroute.db"))
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT penalties FROM cache_entries WHERE turn_id = ?", (source_turn,)).fetchall()
    return (rows[0][0] if rows else -1), len(rows)


async def test_repeat_and_paraphrase_hit_negation_misses(real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        first, sent = await _ask(pilot, fake_server, CACHED, new=False)
        assert sent == 1 and "(cache)" not in badge(first)
        source_conversation = app.screen.conversation_id

        repeat, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 0, "a repeat must be answered without calling a model"
        assert repeat.text == first.text
        line = badge(repeat)
        assert line.startswith(f"{first.model.split('/', 1)[1]} (cache) · ")
        assert "cached 1.00" in line and " · $0.00 · " in line and "lookup " in line and " ms" in line
        # The badge names where the answer came from.
        assert f"⟵ from ‹{CACHED}›, just now" in line
        assert app.screen.conversation_id != source_conversation

        para, sent = await _ask(pilot, fake_server, PARAPHRASE)
        assert sent == 0 and para.text == first.text
        assert "(cache)" in badge(para) and f"cached {para.record.cache_similarity:.2f}" in badge(para)
        assert 0.9 <= para.record.cache_similarity <= 1.0 and "semantic" in para.record.route["reason"]

        await _ask(pilot, fake_server, NEG_CACHED)
        neg, sent = await _ask(pilot, fake_server, NEGATED)
        assert sent == 1, "a negation must never be served the cached answer"
        assert neg.text.endswith(f": {NEGATED}") and "cached" not in badge(neg)

    turns = [t for c in real_engine.store.list_conversations() for t in real_engine.store.turns(c.id)]
    hits = [t for t in turns if t.cache_status == "hit"]
    assert len(hits) == 2 and all(t.route_kind == "cache" and t.cost_usd == 0 for t in hits)
    assert all(t.saved_usd and t.saved_usd > 0 for t in hits)  # savings are counted


async def test_a_hits_badge_says_what_it_saved(real_engine: Engine, fake_server: FakeServer) -> None:
    """A hit read '$0.00' and nothing of the saving: the ledger counted it, but only costs (F5) and
    cache stats showed it, summed. Now the badge says it too, ≈ as every cache saving is, and a
    narrow chat leaves it out before the cost."""
    from chatroute.money import usd

    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        fake_server.script(Reply(text="Use flexbox.", input_tokens=40, output_tokens=12))
        await _ask(pilot, fake_server, CACHED, new=False)
        hit, sent = await _ask(pilot, fake_server, PARAPHRASE)
        assert sent == 0 and hit.record is not None and hit.record.saved_usd
        line = badge(hit)
        assert f" · $0.00 · saved ≈{usd(hit.record.saved_usd)} · lookup " in line
        narrow = hit.query_one(Badge).fitted(60)
        assert "$0.00" in narrow and "saved" not in narrow


async def test_on_an_80_column_chat_a_hits_badge_keeps_its_cost(real_engine: Engine, fake_server: FakeServer) -> None:
    """The source, 'cached 1.00 ⟵ from ‹How can I improve my English sp…›, just now', was never left
    out, so at 80 columns the line ran past the edge and the cost was cut off. Now the source goes
    first (o still opens it), and what fits again comes back."""
    prompt = "How can I improve my English speaking skills quickly?"
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ask(pilot, fake_server, prompt, new=False)
        hit, sent = await _ask(pilot, fake_server, prompt)
        assert sent == 0
        shown = hit.query_one(Badge)
        width = shown.content_size.width
        line = shown.fitted(width)
        assert len(line) <= width < len(shown.text)
        assert line.startswith("gpt-4o-mini (cache) · cached 1.00 · $0.00 · saved ≈$"), line
        assert "⟵" in shown.text  # the whole line still names it


async def test_o_and_the_palette_go_to_the_source_turn(real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        source, _ = await _ask(pilot, fake_server, CACHED, new=False)
        source_conv, source_id = app.screen.conversation_id, source.message_id
        await _ask(pilot, fake_server, "And how do I center it vertically?", new=False)  # not the last turn
        hit, _ = await _ask(pilot, fake_server, CACHED)
        hit_conv = app.screen.conversation_id
        assert hit_conv != source_conv

        hit.focus()
        await pilot.press("o")
        await settle(pilot, app)
        assert app.screen.conversation_id == source_conv
        focused = app.screen.focused
        assert isinstance(focused, AssistantMessage) and focused.message_id == source_id
        chat = app.screen.query_one("#chat")
        assert chat.region.y <= focused.region.y < chat.region.bottom  # scrolled into view

        # Back to the hit; the same link from the command palette.
        await app.screen.open_conversation(hit_conv)
        await settle(pilot, app)
        assistants(app)[-1].focus()
        await run_palette_command(pilot, "go to cached")
        assert app.screen.conversation_id == source_conv
        assert getattr(app.screen.focused, "message_id", None) == source_id

        # A message that is not a hit: the key explains itself instead of doing something odd.
        assistants(app)[-1].focus()
        await pilot.press("o")
        await settle(pilot, app)
        assert app.screen.conversation_id == source_conv


async def test_source_deleted_is_said_plainly(real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await _ask(pilot, fake_server, CACHED, new=False)
        source_conv = app.screen.conversation_id
        hit, _ = await _ask(pilot, fake_server, CACHED)
        hit_conv = app.screen.conversation_id
        real_engine.store.delete_conversation(source_conv)
        hit.focus()
        await pilot.press("o")
        await settle(pilot, app)
        assert app.screen.conversation_id == hit_conv  # stayed put
        assert any("deleted" in n.message for n in app._notifications)


async def test_deleting_a_conversation_deletes_the_answers_cached_from_it(real_engine: Engine,
                                                                         fake_server: FakeServer) -> None:
    """Deleting a conversation (Delete in the sidebar, then y) left its answers in the cache, and a
    later conversation was served them: the text the user deleted, for weeks."""
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        _, calls = await _ask(pilot, fake_server, CACHED, new=False)
        assert calls == 1
        source_conv = app.screen.conversation_id
        app.screen.query_one("#conversations").focus()
        await pilot.press("delete")
        await answer_question(pilot, "y")
        await settle(pilot, app)
        assert real_engine.store.get_conversation(source_conv) is None
        answer, calls = await _ask(pilot, fake_server, CACHED)
        assert calls == 1, badge(answer)  # asked of the model again: nothing of it was left to serve
        assert "cache" not in badge(answer)


async def test_regenerate_bypasses_the_cache_and_lowers_the_entry(real_engine: Engine, fake_server: FakeServer,
                                                                  chatroute_home: Path) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await _ask(pilot, fake_server, CACHED, new=False)
        hit, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 0
        source_turn = hit.record.cache_source_turn
        assert _entry(chatroute_home, source_turn) == (0, 1)

        fake_server.script(Reply(text="A fresh answer, not from the cache.", input_tokens=40, output_tokens=9))
        before = len(fake_server.requests)
        hit.focus()
        await pilot.press("g")  # regenerate: past the cache
        await settle(pilot, app)
        assert len(fake_server.requests) == before + 1
        [fresh] = assistants(app)
        assert fresh.text == "A fresh answer, not from the cache."
        assert "cached" not in badge(fresh)
        assert hit.message_id in {m.id for m in real_engine.store.siblings(fresh.message_id)}  # a sibling reply
        assert fresh.record.cache_status == "bypass"

    # That entry's standing fell: one penalty (its bar is raised), and a false-hit report.
    assert _entry(chatroute_home, source_turn) == (1, 1)
    assert real_engine.cache.stats().false_hits == 1
    assert [p.kind for p in real_engine.store.preferences(kind="regenerate")] == ["regenerate"]


async def test_per_conversation_toggle_turns_the_cache_off(real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await _ask(pilot, fake_server, CACHED, new=False)
        await pilot.press("ctrl+n")
        await settle(pilot, app)
        await run_palette_command(pilot, "toggle answer cache")
        assert "cache off" in subtitle(app)
        off_conv = app.screen.conversation_id
        assert real_engine.store.get_conversation(off_conv).cache_enabled is False

        answer, sent = await _ask(pilot, fake_server, CACHED, new=False)
        assert sent == 1, "with the cache off, a repeat goes to a model"
        assert answer.record.cache_status == "bypass" and "cached" not in badge(answer)
        assert app.screen.conversation_id == off_conv

        # Other conversations keep the cache.
        other, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 0 and "(cache)" in badge(other)


async def test_rephrasing_hits_role_swap_misses_and_regenerate_raises_the_bar(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """Issue 15 through the TUI: other words hit, swapped roles miss, and after a regenerate
    the same rephrasing no longer reaches that entry."""
    cached, other_words = "How can I improve my English speaking?", "How do I get better at speaking English?"
    swapped_a, swapped_b = "Can a landlord sue a tenant for damages?", "Can a tenant sue a landlord for damages?"
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        first, sent = await _ask(pilot, fake_server, cached, new=False)
        assert sent == 1
        hit, sent = await _ask(pilot, fake_server, other_words)
        assert sent == 0 and hit.text == first.text and "(cache)" in badge(hit)
        assert "semantic" in hit.record.route["reason"]
        hit_conv = app.screen.conversation_id

        await _ask(pilot, fake_server, swapped_a)
        swap, sent = await _ask(pilot, fake_server, swapped_b)
        assert sent == 1 and swap.text.endswith(f": {swapped_b}") and "cached" not in badge(swap)

        # Regenerate the semantic hit: the entry's bar goes up ...
        source_turn = hit.record.cache_source_turn
        fake_server.script(Reply(text="Fresh: talk with people daily.", input_tokens=30, output_tokens=5))
        await app.screen.open_conversation(hit_conv)
        await settle(pilot, app)
        assistants(app)[-1].focus()
        await pilot.press("g")
        await settle(pilot, app)
        assert _entry(chatroute_home, source_turn) == (1, 1)

        # ... so the same rephrasing, asked again elsewhere, goes to a model this time.
        again, sent = await _ask(pilot, fake_server, other_words)
        assert sent == 1 and "cached" not in badge(again)


async def test_regenerating_an_answer_lowers_the_entry_it_was_stored_as(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """g on a model's answer (not a hit) rejects it as surely as g on a hit does, yet its cache
    entry kept full standing: the next conversation's rephrasing was served the answer the user
    had just regenerated away from."""
    cached, other_words = "How can I improve my English speaking?", "How do I get better at speaking English?"
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        fake_server.script(Reply(text="Just practise.", input_tokens=30, output_tokens=3))
        first, sent = await _ask(pilot, fake_server, cached, new=False)
        assert sent == 1 and first.record is not None
        assert _entry(chatroute_home, first.record.id) == (0, 1)
        fake_server.script(Reply(text="Talk with people daily, and record yourself.", input_tokens=30,
                                 output_tokens=8))
        first.focus()
        await pilot.press("g")
        await settle(pilot, app)
        assert _entry(chatroute_home, first.record.id) == (1, 1)

        again, sent = await _ask(pilot, fake_server, other_words)
        assert sent == 1 and again.text != "Just practise." and "cached" not in badge(again)
    assert real_engine.cache.stats().false_hits == 0  # no hit was served: no false-hit report


async def test_after_an_upgrade_the_tui_says_it_prepares_the_cache_and_still_hits(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    from tests.cache.fakes import as_older_version

    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        first, sent = await _ask(pilot, fake_server, CACHED, new=False)
        assert sent == 1
    db = chatroute_home / "chatroute.db" if (chatroute_home / "chatroute.db").exists() \
        else next(chatroute_home.rglob("chatroute.db"))
    as_older_version(db)

    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)  # the warm-up, which embeds the stored entry again
        said = [str(n.message) for n in app._notifications if n.title == "Answer cache"]
        assert said == ["Preparing 1 cached answer for this version (once, after an upgrade). "
                        "Exact repeats are still answered from the cache meanwhile."]
        para, sent = await _ask(pilot, fake_server, PARAPHRASE)
        assert sent == 0 and para.text == first.text
        assert len([n for n in app._notifications if n.title == "Answer cache"]) == 1  # once


async def test_exports_of_two_conversations_a_moment_apart_keep_their_own_files(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """Export file names took the id's first 8 characters, a timestamp the same for every
    conversation started within a minute: the second export replaced the first's, unsaid."""
    import json

    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        ids = []
        for n in range(2):
            if n:
                await pilot.press("ctrl+n")
                await settle(pilot, app)
            await type_and_send(pilot, "hello")
            ids.append(app.screen.conversation_id)
            await pilot.press("ctrl+e")
            await settle(pilot, app)
        assert sum("Exported to" in str(n.message) for n in app._notifications) == 2
    exports = sorted((chatroute_home / "exports").glob("*.json"))
    assert len(exports) == 2 and len(set(ids)) == 2
    assert sorted(json.loads(p.read_text())["conversation"]["id"] for p in exports) == sorted(ids)
    assert len(list((chatroute_home / "exports").glob("*.md"))) == 2


async def test_a_preset_picked_with_ctrl_r_keeps_its_own_cached_answers(real_engine: Engine,
                                                                       fake_server: FakeServer) -> None:
    """Ctrl+R to best, then the question asked under balanced: it was served, at $0 and marked
    cached, the answer balanced's router had picked a cheap model for, as a served
    chatroute/best request was until 797f92a. A preset picked for the session keys its own
    answers; the configured one (chatroute/auto's) still shares the entries it had."""
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        first, sent = await _ask(pilot, fake_server, CACHED, new=False)
        assert sent == 1 and real_engine.preset == "balanced"

        await pilot.press("ctrl+r")
        await until(pilot, lambda: real_engine.preset == "best", "ctrl+r to pick best")
        best, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 1, "a best turn was served the answer a balanced turn's router picked"
        assert "(cache)" not in badge(best)
        again, sent = await _ask(pilot, fake_server, PARAPHRASE)
        assert sent == 0 and again.text == best.text  # best's own answers are served under best

        await pilot.press("ctrl+r", "ctrl+r")  # best → frugal → balanced, the configured preset
        await until(pilot, lambda: real_engine.preset == "balanced", "two ctrl+r to come back to balanced")
        back, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 0 and back.text == first.text


async def test_the_cache_switch_says_when_the_config_keeps_the_cache_off(chatroute_home: Path,
                                                                         fake_server: FakeServer,
                                                                         monkeypatch) -> None:
    """With `[cache] enabled = false`, the palette's switch said 'Answer cache on for this
    conversation' and the title lost its 'cache off', though nothing was cached or served (as
    `cache stats` says: 'no (cache.enabled = false)'). Now both say the config keeps it off."""
    from tests.engine.helpers import OPENAI_KEY, write_config

    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, extra="\n[cache]\nenabled = false\n")
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await _ask(pilot, fake_server, CACHED, new=False)
        assert "cache off (config)" in subtitle(app)
        await run_palette_command(pilot, "toggle answer cache")
        await run_palette_command(pilot, "toggle answer cache")
        await settle(pilot, app)
        said = [n.message for n in app._notifications]
        assert said[-1].startswith("Answer cache on for this conversation, but off in your config"), said
        assert "cache off (config)" in subtitle(app)
        repeat, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 1 and "(cache)" not in badge(repeat)


async def test_an_answer_cached_from_a_served_request_says_so(chatroute_home: Path, fake_server: FakeServer,
                                                              real_engine: Engine) -> None:
    """A question another tool had asked through `chatroute serve`, then asked in the chat: the
    hit's badge read '⟵ from a deleted conversation' and o said 'The answer this one was cached
    from has been deleted', though nothing was deleted (a served request has no conversation).
    Now both name the serve client it came from."""
    from tests.serve.conftest import start_served

    fake_server.script(Reply(text="Use flexbox on the parent."))
    served = start_served(chatroute_home, fake_server)
    try:
        served.client(default_headers={"User-Agent": "my-editor/1.0"}).chat.completions.create(
            model="chatroute/auto", messages=[{"role": "user", "content": CACHED}])
    finally:
        served.stop()
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        hit, sent = await _ask(pilot, fake_server, CACHED, new=False)
        assert sent == 0 and hit.text == "Use flexbox on the parent."
        assert "⟵ from chatroute serve (my-editor), just now" in badge(hit), badge(hit)
        hit_conv = app.screen.conversation_id
        hit.focus()
        await pilot.press("o")
        await settle(pilot, app)
        assert app.screen.conversation_id == hit_conv
        said = [n.message for n in app._notifications]
        assert said[-1] == ("This answer was cached from a request my-editor sent to chatroute serve: "
                            "it has no conversation to open"), said


async def test_cache_clear_while_the_tui_is_open_leaves_no_count_from_before(
        real_engine: Engine, fake_server: FakeServer, capsys, monkeypatch) -> None:
    """A hit in the TUI, then `chatroute cache clear` in another terminal: the TUI wrote the hit's
    count (held for at most 2 s, to batch writes) after the clear, so `cache stats` read 'hits 1
    (exact 1)', 'hit rate 100%' and 'saved $0.00' for a cache that had just been emptied. Counts
    from before a clear are dropped now."""
    import json

    from chatroute.cache import answer_cache
    from tests.engine.helpers import run_cli

    monkeypatch.setattr(answer_cache, "FLUSH_SECONDS", 60.0)  # the clear comes within the batching window
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await _ask(pilot, fake_server, CACHED, new=False)
        _, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 0
        code, _out, err = run_cli(capsys, "cache", "clear")
        assert code == 0, err
    # The app has closed its engine, which writes whatever counts it still held.
    code, out, err = run_cli(capsys, "cache", "stats", "--json")
    assert code == 0, err
    stats = json.loads(out)
    assert (stats["entries"], stats["hits"], stats["misses"], stats["saved_usd"]) == (0, 0, 0, 0.0), stats


async def test_switching_a_conversations_cache_off_deletes_what_it_cached(real_engine: Engine,
                                                                         fake_server: FakeServer) -> None:
    """Off, a conversation neither reads the cache nor adds to it; what it had cached before was
    kept, and served on to every other conversation (and to serve's clients). Now it is deleted,
    as when the conversation is deleted, and the notice says so."""
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        first, sent = await _ask(pilot, fake_server, CACHED, new=False)
        assert sent == 1
        private = app.screen.conversation_id
        await run_palette_command(pilot, "toggle answer cache")
        await settle(pilot, app)
        assert "cache off" in subtitle(app)

        other, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 1, "an answer cached from the conversation switched off was served elsewhere"
        assert "(cache)" not in badge(other) and app.screen.conversation_id != private
        said = [str(n.message) for n in app._notifications]
        assert "Answer cache off for this conversation; its 1 cached answer was deleted" in said, said
        # The other conversation's own answer is cached as usual.
        again, sent = await _ask(pilot, fake_server, CACHED)
        assert sent == 0 and "(cache)" in badge(again)
    assert real_engine.store.get_conversation(private).cache_enabled is False
