"""P(model answers this turn well), for any model, from the prompt's features and the model's ability.

The model is two-parameter IRT (item response theory), the form IRT-Router and RouteLLM's
matrix factorisation share:

    P(good | prompt x, model m) = sigmoid( b(x) + θ_m * a(x) ),   θ_m = (ability_m - ability_0) * scale

- b(x): how easy the prompt is for a model of reference ability ability_0;
- a(x) >= a_min: how much ability matters on this prompt (its "needs"), clipped positive so
  P is monotone in ability: a stronger model is never predicted worse;
- ability_m: the catalogue's 0..1 ability (user-overridable). The training models are pinned
  to their catalogue abilities, so the learned prompt side is on the catalogue's scale and
  carries over to models the labels never saw.

b and a are linear in the features (embedding + lexical signals) and come from a blend of
one global model and a local expert for the prompt's region of embedding space (nearest of
K centroids): local experts capture e.g. that in maths word problems length means more
steps, which a single linear model drowns under the knowledge-question majority.

Far from the training data the learned (b, a) extrapolate, so they are blended with a hand-set
prior (prior.py) by how close the prompt is to the training prompts: the cosine similarity to
the nearest of the gate centroids (k-means of the training embeddings), mapped linearly from
gate_lo (all prior) to gate_hi (all learned).

Weights: chatroute/routing/data/quality.npz (+ quality.json: provenance, metrics), built by
scripts/train_router.py. Loading is lazy and takes a few ms.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chatroute.routing.features import TurnFeatures, extract
from chatroute.routing.prior import prior_params

DATA_DIR = Path(__file__).parent / "data"
WEIGHTS = DATA_DIR / "quality.npz"
META = DATA_DIR / "quality.json"

EMB_SCALE = 4.0  # unit embeddings have ~0.06 per dimension; scaled so L2 penalties are comparable
LEX_CLIP = 5.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def design_row(emb: np.ndarray, lex: np.ndarray, lex_mean: np.ndarray, lex_std: np.ndarray) -> np.ndarray:
    """The model's input vector: [1, scaled embedding, standardised lexical signals]."""
    z = np.clip((lex - lex_mean) / lex_std, -LEX_CLIP, LEX_CLIP)
    return np.concatenate([[1.0], EMB_SCALE * emb, z]).astype(np.float64)


def design_matrix(emb: np.ndarray, lex: np.ndarray, lex_mean: np.ndarray, lex_std: np.ndarray) -> np.ndarray:
    z = np.clip((lex - lex_mean) / lex_std, -LEX_CLIP, LEX_CLIP)
    return np.hstack([np.ones((len(emb), 1)), EMB_SCALE * emb, z]).astype(np.float64)


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


MIN_PAIR_GAP = 0.1  # ability step assumed between a named weak and strong model


