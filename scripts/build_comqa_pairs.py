"""Build cache evaluation pairs from ComQA's paraphrase clusters (real users' questions).

    python scripts/build_comqa_pairs.py MIRROR_GIT_DIR [--out .data/comqa_pairs.jsonl]
    python scripts/eval_cache.py --pairs .data/comqa_pairs.jsonl --no-sweep

MIRROR_GIT_DIR is a git directory of github.com/aorogat/CBench, which redistributed ComQA's
train and dev files (Abujabal et al., NAACL 2019: 11,214 WikiAnswers questions grouped by
crowd workers into 4,834 paraphrase clusters, each cluster annotated with its answers); the
files are read at the pinned commit with `git show`. ComQA's own licence is not stated in that
copy or in the paper, so its pairs are *scored only*: never trained or tuned on, and nothing of
them is committed (the output is under the git-ignored .data/).

Pairs, in eval_cache.py's format:
  - true duplicates (hit): two questions of one cluster; disjoint pairs, at most two a cluster,
    so large clusters do not dominate;
  - natural near-duplicates (miss): each question's nearest question in another cluster of the
    same part (train or dev) by
    topic-word cosine (the cache's own neighbour measure), when >= 0.70 (the cache's floor, so
    the pair reaches the guards) and the two clusters share no answer — another question, with
    another answer. Clusters that share an answer are left out of this set: the crowd may have
    split one question in two.
ComQA's text is lower-cased, as many chat users type; the guards that read capitals see none.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from mining import nearest_other  # noqa: E402

COMMIT = "e473c69bea1dfb9fec2ad9dc943a7cfaee17fe0d"  # aorogat/CBench, before data/Freebase was deleted
FILES = {"train": "data/Freebase/No_SPARQL/ComQA/comqa_train.json",
         "dev": "data/Freebase/No_SPARQL/ComQA/comqa_dev.json"}
OUT = ROOT / ".data" / "comqa_pairs.jsonl"
NEAR_FLOOR = 0.70


def read_clusters(git_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part, path in FILES.items():
        raw = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{COMMIT}:{path}"],
                             check=True, capture_output=True).stdout
        for c in json.loads(raw):
            qs = list(dict.fromkeys(q.strip() for q in c["questions"] if q.strip()))
            out.append({"id": f"{part}:{c['cluster_id']}", "part": part, "questions": qs,
                        "answers": frozenset(a.strip().lower() for a in c["answers"])})
    return out


def _side(prompt: str) -> dict[str, Any]:
    return {"system": None, "history": [], "prompt": prompt}


def _pair(category: str, label: str, a: str, b: str, part: str) -> dict[str, Any]:
    return {"category": category, "label": label, "cached": _side(a), "new": _side(b),
            "split": "heldout", "source": f"comqa-{part}"}


def duplicate_pairs(clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in clusters:
        qs = c["questions"]
        for k in range(0, min(len(qs) - 1, 3), 2):
            if qs[k].lower() != qs[k + 1].lower():
                out.append(_pair("paraphrase", "hit", qs[k], qs[k + 1], c["part"]))
    return out


def near_pairs(clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for part in dict.fromkeys(c["part"] for c in clusters):  # each part mined apart: no pair spans two
        mine = [c for c in clusters if c["part"] == part]
        texts = [q for c in mine for q in c["questions"]]
        owner = [k for k, c in enumerate(mine) for _ in c["questions"]]
        seen = set()
        for i, j, cos in nearest_other(texts, owner):
            ca, cb = mine[owner[i]], mine[owner[j]]
            key = (min(owner[i], owner[j]), max(owner[i], owner[j]))
            if cos < NEAR_FLOOR or key in seen or ca["answers"] & cb["answers"] or texts[i].lower() == texts[j].lower():
                continue
            seen.add(key)
            out.append(_pair("near_duplicate", "miss", texts[i], texts[j], part))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("git_dir", type=Path)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    try:
        clusters = read_clusters(args.git_dir)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        print(f"build_comqa_pairs: cannot read ComQA at {COMMIT[:7]} in {args.git_dir}: {e}", file=sys.stderr)
        return 1
    pairs = duplicate_pairs(clusters) + near_pairs(clusters)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p) + "\n")
    n_hit = sum(p["label"] == "hit" for p in pairs)
    print(f"{len(clusters)} clusters -> {n_hit} true-duplicate and {len(pairs) - n_hit} near-duplicate pairs"
          f" -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
