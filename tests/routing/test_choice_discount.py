"""A prompt that lists lettered answer options needs the stronger model less (QualityModel.need).

Every training source is all multiple choice (MMLU) or none (GSM8K, arena_bench_v1), so no fit can
tell the options apart from the source; the shipped weights carry a fixed discount instead
(router_models.CHOICE_DISCOUNT_SD). The prompts here are written for this test.
"""

from __future__ import annotations

import numpy as np
import pytest

from chatroute.routing.features import extract, lists_choices
from chatroute.routing.operating import PRESET_NEED_QUANTILE
from chatroute.routing.quality import CHOICE_DISCOUNT_STOP_QUANTILE, choice_discounted, get_quality_model

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


def test_the_shipped_need_lowers_a_multiple_choice_question_by_the_discount() -> None:
    qm = get_quality_model()
    assert qm.choice_discount > 0
    f = extract(WORKED)
    sparse = qm.sparse(f.text, f.context)
    as_choices = qm.need(sparse, f.embedding, f.lexical, f.text)
    unread = qm.need(sparse, f.embedding, f.lexical)
    assert unread - qm.choice_discount > qm.choice_stop  # this question is needy enough for the whole discount
    assert as_choices == pytest.approx(unread - qm.choice_discount)
    assert qm.need_of(f) == pytest.approx(as_choices)
    o = extract(OPEN)
    assert qm.need_of(o) == pytest.approx(qm.need(qm.sparse(o.text, o.context), o.embedding, o.lexical))


def test_the_discount_stops_above_bests_line_and_keeps_the_order() -> None:
    stop, discount = 0.0, 1.0
    needs = np.array([-2.0, -0.5, 0.0, 0.05, 0.2, 0.5, 1.0, 1.2, 3.0])
    lowered = choice_discounted(needs, discount, stop)
    assert np.all(np.diff(lowered) > 0)  # the order among questions with options is kept, no ties
    assert np.all(lowered[needs <= stop] == needs[needs <= stop])  # at or below the stop: unchanged
    assert np.all(lowered[needs > stop] > stop)  # above it: stays above it
    assert lowered[-1] == pytest.approx(3.0 - discount)  # far above it: the whole discount
    assert np.all(lowered <= needs)


def test_best_still_buys_the_stronger_model_for_a_needy_exam_question() -> None:
    """The discount moves an exam question down among needy ones; it does not carry one that
    `best` would buy the stronger model for under best's line."""
    qm = get_quality_model()
    g_best = qm.need_at(PRESET_NEED_QUANTILE["best"])
    just_above = np.linspace(g_best + 1e-3, g_best + qm.choice_discount, 25)
    lowered = choice_discounted(just_above, qm.choice_discount, qm.choice_stop)
    assert qm.choice_stop == pytest.approx(qm.need_at(CHOICE_DISCOUNT_STOP_QUANTILE))
    assert np.all(lowered > g_best)

