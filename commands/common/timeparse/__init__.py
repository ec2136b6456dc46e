"""The one time path: reading a member's time (English and Spanish grammars) and showing an instant
in the reader's language and zone. Commands reach it through :class:`commands.base.Context`
(``ctx.read_time``, ``ctx.show_time``), which knows the reader's zone and language; lead times and
recurrences, which build on it, are in :mod:`commands.common.recurrence`.

* :mod:`.core`: the parsed moment, problems, and what a day and a clock mean (shared);
* :mod:`.english`, :mod:`.spanish`: which words say so;
* :mod:`.show`: how an instant or a duration is written in a sentence.

Pure: the clock is always passed in (``now``), nothing here reads it, touches the database or the
network. Member-fixable problems raise :class:`CommandError` with a message, in the reader's
language, saying what was wrong and what to type.

Decisions (the why, in one place):

* **A time is never silently wrong.** Every confirmation shows the full date understood (weekday,
  day, month, the year when it is not this one, time and zone), so a time moved to tomorrow
  (``a las 7`` said at 10:00) or to next year (``Jan 5`` said in December) is stated, never hidden.
* **Date without a time of day** (``2026-12-01``, ``tomorrow``, ``Dec 31``, ``el viernes 11``)
  means **09:00 local**. A **part of the day** without an hour has a default hour
  (:data:`core.PART_HOURS`): morning/``por la mañana`` 09:00, afternoon/``por la tarde`` 15:00,
  evening 18:00, night/``por la noche``/``esta noche``/``tonight`` 20:00; ``mediodía``/``noon``
  12:00, ``medianoche``/``midnight`` 00:00 (the next one). With an hour, the part moves it:
  ``6 de la tarde`` is 18:00, ``2 de la madrugada`` 02:00.
* Offsets from now (``in 2 hours``, ``en media hora``, ``en 1 hora y media``, ``in 3 days``) keep
  the time of day; ``in N minutes/hours`` is **elapsed time** (real hours across a DST change),
  ``in N days/weeks/months`` is **wall-clock**.
* A time without a day (``noon``, ``9am``, ``a las 7``, ``at 18:30``, ``19h``, ``19 hs``) is the next
  such time: today, or tomorrow if it has passed. A bare number is an hour only after ``a las`` /
  ``at``: ``el viernes 11`` is Friday the 11th, ``el viernes a las 11`` Friday at 11:00.
* **A weekday with a date** (``el sábado 12``, ``Friday 11 December``, ``el domingo 13/12/2026``)
  is that date; when the weekday and the date disagree the time is refused with both named.
  A weekday alone is the next one after today. A day of the month alone (``el 11``) is the next
  one, today included.
* **Numeric dates** ``DD/MM`` and ``DD/MM/YYYY`` are read day-first for Spanish readers and
  whenever only one reading is a real date (``15/12``, ``12/15``); for an English reader a date
  that reads both ways (``12/11``) is a question, never a guess.
* **A day and month without a year** (``Dec 7``, ``7 de diciembre``) that has passed this year is
  next year's, shown with its year, unless it passed less than a month ago (``el 7 de diciembre a
  las 9:00`` said at 10:00 that day): that is refused, saying how to write next year's.
* The zone is a trailing IANA name (``Europe/Berlin``, ``utc``; any case), else the reader's.
  Abbreviations (``EST``, ``CET``, ``IST``) are refused: they are ambiguous and ignore DST. A
  numeric offset is accepted only in ISO form (``2026-11-01T01:30-04:00``).
* A local time that does not exist (spring-forward gap) or happens twice (fall-back fold) is
  refused when **parsing**; **recurrences** never refuse (first valid time after a gap, first of
  the two in a fold).
* Spanish and English are read whatever the reader's language; accents are optional. dateparser
  reads English phrases our rules do not (``next week``, ``in 2 weeks 10am``).
* Times more than about five years ahead (:data:`MAX_AHEAD`) are refused, and so is input over
  :data:`MAX_INPUT_CHARS` characters, before it reaches dateparser.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import UTC, datetime, timedelta

from commands.common.errors import CommandError, code
from commands.common.i18n import N_
from commands.common.timeparse.core import (
    DEFAULT_HOUR,
    DURATION,
    MAX_AHEAD,
    MAX_INPUT_CHARS,
    PART_HOURS,
    TOO_FAR,
    UNREADABLE,
    Problem,
    When,
    from_duration,
    next_at,
    unreadable,
)
from commands.common.timeparse.english import (
    BARE_TIME,
    ISO,
    bare_time,
    durations,
    from_dateparser,
    from_english,
    from_iso,
)
from commands.common.timeparse.show import format_duration, show_hour, show_instant
from commands.common.timeparse.spanish import from_spanish
from commands.common.zones import as_zone, get_zone, zone_names

__all__ = ["DEFAULT_HOUR", "MAX_AHEAD", "MAX_INPUT_CHARS", "PART_HOURS", "UNREADABLE", "When", "format_duration",
           "get_zone", "parse_when", "show_hour", "show_instant", "warm_up"]

# "19 hs", "18 hrs" without "in"/"en" is a time of day, as Latin American Spanish writes it
_CLOCK_HOURS = re.compile(r"\d{1,2}\s*(?:hs|hrs)\.?", re.IGNORECASE)
_GIVE_A_TIME = N_("Please give a time, like `2026-12-01 10:00 America/Chicago`, `tomorrow 9am` or `in 2 hours`.")


def parse_when(
    text: str,
    *,
    now: datetime,
    default_zone: str | zoneinfo.ZoneInfo,
    allow_past: bool = False,
    lang: str = "en",
) -> When:
    """Read a member's time, in English or Spanish. ``now`` must be aware (any zone);
    ``default_zone`` is the reader's; ``lang`` is the reader's language (day-first dates, the
    language of the messages). Commands call it through ``Context.read_time``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        return _parse_when(text, now, as_zone(default_zone), allow_past, lang)
    except Problem as problem:
        raise problem.error(lang) from None


