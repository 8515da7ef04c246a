"""The shipped router on chat requests unlike its training data (MMLU, GSM8K).

The prompts below are written for this test, not taken from any benchmark. Public multi-turn
evaluations agree that a stronger model helps most on maths, code and reasoning and least on
writing, role-play and simple rewrites; a router that generalises must rank them that way.
(The embedding-based weights before the familiarity gate ranked a similar set at AUC 0.44.)
"""

from __future__ import annotations

import numpy as np
import pytest

from chatroute.embed import get_embedder
from chatroute.routing.features import context_embedding, lexical_features
from chatroute.routing.quality import _sigmoid, get_quality_model

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"

LIGHT = [
    "Write a birthday message for my sister who loves gardening.",
    "Give me three fun names for a golden retriever puppy.",
    "You are a wizard in a fantasy tavern. Tell the travellers a rumour.",
    "Rewrite this sentence to sound more polite: 'Send me the report now.'",
    "What's a good caption for a photo of a sunset at the beach?",
    "Act as my motivational coach and cheer me on before my exam.",
    "Write a limerick about a sleepy cat.",
    "Translate 'Where is the train station?' into Spanish.",
    "Suggest a title for a blog post about making sourdough bread.",
    "Summarize in one line: The café on Main Street now serves vegan pastries on weekends.",
]
DEMANDING = [
    "A tank fills through pipe A in 6 hours and through pipe B in 9 hours, while pipe C drains it in "
    "12 hours. With all three open, how long does it take to fill the empty tank?",
    "Compute the determinant of the matrix [[2, -1, 3], [0, 4, 5], [1, 2, -2]] and show each step.",
    "What is the probability of getting at least two sixes in five rolls of a fair die?",
    "Write a Python function that merges overlapping intervals, and explain its time complexity.",
    "My React component re-renders forever. ```js\nuseEffect(() => { setItems([...items, x]); }, [items]);\n```"
    " Why, and how do I fix it?",
    "Implement binary search over a rotated sorted array in Java and handle duplicates.",
    "Four friends each pick a different number from 1 to 4. Ana's number is twice Bo's, and Cy's is "
    "greater than Di's. List all possible assignments, reasoning step by step.",
    "Solve for x and y: 3x + 2y = 16 and 5x - y = 5.",
    "A store raises a price by 20% and later discounts it by 25%. What is the net percentage change? "
    "Explain why it is not -5%.",
    "Write a SQL query that finds the three highest-paid employees in each department, ties included.",
]


@pytest.fixture(scope="module")
def qm():  # type: ignore[no-untyped-def]
    return get_quality_model()


def test_demanding_requests_rank_above_light_ones(qm) -> None:  # type: ignore[no-untyped-def]
    light = qm.pair_scores([[p] for p in LIGHT], WEAK, STRONG)
    hard = qm.pair_scores([[p] for p in DEMANDING], WEAK, STRONG)
    auc = float(np.mean(hard[:, None] > light[None, :]))
    # The shipped need ranks this set at 0.93 with the floor for maths and code
    # (quality.DEMANDING_FLOOR_QUANTILE), the need fitted at C = 1 at 0.80 (README). Both the
    # prompts and the cue words are ours, so this is a check, not evidence.
    assert auc >= 0.85, f"hard-vs-light AUC {auc:.2f}"
    assert np.median(hard) > np.median(light)


def test_multi_turn_rows_score_the_mean_over_their_turns(qm) -> None:  # type: ignore[no-untyped-def]
    turns = ["Explain how a hash map handles collisions.", "Now write one in C with open addressing."]
    got = qm.pair_scores([turns], WEAK, STRONG)[0]
    emb = get_embedder()
    g = np.array([qm.need(qm.sparse(turns[0]), emb.embed([turns[0]])[0], lexical_features(turns[0])),
                  qm.need(qm.sparse(turns[1], turns[:1]), context_embedding(emb, turns[1], turns[:1]),
                          lexical_features(turns[1]))])
    b, a = qm.params(g)
    tw, ts = qm.theta(qm.ability(WEAK)), qm.theta(qm.ability(STRONG))
    per_turn = _sigmoid(b + ts * a) - _sigmoid(b + tw * a)
    assert got == pytest.approx(float(per_turn.mean()), rel=1e-6)
    # and it differs from scoring the last message alone, which a follow-up cannot carry
    assert got != pytest.approx(float(per_turn[1]), rel=1e-3)
