"""`chatroute` with no subcommand: the Textual TUI."""

from __future__ import annotations

import argparse

from chatroute.commands.common import open_engine


def run(args: argparse.Namespace) -> int:
    engine = open_engine(print_warnings=False)  # shown as notifications once the TUI is up
    from chatroute.tui.app import run_tui

    return run_tui(engine)
