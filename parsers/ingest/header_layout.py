"""The plain layout of a header format: regexes the one-pass engine runs on the usual lines.

:func:`~logrca.parsers.ingest.header_format.split_header` splits lines in a format's plain layout
with :func:`plain_layout`'s capturing regex and the others with the format's own regex.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

CONTENT_FIELD = "Content"
#: A ``<Field>`` of a header format.
FIELD_TOKEN = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True)
class PlainLayout:
    """Regexes for lines of the plain layout of a header format (see :func:`plain_layout`).

    ``capture`` matches a stripped line's header in the plain layout, one named group per field
    before ``<Content>``, and is one-pass (each character leaves one way to go on), so the regex
    engine captures without backtracking; ``header`` is the same part without groups, to cut
    ``<Content>`` off with a DFA.
    """

    capture: str
    header: str
    #: ``capture`` for lines of ASCII only, spelt with ASCII classes: the same matches on such lines
    #: (``\s`` is ``[\t-\r ]`` there), but a DFA small enough for the one-pass engine, which
    #: ``\s``'s Unicode class is not (2.7x faster on 1.45M lines of a Java header).
    ascii_capture: str


@functools.lru_cache(maxsize=64)
def plain_layout(fmt: str) -> PlainLayout | None:
    """The plain layout of a header format, or None when the format has none.

    The format qualifies when ``<Content>`` ends it after another field, every literal text between fields is
    non-empty and all its literal text is plain characters and spaces (no regex syntax beyond a
    ``\\`` before punctuation). A line is in the plain layout when each field before
    ``<Content>`` is non-empty text without whitespace or the first character of the literal text
    after it, each run of spaces of the format is whitespace followed by non-whitespace, and the
    line holds no newline.

    Notes
    -----
    On such a line the format's regex (every field ``.*?``, spaces ``\\s+``, leftmost-first) finds
    exactly the plain split, so the one-pass regex captures what ``extract_groups`` with the format's
    regex captures. The format's regex takes the highest-priority way to match and the plain split
    is one way, so at the first choice where they would differ the format's regex would take a
    shorter field or a longer run of whitespace. A shorter field ends where the literal after it
    starts, so the plain field would hold that literal's first character, which it does not; a
    longer run of whitespace would take the non-whitespace character that follows the run.
    """
    pieces = FIELD_TOKEN.split(fmt)
    literals, names = pieces[0::2], pieces[1::2]
    if len(names) < 2 or names[-1] != CONTENT_FIELD or literals[-1].strip():
        return None
    texts = [_plain_literal(literal) for literal in literals[:-1]]
    if any(text is None for text in texts) or not all(texts[1:]):
        return None
    return PlainLayout(
        capture=_layout_regex(texts, names, groups=True),
        header=_layout_regex(texts, names, groups=False),
        ascii_capture=_layout_regex(texts, names, groups=True, ascii=True),
    )


def _layout_regex(texts: list[str], names: list[str], *, groups: bool, ascii: bool = False) -> str:
    """The plain layout's header as a regex: with a named group per field (``groups``), spelt in
    ASCII classes (``ascii``); all spellings from this one loop, so they cannot drift apart."""
    parts = ["^", _literal_regex(texts[0], ascii=ascii)]
    for position, name in enumerate(names[:-1]):
        after = texts[position + 1]
        field = _non_space("" if after[0] == " " else after[0], ascii=ascii) + "+"
        parts.append((f"(?P<{name}>{field})" if groups else field) + _literal_regex(after, ascii=ascii))
    if groups and texts[-1].endswith(" "):  # the run of spaces before <Content> takes all the whitespace
        parts.append(_non_space("", ascii=ascii))
    return "".join(parts)


def _plain_literal(literal: str) -> str | None:
    """Literal text with each run of spaces as one space, or None when it holds regex syntax."""
    out: list[str] = []
    index = 0
    while index < len(literal):
        char = literal[index]
        if char == "\\" and index + 1 < len(literal) and not literal[index + 1].isalnum():
            char, index = literal[index + 1], index + 1
            if char.isspace():
                return None  # an escaped space is one space, not a run: keep it exact
        elif char in _REGEX_SYNTAX or char.isspace() and char != " ":
            return None
        if not (char == " " and out and out[-1] == " "):
            out.append(char)
        index += 1
    return "".join(out)


_REGEX_SYNTAX = set("\\.^$*+?()[]{}|")


def _hex(char: str) -> str:
    return f"\\x{{{ord(char):x}}}"


def _literal_regex(text: str, *, ascii: bool = False) -> str:
    space = _ASCII_SPACE if ascii else "\\s"
    return "".join(f"{space}+" if char == " " else _hex(char) for char in text)


#: The ASCII characters of the regex engine's ``\s`` (Unicode White_Space): tab to carriage return, space.
_ASCII_SPACE = "[\\t-\\r ]"


def _non_space(stop: str, *, ascii: bool) -> str:
    """``[^\\s{stop}]``; with ``ascii``, the same among ASCII characters, as a class of ASCII ranges."""
    if not ascii:
        return f"[^\\s{_hex(stop) if stop else ''}]"
    keep = [code for code in range(128) if not (9 <= code <= 13 or code == 32 or chr(code) == stop)]
    starts = [code for code in keep if code - 1 not in keep]
    ends = [code for code in keep if code + 1 not in keep]
    ranges = (_hex(chr(a)) + (f"-{_hex(chr(b))}" if b > a else "") for a, b in zip(starts, ends))
    return "[" + "".join(ranges) + "]"
