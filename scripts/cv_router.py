"""Cross-validated router figures on the training rows (the held-out 20% is never touched).

    .venv/bin/python scripts/cv_router.py [--data PATH]

The held-out GSM8K set has only 264 rows, so one APGR figure there moves by about ±0.04. This
script refits the shipped configuration (scripts/train_router.py's hyper-parameters) on 9
train/validation splits of the remaining rows (3 folds under 3 fold assignments) and prints
the mean APGR per dataset, with and without the familiarity gate, against prompt length.
About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import train_router as tr  # noqa: E402

from chatroute.catalog.abilities import default_ability  # noqa: E402
from chatroute.embed import get_embedder  # noqa: E402
from chatroute.routing import evaluate as ev  # noqa: E402
from chatroute.routing.features import lexical_features  # noqa: E402
from chatroute.routing.quality import QualityModel  # noqa: E402


def fold_assignment(row_id: str, salt: int) -> int:
    key = row_id if salt == 0 else f"{row_id}{salt}"
    return int(hashlib.sha256(key.encode()).hexdigest()[8:16], 16) % 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=tr.DEFAULT_DATA)
    args = ap.parse_args()

    rows = ev.load_rows(args.data)
    emb = get_embedder().embed([r["turns"][-1] for r in rows])
    lex = np.stack([lexical_features(r["turns"][-1]) for r in rows])
    index = {r["id"]: i for i, r in enumerate(rows)}
    anchors = {m: default_ability(m) for m in (tr.WEAK_MODEL, tr.STRONG_MODEL)}
    ability0 = float(np.mean(list(anchors.values())))
    theta_scale = tr.THETA_SPAN / (anchors[tr.STRONG_MODEL] - anchors[tr.WEAK_MODEL])
    ds = np.array([r["dataset"] for r in rows])
    pool = np.flatnonzero(np.isin(ds, tr.TRAIN_DATASETS) & ~np.array([tr.held_out(r["id"]) for r in rows]))
    lex_mean, lex_std = lex[pool].mean(axis=0), lex[pool].std(axis=0) + 1e-3

    figures: dict[str, list[tuple[float, float]]] = {"router": [], "router, no gate": [], "length": []}
    for salt in range(3):
        fold = np.array([fold_assignment(rows[i]["id"], salt) for i in pool])
        for f in range(3):
            train, valid = pool[fold != f], pool[fold == f]
            ii, th, y, w = tr.stack(train, rows, anchors, {"gsm8k": 3.0})
            fitted = tr.fit_all(
                emb[ii], lex[ii], th, y, w, k=16, lam_global=3.0, lam_local=30.0, blend=0.5,
                ability0=ability0, theta_scale=theta_scale, lex_mean=lex_mean, lex_std=lex_std,
            )
            gated = dict(fitted.arrays)
            gated["gate_centroids"] = tr.kmeans(emb[train], tr.GATE_K, seed=tr.SEED + 1)
            gated["gate_lo"], gated["gate_hi"] = np.float32(tr.GATE_LO), np.float32(tr.GATE_HI)
            valid_rows = [rows[i] for i in valid]
            for name, arrays in (("router", gated), ("router, no gate", fitted.arrays)):
                qm = QualityModel(arrays, {"anchors": anchors})
                res = ev.evaluate_rows(valid_rows, tr.WEAK_MODEL, tr.STRONG_MODEL, tr.scorer_from(qm, emb, lex, index))
                figures[name].append((res["mmlu"]["router"]["apgr"], res["gsm8k"]["router"]["apgr"]))
            figures["length"].append((res["mmlu"]["length"]["apgr"], res["gsm8k"]["length"]["apgr"]))
            print(f"split {3 * salt + f + 1}/9 done", file=sys.stderr, flush=True)

    print(f"{'method':<16} {'MMLU':>7} {'GSM8K':>7}   (mean APGR over 9 validation splits)")
    for name, vals in figures.items():
        v = np.array(vals)
        print(f"{name:<16} {v[:, 0].mean():7.3f} {v[:, 1].mean():7.3f}")
    wins = int(np.sum(np.array(figures["router"])[:, 1] > np.array(figures["length"])[:, 1]))
    print(f"GSM8K: router above length on {wins}/9 splits")


if __name__ == "__main__":
    main()
