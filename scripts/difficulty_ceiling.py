"""How far a router that reads only the prompt can rank GSM8K (and MMLU): the difficulty ceiling.

    python scripts/difficulty_ceiling.py [--zeroeval .data/routing/zeroeval_gsm8k.jsonl.gz]
                                         [--rows ../shared/data/routing/train.jsonl.gz]
                                         [--mmlu-pro GIT_DIR]

The RouteLLM GSM8K rows are labelled by one run of Mixtral-8x7B and one of GPT-4-1106. ZeroEval
(`scripts/build_zeroeval_rows.py`) asked the same 1,319 questions of 44 models, Mixtral among
them. Joined by the question's text, they give each question a difficulty measured across models
(the share of the other models that got it wrong; Mixtral's and GPT-4's own runs left out) and a
second, independent run of the weak model. Ranked by those, the RouteLLM label's APGR is what a
router could reach if it knew everything about a question that carries over between models and
runs: a practical ceiling for a router trained on other sources, to set beside the issue's
target (prompt length + 0.05). The best blend with the log-length is chosen on the scored rows
themselves, so that line is optimistic by construction.

With --zeroeval-tasks the same difficulty ranks ZeroEval's own MATH level-5 and CRUX rows for
each pair loso_router scores them on, and its GSM8K rows for Mixtral -> GPT-4o (the pair's two
models left out of the difficulty), hardest first and easiest first: which end of the difficulty
scale a stronger model gains on.

With --mmlu-pro (a git dir of TIGER-AI-Lab/MMLU-Pro, as for scripts/build_mmlu_pro_rows.py) the
same is done for the RouteLLM MMLU rows, overall and per subject group, with the MMLU questions
MMLU-Pro kept (given ten options and answered with five-shot worked answers by its models) joined
by the question's stem. Those answers are worked out; RouteLLM's MMLU labels are one-token guesses.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatroute.routing import evaluate as ev  # noqa: E402
from scripts.loso_router import (  # noqa: E402
    GPT4O,
    PAIRS_OF,
    STRONG,
    TRAIN_FILE,
    WEAK,
    ZEROEVAL_FILES,
    drop_unparsed_scores,
    mmlu_group,
)

ZEROEVAL = ROOT / ".data" / "routing" / "zeroeval_gsm8k.jsonl.gz"
ROWS = TRAIN_FILE
BLENDS = np.round(np.arange(0.0, 3.01, 0.1), 2)


def question_key(text: str) -> str:
    return re.sub(r"\W+", " ", text.replace("’", "'")).strip().lower()


def first_turn(row: dict[str, Any]) -> str:
    turn = row["turns"][0]
    return str(turn["content"] if isinstance(turn, dict) else turn)


def label_model(name: str) -> bool:
    """The label's two model families, whatever the version: never part of the difficulty."""
    short = name.rsplit("/", 1)[-1].lower()
    return short.startswith(("mixtral", "gpt-4"))


def mmlu_stem(row: dict[str, Any]) -> str:
    """An MMLU row's question without its options and "Answer:"."""
    return question_key(first_turn(row).split("\nA.")[0])


def difficulty_of(scores: Sequence[dict[str, float]], others: Sequence[str]) -> np.ndarray:
    """Each problem's share of `others` that fail it (0.5 where none of them answered it; 0 for
    every problem when there are no others)."""
    if not others:
        return np.zeros(len(scores))
    acc = np.array([[s.get(m, np.nan) for m in others] for s in scores], dtype=np.float64).reshape(len(scores), -1)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(1.0 - np.nanmean(acc, axis=1), nan=0.5)


