"""One turn, end to end: the only place that sequences cache, router, providers and store.

Clients (the TUI, the CLI) call `Engine.run_turn` and render the `TurnEvent`s it yields.
The order of work (docs/ARCHITECTURE.md, "One turn"): build the request, look up the cache,
route, stream, fail well (reroute before the first token, keep partial text after it),
persist in one transaction, then learn (health, cache, preferences).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from chatroute.errors import ChatrouteError, ConfigError
from chatroute.providers.base import (
    REROUTABLE,
    ChatRequest,
    ErrorKind,
    Finish,
    Message,
    ProviderError,
    TextDelta,
    UsageReport,
)
from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, TurnEvent, TurnFinished, TurnStarted

if TYPE_CHECKING:
    from chatroute.cache import AnswerCache
    from chatroute.catalog import Catalog, ModelInfo
    from chatroute.config import Config
    from chatroute.paths import Paths
    from chatroute.providers.base import Provider
    from chatroute.routing.budget import BudgetBlock
    from chatroute.routing.health import HealthBoard
    from chatroute.routing.policy import PromptTooLargeError, RouteDecision, Router
    from chatroute.store import Store
    from chatroute.store.records import StoredMessage, TurnRecord

# The partial reply is written at least this often, so a killed process loses at most ~1 s.
PARTIAL_SAVE_INTERVAL_S = 0.5
# What a failed write raises: SQLite's "database or disk is full", I/O errors.
STORAGE_ERRORS = (sqlite3.OperationalError, sqlite3.DatabaseError, OSError)
# How long the final write of a stopped turn may wait for another process's lock.
STOP_SAVE_WAIT_S = 1.0
T = TypeVar("T")
TITLE_CHARS = 60
# Sampling parameters that are part of the cache key (none are user-settable yet).
CACHE_PARAMS: dict[str, Any] = {"temperature": None, "max_tokens": None}
NO_MODELS_HELP = (
    "no models to use: set OPENAI_API_KEY or ANTHROPIC_API_KEY, or add providers and a router pool to {config}"
)


class StorageError(ChatrouteError):
    """The database could not be written (a full disk, an I/O error): bad local state, exit 2."""

    exit_code = 2


@dataclass
class _Attempt:
    """What one provider call produced."""

    text: str = ""
    usage: UsageReport | None = None
    finish: str | None = None
    sent_at: float = 0.0
    first_token_at: float | None = None
    last_token_at: float | None = None
    error: ProviderError | None = None
    reroutes: list[dict[str, Any]] = field(default_factory=list)
    save_error: str | None = None  # the first failed save of the partial text (a full disk)


@dataclass(frozen=True)
class HistoryWindow:
    """The history one turn sends: the most recent whole turns that fit its budget. Older
    turns stay in the store and on screen; the request and the cache key see only these."""

    messages: list[Message] = field(default_factory=list)
    total_turns: int = 0  # earlier turns on the branch, sent or not
    budget_tokens: int = 0
    limited_by: str | None = None  # the model whose context window set the budget, when the cap did not
    leaf_id: str | None = None  # the branch's last message: the parent of the new prompt
    current_model: str | None = None  # the model of the branch's latest answer, sent or not

    @property
    def sent_turns(self) -> int:
        return sum(1 for m in self.messages if m.role == "user")

    @property
    def note(self) -> str | None:
        """For the decision's notes when turns were left out: the why panel and --json show them."""
        if self.sent_turns >= self.total_turns:
            return None
        why = f"history budget {self.budget_tokens:,} tokens"
        if self.limited_by:
            why += f": what the context window of {_short(self.limited_by)} leaves"
        if not self.sent_turns:
            return f"sent none of the {self.total_turns:,} earlier turns ({why})"
        return f"sent the last {self.sent_turns:,} of {self.total_turns:,} turns ({why})"


