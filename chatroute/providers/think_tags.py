"""Thinking that a server streams inside the answer's own text, as `<think>…</think>`.

Qwen3, QwQ and the DeepSeek-R1 distills write their reasoning so; a server that does not split it
off (llama.cpp with `--reasoning-format none`, vLLM without a reasoning parser, LM Studio or an
older Ollama) sends it as `content`. It is thinking all the same, so it is handled as the
`reasoning_content` other servers send: billed, never shown, stored, cached or sent back.

Only a block that opens the answer is thinking: a `<think>` later on is the answer's own text
(an answer about such tags). Either tag may be split between chunks, so a piece that could be
the start of one is held back until the next chunk tells.

The DeepSeek-R1 distills and QwQ (and Qwen3's Thinking releases) have the opening `<think>` in
their chat template, so the stream carries the thinking, then a lone `</think>`, then the answer.
For such a model on a local server (`opens_think_itself`) the start of an answer is held back
while it may be that thinking: until `</think>` (all before it is thinking), any other tag (an
answer about tags: text), HOLD_S or HOLD_CHARS (a model that never closes: text, streamed from
then on) or the end of the stream (text). Once any text has been shown a lone `</think>` is
text. A server that sends the thinking apart (`reasoning_content`) needs none of this: a start
held when its first thinking comes is text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from chatroute.providers.base import HeldDelta

OPEN = "<think>"
CLOSE = "</think>"

# How long, and how much of, the start of an answer is held back waiting for a lone `</think>`:
# a model named as one whose template opens the block, that never closes it, streams from then on.
HOLD_S = 30.0
HOLD_CHARS = 32_000

# Names of models whose chat template writes the opening `<think>` itself.
_OPENS_THINK = re.compile(r"(?<![a-z0-9])(?:r1|qwq)(?![a-z0-9])|qwen3.*thinking", re.IGNORECASE)
# Any tag but `</think>` ends the wait: thinking holds none, an answer about tags may. Not one
# straight after a word: that is a type's parameters (`Vec<String>`, `std::vector<int>`) or a
# comparison (`a<b and c>d`), as thinking about code is full of.
_TAG = re.compile(r"(?<![\w:])</?[A-Za-z][\w.:-]{0,40}(?:\s[^<>]{0,200})?/?>")
_TAG_SPAN = 256  # a tag split between chunks is found again by searching this far back


def opens_think_itself(model: str) -> bool:
    """Whether `model` is named as one whose template opens `<think>` (the R1 distills, QwQ)."""
    return _OPENS_THINK.search(model) is not None


@dataclass
class ThinkTags:
    """Splits one stream's content into (thinking, visible text), chunk by chunk.

    lone_close: also read text before a lone `</think>` opening the answer as thinking."""

    lone_close: bool = False
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    state: Literal["start", "untagged", "thinking", "after", "text"] = "start"
    held: str = ""
    _until: float = 0.0  # when an untagged start stops being held
    _scanned: int = 0  # how much of `held` was searched for tags

    def thinking_apart(self) -> str:
        """The server sent thinking apart from the text: no `</think>` to wait for. A start held
        meanwhile is text (the server splits the thinking off itself): returned, to be shown."""
        self.lone_close = False
        if self.state != "untagged":
            return ""
        held, self.held, self.state = self.held, "", "text"
        return held

    def split(self, content: str) -> tuple[str, str]:
        """(thinking, visible text) of the next piece of content."""
        if self.state == "text":
            return "", content
        text = self.held + content
        self.held = ""
        if self.state == "start":
            lead = text.lstrip()
            if not lead or (len(lead) < len(OPEN) and OPEN.startswith(lead)):
                self.held = text  # blank so far, or what may yet be `<think>`
                return "", ""
            if not lead.startswith(OPEN):
                if not self.lone_close:
                    self.state = "text"
                    return "", text
                self.state, self._until, self._scanned = "untagged", self.clock() + HOLD_S, 0
            else:
                self.state, text = "thinking", lead[len(OPEN):]
        if self.state == "untagged":
            return self._untagged(text)
        if self.state == "thinking":
            end = text.find(CLOSE)
            if end < 0:
                keep = _partial_close(text)
                self.held = text[len(text) - keep:] if keep else ""
                return text[: len(text) - keep], ""
            thinking, text = text[:end], text[end + len(CLOSE):]
            self.state = "after"
            return thinking, self._after(text)
        return "", self._after(text)

    def _untagged(self, text: str) -> tuple[str, str]:
        """The start of an answer that may be thinking whose `<think>` was the template's."""
        start = max(0, self._scanned - _TAG_SPAN)
        end = text.find(CLOSE, start)
        tag = next((m for m in _TAG.finditer(text, start) if m.group() != CLOSE), None)
        if tag is not None and (end < 0 or tag.start() < end):
            self.state = "text"  # a tag of another kind first: an answer, maybe about tags
            return "", text
        if end >= 0:
            self.state = "after"
            return text[:end], self._after(text[end + len(CLOSE):])
        if len(text) > HOLD_CHARS or self.clock() >= self._until:
            self.state = "text"  # no `</think>` in time: an answer, shown from now on
            return "", text
        self.held, self._scanned = text, len(text)
        return "", ""

    @property
    def holding(self) -> bool:
        """Content is held back while it may be thinking: progress, though nothing is passed on."""
        return self.state == "untagged"

    def still_held(self, content: str) -> tuple[HeldDelta, ...]:
        """`content`, just split, as the event that says it is held (the engine bills it as
        thinking if the stream is stopped meanwhile), or nothing if the hold is over."""
        return (HeldDelta(content),) if self.holding else ()

    def _after(self, text: str) -> str:
        # The blank lines between the block and the answer are neither.
        text = text.lstrip()
        if text:
            self.state = "text"
        return text

    def rest(self) -> tuple[str, str]:
        """(thinking, visible text) held back when the stream ends: a block never closed (cut at
        max tokens) was thinking to its end; a start that never became `<think>`, or never met a
        lone `</think>`, is text."""
        held, self.held = self.held, ""
        if self.state == "thinking":
            return held, ""
        if self.state in ("start", "untagged") and held.strip():
            return "", held
        return "", ""

    def rest_on_failure(self) -> str:
        """The thinking to bill when the stream fails: an untagged start still held was most
        likely the thinking (it came from a model that writes it so), and was never shown."""
        held, self.held = self.held, ""
        return held if self.state in ("untagged", "thinking") else ""


_OPENS_WITH_BLOCK = re.compile(r"\s*" + re.escape(OPEN))


def stored_answer(role: str, text: str) -> str:
    """A stored message's text as it is shown and sent back as history: an answer kept by a
    version that did not split thinking off still holds its opening `<think>` block, which is
    read here as the live stream reads it (ThinkTags), so it is neither shown nor sent. The row
    itself is left as it is: reading it so changes nothing the user has, and a new answer's text
    does not open with such a block (the stream took it as thinking), so it reads the same."""
    if role != "assistant" or not _OPENS_WITH_BLOCK.match(text):
        return text
    tags = ThinkTags()
    _, shown = tags.split(text)
    _, rest = tags.rest()
    return shown + rest


def _partial_close(text: str) -> int:
    """How many characters at the end of `text` may be the start of `</think>`."""
    for size in range(min(len(CLOSE) - 1, len(text)), 0, -1):
        if CLOSE.startswith(text[-size:]):
            return size
    return 0
