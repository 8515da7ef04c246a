"""Routing rows from ZeroEval's published model outputs: scored only, never trained on.

    python scripts/build_zeroeval_rows.py <ZeroEval mirror> [--out-dir .data/routing]

The mirror comes from the search tool's `fetch` (github:WildEval/ZeroEval, Apache-2.0, commit
`8c1485e`): a git dir, or any directory holding the same `result_dirs/` tree. ZeroEval asks every
model the same zero-shot question with the same instruction (reason, then a JSON object with an
`answer`) and publishes each model's output per problem. Three of its tasks are whole in the
mirror (the other tasks' files are absent from it):

- `math-l5`: 721 level-5 competition problems from MATH (43 models);
- `crux`: 800 code-reasoning problems from CRUXEval, "complete the assertion with the output"
  (51 models);
- `gsm`: GSM8K's 1,319 test questions (44 of its 47 models). These are the questions the RouteLLM
  GSM8K rows already hold, so this file is never a training source: it is read only by
  `scripts/difficulty_ceiling.py`, beside those rows.

Each output is graded here (1.0 right, 0.0 wrong or no answer found) against the task's key: a
number for GSM8K; for MATH a number, a fraction or a LaTeX expression compared after
normalisation; for CRUX a Python literal compared by value. The prompt is the problem as ZeroEval
states it, without its answer-format instruction. Rows are written in the shared routing schema
(`ev.load_rows` reads them; `chatroute eval` scores them), one file per task, git-ignored: no
problem text is committed.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / ".data" / "routing"
TASKS = {"math-l5": "zeroeval_math_l5", "crux": "zeroeval_crux", "gsm": "zeroeval_gsm8k"}
# The same model as the RouteLLM rows' weak model, under the name those rows use.
NAMES = {"Mixtral-8x7B-Instruct-v0.1": "mistralai/Mixtral-8x7B-Instruct-v0.1"}
_QUESTION = re.compile(r"##\s*Question:\s*(.*?)\s*##\s*Instruction", re.S)
_ANSWER_FIELD = re.compile(r'"answer"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}\n]+)')
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


# --------------------------------------------------------------------------- reading the mirror


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def result_files(source: Path, task: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(model, records) for every model file of `task` present in `source`."""
    if _is_git_dir(source):
        listing = subprocess.run(["git", "--git-dir", str(source), "ls-tree", "--name-only", "HEAD",
                                  f"result_dirs/{task}/"], capture_output=True, text=True, check=True).stdout
        for path in sorted(p for p in listing.split() if p.endswith(".json")):
            blob = subprocess.run(["git", "--git-dir", str(source), "show", f"HEAD:{path}"], capture_output=True)
            if blob.returncode != 0:  # listed, but the mirror does not hold the object
                print(f"  absent from the mirror: {path}", file=sys.stderr)
                continue
            yield Path(path).stem, json.loads(blob.stdout)
        return
    for file in sorted((source / "result_dirs" / task).glob("*.json")):
        yield file.stem, json.loads(file.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- grading


def answer_of(output: Any) -> str | None:
    """The `answer` field of the JSON object the model was asked to end with (the last one)."""
    text = output[0] if isinstance(output, list) and output else output
    if not isinstance(text, str):
        return None
    found = _ANSWER_FIELD.findall(text)
    if not found:
        return None
    raw = found[-1].strip()
    if raw.startswith('"'):
        try:
            return str(json.loads(raw))
        except json.JSONDecodeError:
            return raw.strip('"')
    return raw


def _plain_number(text: str) -> float | None:
    text = text.strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def grade_number(answer: str | None, key: str) -> bool:
    """GSM8K: the last number in the answer equals the key's."""
    if answer is None:
        return False
    got, want = _NUMBER.findall(answer), _NUMBER.findall(key.split("####")[-1].split("#")[-1])
    if not got or not want:
        return False
    a, b = _plain_number(got[-1]), _plain_number(want[-1])
    return a is not None and b is not None and abs(a - b) < 1e-6


_LATEX_DROP = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\:|\\ |\\displaystyle|\^\{?\\circ\}?|\\%|%|\$")
_TEXT = re.compile(r"\\(?:text|textbf|mbox|mathrm)\{([^{}]*)\}")
_BOXED = re.compile(r"\\boxed\{(.*)\}")


def canon_math(text: str) -> str:
    """A MATH answer in one spelling: no dollar signs, sizing, spacing, degree or percent marks,
    \\dfrac as \\frac, \\frac12 as \\frac{1}{2}, \\sqrt2 as \\sqrt{2}, no "x =" in front."""
    s = text.strip()
    boxed = _BOXED.search(s)
    if boxed:
        s = boxed.group(1)
    s = _TEXT.sub(r"\1", s)
    s = _LATEX_DROP.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt(\d+|[a-z])", r"\\sqrt{\1}", s)
    s = re.sub(r"\s+", "", s).rstrip(".").lower()
    s = re.sub(r"^[a-z]=(?=.)", "", s)
    return s


def _math_value(s: str) -> float | None:
    m = re.fullmatch(r"(-?)\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}", s)
    if m:
        den = float(m.group(3))
        return None if den == 0 else (-1 if m.group(1) else 1) * float(m.group(2)) / den
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)/(-?\d+(?:\.\d+)?)", s)
    if m:
        den = float(m.group(2))
        return None if den == 0 else float(m.group(1)) / den
    return _plain_number(s) if re.fullmatch(r"-?[\d,]*\.?\d+", s) else None


