"""Declared ``--options``: the one parser every command uses for them.

A command declares its options once, next to its ``@command``, and parses what the member
typed with that declaration::

    CREATE = Options({"goal": Number(1, 10_000_000), "per-company": Flag(), "deadline": Words()})
    found = CREATE.parse(args.rest, ctx.prefix, ctx._)
    found.words, found.text, found.get("goal")

An option is an unquoted word ``--name`` (``--name=value`` works too); a quoted ``"--name"``
is an ordinary word. Free-text commands (``free_text=True``: action texts, roll-call titles,
company aliases) keep undeclared ``--words`` as text; the others refuse them. Every error a
member can see is written here once, in the reader's language when ``parse`` is given their
``gettext`` (``ctx._``); a declaration's own messages (``missing``, ``split_missing``) are marked
with ``N_`` where they are declared and translated here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commands.base import CommandError, UsageError, code
from commands.common.words import UNCLOSED_QUOTE, Word, scan_words

_WHOLE = re.compile(r"[+-]?\d{1,12}")
Gettext = Callable[[str], str]  # the reader's catalog (``ctx._``)


def _as_written(text: str) -> str:
    return text


@dataclass(frozen=True)
class Flag:
    """``--name``: on when given; takes no value."""


@dataclass(frozen=True)
class Number:
    """``--name N``: a whole number, at least ``low`` and at most ``high`` when they are set."""

    low: int | None = None
    high: int | None = None

    def check(self, name: str, raw: str, _: Gettext = _as_written) -> int:
        if not _WHOLE.fullmatch(raw.strip()):
            raise UsageError(_("`--{name}` takes a whole number, not {value}.").format(name=name, value=code(raw, 40)))
        value = int(raw)
        if self.low is not None and value < self.low:
            raise CommandError(_("`--{name}` must be a whole number above {low}, not {value}.").format(
                name=name, low=self.low - 1, value=value))
        if self.high is not None and value > self.high:
            raise CommandError(_("`--{name}` can be at most {high}.").format(name=name, high=f"{self.high:,}"))
        return value


@dataclass(frozen=True)
class Words:
    """``--name WORDS``: every word after it up to the next option (quotes are optional), such
    as a time (``--deadline Dec 31``), lead times (``--remind 1d,1h``) or a cron line."""

    missing: str = ""  # the error when no word follows (marked N_); default "`--name` needs a value."


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
    what comes before it) is missing, with ``{prefix}`` replaced by the command prefix."""

    declared: dict[str, Kind]
    free_text: bool = False
    split: str = ""
    split_missing: str = ""

    def parse(self, text: str, prefix: str, _: Gettext = _as_written) -> Found:
        """What ``text`` holds; errors worded with ``_``, the reader's catalog."""
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
            if name is None or (name not in self.declared and self.free_text):
                kept.append(words[i].text)
                i += 1
                continue
            if name not in self.declared:
                known = ", ".join(f"`--{n}`" for n in self.declared) or _("none")
                raise UsageError(_("Unknown option {option}. Options here: {known}.").format(
                    option=code("--" + name, 40), known=known))
            if name in values:
                raise UsageError(_("`--{name}` is given twice.").format(name=name))
            pieces.append(text[piece_start : words[i].start])
            values[name], i = self._value(name, eq, inline, words, i + 1, _)
            piece_start = words[i - 1].end
        pieces.append(text[piece_start:])
        typed = " ".join(piece.strip() for piece in pieces if piece.strip())
        return Found(head.strip(), tuple(kept), typed, values)

    def _stops(self, word: Word) -> bool:
        """Whether ``word`` ends an option's value: another option."""
        name = _option(word)[0]
        return name is not None and (name in self.declared or not self.free_text)

    def _value(self, name: str, eq: bool, inline: str, words: list[Word], i: int,
               _: Gettext = _as_written) -> tuple[Any, int]:
        """The value of option ``name`` whose words start at ``words[i]``, and the next index."""
        kind = self.declared[name]
        if isinstance(kind, Flag):
            if eq:
                raise UsageError(_("`--{name}` takes no value.").format(name=name))
            return True, i
        if isinstance(kind, Number):
            if not eq:
                if i >= len(words) or self._stops(words[i]):
                    raise UsageError(_("`--{name}` needs a number, like `--{name} 100`.").format(name=name))
                inline, i = words[i].text, i + 1
            return kind.check(name, inline, _), i
        values = [inline] if eq else []
        while i < len(words) and not self._stops(words[i]):
            values.append(words[i].text)
            i += 1
        value = " ".join(v for v in values if v.strip())
        if not value:
            raise UsageError(_(kind.missing) if kind.missing else _("`--{name}` needs a value.").format(name=name))
        return value, i


def _option(word: Word) -> tuple[str | None, bool, str]:
    """(name, whether ``=`` followed, the inline value) of an option word; name ``None`` else."""
    if word.quoted or not word.text.startswith("--") or len(word.text) <= 2:
        return None, False, ""
    name, eq, inline = word.text[2:].partition("=")
    return name.lower(), bool(eq), inline