class Engine:
    """The core of chatroute, shared by every client. Nothing here imports a UI toolkit."""

    def __init__(self, paths: Paths, config: Config, catalog: Catalog, store: Store) -> None:
        self.paths = paths
        self.config = config
        self.catalog = catalog
        self.store = store
        self._providers: dict[str, Provider] = {}
        self._router: Router | None = None
        self._health: HealthBoard | None = None
        self._cache: AnswerCache | None = None
        self._cache_lock = threading.Lock()
        self._writer: ThreadPoolExecutor | None = None
        self.preset: str = config.router.preset
        self.cache_enabled: bool = config.cache.enabled

    # ----------------------------------------------------------------- set-up
    @classmethod
    def open(cls, paths: Paths | None = None, config: Config | None = None) -> Engine:
        from chatroute.catalog import Catalog
        from chatroute.config import load_config
        from chatroute.paths import resolve_paths
        from chatroute.recovery import pricer
        from chatroute.store import Store

        paths = paths or resolve_paths()
        paths.ensure()
        if config is None:
            from chatroute.discovery import adopt_when_unconfigured

            config = load_config(paths)
            notice = adopt_when_unconfigured(config, paths.config_file)  # a first run with a local server
            if notice:
                config.warnings.append(notice)
        catalog = Catalog.build(config, paths, probe_local=True)
        # Replies a killed process left mid-stream get an estimated, priced turn record.
        store = Store.open(paths.database,
                           price_recovered=pricer(catalog, max_history_tokens=config.chat.max_history_tokens),
                           anthropic_providers=[n for n, p in config.providers.items() if p.kind == "anthropic"])
        return cls(paths, config, catalog, store)

    @property
    def health(self) -> HealthBoard:
        if self._health is None:
            from chatroute.routing.health import HealthBoard

            # Disables after 401/404 last until the provider config changes: the fingerprint
            # tells the board when that happened.
            self._health = HealthBoard.load(self.paths.data_dir / "health.json",
                                            config_fingerprint=_providers_fingerprint(self.config))
        return self._health

    @property
    def router(self) -> Router:
        if self._router is None:
            from chatroute.routing.policy import Router

            self._router = Router.from_config(self.config.router)
            self._relearn()
        return self._router

    @property
    def cache(self) -> AnswerCache:
        if self._cache is None:
            with self._cache_lock:  # the warm-up thread may be opening it as a turn starts
                if self._cache is None:
                    from chatroute.cache import AnswerCache
                    from chatroute.embed import get_embedder

                    self._cache = AnswerCache(self.paths.database, get_embedder().embed, self.config.cache)
        return self._cache

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call during a turn, off the event loop: a write may wait for another
        process's lock (a stopped writer holds it indefinitely), and the UI must stay live
        meanwhile. Cancelled (Esc, Ctrl+C), the wait ends at once and nothing is written."""
        if self._writer is None:
            # One thread: the turn's writes stay in order, as they were on the event loop.
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatroute-store")
        job = self._writer.submit(partial(fn, *args, **kwargs))
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            # End the wait, then let a write already under way finish before the caller saves
            # the stopped turn: otherwise it could land after that save and undo it.
            self.store.cancel_waits()
            futures_wait([job], timeout=STOP_SAVE_WAIT_S)
            raise
        except STORAGE_ERRORS as exc:
            raise StorageError(_storage_problem(self.store.path, exc)) from None

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            from chatroute.providers import make_provider

            cfg = self.config.providers.get(name)
            if cfg is None:
                raise ChatrouteError(f"no provider named {name!r} is configured", exit_code=2)
            self._providers[name] = make_provider(cfg)
        return self._providers[name]

    def warm(self) -> None:
        """Import the SDKs and load the router's weights now, off the UI thread, so the first
        turn's time to first token is not spent importing (the SDKs take 0.3–1 s). Only the
        SDKs that the pool, the default model and pinned conversations use: importing one that
        no turn will call costs memory and start-up time for nothing."""
        from chatroute.providers import preload

        preload(self._used_provider_kinds())
        self.prepare_providers(m.provider for m in self.catalog.pool())
        try:
            self.router.warm()
        except Exception:  # noqa: BLE001 - warming is an optimisation; the turn will retry
            pass
        if self.cache_enabled:
            try:
                _ = self.cache  # opening it (and its index) was ~0.2 s of the first turn's Enter -> request
            except Exception:  # noqa: BLE001 - as above
                pass

    def prepare_providers(self, names: Iterable[str]) -> None:
        """Create these providers' SDK clients now (a client takes tens of milliseconds to set
        up, an SDK's first import up to seconds), so no request's clock, and no other stream
        running meanwhile, pays for them. A provider that cannot be set up says so on its turn."""
        for name in dict.fromkeys(names):
            try:
                provider = self.provider(name)
                prepare = getattr(provider, "prepare", None)
                if prepare is not None:
                    prepare()
            except Exception:  # noqa: BLE001 - the turn reports it, as one line
                pass

    def _used_provider_kinds(self) -> tuple[str, ...]:
        names = {m.provider for m in self.catalog.pool()}
        try:
            pinned = self.store.pinned_models()
        except Exception:  # noqa: BLE001 - warming is an optimisation
            pinned = []
        for model in (self.config.router.default, *pinned):
            if not model:
                continue
            try:
                names.add(self.catalog.get(model).provider)
            except ChatrouteError:
                pass  # no longer configured: the turn says so
        return tuple(sorted({self.config.providers[n].kind for n in names if n in self.config.providers}))

    def models(self) -> list[ModelInfo]:
        return self.catalog.pool()

    def set_preset(self, preset: str) -> None:
        if preset not in ("frugal", "balanced", "best"):
            raise ChatrouteError(f"unknown preset {preset!r}: use frugal, balanced or best", exit_code=2)
        self.preset = preset
        if self._router is not None:
            self._router.set_preset(preset)

    async def reload_config(self) -> list[str]:
        """Re-read the config file (a running app otherwise keeps the one it started with: a
        removed budget stayed "reached"). The catalogue, router, providers and health board are
        rebuilt from it on next use; the store and the answer cache stay open. Returns the new
        config's warnings. A config that does not load leaves everything as it was."""
        from chatroute.catalog import Catalog
        from chatroute.config import load_config

        config = load_config(self.paths)
        catalog = Catalog.build(config, self.paths)
        old, self._providers = self._providers, {}
        self.config, self.catalog = config, catalog
        self._router, self._health = None, None
        self.preset, self.cache_enabled = config.router.preset, config.cache.enabled
        for provider in old.values():
            try:
                await provider.aclose()
            except Exception:  # noqa: BLE001 - an old client failing to close is not the new config's problem
                pass
        return [str(w) for w in getattr(config, "warnings", None) or []]

    async def aclose(self) -> None:
        if self._cache is not None:
            try:
                self._cache.close()  # flushes hit/miss counters kept in memory
            except Exception:  # noqa: BLE001
                pass
            self._cache = None
        if self._writer is not None:
            self._writer.shutdown(wait=False)
            self._writer = None
        for provider in self._providers.values():
            try:
                await provider.aclose()
            except Exception:  # noqa: BLE001 - closing must never mask the real outcome
                pass
        self._providers.clear()

    def cost_report(self, since: Any = None, *, by: str = "day", baseline: str | None = None) -> dict[str, Any]:
        """Spend, the baseline comparison and budget status (see chatroute.accounting)."""
        from chatroute.accounting import cost_report, parse_since

        if isinstance(since, str):
            since = parse_since(since)
        report = cost_report(self.store, self.catalog, baseline=baseline or self.config.ui.baseline_model,
                             budget=self.config.budget, by=by, since=since)
        # The report already holds the rows for `by`: query only the other two groupings.
        report["rows_by"] = {
            key: report["rows"] if key == by else
            [r.to_dict() for r in self.store.spend(by=key, since=since)]
            for key in ("model", "day", "conversation", "client")
        }
        return report

    def _relearn(self) -> None:
        """Rebuild the per-user adjustment from the preference signals since the last reset."""
        if self._router is None or not self.config.router.learn:
            return
        from chatroute.routing.observed import observe

        records = self.store.preferences(since=preferences_reset_at(self.paths))
        self._router.learn_preferences(records)
        self._router.learn_observed(observe(records, self.health.snapshot()))

    # ---------------------------------------------------------------- routing
    def _history_messages(self, history: list[StoredMessage]) -> list[Message]:
        out: list[Message] = []
        for msg in history:
            if msg.role not in ("user", "assistant") or not msg.content:
                continue
            out.append(Message(role=msg.role, content=msg.content))  # type: ignore[arg-type]
        return out

    def _history_window(self, conversation_id: str | None, prompt: str, *, system: str | None, pin: str | None,
                        override: str | None, upto: str | None = None,
                        budget: tuple[int, str | None] | None = None) -> HistoryWindow:
        """What of the conversation this turn sends (see HistoryWindow). `upto`: the branch
        ends at that message instead of the shown leaf (a regenerate). `budget`: as
        _history_budget gives it, when the caller has it already. Reads the bodies of the
        sent turns only, so its cost follows the budget, not the conversation's length."""
        if conversation_id is None:
            return HistoryWindow()
        tokens, limited_by = budget or self._history_budget(prompt, system=system, pin=pin, override=override)
        max_chars, per_message = _budget_chars(tokens)
        tail = self.store.history_tail(conversation_id, max_chars, per_message_chars=per_message, upto=upto)
        return HistoryWindow(messages=self._history_messages(tail.messages), total_turns=tail.total_turns,
                             budget_tokens=tokens, limited_by=limited_by, leaf_id=tail.leaf_id,
                             current_model=tail.current_model)

    def _history_budget(self, prompt: str, *, system: str | None, pin: str | None,
                        override: str | None) -> tuple[int, str | None]:
        """How many (estimated) tokens of history this turn may send, and the model whose
        context window set that, or None when the [chat] max_history_tokens cap did: the
        roomiest window the turn could go to (the pin's or override's own, else the pool's and
        the default's), after the system prompt, the prompt and the answer the router expects."""
        from chatroute.routing.policy import MIN_OUTPUT_TOKENS, estimate_input_tokens, expected_output_tokens_for

        cap = self.config.chat.max_history_tokens
        targets = self._window_targets(pin, override)
        if not targets:
            return cap, None
        fixed = estimate_input_tokens(prompt, (), system)
        answer = expected_output_tokens_for(prompt)

        def room(m: ModelInfo) -> int:
            # The same reserve as the router's size filter: the expected answer, capped at the
            # model's output limit; one token of slack absorbs the estimate's rounding.
            reserve = max(MIN_OUTPUT_TOKENS, min(answer, m.max_output_tokens or answer))
            return int(m.context_window or 0) - fixed - reserve - 1

        roomiest = max(targets, key=room)
        if room(roomiest) >= cap:
            return cap, None
        return max(0, room(roomiest)), roomiest.id

    def _window_targets(self, pin: str | None, override: str | None) -> list[ModelInfo]:
        """The models whose windows bound this turn's history; empty when one of them has no
        known window (it might take anything, so only the cap applies)."""
        targets = self._targets(pin, override, strict=False)
        by_id = {m.id: m for m in [*targets["known"], *self.catalog.pool()]}
        forced = targets["override"] or targets["pin"]
        if forced:
            models = [by_id[forced]] if forced in by_id else []
        else:
            pool = self.catalog.pool()
            try:
                # A model routing may not pick now (cooling down, disabled) must not set the size.
                models = [m for m in pool if not self.health.unavailable_reason(m.id)] or pool
            except Exception:  # noqa: BLE001 - an unreadable health file: every model counts
                models = pool
            default = targets["default"]
            if default:
                if default not in by_id:
                    return []
                models = [*models, by_id[default]]
        return models if all(m.context_window for m in models) else []

    def decide(
        self,
        prompt: str,
        *,
        history: list[Message],
        system: str | None,
        pin: str | None,
        override: str | None,
        current_model: str | None,
        exclude: set[str] | None = None,
        preset: str | None = None,
    ) -> RouteDecision:
        """`preset`: this decision only (a served `chatroute/frugal` request); the router's own
        preset, and the explicit weights that go with it, are put back afterwards."""
        from chatroute.routing.budget import budget_state

        router = self.router
        kept = (router.preset, router.cost_weight_override)
        try:
            return router.decide(
                prompt,
                history=history,
                system=system,
                pool=self.catalog.pool(),
                current_model=current_model,
                turn_index=sum(1 for m in history if m.role == "user"),
                health=self.health,
                budget_state=budget_state(self.store, self.config.budget),
                exclude=exclude or set(),
                preset=preset or self.preset,
                **self._targets(pin, override, strict=True),
            )
        finally:
            router.preset, router.cost_weight_override = kept

    def _targets(self, pin: str | None, override: str | None, *, strict: bool) -> dict[str, Any]:
        """pin, override and default as model ids, with what the catalogue knows of them (the
        router needs their context windows even when they are not in the pool). `strict`: an
        unknown pin or override is the caller's error; otherwise it is passed on unresolved."""
        known: list[ModelInfo] = []

        def resolve(ref: str | None, *, must: bool) -> str | None:
            if not ref:
                return None
            try:
                info = self.catalog.get(ref)
            except ConfigError:
                if must:
                    raise
                return ref
            known.append(info)
            return info.id

        return {
            "pin": resolve(pin, must=strict),
            "override": resolve(override, must=strict),
            "default": resolve(self.config.router.default, must=False),
            "known": known,
        }

    def context_refusal(self, conversation_id: str | None, prompt: str, *, override: str | None = None,
                        regenerate_of: str | None = None, system: str | None = None) -> PromptTooLargeError | None:
        """Why this turn cannot be sent because its input fits no model's context window, or
        None. Reads only: a client asks before it clears what the user typed. The history is
        windowed (see HistoryWindow), so only a prompt too large on its own is refused."""
        from chatroute.routing.policy import PromptTooLargeError, parse_override

        at_model, prompt = parse_override(prompt)
        override = override or at_model
        conv = self.store.get_conversation(conversation_id) if conversation_id else None
        if conv is not None:
            system = conv.system_prompt
        pin = conv.pinned_model if conv is not None else None
        if regenerate_of is not None:
            user = self._regenerated_question(regenerate_of)
            if user is None:
                return None  # run_turn says what is wrong with it
            prompt = user.content
            window = self._history_window(user.conversation_id if user.parent_id else None, prompt, system=system,
                                          pin=pin, override=override, upto=user.parent_id)
        else:
            window = self._history_window(conv.id if conv is not None else None, prompt, system=system, pin=pin,
                                          override=override)
        try:
            self._check_fits(prompt, window.messages, system=system, pin=pin, override=override)
        except PromptTooLargeError as exc:
            return exc
        return None

    def _regenerated_question(self, message_id: str) -> StoredMessage | None:
        """The user message an answer replied to (what a regenerate asks again), or None."""
        old = self.store.get_message(message_id)
        user = self.store.get_message(old.parent_id) if old is not None and old.parent_id else None
        return user if user is not None and user.role == "user" else None

    def _check_fits(self, prompt: str, history: list[Message], *, system: str | None, pin: str | None,
                    override: str | None) -> None:
        self.router.check_fits(prompt, history=history, system=system, pool=self.catalog.pool(),
                               **self._targets(pin, override, strict=False))

    # ----------------------------------------------------------------- budget
    def budget_block(
        self,
        conversation_id: str | None,
        prompt: str,
        *,
        use_cache: bool = True,
        regenerate_of: str | None = None,
        system: str | None = None,
    ) -> BudgetBlock | None:
        """Why this turn may not spend, or None. Past a cap the router refuses every paid
        model; a client asks the user and re-sends with `allow_over_budget=True`. Reads only.

        None unless a cap is used up, the turn is routed (a pin or an `@model` override is
        the user's explicit choice already) and no cache hit would answer it for free."""
        from chatroute.routing.budget import block_from_refusal, budget_state, is_budget_refusal
        from chatroute.routing.policy import NoRouteError, parse_override

        state = budget_state(self.store, self.config.budget)  # no cap configured: no query at all
        if state is None or state.used_fraction() < 1.0:
            return None
        at_model, prompt = parse_override(prompt)
        if at_model:
            return None
        conv = self.store.get_conversation(conversation_id) if conversation_id else None
        if conv is not None:
            if conv.pinned_model:
                return None
            system = conv.system_prompt
        if regenerate_of is not None:
            user = self._regenerated_question(regenerate_of)
            if user is None:
                return None  # run_turn says what is wrong with it
            prompt, use_cache = user.content, False
            window = self._history_window(user.conversation_id if user.parent_id else None, prompt, system=system,
                                          pin=None, override=None, upto=user.parent_id)
        else:
            window = self._history_window(conv.id if conv is not None else None, prompt, system=system, pin=None,
                                          override=None)
        history = window.messages
        if use_cache and self.cache_enabled and (conv is None or conv.cache_enabled):
            try:
                # count=False: a peek; the turn itself counts its lookup.
                if self.cache.lookup(system, _as_pairs(history), prompt, dict(CACHE_PARAMS), None,
                                     count=False) is not None:
                    return None
            except Exception:  # noqa: BLE001 - a broken cache must never block a turn
                pass
        try:
            self.decide(prompt, history=history, system=system, pin=None, override=None,
                        current_model=window.current_model)
        except NoRouteError as exc:
            if is_budget_refusal(exc):
                return block_from_refusal(state, exc)
        except ChatrouteError:
            pass  # not a budget matter: the turn reports it
        return None

    def _over_budget_decision(self, exc: ChatrouteError, started: float) -> RouteDecision | None:
        """The user said yes past the cap: the cheapest model the cap excluded, and only that
        one (kind `routed` fails over through decide(), which refuses again: no paid surprises)."""
        from chatroute.routing.budget import block_from_refusal, budget_state, is_budget_refusal
        from chatroute.routing.policy import BudgetState, NoRouteError, RouteDecision

        if not isinstance(exc, NoRouteError) or not is_budget_refusal(exc):
            return None
        block = block_from_refusal(budget_state(self.store, self.config.budget) or BudgetState(), exc)
        if block.cheapest_model is None:
            return None
        reason = (f"{_short(block.cheapest_model)}: the cheapest model; the {block.period} budget cap is reached "
                  "and you chose to send anyway")
        return RouteDecision(model=block.cheapest_model, kind="routed", reason=reason, candidates=exc.candidates,
                             route_ms=(time.perf_counter() - started) * 1000, preset=self.preset,
                             notes=[f"over budget: {block.summary}"])

    def route(self, prompt: str, conversation_id: str | None = None, override: str | None = None) -> dict[str, Any]:
        """The decision for `prompt` as the next turn, without calling a model."""
        from chatroute.routing.policy import parse_override

        at_model, prompt = parse_override(prompt)
        override = override or at_model
        if override is None and not conversation_id and not self.catalog.pool() and not self.config.router.default:
            raise ConfigError(NO_MODELS_HELP.format(config=self.paths.config_file))
        system = None
        pin = None
        if conversation_id:
            conv = self.store.get_conversation(conversation_id)
            if conv is None:
                raise ChatrouteError(f"no conversation {conversation_id!r}", exit_code=2)
            system, pin = conv.system_prompt, conv.pinned_model
        window = self._history_window(conversation_id or None, prompt, system=system, pin=pin, override=override)
        decision = self.decide(
            prompt, history=window.messages, system=system, pin=pin, override=override,
            current_model=window.current_model,
        )
        return _noted(decision, window).to_dict()

    # ------------------------------------------------------------------ turns
    async def run_turn(
        self,
        conversation_id: str | None,
        prompt: str,
        *,
        override: str | None = None,
        use_cache: bool = True,
        regenerate_of: str | None = None,
        system: str | None = None,
        allow_over_budget: bool = False,
    ) -> AsyncIterator[TurnEvent]:
        """Run one turn and yield its events. Never raises for provider failures: they end
        the turn with `TurnFinished(record.status='error'|'interrupted')`.

        Past a budget cap a routed turn raises `BudgetExceeded` before anything is stored
        (see `budget_block`); with `allow_over_budget=True` it runs on the cheapest model."""
        from chatroute.routing.policy import parse_override

        at_model, prompt = parse_override(prompt)
        override = override or at_model
        if override:
            override = self.catalog.resolve(override)
        if not prompt.strip():
            raise ChatrouteError("the prompt is empty", exit_code=2)
        if override is None and not self.catalog.pool():
            raise ConfigError(NO_MODELS_HELP.format(config=self.paths.config_file))

        store = self.store
        conv = None
        if conversation_id is not None:
            conv = store.get_conversation(conversation_id)
            if conv is None:
                raise ChatrouteError(f"no conversation {conversation_id!r}", exit_code=2)
        asked, title = prompt, _title(prompt)

        regenerated_model: str | None = None
        user_msg: StoredMessage | None = None
        if regenerate_of is not None:
            # A regenerate is a sibling of an earlier answer: same user message, new reply.
            old = store.get_message(regenerate_of)
            if old is None:
                raise ChatrouteError(f"no message {regenerate_of!r}", exit_code=2)
            user_msg = store.get_message(old.parent_id) if old.parent_id else None
            if user_msg is None or user_msg.role != "user":
                raise ChatrouteError("that message cannot be regenerated", exit_code=2)
            prompt = user_msg.content
            regenerated_model = old.model
            use_cache = False
        turn_system = conv.system_prompt if conv is not None else system
        turn_pin = conv.pinned_model if conv is not None else None
        if user_msg is not None:
            window = self._history_window(user_msg.conversation_id if user_msg.parent_id else None, prompt,
                                          system=turn_system, pin=turn_pin, override=override,
                                          upto=user_msg.parent_id)
        else:
            window = self._history_window(conv.id if conv is not None else None, prompt, system=turn_system,
                                          pin=turn_pin, override=override)
        history = window.messages
        # Before anything is written: an input no model can take would only fail at the provider.
        self._check_fits(prompt, history, system=turn_system, pin=turn_pin, override=override)
        if not allow_over_budget and override is None:
            block = self.budget_block(conversation_id, asked, use_cache=use_cache, regenerate_of=regenerate_of,
                                      system=system)
            if block is not None:
                from chatroute.routing.budget import BudgetExceeded

                raise BudgetExceeded(block)

        if conv is None:
            conv = await self._db(store.create_conversation, title=title, system_prompt=system)
        if user_msg is None:
            user_msg = await self._db(store.add_message, conv.id, "user", prompt, parent_id=window.leaf_id)

        current_model = window.current_model
        assistant = await self._db(store.add_message, conv.id, "assistant", "", parent_id=user_msg.id,
                                   status="streaming")
        yield TurnStarted(conv.id, user_msg.id, assistant.id)

        if regenerated_model:
            await self._db(
                store.add_preference, "regenerate", chosen_model=None, rejected_models=[regenerated_model],
                prompt=prompt, conversation_id=conv.id, message_id=assistant.id,
            )
            self._penalise_cache_source(regenerate_of)
            self._relearn()

        pin = conv.pinned_model
        params = dict(CACHE_PARAMS)
        cache_on = use_cache and self.cache_enabled and conv.cache_enabled
        cache_key_model = override or pin
        cache_status = "bypass"
        if cache_on:
            async for event in self._serve_from_cache(
                conv.id, assistant.id, conv.system_prompt, history, prompt, params, cache_key_model,
                pin=pin, override=override, current_model=current_model,
            ):
                yield event
                if isinstance(event, TurnFinished):
                    if override:
                        await self._record_override(conv, assistant.id, prompt, history, override, current_model)
                    return
            cache_status = "miss"

        route_started = time.perf_counter()
        try:
            decision = self.decide(
                prompt, history=history, system=conv.system_prompt, pin=pin, override=override,
                current_model=current_model,
            )
        except ChatrouteError as exc:
            consented = self._over_budget_decision(exc, route_started) if allow_over_budget else None
            if consented is None:
                await self._db(store.finish_turn, assistant.id, "", "error")
                raise
            decision = consented
        decision = _noted(decision, window)
        route_ms = (time.perf_counter() - route_started) * 1000
        yield Routed(decision.model, decision.kind, decision.reason, decision.to_dict())

        # aclosing: a consumer that walks away mid-stream closes the stream too, which records it.
        async with aclosing(self._answer(conv, assistant.id, history, prompt, decision, route_ms, cache_status,
                                         cache_key=(params, cache_key_model) if cache_on else None,
                                         current_model=current_model)) as answer:
            async for event in answer:
                yield event
        if override:
            # After the answer, not before: this costs a routing decision and a write.
            await self._record_override(conv, assistant.id, prompt, history, override, current_model)

    async def _record_override(self, conv: Any, message_id: str, prompt: str, history: list[Message],
                               override: str, current_model: str | None) -> None:
        """The signal is "the user preferred X over what routing would have picked"."""
        would: list[str] = []
        try:
            routed = self.decide(prompt, history=history, system=conv.system_prompt, pin=None, override=None,
                                 current_model=current_model).model
            if routed != override:
                would = [routed]
        except ChatrouteError:
            pass
        try:
            await self._db(
                self.store.add_preference, "override", chosen_model=override, rejected_models=would, prompt=prompt,
                conversation_id=conv.id, message_id=message_id,
            )
        except StorageError:
            pass  # a learning signal; the turn already said whether it was saved
        self._relearn()

    async def _answer(
        self,
        conv: Any,
        message_id: str,
        history: list[Message],
        prompt: str,
        decision: RouteDecision,
        route_ms: float,
        cache_status: str,
        *,
        cache_key: tuple[dict[str, Any], str | None] | None,
        current_model: str | None,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Stream the answer from the decided model, failing over before the first token,
        then persist the turn in one transaction and learn from it."""
        messages = tuple([*history, Message("user", prompt)])
        attempt = _Attempt()
        model_id = decision.model
        tried: set[str] = set()
        loop = asyncio.get_running_loop()
        # Fail-overs share one deadline: two hanging candidates must not each take their own
        # first-token timeout. Pins and overrides never fail over, so only their own limits apply.
        failover_s = self.config.router.failover_timeout_s
        failover_at = loop.time() + failover_s if decision.kind in ("routed", "default") else None
        while True:
            tried.add(model_id)
            info = self.catalog.get(model_id)
            # max_tokens: the model's own output limit, so every stream has a known end; the
            # adapters also cut a server that streams past it (finish "length").
            request = ChatRequest(model=info.name, messages=messages, system=conv.system_prompt,
                                  max_tokens=info.max_output_tokens, first_token_deadline=failover_at)
            attempt = _Attempt(reroutes=attempt.reroutes)
            # Before the request: if the process dies mid-stream, the next open can price it.
            await self._db(self.store.set_message_model, message_id, info.id)
            on_stop = partial(self._save_stopped, conv.id, message_id, decision, route_ms, cache_status, messages,
                              conv.system_prompt)
            async with aclosing(self._stream(info, request, attempt, message_id, on_stop)) as stream:
                async for event in stream:
                    yield event
            err = attempt.error
            if err is None or attempt.first_token_at is not None:
                break
            self._record_failure(info.id, err)
            if failover_at is not None and loop.time() >= failover_at - 0.05:
                if "failover" not in err.message:
                    err.message = f"{err.message}; no other model tried: the {failover_s:g} s failover deadline passed"
                break
            next_model = self._fallback(decision, err, info, tried, prompt, history, conv, current_model)
            if next_model is None:
                break
            note = f"{_short(model_id)} {err.short} → {_short(next_model)}"
            attempt.reroutes.append(
                {"from": model_id, "error": err.short, "kind": err.kind.value, "to": next_model,
                 "message": err.message}
            )
            yield Rerouted(model_id, err.short, next_model, note)
            model_id = next_model

        record = self._record(
            conv.id, message_id, info, decision, attempt, route_ms, cache_status, messages, conv.system_prompt
        )
        status_text = {"ok": "complete", "interrupted": "interrupted", "error": "error"}[record.status]
        not_saved = await self._finish_saving(message_id, attempt, status_text, record)
        self._learn(info, attempt, record)
        if (cache_key is not None and not_saved is None and record.status == "ok" and attempt.finish == "stop"
                and attempt.text.strip()):
            params, key_model = cache_key
            self._cache_store(conv.system_prompt, history, prompt, params, key_model, attempt.text,
                              info.id, record.id)
        error_line = None
        retryable = False
        if attempt.error is not None:
            error_line = _error_line(info.id, attempt.error, record.status)
            retryable = attempt.error.kind is not ErrorKind.CONTENT_POLICY
        yield TurnFinished(record=record, text=attempt.text, error=error_line, retryable=retryable,
                           not_saved=not_saved)

    async def _finish_saving(self, message_id: str, attempt: _Attempt, status_text: str,
                             record: TurnRecord) -> str | None:
        """The final write of a turn; None when it is stored, else why not (a full disk). Then
        the turn record and the message's status are written on their own if they still fit,
        so the message is not left 'streaming'; failing that, the next open recovers it."""
        try:
            await self._db(self.store.finish_turn, message_id, attempt.text, status_text, record)
            return None
        except StorageError as exc:
            problem = attempt.save_error or str(exc)
        with self.store.waits.at_most(STOP_SAVE_WAIT_S):
            for keep in (record, None):  # the cost if it fits, else at least the status
                try:
                    self.store.close_unsaved(message_id, keep)
                    break
                except STORAGE_ERRORS:
                    continue
        return problem

    # ---------------------------------------------------------------- compare
    def compare(
        self, conversation_id: str | None, prompt: str, models: list[str]
    ) -> dict[str, AsyncIterator[TurnEvent]]:
        """One prompt to several models at once. Each answer is a sibling reply of the same
        user message; the first is shown until the user picks. Consume the streams
        concurrently: a slow or failing model never blocks the others."""
        if not 2 <= len(models) <= 4:
            raise ChatrouteError("compare takes 2 to 4 models", exit_code=2)
        resolved = [self.catalog.resolve(m) for m in models]
        if len(set(resolved)) != len(resolved):
            raise ChatrouteError("compare needs distinct models", exit_code=2)
        if not prompt.strip():
            raise ChatrouteError("the prompt is empty", exit_code=2)
        store = self.store
        if conversation_id is None:
            conv = store.create_conversation(title=_title(prompt))
        else:
            found = store.get_conversation(conversation_id)
            if found is None:
                raise ChatrouteError(f"no conversation {conversation_id!r}", exit_code=2)
            conv = found
        # Each model gets what fits its own window: the tail is read once, for the roomiest.
        budgets = {m: self._history_budget(prompt, system=conv.system_prompt, pin=None, override=m)
                   for m in resolved}
        widest = self._history_window(conv.id, prompt, system=conv.system_prompt, pin=None, override=None,
                                      budget=max(budgets.values(), key=lambda b: b[0]))
        # Every SDK imported and client made before the first stream starts: otherwise one
        # stream's set-up blocks the event loop while another's clock runs.
        self.prepare_providers(self.catalog.get(m).provider for m in resolved)
        user_msg = store.add_message(conv.id, "user", prompt, parent_id=widest.leaf_id)
        streams: dict[str, AsyncIterator[TurnEvent]] = {}
        for i, model in enumerate(resolved):
            msg = store.add_message(conv.id, "assistant", "", parent_id=user_msg.id, status="streaming",
                                    active=i == 0)
            streams[model] = self._compare_one(conv, user_msg.id, msg.id, _narrowed(widest, *budgets[model]),
                                               prompt, model)
        return streams

    async def _compare_one(self, conv: Any, user_id: str, message_id: str, window: HistoryWindow, prompt: str,
                           model: str) -> AsyncIterator[TurnEvent]:
        from chatroute.routing.policy import RouteDecision

        history = window.messages
        yield TurnStarted(conv.id, user_id, message_id)
        decision = RouteDecision(model=model, kind="compare", reason=f"compare mode: {model} chosen by the user",
                                 candidates=[], route_ms=0.0, preset=self.preset)
        decision = _noted(decision, window)
        yield Routed(model, "compare", decision.reason, decision.to_dict())
        async with aclosing(self._answer(conv, message_id, history, prompt, decision, 0.0, "bypass",
                                         cache_key=None, current_model=None)) as answer:
            async for event in answer:
                yield event

    def pick_compare(self, conversation_id: str, message_id: str) -> None:
        """The user picked this answer: show it, continue from it, and teach the router."""
        chosen = self.store.get_message(message_id)
        if chosen is None or chosen.conversation_id != conversation_id:
            raise ChatrouteError(f"no message {message_id!r} in that conversation", exit_code=2)
        self.store.set_active(message_id)
        rejected = [m.model for m in self.store.siblings(message_id) if m.id != message_id and m.model]
        user = self.store.get_message(chosen.parent_id) if chosen.parent_id else None
        self.store.add_preference(
            "compare_pick", chosen_model=chosen.model, rejected_models=rejected,
            prompt=user.content if user else None, conversation_id=conversation_id, message_id=message_id,
        )
        self._relearn()

    async def _stream(
        self, info: ModelInfo, request: ChatRequest, attempt: _Attempt, message_id: str | None,
        on_stop: Callable[[ModelInfo, _Attempt, BaseException], None],
    ) -> AsyncGenerator[TurnEvent, None]:
        """Stream one provider call into `attempt`, saving the partial reply as it grows (when it
        has a message: a served request keeps no text). Stopped by anything but the provider, it
        hands the attempt to `on_stop` first."""
        saved_len = 0
        try:
            provider = self.provider(info.provider)  # may import the SDK: not part of the request's time
            prepare = getattr(provider, "prepare", None)
            if prepare is not None:
                prepare()  # the SDK client, made once: not part of the request's time either
            attempt.sent_at = last_save = time.perf_counter()
            async for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    if not event.text:
                        continue
                    now = time.perf_counter()
                    if attempt.first_token_at is None:
                        attempt.first_token_at = now
                    attempt.last_token_at = now
                    attempt.text += event.text
                    yield Delta(event.text)
                    if (message_id is not None and now - last_save >= PARTIAL_SAVE_INTERVAL_S
                            and len(attempt.text) != saved_len and attempt.save_error is None):
                        try:
                            await self._db(self.store.update_message_text, message_id, attempt.text, "streaming")
                        except StorageError as exc:
                            # The answer is paid for and still arriving: keep streaming it to the
                            # user, and stop trying to save it until the end.
                            attempt.save_error = str(exc)
                        last_save, saved_len = now, len(attempt.text)
                elif isinstance(event, UsageReport):
                    attempt.usage = event
                elif isinstance(event, Finish):
                    attempt.finish = event.reason
        except ProviderError as exc:
            attempt.error = exc
        except ChatrouteError as exc:
            attempt.error = ProviderError(ErrorKind.BAD_REQUEST, str(exc), provider=info.provider, model=info.id)
        except BaseException as exc:
            # Stopped: Ctrl+C or Esc (CancelledError), a signal, the app closing, a consumer that
            # walked away (GeneratorExit), or a bug. The provider billed the request and what
            # streamed, and nothing after this point will record it: do it now.
            on_stop(info, attempt, exc)
            raise
        if attempt.error is None and attempt.finish == "content_filter" and not attempt.text:
            attempt.error = ProviderError(ErrorKind.CONTENT_POLICY, "the provider refused this prompt",
                                          provider=info.provider, model=info.id)

    def _fallback(
        self,
        decision: RouteDecision,
        err: ProviderError,
        info: ModelInfo,
        tried: set[str],
        prompt: str,
        history: list[Message],
        conv: Any,
        current_model: str | None,
    ) -> str | None:
        """The next model after a failure before the first token, or None to stop.

        Only routed (and default) turns fail over: a pin or override is the user's explicit
        choice, so its failure is shown with a retry instead. Content-policy refusals are
        never rerouted.
        """
        if err.kind not in REROUTABLE or decision.kind not in ("routed", "default"):
            return None
        exclude = set(tried)
        if err.kind is ErrorKind.CONTEXT_OVERFLOW:
            window = info.context_window or 0
            exclude |= {m.id for m in self.catalog.pool() if (m.context_window or 0) <= window}
        try:
            again = self.decide(
                prompt, history=history, system=conv.system_prompt, pin=None, override=None,
                current_model=current_model, exclude=exclude, preset=decision.preset,
            )
        except ChatrouteError:
            return None
        if again.model in tried or again.kind not in ("routed", "default"):
            return None
        return again.model

    # ------------------------------------------------------------------ cache
    async def _serve_from_cache(
        self,
        conversation_id: str,
        message_id: str,
        system: str | None,
        history: list[Message],
        prompt: str,
        params: dict[str, Any],
        key_model: str | None,
        *,
        pin: str | None,
        override: str | None,
        current_model: str | None,
    ) -> AsyncIterator[TurnEvent]:
        from chatroute.catalog.cost import estimate_cost
        from chatroute.store.records import TurnRecord

        try:
            hit = self.cache.lookup(system, _as_pairs(history), prompt, params, key_model)
        except Exception:  # noqa: BLE001 - a broken cache must never block a turn
            return
        if hit is None or hit.model is None:  # an entry that does not say which model wrote it cannot be billed
            return
        # What the hit saved: the cost of the model that would have answered this turn.
        saved: float | None = None
        would: RouteDecision | None = None
        try:
            would = self.decide(prompt, history=history, system=system, pin=pin, override=override,
                                current_model=current_model)
            info = self.catalog.get(would.model)
            in_tok = sum(len(m.content) for m in history) // 4 + len(prompt) // 4
            saved = estimate_cost(info, in_tok, max(1, len(hit.text) // 4))
        except ChatrouteError:
            pass
        reason = f"answered from the cache ({hit.tier}, similarity {hit.similarity:.3f})"
        decision: dict[str, Any] = {
            "kind": "cache",
            "model": hit.model,
            "reason": reason,
            "candidates": [],
            "reroutes": [],
            "would_route_to": would.model if would else None,
            "source": self._cache_source(hit.source_turn_id),
        }
        yield Routed(hit.model, "cache", reason, decision)
        yield CacheHit(hit.similarity, hit.tier, hit.source_turn_id, hit.lookup_ms)
        yield Delta(hit.text)
        record = TurnRecord(
            conversation_id=conversation_id, message_id=message_id, model=hit.model,
            provider=hit.model.split("/", 1)[0], route_kind="cache", route=decision, cache_status="hit",
            cache_similarity=hit.similarity, cache_source_turn=hit.source_turn_id, cost_usd=0.0,
            saved_usd=saved, route_ms=hit.lookup_ms, ttft_ms=hit.lookup_ms, total_ms=hit.lookup_ms,
            status="ok", finish_reason="stop",
        )
        await self._db(self.store.finish_turn, message_id, hit.text, "complete", record)
        try:
            self.cache.record_hit(hit.entry_id, saved)
        except Exception:  # noqa: BLE001
            pass
        yield TurnFinished(record=record, text=hit.text)

    def _cache_source(self, turn_id: str | None) -> dict[str, Any] | None:
        """Where a hit came from, for the badge's link: the source turn's message, its
        conversation and title, and when it was answered (a snapshot; the TUI re-resolves
        the turn id when the user follows the link, in case it was deleted since)."""
        if not turn_id:
            return None
        try:
            turn = self.store.get_turn(turn_id)
            conv = self.store.get_conversation(turn.conversation_id) if turn and turn.conversation_id else None
        except Exception:  # noqa: BLE001 - a missing link must never fail a hit
            return {"turn_id": turn_id}
        if turn is None:
            return {"turn_id": turn_id}
        return {"turn_id": turn_id, "message_id": turn.message_id, "conversation_id": turn.conversation_id,
                "conversation_title": conv.title if conv is not None else None, "created_at": turn.created_at}

    def _cache_store(self, system: str | None, history: list[Message], prompt: str, params: dict[str, Any],
                     key_model: str | None, text: str, model: str, turn_id: str) -> None:
        try:
            self.cache.store(system, _as_pairs(history), prompt, params, key_model, text=text, model=model,
                             turn_id=turn_id, finish_reason="stop")
        except Exception:  # noqa: BLE001 - caching is best effort; the turn is already saved
            pass

    def _penalise_cache_source(self, message_id: str | None) -> None:
        if message_id is None:
            return
        turn = self.store.turn_for_message(message_id)
        if turn is None or turn.cache_status != "hit":
            return
        try:
            self.cache.penalise_turn(turn.cache_source_turn)
        except Exception:  # noqa: BLE001
            pass

    # ---------------------------------------------------------------- records
    def _record(
        self,
        conversation_id: str | None,
        message_id: str | None,
        info: ModelInfo,
        decision: RouteDecision,
        attempt: _Attempt,
        route_ms: float,
        cache_status: str,
        messages: tuple[Message, ...],
        system: str | None,
        *,
        stopped: str | None = None,
    ) -> TurnRecord:
        """`stopped`: the error line of a stream stopped by something other than the provider
        (the turn is 'interrupted', its usage estimated if the API had not reported it yet)."""
        from chatroute.catalog.cost import turn_cost
        from chatroute.catalog.tokens import count_messages
        from chatroute.store.records import TurnRecord

        usage = attempt.usage
        estimated = False
        usage_warning = None
        if usage is not None and usage.problems:
            # Counts the server got wrong (negative, absurd, not numbers) are not billed as
            # such: the turn is estimated like one without a report, and says why.
            usage_warning = f"usage report refused ({'; '.join(usage.problems)}): tokens and cost estimated"
            usage = None
        unbilled = (attempt.error is not None and not stopped and not attempt.text
                    and attempt.first_token_at is None and (usage is None or usage.partial))
        if unbilled:
            # Failed before the first token (a 429, a 5xx, a refused key): nothing was billed.
            usage = None
        elif usage is not None and usage.partial:
            # The stream ended before the final counts: the server's input and cache figures
            # stand, the output is counted from the text that was kept.
            n_out = _estimate_output(attempt.text, info)
            usage = replace(usage, output_tokens=max(usage.output_tokens, n_out), partial=False)
            estimated = True
        elif usage is None and (attempt.text or attempt.error is None or attempt.first_token_at is not None
                                or stopped):
            # No usage from the API (some servers omit it, or the stream broke): estimate, and say so.
            n_in, _ = count_messages(list(messages), system, info.id)
            usage = UsageReport(input_tokens=n_in, output_tokens=_estimate_output(attempt.text, info))
            estimated = True
        cost = turn_cost(info, usage) if usage is not None else (0.0 if unbilled else None)

        ttft_ms: float | None = None
        total_ms: float | None = None
        tokens_per_s: float | None = None
        if attempt.first_token_at is not None:
            ttft_ms = (attempt.first_token_at - attempt.sent_at) * 1000
            end = attempt.last_token_at or attempt.first_token_at
            total_ms = (end - attempt.sent_at) * 1000
            gen_s = end - attempt.first_token_at
            if usage is not None and usage.output_tokens > 1 and gen_s > 0:
                tokens_per_s = (usage.output_tokens - 1) / gen_s
        elif attempt.sent_at:
            total_ms = (time.perf_counter() - attempt.sent_at) * 1000

        if stopped:
            status = "interrupted"
        elif attempt.error is None:
            status = "ok"
        elif attempt.text:
            status = "interrupted"
        else:
            status = "error"
        route = decision.to_dict()
        route["reroutes"] = attempt.reroutes
        if usage_warning:
            route["usage_warning"] = usage_warning
        return TurnRecord(
            conversation_id=conversation_id, message_id=message_id, model=info.id, provider=info.provider,
            route_kind=decision.kind, route=route, cache_status=cache_status,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cached_tokens=usage.cached_input_tokens if usage else 0,
            cache_write_tokens=usage.cache_write_tokens if usage else 0,
            usage_estimated=estimated, cost_usd=cost, price_as_of=info.price_as_of, route_ms=route_ms,
            status=status, finish_reason=attempt.finish,
            error=stopped or (_error_line(info.id, attempt.error, status) if attempt.error else None),
            ttft_ms=ttft_ms, total_ms=total_ms, tokens_per_s=tokens_per_s,
        )

    def _save_stopped(
        self,
        conversation_id: str,
        message_id: str,
        decision: RouteDecision,
        route_ms: float,
        cache_status: str,
        messages: tuple[Message, ...],
        system: str | None,
        info: ModelInfo,
        attempt: _Attempt,
        exc: BaseException,
    ) -> None:
        """The final write of a stream stopped mid-way: the partial text, marked interrupted,
        and an 'interrupted' turn record with the usage the API reported so far or, when it
        had not, estimated from the request and the partial text (flagged as estimated)."""
        kept = " — partial reply kept" if attempt.text else ""
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit, SystemExit)):
            line = f"{info.id}: stopped before the reply was complete{kept}"
        else:
            line = f"{info.id}: the turn failed mid-stream ({type(exc).__name__}){kept}"
        if attempt.error is None:
            attempt.error = ProviderError(ErrorKind.CONNECTION, "stopped", provider=info.provider, model=info.id)
        # On the event loop and while stopping: a lock held by another process gets a moment,
        # not minutes. If it is still held, the next open recovers the stream instead.
        try:
            with self.store.waits.at_most(STOP_SAVE_WAIT_S):
                if not attempt.sent_at:  # the request never left: nothing was billed
                    self.store.finish_turn(message_id, attempt.text, "interrupted")
                    return
                record = self._record(conversation_id, message_id, info, decision, attempt, route_ms, cache_status,
                                      messages, system, stopped=line)
                self.store.finish_turn(message_id, attempt.text, "interrupted", record)
        except Exception:  # noqa: BLE001 - the stop goes on; the next open recovers the stream instead
            pass

    def _learn(self, info: ModelInfo, attempt: _Attempt, record: TurnRecord) -> None:
        """Feed the health board a successful stream's timings (failures before the first
        token are recorded as they happen, so a reroute's cooldown holds for the next turn and
        the next process). A stream that broke after its first token is a failure too, not a
        success: it counts against the model, and a routed retry goes elsewhere meanwhile."""
        if attempt.error is not None:
            if attempt.first_token_at is not None:
                self._record_failure(info.id, attempt.error)
            return
        if record.ttft_ms is None:
            return
        try:
            self.health.record_success(info.id, ttft_s=record.ttft_ms / 1000, tokens_per_s=record.tokens_per_s,
                                       output_tokens=record.output_tokens)
        except OSError:
            pass

    def _record_failure(self, model_id: str, err: ProviderError) -> None:
        try:
            self.health.record_failure(model_id, err.kind.value, retry_after=err.retry_after, message=err.message)
        except OSError:
            pass


PREFS_RESET_FILE = "preferences-reset-at"


def preferences_reset_at(paths: Paths) -> str | None:
    """When the user last reset the learned adjustment (signals before it are ignored)."""
    try:
        return (paths.data_dir / PREFS_RESET_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _providers_fingerprint(config: Config) -> str:
    import hashlib
    import json

    # The key takes part (only through this one-way digest) so fixing a bad key re-enables.
    shape = {name: [p.kind, p.resolved_base_url(), p.api_key_env, p.api_key() or ""]
             for name, p in sorted(config.providers.items())}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _estimate_output(text: str, info: ModelInfo) -> int:
    """Output tokens of `text` when the API never said; never above the request's max_tokens,
    which is all a provider bills for a stream it was made to stop."""
    from chatroute.catalog.tokens import count_tokens

    n_out, _ = count_tokens(text, info.id)
    return min(n_out, info.max_output_tokens) if info.max_output_tokens else n_out


def _budget_chars(tokens: int) -> tuple[float, float]:
    """A history budget of `tokens` as the store weighs a branch: (max_chars, per_message).
    Messages whose characters plus per_message each stay within max_chars are exactly those
    the router estimates at ceil(chars / 3.6) + 8 a message <= `tokens`, so the model the
    budget was made for never finds the trimmed input too large."""
    from chatroute.routing.policy import CHARS_PER_TOKEN, MESSAGE_FRAMING_TOKENS

    return tokens * CHARS_PER_TOKEN, MESSAGE_FRAMING_TOKENS * CHARS_PER_TOKEN


def _narrowed(window: HistoryWindow, tokens: int, limited_by: str | None) -> HistoryWindow:
    """`window` cut further to a smaller budget, without reading the store again."""
    from chatroute.store.db import tail_start

    max_chars, per_message = _budget_chars(tokens)
    start = tail_start([(m.role, len(m.content)) for m in window.messages], max_chars, per_message)
    return replace(window, messages=window.messages[start:], budget_tokens=tokens, limited_by=limited_by)


def _noted(decision: RouteDecision, window: HistoryWindow) -> RouteDecision:
    """The decision, saying which turns were left out of the request (if any were)."""
    note = window.note
    if note and note not in decision.notes:
        decision.notes.append(note)
    return decision


def _storage_problem(path: Any, exc: BaseException) -> str:
    """One line: which file could not be written, and the system's reason."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    return f"{path}: {reason}"


