"""scripts/screenshots.py: the PNGs in the README keep the spaces Textual's SVG has."""

from __future__ import annotations

import re

from scripts.screenshots import for_rsvg

SVG = (
    '<svg class="rich-terminal" viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg">'
    '<text x="0" y="1">A</text><text x="12" y="1">lifetime</text>'
    '<text x="110" y="1">&#160;names&#160;the&#160;region</text></svg>'
)


def test_no_break_spaces_become_preserved_plain_spaces() -> None:
    out = for_rsvg(SVG)
    assert "&#160;" not in out
    assert re.match(r'<svg xml:space="preserve" ', out)
    # The run after the bold word still starts with its space, and no text is lost or moved.
    assert ">&#160;names" in SVG and "> names the region<" in out
    assert re.sub(r"<[^>]+>", "", out) == re.sub(r"<[^>]+>", "", SVG).replace("&#160;", " ")
