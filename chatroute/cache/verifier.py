"""The paraphrase verifier: "same question, same answer?" judged from both prompts together.

The neighbour search compares bags of words, so it cannot see who does what to whom. The
verifier looks at the two prompts side by side, twice: it aligns their content words with the
static embedder's word vectors (the embedder the router and the index use), and their tokens
with a contextual encoder's states (`chatroute/embed/contextual.py`, see `alignment.py`), where
a word's vector depends on its sentence, so rephrasings by other words line up. It describes
both alignments with a few dozen numbers: how well each side is covered, which words have no
counterpart, whether aligned words keep their order or trade places around a relation word
("from A to B" / "from B to A"), and the lexical signals the old hand rules looked at (question
word, person, quantifier, tense, opposites). Small MLPs trained offline
(scripts/train_cache_verifier.py, data provenance in data/VERIFIER.md) map these to a
probability. Runs only on the few candidates that pass the neighbour search and the guards.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chatroute.cache.alignment import ALIGN_FEATURES, alignment_features
from chatroute.cache.guards import opposite_conflict
from chatroute.cache.text import Features
from chatroute.embed import contextual
from chatroute.lazy import Lazy

EmbedFn = Callable[[list[str]], np.ndarray]
WeighFn = Callable[[list[str]], np.ndarray]

DATA = Path(__file__).parent / "data" / "verifier.json"
MATCH = 0.75  # word-vector cosine at which two words count as the same word (aligned)
UNMATCHED = 0.55  # below this a word has no counterpart on the other side
_MAX_WORDS = 48  # long prompts: the head carries the question; keeps the alignment O(48^2)

# Words that tie two roles together: swapping the words on either side changes who does what.
RELATION_WORDS = frozenset(
    "to from of for than by with in on at into onto over under against after before between via versus vs "
    "per as about without within".split()
)
_CONJUNCTIONS = frozenset({"and", "or", "&", ",", "versus", "vs", "nor", "plus"})

WORD_FEATURES = (
    "cos_content", "cos_tokens", "cover_min", "cover_max", "worst_min", "unmatched_frac_max",
    "unmatched_frac_min", "unmatched_n", "stem_jaccard", "only_stems_max", "only_stems_min",
    "discordant_frac", "discordant_n", "pivot_swaps", "relation_swaps", "conj_swaps",
    "relation_diff", "relation_seq_diff", "qword_diff", "answer_type_diff", "person_contrast",
    "quantifier_contrast", "tense_diff", "opposite_conflict", "len_ratio", "len_log",
    "function_diff", "exact_same_seq", "wcover_min", "wcover_max", "wunmatched_max", "wunmatched_top",
    "cos_weighted", "wunmatched_min", "wunmatched_top_min", "focus_sim",
)
FEATURES = WORD_FEATURES + ALIGN_FEATURES


class Verifier:
    """Loads weights once; `probability(a, b, embed)` scores a pair of prompts' features."""

    def __init__(self, path: Path = DATA) -> None:
        spec = json.loads(path.read_text(encoding="utf-8"))
        names = tuple(spec["features"])
        if names != FEATURES:
            raise ValueError("verifier weights were trained on another feature list; retrain")
        self.threshold: float = float(spec["threshold"])
        self.step: float = float(spec.get("penalty_step", 0.05))
        # A second way to pass: the encoder's pooled sentence vectors nearly agree and the MLPs do
        # not object. On natural rephrasings the pooled cosine ranks better than the MLPs, which
        # are there for swaps (see the README); None in files without it.
        reph = spec.get("rephrasing")
        self.rephrasing: tuple[float, float] | None = (
            None if reph is None else (float(reph["pooled_cosine"]), float(reph["probability"])))
        # Below this pooled cosine nothing passes, whatever the MLPs say: two prompts the encoder
        # reads as unrelated ("who sang <one song>" / "who sang <another>") are not one question,
        # and on words they never saw the MLPs can be confidently wrong. 0 in files without it.
        self.pooled_floor: float = float(spec.get("pooled_floor", 0.0))
        # A bag of small MLPs (mean probability) or, in older files, a single one.
        self._members = [_Mlp(m) for m in spec.get("members", [spec])]
        self.meta: dict[str, object] = dict(spec.get("meta", {}))

    def probability(self, a: Features, b: Features, embed: EmbedFn, weigh: WeighFn | None = None) -> float:
        """P(same question) for two prompts' features (the contextual half from the shipped encoder)."""
        return self.assess(a, b, embed, weigh)[0]

    def assess(self, a: Features, b: Features, embed: EmbedFn,
               weigh: WeighFn | None = None) -> tuple[float, float]:
        """(P(same question), cosine of the two prompts' pooled contextual vectors)."""
        if a.tokens == b.tokens:
            return 1.0, 1.0  # the same words in the same order: only case or punctuation differ
        x = pair_features(a, b, embed, weigh)
        if x is None:
            return 0.0, 0.0
        sa, sb = contextual.get_contextual().states([a.text, b.text])
        aligned = alignment_features(sa, sb)
        full = np.concatenate([x, aligned])
        return float(self.predict(full[None, :])[0]), float(aligned[ALIGN_FEATURES.index("ctx_cos")])

    def accepts(self, prob: float, pooled: float, bar: float, *, regenerated: bool = False) -> bool:
        """Same question: the pooled cosine reaches the floor, and the probability reaches the bar
        or (never for an entry whose answer was regenerated after a hit: that needs the full bar)
        the rephrasing path's two conditions hold."""
        if pooled < self.pooled_floor:
            return False
        if prob >= bar:
            return True
        return not regenerated and bool(on_rephrasing_path(prob, pooled, self.rephrasing))

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.mean([m.predict(x) for m in self._members], axis=0)


