"""What a pledge's counts look like when shown, and the announcements built from them.

Every figure of a pledge that reaches a room, a DM or the aggregate export passes through
:func:`tally` (the one small-cell rule, remembered per pledge), and the threshold and final
announcements are written here beside it, so the rule and the words that carry the numbers are
read in one place. Not a command family: the handlers in :mod:`commands.pledges` call these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from commands.base import Announce, Chart, Env, Output, due_source
from commands.common import chart
from commands.common.i18n import DEFAULT, LANGUAGES, N_, translations
from commands.common.smallcell import (
    OTHER_COMPANIES,
    Suppressed,
    exact_from,
    in_words,
    suppress,
    suppress_total,
    suppressed_total,
)
from commands.common.timeparse import show_instant
from storage import pledges as store
from storage import published
from storage.db import Database
from storage.hashing import Keyring
from storage.pledges import Pledge

BAR_CELLS = 10
Gettext = Callable[[str], str]  # a catalog's gettext: the reader's language


def _english(text: str) -> str:
    return text


@dataclass(frozen=True)
class Tally:
    total: int  # exact, never shown for per-company pledges
    text: str  # what may be shown
    shown: int  # a figure that may be shown (lower bound for the bar)
    companies: Suppressed | None


async def figures_of(db: Database, pledge: Pledge) -> store.Figures:
    """The figures readers see: the last published ones (:mod:`storage.published`, issue #23)."""
    return (await published.shown(db, [pledge.id]))[pledge.id]


_SUPPRESSED: dict[tuple[int, bool], tuple[int, dict[str, int], Any]] = {}  # (pledge id, rows?) → (k, input, output)


def _suppress(pledge_id: int, labelled: dict[str, int], k: int, with_rows: bool = True) -> Any:
    """``suppress(labelled, k)`` (or only its total, ``suppressed_total``), remembered per pledge:
    a hit needs an EQUAL input (one dict comparison, in C), so the result is exactly what the
    rule returns, only not recomputed when a listing shows a pledge whose counts did not change."""
    hit = _SUPPRESSED.get((pledge_id, with_rows))
    if hit is not None and hit[0] == k and hit[1] == labelled:
        return hit[2]
    result = suppress(labelled, k) if with_rows else suppressed_total(labelled, k)
    if len(_SUPPRESSED) >= 1024:
        _SUPPRESSED.clear()
    _SUPPRESSED[(pledge_id, with_rows)] = (k, dict(labelled), result)
    return result


async def tally(db: Database, pledge: Pledge, k: int, figures: store.Figures | None = None,
                with_rows: bool = True) -> Tally:
    """The shown figures; ``figures`` when the caller read them already (``store.figures``).
    ``with_rows=False`` when only the total is shown: ``companies`` is then ``None``."""
    if not pledge.per_company:
        n = (figures if figures is not None else await figures_of(db, pledge)).total
        text = suppress_total(n, k)  # 1..k-1 signers read "fewer than k"
        return Tally(n, text, n if text == str(n) else 0, None)
    if figures is None:
        figures = await figures_of(db, pledge)
    labelled = _listed(figures.labelled)
    if not with_rows:
        text, lower = _suppress(pledge.id, labelled, k, with_rows=False)
        return Tally(figures.company_total, text, lower, None)
    rows: Suppressed = _suppress(pledge.id, labelled, k)
    lower = rows.total_exact if rows.total_exact is not None else sum(r.exact_value or 0 for r in rows.rows)
    return Tally(figures.company_total, rows.total_text, lower, rows)


def _listed(labelled: dict[str, int]) -> dict[str, int]:
    """Counts per shown label: a company the directory does not know (a ``~`` key or display,
    issue #23) counts under "Other companies", which the small-cell rule always pools."""
    if not any(label.startswith("~") for label in labelled):
        return labelled
    out: dict[str, int] = {}
    for label, n in labelled.items():
        shown = OTHER_COMPANIES if label.startswith("~") else label
        out[shown] = out.get(shown, 0) + n
    return out


def bar(shown: int, goal: int, text: str | None = None, _: Gettext = _english) -> str:
    filled = min(BAR_CELLS, shown * BAR_CELLS // goal) if goal > 0 else 0
    figure = text or str(shown)
    cells = "▓" * filled + "░" * (BAR_CELLS - filled)
    if figure.isdigit():
        return f"{cells} {figure}/{goal}"
    return f"{cells} " + _(N_("{figure} of {goal}")).format(figure=in_words(figure, _), goal=goal)


def have_signed(t: Tally, _: Gettext = _english) -> str:
    said = _(N_("{count} has signed")) if t.text == "1" else _(N_("{count} have signed"))
    return said.format(count=in_words(t.text, _))


def deadline_text(pledge: Pledge, lang: str = "en", zone: str | None = None) -> str:
    """The deadline in ``lang``, in ``zone`` (the reader's) or else the pledge's own zone."""
    return show_instant(pledge.deadline, zone or pledge.zone, lang) if pledge.deadline else ""


async def threshold_state(db: Database, pledge: Pledge, figures: store.Figures | None = None,
                          _: Gettext = _english, final: bool = False) -> str:
    """``threshold 100: met``; at the close (``final``) a sentence: ``Threshold 100: not met.``"""
    if pledge.threshold is None:
        return ""
    n = pledge.threshold
    if figures is None:
        figures = await figures_of(db, pledge)
    if not pledge.per_company:  # as published: "met" shows at the announcement's round, not at the crossing
        if final:
            return (_(N_("Threshold {n}: met.")) if figures.met else _(N_("Threshold {n}: not met."))).format(n=n)
        return (_(N_("threshold {n}: met")) if figures.met else _(N_("threshold {n}: waiting"))).format(n=n)
    met = [name for name in figures.announced if not name.startswith("~")]  # never an unlisted company
    if not met:
        said = N_("Threshold {n} per company: not met.") if final else N_("threshold {n} per company: waiting")
        return _(said).format(n=n)
    names = ", ".join(sorted(met, key=str.casefold))
    said = N_("Threshold {n} per company: met at {companies}.") if final else \
        N_("threshold {n} per company: met at {companies}")
    return _(said).format(n=n, companies=names)


async def progress_line(db: Database, pledge: Pledge, t: Tally, figures: store.Figures | None = None,
                        _: Gettext = _english, lang: str = "en", zone: str | None = None) -> str:
    parts = [bar(t.shown, pledge.goal, t.text, _) if pledge.goal else have_signed(t, _)]
    if pledge.deadline and pledge.is_open:
        parts.append(_(N_("deadline {when}")).format(when=deadline_text(pledge, lang, zone)))
    state = await threshold_state(db, pledge, figures, _)
    if state:
        parts.append(state)
    return " · ".join(parts)



async def announce_rooms(db: Database, keyring: Keyring, pledge: Pledge) -> tuple[str, ...]:
    return tuple(await store.rooms(db, keyring, pledge.id))



async def crossings(db: Database, keyring: Keyring, pledge: Pledge, company: str | None, k: int) -> list[Output]:
    """Announce a threshold once it is first reached; the announced mark is written in the same
    transaction as the signature and the queued notice, so it happens exactly once (the notice
    itself waits for the next announcement round, see ``bot/runtime/sending/outputs.py``). A threshold below
    2k-1 (set before thresholds had to be at least that) counts as 2k-1: "met" at a lower figure
    would let whoever adds k-1 signatures of their own tell that a group smaller than k signed."""
    if pledge.threshold is None:
        return []
    needed = max(pledge.threshold, exact_from(k))
    title = pledge.title
    if pledge.per_company:
        if company is None or company.startswith("~"):
            return []  # an unlisted company is never announced (issue #23: its text would be an attacker's)
        n = await store.company_count(db, pledge.id, company)
        if n < needed or not await store.mark_company_announced(db, pledge.id, company):
            return []
        display = (await store.company_displays(db, pledge.id)).get(company, company)
        said = N_("📣 **Pledge `{slug}` is active at {company}**: {n} people there have signed “{title}”.")
    else:
        n = await store.count(db, pledge.id)
        if n < needed or not await store.mark_announced(db, pledge.id):
            return []
        display = ""
        said = N_("📣 **Pledge `{slug}` is active**: the threshold of {n} was met for “{title}”.")

    def text(lang: str) -> str:  # each room and DM in its own language
        return translations(lang).gettext(said).format(slug=pledge.slug, company=display, n=pledge.threshold,
                                                       title=title)

    rooms = await announce_rooms(db, keyring, pledge)
    shown = await tally(db, pledge, k, (await store.figures(db, [pledge.id]))[pledge.id])  # as it is at the crossing

    def drawn(lang: str) -> dict[str, Any]:
        return pledge_spec(pledge, shown, k, translations(lang).gettext)

    # the chart goes to the rooms with the announcement, held for the same round (not to every DM:
    # one upload per DM would cost the fan-out dearly)
    def words(lang: str) -> str:  # the chart's facts for screen readers, not the announcement again
        _ = translations(lang).gettext
        return _("Pledge {slug}: {title}").format(slug=pledge.slug, title=title) + ": " + have_signed(shown, _) + "."

    return [Announce(text, rooms), *(Chart(drawn, words, room_id=room, news=True) for room in rooms)]


async def close_pledge(db: Database, keyring: Keyring, pledge: Pledge, now: datetime, k: int,
                       reason: str) -> list[Output]:
    """Close and announce the final result once (``[]`` if it was closed already)."""
    if not await store.close(db, pledge.id, now):
        return []
    await published.publish(db)  # the final result is public: every figure as it stands
    pledge = await store.by_slug(db, keyring, pledge.slug) or pledge
    t = await tally(db, pledge, k)
    figures = await figures_of(db, pledge)

    async def text(_: Gettext) -> str:
        lines = [_(N_("🏁 **Pledge `{slug}` has closed** ({reason}): “{title}”")).format(
                     slug=pledge.slug, reason=_(reason), title=pledge.title),
                 _(N_("Final count: {signed}.")).format(signed=have_signed(t, _))]
        if pledge.goal:
            said = N_("Goal of {goal}: reached.") if t.shown >= pledge.goal else N_("Goal of {goal}: not reached.")
            lines.append(_(said).format(goal=pledge.goal) + " " + bar(t.shown, pledge.goal, t.text, _))
        state = await threshold_state(db, pledge, figures, _, final=True)
        if state:
            lines.append(state)
        if t.companies is not None:
            lines.extend(company_lines(t.companies, _))
        return "\n".join(lines)

    rendered = {lang: await text(translations(lang).gettext) for lang in LANGUAGES}  # read once, in the transaction
    return [Announce(lambda lang: rendered.get(lang, rendered[DEFAULT]), await announce_rooms(db, keyring, pledge))]


CLOSED_BY_COORDINATOR = N_("closed by a coordinator")
DEADLINE_REACHED = N_("deadline reached")


def company_lines(rows: Suppressed, _: Gettext = _english) -> list[str]:
    """``Google: 7`` … ``All companies: at least 12``, in the reader's language."""
    lines = [f"{in_words(row.label, _)}: {in_words(row.shown_text, _)}" for row in rows.rows]
    lines.append(_(N_("All companies: {total}")).format(total=in_words(rows.total_text, _)))
    return lines


@due_source("published figures")
class PublishedFigures:
    """Publish what readers see (pledge figures, RSVP turnout) at the planned announcement round (issue #23)."""

    @staticmethod
    async def next_due(db: Database) -> datetime | None:
        due = await published.due(db)
        return datetime.fromtimestamp(due, UTC) if due is not None else None

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        due = await published.due(env.db)
        if due is not None and due <= env.now.timestamp():
            await published.publish(env.db)
        return []


def figure(text: str, _: Gettext) -> tuple[int | None, str]:
    """A shown figure's exact value (``None`` when it is pooled or a bound) and its words."""
    return (int(text) if text.isdigit() else None), in_words(text, _)


def pledge_spec(pledge: Pledge, t: Tally, k: int, _: Gettext) -> dict[str, Any]:
    """A pledge's chart: one bar per company shown by name, the pooled row, or one bar of signatures."""
    rows: list[tuple[str, int | None, str]]
    if t.companies is not None:
        rows = [(in_words(row.label, _), row.exact_value, in_words(row.shown_text, _)) for row in t.companies.rows]
    else:
        rows = [(_("Signed"), *figure(t.text, _))]
    goal = (pledge.goal, _("goal {goal}").format(goal=pledge.goal)) if pledge.goal else None
    floor = exact_from(k)
    return chart.spec(_("Pledge {slug}: {title}").format(slug=pledge.slug, title=pledge.title), rows, floor=floor,
                      subtitle=_("Total: {total}").format(total=in_words(t.text, _)), goal=goal,
                      note=_("Groups of fewer than {k} are pooled and drawn as a range.").format(k=floor))
