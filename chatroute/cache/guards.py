"""Hit guards: may the answer cached for prompt A be served for prompt B?

Each rule returns the reason it refused, so a miss can be explained in a debug line and the
eval can count which rule did the work. The rules are symmetric.
"""

from __future__ import annotations

from chatroute.cache.text import OPPOSITES, Features

# Reorderings are checked over the first few topic words only; long prompts are rarely
# re-asked with the roles swapped, and the check is cubic.
_MAX_ORDER_ITEMS = 24


def refuse_reason(a: Features, b: Features) -> str | None:
    """None when B may be served A's answer, else a short reason."""
    if a.time_sensitive or b.time_sensitive:
        return "time-sensitive"
    if not a.content or not b.content:
        # "why?", "go on": meaning lives in the history, which the exact tier covers.
        return "no topic words"
    if a.numbers != b.numbers:
        return "numbers differ"
    if a.units != b.units:
        return "units differ"
    if a.negations != b.negations:
        return "negation differs"
    if a.literals != b.literals:
        return "quoted text or code differs"
    if a.symbols != b.symbols:
        return "code symbols differ"
    if a.answer_types != b.answer_types:
        return "question type differs"
    # A contrast, not an absence: "my name"/"your name" refuses, "my kitchen"/"the kitchen" not.
    if (a.persons - b.persons) and (b.persons - a.persons):
        return "person differs"
    if (a.quantifiers - b.quantifiers) and (b.quantifiers - a.quantifiers):
        return "quantifier differs"
    if a.tense != b.tense and (a.tense == "future" or b.tense == "future" or (a.tense and b.tense)):
        return "tense differs"
    tokens_a, tokens_b = set(a.tokens), set(b.tokens)
    for ent in a.entities:
        if ent not in tokens_b:
            return f"entity {ent!r} missing"
    for ent in b.entities:
        if ent not in tokens_a:
            return f"entity {ent!r} missing"
    if set(a.content) != set(b.content):
        return "topic words differ"
    if _opposite_conflict(a.relational, b.relational):
        return "direction differs"
    if _roles_swapped(a.sequence, b.sequence):
        return "word order swaps roles"
    return None


def _opposite_conflict(ra: set[str], rb: set[str]) -> bool:
    """A has x but not its opposite y; B has y but not x ("to Paris" vs "from Paris")."""
    for x in ra - rb:
        for y in OPPOSITES.get(x, ()):
            if y in rb and y not in ra:
                return True
    return False


def _roles_swapped(sa: list[str], sb: list[str]) -> bool:
    """Same words, but two of them trade places around a shared pivot.

    "dog bites man" / "man bites dog", "convert celsius to fahrenheit" / "fahrenheit to
    celsius", "is X faster than Y" / "is Y faster than X". A bag-of-words embedder scores these
    1.0. Moving a whole phrase ("in Python, how do I..." / "how do I ... in Python") keeps every
    pivot on the same side, so it is not flagged.
    """
    pa = _first_positions(sa[:_MAX_ORDER_ITEMS])
    pb = _first_positions(sb[:_MAX_ORDER_ITEMS])
    shared = [w for w in pa if w in pb]
    for i, x in enumerate(shared):
        for y in shared[i + 1 :]:
            if (pa[x] < pa[y]) == (pb[x] < pb[y]):
                continue
            lo_a, hi_a = sorted((pa[x], pa[y]))
            lo_b, hi_b = sorted((pb[x], pb[y]))
            for p in shared:
                if p in (x, y):
                    continue
                if lo_a < pa[p] < hi_a and lo_b < pb[p] < hi_b:
                    return True
    return False


def _first_positions(seq: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, w in enumerate(seq):
        out.setdefault(w, i)
    return out
