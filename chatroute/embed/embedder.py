"""A static sentence embedder: token lookup + mean pooling + L2 norm, numpy only.

The table is a model2vec distillation of all-MiniLM-L6-v2 (see scripts/distill_embedder.py),
stored as int8 rows with a float32 scale each. It stays int8 in memory (7.5 MB, no
dequantisation pass at load); a query gathers its rows and takes the scale-weighted mean as one
small matrix product: well under 0.1 ms for a short prompt.

It is a bag of words: word order is invisible and unrelated sentences share a cosine floor
around 0.4-0.7. Good enough for router features; the cache adds lexical guards on top.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from chatroute.lazy import Lazy

DATA_DIR = Path(__file__).parent / "data"

# Very long prompts (pasted files, logs) would otherwise cost tens of ms to tokenise for no
# gain: a mean over thousands of tokens is dominated by boilerplate anyway. We keep the head
# and the tail (the question is usually at the end of a paste) and cap the token count.
MAX_CHARS_HEAD = 6000
MAX_CHARS_TAIL = 2000
MAX_TOKENS = 1024


def _clip_text(text: str) -> str:
    if len(text) <= MAX_CHARS_HEAD + MAX_CHARS_TAIL:
        return text
    return text[:MAX_CHARS_HEAD] + "\n" + text[-MAX_CHARS_TAIL:]


class Embedder:
    """Maps texts to L2-normalised float32 vectors of size `dim`."""

    def __init__(self, data_dir: Path = DATA_DIR) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((data_dir / "config.json").read_text(encoding="utf-8"))
        tensors = load_file(str(data_dir / "embeddings.safetensors"))
        self._q: np.ndarray = tensors["q"]  # int8 (V, dim)
        self._scale: np.ndarray = tensors["scale"].astype(np.float32)  # (V,)
        self.dim: int = int(self._q.shape[1])
        self.vocab_size: int = int(self._q.shape[0])
        self._unk: int | None = config.get("unk_token_id")
        tok = Tokenizer.from_file(str(data_dir / "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self.config = config

    def token_ids(self, text: str) -> np.ndarray:
        """The ids that contribute to `text`'s vector (unknown tokens dropped, capped)."""
        ids = self._tok.encode(_clip_text(text), add_special_tokens=False).ids
        arr = np.fromiter(ids, dtype=np.int64, count=len(ids))
        if self._unk is not None and arr.size:
            arr = arr[arr != self._unk]
        if arr.size > MAX_TOKENS:
            # Keep head and tail, as for characters.
            arr = np.concatenate([arr[: MAX_TOKENS * 3 // 4], arr[-(MAX_TOKENS // 4) :]])
        return arr

    def embed(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32, each row unit-length (all-zero for empty/unknown-only text)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if len(texts) == 1:
            encs = [self._tok.encode(_clip_text(texts[0]), add_special_tokens=False)]
        else:
            encs = self._tok.encode_batch([_clip_text(t) for t in texts], add_special_tokens=False)
        for i, enc in enumerate(encs):
            ids = enc.ids
            if self._unk is not None:
                ids = [t for t in ids if t != self._unk]
            if not ids:
                continue
            if len(ids) > MAX_TOKENS:
                ids = ids[: MAX_TOKENS * 3 // 4] + ids[-(MAX_TOKENS // 4) :]
            # mean_k(scale_k * q_k) as one (n,) @ (n, dim) product
            out[i] = (self._scale[ids] @ self._q[ids].astype(np.float32)) / len(ids)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """(n, dim) mean token vector of each word, NOT normalised (see word_weights). One
        encode per word: the batch encoder's thread pool costs more than it saves on a few words."""
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        for i, word in enumerate(words):
            ids = self.token_ids(word)
            if ids.size:
                out[i] = self._scale[ids] @ self._q[ids].astype(np.float32) / ids.size
        return out

    def word_weights(self, words: list[str]) -> np.ndarray:
        """(n,) length of each word's vector before normalising: the distillation keeps rare,
        informative words long and frequent function words short, so it serves as an importance."""
        return np.linalg.norm(self.word_vectors(words), axis=1)

    def knows(self, word: str) -> bool:
        """`word` (lower case) is one token of the vocabulary, not split into pieces."""
        return self._tok.token_to_id(word) is not None

    def whole_words(self) -> list[str]:
        """The vocabulary's whole-word tokens (not "##" continuations), lower case."""
        return [w for w in self._tok.get_vocab() if not w.startswith("##")]

    def embed_one(self, text: str) -> np.ndarray:
        """(dim,) float32 unit vector for one text."""
        return self.embed([text])[0]


_shared: Lazy[Embedder] = Lazy(Embedder)


def get_embedder() -> Embedder:
    """The process-wide embedder, loaded on first use (about 0.1 s)."""
    return _shared.get()
