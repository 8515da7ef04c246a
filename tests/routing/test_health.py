from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.routing.health import HealthBoard


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def board(tmp_path: Path, clock: Clock, **kw) -> HealthBoard:  # type: ignore[no-untyped-def]
    return HealthBoard.open(tmp_path, clock=clock, base_backoff_s=5.0, **kw)


def test_retry_after_is_respected_and_never_shortened(tmp_path: Path, clock: Clock) -> None:
    b = board(tmp_path, clock)
    until = b.record_failure("p/m", "rate_limited", retry_after=30)
    assert until == pytest.approx(1030)  # max(retry_after 30, backoff 5)
    clock.t += 5
    # A later error with a short Retry-After must not shorten the cooldown.
    assert b.record_failure("p/m", "rate_limited", retry_after=1) == pytest.approx(1030)
    # A longer one extends it.
    assert b.record_failure("p/m", "server", retry_after=100) == pytest.approx(1105)
    assert "cooling down" in (b.unavailable_reason("p/m") or "") or "circuit" in (b.unavailable_reason("p/m") or "")
    clock.t = 1106
    assert b.unavailable_reason("p/m") is None


def test_a_wait_under_a_second_is_not_read_as_none_and_a_disable_says_how_it_ends(tmp_path: Path,
                                                                                   clock: Clock) -> None:
    b = board(tmp_path, clock)
    b.record_failure("p/m", "rate_limited", retry_after=30)
    clock.t += 29.6
    assert (b.unavailable_reason("p/m") or "").startswith("cooling down for 1 s after")
    b.record_failure("openai/gpt-4o", "auth")
    assert (b.unavailable_reason("openai/gpt-4o") or "").endswith(
        "until the config changes or a turn pinned to it is answered")


def test_backoff_without_retry_after(tmp_path: Path, clock: Clock) -> None:
    b = board(tmp_path, clock)
    assert b.record_failure("p/m", "overloaded") == pytest.approx(1005)
    clock.t = 1006
    assert b.record_failure("p/m", "overloaded") == pytest.approx(1016)  # 5 * 2


def test_circuit_breaker(tmp_path: Path, clock: Clock) -> None:
    b = board(tmp_path, clock, failure_threshold=3)
    for _ in range(3):
        b.record_failure("p/m", "timeout")
    assert b.breaker("p/m") == "open"
    assert "circuit open" in (b.unavailable_reason("p/m") or "")
    clock.t += b.cooldown_remaining("p/m") + 0.1
    assert b.breaker("p/m") == "half_open" and b.unavailable_reason("p/m") is None
    first = b.models["p/m"].backoff_s
    b.record_failure("p/m", "timeout")  # the trial fails: open again, longer
    assert b.breaker("p/m") == "open" and b.models["p/m"].backoff_s == 2 * first
    clock.t += b.cooldown_remaining("p/m") + 0.1
    b.record_success("p/m", ttft_s=0.5)
    assert b.breaker("p/m") == "closed"


def test_auth_disables_provider_until_config_changes(tmp_path: Path, clock: Clock) -> None:
    b = board(tmp_path, clock, config_fingerprint="cfg1")
    b.record_failure("openai/gpt-4o", "auth")
    assert "disabled" in (b.unavailable_reason("openai/gpt-4o-mini") or "")
    b.record_failure("anthropic/x", "not_found")
    assert "not found" in (b.unavailable_reason("anthropic/x") or "")
    assert b.unavailable_reason("anthropic/y") is None
    same = board(tmp_path, clock, config_fingerprint="cfg1")
    assert same.unavailable_reason("openai/gpt-4o") is not None
    assert "provider" in same.snapshot(["openai/gpt-4o-mini"])["openai/gpt-4o-mini"]["disabled"]
    changed = board(tmp_path, clock, config_fingerprint="cfg2")
    assert changed.unavailable_reason("openai/gpt-4o") is None
    assert changed.unavailable_reason("anthropic/x") is None


def test_context_and_policy_errors_do_not_hurt_health(tmp_path: Path, clock: Clock) -> None:
    b = board(tmp_path, clock)
    b.record_failure("p/m", "context_overflow")
    b.record_failure("p/m", "content_policy")
    assert b.unavailable_reason("p/m") is None and b.models["p/m"].failures == 0


def test_ewma_and_expected_latency(tmp_path: Path, clock: Clock) -> None:
    b = board(tmp_path, clock)
    assert b.expected_latency("p/m", 600) == pytest.approx(0.8 + 600 / 60)  # priors
    b.record_success("p/m", ttft_s=1.0, tokens_per_s=100, output_tokens=200)
    b.record_success("p/m", ttft_s=2.0, tokens_per_s=50, output_tokens=200)
    h = b.models["p/m"]
    assert h.ttft_s == pytest.approx(0.7 * 1.0 + 0.3 * 2.0)
    assert h.tokens_per_s == pytest.approx(0.7 * 100 + 0.3 * 50)
    b.record_success("p/m", ttft_s=1.3, tokens_per_s=1e6, output_tokens=2)  # too short to count
    assert h.tokens_per_s == pytest.approx(85)
    b.record_failure("p/m", "server")
    assert 0 < b.models["p/m"].error_rate < 1


