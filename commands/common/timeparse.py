"""The one time parser. Every command that reads a time uses this module (lead times and
recurrences, which build on it, are in :mod:`commands.common.recurrence`).

Pure: the clock is always passed in (``now``), nothing here reads it, touches the database or the
network. Member-fixable problems raise :class:`CommandError` with a message saying what to type.

Decisions (the why, in one place):

* **Date without a time of day** (``2026-12-01``, ``tomorrow``, ``Dec 31``, ``next monday``,
  ``next week``) means **09:00 local**. A reminder at midnight is never what a member wants.
  Offsets from now (``in 2 hours``, ``in 3 days``, ``in 2 weeks``, ``in 1 month``) keep the time
  of day: ``in 3 days`` at 15:20 is 15:20 three days later.
* ``in N minutes/hours`` is **elapsed time** (it counts the real hours across a DST change);
  ``in N days/weeks/months`` is **wall-clock** (same local time on that later day).
* A bare time (``noon``, ``9am``, ``at 18:30``) is the next such time: today, or tomorrow if it
  has passed.
* The zone is a trailing IANA name (``Europe/Berlin``, ``utc``; any case), else
  ``default_zone``. Abbreviations (``EST``, ``CET``, ``IST``) are refused: they are ambiguous
  and ignore DST. A numeric offset is accepted only in ISO form (``2026-11-01T01:30-04:00``); it
  fixes the instant, which is then shown in the zone.
* A local time that does not exist (in the spring-forward gap) or happens twice (in the
  fall-back fold) is refused when **parsing**, with a message saying how to fix it.
  **Recurrences** never refuse: in a gap they fire at the first valid wall time after it
  (02:30 on spring-forward day in New York becomes 03:00 EDT); in a fold they fire at the first
  of the two (01:30 EDT, not 01:30 EST).
* **Spanish and English are read whatever the reader's language** (:func:`_from_spanish`):
  ``mañana a las 17:00``, ``el viernes a las 6pm``, ``pasado mañana 9:00``, ``dentro de 3 días``,
  ``en 2 horas``, ``1 de diciembre a las 10:00``, ``a las 18:00`` follow the same decisions as
  their English twins (a weekday is the next one after today, as ``friday`` is; a day of a month
  without a year is the next one ahead). dateparser misses several of these, so they are read by
  our own rules first; accents are optional (``manana``, ``dias``).
* Errors are worded in English (the catalog's source text) and translated into the reader's
  language (``lang``) when :func:`parse_when` raises them.
* Times more than about five years ahead (:data:`MAX_AHEAD`) are refused, and so is input over
  :data:`MAX_INPUT_CHARS` characters, before it reaches dateparser.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from commands.base import CommandError, code
from commands.common.i18n import N_, translations
from commands.common.zones import (
    after_gap,
    as_zone,
    get_zone,
    is_after,
    resolve_local,
    wall_time,
    zone_cities,
    zone_names,
)

MAX_INPUT_CHARS = 200
MAX_AHEAD = timedelta(days=5 * 365 + 2)  # "five years", leap days included
DEFAULT_HOUR = time(9, 0)


# dateparser is configured once; only RELATIVE_BASE changes from call to call.
_LANGUAGES = ["en"]
_DATEPARSER_SETTINGS: dict[str, Any] = {
    "PREFER_DATES_FROM": "future",
    "RETURN_AS_TIMEZONE_AWARE": False,
    "RETURN_TIME_AS_PERIOD": True,
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_WORDS = frozenset(w.lower() for w in (*calendar.month_name[1:], *calendar.month_abbr[1:], "sept"))


# ---------------------------------------------------------------- parse_when


@dataclass(frozen=True)
class When:
    """A parsed moment: ``local`` is aware and in ``zone``."""

    local: datetime
    zone: zoneinfo.ZoneInfo

    @property
    def utc(self) -> datetime:
        return self.local.astimezone(UTC)

    def describe(self, lang: str = "en") -> str:
        return format_when(self.local, self.zone, lang)


_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?"
    r"\s*(?P<off>Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_BARE_TIME = re.compile(
    r"(?:at\s+)?(?:(?P<word>noon|midday|midnight)|(?P<h>\d{1,2})(?::(?P<mi>\d{2}))?\s*(?P<ap>[ap]\.?m\.?)?)",
    re.IGNORECASE,
)
_UNIT = r"(?P<unit>w|wks?|weeks?|d|days?|h|hrs?|hours?|m|mins?|minutes?|months?|y|yrs?|years?)"
_DURATION_PART = re.compile(r"(?P<n>\d{1,6})\s*" + _UNIT + r"(?![a-z])", re.IGNORECASE)
_DURATION = re.compile(r"(?:in\s+)?(?:\d{1,6}\s*[a-z]+(?:\s*,\s*|\s+and\s+|\s*))+", re.IGNORECASE)
_NUMERIC_DATE = re.compile(r"\b\d{1,4}/\d{1,2}(?:/\d{1,4})?\b|\b\d{1,2}\.\d{1,2}\.\d{2,4}\b")
_TIME_LOOKING = re.compile(r"\d[:.]\d|\d\s*[ap]\.?m\b|\bat\s+\d|\bnoon\b|\bmidnight\b", re.IGNORECASE)


class _Problem(Exception):
    """A problem the member can fix, worded in English (a catalog text with named values);
    :func:`parse_when` raises it as a :class:`CommandError` in the reader's language."""

    def __init__(self, message: str, /, **values: str) -> None:
        super().__init__(message)
        self.message, self.values = message, values

    def error(self, lang: str) -> CommandError:
        return CommandError(translations(lang).gettext(self.message).format(**self.values))


