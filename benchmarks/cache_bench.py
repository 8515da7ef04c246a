"""Answer-cache speed: lookup p50 at 1k and 100k entries, insert time, memory.

    .venv/bin/python benchmarks/cache_bench.py [--sizes 1000 100000] [--lookups 300]

Targets (README, Performance): at 100k entries a miss p50 <= 3 ms beyond the shared embedding, a
lookup that runs the verifier p50 <= 25 ms, insert <= 5 ms. Uses the real embedder; the
embedding is included in every timing (lookup and insert embed the prompt) and is also timed
alone, so "beyond the embedding" can be read off.
All entries share ONE scope (empty history, no system prompt): the worst case for the
semantic search, which only scans the query's scope. Entries are bulk-loaded with SQL for
speed, with the neighbour vectors the app makes (`AnswerCache._vectors`) and its recipe recorded, then
the cache is opened fresh, so the first lookup pays the index load (reported apart). Then the
recipe is removed and the cache opened again: that first lookup is what the first start after an
upgrade pays once, every entry embedded again (reported apart too).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatroute.cache import AnswerCache, CacheSettings  # noqa: E402
from chatroute.cache.answer_cache import _stored_features  # noqa: E402
from chatroute.cache.keys import exact_key, norm_text, scope_key  # noqa: E402
from chatroute.cache.text import features  # noqa: E402
from chatroute.embed import get_embedder  # noqa: E402
from chatroute.embed.contextual import get_contextual  # noqa: E402

TOPICS = """python java rust sql pandas numpy docker kubernetes git linux windows mac iphone android
bread cake pasta salmon chicken rice coffee tea wine beer cheese tomato basil garlic onion
marathon yoga swimming cycling tennis chess guitar piano violin painting photography
mortgage pension taxes budget savings stocks bonds insurance loan credit
volcano earthquake tsunami hurricane glacier desert forest ocean river mountain
kidney liver heart lung brain skin bone muscle blood vitamin protein
rome paris tokyo berlin madrid lisbon cairo lima sydney toronto
dog cat rabbit horse parrot goldfish hamster turtle snake lizard
resume interview salary promotion manager meeting deadline email presentation report
poem story essay letter speech haiku song joke riddle limerick""".split()
FRAMES = [
    "How do I {a} with {b}?", "What is the difference between {a} and {b}?", "Explain {a} for a {b} fan",
    "Tips for {a} and {b}", "Why is my {a} {b} not working?", "Write a {a} about {b}",
    "How does {a} affect {b}?", "Best way to combine {a} and {b}", "Is {a} good for {b}?",
    "Compare {a} to {b} in {c}",
]


def _rss_mb() -> float:
    """Current resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 1e6
    except OSError:
        return 0.0


def prompts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b, c = rng.sample(TOPICS, 3)
        out.append(rng.choice(FRAMES).format(a=a, b=b, c=c) + f" ({rng.choice(TOPICS)} {i})")
    return out