def _as_pairs(history: list[Message]) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in history]


def _title(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def _short(model_id: str) -> str:
    return model_id.split("/", 1)[-1]


def _error_line(model_id: str, err: ProviderError, status: str) -> str:
    what = {
        ErrorKind.RATE_LIMITED: "rate limited",
        ErrorKind.OVERLOADED: "overloaded",
        ErrorKind.SERVER: "server error",
        ErrorKind.AUTH: "authentication failed (check the API key)",
        ErrorKind.NOT_FOUND: "model not found",
        ErrorKind.CONTEXT_OVERFLOW: "the conversation is longer than the model's context window",
        ErrorKind.CONTENT_POLICY: "refused by the provider's content policy",
        ErrorKind.CONNECTION: "connection failed",
        ErrorKind.TIMEOUT: "timed out",
        ErrorKind.MALFORMED_STREAM: "the stream was malformed",
        ErrorKind.BAD_REQUEST: "bad request",
    }[err.kind]
    code = f" ({err.status})" if err.status else ""
    if err.retry_after:
        # The server said when it will take requests again: the user's retry hint.
        wait = f"retry after {err.retry_after:.0f} s"
        code = f" ({err.status}, {wait})" if err.status else f" ({wait})"
    tail = " — partial reply kept" if status == "interrupted" else ""
    detail = f": {err.message}" if err.message and err.message not in what else ""
    line = f"{model_id}: {what}{code}{detail}{tail}"
    return " ".join(line.split())
