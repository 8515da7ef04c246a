"""The history window, through the CLI (and the engine API where the TUI calls it): a turn
sends the most recent whole turns that fit a budget — the [chat] max_history_tokens cap, or
what the roomiest context window it could go to leaves — and says so when it leaves turns out.
A conversation longer than every window goes on; only a prompt too large on its own is refused.

Sizes are chosen so the window can be worked out by hand from the router's estimate:
ceil(characters / 3.6) + 8 tokens a message, a digit weighing 0.8 characters more and each edge
between a digit and punctuation or a space 1.5 more (o200k cuts numbers small)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chatroute.catalog.tokens import count_messages
from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.textsize import text_weight
from chatroute.turn_events import Routed, TurnFinished
from tests.engine.helpers import ask_json, run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Fault, RecordedRequest, Reply

SYSTEM = "You are terse."
TINY_WINDOWS = "".join(f'[models."{m}"]\ncontext_window = {w}\n' for m, w in
                       (("openai/gpt-4o-mini", 1000), ("openai/gpt-4o", 1500), ("anthropic/claude-haiku-4-5", 2000)))
NOTE = re.compile(r"sent the last (\d+) of (\d+) turns \(history budget ([\d,]+) tokens(?:: what the context window "
                  r"of (\S+) leaves)?\)")


def _prompt(i: int) -> str:
    return f"question {i} ".ljust(360, "q")  # 360 + 0.8 + 2 * 1.5 characters: 102 + 8 estimated tokens


def _reply(i: int) -> str:
    return f"answer {i} ".ljust(144, "a")  # 42 + 8: a turn weighs 160


def _long_prompt(i: int) -> str:
    # ≈ 1,050 characters, ≈ 400 tokens (was 140 points: their digits and the spaces after them
    # weigh more since the estimate counts numbers, and 140 made ≈ 560)
    return f"Topic {i}: " + " ".join(f"point{i}x{j}" for j in range(105))


def _estimate(messages: list[tuple[str, str]]) -> int:
    """The router's estimate of these messages (README: How routing decides); the prompts'
    digits (point3x17) weigh more, as text_weight weighs them."""
    return math.ceil(sum(text_weight(c) for _, c in messages) / 3.6) + 8 * len(messages)


def _note(notes: list[str]) -> re.Match[str]:
    """The one note of a decision that left turns out: (sent, of, budget, limited by)."""
    [note] = notes
    m = NOTE.fullmatch(note)
    assert m, note
    return m


def _sent(request: RecordedRequest) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request.messages]


def _ask(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out = ask_json(capsys, "--no-cache", *args)
    assert code == 0 and out["status"] == "ok", out
    return out


def _branch(home: Path, conversation_id: str) -> list[tuple[str, str]]:
    with Store.open(home / "chatroute.db") as store:
        return [(m.role, m.content) for m in store.history(conversation_id)]


def _long_conversation(capsys: pytest.CaptureFixture[str], turns: int) -> str:
    cid: str | None = None
    for i in range(turns):
        cid = _ask(capsys, *(("-c", cid) if cid else ()), _long_prompt(i))["conversation_id"]
    assert cid is not None
    return cid


def test_the_request_carries_the_latest_whole_turns_under_the_cap(capsys: pytest.CaptureFixture[str],
                                                                  configured: FakeServer, chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra="[chat]\nmax_history_tokens = 400\n")
    cid: str | None = None
    for i in range(6):
        configured.script("gpt-4o-mini", Reply(text=_reply(i)))
        out = _ask(capsys, "-m", "openai/gpt-4o-mini", *(("-c", cid) if cid else ("-s", SYSTEM)), _prompt(i))
        cid = out["conversation_id"]
        # 160 tokens a turn: two fit in 400, three do not. The system prompt always goes.
        kept = min(i, 2)
        expected = [("system", SYSTEM)]
        for j in range(i - kept, i):
            expected += [("user", _prompt(j)), ("assistant", _reply(j))]
        assert _sent(configured.requests[-1]) == [*expected, ("user", _prompt(i))], i
        assert out["route"]["notes"] == ([f"sent the last 2 of {i} turns (history budget 400 tokens)"] if i > 2 else [])
        # Recorded as sent: the fake server reports a quarter of the request's JSON.
        assert out["tokens"]["input"] == len(json.dumps(configured.requests[-1].messages)) // 4
    assert len(_branch(chatroute_home, cid)) == 12  # nothing left out of the store

    # A server that reports no usage: the estimate counts what was sent, not the conversation.
    configured.script("gpt-4o-mini", Reply(text=_reply(6), omit_usage=True))
    out = _ask(capsys, "-m", "openai/gpt-4o-mini", "-c", cid, _prompt(6))
    sent = [{"role": r, "content": c} for r, c in _sent(configured.requests[-1])[1:]]
    assert len(sent) == 5 and out["tokens"]["estimated"] is True
    assert out["tokens"]["input"] == count_messages(sent, SYSTEM, "openai/gpt-4o-mini")[0]


def test_a_conversation_longer_than_every_window_is_answered(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer, chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra=TINY_WINDOWS)
    cid = _long_conversation(capsys, 9)
    out = _ask(capsys, "-c", cid, _long_prompt(9))
    branch = _branch(chatroute_home, cid)
    earlier = branch[:-2]  # the nine turns before this one
    assert _estimate(earlier) > 2 * 2000  # past every window, twice over

    *history, prompt = _sent(configured.requests[-1])
    assert prompt == ("user", _long_prompt(9))
    turns = len(history) // 2
    assert 1 <= turns < 9 and history == earlier[-2 * turns:] and history[0][0] == "user"
    m = _note(out["route"]["notes"])
    assert (int(m[1]), int(m[2]), m[4]) == (turns, 9, "claude-haiku-4-5")
    budget = int(m[3].replace(",", ""))
    # The longest tail of whole turns that fits: one turn more would not.
    assert _estimate(history) <= budget < _estimate(earlier[-2 * turns - 2:])
    # Routing saw the trimmed size: only the roomiest model takes it.
    assert out["model"] == "anthropic/claude-haiku-4-5"
    excluded = {c["model"]: c["excluded"] or "" for c in out["route"]["candidates"]}
    assert excluded["openai/gpt-4o-mini"].startswith("context too small")
    assert out["route"]["expected_input_tokens"] == _estimate([*history, prompt])

    # `route` tells the same before anything is sent.
    code, text, err = run_cli(capsys, "route", "-c", cid, _long_prompt(10))
    assert code == 0 and "note: sent the last" in text and "of 10 turns" in text, err


def test_an_override_or_a_pin_trims_to_its_own_window(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                      chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra=TINY_WINDOWS)
    cid = _long_conversation(capsys, 6)
    routed = _ask(capsys, "-c", cid, "and which of those points matters most?")
    routed_sent = _sent(configured.requests[-1])
    out = _ask(capsys, "-m", "openai/gpt-4o-mini", "-c", cid, "and which of those points matters least?")
    request = configured.requests[-1]
    assert request.model == "gpt-4o-mini" and out["route"]["kind"] == "override"
    sent = _sent(request)
    assert 1 < len(sent) < len(routed_sent) and sent[0][0] == "user"
    assert _estimate(sent) < 1000  # inside gpt-4o-mini's own window
    assert _note(out["route"]["notes"])[2] == "7" and _note(out["route"]["notes"])[4] == "gpt-4o-mini"
    assert _note(routed["route"]["notes"])[4] == "claude-haiku-4-5"

    # A pinned conversation (the TUI's model picker sets it) trims the same way.
    with Store.open(chatroute_home / "chatroute.db") as store:
        store.set_pin(cid, "openai/gpt-4o")
    out = _ask(capsys, "-c", cid, "so what now?")
    assert configured.requests[-1].model == "gpt-4o" and out["route"]["kind"] == "pinned"
    assert _note(out["route"]["notes"])[4] == "gpt-4o"
    assert _estimate(_sent(configured.requests[-1])) < 1500


@pytest.mark.parametrize(("setting", "says"), [
    ("max_history_tokens = -1", "chat.max_history_tokens: Input should be greater than or equal to 0"),
    ('max_history_tokens = "lots"', "chat.max_history_tokens: Input should be a valid integer"),
    ("max_history_tokens = 1.5", "chat.max_history_tokens: Input should be a valid integer"),
    ("max_history = 100", "chat.max_history: unknown field (did you mean 'max_history_tokens'?)"),
])
def test_a_bad_history_budget_is_one_line_with_file_and_line(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer, chatroute_home: Path,
                                                             setting: str, says: str) -> None:
    config = write_config(chatroute_home, configured, extra=f"\n[chat]\n{setting}\n")
    line = config.read_text().splitlines().index(setting) + 1
    code, out, err = run_cli(capsys, "ask", "hello")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err == f"chatroute: error: {config}:{line}: {says}\n"
    assert configured.requests == []


def test_a_zero_budget_sends_no_history(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                        chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra="[chat]\nmax_history_tokens = 0\n")
    first = _ask(capsys, "My name is Ada.")
    out = _ask(capsys, "-c", first["conversation_id"], "What is my name?")
    assert _sent(configured.requests[-1]) == [("user", "What is my name?")]
    assert out["route"]["notes"] == ["sent none of the 1 earlier turns (history budget 0 tokens)"]


def test_regenerate_and_compare_send_windows_too(configured: FakeServer, chatroute_home: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The TUI's g (regenerate) and F4 (compare) call these engine methods."""
    write_config(chatroute_home, configured, extra=TINY_WINDOWS)
    cid = _long_conversation(capsys, 8)
    original = _sent(configured.requests[-1])
    engine = Engine.open()
    last_answer = engine.store.history(cid)[-1]

    async def drive() -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        regen = [e async for e in engine.run_turn(cid, _long_prompt(7), regenerate_of=last_answer.id)]
        streams = engine.compare(cid, "sum it all up", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
        done = await asyncio.gather(*[_collect(s) for s in streams.values()])
        await engine.aclose()
        return regen, dict(zip(streams, done, strict=True))

    regen, compared = asyncio.run(drive())
    # Regenerating the last answer asks the same question with the same window as the first time.
    regen_request = next(r for r in configured.requests[-3:] if _sent(r)[-1] == ("user", _long_prompt(7)))
    assert _sent(regen_request) == original
    assert isinstance(regen[-1], TurnFinished) and regen[-1].record.status == "ok"
    # Compare: each model gets what fits its own window, and says what it left out.
    mini, haiku = (_sent(configured.requests_for(m)[-1]) for m in ("gpt-4o-mini", "claude-haiku-4-5"))
    assert mini[-1] == haiku[-1] == ("user", "sum it all up")
    assert 1 < len(mini) < len(haiku) and _estimate(mini) < 1000 < _estimate(haiku) < 2000
    for model, events in compared.items():
        assert isinstance(events[-1], TurnFinished) and events[-1].record.status == "ok"
        [decided] = [e for e in events if isinstance(e, Routed)]
        assert _note(decided.decision["notes"])[4] == model.split("/")[1]


async def _collect(stream: Any) -> list[Any]:
    return [e async for e in stream]


def test_a_stream_killed_mid_answer_is_priced_for_the_window_it_sent(capsys: pytest.CaptureFixture[str],
                                                                     configured: FakeServer,
                                                                     chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra="[chat]\nmax_history_tokens = 400\n")
    cid: str | None = None
    for i in range(6):
        configured.script("gpt-4o-mini", Reply(text=_reply(i)))
        cid = _ask(capsys, "-m", "openai/gpt-4o-mini", *(("-c", cid) if cid else ()), _prompt(i))["conversation_id"]
    assert cid is not None
    # A process streaming the seventh answer was killed (tests/hardening/test_crash.py does it
    # for real): its message is left 'streaming', written by a pid that no longer runs.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with Store.open(chatroute_home / "chatroute.db") as store:
        question = store.add_message(cid, "user", _prompt(6), store.history_ids(cid)[-1])
        partial = store.add_message(cid, "assistant", "half an ans", question.id, status="streaming",
                                    model="openai/gpt-4o-mini")
        store.conn.execute("UPDATE messages SET writer = ? WHERE id = ?",
                           (f"{socket.gethostname()}:{gone.stdout.strip()}", partial.id))
    engine = Engine.open()  # the next open recovers and prices it
    record = engine.store.turn_for_message(partial.id)
    asyncio.run(engine.aclose())
    assert record is not None and record.usage_estimated and record.status == "interrupted"
    # Priced for the last two turns and the question, as the engine would have sent them.
    sent = [{"role": r, "content": c} for j in (4, 5) for r, c in (("user", _prompt(j)), ("assistant", _reply(j)))]
    sent.append({"role": "user", "content": _prompt(6)})
    assert record.input_tokens == count_messages(sent, None, "openai/gpt-4o-mini")[0]


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
def test_a_question_that_got_no_answer_is_not_sent_as_history(capsys: pytest.CaptureFixture[str],
                                                              configured: FakeServer, model: str) -> None:
    """A failed turn (no text came) is half a turn: its question would reach the next model
    without its answer, two user messages in a row, and `ask` says to retry by running the same
    command again, which sent the question twice. A reply cut after some text still goes, as
    interrupted context (README: kill -9 row)."""
    name = model.split("/")[1]
    first = _ask(capsys, "-m", model, "-s", SYSTEM, "q1")
    cid = first["conversation_id"]
    for fault in (Fault(status=500), Drop(after_chunks=0)):
        configured.script(name, fault)
        code, out = ask_json(capsys, "--no-cache", "-m", model, "-c", cid, "what failed")
        assert code == 1 and out["status"] == "error" and out["text"] == ""
    configured.script(name, Drop(after_chunks=2, text="cut off after these words"))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "-c", cid, "q2")
    assert code == 1 and out["status"] == "interrupted" and out["text"]
    partial = out["text"]
    out = _ask(capsys, "-m", model, "-c", cid, "what failed")
    request = configured.requests[-1]
    sent = _sent(request)
    if request.wire == "anthropic":
        assert request.system == SYSTEM
    else:
        assert sent.pop(0) == ("system", SYSTEM)
    assert sent == [("user", "q1"), ("assistant", first["text"]), ("user", "q2"), ("assistant", partial),
                    ("user", "what failed")]
    assert out["route"]["notes"] == []


