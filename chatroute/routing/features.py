"""Features of one turn for the router: the embedding, cheap lexical signals, conversation state.

Everything here is numpy + regex and runs in ~50 microseconds for a short prompt. The lexical
signals are deliberately generic (code, math, numbers, constraints, format asks, language,
length) and never name a benchmark's format, so a model trained on them does not learn
"this is MMLU" shortcuts that fail on other sources.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Weight of the previous user turns in the embedding. A follow-up like "now make it shorter"
# says little alone; a little context tells the model what the conversation is about, while
# the last message still dominates.
CONTEXT_WEIGHT = 0.35
MAX_CONTEXT_TURNS = 3
MAX_SCAN_CHARS = 20_000  # lexical scans look at head + tail only, so a 1 MB paste stays cheap

_NUM = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+", re.UNICODE)
_SENT_END = re.compile(r"[.!?。！？](?:\s|$)")
_CODE_FENCE = re.compile(r"```|~~~")
_CODE_TOKENS = re.compile(
    r"\b(def|class|return|import|function|const|let|var|public|static|void|int|printf|println|"
    r"SELECT|FROM|WHERE|#include|lambda|async|await|fn|impl|struct)\b|[{};]\s*$|=>|->|::|\(\)",
    re.MULTILINE,
)
_CODE_ASK = re.compile(
    r"\b(code|function|script|program|python|javascript|typescript|java|c\+\+|rust|golang|sql|regex|"
    r"bash|shell|api|bug|debug|compile|algorithm|implement|refactor|stack ?trace|exception)\b",
    re.I,
)
_MATH = re.compile(
    r"\\frac|\\sqrt|\\sum|\\int|\$[^$]+\$|\^\d|\b(equation|solve|calculate|compute|integral|derivative|"
    r"probability|prove|theorem|matrix|polynomial|sqrt|log|sin|cos|percent|ratio|average|sum|product)\b|"
    r"[=+*/×÷<>≤≥]\s*\d",
    re.I,
)
_STEPS = re.compile(
    r"\b(step[- ]by[- ]step|first|then|after that|finally|next|explain why|reason|justify|compare|"
    r"analy[sz]e|evaluate|pros and cons|trade-?offs?|how many|how much|what is the total)\b",
    re.I,
)
_CONSTRAINT = re.compile(
    r"\b(must|should|exactly|at least|at most|no more than|without|only|do not|don't|never|always|"
    r"each|every|must not|ensure|make sure|limit|within \d+)\b",
    re.I,
)
_FORMAT = re.compile(
    r"\b(list|bullet|table|json|yaml|csv|markdown|format|outline|numbered|headings?|"
    r"\d+ (?:words|sentences|paragraphs|items|points|examples))\b",
    re.I,
)
_CREATIVE = re.compile(
    r"\b(poem|story|haiku|lyrics|song|essay|slogan|joke|tweet|email|letter|blog|imagine|pretend|"
    r"role-?play|brainstorm|names? for|rewrite|paraphrase|summari[sz]e|translate)\b",
    re.I,
)
_FRACTION = re.compile(r"\b\d+/\d+\b|\b(half|third|quarter|twice|double|triple)\b", re.I)
_BULLET_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)

LEXICAL_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_sentences",
    "questions",
    "log_numbers",
    "log_distinct_numbers",
    "log_max_number",
    "has_decimal",
    "has_fraction",
    "code_fence",
    "code_tokens",
    "code_ask",
    "math",
    "steps",
    "constraints",
    "format_ask",
    "creative",
    "bullet_lines",
    "non_ascii",
    "symbol_ratio",
    "avg_word_len",
    "newline_ratio",
)
STATE_NAMES: tuple[str, ...] = ("log_turn_index", "log_context_chars")


def _scan_text(text: str) -> str:
    if len(text) <= MAX_SCAN_CHARS:
        return text
    half = MAX_SCAN_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def _count(rx: re.Pattern[str], text: str, cap: int = 20) -> float:
    n = 0
    for _ in rx.finditer(text):
        n += 1
        if n >= cap:
            break
    return math.log1p(n)


def lexical_features(text: str) -> np.ndarray:
    """Generic surface signals of one message, as float32 in LEXICAL_NAMES order."""
    full_len = len(text)
    t = _scan_text(text)
    words = _WORD.findall(t)
    n_words = len(words) if full_len == len(t) else int(len(words) * full_len / max(1, len(t)))
    nums = _NUM.findall(t)
    max_num = 0.0
    for n in nums[:200]:
        try:
            max_num = max(max_num, float(n.replace(",", "")))
        except ValueError:
            pass
    n_chars = max(1, len(t))
    non_ascii = sum(1 for c in t if ord(c) > 127) / n_chars
    symbols = sum(1 for c in t if not (c.isalnum() or c.isspace())) / n_chars
    vals = (
        math.log1p(full_len),
        math.log1p(n_words),
        math.log1p(len(_SENT_END.findall(t))),
        math.log1p(t.count("?") + t.count("？")),
        math.log1p(len(nums)),
        math.log1p(len(set(nums))),
        math.log1p(min(max_num, 1e12)) / 5.0,
        1.0 if re.search(r"\d\.\d", t) else 0.0,
        1.0 if _FRACTION.search(t) else 0.0,
        1.0 if _CODE_FENCE.search(t) else 0.0,
        _count(_CODE_TOKENS, t),
        _count(_CODE_ASK, t),
        _count(_MATH, t),
        _count(_STEPS, t),
        _count(_CONSTRAINT, t),
        _count(_FORMAT, t),
        _count(_CREATIVE, t),
        _count(_BULLET_LINE, t),
        non_ascii,
        symbols,
        (sum(len(w) for w in words) / len(words) / 10.0) if words else 0.0,
        t.count("\n") / n_chars * 10.0,
    )
    return np.asarray(vals, dtype=np.float32)


def state_features(turn_index: int, context_chars: int) -> np.ndarray:
    return np.asarray([math.log1p(max(0, turn_index)), math.log1p(max(0, context_chars))], dtype=np.float32)


@dataclass(frozen=True)
class TurnFeatures:
    """Everything the quality and length models read about one turn."""

    embedding: np.ndarray  # (dim,) unit vector: last user message with a little context
    lexical: np.ndarray  # (len(LEXICAL_NAMES),)
    state: np.ndarray  # (len(STATE_NAMES),)
    prompt_chars: int
    input_chars: int  # system + history + prompt, for token estimates

    def vector(self) -> np.ndarray:
        return np.concatenate([self.embedding, self.lexical, self.state]).astype(np.float32)


def context_embedding(embedder: object, prompt: str, previous_user_turns: Sequence[str]) -> np.ndarray:
    """Embedding of the prompt, nudged toward the recent user turns of the conversation."""
    prev = [t for t in previous_user_turns if t.strip()][-MAX_CONTEXT_TURNS:]
    vecs = embedder.embed([prompt, *prev])  # type: ignore[attr-defined]
    e = vecs[0]
    if prev:
        ctx = vecs[1:].mean(axis=0)
        e = e + CONTEXT_WEIGHT * ctx
        n = float(np.linalg.norm(e))
        if n > 0:
            e = e / n
    return e.astype(np.float32)


def extract(
    prompt: str,
    *,
    previous_user_turns: Sequence[str] = (),
    history_chars: int = 0,
    system: str | None = None,
    turn_index: int = 0,
    embedder: object | None = None,
) -> TurnFeatures:
    """Features of the turn whose last user message is `prompt`."""
    if embedder is None:
        from chatroute.embed import get_embedder

        embedder = get_embedder()
    emb = context_embedding(embedder, prompt, previous_user_turns)
    ctx_chars = history_chars + (len(system) if system else 0)
    return TurnFeatures(
        embedding=emb,
        lexical=lexical_features(prompt),
        state=state_features(turn_index, ctx_chars),
        prompt_chars=len(prompt),
        input_chars=ctx_chars + len(prompt),
    )
