"""`chatroute` with no subcommand: the Textual TUI."""

from __future__ import annotations

import argparse

from chatroute.commands.common import open_engine
from chatroute.store.dbfile import DatabaseFileError


def run(args: argparse.Namespace) -> int:
    try:
        engine = open_engine(print_warnings=False)  # shown as notifications once the TUI is up
    except DatabaseFileError as exc:
        from chatroute.tui.failure import database_failure_app, run_failure

        return run_failure(database_failure_app(exc), str(exc))
    from chatroute.tui.app import run_tui

    return run_tui(engine)
