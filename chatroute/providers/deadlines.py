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
from dataclasses import dataclass
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
        stall_at = loop.time() + self.stall_s
        scope = asyncio.timeout_at(min(stall_at, self.whole_at))
        try:
            async with scope:
                return await awaitable
        except TimeoutError:
            if not scope.expired():
                raise
        if self.whole_at <= stall_at:
            message = f"the request took longer than {self.whole_s:g} s (timeout_s)"
        else:
            message = f"the stream stalled: nothing new for {self.stall_s:g} s (stall_timeout_s)"
        raise ProviderError(ErrorKind.TIMEOUT, message, provider=self.provider, model=self.model)
