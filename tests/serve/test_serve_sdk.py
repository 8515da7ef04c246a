"""`chatroute serve` through the official openai SDK: routed, preset and pinned requests, streamed
and not, with the decision in headers and bodies and every request in the ledger."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.fakeserver import Fault, Reply
from tests.serve.conftest import ROOT, Served, serve_env


def test_non_streaming_answer_carries_the_decision_and_is_in_the_ledger(fresh: Served) -> None:
    raw = fresh.client().chat.completions.with_raw_response.create(
        model="chatroute/auto", messages=[{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "name a prime number between 10 and 20"}])
    completion = raw.parse()
    model = raw.headers["x-chatroute-model"]
    assert completion.model == model
    assert completion.choices[0].message.content == f"Echo from {model.split('/', 1)[1]}: " \
        "name a prime number between 10 and 20"
    assert completion.choices[0].finish_reason == "stop"
    decision = completion.model_extra["chatroute"]
    assert decision["model"] == model and decision["route_kind"] == "routed" and decision["cache"] == "miss"
    assert raw.headers["x-chatroute-route-reason"] and raw.headers["x-chatroute-route-reason"] in decision["reason"]
    cost = float(raw.headers["x-chatroute-cost-usd"])
    assert cost > 0 and cost == pytest.approx(decision["cost_usd"], abs=1e-8)

    turn = fresh.turn(decision["turn_id"])
    assert turn.client == "OpenAI/Python" and turn.status == "ok" and turn.model == model
    assert turn.cost_usd == pytest.approx(cost, abs=1e-8)
    assert turn.output_tokens == completion.usage.completion_tokens
    assert completion.usage.prompt_tokens > 0
    # The provider got the client's system prompt and message, and none of the ledger's keys.
    sent = fresh.fake.requests[-1]
    assert "Be brief." in str(sent.system or sent.messages)
    assert "bearer" not in str(sent.body).lower() and fresh.token not in str(sent.body)


def test_stream_with_include_usage_reports_what_the_ledger_records(fresh: Served) -> None:
    stream = fresh.client().chat.completions.create(
        model="openai/gpt-4o", messages=[{"role": "user", "content": "stream me five words please"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo from gpt-4o: stream me five words please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices
    decision = chunks[-1].model_extra["chatroute"]
    assert decision["route_kind"] == "pinned" and decision["model"] == "openai/gpt-4o"
    turn = fresh.turn(decision["turn_id"])
    assert (turn.input_tokens, turn.output_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert turn.cost_usd == pytest.approx(decision["cost_usd"]) and turn.cost_usd > 0
    assert {c.model for c in chunks} == {"openai/gpt-4o"}
    assert 0 <= decision["added_ttft_ms"] < 5_000


def test_stream_without_usage_has_no_usage_chunk(fresh: Served) -> None:
    with fresh.client().chat.completions.with_streaming_response.create(
            model="chatroute/auto", messages=[{"role": "user", "content": "a stream with no usage chunk"}],
            stream=True) as response:
        assert response.headers["x-chatroute-model"] in ("openai/gpt-4o-mini", "openai/gpt-4o",
                                                         "anthropic/claude-haiku-4-5")
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    assert '"usage"' not in body and body.rstrip().endswith("data: [DONE]")


def test_pinned_model_passes_through_and_preset_variants_route(fresh: Served) -> None:
    client = fresh.client()
    pinned = client.chat.completions.create(model="claude-haiku-4-5",
                                            messages=[{"role": "user", "content": "pinned by a bare name"}])
    assert pinned.model == "anthropic/claude-haiku-4-5"
    assert pinned.model_extra["chatroute"]["route_kind"] == "pinned"
    assert fresh.fake.requests[-1].model == "claude-haiku-4-5"
    for preset in ("frugal", "best"):
        done = client.chat.completions.create(model=f"chatroute/{preset}",
                                              messages=[{"role": "user", "content": f"routed with {preset}"}])
        turn = fresh.turn(done.model_extra["chatroute"]["turn_id"])
        assert turn.route_kind == "routed" and turn.route["preset"] == preset
    # A preset request does not change what chatroute/auto uses (the configured preset).
    auto = client.chat.completions.create(model="chatroute/auto",
                                          messages=[{"role": "user", "content": "and back to auto"}])
    assert fresh.turn(auto.model_extra["chatroute"]["turn_id"]).route["preset"] == "balanced"


def test_models_lists_the_routed_names_and_the_catalogue(fresh: Served) -> None:
    ids = [m.id for m in fresh.client().models.list().data]
    assert ids[:4] == ["chatroute/auto", "chatroute/frugal", "chatroute/balanced", "chatroute/best"]
    assert "openai/gpt-4o-mini" in ids and "anthropic/claude-haiku-4-5" in ids


def test_provider_429_is_rerouted_before_the_first_token(fresh: Served) -> None:
    fresh.fake.script(Fault(status=429, retry_after=30))  # whichever model is asked first
    raw = fresh.client().chat.completions.with_raw_response.create(
        model="chatroute/auto", messages=[{"role": "user", "content": "explain rate limits in one line"}])
    completion = raw.parse()
    first, second = (r.model for r in fresh.fake.requests)
    assert first != second
    assert raw.headers["x-chatroute-model"].endswith("/" + second)
    # The reason is the answering model's (it explained why the first, failed one was picked).
    assert raw.headers["x-chatroute-route-reason"].startswith(f"rerouted: {first} 429")
    assert raw.headers["x-chatroute-route-reason"].endswith(second)
    decision = completion.model_extra["chatroute"]
    assert decision["reroutes"] and decision["reroutes"][0].startswith(f"{first} 429")
    turn = fresh.turn(decision["turn_id"])
    assert turn.status == "ok" and turn.route["reroutes"][0]["kind"] == "rate_limited"


def test_a_billed_attempt_before_a_reroute_is_in_the_requests_cost(fresh: Served) -> None:
    """The first model thinks, then its connection drops before any text: that attempt is billed
    (a turn of its own in the ledger) and the request's cost says so. It gave the answer's cost
    alone, so a client adding up the header under-counted what the ledger holds."""
    from tests.fakeserver import Drop

    thought = " ".join(f"step {i}: weigh the case." for i in range(150))
    fresh.fake.script(Drop(after_chunks=0, reasoning=thought, input_tokens=3000))  # the first model asked
    before = {t.id for t in fresh.turns()}  # the server may have answered other tests' requests
    raw = fresh.client().chat.completions.with_raw_response.create(
        model="chatroute/auto", messages=[{"role": "user", "content": "prove it with care"}])
    decision = raw.parse().model_extra["chatroute"]
    answer = fresh.turn(decision["turn_id"])
    billed = [t for t in fresh.turns() if t.id not in before and t.id != answer.id]
    assert len(billed) == 1 and billed[0].cost_usd and billed[0].status == "error"
    total = answer.cost_usd + billed[0].cost_usd
    assert float(raw.headers["x-chatroute-cost-usd"]) == pytest.approx(total, abs=1e-8)
    assert decision["cost_usd"] == pytest.approx(total) and decision["answer_cost_usd"] == answer.cost_usd
    assert "(billed ≈$" in decision["reroutes"][0]


def test_pinned_model_failure_is_an_openai_error_not_a_reroute(fresh: Served) -> None:
    fresh.fake.script("gpt-4o", Fault(status=429, retry_after=30))
    with pytest.raises(openai.RateLimitError) as info:
        fresh.client().chat.completions.create(model="openai/gpt-4o",
                                               messages=[{"role": "user", "content": "pinned and limited"}])
    assert info.value.body["code"] == "rate_limited"
    assert "rate limited" in info.value.body["message"]
    # The provider's wait is passed on, so the client's SDK waits before it retries.
    assert info.value.response.headers["retry-after"] == "30"
    assert len(fresh.fake.requests) == 1
    assert fresh.turns()[0].status == "error"


def test_the_same_request_twice_is_answered_from_the_cache(fresh: Served) -> None:
    client = fresh.client()
    ask = {"model": "chatroute/auto", "messages": [{"role": "user", "content": "what does a cache key hold here?"}]}
    first = client.chat.completions.create(**ask)
    second = client.chat.completions.with_raw_response.create(**ask)
    hit = second.parse()
    assert hit.choices[0].message.content == first.choices[0].message.content
    assert hit.model_extra["chatroute"]["cache"] == "hit"
    assert float(second.headers["x-chatroute-cost-usd"]) == 0.0
    assert len(fresh.fake.requests) == 1
    # The ledger counts what the hit saved, as a chat turn's hit does (it recorded nothing).
    [hit_turn] = [t for t in fresh.turns() if t.cache_status == "hit"]
    assert hit_turn.saved_usd is not None and hit_turn.saved_usd > 0
    # The key is the whole request: another temperature or history is another question.
    client.chat.completions.create(**ask, temperature=0.2)
    client.chat.completions.create(model="chatroute/auto", messages=[
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, *ask["messages"]])
    assert len(fresh.fake.requests) == 3


def test_requests_that_name_another_seed_are_not_served_one_cached_answer(fresh: Served) -> None:
    # A client sampling several answers with seed=1, 2, 3 (n > 1 is refused) got the first answer
    # three times from the cache: the seed is not passed on, but it asks for another sample.
    client = fresh.client()
    ask = {"model": "openai/gpt-4o-mini", "temperature": 0.9,
           "messages": [{"role": "user", "content": "give me a name for a cat"}]}
    fresh.fake.script("gpt-4o-mini", Reply(text="Miso"), Reply(text="Pixel"))
    first = client.chat.completions.create(**ask, seed=1)
    second = client.chat.completions.create(**ask, seed=2)
    assert (first.choices[0].message.content, second.choices[0].message.content) == ("Miso", "Pixel")
    assert second.model_extra["chatroute"]["cache"] == "miss"
    again = client.chat.completions.create(**ask, seed=1)  # the same seed is the same request
    assert again.model_extra["chatroute"]["cache"] == "hit" and again.choices[0].message.content == "Miso"
    assert len(fresh.fake.requests) == 2


def test_concurrent_streams_each_cost_exactly_what_they_report(fresh: Served) -> None:
    fresh.fake.script(*[Reply(n_tokens=200) for _ in range(20)])

    async def one(client: openai.AsyncOpenAI, i: int) -> tuple[str, int, int]:
        stream = await client.chat.completions.create(
            model="chatroute/auto", messages=[{"role": "user", "content": f"concurrent stream number {i}"}],
            stream=True, stream_options={"include_usage": True})
        n = 0
        last = None
        async for chunk in stream:
            n += bool(chunk.choices and chunk.choices[0].delta.content)
            last = chunk
        assert last is not None and last.usage is not None
        return last.model_extra["chatroute"]["turn_id"], last.usage.completion_tokens, n

    async def main() -> list[tuple[str, int, int]]:
        client = fresh.async_client()
        try:
            return await asyncio.gather(*(one(client, i) for i in range(20)))
        finally:
            await client.close()

    results = asyncio.run(main())
    assert all(n == 200 and tokens == 200 for _, tokens, n in results)
    turns = {t.id: t for t in fresh.turns()}
    assert all(turns[tid].output_tokens == 200 and turns[tid].status == "ok" for tid, _, _ in results)
    assert not [line for line in fresh.stderr if "locked" in line or "Traceback" in line]


def test_costs_by_client_lists_served_requests(fresh: Served) -> None:
    fresh.client().chat.completions.create(model="chatroute/auto",
                                           messages=[{"role": "user", "content": "count me in the costs"}])
    # A tool whose every request failed before any token: $0 and no turn, so no row either.
    fresh.fake.script("gpt-4o-mini", Fault(status=429))
    with pytest.raises(openai.RateLimitError):
        fresh.client(default_headers={"User-Agent": "always-limited/1.0"}).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "refused upstream"}])
    assert [t.status for t in fresh.turns() if t.client == "always-limited"] == ["error"]
    out = subprocess.run([sys.executable, "-m", "chatroute", "costs", "--by", "client", "--format", "csv"],
                         cwd=ROOT, env=serve_env(fresh.home), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split(",") for line in out.stdout.splitlines()[1:]]
    served = {r[0]: int(r[1]) for r in rows}
    # A request that failed before anything was billed (a rerouted 429) is not a paid turn.
    paid = [t for t in fresh.turns() if t.client == "OpenAI/Python"
            and not (t.status == "error" and t.input_tokens + t.output_tokens == 0)]
    assert served["OpenAI/Python"] == len(paid)
    assert "always-limited" not in served


def test_a_running_server_takes_a_price_update(fresh: Served, tmp_path: Path) -> None:
    """`chatroute prices update` in another process: a running server kept charging the old
    price (the ledger then held two prices for one model on one day)."""
    import json as json_module

    from tests.catalog.helpers import make_feed

    def cost_of_one(prompt: str) -> float:
        fresh.fake.script("gpt-4o-mini", Reply(text="ok", input_tokens=1000, output_tokens=100))
        raw = fresh.client().chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
        return float(raw.headers["x-chatroute-cost-usd"])

    before = cost_of_one("price me")
    feed = make_feed()
    for key in ("input_cost_per_token", "output_cost_per_token"):
        feed["gpt-4o-mini"][key] *= 10
    (tmp_path / "feed.json").write_text(json_module.dumps(feed), encoding="utf-8")
    update = [sys.executable, "-m", "chatroute", "prices", "update", "--from", str(tmp_path / "feed.json")]
    done = subprocess.run(update, env=serve_env(fresh.home), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert cost_of_one("price me again, after the update") == pytest.approx(10 * before)


def test_a_model_that_takes_no_temperature_answers_without_it(fresh: Served) -> None:
    """OpenAI's reasoning models (o-series, gpt-5) take only their default temperature and answer
    any other with a 400. A client's temperature (many send one by default) made every request
    routed to such a model fail with 'bad request (400)'. Now the request is sent again without it,
    once, and the model is remembered: its next requests leave it out."""
    refused = ("Unsupported value: 'temperature' does not support 0.2 with this model. "
               "Only the default (1) value is supported.")
    fresh.fake.script("gpt-5", Fault(status=400, code="unsupported_value", message=refused))
    client = fresh.client()
    done = client.chat.completions.create(model="openai/gpt-5", temperature=0.2,
                                          messages=[{"role": "user", "content": "a reasoning model, warm"}])
    assert done.choices[0].message.content == "Echo from gpt-5: a reasoning model, warm"
    assert [r.body.get("temperature") for r in fresh.fake.requests_for("gpt-5")] == [0.2, None]
    fresh.fake.reset()
    client.chat.completions.create(model="openai/gpt-5", temperature=0.7,
                                   messages=[{"role": "user", "content": "the same model again"}])
    assert ["temperature" in r.body for r in fresh.fake.requests_for("gpt-5")] == [False]


def test_text_parts_of_one_message_reach_the_model_on_lines_of_their_own(fresh: Served) -> None:
    # Joined with nothing between them, "Hello" and "World" reached the model as "HelloWorld".
    fresh.client().chat.completions.create(model="openai/gpt-4o-mini", messages=[
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "World"}]}])
    sent = fresh.fake.requests[-1].messages
    assert sent[0] == {"role": "system", "content": "Be brief.\nBe kind."}
    assert sent[-1] == {"role": "user", "content": "Hello\nWorld"}


def test_an_empty_message_a_client_sends_is_left_out_for_claude(fresh: Served) -> None:
    """OpenAI's API takes an assistant message with empty content (a client keeps one for an answer
    it stopped) and a blank system message; Anthropic's refuses either with a 400 ("all messages
    must have non-empty content", "text content blocks must contain non-whitespace text"), so such
    a request named for a Claude model failed as 'bad request (400)'. A message with no text says
    nothing to the model: it is left out of the Messages request, and Anthropic takes the two
    user turns around it as one."""
    fresh.fake.anthropic_rules = True
    done = fresh.client().chat.completions.create(model="anthropic/claude-haiku-4-5", messages=[
        {"role": "system", "content": " "},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Name a prime, again."}])
    assert done.choices[0].message.content == "Echo from claude-haiku-4-5: Name a prime, again."
    sent = fresh.fake.requests[-1]
    assert sent.system is None
    assert sent.messages == [{"role": "user", "content": "Name a prime."},
                             {"role": "user", "content": "Name a prime, again."}]
