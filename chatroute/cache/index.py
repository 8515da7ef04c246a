"""In-memory vector index for the semantic tier: exact cosine search, pruned by a bound.

All vectors live in one growable float16 matrix (half the memory of float32; the cache only
needs 3 digits of cosine) with a parallel scope-id array. A full float32 scan of 100k x 256 is
~6-16 ms, memory-bound, so a query first scans a small float32 projection onto the top
principal directions (k=48), and only rows whose *upper bound* on the true cosine reaches the
floor are re-scored in full. For unit vectors x, q and an orthonormal basis P:

    cos(x, q) = <Px, Pq> + <rx, rq> <= <Px, Pq> + |rx| |rq|,   |rx| = sqrt(1 - |Px|^2)

so the pruning never drops a row that could pass: the search is exact, only faster. The basis
is fitted (SVD of a sample) once the index is large enough to need it, and refitted when it
has grown 4x; it only affects speed, never results.
"""

from __future__ import annotations

import numpy as np

_PROJ_DIM = 48
_FIT_MIN_ROWS = 2048  # below this a full scan is already well under 1 ms
_MAX_RERANK = 1024  # pathological case (thousands of near-duplicates): keep the best bounds


class VectorIndex:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._cap = 0
        self.n = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._scope = np.zeros(0, dtype=np.int32)
        self._vec = np.zeros((0, dim), dtype=np.float16)
        # (k + 1, cap) float32: a row per direction, then the residual norms |rx|, so the whole
        # bound is one row vector [Pq, |rq|] times a wide matrix, which BLAS streams in one pass
        # (and faster than a tall matrix times a vector).
        self._proj: np.ndarray | None = None
        self._basis: np.ndarray | None = None  # (dim, k)
        self._fitted_at = 0
        self._row: dict[int, int] = {}
        self._scope_ids: dict[str, int] = {}
        self.max_id = 0

    def __len__(self) -> int:
        return self.n

    def __contains__(self, entry_id: int) -> bool:
        return entry_id in self._row

    def ids(self) -> set[int]:
        return set(self._row)

    def nbytes(self) -> int:
        total = self._ids.nbytes + self._scope.nbytes + self._vec.nbytes
        if self._proj is not None:
            total += self._proj.nbytes
        return total

    def _grow(self, need: int) -> None:
        if need <= self._cap:
            return
        cap = max(1024, self._cap * 2, need)
        self._ids = _resize(self._ids, cap)
        self._scope = _resize(self._scope, cap, fill=-1)
        self._vec = _resize(self._vec, cap)
        if self._proj is not None:
            self._proj = _resize(self._proj.T, cap).T.copy()
        self._cap = cap

    def add_many(self, ids: list[int], scopes: list[str], vecs: np.ndarray) -> None:
        if not ids:
            return
        vecs = np.asarray(vecs).reshape(len(ids), self.dim)  # float16 or float32; stored as float16
        # Replace rows we already hold (same id re-sent by a sync) instead of duplicating.
        for entry_id in ids:
            if entry_id in self._row:
                self.remove(entry_id)
        start = self.n
        self._grow(start + len(ids))
        end = start + len(ids)
        self._ids[start:end] = ids
        self._scope[start:end] = [self._scope_id(s) for s in scopes]
        self._vec[start:end] = vecs
        for i, entry_id in enumerate(ids):
            self._row[entry_id] = start + i
            self.max_id = max(self.max_id, entry_id)
        self.n = end
        if self._basis is not None:
            self._project(start, end)
        if self.n >= _FIT_MIN_ROWS and self.n >= 4 * self._fitted_at:
            self._fit()

    def add(self, entry_id: int, scope: str, vec: np.ndarray) -> None:
        self.add_many([entry_id], [scope], np.asarray(vec, dtype=np.float32)[None, :])

    def remove(self, entry_id: int) -> None:
        """Swap-remove: the last row moves into the hole, O(1)."""
        row = self._row.pop(entry_id, None)
        if row is None:
            return
        last = self.n - 1
        if row != last:
            moved = int(self._ids[last])
            self._ids[row] = self._ids[last]
            self._scope[row] = self._scope[last]
            self._vec[row] = self._vec[last]
            if self._proj is not None:
                self._proj[:, row] = self._proj[:, last]
            self._row[moved] = row
        self._scope[last] = -1
        self.n = last

    def clear(self) -> None:
        self.__init__(self.dim)  # type: ignore[misc]

    def may_hold(self, scope: str) -> bool:
        """False when no entry of `scope` is in the index (True may still find none: a scope
        keeps its id after its entries are removed)."""
        return self.n > 0 and scope in self._scope_ids

    def search(self, scope: str, q: np.ndarray, floor: float, k: int = 8) -> list[tuple[int, float]]:
        """Entries in `scope` with cosine >= floor, best first, at most k."""
        sid = self._scope_ids.get(scope)
        if sid is None or self.n == 0:
            return []
        q = np.asarray(q, dtype=np.float32)
        n = self.n
        if self._basis is None or self._proj is None:
            rows = np.flatnonzero(self._scope[:n] == sid)
        else:
            qp = q @ self._basis
            rq = float(np.sqrt(max(0.0, float(q @ q) - float(qp @ qp)))) + 1e-3
            bound = np.append(qp, np.float32(rq)) @ self._proj[:, :n]
            rows = np.flatnonzero(bound >= floor - 1e-3)
            rows = rows[self._scope[rows] == sid]
            if rows.size > _MAX_RERANK:
                rows = rows[np.argpartition(-bound[rows], _MAX_RERANK)[:_MAX_RERANK]]
        if rows.size == 0:
            return []
        sims = self._vec.take(rows, axis=0).astype(np.float32) @ q
        keep = sims >= floor
        rows, sims = rows[keep], sims[keep]
        if rows.size > k:
            top = np.argpartition(-sims, k)[:k]
            rows, sims = rows[top], sims[top]
        # Equal vectors can score a rounding error apart: a tie goes to the older entry.
        order = np.lexsort((self._ids[rows], -np.round(sims, 6)))
        return [(int(self._ids[rows[i]]), float(sims[i])) for i in order]

    def _scope_id(self, scope: str) -> int:
        sid = self._scope_ids.get(scope)
        if sid is None:
            sid = self._scope_ids[scope] = len(self._scope_ids)
        return sid

    def _fit(self) -> None:
        n = self.n
        rng = np.random.default_rng(0)
        sample = self._vec[:n] if n <= 8_000 else self._vec[np.sort(rng.choice(n, 8_000, replace=False))]
        # Uncentred SVD: the common direction all static embeddings share is the first axis.
        _, _, vt = np.linalg.svd(sample.astype(np.float32), full_matrices=False)
        self._basis = np.ascontiguousarray(vt[:_PROJ_DIM].T.astype(np.float32))
        self._proj = np.zeros((self._basis.shape[1] + 1, self._cap), dtype=np.float32)
        self._project(0, n)
        self._fitted_at = n

    def _project(self, start: int, end: int) -> None:
        assert self._basis is not None and self._proj is not None
        v = self._vec[start:end].astype(np.float32)
        p = v @ self._basis
        self._proj[:-1, start:end] = p.T
        # Stored vectors are float16, so their norm is 1 +- 1e-3; use the actual norm.
        norm2 = np.einsum("ij,ij->i", v, v)
        self._proj[-1, start:end] = np.sqrt(np.maximum(0.0, norm2 - np.einsum("ij,ij->i", p, p))) + 1e-3


def _resize(arr: np.ndarray, cap: int, fill: int | float = 0) -> np.ndarray:
    out = np.full((cap, *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out
