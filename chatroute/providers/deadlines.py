"""The time limits of one streamed request, enforced on every step the adapters await.

Three limits, each with its own message:
- first token: `first_token_timeout_s` from sending (or sooner, when the routed turn's
  failover deadline leaves less): a routed turn moves on to another model;
- stall: once text flows, no new event for `stall_timeout_s` ends the stream (the partial
  reply is kept), so a server that stops mid-answer does not hold the turn for minutes;
- whole request: `timeout_s` from sending to the last event, however the bytes trickle.
The SDKs' own timeouts apply per socket read, so a server sending one byte a second would
never trip them; these are wall-clock deadlines on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chatroute.providers.base import ChatRequest, ErrorKind, ProviderError
from chatroute.providers.errors import first_token_timeout

T = TypeVar("T")
DEFAULT_STALL_TIMEOUT_S = 30.0


@dataclass
class StreamDeadlines:
    provider: str
    model: str
    first_token_at: float
    first_token_s: float
    failover_limited: bool  # the turn's failover deadline, not first_token_timeout_s, set first_token_at
    whole_at: float
    whole_s: float
    stall_s: float
    # Once text flows, one watchdog timer per stream checks the step in progress (re-armed at
    # most once per stall limit) instead of a timer set and cancelled around every token, which
    # was a good part of a relayed token's CPU when a server carries many streams.
    _step_task: asyncio.Task[Any] | None = field(default=None, repr=False)
    _step_started: float = 0.0
    _step_cancelling: int = 0
    _watchdog: asyncio.TimerHandle | None = field(default=None, repr=False)
    _fired: asyncio.Task[Any] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, cfg: Any, request: ChatRequest, *, provider: str) -> StreamDeadlines:
        now = asyncio.get_running_loop().time()
        whole_s = float(cfg.timeout_s)
        first_s = min(float(cfg.first_token_timeout_s), whole_s)
        failover = request.first_token_deadline is not None and request.first_token_deadline < now + first_s
        if failover:
            first_s = max(0.0, float(request.first_token_deadline) - now)  # type: ignore[arg-type]
        return cls(provider=provider, model=request.model, first_token_at=now + first_s, first_token_s=first_s,
                   failover_limited=failover, whole_at=now + whole_s, whole_s=whole_s,
                   stall_s=float(getattr(cfg, "stall_timeout_s", DEFAULT_STALL_TIMEOUT_S)))

    async def before_first_token(self, awaitable: Awaitable[T]) -> T:
        """One step before any text. Each step is bounded separately (rather than one scope
        around the whole prologue) so time the consumer spends between steps is not charged."""
        scope = asyncio.timeout_at(self.first_token_at)
        try:
            async with scope:
                return await awaitable
        except TimeoutError:
            if not scope.expired():
                raise
        if self.failover_limited:
            raise ProviderError(ErrorKind.TIMEOUT, f"no first token within {self.first_token_s:.0f} s "
                                "(the turn's failover deadline, [router] failover_timeout_s)",
                                provider=self.provider, model=self.model)
        raise first_token_timeout(provider=self.provider, model=self.model, seconds=self.first_token_s)

    async def after_first_token(self, awaitable: Awaitable[T]) -> T:
        """One step once text flows: bounded by the stall limit and the whole-request deadline."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._step_task, self._step_started, self._step_cancelling = task, loop.time(), task.cancelling()
        if self._watchdog is None:
            self._watchdog = loop.call_at(min(self._step_started + self.stall_s, self.whole_at), self._check)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self._fired is not task or task.uncancel() > self._step_cancelling:
                raise  # not ours, or cancelled from elsewhere as well
        finally:
            self._step_task = self._fired = None
        if self.whole_at <= self._step_started + self.stall_s:
            message = f"the request took longer than {self.whole_s:g} s (timeout_s)"
        else:
            message = f"the stream stalled: nothing new for {self.stall_s:g} s (stall_timeout_s)"
        raise ProviderError(ErrorKind.TIMEOUT, message, provider=self.provider, model=self.model)

    def _check(self) -> None:
        """The watchdog: stop the step in progress once past its limit, else look again when it
        would be. Between steps it rests; the next step wakes it."""
        self._watchdog = None
        task = self._step_task
        if task is None:
            return
        due = min(self._step_started + self.stall_s, self.whole_at)
        loop = asyncio.get_running_loop()
        if loop.time() >= due:
            self._fired = task
            task.cancel()
        else:
            self._watchdog = loop.call_at(due, self._check)