def grade_math(answer: str | None, key: str) -> bool:
    """MATH: equal as numbers (integers, decimals, fractions) or as normalised LaTeX."""
    if answer is None:
        return False
    a, b = canon_math(answer), canon_math(key)
    if not a:
        return False
    va, vb = _math_value(a), _math_value(b)
    if va is not None and vb is not None:
        return abs(va - vb) <= 1e-6 * max(1.0, abs(vb))
    return a == b


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def grade_literal(answer: str | None, key: str) -> bool:
    """CRUX: the answer's Python literal has the key's value. A string key also matches the
    same characters written without quotes, as models often give a string answer."""
    if answer is None:
        return False
    want = _literal(key)
    got = _literal(answer)
    if want is None and key.strip() != "None":
        return answer.strip() == key.strip()
    if got is not None or answer.strip() == "None":
        if got == want and type(got) is type(want):
            return True
    return isinstance(want, str) and answer == want


GRADERS = {"math-l5": grade_math, "crux": grade_literal, "gsm": grade_number}


# --------------------------------------------------------------------------- rows


def prompt_of(rec: dict[str, Any], task: str) -> str:
    """The problem as ZeroEval states it, without the answer-format instruction."""
    history = rec.get("chat_history") or []
    first = history[0] if history else ""
    m = _QUESTION.search(first) if isinstance(first, str) else None
    if m:
        return m.group(1).strip()
    return str(rec.get("problem") or rec.get("question") or "").strip()


def build(source: Path, task: str) -> list[dict[str, Any]]:
    grade = GRADERS[task]
    rows: dict[str, dict[str, Any]] = {}
    for model, records in result_files(source, task):
        name = NAMES.get(model, model)
        for rec in records:
            key = str(rec["id"])
            row = rows.setdefault(key, {"id": f"zeroeval-{task}-{key}", "dataset": TASKS[task],
                                        "turns": [prompt_of(rec, task)], "scores": {},
                                        "source": f"WildEval/ZeroEval@8c1485e:result_dirs/{task}"})
            row["scores"][name] = 1.0 if grade(answer_of(rec.get("output")), str(rec["answer"])) else 0.0
    return [r for r in rows.values() if r["turns"][0]]


def ability_agreement(acc: dict[str, float]) -> tuple[int, float] | None:
    """Spearman's rank correlation between the catalogue's leaderboard ability and the graded
    accuracy, over the models the leaderboard table knows: a check of the abilities the router's
    P(good) curves take (None with fewer than three such models)."""
    from scipy.stats import spearmanr

    from chatroute.catalog.abilities import ability_prior

    priors = {m: ability_prior(m) for m in acc}
    known = [m for m, p in priors.items() if p.source == "leaderboard"]
    if len(known) < 3:
        return None
    rho = spearmanr([priors[m].value for m in known], [acc[m] for m in known]).statistic
    return len(known), float(rho)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="ZeroEval's git dir (or a directory with its result_dirs/)")
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    ap.add_argument("--task", choices=sorted(TASKS), action="append", help="default: all three")
    args = ap.parse_args(argv)
    if not args.source.is_dir():
        ap.error(f"{args.source}: not a directory")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for task in args.task or list(TASKS):
        print(f"{task}: grading", file=sys.stderr, flush=True)
        rows = build(args.source, task)
        if not rows:
            print(f"{task}: no result files found under {args.source}", file=sys.stderr)
            continue
        out = args.out_dir / f"{TASKS[task]}.jsonl.gz"
        with gzip.open(out, "wt", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        models = sorted({m for r in rows for m in r["scores"]})
        acc = {m: sum(r["scores"].get(m, 0.0) for r in rows) / sum(m in r["scores"] for r in rows) for m in models}
        print(f"{task}: {len(rows)} problems, {len(models)} models -> {out}")
        for m in models:
            print(f"  {acc[m]:.3f}  {m}")
        agreement = ability_agreement(acc)
        if agreement is not None:
            print(f"{task}: the catalogue's ability ranks the {agreement[0]} models it knows with Spearman "
                  f"rho {agreement[1]:.2f} against their graded accuracy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
