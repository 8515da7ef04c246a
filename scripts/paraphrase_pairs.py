"""The cache verifier's labelled pairs, as its trainers read them: the external pairs built by
scripts/build_paraphrase_data.py plus the project's own (tests/data/cache_pairs.jsonl, whose
"tune" half trains and whose "heldout" half is only scored). Only json here, so both the project
venv (train_cache_verifier.py) and the throwaway torch venv (cross_encoder.py) can import it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / ".data" / "paraphrase" / "pairs.jsonl"
PROJECT_PAIRS = ROOT / "tests" / "data" / "cache_pairs.jsonl"
# Decided by the scope key, not by text: nothing for the verifier to learn.
SCOPE_CATEGORIES = {"other_history", "other_system_prompt", "exact_repeat"}
# Kinds only reported, never trained on (see VERIFIER.md): Stack Exchange duplicates, mined
# near-duplicates, the derived phrase swaps, which cost true hits when trained on, and NQ-open's
# near-duplicate questions, which moved the operating point along the same curve when trained on.
# ComQA's pairs sit in their own split ("comqa"), which nothing trains on.
EVAL_ONLY = ("se-dup", "mined-near", "phrase-swap-miss", "phrase-swap-hit", "nq-near")


def load_pairs(pairs_path: Path = PAIRS) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in pairs_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for line in PROJECT_PAIRS.read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        if p["category"] in SCOPE_CATEGORIES:
            continue
        rows.append({"source": "project", "split": "train" if p["split"] == "tune" else "project-heldout",
                     "kind": f"project-{p['label']}", "category": p["category"], "label": p["label"],
                     "a": p["cached"]["prompt"], "b": p["new"]["prompt"]})
    return rows