def test_shared_between_processes_via_file(tmp_path: Path, clock: Clock) -> None:
    a = board(tmp_path, clock)
    other = board(tmp_path, clock)
    a.record_failure("p/m", "rate_limited", retry_after=60)
    assert other.unavailable_reason("p/m") is not None  # re-read on change
    data = json.loads((tmp_path / "health.json").read_text())
    assert "p/m" in data["models"]
    (tmp_path / "health.json").write_text("{corrupt")
    assert board(tmp_path, clock).unavailable_reason("p/m") is None  # never breaks routing
    snap = a.snapshot(["p/m", "q/other"])
    assert snap["p/m"]["cooldown_remaining_s"] > 0 and snap["q/other"]["breaker"] == "closed"
    assert json.dumps(snap)
    loaded = HealthBoard.load(tmp_path / "health.json", clock=clock)
    assert loaded.path == tmp_path / "health.json"


def test_save_every_s_holds_successes_back_but_never_failures(tmp_path: Path, clock: Clock) -> None:
    """A server relaying many requests writes health.json at most every `save_every_s` for
    successes; a failure (a cooldown other processes must see) is written at once."""
    b = board(tmp_path, clock, save_every_s=1.0)
    b.record_success("p/m", ttft_s=0.5)  # the first one is written
    on_disk = lambda: json.loads((tmp_path / "health.json").read_text())["models"]  # noqa: E731
    assert on_disk()["p/m"]["requests"] == 1
    clock.t += 0.5
    b.record_success("p/m", ttft_s=0.5)
    b.record_success("p/m", ttft_s=0.5)
    assert on_disk()["p/m"]["requests"] == 1  # held back
    b.flush()
    assert on_disk()["p/m"]["requests"] == 3
    clock.t += 0.1
    b.record_success("p/m", ttft_s=0.5)
    b.record_failure("p/m", "rate_limited", retry_after=30)  # at once, with the success held back
    assert on_disk()["p/m"]["requests"] == 5
    assert on_disk()["p/m"]["cooldown_until"] == pytest.approx(clock.t + 30)
    clock.t += 1.0
    b.record_success("p/m", ttft_s=0.5)  # a second after the last write: written
    assert on_disk()["p/m"]["requests"] == 6


def test_a_cooldown_another_process_wrote_survives_this_ones_writes(tmp_path: Path, clock: Clock) -> None:
    """A server holding successes back, flushing them as it stops, erased the 429 cooldown an
    `ask` had written meanwhile: the model was routed to again at once."""
    import os

    server = board(tmp_path, clock, save_every_s=60.0)
    server.record_success("p/m", ttft_s=0.5)
    server.record_success("p/m", ttft_s=0.5)  # held back: the server's copy is now ahead
    server.record_success("p/other", ttft_s=0.4)
    ask = board(tmp_path, clock)
    ask.record_failure("p/m", "rate_limited", retry_after=120)
    os.utime(tmp_path / "health.json", ns=(1, 1))  # a write in the same clock tick is still seen
    server.flush()  # as it stops
    again = board(tmp_path, clock)
    assert again.unavailable_reason("p/m") is not None
    assert again.cooldown_remaining("p/m") == pytest.approx(120)
    assert again.models["p/other"].requests == 1  # the server's own changes are kept too
    # Lifting it on purpose still lifts it, and a reset still forgets everything.
    again.enable("p/m")
    assert board(tmp_path, clock).unavailable_reason("p/m") is None
    ask.record_failure("p/m", "rate_limited", retry_after=120)
    board(tmp_path, clock).reset()
    assert board(tmp_path, clock).models == {}


def test_every_success_is_written_by_default(tmp_path: Path, clock: Clock) -> None:
    b = board(tmp_path, clock)
    for _ in range(3):
        b.record_success("p/m", ttft_s=0.5)
    assert json.loads((tmp_path / "health.json").read_text())["models"]["p/m"]["requests"] == 3


def test_the_file_keeps_the_most_recently_used_models_only(tmp_path: Path, clock: Clock,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A local server takes any model name: names made up by a client (each a 404, disabled)
    must not grow health.json, which every failure rewrites whole, without end."""
    from chatroute.routing import health

    monkeypatch.setattr(health, "MAX_MODELS", 20)
    MAX_MODELS = health.MAX_MODELS
    b = board(tmp_path, clock)
    b.record_success("local/llama", ttft_s=0.2)
    for i in range(MAX_MODELS + 100):
        clock.t += 1
        b.record_failure(f"local/made-up-{i}", "not_found")
    clock.t += 1
    b.record_success("local/llama", ttft_s=0.4)
    saved = json.loads((tmp_path / "health.json").read_text())["models"]
    assert len(saved) == MAX_MODELS
    assert "local/llama" in saved and "local/made-up-0" not in saved
    assert f"local/made-up-{MAX_MODELS + 99}" in saved
    again = board(tmp_path, clock)
    assert again.unavailable_reason(f"local/made-up-{MAX_MODELS + 99}") == b.unavailable_reason(
        f"local/made-up-{MAX_MODELS + 99}") is not None
