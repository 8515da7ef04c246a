"""Train chatroute's quality model (chatroute/routing/data/quality.npz + quality.json).

    .venv/bin/python scripts/train_router.py [--features ngram+lex] [--out DIR] [--cache DIR]

Needs the `dev` extra (scikit-learn, scipy); the app itself only reads the weights with numpy.
A few minutes on 2 CPU cores (features are cached in --cache, default /tmp/chatroute-loso).

Data (see ../shared/data/routing/README.md):
- trained on: the mmlu and gsm8k rows of train.jsonl.gz (RouteLLM, Apache-2.0; MMLU/GSM8K prompts
  MIT) and arena_bench_v1.jsonl.gz (arena-hard-auto's arena-bench-v1, Apache-2.0);
- never trained on: the alpaca_eval rows (CC BY-NC 4.0 data): scored only;
- fixed held-out split, never trained on: held_out(id) := int(sha256(id)[:8], 16) % 5 == 0.
Nothing is tuned on the held-out rows; the representation and the regularisation were chosen
on scripts/loso_router.py's leave-one-source-out figures.

Model (chatroute/routing/quality.py): the need g(x) = logistic regression (L2, C = router_models.NEED_C) on
"GPT-4-1106 scores higher than Mixtral" over hashed n-grams (+ lexical signals, + the static
embedding), with a per-source intercept during the fit that is averaged out afterwards
(`--fixed-effects`, see router_models.intercept_groups); then
P(good | x, m) = sigmoid(b0 + b1 q + θ_m max(a_min, a0 + a1 q) s), q = the need's quantile among the
training prompts, s = router_models.CHOICE_GAP on a prompt with lettered answer options (else 1),
with (b0, b1, a0, a1) fitted on 3-fold out-of-fold g against the two labelled models' scores, so
P(good) is calibrated.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chatroute.routing import evaluate as ev  # noqa: E402
from chatroute.routing import ngrams  # noqa: E402
from chatroute.routing.features import LEXICAL_NAMES  # noqa: E402
from chatroute.routing.quality import QualityModel, curve_params, need_quantiles  # noqa: E402
from scripts import loso_router as lo  # noqa: E402
from scripts import router_models as rm  # noqa: E402
from scripts.provenance import library_versions  # noqa: E402

OUT = REPO / "chatroute" / "routing" / "data"
WEAK_MODEL = lo.WEAK
STRONG_MODEL = lo.STRONG
A_MIN = 0.05  # floor on a(g), in units of theta: P stays strictly monotone in ability
THETA_SPAN = 1.0  # the anchors' theta gap; b and a are on this scale
QUANTILE_P = np.linspace(0.0, 1.0, 41)
FEATURE_SETS = {"ngram": (False, False), "ngram+lex": (False, True), "ngram+emb": (True, False),
                "ngram+emb+lex": (True, True)}


def held_out(row_id: str) -> bool:
    return lo.held_out(row_id)


def fold_of(row_id: str, k: int = 3) -> int:
    return int(hashlib.sha256(row_id.encode()).hexdigest()[8:16], 16) % k


def fit_curve(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic fit of soft labels y on [1, x]: (alpha, beta)."""
    alpha, beta = fit_logistic(np.stack([np.ones_like(x), x], axis=1), y)
    return float(alpha), float(beta)


def calibration(q: np.ndarray, y_weak: np.ndarray, y_strong: np.ndarray, theta_w: float, theta_s: float,
                theta_top: float | None = None, gap: np.ndarray | None = None) -> np.ndarray:
    """(b0, b1, a0, a1) such that sigmoid(b + θ a s) is each anchor's fitted P(good | need quantile
    q), s = `gap` per row (the ability term's scale, QualityModel.gap; 1 when None). With theta_top
    (the trait of the top of the ability scale), a1 is capped so that no model up to it is
    predicted better on a needier prompt: where the strong anchor's fitted curve falls less steeply
    than the weak one's, the straight extrapolation in θ would turn upwards above it."""
    if gap is None or np.all(gap == 1.0):
        aw, bw = fit_curve(q, y_weak)
        as_, bs = fit_curve(q, y_strong)
        a1 = (bs - bw) / (theta_s - theta_w)
        if theta_top is not None and theta_top > theta_w:
            a1 = min(a1, -bw / (theta_top - theta_w))
        a0 = (as_ - aw) / (theta_s - theta_w)
        return np.array([aw - theta_w * a0, bw - theta_w * a1, a0, a1])
    # Both anchors in one logistic fit on [1, q, θ s, θ s q]: with s = 1 it is the two curves above.
    one = np.ones_like(q)
    design = np.vstack([np.stack([one, q, theta_w * gap, theta_w * gap * q], axis=1),
                        np.stack([one, q, theta_s * gap, theta_s * gap * q], axis=1)])
    y = np.concatenate([y_weak, y_strong])
    w = fit_logistic(design, y)
    b0, b1, a0, a1 = (float(x) for x in w)
    if theta_top is not None and theta_top > theta_w and b1 + theta_top * a1 > 0:
        # Refit with P falling in q up to the top of the scale: b1 = -theta_top * a1.
        tied = np.stack([design[:, 0], design[:, 2], design[:, 3] - theta_top * design[:, 1]], axis=1)
        b0, a0, a1 = (float(x) for x in fit_logistic(tied, y))
        b1 = -theta_top * a1
    return np.array([b0, b1, a0, a1])