JAPANESE = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
            "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。")  # 69 characters, ≈ 60 tokens


def test_a_conversation_in_japanese_is_windowed_to_what_fits(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer, chatroute_home: Path) -> None:
    """3.6 characters a token errs large for English but small, three- to fourfold, for CJK
    text (about a token a character), and so for the window, the size filter and the refusal."""
    write_config(chatroute_home, configured, extra=TINY_WINDOWS)
    windows = {"gpt-4o-mini": 1000, "gpt-4o": 1500, "claude-haiku-4-5": 2000}
    cid: str | None = None
    for i in range(8):
        out = _ask(capsys, *(("-c", cid) if cid else ()), f"{i}: " + JAPANESE * 3)
        cid = out["conversation_id"]
        request = configured.requests[-1]
        provider = "anthropic" if request.wire == "anthropic" else "openai"
        size, _ = count_messages(request.messages, None, f"{provider}/{request.model}")
        assert size + 16 <= windows[str(request.model)], (i, request.model, size)
    assert out["route"]["notes"] and NOTE.fullmatch(out["route"]["notes"][0])

    # A prompt larger than every window is refused before anything is sent.
    sent = len(configured.requests)
    code, text, err = run_cli(capsys, "ask", JAPANESE * 30)
    assert code == 2 and "the largest context window is 2,000" in err, err
    assert len(configured.requests) == sent


