"""`chatroute cache stats|clear|check`."""

from __future__ import annotations

import argparse
import sqlite3

from chatroute.commands.common import cache_damage_notice, print_json, read_prompt, table, wait_notice
from chatroute.errors import ChatrouteError, UsageError


def run(args: argparse.Namespace) -> int:
    from chatroute.accounting import cache_saving
    from chatroute.cache import AnswerCache
    from chatroute.config import load_config
    from chatroute.paths import resolve_paths
    from chatroute.store import Store

    if args.cache_command == "check":
        _read_stdin_prompt(args)
    paths = resolve_paths()
    paths.ensure()
    config = load_config(paths)
    if args.cache_command == "check":
        return _check(args, config.cache.threshold, config.cache.enabled)
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
            damaged = cache.damaged
            try:
                before = cache.stats().entries
            except sqlite3.DatabaseError as exc:  # its counters are unreadable: damaged too
                before, damaged = 0, damaged or str(exc)
            cache.clear()  # the cache's tables made anew, whatever state they were in
            if damaged is not None:
                print(f"cache rebuilt: it was damaged ({damaged}); conversations and costs are untouched")
            else:
                print(f"cache cleared: {before} {'entry' if before == 1 else 'entries'} removed")
            return 0
        # Damage is looked for now, not left to the next lookup: counters read from a damaged
        # cache look like a sound one's.
        damaged = cache.check()
        if damaged is not None:
            from chatroute.cache.damage import notice

            cache_damage_notice(notice(damaged))
        try:
            s = cache.stats()
        except sqlite3.DatabaseError:
            if damaged is None:
                raise
            # Its counters are past reading too (an entry of the cache's in the schema garbled):
            # the notice said what is wrong and the way out, which is not restoring the file.
            raise ChatrouteError("cache stats: the cache's figures cannot be read while it is damaged",
                                 exit_code=2) from None
        lookups = s.hits + s.misses
        if getattr(args, "json", False):
            print_json({"entries": s.entries, "hits": s.hits, "exact_hits": s.exact_hits,
                        "semantic_hits": s.semantic_hits, "misses": s.misses,
                        "hit_rate": s.hits / lookups if lookups else None, "saved_usd": s.saved_usd,
                        "unpriced_hits": s.unpriced_hits,
                        "false_hits": s.false_hits, "enabled": config.cache.enabled})
            return 0
        rate = f"{s.hits / lookups:.0%}" if lookups else "—"
        rows = [
            ["entries", f"{s.entries:,}"],
            ["hits", f"{s.hits:,} (exact {s.exact_hits:,}, semantic {s.semantic_hits:,})"],
            ["misses", f"{s.misses:,}"],
            ["hit rate", rate],
            # A hit whose saving is unknown is counted apart, never as $0, and a saving is an
            # estimate (≈), as `costs` writes both.
            ["saved", cache_saving(s.saved_usd, s.hits, s.unpriced_hits)],
            ["false-hit reports", f"{s.false_hits:,} (regenerated after a hit)"],
            ["enabled", "yes" if config.cache.enabled else "no (cache.enabled = false)"],
        ]
        print(table(rows, ["cache", ""]))
        return 0
    finally:
        cache.close()
        store.close()


def _read_stdin_prompt(args: argparse.Namespace) -> None:
    """'-' for CACHED or ASKED reads it from standard input, as every PROMPT does; one stream
    holds one prompt, so not both."""
    if args.cached == "-" and args.asked == "-":
        raise UsageError("cache check: '-' reads standard input for CACHED or for ASKED, not both")
    if args.cached == "-":
        args.cached = read_prompt("-")
    elif args.asked == "-":
        args.asked = read_prompt("-")


def _check(args: argparse.Namespace, threshold: float, enabled: bool) -> int:
    """The cache's own decision for one pair, in a throwaway cache with the configured threshold:
    the user's cache is neither read nor written."""
    import tempfile
    from pathlib import Path

    from chatroute.cache import AnswerCache, CacheSettings
    from chatroute.cache.text import is_time_sensitive
    from chatroute.embed import get_embedder

    verdict: dict[str, object] = {"served": False, "tier": None, "similarity": None, "verifier": None,
                                  "pooled": None, "passed_by": None, "reason": None, "cache_enabled": enabled}
    rephrasing = ""
    with tempfile.TemporaryDirectory() as tmp:
        cache = AnswerCache(Path(tmp) / "check.db", get_embedder().embed, CacheSettings(threshold=threshold))
        try:
            if cache.store(None, [], args.cached, {}, None, "(the cached answer)", None, None, "stop") is None:
                why = "time-sensitive" if is_time_sensitive(args.cached) else "empty prompt"
                verdict["reason"] = f"CACHED is never stored ({why})"
            else:
                hit = cache.lookup(None, [], args.asked, {}, None, count=False)
                verdict["verifier"] = cache.last_verifier
                verdict["pooled"] = None if cache.last_pooled is None else round(cache.last_pooled, 4)
                if hit is None:
                    verdict["reason"] = cache.last_reason
                else:
                    verdict.update(served=True, tier=hit.tier, similarity=round(hit.similarity, 4))
                    if cache.last_pass is not None:
                        bar, bars = cache.last_pass
                        verdict["passed_by"] = "bar" if bars is None else "rephrasing path"
                        if bars is not None:
                            # A probability under the bar was served: say which other test it passed.
                            rephrasing = (f" < bar {bar:.3f}; rephrasing path: pooled {cache.last_pooled:.2f}"
                                          f" >= {bars[0]:.2f} and verifier >= {bars[1]:.2f}")
        finally:
            cache.close()
    if getattr(args, "json", False):
        print_json(verdict)
        return 0
    if verdict["served"]:
        detail = f"{verdict['tier']}, similarity {verdict['similarity']:.2f}"
        if verdict["verifier"] is not None:
            detail += f", verifier {verdict['verifier']:.3f}{rephrasing}"
        print(f"served ({detail})")
    else:
        print(f"not served: {verdict['reason']}")
    if not enabled:
        print("(the cache is off in your config: cache.enabled = false)")
    return 0