def _apgr(score: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> float:
    return float(ev.curve_metrics(score, strong, weak)["apgr"] or 0.0)


def joined(rows: Sequence[dict[str, Any]], zeroeval: Sequence[dict[str, Any]], *, dataset: str = "gsm8k",
           by_text: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """The `dataset` rows scored for both label models that the other evaluation also asked, with
    each one's difficulty across the other models and the weak model's other run (1 = it failed
    there). The other evaluation is `zeroeval` rows, or `by_text` (question key -> scores)."""
    if by_text is None:
        by_text = {question_key(first_turn(z)): z["scores"] for z in zeroeval}
    key = mmlu_stem if dataset == "mmlu" else (lambda r: question_key(first_turn(r)))
    kept = [r for r in rows if r.get("dataset") == dataset and WEAK in r["scores"] and STRONG in r["scores"]
            and key(r) in by_text]
    scores = [by_text[key(r)] for r in kept]
    others = sorted({m for s in scores for m in s if not label_model(m)})
    other_run = np.array([1.0 - s[WEAK] if WEAK in s else np.nan for s in scores])
    return {
        "rows": kept, "models": others, "difficulty": difficulty_of(scores, others),
        "weak_other_run": other_run,
        "weak": np.array([float(r["scores"][WEAK]) for r in kept]),
        "strong": np.array([float(r["scores"][STRONG]) for r in kept]),
        "length": ev.length_score(kept),
    }


def _z(v: np.ndarray) -> np.ndarray:
    sd = v.std()
    return (v - v.mean()) / sd if sd > 0 else v * 0.0


def kept_at(score: np.ndarray, strong: np.ndarray, weak: np.ndarray, share: float) -> float:
    """Quality kept against always-strong when the neediest `share` of rows (by `score`, ties
    averaged) go to the strong model: the preset report's measure."""
    x, perf = ev.routing_curve(score, strong, weak)
    return float(np.interp(share, x, perf) / max(strong.mean(), 1e-12))


def ceiling(j: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(APGR, quality kept at 60% strong calls) on the RouteLLM label of each ranking (see the
    module docstring)."""
    s, w = j["strong"], j["weak"]

    def apgr(score: np.ndarray) -> float:
        return _apgr(score, s, w)

    def both(score: np.ndarray) -> tuple[float, float]:
        return apgr(score), kept_at(score, s, w, 0.6)

    log_len = _z(np.log(np.maximum(j["length"], 1.0)))
    diff = _z(j["difficulty"])
    out = {"length": both(j["length"]), "difficulty across models": both(j["difficulty"])}
    run = j["weak_other_run"]
    has_run = bool(len(run)) and not np.isnan(run).any()
    if has_run:
        out["the weak model's other run failed"] = both(run)
    best = max(BLENDS, key=lambda a: apgr(diff + a * log_len))
    out["difficulty + best share of log-length (chosen on these rows)"] = both(diff + best * log_len)
    if has_run:
        mixed = _z(run + 0.5 * j["difficulty"])
        best_b = max(BLENDS, key=lambda a: apgr(mixed + a * log_len))
        out["other run + difficulty + best share of log-length (chosen on these rows)"] = both(mixed + best_b * log_len)
    out["oracle (the label itself)"] = both(s - w)
    return out


def run_agreement(j: dict[str, Any]) -> float | None:
    """How often the weak model's two runs (RouteLLM's, ZeroEval's) agree on a question."""
    run = j["weak_other_run"]
    return None if not len(run) or np.isnan(run).any() else float(np.mean((1.0 - run) == j["weak"]))


def difficulty_ends(rows: Sequence[dict[str, Any]], weak: str, strong: str) -> dict[str, float]:
    """APGR of the weak -> strong pair on `rows` ranked by the share of the other models that fail
    each one, hardest first and easiest first, beside length and the oracle."""
    kept = [r for r in rows if weak in r["scores"] and strong in r["scores"]]
    others = sorted({m for r in kept for m in r["scores"]} - {weak, strong})
    difficulty = difficulty_of([r["scores"] for r in kept], others)
    s = np.array([float(r["scores"][strong]) for r in kept])
    w = np.array([float(r["scores"][weak]) for r in kept])
    return {"n": float(len(kept)), "others": float(len(others)), "length": _apgr(ev.length_score(kept), s, w),
            "hardest first": _apgr(difficulty, s, w), "easiest first": _apgr(-difficulty, s, w),
            "oracle": _apgr(s - w, s, w)}


def report(title: str, j: dict[str, Any]) -> None:
    print(f"\n{title}: {len(j['rows'])} questions joined; difficulty from {len(j['models'])} other models")
    agree = run_agreement(j)
    if agree is not None:
        print(f"the weak model's two runs agree on {agree:.1%} of the questions")
    table = ceiling(j)
    print("| ranking | APGR | quality kept at 60% strong calls |\n|---|---|---|")
    for name, (value, kept) in table.items():
        print(f"| {name} | {value:.3f} | {kept:.1%} |")
    print(f"| target: length + 0.05; `balanced` >= 95% at <= 60% | {table['length'][0] + 0.05:.3f} | 95.0% |")


def mmlu_pro_scores(gitdir: Path) -> dict[str, dict[str, float]]:
    """Question stem -> {model: 1.0 right / 0.0 wrong} for the MMLU questions MMLU-Pro kept."""
    from scripts import build_mmlu_pro_rows as pro

    out: dict[str, dict[str, float]] = {}
    for model, (_, records) in pro.model_outputs(gitdir).items():
        for rec in records:
            if isinstance(rec, dict) and not pro.kept(rec):
                out.setdefault(question_key(str(rec["question"])), {})[model] = pro.correct(rec)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zeroeval", type=Path, default=ZEROEVAL, help="from scripts/build_zeroeval_rows.py")
    ap.add_argument("--rows", type=Path, default=ROWS, help="the shared routing rows (GSM8K's are used)")
    ap.add_argument("--mmlu-pro", type=Path, metavar="GIT_DIR", help="also the MMLU rows, against MMLU-Pro's models")
    ap.add_argument("--zeroeval-tasks", action="store_true",
                    help="also rank ZeroEval's MATH level-5 and CRUX rows by difficulty, both ways")
    args = ap.parse_args(argv)
    for path in (args.zeroeval, args.rows):
        if not path.exists():
            ap.error(f"{path}: not found (build it with scripts/build_zeroeval_rows.py)")
    if args.mmlu_pro is not None and not args.mmlu_pro.is_dir():
        ap.error(f"{args.mmlu_pro}: not a directory")
    rows = ev.load_rows(args.rows)
    j = joined(rows, ev.load_rows(args.zeroeval))
    if not j["rows"]:
        ap.error("no GSM8K question of the rows is in the ZeroEval file")
    report(f"GSM8K, {WEAK} -> {STRONG}", j)
    if args.zeroeval_tasks:
        # GSM8K beside them, on the one pair of the label's family ZeroEval asked.
        tasks = [(p, PAIRS_OF.get(p.name.removesuffix(".jsonl.gz"), ())) for p in ZEROEVAL_FILES]
        for path, pairs in [*tasks, (args.zeroeval, ((WEAK, GPT4O),))]:
            if not path.exists():
                ap.error(f"{path}: not found (build it with scripts/build_zeroeval_rows.py)")
            task = ev.load_rows(path)
            print(f"\n{path.name.removesuffix('.jsonl.gz')}: ranked by the share of the other models that fail "
                  "each problem")
            print("| pair | n | length | hardest first | easiest first | oracle |\n|---|---|---|---|---|---|")
            for weak, strong in pairs:
                e = difficulty_ends(task, weak, strong)
                print(f"| {weak} -> {strong} | {e['n']:.0f} | {e['length']:.3f} | {e['hardest first']:.3f} | "
                      f"{e['easiest first']:.3f} | {e['oracle']:.3f} |")
    if args.mmlu_pro is not None:
        drop_unparsed_scores(rows)
        by_text = mmlu_pro_scores(args.mmlu_pro)
        for group in (None, "stem", "humanities", "social_sciences", "other"):
            part = [r for r in rows if group is None or mmlu_group(r) == group]
            jm = joined(part, [], dataset="mmlu", by_text=by_text)
            if jm["rows"]:
                report(f"MMLU{'' if group is None else ': ' + group}, {WEAK} -> {STRONG}", jm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
