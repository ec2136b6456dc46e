"""Words of a command line: white space separates them, quotes group them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from commands.common.i18n import N_
from commands.common.names import fold

_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}


UNCLOSED_QUOTE = N_("A quote is not closed. Put quotes around the whole phrase, like `\"Sign the letter\"`.")


@dataclass(frozen=True)
class Word:
    text: str  # without its quotes
    start: int  # where it stands in the scanned text, quotes included
    end: int
    quoted: bool


def scan_words(text: str) -> list[Word]:
    """Split on white space; a word that *starts* with a quote runs to its closing quote, so
    `"Sign the letter"` is one word while `Macy's` stays as typed. Raises ``ValueError`` for a
    quote that is never closed."""
    words: list[Word] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        closing = _QUOTES.get(text[i])
        if closing is not None:
            end = text.find(closing, i + 1)
            if end < 0:
                raise ValueError("unclosed quote")
            words.append(Word(text[i + 1 : end], i, end + 1, True))
            i = end + 1
            continue
        start = i
        while i < n and not text[i].isspace():
            i += 1
        words.append(Word(text[start:i], start, i, False))
    return words


def split_words(text: str) -> list[str]:
    """The words of :func:`scan_words`, without their positions."""
    return [word.text for word in scan_words(text)]


# A room ID or alias as typed (the one rule: `!rooms approve` and BOT_HOME_ROOM use it).
ROOM_REF = re.compile(r"[!#][^:\s]{1,255}:[A-Za-z0-9.\-\[\]:]{1,255}|![A-Za-z0-9_\-]{43}")


# "add" and "remove" as members type them in either language (`!encuesta salas huelga agregar`)
_VERBS = {"add": "add", "agregar": "add", "anadir": "add", "remove": "remove", "quitar": "remove", "sacar": "remove"}


def room_verb(word: str) -> str | None:
    """``"add"``, ``"remove"`` or ``None`` for a word typed after ``rooms`` (accents optional)."""
    return _VERBS.get(fold(word))
