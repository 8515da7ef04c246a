"""Which answers the cache takes for refusals (never stored, never served)."""

from __future__ import annotations

import pytest

from chatroute.cache.refusal import MAX_REFUSAL_CHARS, is_refusal


@pytest.mark.parametrize("text", [
    "I'm sorry, but I can't help with that.",
    "I’m sorry, but I’m unable to assist with that.",
    "I can't help with creating malware. If you're interested in security, I can explain defences.",
    "I cannot provide instructions for that.",
    "Sorry, I can't do that.",
    "I apologize, but I cannot fulfill this request.",
    "I won't write that.",
    "I'm not able to help with that.",
    "Unfortunately, I am unable to provide that information.",
    "As an AI language model, I cannot browse the internet.",
    "**I can't help with that.**",
])
def test_refusals(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "I can't help but notice you're using flexbox: use justify-content: center.",
    "Sorry, I can't help but laugh: the answer is 4.",
    "Sorry to hear that! Here's how to fix it: restart the service.",
    "I cannot stress enough how important tests are.",
    "I can help with that! Use flexbox.",
    "I won't lie, this is tricky: use grid.",
    "Unfortunately, the API changed in v2; use fetch() instead.",
    "I'm unable to reproduce it here, but the fix is to pin the version.",
    "I can't give legal advice, but here is how it usually goes: " + "a step. " * (MAX_REFUSAL_CHARS // 8),
])
def test_answers(text: str) -> None:
    assert not is_refusal(text)
