"""`chatroute prefs show|reset`: the per-user adjustment learned from your choices."""

from __future__ import annotations

import argparse

from chatroute.commands.common import table


def run(args: argparse.Namespace) -> int:
    from chatroute.engine import PREFS_RESET_FILE, preferences_reset_at
    from chatroute.paths import resolve_paths
    from chatroute.routing.preferences import PreferenceModel
    from chatroute.store import Store, utc_now

    paths = resolve_paths()
    paths.ensure()
    if args.prefs_command == "reset":
        # Signals stay in the history; the adjustment simply learns from after this moment.
        (paths.data_dir / PREFS_RESET_FILE).write_text(utc_now() + "\n", encoding="utf-8")
        print("learned routing adjustment reset")
        return 0
    # Reads only: recovering killed streams (and pricing them) is for the engine and `costs`.
    store = Store.open(paths.database, recover_stale=False)
    records = store.preferences(since=preferences_reset_at(paths))
    model = PreferenceModel.from_preferences(records)
    biases = model.biases
    if not biases:
        print(f"no adjustment learned yet ({len(records)} signals)")
        return 0
    rows = [[m, f"{b:+.3f}"] for m, b in sorted(biases.items(), key=lambda kv: -kv[1])]
    print(table(rows, ["model", "quality adjustment"], "lr"))
    print(f"\nfrom {len(records)} signals (overrides, regenerations, compare picks)")
    return 0
