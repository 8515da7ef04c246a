"""`chatroute serve` and thinking a model streams inside its text as `<think>…</think>` (Qwen3 or
a DeepSeek-R1 distill on a server that does not split it off): passed on as `reasoning_content`
is, not at all."""

from __future__ import annotations

from tests.fakeserver import Reply
from tests.serve.conftest import Served


def test_serve_passes_on_the_answer_without_its_think_block(fresh: Served) -> None:
    """Before, a served client got the block as the first lines of the answer's content."""
    fresh.fake.script("gpt-4o", Reply(text="Paris.", reasoning="It is Paris, I am sure.", think_tags=True))
    stream = fresh.client().chat.completions.create(
        model="openai/gpt-4o", messages=[{"role": "user", "content": "What is the capital of France?"}],
        stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Paris."
