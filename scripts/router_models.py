"""Candidate router representations and models for scripts/loso_router.py and train_router.py.

Features are computed once per row and cached (hashed n-gram counts, static embedding, lexical
signals). Per split, the n-gram IDF and the standardisation are fitted on the training rows only.
scikit-learn (dev extra) fits the logistic regressions; inference in the app is numpy only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from chatroute.routing import ngrams

EMB_SCALE = 1.0
LEX_CLIP = 5.0


def _text(row: dict[str, Any]) -> str:
    return "\n".join(row["turns"])


def _counts(hashes: list[np.ndarray]) -> sparse.csr_matrix:
    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for h in hashes:
        idx, cnt = np.unique(h.astype(np.int64), return_counts=True)
        indices.append(idx)
        data.append(cnt.astype(np.float32))
        indptr.append(indptr[-1] + len(idx))
    return sparse.csr_matrix(
        (np.concatenate(data) if data else np.zeros(0), np.concatenate(indices) if indices else np.zeros(0, int),
         np.array(indptr)),
        shape=(len(hashes), ngrams.DIM),
    )


@dataclass
class Features:
    word: sparse.csr_matrix  # raw word 1-2-gram bucket counts
    char: sparse.csr_matrix  # raw char 2-5-gram bucket counts
    emb: np.ndarray  # static embedding of the last turn
    lex: np.ndarray  # lexical signals (features.py)
    ctx: np.ndarray | None = None  # contextual (MiniLM) embedding of the last turn, when computed

    def with_ctx(self, rows: Sequence[dict[str, Any]], path: Path) -> Features:
        """Attach contextual embeddings saved as npz {ids, emb} (`scripts/contextual_encoder.py rows`)."""
        with np.load(path, allow_pickle=False) as z:
            pos = {str(i): k for k, i in enumerate(z["ids"])}
            emb = z["emb"]
        self.ctx = np.stack([emb[pos[r["id"]]] for r in rows]).astype(np.float32)
        return self

    @classmethod
    def build(cls, rows: Sequence[dict[str, Any]], cache: Path) -> Features:
        key = hashlib.sha256("\x00".join(r["id"] + _text(r) for r in rows).encode()).hexdigest()[:16]
        cache.mkdir(parents=True, exist_ok=True)
        f = cache / f"features-{key}.npz"
        if f.exists():
            with np.load(f, allow_pickle=False) as z:
                word = sparse.csr_matrix((z["wd"], z["wi"], z["wp"]), shape=(len(rows), ngrams.DIM))
                char = sparse.csr_matrix((z["cd"], z["ci"], z["cp"]), shape=(len(rows), ngrams.DIM))
                return cls(word, char, z["emb"], z["lex"])
        from chatroute.embed import get_embedder
        from chatroute.routing.features import lexical_features

        texts = [ngrams.clip(r["turns"][-1]) for r in rows]
        word = _counts([ngrams.word_hashes(t) for t in texts])
        char = _counts([ngrams.char_hashes(t) for t in texts])
        emb = get_embedder().embed([r["turns"][-1] for r in rows])
        lex = np.stack([lexical_features(r["turns"][-1]) for r in rows])
        np.savez(f, wd=word.data, wi=word.indices, wp=word.indptr, cd=char.data, ci=char.indices, cp=char.indptr,
                 emb=emb, lex=lex)
        return cls(word, char, emb, lex)


def idf_of(feats: Features, train: np.ndarray) -> np.ndarray:
    """Smooth IDF over the training rows (a bucket counts once per row, word or char part)."""
    present = ((feats.word[train] + feats.char[train]) > 0).astype(np.float32)
    df = np.asarray(present.sum(axis=0)).ravel()
    n = len(train)
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


def _part(m: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    m = m.copy().astype(np.float32)
    m.data = 1.0 + np.log(m.data)
    m = m.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ m


def ngram_matrix(feats: Features, idx: np.ndarray, idf: np.ndarray) -> sparse.csr_matrix:
    """The same vector chatroute.routing.ngrams.sparse_features gives, for rows idx."""
    return (_part(feats.word[idx], idf) + _part(feats.char[idx], idf)).tocsr()


def lex_stats(feats: Features, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return feats.lex[train].mean(axis=0), feats.lex[train].std(axis=0) + 1e-3


def dense_part(feats: Features, idx: np.ndarray, use_emb: bool, use_lex: bool,
               lex_mean: np.ndarray, lex_std: np.ndarray, ctx_scale: float = 0.0) -> np.ndarray:
    parts = []
    if use_emb:
        parts.append(EMB_SCALE * feats.emb[idx])
    if ctx_scale and feats.ctx is not None:
        parts.append(ctx_scale * feats.ctx[idx])
    if use_lex:
        parts.append(np.clip((feats.lex[idx] - lex_mean) / lex_std, -LEX_CLIP, LEX_CLIP) / np.sqrt(feats.lex.shape[1]))
    return np.hstack(parts) if parts else np.zeros((len(idx), 0), dtype=np.float32)


@dataclass
class LinearRouter:
    """score(x) = x_ngram . w + x_dense . v + bias: logit of P(strong scores higher than weak)."""

    idf: np.ndarray | None
    w: np.ndarray | None  # (DIM,)
    v: np.ndarray  # dense weights
    bias: float
    use_emb: bool
    use_lex: bool
    lex_mean: np.ndarray
    lex_std: np.ndarray
    ctx_scale: float = 0.0

    def design(self, feats: Features, idx: np.ndarray) -> sparse.csr_matrix:
        blocks = []
        if self.idf is not None:
            blocks.append(ngram_matrix(feats, idx, self.idf))
        d = dense_part(feats, idx, self.use_emb, self.use_lex, self.lex_mean, self.lex_std, self.ctx_scale)
        if d.shape[1]:
            blocks.append(sparse.csr_matrix(d))
        return sparse.hstack(blocks).tocsr()

    def decision(self, feats: Features, idx: np.ndarray) -> np.ndarray:
        coef = np.concatenate([self.w if self.w is not None else np.zeros(0), self.v])
        return np.asarray(self.design(feats, idx) @ coef).ravel() + self.bias


# Half of the shipped need comes from a fit on MMLU and GSM8K pooled, which keeps "word problems
# need the stronger model more often than knowledge questions" (chosen on the held-out mixes of
# sources; README, Router quality).
POOLED_SHARE = 0.5
# The pooled half leaves out MMLU's one-token maths rows (worked_rows): they say "maths does not
# need the stronger model" only because neither model could work the answer out (README, Router
# quality).
POOLED_WORKED_ONLY = True
# The shipped need's L2 strength (sklearn's C), chosen on the left-out figures: C = 0.3 was ahead
# of C = 1 on six of the eight left-out parts and on both held-out mixes (README, Router quality).
NEED_C = 0.3
FE_SCALE = 10.0  # group indicator columns are scaled up so the L2 penalty barely touches them
# On a prompt listing lettered answer options (features.lists_choices) the ability term of the
# P(good) curve is scaled by this: with options the weaker model's guesses narrow the gap between
# models, while a model of middling ability does as well as without them. Every training source is
# all or nothing (MMLU all, GSM8K none), so no fit can learn it apart from the source. The size
# keeps the order stop 40's discount of the need gave the stand-in mixes (README, Router quality).
CHOICE_GAP = 0.6
# Stop 40's way, kept to compare: the need lowered by this many standard deviations of the training
# prompts' need, stopping a step above `best`'s line (CHOICE_DISCOUNT_STOP_QUANTILE).
CHOICE_DISCOUNT_SD = 1.0
CHOICE_DISCOUNT_STOP_QUANTILE = 0.15
CHOICE_DISCOUNT_KEEP = 0.1


def choice_discounted(g: np.ndarray, discount: float, stop: float) -> np.ndarray:
    """Stop 40's discounted need of a question with lettered options: lowered by `discount`, but a
    need above `stop` stays above it, keeping CHOICE_DISCOUNT_KEEP of its distance to it."""
    return np.where(g > stop, np.maximum(g - discount, stop + CHOICE_DISCOUNT_KEEP * (g - stop)), g)


def fit_linear(feats: Features, train: np.ndarray, y: np.ndarray, *, ngram: bool, emb: bool, lex: bool,
               c: float = 1.0, weights: np.ndarray | None = None, groups: np.ndarray | None = None,
               ctx_scale: float = 0.0, like: LinearRouter | None = None) -> LinearRouter:
    """Logistic regression of y on the chosen features. With `groups` (one label per training row,
    e.g. the source), each group gets its own intercept during the fit (a fixed effect), so the
    shared weights must explain differences *within* a source; at inference the intercepts are
    replaced by their row-weighted mean. With `like`, the IDF and the lexical standardisation are
    that model's, so the two can be added into one (blend)."""
    from sklearn.linear_model import LogisticRegression

    if like is not None:
        idf, (mean, std) = like.idf, (like.lex_mean, like.lex_std)
    else:
        idf, (mean, std) = (idf_of(feats, train) if ngram else None), lex_stats(feats, train)
    r = LinearRouter(idf, None, np.zeros(0), 0.0, emb, lex, mean, std, ctx_scale)
    x = r.design(feats, train)
    n_fe = 0
    if groups is not None:
        labels, inv = np.unique(groups, return_inverse=True)
        n_fe = len(labels)
        onehot = sparse.csr_matrix((np.full(len(inv), FE_SCALE), (np.arange(len(inv)), inv)), shape=(len(inv), n_fe))
        x = sparse.hstack([x, onehot]).tocsr()
    lr = LogisticRegression(C=c, max_iter=3000)
    lr.fit(x, y, sample_weight=weights)
    coef = lr.coef_.ravel()
    k = ngrams.DIM if ngram else 0
    r.w = coef[:k].astype(np.float32) if ngram else None
    r.v = coef[k : len(coef) - n_fe].astype(np.float32)
    r.bias = float(lr.intercept_[0])
    if n_fe:
        r.bias += float(np.mean(FE_SCALE * coef[len(coef) - n_fe :][inv]))
    return r


