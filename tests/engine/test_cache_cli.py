"""The answer cache driven like a user: `chatroute ask --json`, `cache stats|clear`, `costs`.

Every turn goes through `main()` in-process against the fake provider server, so a hit is
proven by the server *not* receiving a request, and a miss by it receiving one.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import Drop, FakeServer, Reply

pytestmark = pytest.mark.usefixtures("configured")

# A pair from tests/data/cache_pairs.jsonl labelled paraphrase/hit (no system prompt, no history).
CACHED = "How do I center a div in CSS?"
PARAPHRASE = "How can I center a div using CSS?"
# ... and a negation pair labelled must-not-hit.
NEG_CACHED = "Which foods are safe for dogs?"
NEGATED = "Which foods are not safe for dogs?"


def _pairs_row(cached: str, new: str) -> dict:
    path = Path(__file__).resolve().parents[1] / "data" / "cache_pairs.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["cached"]["prompt"] == cached and row["new"]["prompt"] == new:
            return row
    raise AssertionError(f"pair not in cache_pairs.jsonl: {cached!r} -> {new!r}")


def _first_answer(capsys: pytest.CaptureFixture[str], server: FakeServer, prompt: str, *extra: str) -> dict:
    server.script(Reply(text=f"Answer to: {prompt}", input_tokens=40, output_tokens=12))
    before = len(server.requests)
    code, out = ask_json(capsys, *extra, prompt)
    assert code == 0, out
    assert out["cache"] == "miss" and out["route"]["kind"] != "cache"
    assert len(server.requests) == before + 1
    return out


def test_repeat_hits_free_without_calling_the_server(capsys: pytest.CaptureFixture[str],
                                                     configured: FakeServer) -> None:
    first = _first_answer(capsys, configured, CACHED)
    n = len(configured.requests)
    code, again = ask_json(capsys, CACHED)
    assert code == 0
    assert len(configured.requests) == n  # answered without a provider call
    assert again["cache"] == "hit"
    assert again["route"]["kind"] == "cache"
    assert again["cost_usd"] == 0
    assert again["cache_similarity"] == pytest.approx(1.0)
    assert again["cache_tier"] == "exact"
    assert again["cache_source_turn"] == first["turn_id"]
    assert again["text"] == first["text"]
    assert again["status"] == "ok"
    assert again["saved_usd"] is not None and again["saved_usd"] > 0
    # A new conversation each time: the cache serves across conversations with the same context.
    assert again["conversation_id"] != first["conversation_id"]


def test_a_hits_route_has_the_keys_every_route_has(capsys: pytest.CaptureFixture[str],
                                                  configured: FakeServer) -> None:
    """README: `route` is kind, reason, why, candidates, reroutes. A hit's route had no `why`,
    so a script reading it failed on the second time a question was asked."""
    first = _first_answer(capsys, configured, CACHED)
    _code, again = ask_json(capsys, CACHED)
    assert again["cache"] == "hit"
    for out in (first, again):
        assert {"kind", "reason", "why", "candidates", "reroutes"} <= set(out["route"])
    assert again["route"]["why"] == ""  # as for a pin, an override or the default: the badge says (cache)


def test_route_says_the_cache_answers_first(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """`route` previews a turn, and a turn asks the cache first: it named a routed model for a
    question `ask` then answered from the cache, calling no model."""
    code, out, err = run_cli(capsys, "route", "--json", PARAPHRASE)
    assert code == 0, err
    assert json.loads(out)["cache_hit"] is None
    first = _first_answer(capsys, configured, CACHED)
    code, out, err = run_cli(capsys, "route", "--json", PARAPHRASE)
    assert code == 0, err
    hit = json.loads(out)["cache_hit"]
    assert hit["model"] == first["model"] and hit["tier"] == "semantic" and hit["similarity"] >= 0.9
    code, out, err = run_cli(capsys, "route", PARAPHRASE)
    assert "but the cache answers it first (semantic" in out and "no model is called" in out
    n = len(configured.requests)
    _code, again = ask_json(capsys, PARAPHRASE)
    assert again["cache"] == "hit" and len(configured.requests) == n
    code, out, err = run_cli(capsys, "route", "--json", "@gpt-4o-mini " + PARAPHRASE)
    assert json.loads(out)["cache_hit"] is None  # an override is another cache key, as in the turn


def test_paraphrase_hits_semantically(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    row = _pairs_row(CACHED, PARAPHRASE)
    assert (row["category"], row["label"]) == ("paraphrase", "hit")
    first = _first_answer(capsys, configured, CACHED)
    n = len(configured.requests)
    code, out = ask_json(capsys, PARAPHRASE)
    assert code == 0
    assert len(configured.requests) == n
    assert out["cache"] == "hit" and out["route"]["kind"] == "cache" and out["cost_usd"] == 0
    assert out["cache_tier"] == "semantic"
    assert 0.9 <= out["cache_similarity"] <= 1.0
    assert out["text"] == first["text"]


def test_negation_misses(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    row = _pairs_row(NEG_CACHED, NEGATED)
    assert (row["category"], row["label"]) == ("negation", "miss")
    _first_answer(capsys, configured, NEG_CACHED)
    n = len(configured.requests)
    configured.script(Reply(text="Grapes, chocolate, onions."))
    code, out = ask_json(capsys, NEGATED)
    assert code == 0
    assert out["cache"] == "miss" and "cache_similarity" not in out
    assert out["text"] == "Grapes, chocolate, onions."
    assert len(configured.requests) == n + 1


def test_other_system_prompt_misses(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    _first_answer(capsys, configured, CACHED, "-s", "You are a concise assistant.")
    # The same system prompt again hits ...
    n = len(configured.requests)
    code, out = ask_json(capsys, "-s", "You are a concise assistant.", CACHED)
    assert out["cache"] == "hit" and len(configured.requests) == n
    # ... another one (or none) does not, even with the very same words.
    code, out = ask_json(capsys, "-s", "You are a pirate. Answer in pirate speak.", CACHED)
    assert code == 0 and out["cache"] == "miss"
    assert len(configured.requests) == n + 1
    assert configured.requests[-1].system == "You are a pirate. Answer in pirate speak." or any(
        m.get("role") == "system" and "pirate" in str(m.get("content")) for m in configured.requests[-1].messages)
    code, out = ask_json(capsys, CACHED)
    assert out["cache"] == "miss" and len(configured.requests) == n + 2


def test_no_cache_bypasses_and_calls_the_server(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    _first_answer(capsys, configured, CACHED)
    n = len(configured.requests)
    configured.script(Reply(text="fresh answer"))
    code, out = ask_json(capsys, "--no-cache", CACHED)
    assert code == 0
    assert out["cache"] == "bypass" and out["route"]["kind"] != "cache"
    assert out["text"] == "fresh answer" and out["cost_usd"] > 0
    assert len(configured.requests) == n + 1


def test_interrupted_stream_is_never_cached(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    prompt = "Describe the water cycle briefly."
    configured.script(Drop(after_chunks=2))
    code, out = ask_json(capsys, prompt)
    assert code == 1 and out["status"] == "interrupted" and out["text"]
    n = len(configured.requests)
    configured.script(Reply(text="Evaporation, condensation, precipitation."))
    code, out = ask_json(capsys, prompt)
    assert code == 0
    assert out["cache"] == "miss"
    assert out["text"] == "Evaporation, condensation, precipitation."
    assert len(configured.requests) == n + 1
    # The complete answer is cached now.
    code, out = ask_json(capsys, prompt)
    assert out["cache"] == "hit" and out["text"] == "Evaporation, condensation, precipitation."
    assert len(configured.requests) == n + 1


def _stats(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    code, out, err = run_cli(capsys, "cache", "stats")
    assert code == 0, err
    rows = {}
    for line in out.splitlines()[2:]:  # header and rule
        key, _, value = line.partition("  ")
        rows[key.strip()] = value.strip()
    return rows


def test_stats_and_clear(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    stats = _stats(capsys)
    assert stats["entries"] == "0" and stats["saved"] == "$0.00"
    _first_answer(capsys, configured, CACHED)
    code, hit = ask_json(capsys, CACHED)
    assert hit["cache"] == "hit"
    stats = _stats(capsys)
    assert stats["entries"] == "1"
    assert stats["misses"] == "1"
    # Each `ask` is its own process-like engine: its counters are flushed when it closes.
    assert stats["hits"].startswith("1 ") and "exact 1" in stats["hits"]
    assert stats["hit rate"] == "50%"
    # An estimate, marked as `costs` marks the same figure (it read "$0.0000…" with no ≈).
    assert stats["saved"].startswith("≈$"), stats["saved"]
    saved = float(stats["saved"].lstrip("≈$"))
    assert saved == pytest.approx(hit["saved_usd"], abs=1e-4) and saved > 0

    code, out, err = run_cli(capsys, "cache", "clear")
    assert code == 0 and "cache cleared: 1 entry removed" in out
    stats = _stats(capsys)
    assert stats["entries"] == "0" and stats["misses"] == "0" and stats["saved"] == "$0.00"
    n = len(configured.requests)
    code, out = ask_json(capsys, CACHED)
    assert out["cache"] == "miss" and len(configured.requests) == n + 1


def test_hit_savings_reach_the_cost_ledger(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    first = _first_answer(capsys, configured, CACHED)
    code, hit = ask_json(capsys, CACHED)
    assert hit["cache"] == "hit" and hit["saved_usd"] > 0
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    everything = report["periods"]["all"]
    assert everything["turns"] == 2
    assert everything["cache_hits"] == 1
    assert everything["cache_saved_usd"] == pytest.approx(hit["saved_usd"])
    assert everything["cache_saved_usd"] > 0
    # The hit cost nothing: all the spend is the first turn's.
    assert everything["cost_usd"] == pytest.approx(first["cost_usd"])
    assert report["periods"]["today"]["cache_saved_usd"] == pytest.approx(hit["saved_usd"])


def test_a_hit_saves_what_the_same_request_cost(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """The saving is the price of the request the hit replaced, system prompt included, counted
    with the model's tokenizer. It was characters / 4 of the prompt and history alone: with a
    long system prompt a hit claimed a nineteenth of what the same request had just cost."""
    from chatroute.catalog.tokens import count_tokens

    system = "You are a careful assistant for a travel agency. " * 80
    prompt = "Tell me about the Eiffel tower height"
    answer = "It is 330 metres tall."
    def tokens(text: str) -> int:
        return count_tokens(text, "openai/gpt-4o")[0]  # the encoding shipped with chatroute

    n_in = tokens(system) + tokens(prompt) + 10  # with the chat framing
    configured.script("gpt-4o", Reply(text=answer, input_tokens=n_in, output_tokens=tokens(answer)))
    code, first = ask_json(capsys, "-m", "openai/gpt-4o", "-s", system, prompt)
    assert code == 0 and first["cache"] == "miss" and first["cost_usd"] > 0.002
    code, hit = ask_json(capsys, "-m", "openai/gpt-4o", "-s", system, prompt)
    assert code == 0 and hit["cache"] == "hit" and hit["cost_usd"] == 0
    assert hit["saved_usd"] == pytest.approx(first["cost_usd"], rel=0.01)


# Issue 15: the verifier judges rephrasings by other words and role swaps; pairs written here.
OTHER_WORDS = ("How can I improve my English speaking?", "How do I get better at speaking English?")


def test_paraphrase_in_other_words_hits(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    first = _first_answer(capsys, configured, OTHER_WORDS[0])
    n = len(configured.requests)
    code, out = ask_json(capsys, OTHER_WORDS[1])
    assert code == 0 and out["cache"] == "hit" and out["cache_tier"] == "semantic"
    assert len(configured.requests) == n and out["text"] == first["text"]


@pytest.mark.parametrize("cached,new", [
    ("Can a landlord sue a tenant for damages?", "Can a tenant sue a landlord for damages?"),  # roles swapped
    ("Give me 3 ideas for a birthday party", "Give me 7 ideas for a birthday party"),  # quantity
    ("Is it safe to eat raw eggs?", "Is it not safe to eat raw eggs?"),  # negation
    ("What is the capital of Canada?", "What is the capital of Australia?"),  # another entity
], ids=["role-swap", "quantity", "negation", "entity"])
def test_changed_meaning_misses(capsys: pytest.CaptureFixture[str], configured: FakeServer, cached: str,
                                new: str) -> None:
    _first_answer(capsys, configured, cached)
    n = len(configured.requests)
    configured.script(Reply(text="A different answer."))
    code, out = ask_json(capsys, new)
    assert code == 0 and out["cache"] == "miss" and out["text"] == "A different answer."
    assert len(configured.requests) == n + 1


def test_an_entry_without_its_model_is_a_miss_not_a_crash(capsys: pytest.CaptureFixture[str],
                                                          configured: FakeServer) -> None:
    # A cache row may hold no model (the column allows NULL); such an answer cannot be billed
    # to a model, so the turn asks a model instead of failing half-way through the hit.
    import sqlite3

    from chatroute.paths import resolve_paths

    _first_answer(capsys, configured, CACHED)
    with sqlite3.connect(resolve_paths().database) as db:
        assert db.execute("UPDATE cache_entries SET model = NULL").rowcount == 1
    configured.script(Reply(text="Fresh answer", input_tokens=40, output_tokens=3))
    n = len(configured.requests)
    code, again = ask_json(capsys, CACHED)
    assert code == 0
    assert len(configured.requests) == n + 1
    assert again["route"]["kind"] != "cache" and again["text"] == "Fresh answer" and again["status"] == "ok"


def test_cache_check_says_whether_and_why_without_touching_the_cache(capsys: pytest.CaptureFixture[str],
                                                                     configured: FakeServer) -> None:
    """`chatroute cache check CACHED ASKED`: the cache's own decision for one pair, explained."""
    code, out, err = run_cli(capsys, "cache", "check", CACHED, PARAPHRASE)
    assert code == 0, err
    assert out.startswith("served (semantic, similarity ") and "verifier " in out
    code, out, _ = run_cli(capsys, "cache", "check", "How do I get a job at Google after college?",
                           "How do I get into college after a job at Google?")
    assert code == 0
    assert out.strip() == "not served: order reversed around 'after'"
    code, out, _ = run_cli(capsys, "cache", "check", "--json", NEG_CACHED, NEGATED)
    verdict = json.loads(out)
    assert verdict == {"served": False, "tier": None, "similarity": None, "verifier": None, "pooled": None,
                       "passed_by": None, "reason": "negation differs", "cache_enabled": True}
    code, out, _ = run_cli(capsys, "cache", "check", "--json", "What's the weather today?", "Weather today?")
    assert json.loads(out)["reason"] == "CACHED is never stored (time-sensitive)"
    # Nothing was stored in, or counted by, the user's own cache.
    code, out, _ = run_cli(capsys, "cache", "stats", "--json")
    stats = json.loads(out)
    assert stats["entries"] == 0 and stats["hits"] == 0 and stats["misses"] == 0
    assert configured.requests == []  # and no model was asked


