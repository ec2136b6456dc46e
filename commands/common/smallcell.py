"""The one small-cell rule for every aggregate the bot shows (``BOT_MIN_CELL`` = k, default 5).

A count between 1 and k-1 can point at a handful of people, so no shown figure, and no sum or
difference of shown figures, may equal such a count. The rule:

* A category (company) with at least k answers is shown by name with its exact count.
* Categories with 1..k-1 answers are never named; their answers are pooled into one row,
  "Other companies". A pool of at least k is shown exactly: it is a sum of several small cells
  (one small cell alone is below k), so it reveals none of them. A pool of 1..k-1 is shown
  as "fewer than k". An empty pool is not shown.
* The total is exact only when the pool is exact (0 or at least k). Otherwise it is
  "at least X", where X is the sum of the exact figures shown, so X minus those figures is 0.

Why differencing cannot isolate a small count: every exact figure shown is 0 or at least k,
and the exact total minus every named row equals the pool, which is then 0 or at least k too.
Stronger, the output depends on the small cells only through "which class is the pool in"
(0, 1..k-1, or its exact value when at least k), so two tallies that differ only in how the
pool is split between small companies (or, when the pool is below k, in its size) look the
same; the tests check exactly this.

Zero is shown as 0: it names nobody (``suppress_total(0, k) == "0"``). Zero-count categories
are dropped from the rows; listing a company nobody answered for would say nothing useful.

What this module does not do, on purpose:

* **Differencing over time.** Two snapshots a member apart reveal that one answer changed, and
  the pool can move between "fewer than k" and exact. Callers refresh shown tallies no more often
  than an interval, so several changes mix. Rounding figures (a ``quantize`` helper) was left
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
_WORDED = re.compile(r"(fewer than|at least|more than) (\d+)")


def fewer_than(k: int) -> str:
    return FEWER.format(k=k)


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
    """A single count that may itself be small: ``0``, ``fewer than k`` for 1..k-1, else exact."""
    _check_k(k)
    if n < 0:
        raise ValueError("counts cannot be negative")
    if 0 < n < k:
        return fewer_than(k)
    return str(n)


def suppress(
    counts: Mapping[str, int],
    k: int = DEFAULT_MIN_CELL,
    other_label: str = "Other companies",
) -> Suppressed:
    """Apply the small-cell rule to a tally of answers per category (see the module docstring)."""
    named, pool = _split(counts, k, other_label)
    named.sort()  # by label (labels are distinct) …
    named.sort(key=itemgetter(1), reverse=True)  # … then largest first; stable, so ties stay by label
    rows = [Row(label, str(n), n) for label, n in named]
    total_text, total_exact = _total(sum(n for _, n in named), pool, k)
    if pool:
        rows.append(Row(other_label, str(pool), pool) if pool >= k else Row(other_label, fewer_than(k), None))
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
    """The categories shown by name, and the answers pooled into ``other_label``."""
    _check_k(k)
    named: list[tuple[str, int]] = []
    pool = 0
    other_key = other_label.casefold()
    for label, n in counts.items():
        if n < 0:
            raise ValueError("counts cannot be negative")
        if n >= k and label.casefold() != other_key:
            named.append((label, n))
        else:
            pool += n
    return named, pool


def _total(named_sum: int, pool: int, k: int) -> tuple[str, int | None]:
    """The total's text and exact value (``None`` when a pool of 1..k-1 makes it a lower bound)."""
    if pool == 0 or pool >= k:
        return str(named_sum + pool), named_sum + pool
    return (AT_LEAST.format(n=named_sum) if named_sum else fewer_than(k)), None


def suppress_votes(voters: int, counts: Sequence[int], k: int = DEFAULT_MIN_CELL,
                   multi: bool = False) -> tuple[str, list[str]] | None:
    """A poll's result under the rule: ``None`` (no result at all) with fewer than k voters;
    else the voters' figure and one figure per option.

    One choice per vote: an option of 1..k-1 votes reads "fewer than k"; the total is the rule's
    total (exact, or "at least X" when the small options add up to 1..k-1), so the total minus
    the exact options never isolates a small group. Several choices per vote: the options do
    not add up to the voters, but the voters minus an option counts those who did not choose it,
    so an option that all but 1..k-1 voters chose reads "more than voters-k"; the voters (at
    least k) are exact."""
    _check_k(k)
    if voters < k:
        return None
    if not multi:
        shown = [str(n) if n == 0 or n >= k else fewer_than(k) for n in counts]
        named = sum(n for n in counts if n >= k)
        total, _exact = _total(named, voters - named, k)
        return total, shown
    figures = []
    for n in counts:
        if 0 < n < k:
            figures.append(fewer_than(k))
        elif 0 < voters - n < k:
            figures.append(MORE_THAN.format(n=voters - k))
        else:
            figures.append(str(n))
    return str(voters), figures