def _parse_when(text: str, now: datetime, zone: zoneinfo.ZoneInfo, allow_past: bool, lang: str) -> When:
    if not isinstance(text, str):
        raise Problem(_GIVE_A_TIME)
    if len(text) > MAX_INPUT_CHARS:
        raise Problem(N_("That time is too long to read (over {max} characters). Try "
                         "`2026-12-01 10:00 America/Chicago`, `tomorrow 9am` or `in 2 hours`."),
                      max=str(MAX_INPUT_CHARS))
    cleaned = " ".join(text.split())
    if not cleaned:
        raise Problem(_GIVE_A_TIME)
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise unreadable(text)

    words = cleaned.split(" ")
    last = words[-1]
    if last.lower() in zone_names():
        zone = zoneinfo.ZoneInfo(zone_names()[last.lower()])
        words = words[:-1]
    elif "/" in last and re.search(r"[A-Za-z]{3}", last):
        get_zone(last, lang)  # raises with suggestions
    body = " ".join(words)
    if not body:
        raise Problem(N_("Please give a date or time before the zone, like `2026-12-01 10:00 America/Chicago`, "
                         "`tomorrow 9am` or `in 2 hours`."))

    try:
        local = _parse_local(body, now.astimezone(zone), text, lang)
        ahead = local.astimezone(UTC) - now.astimezone(UTC)
        shown = show_instant(local, zone, lang, now)
    except (CommandError, Problem):
        raise
    except (OverflowError, ValueError, ArithmeticError):
        raise unreadable(text) from None
    if not allow_past and ahead <= timedelta(0):
        raise Problem(N_("{text} is {when}, which is not in the future. Give a later time, like `in 2 hours` or "
                         "`tomorrow 9am`."), text=code(text, 60), when=shown)
    if ahead > MAX_AHEAD:
        raise Problem(TOO_FAR, text=code(text, 60))
    return When(local, zone)


def _parse_local(body: str, now_local: datetime, original: str, lang: str) -> datetime:
    zone = now_local.tzinfo
    assert isinstance(zone, zoneinfo.ZoneInfo)
    iso = ISO.fullmatch(body)
    if iso:
        return from_iso(iso, zone, original)
    bare = BARE_TIME.fullmatch(body)
    if bare:
        return next_at(bare_time(bare, original), now_local, original)
    english = durations(body)
    if DURATION.fullmatch(english) and not _CLOCK_HOURS.fullmatch(body):
        offset = from_duration(english, now_local, original)
        if offset is not None:
            return offset
    for grammar in (from_spanish, from_english):
        found = grammar(body, now_local, original, lang)
        if found is not None:
            return found
    return from_dateparser(body, now_local, original, lang)


def warm_up() -> None:
    """Load dateparser's English data and Babel's names now (about 0.1 s) rather than on a
    member's first command."""
    parse_when("next week", now=datetime(2026, 1, 1, tzinfo=UTC), default_zone="UTC")
    show_instant(datetime(2026, 1, 1, tzinfo=UTC), "UTC", "es")
    show_instant(datetime(2026, 1, 1, tzinfo=UTC), "UTC", "en")
