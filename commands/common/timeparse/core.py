"""What both grammars share: the parsed moment, the problems a member can fix, and how a phrase's
day and clock become one instant (weekday checks, day-first dates, years, DST gaps and folds).

The grammars (:mod:`.english`, :mod:`.spanish`) only recognise words; every decision about what
the words mean is taken here, once, for both languages (see the package docstring).
"""

from __future__ import annotations

import calendar
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from commands.common.errors import CommandError, code
from commands.common.i18n import N_, translations
from commands.common.timeparse.show import show_clock, show_day, weekday_name
from commands.common.zones import after_gap, is_after, resolve_local, wall_time

MAX_INPUT_CHARS = 200
MAX_AHEAD = timedelta(days=5 * 365 + 2)  # "five years", leap days included
DEFAULT_HOUR = time(9, 0)
# a part of the day said without an hour: "mañana por la tarde" is tomorrow 15:00
PART_HOURS = {"morning": time(9, 0), "afternoon": time(15, 0), "evening": time(18, 0), "night": time(20, 0)}
# a day and month without a year that passed less than this long ago is refused, not moved to next year
RECENTLY_PAST = timedelta(days=31)


@dataclass(frozen=True)
class When:
    """A parsed moment: ``local`` is aware and in ``zone``."""

    local: datetime
    zone: zoneinfo.ZoneInfo

    @property
    def utc(self) -> datetime:
        return self.local.astimezone(UTC)


class Problem(Exception):
    """A problem the member can fix, worded in English (a catalog text with named values); the
    parser raises it as a :class:`CommandError` in the reader's language."""

    def __init__(self, message: str, /, **values: str) -> None:
        super().__init__(message)
        self.message, self.values = message, values

    def error(self, lang: str) -> CommandError:
        return CommandError(translations(lang).gettext(self.message).format(**self.values))


UNREADABLE = N_("I couldn't read {text} as a time. Try `tomorrow 9am`, `friday 17:00`, `in 2 hours` or "
                "`2026-12-01 10:00 America/Chicago`.")
TOO_FAR = N_("{text} is more than five years away. Give a time within the next five years.")
NOT_REAL = N_("{text} is not a real date or time. Write the day and month like `Dec 11` or `11/12`, and the time "
              "like `17:30` or `5pm`, for example `Dec 11 17:30`.")
WRONG_WEEKDAY = N_("{text}: {day} is a {actual}, not a {said}. Write the day you mean, like `{one}` or `{other}`.")
AMBIGUOUS_DAY = N_("{text} could be {first} or {second}. Write the month's name, like `{one}` or `{other}`.")
RECENT_PAST = N_("{text} was {day}, which has passed. If you mean next year, add it: `{fixed}`.")


def unreadable(text: str) -> Problem:
    return Problem(UNREADABLE, text=code(text, 60))


def not_real(text: str) -> Problem:
    return Problem(NOT_REAL, text=code(text, 60))


@dataclass(frozen=True)
class Day:
    """What a phrase says about the day; unset fields were not said. ``date`` is a day named
    outright (``tomorrow``, ``hoy``); ``day``/``month``/``year`` a calendar date, possibly partial
    (``el viernes 11`` is ``weekday=4, day=11``)."""

    date: date | None = None
    weekday: int | None = None
    day: int | None = None
    month: int | None = None
    year: int | None = None
    said: str = ""  # how the member wrote the day, to repeat it in a message


@dataclass(frozen=True)
class Clock:
    wall: time
    part: bool = False  # only a part of the day was said: PART_HOURS chose the hour


def part_hour(part: str) -> Clock:
    return Clock(PART_HOURS[part], part=True)


def with_part(wall: time, part: str | None) -> time:
    """``6`` + afternoon/evening/night is 18:00 (``6 de la tarde``); ``12 de la noche`` is midnight,
    ``2 de la noche``/``de la madrugada`` stays 02:00."""
    if not part or part == "morning":
        return wall
    if part == "night" and wall.hour == 12:
        return wall.replace(hour=0)
    if part in ("afternoon", "evening", "night") and wall.hour < 12 and not (part == "night" and wall.hour <= 4):
        return wall.replace(hour=wall.hour + 12)
    return wall


def clock(hour: int, minute: int, ampm: str, original: str) -> time:
    """An hour and minute as typed (``ampm`` is ``""``, ``am`` or ``pm``), checked."""
    if ampm:
        if not 1 <= hour <= 12:
            raise Problem(N_("{text} is not a time: with am/pm the hour is 1 to 12."), text=code(original, 60))
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        raise Problem(N_("{text} is not a time. Times look like `9am` or `18:30`."), text=code(original, 60))
    return time(hour, minute)


