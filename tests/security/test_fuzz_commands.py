"""Bad input: every registered command, driven with arbitrary text as member, coordinator and
admin, in a room and in a DM, yields an answer or a clear error, never an escaping exception,
and its rendered HTML never carries member markup.

The world is shared by all examples of one test, so state built by earlier inputs (pledges,
roll-calls, actions with hostile titles) is shown by later ones (``!pledges``, ``!actions``)."""

from __future__ import annotations

import html
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import base, load_all
from commands.base import Reply, Role
from commands.common.i18n import LANGUAGES
from tests.fakes import DM, ROOM

load_all()
COMMANDS = sorted(base.REGISTRY)
TRIED: Counter[str] = Counter()  # inputs tried per test, printed for SECURITY.md

HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</code><b>x</b>", "<a href='javascript:x'>",
    "&lt;script&gt;", "&#60;script&#62;", "**bold**", "`code`", "``", "[link](javascript:alert(1))",
    "<!--", "]]>", '"', "'", "\u201c", "\u2018", "\u201cunclosed", "'unclosed", '"unclosed', "--goal",
    "--goal 99999999999999999999", "--goal -5", "--goal 0", "--threshold 1e309", "--per-company",
    "--deadline 9999-12-31", "--deadline 0001-01-01", "--deadline 1900-01-01 00:00 Europe/Atlantis",
    "--closes yesterday", "--closes in 500 years", "--closes 2026-13-45 25:61", "--remind 0m,9999999d",
    "--every", "--every cron * * * * * *", "--every 61 25 32 13 8", "--all", "--as-typed", "--new", "--",
    "|", "||", " | ", "=", "add", "remove", "confirm", "letter", "walkout", "1", "0", "-1", "12",
    "999999999999999999999999999999", "NaN", "inf", "tomorrow 9am", "2026-12-01 10:00 America/Chicago",
    "10:00 Mars/Olympus_Mons", "Asia/Kathmandu", "@alice:example.org", "!room:example.org", "$event",
    "\x00", "\x1b[31m", "\u202e", "\u200b", "\ufeff", "\r\n", "\t", "\ud7ff", "\U0001f600", "A\u030a",
    "Amazon", "AWS", "Palantir", "Google",
]

token = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(min_size=1, max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
arguments = st.lists(token, max_size=8).map(" ".join)
roles = st.sampled_from([Role.MEMBER, Role.COORDINATOR, Role.ADMIN])
rooms = st.sampled_from([ROOM, DM])
users = st.sampled_from(["@alice:example.org", "@bob:example.org", "@carol:example.net"])

ALLOWED_TAG = re.compile(r"</?(code|strong)>|<br>")
MAX_EVENT_BYTES = 60_000  # the homeserver refuses events over 64 KiB (M_TOO_LARGE): such an answer is lost


def check_outputs(outputs: object, typed: str) -> None:
    assert isinstance(outputs, list), f"{typed!r} returned {outputs!r}"
    answered = False
    for output in outputs:
        found = getattr(output, "text", None)
        if found is None:
            continue
        # a text rendered per reader (Announce, Post) is checked as every language reads it
        for text in [found] if isinstance(found, str) else [found(lang) for lang in LANGUAGES]:
            assert isinstance(text, str) and text.strip(), f"{typed!r} gave an empty answer"
            answered = True
            plain, formatted = base.render(text)
            assert "<script" not in formatted.lower()
            leftover = ALLOWED_TAG.sub("", formatted)
            assert "<" not in leftover, f"{typed!r} rendered unescaped markup: {formatted[:300]!r}"
            assert len(formatted.encode()) + len(plain.encode()) < MAX_EVENT_BYTES, f"{typed!r}: answer too large"
    assert answered, f"{typed!r}: no answer to the member"


async def seed(world) -> None:
    coordinator = {"role": Role.COORDINATOR}
    for text in ("!pledge create letter <b>Sign</b> the **letter** --goal 5",
                 "!rollcall start walkout <script>x</script> who walks out?",
                 "!action add 2026-12-01 10:00 UTC | <i>Call</i> the council"):
        await world.run(text, **coordinator)


@pytest.fixture
async def seeded(world):
    await seed(world)
    return world


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(COMMANDS), rest=arguments, role=roles, room=rooms, user=users)
async def test_every_command_answers_arbitrary_arguments_safely(seeded, name, rest, role, room, user):
    typed = f"!{name} {rest}"
    TRIED["commands"] += 1
    parsed = base.parse(typed, "!")
    if parsed is None:  # e.g. the arguments began with white space that made it chat; still fine
        return
    outputs = await seeded.run(typed, user=user, role=role, room=room)
    check_outputs(outputs, typed)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(max_size=200), role=roles, room=rooms)
async def test_arbitrary_text_after_the_prefix(seeded, body, role, room):
    typed = "!" + body
    TRIED["free text"] += 1
    parsed = base.parse(typed, "!")
    if parsed is None:
        return
    outputs = await seeded.run(typed, role=role, room=room)
    check_outputs(outputs, typed)


@pytest.mark.parametrize("name", COMMANDS)
async def test_a_64_kib_line_is_refused_clearly(seeded, name):
    for filler in ("x" * 65536, "<script>" * 8192, "\u00e9" * 65536):
        typed = f"!{name} {filler}"
        TRIED["64 KiB"] += 1
        outputs = await seeded.run(typed, role=Role.ADMIN)
        check_outputs(outputs, typed[:50])
        assert "too long" in outputs[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("name", COMMANDS)
async def test_each_hostile_token_as_every_role(seeded, name):
    for hostile in HOSTILE:
        for role in Role:
            for room in (ROOM, DM):
                typed = f"!{name} {hostile}"
                TRIED["hostile tokens"] += 1
                outputs = await seeded.run(typed, role=role, room=room)
                check_outputs(outputs, typed)


async def test_stored_hostile_titles_are_shown_escaped(seeded):
    for typed, raw in (("!pledges", "<b>Sign</b>"), ("!pledge info letter", "<b>Sign</b>"),
                       ("!rollcall walkout", "<script>x</script>"), ("!actions", "<i>Call</i>")):
        outputs = await seeded.run(typed)
        check_outputs(outputs, typed)
        html = "".join(base.render(o.text)[1] for o in outputs if isinstance(o, Reply))
        assert raw not in html and raw.replace("<", "&lt;").replace(">", "&gt;") in html, html


def test_zz_inputs_tried():
    """Runs last in this module: prints the tally for SECURITY.md (``pytest -s``)."""
    print(f"\ninputs tried: {dict(TRIED)} total={sum(TRIED.values())}")


@pytest.mark.parametrize("prefix_only", ["!", "! ", "!\n", "!!", "!!!help"])
async def test_prefix_only_is_chat_or_a_clear_error(seeded, prefix_only):
    parsed = base.parse(prefix_only, "!")
    if parsed is not None:
        outputs = await seeded.run(prefix_only)
        check_outputs(outputs, prefix_only)


@settings(max_examples=300, deadline=None)
@given(value=st.text(min_size=1, max_size=100))
def test_member_input_quoted_with_code_stays_literal(value):
    TRIED["render"] += 1
    plain, formatted = base.render(f"You typed {base.code(value)}.")
    quoted = base.code(value)[1:-1]
    assert formatted == f"You typed <code>{html.escape(quoted, quote=False)}</code>."
    assert plain == f"You typed `{quoted}`."