def test_an_answer_of_only_whitespace_is_not_sent_as_history(capsys: pytest.CaptureFixture[str],
                                                            configured: FakeServer) -> None:
    """A reply stopped when all it had was a blank line (a reasoning model opens its answer with
    one after its thinking) has no text: Anthropic refuses a message of only whitespace ("text
    content blocks must contain non-whitespace text"), and as the conversation's history it
    would refuse every later turn on a Claude model. Such a turn is left out, as one with no
    text is."""
    configured.anthropic_rules = True
    first = _ask(capsys, "-m", "anthropic/claude-haiku-4-5", "q1")
    cid = first["conversation_id"]
    configured.script("gpt-4o-mini", Drop(after_chunks=1, text="\n\nThe answer, cut off"))
    code, out = ask_json(capsys, "--no-cache", "-m", "openai/gpt-4o-mini", "-c", cid, "q2")
    # Since 803b49b blank text that opens an answer is held back (it may come before `<think>`),
    # so a stream cut there failed before any text: an error with nothing to send, not a reply.
    assert code == 1 and out["status"] in ("interrupted", "error") and not out["text"].strip(), out
    for prompt in ("q3", "q4"):
        out = _ask(capsys, "-m", "anthropic/claude-haiku-4-5", "-c", cid, prompt)
    assert _sent(configured.requests[-1]) == [("user", "q1"), ("assistant", first["text"]),
                                              ("user", "q3"), ("assistant", out["text"].replace("q4", "q3")),
                                              ("user", "q4")]
