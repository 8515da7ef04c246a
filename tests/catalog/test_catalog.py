"""Catalogue building: provider mapping, name resolution, overrides and their precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.catalog.abilities import default_ability, heuristic_ability
from chatroute.catalog.catalog import Catalog, feed_provider
from chatroute.catalog.prices import load_bundled
from chatroute.errors import ConfigError

from .helpers import make_config, make_paths

PROVIDERS = {
    "openai": {"kind": "openai"},
    "anthropic": {"kind": "anthropic"},
    "ollama": {"kind": "openai", "base_url": "http://127.0.0.1:11434/v1"},
}


def build(home: Path, providers=PROVIDERS, **kw) -> Catalog:
    return Catalog.build(make_config(providers, **kw), make_paths(home))


def test_feed_provider_mapping() -> None:
    assert feed_provider("openai", None) == ("openai", False)
    assert feed_provider("anthropic", "https://proxy.example/v1") == ("anthropic", False)
    assert feed_provider("openai", "https://openrouter.ai/api/v1") == ("openrouter", False)
    assert feed_provider("openai", "https://api.groq.com/openai/v1") == ("groq", False)
    assert feed_provider("openai", "http://localhost:8080/v1") == (None, True)
    assert feed_provider("openai", "http://[::1]:1234/v1") == (None, True)
    assert feed_provider("openai", "http://gpu-box.lan:8000/v1") == (None, False)


def test_bundled_prices_and_metadata(chatroute_home: Path) -> None:
    cat = build(chatroute_home)
    m = cat.get("openai/gpt-4o-mini")
    assert (m.input_cost_per_mtok, m.output_cost_per_mtok, m.cached_input_cost_per_mtok) == (0.15, 0.6, 0.075)
    assert m.price_source == "bundled" and m.price_as_of == load_bundled().as_of
    assert m.context_window == 128000 and "vision" in m.capabilities
    s = cat.get("anthropic/claude-sonnet-4-5")
    assert (s.cached_input_cost_per_mtok, s.cache_write_cost_per_mtok) == (0.3, 3.75)
    assert len([x for x in cat.all() if x.provider == "openai"]) > 50
    assert all(0 <= x.ability <= 1 for x in cat.all())


def test_bare_names_and_suggestions(chatroute_home: Path) -> None:
    cat = build(chatroute_home)
    assert cat.resolve("gpt-4o") == "openai/gpt-4o"
    assert cat.resolve("claude-haiku-4-5") == "anthropic/claude-haiku-4-5"
    with pytest.raises(ConfigError, match="did you mean.*openai/gpt-4o-mini"):
        cat.get("gpt-4o-mni")
    with pytest.raises(ConfigError, match=r"did you mean.*openai/gpt-4o-mini.*\[models"):
        cat.get("openai/gpt-4o-mni")
    with pytest.raises(ConfigError, match="provider 'mistral' is not configured"):
        cat.get("mistral/mistral-large-latest")


def test_ambiguous_bare_name(chatroute_home: Path) -> None:
    providers = {"openai": {"kind": "openai"}, "work": {"kind": "openai", "base_url": "https://api.openai.com/v1"}}
    cat = build(chatroute_home, providers)
    with pytest.raises(ConfigError, match="ambiguous.*openai/gpt-4o, work/gpt-4o"):
        cat.get("gpt-4o")
    assert cat.get("work/gpt-4o").input_cost_per_mtok == 2.5


def test_local_and_unknown_servers(chatroute_home: Path) -> None:
    providers = {**PROVIDERS, "lan": {"kind": "openai", "base_url": "http://gpu-box.lan:8000/v1"}}
    cat = build(chatroute_home, providers,
                pool=["ollama/llama3.2", "lan/qwen3:32b", "anthropic/claude-3-5-haiku-20241022"])
    local = cat.get("ollama/llama3.2")
    assert local.price_source == "local" and local.input_cost_per_mtok == 0.0
    assert cat.get("ollama/anything:1b").price_source == "local"  # local servers accept any name
    lan = cat.get("lan/qwen3:32b")
    assert lan.price_source == "unknown" and lan.input_cost_per_mtok is None
    # named in the pool but unknown to the feed: still in the catalogue, unpriced
    old = cat.get("anthropic/claude-3-5-haiku-20241022")
    assert old.price_source == "unknown" and old.input_cost_per_mtok is None
    assert [m.id for m in cat.pool()] == ["ollama/llama3.2", "lan/qwen3:32b", "anthropic/claude-3-5-haiku-20241022"]


def test_openrouter_uses_upstream_prices_when_feed_has_none(chatroute_home: Path) -> None:
    providers = {"openrouter": {"kind": "openai", "base_url": "https://openrouter.ai/api/v1"}}
    cat = build(chatroute_home, providers, pool=["openrouter/anthropic/claude-sonnet-4.5"])
    m = cat.get("openrouter/anthropic/claude-sonnet-4.5")
    assert m.name == "anthropic/claude-sonnet-4.5" and m.input_cost_per_mtok == 3.0
    assert cat.get("openrouter/openai/gpt-4o-mini").output_cost_per_mtok == 0.6


def _write_refreshed(home: Path, models: dict) -> None:
    doc = {"meta": {"source": "test", "as_of": "2030-01-02", "models_in_source": 3000}, "models": models}
    (home / "prices.json").write_text(json.dumps(doc))


def test_precedence_override_refreshed_bundled(chatroute_home: Path) -> None:
    bundled = load_bundled().models
    _write_refreshed(chatroute_home, {"gpt-4o": {**bundled["gpt-4o"], "input_cost_per_token": 3e-6}})
    cat = build(
        chatroute_home,
        pool=["openai/gpt-4o", "openai/gpt-4o-mini", "ollama/qwen2.5:7b"],
        models={
            "openai/gpt-4o-mini": {"input_cost_per_mtok": 0.3, "ability": 0.9},
            "ollama/qwen2.5:7b": {"input_cost_per_mtok": 0.0, "output_cost_per_mtok": 0.0,
                                  "context_window": 32768, "ability": 0.55},
            "anthropic/brand-new-model": {"input_cost_per_mtok": 1.0, "output_cost_per_mtok": 5.0},
        },
    )
    refreshed = cat.get("openai/gpt-4o")
    assert refreshed.input_cost_per_mtok == 3.0 and refreshed.price_source == "refreshed"
    assert refreshed.price_as_of == "2030-01-02"
    assert cat.get("openai/gpt-4.1").price_source == "bundled"  # gap filled by the snapshot
    over = cat.get("openai/gpt-4o-mini")
    assert over.price_source == "override" and over.input_cost_per_mtok == 0.3
    assert over.output_cost_per_mtok == 0.6  # not overridden: from the feed
    assert over.cached_input_cost_per_mtok == pytest.approx(0.15)  # keeps its 50% ratio to input
    assert over.ability == 0.9
    q = cat.get("ollama/qwen2.5:7b")
    assert (q.price_source, q.context_window, q.ability) == ("override", 32768, 0.55)
    new = cat.get("anthropic/brand-new-model")
    assert (new.input_cost_per_mtok, new.output_cost_per_mtok, new.price_source) == (1.0, 5.0, "override")


def test_corrupt_refreshed_file_falls_back(chatroute_home: Path) -> None:
    (chatroute_home / "prices.json").write_text("{not json")
    assert build(chatroute_home).get("openai/gpt-4o").price_source == "bundled"


def test_baseline_without_configured_provider(chatroute_home: Path) -> None:
    cat = build(chatroute_home, {"anthropic": {"kind": "anthropic"}})
    base = cat.baseline("openai/gpt-4o")
    assert base is not None and base.input_cost_per_mtok == 2.5
    assert cat.baseline("nope/nothing") is None


def test_abilities() -> None:
    assert default_ability("gpt-4o-mini") < default_ability("gpt-4o") < default_ability("gpt-5")
    assert default_ability("claude-3-5-haiku-20241022") < default_ability("claude-3-5-sonnet-20241022")
    assert default_ability("anthropic/claude-3.5-sonnet") == default_ability("claude-3-5-sonnet-latest")
    assert default_ability("llama3.1:8b") < default_ability("llama-3.3-70b-versatile")
    assert default_ability("qwen2.5:7b") < default_ability("qwen2.5:72b")
    # An unknown name is never trusted above the conservative prior, whatever it claims.
    assert heuristic_ability("some-model-7b") < heuristic_ability("some-model") == heuristic_ability("some-pro")
    assert heuristic_ability("foo-mini") < heuristic_ability("foo")


def test_design_example_config_loads(chatroute_home: Path) -> None:
    config_mod = pytest.importorskip("chatroute.config")
    (chatroute_home / "config.toml").write_text(
        """
