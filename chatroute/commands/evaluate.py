"""`chatroute eval FILE`: router quality on a labelled JSONL(.gz), per dataset, against baselines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatroute.commands.common import print_json
from chatroute.errors import UsageError


def run(args: argparse.Namespace) -> int:
    from chatroute.routing.evaluate import evaluate_rows, format_table, load_rows

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if sys.stderr.isatty():
        print(f"scoring {path.name} …", file=sys.stderr)
    try:
        rows = load_rows(path)
    except (ValueError, KeyError, OSError, EOFError) as exc:
        raise UsageError(f"{path}: not a labelled routing file ({exc})") from None
    if not rows:
        raise UsageError(f"{path}: no labelled rows (the file is empty)")
    try:
        result = evaluate_rows(rows, weak=args.weak, strong=args.strong, cost_ratio=args.cost_ratio)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"{path}: not a labelled routing file ({exc})") from None
    if args.json:
        print_json(result)
    else:
        print(format_table(result))
    return 0
