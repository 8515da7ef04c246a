from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from chatroute.cache import AnswerCache, CacheSettings
from chatroute.cache.answer_cache import MAX_PENALTIES
from chatroute.providers.base import Message
from tests.cache.fakes import as_older_version, fake_embed

Q = "How do I reverse a list in Python?"
PARA = "What's the way to reverse a Python list?"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "chatroute.db"


def make(db: Path, **kw) -> AnswerCache:
    return AnswerCache(db, fake_embed, CacheSettings(**kw))


def put(cache: AnswerCache, prompt: str = Q, *, system=None, history=(), params=None, pinned=None,
        finish="stop", text="use reversed()", now=None):
    return cache.store(system, list(history), prompt, params or {}, pinned, text, "openai/gpt-4o", "turn-1",
                       finish, now=now)


def get(cache: AnswerCache, prompt: str = Q, *, system=None, history=(), params=None, pinned=None, now=None):
    return cache.lookup(system, list(history), prompt, params or {}, pinned, now=now)


def test_repeat_hits_exact(db):
    c = make(db)
    assert put(c) is not None
    hit = get(c)
    assert hit and hit.tier == "exact" and hit.similarity == 1.0
    assert hit.text == "use reversed()" and hit.source_turn_id == "turn-1" and hit.model == "openai/gpt-4o"
    assert hit.lookup_ms >= 0 and isinstance(hit.entry_id, int)
    # outer whitespace does not matter
    assert get(c, "  " + Q + "\n").tier == "exact"


def test_paraphrase_hits_semantic(db):
    c = make(db)
    put(c)
    hit = get(c, PARA)
    assert hit and hit.tier == "semantic" and hit.similarity >= 0.9


def test_negation_misses(db):
    c = make(db)
    put(c, "Which foods are safe for dogs?")
    assert get(c, "Which foods are not safe for dogs?") is None
    assert c.last_reason == "negation differs"


@pytest.mark.parametrize("cached,new", [
    ("What is the capital of France?", "What is the capital of Germany?"),
    ("Give me 5 tips for public speaking", "Give me 10 tips for public speaking"),
    ("Convert 5 km to miles", "Convert 5 miles to km"),
    ("What does `os.path.join` do?", "What does `os.path.split` do?"),
    ("dog bites man", "man bites dog"),
    ("What is the function of a TV?", "What is the function of money?"),
])
def test_lexical_guards_miss(db, cached, new):
    c = make(db, threshold=0.0)  # even with no similarity bar, the guards refuse
    put(c, cached)
    assert get(c, new) is None


def test_time_sensitive_never_hits_or_stores(db):
    c = make(db)
    assert put(c, "What's the weather today?") is None
    assert get(c, "What's the weather today?") is None


def test_other_system_prompt_and_history_miss(db):
    c = make(db)
    put(c, system="You are a pirate.")
    assert get(c, system="You are a pirate.") is not None
    assert get(c, system="Answer in French.") is None
    assert get(c) is None
    h1 = [Message("user", "I use Python"), Message("assistant", "ok")]
    h2 = [{"role": "user", "content": "I use Ruby"}, {"role": "assistant", "content": "ok"}]
    put(c, "How do I fix it?", history=h1)
    assert get(c, "How do I fix it?", history=h1) is not None
    assert get(c, "How do I fix it?", history=h2) is None


def test_pinned_model_and_params_are_part_of_key(db):
    c = make(db)
    put(c, pinned="anthropic/claude")
    assert get(c, pinned="anthropic/claude") is not None
    assert get(c, pinned="openai/gpt-4o") is None
    assert get(c) is None  # a routed turn is not served a pinned answer
    put(c, "Write a haiku about rain", params={"temperature": 0.2})
    assert get(c, "Write a haiku about rain", params={"temperature": 0.2, "top_p": None}) is not None
    assert get(c, "Write a haiku about rain", params={"temperature": 1.0}) is None


@pytest.mark.parametrize("finish,text", [("length", "truncated"), ("tool_calls", "x"), (None, "partial"),
                                         ("error", "x"), ("interrupted", "x"), ("stop", ""), ("stop", "  ")])
def test_only_complete_answers_are_stored(db, finish, text):
    c = make(db)
    assert put(c, finish=finish, text=text) is None
    assert get(c) is None
    assert c.stats().entries == 0


