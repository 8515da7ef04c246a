"""Thinking that a server streams inside the answer's own text, as `<think>…</think>`.

Qwen3, QwQ and the DeepSeek-R1 distills write their reasoning so; a server that does not split it
off (llama.cpp with `--reasoning-format none`, vLLM without a reasoning parser, LM Studio or an
older Ollama) sends it as `content`. It is thinking all the same, so it is handled as the
`reasoning_content` other servers send: billed, never shown, stored, cached or sent back.

Only a block that opens the answer is thinking: a `<think>` later on is the answer's own text
(an answer about such tags). Either tag may be split between chunks, so a piece that could be
the start of one is held back until the next chunk tells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OPEN = "<think>"
CLOSE = "</think>"


@dataclass
class ThinkTags:
    """Splits one stream's content into (thinking, visible text), chunk by chunk."""

    state: Literal["start", "thinking", "after", "text"] = "start"
    held: str = ""

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
                self.state = "text"
                return "", text
            self.state, text = "thinking", lead[len(OPEN):]
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

    def _after(self, text: str) -> str:
        # The blank lines between the block and the answer are neither.
        text = text.lstrip()
        if text:
            self.state = "text"
        return text

    def rest(self) -> tuple[str, str]:
        """(thinking, visible text) held back when the stream ends: a block never closed (cut at
        max tokens) was thinking to its end; a start that never became `<think>` is text."""
        held, self.held = self.held, ""
        if self.state == "thinking":
            return held, ""
        if self.state == "start" and held.strip():
            return "", held
        return "", ""


def _partial_close(text: str) -> int:
    """How many characters at the end of `text` may be the start of `</think>`."""
    for size in range(min(len(CLOSE) - 1, len(text)), 0, -1):
        if CLOSE.startswith(text[-size:]):
            return size
    return 0
