"""The one small-cell rule for every aggregate the bot shows (``BOT_MIN_CELL`` = k, default 5).

A group of 1..k-1 can point at a handful of people, so no shown figure, and no sum or
difference of shown figures, may tell such a group's size. Anyone holding a few accounts can
also add up to k-1 answers of their own to a group and take them back, so a figure is exact
only from ``exact_from(k)`` = 2k-1 on: then the group holds at least k others. The rule:

* A category (company) with at least 2k-1 answers is shown by name with its exact count.
* The other categories are never named; their answers are pooled into one row, "Other
  companies", which is always shown: exact when it holds at least 2k-1 (a sum of several
  categories below 2k-1 each, none of which it reveals), else "fewer than 2k-1", an empty pool
  included, so nobody sees the first answer arrive.
* The total is exact only when the pool is exact. Otherwise it is "at least X", where X is the
  sum of the exact figures shown, so X minus those figures is 0.

Why differencing cannot isolate a small count: every exact figure shown is at least 2k-1, and
the exact total minus every named row equals the pool, which is then exact too. The output
depends on the pooled categories only through "is the pool below 2k-1, and if not, its exact
value", so two tallies that differ only in how the pool is split (or, when the pool is below
2k-1, in its size, 0 included) look the same; the tests check exactly this. Zero-count
categories are dropped from the rows.

What this module does not do, on purpose:

* **Differencing over time.** Two snapshots a member apart reveal that one answer changed.
  Callers show published snapshots that change only at announcement rounds
  (:mod:`commands.common.published`), so an attacker gets one look per round. Rounding figures (a ``quantize`` helper) was left
  out: a rounded figure still leaks when it crosses a rounding boundary, and it would break
  exact goals ("40 of 50 signed") that members rely on.
* **Outside knowledge.** Someone who knows every other company's count can subtract; no
  aggregate rule stops that.
* **Normalising names.** Labels are used as given; callers pass canonical company names. A
  label equal to ``other_label`` (any case) is counted in the pool rather than shown twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

from commands.common.i18n import N_

DEFAULT_MIN_CELL = 5


@dataclass(frozen=True)
class Row:
    label: str
    shown_text: str  # "7" or "fewer than 5"
    exact_value: int | None  # None when suppressed

    @property
    def pooled(self) -> bool:
        return self.exact_value is None


@dataclass(frozen=True)
class Suppressed:
    rows: list[Row]  # named rows largest first (ties by label), then the pooled row, if any
    total_text: str  # "212" or "at least 200" or "fewer than 5"
    total_exact: int | None
    k: int

    def lines(self, total_label: str = "Total") -> list[str]:
        """One line per row, then the total: ``Google: 7``, ``Other companies: fewer than 5``."""
        out = [f"{row.label}: {row.shown_text}" for row in self.rows]
        out.append(f"{total_label}: {self.total_text}")
        return out


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"the minimum cell size must be at least 1, not {k}")


FEWER = N_("fewer than {k}")
AT_LEAST = N_("at least {n}")
MORE_THAN = N_("more than {n}")
OTHER_COMPANIES = N_("Other companies")
# what a member is told of their own answer for a company the directory does not know (its name
# is not kept: storage.directory.unlisted_key); such answers count under OTHER_COMPANIES
UNLISTED_COMPANY = N_("a company I don't know yet (counted with the other companies until a coordinator names it "
                      "with `company alias`)")
_WORDED = re.compile(r"(fewer than|at least|more than) (\d+)")


def exact_from(k: int) -> int:
    """The smallest figure shown exactly: 2k-1. Anyone may add up to k-1 answers of their own
    (accounts they hold) to a group and take them back; a group of h plus their a <= k-1 then
    shows exactly only when h + a >= 2k-1, that is when h >= k. Below it every figure, 0
    included, reads the same "fewer than 2k-1" (SECURITY.md, "Measuring a small group")."""
    _check_k(k)
    return 2 * k - 1


def fewer_than(k: int) -> str:
    """The words for every figure below ``exact_from(k)``, 0 included."""
    return FEWER.format(k=exact_from(k))


def in_words(shown: str, gettext: Callable[[str], str]) -> str:
    """A figure this module made ("12", "fewer than 5", "at least 200", "Other companies") in the
    reader's language (``gettext`` of its catalog)."""
    if shown == OTHER_COMPANIES:
        return gettext(OTHER_COMPANIES)
    found = _WORDED.fullmatch(shown)
    if found is None:
        return shown
    if found[1] == "fewer than":
        return gettext(FEWER).format(k=found[2])
    if found[1] == "more than":
        return gettext(MORE_THAN).format(n=found[2])
    return gettext(AT_LEAST).format(n=found[2])


