"""The Spanish grammar: which words name a day, a time of day and a duration. What they mean
(next weekday, day-first dates, default hours for parts of the day) is decided in :mod:`.core`.

Read on text folded to lower case without accents (``Mañana``, ``MIÉRCOLES`` -> ``manana``,
``miercoles``), so accents are optional.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, time, timedelta

from commands.common.timeparse.core import (
    NUMERIC,
    Clock,
    Day,
    clock,
    from_duration,
    numeric_day,
    part_hour,
    resolve,
    with_part,
)

WEEKDAYS = {"lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6}
MONTHS = {
    "enero": 1, "ene": 1, "febrero": 2, "feb": 2, "marzo": 3, "mar": 3, "abril": 4, "abr": 4, "mayo": 5,
    "may": 5, "junio": 6, "jun": 6, "julio": 7, "jul": 7, "agosto": 8, "ago": 8, "septiembre": 9,
    "setiembre": 9, "sep": 9, "sept": 9, "set": 9, "octubre": 10, "oct": 10, "noviembre": 11, "nov": 11,
    "diciembre": 12, "dic": 12,
}
_PARTS = {"manana": "morning", "tarde": "afternoon", "noche": "night", "madrugada": "night"}
_UNITS = {  # Spanish unit -> the English one core.from_duration reads
    "minuto": "minutes", "minutos": "minutes", "min": "minutes", "mins": "minutes", "hora": "hours",
    "horas": "hours", "h": "hours", "hs": "hours", "hrs": "hours", "dia": "days", "dias": "days",
    "semana": "weeks", "semanas": "weeks", "mes": "months", "meses": "months", "ano": "years", "anos": "years",
}
_NUMBER = r"(?:\d{1,6}|una?|uno)"
_UNIT = "(?:" + "|".join(sorted(_UNITS, key=len, reverse=True)) + ")"
_IN = re.compile(r"(?:en|dentro\s+de)\s+(?P<rest>.+)")
_DURATION_PART = re.compile(r"(?P<n>" + _NUMBER + r")\s*(?P<unit>" + _UNIT + r")(?![a-z])")
_HALVES = (  # "una hora y media", "hora y media", "media hora"
    (re.compile(r"\b(" + _NUMBER + r")\s+horas?\s+y\s+media\b"), r"\1 horas 30 minutos"),
    (re.compile(r"\bhora\s+y\s+media\b"), "1 hora 30 minutos"),
    (re.compile(r"\bmedia\s+hora\b"), "30 minutos"),
)
# the time of day at the end: "a las 18:00", "a la 1", "19h", "19 hs", "6pm", "9 de la noche", "al mediodia"
_CLOCK = re.compile(
    r"(?:^|[\s,]+)(?:(?P<prefix>a\s+las?|a\s+eso\s+de\s+las?|sobre\s+las?|hacia\s+las?|al|a)\s+)?"
    r"(?:(?P<word>mediodia|medianoche)"
    r"|(?P<h>\d{1,2})(?:(?P<sep>[:.h])(?P<mi>\d{2}))?\s*(?:(?P<ap>[ap])\.?\s?m\.?|(?P<suffix>hs|hrs?|h|horas?)\.?)?"
    r"(?:\s+(?:de|por|en)\s+la\s+(?P<part>manana|tarde|noche|madrugada))?)$"
)
# a part of the day without an hour, at the end: "por la tarde", "en la noche", "esta noche"
_PART = re.compile(r"(?:^|[\s,]+)(?:(?:por|en|de)\s+la|(?P<this>esta))\s+(?P<part>manana|tarde|noche)$")
_DAY = re.compile(
    r"(?:el\s+|este\s+|(?:el\s+)?(?:proximo|siguiente)\s+)?"
    r"(?:(?P<wd>lunes|martes|miercoles|jueves|viernes|sabado|domingo)(?:\s+(?:que\s+viene|proximo))?,?(?:\s+|$))?"
    r"(?:(?:el\s+)?(?:dia\s+)?(?P<d>\d{1,2})(?:\s+(?:de\s+)?(?P<mon>[a-z]+)\.?(?:,?\s+(?:de\s+|del\s+)?(?P<y>\d{4}))?)?"
    r"|(?P<num>" + NUMERIC + r"))?"
)
_OFFSET_DAYS = re.compile(r"(?:en|dentro\s+de)\s+(?P<n>" + _NUMBER + r")\s*(?P<unit>dias?|semanas?)")


def fold(text: str) -> str:
    """Lower case without accents: ``Mañana``, ``MIÉRCOLES`` -> ``manana``, ``miercoles``."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def _number(word: str) -> int:
    return 1 if word in ("un", "una", "uno") else int(word)


