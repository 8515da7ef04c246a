"""`chatroute prices update|show`: refresh the price table, validated, or say how old it is."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from chatroute.errors import ChatrouteError, UsageError
from chatroute.money import usd

if TYPE_CHECKING:
    from chatroute.catalog import ModelInfo
    from chatroute.catalog.prices import PriceTable
    from chatroute.paths import Paths


def run(args: argparse.Namespace) -> int:
    from chatroute.catalog.prices import load_bundled, load_refreshed_noting
    from chatroute.commands.common import say_warnings
    from chatroute.paths import resolve_paths

    paths = resolve_paths()
    paths.ensure()
    refreshed, note = load_refreshed_noting(paths.prices_file)
    bundled = load_bundled()
    say_warnings([note] if note else [])
    if args.prices_command == "show":
        _show(refreshed, bundled)
    else:
        _update(args.source, paths, refreshed, bundled)
    return 0


def _show(refreshed: PriceTable | None, bundled: PriceTable) -> None:
    from chatroute.catalog.prices import refreshed_is_older, stale_note
    from chatroute.commands.common import terminal_line

    current = refreshed or bundled
    # The source is the --from the table came from, as typed or globbed: a file name may hold anything.
    print(terminal_line(sys.stdout, f"{current.kind} prices from {current.source}"))
    print(f"as of {current.as_of}, {len(current)} models")
    if refreshed is not None and refreshed_is_older(refreshed, bundled):
        print(_older_than_bundled(bundled.as_of))
    if stale := stale_note(max(filter(None, (current.as_of, bundled.as_of)), default=None)):
        print(stale)


def _update(source: str | None, paths: Paths, refreshed: PriceTable | None, bundled: PriceTable) -> None:
    from chatroute.catalog.prices import (
        DEFAULT_FEED_URL,
        STDIN_NAME,
        STDIN_SOURCE,
        PriceFeedError,
        update_prices,
    )
    from chatroute.commands.common import say_warnings, terminal_line, wait_notice

    if source is not None and not source.strip():
        raise UsageError("--from is empty: give a URL, a file or '-' (leave --from out for the default feed)")
    source = source or DEFAULT_FEED_URL
    current = refreshed or bundled
    print(terminal_line(sys.stderr, f"fetching prices from {STDIN_NAME if source == STDIN_SOURCE else source} …"),
          file=sys.stderr)
    before = _pool_prices(paths)
    try:
        result = update_prices(source, paths, current=current, on_wait=wait_notice)
    except PriceFeedError as e:
        # Offline or refused, the user's next question is what is billed now, and since when.
        raise PriceFeedError(f"{e}; the prices are unchanged ({current.kind}, as of {current.as_of})",
                             exit_code=e.exit_code) from None
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
    say_warnings(_dropped_from_pool(before, _pool_prices(paths)))


def _pool_prices(paths: Paths) -> dict[str, ModelInfo]:
    """The pool's models as priced now; none when the config cannot be read (a refresh does
    not need it)."""
    from chatroute.catalog import Catalog
    from chatroute.config import load_config

    try:
        return {m.id: m for m in Catalog.build(load_config(paths), paths).pool()}
    except ChatrouteError:
        return {}


def _dropped_from_pool(before: dict[str, ModelInfo], after: dict[str, ModelInfo]) -> list[str]:
    """What a model of the pool that the refresh had priced is priced at now the new prices leave
    it out: the bundled snapshot's, perhaps older, or nothing."""
    said = []
    for mid, old in before.items():
        new = after.get(mid)
        if old.price_source != "refreshed" or new is None or new.price_source == "refreshed":
            continue
        if new.price_known:
            source = (f"the bundled snapshot (as of {new.price_as_of})" if new.price_source == "bundled"
                      else f"its {new.price_source} price")
            said.append(f"{mid}: not in the new prices; priced from {source}: {usd(new.input_cost_per_mtok)} in, "
                        f"{usd(new.output_cost_per_mtok)} out per Mtok")
        else:
            said.append(f"{mid}: not in the new prices; it has no known price now "
                        f'(give it under [models."{mid}"])')
    return said


def _older_than_bundled(bundled_as_of: str | None) -> str:
    return (f"note: the bundled prices (as of {bundled_as_of}) are newer; they are used for every model they "
            "list, these only for the others")