class QualityModel:
    """Predicts P(good) per candidate model for one turn; see the module docstring."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.lex_mean = arrays["lex_mean"].astype(np.float64)
        self.lex_std = arrays["lex_std"].astype(np.float64)
        self.global_b = arrays["global_b"].astype(np.float64)
        self.global_a = arrays["global_a"].astype(np.float64)
        self.centroids = arrays["centroids"].astype(np.float32)  # (K, dim), may be (0, dim)
        self.local_b = arrays["local_b"].astype(np.float64)  # (K, d)
        self.local_a = arrays["local_a"].astype(np.float64)
        self.blend = float(arrays["blend"])  # weight of the local expert
        self.ability0 = float(arrays["ability0"])
        # θ = (ability − ability0) · theta_scale. The scale fixes the anchors' θ span, so the fit's
        # penalties and a_min mean the same whatever abilities the catalogue gives the anchors.
        self.theta_scale = float(arrays.get("theta_scale", 1.0))
        self.a_min = float(arrays["a_min"])
        # Optional (older weight files lack them): no gate means the learned model everywhere.
        self.gate_centroids = arrays.get("gate_centroids", np.zeros((0, self.centroids.shape[1]))).astype(np.float32)
        self.gate_lo = float(arrays.get("gate_lo", 0.0))
        self.gate_hi = float(arrays.get("gate_hi", 0.0))
        self.meta = meta
        # Anchors: the training models' names -> the ability they were pinned to.
        self.anchors: dict[str, float] = {k: float(v) for k, v in meta.get("anchors", {}).items()}

    @classmethod
    def load(cls, weights: Path = WEIGHTS, meta: Path = META) -> QualityModel:
        with np.load(weights) as npz:
            arrays = {k: npz[k] for k in npz.files}
        m = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
        return cls(arrays, m)

    # -- prompt side ---------------------------------------------------------------------

    def prompt_params(self, emb: np.ndarray, lex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(b, a) for a batch: emb (n, dim) unit rows, lex (n, L) raw lexical signals."""
        x = design_matrix(np.atleast_2d(emb), np.atleast_2d(lex), self.lex_mean, self.lex_std)
        b = x @ self.global_b
        a = x @ self.global_a
        if len(self.centroids) and self.blend > 0:
            k = np.argmax(np.atleast_2d(emb).astype(np.float32) @ self.centroids.T, axis=1)
            lb = np.einsum("nd,nd->n", x, self.local_b[k])
            la = np.einsum("nd,nd->n", x, self.local_a[k])
            b = (1 - self.blend) * b + self.blend * lb
            a = (1 - self.blend) * a + self.blend * la
        w = self.familiarity(emb)
        if w is not None:
            pb, pa = prior_params(np.atleast_2d(lex))
            b = w * b + (1 - w) * pb
            a = w * a + (1 - w) * pa
        return b, np.maximum(a, self.a_min)

    def familiarity(self, emb: np.ndarray) -> np.ndarray | None:
        """Weight of the learned model per prompt, 0..1 (None: no gate in these weights)."""
        if not len(self.gate_centroids) or self.gate_hi <= self.gate_lo:
            return None
        sim = np.max(np.atleast_2d(emb).astype(np.float32) @ self.gate_centroids.T, axis=1)
        return np.clip((sim - self.gate_lo) / (self.gate_hi - self.gate_lo), 0.0, 1.0).astype(np.float64)

    def predict_abilities(self, features: TurnFeatures, abilities: Sequence[float]) -> np.ndarray:
        """P(good) for models of the given abilities on this turn, shape (len(abilities),)."""
        b, a = self.prompt_params(features.embedding[None, :], features.lexical[None, :])
        th = self.theta(np.asarray(abilities, dtype=np.float64))
        return _sigmoid(b[0] + th * a[0])

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

    def pair_scores(self, conversations: Sequence[Sequence[str]], weak: str, strong: str) -> np.ndarray:
        """Win-rate score per conversation (its list of user turns): the mean over its turns of
        P(strong good) - P(weak good), each turn read with the turns before it as context.

        A labelled multi-turn row scores the whole conversation, and chatroute keeps a
        conversation on one model (stickiness), so the routing question is how much the
        stronger model helps across all its turns, not on the last message alone."""
        from chatroute.embed import get_embedder
        from chatroute.routing.features import context_embedding, lexical_features

        emb_model = get_embedder()
        owner: list[int] = []
        texts: list[str] = []
        contexts: list[Sequence[str]] = []
        for i, conv in enumerate(conversations):
            turns = list(conv) or [""]
            for j, text in enumerate(turns):
                owner.append(i)
                texts.append(text)
                contexts.append(turns[:j])
        embs = np.zeros((len(texts), emb_model.dim), dtype=np.float32)
        first = [k for k, ctx in enumerate(contexts) if not ctx]
        embs[first] = emb_model.embed([texts[k] for k in first])
        for k, ctx in enumerate(contexts):
            if ctx:
                embs[k] = context_embedding(emb_model, texts[k], ctx)
        lex = np.stack([lexical_features(t) for t in texts])
        b, a = self.prompt_params(embs, lex)
        tw, ts = self.theta(self.ability(weak)), self.theta(self.ability(strong))
        # The caller names which model is the strong one. When the catalogue's priors disagree or
        # tie (two unknown names both fall back to the same heuristic), the raw gap would be flat
        # or inverted and the ranking meaningless; keep a minimal step so it ranks by how much a
        # stronger model helps on this prompt.
        ts = max(ts, tw + MIN_PAIR_GAP * self.theta_scale)
        gain = _sigmoid(b + ts * a) - _sigmoid(b + tw * a)
        idx = np.asarray(owner)
        n = len(conversations)
        return np.bincount(idx, weights=gain, minlength=n) / np.bincount(idx, minlength=n)


def features_for(prompt: str, previous_user_turns: Sequence[str] = (), **kw: Any) -> TurnFeatures:
    return extract(prompt, previous_user_turns=previous_user_turns, **kw)


_lock = threading.Lock()
_instance: QualityModel | None = None


def get_quality_model() -> QualityModel:
    """The process-wide quality model, loaded on first use."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = QualityModel.load()
    return _instance
