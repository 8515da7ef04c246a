"""What an SDK's first request would otherwise import on the request's own clock.

The SDKs' HTTP stack imports its async backend (anyio's asyncio backend and memory streams)
and, for Anthropic, its tracing propagators lazily, on the first request; the OpenAI SDK also
builds the validator of its stream chunk type on the first chunk. Together about 0.1 s cold,
which the first turn's time to first token would count. `prepare()` on an adapter does them
ahead. Each step is optional: what another SDK version does not have is skipped.
"""

from __future__ import annotations

import importlib

_FIRST_REQUEST_MODULES = (
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio._core._sockets",
    "concurrent.futures.thread",
)
_ANTHROPIC_MODULES = ("opentelemetry.propagate",)
# (module, class) of the pydantic models read from every stream, built now instead of on first use.
_STREAM_MODELS = {"openai": (("openai.types.chat", "ChatCompletionChunk"),)}
# Kinds already done: prepare() runs before every request, and a forced rebuild of the chunk
# validator costs milliseconds each time, on the request's clock.
_done: set[str] = set()


def import_first_request_modules(kind: str) -> None:
    if kind in _done:
        return
    _done.add(kind)
    names = _FIRST_REQUEST_MODULES + (_ANTHROPIC_MODULES if kind == "anthropic" else ())
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optimisation only; the request imports what it needs
            pass
    for module, cls in _STREAM_MODELS.get(kind, ()):
        try:
            getattr(importlib.import_module(module), cls).model_rebuild(force=True)
        except Exception:  # noqa: BLE001 - as above
            pass
