"""The small-cell rule: no shown figure, and no sum or difference of shown figures, reveals a
count between 1 and k-1."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.common.smallcell import (
    Row,
    Suppressed,
    exact_from,
    suppress,
    suppress_total,
    suppress_votes,
    suppressed_total,
)

# ---------------------------------------------------------------- known answers


@pytest.mark.parametrize(
    ("counts", "k", "rows", "total"),
    [
        ({}, 5, [("Other companies", "fewer than 9")], "fewer than 9"),
        ({"Google": 0}, 5, [("Other companies", "fewer than 9")], "fewer than 9"),
        ({"Google": 9, "Amazon": 3, "Palantir": 6}, 5, [("Google", "9"), ("Other companies", "9")], "18"),
        ({"Google": 9, "Amazon": 3}, 5, [("Google", "9"), ("Other companies", "fewer than 9")], "at least 9"),
        ({"Google": 9}, 5, [("Google", "9"), ("Other companies", "fewer than 9")], "at least 9"),
        ({"Amazon": 3}, 5, [("Other companies", "fewer than 9")], "fewer than 9"),
        ({"Amazon": 8}, 5, [("Other companies", "fewer than 9")], "fewer than 9"),
        ({"Amazon": 5, "Palantir": 4}, 5, [("Other companies", "9")], "9"),
        (
            {"Google": 9, "Microsoft": 9, "Amazon": 12, "Dell": 9},
            5,
            [("Amazon", "12"), ("Dell", "9"), ("Google", "9"), ("Microsoft", "9"), ("Other companies", "fewer than 9")],
            "at least 39",
        ),
        (
            {"Google": 200, "Amazon": 12, "Palantir": 4, "Dell": 0},
            5,
            [("Google", "200"), ("Amazon", "12"), ("Other companies", "fewer than 9")],
            "at least 212",
        ),
        ({"Google": 3, "Amazon": 2}, 2, [("Google", "3"), ("Other companies", "fewer than 3")], "at least 3"),
        ({"Google": 3}, 1, [("Google", "3"), ("Other companies", "fewer than 1")], "at least 3"),
    ],
)
def test_known_answers(counts: dict[str, int], k: int, rows: list[tuple[str, str]], total: str) -> None:
    result = suppress(counts, k)
    assert [(row.label, row.shown_text) for row in result.rows] == rows
    assert result.total_text == total


def test_exact_figures_start_at_2k_minus_1() -> None:
    assert [exact_from(k) for k in (1, 2, 5, 11)] == [1, 3, 9, 21]


def test_rows_carry_exact_values_only_when_shown_exactly() -> None:
    result = suppress({"Google": 9, "Amazon": 3}, 5)
    assert result.rows == [Row("Google", "9", 9), Row("Other companies", "fewer than 9", None)]
    assert result.total_exact is None
    assert suppress({"Google": 9, "Amazon": 3, "Dell": 6}, 5).total_exact == 18


def test_lines_and_custom_label() -> None:
    result = suppress({"Google": 9, "Amazon": 3}, 5, other_label="Other employers")
    assert result.lines() == ["Google: 9", "Other employers: fewer than 9", "Total: at least 9"]
    assert result.lines("Signed")[-1] == "Signed: at least 9"


def test_a_category_named_like_the_pool_joins_the_pool() -> None:
    result = suppress({"Other companies": 6, "Amazon": 4, "Google": 9}, 5)
    assert [(row.label, row.shown_text) for row in result.rows] == [("Google", "9"), ("Other companies", "10")]


@pytest.mark.parametrize(
    ("n", "text"), [(0, "fewer than 9"), (1, "fewer than 9"), (4, "fewer than 9"), (8, "fewer than 9"), (9, "9"),
                    (212, "212")]
)
def test_suppress_total(n: int, text: str) -> None:
    """0 reads like 1..2k-2: nobody sees the first signature arrive."""
    assert suppress_total(n, 5) == text


def test_bad_arguments_are_bugs() -> None:
    with pytest.raises(ValueError):
        suppress({"Google": -1}, 5)
    with pytest.raises(ValueError):
        suppress({"Google": 1}, 0)
    with pytest.raises(ValueError):
        suppress_total(-1, 5)


# ---------------------------------------------------------------- properties

tallies = st.dictionaries(
    st.text(alphabet="ABCDEFGHIJKLMNOP", min_size=1, max_size=3), st.integers(0, 50), max_size=30
)
ks = st.integers(2, 11)


def exact_figures(result: Suppressed) -> list[int]:
    figures = [row.exact_value for row in result.rows if row.exact_value is not None]
    if result.total_exact is not None:
        figures.append(result.total_exact)
    return figures


def render(result: Suppressed) -> tuple[object, ...]:
    """Everything a member sees."""
    return tuple(result.lines())


def small(n: int, k: int) -> bool:
    """Below the exact floor, 0 included: such a figure is never shown exactly."""
    return 0 <= n < exact_from(k)


@settings(max_examples=300, deadline=None)
@given(counts=tallies, k=ks)
def test_every_exact_figure_is_at_least_2k_minus_1(counts: dict[str, int], k: int) -> None:
    result = suppress(counts, k)
    for figure in exact_figures(result):
        assert figure >= 2 * k - 1
    for row in result.rows:
        if row.exact_value is None:
            assert row.shown_text == f"fewer than {2 * k - 1}"
        else:
            assert row.shown_text == str(row.exact_value)


@settings(max_examples=300, deadline=None)
@given(counts=tallies, k=ks)
def test_named_rows_are_exactly_the_categories_with_at_least_2k_minus_1(counts: dict[str, int], k: int) -> None:
    result = suppress(counts, k)
    named = {row.label: row.exact_value for row in result.rows if row.label != "Other companies"}
    assert named == {label: n for label, n in counts.items() if n >= 2 * k - 1}
    values = [row.exact_value or 0 for row in result.rows if row.label != "Other companies"]
    assert values == sorted(values, reverse=True)


@settings(max_examples=300, deadline=None)
@given(counts=tallies, k=ks)
def test_differences_of_shown_figures_never_isolate_a_small_pool(counts: dict[str, int], k: int) -> None:
    result = suppress(counts, k)
    pool = sum(n for n in counts.values() if small(n, k))
    named = [row.exact_value for row in result.rows if row.label != "Other companies"]
    assert all(value is not None for value in named)
    named_sum = sum(value for value in named if value is not None)
    if result.total_exact is None:
        # The total is withheld exactly when the pool is small, and its lower bound is built
        # only from shown figures, so subtracting them leaves 0.
        assert small(pool, k)
        if named_sum:
            assert result.total_text == f"at least {named_sum}"
        else:
            assert result.total_text == f"fewer than {2 * k - 1}"
    else:
        # total - (every named row) is the pool, and it is at least 2k-1.
        derived_pool = result.total_exact - named_sum
        assert derived_pool == pool
        assert not small(derived_pool, k)
        # Any subset of rows subtracted from the total leaves a sum of the other rows: 0 (all of
        # them, i.e. nothing) or >= 2k-1.
        exact_rows = [row.exact_value for row in result.rows if row.exact_value is not None]
        for size in range(min(len(exact_rows), 3) + 1):
            for subset in itertools.combinations(range(len(exact_rows)), size):
                remainder = result.total_exact - sum(exact_rows[i] for i in subset)
                assert remainder == 0 or not small(remainder, k)


@settings(max_examples=300, deadline=None)
@given(counts=tallies, k=ks, data=st.data())
def test_output_does_not_depend_on_how_small_counts_are_split(
    counts: dict[str, int], k: int, data: st.DataObject
) -> None:
    """Indistinguishability: permuting the small counts among the small companies gives the same
    output, so nobody can tell which small company has which count."""
    small_labels = [label for label, n in counts.items() if small(n, k)]
    shuffled = data.draw(st.permutations([counts[label] for label in small_labels]))
    other = dict(counts)
    other.update(zip(small_labels, shuffled, strict=True))
    assert render(suppress(other, k)) == render(suppress(counts, k))


@settings(max_examples=300, deadline=None)
@given(counts=tallies, k=ks, data=st.data())
def test_a_small_pool_hides_its_size_and_members(counts: dict[str, int], k: int, data: st.DataObject) -> None:
    """When the pool is below 2k-1, any other such pool (any size 0..2k-2, any companies in it)
    looks the same: each small company's count is indistinguishable from 1, or from being absent."""
    pool = sum(n for n in counts.values() if small(n, k))
    if not small(pool, k):
        return
    big = {label: n for label, n in counts.items() if not small(n, k)}
    replacement = data.draw(st.integers(0, 2 * k - 2))
    other = dict(big, **{"ZZZZ-unlisted": replacement})
    assert render(suppress(other, k)) == render(suppress(counts, k))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 10_000), k=ks)
