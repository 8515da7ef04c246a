"""Text made of whole characters. A server that cuts its text by UTF-16 code units (a gateway
slicing a JavaScript string) can send an emoji's surrogate pair as two JSON escapes in two
chunks, or end on half of one: Python then holds lone surrogates, which UTF-8, and so the store,
the terminal and every request body, cannot encode."""

from __future__ import annotations


def encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    """`text` made encodable as UTF-8: a surrogate pair that arrived in two pieces and was joined
    again becomes its character, a lone surrogate becomes U+FFFD. Other text is returned as is."""
    if text.isascii() or encodes(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class SurrogateCarry:
    """Stream deltas made whole: a high surrogate that ends a delta is held for the low one that
    may start the next (a provider can split a pair between chunks, and half a pair is no
    character to send)."""

    def __init__(self) -> None:
        self._carry = ""

    def take(self, text: str) -> str:
        """`text` ready to send ("" when nothing is)."""
        if self._carry:
            text, self._carry = self._carry + text, ""
        if not text.isascii():
            if "\ud800" <= text[-1] <= "\udbff":
                text, self._carry = text[:-1], text[-1]
            text = clean_text(text)
        return text

    def rest(self) -> str:
        """What is still held at the stream's end: a half pair, sent as U+FFFD."""
        held, self._carry = self._carry, ""
        return "\ufffd" if held else ""
