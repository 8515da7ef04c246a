"""Human formatting of turn figures: the one badge line shared by the TUI and the CLI.

Pure functions over plain records (dataclasses or dicts), so the core stays free of Textual.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatroute.money import marked_usd, usd


def attr(obj: Any, *names: str, default: Any = None) -> Any:
    """Read the first present attribute (or dict key): store objects may be dataclasses or rows."""
    for name in names:
        if isinstance(obj, dict):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return default


def short_model(model: str | None) -> str:
    """A model's name without its provider: `openai/gpt-4o` -> `gpt-4o` ('?' when unknown). A
    name with a slash of its own is kept whole: `openai/gpt-4o`, the tail of OpenRouter's
    `openrouter/openai/gpt-4o`, would read as OpenAI's own gpt-4o."""
    model = model or "?"
    name = model.split("/", 1)[-1]
    return model if "/" in name else name


def reroute_line(reroute: dict[str, Any]) -> str:
    """One reroute as the user reads it, live and reopened alike: `gpt-4o-mini 429 → claude-haiku-4-5`,
    with what the user must fix (a refused key) and the cost of an attempt billed before it failed
    (≈ when its usage was estimated, as the costs table marks it); the same model asked again with
    a lower max_tokens reads `… → again with max_tokens 3,021`; the models the budget made it skip
    close the line (`…; skipped gpt-4o: would exceed the budget ($0.0018 left)`)."""
    cost = reroute.get("cost_usd")
    approx = "≈" if reroute.get("estimated") else ""
    billed = f" (billed {approx}{usd(cost)})" if isinstance(cost, (int, float)) else ""
    hint = f" ({reroute['hint']})" if reroute.get("hint") else ""
    to = short_model(reroute.get("to"))
    if reroute.get("to") == reroute.get("from") and isinstance(reroute.get("max_tokens"), int):
        to = f"again with max_tokens {reroute['max_tokens']:,}"  # what the credit covers
    skipped = reroute.get("skipped")
    skips = f"; skipped {skipped_text(skipped)}" if isinstance(skipped, list) and skipped else ""
    return f"{short_model(reroute.get('from'))} {reroute.get('error') or ''}{hint}{billed} → {to}{skips}"


def skipped_text(skipped: list[dict[str, Any]]) -> str:
    """The models a fail-over skipped for the budget, each with why: `gpt-4o: would exceed the
    budget ($0.0018 left)`."""
    return ", ".join(f"{short_model(s.get('model'))}: {s.get('why')}" for s in skipped)


def fmt_wait(seconds: float) -> str:
    """A wait as a person reads it: `45 s`, `12 min`, `3 h`."""
    if seconds < 120:
        return f"{max(0, round(seconds))} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def fmt_tokens(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def fmt_size(n_bytes: int) -> str:
    """'812 B', '12.3 kB', '1.0 MB' (decimal units, as file managers show sizes)."""
    if n_bytes < 1000:
        return f"{n_bytes} B"
    if n_bytes < 1_000_000:
        return f"{n_bytes / 1000:.1f} kB"
    return f"{n_bytes / 1_000_000:.1f} MB"


