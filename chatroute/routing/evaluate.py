"""`chatroute eval`: score a router on labelled prompts, the way RouteLLM does.

Two-model framing per dataset: a weak and a strong model, and a router score per prompt
(higher = more worth sending to the strong model). Sending the top k% of prompts (by score)
to the strong model traces a performance-vs-%strong-calls curve from the weak model's mean
(0%) to the strong model's mean (100%).

- PGR(k) = (perf(k) - weak) / (strong - weak), the share of the quality gap recovered.
- APGR   = area under PGR over %strong in [0, 1] (RouteLLM: trapezoid over the threshold
           points; we use every prompt as a threshold, the finest curve; ties in the score
           are averaged, which is the expectation over random tie-breaking).
- CPT(x) = the smallest % of strong calls at which the curve reaches x of the gap
           (linear between points).
- 95% quality: the smallest share of strong calls reaching 95% of the strong model's mean,
           and the cost saving against always-strong at that point,
           saving = 1 - (f + (1 - f) * cost_ratio), cost_ratio = weak cost / strong cost per
           call (0 unless given: then the saving equals the share of strong calls avoided).

Baselines: prompt length (more characters -> strong), random (exact expectation: the
diagonal), and the oracle (sorted by the true gap; the ceiling any router can reach).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

Row = dict[str, Any]
# (rows, weak, strong) -> score per row, higher = route to strong
ScoreFn = Callable[[Sequence[Row], str, str], np.ndarray]

QUALITY_TARGET = 0.95
# Scores are 0..1 in the shared data; other scales (1-10 grades) fit well inside this bound, and
# within it every mean, gap and curve point stays finite.
MAX_ABS_SCORE = 1_000_000
GZIP_MAGIC = b"\x1f\x8b"


def load_rows(path: str | Path, stream: BinaryIO | None = None) -> list[Row]:
    """Rows of a labelled JSONL file in the shared schema, gzip-compressed or not (told by its
    first bytes, not its name). `stream`: read from it instead, named `path` in errors."""
    p = Path(path)
    with contextlib.ExitStack() as stack:
        raw = stream if stream is not None else stack.enter_context(open(p, "rb"))
        lines: Iterable[bytes] = raw
        if _peek(raw, 2) == GZIP_MAGIC:
            lines = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        try:
            return [row for n, line in enumerate(lines, 1) if (row := _row(p, n, line)) is not None]
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ValueError(f"{p}: damaged gzip data ({exc})") from None


def _peek(fh: BinaryIO, size: int) -> bytes:
    """The first bytes of `fh`, left unread: a pipe cannot seek back, a BufferedReader can peek."""
    peek = getattr(fh, "peek", None)
    if peek is not None:
        return bytes(peek(size)[:size])
    start = fh.tell()
    head = fh.read(size)
    fh.seek(start)
    return head


def _row(p: Path, n: int, raw_line: bytes) -> Row | None:
    try:
        line = raw_line.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{p}:{n}: not UTF-8 text") from None
    if not line:
        return None
    try:
        row = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}:{n}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError(f"{p}:{n}: nested too deeply to be a labelled row") from None
    except ValueError as exc:  # NaN or Infinity
        raise ValueError(f"{p}:{n}: {exc}") from None
    if not isinstance(row, dict):
        raise ValueError(f"{p}:{n}: a row must be a JSON object, not {_json_kind(row)}")
    turns = _user_turns(row.get("turns"))
    if turns is None or not isinstance(row.get("scores"), dict):
        raise ValueError(f"{p}:{n}: needs 'turns' (list of user messages) and 'scores' (object)")
    for model, score in row["scores"].items():
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise ValueError(f"{p}:{n}: the score of {str(model)[:60]!r} is {_json_kind(score)}, not a number")
        if not _score_in_range(score):
            raise ValueError(f"{p}:{n}: the score of {str(model)[:60]!r} is {_shown(score)}, "
                             f"out of range (scores are finite, within ±{MAX_ABS_SCORE:,.0f})")
    row["turns"] = turns
    return row


def _score_in_range(score: float) -> bool:
    # Compared as parsed, never through float(), which raises OverflowError on a 400-digit JSON
    # integer. 1e400 parses as inf (every mean and gap would be inf or nan); inf and nan fail here.
    return -MAX_ABS_SCORE <= score <= MAX_ABS_SCORE


def _shown(score: float) -> str:
    if isinstance(score, float):
        return "infinite (a number beyond the float range)" if math.isinf(score) else f"{score:g}"
    text = str(score)
    return text if len(text) <= 24 else f"{text[:20]}… ({len(text.lstrip('-'))} digits)"


def _no_constant(name: str) -> float:
    # NaN / Infinity are not JSON, and a non-finite score would poison every mean.
    raise ValueError(f"non-finite number {name}")


def _json_kind(value: Any) -> str:
    return {list: "a list", str: "a string", dict: "an object", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def _user_turns(value: Any) -> list[str] | None:
    """The user messages of a row. The shared schema is a list of strings; files exported from
    chat logs often hold one string or chat messages ({"role", "content"}), so accept those and
    keep the user's turns (the router reads what the user wrote, not the answers)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return None
    turns: list[str] = []
    for item in value:
        if isinstance(item, str):
            turns.append(item)
        elif isinstance(item, dict) and isinstance(item.get("content"), str):
            if item.get("role", "user") == "user":
                turns.append(item["content"])
        else:
            return None
    return turns or None


