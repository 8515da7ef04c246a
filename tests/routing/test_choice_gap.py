"""A prompt that lists lettered answer options narrows the gap between models (QualityModel.gap).

Every training source is all multiple choice (MMLU) or none (GSM8K, arena_bench_v1), so no fit can
tell the options apart from the source; the shipped weights carry a fixed scale of the ability term
instead (router_models.CHOICE_GAP), and the curve is calibrated with it in place. The prompts here
are written for this test.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from chatroute.routing.features import extract, lists_choices
from chatroute.routing.quality import get_quality_model

EXAM = ("Which organelle makes most of a cell's ATP?\nA. Ribosome\nB. Mitochondrion\nC. Golgi apparatus\n"
        "D. Lysosome\nAnswer:")
OPEN = "Which organelle makes most of a cell's ATP?"
WORKED = ("A train leaves at 3 pm travelling 80 km/h; a second leaves the same station at 4 pm at 100 km/h on "
          "the same track. When does the second catch up?\nA. 7 pm\nB. 8 pm\nC. 9 pm\nD. 10 pm")


@pytest.mark.parametrize("text", [
    EXAM,
    "Pick one:\n(A) 12\n(B) 15\n(C) 18",
    "Which is largest?\nA) 2^10\nB) 10^3\nC) 3^6\nD) 6^4",
])
def test_lettered_options_are_recognised(text: str) -> None:
    assert lists_choices(text)


@pytest.mark.parametrize("text", [
    OPEN,
    "Do three things:\na) sort the list\nb) count the duplicates\nc) print the result",  # parts of one task
    "Compare plan A. and plan B. for me.",
    "A. Introduction\nB. Methods",  # two letters are an outline, not options
    "Solve for x: 3x + 2 = 11.",
])
def test_other_prompts_are_not_multiple_choice(text: str) -> None:
    assert not lists_choices(text)


def test_options_narrow_the_gap_between_models_without_moving_the_middle() -> None:
    """With lettered options the weaker model is predicted to do better and the stronger one worse
    than on the same question without them; a model of middling ability as well as without them."""
    qm = get_quality_model()
    assert 0 < qm.choice_gap < 1
    f = extract(WORKED)
    assert f.choices
    plain = replace(f, choices=False)
    weak, strong = qm.ability("mistralai/Mixtral-8x7B-Instruct-v0.1"), qm.ability("gpt-4-1106-preview")
    with_options = qm.predict_abilities(f, [weak, qm.ability0, strong])
    without = qm.predict_abilities(plain, [weak, qm.ability0, strong])
    assert with_options[0] > without[0] and with_options[2] < without[2]
    assert with_options[1] == pytest.approx(without[1])
    assert with_options[2] - with_options[0] < without[2] - without[0]
    # The need itself is the same: the options change what a model's ability buys, not the need.
    assert qm.need_of(f) == pytest.approx(qm.need_of(plain))


def test_an_open_question_is_predicted_as_before() -> None:
    qm = get_quality_model()
    o = extract(OPEN)
    assert not o.choices
    abilities = [0.3, 0.6, 0.9]
    assert np.allclose(qm.predict_abilities(o, abilities), qm.curve(qm.need_of(o), abilities))


def test_questions_with_options_keep_their_order_and_a_stronger_model_stays_better() -> None:
    """Over the whole need range, with options: the stronger model's gain grows with the need
    (the order among questions with options is the need's), and P(good) rises with ability."""
    qm = get_quality_model()
    g = np.linspace(qm.g_quantiles[0] - 1, qm.g_quantiles[-1] + 1, 400)
    for weak, strong in [("gpt-4o-mini", "gpt-4o"), ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview")]:
        choices = np.ones_like(g, dtype=bool)
        pw = qm.curve_many(g, qm.ability(weak), choices)
        ps = qm.curve_many(g, qm.ability(strong), choices)
        assert np.all(ps > pw)
        assert np.all(np.diff(ps - pw) >= -1e-12)
        assert np.all(ps - pw < qm.curve_many(g, qm.ability(strong)) - qm.curve_many(g, qm.ability(weak)))


def test_pair_scores_read_each_turn_as_the_app_does() -> None:
    """The evaluation path (pair_scores) applies the same scale as the app's predict()."""
    qm = get_quality_model()
    # Abilities further apart than MIN_PAIR_GAP, which pair_scores would otherwise impose.
    weak, strong = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
    scores = qm.pair_scores([[EXAM], [OPEN]], weak, strong)
    for text, score in zip((EXAM, OPEN), scores, strict=True):
        p = qm.predict(extract(text), [weak, strong])
        assert score == pytest.approx(p[strong] - p[weak], rel=1e-4)
