"""Router speed: warm decision time (p50/p99, embedding included) and cold load time.

    .venv/bin/python benchmarks/route_bench.py [--n 2000]

Cold load runs in fresh subprocesses (import + embedder + quality weights + first decision),
so nothing is cached in this process. Also timed: a 200-token prompt and a 4,000-token paste
(the router reads its head and tail). Targets (README, Performance): p50 <= 10 ms and p99 <= 25 ms at 200
tokens, p99 <= 50 ms at 4,000 tokens, cold load <= 500 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROMPTS = [
    "What is the capital of Australia?",
    "Write a Python function that merges two sorted lists in O(n).",
    "Explain the difference between TCP and UDP, with examples of when to use each.",
    "A shop sells pens at $1.25 each or 12 for $12. How much do 30 pens cost at best?",
    "Rewrite this paragraph in a friendlier tone: We regret to inform you that your request was denied.",
    "Summarise the causes of the First World War in five bullet points.",
    "Bonjour ! Peux-tu m'expliquer la photosynthèse simplement ?",
    "hi",
]

COLD = r"""
import time, sys
t = time.perf_counter()
sys.path.insert(0, %r)
from chatroute.routing.policy import RouteRequest, Router
from chatroute.catalog.models import ModelInfo
pool = [ModelInfo(id="openai/gpt-4o-mini", provider="openai", name="gpt-4o-mini", input_cost_per_mtok=0.15,
                  output_cost_per_mtok=0.6, ability=0.54, context_window=128000),
        ModelInfo(id="openai/gpt-4o", provider="openai", name="gpt-4o", input_cost_per_mtok=2.5,
                  output_cost_per_mtok=10, ability=0.61, context_window=128000)]
Router().decide(RouteRequest("What is the capital of Australia?", pool=pool))
print(time.perf_counter() - t)
"""


def pool():
    from chatroute.catalog.models import ModelInfo

    spec = [
        ("openai/gpt-4o-mini", 0.15, 0.6, 0.54),
        ("openai/gpt-4o", 2.5, 10.0, 0.61),
        ("anthropic/claude-sonnet-4-5", 3.0, 15.0, 0.86),
        ("anthropic/claude-haiku-4-5", 1.0, 5.0, 0.75),
        ("ollama/llama3.1:8b", 0.0, 0.0, 0.25),
    ]
    return [
        ModelInfo(id=i, provider=i.split("/")[0], name=i.split("/")[1], input_cost_per_mtok=a, output_cost_per_mtok=b,
                  ability=ab, context_window=128_000, max_output_tokens=16_000)
        for i, a, b, ab in spec
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from chatroute.providers.base import Message
    from chatroute.routing.health import HealthBoard
    from chatroute.routing.policy import Router, RouteRequest

    router = Router()
    p = pool()
    health = HealthBoard(path=None)
    history = [Message("user", "Tell me about sorting algorithms."), Message("assistant", "Sure... " * 50)]
    router.decide(RouteRequest("warm up", pool=p))
    times = []
    for i in range(args.n):
        prompt = PROMPTS[i % len(PROMPTS)]
        t = time.perf_counter()
        router.decide(RouteRequest(prompt, pool=p, history=history if i % 2 else (),
                                   current_model="openai/gpt-4o-mini", turn_index=i % 5, health=health))
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[int(0.99 * (len(times) - 1))]
    sized = {}
    words = ("the quick brown fox jumps over a lazy dog while we compute 17 * 23 and explain the proof ").split()
    for tokens in (200, 4000):
        text = " ".join(words[k % len(words)] + str(k % 7) for k in range(int(tokens / 1.3)))
        st = []
        for i in range(max(50, args.n // 10)):
            t = time.perf_counter()
            router.decide(RouteRequest(f"{text} ({i})", pool=p, health=health))
            st.append((time.perf_counter() - t) * 1000)
        st.sort()
        sized[tokens] = (statistics.median(st), st[int(0.99 * (len(st) - 1))])

    colds = []
    for _ in range(args.cold_runs):
        out = subprocess.check_output([sys.executable, "-c", COLD % str(REPO)], text=True)
        colds.append(float(out.strip()) * 1000)
    res = {"decisions": args.n, "pool": len(p), "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
           "max_ms": round(times[-1], 3), "cold_load_ms_median": round(statistics.median(colds), 1),
           "cold_load_ms_min": round(min(colds), 1),
           **{f"p50_ms_{k}_tokens": round(v[0], 3) for k, v in sized.items()},
           **{f"p99_ms_{k}_tokens": round(v[1], 3) for k, v in sized.items()}}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"route decision (warm, {len(p)} models, embedding included): p50 {p50:.3f} ms  p99 {p99:.3f} ms"
              f"  max {times[-1]:.2f} ms")
        for k, (a, b) in sized.items():
            print(f"{k:,}-token prompt: p50 {a:.3f} ms  p99 {b:.3f} ms")
        print(f"cold load (import + embedder + weights + first decision, subprocess): "
              f"median {statistics.median(colds):.0f} ms, min {min(colds):.0f} ms")


if __name__ == "__main__":
    main()