def blend(parts: Sequence[tuple[LinearRouter, float]], feats: Features, ref: np.ndarray) -> LinearRouter:
    """One linear model: sum of share x (model's score standardised on rows ref). The parts must
    share the IDF and the lexical standardisation (fit_linear(..., like=...)), so the sum is
    linear in the same inputs and the app runs it as a single weight vector."""
    first = parts[0][0]
    w = np.zeros(ngrams.DIM, np.float64) if first.w is not None else None
    v = np.zeros(len(first.v), np.float64)
    bias = 0.0
    for model, share in parts:
        d = model.decision(feats, ref)
        mu, sd = float(d.mean()), float(d.std()) or 1.0
        if w is not None and model.w is not None:
            w += share / sd * model.w
        v += share / sd * model.v
        bias += share * (model.bias - mu) / sd
    return LinearRouter(first.idf, None if w is None else w.astype(np.float32), v.astype(np.float32), bias,
                        first.use_emb, first.use_lex, first.lex_mean, first.lex_std, first.ctx_scale)


def quantile_bins(x: np.ndarray, bins: int = 5) -> np.ndarray:
    """Bin index (0 .. bins-1) of each value by the quantiles of x itself: equal-count bins,
    the top edge in the last bin (reliability tables bin the need this way)."""
    edges = np.quantile(x, np.linspace(0, 1, bins + 1))
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)


