"""`chatroute models`: the catalogue with prices (and their as-of date), context, ability, health."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from chatroute.commands.common import print_json, say_warnings, table, terminal_columns, terminal_line, wait_notice
from chatroute.money import usd
from chatroute.safetext import strip_terminal_controls

if TYPE_CHECKING:
    from chatroute.routing.observed import Observed


def run(args: argparse.Namespace) -> int:
    from chatroute.catalog import Catalog
    from chatroute.catalog.catalog import startup_warnings
    from chatroute.catalog.prices import stale_note
    from chatroute.config import load_config
    from chatroute.discovery import adopt_local_servers
    from chatroute.paths import resolve_paths

    paths = resolve_paths()
    config = load_config(paths)
    # As `ask` and `route` do on a first run with nothing configured: the local servers running
    # now are the pool, so this lists what they would use, with the lines that keep it.
    adopted = adopt_local_servers(config)
    catalog = Catalog.build(config, paths, probe_local=True)
    say_warnings(startup_warnings(catalog))
    models = _with_local_listings(config, catalog) if args.all else catalog.pool()
    if not models:
        # As `ask` and `route` refuse: one line naming what to set, exit 2. The lines for local
        # servers found come first, as the help for a provider without a pool points here for them.
        from chatroute.engine.common import no_models_help
        from chatroute.errors import ConfigError

        if not args.json:
            _offer_local(config, first=True)
        raise ConfigError(no_models_help(config, paths.config_file))
    health = _health(paths)
    adjust, observed = _learned(paths, config, health)
    rows: list[dict[str, Any]] = []
    for info in models:
        d: dict[str, Any] = info.to_dict()  # JSON-shaped: the --json output and the table below
        d["health"] = health.get(info.id)
        d["preference_adjustment"] = adjust.get(info.id, 0.0)
        obs = observed.get(info.id) if info.ability_source != "config" else None
        d["observed_lowering"] = round(obs.penalty, 4) if obs else 0.0
        if obs:
            d["ability_note"] += f", {obs.describe()}"
        rows.append(d)
    tables = [{"kind": t.kind, "source": t.source, "as_of": t.as_of} for t in catalog.price_tables]
    if args.json:
        print_json({"models": rows, "prices": tables, "pool": [m.id for m in catalog.pool()],
                    "default": config.router.default, "preset": config.router.preset})
        return 0
    if adopted:
        print(f"chatroute: {adopted[0]}", file=sys.stderr)
    out: list[list[str]] = []
    for d in rows:
        h = d["health"] or {}
        out.append([
            d["id"],
            usd(d["input_cost_per_mtok"]),
            usd(d["output_cost_per_mtok"]),
            f"{d['context_window'] // 1000}k" if d.get("context_window") else "?",
            f"{d['ability']:.2f}",
            _ability_from(d, observed.get(d["id"]) if d["observed_lowering"] else None),
            f"{d['preference_adjustment']:+.3f}" if d["preference_adjustment"] else "",
            _health_text(h),
            d.get("price_as_of") or d.get("price_source") or "",
        ])
    print(table(out, ["model", "in $/Mtok", "out $/Mtok", "context", "ability", "ability from", "pref", "health",
                      "price as of"], "lrrrrlrll", fit=terminal_columns(sys.stdout),
                optional=["price as of", "pref", "ability from", "ability"]))
    for d in rows:
        if d["ability_source"] in ("unknown", "name", "server") or d["observed_lowering"]:
            print(strip_terminal_controls(f"{d['id']}: {d['ability_note']}"))
    if any(d["ability_source"] == "unknown" for d in rows):
        print('set ability = 0..1 under [models."provider/model"] in the config for a model you know better')
    for t in tables:
        print(terminal_line(sys.stdout, f"prices: {t['kind']} from {t['source']}, as of {t['as_of']}"))
    if [t["kind"] for t in tables] == ["refreshed", "bundled"]:  # the refresh is the older
        print("  the bundled prices are newer than the refreshed ones and are used for every model they list")
    # The pool's oldest date, as the TUI's status bar: a model the newest table lacks is still
    # priced from an older one.
    if stale := stale_note(catalog.oldest_pool_price):
        print(stale)
    if adopted:
        print(f"\nto keep using them, add to {paths.config_file}:\n\n{adopted[1]}")
    else:
        _offer_local(config)
    return 0


def _with_local_listings(config: Any, catalog: Any) -> list[Any]:
    """Every model of the configured providers: the catalogue's, and what each configured local
    server lists itself (the catalogue cannot know what a local server serves)."""
    import asyncio
    from types import SimpleNamespace

    from chatroute.serve.listing import ModelListing

    listing = ModelListing(SimpleNamespace(config=config, catalog=catalog))  # type: ignore[arg-type]
    known = {m.id: m for m in catalog.all()}
    for provider, names in asyncio.run(listing.local_models()).items():
        for name in names:
            info = catalog.get(f"{provider}/{name}")
            known.setdefault(info.id, info)
    return sorted(known.values(), key=lambda m: m.id)


def _offer_local(config: Any, *, first: bool = False) -> None:
    from chatroute.discovery import offer

    message = offer(config)
    if message:
        print(message if first else "\n" + message)


def _health(paths: Any) -> dict[str, dict[str, Any]]:
    try:
        from chatroute.routing.health import HealthBoard

        return HealthBoard.load(paths.data_dir / "health.json").snapshot()
    except Exception:  # noqa: BLE001 - health is informative here, never fatal
        return {}


def _learned(paths: Any, config: Any, health: dict[str, dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """The preference adjustments and observed lowerings the router would use now."""
    if not config.router.learn:
        return {}, {}
    try:
        from chatroute.routing.observed import observe
        from chatroute.routing.preferences import PreferenceModel, preferences_reset_at
        from chatroute.store import Store

        # Reads only: recovering killed streams (and pricing them) is for the engine and `costs`.
        store = Store.open_for(config, paths.database, recover_stale=False, on_wait=wait_notice)
        records = store.preferences(since=preferences_reset_at(paths))
        return PreferenceModel.from_preferences(records).biases, observe(records, health)
    except Exception:  # noqa: BLE001
        return {}, {}


def _ability_from(d: dict[str, Any], obs: Observed | None) -> str:
    source = d["ability_source"]
    text = {"name": f"size {d.get('ability_detail')} (name)", "server": f"size {d.get('ability_detail')} (server)",
            "unknown": "unknown: prior", "config": "your config"}.get(source, source)
    # From the lowering itself, as the note under the table words it: the JSON's figure is
    # rounded to 4 places first, and 0.025 rounded twice read 0.03 beside the note's 0.02.
    return f"{text}, −{obs.penalty:.2f} seen" if obs else text


def _health_text(h: dict[str, Any]) -> str:
    from chatroute.routing.health import skip_label

    if not h:
        return "—"
    if skipped := skip_label(h):
        return skipped
    parts = []
    if h.get("ttft_s") is not None:
        parts.append(f"ttft {h['ttft_s'] * 1000:.0f}ms")
    if h.get("tokens_per_s"):
        parts.append(f"{h['tokens_per_s']:.0f} tok/s")
    if h.get("error_rate"):
        parts.append(f"err {h['error_rate']:.0%}")
    return " ".join(parts) or "ok"
