"""Change one setting in the user's config.toml without touching anything else.

The file is the user's: comments, blank lines, key order and quoting all survive. Only the
value of the one key is rewritten (or the key is added to its table, or the table appended).
The result is parsed again and compared with the original before it replaces the file
atomically; anything unexpected leaves the file as it was and raises ConfigEditError.
(tomlkit would do this generally; one string key does not justify a dependency.)
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from pathlib import Path

from chatroute.errors import ChatrouteError
from chatroute.fsutil import atomic_write


class ConfigEditError(ChatrouteError):
    exit_code = 2


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")  # [table] (not [[array]])
_ANY_HEADER = re.compile(r"^\s*\[")
# key = "basic string" | 'literal string', then optional spaces and a comment
_VALUE = r"(\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^'\n]*')(\s*(?:#.*)?)$"


def set_string(path: Path, table: str, key: str, value: str) -> None:
    """Set `[table] key = "value"` in the TOML file at `path` (created if missing)."""
    if path.is_symlink():  # dotfile managers link the config: edit the file, keep the link
        path = path.resolve()
    _refuse_read_only(path)
    try:
        text = path.read_bytes().decode("utf-8") if path.exists() else ""  # bytes: keep CRLF as it is
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigEditError(f"{path}: not saved, cannot read the config ({exc})") from None
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigEditError(f"{path}: not saved, the file is not valid TOML ({exc})") from None
    current = before.get(table, {})
    if isinstance(current, dict) and current.get(key) == value:
        return
    new_text = _edited(text, table, key, value)
    try:
        after = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        after = None
    expected = json.loads(json.dumps(before, default=str))  # a deep copy of plain data
    expected.setdefault(table, {})[key] = value
    if after is None or json.loads(json.dumps(after, default=str)) != expected:
        raise ConfigEditError(f"{path}: could not update {table}.{key} safely; set it by hand")
    atomic_write(path, new_text)  # keeps the file's mode: a config holding a key stays as private as it was


def _refuse_read_only(path: Path) -> None:
    """A config the user made read-only is not rewritten, as an editor would not: atomic_write
    replaces a file by renaming, which needs only the folder's permission, not the file's."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # absent: created; unreadable: said by the read below
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        raise ConfigEditError(f"{path}: not saved, the file is read-only (mode {stat.S_IMODE(mode):o}); "
                              "make it writable to keep such changes")


def _edited(text: str, table: str, key: str, value: str) -> str:
    lines = text.splitlines(keepends=True)
    nl = "\r\n" if "\r\n" in text else "\n"
    quoted = json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    key_re = re.compile(rf"^(\s*{re.escape(key)}){_VALUE}")
    dotted_re = re.compile(rf"^(\s*{re.escape(table)}\s*\.\s*{re.escape(key)}){_VALUE}")

    start = None  # the line after `[table]`
    top_level = True
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            top_level = False
            if m.group(1) == table:
                start = i + 1
                break
        elif _ANY_HEADER.match(line):
            top_level = False
        elif top_level and (d := dotted_re.match(line.rstrip("\r\n"))):
            lines[i] = _replace(d, quoted, line)
            return "".join(lines)

    if start is None:  # no such table: append it
        sep = "" if not text or text.endswith(nl * 2) else (nl if text.endswith(nl) else nl * 2)
        return f"{text}{sep}[{table}]{nl}{key} = {quoted}{nl}"

    end = len(lines)
    for j in range(start, len(lines)):
        if _ANY_HEADER.match(lines[j]):
            end = j
            break
    for j in range(start, end):
        m = key_re.match(lines[j].rstrip("\r\n"))
        if m:
            lines[j] = _replace(m, quoted, lines[j])
            return "".join(lines)
    # The key is not set: add it after the table's last non-blank line.
    last = start
    for j in range(start, end):
        if lines[j].strip():
            last = j + 1
    if last > 0 and not lines[last - 1].endswith("\n"):
        lines[last - 1] += nl
    lines.insert(last, f"{key} = {quoted}{nl}")
    return "".join(lines)


def _replace(m: re.Match[str], quoted: str, line: str) -> str:
    eol = line[len(line.rstrip("\r\n")):]
    return f"{m.group(1)}{m.group(2)}{quoted}{m.group(4)}{eol}"

