"""When an action repeats and how long before it to remind: lead times (``--remind 1d,1h``) and
recurrences (``--every weekday``, a cron line), computed on the wall clock of the action's zone.

Pure, like :mod:`commands.common.timeparse` (the one time parser), whose decisions apply here
too: a recurrence never refuses a local time; in a DST gap it fires at the first valid wall time
after it, in a fold at the first of the two.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from commands.common.errors import CommandError, code
from commands.common.i18n import N_, translations
from commands.common.timeparse import MAX_INPUT_CHARS
from commands.common.zones import as_zone, is_after, wall_time

MAX_LEADS = 10
MAX_LEAD = timedelta(days=365)
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# ---------------------------------------------------------------- leads

_LEAD_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
}
_LEAD = re.compile(r"(?:\d{1,6}[wdhm])+", re.IGNORECASE)
# written out, in English or Spanish: "1 day, 2 hours and 30 minutes before", "1 día y 30 minutos antes"
_LEAD_WORDS = re.compile(
    r"(?P<n>\d{1,6}|una?|uno|an)[\s,]*(?P<unit>semanas?|weeks?|dias?|days?|horas?|hours?|hrs?|minutos?|minutes?|mins?)"
    r"(?![a-z])"
)
_LEAD_FILLERS = re.compile(r"(?<![a-z])(?:antes|before|y|and)(?![a-z])")


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def _lead_letters(text: str) -> str:
    """``1 día y 30 minutos antes`` -> ``1d 30m``; short forms such as ``1d,1h`` are kept."""
    def short(match: re.Match[str]) -> str:
        n = match["n"]
        count = "1" if n in ("un", "una", "uno", "a", "an") else n
        unit = match["unit"]
        letter = "w" if unit[0] in "sw" else "d" if unit[0] == "d" else "h" if unit[0] == "h" else "m"
        return f" {count}{letter} "

    return _LEAD_FILLERS.sub(" ", _LEAD_WORDS.sub(short, _fold(text)))


def parse_leads(text: str, lang: str = "en") -> list[timedelta]:
    """``1d,1h,10m`` -> how long before an event to remind, largest first, duplicates dropped.
    A lead may combine units (``1h30m``). Units: w(eeks), d(ays), h(ours), m(inutes); written out
    in English or Spanish too (``30 minutos antes``). Errors are in ``lang``."""
    _ = translations(lang).gettext
    if len(text) > MAX_INPUT_CHARS:
        raise CommandError(_("That list of reminder times is too long. Give at most {n}, like `1d,1h`.").format(
            n=MAX_LEADS))
    items = [item for item in re.split(r"[,\s]+", _lead_letters(text).strip()) if item]
    if not items:
        raise CommandError(_("Say when to remind, like `1d,1h,10m` (d = days, h = hours, m = minutes)."))
    leads: set[timedelta] = set()
    for item in items:
        if not _LEAD.fullmatch(item):
            raise CommandError(_("I couldn't read {item} as a reminder time. Use a number and a unit: `w` weeks, "
                                 "`d` days, `h` hours, `m` minutes, like `1d,1h,10m`.").format(item=code(item, 30)))
        lead = sum(
            (int(n) * _LEAD_UNITS[u.lower()] for n, u in re.findall(r"(\d+)([a-z])", item, re.IGNORECASE)),
            timedelta(),
        )
        if lead <= timedelta(0):
            raise CommandError(_("{item} is no time at all. Use at least `1m`.").format(item=code(item, 30)))
        if lead > MAX_LEAD:
            raise CommandError(_("{item} is too far ahead. Reminders can be at most `365d` before.").format(
                item=code(item, 30)))
        leads.add(lead)
    if len(leads) > MAX_LEADS:
        raise CommandError(_("That is {count} reminder times; at most {n} are allowed.").format(
            count=len(leads), n=MAX_LEADS))
    return sorted(leads, reverse=True)


# ---------------------------------------------------------------- recurrence

_KINDS = {  # English and Spanish (without accents)
    "dia": "daily",
    "diario": "daily",
    "diaria": "daily",
    "dias": "daily",
    "dia laborable": "weekdays",
    "dias laborables": "weekdays",
    "laborables": "weekdays",
    "entre semana": "weekdays",
    "dia de semana": "weekdays",
    "semana": "weekly",
    "semanal": "weekly",
    "mes": "monthly",
    "mensual": "monthly",
    "day": "daily",
    "daily": "daily",
    "everyday": "daily",
    "weekday": "weekdays",
    "weekdays": "weekdays",
    "week": "weekly",
    "weekly": "weekly",
    "month": "monthly",
    "monthly": "monthly",
}
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,\-]{1,40}")


@dataclass(frozen=True)
class Recurrence:
    """A repeating schedule, evaluated on the **wall clock of the action's zone**.

    ``kind`` is ``daily``, ``weekdays``, ``weekly``, ``monthly`` or ``cron`` (then ``cron`` holds
    the five fields). Store :attr:`spec`; read it back with :meth:`from_spec`."""

    kind: str
    cron: str | None = None

    @property
    def spec(self) -> str:
        return f"cron {self.cron}" if self.kind == "cron" else self.kind

    @classmethod
    def from_spec(cls, spec: str) -> Recurrence:
        """Read a stored :attr:`spec`; a bad one is a bug (``ValueError``), not a member error."""
        try:
            return parse_recurrence(spec)
        except CommandError as exc:
            raise ValueError(f"bad stored recurrence {spec!r}: {exc}") from None

    def describe(self, anchor: datetime | None = None, lang: str = "en") -> str:
        """``every weekday``; with the first occurrence, ``every Monday`` / ``every month on the 31st``;
        in ``lang`` (Spanish ``cada viernes``, day names from Babel)."""
        _ = translations(lang).gettext
        if self.kind == "daily":
            return _(N_("every day"))
        if self.kind == "weekdays":
            return _(N_("every weekday (Monday to Friday)"))
        if self.kind == "weekly":
            if anchor is None:
                return _(N_("every week"))
            return _(N_("every {day}")).format(day=_day_name(anchor.weekday(), lang))
        if self.kind == "monthly":
            if anchor is None:
                return _(N_("every month"))
            said = N_("every month on the {ordinal} (or the last day of shorter months)") if anchor.day > 28 \
                else N_("every month on the {ordinal}")
            return _(said).format(ordinal=_ordinal(anchor.day), number=anchor.day, day=anchor.day)  # Spanish: "el día 31"
        return _(N_("on the cron schedule `{cron}`")).format(cron=self.cron)

    def next_after(
        self,
        previous: datetime,
        zone: zoneinfo.ZoneInfo | str,
        *,
        anchor: datetime | None = None,
    ) -> datetime:
        """The first occurrence strictly after ``previous``, aware and in ``zone``.

        The time of day (and, for weekly/monthly, the weekday/day of month) comes from ``anchor``,
        the first occurrence as the member set it; without it, from ``previous``. Pass the anchor:
        after a DST gap moved 02:30 to 03:00, or a month clamped the 31st to the 30th, ``previous``
        no longer carries the intended wall time. Monthly on the 29th-31st falls on the last day
        of shorter months. Naive ``previous``/``anchor`` are read as wall times in ``zone``."""
        tz = as_zone(zone)
        prev = previous.astimezone(tz) if previous.tzinfo else wall_time(previous, tz)
        base = (anchor.astimezone(tz) if anchor.tzinfo else anchor) if anchor is not None else prev
        if self.kind == "cron":
            return _next_cron(self.cron or "", prev, tz)
        wall = base.time().replace(tzinfo=None, fold=0)
        matches = _DAY_RULES[self.kind](base)
        day = prev.date()
        for _ in range(800):
            if matches(day):
                candidate = wall_time(datetime.combine(day, wall), tz)
                if is_after(candidate, prev):
                    return candidate
            day += timedelta(days=1)
        raise RuntimeError(f"no occurrence of {self.spec} found after {previous}")  # unreachable


def _day_name(weekday: int, lang: str) -> str:
    if lang == "en":
        return _DAY_NAMES[weekday]
    from babel.dates import get_day_names

    return str(get_day_names("wide", locale=lang)[weekday])


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _monthly(base: datetime) -> Callable[[date], bool]:
    def matches(day: date) -> bool:
        return day.day == min(base.day, calendar.monthrange(day.year, day.month)[1])

    return matches


_DAY_RULES: dict[str, Callable[[datetime], Callable[[date], bool]]] = {
    "daily": lambda base: lambda day: True,
    "weekdays": lambda base: lambda day: day.weekday() < 5,
    "weekly": lambda base: lambda day: day.weekday() == base.weekday(),
    "monthly": _monthly,
}


def _next_cron(expr: str, prev: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    from croniter import croniter

    # croniter walks naive wall times; each one is then placed in the zone (gap -> after it,
    # fold -> first), so "0 9 * * *" stays 09:00 local whatever the offset.
    itr = croniter(expr, prev.replace(tzinfo=None))
    for _ in range(1000):
        candidate = wall_time(itr.get_next(datetime), zone)
        if is_after(candidate, prev):
            return candidate
    raise RuntimeError(f"cron {expr!r} found no time after {prev}")  # unreachable


def parse_recurrence(text: str, lang: str = "en") -> Recurrence:
    """``daily``/``day``, ``weekdays``/``weekday``, ``weekly``/``week``, ``monthly``/``month``
    (optionally after ``every``), or a five-field cron line (optionally after ``cron``).

    A cron line must name one minute (``0 9 * * 1-5``, not ``*/5 * * * *``), so a schedule
    fires at most once an hour: the bot posts to rooms, and a typo must not flood them. Spanish
    words work too (``cada día``, ``días laborables``, ``semanal``, ``mensual``); errors are in
    ``lang``."""
    _ = translations(lang).gettext
    cleaned = _fold(" ".join(text.split()))[: MAX_INPUT_CHARS + 1]
    if len(cleaned) > 100:
        raise CommandError(_("That repeat rule is too long. Use `daily`, `weekdays`, `weekly`, `monthly` or a cron "
                             "line like `0 9 * * 1-5`."))
    for prefix in ("every ", "cron ", "cada ", "todos los ", "todas las "):
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :]
    if cleaned in _KINDS:
        return Recurrence(_KINDS[cleaned])
    fields = cleaned.split(" ")
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise CommandError(_("I couldn't read {text} as a repeat rule. Use `daily`, `weekdays`, `weekly`, "
                             "`monthly` or a cron line like `0 9 * * 1-5`.").format(text=code(text, 60)))
    expr = " ".join(fields)
    if not re.fullmatch(r"\d{1,2}", fields[0]):
        raise CommandError(_("The cron line {expr} would fire more than once an hour. Give one minute first, like "
                             "`0 9 * * 1-5` (09:00 on weekdays).").format(expr=code(expr)))
    from croniter import croniter

    try:
        if not croniter.is_valid(expr):
            raise ValueError(expr)
        croniter(expr, datetime(2026, 1, 1)).get_next(datetime)
    except Exception:
        raise CommandError(_("{expr} is not a cron line I can use (or it never happens). The fields are minute, "
                             "hour, day of month, month, day of week, like `0 9 * * 1-5` for 09:00 on weekdays.").format(
            expr=code(expr))) from None
    return Recurrence("cron", expr)
