"""What local servers say about the size of the models they serve, cached between runs.

A name like `mymodel:latest` says nothing about the model's strength, but the Ollama or
llama.cpp server serving it knows its parameter count (discovery.fetch_model_sizes). The
catalogue reads the sizes from a small JSON cache in the data dir; a client that may touch
the network (the engine, `chatroute models`) asks the servers for the names the cache lacks
or holds for longer than CACHE_TTL_S. Answers and silences are both cached, so a server is
asked about a model at most once a day. CHATROUTE_NO_DISCOVERY=1 stops the asking.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chatroute.fsutil import atomic_write
from chatroute.jsonsafe import number

CACHE_FILE = "local_models.json"
CACHE_TTL_S = 24 * 3600.0


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    servers = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return {}
    # Only well-formed entries: a hand-edited or damaged file is read as if those were never asked.
    return {str(url): {str(name): entry for name, entry in models.items() if _well_formed(entry)}
            for url, models in servers.items() if isinstance(models, dict)}


def _well_formed(entry: Any) -> bool:
    return (isinstance(entry, dict) and number(entry.get("at")) is not None
            and (entry.get("params_b") is None or number(entry.get("params_b")) is not None))


def local_sizes(
    wanted: Mapping[str, Sequence[str]],
    cache_path: Path | None,
    *,
    probe: bool,
    now: float | None = None,
) -> dict[tuple[str, str], float]:
    """Parameter counts (billions) by (base_url, model name) for the local models in `wanted`
    (base_url -> model names). With `probe`, names missing from the cache or stale in it are
    asked for, and the cache is rewritten."""
    now = time.time() if now is None else now
    cache = _load(cache_path) if cache_path is not None else {}
    if probe:
        from chatroute.discovery import discovery_disabled, fetch_model_sizes

        changed = False
        for base_url, names in wanted.items():
            entry = cache.setdefault(base_url, {})
            stale = [n for n in names
                     if not isinstance(entry.get(n), dict) or now - float(entry[n]["at"]) > CACHE_TTL_S]
            if not stale or discovery_disabled():
                continue
            sizes = fetch_model_sizes(base_url, stale)
            for name in stale:
                entry[name] = {"params_b": sizes.get(name), "at": now}
            changed = True
        if changed and cache_path is not None:
            try:
                atomic_write(cache_path, json.dumps({"version": 1, "servers": cache}, indent=1), durable=False)
            except OSError:
                pass  # a read-only data dir: the sizes still apply to this run
    out: dict[tuple[str, str], float] = {}
    for base_url, names in wanted.items():
        entry = cache.get(base_url, {})
        for name in names:
            size = entry.get(name, {}).get("params_b") if isinstance(entry.get(name), dict) else None
            if isinstance(size, (int, float)) and size > 0:
                out[(base_url, name)] = float(size)
    return out