def numeric_date(first: int, second: int, lang: str, original: str) -> tuple[int, int]:
    """``DD/MM`` or ``MM/DD`` as ``(day, month)``: the only valid reading when one of them is above
    12; day-first for Spanish readers; for an English reader both readings (both at most 12 and
    different) are a question, never a guess."""
    day_first, month_first = 1 <= second <= 12 and first >= 1, 1 <= first <= 12 and second >= 1
    if first > 12 and day_first:
        return first, second
    if second > 12 and month_first:
        return second, first
    if not (day_first and month_first):
        raise not_real(original)
    if lang == "es" or first == second:
        return first, second
    raise Problem(AMBIGUOUS_DAY, text=code(original, 60), first=f"{first} {calendar.month_name[second]}",
                  second=f"{calendar.month_name[first]} {second}", one=f"{first} {calendar.month_abbr[second]}",
                  other=f"{calendar.month_abbr[first]} {second}")


def resolve(day: Day | None, hour: Clock | None, now_local: datetime, original: str, lang: str) -> datetime:
    """The instant a phrase names, in ``now_local``'s zone (a ZoneInfo)."""
    zone = now_local.tzinfo
    assert isinstance(zone, zoneinfo.ZoneInfo)
    if day is None:
        if hour is None:
            raise unreadable(original)
        return next_at(hour.wall, now_local, original)
    wall = hour.wall if hour else DEFAULT_HOUR
    today = now_local.date()
    try:
        if day.date is not None:
            found = day.date
        elif day.month is not None and day.day is not None:
            found = _calendar_day(day, wall, now_local, original, lang)
        elif day.day is not None:
            found = _day_of_month(day.day, today, original)
        elif day.weekday is not None:
            found = today + timedelta(days=(day.weekday - today.weekday() - 1) % 7 + 1)  # the next one after today
        else:
            raise unreadable(original)
    except ValueError:
        raise not_real(original) from None
    if day.weekday is not None and found.weekday() != day.weekday:
        _wrong_weekday(day, found, original, lang)
    return strict(datetime.combine(found, wall), zone, original)


def _calendar_day(day: Day, wall: time, now_local: datetime, original: str, lang: str) -> date:
    assert day.month is not None and day.day is not None
    found = date(day.year or now_local.year, day.month, day.day)
    if day.year is not None or datetime.combine(found, wall) > now_local.replace(tzinfo=None):
        return found
    if now_local.date() - found < RECENTLY_PAST:  # "7 de diciembre a las 9:00" said at 10:00 that day
        raise recently_past(datetime.combine(found, wall), original, lang)
    return found.replace(year=found.year + 1)  # shown with its year in every confirmation


def recently_past(when: datetime, original: str, lang: str) -> Problem:
    """A day and month without a year that passed this year, less than :data:`RECENTLY_PAST` ago:
    refused, saying how to ask for next year's."""
    try:
        later = when.replace(year=when.year + 1)
    except ValueError:  # 29 February
        later = when + timedelta(days=365)
    fixed = f"{show_day(later.date(), lang)} {show_clock(later, lang)}"
    return Problem(RECENT_PAST, text=code(original, 60), day=f"{show_day(when.date(), lang)} {show_clock(when, lang)}",
                   fixed=fixed)


def _day_of_month(number: int, today: date, original: str) -> date:
    """``el 11``, ``el viernes 11``: the next day ``number`` of a month, today included."""
    if not 1 <= number <= 31:
        raise not_real(original)
    year, month = today.year, today.month
    for _ in range(13):
        if number <= calendar.monthrange(year, month)[1] and date(year, month, number) >= today:
            return date(year, month, number)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise not_real(original)


def _wrong_weekday(day: Day, found: date, original: str, lang: str) -> None:
    assert day.weekday is not None
    said_day = found - timedelta(days=found.weekday() - day.weekday)  # the said weekday in that week
    if lang == "es":
        one = f"el {weekday_name(found.weekday(), lang)} {found.day}"
        other = f"el {weekday_name(said_day.weekday(), lang)} {said_day.day}"
    else:
        one = f"{weekday_name(found.weekday(), lang)} {found.day}"
        other = f"{weekday_name(said_day.weekday(), lang)} {said_day.day}"
    raise Problem(WRONG_WEEKDAY, text=code(original, 60), day=show_day(found, lang, year=False, weekday=False),
                  actual=weekday_name(found.weekday(), lang), said=weekday_name(day.weekday, lang), one=one,
                  other=other)


def next_at(wall: time, now_local: datetime, original: str) -> datetime:
    """A time without a day: today if it is still ahead, else tomorrow (the date is always shown)."""
    zone = now_local.tzinfo
    assert isinstance(zone, zoneinfo.ZoneInfo)
    candidate = strict(datetime.combine(now_local.date(), wall), zone, original)
    if not is_after(candidate, now_local):
        candidate = strict(datetime.combine(now_local.date() + timedelta(days=1), wall), zone, original)
    return candidate