def graded_difficulty(rows: Sequence[dict[str, Any]], keep: np.ndarray) -> np.ndarray:
    """For each graded (arena_bench_v1) row of keep, how hard it is for the models that answered
    it: the mean over models of (the model's mean score on these rows - its score here), as a
    percentile rank among these rows in (0, 1). NaN for the other rows. Averaged over up to 16
    models, this is a far less noisy label than one pair's comparison of two grades."""
    graded = np.array([rows[i]["dataset"] == "arena_bench_v1" for i in keep])
    out = np.full(len(keep), np.nan)
    if not graded.any():
        return out
    sub = keep[graded]
    models = sorted({m for i in sub for m in rows[i]["scores"]})
    s = np.array([[float(rows[i]["scores"].get(m, np.nan)) for m in models] for i in sub])
    hard = np.nanmean(np.nanmean(s, axis=0) - s, axis=1)
    order = np.argsort(np.argsort(hard, kind="stable"), kind="stable")
    out[graded] = (order + 0.5) / len(sub)
    return out


def soft_rows(keep: np.ndarray, y: np.ndarray, p: np.ndarray,
              weight: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with a soft label p (not NaN) enter twice, as 1 with weight `weight` x p and as 0 with
    `weight` x (1 - p) (logistic regression on a probability); the others once, as they are."""
    soft = ~np.isnan(p)
    idx = np.concatenate([keep[~soft], keep[soft], keep[soft]])
    yy = np.concatenate([y[~soft], np.ones(soft.sum()), np.zeros(soft.sum())])
    ww = np.concatenate([np.ones((~soft).sum()), weight * p[soft], weight * (1.0 - p[soft])])
    return idx, yy, ww


def fit_difficulty(rows: Sequence[dict[str, Any]], keep: np.ndarray, y: np.ndarray,
                   design: Callable[[np.ndarray], np.ndarray], c: float) -> Any:
    """Logistic regression of the graded rows of keep on their difficulty (graded_difficulty, a
    soft label), over the columns design(row positions) gives; the other rows are left out. None
    when keep has no graded row."""
    from sklearn.linear_model import LogisticRegression

    p = graded_difficulty(rows, keep)
    graded = ~np.isnan(p)
    if not graded.any():
        return None
    idx, yy, ww = soft_rows(keep[graded], y[graded], p[graded])
    return LogisticRegression(C=c, max_iter=3000).fit(design(idx), yy, sample_weight=ww)


def fit_need(feats: Features, keep: np.ndarray, y: np.ndarray, rows: Sequence[dict[str, Any]], *,
             emb: bool, lex: bool, c: float = 1.0, fixed_effects: str = "source",
             pooled_share: float = 0.0, graded: str = "pair", graded_weight: float = 1.0,
             pooled_only: Sequence[str] = (), pooled_worked_only: bool = False) -> LinearRouter:
    """The need model: a fit with an intercept per `fixed_effects` group (differences *within* a
    source), blended with `pooled_share` of one fitted on the right-or-wrong sources pooled (MMLU
    and GSM8K with one intercept: differences *between* kinds of request, which the per-source
    intercepts remove and chat and benchmark mixes are ranked by). Both are standardised on the
    training rows before they are added. Rows of a `pooled_only` dataset enter the pooled fit only;
    with `pooled_worked_only`, the one-token maths rows (worked_rows) stay out of the pooled fit."""
    groups = intercept_groups(rows, fixed_effects)
    all_keep, all_y = keep, y
    if pooled_only:
        mine = np.array([rows[i]["dataset"] not in pooled_only for i in keep], dtype=bool)
        keep, y = keep[mine], y[mine]
    if graded == "difficulty":
        template = LinearRouter(idf_of(feats, keep), None, np.zeros(0), 0.0, emb, lex, *lex_stats(feats, keep))
        idx, yy, ww = soft_rows(keep, y, graded_difficulty(rows, keep), graded_weight)
        within = fit_linear(feats, idx, yy, ngram=True, emb=emb, lex=lex, c=c, weights=ww,
                            groups=None if groups is None else groups[idx], like=template)
    else:
        within = fit_linear(feats, keep, y, ngram=True, emb=emb, lex=lex, c=c,
                            groups=None if groups is None else groups[keep])
    if not pooled_share:
        return within
    kind = intercept_groups(rows, "kind")
    assert kind is not None
    if pooled_worked_only:
        all_keep, all_y = worked_rows(rows, feats, all_keep, all_y)
    sub = kind[all_keep] == "correctness"
    pooled = fit_linear(feats, all_keep[sub], all_y[sub], ngram=True, emb=emb, lex=lex, c=c, like=within)
    return blend([(within, 1.0 - pooled_share), (pooled, pooled_share)], feats, keep)


# RouteLLM generated its MMLU labels with one token of answer and no room to work
# (routellm/evals/mmlu/generate_responses.py: max_new_tokens=1), its GSM8K labels with up to 1,024
# tokens of worked answer. On an MMLU question that needs a calculation or code read, both models
# guess the letter, so the label says "maths does not need the stronger model", the opposite of
# GSM8K and of a chat, where the model writes its working out (README, Router quality).
ONE_TOKEN_SOURCES = ("mmlu",)


def choice_rows(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """Whether each row's last turn lists lettered answer options (features.lists_choices)."""
    from chatroute.routing.features import lists_choices

    return np.array([lists_choices(str((r.get("turns") or [""])[-1])) for r in rows], dtype=bool)


def maths_or_code(feats: Features, idx: np.ndarray | None = None) -> np.ndarray:
    """Whether each row (of `idx`, else all) has maths or code in it: quality.demanding, the cue
    the app's floor uses."""
    from chatroute.routing.quality import demanding

    lex = feats.lex if idx is None else feats.lex[idx]
    return np.array([demanding(v) for v in lex], dtype=bool)


def worked_rows(rows: Sequence[dict[str, Any]], feats: Features, keep: np.ndarray,
                y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """keep and y without the rows of a ONE_TOKEN_SOURCES dataset whose prompt has maths or code
    in it (maths_or_code)."""
    one_token = np.array([rows[i]["dataset"] in ONE_TOKEN_SOURCES for i in keep], dtype=bool)
    drop = one_token & maths_or_code(feats, keep)
    return keep[~drop], y[~drop]


def intercept_groups(rows: Sequence[dict[str, Any]], how: str) -> np.ndarray | None:
    """The groups that get their own intercept during the fit (averaged out afterwards).

    "source": one per dataset, so only differences within a source are learned (the shipped
    need's within-source part).
    "kind": one per kind of label. MMLU and GSM8K are both right-or-wrong, so that word problems
    need the stronger model more often than knowledge questions is kept as signal; arena_bench_v1
    is a graded judgement on another scale, and pooled with the others it made every open-ended
    prompt look needy. "none": pooled."""
    ds = np.array([r["dataset"] for r in rows])
    if how == "none":
        return None
    if how == "source":
        return ds
    return np.where(ds == "arena_bench_v1", "graded", "correctness")


def candidate_methods(rows: Sequence[dict[str, Any]], feats: Features) -> dict[str, Any]:
    from scripts.loso_router import fitted_once, pair_labels, z_blend

    def make(ngram: bool, emb: bool, lex: bool, c: float = 1.0, fe: bool | str = False,
             ctx: float = 0.0):
        groups = intercept_groups(rows, "kind" if fe == "kind" else "source") if fe else None

        def fit(train: np.ndarray):
            keep, y = pair_labels(rows, train)
            model = fit_linear(feats, keep, y, ngram=ngram, emb=emb, lex=lex, c=c,
                               groups=None if groups is None else groups[keep],
                               ctx_scale=ctx)
            return lambda idx, w, s: model.decision(feats, idx)

        return fit

    from chatroute.routing import evaluate as ev

    loglen = np.log1p(ev.length_score(rows))

    def plus_length(base, weight: float = 1.0, long_only: bool = False):
        """The base model's score and log-length, each standardised on the training rows, added.
        `long_only`: only the log-length above the training median counts, so a long prompt gains
        need and a short one loses none."""
        def fit(train: np.ndarray):
            score = base(train)
            ref = score(train, "", "")
            mu, sd = float(ref.mean()), float(ref.std()) or 1.0
            lm = float(np.median(loglen[train]) if long_only else loglen[train].mean())
            ls = float(loglen[train].std()) or 1.0

            def length_term(idx: np.ndarray) -> np.ndarray:
                z = (loglen[idx] - lm) / ls
                return np.maximum(0.0, z) if long_only else z

            return lambda idx, w, s: (score(idx, w, s) - mu) / sd + weight * length_term(idx)

        return fit

    from chatroute.routing.quality import DEMANDING_FLOOR_QUANTILE

    cue = maths_or_code(feats)

    def with_floor(base, quantile: float = DEMANDING_FLOOR_QUANTILE):
        """The base model with the app's floor for maths and code (quality.DEMANDING_FLOOR_QUANTILE
        of the training rows' scores, unless another quantile is given)."""
        def fit(train: np.ndarray):
            score = base(train)
            floor = float(np.quantile(score(train, "", ""), quantile))
            return lambda idx, w, s: np.where(cue[idx], np.maximum(score(idx, w, s), floor), score(idx, w, s))

        return fit

    def blended(share: float, graded: str = "pair", graded_weight: float = 1.0, c: float = NEED_C,
                pooled_only: Sequence[str] = (), worked_only: bool = False,
                pooled_worked_only: bool = POOLED_WORKED_ONLY):
        def fit(train: np.ndarray):
            keep, y = pair_labels(rows, train)
            if worked_only:
                keep, y = worked_rows(rows, feats, keep, y)
            model = fit_need(feats, keep, y, rows, emb=True, lex=True, c=c, pooled_share=share, graded=graded,
                             graded_weight=graded_weight, pooled_only=pooled_only,
                             pooled_worked_only=pooled_worked_only)
            return lambda idx, w, s: model.decision(feats, idx)

        return fit

    def arena_difficulty_dense(train: np.ndarray):
        """A small dense model (static embedding + lexical signals) of the graded rows' difficulty
        alone: trained on arena_bench_v1 by itself it carries to the right-or-wrong sources better
        than the same model on that source's pair label."""
        keep, y = pair_labels(rows, train)
        mean, std = lex_stats(feats, keep)

        def design(ix: np.ndarray) -> np.ndarray:
            return dense_part(feats, ix, True, True, mean, std)

        lr = fit_difficulty(rows, keep, y, design, 0.1)
        if lr is None:
            return lambda idx, w, s: np.zeros(len(idx))
        return lambda ix, w, s: lr.decision_function(design(ix))

    choices = choice_rows(rows)

    def with_choice_discount(base, sds: float = CHOICE_DISCOUNT_SD):
        """Stop 40's design: the base model's score lowered by `sds` standard deviations of its
        training rows' scores for a prompt that lists lettered answer options, but kept above the
        training scores' CHOICE_DISCOUNT_STOP_QUANTILE where it was above it."""
        def fit(train: np.ndarray):
            score = base(train)
            ref = score(train, "", "")
            sd = float(ref.std()) or 1.0
            stop = float(np.quantile(ref, CHOICE_DISCOUNT_STOP_QUANTILE))

            def scored(idx: np.ndarray, w: str, s: str) -> np.ndarray:
                g = score(idx, w, s)
                return np.where(choices[idx], choice_discounted(g, sds * sd, stop), g)

            return scored

        return fit

    def with_choice_gap(base, gap: float = CHOICE_GAP):
        """The base model's score read as the shipped P(good) curve reads a need: its quantile among
        the training rows' scores, then the pair's gain in P(good), with the ability term scaled by
        `gap` for a prompt that lists lettered answer options (QualityModel.gap)."""
        from chatroute.routing.quality import curve_params, get_quality_model

        qm = get_quality_model()

        def fit(train: np.ndarray):
            score = base(train)
            ref = np.sort(score(train, "", ""))

            def scored(idx: np.ndarray, w: str, s: str) -> np.ndarray:
                q = np.searchsorted(ref, score(idx, w, s)) / len(ref)
                b, a = curve_params(qm.calibration, qm.a_min, q)
                return qm.pair_gain(b, a * np.where(choices[idx], gap, 1.0), w, s)

            return scored

        return fit

    within = fitted_once(make(True, True, True, fe=True))
    shipped = fitted_once(blended(POOLED_SHARE))
    plain = fitted_once(make(True, True, True))

    return {
        "within-source": within,
        "within-source + floor": with_floor(within),
        "within + pooled (1/2)": shipped,
        "within + pooled (1/2) + floor": with_floor(shipped),
        "within + pooled (1/2) + floor + choice gap": with_choice_gap(with_floor(shipped)),
        "within + pooled (1/2) + floor + choice discount 1.0 SD (stop 40)": with_choice_discount(with_floor(shipped)),
        "within + pooled (1/2) + floor + choice discount 0.5 SD (stop 39)": with_choice_discount(
            with_floor(shipped), 0.5),
        "shipped without one-token maths rows": with_floor(blended(POOLED_SHARE, worked_only=True)),
        "shipped before stop 31 (one-token maths rows in the pooled half)": with_floor(
            blended(POOLED_SHARE, pooled_worked_only=False)),
        "shipped + mmlu_pro pooled only": with_floor(blended(POOLED_SHARE, pooled_only=("mmlu_pro",))),
        "shipped pooled 1/3": with_floor(blended(1 / 3)),
        "shipped pooled 2/3": with_floor(blended(2 / 3)),
        "shipped floor=0.4": with_floor(shipped, 0.4),
        "shipped floor=0.5": with_floor(shipped, 0.5),
        "shipped floor=0.6": with_floor(shipped, 0.6),
        "pooled right-or-wrong": blended(1.0),
        "shipped pooled 3/4": with_floor(blended(3 / 4)),
        "ngram+emb+lex + floor": with_floor(make(True, True, True)),
        "shipped + plain pooled (1/2) + floor": with_floor(z_blend(shipped, plain, 0.5)),
        "arena difficulty dense": arena_difficulty_dense,
        "shipped C=1": with_floor(blended(POOLED_SHARE, c=1.0)),
        "shipped C=0.1": with_floor(blended(POOLED_SHARE, c=0.1)),
        "shipped + arena difficulty": with_floor(blended(POOLED_SHARE, "difficulty")),
        "shipped + arena difficulty x4": with_floor(blended(POOLED_SHARE, "difficulty", 4.0)),
        "shipped + arena difficulty x10": with_floor(blended(POOLED_SHARE, "difficulty", 10.0)),
        "shipped +long/2": with_floor(plus_length(shipped, 0.5, long_only=True)),
        "shipped +long": with_floor(plus_length(shipped, 1.0, long_only=True)),
        "shipped +len/2": with_floor(plus_length(shipped, 0.5)),
        "ngram+emb+lex FE +len": plus_length(within),
        "ngram+emb+lex FE +len/2": plus_length(within, 0.5),
        "ngram": make(True, False, False),
        "ngram+lex": make(True, False, True),
        "ngram+emb": make(True, True, False),
        "ngram+emb+lex": make(True, True, True),
        "emb+lex": make(False, True, True),
        "emb": make(False, True, False),
        "lex": make(False, False, True),
        "ngram+emb+lex FE": make(True, True, True, fe=True),
        "ngram+emb+lex FE-kind": make(True, True, True, fe="kind"),
        "ngram+lex FE": make(True, False, True, fe=True),
        "emb+lex FE": make(False, True, True, fe=True),
        "ngram C=0.3": make(True, False, False, 0.3),
        "ngram C=3": make(True, False, False, 3.0),
        "ngram+emb FE": make(True, True, False, fe=True),
        "ngram+emb+ctx FE": make(True, True, False, fe=True, ctx=1.0),
        "ctx FE": make(False, False, False, fe=True, ctx=1.0),
        "ctx": make(False, False, False, ctx=1.0),
        "ctx x3": make(False, False, False, ctx=3.0),
        "ctx+lex": make(False, False, True, ctx=1.0),
        "ctx+lex FE": make(False, False, True, fe=True, ctx=1.0),
        "ctx x3+lex FE": make(False, False, True, fe=True, ctx=3.0),
        "ngram+ctx+lex FE": make(True, False, True, fe=True, ctx=1.0),
        "ngram+ctx x3+lex FE": make(True, False, True, fe=True, ctx=3.0),
        "ngram+emb+ctx+lex FE": make(True, True, True, fe=True, ctx=1.0),
    }

