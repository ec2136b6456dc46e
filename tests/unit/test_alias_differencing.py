"""No differencing through aliases (issue #16): whatever a coordinator does to the company
directory, a member reading a roll-call's tallies before and after it learns nothing new.

Hypothesis plays sequences of answers, alias changes (``!company alias``, ``--new``) and reads
through the real handlers and database. Between two reads with no answer in between, the shown
tallies are identical, so no count in 1..k-1 that was hidden can appear; every read equals the
tallies of the answers as each was resolved when it was recorded; and (the one small-cell
rule) no shown figure is in 1..k-1.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.base import Role
from commands.rollcall import OTHER_LABEL, snapshot_of
from storage.directory import directory, normalize
from tests.fakes import DM, make_world, texts

COORD = "@coord:example.org"
NAMES = ["Amazon", "AWS", "Google", "Zqxv Robotics", "Tiny Co-op", "Blorp Labs", "Palantir"]
TARGETS = ["Amazon", "Google", "Palantir", "Tiny Co-op", "Blorp Labs"]

OPS = st.one_of(
    st.tuples(st.just("answer"), st.integers(0, 11), st.sampled_from(NAMES)),
    st.tuples(st.just("alias"), st.sampled_from(NAMES), st.sampled_from(TARGETS)),
    st.tuples(st.just("read")),
)


async def play(ops: list[tuple[Any, ...]], k: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = await make_world(Path(tmp), BOT_MIN_CELL=k, BOT_TALLY_INTERVAL=0)
        try:
            await world.run("!rollcall start walkout Who walks out?", user=COORD, role=Role.COORDINATOR)
            recorded: dict[int, str] = {}  # member → display of the company as resolved when answered
            last: str | None = None
            for op in [*ops, ("read",)]:
                if op[0] == "answer":
                    found = (await directory(world.db)).resolve(op[2])
                    out = texts(await world.run(f"!here --as-typed {op[2]}", user=f"@m{op[1]}:x", room=DM))
                    assert "answer" in out, out
                    # a company the directory does not know is never named (issue #23): pooled
                    recorded[op[1]] = found.display if found is not None else OTHER_LABEL
                    last = None  # an answer changed: the next read may differ
                elif op[0] == "alias":
                    await world.run(f"!company alias {op[1]} = {op[2]} --new", user=COORD, role=Role.COORDINATOR)
                else:
                    shown = texts(await world.run("!rollcall walkout", user=COORD))
                    body = shown.split("\n", 1)[1].rsplit("\nAs of", 1)[0]
                    if last is not None:
                        assert body == last, "an alias change alone changed the shown tallies"
                    last = body
                    counts: dict[str, int] = {}
                    for display in recorded.values():
                        counts[display] = counts.get(display, 0) + 1
                    assert_matches(body, snapshot_of(merge(counts), k), k)
        finally:
            await world.db.close()


def merge(counts: dict[str, int]) -> dict[str, int]:
    """Answers typed as different spellings of one as-typed name share the stored key."""
    out: dict[str, int] = {}
    first: dict[str, str] = {}
    for display, n in sorted(counts.items()):
        label = first.setdefault(normalize(display), display)
        out[label] = out.get(label, 0) + n
    return out


def assert_matches(body: str, snap: dict[str, Any], k: int) -> None:
    expected = [f"{label}: {text}" for label, text in snap["rows"]] or ["No answers yet."]
    assert body.split("\n") == [*expected, f"Total: {snap['total']}"]
    for _label, text in snap["rows"]:
        assert not (text.isdigit() and 0 < int(text) < k)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=25), st.integers(2, 4))
def test_alias_changes_never_reveal_a_hidden_count(ops: list[tuple[Any, ...]], k: int) -> None:
    asyncio.run(play(ops, k))
