"""The small-cell rule: no shown figure, and no sum or difference of shown figures, reveals a
count between 1 and k-1."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.common.smallcell import Row, Suppressed, suppress, suppress_total, suppressed_total

# ---------------------------------------------------------------- known answers


@pytest.mark.parametrize(
    ("counts", "k", "rows", "total"),
    [
        ({}, 5, [], "0"),
        ({"Google": 0}, 5, [], "0"),
        ({"Google": 7, "Amazon": 3, "Palantir": 2}, 5, [("Google", "7"), ("Other companies", "5")], "12"),
        ({"Google": 7, "Amazon": 3}, 5, [("Google", "7"), ("Other companies", "fewer than 5")], "at least 7"),
        ({"Amazon": 3}, 5, [("Other companies", "fewer than 5")], "fewer than 5"),
        ({"Amazon": 3, "Palantir": 1}, 5, [("Other companies", "fewer than 5")], "fewer than 5"),
        ({"Amazon": 3, "Palantir": 2}, 5, [("Other companies", "5")], "5"),
        (
            {"Google": 7, "Microsoft": 7, "Amazon": 9},
            5,
            [("Amazon", "9"), ("Google", "7"), ("Microsoft", "7")],
            "23",
        ),
        ({"Google": 5, "Amazon": 4}, 5, [("Google", "5"), ("Other companies", "fewer than 5")], "at least 5"),
        (
            {"Google": 200, "Amazon": 12, "Palantir": 4, "Dell": 0},
            5,
            [("Google", "200"), ("Amazon", "12"), ("Other companies", "fewer than 5")],
            "at least 212",
        ),
        ({"Google": 2, "Amazon": 1}, 2, [("Google", "2"), ("Other companies", "fewer than 2")], "at least 2"),
        ({"Google": 3}, 1, [("Google", "3")], "3"),
    ],
)
def test_known_answers(counts: dict[str, int], k: int, rows: list[tuple[str, str]], total: str) -> None:
    result = suppress(counts, k)
    assert [(row.label, row.shown_text) for row in result.rows] == rows
    assert result.total_text == total


def test_rows_carry_exact_values_only_when_shown_exactly() -> None:
    result = suppress({"Google": 7, "Amazon": 3}, 5)
    assert result.rows == [Row("Google", "7", 7), Row("Other companies", "fewer than 5", None)]
    assert result.total_exact is None
    assert suppress({"Google": 7, "Amazon": 3, "Dell": 2}, 5).total_exact == 12


def test_lines_and_custom_label() -> None:
    result = suppress({"Google": 7, "Amazon": 3}, 5, other_label="Other employers")
    assert result.lines() == ["Google: 7", "Other employers: fewer than 5", "Total: at least 7"]
    assert result.lines("Signed")[-1] == "Signed: at least 7"


def test_a_category_named_like_the_pool_joins_the_pool() -> None:
    result = suppress({"Other companies": 6, "Amazon": 2, "Google": 5}, 5)
    assert [(row.label, row.shown_text) for row in result.rows] == [("Google", "5"), ("Other companies", "8")]


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0"), (1, "fewer than 5"), (4, "fewer than 5"), (5, "5"), (212, "212")]
)
def test_suppress_total(n: int, text: str) -> None:
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
    return 1 <= n <= k - 1


@settings(max_examples=300, deadline=None)
@given(counts=tallies, k=ks)
def test_every_exact_figure_is_zero_or_at_least_k(counts: dict[str, int], k: int) -> None:
    result = suppress(counts, k)
    for figure in exact_figures(result):
        assert figure == 0 or figure >= k
    for row in result.rows:
        if row.exact_value is None:
            assert row.shown_text == f"fewer than {k}"
        else:
            assert row.shown_text == str(row.exact_value)


@settings(max_examples=300, deadline=None)
@given(counts=tallies, k=ks)
def test_named_rows_are_exactly_the_categories_with_at_least_k(counts: dict[str, int], k: int) -> None:
    result = suppress(counts, k)
    named = {row.label: row.exact_value for row in result.rows if row.label != "Other companies"}
    assert named == {label: n for label, n in counts.items() if n >= k}
    values = [row.exact_value or 0 for row in result.rows if row.label != "Other companies"]
    assert values == sorted(values, reverse=True)


@settings(max_examples=300, deadline=None)
@given(counts=tallies, k=ks)
def test_differences_of_shown_figures_never_isolate_a_small_pool(counts: dict[str, int], k: int) -> None:
    result = suppress(counts, k)
    pool = sum(n for n in counts.values() if n < k)
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
            assert result.total_text == f"fewer than {k}"
    else:
        # total - (every named row) is the pool, and it is 0 or at least k.
        derived_pool = result.total_exact - named_sum
        assert derived_pool == pool
        assert not small(derived_pool, k)
        # Any subset of rows subtracted from the total leaves a sum of the other rows: 0 or >= k.
        exact_rows = [row.exact_value for row in result.rows if row.exact_value is not None]
        for size in range(min(len(exact_rows), 3) + 1):
            for subset in itertools.combinations(range(len(exact_rows)), size):
                remainder = result.total_exact - sum(exact_rows[i] for i in subset)
                assert not small(remainder, k)


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
    """When the pool is 1..k-1, any other small pool (any size 1..k-1, any companies in it) looks
    the same: each small company's count is indistinguishable from 1, or from being absent."""
    pool = sum(n for n in counts.values() if n < k)
    if not small(pool, k):
        return
    big = {label: n for label, n in counts.items() if n >= k}
    replacement = data.draw(st.integers(1, k - 1))
    other = dict(big, **{"ZZZZ-unlisted": replacement})
    assert render(suppress(other, k)) == render(suppress(counts, k))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 10_000), k=ks)
def test_suppress_total_agrees_with_suppress(n: int, k: int) -> None:
    assert suppress_total(n, k) == suppress({"Google": n}, k).total_text


@given(counts=tallies, k=ks)
def test_the_total_alone_is_the_total_of_the_full_rule(counts: dict[str, int], k: int) -> None:
    """``suppressed_total`` (used where only the total is shown) is the rule's total line, and its
    figure is the exact total or the "at least" bound, never anything in between."""
    full = suppress(counts, k)
    text, shown = suppressed_total(counts, k)
    assert text == full.total_text
    named = sum(row.exact_value or 0 for row in full.rows if not row.pooled and row.label != "Other companies")
    assert shown == (full.total_exact if full.total_exact is not None else named)
