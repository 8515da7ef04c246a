"""Reliability of the shipped P(good): predicted vs observed per need quintile, per dataset.

    .venv/bin/python scripts/reliability_report.py [--leave-out SPLIT]

Rows: the fixed held-out split of each trainable source (never trained on) and the alpaca_eval
rows (a source never trained on; only GPT-4-1106 of the two labelled models is scored there) and,
when scripts/build_mmlu_pro_rows.py has written them, the MMLU-Pro rows (never trained on; Mixtral
and GPT-4o are scored there).
With --leave-out (a split of scripts/loso_router.py: gsm8k, arena_bench_v1, mmlu, mmlu:stem, ...)
the model is retrained as train_router.py does, without that source, and scored on all of it:
calibration on a source the weights never saw (a few minutes; needs the dev extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chatroute.routing.quality import QualityModel, get_quality_model  # noqa: E402
from scripts import loso_router as lo  # noqa: E402
from scripts import router_models as rm  # noqa: E402


def left_out_model(rows: list[dict[str, Any]], split_name: str, cache: Path) -> tuple[QualityModel, list[Any]]:
    """The quality model retrained without one source (as train_router.py trains the shipped one),
    and that source's rows."""
    from scripts import train_router as tr

    splits = {s.name: s for s in lo.make_splits(rows)}
    if split_name not in splits:
        raise SystemExit(f"unknown split {split_name!r}; known: {', '.join(splits)}")
    split = splits[split_name]
    lo.check_no_leak(split, rows)
    anchors = tr.catalogue_anchors()
    feats = rm.Features.build(rows, cache)
    arrays, _ = tr.train(rows, feats, split.train, use_emb=True, use_lex=True, anchors=anchors,
                         pooled_share=rm.POOLED_SHARE, pooled_worked_only=rm.POOLED_WORKED_ONLY,
                         log=lambda _: None)
    return QualityModel(arrays, {"anchors": anchors}), [rows[i] for i in split.test]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leave-out", metavar="SPLIT", help="retrain without this source and score all of it")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/chatroute-loso"))
    args = ap.parse_args()
    rows = lo.load_rows([lo.TRAIN_FILE, lo.ARENA_FILE, lo.MMLU_PRO_FILE])
    if args.leave_out:
        qm, test = left_out_model(rows, args.leave_out, args.cache)
        sets = {f"{args.leave_out} (left out)": test}
    else:
        qm = get_quality_model()
        sets = {d: [r for r in rows if r["dataset"] == d and lo.held_out(r["id"])] for d in lo.TRAINABLE}
        sets["alpaca_eval (never trained on)"] = [r for r in rows if r["dataset"] == "alpaca_eval"]
        sets["mmlu_pro (never trained on)"] = [r for r in rows if r["dataset"] == "mmlu_pro"]
    print("| dataset | need quintile | n | model | predicted P(good) | observed mean score |")
    print("|---|---|---|---|---|---|")
    for name, rs in sets.items():
        if not rs:
            continue
        g, _, choices = qm.turn_needs([r["turns"] for r in rs])
        q = rm.quantile_bins(g, 5)
        for model in (lo.WEAK, lo.STRONG, lo.GPT4O):
            has = np.array([model in r["scores"] for r in rs])
            if not has.any():
                continue
            p = qm.curve_many(g, qm.ability(model), choices)
            y = np.array([float(r["scores"].get(model, np.nan)) for r in rs])
            for k in range(5):
                m = has & (q == k)
                if m.any():
                    print(f"| {name} | {k + 1} | {int(m.sum())} | {model.split('/')[-1]} | {p[m].mean():.3f} | "
                          f"{np.nanmean(y[m]):.3f} |")


if __name__ == "__main__":
    main()