def test_suppress_total_agrees_with_suppress(n: int, k: int) -> None:
    """A single count reads like a tally whose every answer is pooled."""
    assert suppress_total(n, k) == suppress({"Other companies": n}, k).total_text


@given(counts=tallies, k=ks)
def test_the_total_alone_is_the_total_of_the_full_rule(counts: dict[str, int], k: int) -> None:
    """``suppressed_total`` (used where only the total is shown) is the rule's total line, and its
    figure is the exact total or the "at least" bound, never anything in between."""
    full = suppress(counts, k)
    text, shown = suppressed_total(counts, k)
    assert text == full.total_text
    named = sum(row.exact_value or 0 for row in full.rows if not row.pooled and row.label != "Other companies")
    assert shown == (full.total_exact if full.total_exact is not None else named)


# ---------------------------------------------------------------- polls: every group a difference can isolate


def _rank(rows: list[list[Fraction]]) -> int:
    """Rank over the rationals (Gaussian elimination; the matrices are tiny)."""
    m = [list(r) for r in rows]
    rank = 0
    for col in range(len(m[0]) if m else 0):
        pivot = next((i for i in range(rank, len(m)) if m[i][col] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][col] != 0:
                factor = m[i][col] / m[rank][col]
                m[i] = [a - factor * b for a, b in zip(m[i], m[rank], strict=True)]
        rank += 1
    return rank


def determined_groups(n_options: int, exact: list[int], multi: bool) -> list[tuple[frozenset[int], ...]]:
    """Every group of voters (a union of ballot kinds) whose size is a linear combination of the
    exact figures shown: ``exact`` lists option indices shown exactly, -1 for the voters."""
    kinds = [frozenset(c) for size in range(1, n_options + 1) for c in itertools.combinations(range(n_options), size)]
    if not multi:
        kinds = [c for c in kinds if len(c) == 1]

    def vector(figure: int) -> list[Fraction]:
        return [Fraction(1 if figure == -1 or figure in kind else 0) for kind in kinds]

    shown = [vector(f) for f in exact]
    base = _rank(shown) if shown else 0
    found = []
    for size in range(1, len(kinds) + 1):
        for union in itertools.combinations(range(len(kinds)), size):
            indicator = [Fraction(1 if i in union else 0) for i in range(len(kinds))]
            if shown and _rank([*shown, indicator]) == base:
                found.append(tuple(kinds[i] for i in union))
    return found


ballots = st.integers(2, 3).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.sets(st.integers(0, n - 1), min_size=1), min_size=0, max_size=40)))


