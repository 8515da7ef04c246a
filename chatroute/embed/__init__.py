"""Local sentence embedder (numpy at run time); weights in chatroute/embed/data/."""

from __future__ import annotations

from chatroute.embed.embedder import Embedder, get_embedder

__all__ = ["Embedder", "get_embedder"]
