"""What the engine's modules share: timing limits, the storage error, and small text helpers."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chatroute.errors import ChatrouteError
from chatroute.providers.base import ANTHROPIC_DEFAULT_MAX_TOKENS, Message

if TYPE_CHECKING:
    from chatroute.catalog import ModelInfo

# The partial reply is written at least this often, so a killed process loses at most ~1 s.
PARTIAL_SAVE_INTERVAL_S = 0.5
# What a failed write raises: SQLite's "database or disk is full", I/O errors.
STORAGE_ERRORS = (sqlite3.OperationalError, sqlite3.DatabaseError, OSError)
# How long the final write of a stopped turn may wait for another process's lock.
STOP_SAVE_WAIT_S = 1.0
TITLE_CHARS = 60
# Sampling parameters that are part of the cache key (none are user-settable yet).
CACHE_PARAMS: dict[str, Any] = {"temperature": None, "max_tokens": None}
NO_MODELS_HELP = (
    "no models to use: set OPENAI_API_KEY or ANTHROPIC_API_KEY, or add providers and a router pool to {config}"
)


def no_models_help(config: Any, config_file: object) -> str:
    """Why there is nothing to route to, and the next step. With providers configured, a key is
    not what is missing: the pool is (only the openai and anthropic providers come with one)."""
    providers = sorted(getattr(config, "providers", None) or {})
    if not providers:
        return NO_MODELS_HELP.format(config=config_file)
    return (f"no models to use: router.pool is empty, and the configured provider"
            f"{'s' if len(providers) != 1 else ''} ({', '.join(providers)}) bring no default models; "
            f'add pool = ["{providers[0]}/MODEL", …] under [router] in {config_file} '
            "(`chatroute models` prints the lines for local servers it finds)")


class StorageError(ChatrouteError):
    """The database could not be written (a full disk, an I/O error): bad local state, exit 2."""

    exit_code = 2


class NotReserved(StorageError):
    """A turn's expected cost could not be reserved against a budget cap (the reservation's
    write failed): the turn is not sent, as nothing would hold its cost from other processes."""


def not_reserved_line(whose: str, problem: object, *, failing_over_to: str | None = None) -> str:
    """The one line that says a reservation could not be written (`whose`: "the turn's", "the
    request's", "its"; `problem`: why, e.g. storage_problem's line)."""
    to = f" as it failed over to {failing_over_to}" if failing_over_to else ""
    return f"not sent: {whose} expected cost could not be reserved against the budget cap{to} ({problem})"


def storage_problem(path: Any, exc: BaseException) -> str:
    """One line: which file could not be written, and the system's reason."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    return f"{path}: {reason}"


def as_pairs(history: list[Message]) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in history]


def title(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def required_max_tokens(config: Any, info: ModelInfo) -> int | None:
    """What the request to `info` would carry as max_tokens if it named none: Anthropic's API
    requires one, where OpenAI's wire leaves it to the server."""
    cfg = config.providers.get(info.provider)
    return ANTHROPIC_DEFAULT_MAX_TOKENS if cfg is not None and cfg.kind == "anthropic" else None


def output_limit(info: ModelInfo, messages: Sequence[Message], system: str | None,
                 asked: int | None = None, *, required: int | None = None) -> int | None:
    """max_tokens for a request to `info`: its output limit (or what a client asked for, if
    less; else `required`, what its wire sends without one), cut to what its context window
    leaves after the input. The window holds the prompt and the answer, and the APIs refuse a
    request whose input and max_tokens together pass it (Anthropic's "input length and
    `max_tokens` exceed context limit"), though the router's size filter, which reserves only
    the expected answer, found it fits."""
    from chatroute.routing.policy import MESSAGE_FRAMING_TOKENS
    from chatroute.routing.sizing import answer_limit

    limit = answer_limit(info, asked, required=required)
    window = info.context_window
    if limit is None or not window:
        return limit
    # No tokenizer makes more tokens of a text than it has UTF-8 bytes: when even that fits,
    # nothing needs counting (most turns).
    texts = [system or "", *(m.content for m in messages)]
    most = sum(len(t.encode("utf-8", "surrogatepass")) + MESSAGE_FRAMING_TOKENS for t in texts)
    if most + limit <= window:
        return limit
    try:
        from chatroute.catalog.tokens import count_messages

        counted = count_messages(messages, system, info.id)[0]
    except (ImportError, OSError, RuntimeError, ValueError):  # no encoding data: as the size filter
        return limit
    return answer_limit(info, asked, required=required, input_tokens=counted)


def required_max_tokens_by_id(config: Any, models: Sequence[Any]) -> dict[str, int]:
    """required_max_tokens for each of `models` that has one (RouteRequest.required_max_tokens)."""
    out: dict[str, int] = {}
    for m in models:
        if (n := required_max_tokens(config, m)) is not None:
            out[m.id] = n
    return out
