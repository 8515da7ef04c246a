"""In-distribution ceiling: how far each representation gets when it trains on the source it is scored on.

    .venv/bin/python scripts/router_ceiling.py [--ctx ctx_rows.npz] [--folds 5] [--loso]

Leave-one-source-out figures (scripts/loso_router.py) ask a router to carry what it learned to
a source it never saw. This script asks the easier question for each source: with k-fold cross
validation inside the source (train on 4/5 of its rows, score the other 1/5, every row scored
once), does the representation beat prompt length at all? Where even this does not clear
length + 0.05, no left-out training can be expected to, and the LOSO target is out of reach
with the data and the representation (a ceiling, measured rather than argued).

Models: logistic regression on "GPT-4-1106 scores higher than Mixtral" over standardised
log-length plus, as named, the lexical signals (lex), the contextual embedding (ctx, from
scripts/contextual_encoder.py) and the hashed n-grams (ngram, as shipped).

With --loso the same small dense models are scored leave-one-source-out instead (the splits of
scripts/loso_router.py, with a per-source intercept during the fit as the shipped model has):
the figures for "does the contextual embedding carry over" on every left-out part.

With --arena-labels: arena_bench_v1's pair label against its multi-model difficulty
(router_models.graded_difficulty, fitted as a soft label), first inside arena_bench_v1 (10-fold,
mean of 5 repetitions), then trained on arena_bench_v1 alone and scored on every other source.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chatroute.routing import evaluate as ev  # noqa: E402
from scripts import loso_router as lo  # noqa: E402
from scripts import router_models as rm  # noqa: E402

SOURCES = ("gsm8k", "arena_bench_v1", "stem", "humanities", "social_sciences", "other")


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ctx", type=Path)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/chatroute-loso"))
    ap.add_argument("--loso", action="store_true", help="score leave-one-source-out instead of in-distribution")
    ap.add_argument("--arena-labels", action="store_true",
                    help="arena_bench_v1's pair label against its multi-model difficulty")
    args = ap.parse_args()
    rows = lo.load_rows([lo.TRAIN_FILE, lo.ARENA_FILE])
    feats = rm.Features.build(rows, args.cache)
    if args.ctx:
        feats.with_ctx(rows, args.ctx)
    loglen = np.log1p(ev.length_score(rows))
    group = np.array([lo.mmlu_group(r) or r["dataset"] for r in rows])

    def dense(names: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        def x(idx: np.ndarray, tr: np.ndarray) -> np.ndarray:
            parts = [((loglen[idx] - loglen[tr].mean()) / loglen[tr].std())[:, None]] if "length" in names else []
            if "emb" in names:
                parts.append(feats.emb[idx])
            if "ctx" in names and feats.ctx is not None:
                parts.append(feats.ctx[idx])
            if "lex" in names:
                z = (feats.lex[idx] - feats.lex[tr].mean(0)) / (feats.lex[tr].std(0) + 1e-3)
                parts.append(np.clip(z, -5, 5) / np.sqrt(feats.lex.shape[1]))
            return np.hstack(parts)

        return x

    if args.loso:
        loso(rows, dense, loglen, feats.ctx is not None)
        return
    if args.arena_labels:
        arena_labels(rows, dense, loglen, group)
        return
    models = ["length+lex"] + (["length+ctx", "length+ctx+lex"] if feats.ctx is not None else []) + ["ngram+emb+lex"]
    print(f"| source | n | length | {' | '.join(models)} | oracle |")
    print("|---|---|---|" + "---|" * (len(models) + 1))
    for src in SOURCES:
        keep, y = lo.pair_labels(rows, np.flatnonzero(group == src))
        if len(keep) < 2 * args.folds:
            continue
        fold = np.random.default_rng(0).integers(0, args.folds, len(keep))
        sw = np.array([float(rows[i]["scores"][lo.WEAK]) for i in keep])
        ss = np.array([float(rows[i]["scores"][lo.STRONG]) for i in keep])
        cells = []
        for name in models:
            score = np.zeros(len(keep))
            for k in range(args.folds):
                tr, te = keep[fold != k], keep[fold == k]
                if name == "ngram+emb+lex":
                    m = rm.fit_linear(feats, tr, y[fold != k], ngram=True, emb=True, lex=True)
                    score[fold == k] = m.decision(feats, te)
                else:
                    x = dense(name)
                    lr = LogisticRegression(C=0.1, max_iter=3000).fit(x(tr, tr), y[fold != k])
                    score[fold == k] = lr.decision_function(x(te, tr))
            cells.append(ev.curve_metrics(score, ss, sw)["apgr"])
        length = ev.curve_metrics(loglen[keep], ss, sw)["apgr"]
        oracle = ev.curve_metrics(ss - sw, ss, sw)["apgr"]
        print(f"| {src} | {len(keep)} | {length:.3f} | " + " | ".join(f"{c:.3f}" for c in cells)
              + f" | {oracle:.3f} |", flush=True)


def loso(rows: list[dict[str, Any]], dense: Callable[[str], Callable[[np.ndarray, np.ndarray], np.ndarray]],
         loglen: np.ndarray, has_ctx: bool) -> None:
    from sklearn.linear_model import LogisticRegression

    ds = np.array([r["dataset"] for r in rows])
    models = ["length+lex"] + (["length+ctx", "length+ctx+lex"] if has_ctx else [])
    print(f"| left out | pair | n | length | {' | '.join(models)} |")
    print("|---|---|---|---|" + "---|" * len(models))
    for split in lo.make_splits(rows):
        if split.name.startswith("alpaca"):
            continue
        lo.check_no_leak(split, rows)
        keep, y = lo.pair_labels(rows, split.train)
        labels, inv = np.unique(ds[keep], return_inverse=True)
        intercepts = np.zeros((len(keep), len(labels)))
        intercepts[np.arange(len(keep)), inv] = rm.FE_SCALE
        fitted = {}
        for name in models:
            x = dense(name)
            lr = LogisticRegression(C=0.03, max_iter=3000).fit(np.hstack([x(keep, keep), intercepts]), y)
            fitted[name] = (x, lr.coef_.ravel()[: -len(labels)])
        for weak, strong in split.pairs:
            idx = np.array([i for i in split.test if weak in rows[i]["scores"] and strong in rows[i]["scores"]])
            sw = np.array([float(rows[i]["scores"][weak]) for i in idx])
            ss = np.array([float(rows[i]["scores"][strong]) for i in idx])
            cells = [ev.curve_metrics(x(idx, keep) @ w, ss, sw)["apgr"] for x, w in fitted.values()]
            length = ev.curve_metrics(loglen[idx], ss, sw)["apgr"]
            print(f"| {split.name} | {lo._short(weak)} → {lo._short(strong)} | {len(idx)} | {length:.3f} | "
                  + " | ".join(f"{c:.3f}" for c in cells) + " |", flush=True)


def _fit_label(rows: list[dict[str, Any]], keep: np.ndarray, y: np.ndarray, label: str,
               x: Callable[[np.ndarray, np.ndarray], np.ndarray], ref: np.ndarray, c: float) -> Any:
    """Logistic regression on the pair label, or on the difficulty as a soft label."""
    from sklearn.linear_model import LogisticRegression

    if label == "pair":
        return LogisticRegression(C=c, max_iter=3000).fit(x(keep, ref), y)
    return rm.fit_difficulty(rows, keep, y, lambda idx: x(idx, ref), c)


def arena_labels(rows: list[dict[str, Any]], dense: Callable[[str], Callable[[np.ndarray, np.ndarray], np.ndarray]],
                 loglen: np.ndarray, group: np.ndarray) -> None:
    arena = np.flatnonzero(group == "arena_bench_v1")
    keep_all, y_all = lo.pair_labels(rows, arena)
    pairs = ((lo.WEAK, lo.STRONG), (lo.GPT35, lo.STRONG))

    def apgr(score: np.ndarray, idx: np.ndarray, weak: str, strong: str) -> float:
        ok = np.array([weak in rows[i]["scores"] and strong in rows[i]["scores"] for i in idx])
        sw = np.array([float(rows[i]["scores"][weak]) for i in idx[ok]])
        ss = np.array([float(rows[i]["scores"][strong]) for i in idx[ok]])
        value = ev.curve_metrics(score[ok], ss, sw)["apgr"]
        return float("nan") if value is None else value

    lengths = " / ".join(f"{apgr(loglen[keep_all], keep_all, w, s):.3f}" for w, s in pairs)
    print(f"inside arena_bench_v1 (10-fold, 5 repetitions; Mixtral / GPT-3.5 -> GPT-4; length {lengths})")
    print("| features | pair label | difficulty from all models |\n|---|---|---|")
    for names in ("length+lex", "emb", "length+emb+lex"):
        cells = []
        for label in ("pair", "difficulty"):
            got = np.zeros((5, len(pairs)))
            for rep in range(5):
                fold = np.random.default_rng(rep).integers(0, 10, len(keep_all))
                score = np.zeros(len(keep_all))
                for k in range(10):
                    tr, te = keep_all[fold != k], keep_all[fold == k]
                    m = _fit_label(rows, tr, y_all[fold != k], label, dense(names), tr, 0.1)
                    score[fold == k] = m.decision_function(dense(names)(te, tr))
                got[rep] = [apgr(score, keep_all, w, s) for w, s in pairs]
            cells.append(" / ".join(f"{v:.3f}" for v in got.mean(0)))
        print(f"| {names} | {cells[0]} | {cells[1]} |", flush=True)
    targets = [("gsm8k", lo.WEAK), ("stem", lo.WEAK), ("humanities", lo.WEAK), ("social_sciences", lo.WEAK),
               ("other", lo.WEAK), ("alpaca_eval", lo.GPT35)]
    print("\ntrained on arena_bench_v1 alone (emb+lex, C=0.1), scored on the other sources (-> GPT-4)")
    print("| label | " + " | ".join(t for t, _ in targets) + " |\n|---|" + "---|" * len(targets))
    tests = [np.array([i for i in np.flatnonzero(group == t)
                       if w in rows[i]["scores"] and lo.STRONG in rows[i]["scores"]]) for t, w in targets]
    print("| length | " + " | ".join(f"{apgr(loglen[ix], ix, w, lo.STRONG):.3f}"
                                     for ix, (_, w) in zip(tests, targets, strict=True)) + " |")
    for label in ("pair", "difficulty"):
        x = dense("emb+lex")
        m = _fit_label(rows, keep_all, y_all, label, x, keep_all, 0.1)
        print(f"| {label} | " + " | ".join(f"{apgr(m.decision_function(x(ix, keep_all)), ix, w, lo.STRONG):.3f}"
                                           for ix, (_, w) in zip(tests, targets, strict=True)) + " |", flush=True)


if __name__ == "__main__":
    main()
