"""The English grammar: ISO times, bare clock times, durations, the day and time-of-day words
read by our own rules (``tomorrow at 9``, ``friday 11``, ``tomorrow evening``, ``Dec 11 5pm``),
and dateparser for the rest (``next week``, ``in 2 weeks 10am``). What the words mean is decided
in :mod:`.core`, for both languages.
"""

from __future__ import annotations

import calendar
import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from commands.common.errors import code
from commands.common.i18n import N_
from commands.common.timeparse.core import (
    DEFAULT_HOUR,
    NUMERIC,
    RECENTLY_PAST,
    Clock,
    Day,
    Problem,
    clock,
    numeric_day,
    part_hour,
    recently_past,
    resolve,
    strict,
    unreadable,
    with_part,
)
from commands.common.zones import zone_cities

# dateparser is configured once; only RELATIVE_BASE changes from call to call.
_LANGUAGES = ["en"]
_DATEPARSER_SETTINGS: dict[str, Any] = {
    "PREFER_DATES_FROM": "future",
    "RETURN_AS_TIMEZONE_AWARE": False,
    "RETURN_TIME_AS_PERIOD": True,
}
_MONTH_WORDS = frozenset(w.lower() for w in (*calendar.month_name[1:], *calendar.month_abbr[1:], "sept"))
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_WD = r"monday|mon|tuesday|tues|tue|wednesday|wed|thursday|thurs|thur|thu|friday|fri|saturday|sat|sunday|sun"
_MON = (r"january|jan|february|feb|march|mar|april|apr|may|june|jun|july|jul|august|aug|september|sept|sep|"
        r"october|oct|november|nov|december|dec")
_ORD = r"(?:st|nd|rd|th)?"

ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?"
    r"\s*(?P<off>Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
BARE_TIME = re.compile(
    r"(?:at\s+)?(?:(?P<word>noon|midday|midnight)|(?P<h>\d{1,2})(?::(?P<mi>\d{2}))?\s*(?:(?P<ap>[ap])\.?\s?m\.?)?)",
    re.IGNORECASE,
)
_CLOCK = re.compile(
    r"(?:^|[\s,]+)(?:(?P<prefix>at|@|by|around|about)\s+)?"
    r"(?:(?P<word>noon|midday|midnight)"
    r"|(?P<h>\d{1,2})(?::(?P<mi>\d{2}))?\s*(?:(?P<ap>[ap])\.?\s?m\.?|(?P<suffix>h|hrs?|hours|o'?clock))?"
    r"(?:\s+(?:in\s+the\s+(?P<part>morning|afternoon|evening)|at\s+(?P<night>night)))?)$"
)
_PART = re.compile(r"(?:^|[\s,]+)(?:in\s+the\s+|(?P<this>this)\s+|at\s+)?(?P<part>morning|afternoon|evening|night)$")
_DAY = re.compile(
    r"(?:on\s+)?(?:(?:this\s+coming|this|next|coming)\s+)?(?:(?P<wd>" + _WD + r")\.?,?(?:\s+|$))?"
    r"(?:(?:the\s+)?(?P<d>\d{1,2})" + _ORD + r"(?:\s+(?:of\s+)?(?P<mon>" + _MON + r")\.?(?:,?\s+(?P<y>\d{4}))?)?"
    r"|(?P<mon2>" + _MON + r")\.?\s+(?P<d2>\d{1,2})" + _ORD + r"(?:,?\s+(?P<y2>\d{4}))?"
    r"|(?P<num>" + NUMERIC + r"))?"
)
_HALVES = (
    (re.compile(r"\b(?:an|1)\s+hour\s+and\s+a\s+half\b"), "90 minutes"),
    (re.compile(r"\bhalf\s+an\s+hour\b"), "30 minutes"),
    (re.compile(r"\ban\s+hour\b"), "1 hour"),
)
_NUMERIC_DATE = re.compile(r"\b\d{1,4}/\d{1,2}(?:/\d{1,4})?\b|\b\d{1,2}\.\d{1,2}\.\d{2,4}\b")
_TIME_LOOKING = re.compile(r"\d[:.]\d|\d\s*[ap]\.?m\b|\bat\s+\d|\bnoon\b|\bmidnight\b", re.IGNORECASE)


