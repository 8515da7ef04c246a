"""`chatroute cache stats|clear`."""

from __future__ import annotations

import argparse

from chatroute.commands.common import print_json, table, wait_notice
from chatroute.money import usd


def run(args: argparse.Namespace) -> int:
    from chatroute.cache import AnswerCache
    from chatroute.config import load_config
    from chatroute.paths import resolve_paths
    from chatroute.store import Store

    paths = resolve_paths()
    paths.ensure()
    config = load_config(paths)
    # The store opens the file first, as every other command does: it is checked (a damaged or
    # foreign file, or one from a newer chatroute, is refused before anything is written to it)
    # and, when new, created owner-only with its schema.
    store = Store.open_for(config, paths.database, recover_stale=False, on_wait=wait_notice)
    # stats and clear never embed anything, so the embedder is not loaded.
    try:
        cache = AnswerCache(store, None, config.cache)
    except BaseException:
        store.close()
        raise
    try:
        if args.cache_command == "clear":
            before = cache.stats().entries
            cache.clear()
            print(f"cache cleared: {before} entries removed")
            return 0
        s = cache.stats()
        lookups = s.hits + s.misses
        if getattr(args, "json", False):
            print_json({"entries": s.entries, "hits": s.hits, "exact_hits": s.exact_hits,
                        "semantic_hits": s.semantic_hits, "misses": s.misses,
                        "hit_rate": s.hits / lookups if lookups else None, "saved_usd": s.saved_usd,
                        "false_hits": s.false_hits, "enabled": config.cache.enabled})
            return 0
        rate = f"{s.hits / lookups:.0%}" if lookups else "—"
        rows = [
            ["entries", f"{s.entries:,}"],
            ["hits", f"{s.hits:,} (exact {s.exact_hits:,}, semantic {s.semantic_hits:,})"],
            ["misses", f"{s.misses:,}"],
            ["hit rate", rate],
            ["saved", usd(s.saved_usd)],
            ["false-hit reports", f"{s.false_hits:,} (regenerated after a hit)"],
            ["enabled", "yes" if config.cache.enabled else "no (cache.enabled = false)"],
        ]
        print(table(rows, ["cache", ""]))
        return 0
    finally:
        cache.close()
        store.close()
