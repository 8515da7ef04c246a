"""`chatroute costs`: spending by day, model or conversation, against a baseline model."""

from __future__ import annotations

import argparse
import csv
import sys

from chatroute.commands.common import (
    clip_cells,
    print_json,
    table,
    terminal_columns,
    terminal_line,
    wait_notice,
)
from chatroute.money import marked_usd, usd
from chatroute.safetext import strip_terminal_controls


def run(args: argparse.Namespace) -> int:
    from chatroute.accounting import cache_saving, cost_report, parse_since
    from chatroute.catalog import Catalog
    from chatroute.catalog.prices import stale_note
    from chatroute.config import load_config
    from chatroute.errors import UsageError
    from chatroute.paths import resolve_paths
    from chatroute.store import Store

    if args.baseline is not None and not args.baseline.strip():
        # `--baseline "$M"` with M unset compared against ui.baseline_model without a word.
        raise UsageError("--baseline is empty: give a model (provider/model), or leave --baseline out "
                         "for ui.baseline_model")
    paths = resolve_paths()
    paths.ensure()
    config = load_config(paths)
    catalog = Catalog.build(config, paths)
    from chatroute.recovery import pricer

    # This may be the first open after a crash: a recovered stream is priced before it is summed.
    store = Store.open_for(config, paths.database, on_wait=wait_notice,
                           price_recovered=pricer(catalog, max_history_tokens=config.chat.max_history_tokens))
    baseline = args.baseline or config.ui.baseline_model
    if args.baseline and catalog.baseline(args.baseline) is None:
        raise UsageError(f"--baseline {args.baseline!r}: no price is known for that model"
                         " (give provider/model, e.g. openai/gpt-4o; `chatroute models --all` lists them)")
    report = cost_report(store, catalog, baseline=baseline, budget=config.budget, by=args.by,
                         since=parse_since(args.since))
    if args.format == "json":
        print_json(report)
        return 0
    key_name = args.by
    if args.format == "csv":
        # "\n": the csv module's default "\r\n" left a "\r" on each row's last field for cut, read
        # and awk, and became "\r\r\n" through Windows' text-mode stdout.
        writer = csv.writer(sys.stdout, lineterminator="\n")
        # New columns go last: the columns scripts already read keep their places. A title
        # names no conversation alone (two may share it): its id, what `ask -c` takes, follows.
        by_id = key_name == "conversation"
        writer.writerow([key_name, "turns", "input_tokens", "output_tokens", "cached_tokens", "cost_usd",
                         "unknown_cost_turns", "cache_saved_usd", "estimated_turns"]
                        + (["conversation_id"] if by_id else []))
        for r in report["rows"]:
            # Titles are outside text: faithful into a file or pipe, cleaned onto a terminal.
            label = _key_label(r, key_name)
            writer.writerow([terminal_line(sys.stdout, label) if isinstance(label, str) else label, r["turns"],
                             r["input_tokens"], r["output_tokens"], r["cached_tokens"],
                             "" if r["cost_usd"] is None else f"{r['cost_usd']:.8f}", r["unknown_cost_turns"],
                             "" if r["saved_usd"] is None else f"{r['saved_usd']:.8f}", r["estimated_turns"]]
                            + ([r["key"]] if by_id else []))
        return 0
    periods = report["periods"]
    rows = []
    for name in ("today", "week", "month", "all"):
        p = periods[name]
        # The baseline prices the very token counts of the turns, estimated ones too; a cache
        # hit's saving is always an estimate (of what the model that would have answered charges).
        rows.append([name, f"{p['turns']:,}",
                     marked_usd(p["cost_usd"], estimated=p["estimated_turns"], unknown=p["unknown_cost_turns"]),
                     marked_usd(p["baseline_cost_usd"], estimated=p["estimated_baseline_turns"]),
                     marked_usd(p["routed_saved_usd"], estimated=p["estimated_routed_turns"]),
                     (marked_usd(p["chosen_saved_usd"], estimated=p["estimated_chosen_turns"])
                      if p["chosen_turns"] else "–"),
                     cache_saving(p["cache_saved_usd"], p["cache_hits"], p["cache_unpriced_hits"])])
    # Routing's saving is over the turns it routed; the turns whose model the user named are
    # the user's own saving (or cost).
    fit = terminal_columns(sys.stdout)
    print(table(rows, ["period", "turns", "spent", f"on {baseline}", "routing saved", "your picks saved",
                       "cache saved"], "lrrrrrr", fit=fit, optional=["your picks saved", "turns", "cache saved"]))
    print()
    rows = []
    for r in report["rows"]:
        label = _key_label(r, key_name)
        rows.append([clip_cells(strip_terminal_controls(str(label)), 48), f"{r['turns']:,}",
                     f"{r['input_tokens']:,}", f"{r['output_tokens']:,}",
                     f"{r['cached_tokens']:,}",
                     marked_usd(r["cost_usd"], estimated=r["estimated_turns"], unknown=r["unknown_cost_turns"])])
    if rows:
        print(table(rows, [key_name, "turns", "input", "output", "cached", "cost"], "lrrrrr", fit=fit,
                    optional=["cached", "input", "output"]))
        print()
    # Like the tables above: the baseline's name comes from the config or --baseline.
    print(strip_terminal_controls(report["verdict"]))
    everything = periods["all"]
    if everything.get("estimated_turns"):
        n = everything["estimated_turns"]
        print(f"≈ includes {n} turn{'s' if n != 1 else ''} ({usd(everything['estimated_cost_usd'])}) whose usage "
              "was estimated: stopped or interrupted replies, or a server that sent no token counts")
    if everything.get("cache_saved_usd"):
        print("≈ cache saved is always an estimate: what the model that would have answered charges for the"
              " request and the cached answer, counted by its tokenizer")
    if n := everything.get("cache_unpriced_hits"):
        print(f"n/a: what {n} cache hit{'s' if n != 1 else ''} saved is unknown: the model that would have answered"
              " has no known price, and its provider reported no cost for the answer")
    budget = report["budget"]
    if budget.get("message"):
        print(strip_terminal_controls(budget["message"]))
    if stale := stale_note(catalog.oldest_pool_price):  # the baseline is priced on them
        print(stale)
    return 0


def _key_label(row: dict[str, object], by: str) -> object:
    """Conversations by title; clients by name, chatroute's own chat by its label."""
    return (row["label"] or row["key"]) if by in ("conversation", "client") else row["key"]


