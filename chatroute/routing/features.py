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
MAX_SCAN_CHARS = 3_000  # lexical scans look at head + tail only, so a long paste stays cheap

_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+", re.UNICODE)
_SENT_END = re.compile(r"[.!?。！？](?:\s|$)")
_CODE_FENCE = re.compile(r"```|~~~")
_CODE_KEYWORDS = frozenset(
    "def class return import function const let var public static void int printf println SELECT FROM WHERE "
    "lambda async await fn impl struct".split()
)
_CODE_SYMBOLS = re.compile(r"#include|[{};][ \t]*$|=>|->|::|\(\)", re.MULTILINE)
# Word lists are matched on the lower-cased word list (set lookups, fast); phrases with
# spaces by substring counts. Big case-insensitive regex alternations cost ~20 us each.
_CODE_ASK = frozenset(
    "code function script program python javascript typescript java c++ rust golang sql regex bash shell "
    "api bug debug compile algorithm implement refactor stacktrace exception".split()
)
_MATH_WORDS = frozenset(
    "equation solve calculate compute integral derivative probability prove theorem matrix polynomial "
    "sqrt log sin cos percent ratio average sum product".split()
)
_MATH_SYMBOLS = re.compile(r"\\frac|\\sqrt|\\sum|\\int|\$[^$\n]+\$|\^\d|[=+*/×÷<>≤≥]\s*\d")
_STEP_WORDS = frozenset("first then finally next reason justify compare analyze analyse evaluate tradeoffs".split())
_STEP_PHRASES = ("step by step", "step-by-step", "after that", "explain why", "pros and cons", "trade-off",
                 "how many", "how much", "what is the total")
_CONSTRAINT_WORDS = frozenset("must should exactly without only never always each every ensure limit".split())
_CONSTRAINT_PHRASES = ("at least", "at most", "no more than", "do not", "don't", "make sure", "must not")
_FORMAT_WORDS = frozenset(
    "list bullet bullets table json yaml csv markdown format outline numbered heading headings".split()
)
_FORMAT_COUNT = re.compile(r"\d+ (?:words|sentences|paragraphs|items|points|examples)")
_CREATIVE_WORDS = frozenset(
    "poem story haiku lyrics song essay slogan joke tweet email letter blog imagine pretend roleplay role-play "
    "brainstorm rewrite paraphrase summarize summarise translate".split()
)
_CREATIVE_PHRASES = ("act as", "you are a ", "play the role", "in the style of", "write a story", "write a poem")
_FRACTION = re.compile(r"\d/\d")
_FRACTION_WORDS = frozenset("half third quarter twice double triple".split())
# Maths word problems: what makes one hard for a weak model is how many relations between
# quantities it has to chain, not the topic. Comparison/remainder wording and the clause count
# are plain English signals of that and fire on any quantitative prompt, whatever its source.
# (Counts of quantities and ratio words were tried too and added nothing in cross-validation.)
_RELATION_PHRASES = (
    "more than", "less than", "fewer than", "times as", "times more", "as many", "as much", "the rest",
    "remaining", "left over", " left", "remainder", "difference", "increase", "decrease", "discount",
    "profit", "interest", "average",
)
_BULLET_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SYMBOL = re.compile(r"[^\w\s]")

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
    "relations",
    "log_clauses",
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


def _vocab(words: list[str], vocab: frozenset[str], lower: str = "", phrases: tuple[str, ...] = ()) -> float:
    n = sum(1 for w in words if w in vocab)
    for ph in phrases:
        n += lower.count(ph)
    return math.log1p(min(n, 20))


_CHOICE_LINE = re.compile(r"^[ \t]*\(?([A-J])[.):][ \t]+\S[^\n]{0,300}$", re.MULTILINE)


def lists_choices(text: str) -> bool:
    """The message lists lettered answer options on their own lines ("A. …", "(B) …", "C) …"), at
    least A, B and C: a multiple-choice question. Lower-case letters are left out: "a) … b) …"
    is as often the parts of one task."""
    if "A" not in text:
        return False
    letters = {m.group(1) for m in _CHOICE_LINE.finditer(_scan_text(text))}
    return {"A", "B", "C"} <= letters


