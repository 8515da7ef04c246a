"""The one Markdown parser every answer is rendered with."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from chatroute.safetext import BIDI_MARKER

_parsers: dict[bool, MarkdownIt] = {}


def _soft_breaks_are_hard(state: Any) -> None:
    for token in state.tokens:
        if token.type == "inline" and token.children:
            for child in token.children:
                if child.type == "softbreak":
                    child.type = "hardbreak"


def _bidi_markers_as_code(state: Any) -> None:
    """A bidirectional control's marker stands out from the prose around it: it is drawn as
    inline code is, so `<U+202E>` does not read as something the model wrote."""
    for token in state.tokens:
        if token.type != "inline" or not token.children or "<U+" not in token.content:
            continue
        children: list[Token] = []
        for child in token.children:
            if child.type != "text" or not BIDI_MARKER.search(child.content):
                children.append(child)
                continue
            start = 0
            for match in BIDI_MARKER.finditer(child.content):
                if match.start() > start:
                    children.append(Token("text", "", 0, content=child.content[start:match.start()]))
                children.append(Token("code_inline", "code", 0, content=match.group(), markup="`"))
                start = match.end()
            if start < len(child.content):
                children.append(Token("text", "", 0, content=child.content[start:]))
        token.children = children


def code_in_backticks(state: Any) -> None:
    """Inline code written as in the text, between its backticks. Without colours (NO_COLOR) the
    tint and colour that set it apart from prose are greys a few steps from the text's, or, in an
    ANSI theme, the terminal's own, and a terminal style would be one prose has too (bold, italic)."""
    for token in state.tokens:
        if token.type != "inline" or not token.children:
            continue
        for child in token.children:
            if child.type == "code_inline":
                ticks = child.markup or "`"
                # A space between ticks and a backtick that starts or ends the code, as written.
                pad = " " if child.content[:1] == "`" or child.content[-1:] == "`" else ""
                child.content = f"{ticks}{pad}{child.content}{pad}{ticks}"


# A terminal has no HTML to render: Textual's Markdown and Rich's drop raw-HTML tokens, so
# `Option<T>` read `Option` and a `<details>` block vanished. Without the rule it is text.
NO_HTML = {"html": False}


def answer_parser(code_ticks: bool = False) -> MarkdownIt:
    """GFM, with a single newline as a line break, as chat UIs show answers: a haiku or an
    address keeps its lines instead of running into one paragraph. markdown-it's `breaks`
    option only changes its HTML output, so the soft-break tokens Textual reads are made hard
    ones; only text inside paragraphs has them, so code blocks, lists and tables are as before.
    HTML in the text is shown as written (NO_HTML), and a bidirectional control's marker as
    inline code. `code_ticks`: inline code keeps its backticks (for a screen without colours)."""
    parser = MarkdownIt("gfm-like", {"breaks": True, **NO_HTML})
    parser.core.ruler.push("soft_breaks_are_hard", _soft_breaks_are_hard)
    parser.core.ruler.push("bidi_markers_as_code", _bidi_markers_as_code)
    if code_ticks:
        parser.core.ruler.push("code_in_backticks", code_in_backticks)
    return parser


def shared_parser(code_ticks: bool = False) -> MarkdownIt:
    """One parser for every stored answer (building one per answer costs more than parsing it)."""
    parser = _parsers.get(code_ticks)
    if parser is None:
        parser = _parsers[code_ticks] = answer_parser(code_ticks)
    return parser

