from __future__ import annotations

import pytest

from chatroute.cache.guards import refuse_reason
from chatroute.cache.text import features


def reason(a: str, b: str) -> str | None:
    return refuse_reason(features(a), features(b))


@pytest.mark.parametrize("a,b", [
    ("How do I reverse a list in Python?", "What's the way to reverse a Python list?"),
    ("In Python, how do I sort a dict by value?", "How do I sort a dict by value in Python?"),
    ("Why doesn't my code work?", "Why is my code not working?"),
    ("How do I optimise my SQL queries?", "Optimizing SQL queries - how?"),
    ("Convert 3 kilometres to miles", "convert three km to miles"),
    ("Difference between TCP and UDP", "difference between UDP and TCP"),
])
def test_rephrasings_pass(a, b):
    assert reason(a, b) is None


@pytest.mark.parametrize("a,b,why", [
    ("What's the weather like?", "What's the weather like today?", "time-sensitive"),
    ("What is 15% of 80?", "What is 15% of 90?", "numbers differ"),
    ("How heavy is 50 kg?", "How heavy is 50 lbs?", "units differ"),
    ("Can dogs eat grapes?", "Can dogs never eat grapes?", "negation differs"),
    ("What does `map` do?", "What does `filter` do?", "quoted text or code differs"),
    ("Who invented the telephone?", "When was the telephone invented?", "question type differs"),
    ("What is my name?", "What is your name?", "person differs"),
    ("Do all birds fly?", "Do some birds fly?", "quantifier differs"),
    ("Who was the president of France?", "Who is the president of France?", "tense differs"),
    ("What is the capital of France?", "What is the capital of Germany?", "entity 'france' missing"),
    ("Pros of remote work", "Cons of remote work", "topic words differ"),
    ("Is it safe to swim after eating?", "Is it safe to swim before eating?", "direction differs"),
    ("Convert Celsius to Fahrenheit", "Convert Fahrenheit to Celsius", "word order swaps roles"),
    ("x = a < b", "x = a > b", "code symbols differ"),
])
def test_guards_refuse(a, b, why):
    assert reason(a, b) == why
