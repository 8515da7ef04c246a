"""`chatroute` with no subcommand: the Textual TUI."""

from __future__ import annotations

import argparse
import sys

from chatroute.commands.common import open_engine
from chatroute.errors import UsageError
from chatroute.store.dbfile import DatabaseFileError


def run(args: argparse.Namespace) -> int:
    # The TUI reads keys from standard input: from a pipe, a file or nothing (`echo q | chatroute`,
    # a cron job) it would draw into stderr and wait for ever.
    if sys.stdin is None or not sys.stdin.isatty():
        raise UsageError("the TUI needs a terminal, and standard input is not one; in a script, `chatroute ask` "
                         "answers one prompt (`echo … | chatroute ask`)")
    try:
        engine = open_engine(print_warnings=False)  # shown as notifications once the TUI is up
    except DatabaseFileError as exc:
        from chatroute.tui.failure import database_failure_app, run_failure

        return run_failure(database_failure_app(exc), str(exc))
    from chatroute.tui.app import run_tui

    return run_tui(engine)
