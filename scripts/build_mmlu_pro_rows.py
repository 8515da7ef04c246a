"""Routing rows from MMLU-Pro's published per-question model outputs (a fourth trainable source).

    python scripts/build_mmlu_pro_rows.py <git dir of TIGER-AI-Lab/MMLU-Pro> [--out .data/routing/mmlu_pro.jsonl.gz]

The git dir comes from the search tool's `fetch` (github:TIGER-AI-Lab/MMLU-Pro). The repository
(Apache-2.0) publishes each evaluated model's answer to every question: `eval_results/
model_outputs_<model>_5shots.zip` at commit `f418b11` (29 models; the larger archives are absent
from the mirror) and GPT-4o's per-subject `eval_results/gpt4o/<subject>_result.json` at commit
`ff991b5` (later deleted). A model scores 1.0 on a question when its extracted answer letter is
the key, else 0.0 (no answer extracted counts as wrong).

Only questions MMLU-Pro did not take from MMLU are kept (its `src` is `stemez-*`, `theoremQA-*`
or `scibench-*`: science and engineering problems from textbook sites, TheoremQA and SciBench).
The `ori_mmlu-*` questions are MMLU test questions with more options; kept, they would put the
left-out MMLU rows' text into training. Rows are written in the shared routing schema
(`ev.load_rows` reads them), the question followed by its lettered options and "Answer:", as the
MMLU rows are. The output is git-ignored; no question text is committed.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / ".data" / "routing" / "mmlu_pro.jsonl.gz"
ZIP_COMMIT = "f418b116db00b065c2aea046518d8fcf74d39872"
GPT4O_COMMIT = "ff991b5"
GPT4O = "gpt-4o-2024-05-13"
# The same model as the RouteLLM rows' weak model, under the name those rows use.
NAMES = {"Mixtral-8x7B-Instruct-v0.1": "mistralai/Mixtral-8x7B-Instruct-v0.1"}
SUBJECTS = ("biology business chemistry computer_science economics engineering health history law math other "
            "philosophy physics psychology").split()
_ZIP = re.compile(r"eval_results/model_outputs_(.+)_5shots\.zip$")
LETTERS = "ABCDEFGHIJ"


def git(gitdir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(gitdir), *args], check=True, capture_output=True).stdout


def kept(rec: dict[str, Any]) -> bool:
    return not str(rec.get("src", "")).startswith("ori_mmlu")


def prompt(rec: dict[str, Any]) -> str:
    options = rec["options"]
    if isinstance(options, str):
        options = ast.literal_eval(options)
    lines = [str(rec["question"]).strip()]
    lines += [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options)]
    return "\n".join(lines) + "\nAnswer:"


def correct(rec: dict[str, Any]) -> float:
    return 1.0 if rec.get("pred") is not None and rec.get("pred") == rec.get("answer") else 0.0


def model_outputs(gitdir: Path) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """{model name: (source path, records)} from every archive the mirror holds, plus GPT-4o."""
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    listing = git(gitdir, "ls-tree", "-r", "-l", ZIP_COMMIT, "eval_results/").decode()
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        m = _ZIP.match(path)
        if not m or meta.split()[-1] == "-":
            continue
        try:
            blob = git(gitdir, "show", f"{ZIP_COMMIT}:{path}")
        except subprocess.CalledProcessError:  # listed but not mirrored (large file)
            continue
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            records = json.loads(z.read(z.namelist()[0]))
        out[NAMES.get(m.group(1), m.group(1))] = (f"{ZIP_COMMIT[:7]}:{path}", records)
    records = []
    for subject in SUBJECTS:
        path = f"eval_results/gpt4o/{subject.replace('_', ' ')}_result.json"
        records += json.loads(git(gitdir, "show", f"{GPT4O_COMMIT}:{path}"))
    out[GPT4O] = (f"{GPT4O_COMMIT}:eval_results/gpt4o/", records)
    return out


def build(gitdir: Path) -> list[dict[str, Any]]:
    outputs = model_outputs(gitdir)
    rows: dict[str, dict[str, Any]] = {}
    for model, (_, records) in sorted(outputs.items()):
        for rec in records:
            if not isinstance(rec, dict) or not kept(rec):
                continue
            qid = str(rec["question_id"])
            row = rows.setdefault(qid, {
                "id": f"mmlu_pro-{qid}", "dataset": "mmlu_pro", "turns": [prompt(rec)], "scores": {},
                "source": f"TIGER-AI-Lab/MMLU-Pro@{ZIP_COMMIT[:7]}:{rec.get('src', '')}",
                "category": rec.get("category"),
            })
            row["scores"][model] = correct(rec)
    return [rows[k] for k in sorted(rows, key=int)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gitdir", type=Path)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = build(args.gitdir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    models = sorted({m for r in rows for m in r["scores"]})
    print(f"{len(rows)} rows, {len(models)} models -> {args.out}", file=sys.stderr)
    for m in models:
        n = sum(1 for r in rows if m in r["scores"])
        mean = sum(r["scores"][m] for r in rows if m in r["scores"]) / max(1, n)
        print(f"  {m}: {mean:.3f} over {n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
