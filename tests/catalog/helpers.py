"""Shared builders for catalog tests: configs (real chatroute.config when importable) and feeds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chatroute.catalog.prices import load_bundled


def make_config(
    providers: dict[str, dict[str, Any]],
    pool: list[str] | None = None,
    models: dict[str, dict[str, Any]] | None = None,
    default: str | None = None,
) -> Any:
    """A Config built through chatroute.config's models, or a duck-typed stand-in."""
    try:
        from chatroute.config import Config
    except ImportError:  # config helper's module not there yet
        return _stand_in(providers, pool or [], models or {}, default)
    return Config.model_validate(
        {
            "providers": {n: {"name": n, **p} for n, p in providers.items()},
            "router": {"pool": pool or [], "default": default},
            "models": models or {},
        }
    )


def _stand_in(providers: dict, pool: list, models: dict, default: str | None) -> Any:
    def prov(p: dict) -> SimpleNamespace:
        base = p.get("base_url")
        return SimpleNamespace(kind=p["kind"], base_url=base, resolved_base_url=lambda: base)

    fields = (
        "input_cost_per_mtok", "output_cost_per_mtok", "cached_input_cost_per_mtok",
        "cache_write_cost_per_mtok", "context_window", "max_output_tokens", "ability", "capabilities",
    )
    return SimpleNamespace(
        providers={n: prov(p) for n, p in providers.items()},
        router=SimpleNamespace(pool=pool, default=default),
        models={k: SimpleNamespace(**{f: v.get(f) for f in fields}) for k, v in models.items()},
    )


def make_paths(home: Path) -> Any:
    from chatroute.paths import Paths

    return Paths(config_file=home / "config.toml", data_dir=home, cache_dir=home / "cache")


def make_feed(extra: int = 2100) -> dict[str, Any]:
    """A plausible full-size LiteLLM-format feed: the bundled models plus filler entries of a
    provider chatroute does not keep (so the feed is not 'shrunk' against the bundled source)."""
    feed: dict[str, Any] = {"sample_spec": {"mode": "one of: chat, ..."}}
    feed.update(copy.deepcopy(load_bundled().models))
    for i in range(extra):
        feed[f"bedrock/filler-{i}"] = {
            "input_cost_per_token": 1e-6,
            "output_cost_per_token": 2e-6,
            "litellm_provider": "bedrock",
            "mode": "chat",
            "search_context_cost_per_query": {"search_context_size_low": 0.01},
        }
    return feed


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj))
    return path
