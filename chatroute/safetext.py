"""Text from outside (model answers, provider errors, model ids a server lists) made safe to put
on a terminal.

Model output is untrusted. A terminal acts on escape sequences wherever they appear in what is
written to it: OSC 52 writes the clipboard, OSC 0 retitles the window, CSI 2J clears the screen,
DCS/APC reach terminal extensions. Textual and Rich pass ESC through to the screen, so every such
text is cleaned before it is shown, by the CLI on a terminal and by the TUI always.

Whole sequences are removed (not only their ESC, which would leave `]52;c;…` on screen), then any
control character left over (C0 except tab and newline, DEL, C1). A carriage return ends a line, as
Markdown reads it: CRLF and a lone CR become a newline (removed, a lone CR glued two lines into one
word). Printable Unicode — CJK, emoji, combining marks, right-to-left text — is kept as it is. No UI
toolkit is imported here.

Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069, the controls rustc
lints) are shown as a marker, `<U+202E>`, not passed on: they reorder what the terminal shows, so
a code block could read differently from what it holds and what a copy of it runs ("Trojan
Source"). A marker, not a removal: the reader sees that the text holds one. Right-to-left letters
and the marks U+200E, U+200F and U+061C, which order only the characters beside them and are
common in right-to-left prose, are kept.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, TypeVar

from chatroute.turn_events import Delta

T = TypeVar("T")

# ECMA-48 grammar. Strings (OSC, DCS, SOS, PM, APC) end at BEL (xterm's OSC form), ST (ESC \) or
# C1 ST; an ESC inside one ends it too, as terminals abort the string there.
_STRING_BODY = r"[^\x07\x1b\x9c]*"
_STRING_END = r"(?:\x07|\x1b\\|\x9c)"
_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])" + _STRING_BODY + _STRING_END  # OSC, DCS, SOS, PM, APC
    + r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: parameters, intermediates, final byte
    + r"|\x1b[ -/]*[0-~]"  # the other escapes (ESC c resets the terminal, ESC ( 0 switches charsets)
)
# Controls left outside a whole sequence: C0 other than tab and newline, DEL and C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
BIDI_CONTROL = re.compile(f"[{BIDI_CONTROLS}]")
# Anything the cleaner changes: the fast path is one search for it.
_UNSAFE = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")
# The controls an ASCII text can hold (C1 and the bidi controls are not ASCII): looked for one
# by one in a long text, each a memchr, where the search above steps through every character.
_ASCII_CONTROLS = tuple(chr(c) for c in (*range(0x00, 0x09), *range(0x0b, 0x20), 0x7f))
_LONG_TEXT = 1 << 16
_LINE_END = re.compile(r"\r\n?")
# A sequence still open at the end of a chunk: held back until the next chunk completes it.
_OPEN_AT_END = re.compile(
    r"(?:(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])" + _STRING_BODY + r"\x1b?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*"
    r"|\x1b[ -/]*"
    r"|\r)\Z"  # a CR whose LF may come next
)
# An open sequence longer than this is not held back any further (its introducer is dropped and
# the rest shown): a stream must not go quiet because of one stray ESC.
MAX_HELD_CHARS = 16_384


def argv_text(text: str) -> str:
    """Lone surrogates cannot be stored or sent. Undecodable argv bytes arrive as surrogate
    escapes: turn them back into bytes and decode with U+FFFD, as standard input is."""
    try:
        return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte
        return text.encode("utf-8", errors="replace").decode("utf-8")


def bidi_marker(char: str) -> str:
    """How a bidirectional control is shown: `<U+202E>`."""
    return f"<U+{ord(char):04X}>"


# A marker bidi_marker wrote, for a UI that draws it apart from the text around it.
BIDI_MARKER = re.compile(r"<U\+(?:202[A-E]|206[6-9])>")


def strip_terminal_controls(text: str, *, mark_bidi: bool = True) -> str:
    """`text` without escape sequences and control characters (tab and newline kept, a CR read
    as a line end), its bidirectional controls shown as markers. `mark_bidi=False` keeps them,
    for text the user edits (a paste into the composer is theirs to send as it is)."""
    if not _unsafe(text):  # the common case: nothing to do, no copy
        return text
    if _CONTROL.search(text):
        text = _CONTROL.sub("", _SEQUENCE.sub("", _LINE_END.sub("\n", text)))
    return BIDI_CONTROL.sub(lambda m: bidi_marker(m.group()), text) if mark_bidi else text


def _unsafe(text: str) -> bool:
    """Whether `text` holds anything strip_terminal_controls changes."""
    if len(text) > _LONG_TEXT and text.isascii():  # isascii reads a flag: no pass over the text
        return any(c in text for c in _ASCII_CONTROLS)
    return _UNSAFE.search(text) is not None


class StreamCleaner:
    """`strip_terminal_controls` for text that arrives in pieces: a sequence split across two
    deltas is removed whole, as if the text had come at once. `feed` returns what is safe to show
    now; `flush` returns what was held back once the stream has ended."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        self._held = ""
        if not _UNSAFE.search(text):  # the common case: nothing to clean, no sequence left open
            return text
        open_tail = _OPEN_AT_END.search(text)
        if open_tail is not None and len(text) - open_tail.start() <= MAX_HELD_CHARS:
            self._held = text[open_tail.start():]
            text = text[:open_tail.start()]
        return strip_terminal_controls(text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return strip_terminal_controls(held)


def scrub(value: T) -> T:
    """`value` with every string in it cleaned: strings, lists, tuples, dicts, dataclasses and
    namespaces, recursively. Anything else is returned as it is. A value with nothing to clean
    is returned itself, not copied."""
    return _scrub(value, 0)


_MAX_DEPTH = 50  # route decisions nest a few levels; deeper is not display data


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return strip_terminal_controls(value)
    if depth > _MAX_DEPTH or value is None or isinstance(value, (int, float, bytes)):
        return value
    if isinstance(value, list):
        # Lists can be long (every message id of a conversation): strings are checked inline
        # and a copy is made only once something changed.
        copy: list[Any] | None = None
        for i, item in enumerate(value):
            if type(item) is str:
                clean = strip_terminal_controls(item)
            else:
                clean = _scrub(item, depth + 1)
            if clean is not item and copy is None:
                copy = value[:i]
            if copy is not None:
                copy.append(clean)
        return value if copy is None else copy
    if isinstance(value, tuple):
        items = [_scrub(v, depth + 1) for v in value]
        if not any(a is not b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        changed = {}
        for k, v in value.items():
            clean_k, clean_v = _scrub(k, depth + 1), _scrub(v, depth + 1)
            if clean_k is not k or clean_v is not v:
                changed[k] = (clean_k, clean_v)
        if not changed:
            return value
        return type(value)((changed[k] if k in changed else (k, v)) for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        updates = {}
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            old = getattr(value, f.name)
            new = _scrub(old, depth + 1)
            if new is not old:
                updates[f.name] = new
        return dataclasses.replace(value, **updates) if updates else value
    if isinstance(value, SimpleNamespace):
        fields = vars(value)
        scrubbed = {k: _scrub(v, depth + 1) for k, v in fields.items()}
        return SimpleNamespace(**scrubbed) if any(scrubbed[k] is not fields[k] for k in fields) else value
    return value


class CleanEvents:
    """A turn's event stream with every event scrubbed; text deltas go through one
    StreamCleaner, so a sequence split across deltas never shows. `aclose` reaches the
    engine's stream (closing it is what saves a stopped turn)."""

    def __init__(self, events: AsyncIterator[Any]) -> None:
        self._events = events
        self._text = StreamCleaner()

    def __aiter__(self) -> CleanEvents:
        return self

    async def __anext__(self) -> Any:
        event = await self._events.__anext__()
        if isinstance(event, Delta):
            return dataclasses.replace(event, text=self._text.feed(event.text))
        return scrub(event)

    async def aclose(self) -> None:
        close = getattr(self._events, "aclose", None)
        if close is not None:
            await close()