def test_penalise_raises_bar_then_disables(db):
    c = make(db, threshold=0.5)
    entry = put(c, "Explain the water cycle")
    hit = get(c, "Can you explain the water cycle?")
    assert hit and hit.tier == "semantic"
    row = sqlite3.connect(db).execute("SELECT penalties FROM cache_entries WHERE id=?", (entry,)).fetchone()
    assert row == (0,)
    c.penalise(entry)
    assert c.stats().false_hits == 1
    # the bar went up by a step: a candidate just above the base no longer passes
    c2 = make(db, threshold=hit.similarity - 0.01)
    assert c2.lookup(None, [], "Can you explain the water cycle?") is None
    for _ in range(MAX_PENALTIES - 1):
        assert c.penalise_turn("turn-1") == 1  # the engine's path: by the hit's source turn
    assert get(c, "Can you explain the water cycle?") is None
    assert get(c, "Explain the water cycle") is None  # disabled for the exact tier too
    # a fresh answer to the same request replaces it with a clean record
    put(c, "Explain the water cycle", text="new answer")
    assert get(c, "Explain the water cycle").text == "new answer"


def test_corrupt_rows_are_skipped_and_unreadable_vectors_embedded_again(db):
    c = make(db)
    water = put(c, "Explain the water cycle")
    good = put(c)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE cache_entries SET vector = x'0102' WHERE prompt = 'Explain the water cycle'")
    conn.execute("INSERT INTO cache_entries (exact_key, scope, prompt, vector, text, meta, created_at, last_used_at)"
                 " SELECT 'k2', scope, 'Tell me about volcanoes', vector, 'v', '{not json', created_at, last_used_at"
                 " FROM cache_entries WHERE id = ?", (good,))
    conn.commit()
    fresh = make(db)
    # A vector of the wrong length was skipped at every load, so no rephrasing found its entry;
    # it is embedded again from its prompt now.
    assert fresh.lookup(None, [], "Can you explain the water cycle?").entry_id == water
    assert fresh.damaged is None
    assert fresh.lookup(None, [], "Tell me about volcanoes") is None
    assert fresh.lookup(None, [], PARA).entry_id == good


def test_cap_evicts_least_recently_used(db):
    c = make(db, max_entries=3)
    put(c, "Explain the water cycle", now=1000)
    put(c, "Explain photosynthesis", now=1001)
    put(c, "Explain inflation", now=1002)
    assert get(c, "Explain the water cycle", now=1003)  # refreshes it
    put(c, "Explain recursion", now=1004)
    assert c.stats().entries == 3
    assert get(c, "Explain photosynthesis", now=1005) is None  # the least recently used went
    assert get(c, "Explain the water cycle", now=1005) is not None
    assert get(c, "Explain recursion", now=1005) is not None  # the newest stayed


def test_ttl_expiry(db):
    c = make(db, ttl_hours=1)
    put(c, now=10_000)
    assert get(c, now=10_000 + 3500) is not None
    assert get(c, now=10_000 + 3700) is None
    assert get(c, PARA, now=10_000 + 3700) is None


def test_stats_and_clear(db):
    c = make(db)
    entry = put(c)
    get(c)
    get(c, PARA)
    get(c, "Something else entirely")
    c.record_hit(entry, 0.0123)
    s = c.stats()
    assert (s.entries, s.hits, s.misses, s.exact_hits, s.semantic_hits) == (1, 2, 1, 1, 1)
    assert s.saved_usd == pytest.approx(0.0123)
    c.clear()
    s = c.stats()
    assert (s.entries, s.hits, s.misses, s.saved_usd) == (0, 0, 0, 0.0)
    assert get(c) is None and get(c, PARA) is None


def test_disabled_config(db):
    c = make(db, enabled=False)
    assert put(c) is None and get(c) is None


def test_schema_is_idempotent_and_shares_db(db):
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    make(db)
    make(db)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"other", "cache_entries", "cache_meta", "cache_stats"} <= names


def test_sees_rows_from_another_connection(db):
    reader, writer = make(db), make(db)
    put(writer, "Explain the water cycle")
    assert get(reader, "Can you explain the water cycle?") is not None  # index loaded here
    put(writer)
    assert get(reader, PARA) is not None  # inserted after the load: picked up
    writer.clear()
    assert get(reader, PARA) is None  # deleted elsewhere: dropped


def _child_store(path: str) -> None:
    c = AnswerCache(path, fake_embed, CacheSettings())
    c.store(None, [], "Explain the water cycle", {}, None, "from child", "m", "t", "stop")


def test_multiprocess_visibility(db):
    c = make(db)
    put(c)
    assert get(c, PARA) is not None
    p = mp.get_context("spawn").Process(target=_child_store, args=(str(db),))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    hit = get(c, "Can you explain the water cycle?")
    assert hit is not None and hit.text == "from child"


