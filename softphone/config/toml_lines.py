"""Reading TOML with errors that carry line numbers.

``tomllib`` reports positions for syntax errors only; once a document parses,
values carry no position. :func:`key_lines` scans the text once more and maps
every key path (tables, arrays of tables, keys, array elements, inline-table
keys) to the line where it is written, so schema errors can name the line.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Sequence
from typing import Any

from softphone.config.errors import ConfigError, ConfigIssue

KeyPath = tuple[str | int, ...]

_TOML_POS_RE = re.compile(r"\(at line (\d+), column \d+\)")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML, raising :class:`ConfigError` with the line of a syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POS_RE.search(message)
        line = int(match.group(1)) if match else None
        message = _TOML_POS_RE.sub("", message).strip()
        raise ConfigError(
            [ConfigIssue(source, line, "", f"not valid TOML: {message}")]
        ) from None


def line_of(lines: dict[KeyPath, int], path: Sequence[str | int]) -> int | None:
    """The line of ``path``, or of its nearest written ancestor."""
    key = tuple(path)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return None


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map each key path written in ``text`` to its 1-based line (first occurrence).

    Only meaningful for text :func:`parse_toml` accepted; on anything else it
    returns what it found up to the point it stopped understanding.
    """
    scanner = _Scanner(text)
    with contextlib.suppress(_Stop):
        scanner.document()
    return scanner.lines


class _Stop(Exception):
    pass


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self.table: KeyPath = ()
        self.aot_counts: dict[KeyPath, int] = {}

    # -- low level ----------------------------------------------------------------

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos:self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def skip_space(self, newlines: bool = False) -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.advance()
            elif ch == "#" :
                end = self.text.find("\n", self.pos)
                self.advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    def record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- grammar --------------------------------------------------------------------

    def document(self) -> None:
        while True:
            self.skip_space(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.peek() == "[":
                self.header()
            else:
                self.key_value(self.table)

    def header(self) -> None:
        line = self.line
        array = self.peek(2) == "[["
        self.advance(2 if array else 1)
        keys = self.key()
        self.skip_space()
        self.advance(2 if array else 1)
        base = self._resolve(keys)
        if array:
            index = self.aot_counts.get(base, 0)
            self.aot_counts[base] = index + 1
            self.record(base, line)
            self.table = (*base, index)
        else:
            self.table = base
        self.record(self.table, line)

    def _resolve(self, keys: KeyPath) -> KeyPath:
        # A header below an array of tables refers to its latest element.
        out: KeyPath = ()
        for part in keys:
            out = (*out, part)
            if out in self.aot_counts and len(out) < len(keys):
                out = (*out, self.aot_counts[out] - 1)
        return out

    def key(self) -> KeyPath:
        parts: list[str | int] = []
        while True:
            self.skip_space()
            ch = self.peek()
            if ch in ("\"", "'"):
                parts.append(self.string())
            else:
                match = _BARE_KEY_RE.match(self.text, self.pos)
                if not match:
                    raise _Stop
                parts.append(match.group())
                self.advance(match.end() - self.pos)
            self.skip_space()
            if self.peek() != ".":
                return tuple(parts)
            self.advance()

    def key_value(self, base: KeyPath) -> None:
        line = self.line
        path = (*base, *self.key())
        self.record(path, line)
        self.skip_space()
        if self.peek() != "=":
            raise _Stop
        self.advance()
        self.skip_space()
        self.value(path)

    def value(self, path: KeyPath) -> None:
        ch = self.peek()
        if ch in ("\"", "'"):
            self.string()
        elif ch == "[":
            self.array(path)
        elif ch == "{":
            self.inline_table(path)
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}\n#":
                self.advance()

    def array(self, path: KeyPath) -> None:
        self.advance()
        index = 0
        while True:
            self.skip_space(newlines=True)
            if self.peek() == "]" or not self.peek():
                self.advance()
                return
            self.record((*path, index), self.line)
            self.value((*path, index))
            index += 1
            self.skip_space(newlines=True)
            if self.peek() == ",":
                self.advance()

    def inline_table(self, path: KeyPath) -> None:
        self.advance()
        while True:
            self.skip_space()
            if self.peek() == "}" or not self.peek():
                self.advance()
                return
            self.key_value(path)
            self.skip_space()
            if self.peek() == ",":
                self.advance()

    def string(self) -> str:
        quote = self.peek()
        if self.peek(3) == quote * 3:
            end = self.text.find(quote * 3, self.pos + 3)
            if end < 0:
                raise _Stop
            # A multi-line string may end with up to two extra quotes.
            while self.text[end + 3:end + 4] == quote:
                end += 1
            value = self.text[self.pos + 3:end]
            self.advance(end + 3 - self.pos)
            return value
        self.advance()
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and quote == "\"":
                self.advance(2)
                continue
            if ch == quote:
                raw = self.text[start:self.pos]
                self.advance()
                if quote == "\"":
                    try:
                        decoded = tomllib.loads(f"k = \"{raw}\"")["k"]
                        return str(decoded)
                    except tomllib.TOMLDecodeError:
                        return raw
                return raw
            if ch == "\n":
                raise _Stop
            self.advance()
        raise _Stop
