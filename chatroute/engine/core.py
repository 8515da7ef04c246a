"""The engine's front door: `Engine` opens the parts, and `run_turn` sequences one turn.

Clients (the TUI, the CLI) call `Engine.run_turn` and render the `TurnEvent`s it yields.
The order of work (docs/ARCHITECTURE.md, "One turn"): build the request, look up the cache,
route, stream, fail well (reroute before the first token, keep partial text after it),
persist in one transaction, then learn (health, cache, preferences). Each step's work lives
in a module of its own: history.py, route.py, budget.py, cache_path.py, answer.py,
records.py, and compare.py for compare mode.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import aclosing
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from chatroute.engine.answer import answer
from chatroute.engine.budget import InFlight, blocked_by_budget, over_budget_decision, reserved_decision
from chatroute.engine.cache_path import cache_params, cached_answer, penalise_regenerated_answer, serve_from_cache
from chatroute.engine.common import (
    STOP_SAVE_WAIT_S,
    STORAGE_ERRORS,
    NotReserved,
    StorageError,
    no_models_help,
    not_reserved_line,
    storage_problem,
    title,
)
from chatroute.engine.compare import open_compare_streams, record_compare_pick
from chatroute.engine.history import HistoryWindow, noted, regenerated_question, window_for
from chatroute.engine.records import record_override
from chatroute.engine.route import check_fits, decide_route, targets
from chatroute.errors import ChatrouteError, ConfigError
from chatroute.providers.base import Message
from chatroute.routing.preferences import PREFS_RESET_FILE, preferences_reset_at
from chatroute.turn_events import Routed, TurnEvent, TurnFinished, TurnStarted

if TYPE_CHECKING:
    from pathlib import Path

    from chatroute.cache import AnswerCache
    from chatroute.catalog import Catalog, ModelInfo
    from chatroute.config import Config
    from chatroute.paths import Paths
    from chatroute.providers.base import Provider
    from chatroute.routing.budget import BudgetBlock
    from chatroute.routing.health import HealthBoard
    from chatroute.routing.policy import PromptTooLargeError, RouteDecision, Router
    from chatroute.store import Store
    from chatroute.store.records import Conversation, StoredMessage

T = TypeVar("T")


@dataclass(frozen=True)
class _TurnPlan:
    """What run_turn settles before anything is written."""

    prompt: str  # what is sent: the question a regenerate asks again, else the typed prompt
    override: str | None
    use_cache: bool
    conv: Conversation | None  # None: the turn starts a conversation
    question: StoredMessage | None  # a regenerate's user message, already stored
    regenerated_model: str | None
    window: HistoryWindow
    title: str


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
        # Turns streaming now, at their expected cost: counted against the budget caps.
        self.in_flight = InFlight(self)
        # Given to the answer cache when it opens (AnswerCache.on_reembed): a command says why its
        # first lookup after an upgrade takes seconds.
        self.on_cache_reembed: Callable[[int], None] | None = None
        # Told once, in words for the user, when the answer cache's tables turn out damaged
        # (cache/damage.py): every turn then goes to a model, which nothing else would show.
        self.on_cache_damaged: Callable[[str], None] | None = None
        self._cache_damage_told = False
        # What other processes change under a long-running one (`serve`, the TUI): a refreshed
        # price table, a preference reset. Each decision looks (two stats) and catches up.
        self._seen = self._shared_stamps()

    def _shared_stamps(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        def stamp(path: Path) -> tuple[int, int] | None:
            try:
                st = path.stat()
            except OSError:
                return None
            return st.st_mtime_ns, st.st_size

        return stamp(self.paths.prices_file), stamp(self.paths.data_dir / PREFS_RESET_FILE)

    def catch_up(self) -> None:
        """Take what another process changed since: `chatroute prices update` (the catalogue is
        rebuilt: a server kept charging the old prices) or `chatroute prefs reset` (the learned
        adjustment is rebuilt: a server kept applying what the reset forgot)."""
        now = self._shared_stamps()
        if now == self._seen:
            return
        prices_changed, reset = now[0] != self._seen[0], now[1] != self._seen[1]
        self._seen = now
        if prices_changed:
            from chatroute.catalog import Catalog

            self.catalog = Catalog.build(self.config, self.paths)
        if reset and self._router is not None:
            self._relearn()

    # ----------------------------------------------------------------- set-up
    @classmethod
    def open(cls, paths: Paths | None = None, config: Config | None = None, *,
             on_wait: Callable[[str | None], None] | None = None) -> Engine:
        """`on_wait`: told while opening the store waits for another process's lock (Store.open)."""
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
        config.warnings.extend(_unwritable_files(paths))
        catalog = Catalog.build(config, paths, probe_local=True)
        # Replies a killed process left mid-stream get an estimated, priced turn record.
        store = Store.open_for(config, paths.database,
                               price_recovered=pricer(catalog, max_history_tokens=config.chat.max_history_tokens),
                               on_wait=on_wait)
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

                    cache = AnswerCache(self.paths.database, get_embedder().embed, self.config.cache)
                    cache.on_reembed = self.on_cache_reembed
                    cache.on_damaged = self._cache_damaged
                    cache.on_recovered = self._cache_recovered
                    self._cache = cache
                    if cache.damaged is not None:  # found as it opened
                        self._cache_damaged(cache.damaged)
        return self._cache

    def _cache_damaged(self, reason: str) -> None:
        if self._cache_damage_told or self.on_cache_damaged is None:
            return
        from chatroute.cache.damage import notice

        self._cache_damage_told = True
        self.on_cache_damaged(notice(reason))

    def _cache_recovered(self) -> None:
        # Said where the damage was, and only if it was: a later damage is told again.
        if not self._cache_damage_told or self.on_cache_damaged is None:
            return
        from chatroute.cache.damage import recovered_notice

        self._cache_damage_told = False
        self.on_cache_damaged(recovered_notice())

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
            raise StorageError(storage_problem(self.store.path, exc)) from None

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
                # Opening it and loading its index was ~0.2 s of the first turn's Enter -> request
                # (more once after an upgrade that changes how entries are embedded).
                self.cache.warm()
                from chatroute.embed.contextual import get_contextual

                get_contextual()  # the verifier's encoder: ~0.5 s to load, else paid by the first near match
            except Exception:  # noqa: BLE001 - as above
                pass

    def prepare_models(self, models: Iterable[str]) -> None:
        """prepare_providers for the providers of these models (names as the user wrote them; an
        unknown one is left for the turn to report). Safe off the UI thread, as warm() is."""
        names = []
        for model in models:
            try:
                names.append(self.catalog.get(self.catalog.resolve(model)).provider)
            except Exception:  # noqa: BLE001 - the turn reports it, as one line
                pass
        self.prepare_providers(names)

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

    def unavailable(self) -> dict[str, str]:
        """The pool's models routing skips now, each with why in a few words, as `chatroute
        models` says it: `cooling 5 min`, `disabled (provider: authentication failed)`."""
        from chatroute.routing.health import skip_label

        rows = self.health.snapshot([m.id for m in self.catalog.pool()])
        return {model: why for model, row in rows.items() if (why := skip_label(row)) is not None}

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
        max_output_tokens: int | None = None,
    ) -> RouteDecision:
        """The router's decision for this turn over the pool (see engine/route.py). `preset`:
        this decision only (a served `chatroute/frugal` request); `max_output_tokens`: the
        client's own limit on the answer (a served request's max_tokens)."""
        return decide_route(self, prompt, history=history, system=system, pin=pin, override=override,
                             current_model=current_model, exclude=exclude, preset=preset,
                             max_output_tokens=max_output_tokens)

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
        user = None
        if regenerate_of is not None:
            user = regenerated_question(self, regenerate_of)
            if user is None:
                return None  # run_turn says what is wrong with it
            prompt = user.content
        window = window_for(self, conv.id if conv is not None else None, prompt, question=user, system=system,
                            pin=pin, override=override)
        try:
            check_fits(self, prompt, window.messages, system=system, pin=pin, override=override)
        except PromptTooLargeError as exc:
            return exc
        return None

    def route(self, prompt: str, conversation_id: str | None = None, override: str | None = None) -> dict[str, Any]:
        """The decision for `prompt` as the next turn, without calling a model."""
        from chatroute.routing.policy import parse_override

        at_model, prompt = parse_override(prompt)
        override = override or at_model
        if at_model and not prompt.strip():  # as `ask` refuses it: "@gpt-4o" alone asks nothing
            raise ChatrouteError("the prompt is empty", exit_code=2)
        if override is None and not conversation_id and not self.catalog.pool() and not self.config.router.default:
            raise ConfigError(no_models_help(self.config, self.paths.config_file))
        system = None
        pin = None
        cache_on = self.cache_enabled
        if conversation_id:
            conv = self.store.get_conversation(conversation_id)
            if conv is None:
                raise ChatrouteError(f"no conversation {conversation_id!r}", exit_code=2)
            system, pin, cache_on = conv.system_prompt, conv.pinned_model, cache_on and conv.cache_enabled
        window = window_for(self, conversation_id or None, prompt, question=None, system=system, pin=pin,
                            override=override)
        decision = self.decide(
            prompt, history=window.messages, system=system, pin=pin, override=override,
            current_model=window.current_model,
        )
        out = noted(decision, window).to_dict()
        # The turn asks the cache first: a preview that left it out named a model that `ask`
        # then did not call.
        out["cache_hit"] = cached_answer(self, system, window.messages, prompt, override or pin) if cache_on else None
        return out

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
        model, and below it every model (the default too) the turn would cost more on than
        is left; a client asks the user and re-sends with `allow_over_budget=True`. Reads only.

        None unless the budget refuses the turn, the turn is routed (a pin or an `@model`
        override is the user's explicit choice already) and no cache hit would answer it for free."""
        return blocked_by_budget(self, conversation_id, prompt, use_cache=use_cache,
                                    regenerate_of=regenerate_of, system=system)

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

        A routed turn the budget refuses raises `BudgetExceeded` before anything is stored
        (see `budget_block`); with `allow_over_budget=True` it runs on the cheapest model."""
        plan = self._plan_turn(conversation_id, prompt, override=override, use_cache=use_cache,
                               regenerate_of=regenerate_of, system=system, allow_over_budget=allow_over_budget)
        conv, user_id, assistant_id = await self._store_turn(plan, system)
        yield TurnStarted(conv.id, user_id, assistant_id, plan.prompt)

        prompt, override, history, current_model = (plan.prompt, plan.override, plan.window.messages,
                                                     plan.window.current_model)
        if plan.regenerated_model:
            if self.config.router.learn:  # off: nothing kept that a later `learn = true` would apply
                await self._db(
                    self.store.add_preference, "regenerate", chosen_model=None,
                    rejected_models=[plan.regenerated_model], prompt=prompt, conversation_id=conv.id,
                    message_id=assistant_id,
                )
            penalise_regenerated_answer(self, regenerate_of)  # the cache's own bar, not the router's learning
            self._relearn()

        pin = conv.pinned_model
        cache_on = plan.use_cache and self.cache_enabled and conv.cache_enabled
        cache_key_model = override or pin
        params = cache_params(self, cache_key_model)
        cache_status = "bypass"
        if cache_on:
            async for event in serve_from_cache(
                self, conv.id, assistant_id, conv.system_prompt, history, prompt, params, cache_key_model,
                pin=pin, override=override, current_model=current_model,
            ):
                yield event
                if isinstance(event, TurnFinished):
                    if override:
                        await record_override(self, conv, assistant_id, prompt, history, override, current_model)
                    return
            cache_status = "miss"

        route_started = time.perf_counter()
        # Its expected cost is reserved until its record is in the ledger (released below).
        decision = await self._route_turn(plan, conv, assistant_id, route_started, allow_over_budget)
        route_ms = (time.perf_counter() - route_started) * 1000
        answered = False
        try:
            yield Routed(decision.model, decision.kind, decision.reason, decision.to_dict())
            # aclosing: a consumer that walks away mid-stream closes the stream too, which records it.
            async with aclosing(answer(self, conv, assistant_id, history, prompt, decision, route_ms, cache_status,
                                       cache_key=(params, cache_key_model) if cache_on else None,
                                       current_model=current_model)) as events:
                async for event in events:
                    if isinstance(event, TurnFinished):
                        answered = bool(event.text)
                    yield event
        finally:
            self.in_flight.release(decision)
        # An override that got no answer is no choice of one answer over another, and the
        # same command run again after the failure would count the one choice per attempt.
        if override and answered:
            # After the answer, not before: this costs a routing decision and a write.
            await record_override(self, conv, assistant_id, prompt, history, override, current_model)

    def _plan_turn(self, conversation_id: str | None, prompt: str, *, override: str | None, use_cache: bool,
                   regenerate_of: str | None, system: str | None, allow_over_budget: bool) -> _TurnPlan:
        """Everything run_turn checks before it writes: the prompt and override, the
        conversation, a regenerate's question, the history window, the size and the budget."""
        from chatroute.routing.policy import parse_override

        at_model, prompt = parse_override(prompt)
        override = override or at_model
        if override:
            override = self.catalog.resolve(override)
        if not prompt.strip():
            raise ChatrouteError("the prompt is empty", exit_code=2)
        if override is None and not self.catalog.pool():
            raise ConfigError(no_models_help(self.config, self.paths.config_file))
        conv = None
        if conversation_id is not None:
            conv = self.store.get_conversation(conversation_id)
            if conv is None:
                raise ChatrouteError(f"no conversation {conversation_id!r}", exit_code=2)
            if override is None and conv.pinned_model:
                # A pin gone from the config is said before anything is stored.
                targets(self, conv.pinned_model, None, strict=True)
        asked = prompt
        question, regenerated_model = None, None
        if regenerate_of is not None:
            question, regenerated_model = self._regenerate_target(regenerate_of)
            prompt, use_cache = question.content, False
        turn_system = conv.system_prompt if conv is not None else system
        turn_pin = conv.pinned_model if conv is not None else None
        window = window_for(self, conv.id if conv is not None else None, prompt, question=question,
                            system=turn_system, pin=turn_pin, override=override)
        # Before anything is written: an input no model can take would only fail at the provider.
        check_fits(self, prompt, window.messages, system=turn_system, pin=turn_pin, override=override)
        if not allow_over_budget and override is None:
            block = self.budget_block(conversation_id, asked, use_cache=use_cache, regenerate_of=regenerate_of,
                                      system=system)
            if block is not None:
                from chatroute.routing.budget import BudgetExceeded

                raise BudgetExceeded(block)
        return _TurnPlan(prompt=prompt, override=override, use_cache=use_cache, conv=conv, question=question,
                         regenerated_model=regenerated_model, window=window, title=title(asked))

    def _regenerate_target(self, regenerate_of: str) -> tuple[StoredMessage, str | None]:
        """A regenerate is a sibling of an earlier answer: same user message, new reply. The
        question it asks again, and the model of the answer it replaces (None when that reply
        has no text: a retry of a failed request rejects no answer, and the failure is already
        counted against the model's health)."""
        old = self.store.get_message(regenerate_of)
        if old is None:
            raise ChatrouteError(f"no message {regenerate_of!r}", exit_code=2)
        question = self.store.get_message(old.parent_id) if old.parent_id else None
        if question is None or question.role != "user":
            raise ChatrouteError("that message cannot be regenerated", exit_code=2)
        return question, old.model if old.content.strip() else None

    async def _store_turn(self, plan: _TurnPlan, system: str | None) -> tuple[Conversation, str, str]:
        """The conversation (new if need be), the user message (unless a regenerate's) and an
        empty, streaming assistant message; returns the conversation and the two message ids."""
        conv = plan.conv
        if conv is None:
            conv = await self._db(self.store.create_conversation, title=plan.title, system_prompt=system)
        elif not conv.title and plan.question is None and plan.window.leaf_id is None:
            # Made empty before its first turn (a pin, the cache switched off, a new chat in the
            # TUI): it is titled by its first prompt, as one the turn makes is.
            await self._db(self.store.rename_conversation, conv.id, plan.title)
            conv = replace(conv, title=plan.title)
        question, assistant = await self._db(self.store.add_question_and_answer, conv.id, plan.prompt,
                                             plan.window.leaf_id, question=plan.question)
        return conv, question.id, assistant.id

    async def _route_turn(self, plan: _TurnPlan, conv: Conversation, message_id: str, started: float,
                          allow_over_budget: bool) -> RouteDecision:
        """The decision for a turn the cache did not answer. Refused, the turn's message is
        closed as an error and the refusal raised (unless the user allowed going over budget)."""
        current = plan.window.current_model
        if plan.regenerated_model is not None and plan.regenerated_model == current:
            current = None  # the user just rejected its answer: no bonus for staying on it
        try:
            try:
                decision = await self.reserved(lambda: self.decide(
                    plan.prompt, history=plan.window.messages, system=conv.system_prompt, pin=conv.pinned_model,
                    override=plan.override, current_model=current,
                ))
            except ChatrouteError as exc:
                consented = over_budget_decision(self, exc, started) if allow_over_budget else None
                if consented is None:
                    raise
                sent_anyway = consented
                decision = await self.reserved(lambda: sent_anyway, check=False)
        except ChatrouteError as exc:
            await self._close_unsent(message_id, exc)
            raise
        return noted(decision, plan.window)

    async def _close_unsent(self, message_id: str, exc: ChatrouteError) -> None:
        """Close the message of a turn refused before it was sent as an empty 'error'. When
        that write fails too (the database full or read-only), it stays 'streaming' for the
        next open to settle (nothing was sent, so nothing is billed), and a storage error says so."""
        try:
            await self._db(self.store.finish_turn, message_id, "", "error")
        except StorageError:
            if not isinstance(exc, StorageError):
                raise exc from None  # the refusal itself is what the user needs to read
            raise StorageError(f"{exc}; its status could not be written either; the next start marks it "
                               "interrupted") from None

    async def reserved(self, decide: Callable[[], RouteDecision], *, check: bool = True) -> RouteDecision:
        """`decide()`'s decision, its expected cost reserved against the budget caps in every
        process sharing the database until `in_flight.release` (see engine/budget.py). `check`:
        False for a decision the user sent past the cap."""
        async def hold(decision: RouteDecision, budgeted: bool) -> bool:
            if not self.in_flight.capped():
                return self.in_flight.hold(decision)  # nothing to write
            try:
                return await self._db(self.in_flight.hold, decision, check=check and budgeted)
            except StorageError as exc:
                raise NotReserved(not_reserved_line("the turn's", exc)) from None

        return await reserved_decision(self, decide, hold)

    # ---------------------------------------------------------------- compare
    def compare(
        self, conversation_id: str | None, prompt: str, models: list[str]
    ) -> dict[str, AsyncIterator[TurnEvent]]:
        """One prompt to several models at once. Each answer is a sibling reply of the same
        user message; the first is shown until the user picks. Consume the streams
        concurrently: a slow or failing model never blocks the others."""
        return open_compare_streams(self, conversation_id, prompt, models)

    def pick_compare(self, conversation_id: str, message_id: str) -> None:
        """The user picked this answer: show it, continue from it, and teach the router."""
        record_compare_pick(self, conversation_id, message_id)




def _unwritable_files(paths: Paths) -> list[str]:
    """A link (or anything but a file) at one of chatroute's files is refused at each write;
    some of those writes are best effort (health, serve state), so it is said once up front."""
    from chatroute.fsutil import unsafe_reason

    return [f"{path}: it {why}; chatroute will not write it (remove it to let chatroute manage the file)"
            for path in paths.written_files() if (why := unsafe_reason(path))]


def _providers_fingerprint(config: Config) -> str:
    import hashlib
    import json

    # The key takes part (only through this one-way digest) so fixing a bad key re-enables.
    shape = {name: [p.kind, p.resolved_base_url(), p.api_key_env, p.api_key() or ""]
             for name, p in sorted(config.providers.items())}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
