"""A turn's size as the router weighs it: the input's estimated tokens, the answer's expected
length, and whether the input fits a model's context window (refused before anything is sent
when it fits none the turn could go to)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from chatroute.format import short_model
from chatroute.routing.decision import SHORTEN_MESSAGES, PromptTooLargeError
from chatroute.routing.features import LEXICAL_NAMES, TurnFeatures, lexical_features
from chatroute.textsize import text_weight

CHARS_PER_TOKEN = 3.6  # routing-time estimate; exact counts are the catalogue's job
MIN_OUTPUT_TOKENS = 16
MESSAGE_FRAMING_TOKENS = 8  # per message in the routing-time estimate (role, separators)
CONTEXT_TOO_SMALL = "context too small"

_N_WORDS = re.compile(r"\b(\d{2,5})\s*(?:-|\s)?(words|tokens)\b", re.I)


def expected_output_tokens(features: TurnFeatures, prompt: str) -> int:
    """A simple predictor of the answer's length (tokens), from the prompt's surface.

    No labelled output lengths ship with the developer data, so this is a hand-set rule:
    ~300 tokens for a generic question, more for code, writing and multi-step asks, less for
    short factual questions; an explicit "in 200 words" wins."""
    return _expected_output(features.lexical.tolist(), prompt)


def expected_output_tokens_for(prompt: str) -> int:
    """expected_output_tokens without the embedding: what a client needs to leave room for
    the answer before it routes (the length rule reads only the prompt's surface)."""
    return _expected_output(lexical_features(prompt).tolist(), prompt)


def answer_limit(model: Any, limit: int | None = None, *, required: int | None = None,
                 input_tokens: int | None = None) -> int | None:
    """The most the answer on `model` can run: the max_tokens a request to it carries (the
    client's `limit` or the model's output limit, whichever is lower; with neither, `required`,
    what its wire sends when none is named: Anthropic's API requires one), cut to what the
    context window leaves after `input_tokens` when that is given (the API refuses a request
    whose input and max_tokens pass the window, and a server with no max_tokens stops there).
    With less room than the shortest answer the request fails as too long whatever it asks, so
    the window does not cut it then (the whole limit lets the provider say so, as a context
    overflow the fail-over knows). None: nothing known bounds the answer. The provider call's
    max_tokens (engine/common.output_limit) and the answer a turn is expected to run, priced and
    timed (answer_tokens), both come from here."""
    cap = min((n for n in (limit, getattr(model, "max_output_tokens", None)) if n), default=required)
    window = getattr(model, "context_window", None)
    if window and input_tokens is not None:
        room = window - input_tokens
        if room >= MIN_OUTPUT_TOKENS:
            cap = room if cap is None else min(cap, room)
    return cap


def answer_tokens(model: Any, expected: int, limit: int | None = None, *, required: int | None = None,
                  input_tokens: int | None = None) -> int:
    """The answer's expected length on `model`: `expected`, but no more than it can run
    (answer_limit: the client's limit, the model's output limit, the default max_tokens its wire
    sends, the window's room after the input): it is neither priced, timed nor given room in the
    window past them."""
    cap = answer_limit(model, limit, required=required, input_tokens=input_tokens)
    return expected if cap is None else min(expected, cap)


def expected_answer(model: Any, expected: int, fit: Fit, *, limit: int | None = None,
                    required: int | None = None) -> int:
    """answer_tokens on the input `fit` measures: the window's room is counted only when the
    estimate leaves less of it than the answer (the estimate errs large; most turns fit easily
    and count nothing), as the provider call's max_tokens is cut."""
    n = answer_tokens(model, expected, limit, required=required)
    window = getattr(model, "context_window", None)
    if window and fit.estimate + n > window:
        n = answer_tokens(model, n, input_tokens=fit.tokens(model))
    return n


def _expected_output(lexical: list[float], prompt: str) -> int:
    m = _N_WORDS.search(prompt)
    if m:
        n = int(m.group(1))
        return int(min(8000, n * (1.35 if m.group(2).lower() == "words" else 1.0)))
    lex = dict(zip(LEXICAL_NAMES, lexical, strict=True))
    est = 300.0
    if lex["code_fence"] or lex["code_ask"] > 0.5 or lex["code_tokens"] > 1.0:
        est *= 1.8
    if lex["creative"] > 0.5:
        est *= 1.4
    if lex["steps"] > 0.5 or lex["math"] > 1.0:
        est *= 1.3
    if lex["format_ask"] > 0.5:
        est *= 1.2
    words = math.expm1(lex["log_words"])
    if words < 12 and lex["steps"] == 0 and lex["code_ask"] == 0 and lex["creative"] == 0:
        est *= 0.6
    return int(est)


def estimate_input_tokens(prompt: str, history: Sequence[Any], system: str | None) -> int:
    """The routing-time size of a request: characters / CHARS_PER_TOKEN (a character outside
    ASCII, or of a base64 or hex run, weighing more: chatroute/textsize.py) plus a little framing
    per message. No tokenizer, so it costs little even on a long conversation. The history
    window (Store.history_tail), the size filter and the refusal's first look all weigh this."""
    texts = [getattr(m, "content", "") or "" for m in history]
    chars = sum(text_weight(t) for t in (*texts, system or "", prompt))
    return int(math.ceil(chars / CHARS_PER_TOKEN)) + MESSAGE_FRAMING_TOKENS * (len(history) + 1)


class Fit:
    """Whether one turn's input fits a model's context window.

    The estimate over-counts English by about a quarter (4.5 characters per o200k token, not
    3.6): harmless when it only steers routing, but a refusal resting on it would turn away
    prompts that fit. So a "no" from the estimate is checked with the catalogue's tokenizer
    (exact for OpenAI, scaled for other vendors), counted once per tokenizer."""

    def __init__(self, prompt: str, history: Sequence[Any], system: str | None, *, served: bool = False,
                 shorten: str = SHORTEN_MESSAGES) -> None:
        self._messages = [*history, {"role": "user", "content": prompt}]
        self._system = system
        self.has_history = bool(history)
        self.served = served
        self._shorten = shorten  # a served request's advice (RouteRequest.shorten)
        self.estimate = estimate_input_tokens(prompt, history, system)
        self._counts: dict[tuple[str, str | None], int] = {}

    def tokens(self, model: Any) -> int:
        """The input's size in `model`'s tokens (the estimate when it cannot be counted)."""
        try:
            from chatroute.catalog.tokens import count_messages, tokenizer_for

            key = tokenizer_for(model.id)
            if key not in self._counts:
                self._counts[key] = count_messages(self._messages, self._system, model.id)[0]
            return self._counts[key]
        except (ImportError, OSError, RuntimeError, ValueError):  # stand-alone use, or no encoding data
            return self.estimate

    def possible(self, model: Any) -> bool:
        """False only when even the shortest answer cannot fit after the input."""
        window = getattr(model, "context_window", None)
        if not window or self.estimate + MIN_OUTPUT_TOKENS <= window:
            return True
        return self.tokens(model) + MIN_OUTPUT_TOKENS <= window

    def subject(self) -> str:
        if self.served:
            return "this request"
        return "this prompt with the conversation so far" if self.has_history else "this prompt"

    def advice(self) -> str:
        if self.served:  # its client sends the history it wants: only the client can cut it
            return self._shorten
        # A client that windows the history (the engine) only refuses a prompt too large on
        # its own: a new conversation would not help that one.
        return "shorten it or start a new conversation" if self.has_history else "shorten it"

    def name(self, model_id: str) -> str:
        """A model as the refusal names it: to a served client, the id it can put in `model`."""
        return model_id if self.served else short_model(model_id)


def too_large(fit: Fit, models: list[Any], by_id: dict[str, Any], *, pin: str | None, override: str | None,
              default: str | None) -> PromptTooLargeError | None:
    """The refusal when the input fits no model this turn could go to: the pin or override
    if there is one, else any model of the pool or the default. A model of unknown size
    (no window, or not described) might take it, so it is never refused on its account."""
    forced = override or pin
    if forced:
        info = by_id.get(forced)
        if info is None or fit.possible(info):
            return None
        tokens, window = fit.tokens(info), int(info.context_window)
        roomier = [m for m in models if (m.context_window or 0) > window and fit.possible(m)]
        bigger = max(roomier, key=lambda m: m.context_window or 0, default=None)
        if fit.served:
            return _named_too_large(fit, tokens, window, forced, bigger)
        how = "chosen for this turn" if override else "pinned for this conversation"
        advice = fit.advice()
        if bigger is not None:
            hint = f"choose a model with a larger one (such as {short_model(bigger.id)}, {bigger.context_window:,})"
            advice = f"{hint}, {advice}" if fit.has_history else f"{hint} or {advice}"
        return PromptTooLargeError(
            f"{fit.subject()} is about {tokens:,} tokens; the context window of {short_model(forced)} ({how}) "
            f"is {window:,}; {advice}",
            tokens=tokens, window=window, model=forced)
    targets = list(models)
    if default:
        if default not in by_id:
            return None
        if all(m.id != default for m in targets):
            targets.append(by_id[default])
    if not targets or any(fit.possible(m) for m in targets):
        return None
    largest = max(targets, key=lambda m: m.context_window or 0)
    tokens, window = fit.tokens(largest), int(largest.context_window)
    what = "the largest context window" if len(targets) > 1 else "the context window"
    return PromptTooLargeError(
        f"{fit.subject()} is about {tokens:,} tokens; {what} is {window:,} ({fit.name(largest.id)}); "
        + fit.advice(),
        tokens=tokens, window=window, model=largest.id)


def _named_too_large(fit: Fit, tokens: int, window: int, named: str, bigger: Any) -> PromptTooLargeError:
    """too_large for a served request that names its model: serve has no pins or conversations."""
    hint = f"name one with a larger window (such as {bigger.id}, {bigger.context_window:,}) or " if bigger else ""
    return PromptTooLargeError(
        f"{fit.subject()} is about {tokens:,} tokens; the model you named, {named}, has a context window of "
        f"{window:,} tokens; {hint}{fit.advice()}",
        tokens=tokens, window=window, model=named)
