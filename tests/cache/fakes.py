"""A deterministic bag-of-words embedder for mechanics tests (no model needed)."""

from __future__ import annotations

import re
import zlib

import numpy as np

DIM = 64


def fake_embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            rng = np.random.default_rng(zlib.crc32(word.encode()))
            out[i] += rng.standard_normal(DIM).astype(np.float32)
        n = np.linalg.norm(out[i])
        if n:
            out[i] /= n
    return out
