"""A prompt that lists lettered answer options needs the stronger model less (QualityModel.need).

Every training source is all multiple choice (MMLU) or none (GSM8K, arena_bench_v1), so no fit can
tell the options apart from the source; the shipped weights carry a fixed discount instead
(router_models.CHOICE_DISCOUNT_SD). The prompts here are written for this test.
"""

from __future__ import annotations

import pytest

from chatroute.routing.features import extract, lists_choices
from chatroute.routing.quality import get_quality_model

EXAM = ("Which organelle makes most of a cell's ATP?\nA. Ribosome\nB. Mitochondrion\nC. Golgi apparatus\n"
        "D. Lysosome\nAnswer:")
OPEN = "Which organelle makes most of a cell's ATP?"


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
    f = extract(EXAM)
    sparse = qm.sparse(f.text, f.context)
    as_choices = qm.need(sparse, f.embedding, f.lexical, f.text)
    unread = qm.need(sparse, f.embedding, f.lexical)
    assert as_choices == pytest.approx(unread - qm.choice_discount)
    assert qm.need_of(f) == pytest.approx(as_choices)
    o = extract(OPEN)
    assert qm.need_of(o) == pytest.approx(qm.need(qm.sparse(o.text, o.context), o.embedding, o.lexical))

