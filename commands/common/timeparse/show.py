"""Showing an instant and a duration as a reader of English or Spanish writes them in a sentence.

``Tuesday 8 December at 18:00 PST`` / ``martes 8 de diciembre a las 18:00 PST``: the weekday and
month in full (Babel's names; an abbreviation inside a sentence misreads: "el mar, 8 dic" is
"the sea"), no comma, the 24-hour clock, and the zone's abbreviation (``UTC-3`` where the zone has
none). The year is added when it is not the reader's current year, or when no ``now`` is given.
Spanish texts put the article themselves (``Se cierra el {when}``), so it is not part of the date.

Commands show times through :meth:`commands.base.Context.show_time`; :func:`show_instant` is for
texts worded later for readers the handler does not know (a reminder posted to a room), in the
zone the time was set in.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta

from commands.common.i18n import N_, translations
from commands.common.zones import as_zone

# (day, day with the year) as Babel date patterns: Babel gives the names, the order is ours
_DAY_PATTERNS = {
    "en": ("EEEE d MMMM", "EEEE d MMMM y", "d MMMM"),
    "es": ("EEEE d 'de' MMMM", "EEEE d 'de' MMMM 'de' y", "d 'de' MMMM"),
}
_BABEL_LOCALE = {"en": "en_GB", "es": "es"}


def _lang(lang: str) -> str:
    return lang if lang in _DAY_PATTERNS else "en"


def show_day(day: date, lang: str = "en", *, year: bool = True, weekday: bool = True) -> str:
    """``Tuesday 8 December 2026`` / ``martes 8 de diciembre de 2026`` (without the year or the
    weekday if asked: ``8 December`` / ``8 de diciembre``)."""
    from babel.dates import format_date

    lang = _lang(lang)
    pattern = _DAY_PATTERNS[lang][(1 if year else 0) if weekday else 2]
    return format_date(day, pattern, locale=_BABEL_LOCALE[lang])


def weekday_name(weekday: int, lang: str = "en") -> str:
    """``Friday`` / ``viernes`` (0 is Monday)."""
    from babel.dates import get_day_names

    lang = _lang(lang)
    return str(get_day_names("wide", locale=_BABEL_LOCALE[lang])[weekday])


def show_clock(local: datetime, lang: str = "en") -> str:
    """``at 18:00`` / ``a las 18:00`` (``a la 1:30``)."""
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if _lang(lang) == "es":
        return f"a la {local.hour}:{local.minute:02d}" if local.hour == 1 else f"a las {clock}"
    return f"at {clock}"


def zone_label(local: datetime) -> str:
    """``PST``, ``CET``, ``UTC``; ``UTC-3`` or ``UTC+5:30`` for zones without an abbreviation."""
    name = local.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def show_hour(instant: datetime, zone: zoneinfo.ZoneInfo | str) -> str:
    """``06:00 CST``: the clock alone, for a figure's "as of" on the same day."""
    local = instant.astimezone(as_zone(zone))
    return f"{local.hour:02d}:{local.minute:02d} {zone_label(local)}"


def show_instant(instant: datetime, zone: zoneinfo.ZoneInfo | str, lang: str = "en",
                 now: datetime | None = None) -> str:
    """``instant`` in ``zone`` as a reader of ``lang`` writes it in a sentence (module docstring)."""
    if instant.tzinfo is None:
        raise ValueError("show_instant needs an aware datetime")
    tz = as_zone(zone)
    local = instant.astimezone(tz)
    year = now is None or now.astimezone(tz).year != local.year
    return f"{show_day(local.date(), lang, year=year)} {show_clock(local, lang)} {zone_label(local)}"


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
    if len(parts) == 2:  # "1 día y 5 horas": Spanish joins the two units with "y"
        return t.gettext(N_("{first} {second}")).format(first=parts[0], second=parts[1])
    return parts[0]
