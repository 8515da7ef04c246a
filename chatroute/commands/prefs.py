"""`chatroute prefs show|reset`: the per-user adjustment learned from your choices."""

from __future__ import annotations

import argparse
import sys

from chatroute.commands.common import table, terminal_columns, wait_notice


def run(args: argparse.Namespace) -> int:
    from chatroute.config import load_config
    from chatroute.errors import ChatrouteError
    from chatroute.fsutil import atomic_write
    from chatroute.paths import resolve_paths
    from chatroute.routing.preferences import (
        MAX_BIAS,
        PREFS_RESET_FILE,
        PRIOR_COUNT,
        PreferenceModel,
        applies_when,
        preferences_reset_at,
    )
    from chatroute.store import Store, utc_now

    paths = resolve_paths()
    paths.ensure()
    if args.prefs_command == "reset":
        # Signals stay in the history; the adjustment simply learns from after this moment.
        target = paths.data_dir / PREFS_RESET_FILE
        try:
            atomic_write(target, utc_now() + "\n")
        except ChatrouteError:
            raise  # atomic_write's own (a link at the name, a full disk, a read-only folder): said in full
        except OSError as exc:  # the folder cannot be searched: the look at the path before the write fails
            raise ChatrouteError(f"could not reset the learned adjustment: cannot write {target}: "
                                 f"{exc.strerror or exc}") from exc
        print("learned routing adjustment reset")
        return 0
    # Reads only: recovering killed streams (and pricing them) is for the engine and `costs`.
    # The config only for the migrations: this may be the first command after an upgrade.
    config = load_config(paths)
    store = Store.open_for(config, paths.database, recover_stale=False, on_wait=wait_notice)
    records = store.preferences(since=preferences_reset_at(paths))
    if not config.router.learn:
        print(f"learning is off (router.learn = false in {paths.config_file}): no adjustment is applied and "
              f"no new choice is recorded; {_signals(len(records))} from before "
              f"{'is' if len(records) == 1 else 'are'} kept for when it is on")
        return 0
    model = PreferenceModel.from_preferences(records)
    biases = model.biases
    if not biases:
        print(f"no adjustment learned yet ({_signals(len(records))})")
        return 0
    rows = []
    for m, b in sorted(biases.items(), key=lambda kv: -kv[1]):
        wins, losses = model.signals(m)
        rows.append([m, f"{wins:.1f}", f"{losses:.1f}", f"{b:+.3f}"])
    print(table(rows, ["model", "chosen", "passed over", "adjustment"], "lrrr", fit=terminal_columns(sys.stdout)))
    print(f"\nfrom {_signals(len(records))} (overrides, regenerations, compare picks); each moves a model by at"
          f" most {MAX_BIAS / (1 + PRIOR_COUNT):.3f}, never past ±{MAX_BIAS:.2f} in all.\n"
          f"A turn uses {applies_when()} (need: how much a stronger model is predicted to help).")
    return 0


def _signals(n: int) -> str:
    return f"{n:,} signal{'' if n == 1 else 's'}"
