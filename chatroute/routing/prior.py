"""A hand-set prior on how much a stronger model helps, for prompts unlike the training data.

The learned quality model (quality.py) is fitted on knowledge questions (MMLU) and maths word
problems (GSM8K), the only labelled data whose licence allows training. On those it ranks
well; on chat prompts far from them (a role-play, a cover letter, a Go deadlock) its embedding
weights extrapolate and rank at chance. This prior fills that gap with what is known about
where model strength pays off, from public evaluations rather than from our labels:

- multi-turn chat benchmarks (MT-Bench, Zheng et al. 2023, per-category scores; Chatbot Arena's
  category leaderboards) show the gap between a frontier model and a mid-size open model is
  largest on maths, reasoning and coding, and smallest on writing, role-play and humanities,
  where both score near the top;
- those tasks are also where a weaker model is more likely to fail outright, so the prompt's
  expected success b is lower and the slope a (how much ability matters) higher.

Signals are the generic lexical features (features.py), never a benchmark's format. The prior
is expressed in the same IRT form as the learned model, (b, a) per prompt, so the two blend in
parameter space and every downstream use (routing utility, `chatroute eval`) is unchanged.
How much each prompt leans on the prior is decided by how close it is to the training data:
see QualityModel.prompt_params.
"""

from __future__ import annotations

import numpy as np

from chatroute.routing.features import LEXICAL_NAMES

_IX = {name: i for i, name in enumerate(LEXICAL_NAMES)}

B_BASE = 2.0  # a plain chat request: most models answer it acceptably
A_BASE = 1.0  # ...and ability matters a little
B_PER_DEMAND = 0.6  # each unit of demand lowers the expected success...
A_PER_DEMAND = 0.9  # ...and raises how much ability matters
OPEN_ENDED_RELIEF = 0.4  # writing and role-play: strength matters less than in the base case


def _col(lex: np.ndarray, name: str) -> np.ndarray:
    return lex[:, _IX[name]].astype(np.float64)


def demand(lex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(demand, open_endedness) per row of raw lexical features (n, L); demand in [0, 3]."""
    quant = np.clip(
        0.5 * _col(lex, "math") + 0.35 * _col(lex, "relations") + 0.15 * _col(lex, "log_distinct_numbers"), 0, 1.2
    )
    code = np.clip(_col(lex, "code_fence") + 0.45 * _col(lex, "code_tokens") + 0.45 * _col(lex, "code_ask"), 0, 1.2)
    reason = np.clip(0.45 * _col(lex, "steps") + 0.25 * _col(lex, "constraints"), 0, 0.8)
    open_ended = np.clip(0.6 * _col(lex, "creative"), 0, 1.0)
    return quant + code + reason, open_ended


def prior_params(lex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of the prior for raw lexical features (n, L)."""
    d, o = demand(np.atleast_2d(lex))
    b = B_BASE - B_PER_DEMAND * d + OPEN_ENDED_RELIEF * o
    a = A_BASE + A_PER_DEMAND * d - OPEN_ENDED_RELIEF * A_BASE * o
    return b, a
