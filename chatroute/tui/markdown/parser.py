"""The one Markdown parser every answer is rendered with."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt

_parser: MarkdownIt | None = None


def _soft_breaks_are_hard(state: Any) -> None:
    for token in state.tokens:
        if token.type == "inline" and token.children:
            for child in token.children:
                if child.type == "softbreak":
                    child.type = "hardbreak"


# A terminal has no HTML to render: Textual's Markdown and Rich's drop raw-HTML tokens, so
# `Option<T>` read `Option` and a `<details>` block vanished. Without the rule it is text.
NO_HTML = {"html": False}


def answer_parser() -> MarkdownIt:
    """GFM, with a single newline as a line break, as chat UIs show answers: a haiku or an
    address keeps its lines instead of running into one paragraph. markdown-it's `breaks`
    option only changes its HTML output, so the soft-break tokens Textual reads are made hard
    ones; only text inside paragraphs has them, so code blocks, lists and tables are as before.
    HTML in the text is shown as written (NO_HTML)."""
    parser = MarkdownIt("gfm-like", {"breaks": True, **NO_HTML})
    parser.core.ruler.push("soft_breaks_are_hard", _soft_breaks_are_hard)
    return parser


def shared_parser() -> MarkdownIt:
    """One parser for every stored answer (building one per answer costs more than parsing it)."""
    global _parser
    if _parser is None:
        _parser = answer_parser()
    return _parser

