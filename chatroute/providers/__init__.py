"""Provider adapters: OpenAI(-compatible) and Anthropic, behind one streaming interface.

Importing this package is cheap: the SDKs load only when `make_provider` builds an adapter.
"""

from __future__ import annotations

from chatroute.providers.base import (
    ChatRequest,
    ErrorKind,
    Finish,
    Message,
    Provider,
    ProviderError,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    UsageReport,
)
from chatroute.providers.factory import make_provider, preload

__all__ = [
    "ChatRequest",
    "ErrorKind",
    "Finish",
    "Message",
    "Provider",
    "ProviderError",
    "ReasoningDelta",
    "StreamEvent",
    "TextDelta",
    "UsageReport",
    "make_provider",
    "preload",
]