def on_rephrasing_path(prob: Any, pooled: Any, bars: tuple[float, float] | None) -> Any:
    """The rephrasing path's test: pooled cosine and probability each at their bar (scalars, or
    numpy arrays elementwise, as the trainer uses it); False where there is no path."""
    if bars is None:
        return np.zeros(np.shape(prob), dtype=bool)
    return (np.asarray(pooled) >= bars[0]) & (np.asarray(prob) >= bars[1])


class _Mlp:
    def __init__(self, spec: dict[str, Any]) -> None:
        self._mean = np.asarray(spec["mean"], dtype=np.float64)
        self._std = np.asarray(spec["std"], dtype=np.float64)
        self._layers = [(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                        for w, b in zip(spec["weights"], spec["biases"], strict=True)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        h = (x - self._mean) / self._std
        for i, (w, b) in enumerate(self._layers):
            h = h @ w + b
            if i < len(self._layers) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-h[:, 0]))


_shared: Lazy[Verifier] = Lazy(Verifier)


def get_verifier() -> Verifier:
    return _shared.get()


def _unit_rows(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, n, out=np.zeros_like(m), where=n > 0)


def pair_features(a: Features, b: Features, embed: EmbedFn, weigh: WeighFn | None = None) -> np.ndarray | None:
    """The word-alignment half of the verifier's input for (a, b) (WORD_FEATURES); None when
    either side has no content word."""
    wa, wb = a.content_words[:_MAX_WORDS], b.content_words[:_MAX_WORDS]
    sa, sb = a.content[:_MAX_WORDS], b.content[:_MAX_WORDS]
    if not wa or not wb:
        return None
    vecs = np.asarray(embed(list(wa) + list(wb)), dtype=np.float64)
    va, vb = _unit_rows(vecs[: len(wa)]), _unit_rows(vecs[len(wa) :])
    # Word importance (rare words weigh more); without a weigher every word counts the same.
    wts = np.asarray(weigh(list(wa) + list(wb)), dtype=np.float64) if weigh is not None else np.ones(len(wa) + len(wb))
    wta, wtb = wts[: len(wa)] + 1e-6, wts[len(wa) :] + 1e-6
    sim = va @ vb.T
    # Identical stems are the same word whatever the embedder says (it may not know a rare word).
    same = np.array([[x == y for y in sb] for x in sa], dtype=bool)
    sim = np.where(same, 1.0, sim)
    a2b, b2a = sim.max(axis=1), sim.max(axis=0)
    ma, mb = va.mean(axis=0), vb.mean(axis=0)
    cos_content = float(ma @ mb / max(1e-9, float(np.linalg.norm(ma) * np.linalg.norm(mb))))

    set_a, set_b = set(sa), set(sb)
    only_a, only_b = len(set_a - set_b), len(set_b - set_a)
    lost_a, lost_b = a2b < UNMATCHED, b2a < UNMATCHED  # words with no counterpart on the other side
    ua, ub = float(lost_a.mean()), float(lost_b.mean())
    # Weighted share of each side with no counterpart, and its heaviest such word.
    wua, wub = float(wta[lost_a].sum() / wta.sum()), float(wtb[lost_b].sum() / wtb.sum())
    wma, wmb = float(wta[lost_a].max(initial=0.0)), float(wtb[lost_b].max(initial=0.0))

    discordant, pivots, relation_swaps, conj_swaps, n_pairs = _order(a, b, sim)
    rel_a = [t for t in a.tokens if t in RELATION_WORDS]
    rel_b = [t for t in b.tokens if t in RELATION_WORDS]
    func_a = {t for t in a.tokens if t not in set(a.content_words)}
    func_b = {t for t in b.tokens if t not in set(b.content_words)}
    na, nb = len(a.tokens), len(b.tokens)
    x = [
        cos_content,
        _token_cos(a, b),
        min(float(a2b.mean()), float(b2a.mean())),
        max(float(a2b.mean()), float(b2a.mean())),
        min(float(a2b.min()), float(b2a.min())),
        max(ua, ub),
        min(ua, ub),
        math.log1p(float(lost_a.sum() + lost_b.sum())),
        len(set_a & set_b) / max(1, len(set_a | set_b)),
        math.log1p(max(only_a, only_b)),
        math.log1p(min(only_a, only_b)),
        discordant / max(1, n_pairs * (n_pairs - 1) // 2),
        math.log1p(discordant),
        math.log1p(pivots),
        math.log1p(relation_swaps),
        math.log1p(conj_swaps),
        math.log1p(len(set(rel_a) ^ set(rel_b))),
        float(rel_a != rel_b),
        float(a.question != b.question),
        float(a.answer_types != b.answer_types),
        float(bool((a.persons - b.persons) and (b.persons - a.persons))),
        float(bool((a.quantifiers - b.quantifiers) and (b.quantifiers - a.quantifiers))),
        float(a.tense != b.tense),
        float(opposite_conflict(a.relational, b.relational)),
        min(na, nb) / max(1, max(na, nb)),
        math.log1p(na + nb),
        math.log1p(len(func_a ^ func_b)),
        float(a.sequence == b.sequence),
        min(float(wta @ a2b / wta.sum()), float(wtb @ b2a / wtb.sum())),
        max(float(wta @ a2b / wta.sum()), float(wtb @ b2a / wtb.sum())),
        max(wua, wub),
        max(wma, wmb) / 7.0,
        _wcos(va, vb, wta, wtb),
        # Both sides holding an important word the other lacks is a contrast ("install X" /
        # "remove X"); only one side holding it is usually an elaboration of the same question.
        min(wua, wub),
        min(wma, wmb) / 7.0,
        # The first topic word usually names what is asked about ("install", "capital"): how
        # well each side's counterpart matches it, the weaker of the two.
        min(float(a2b[0]), float(b2a[0])),
    ]
    return np.asarray(x, dtype=np.float64)


def _wcos(va: np.ndarray, vb: np.ndarray, wta: np.ndarray, wtb: np.ndarray) -> float:
    ma, mb = wta @ va, wtb @ vb
    return float(ma @ mb / max(1e-9, float(np.linalg.norm(ma) * np.linalg.norm(mb))))


def _token_cos(a: Features, b: Features) -> float:
    ca: dict[str, int] = {}
    cb: dict[str, int] = {}
    for t in a.tokens:
        ca[t] = ca.get(t, 0) + 1
    for t in b.tokens:
        cb[t] = cb.get(t, 0) + 1
    dot = sum(v * cb.get(k, 0) for k, v in ca.items())
    na = math.sqrt(sum(v * v for v in ca.values()))
    nb = math.sqrt(sum(v * v for v in cb.values()))
    return dot / max(1e-9, na * nb)


def _positions(f: Features) -> list[int]:
    """Token position of each content word (every occurrence counts, not just the first)."""
    out: list[int] = []
    want = f.content_words[:_MAX_WORDS]
    k = 0
    for i, t in enumerate(f.tokens):
        if k < len(want) and t == want[k]:
            out.append(i)
            k += 1
    while len(out) < len(want):  # a content word the tokeniser split differently: keep the order
        out.append(out[-1] + 1 if out else 0)
    return out


def _order(a: Features, b: Features, sim: np.ndarray) -> tuple[int, int, int, int, int]:
    """Aligned words that trade places: (discordant pairs, with a shared pivot between them,
    with a relation word between them, only a conjunction between them, aligned words)."""
    best = sim.argmax(axis=1)
    pairs = [(i, int(best[i])) for i in range(sim.shape[0]) if sim[i, best[i]] >= MATCH
             and int(sim[:, best[i]].argmax()) == i]  # mutual best: one word, one partner
    if len(pairs) < 2:
        return 0, 0, 0, 0, len(pairs)
    pa, pb = _positions(a), _positions(b)
    discordant = pivots = relation = conj = 0
    for u in range(len(pairs)):
        for v in range(u + 1, len(pairs)):
            (i1, j1), (i2, j2) = pairs[u], pairs[v]
            if (i1 < i2) == (j1 < j2):
                continue
            discordant += 1
            lo_a, hi_a = sorted((pa[i1], pa[i2]))
            lo_b, hi_b = sorted((pb[j1], pb[j2]))
            if any(lo_a < pa[i] < hi_a and lo_b < pb[j] < hi_b for i, j in pairs if (i, j) not in (pairs[u], pairs[v])):
                pivots += 1
            between = a.tokens[lo_a + 1 : hi_a]
            if between and all(t in _CONJUNCTIONS for t in between):
                conj += 1
            elif any(t in RELATION_WORDS for t in between):
                relation += 1
    return discordant, pivots, relation, conj, len(pairs)