def suppress_total(n: int, k: int) -> str:
    """A single count that may itself be small: ``fewer than 2k-1`` for 0..2k-2 (0 looks like
    the first signatures), else exact."""
    _check_k(k)
    if n < 0:
        raise ValueError("counts cannot be negative")
    if n < exact_from(k):
        return fewer_than(k)
    return str(n)


def suppress(
    counts: Mapping[str, int],
    k: int = DEFAULT_MIN_CELL,
    other_label: str = "Other companies",
) -> Suppressed:
    """Apply the small-cell rule to a tally of answers per category (see the module docstring).
    The pooled row is always there, "fewer than 2k-1" even when nobody is in it, so an empty
    pool looks like a small one."""
    named, pool = _split(counts, k, other_label)
    named.sort()  # by label (labels are distinct) …
    named.sort(key=itemgetter(1), reverse=True)  # … then largest first; stable, so ties stay by label
    rows = [Row(label, str(n), n) for label, n in named]
    total_text, total_exact = _total(sum(n for _, n in named), pool, k)
    floor = exact_from(k)
    rows.append(Row(other_label, str(pool), pool) if pool >= floor else Row(other_label, fewer_than(k), None))
    return Suppressed(rows, total_text, total_exact, k)


def suppressed_total(counts: Mapping[str, int], k: int = DEFAULT_MIN_CELL,
                     other_label: str = "Other companies") -> tuple[str, int]:
    """Just the total line of ``suppress(counts, k)``, without building the rows: its text and
    the figure it shows exactly (the total, or X of "at least X")."""
    named, pool = _split(counts, k, other_label)
    named_sum = sum(n for _, n in named)
    text, exact = _total(named_sum, pool, k)
    return text, named_sum if exact is None else exact


def _split(counts: Mapping[str, int], k: int, other_label: str) -> tuple[list[tuple[str, int]], int]:
    """The categories shown by name (at least 2k-1), and the answers pooled into ``other_label``."""
    floor = exact_from(k)
    named: list[tuple[str, int]] = []
    pool = 0
    other_key = other_label.casefold()
    for label, n in counts.items():
        if n < 0:
            raise ValueError("counts cannot be negative")
        if n >= floor and label.casefold() != other_key:
            named.append((label, n))
        else:
            pool += n
    return named, pool


def _total(named_sum: int, pool: int, k: int) -> tuple[str, int | None]:
    """The total's text and exact value (``None`` when a pool below 2k-1, empty or not, makes it
    a lower bound)."""
    if pool >= exact_from(k):
        return str(named_sum + pool), named_sum + pool
    return (AT_LEAST.format(n=named_sum) if named_sum else fewer_than(k)), None


def suppress_votes(voters: int, counts: Sequence[int], k: int = DEFAULT_MIN_CELL,
                   multi: bool = False) -> tuple[str, list[str]] | None:
    """A poll's result under the rule: ``None`` (no result at all) with fewer than 2k-1 voters;
    else the voters' figure and one figure per option.

    One choice per vote: an option below 2k-1 votes (0 included) reads "fewer than 2k-1"; the
    total is the rule's total (exact only when the hidden options add up to 2k-1 or more), so
    the total minus the exact options never isolates a small group. Several choices per vote:
    the options do not add up to the voters, but the voters minus an option counts those who
    did not choose it, so an option that all but 0..2k-2 voters chose reads "more than
    voters-(2k-1)"; and with exactly two options, A + B - voters counts those who chose both
    (every vote names at least one option), so when that is below 2k-1 the smaller of A and B
    reads "at least 2k-1" instead. With three options or more no other group is a difference
    of shown figures (``tests/unit/test_smallcell.py`` checks it by linear algebra)."""
    floor = exact_from(k)
    if voters < floor:
        return None
    if not multi:
        shown = [str(n) if n >= floor else fewer_than(k) for n in counts]
        named = sum(n for n in counts if n >= floor)
        hidden = len(counts) - sum(1 for n in counts if n >= floor)
        if hidden == 0:
            return str(voters), shown
        total, _exact = _total(named, voters - named, k)
        return total, shown
    figures: list[str] = []
    exact: list[int] = []
    for index, n in enumerate(counts):
        if n < floor:
            figures.append(fewer_than(k))
        elif voters - n < floor:
            figures.append(MORE_THAN.format(n=voters - floor))
        else:
            figures.append(str(n))
            exact.append(index)
    if len(counts) == 2 and len(exact) == 2 and counts[0] + counts[1] - voters < floor:
        smaller = min(exact, key=lambda i: (counts[i], i))
        figures[smaller] = AT_LEAST.format(n=floor)
    return str(voters), figures