@settings(max_examples=200, deadline=None)
@given(poll=ballots, k=st.integers(2, 5), multi=st.booleans())
def test_no_poll_group_below_2k_minus_1_follows_from_shown_figures(
    poll: tuple[int, list[set[int]]], k: int, multi: bool
) -> None:
    """Voters choose one option, or (``multi``) several; every group whose size is a sum or
    difference of the exact figures shown (2-option --multi: A + B - voters chose both) holds
    at least 2k-1 voters."""
    n, votes = poll
    if not multi:
        votes = [{min(v)} for v in votes]
    counts = [sum(1 for v in votes if i in v) for i in range(n)]
    shown = suppress_votes(len(votes), counts, k, multi)
    if len(votes) < exact_from(k):
        assert shown is None
        return
    assert shown is not None
    total, options = shown
    exact = [i for i, text in enumerate(options) if text.isdigit()] + ([-1] if total.isdigit() else [])
    for i, text in enumerate(options):
        assert not text.isdigit() or int(text) == counts[i]
    for group in determined_groups(n, exact, multi):
        size = sum(1 for v in votes if frozenset(v) in group)
        assert size >= exact_from(k), (group, size, shown)


def test_a_two_option_multi_poll_hides_who_chose_both() -> None:
    """Issue #23, item 13: A, B and the voters shown exactly gave A + B - voters, the number
    who chose both."""
    # 30 voters: 20 chose A, 12 chose B, so 2 chose both
    voters, shown = suppress_votes(30, [20, 12], 5, multi=True) or ("", [])
    assert voters == "30" and shown[0] == "20" and shown[1] == "at least 9"
    # 30 voters, 19 and 20: 9 chose both, a group of 2k-1: all shown
    assert suppress_votes(30, [19, 20], 5, multi=True) == ("30", ["19", "20"])
