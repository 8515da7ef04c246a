"""Whether an answer is a refusal ("I'm sorry, but I can't help with that."), which the cache
neither keeps nor serves: a model that declined once would decline every rephrasing for the
entry's lifetime, and a regenerate is the only way past it the user has.

Read from the answer's opening only, and only for a short answer: a long one that begins by
declining part of the question ("I can't give legal advice, but …") goes on to answer it. A
refusal read where there is none costs a model call next time; one missed costs the user an
answer, so the patterns lean towards declining.
"""

from __future__ import annotations

import re

# A refusal is a sentence or three; past this the answer has content of its own.
MAX_REFUSAL_CHARS = 600

_CANNOT = r"(?:i (?:can ?not|can't|won't|will not|must decline to)|i(?:'m| am) (?:not able to|unable to))"
_DECLINED = (r"(?:help|assist|provide|comply|do (?:that|this)|fulfil|fulfill|create|write|generate|produce|"
             r"engage|support|answer|discuss|give|share|offer|continue|go along)")
_REFUSAL = re.compile(
    r"^(?:(?:i'm|i am) sorry|sorry|i apologi[sz]e|unfortunately|apologies)\b[^.!?\n]{0,60}?\b" + _CANNOT
    + r"(?! help but)\b"
    r"|^" + _CANNOT + r" (?:\w+ )?" + _DECLINED + r"\b(?! but)"
    r"|^(?:i'm|i am) not (?:comfortable|going to)\b"
    r"|^as an ai(?: language model| assistant)?, i (?:can't|cannot|can not|won't|am not able|am unable)\b",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """True when `text` is a short answer that opens by declining to answer."""
    answer = text.strip()
    if not answer or len(answer) > MAX_REFUSAL_CHARS:
        return False
    opening = answer.replace("\u2019", "'").replace("*", "")
    return _REFUSAL.match(opening) is not None
