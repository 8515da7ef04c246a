"""Mined near-duplicates: each text's nearest text of another group by topic-word cosine (the
cache's own neighbour measure). The verifier's data builder and the question-pair builder share
it; each keeps its own rule for which pairs to keep."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def nearest_other(texts: Sequence[str], groups: Sequence[object]) -> Iterator[tuple[int, int, float]]:
    """(i, j, cosine) for each text i, in order: j is its nearest text in another group."""
    from chatroute.cache.text import features
    from chatroute.embed import get_embedder

    if len(texts) < 2:
        return
    vec = get_embedder().embed([features(t).content_text for t in texts])
    ids = {g: k for k, g in enumerate(dict.fromkeys(groups))}
    group = np.asarray([ids[g] for g in groups])
    sim = vec @ vec.T  # one product: in blocks, a tie at the last bit can fall the other way
    for i in range(len(texts)):
        row = np.where(group == group[i], -1.0, sim[i])
        j = int(row.argmax())
        yield i, j, float(row[j])