UNREADABLE = N_("I couldn't read {text} as a time. Try `2026-12-01 10:00 America/Chicago`, `tomorrow 9am` or "
                "`in 2 hours`.")
TOO_FAR = N_("{text} is more than five years away. Give a time within the next five years.")


def _unreadable(text: str) -> _Problem:
    return _Problem(UNREADABLE, text=code(text, 60))


def parse_when(
    text: str,
    *,
    now: datetime,
    default_zone: str | zoneinfo.ZoneInfo,
    allow_past: bool = False,
    lang: str = "en",
) -> When:
    """Read a member's time, in English or Spanish. ``now`` must be aware (any zone);
    ``default_zone`` is the reader's (``Context.zone``); ``lang`` is the language of the error
    messages. See the module docstring for the forms accepted and the decisions taken; every
    problem is a :class:`CommandError`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        return _parse_when(text, now, as_zone(default_zone), allow_past, lang)
    except _Problem as problem:
        raise problem.error(lang) from None


def _parse_when(text: str, now: datetime, zone: zoneinfo.ZoneInfo, allow_past: bool, lang: str) -> When:
    if not isinstance(text, str):
        raise _Problem(N_("Please give a time, like `2026-12-01 10:00 America/Chicago`, `tomorrow 9am` or "
                          "`in 2 hours`."))
    if len(text) > MAX_INPUT_CHARS:
        raise _Problem(N_("That time is too long to read (over {max} characters). Try "
                          "`2026-12-01 10:00 America/Chicago`, `tomorrow 9am` or `in 2 hours`."),
                       max=str(MAX_INPUT_CHARS))
    cleaned = " ".join(text.split())
    if not cleaned:
        raise _Problem(N_("Please give a time, like `2026-12-01 10:00 America/Chicago`, `tomorrow 9am` or "
                          "`in 2 hours`."))
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise _unreadable(text)

    words = cleaned.split(" ")
    last = words[-1]
    if last.lower() in zone_names():
        zone = zoneinfo.ZoneInfo(zone_names()[last.lower()])
        words = words[:-1]
    elif "/" in last and re.search(r"[A-Za-z]{3}", last):
        get_zone(last, lang)  # raises with suggestions
    body = " ".join(words)
    if not body:
        raise _Problem(N_("Please give a date or time before the zone, like `2026-12-01 10:00 America/Chicago`, "
                          "`tomorrow 9am` or `in 2 hours`."))

    try:
        local = _parse_local(body, now=now, zone=zone, original=text)
        now_utc = now.astimezone(UTC)
        ahead = local.astimezone(UTC) - now_utc
        shown = format_when(local, zone, lang)
    except (CommandError, _Problem):
        raise
    except (OverflowError, ValueError, ArithmeticError):
        raise _unreadable(text) from None
    if not allow_past and ahead <= timedelta(0):
        raise _Problem(N_("{text} is {when}, which is not in the future. Give a later time, like `in 2 hours` or "
                          "`tomorrow 9am`."), text=code(text, 60), when=shown)
    if ahead > MAX_AHEAD:
        raise _Problem(TOO_FAR, text=code(text, 60))
    return When(local, zone)


def _parse_local(body: str, *, now: datetime, zone: zoneinfo.ZoneInfo, original: str) -> datetime:
    now_local = now.astimezone(zone)

    iso = _ISO.fullmatch(body)
    if iso:
        return _from_iso(iso, zone, original)

    bare = _BARE_TIME.fullmatch(body)
    if bare:
        return _next_at(_bare_time(bare, original), now_local, zone, original)

    if _DURATION.fullmatch(body):
        offset = _from_duration(body, now_local, zone, original)
        if offset is not None:
            return offset

    spanish = _from_spanish(body, now_local, zone, original)
    if spanish is not None:
        return spanish

    return _from_dateparser(body, now_local, zone, original)


def _from_iso(match: re.Match[str], zone: zoneinfo.ZoneInfo, original: str) -> datetime:
    try:
        day = date(int(match["y"]), int(match["mo"]), int(match["d"]))
        wall = (
            time(int(match["h"]), int(match["mi"]), int(match["s"] or 0))
            if match["h"] is not None
            else DEFAULT_HOUR
        )
    except ValueError:
        raise _Problem(N_("{text} is not a real date or time. Dates are `YYYY-MM-DD`, times `HH:MM` on a 24-hour "
                          "clock, like `2026-12-01 10:00`."), text=code(original, 60)) from None
    naive = datetime.combine(day, wall)
    offset = match["off"]
    if offset:
        if offset.upper() == "Z":
            tz = UTC
        else:
            sign = 1 if offset[0] == "+" else -1
            digits = offset[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 14 or minutes > 59:
                raise _Problem(N_("{offset} is not a UTC offset. Offsets look like `-05:00`."), offset=code(offset))
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return naive.replace(tzinfo=tz).astimezone(zone)
    return _strict(naive, zone, original)


def _bare_time(match: re.Match[str], original: str) -> time:
    word = (match["word"] or "").lower()
    if word in ("noon", "midday", "mediodia"):
        return time(12, 0)
    if word in ("midnight", "medianoche"):
        return time(0, 0)
    hour, minute = int(match["h"]), int(match["mi"] or 0)
    ampm = (match["ap"] or "").lower().replace(".", "").replace(" ", "")
    if ampm:
        if not 1 <= hour <= 12:
            raise _Problem(N_("{text} is not a time: with am/pm the hour is 1 to 12."), text=code(original, 60))
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        raise _Problem(N_("{text} is not a time. Times look like `9am` or `18:30`."), text=code(original, 60))
    return time(hour, minute)


def _next_at(wall: time, now_local: datetime, zone: zoneinfo.ZoneInfo, original: str) -> datetime:
    """A bare time: today if it is still ahead, else tomorrow (never a past date)."""
    candidate = _strict(datetime.combine(now_local.date(), wall), zone, original)
    if not is_after(candidate, now_local):
        candidate = _strict(datetime.combine(now_local.date() + timedelta(days=1), wall), zone, original)
    return candidate


def _from_duration(body: str, now_local: datetime, zone: zoneinfo.ZoneInfo, original: str) -> datetime | None:
    """``in 2 hours 30 minutes``: days/weeks/months/years move the wall clock, hours/minutes the
    real clock (so ``in 2 hours`` is two real hours even across a DST change). ``None`` when the
    text is not only durations (``in 2 weeks 10am``): dateparser reads those."""
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
        raise _Problem(TOO_FAR, text=code(original, 60))
    result = now_local
    if months or days:
        naive = _add_months(now_local.replace(tzinfo=None), months) + timedelta(days=days)
        result = wall_time(naive, zone)
    return (result.astimezone(UTC) + elapsed).astimezone(zone)


def _add_months(value: datetime, months: int) -> datetime:
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    return value.replace(year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1]))


# ---------------------------------------------------------------- Spanish

_ES_WEEKDAYS = {"lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6}
_ES_MONTHS = {
    "enero": 1, "ene": 1, "febrero": 2, "feb": 2, "marzo": 3, "mar": 3, "abril": 4, "abr": 4, "mayo": 5,
    "junio": 6, "jun": 6, "julio": 7, "jul": 7, "agosto": 8, "ago": 8, "septiembre": 9, "setiembre": 9,
    "sep": 9, "sept": 9, "octubre": 10, "oct": 10, "noviembre": 11, "nov": 11, "diciembre": 12, "dic": 12,
}
_ES_UNITS = {  # Spanish unit -> the English one _from_duration reads
    "minuto": "minutes", "minutos": "minutes", "min": "minutes", "mins": "minutes", "hora": "hours",
    "horas": "hours", "h": "hours", "dia": "days", "dias": "days", "semana": "weeks", "semanas": "weeks",
    "mes": "months", "meses": "months", "ano": "years", "anos": "years",
}
_ES_NUMBER = r"(?:\d{1,6}|una?|uno)"
_ES_UNIT = "(?:" + "|".join(sorted(_ES_UNITS, key=len, reverse=True)) + ")"
_ES_IN = re.compile(r"(?:en|dentro\s+de)\s+(?P<rest>.+)")
_ES_DURATION_PART = re.compile(r"(?P<n>" + _ES_NUMBER + r")\s*(?P<unit>" + _ES_UNIT + r")(?![a-z])")
# the time of day at the end: "a las 18:00", "a la 1", "6pm", "9 de la noche", "al mediodia"
_ES_TIME = re.compile(
    r"(?:^|[\s,]+)(?:(?:a\s+las?|al|las?|a)\s+)?"
    r"(?:(?P<word>mediodia|medianoche)|(?P<h>\d{1,2})(?:[:.h](?P<mi>\d{2}))?\s*(?P<ap>[ap]\.?\s?m\.?)?"
    r"(?:\s+(?:de|por)\s+la\s+(?P<part>manana|tarde|noche|madrugada))?)$"
)
_ES_DAY_OF_MONTH = re.compile(
    r"(?:el\s+)?(?:(?:lunes|martes|miercoles|jueves|viernes|sabado|domingo),?\s+)?(?P<d>\d{1,2})\s+de\s+"
    r"(?P<month>[a-z]+)\.?(?:\s+(?:de|del)\s+(?P<y>\d{4}))?"
)
_ES_WEEKDAY = re.compile(
    r"(?:el\s+|este\s+|(?:el\s+)?(?:proximo|siguiente)\s+)?(?P<day>[a-z]+)(?:\s+(?:que\s+viene|proximo))?"
)
_ES_OFFSET_DAYS = re.compile(r"(?:en|dentro\s+de)\s+(?P<n>" + _ES_NUMBER + r")\s*(?P<unit>dias?|semanas?)")


def _fold(text: str) -> str:
    """Lower case without accents: ``Mañana``, ``MIÉRCOLES`` -> ``manana``, ``miercoles``."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def _es_number(word: str) -> int:
    return 1 if word in ("un", "una", "uno") else int(word)