# --------------------------------------------------------------------------- curve metrics


def routing_curve(score: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x = share of strong calls (0..1, n+1 points), perf = mean score at that share."""
    score = np.asarray(score, dtype=np.float64)
    n = len(score)
    order = np.argsort(-score, kind="stable")
    s_sorted = score[order]
    gain = (np.asarray(strong, dtype=np.float64) - np.asarray(weak, dtype=np.float64))[order]
    # Tie blocks: any order within a block is equally likely, so each position gains the mean.
    if n:
        starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
        ends = np.r_[starts[1:], n]
        sums = np.add.reduceat(gain, starts)
        gain = np.repeat(sums / (ends - starts), ends - starts)
    perf = (float(np.sum(weak)) + np.r_[0.0, np.cumsum(gain)]) / max(1, n)
    return np.arange(n + 1) / max(1, n), perf


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def apgr_from_curve(x: np.ndarray, perf: np.ndarray, weak_mean: float, strong_mean: float) -> float | None:
    gap = strong_mean - weak_mean
    if abs(gap) < 1e-12:
        return None
    return _trapezoid((perf - weak_mean) / gap, x)


def calls_to_reach(x: np.ndarray, perf: np.ndarray, target: float) -> float:
    """Smallest share of strong calls where the curve reaches `target` (linear between points)."""
    hit = np.flatnonzero(perf >= target - 1e-12)
    if hit.size == 0:
        return 1.0
    k = int(hit[0])
    if k == 0:
        return 0.0
    p0, p1 = perf[k - 1], perf[k]
    frac = (target - p0) / (p1 - p0) if p1 > p0 else 1.0
    return float(x[k - 1] + frac * (x[k] - x[k - 1]))


def curve_metrics(
    score: np.ndarray, strong: np.ndarray, weak: np.ndarray, *, cost_ratio: float = 0.0
) -> dict[str, float | None]:
    x, perf = routing_curve(score, strong, weak)
    return _metrics_from_curve(x, perf, float(np.mean(weak)), float(np.mean(strong)), cost_ratio)


def _metrics_from_curve(
    x: np.ndarray, perf: np.ndarray, wm: float, sm: float, cost_ratio: float
) -> dict[str, float | None]:
    gap = sm - wm
    out: dict[str, float | None] = {"apgr": apgr_from_curve(x, perf, wm, sm)}
    for pct in (50, 80):
        out[f"cpt{pct}"] = None if gap <= 0 else 100.0 * calls_to_reach(x, perf, wm + pct / 100 * gap)
    f95 = calls_to_reach(x, perf, QUALITY_TARGET * sm)
    out["strong_calls_at_95"] = 100.0 * f95
    out["cost_saving_at_95"] = 100.0 * (1.0 - (f95 + (1.0 - f95) * cost_ratio))
    return out


def random_metrics(strong: np.ndarray, weak: np.ndarray, *, cost_ratio: float = 0.0) -> dict[str, float | None]:
    """The random router's exact expectation: the straight line from weak to strong."""
    wm, sm = float(np.mean(weak)), float(np.mean(strong))
    x = np.array([0.0, 1.0])
    return _metrics_from_curve(x, np.array([wm, sm]), wm, sm, cost_ratio)


def apgr_thresholds(score: np.ndarray, strong: np.ndarray, weak: np.ndarray, n_points: int = 11) -> float | None:
    """The coarse RouteLLM-style APGR: mean PGR over score quantile thresholds 0..100%
    (route to strong when score >= threshold, `>` at 100% so the end points are all-strong
    and all-weak). This is how shared/data/routing/README.md's baselines were computed."""
    score = np.asarray(score, dtype=np.float64)
    wm, sm = float(np.mean(weak)), float(np.mean(strong))
    if abs(sm - wm) < 1e-12:
        return None
    qs = np.quantile(score, np.linspace(0, 1, n_points))
    vals = []
    for k, q in enumerate(qs):
        m = score > q if k == n_points - 1 else score >= q
        vals.append((float(np.where(m, strong, weak).mean()) - wm) / (sm - wm))
    return float(np.mean(vals))


# --------------------------------------------------------------------------- evaluation


def length_score(rows: Sequence[Row]) -> np.ndarray:
    return np.array([sum(len(t) for t in r["turns"]) for r in rows], dtype=np.float64)


def default_pair(rows: Sequence[Row]) -> tuple[str, str]:
    """(weak, strong): the lowest- and highest-mean-scoring models of these rows."""
    sums: dict[str, list[float]] = {}
    for r in rows:
        for m, v in r["scores"].items():
            sums.setdefault(m, []).append(float(v))
    if len(sums) < 2:
        raise ValueError("need at least two scored models")
    means = {m: float(np.mean(v)) for m, v in sums.items()}
    ranked = sorted(means, key=lambda m: (means[m], m))
    return ranked[0], ranked[-1]


Progress = Callable[[int, int], None]  # (prompts scored so far, prompts to score)
PROGRESS_CHUNK = 250


def model_score_fn(progress: Progress | None = None) -> ScoreFn:
    """The shipped quality model's win-rate score: P(strong good) - P(weak good). With
    `progress`, prompts are scored in chunks and it is told after each one."""
    from chatroute.routing.quality import get_quality_model

    qm = get_quality_model()

    def score(rows: Sequence[Row], weak: str, strong: str) -> np.ndarray:
        convs = [list(r["turns"]) for r in rows]
        if progress is None:
            return qm.pair_scores(convs, weak, strong)
        parts = []
        for start in range(0, len(convs), PROGRESS_CHUNK):
            parts.append(qm.pair_scores(convs[start:start + PROGRESS_CHUNK], weak, strong))
            progress(min(start + PROGRESS_CHUNK, len(convs)), len(convs))
        return np.concatenate(parts) if parts else np.zeros(0)

    return score


def evaluate_rows(
    rows: Iterable[Row],
    weak: str | None = None,
    strong: str | None = None,
    router: ScoreFn | None = None,
    *,
    cost_ratio: float | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Metrics per dataset for the router, the length baseline, random and the oracle.
    `progress(dataset, scored, total)` follows the shipped model's scoring of each dataset."""
    by_ds: dict[str, list[Row]] = {}
    for r in rows:
        by_ds.setdefault(str(r.get("dataset") or "all"), []).append(r)
    ratio = 0.0 if cost_ratio is None else float(cost_ratio)
    out: dict[str, dict[str, Any]] = {}
    for ds in sorted(by_ds):
        ds_rows = by_ds[ds]
        w_name, s_name = weak, strong
        lone: str | None = None  # the one model this dataset scores, when it scores only one
        if w_name is None or s_name is None:
            try:
                dw, dst = default_pair(ds_rows)
            except ValueError:
                # No pair to rank here; the file's other datasets are still scored on their own.
                lone = next((str(m) for r in ds_rows for m in r["scores"]), "none")
                dw = dst = lone
            w_name = w_name or dw
            s_name = s_name or dst
        used = [] if lone else [r for r in ds_rows if w_name in r["scores"] and s_name in r["scores"]]
        res: dict[str, Any] = {
            "weak": w_name,
            "strong": s_name,
            "n": len(used),
            "skipped": len(ds_rows) - len(used),
            "cost_ratio": ratio,
        }
        if lone:
            res["error"] = f"only one model is scored here ({lone}): a weak and a strong one are needed"
            out[ds] = res
            continue
        if len(used) < 2:
            res["error"] = f"fewer than two prompts scored for both {w_name} and {s_name}"
            out[ds] = res
            continue
        sw = np.array([float(r["scores"][w_name]) for r in used])
        ss = np.array([float(r["scores"][s_name]) for r in used])
        res["weak_mean"] = float(sw.mean())
        res["strong_mean"] = float(ss.mean())
        score_fn = router or model_score_fn(None if progress is None else partial(progress, ds))
        rs = np.asarray(score_fn(used, w_name, s_name), dtype=np.float64)
        ls = length_score(used)
        res["router"] = curve_metrics(rs, ss, sw, cost_ratio=ratio)
        res["length"] = curve_metrics(ls, ss, sw, cost_ratio=ratio)
        res["length"]["apgr_11_thresholds"] = apgr_thresholds(ls, ss, sw)
        res["random"] = random_metrics(ss, sw, cost_ratio=ratio)
        res["oracle"] = curve_metrics(ss - sw, ss, sw, cost_ratio=ratio)
        out[ds] = res
    return out


def evaluate_file(
    path: str | Path,
    weak: str | None = None,
    strong: str | None = None,
    router: ScoreFn | None = None,
    *,
    cost_ratio: float | None = None,
) -> dict[str, dict[str, Any]]:
    """`chatroute eval FILE`: metrics keyed by dataset (JSON-ready)."""
    return evaluate_rows(load_rows(path), weak, strong, router, cost_ratio=cost_ratio)


# --------------------------------------------------------------------------- formatting


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.1f}%" if pct else f"{v:.3f}"


def format_table(result: dict[str, dict[str, Any]]) -> str:
    """Plain-text report, one block per dataset."""
    lines: list[str] = []
    for ds, res in result.items():
        lines.append(f"{ds}: weak {res['weak']} vs strong {res['strong']}  (n={res['n']}, skipped {res['skipped']})")
        if "error" in res:
            lines.append(f"  {res['error']}")
            lines.append("")
            continue
        lines.append(f"  weak mean {res['weak_mean']:.4f}  strong mean {res['strong_mean']:.4f}")
        lines.append(f"  {'method':<8} {'APGR':>7} {'CPT50':>7} {'CPT80':>7} {'strong@95':>10} {'saving@95':>10}")
        for method in ("router", "length", "random", "oracle"):
            m = res[method]
            lines.append(
                f"  {method:<8} {_fmt(m['apgr']):>7} {_fmt(m['cpt50'], True):>7} {_fmt(m['cpt80'], True):>7}"
                f" {_fmt(m['strong_calls_at_95'], True):>10} {_fmt(m['cost_saving_at_95'], True):>10}"
            )
        r, ln = res["router"]["apgr"], res["length"]["apgr"]
        if r is not None and ln is not None:
            lines.append(f"  router - length APGR: {r - ln:+.3f}")
        if res["cost_ratio"] == 0.0:
            lines.append("  (saving assumes the weak model costs nothing; pass --cost-ratio for real prices)")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
