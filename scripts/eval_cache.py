"""Evaluate the answer cache on the labelled pair set (tests/data/cache_pairs.jsonl).

For each pair: a fresh cache stores an answer for `cached`, then looks up `new`. A hit on a
"miss" pair is a false hit. Prints false-hit rate (target <= 1%), hit rate on true paraphrases
(target >= 50%), per category and per split (tune / heldout), and a threshold sweep.

    .venv/bin/python scripts/eval_cache.py [--pairs PATH] [--threshold 0.9] [--show-misses]

Uses the real embedder (chatroute.embed). One SQLite file per threshold, cleared per pair.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatroute.cache import AnswerCache, CacheSettings  # noqa: E402
from chatroute.cache.answer_cache import DEFAULT_THRESHOLD  # noqa: E402

PAIRS = ROOT / "tests" / "data" / "cache_pairs.jsonl"


@dataclass
class Outcome:
    pair: dict[str, Any]
    hit: bool
    similarity: float | None
    reason: str | None


def load_pairs(path: Path = PAIRS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run(pairs: list[dict[str, Any]], threshold: float, embed: Any = None) -> list[Outcome]:
    if embed is None:
        from chatroute.embed import get_embedder

        embed = get_embedder().embed
    with tempfile.TemporaryDirectory() as tmp:
        cache = AnswerCache(Path(tmp) / "eval.db", embed, CacheSettings(threshold=threshold))
        out = []
        for p in pairs:
            cache.clear()
            c, n = p["cached"], p["new"]
            cache.store(c["system"], c["history"], c["prompt"], {}, None, "cached answer", "m", "t", "stop")
            hit = cache.lookup(n["system"], n["history"], n["prompt"], {}, None, count=False)
            out.append(Outcome(p, hit is not None, hit.similarity if hit else None, None if hit else cache.last_reason))
        cache.close()
    return out


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    must_miss = [o for o in outcomes if o.pair["label"] == "miss"]
    para = [o for o in outcomes if o.pair["category"] == "paraphrase"]
    should_hit = [o for o in outcomes if o.pair["label"] == "hit"]
    false_hits = sum(o.hit for o in must_miss)
    return {
        "pairs": len(outcomes),
        "false_hit_rate": false_hits / max(1, len(must_miss)),
        "false_hits": false_hits,
        "must_miss": len(must_miss),
        "paraphrase_hit_rate": sum(o.hit for o in para) / max(1, len(para)),
        "paraphrases": len(para),
        "should_hit_rate": sum(o.hit for o in should_hit) / max(1, len(should_hit)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=Path, default=PAIRS)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--show-misses", action="store_true", help="list wrong outcomes with the reason")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-sweep", action="store_true", help="skip the threshold sweep (large pair files)")
    args = ap.parse_args(argv)
    pairs = load_pairs(args.pairs)
    outcomes = run(pairs, args.threshold)

    report: dict[str, Any] = {"threshold": args.threshold, "overall": summarise(outcomes)}
    for split in ("tune", "heldout"):
        report[split] = summarise([o for o in outcomes if o.pair.get("split") == split])
    by_cat: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_cat[o.pair["category"]].append(o)
    report["categories"] = {
        cat: {"label": os_[0].pair["label"], "n": len(os_), "hits": sum(o.hit for o in os_)}
        for cat, os_ in sorted(by_cat.items())
    }
    # Pair files built from several parts of a corpus (build_comqa_pairs.py) say which in "source".
    by_src: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if "source" in o.pair:
            by_src[f"{o.pair['source']} / {o.pair['category']}"].append(o)
    report["sources"] = {
        key: {"label": os_[0].pair["label"], "n": len(os_), "hits": sum(o.hit for o in os_)}
        for key, os_ in sorted(by_src.items())
    }
    sweep: dict[str, dict[str, float]] = {}
    for t in () if args.no_sweep else (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.97):
        s = summarise(run(pairs, t))
        sweep[f"{t:.2f}"] = {"false_hit_rate": s["false_hit_rate"], "paraphrase_hit_rate": s["paraphrase_hit_rate"]}
    report["sweep"] = sweep

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"threshold {args.threshold:.2f}  (similarity = cosine of the prompts' topic words)")
    for name in ("overall", "tune", "heldout"):
        s = report[name]
        print(f"  {name:8s} pairs={s['pairs']:3d}  false-hit rate {s['false_hit_rate']:.1%} "
              f"({s['false_hits']}/{s['must_miss']})  paraphrase hit rate {s['paraphrase_hit_rate']:.1%} "
              f"(of {s['paraphrases']})  all should-hit {s['should_hit_rate']:.1%}")
    print("per category (hits / pairs):")
    for cat, c in report["categories"].items():
        want = "should hit" if c["label"] == "hit" else "must miss"
        print(f"  {cat:22s} {want:10s} {c['hits']:3d}/{c['n']:3d}")
    if report["sources"]:
        print("per source (hits / pairs):")
    for key, c in report["sources"].items():
        want = "should hit" if c["label"] == "hit" else "must miss"
        print(f"  {key:36s} {want:10s} {c['hits']:4d}/{c['n']:4d} ({c['hits'] / max(1, c['n']):.1%})")
    if sweep:
        print("threshold sweep:")
    for bar, rates in sweep.items():
        print(f"  {bar}  false-hit {rates['false_hit_rate']:.1%}  paraphrase hit {rates['paraphrase_hit_rate']:.1%}")
    if args.show_misses:
        print("wrong outcomes:")
        for o in outcomes:
            if o.hit != (o.pair["label"] == "hit"):
                tag = "FALSE HIT" if o.hit else f"missed ({o.reason})"
                print(f"  [{o.pair['category']}] {tag}: {o.pair['cached']['prompt']!r} -> {o.pair['new']['prompt']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