[providers.openai]
kind = "openai"
api_key_env = "OPENAI_API_KEY"

[providers.anthropic]
kind = "anthropic"
api_key_env = "ANTHROPIC_API_KEY"

[providers.ollama]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"

[router]
pool = ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3-5-haiku-20241022", "ollama/qwen2.5:7b"]
preset = "balanced"
default = "openai/gpt-4o-mini"

[models."ollama/qwen2.5:7b"]
input_cost_per_mtok = 0.0
output_cost_per_mtok = 0.0
context_window = 32768
ability = 0.55
"""
    )
    paths = make_paths(chatroute_home)
    cat = Catalog.build(config_mod.load_config(paths), paths)
    assert [m.id for m in cat.pool()] == [
        "openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3-5-haiku-20241022", "ollama/qwen2.5:7b",
    ]
    assert cat.get("ollama/qwen2.5:7b").context_window == 32768


def test_names_resolved_on_request_are_kept_within_a_bound(chatroute_home: Path) -> None:
    """`chatroute serve` resolves whatever model name a client sends, and a local server takes
    any: the catalogue keeps the newest MAX_REQUESTED of those, never the configured ones."""
    from chatroute.catalog.catalog import MAX_REQUESTED

    cat = build(chatroute_home, pool=["ollama/llama3.2", "openai/gpt-4o-mini"])
    configured = {m.id for m in cat.all()}
    for i in range(MAX_REQUESTED + 50):
        cat.get(f"ollama/made-up-{i}")
    ids = {m.id for m in cat.all()}
    assert configured <= ids
    assert len(ids - configured) == MAX_REQUESTED
    assert "ollama/made-up-0" not in ids and f"ollama/made-up-{MAX_REQUESTED + 49}" in ids
    assert cat.get("ollama/made-up-0").price_source == "local"  # still resolves, afresh


def test_a_refresh_older_than_the_bundled_snapshot_does_not_hide_it(chatroute_home: Path) -> None:
    """A table refreshed before an upgrade (or installed from an old file) overlaid the newer
    snapshot the upgrade brought: gpt-4o was billed at the refresh's older price, dated older."""
    bundled = load_bundled()
    assert bundled.as_of is not None and bundled.as_of > "2026-01-10"
    doc = {"meta": {"source": "test", "as_of": "2026-01-10", "models_in_source": 3000},
           "models": {"gpt-4o": {**bundled.models["gpt-4o"], "input_cost_per_token": 3e-6},
                      "gpt-retired": {**bundled.models["gpt-4o"], "input_cost_per_token": 4e-6}}}
    (chatroute_home / "prices.json").write_text(json.dumps(doc))
    cat = build(chatroute_home, pool=["openai/gpt-4o"])
    gpt4o = cat.get("openai/gpt-4o")
    assert (gpt4o.input_cost_per_mtok, gpt4o.price_source, gpt4o.price_as_of) == (2.5, "bundled", bundled.as_of)
    retired = cat.get("openai/gpt-retired")  # only the older table lists it: its price still counts
    assert (retired.input_cost_per_mtok, retired.price_as_of) == (4.0, "2026-01-10")