def _es_duration(rest: str) -> str | None:
    """``2 horas y 30 minutos`` -> ``in 2 hours 30 minutes``; ``None`` when it is not only durations."""
    parts: list[str] = []
    consumed = 0
    for part in _ES_DURATION_PART.finditer(rest):
        if rest[consumed : part.start()].strip(" ,") not in ("", "y"):
            return None
        consumed = part.end()
        parts.append(f"{_es_number(part['n'])} {_ES_UNITS[part['unit']]}")
    if not parts or rest[consumed:].strip(" ,"):
        return None
    return "in " + " ".join(parts)


def _es_clock(match: re.Match[str], original: str) -> time:
    wall = _bare_time(match, original)
    part = match["part"]
    if match["ap"] or not part:
        return wall
    if part == "noche" and wall.hour == 12:  # "12 de la noche" is midnight
        return wall.replace(hour=0)
    if part in ("tarde", "noche") and wall.hour < 12 and not (part == "noche" and wall.hour <= 4):
        return wall.replace(hour=wall.hour + 12)  # "2 de la noche" stays 02:00
    return wall


def _es_day(text: str, today: date) -> tuple[date, bool] | None:
    """The day a Spanish phrase names: (day, whether a missing year may roll to next year)."""
    if text == "hoy":
        return today, False
    if text in ("manana", "el dia de manana"):
        return today + timedelta(days=1), False
    if text == "pasado manana":
        return today + timedelta(days=2), False
    offset = _ES_OFFSET_DAYS.fullmatch(text)
    if offset:
        n = _es_number(offset["n"])
        return today + timedelta(days=n * (7 if offset["unit"].startswith("semana") else 1)), False
    of_month = _ES_DAY_OF_MONTH.fullmatch(text)
    if of_month and of_month["month"] in _ES_MONTHS:
        year = int(of_month["y"] or today.year)
        return date(year, _ES_MONTHS[of_month["month"]], int(of_month["d"])), of_month["y"] is None
    weekday = _ES_WEEKDAY.fullmatch(text)
    if weekday and weekday["day"] in _ES_WEEKDAYS:  # the next one after today, as "friday" is
        ahead = (_ES_WEEKDAYS[weekday["day"]] - today.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead), False
    return None


