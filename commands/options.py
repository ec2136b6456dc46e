"""Declared ``--options``: the one parser every command uses for them.

A command declares its options once, next to its ``@command``, and parses what the member
typed with that declaration::

    CREATE = Options({"goal": Number(1, 10_000_000), "per-company": Flag(), "deadline": Words()})
    found = CREATE.parse(args.rest, ctx.prefix, ctx._)
    found.words, found.text, found.get("goal")

An option is an unquoted word ``--name`` (``--name=value`` works too); a quoted ``"--name"``
is an ordinary word. Every option has a Spanish name too (:data:`SPANISH`: ``--meta`` is
``--goal``), accepted from everyone and shown to Spanish readers (``lang``); values are found
under the English name. Free-text commands (``free_text=True``: action texts, roll-call titles,
company aliases) keep undeclared ``--words`` as text; the others refuse them. Every error a
member can see is written here once, in English, and shown through the gettext the caller
passes (``ctx._``: the reader's language).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from commands.base import CommandError, UsageError, code
from commands.common.i18n import N_, Gettext, number
from commands.common.names import fold
from commands.common.words import UNCLOSED_QUOTE, Word, scan_words

_WHOLE = re.compile(r"[+-]?\d{1,12}")


def _english(text: str) -> str:
    return text


# each option's Spanish name (accents optional when typed): one table for every command
SPANISH = {"goal": "meta", "threshold": "umbral", "per-company": "por-empresa", "deadline": "plazo",
           "closes": "cierra", "multi": "varias", "all": "todas", "remind": "recordar", "every": "cada",
           "as-typed": "tal-cual", "new": "nueva", "uses": "usos", "expires": "vence"}
_FROM_SPANISH = {spanish: english for english, spanish in SPANISH.items()}


def shown(name: str, lang: str) -> str:
    """An option's name as a reader of ``lang`` sees it."""
    return SPANISH.get(name, name) if lang == "es" else name


@dataclass(frozen=True)
class Flag:
    """``--name``: on when given; takes no value."""


@dataclass(frozen=True)
class Number:
    """``--name N``: a whole number, at least ``low`` and at most ``high`` when they are set."""

    low: int | None = None
    high: int | None = None

    def check(self, name: str, raw: str, _: Gettext = _english, lang: str = "en") -> int:
        name = shown(name, lang)
        if not _WHOLE.fullmatch(raw.strip()):
            raise UsageError(_(N_("`--{name}` takes a whole number, not {typed}.")).format(name=name,
                                                                                          typed=code(raw, 40)))
        value = int(raw)
        if self.low is not None and value < self.low:
            raise CommandError(_(N_("`--{name}` must be a whole number above {low}, not {value}.")).format(
                name=name, low=self.low - 1, value=value))
        if self.high is not None and value > self.high:
            raise CommandError(_(N_("`--{name}` can be at most {high}.")).format(name=name, high=number(self.high, lang)))
        return value


@dataclass(frozen=True)
class Words:
    """``--name WORDS``: every word after it up to the next option (quotes are optional), such
    as a time (``--deadline Dec 31``), lead times (``--remind 1d,1h``) or a cron line."""

    missing: str = ""  # the error when no word follows (marked with N_); default "`--name` needs a value."


Kind = Flag | Number | Words


@dataclass(frozen=True)
class Found:
    """What :meth:`Options.parse` found."""

    head: str  # the text before the split mark (``""`` without one)
    words: tuple[str, ...]  # the words that are no option or option value, quotes removed
    text: str  # the same part as typed (spacing and quotes kept), stripped
    values: dict[str, Any] = field(default_factory=dict)  # option name → True, a number or words

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