# ---------------------------------------------------------------- durations

_UNIT = r"(?P<unit>w|wks?|weeks?|d|days?|h|hrs?|hours?|m|mins?|minutes?|months?|y|yrs?|years?)"
_DURATION_PART = re.compile(r"(?P<n>\d{1,6})\s*" + _UNIT + r"(?![a-z])", re.IGNORECASE)
DURATION = re.compile(r"(?:in\s+)?(?:\d{1,6}\s*[a-z]+(?:\s*,\s*|\s+and\s+|\s*))+", re.IGNORECASE)


def from_duration(body: str, now_local: datetime, original: str) -> datetime | None:
    """``in 2 hours 30 minutes``: days/weeks/months/years move the wall clock, hours/minutes the
    real clock (so ``in 2 hours`` is two real hours even across a DST change). ``None`` when the
    text is not only durations (``in 2 weeks 10am``): dateparser reads those."""
    zone = now_local.tzinfo
    assert isinstance(zone, zoneinfo.ZoneInfo)
    rest = re.sub(r"^in\s+", "", body, flags=re.IGNORECASE)
    months = days = 0
    elapsed = timedelta()
    consumed = 0
    for part in _DURATION_PART.finditer(rest):
        if rest[consumed : part.start()].strip(" ,").lower() not in ("", "and"):
            return None
        consumed = part.end()
        n, unit = int(part["n"]), part["unit"].lower()
        if unit.startswith("mo"):
            months += n
        elif unit.startswith("y"):
            months += 12 * n
        elif unit.startswith("w"):
            days += 7 * n
        elif unit.startswith("d"):
            days += n
        elif unit.startswith("h"):
            elapsed += timedelta(hours=n)
        else:
            elapsed += timedelta(minutes=n)
    if consumed == 0 or rest[consumed:].strip(" ,"):
        return None
    if months > 12 * 6 or days > 366 * 6 or elapsed > timedelta(days=366 * 6):
        raise Problem(TOO_FAR, text=code(original, 60))
    result = now_local
    if months or days:
        naive = _add_months(now_local.replace(tzinfo=None), months) + timedelta(days=days)
        result = wall_time(naive, zone)
    return (result.astimezone(UTC) + elapsed).astimezone(zone)


def _add_months(value: datetime, months: int) -> datetime:
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    return value.replace(year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1]))


# ---------------------------------------------------------------- DST


def strict(naive: datetime, zone: zoneinfo.ZoneInfo, original: str) -> datetime:
    """Attach the zone, refusing wall times that do not exist or happen twice."""
    resolved, status = resolve_local(naive, zone)
    stamp = f"{naive:%Y-%m-%d %H:%M}"
    if status == "gap":
        after = after_gap(naive, zone)
        raise Problem(N_("{stamp} does not exist in {zone}: the clocks jump forward that night. Pick another time, "
                         "such as `{other}`."), stamp=stamp, zone=zone.key, other=f"{after:%Y-%m-%d %H:%M} {zone.key}")
    if status == "fold":
        first = naive.replace(tzinfo=zone, fold=0)
        second = naive.replace(tzinfo=zone, fold=1)
        raise Problem(N_("{stamp} happens twice in {zone}: the clocks go back that night. Add the UTC offset to say "
                         "which, `{first}` or `{second}`, or pick another time."),
                      stamp=stamp, zone=zone.key, first=first.isoformat(timespec="minutes"),
                      second=second.isoformat(timespec="minutes"))
    return resolved


# ---------------------------------------------------------------- numeric dates

NUMERIC = r"\d{1,4}[/.]\d{1,2}(?:[/.]\d{2,4})?"


def numeric_day(text: str, lang: str, original: str, weekday: int | None = None) -> Day:
    """``15/12``, ``13/12/2026``, ``12.11.26`` (see :func:`numeric_date`); ``2026/12/13`` is year first."""
    parts = re.split(r"[/.]", text)
    if len(parts[0]) > 2:
        if len(parts) != 3 or len(parts[0]) != 4:
            raise not_real(original)
        return Day(weekday=weekday, year=int(parts[0]), month=int(parts[1]), day=int(parts[2]))
    year = None
    if len(parts) == 3:
        if len(parts[2]) not in (2, 4):
            raise not_real(original)
        year = int(parts[2]) + (2000 if len(parts[2]) == 2 else 0)
    day, month = numeric_date(int(parts[0]), int(parts[1]), lang, original)
    return Day(weekday=weekday, day=day, month=month, year=year)
