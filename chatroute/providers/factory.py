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


def preload(kinds: tuple[str, ...] = ("openai", "anthropic")) -> None:
    """Import the adapters (and so the SDKs) ahead of the first turn.

    The SDK imports take 0.5-1.5 s cold; the UI can call this from a worker thread after
    its first frame so the first request does not pay for them.
    """
    if "openai" in kinds:
        import chatroute.providers.openai  # noqa: F401
    if "anthropic" in kinds:
        import chatroute.providers.anthropic  # noqa: F401
