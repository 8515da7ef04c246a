"""Hashed n-gram features: stable across processes, head + tail only, fast."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from chatroute.routing import ngrams


def test_buckets_are_stable_across_processes() -> None:
    """Python's str hash is salted per process; the shipped weights need the same bucket every run."""
    code = ("from chatroute.routing import ngrams; "
            "i, v = ngrams.sparse_features('Prove it, step by step.'); print(list(i))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, **__import__("os").environ}).stdout for seed in ("1", "2")}
    assert len(runs) == 1
    idx, _ = ngrams.sparse_features("Prove it, step by step.")
    assert runs.pop().strip() == str(list(idx))


def test_word_and_char_parts_are_unit_length_and_order_matters() -> None:
    idx, val = ngrams.sparse_features("the dog bit the man")
    assert np.linalg.norm(val) == np.float32(np.sqrt(2)) or abs(np.linalg.norm(val) - np.sqrt(2)) < 1e-5
    other, _ = ngrams.sparse_features("the man bit the dog")
    assert set(idx) != set(other)  # bigrams see word order, a bag of words would not
    assert np.all((idx >= 0) & (idx < ngrams.DIM))
    assert ngrams.sparse_features("")[0].size == 0


def test_long_prompts_read_head_and_tail_only() -> None:
    body = "filler text " * 50_000
    text = "QUESTION HEAD " + body + " FINAL ASK"
    assert ngrams.clip(text).startswith("QUESTION HEAD") and ngrams.clip(text).endswith("FINAL ASK")
    ngrams.sparse_features(text)
    t = time.perf_counter()
    for _ in range(20):
        ngrams.sparse_features(text)
    assert (time.perf_counter() - t) / 20 < 0.02