def _vectors(db: Path) -> dict[str, bytes | None]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT prompt, vector FROM cache_entries"))
    finally:
        conn.close()


def test_entries_of_an_older_vector_recipe_are_embedded_again(db):
    c = make(db)
    put(c)
    put(c, "Explain the water cycle")
    fresh = _vectors(db)
    c.close()
    # As an older chatroute left them: another recipe, vectors of other topic words.
    as_older_version(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE cache_entries SET vector = ? WHERE prompt = ?",
                 (fresh["Explain the water cycle"], Q))
    conn.commit()
    conn.close()
    upgraded = make(db)
    upgraded.warm()
    assert _vectors(db) == fresh
    hit = get(upgraded, PARA)
    assert hit is not None and hit.tier == "semantic" and hit.text == "use reversed()"
    # Done once: a later open finds nothing stale and leaves the rows alone.
    conn = sqlite3.connect(db)
    conn.execute("UPDATE cache_entries SET vector = NULL WHERE prompt = ?", (Q,))
    conn.commit()
    conn.close()
    make(db).warm()
    assert _vectors(db)[Q] is None


def test_a_new_cache_starts_at_the_current_recipe(db):
    from chatroute.cache.answer_cache import VECTOR_RECIPE

    make(db)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM cache_meta WHERE key = 'recipe'").fetchone() == (VECTOR_RECIPE,)
    conn.close()


def test_a_turn_does_not_wait_for_the_warm_up_to_embed_entries_again(db, monkeypatch):
    import threading

    from chatroute.cache import answer_cache

    monkeypatch.setattr(answer_cache, "REEMBED_BATCH", 1)
    c = make(db)
    put(c)
    put(c, "Explain the water cycle", text="evaporation")
    c.close()
    as_older_version(db)
    in_batch, release = threading.Event(), threading.Event()

    def slow_embed(texts):
        if threading.current_thread() is warmer:  # the warm-up's batches stop here until released
            in_batch.set()
            release.wait(30)
        return fake_embed(texts)

    upgraded = AnswerCache(db, slow_embed, CacheSettings())
    warmer = threading.Thread(target=upgraded.warm)
    warmer.start()
    try:
        assert in_batch.wait(30)
        hit = get(upgraded)  # the same words: the exact tier still serves
        assert hit is not None and hit.tier == "exact"
        assert get(upgraded, PARA) is None
        assert upgraded.last_reason == "the neighbour index is still loading"
        assert warmer.is_alive()  # answered while the warm-up was still mid-batch
    finally:
        release.set()
        warmer.join(30)
    hit = get(upgraded, PARA)
    assert hit is not None and hit.tier == "semantic" and hit.text == "use reversed()"


def test_a_lookup_where_nothing_is_cached_embeds_nothing(db):
    # `chatroute route` peeks at the cache in a fresh process: with nothing cached under the
    # request's scope there is no neighbour to find, and embedding the prompt (with the
    # respeller's first load) was most of what the peek cost.
    embedded: list[str] = []

    def counting_embed(texts: list[str]):
        embedded.extend(texts)
        return fake_embed(texts)

    def prompt_embedded() -> bool:
        return any("reverse" in text for text in embedded)

    c = AnswerCache(db, counting_embed, CacheSettings())
    assert get(c) is None and not prompt_embedded()
    put(c)
    embedded.clear()
    h = [Message(role="user", content="Tell me about lists"), Message(role="assistant", content="They hold items.")]
    assert get(c, PARA, history=h) is None and not prompt_embedded()  # another conversation's scope
    hit = get(c, PARA)
    assert hit is not None and hit.tier == "semantic" and prompt_embedded()


def test_counts_reach_other_processes_while_the_cache_sits_idle(db, monkeypatch):
    # serve or the TUI answers a hit, then nothing more for a while: `cache stats` in another
    # terminal must see that hit. The counts were written only by a later lookup (2 s on),
    # a store or the close, so an idle server's last hits and misses were missing.
    import time

    from chatroute.cache import answer_cache

    monkeypatch.setattr(answer_cache, "FLUSH_SECONDS", 0.2)
    c = make(db)
    put(c)
    assert get(c) is not None and get(c, "Which foods are safe for cats?") is None
    other = make(db)
    deadline = time.monotonic() + 5
    while other.stats().hits == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = other.stats()
    assert (stats.hits, stats.exact_hits, stats.misses) == (1, 1, 1)
    c.close()
    assert (other.stats().hits, other.stats().misses) == (1, 1)  # counted once
    other.close()
