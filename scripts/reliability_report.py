"""Reliability of the shipped P(good): predicted vs observed per need quintile, per dataset.

    .venv/bin/python scripts/reliability_report.py

Rows: the fixed held-out split of each trainable source (never trained on) and the alpaca_eval
rows (a source never trained on; only GPT-4-1106 of the two labelled models is scored there).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chatroute.routing.quality import get_quality_model  # noqa: E402
from scripts import loso_router as lo  # noqa: E402


def main() -> None:
    qm = get_quality_model()
    rows = lo.load_rows([lo.TRAIN_FILE, lo.ARENA_FILE])
    sets = {d: [r for r in rows if r["dataset"] == d and lo.held_out(r["id"])] for d in lo.TRAINABLE}
    sets["alpaca_eval (never trained on)"] = [r for r in rows if r["dataset"] == "alpaca_eval"]
    print("| dataset | need quintile | n | model | predicted P(good) | observed mean score |")
    print("|---|---|---|---|---|---|")
    for name, rs in sets.items():
        g, _ = qm.turn_needs([r["turns"] for r in rs])
        edges = np.quantile(g, np.linspace(0, 1, 6))
        q = np.clip(np.searchsorted(edges, g, side="right") - 1, 0, 4)
        for model in (lo.WEAK, lo.STRONG):
            has = np.array([model in r["scores"] for r in rs])
            if not has.any():
                continue
            p = qm.curve_many(g, qm.ability(model))
            y = np.array([float(r["scores"].get(model, np.nan)) for r in rs])
            for k in range(5):
                m = has & (q == k)
                if m.any():
                    print(f"| {name} | {k + 1} | {int(m.sum())} | {model.split('/')[-1]} | {p[m].mean():.3f} | "
                          f"{np.nanmean(y[m]):.3f} |")


if __name__ == "__main__":
    main()
