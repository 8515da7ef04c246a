"""Single newlines in an answer are line breaks, as chat UIs show them. Markdown treats them
as soft breaks (a haiku becomes one paragraph), so a Markdown file written for other renderers
marks them as hard breaks: two trailing spaces, only on lines inside paragraphs, so code
blocks, tables and list structure are left as they are."""

from __future__ import annotations

from typing import Any

_parser: Any = None  # a MarkdownIt, imported on first use: exports are rare, start-up is not


def hard_breaks(text: str) -> str:
    """`text` with every soft break inside a paragraph made a hard break, and its line ends LF."""
    # Markdown ends a line at CR LF and at a lone CR too: as LF, the lines split below are the
    # ones the parser numbers, and no CR is left between a line and its two spaces.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" not in text.strip():
        return text
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt

        _parser = MarkdownIt("gfm-like")
    lines = text.split("\n")
    tokens = _parser.parse(text)
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
