"""How much of an insertion order a file's layout keeps: the statistic of issue #17's tests.

Within one page SQLite's cells are where they were written (each new one below the earlier
ones), so the adversary's best reading is per page: the order of the cells' offsets. The
statistic is Spearman's ρ between cell offset and the order the rows were written, computed in
each page holding at least :data:`MIN_CELLS` of the rows, averaged over those pages weighted by
their cells. −1 or 1: the page replays the order; near 0: it keeps nothing of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

MIN_CELLS = 5


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    def ranks(values: Sequence[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        for rank, i in enumerate(order):
            out[i] = float(rank)
        return out

    rx, ry = ranks(xs), ranks(ys)
    n = len(rx)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (vx * vy) if vx and vy else 0.0


def within_pages(cells: Sequence[tuple[int, int, int]]) -> tuple[float, int]:
    """``cells``: (page, offset in the page, order written). Returns (weighted mean ρ, cells counted)."""
    by_page: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for page, offset, order in cells:
        by_page[page].append((offset, order))
    total, weight = 0.0, 0
    for found in by_page.values():
        if len(found) < MIN_CELLS:
            continue
        rho = spearman([float(o) for o, _ in found], [float(n) for _, n in found])
        total += rho * len(found)
        weight += len(found)
    return (total / weight if weight else 0.0), weight
