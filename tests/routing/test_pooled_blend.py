"""The need model's blend (scripts/router_models.fit_need): a within-source fit plus a share of
one fitted on the right-or-wrong sources pooled, added as one linear model."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")
from scripts import loso_router as lo  # noqa: E402
from scripts import router_models as rm  # noqa: E402

MATHS = ["How many apples are left if Tom eats {n} of {m}?", "A train travels {m} km in {n} hours; find its speed.",
         "If {n} pens cost {m} dollars, what do {m} pens cost?"]
FACTS = ["Which philosopher wrote about the social contract ({n})?", "Which river flows through city {n}?",
         "Who painted mural number {m}?"]
OPEN = ["Write a short poem about autumn number {n}.", "Describe a calm morning, version {m}."]


def _rows() -> list[dict]:
    """GSM8K-like rows: the stronger model wins more often than on MMLU-like rows (the between-
    source difference); arena rows: it wins almost always (a graded judgement on another scale)."""
    rng = np.random.default_rng(3)
    rows: list[dict] = []
    for i in range(240):
        n, m = int(rng.integers(2, 9)), int(rng.integers(10, 99))
        if i % 3 == 0:
            text, ds, p = MATHS[i % len(MATHS)].format(n=n, m=m), "gsm8k", 0.55
        elif i % 3 == 1:
            text, ds, p = FACTS[i % len(FACTS)].format(n=n, m=m), "mmlu", 0.15
        else:
            text, ds, p = OPEN[i % len(OPEN)].format(n=n, m=m), "arena_bench_v1", 0.9
        strong = float(rng.random() < p)
        rows.append({"id": f"{ds}-{i}", "dataset": ds, "turns": [text],
                     "scores": {lo.STRONG: strong, lo.WEAK: 0.0}})
    return rows


@dataclass
class Fitted:
    rows: list[dict]
    feats: rm.Features
    keep: np.ndarray
    y: np.ndarray
    within: rm.LinearRouter  # an intercept per source
    pooled: rm.LinearRouter  # MMLU and GSM8K rows pooled, same IDF and standardisation

    def datasets(self) -> np.ndarray:
        return np.array([self.rows[i]["dataset"] for i in self.keep])


@pytest.fixture(scope="module", autouse=True)
def fits_once() -> Iterator[None]:
    """rm.fit_linear remembered by its arguments, as each fit over 2^18 n-gram weights takes
    seconds: fit_need's two fits are the fixture's when it is given the same rows and options
    (any other rows, strength or standardisation is a fit of its own, so it is still checked),
    and a design scored twice with another CHOICE_GAP (which only reads the fit) is fitted once.
    The fit is deterministic (lbfgs), so a remembered one is the one a second fit gives."""
    fit = rm.fit_linear
    done: dict[Any, rm.LinearRouter] = {}
    alive: list[Any] = []  # objects keyed by identity (feats, like) stay alive: no id is reused

    def key(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return ("array", v.dtype.str, v.shape, v.tobytes())
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        alive.append(v)
        return ("object", id(v))

    def remembered(*args: Any, **kw: Any) -> rm.LinearRouter:
        given = inspect.signature(fit).bind(*args, **kw)
        given.apply_defaults()  # c=1.0 passed or left out is the same fit
        k = tuple((n, key(v)) for n, v in given.arguments.items())
        if k not in done:
            done[k] = fit(*args, **kw)
        return done[k]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rm, "fit_linear", remembered)
        yield


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """Fitted once for the module (fits_once)."""
    rows = _rows()
    feats = rm.Features.build(rows, Path(tmp_path_factory.mktemp("features")))
    keep, y = lo.pair_labels(rows, np.arange(len(rows)))
    groups = rm.intercept_groups(rows, "source")
    assert groups is not None
    within = rm.fit_linear(feats, keep, y, ngram=True, emb=True, lex=True, groups=groups[keep])
    sub = np.array([rows[i]["dataset"] != "arena_bench_v1" for i in keep])
    pooled = rm.fit_linear(feats, keep[sub], y[sub], ngram=True, emb=True, lex=True, like=within)
    return Fitted(rows, feats, keep, y, within, pooled)


def _z(f: Fitted, m: rm.LinearRouter) -> np.ndarray:
    d = m.decision(f.feats, f.keep)
    return (d - d.mean()) / d.std()


def test_fit_need_is_the_standardised_sum_of_the_two_fits(fitted: Fitted) -> None:
    f = fitted
    both = rm.blend([(f.within, 0.7), (f.pooled, 0.3)], f.feats, f.keep)
    np.testing.assert_allclose(both.decision(f.feats, f.keep), 0.7 * _z(f, f.within) + 0.3 * _z(f, f.pooled), atol=1e-4)
    # The trainer's entry point gives the same single linear model (so its pooled part is fitted
    # on the right-or-wrong rows only, as above).
    need = rm.fit_need(f.feats, f.keep, f.y, f.rows, emb=True, lex=True, pooled_share=0.3)
    np.testing.assert_allclose(need.decision(f.feats, f.keep), both.decision(f.feats, f.keep), atol=1e-4)


def test_the_pooled_share_keeps_the_difference_between_kinds_of_request(fitted: Fitted) -> None:
    f = fitted
    ds = f.datasets()

    def gap(d: np.ndarray) -> float:
        d = (d - d.mean()) / d.std()
        return float(d[ds == "gsm8k"].mean() - d[ds == "mmlu"].mean())

    within_only = gap(f.within.decision(f.feats, f.keep))
    blended = gap(rm.blend([(f.within, 0.5), (f.pooled, 0.5)], f.feats, f.keep).decision(f.feats, f.keep))
    # Per-source intercepts absorb "word problems need the stronger model more"; the pooled part
    # brings it back.
    assert blended > within_only + 0.3
    assert blended > 0.5


def test_graded_rows_stay_out_of_the_pooled_part(fitted: Fitted) -> None:
    f = fitted
    ds = f.datasets()
    d = f.pooled.decision(f.feats, f.keep)
    # Pooled with the arena rows (won 90% of the time) open-ended requests would rank neediest;
    # fitted on the right-or-wrong rows only, they rank below the word problems.
    assert d[ds == "arena_bench_v1"].mean() < d[ds == "gsm8k"].mean()


def test_one_token_maths_and_code_rows_are_not_trained_on(tmp_path: Path) -> None:
    # MMLU's labels come from one-token answers: on a calculation or a code read both models guess,
    # so worked_rows drops those rows; GSM8K's (worked answers) and MMLU's recall rows stay.
    texts = [("mmlu", "What is 17 * 23?"),
             ("mmlu", "What does `print(len([1, 2, 3]))` output in Python?"),
             ("mmlu", "Which philosopher wrote Leviathan?"),
             ("gsm8k", "Tom has 17 apples and eats 3. How many are left?"),
             ("arena_bench_v1", "Write a haiku about rain.")]
    rows = [{"id": f"{ds}-{i}", "dataset": ds, "turns": [t], "scores": {lo.STRONG: 1.0, lo.WEAK: 0.0}}
            for i, (ds, t) in enumerate(texts)]
    feats = rm.Features.build(rows, tmp_path)
    keep, y = lo.pair_labels(rows, np.arange(len(rows)))
    kept, ky = rm.worked_rows(rows, feats, keep, y)
    assert [rows[i]["turns"][0] for i in kept] == [texts[2][1], texts[3][1], texts[4][1]]
    assert len(ky) == len(kept)


def test_the_retrained_design_reads_multiple_choice_as_the_app_does(fitted: Fitted, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """router_models' "… + choice gap" scores a retrained need through the shipped curve, the
    ability term scaled by CHOICE_GAP on rows that list options: their gain shrinks, the others'
    is the same as with no scale."""
    f = fitted
    rows = [*f.rows, *({**r, "id": r["id"] + "-mc", "turns": [r["turns"][0] + "\nA. one\nB. two\nC. three"]}
                       for r in f.rows[1:60:3])]
    feats = rm.Features.build(rows, tmp_path)
    choices = rm.choice_rows(rows)
    assert choices.sum() == 20 and not choices[: len(f.rows)].any()
    train, idx = np.arange(len(f.rows)), np.arange(len(rows))
    name = "within + pooled (1/2) + floor + choice gap"
    scaled = rm.candidate_methods(rows, feats)[name](train)(idx, lo.WEAK, lo.STRONG)
    monkeypatch.setattr(rm, "CHOICE_GAP", 1.0)
    plain = rm.candidate_methods(rows, feats)[name](train)(idx, lo.WEAK, lo.STRONG)
    assert np.all((scaled > 0) & (scaled < 1))
    np.testing.assert_allclose(scaled[~choices], plain[~choices])
    assert np.all(scaled[choices] < plain[choices])
