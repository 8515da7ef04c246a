"""P(model answers this turn well), for any model, from the prompt and the model's ability.

One learned index per turn, the *need* g(x): the logit of "the stronger of two models answers
better", a logistic regression on hashed word and character n-grams (ngrams.py), optionally with
the generic lexical signals (features.py) and the static embedding. scripts/train_router.py fits
it; scripts/loso_router.py measures it on sources left out of training.

P(good) is item-response form, linear in the need's quantile q among the training prompts:

    P(good | x, model m) = sigmoid( b(q) + θ_m · a(q) · s ),   b = b0 + b1·q,  a = max(a_min, a0 + a1·q)
    θ_m = (ability_m − ability0) · theta_scale,                q = share of training prompts needing less
    s = choice_gap (< 1) when the prompt lists lettered answer options, else 1

(b0, b1, a0, a1) are fitted on out-of-fold g so that, for the two labelled models (pinned to
their catalogue abilities), predicted P(good) matches the observed rate; a >= a_min keeps P
monotone in ability, so a stronger model is never predicted worse. On the quantile rather than
on g itself because the logit of the observed rate is closer to straight in q, and a straight
logit in any increasing function of g keeps every model's P(good) falling with the need wherever
b1 + θ·a1 < 0; a curve in g fitted to the two labelled models turned back up for the stronger
models it is extrapolated to (README, Calibration).

The `operating_points` in the weights are quantiles of g over the training prompts; the policy
uses them to set each preset's price of quality (policy.py).

Weights: chatroute/routing/data/quality.npz (+ quality.json: provenance, metrics).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chatroute.lazy import Lazy
from chatroute.routing import ngrams
from chatroute.routing.features import (
    CONTEXT_WEIGHT,
    LEXICAL_NAMES,
    MAX_CONTEXT_TURNS,
    TurnFeatures,
    extract,
    lists_choices,
)

DATA_DIR = Path(__file__).parent / "data"
WEIGHTS = DATA_DIR / "quality.npz"
META = DATA_DIR / "quality.json"

EMB_SCALE = 1.0
LEX_CLIP = 5.0
# A request with maths or code in it is never among the least needy: in the training data a
# shorter question is an easier one, so short hard requests ("Solve for x and y: ...") scored
# as trivial and even `best` kept them on the cheap model. Raising them to this quantile of the
# training prompts' need moved no held-out or left-out figure by more than 0.006 (README).
DEMANDING_FLOOR_QUANTILE = 0.30
_LEX = {name: i for i, name in enumerate(LEXICAL_NAMES)}
_CODE_TOKENS_CUE = float(np.log1p(2))
MIN_PAIR_GAP = 0.1  # ability step assumed between a named weak and strong model


def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def curve_params(calib: Sequence[float] | np.ndarray, a_min: float, q: Any) -> tuple[Any, Any]:
    """(b, a) of the item-response curve at need quantile q; calib = (b0, b1, a0, a1)."""
    b0, b1, a0, a1 = (float(x) for x in calib)
    q = np.asarray(q, dtype=np.float64)
    return b0 + b1 * q, np.maximum(a0 + a1 * q, a_min)


def need_quantiles(g: Any, g_quantiles: Any, g_quantile_p: Any) -> Any:
    """Share of training prompts with a lower need than each need in g (float or array), from the
    stored quantiles; 0 or 1 beyond the training range."""
    return np.interp(np.asarray(g, dtype=np.float64), g_quantiles, g_quantile_p)


def dense_row(emb: np.ndarray | None, lex: np.ndarray | None, lex_mean: np.ndarray, lex_std: np.ndarray) -> np.ndarray:
    """The dense part of the input: [scaled embedding?, standardised lexical signals / sqrt(L)?]."""
    parts: list[np.ndarray] = []
    if emb is not None:
        parts.append(EMB_SCALE * np.atleast_2d(emb).astype(np.float64))
    if lex is not None:
        z = np.clip((np.atleast_2d(lex) - lex_mean) / lex_std, -LEX_CLIP, LEX_CLIP)
        parts.append(z / np.sqrt(lex_mean.shape[0]))
    return np.hstack(parts) if parts else np.zeros((1, 0))


def demanding(lex: np.ndarray | None) -> bool:
    """Maths or code in the message: a maths symbol or word, a coding word, a code fence, or
    more than two code tokens (the generic lexical signals of features.py)."""
    if lex is None:
        return False
    v = np.ravel(lex)
    return bool(v[_LEX["math"]] > 0 or v[_LEX["code_ask"]] > 0 or v[_LEX["code_fence"]] > 0
                or v[_LEX["code_tokens"]] > _CODE_TOKENS_CUE)


def ability_of(model: Any) -> float:
    """A model's ability: ModelInfo.ability when given, else the catalogue prior for a name."""
    ability = getattr(model, "ability", None)
    if ability is not None:
        return float(ability)
    name = str(model)
    try:
        from chatroute.catalog.abilities import default_ability

        return float(default_ability(name))
    except ImportError:  # catalogue not available (stand-alone use)
        return 0.5