def durations(body: str) -> str:
    """``in half an hour`` -> ``in 30 minutes``, ``in an hour and a half`` -> ``in 90 minutes``."""
    text = body.lower()
    for pattern, replacement in _HALVES:
        text = pattern.sub(replacement, text)
    return text


def from_iso(match: re.Match[str], zone: zoneinfo.ZoneInfo, original: str) -> datetime:
    try:
        day = date(int(match["y"]), int(match["mo"]), int(match["d"]))
        wall = time(int(match["h"]), int(match["mi"]), int(match["s"] or 0)) if match["h"] is not None \
            else DEFAULT_HOUR
    except ValueError:
        raise Problem(N_("{text} is not a real date or time. Dates are `YYYY-MM-DD`, times `HH:MM` on a 24-hour "
                         "clock, like `2026-12-01 10:00`."), text=code(original, 60)) from None
    naive = datetime.combine(day, wall)
    offset = match["off"]
    if offset:
        if offset.upper() == "Z":
            tz: timezone = UTC
        else:
            sign = 1 if offset[0] == "+" else -1
            digits = offset[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 14 or minutes > 59:
                raise Problem(N_("{offset} is not a UTC offset. Offsets look like `-05:00`."), offset=code(offset))
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return naive.replace(tzinfo=tz).astimezone(zone)
    return strict(naive, zone, original)


def bare_time(match: re.Match[str], original: str) -> time:
    word = (match["word"] or "").lower()
    if word:
        return time(0, 0) if word == "midnight" else time(12, 0)
    return clock(int(match["h"]), int(match["mi"] or 0), f"{match['ap'].lower()}m" if match["ap"] else "", original)


def _clock(match: re.Match[str], original: str) -> Clock | None:
    """The clock at the end, or ``None`` when the number there is a day (``friday 11``): a bare
    number is an hour only after ``at``."""
    if match["word"]:
        return Clock(time(0, 0) if match["word"] == "midnight" else time(12, 0))
    part = match["part"] or match["night"]
    if not (match["mi"] or match["ap"] or match["suffix"] or part or match["prefix"]):
        return None
    wall = clock(int(match["h"]), int(match["mi"] or 0), f"{match['ap']}m" if match["ap"] else "", original)
    return Clock(wall if match["ap"] else with_part(wall, part))


def _day(text: str, today: date, original: str, lang: str) -> Day | None:
    if text == "today":
        return Day(date=today)
    if text == "tomorrow":
        return Day(date=today + timedelta(days=1))
    if text in ("day after tomorrow", "the day after tomorrow"):
        return Day(date=today + timedelta(days=2))
    found = _DAY.fullmatch(text)
    if not found or not (found["wd"] or found["d"] or found["d2"] or found["num"]):
        return None
    weekday = _WEEKDAYS[found["wd"][:3]] if found["wd"] else None
    if found["num"]:
        return numeric_day(found["num"], lang, original, weekday)
    month_word, number, year = (found["mon"], found["d"], found["y"]) if found["d"] else \
        (found["mon2"], found["d2"], found["y2"])
    month = _month(month_word) if month_word else None
    return Day(weekday=weekday, day=int(number) if number else None, month=month, year=int(year) if year else None)


def _month(word: str) -> int:
    return next(i for i in range(1, 13) if calendar.month_name[i].lower().startswith(word[:3]))


def from_english(body: str, now_local: datetime, original: str, lang: str) -> datetime | None:
    """An English day and time of day read by our rules; ``None`` leaves it to dateparser."""
    text = body.lower()
    if text == "tonight":
        return resolve(Day(date=now_local.date()), part_hour("night"), now_local, original, lang)
    found = _CLOCK.search(text)
    hour = _clock(found, original) if found else None
    day_text = text[: found.start()].strip(" ,") if found and hour else text
    day: Day | None = None
    if day_text.endswith(" tonight") or day_text == "tonight":
        day_text, day = day_text.removesuffix("tonight").strip(), Day(date=now_local.date())
        hour = part_hour("night") if hour is None else Clock(with_part(hour.wall, "night"))
        if day_text:
            return None
    part = _PART.search(day_text)
    if part and day is None:
        day_text = day_text[: part.start()].strip(" ,")
        if part["this"]:
            if day_text:
                return None
            day = Day(date=now_local.date())
        if hour is None:
            hour = part_hour(part["part"])
        elif not (found and (found["ap"] or found["part"] or found["night"])):
            hour = Clock(with_part(hour.wall, part["part"]))
    if day_text:
        day = _day(day_text, now_local.date(), original, lang)
        if day is None:
            return None
    if day is None and hour is None:
        return None
    return resolve(day, hour, now_local, original, lang)


def from_dateparser(body: str, now_local: datetime, original: str, lang: str) -> datetime:
    from dateparser.date import DateDataParser
    from dateparser.timezone_parser import pop_tz_offset_from_string

    zone = now_local.tzinfo
    assert isinstance(zone, zoneinfo.ZoneInfo)
    if _NUMERIC_DATE.search(body):
        raise unreadable(original)
    try:
        remaining, found_tz = pop_tz_offset_from_string(body)
    except Exception:
        remaining, found_tz = body, None
    if found_tz is not None:
        kept = set(remaining.lower().split())
        abbreviation = next((w for w in reversed(body.split(" ")) if w.lower() not in kept), body)
        raise Problem(N_("Time zone abbreviations such as {abbreviation} are ambiguous. Put a zone name at the end "
                         "instead, like `tomorrow 9am America/New_York` or `tomorrow 9am UTC`."),
                      abbreviation=code(abbreviation, 20))

    settings = dict(_DATEPARSER_SETTINGS, RELATIVE_BASE=now_local.replace(tzinfo=None))
    try:
        data = DateDataParser(languages=_LANGUAGES, settings=settings).get_date_data(body)
    except Exception:  # dateparser raises many kinds on odd input; all mean "unreadable"
        raise unreadable(original) from None
    found = data.date_obj
    if found is None:
        raise _with_zone_hint(unreadable(original), body)
    if found.tzinfo is not None:
        found = found.astimezone(zone).replace(tzinfo=None)
    period = data.period or "day"
    if period in ("month", "year"):
        raise Problem(N_("{text} is too vague. Give a day, like `Dec 31` or `2026-12-01 10:00`."),
                      text=code(original, 60))
    if period in ("day", "week"):
        last = body.split(" ")[-1]
        if _TIME_LOOKING.search(body) or (
            last.isdigit() and not _MONTH_WORDS.intersection(body.lower().split(" "))
        ):
            raise Problem(N_("I couldn't read the time of day in {text}. Write it like `9am`, `14:30` or `noon`, "
                             "for example `tomorrow 14:30`."), text=code(original, 60))
        lowered = body.lower()
        if not (lowered.startswith("in ") or lowered.endswith((" ago", " from now"))):
            found = datetime.combine(found.date(), DEFAULT_HOUR)  # an offset keeps the time of day
    _refuse_quiet_roll(found, body, now_local, original, lang)
    return strict(found, zone, original)


def _refuse_quiet_roll(found: datetime, body: str, now_local: datetime, original: str, lang: str) -> None:
    """dateparser moves a day that has passed this year to next year; a day that passed only
    recently was more likely a mistake, so it is refused as :func:`core.resolve` refuses it."""
    if found.year <= now_local.year or re.search(r"\b\d{4}\b", body):
        return
    try:
        this_year = found.replace(year=now_local.year)
    except ValueError:
        return
    if timedelta(0) <= now_local.replace(tzinfo=None) - this_year and \
            now_local.date() - this_year.date() < RECENTLY_PAST:
        raise recently_past(this_year, original, lang)


def _with_zone_hint(error: Problem, body: str) -> Problem:
    last = body.split(" ")[-1].lower()
    full = zone_cities().get(last)
    if full:
        return Problem(N_("I couldn't read {text} as a time. Try `2026-12-01 10:00 America/Chicago`, `tomorrow 9am` "
                          "or `in 2 hours`. For a time zone, write its full name, like `{zone}`."),
                       text=error.values["text"], zone=full)
    return error
