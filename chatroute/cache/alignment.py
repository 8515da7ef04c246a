"""How two prompts' contextual token states line up: the verifier's second set of features.

BERTScore-style: each token of one prompt is matched to its most similar token of the other
(cosine of the encoder's states, which depend on the whole sentence). Covered well both ways,
the two say the same thing in other words ("remove" / "get rid of"); a token with no good
counterpart on either side is what one of them adds or changes. Tokens that differ from their
sentence's mean state carry its content, so they weigh more. Confidently matched tokens that
trade places are counted too, since role swaps keep every token matched.
"""

from __future__ import annotations

import numpy as np

ALIGN_FEATURES = (
    "ctx_cos", "ctx_cover_min", "ctx_cover_max", "ctx_f1", "ctx_wcover_min", "ctx_wcover_max",
    "ctx_worst_min", "ctx_worst_max", "ctx_bottom2_min", "ctx_lost_max", "ctx_lost_sum",
    "ctx_discordant_frac", "ctx_discordant_n", "ctx_len_ratio", "ctx_wworst_min",
)
LOST = 0.5  # a token whose best counterpart is below this has none
SURE = 0.8  # matched confidently enough for its position to count


def _unit(m: np.ndarray) -> np.ndarray:
    return m / (np.linalg.norm(m, axis=-1, keepdims=True) + 1e-9)


def _inner(states: np.ndarray) -> np.ndarray:
    """The tokens of the text, without [CLS] and [SEP] (kept when nothing else is there)."""
    return states[1:-1] if len(states) > 2 else states


def _discordant(best: np.ndarray, sure: np.ndarray) -> int:
    j = best[sure]
    if len(j) < 2:
        return 0
    # tokens i < i' whose counterparts come in the other order
    return int(np.triu(j[:, None] > j[None, :], k=1).sum())


def _heavy_worst(cover: np.ndarray, weight: np.ndarray) -> float:
    k = max(1, len(cover) // 2)
    return float(cover[np.argsort(-weight)[:k]].min())


def alignment_features(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """Features of the pair from the two texts' token states ((n, d) each, [CLS] ... [SEP])."""
    sa, sb = np.asarray(sa, dtype=np.float32), np.asarray(sb, dtype=np.float32)
    pa, pb = _unit(sa.mean(axis=0)), _unit(sb.mean(axis=0))
    ta, tb = _unit(_inner(sa)), _unit(_inner(sb))
    sim = ta @ tb.T
    ca, cb = sim.max(axis=1), sim.max(axis=0)
    p, r = float(ca.mean()), float(cb.mean())
    wa = np.clip(1.0 - ta @ pa, 0.05, None)
    wb = np.clip(1.0 - tb @ pb, 0.05, None)
    wp, wr = float(ca @ wa / wa.sum()), float(cb @ wb / wb.sum())
    lost_a, lost_b = int((ca < LOST).sum()), int((cb < LOST).sum())
    disc = _discordant(sim.argmax(axis=1), ca >= SURE)
    n_sure = int((ca >= SURE).sum())
    x = [
        float(pa @ pb),
        min(p, r), max(p, r), 2 * p * r / (p + r + 1e-9),
        min(wp, wr), max(wp, wr),
        float(min(ca.min(), cb.min())), float(max(ca.min(), cb.min())),
        float(min(np.sort(ca)[:2].mean(), np.sort(cb)[:2].mean())),
        float(max(lost_a, lost_b)), float(np.log1p(lost_a + lost_b)),
        disc / max(1, n_sure * (n_sure - 1) // 2), float(np.log1p(disc)),
        min(len(sa), len(sb)) / max(len(sa), len(sb)),
        min(_heavy_worst(ca, wa), _heavy_worst(cb, wb)),
    ]
    return np.asarray(x, dtype=np.float64)
