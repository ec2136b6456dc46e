"""Command names in each language: one table, built from the declarations, that parsing, help
and typo suggestions all read.

A command is declared once with its English name (one or two words: ``"poll create"``) and its
Spanish names (``aliases=("encuesta crear",)``, the first is the one shown). Everything a member
may type follows from those: accents and case are ignored (``!accion agregar`` is
``!acción agregar``), and the two words of a subcommand mix freely between languages
(``!encuesta create``, ``!poll crear``), because a group's Spanish head word (``encuesta``) and
each subcommand's Spanish word (``crear``) are read off the declarations. A one-word Spanish name
may differ in meaning from the group it heads, as a Spanish speaker expects: ``!compromiso carta``
shows the pledge (``pledge info``), while ``!firmar carta`` signs it (``pledge``).

This module knows nothing of handlers or roles; :mod:`commands.base` builds it from the registry.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field


def fold(word: str) -> str:
    """``Acción`` -> ``accion``: what a typed name is compared by."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.strip().lower()) if not unicodedata.combining(c))


@dataclass
class Names:
    """Every accepted name (folded, one or two words) → the command's English name."""

    full: dict[str, str] = field(default_factory=dict)
    spanish_only: set[str] = field(default_factory=set)  # folded names that are Spanish and not English
    heads: dict[str, set[str]] = field(default_factory=dict)  # English group word → its folded head words
    built_from: tuple[str, ...] = ()  # the commands it was built from

    @classmethod
    def build(cls, declared: Iterable[tuple[str, tuple[str, ...]]]) -> Names:
        """From ``(english name, spanish names)`` pairs; a name meaning two commands is an error."""
        table = cls()
        pairs = list(declared)
        subs: dict[tuple[str, str], str] = {}  # (group, folded Spanish subcommand word) → English word
        english = {key for key, _ in pairs}
        for key, spanish in pairs:
            table._add(key, key)
            group = key.split()[0] if " " in key else None
            if group is not None:
                table.heads.setdefault(group, {group})
            for name in spanish:
                folded = " ".join(fold(w) for w in name.split())
                table._add(folded, key)
                if folded not in english:
                    table.spanish_only.add(folded)
                if group is not None and " " in folded:
                    head, word = folded.split()
                    table.heads[group].add(head)
                    subs[(group, word)] = key.split()[1]
        for key, _ in pairs:  # the mixes: each head word of the group with each word of the subcommand
            if " " not in key:
                continue
            group, sub = key.split()
            words = {sub} | {w for (g, w), s in subs.items() if g == group and s == sub}
            for head in table.heads[group]:
                for word in words:
                    mixed = f"{head} {word}"
                    if mixed not in table.full:
                        table.full[mixed] = key
                        if mixed != key:
                            table.spanish_only.add(mixed)
        return table

    def _add(self, name: str, key: str) -> None:
        if self.full.get(name, key) != key:
            raise RuntimeError(f"command name {name!r} means both {self.full[name]!r} and {key!r}")
        self.full[name] = key

    def resolve(self, first: str, second: str = "") -> tuple[str | None, bool]:
        """(the command's English name or ``None``, whether ``second`` is part of the name)."""
        if second:
            found = self.full.get(f"{fold(first)} {fold(second)}")
            if found is not None:
                return found, True
        return self.full.get(fold(first)), False

    def group(self, word: str) -> str | None:
        """The English group a head word (``encuesta``, ``poll``) names, if any."""
        folded = fold(word)
        return next((g for g, heads in self.heads.items() if folded in heads), None)

    def words_of(self, group: str) -> set[str]:
        """Every second word that makes a subcommand of ``group``, in any language (``crear``,
        ``create``…): no pledge, poll or roll-call may be named with one."""
        return {name.split()[1] for name, key in self.full.items()
                if " " in name and " " in key and key.split()[0] == group}

    def is_spanish(self, first: str, second: str = "") -> bool:
        """Whether the name as typed is Spanish and no English name."""
        if second and f"{fold(first)} {fold(second)}" in self.full:
            return f"{fold(first)} {fold(second)}" in self.spanish_only
        return fold(first) in self.spanish_only


def suggest(typed: str, shown: Iterable[str]) -> str | None:
    """The name in ``shown`` (as it is displayed, accents and all) closest to ``typed``."""
    by_fold = {fold(name): name for name in shown}
    found = difflib.get_close_matches(fold(typed), list(by_fold), n=1, cutoff=0.6)
    return by_fold[found[0]] if found else None


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None