def fit_logistic(design: np.ndarray, y: np.ndarray, iters: int = 100) -> np.ndarray:
    """Logistic fit of soft labels y on the columns of `design` (Newton, tiny ridge)."""
    w = np.zeros(design.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(design @ w)))
        grad = design.T @ (p - y) + 1e-3 * w
        h = (design * (p * (1 - p))[:, None]).T @ design + 1e-3 * np.eye(design.shape[1])
        step = np.linalg.solve(h, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return w


def catalogue_anchors() -> dict[str, float]:
    """The two labelled models' abilities, from the catalogue: the scale P(good) is fitted on."""
    from chatroute.catalog.abilities import default_ability

    return {WEAK_MODEL: default_ability(WEAK_MODEL), STRONG_MODEL: default_ability(STRONG_MODEL)}


def train(rows: list[dict[str, Any]], feats: rm.Features, train_idx: np.ndarray, *, use_emb: bool, use_lex: bool,
          anchors: dict[str, float], folds: int = 3, log: Any = print,
          fixed_effects: str = "source", pooled_share: float = 0.0,
          worked_only: bool = False, pooled_worked_only: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Weights (QualityModel layout) fitted on rows train_idx only: router_models.fit_need, an
    intercept per group of router_models.intercept_groups(rows, fixed_effects) during the fit,
    blended with `pooled_share` of the right-or-wrong sources fitted pooled."""
    prompts, labels = lo.pair_labels(rows, train_idx)
    keep, y = rm.worked_rows(rows, feats, prompts, labels) if worked_only else (prompts, labels)

    def fit(ix: np.ndarray, yy: np.ndarray) -> rm.LinearRouter:
        return rm.fit_need(feats, ix, yy, rows, emb=use_emb, lex=use_lex, c=rm.NEED_C, fixed_effects=fixed_effects,
                           pooled_share=pooled_share, pooled_worked_only=pooled_worked_only)

    model = fit(keep, y)
    log(f"  need model fitted on {len(keep)} rows")
    # Out-of-fold need for calibration and the operating points (in-sample g would be overconfident).
    # The quantile scale counts every training prompt, the ones whose label is not trained on too:
    # their text is a real request even where their one-token label is not a reading of it.
    fold = np.array([fold_of(rows[i]["id"], folds) for i in prompts])
    trained = np.isin(prompts, keep)
    oof_all = np.zeros(len(prompts))
    for f in range(folds):
        mf = fit(prompts[trained & (fold != f)], y[fold[trained] != f])
        oof_all[fold == f] = mf.decision(feats, prompts[fold == f])
        log(f"  fold {f + 1}/{folds} done")
    g_quantiles = np.quantile(oof_all, QUANTILE_P)
    oof = oof_all[trained]
    ability0 = float(np.mean(list(anchors.values())))
    theta_scale = THETA_SPAN / (anchors[STRONG_MODEL] - anchors[WEAK_MODEL])
    tw = (anchors[WEAK_MODEL] - ability0) * theta_scale
    ts = (anchors[STRONG_MODEL] - ability0) * theta_scale
    yw = np.array([float(rows[i]["scores"][WEAK_MODEL]) for i in keep])
    ys = np.array([float(rows[i]["scores"][STRONG_MODEL]) for i in keep])
    q = need_quantiles(oof, g_quantiles, QUANTILE_P)
    # The app narrows the gap between models on a prompt with lettered answer options
    # (QualityModel.gap): the curve is fitted with that scale in place, so it is calibrated on them.
    gap = np.where(rm.choice_rows([rows[i] for i in keep]), rm.CHOICE_GAP, 1.0)
    calib = calibration(q, yw, ys, tw, ts, theta_top=(1.0 - ability0) * theta_scale, gap=gap)
    arrays: dict[str, Any] = {
        "idf": model.idf.astype(np.float32) if model.idf is not None else np.ones(ngrams.DIM, np.float32),
        "w": model.w.astype(np.float32) if model.w is not None else np.zeros(ngrams.DIM, np.float32),
        "v": model.v.astype(np.float32),
        "bias": np.float32(model.bias),
        "use_emb": np.bool_(use_emb),
        "use_lex": np.bool_(use_lex),
        "lex_mean": model.lex_mean.astype(np.float32),
        "lex_std": model.lex_std.astype(np.float32),
        "calibration_q": calib.astype(np.float64),
        "a_min": np.float32(A_MIN),
        "ability0": np.float32(ability0),
        "theta_scale": np.float32(theta_scale),
        "g_quantile_p": QUANTILE_P.astype(np.float32),
        "g_quantiles": g_quantiles.astype(np.float32),
        "choice_gap": np.float32(rm.CHOICE_GAP),
    }
    info = {"rows": int(len(keep)), "oof_reliability": reliability(q, yw, ys, calib, tw, ts, gap)}
    return arrays, info


def reliability(q: np.ndarray, yw: np.ndarray, ys: np.ndarray, calib: np.ndarray, tw: float, ts: float,
                gap: np.ndarray | float = 1.0, bins: int = 5) -> list[dict[str, float]]:
    """Predicted vs observed P(good) per quantile bin of the need (q or g: any increasing
    function of it bins the same), for both anchors; `gap`: the ability term's scale per row."""
    b, a = curve_params(calib, A_MIN, q)
    a = a * gap
    pw, ps = 1 / (1 + np.exp(-(b + tw * a))), 1 / (1 + np.exp(-(b + ts * a)))
    bin_of = rm.quantile_bins(q, bins)
    out = []
    for k in range(bins):
        m = bin_of == k
        if m.any():
            out.append({"n": int(m.sum()),
                        "pred_weak": round(float(pw[m].mean()), 3), "obs_weak": round(float(yw[m].mean()), 3),
                        "pred_strong": round(float(ps[m].mean()), 3), "obs_strong": round(float(ys[m].mean()), 3)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", choices=sorted(FEATURE_SETS), default="ngram+emb+lex")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/chatroute-loso"))
    ap.add_argument("--fixed-effects", choices=("source", "kind", "none"), default="source",
                    help="which rows share an intercept during the fit (router_models.intercept_groups); "
                         "the shipped weights use 'source'")
    ap.add_argument("--pooled-share", type=float, default=rm.POOLED_SHARE,
                    help="share of the need from a fit on the right-or-wrong sources pooled "
                         "(router_models.fit_need); 0 = within-source only")
    ap.add_argument("--worked-only", action="store_true",
                    help="leave out MMLU rows with maths or code in them (one-token labels; "
                         "router_models.worked_rows)")
    ap.add_argument("--pooled-worked-only", action=argparse.BooleanOptionalAction, default=rm.POOLED_WORKED_ONLY,
                    help="leave those rows out of the pooled half of the need only (shipped)")
    args = ap.parse_args()
    t0 = time.time()
    anchors = catalogue_anchors()
    rows = lo.load_rows([lo.TRAIN_FILE, lo.ARENA_FILE], keep_unparsed=True)
    dropped = lo.drop_unparsed_scores(rows)
    feats = rm.Features.build(rows, args.cache)
    ds = np.array([r["dataset"] for r in rows])
    ho = np.array([held_out(r["id"]) for r in rows])
    trainable = np.isin(ds, lo.TRAINABLE)
    train_idx = np.flatnonzero(trainable & ~ho)
    use_emb, use_lex = FEATURE_SETS[args.features]
    arrays, info = train(rows, feats, train_idx, use_emb=use_emb, use_lex=use_lex, anchors=anchors,
                         fixed_effects=args.fixed_effects, pooled_share=args.pooled_share,
                         worked_only=args.worked_only, pooled_worked_only=args.pooled_worked_only)
    qm = QualityModel(arrays, {"anchors": anchors})

    # Held-out figures through the shipped inference path (text in, numpy only).
    def score(rs, weak, strong):
        return qm.pair_scores([list(r["turns"]) for r in rs], weak, strong)

    metrics: dict[str, Any] = {}
    held = [rows[i] for i in np.flatnonzero(trainable & ho)]
    metrics["held_out"] = _apgr(ev.evaluate_rows(held, WEAK_MODEL, STRONG_MODEL, score))
    alpaca = [r for r in rows if r["dataset"] == "alpaca_eval"]
    if alpaca:
        metrics["alpaca_eval_score_only"] = _apgr(ev.evaluate_rows(alpaca, "gpt-3.5-turbo-1106", STRONG_MODEL, score))

    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "quality.npz", **arrays)  # uncompressed: loads in a few ms
    data_sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (lo.TRAIN_FILE, lo.ARENA_FILE)}
    labelled, _ = lo.pair_labels(rows, train_idx)
    worked, _ = rm.worked_rows(rows, feats, labelled, np.zeros(len(labelled)))
    one_token = int(len(labelled) - len(worked))
    if args.worked_only:
        labelled = worked
    counts = {d: int(np.sum(ds[labelled] == d)) for d in lo.TRAINABLE}
    meta = {
        "format": "chatroute-quality/3",
        "model": "need g = LR on hashed word 1-2 / char 2-5-grams"
                 + (" + lexical signals" if use_lex else "") + (" + static embedding" if use_emb else "")
                 + "; P(good) = sigmoid(b0 + b1 q + theta max(a_min, a0 + a1 q)), q = quantile of g among"
                 " the training prompts (calibration_q), calibrated out of fold",
        "features": {"ngram_buckets": ngrams.DIM, "embedding": use_emb,
                     "lexical": list(LEXICAL_NAMES) if use_lex else []},
        "anchors": anchors,
        "hyper_parameters": {"fixed_effects": args.fixed_effects, "pooled_share": args.pooled_share,
                             "worked_only": args.worked_only, "pooled_worked_only": args.pooled_worked_only,
                             "C": rm.NEED_C, "a_min": A_MIN, "theta_span": THETA_SPAN,
                             "choice_gap": rm.CHOICE_GAP,
                             "calibration_folds": 3},
        "training_data": {
            "files": data_sha,
            "datasets": list(lo.TRAINABLE),
            "rows": counts,
            "label": f"{STRONG_MODEL} scores higher than {WEAK_MODEL}",
            "sources": {
                "mmlu": "lm-sys/RouteLLM@0b64fda routellm/evals/mmlu/responses (Apache-2.0; MMLU test set, MIT)",
                "gsm8k": "lm-sys/RouteLLM@0b64fda routellm/evals/gsm8k/gsm8k_responses.csv (Apache-2.0; GSM8K, MIT)",
                "arena_bench_v1": "lmarena/arena-hard-auto data/arena-bench-v1 (Apache-2.0)",
            },
            "excluded": "alpaca_eval rows (CC BY-NC 4.0): scored only, never trained on",
            "one_token_maths_rows": {
                "rows": one_token,
                "left_out_of": "the whole need" if args.worked_only else (
                    "the pooled half" if args.pooled_worked_only else "nothing"),
                "why": "RouteLLM's MMLU labels were generated with max_new_tokens=1: on a question with "
                       "maths or code in it both models guess (router_models.worked_rows)",
            },
            "scores_dropped_below_chance": [{"subject": sub, "model": m, "rows": n, "mean_score": round(mean, 3)}
                                            for sub, m, n, mean in dropped],
            "held_out_rule": "int(sha256(id)[:8], 16) % 5 == 0",
            "calibration_fold_rule": "int(sha256(id)[8:16], 16) % 3",
        },
        "calibration": info,
        "metrics": metrics,
        "train_seconds": round(time.time() - t0, 1),
        "script": "scripts/train_router.py",
        "trained_with": library_versions(),
    }
    (args.out / "quality.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: meta[k] for k in ("calibration", "metrics")}, indent=1))
    print(f"done in {time.time() - t0:.0f}s")


def _apgr(res: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    return {d: {"router": r["router"]["apgr"], "length": r["length"]["apgr"], "n": r["n"]} for d, r in res.items()
            if "router" in r}


if __name__ == "__main__":
    main()
