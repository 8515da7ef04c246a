"""Full-text search: a safe FTS5 query from user text, result snippets, and the query itself.

User text never reaches FTS5's query language: it is split into word tokens and each token
is quoted as a phrase, so quotes, AND/OR/NOT/NEAR, '*', '^', ':' and parentheses are all
searched as plain words (or dropped as punctuation) and can never raise a syntax error.
The last token gets a prefix '*' so search-as-you-type finds partial words.

Snippets are cut in Python from the few rows returned: FTS5's snippet() re-runs the MATCH
for every row, which for a prefix query over a large index costs ~1 ms+ per row.
"""

from __future__ import annotations

import re
import unicodedata

from chatroute.providers.think_tags import stored_answer
from chatroute.store.connection import StoreBase
from chatroute.store.records import SearchHit

_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_SCAN_TOKENS = 5000
# search() ranks (bm25) the most recent this-many matches; see SearchQueries.search.
SEARCH_RANK_WINDOW = 5000


def query_terms(text: str) -> list[str]:
    return _WORD.findall(text or "")


def fts_query(text: str, *, prefix_last: bool = True) -> str | None:
    """An FTS5 MATCH expression (all words must match), or None when there is nothing to find."""
    tokens = query_terms(text)
    if not tokens:
        return None
    # \w+ never contains a double quote, so wrapping in quotes is a complete escape.
    parts = [f'"{t}"' for t in tokens]
    if prefix_last:
        parts[-1] += "*"
    return " ".join(parts)


def _fold(s: str) -> str:
    """Case- and accent-insensitive form, like the index's unicode61 remove_diacritics."""
    decomposed = unicodedata.normalize("NFKD", s.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _matcher(terms: list[str]) -> list[tuple[str, bool]]:
    """(folded stem-ish prefix, exact?) per term. The index stems (porter), so a query word
    also matches its inflections: compare on a shortened prefix for longer words."""
    out = []
    for i, t in enumerate(terms):
        f = _fold(t)
        if i == len(terms) - 1:
            out.append((f, False))  # the prefix term
        elif len(f) <= 4:
            out.append((f, True))
        else:
            out.append((f[: max(4, len(f) - 3)], False))
    return out


def make_snippet(text: str, terms: list[str], *, width: int = 14, open_: str = "[", close: str = "]") -> str:
    """About `width` words of `text` around the densest cluster of query terms, matches
    wrapped in open_/close, '…' where cut."""
    tokens = list(_WORD.finditer(text[: _MAX_SCAN_TOKENS * 16]))[:_MAX_SCAN_TOKENS]
    if not tokens:
        return text[:80]
    match = _matcher(terms)

    def is_hit(tok: str) -> bool:
        f = _fold(tok)
        return any(f == m if exact else f.startswith(m) for m, exact in match)

    hits = [is_hit(m.group(0)) for m in tokens]
    # The window start with the most hits (first such window on ties).
    best, best_start, running = -1, 0, 0
    for i, h in enumerate(hits):
        running += h
        if i >= width:
            running -= hits[i - width]
        if running > best:
            best, best_start = running, max(0, i - width + 1)
    start_i = best_start
    end_i = min(len(tokens), start_i + width)
    if best > 0 and not any(hits[start_i : start_i + 3]) and start_i > 0:
        start_i = max(0, start_i - 2)  # a little context before the first hit
    pieces = []
    cursor = tokens[start_i].start()
    for i in range(start_i, end_i):
        m = tokens[i]
        pieces.append(text[cursor : m.start()])
        pieces.append(f"{open_}{m.group(0)}{close}" if hits[i] else m.group(0))
        cursor = m.end()
    snippet = " ".join("".join(pieces).split())  # collapse newlines and runs of spaces
    if start_i > 0:
        snippet = "…" + snippet
    if end_i < len(tokens):
        snippet += "…"
    return snippet


class SearchQueries(StoreBase):
    """Searching message text (a part of Store)."""

    def search(self, query: str, limit: int = 50, *, conversation_id: str | None = None) -> list[SearchHit]:
        """Full-text search over message text. Any user input is safe: it becomes quoted
        terms (the last one a prefix), never FTS syntax.

        Ranking: bm25 over the SEARCH_RANK_WINDOW most recent matches. Ranking every match of
        a common word grows with the history (hundreds of ms at 200k turns); a chat search is
        about recent things anyway, and rarer words (fewer matches) are ranked exhaustively.
        """
        match = fts_query(query)
        if match is None:
            return []
        conv_join = "JOIN messages cm ON cm.seq = f.rowid AND cm.conversation_id = :conv" if conversation_id else ""
        rows = self._rows(
            f"""
            SELECT m.id AS message_id, m.conversation_id, c.title, m.role, m.model, m.created_at,
                   m.content, top.rank
              FROM (SELECT seq, rank FROM (
                        SELECT f.rowid AS seq, f.rank AS rank FROM messages_fts f {conv_join}
                         WHERE messages_fts MATCH :match ORDER BY f.rowid DESC LIMIT :window)
                     ORDER BY rank LIMIT :limit) AS top
              JOIN messages m ON m.seq = top.seq
              JOIN conversations c ON c.id = m.conversation_id
             ORDER BY top.rank
            """,
            {"match": match, "limit": int(limit), "window": SEARCH_RANK_WINDOW, "conv": conversation_id},
        )
        terms = query_terms(query)
        return [
            SearchHit(
                message_id=r["message_id"],
                conversation_id=r["conversation_id"],
                conversation_title=r["title"],
                role=r["role"],
                model=r["model"],
                # As the chat shows the message: an old answer's think block is not quoted.
                snippet=make_snippet(stored_answer(r["role"], r["content"]), terms),
                created_at=r["created_at"],
                rank=r["rank"],
            )
            for r in rows
        ]