class QualityModel:
    """Predicts P(good) per candidate model for one turn; see the module docstring."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.idf = arrays["idf"].astype(np.float32)
        self.w = arrays["w"].astype(np.float32)  # (ngrams.DIM,)
        self.v = arrays["v"].astype(np.float64)  # dense weights
        self.bias = float(arrays["bias"])
        self.use_emb = bool(arrays["use_emb"])
        self.use_lex = bool(arrays["use_lex"])
        self.lex_mean = arrays["lex_mean"].astype(np.float64)
        self.lex_std = arrays["lex_std"].astype(np.float64)
        self.calibration = tuple(float(x) for x in arrays["calibration_q"])
        self.a_min = float(arrays["a_min"])
        self.ability0 = float(arrays["ability0"])
        self.theta_scale = float(arrays["theta_scale"])
        # Quantiles of g over the training prompts: probabilities -> g values.
        self.g_quantile_p = arrays["g_quantile_p"].astype(np.float64)
        self.g_quantiles = arrays["g_quantiles"].astype(np.float64)
        self.meta = meta
        self.anchors: dict[str, float] = {k: float(v) for k, v in meta.get("anchors", {}).items()}
        # Lettered answer options scale the ability term by this (1 in weights trained without it):
        # with options to pick from, the weaker model's guesses and the options themselves narrow
        # the gap between models, so a multiple-choice exam question needs the stronger model less
        # than an open problem of the same need; a model of middling ability is predicted as
        # without them (router_models.CHOICE_GAP; README, Router quality).
        self.choice_gap = float(arrays["choice_gap"]) if "choice_gap" in arrays else 1.0

    @classmethod
    def load(cls, weights: Path = WEIGHTS, meta: Path = META) -> QualityModel:
        with np.load(weights) as npz:
            arrays = {k: npz[k] for k in npz.files}
        m = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
        return cls(arrays, m)

    # -- prompt side -----------------------------------------------------------------------

    def sparse(self, text: str, context: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
        """The n-gram vector of a turn: its own text plus the recent user turns, down-weighted
        (a follow-up like "now make it shorter" says little alone)."""
        idx, val = ngrams.sparse_features(text, self.idf)
        prev = [t for t in context if t.strip()][-MAX_CONTEXT_TURNS:]
        if prev:
            ci, cv = ngrams.sparse_features("\n".join(prev), self.idf)
            idx = np.concatenate([idx, ci])
            val = np.concatenate([val, CONTEXT_WEIGHT * cv])
        return idx, val

    def need(self, sparse: tuple[np.ndarray, np.ndarray], emb: np.ndarray | None, lex: np.ndarray | None) -> float:
        """g(x): logit that the stronger model answers this turn better (floored for maths and
        code, see DEMANDING_FLOOR_QUANTILE)."""
        idx, val = sparse
        g = float(val @ self.w[idx]) + self.bias
        if len(self.v):
            d = dense_row(emb if self.use_emb else None, lex if self.use_lex else None, self.lex_mean, self.lex_std)
            g += float(d[0] @ self.v)
        if demanding(lex):
            g = max(g, self.demanding_floor)
        return g

    @property
    def demanding_floor(self) -> float:
        return self.need_at(DEMANDING_FLOOR_QUANTILE)

    def params(self, g: Any) -> tuple[Any, Any]:
        """(b, a) of the item-response curve for need g (float or array)."""
        return curve_params(self.calibration, self.a_min, self.quantiles_of(g))

    def need_of(self, features: TurnFeatures) -> float:
        if features.need is not None:
            return features.need
        return self.need(self.sparse(features.text, features.context), features.embedding, features.lexical)

    def need_quantile(self, g: float) -> float:
        """Share of training prompts with a lower need than g (0..1)."""
        return float(self.quantiles_of(g))

    def quantiles_of(self, g: Any) -> Any:
        """need_quantile of each need in g (float or array); 0 or 1 beyond the training range."""
        return need_quantiles(g, self.g_quantiles, self.g_quantile_p)

    def need_at(self, q: float) -> float:
        """The need at quantile q of the training prompts."""
        return float(np.interp(q, self.g_quantile_p, self.g_quantiles))

    def predict_abilities(self, features: TurnFeatures, abilities: Sequence[float]) -> np.ndarray:
        """P(good) for models of the given abilities on this turn, shape (len(abilities),)."""
        return self.curve(self.need_of(features), abilities, features.choices)

    def curve(self, g: float, abilities: Sequence[float], choices: bool = False) -> np.ndarray:
        """P(good) at need g for models of these abilities; `choices`: the prompt lists lettered
        answer options (the ability term is scaled by choice_gap)."""
        b, a = self.params(g)
        return np.asarray(_sigmoid(b + self.theta(np.asarray(abilities, dtype=np.float64)) * a * self.gap(choices)))

    def curve_many(self, g: np.ndarray, ability: float, choices: np.ndarray | None = None) -> np.ndarray:
        """P(good) of one model of this ability at each need in g (`choices`: per need, as in curve)."""
        b, a = self.params(g)
        return np.asarray(_sigmoid(b + self.theta(ability) * a * self.gap(choices)))

    def gap(self, choices: Any) -> Any:
        """The ability term's scale: choice_gap where a prompt lists lettered options, else 1
        (bool, bool array, or None for none)."""
        return np.where(choices, self.choice_gap, 1.0) if isinstance(choices, np.ndarray) else (
            self.choice_gap if choices else 1.0)

    def predict(self, features: TurnFeatures, models: Sequence[Any]) -> dict[str, float]:
        """P(good) per model (ModelInfo or name), keyed by model id/name."""
        names = [getattr(m, "id", None) or str(m) for m in models]
        probs = self.predict_abilities(features, [self.ability(m) for m in models])
        return {n: float(p) for n, p in zip(names, probs, strict=True)}

    def theta(self, ability: Any) -> Any:
        """The IRT trait of a model of this ability (float or array)."""
        return (ability - self.ability0) * self.theta_scale

    def ability(self, model: Any) -> float:
        name = getattr(model, "id", None) or str(model)
        if getattr(model, "ability", None) is None and name in self.anchors:
            return self.anchors[name]
        return ability_of(model)

    # -- evaluation helper -----------------------------------------------------------------

    def turn_needs(self, conversations: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(need per turn, owning conversation per turn, whether the turn lists lettered options);
        each turn read with the turns before it."""
        from chatroute.embed import get_embedder
        from chatroute.routing.features import context_embedding, lexical_features

        emb_model = get_embedder() if self.use_emb else None
        owner: list[int] = []
        needs: list[float] = []
        choices: list[bool] = []
        for i, conv in enumerate(conversations):
            turns = list(conv) or [""]
            for j, text in enumerate(turns):
                ctx = turns[:j]
                emb = context_embedding(emb_model, text, ctx) if emb_model is not None else None
                lex = lexical_features(text)  # the dense part uses it only with use_lex; the floor always
                needs.append(self.need(self.sparse(text, ctx), emb, lex))
                choices.append(lists_choices(text))
                owner.append(i)
        return np.asarray(needs), np.asarray(owner), np.asarray(choices, dtype=bool)

    def pair_gain(self, b: Any, a: Any, weak: str, strong: str) -> Any:
        """P(strong good) − P(weak good) on curves (b, a), the ability term already scaled.
        When the catalogue's priors tie or invert for the two names, a minimal step is kept so the
        gain still ranks prompts by how much a stronger model helps."""
        tw, ts = self.theta(self.ability(weak)), self.theta(self.ability(strong))
        ts = max(ts, tw + MIN_PAIR_GAP * self.theta_scale)
        return _sigmoid(b + ts * a) - _sigmoid(b + tw * a)

    def pair_scores(self, conversations: Sequence[Sequence[str]], weak: str, strong: str) -> np.ndarray:
        """Win-rate score per conversation (its list of user turns): the mean over its turns of
        P(strong good) − P(weak good), each turn read with the turns before it as context.

        chatroute keeps a conversation on one model (stickiness), so the routing question for a
        labelled multi-turn row is how much the stronger model helps across all its turns."""
        g, owner, choices = self.turn_needs(conversations)
        b, a = self.params(g)
        gain = self.pair_gain(b, a * self.gap(choices), weak, strong)
        n = len(conversations)
        return np.bincount(owner, weights=gain, minlength=n) / np.maximum(1, np.bincount(owner, minlength=n))


def features_for(prompt: str, previous_user_turns: Sequence[str] = (), **kw: Any) -> TurnFeatures:
    return extract(prompt, previous_user_turns=previous_user_turns, **kw)


_shared: Lazy[QualityModel] = Lazy(QualityModel.load)


def get_quality_model() -> QualityModel:
    """The process-wide quality model, loaded on first use."""
    return _shared.get()
