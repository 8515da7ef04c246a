"""Finding the line of a key in a config file, for one-line errors ("config.toml:14: router.preset: ...").

A small scanner over TOML that tomllib has already accepted: tomllib reports values, not
where they were written.
"""

from __future__ import annotations

import bisect
from typing import Any


def key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """The first line of every key path in `text`, or {} if scanning fails."""
    try:
        return KeyScanner(text).scan()
    except Exception:  # noqa: BLE001 - a line number is a nicety; never hide the real error
        return {}


def line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    """The line of `loc`, or of its nearest enclosing key that has one."""
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


class KeyScanner:
    """Maps every key path (tables, dotted keys, inline tables, array items) to its first line."""

    _BARE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

    def __init__(self, text: str) -> None:
        self.t = text
        self.i = 0
        self.lines: dict[tuple[Any, ...], int] = {}
        self._newlines = [k for k, c in enumerate(text) if c == "\n"]

    def scan(self) -> dict[tuple[Any, ...], int]:
        table: tuple[Any, ...] = ()
        arrays: dict[tuple[Any, ...], int] = {}
        while True:
            self._skip(newlines=True)
            if self.i >= len(self.t):
                return self.lines
            start = self.i
            if self.t.startswith("[[", self.i):
                self.i += 2
                keys = self._in_arrays(self._keys(), arrays)
                self.i += 2
                arrays[keys] = arrays.get(keys, -1) + 1
                self._record(keys, start)
                table = (*keys, arrays[keys])
                self._record(table, start)
            elif self.t[self.i] == "[":
                self.i += 1
                table = self._in_arrays(self._keys(), arrays)
                self.i += 1
                self._record(table, start)
            else:
                self._keyval(table)

    @staticmethod
    def _in_arrays(keys: tuple[Any, ...], arrays: dict[tuple[Any, ...], int]) -> tuple[Any, ...]:
        """[aot.sub] after [[aot]] means the last element of aot: insert its index."""
        out: tuple[Any, ...] = ()
        for n, key in enumerate(keys):
            out = (*out, key)
            if out in arrays and n < len(keys) - 1:
                out = (*out, arrays[out])
        return out

    def _line(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def _record(self, path: tuple[Any, ...], pos: int) -> None:
        line = self._line(pos)
        for n in range(1, len(path) + 1):
            self.lines.setdefault(path[:n], line)

    def _skip(self, *, newlines: bool) -> None:
        t = self.t
        while self.i < len(t):
            c = t[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                end = t.find("\n", self.i)
                self.i = len(t) if end < 0 else end
            else:
                return

    def _keys(self) -> tuple[Any, ...]:
        parts: list[str] = []
        while True:
            self._skip(newlines=False)
            c = self.t[self.i]
            if c == '"':
                parts.append(self._basic())
            elif c == "'":
                parts.append(self._literal())
            else:
                start = self.i
                while self.t[self.i] in self._BARE_CHARS:
                    self.i += 1
                parts.append(self.t[start : self.i])
            self._skip(newlines=False)
            if self.t[self.i] != ".":
                return tuple(parts)
            self.i += 1

    def _keyval(self, base: tuple[Any, ...]) -> None:
        start = self.i
        path = (*base, *self._keys())
        self._record(path, start)
        self.i += 1  # '='
        self._skip(newlines=False)
        self._value(path)

    def _basic(self) -> str:
        # Decode the common escapes so quoted keys compare equal to tomllib's.
        t = self.t
        self.i += 1
        out: list[str] = []
        while t[self.i] != '"':
            if t[self.i] == "\\":
                nxt = t[self.i + 1]
                if nxt in "uU":
                    width = 4 if nxt == "u" else 8
                    out.append(chr(int(t[self.i + 2 : self.i + 2 + width], 16)))
                    self.i += 2 + width
                    continue
                out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "e": "\x1b"}.get(nxt, nxt))
                self.i += 2
            else:
                out.append(t[self.i])
                self.i += 1
        self.i += 1
        return "".join(out)

    def _literal(self) -> str:
        end = self.t.index("'", self.i + 1)
        s = self.t[self.i + 1 : end]
        self.i = end + 1
        return s

    def _multiline(self, quote: str) -> None:
        t = self.t
        self.i += 3
        while not t.startswith(quote * 3, self.i):
            self.i += 2 if (quote == '"' and t[self.i] == "\\") else 1
        self.i += 3
        while self.i < len(t) and t[self.i] == quote:  # up to two quotes may end the content
            self.i += 1

    def _value(self, path: tuple[Any, ...]) -> None:
        t = self.t
        c = t[self.i]
        if t.startswith('"""', self.i):
            self._multiline('"')
        elif t.startswith("'''", self.i):
            self._multiline("'")
        elif c == '"':
            self._basic()
        elif c == "'":
            self._literal()
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if t[self.i] == "]":
                    self.i += 1
                    return
                self._record((*path, index), self.i)
                self._value((*path, index))
                index += 1
                self._skip(newlines=True)
                if t[self.i] == ",":
                    self.i += 1
        elif c == "{":
            self.i += 1
            while True:
                self._skip(newlines=False)
                if t[self.i] == "}":
                    self.i += 1
                    return
                self._keyval(path)
                self._skip(newlines=False)
                if t[self.i] == ",":
                    self.i += 1
        else:
            while self.i < len(t) and t[self.i] not in ",]}\n#":
                self.i += 1
