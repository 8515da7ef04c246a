"""scripts/train_cache_verifier.py: how the rephrasing path's two bars and the pooled floor are chosen, and how
saved features are refreshed after the word features change."""

from __future__ import annotations

import numpy as np

from chatroute.cache.verifier import on_rephrasing_path
from scripts import train_cache_verifier as tv


def _pairs(kind: str, n: int, prob: float, pooled: float) -> list[tuple[str, float, float]]:
    return [(kind, prob, pooled)] * n


def _arrays(rows: list[tuple[str, float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kinds = np.array([k for k, _, _ in rows])
    return kinds, np.array([p for _, p, _ in rows]), np.array([c for _, _, c in rows])


def test_picks_the_bars_that_add_true_duplicates_and_no_near_duplicate() -> None:
    rows = (_pairs("natural-hit", 10, 0.995, 0.97)  # served by the main bar already
            + _pairs("natural-hit", 10, 0.92, 0.96)  # what the path can add
            + _pairs("natural-near", 100, 0.93, 0.91)  # a near-duplicate the MLPs almost pass
            + _pairs("swap-miss", 400, 0.30, 0.99)  # swaps: pooled vectors agree, the MLPs object
            + _pairs("swap-miss", 10, 0.60, 0.99))  # 2.4% of swaps: over the limit, so the bar is above 0.6
    kinds, p, pooled = _arrays(rows)
    gate, part = np.ones(len(rows), bool), np.ones(len(rows), bool)
    served = p >= 0.99
    got = tv.pick_rephrasing(p, pooled, served, gate, kinds, part)
    assert got is not None
    c, q = got
    # the true duplicates at (0.92, 0.96) pass; the near-duplicates (pooled 0.91) and swaps do not
    assert 0.91 < c <= 0.96 and 0.60 < q <= 0.92
    ok = served | on_rephrasing_path(p, pooled, got)
    assert ok[kinds == "natural-hit"].all() and not ok[kinds == "natural-near"].any()
    assert ok[kinds == "swap-miss"].mean() <= tv.REPHRASING_SWAP_LIMIT


def test_no_path_when_every_extra_true_duplicate_brings_a_near_duplicate() -> None:
    rows = (_pairs("natural-hit", 10, 0.995, 0.97) + _pairs("natural-hit", 10, 0.92, 0.96)
            + _pairs("natural-near", 10, 0.97, 0.98))  # every bar that admits the first admits these
    kinds, p, pooled = _arrays(rows)
    ones = np.ones(len(rows), bool)
    assert tv.pick_rephrasing(p, pooled, p >= 0.99, ones, kinds, ones) is None
    assert not on_rephrasing_path(p, pooled, None).any()


def test_the_pooled_floor_is_the_highest_that_loses_no_served_training_hit() -> None:
    pooled = np.array([0.62, 0.80, 0.97, 0.40, 0.20])
    y = np.array([True, True, True, False, True])
    served = np.array([True, True, True, True, False])  # the last hit is not served: it cannot be lost
    part = np.ones(5, bool)
    floor = tv.pick_pooled_floor(pooled, served, y, part)
    assert floor == 0.60  # 0.65 would lose the hit at 0.62; the served miss at 0.40 is refused
    assert not (served & y & (pooled < floor)).any()
    assert tv.pick_pooled_floor(np.array([0.1]), np.array([True]), np.array([True]), np.ones(1, bool)) == 0.0


def test_refresh_words_recomputes_the_word_columns_and_keeps_the_contextual_ones() -> None:
    from chatroute.cache.text import features
    from chatroute.cache.verifier import WORD_FEATURES

    feats = [(features("What year did the Berlin Wall fall?"), features("When did the Berlin Wall fall?")),
             (features("How do I boil an egg?"), features("How should I boil eggs?"))]
    x, has = tv.verifier_inputs(feats)
    stale = x.copy()
    stale[:, : len(WORD_FEATURES)] = 0.0  # word features saved by older code
    f = {"x": stale, "has": has.copy(), "cos_topic": np.zeros(2)}
    assert tv.refresh_words(f, feats) == 2
    assert np.allclose(f["x"], x)
    assert (f["cos_topic"] > 0.9).all()
    assert tv.refresh_words(f, feats) == 0  # nothing left to change


def test_a_pairs_fold_does_not_depend_on_the_other_pairs() -> None:
    rows = [{"a": f"question {i}", "b": f"other {i}"} for i in range(200)]
    folds = tv.folds_of(rows)
    assert set(folds) == {0, 1, 2, 3} and all(30 <= (folds == k).sum() <= 70 for k in range(4))
    shifted = tv.folds_of([{"a": "new", "b": "pair"}, *rows[::-1]])
    assert (shifted[1:][::-1] == folds).all()  # added and reordered: every pair keeps its fold