def count_lines(text: str) -> int:
    """Lines as an editor counts them: a final line without a newline counts, an empty text has none."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def preview(text: str, *, max_lines: int, max_chars: int) -> tuple[str, str | None]:
    """The first `max_lines` lines of `text` (at most `max_chars` characters), and a one-line
    note on what was left out ('… 21,830 more lines (1.0 MB)'), or (text, None) if it all fits."""
    cut = 0
    for _ in range(max_lines):
        nl = text.find("\n", cut)
        if nl < 0 or nl >= max_chars:
            cut = len(text)
            break
        cut = nl + 1
    cut = min(cut, max_chars)
    if cut >= len(text):
        return text, None
    rest = text[cut:]
    size = fmt_size(len(text.encode("utf-8", "surrogatepass")))
    more = count_lines(rest)
    if more > 1:
        return text[:cut].rstrip("\n"), f"… {more:,} more lines ({size})"
    return text[:cut].rstrip("\n"), f"… {len(rest):,} more characters ({size})"


def fmt_age(iso: str | None, now: datetime | None = None) -> str | None:
    """'just now', '12 min ago', '2 h ago', '3 d ago' for a stored UTC timestamp."""
    if not iso:
        return None
    try:
        then = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    secs = max(0.0, ((now or datetime.now(UTC)) - then).total_seconds())
    if secs < 60:
        return "just now"
    if secs < 3600:
        return f"{secs // 60:.0f} min ago"
    if secs < 48 * 3600:
        return f"{secs // 3600:.0f} h ago"
    return f"{secs // 86400:.0f} d ago"


SOURCE_TITLE_CHARS = 32


def source_label(source: Any, now: datetime | None = None) -> str | None:
    """Where a cache hit came from, as the engine recorded it in the route (`source`):
    `from ‹Capital of Portugal›, 2 h ago`, or `from chatroute serve (my-editor), …` for a request
    another tool sent. None when nothing was recorded."""
    if not isinstance(source, dict) or not source.get("turn_id"):
        return None
    title = " ".join(str(source.get("conversation_title") or "").split())
    if not source.get("conversation_id") and source.get("client"):
        head = f"from chatroute serve ({source['client']})"
    elif not source.get("conversation_id"):
        head = "from a deleted conversation"
    elif title:
        short = title if len(title) <= SOURCE_TITLE_CHARS else title[: SOURCE_TITLE_CHARS - 1] + "…"
        head = f"from ‹{short}›"
    else:
        head = "from an untitled conversation"
    age = fmt_age(source.get("created_at"), now)
    return f"{head}, {age}" if age else head


WHY_PREFIX = "why: "


def badge_text(record: Any, *, sibling: tuple[int, int] | None = None) -> str:
    """The one-line badge under an assistant message:
    `model · why: quality 0.95 vs 0.98 at 1/25 of the cost · $cost · ttft 320 ms · 2.1 s · 85 tok/s ·
    120→340 tok` (`≈$cost` and `≈120→≈340 tok` when the usage was estimated); a cache hit:
    `model (cache) · cached 0.93 ⟵ from ‹title›, 2 h ago · $0.00 · saved ≈$0.0012 · lookup 4 ms`."""
    model = short_model(attr(record, "model"))
    kind = attr(record, "route_kind", default="routed")
    parts: list[str] = []
    head = model if kind in ("routed", None) else f"{model} ({kind})"
    parts.append(head)
    route = attr(record, "route")
    why = route.get("why") if isinstance(route, dict) and kind in ("routed", None) else None
    if why and isinstance(why, str) and model == short_model(route.get("model")):
        # After a reroute the decision's why is about the model that failed, not this one.
        parts.append(f"{WHY_PREFIX}{why}")
    status = attr(record, "status", default="ok")
    if status == "error" and not attr(record, "output_tokens"):
        # Nothing was generated: timings and tokens would only be noise. A cost would not: a
        # request chatroute hung up on once the provider had it (a timeout) is billed.
        cost = attr(record, "cost_usd")
        if isinstance(cost, (int, float)) and cost > 0:
            parts.append(marked_usd(cost, estimated=bool(attr(record, "usage_estimated"))))
        parts.append("⚠ error")
        return " · ".join(parts)
    if attr(record, "cache_status") == "hit":
        sim = attr(record, "cache_similarity")
        src = attr(record, "cache_source_turn")
        cached = f"cached {sim:.2f}" if sim is not None else "cached"
        route = attr(record, "route")
        label = source_label(route.get("source")) if isinstance(route, dict) else None
        if label:
            cached += f" ⟵ {label}"
        elif src:
            cached += f" ⟵ turn {str(src)[-6:]}"
        parts += [cached, usd(0.0)]
        saved = attr(record, "saved_usd")
        if saved:  # an estimate always (see the answer cache); unknown for a model with no known price
            parts.append(f"saved {marked_usd(saved, estimated=True)}")
        parts.append(f"lookup {fmt_ms(attr(record, 'total_ms'))}")
    else:
        # ≈ on the cost itself, as `costs` writes it: a narrow badge leaves the token counts out.
        parts.append(marked_usd(attr(record, "cost_usd"), estimated=bool(attr(record, "usage_estimated"))))
        parts.append(f"ttft {fmt_ms(attr(record, 'ttft_ms'))}")
        parts.append(fmt_ms(attr(record, "total_ms")))
        tps = attr(record, "tokens_per_s")
        parts.append(f"{tps:.0f} tok/s" if tps else "– tok/s")
        approx = "≈" if attr(record, "usage_estimated") else ""
        parts.append(f"{approx}{fmt_tokens(attr(record, 'input_tokens'))}→"
                     f"{approx}{fmt_tokens(attr(record, 'output_tokens'))} tok")
    if isinstance(route, dict) and route.get("usage_warning"):
        parts.append("⚠ usage report refused")
    if status == "interrupted":
        parts.append("⚠ interrupted")
    elif attr(record, "finish_reason") == "length":
        parts.append("⚠ cut at max tokens")
    elif status == "error":
        parts.append("⚠ error")
    if sibling and sibling[1] > 1:
        parts.append(f"‹{sibling[0]}/{sibling[1]}›")
    return " · ".join(parts)
