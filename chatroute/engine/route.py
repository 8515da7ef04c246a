"""Where a turn may go: the pin, override and default as the catalogue knows them, the router's
decision over the pool, and the size check a client runs before it stores anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatroute.engine.common import required_max_tokens_by_id
from chatroute.errors import ConfigError
from chatroute.providers.base import Message
from chatroute.routing.decision import SHORTEN_MESSAGES, RouteRequest

if TYPE_CHECKING:
    from chatroute.catalog import ModelInfo
    from chatroute.engine.core import Engine
    from chatroute.routing.policy import RouteDecision


@dataclass(frozen=True)
class Targets:
    """A turn's pin, override and default as model ids, with what the catalogue knows of
    them (the router needs their context windows even when they are not in the pool)."""

    pin: str | None
    override: str | None
    default: str | None
    known: list[ModelInfo]


def targets(engine: Engine, pin: str | None, override: str | None, *, strict: bool) -> Targets:
    """`strict`: an unknown pin or override is the caller's error; otherwise it is passed on
    unresolved. With an override the pin is no target: the turn goes where the override says,
    so a pin the config no longer has does not stand in its way."""
    known: list[ModelInfo] = []

    def resolve(ref: str | None, *, must: bool, pinned: bool = False) -> str | None:
        if not ref:
            return None
        try:
            info = engine.catalog.get(ref)
        except ConfigError as exc:
            if must and pinned:
                raise ConfigError(stale_pin(ref, exc)) from None
            if must:
                raise
            return ref
        known.append(info)
        return info.id

    return Targets(pin=None if override else resolve(pin, must=strict, pinned=True),
                   override=resolve(override, must=strict),
                   default=resolve(engine.config.router.default, must=False), known=known)


def stale_pin(pin: str, exc: ConfigError) -> str:
    """Why a turn cannot go to the model its conversation is pinned to (taken out of the config
    since), and what the user can do: the bare catalogue error named no pin."""
    return (f"this conversation is pinned to {pin}, which is not configured now ({exc}); send the turn to "
            "another model (ask -m MODEL, or @model in the TUI), or unpin the conversation (in the TUI: "
            "Ctrl+O, then u)")


def window_targets(engine: Engine, pin: str | None, override: str | None) -> list[ModelInfo]:
    """The models whose windows bound this turn's history; empty when one of them has no
    known window (it might take anything, so only the cap applies)."""
    found = targets(engine, pin, override, strict=False)
    by_id = {m.id: m for m in [*found.known, *engine.catalog.pool()]}
    forced = found.override or found.pin
    if forced:
        models = [by_id[forced]] if forced in by_id else []
    else:
        pool = engine.catalog.pool()
        try:
            # A model routing may not pick now (cooling down, disabled) must not set the size.
            models = [m for m in pool if not engine.health.unavailable_reason(m.id)] or pool
        except Exception:  # noqa: BLE001 - an unreadable health file: every model counts
            models = pool
        default = found.default
        if default:
            if default not in by_id:
                return []
            models = [*models, by_id[default]]
    return models if all(m.context_window for m in models) else []


def decide_route(
    engine: Engine,
    prompt: str,
    *,
    history: list[Message],
    system: str | None,
    pin: str | None,
    override: str | None,
    current_model: str | None,
    exclude: set[str] | None = None,
    preset: str | None = None,
    failing_over: RouteDecision | None = None,
    max_output_tokens: int | None = None,
    billed_usd: float = 0.0,
) -> RouteDecision:
    """`preset`: this decision only (a served `chatroute/frugal` request); the router's own
    preset, and the explicit weights that go with it, are put back afterwards. `failing_over`:
    the decision of the turn this one replaces, whose expected cost is no longer to come.
    `max_output_tokens`: the client's own limit on the answer (RouteRequest.max_output_tokens).
    `billed_usd`: what the attempt it fails over from cost (it streamed thinking), not yet in
    the ledger: spent all the same."""
    from chatroute.routing.budget import budget_state

    engine.catch_up()  # prices refreshed or preferences reset by another process meanwhile
    router = engine.router
    kept = (router.preset, router.cost_weight_override)
    try:
        pool, health = engine.catalog.pool(), engine.health
        state = budget_state(engine.store, engine.config.budget,
                             pending_usd=engine.in_flight.total(but=failing_over) + billed_usd)
        found = targets(engine, pin, override, strict=True)
        return router.decide(RouteRequest(
            prompt=prompt, history=history, system=system, pool=pool, current_model=current_model,
            turn_index=sum(1 for m in history if m.role == "user"), health=health, budget_state=state,
            exclude=exclude or set(), preset=preset or engine.preset,
            pin=found.pin, override=found.override, default=found.default, known=found.known,
            unavailable=keyless(engine, [*pool, *found.known]), max_output_tokens=max_output_tokens,
            required_max_tokens=required_max_tokens_by_id(engine.config, [*pool, *found.known]),
        ))
    finally:
        router.preset, router.cost_weight_override = kept


def keyless(engine: Engine, models: Sequence[ModelInfo]) -> dict[str, str]:
    """The models whose provider has no API key set, with why: the router leaves them out rather
    than trying one, failing before the request and rerouting (a pin still goes to its model, and
    its error names the variable to set)."""
    out: dict[str, str] = {}
    for m in models:
        cfg = engine.config.providers.get(m.provider)
        if cfg is not None and cfg.api_key() is None:
            out[m.id] = f"no API key: {cfg.key_advice()}"
    return out


def pinned_decision(engine: Engine, prompt: str, *, history: list[Message], system: str | None,
                    pin: str, max_output_tokens: int | None = None) -> RouteDecision:
    """A pass-through request's decision: the pinned model, without weighing the pool. Nothing
    else may answer it (a pin never fails over) and no one reads a why panel for it, so the
    quality of every other model and the ledger's budget state would be work before the first
    token for nothing. Its size is still checked against the pin's window."""
    engine.catch_up()
    found = targets(engine, pin, None, strict=True)
    return engine.router.decide(RouteRequest(
        prompt=prompt, history=history, system=system, pool=[], pin=found.pin, known=found.known,
        turn_index=sum(1 for m in history if m.role == "user"), health=engine.health, served=True,
        max_output_tokens=max_output_tokens,
        required_max_tokens=required_max_tokens_by_id(engine.config, found.known),
    ))


def check_fits(engine: Engine, prompt: str, history: list[Message], *, system: str | None, pin: str | None,
               override: str | None) -> None:
    """Raise PromptTooLargeError when the input fits none of the models the turn could go to."""
    engine.router.check_fits(fits_request(engine, prompt, history, system=system, pin=pin, override=override))


def fits_request(engine: Engine, prompt: str, history: list[Message], *, system: str | None, pin: str | None,
                 override: str | None, served: bool = False,
                 shorten: str = SHORTEN_MESSAGES) -> RouteRequest:
    """What check_fits hands the router: the catalogue read here, so that the router's part (the
    token count, which grows with the input) can run in another thread without touching it.
    `served`: a request to `chatroute serve` (RouteRequest.served); `shorten`: its refusal's
    advice, in its wire's words (RouteRequest.shorten)."""
    found = targets(engine, pin, override, strict=False)
    return RouteRequest(prompt=prompt, history=history, system=system, pool=engine.catalog.pool(), pin=found.pin,
                        override=found.override, default=found.default, known=found.known, served=served,
                        shorten=shorten)