def _from_spanish(body: str, now_local: datetime, zone: zoneinfo.ZoneInfo, original: str) -> datetime | None:
    """Spanish times (see the module docstring); ``None`` when ``body`` is not one of them."""
    text = _fold(body)
    within = _ES_IN.fullmatch(text)
    if within:
        english = _es_duration(within["rest"])
        if english is not None:
            return _from_duration(english, now_local, zone, original)
    clock = _ES_TIME.search(text)
    day_text = text[: clock.start()].strip(" ,") if clock else text
    found = None
    if day_text:
        try:
            found = _es_day(day_text, now_local.date())
        except ValueError:
            raise _Problem(N_("{text} is not a real date or time. Dates are `YYYY-MM-DD`, times `HH:MM` on a "
                              "24-hour clock, like `2026-12-01 10:00`."), text=code(original, 60)) from None
        if found is None:
            return None
    wall = _es_clock(clock, original) if clock else None
    if found is None:
        return _next_at(wall, now_local, zone, original) if wall is not None else None
    day, may_roll = found
    result = _strict(datetime.combine(day, wall or DEFAULT_HOUR), zone, original)
    if may_roll and not is_after(result, now_local):
        try:
            result = _strict(datetime.combine(day.replace(year=day.year + 1), wall or DEFAULT_HOUR), zone, original)
        except ValueError:  # 29 February
            return result
    return result


