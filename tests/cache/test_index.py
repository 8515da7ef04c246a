"""The semantic tier's vector index: the pruned search returns exactly what a full scan would."""

from __future__ import annotations

import numpy as np

from chatroute.cache.index import VectorIndex

DIM = 64


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=-1, keepdims=True)


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    # Like static sentence embeddings: one direction all of them share, plus a spread of topics.
    common = np.zeros(DIM)
    common[0] = 1.0
    return _unit(1.2 * common + rng.normal(size=(n, DIM)) / np.sqrt(DIM)).astype(np.float32)


def _brute(ids: list[int], scopes: list[str], vecs: np.ndarray, scope: str, q: np.ndarray, floor: float,
           k: int) -> list[int]:
    sims = vecs.astype(np.float16).astype(np.float32) @ q
    hits = [(s, i) for i, sc, s in zip(ids, scopes, sims, strict=True) if sc == scope and s >= floor]
    return [i for _, i in sorted(hits, reverse=True)[:k]]


def test_pruned_search_matches_a_full_scan_across_scopes_growth_and_removal() -> None:
    rng = np.random.default_rng(0)
    index = VectorIndex(DIM)
    ids: list[int] = []
    scopes: list[str] = []
    vecs = np.zeros((0, DIM), np.float32)
    checked = 0
    for batch in range(3):  # 3,000 then 6,000 then 9,000 rows: the projection is fitted, then grown
        new = _vectors(rng, 3000)
        new_ids = list(range(3000 * batch + 1, 3000 * batch + 3001))
        new_scopes = [("a", "b", "c")[i % 3] for i in range(3000)]
        index.add_many(new_ids, new_scopes, new)
        ids += new_ids
        scopes += new_scopes
        vecs = np.vstack([vecs, new])
        if batch == 1:  # some rows leave: swap-removal moves the last rows into the holes
            for gone in rng.choice(ids, 500, replace=False).tolist():
                index.remove(gone)
                j = ids.index(gone)
                del ids[j], scopes[j]
                vecs = np.delete(vecs, j, axis=0)
        assert index._basis is not None  # the pruned path is the one under test
        for q in _vectors(rng, 15):
            for floor in (0.7, 0.8):
                for scope in ("a", "c"):
                    got = [i for i, _ in index.search(scope, q, floor, k=8)]
                    want = _brute(ids, scopes, vecs, scope, q, floor, 8)
                    assert got == want
                    checked += len(want)
    assert checked > 100  # the floors leave real neighbours to find, not only empty results


def test_unknown_scope_and_small_index_search() -> None:
    rng = np.random.default_rng(1)
    index = VectorIndex(DIM)
    v = _vectors(rng, 10)
    index.add_many(list(range(1, 11)), ["s"] * 10, v)
    assert index._basis is None  # below the size that needs the projection: a full scan
    assert index.search("other", v[0], 0.5) == []
    assert index.search("s", v[3], 0.999, k=1)[0][0] == 4


def test_equal_vectors_rank_the_older_entry_first() -> None:
    rng = np.random.default_rng(1)
    index = VectorIndex(DIM)
    vecs = _vectors(rng, 4000)  # enough rows for the projection to be fitted
    ids = list(range(10, 4010))
    index.add_many(ids, ["s"] * len(ids), vecs)
    index.add_many([5000, 6000, 7], ["s"] * 3, np.stack([vecs[100]] * 3))  # three repeats of row 100 (id 110)
    found = [i for i, _ in index.search("s", vecs[100], floor=0.99, k=4)]
    assert found == [7, 110, 5000, 6000]
