"""A deterministic bag-of-words embedder for mechanics tests (no model needed), and a cache file
made to look as an older chatroute left it."""

from __future__ import annotations

import re
import sqlite3
import zlib
from pathlib import Path

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


def as_older_version(db: Path) -> None:
    """The cache file as an older chatroute left it: another vector recipe."""
    conn = sqlite3.connect(db)
    conn.execute("UPDATE cache_meta SET value = 1 WHERE key = 'recipe'")
    conn.commit()
    conn.close()