def _from_dateparser(body: str, now_local: datetime, zone: zoneinfo.ZoneInfo, original: str) -> datetime:
    from dateparser.date import DateDataParser
    from dateparser.timezone_parser import pop_tz_offset_from_string

    if _NUMERIC_DATE.search(body):
        raise _Problem(N_("{text} reads as different days in different countries. Write the date as `YYYY-MM-DD`, "
                          "like `2026-12-01 10:00`, or with the month's name, like `Dec 1`."), text=code(original, 60))
    try:
        remaining, found_tz = pop_tz_offset_from_string(body)
    except Exception:
        remaining, found_tz = body, None
    if found_tz is not None:
        kept = set(remaining.lower().split())
        abbreviation = next((w for w in reversed(body.split(" ")) if w.lower() not in kept), body)
        raise _Problem(N_("Time zone abbreviations such as {abbreviation} are ambiguous. Put a zone name at the end "
                          "instead, like `tomorrow 9am America/New_York` or `tomorrow 9am UTC`."),
                       abbreviation=code(abbreviation, 20))

    settings = dict(_DATEPARSER_SETTINGS, RELATIVE_BASE=now_local.replace(tzinfo=None))
    try:
        data = DateDataParser(languages=_LANGUAGES, settings=settings).get_date_data(body)
    except Exception:  # dateparser raises many kinds on odd input; all mean "unreadable"
        raise _unreadable(original) from None
    found = data.date_obj
    if found is None:
        raise _with_zone_hint(_unreadable(original), body)
    if found.tzinfo is not None:
        found = found.astimezone(zone).replace(tzinfo=None)
    period = data.period or "day"
    if period in ("month", "year"):
        raise _Problem(N_("{text} is too vague. Give a day, like `Dec 31` or `2026-12-01 10:00`."),
                       text=code(original, 60))
    if period in ("day", "week"):
        last = body.split(" ")[-1]
        if _TIME_LOOKING.search(body) or (
            last.isdigit() and not _MONTH_WORDS.intersection(body.lower().split(" "))
        ):
            raise _Problem(N_("I couldn't read the time of day in {text}. Write it like `9am`, `14:30` or `noon`, "
                              "for example `tomorrow 14:30`."), text=code(original, 60))
        lowered = body.lower()
        if not (lowered.startswith("in ") or lowered.endswith((" ago", " from now"))):
            found = datetime.combine(found.date(), DEFAULT_HOUR)  # an offset keeps the time of day
    return _strict(found, zone, original)


def _with_zone_hint(error: _Problem, body: str) -> _Problem:
    last = body.split(" ")[-1].lower()
    full = zone_cities().get(last)
    if full:
        return _Problem(N_("I couldn't read {text} as a time. Try `2026-12-01 10:00 America/Chicago`, `tomorrow 9am` "
                           "or `in 2 hours`. For a time zone, write its full name, like `{zone}`."),
                        text=error.values["text"], zone=full)
    return error


