"""Hashed lexical n-grams of a prompt: word 1-2-grams and character 2-5-grams, numpy only.

The router's main representation. Leave-one-source-out tests showed phrasing ("prove that",
"write a function", "step by step", answer-option layouts, units) carries over to unseen
sources better than the static bag-of-words embedding, which cannot see word order.

Each n-gram is hashed to one of DIM buckets with a stable hash (never Python's salted
`hash()`), counts are damped (1 + log) and weighted by an inverse document frequency learnt in
training, and the word part and the character part are each L2-normalised, as TF-IDF does.
The result is a sparse vector: (bucket indices, values). Only the head and tail of a long
prompt are read, so a 4,000-token paste costs about what a long question does.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

DIM = 1 << 18
HEAD_CHARS = 1500
TAIL_CHARS = 1000
CHAR_NS = (2, 3, 4, 5)
_WORD = re.compile(r"\w+", re.UNICODE)
_SPACE = re.compile(r"\s+")
_MASK = np.uint64(0xFFFFFFFF)
_PRIME = np.uint64(0x01000193)  # FNV prime: spreads neighbouring code points apart
_MIX = np.uint64(0x9E3779B1)
_WORD_SALT = np.uint64(0x85EBCA6B)
_BIGRAM_SALT = np.uint64(0xC2B2AE35)


def clip(text: str) -> str:
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + " " + text[-TAIL_CHARS:]


def _finish(h: np.ndarray) -> np.ndarray:
    """A final avalanche (murmur3's fmix32) so the low bits used as the bucket are well mixed."""
    h = h & _MASK
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _MASK
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _MASK
    h ^= h >> np.uint64(16)
    return h


def word_hashes(text: str) -> np.ndarray:
    """Bucket per word unigram and bigram (uint64 array)."""
    words = _WORD.findall(text.lower())
    if not words:
        return np.zeros(0, dtype=np.uint64)
    uni = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words))
    big = uni[:-1] * _MIX + uni[1:] + _BIGRAM_SALT
    return _finish(np.concatenate([uni + _WORD_SALT, big])) % np.uint64(DIM)


def char_hashes(text: str) -> np.ndarray:
    """Bucket per character 2..5-gram of the lower-cased, space-collapsed text (uint64 array)."""
    t = _SPACE.sub(" ", text.lower()).strip()
    if len(t) < 2:
        return np.zeros(0, dtype=np.uint64)
    c = np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    out = []
    h = c.copy()
    for n in range(2, max(CHAR_NS) + 1):
        if len(c) < n:
            break
        h = (h[:-1] * _PRIME + c[n - 1 :]) & _MASK  # rolling: hash of c[i:i+n]
        if n in CHAR_NS:
            out.append(h + np.uint64(n) * _MIX)
    return _finish(np.concatenate(out)) % np.uint64(DIM)


def _part(buckets: np.ndarray, idf: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if buckets.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx, counts = np.unique(buckets.astype(np.int64), return_counts=True)
    val = 1.0 + np.log(counts.astype(np.float32))
    if idf is not None:
        val = val * idf[idx]
    n = float(np.linalg.norm(val))
    return idx, (val / n if n > 0 else val).astype(np.float32)


def sparse_features(text: str, idf: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values) of the prompt's n-gram vector: the word part and the char part, each
    unit-length, summed into the same DIM buckets (so the vector's norm is about sqrt(2))."""
    t = clip(text)
    wi, wv = _part(word_hashes(t), idf)
    ci, cv = _part(char_hashes(t), idf)
    return np.concatenate([wi, ci]), np.concatenate([wv, cv])


def dot(weights: np.ndarray, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
    """weights (DIM,) or (DIM, k) against one sparse vector."""
    return val @ weights[idx]
