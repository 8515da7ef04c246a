"""Build a Provider from its config, importing only the SDK that provider needs.

The SDKs take a noticeable share of start-up time, so nothing here imports them at module
level: `chatroute --help` and `chatroute models` never pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatroute.providers.base import Provider

if TYPE_CHECKING:
    from chatroute.config import ProviderConfig


def make_provider(cfg: ProviderConfig) -> Provider:
    """A ready adapter for `cfg.kind` ("openai" | "anthropic"); the SDK client is made on first use."""
    if cfg.kind == "anthropic":
        from chatroute.providers.anthropic import AnthropicProvider

        return AnthropicProvider(cfg)
    if cfg.kind == "openai":
        from chatroute.providers.openai import OpenAIProvider

        return OpenAIProvider(cfg)
    raise ValueError(f"unknown provider kind {cfg.kind!r} (expected 'openai' or 'anthropic')")
