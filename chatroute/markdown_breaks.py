"""Single newlines in an answer are line breaks, as chat UIs show them. Markdown treats them
as soft breaks (a haiku becomes one paragraph), so a Markdown file written for other renderers
marks them as hard breaks: two trailing spaces, only on lines inside paragraphs, so code
blocks, tables and list structure are left as they are. A code block an answer leaves open (cut
off mid-code) is closed where the answer ends, or it would hold the rest of the document."""

from __future__ import annotations

from typing import Any

_parser: Any = None  # a MarkdownIt, imported on first use: exports are rare, start-up is not


def _markdown_parser() -> Any:
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt

        _parser = MarkdownIt("gfm-like")
    return _parser


def hard_breaks(text: str) -> str:
    """`text` with every soft break inside a paragraph made a hard break, and its line ends LF."""
    # Markdown ends a line at CR LF and at a lone CR too: as LF, the lines split below are the
    # ones the parser numbers, and no CR is left between a line and its two spaces.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" not in text.strip():
        return text
    lines = text.split("\n")
    tokens = _markdown_parser().parse(text)
    for i, token in enumerate(tokens):
        if token.type != "paragraph_open" or token.map is None:
            continue
        inline = tokens[i + 1] if i + 1 < len(tokens) else None
        if inline is None or not any(c.type == "softbreak" for c in inline.children or []):
            continue
        start, end = token.map
        for row in range(start, end - 1):  # every line but the paragraph's last
            line = lines[row]
            if line.strip() and not line.endswith(("  ", "\\")):
                lines[row] = line + "  "
    return "\n".join(lines)


def closed_fences(text: str) -> str:
    """`text` with a code block still open at its end closed there. An answer stopped or cut at
    its token limit inside a code block ends without the closing fence; written into a document
    as it is, everything after it (its badge, the turns that follow) would read as that code."""
    if "```" not in text and "~~~" not in text:
        return text
    lines = text.split("\n")
    # Only a block at the top level: a container (a list, a quote) ends at the next line that is
    # not in it, and the open block with it.
    fences = [t for t in _markdown_parser().parse(text) if t.type == "fence" and t.level == 0 and t.map]
    if not fences:
        return text
    last = fences[-1]
    start, end = last.map
    closing = lines[end - 1].strip() if end - 1 > start else ""
    mark = last.markup
    if closing and set(closing) == {mark[0]} and len(closing) >= len(mark):
        return text
    return text + ("" if text.endswith("\n") else "\n") + mark