def _strict(naive: datetime, zone: zoneinfo.ZoneInfo, original: str) -> datetime:
    """Attach the zone, refusing wall times that do not exist or happen twice."""
    resolved, status = resolve_local(naive, zone)
    stamp = f"{naive:%Y-%m-%d %H:%M}"
    if status == "gap":
        after = after_gap(naive, zone)
        raise _Problem(N_("{stamp} does not exist in {zone}: the clocks jump forward that night. Pick another time, "
                          "such as `{other}`."), stamp=stamp, zone=zone.key, other=f"{after:%Y-%m-%d %H:%M} {zone.key}")
    if status == "fold":
        first = naive.replace(tzinfo=zone, fold=0)
        second = naive.replace(tzinfo=zone, fold=1)
        raise _Problem(N_("{stamp} happens twice in {zone}: the clocks go back that night. Add the UTC offset to say "
                          "which, `{first}` or `{second}`, or pick another time."),
                       stamp=stamp, zone=zone.key, first=_iso_with_offset(first), second=_iso_with_offset(second))
    return resolved


def _iso_with_offset(value: datetime) -> str:
    return value.isoformat(timespec="minutes")


def warm_up() -> None:
    """Load dateparser's English data and Babel's Spanish names now (about 0.1 s) rather than on a
    member's first command."""
    parse_when("tomorrow 9am", now=datetime(2026, 1, 1, tzinfo=UTC), default_zone="UTC")
    format_when(datetime(2026, 1, 1, tzinfo=UTC), "UTC", "es")


# ---------------------------------------------------------------- formatting


def format_when(dt: datetime, zone: zoneinfo.ZoneInfo | str, lang: str = "en") -> str:
    """``Tue 1 Dec 2026 10:00 CST (16:00 UTC)``; the UTC date is added when it differs, and the
    UTC part is left out when the zone is at UTC+0.

    In another language the day and month names and their order are the locale's (Babel's
    ``yMMMEd`` pattern): Spanish ``mar, 1 dic 2026 10:00 CST (16:00 UTC)``. The clock is 24-hour
    and the zone's abbreviation is kept in every language."""
    if dt.tzinfo is None:
        raise ValueError("format_when needs an aware datetime")
    tz = as_zone(zone)
    local = dt.astimezone(tz)
    if lang == "en":
        day = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month]} {local.year}"
    else:
        day = _babel_day(local, "yMMMEd", lang)
    text = f"{day} {local:%H:%M} {local.tzname()}"
    if local.utcoffset() == timedelta(0):
        return text
    utc = dt.astimezone(UTC)
    if utc.date() == local.date():
        return f"{text} ({utc:%H:%M} UTC)"
    utc_day = f"{_DAYS[utc.weekday()]} {utc.day} {_MONTHS[utc.month]}" if lang == "en" else \
        _babel_day(utc, "MMMEd", lang)
    return f"{text} ({utc_day} {utc:%H:%M} UTC)"


def _babel_day(value: datetime, skeleton: str, lang: str) -> str:
    from babel.dates import format_skeleton

    return format_skeleton(skeleton, value.replace(tzinfo=None), locale=lang)


_UNITS = (  # (minutes, singular, plural): whole phrases, so each language words its own plurals
    (7 * 24 * 60, N_("{n} week"), N_("{n} weeks")),
    (24 * 60, N_("{n} day"), N_("{n} days")),
    (60, N_("{n} hour"), N_("{n} hours")),
    (1, N_("{n} minute"), N_("{n} minutes")),
)


def format_duration(seconds: float | timedelta, lang: str = "en") -> str:
    """``1 day``, ``2 hours 5 minutes``, ``10 minutes``: rounded to the minute, at most the two
    largest units (``1 week 2 days``; the rest is dropped), ``less than a minute`` below 30 s;
    in ``lang``."""
    t = translations(lang)
    total = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
    if total < 0:
        raise ValueError("format_duration takes a non-negative duration")
    minutes = int(total // 60 + (1 if total % 60 >= 30 else 0))
    if minutes == 0:
        return t.gettext(N_("0 minutes")) if total == 0 else t.gettext(N_("less than a minute"))
    parts: list[str] = []
    for size, singular, plural in _UNITS:
        amount, minutes = divmod(minutes, size)
        if amount:
            parts.append(t.gettext(singular if amount == 1 else plural).format(n=amount))  # 1 vs many, as in Spanish
        elif parts:
            break  # "1 day 5 minutes" would hide that hours were skipped; stop at a gap
        if len(parts) == 2:
            break
    return " ".join(parts)