def test_cache_check_says_when_a_hit_passed_by_the_rephrasing_path(capsys: pytest.CaptureFixture[str]) -> None:
    """A probability under the bar was served: the line says which other test it passed."""
    pair = ("How do I reset my iphone?", "How can I factory reset my iphone?")
    code, out, _ = run_cli(capsys, "cache", "check", "--json", *pair)
    verdict = json.loads(out)
    assert code == 0 and verdict["served"] and verdict["passed_by"] == "rephrasing path"
    from chatroute.cache.verifier import get_verifier

    shipped = get_verifier()
    assert shipped.rephrasing is not None
    assert verdict["verifier"] < shipped.threshold and verdict["pooled"] >= shipped.rephrasing[0]
    code, out, _ = run_cli(capsys, "cache", "check", *pair)
    assert f" < bar {shipped.threshold:.3f}; rephrasing path: pooled " in out and "and verifier >= " in out
    code, out, _ = run_cli(capsys, "cache", "check", "--json", CACHED, CACHED.lower())
    verdict = json.loads(out)
    assert verdict["served"] and verdict["passed_by"] == "bar" and verdict["pooled"] == 1.0


def test_cache_check_needs_both_prompts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(capsys, "cache", "check", CACHED)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "chatroute cache check" in err and "ASKED" in err


