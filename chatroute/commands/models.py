"""`chatroute models`: the catalogue with prices (and their as-of date), context, ability, health."""

from __future__ import annotations

import argparse
import time
from typing import Any

from chatroute.commands.common import print_json, table
from chatroute.format import cost


def run(args: argparse.Namespace) -> int:
    from chatroute.catalog import Catalog
    from chatroute.config import load_config
    from chatroute.paths import resolve_paths

    paths = resolve_paths()
    config = load_config(paths)
    catalog = Catalog.build(config, paths)
    models = catalog.all() if args.all else catalog.pool()
    health = _health(paths)
    adjust = _adjustments(paths, config)
    rows: list[dict[str, Any]] = []
    for info in models:
        d = info.to_dict()
        d["health"] = health.get(info.id)
        d["preference_adjustment"] = adjust.get(info.id, 0.0)
        rows.append(d)
    tables = [{"kind": t.kind, "source": t.source, "as_of": t.as_of} for t in catalog.price_tables]
    if args.json:
        print_json({"models": rows, "prices": tables, "pool": [m.id for m in catalog.pool()],
                    "default": config.router.default, "preset": config.router.preset})
        return 0
    if not rows:
        print("No models: set OPENAI_API_KEY or ANTHROPIC_API_KEY, or add providers to "
              f"{paths.config_file}")
        _offer_local(config)
        return 0
    out = []
    for d in rows:
        h = d["health"] or {}
        out.append([
            d["id"],
            cost(d["input_cost_per_mtok"]) if d["input_cost_per_mtok"] is not None else "n/a",
            cost(d["output_cost_per_mtok"]) if d["output_cost_per_mtok"] is not None else "n/a",
            f"{d['context_window'] // 1000}k" if d.get("context_window") else "?",
            f"{d['ability']:.2f}",
            f"{d['preference_adjustment']:+.2f}" if d["preference_adjustment"] else "",
            _health_text(h),
            d.get("price_as_of") or d.get("price_source") or "",
        ])
    print(table(out, ["model", "in $/Mtok", "out $/Mtok", "context", "ability", "pref", "health", "price as of"],
                "lrrrrrll"))
    for t in tables:
        print(f"prices: {t['kind']} from {t['source']}, as of {t['as_of']}")
    _offer_local(config)
    return 0


def _offer_local(config: Any) -> None:
    from chatroute.discovery import offer

    message = offer(config)
    if message:
        print("\n" + message)


def _health(paths: Any) -> dict[str, dict[str, Any]]:
    try:
        from chatroute.routing.health import HealthBoard

        return HealthBoard.load(paths.data_dir / "health.json").snapshot()
    except Exception:  # noqa: BLE001 - health is informative here, never fatal
        return {}


def _adjustments(paths: Any, config: Any) -> dict[str, float]:
    if not config.router.learn:
        return {}
    try:
        from chatroute.routing.preferences import PreferenceModel
        from chatroute.store import Store

        # Reads only: recovering killed streams (and pricing them) is for the engine and `costs`.
        store = Store.open(paths.database, recover_stale=False,
                           anthropic_providers=[n for n, p in config.providers.items() if p.kind == "anthropic"])
        return PreferenceModel.from_preferences(store.preferences()).biases
    except Exception:  # noqa: BLE001
        return {}


def _health_text(h: dict[str, Any]) -> str:
    if not h:
        return "—"
    if h.get("disabled"):
        return f"disabled ({h['disabled']})"
    until = h.get("cooldown_until")
    if until and until > time.time():
        return f"cooling {until - time.time():.0f}s"
    parts = []
    if h.get("ttft_s") is not None:
        parts.append(f"ttft {h['ttft_s'] * 1000:.0f}ms")
    if h.get("tokens_per_s"):
        parts.append(f"{h['tokens_per_s']:.0f} tok/s")
    if h.get("error_rate"):
        parts.append(f"err {h['error_rate']:.0%}")
    return " ".join(parts) or "ok"
