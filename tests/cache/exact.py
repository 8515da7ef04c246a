"""The exact-fact guards on two prompts as typed, for the guard tests."""

from __future__ import annotations

from chatroute.cache.guards import hard_refuse_reason
from chatroute.cache.text import features


def hard(a: str, b: str) -> str | None:
    return hard_refuse_reason(features(a), features(b))
