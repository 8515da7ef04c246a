"""The SDK warm-up runs once per SDK kind, not before every request."""

from __future__ import annotations

import pytest
from openai.types.chat import ChatCompletionChunk

from chatroute.providers import warmup


def test_the_stream_validator_is_built_once_however_many_requests_prepare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "_done", set())
    rebuilds: list[bool] = []
    original = ChatCompletionChunk.model_rebuild

    def counting(*args: object, **kwargs: object) -> object:
        rebuilds.append(True)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ChatCompletionChunk, "model_rebuild", counting)
    for _ in range(3):
        warmup.import_first_request_modules("openai")
    warmup.import_first_request_modules("anthropic")  # another SDK: its own warm-up, no openai rebuild
    assert len(rebuilds) == 1
    assert warmup._done == {"openai", "anthropic"}
