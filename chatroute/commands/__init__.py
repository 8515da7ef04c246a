"""CLI subcommands, one module each; `chatroute.cli` dispatches here lazily."""

from __future__ import annotations

import argparse


def tui(args: argparse.Namespace) -> int:
    from chatroute.commands.tui import run

    return run(args)


def ask(args: argparse.Namespace) -> int:
    from chatroute.commands.ask import run

    return run(args)


def route(args: argparse.Namespace) -> int:
    from chatroute.commands.route import run

    return run(args)


def evaluate(args: argparse.Namespace) -> int:
    from chatroute.commands.evaluate import run

    return run(args)


def compare(args: argparse.Namespace) -> int:
    from chatroute.commands.compare import run

    return run(args)


def costs(args: argparse.Namespace) -> int:
    from chatroute.commands.costs import run

    return run(args)


def models(args: argparse.Namespace) -> int:
    from chatroute.commands.models import run

    return run(args)


def prices(args: argparse.Namespace) -> int:
    from chatroute.commands.prices import run

    return run(args)


def cache(args: argparse.Namespace) -> int:
    from chatroute.commands.cache import run

    return run(args)


def prefs(args: argparse.Namespace) -> int:
    from chatroute.commands.prefs import run

    return run(args)
