from __future__ import annotations

import hashlib
import json
import sys
import time

import numpy as np

from chatroute.embed import Embedder, get_embedder
from chatroute.embed.embedder import DATA_DIR


def test_shape_dtype_and_norm() -> None:
    e = get_embedder()
    v = e.embed(["How do I reverse a list in Python?", "What is the capital of France?"])
    assert v.shape == (2, e.dim) and e.dim == 256
    assert v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_empty_inputs() -> None:
    e = get_embedder()
    assert e.embed([]).shape == (0, 256)
    v = e.embed(["", "   "])
    assert np.all(v == 0)


def test_singleton() -> None:
    assert get_embedder() is get_embedder()


def test_semantics_related_closer_than_unrelated() -> None:
    e = get_embedder()
    a, b, c = e.embed(
        [
            "How do I sort a list in Python?",
            "What is the best way to order a Python list?",
            "Recommend a good recipe for banana bread.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_batch_equals_single() -> None:
    e = get_embedder()
    texts = ["one two three", "Solve 2x + 3 = 7", "naïve café ünïcode"]
    batch = e.embed(texts)
    for i, t in enumerate(texts):
        assert np.allclose(batch[i], e.embed_one(t), atol=1e-6)


def test_huge_input_is_fast() -> None:
    e = get_embedder()
    big = "lorem ipsum dolor sit amet " * 40_000  # ~1 MB
    t = time.perf_counter()
    v = e.embed([big + " What does this error mean?"])
    assert time.perf_counter() - t < 0.2
    assert np.isclose(np.linalg.norm(v[0]), 1.0, atol=1e-5)


def test_short_query_speed() -> None:
    e = get_embedder()
    e.embed(["warm up"])
    n = 300
    t = time.perf_counter()
    for _ in range(n):
        e.embed(["How do I reverse a linked list in C?"])
    per = (time.perf_counter() - t) / n
    assert per < 1e-3


def test_shipped_files_match_recorded_hashes() -> None:
    cfg = json.loads((DATA_DIR / "config.json").read_text())
    for name, digest in cfg["files_sha256"].items():
        assert hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest() == digest
    assert (DATA_DIR / "LICENSE.txt").exists() and (DATA_DIR / "NOTICE.md").exists()
    assert sum(p.stat().st_size for p in DATA_DIR.iterdir()) < 20 * 1024 * 1024


def test_no_torch_imported() -> None:
    Embedder()
    assert "torch" not in sys.modules
