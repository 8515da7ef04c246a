"""Per preset and dataset: the share of strong calls and the quality kept against always-strong.

    .venv/bin/python scripts/preset_report.py [--limit 800]

The router decides as in the app (Router.decide, shipped weights) for the pool gpt-4o-mini +
gpt-4o; the labels stand in for the pair: gpt-4o-mini's turn is scored with Mixtral's label
and gpt-4o's with GPT-4-1106's. Rows: the fixed held-out split of mmlu, gsm8k and
arena_bench_v1 (never trained on), the alpaca_eval rows (score only, GPT-3.5-turbo-1106 as
the weak model's label) and, when scripts/build_mmlu_pro_rows.py has written them, the MMLU-Pro
rows (never trained on; there gpt-4o's turn is scored with GPT-4o's own label), and with the
ZeroEval rows (scripts/build_zeroeval_rows.py) too, loso_router's benchmark-mix stand-in (equal
parts of competition maths, exams and biology; Llama 3.1 8B's label for gpt-4o-mini's turn,
GPT-4o's for gpt-4o's).

A second table asks whether any operating point could do better: for each dataset, the quality
kept when exactly 40 / 50 / 60% of its rows go to the strong model, the neediest first by the
router's own ranking, by prompt length, and by the labels themselves (the oracle). If the
router's ranking keeps less than 95% at 60%, no setting of `balanced` meets both of its targets
on that dataset; only a better ranking would.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chatroute.catalog.models import ModelInfo  # noqa: E402
from chatroute.routing import evaluate as ev  # noqa: E402
from chatroute.routing.policy import Router, RouteRequest  # noqa: E402
from chatroute.routing.quality import get_quality_model  # noqa: E402
from scripts import loso_router as lo  # noqa: E402

POOL = [
    ModelInfo(id="openai/gpt-4o-mini", provider="openai", name="gpt-4o-mini", input_cost_per_mtok=0.15,
              output_cost_per_mtok=0.6, ability=0.54, context_window=128_000, max_output_tokens=16_000),
    ModelInfo(id="openai/gpt-4o", provider="openai", name="gpt-4o", input_cost_per_mtok=2.5,
              output_cost_per_mtok=10.0, ability=0.61, context_window=128_000, max_output_tokens=16_000),
]
PRESETS = ("best", "balanced", "frugal")
SHARES = (0.4, 0.5, 0.6)


def kept_at_share(order: np.ndarray, sw: np.ndarray, ss: np.ndarray, share: float) -> float:
    """Quality kept against always-strong when the first `share` of rows in `order` (neediest
    first) go to the strong model and the rest to the weak one."""
    strong = np.zeros(len(sw), dtype=bool)
    strong[order[: int(round(share * len(sw)))]] = True
    return float(np.where(strong, ss, sw).mean() / ss.mean())


BENCH_MIX = lo.BENCH_MIX
BENCH_MIX_PAIR = lo.BENCH_MIX_PAIRS[1]  # Llama 3.1 8B -> GPT-4o


def bench_mix_rows(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """loso_router's benchmark-mix stand-in as one dataset: an equal share of `limit` rows from each
    of its parts (an even spread over each), labelled Llama 3.1 8B -> GPT-4o; [] without its sources."""
    weak, strong = BENCH_MIX_PAIR
    parts = [[r for r in rows if keep(r) and weak in r["scores"] and strong in r["scores"]]
             for _, keep in lo.BENCH_MIX_PARTS]
    if any(not p for p in parts):
        return []
    each = min(limit // len(parts), *(len(p) for p in parts))
    return [r for p in parts for r in p[:: len(p) // each][:each]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=800, help="rows per dataset (a fixed sample)")
    args = ap.parse_args()
    rows = lo.load_rows([lo.TRAIN_FILE, lo.ARENA_FILE, lo.MMLU_PRO_FILE, *lo.ZEROEVAL_FILES])
    lo.same_model_names(rows)
    sets = {
        d: [r for r in rows if r["dataset"] == d and lo.held_out(r["id"])] for d in ("mmlu", "gsm8k", "arena_bench_v1")
    }
    sets["alpaca_eval (score only)"] = [r for r in rows if r["dataset"] == "alpaca_eval"]
    sets["mmlu_pro (never trained on)"] = [r for r in rows if r["dataset"] == "mmlu_pro"]
    sets[BENCH_MIX] = bench_mix_rows(rows, args.limit)
    labelled: dict[str, tuple[list[dict[str, Any]], np.ndarray, np.ndarray, str, str]] = {}
    print("| dataset | n | preset | strong calls | quality kept vs always-strong | always-weak |")
    print("|---|---|---|---|---|---|")
    for name, rs in sets.items():
        if not rs:
            continue
        if name == BENCH_MIX:
            weak, label = BENCH_MIX_PAIR
        else:
            weak = lo.GPT35 if name.startswith("alpaca") else lo.WEAK
            label = lo.strong_of(rs[0])  # the datasets' own stronger model: GPT-4o on MMLU-Pro
        rs = [r for r in rs if weak in r["scores"] and label in r["scores"]]
        rs = rs[:: max(1, len(rs) // args.limit)][: args.limit]
        sw = np.array([float(r["scores"][weak]) for r in rs])
        ss = np.array([float(r["scores"][label]) for r in rs])
        labelled[name] = (rs, sw, ss, weak, label)
        for preset in PRESETS:
            router = Router(preset=preset, learn=False)
            strong = np.array([router.decide(RouteRequest(r["turns"][-1], pool=POOL)).model == "openai/gpt-4o"
                               for r in rs])
            kept = np.where(strong, ss, sw).mean() / ss.mean()
            print(f"| {name} | {len(rs)} | {preset} | {strong.mean():.0%} | {kept:.1%} | {sw.mean() / ss.mean():.1%} |",
                  flush=True)
    print()
    print("| dataset | ranking | " + " | ".join(f"kept at {s:.0%} strong" for s in SHARES) + " |")
    print("|---|---|" + "---|" * len(SHARES))
    qm = get_quality_model()
    for name, (rs, sw, ss, weak, label) in labelled.items():
        scores = {
            "router": qm.pair_scores([list(r["turns"]) for r in rs], weak, label),
            "prompt length": ev.length_score(rs),
            "oracle": ss - sw,
        }
        for ranking, sc in scores.items():
            order = np.argsort(-np.asarray(sc, dtype=np.float64), kind="stable")
            cells = " | ".join(f"{kept_at_share(order, sw, ss, s):.1%}" for s in SHARES)
            print(f"| {name} | {ranking} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