def duration(rest: str) -> str | None:
    """``2 horas y 30 minutos`` -> ``in 2 hours 30 minutes``; ``None`` when it is not only durations."""
    for pattern, replacement in _HALVES:
        rest = pattern.sub(replacement, rest)
    parts: list[str] = []
    consumed = 0
    for part in _DURATION_PART.finditer(rest):
        if rest[consumed : part.start()].strip(" ,") not in ("", "y"):
            return None
        consumed = part.end()
        parts.append(f"{_number(part['n'])} {_UNITS[part['unit']]}")
    if not parts or rest[consumed:].strip(" ,"):
        return None
    return "in " + " ".join(parts)


def _clock(match: re.Match[str], original: str) -> Clock | None:
    """The clock at the end, or ``None`` when the number there is a day (``el viernes 11``): a bare
    number is an hour only after ``a las``."""
    if match["word"]:
        return Clock(time(12, 0) if match["word"] == "mediodia" else time(0, 0))
    bare = not (match["mi"] or match["ap"] or match["suffix"] or match["part"])
    if (bare or match["sep"] == ".") and not match["prefix"]:
        return None
    wall = clock(int(match["h"]), int(match["mi"] or 0), f"{match['ap']}m" if match["ap"] else "", original)
    return Clock(wall if match["ap"] else with_part(wall, _PARTS.get(match["part"] or "")))


def _day(text: str, today: datetime, original: str, lang: str) -> Day | None:
    """The day a Spanish phrase names, or ``None`` when it is not Spanish."""
    if text == "hoy":
        return Day(date=today.date())
    if text in ("manana", "el dia de manana"):
        return Day(date=today.date() + timedelta(days=1))
    if text == "pasado manana":
        return Day(date=today.date() + timedelta(days=2))
    offset = _OFFSET_DAYS.fullmatch(text)
    if offset:
        n = _number(offset["n"])
        return Day(date=today.date() + timedelta(days=n * (7 if offset["unit"].startswith("semana") else 1)))
    found = _DAY.fullmatch(text)
    if not found or not (found["wd"] or found["d"] or found["num"]):
        return None
    weekday = WEEKDAYS[found["wd"]] if found["wd"] else None
    if found["num"]:
        return numeric_day(found["num"], lang, original, weekday)
    if found["mon"] and found["mon"] not in MONTHS:
        return None
    return Day(weekday=weekday, day=int(found["d"]) if found["d"] else None,
               month=MONTHS[found["mon"]] if found["mon"] else None, year=int(found["y"]) if found["y"] else None)


def from_spanish(body: str, now_local: datetime, original: str, lang: str) -> datetime | None:
    """A Spanish time (see the package docstring); ``None`` when ``body`` is not one."""
    text = fold(body)
    within = _IN.fullmatch(text)
    if within:
        english = duration(within["rest"])
        if english is not None:
            return from_duration(english, now_local, original)
    found = _CLOCK.search(text)
    hour = _clock(found, original) if found else None
    day_text = text[: found.start()].strip(" ,") if found and hour else text
    part = _PART.search(day_text)
    day: Day | None = None
    if part:
        day_text = day_text[: part.start()].strip(" ,")
        if part["this"]:
            if day_text:
                return None
            day = Day(date=now_local.date())
        name = _PARTS[part["part"]]
        if hour is None:
            hour = part_hour(name)
        elif not (found and (found["ap"] or found["part"])):
            hour = Clock(with_part(hour.wall, name))
    if day_text:
        day = _day(day_text, now_local, original, lang)
        if day is None:
            return None
    if day is None and hour is None:
        return None
    return resolve(day, hour, now_local, original, lang)