def lexical_features(text: str) -> np.ndarray:
    """Generic surface signals of one message, as float32 in LEXICAL_NAMES order."""
    full_len = len(text)
    t = _scan_text(text)
    lower = t.lower()
    raw_words = t.split()
    lwords = [w.strip(".,;:!?()[]{}\"'`") for w in lower.split()]
    words = [w for w in lwords if w]
    n_words = len(words) if full_len == len(t) else int(len(words) * full_len / max(1, len(t)))
    nums = _NUM.findall(t)
    max_num = 0.0
    for n in nums[:200]:
        try:
            max_num = max(max_num, float(n.replace(",", "")))
        except ValueError:
            pass
    n_chars = max(1, len(t))
    non_ascii = 0.0 if t.isascii() else len(_NON_ASCII.findall(t)) / n_chars
    symbols = len(_SYMBOL.findall(t)) / n_chars
    n_sent = len(_SENT_END.findall(t))
    # Clauses: sentences plus commas and "and"s, a cheap proxy for the number of steps stated.
    n_clauses = n_sent + lower.count(", ") + lower.count(" and ")
    vals = (
        math.log1p(full_len),
        math.log1p(n_words),
        math.log1p(n_sent),
        math.log1p(t.count("?") + t.count("？")),
        math.log1p(len(nums)),
        math.log1p(len(set(nums))),
        math.log1p(min(max_num, 1e12)) / 5.0,
        1.0 if re.search(r"\d\.\d", t) else 0.0,
        1.0 if (_FRACTION.search(t) or any(w in _FRACTION_WORDS for w in lwords)) else 0.0,
        1.0 if _CODE_FENCE.search(t) else 0.0,
        math.log1p(min(20, len(_CODE_SYMBOLS.findall(t)) + sum(1 for w in raw_words if w in _CODE_KEYWORDS))),
        _vocab(lwords, _CODE_ASK),
        math.log1p(min(20, len(_MATH_SYMBOLS.findall(t)) + sum(1 for w in lwords if w in _MATH_WORDS))),
        _vocab(lwords, _STEP_WORDS, lower, _STEP_PHRASES),
        _vocab(lwords, _CONSTRAINT_WORDS, lower, _CONSTRAINT_PHRASES),
        math.log1p(min(20, len(_FORMAT_COUNT.findall(lower)) + sum(1 for w in lwords if w in _FORMAT_WORDS))),
        _vocab(lwords, _CREATIVE_WORDS, lower, _CREATIVE_PHRASES),
        _count(_BULLET_LINE, t),
        non_ascii,
        symbols,
        (sum(len(w) for w in words) / len(words) / 10.0) if words else 0.0,
        t.count("\n") / n_chars * 10.0,
        math.log1p(min(20, sum(lower.count(ph) for ph in _RELATION_PHRASES))),
        math.log1p(min(n_clauses, 40)),
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
    text: str = ""  # the prompt, for the n-gram representation (read lazily by the quality model)
    context: tuple[str, ...] = ()  # the previous user turns (at most MAX_CONTEXT_TURNS)
    need: float | None = None  # the quality model's need g(x), once computed
    choices: bool = False  # the prompt lists lettered answer options (lists_choices)

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
    embed: bool = True,
) -> TurnFeatures:
    """Features of the turn whose last user message is `prompt`. With embed=False (the quality
    model does not read the embedding) the embedding is empty and costs nothing."""
    if not embed:
        emb = np.zeros(0, dtype=np.float32)
    else:
        if embedder is None:
            from chatroute.embed import get_embedder

            embedder = get_embedder()
        # Head and tail only, as the n-grams read them: a 4,000-token paste then costs about
        # what a long question does (the tokenizer dominates the routing time otherwise).
        from chatroute.routing.ngrams import clip

        emb = context_embedding(embedder, clip(prompt), [clip(t) for t in previous_user_turns])
    ctx_chars = history_chars + (len(system) if system else 0)
    return TurnFeatures(
        embedding=emb,
        lexical=lexical_features(prompt),
        state=state_features(turn_index, ctx_chars),
        prompt_chars=len(prompt),
        input_chars=ctx_chars + len(prompt),
        text=prompt,
        context=tuple(t for t in previous_user_turns if t.strip())[-MAX_CONTEXT_TURNS:],
        choices=lists_choices(prompt),
    )
