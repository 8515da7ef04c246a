"""Question pairs from LC-QuAD 2.0 (Dubey et al., ISWC 2019; CC BY 3.0) for the cache verifier.

Each LC-QuAD 2.0 row is one Wikidata query with two questions written by crowd workers: a
verbalisation of a template question and a paraphrase of that verbalisation. The two ask the same
thing (a hit, "lcquad-hit"). A near-duplicate (a miss, "lcquad-near") is a question's nearest
question of another query by topic-word cosine, when it reaches the cache's neighbour floor: the
same person with another property, or the same property of another person, so another answer.
Labels by construction from the queries, not by a person judging the pair.

The data comes as a RAR archive (`data/lcquad_2_0.rar` of github.com/aorogat/CBench at commit
CBENCH_COMMIT, the repository ComQA is read from; see VERIFIER.md); this module reads the JSON
inside it, extracted with any unrar tool (bsdtar, unar, or libarchive-c in a throwaway venv), and
says so when the file is not the one the shipped weights were trained on (JSON_SHA256).

Rows are split by a hash of the query's first entity, so a test question's subject is never
trained on: "train" or "lcquad-test" (reported, never trained on or used to pick a bar).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

CBENCH_COMMIT = "3d84c048bdb0cf6401c549493ea648201361a231"  # adds data/lcquad_2_0.rar
JSON_SHA256 = "734feb12e082e057129251683ce65983cc5dc8df545f2e0d4090ebfca9987dbd"  # lcquad_2_0.json inside it
NEAR_FLOOR = 0.70  # as NQ-open's: a nearer pair reaches the guards and the verifier
SAMPLE = 5  # keep one query in SAMPLE (by hash): each kind weighs ~2,000 rows in training anyway
_ENTITY = re.compile(r"wd:(Q\d+)")
_BROKEN = re.compile(r"[{}\[\]]")


def _hash(key: str) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16)


def split_of(sparql: str) -> str:
    m = _ENTITY.search(sparql)
    return "lcquad-test" if _hash(m.group(1) if m else sparql) % 5 == 0 else "train"


def _clean(text: object) -> str | None:
    """A question as written, or None where the field is missing, a template left unfilled, or
    too short to be a question."""
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    if len(text) < 12 or _BROKEN.search(text):
        return None
    return text


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def read_queries(path: Path) -> list[tuple[str, str, str | None]]:
    """(query, question, paraphrase or None) for every row with a usable question."""
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != JSON_SHA256:
        print(f"warning: {path} is not the LC-QuAD 2.0 file of CBench {CBENCH_COMMIT[:7]}; pairs will differ",
              file=sys.stderr)
    out = []
    for rec in json.loads(raw.decode("utf-8")):
        q = _clean(rec.get("question"))
        sparql = rec.get("sparql_wikidata")
        if q is None or not isinstance(sparql, str):
            continue
        p = _clean(rec.get("paraphrased_question"))
        out.append((" ".join(sparql.split()), q, p if p is not None and _norm(p) != _norm(q) else None))
    return out


def lcquad_rows(path: Path, sample: int = SAMPLE) -> list[dict[str, object]]:
    """Hits and mined near-duplicates from one query in `sample` (by a hash of the query)."""
    from mining import nearest_other

    queries = read_queries(path)
    rows: list[dict[str, object]] = []
    for sparql, q, p in queries:
        if p is not None and _hash(sparql) % sample == 0:
            rows.append({"source": "lcquad2", "split": split_of(sparql), "kind": "lcquad-hit", "label": "hit",
                         "score": None, "a": q, "b": p})
    # Neighbours among every question of the same part, so they are as near as the corpus has.
    for part in ("train", "lcquad-test"):
        mine = [(s, q) for s, q, _ in queries if split_of(s) == part]
        texts = [q for _, q in mine]
        seen: set[tuple[str, str]] = set()
        for i, j, cos in nearest_other(texts, [s for s, _ in mine]):
            a, b = texts[i], texts[j]
            key = (min(a, b), max(a, b))
            if cos < NEAR_FLOOR or key in seen or _norm(a) == _norm(b) or _hash(mine[i][0]) % sample:
                continue
            seen.add(key)
            rows.append({"source": "lcquad2", "split": part, "kind": "lcquad-near", "label": "miss",
                         "score": None, "a": a, "b": b})
    return rows