def bulk_fill(db: Path, texts: list[str]) -> None:
    import sqlite3

    # Opening the empty file makes the schema and records the current vector recipe; the
    # vectors are then made exactly as the app makes them, so a fresh open has nothing to redo.
    maker = AnswerCache(db, get_embedder().embed)
    scope = scope_key(None, [], {}, None)
    now = time.time()
    rows = []
    for start in range(0, len(texts), 2000):
        chunk = [norm_text(t) or "" for t in texts[start : start + 2000]]
        vecs = maker._vectors([_stored_features(t) for t in chunk])
        for t, v in zip(chunk, vecs, strict=True):
            blob = v.astype(np.float16).tobytes() if v is not None else None
            rows.append((exact_key(scope, t), scope, t, blob, "answer", "m", None, "turn",
                         '{"finish_reason": "stop"}', now, now))
    maker.close()
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO cache_entries (exact_key, scope, prompt, vector, text, model, pinned_model, turn_id, meta,"
        " created_at, last_used_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()


def upgrade_load(db: Path) -> float:
    """Seconds for the first lookup after an upgrade: the recipe forgotten, every entry embedded again."""
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM cache_meta WHERE key = 'recipe'")
    conn.commit()
    conn.close()
    cache = AnswerCache(db, get_embedder().embed)
    took = first_lookup_s(cache)
    cache.close()
    return took


def first_lookup_s(cache: AnswerCache) -> float:
    """Seconds for a freshly opened cache's first lookup, which loads its neighbour index."""
    t0 = time.perf_counter()
    cache.lookup(None, [], "warm up the index", {}, None, count=False)
    return time.perf_counter() - t0


def bench(size: int, lookups: int) -> dict[str, float]:
    emb = get_embedder()
    stored = prompts(size, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        bulk_fill(db, stored)
        cache = AnswerCache(db, emb.embed, CacheSettings(max_entries=size * 2))
        rss0 = _rss_mb()
        load_s = first_lookup_s(cache)
        get_contextual()  # the verifier's encoder, loaded as the app's warm-up does
        rss_delta = _rss_mb() - rss0
        index = cache._index
        index_mb = index.nbytes() / 1e6 if index is not None else 0.0

        rng = random.Random(2)
        queries = []
        for i in range(lookups):
            if i % 3 == 0:  # a stored prompt, re-asked in other words (semantic tier)
                queries.append("Can you tell me: " + rng.choice(stored).lower())
            elif i % 3 == 1:  # an exact repeat
                queries.append(rng.choice(stored))
            else:  # new
                queries.append(prompts(1, seed=10_000 + i)[0].replace("(", "[ "))
        times, hits = [], 0
        miss_ms, verified_ms, embed_ms, quick_miss_ms = [], [], [], []
        for q in queries:
            t0 = time.perf_counter()
            hit = cache.lookup(None, [], q, {}, None)
            ms = (time.perf_counter() - t0) * 1000
            times.append(ms)
            hits += hit is not None
            if cache.last_verifier is not None:
                verified_ms.append(ms)
            if hit is None:
                miss_ms.append(ms)
                if cache.last_verifier is None:  # settled by the neighbour search or the guards
                    quick_miss_ms.append(ms)
            t0 = time.perf_counter()
            emb.embed([features(q).content_text])
            embed_ms.append((time.perf_counter() - t0) * 1000)
        new = prompts(300, seed=99)
        ins = []
        for i, p in enumerate(new):
            t0 = time.perf_counter()
            cache.store(None, [], p, {}, None, "answer text", "m", f"t{i}", "stop")
            ins.append((time.perf_counter() - t0) * 1000)
        cache.close()
        reembed_s = upgrade_load(db)
    return {
        "entries": size,
        "lookup_p50_ms": statistics.median(times),
        "lookup_p90_ms": float(np.percentile(times, 90)),
        "miss_p50_ms": statistics.median(miss_ms) if miss_ms else float("nan"),
        "misses": len(miss_ms),
        "quick_miss_p50_ms": statistics.median(quick_miss_ms) if quick_miss_ms else float("nan"),
        "quick_misses": len(quick_miss_ms),
        "verified_p50_ms": statistics.median(verified_ms) if verified_ms else float("nan"),
        "verified": len(verified_ms),
        "embed_p50_ms": statistics.median(embed_ms),
        "hits": hits,
        "lookups": len(times),
        "insert_p50_ms": statistics.median(ins),
        "insert_p90_ms": float(np.percentile(ins, 90)),
        "index_load_s": load_s,
        "upgrade_load_s": reembed_s,
        "index_mb": index_mb,
        "rss_delta_mb": rss_delta,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    ap.add_argument("--lookups", type=int, default=300)
    args = ap.parse_args(argv)
    get_embedder()
    for size in args.sizes:
        r = bench(size, args.lookups)
        print(f"{r['entries']:>7} entries: lookup p50 {r['lookup_p50_ms']:.3f} ms (p90 {r['lookup_p90_ms']:.3f}), "
              f"hits {r['hits']}/{r['lookups']}; insert p50 {r['insert_p50_ms']:.3f} ms "
              f"(p90 {r['insert_p90_ms']:.3f}); index {r['index_mb']:.1f} MB in memory "
              f"(load {r['index_load_s']:.2f} s, process RSS +{r['rss_delta_mb']:.0f} MB; "
              f"first load after an upgrade, every entry embedded again: {r['upgrade_load_s']:.2f} s)")
        print(f"{'':>16} miss p50 {r['miss_p50_ms']:.3f} ms ({r['misses']} misses; embedding alone p50 "
              f"{r['embed_p50_ms']:.3f} ms, so {r['miss_p50_ms'] - r['embed_p50_ms']:.3f} ms beyond it); "
              f"lookup that ran the verifier p50 {r['verified_p50_ms']:.3f} ms ({r['verified']} lookups)")
        print(f"{'':>16} miss settled before the verifier p50 {r['quick_miss_p50_ms']:.3f} ms "
              f"({r['quick_misses']} misses, {r['quick_miss_p50_ms'] - r['embed_p50_ms']:.3f} ms beyond the embedding)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