@dataclass(frozen=True)
class Options:
    """The ``--options`` one command accepts.

    ``split`` (such as ``"|"``) divides ``<when> | <text>``: what comes before the first mark is
    ``head``, and options are read after it; ``split_missing`` is the error when the mark (or
    what comes before it) is missing, with ``{prefix}`` replaced by the command prefix.

    ``parse(text, prefix, _)``: ``_`` is the reader's gettext (``ctx._``); every error, the
    declared ``missing`` and ``split_missing`` texts too, is shown through it."""

    declared: dict[str, Kind]
    free_text: bool = False
    split: str = ""
    split_missing: str = ""

    def parse(self, text: str, prefix: str, _: Gettext = _english, lang: str = "en") -> Found:
        head = ""
        if self.split:
            head, mark, text = text.partition(self.split)
            if not mark or not head.strip():
                raise UsageError(_(self.split_missing).replace("{prefix}", prefix))
        try:
            words = scan_words(text)
        except ValueError:
            raise UsageError(_(UNCLOSED_QUOTE)) from None
        values: dict[str, Any] = {}
        kept: list[str] = []
        pieces: list[str] = []  # the typed text between options
        piece_start, i = 0, 0
        while i < len(words):
            name, eq, inline = _option(words[i])
            if name is not None and name not in self.declared and _FROM_SPANISH.get(name) in self.declared:
                name = _FROM_SPANISH[name]
            if name is None or (name not in self.declared and self.free_text):
                kept.append(words[i].text)
                i += 1
                continue
            if name not in self.declared:
                typed = code("--" + name, 40)
                if not self.declared:
                    raise UsageError(_(N_("Unknown option {option}. This command takes no options.")).format(
                        option=typed))
                known = ", ".join(f"`--{shown(n, lang)}`" for n in self.declared)
                raise UsageError(_(N_("Unknown option {option}. Options here: {known}.")).format(option=typed,
                                                                                                 known=known))
            if name in values:
                raise UsageError(_(N_("`--{name}` is given twice.")).format(name=shown(name, lang)))
            pieces.append(text[piece_start : words[i].start])
            values[name], i = self._value(name, eq, inline, words, i + 1, _, lang)
            piece_start = words[i - 1].end
        pieces.append(text[piece_start:])
        typed = " ".join(piece.strip() for piece in pieces if piece.strip())
        return Found(head.strip(), tuple(kept), typed, values)

    def _stops(self, word: Word) -> bool:
        """Whether ``word`` ends an option's value: another option."""
        name = _option(word)[0]
        return name is not None and (name in self.declared or _FROM_SPANISH.get(name) in self.declared
                                     or not self.free_text)

    def _value(self, name: str, eq: bool, inline: str, words: list[Word], i: int,
               _: Gettext, lang: str) -> tuple[Any, int]:
        """The value of option ``name`` whose words start at ``words[i]``, and the next index."""
        kind = self.declared[name]
        typed = shown(name, lang)
        if isinstance(kind, Flag):
            if eq:
                raise UsageError(_(N_("`--{name}` takes no value.")).format(name=typed))
            return True, i
        if isinstance(kind, Number):
            if not eq:
                if i >= len(words) or self._stops(words[i]):
                    raise UsageError(_(N_("`--{name}` needs a number, like `--{name} 100`.")).format(name=typed))
                inline, i = words[i].text, i + 1
            return kind.check(name, inline, _, lang), i
        values = [inline] if eq else []
        while i < len(words) and not self._stops(words[i]):
            values.append(words[i].text)
            i += 1
        value = " ".join(v for v in values if v.strip())
        if not value:
            raise UsageError(_(kind.missing) if kind.missing else _(N_("`--{name}` needs a value.")).format(name=typed))
        return value, i


def _option(word: Word) -> tuple[str | None, bool, str]:
    """(name, whether ``=`` followed, the inline value) of an option word; name ``None`` else."""
    if word.quoted or not word.text.startswith("--") or len(word.text) <= 2:
        return None, False, ""
    name, eq, inline = word.text[2:].partition("=")
    return fold(name), bool(eq), inline