def test_cache_check_reads_either_prompt_from_stdin(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """'-' for CACHED or ASKED reads standard input, as every PROMPT does; both at once is refused."""
    def stdin(text: str) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))

    code, expected, err = run_cli(capsys, "cache", "check", "--json", NEG_CACHED, NEGATED)
    assert code == 0, err
    stdin(NEG_CACHED + "\n")
    code, out, err = run_cli(capsys, "cache", "check", "--json", "-", NEGATED)
    assert code == 0, err
    assert json.loads(out) == json.loads(expected)
    stdin(PARAPHRASE + "\n")
    code, out, err = run_cli(capsys, "cache", "check", CACHED, "-")
    assert code == 0, err
    assert out.startswith("served (semantic, similarity ")
    stdin(CACHED)
    code, out, err = run_cli(capsys, "cache", "check", "-", "-")
    assert code == 2 and out == ""
    assert err.strip() == "chatroute: error: cache check: '-' reads standard input for CACHED or for ASKED, not both"
    stdin("  \n")
    code, out, err = run_cli(capsys, "cache", "check", "-", PARAPHRASE)
    assert code == 2 and "the prompt is empty" in err


def test_a_typo_in_the_stored_question_is_read_as_the_word_it_misspells(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """Asked once with a typo, then spelled right: served from the cache, with no provider call."""
    first = _first_answer(capsys, configured, "what is the diference between a virus and bacteria?")
    n = len(configured.requests)
    code, out = ask_json(capsys, "what is the difference between a virus and bacteria?")
    assert code == 0
    assert len(configured.requests) == n
    assert out["cache"] == "hit" and out["cache_tier"] == "semantic" and out["text"] == first["text"]
    code, out, _ = run_cli(capsys, "cache", "check", "how long should i boil an egg for a sofft yolk?",
                           "how long do i boil an egg for a soft yolk?")
    assert code == 0 and out.startswith("served (semantic")
    # A typo that left the pair without a neighbour: the topic words are compared respelled.
    code, out, _ = run_cli(capsys, "cache", "check", "How can I renew my passport online?",
                           "how do i renew my pasport online?")
    assert code == 0 and out.startswith("served (semantic")


def test_first_ask_after_an_upgrade_says_it_prepares_the_cache_and_still_hits(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    from tests.cache.fakes import as_older_version

    first = _first_answer(capsys, configured, CACHED)
    as_older_version(chatroute_home / "chatroute.db")
    n = len(configured.requests)
    code, out, err = run_cli(capsys, "ask", "--json", PARAPHRASE)
    assert code == 0
    assert "preparing 1 cached answer for this version (once, after an upgrade)" in err
    again = json.loads(out)
    assert again["cache_tier"] == "semantic" and again["text"] == first["text"]
    assert len(configured.requests) == n
    code, out, err = run_cli(capsys, "ask", "--json", PARAPHRASE)  # done once: said once
    assert code == 0 and "preparing" not in err


@pytest.mark.parametrize(("cached", "asked", "words"), [
    ("Explain recursion briefly", "Explain recursion in detail", ("briefly", "detail")),
    ("Explain quantum computing simply", "Explain quantum computing in depth", ("simply", "depth")),
    ("Summarize World War 2 in one sentence", "Summarize World War 2 in detail", ("sentence", "detail")),
])
def test_a_short_answer_is_not_served_for_a_detailed_one(capsys: pytest.CaptureFixture[str], cached: str, asked: str,
                                                         words: tuple[str, str]) -> None:
    """The user who asked for depth got the one-line answer stored for "briefly" (verifier 0.999)."""
    code, out, _ = run_cli(capsys, "cache", "check", cached, asked)
    assert code == 0 and f"not served: opposite words ({words[0]!r} / {words[1]!r})" in out
    code, out, _ = run_cli(capsys, "cache", "check", "Explain recursion in detail", "Explain recursion thoroughly")
    assert out.startswith("served")  # the same depth, other words


@pytest.mark.parametrize("refusal", ["I'm sorry, but I can't help with that.",
                                     "I can’t assist with that request. I can explain how locks work instead."])
def test_a_refusal_is_neither_stored_nor_served(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                refusal: str) -> None:
    """A model that declined once declined every rephrasing from the cache, for a month."""
    prompt = "How do I pick the lock of my own front door?"
    configured.script(Reply(text=refusal))
    code, out = ask_json(capsys, prompt)
    assert code == 0 and out["text"] == refusal and out["status"] == "ok"
    configured.script(Reply(text="Call a locksmith, or use a tension wrench and a pick."))
    n = len(configured.requests)
    code, out = ask_json(capsys, prompt)
    assert out["cache"] == "miss" and len(configured.requests) == n + 1
    code, out = ask_json(capsys, prompt)  # the real answer is kept
    assert out["cache"] == "hit" and out["text"].startswith("Call a locksmith")


def test_a_refusal_cached_by_an_older_version_is_not_served(capsys: pytest.CaptureFixture[str],
                                                           configured: FakeServer) -> None:
    import sqlite3

    from chatroute.paths import resolve_paths

    _first_answer(capsys, configured, CACHED)
    with sqlite3.connect(resolve_paths().database) as db:
        db.execute("UPDATE cache_entries SET text = ?", ("I'm sorry, but I can't help with that.",))
    n = len(configured.requests)
    code, out = ask_json(capsys, CACHED)
    assert out["cache"] == "miss" and len(configured.requests) == n + 1


def test_compare_neither_reads_nor_fills_the_cache(capsys: pytest.CaptureFixture[str],
                                                   configured: FakeServer) -> None:
    """README, Compare mode: every model answers afresh, and no answer is kept, picked or not."""
    from tests.engine.helpers import pick_compare_answer

    _first_answer(capsys, configured, CACHED)
    n = len(configured.requests)
    code, out, err = run_cli(capsys, "compare", "-m", "gpt-4o-mini", "-m", "gpt-4o", "--json", CACHED)
    answers = json.loads(out)
    assert code == 0, err
    assert [a["cache"] for a in answers] == ["bypass", "bypass"] and len(configured.requests) == n + 2
    pick_compare_answer(answers, "openai/gpt-4o")
    n = len(configured.requests)
    code, again = ask_json(capsys, "-m", "openai/gpt-4o", CACHED)
    assert again["cache"] == "miss" and len(configured.requests) == n + 1


def test_cache_check_refuses_another_name_in_a_headline_case_question(capsys: pytest.CaptureFixture[str],
                                                                      configured: FakeServer) -> None:
    """A show's title made the question Headline Case, where capitals are no names, so another
    character's name in the same place was served the first character's actor (verifier 0.98)."""
    code, out, err = run_cli(capsys, "cache", "check", "Who plays Randall on The Marvelous Mrs Maisel?",
                             "Who plays Sophie on The Marvelous Mrs Maisel?")
    assert code == 0, err
    assert out.strip() == "not served: entity 'randall' / 'sophie' differs"


def test_a_name_added_beside_an_acronym_is_another_question(capsys: pytest.CaptureFixture[str],
                                                           configured: FakeServer) -> None:
    """"CEO" made "Who was the CEO of Twitter before Musk?" three capitals in four words, read as
    Headline Case, where capitals are no names: it was served the answer to "Who is the CEO of
    Twitter?" (verifier 0.952)."""
    code, out, err = run_cli(capsys, "cache", "check", "Who is the CEO of Twitter?",
                             "Who was the CEO of Twitter before Musk?")
    assert code == 0, err
    assert out.strip() == "not served: entity 'musk' missing"
    _first_answer(capsys, configured, "Who is the CEO of Twitter?")
    configured.script(Reply(text="Parag Agrawal."))
    code, again = ask_json(capsys, "Who was the CEO of Twitter before Musk?")
    assert code == 0 and again["cache"] == "miss" and again["text"] == "Parag Agrawal."


@pytest.mark.parametrize("prompt", ["When is the next full moon?", "Who won the last election?",
                                    "What did the Fed do at its last meeting?"])
def test_the_next_or_last_of_an_event_is_never_served_from_the_cache(capsys: pytest.CaptureFixture[str],
                                                                     configured: FakeServer, prompt: str) -> None:
    """Counted from today, so an answer goes stale: the same question asked again was served the
    stored answer (for up to the entry's 30 days), a month-old date for the next full moon."""
    code, out, err = run_cli(capsys, "cache", "check", prompt, prompt)
    assert code == 0, err
    assert out.strip() == "not served: CACHED is never stored (time-sensitive)"
    _first_answer(capsys, configured, prompt)
    configured.script(Reply(text="A fresh answer."))
    code, again = ask_json(capsys, prompt)
    assert code == 0 and again["cache"] == "miss" and again["text"] == "A fresh answer."


def test_max_entries_0_keeps_nothing_and_serves_nothing(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                       chatroute_home: Path) -> None:
    """`[cache] max_entries = 0` (LRU eviction beyond this) stopped new answers being stored, but
    the answers already cached stayed, never evicted, and were served: the repeat below was a hit
    at $0. Now a cache of size 0 holds and serves nothing."""
    _first_answer(capsys, configured, CACHED)
    config = chatroute_home / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n[cache]\nmax_entries = 0\n", encoding="utf-8")
    n = len(configured.requests)
    code, again = ask_json(capsys, CACHED)
    assert code == 0 and again["cache"] == "miss" and len(configured.requests) == n + 1
    code, out, err = run_cli(capsys, "cache", "stats", "--json")
    assert code == 0 and json.loads(out)["entries"] == 0, out
