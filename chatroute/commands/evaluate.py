"""`chatroute eval FILE`: router quality on a labelled JSONL(.gz), per dataset, against baselines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatroute.commands.common import print_json
from chatroute.errors import UsageError
from chatroute.safetext import strip_terminal_controls


def _show_progress(dataset: str, done: int, total: int) -> None:
    """One line on the terminal, rewritten in place: a large file takes a minute or more. The
    dataset's name comes from the file, so its control characters never reach the screen."""
    name = strip_terminal_controls(dataset).replace("\n", " ").replace("\t", " ")
    print(f"\r\x1b[K{name}: {done:,} / {total:,} prompts scored", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from chatroute.routing.evaluate import evaluate_rows, format_table, load_rows

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    on_tty = sys.stderr.isatty()
    if on_tty:
        print(f"scoring {path.name} …", file=sys.stderr)
    try:
        rows = load_rows(path)
    except (ValueError, KeyError, OSError, EOFError) as exc:
        raise UsageError(f"{path}: not a labelled routing file ({exc})") from None
    if not rows:
        raise UsageError(f"{path}: no labelled rows (the file is empty)")
    try:
        result = evaluate_rows(rows, weak=args.weak, strong=args.strong, cost_ratio=args.cost_ratio,
                               progress=_show_progress if on_tty else None)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"{path}: not a labelled routing file ({exc})") from None
    finally:
        if on_tty:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)  # clear the progress line
    if args.json:
        print_json(result)
    else:
        # Dataset and model names come from the file: no escape sequence of theirs is printed.
        print(strip_terminal_controls(format_table(result)))
    return 0
