"""`chatroute prices update|show`: refresh the price table, validated, or say how old it is."""

from __future__ import annotations

import argparse
import sys

from chatroute.errors import UsageError


def run(args: argparse.Namespace) -> int:
    from chatroute.catalog.prices import (
        DEFAULT_FEED_URL,
        load_bundled,
        load_refreshed_noting,
        refreshed_is_older,
        stale_note,
        update_prices,
    )
    from chatroute.commands.common import say_warnings
    from chatroute.paths import resolve_paths

    paths = resolve_paths()
    paths.ensure()
    refreshed, note = load_refreshed_noting(paths.prices_file)
    bundled = load_bundled()
    current = refreshed or bundled
    say_warnings([note] if note else [])
    if args.prices_command == "show":
        print(f"{current.kind} prices from {current.source}")
        print(f"as of {current.as_of}, {len(current)} models")
        if refreshed is not None and refreshed_is_older(refreshed, bundled):
            print(_older_than_bundled(bundled.as_of))
        if stale := stale_note(max(filter(None, (current.as_of, bundled.as_of)), default=None)):
            print(stale)
        return 0
    if args.source is not None and not args.source.strip():
        raise UsageError("--from is empty: give a URL or a file (leave --from out for the default feed)")
    source = args.source or DEFAULT_FEED_URL
    print(f"fetching prices from {source} …", file=sys.stderr)
    result = update_prices(source, paths, current=current)
    print(
        f"prices updated: {result.models} models (as of {result.as_of}); "
        f"{result.added} added, {result.removed} removed, {result.changed} repriced"
    )
    if result.backup:
        print(f"previous table kept at {result.backup}")
    if refreshed is not None and refreshed.as_of and result.as_of < refreshed.as_of:
        print(f"note: these prices are dated {result.as_of}, older than those they replace ({current.as_of})",
              file=sys.stderr)
    if bundled.as_of and result.as_of < bundled.as_of:
        print(_older_than_bundled(bundled.as_of), file=sys.stderr)
    return 0


def _older_than_bundled(bundled_as_of: str | None) -> str:
    return (f"note: the bundled prices (as of {bundled_as_of}) are newer; they are used for every model they "
            "list, these only for the others")
