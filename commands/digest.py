"""The coordinators' weekly digest in the home room (issue 28), and ``!digest on|off`` (``!resumen``).

Once a week, at ``BOT_DIGEST`` (``mon 09:00``, in the home room's zone, else
``BOT_DEFAULT_TIMEZONE``; ``off``), the home room gets: each open pledge's total and what it
moved since the last digest, the open roll-calls, the coming week's actions with their RSVPs, how
many contract alerts were posted this week, members who joined by code (DMs) and the hotline's
open questions, and a chart of the open pledges. Every figure about people goes through the one
small-cell rule; "moved" is said only between two exact totals (both already shown), so it tells
nothing the two digests did not. Alerts are counted exactly: they are public contract awards,
nobody's act. The next time is stored in the transaction that queues the digest, so it is sent
once a week across restarts; a digest the bot missed while down is sent late, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from commands.base import (
    Args,
    Chart,
    Context,
    Env,
    Output,
    Post,
    Reply,
    Role,
    UsageError,
    code,
    command,
    due_source,
)
from commands.charts import figure
from commands.common import chart
from commands.common.i18n import LANGUAGES, N_, Gettext, translations
from commands.common.smallcell import exact_from, in_words, suppress_total
from commands.common.timeparse import show_instant
from commands.common.weekly import next_weekly, read_weekly
from commands.pledges.figures import Tally, tally
from commands.rollcall import shown
from commands.rsvp import turnout_words
from storage import actions as actions_store
from storage import digest as store
from storage import pledges as pledges_store
from storage import prefs, rollcalls, rsvps
from storage.db import Database
from storage.hub import hotline
from storage.hub import members as hub_members

WEEK = timedelta(days=7)
RECHECK = timedelta(hours=1)  # off, or no home room yet: look again this often
_ON = ("on", "sí", "si")
_OFF = ("off", "no")


@command("digest", usage=N_("[on|off]"), aliases=("resumen",), role=Role.COORDINATOR,
         summary=N_("The coordinators' weekly digest in the home room, or not."), example=N_("off"),
         details=N_("Once a week (as the admin set it) I post a summary in the home room: pledges and what moved, "
                    "open roll-calls, the coming week's actions, new contract alerts, members by DM and open "
                    "hotline questions. Small groups are pooled, as everywhere."))
async def digest_cmd(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    home = ctx.shell.campaign().home
    if home is None or home.room_id != ctx.room.room_id:
        raise UsageError(_("The weekly digest goes to the home room: type this there."))
    word = args.rest.strip().casefold()
    if word in _ON or word in _OFF:
        async with ctx.db.transaction():
            await store.set_enabled(ctx.db, word in _ON)
        ctx.wake("scheduler")
        return [Reply(_("The weekly digest is on.") if word in _ON else _("The weekly digest is off."))]
    if word:
        raise UsageError(_("Type `{prefix}digest on` or `{prefix}digest off`.").format(prefix=ctx.prefix))
    state = await store.state(ctx.db)
    if not state.enabled or ctx.settings.BOT_DIGEST == "off":
        return [Reply(_("The weekly digest is off."))]
    when = ctx.show_time(state.next_at) if state.next_at else ctx.settings.BOT_DIGEST
    return [Reply(_("The weekly digest is on; the next one: {when}.").format(when=when))]


@due_source("digest")
class WeeklyDigest:
    @staticmethod
    async def next_due(db: Database) -> datetime | None:
        return await store.next_due(db)

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        state = await store.state(env.db)
        home = env.shell.campaign().home
        when = read_weekly(env.settings.BOT_DIGEST) if state.enabled else None
        if home is None or when is None:
            await store.set_plan(env.db, "off", env.now + RECHECK)
            return []
        zone = await prefs.room_pref(env.db, env.keyring, home.room_id, prefs.ZONE) or env.default_zone
        plan = f"{env.settings.BOT_DIGEST}|{zone}"
        if state.plan != plan or state.next_at is None:  # new, or the schedule changed: plan only
            await store.set_plan(env.db, plan, next_weekly(when, zone, env.now))
            return []
        if env.now < state.next_at:
            return []
        await store.set_plan(env.db, plan, next_weekly(when, zone, env.now))
        return await digest(env, home.room_id, zone)


async def digest(env: Env, room_id: str, zone: str) -> list[Output]:
    """The digest's text and its pledge chart for ``room_id``, worded in each language (read now,
    inside the scheduler's transaction)."""
    db, k = env.db, env.settings.BOT_MIN_CELL
    since = env.now - WEEK
    last = (await store.state(db)).figures
    pledges = await pledges_store.open_pledges(db, env.keyring)
    tallies = {p.id: await tally(db, p, k, with_rows=False) for p in pledges}
    await store.save_figures(db, {p.id: t.total for p in pledges if (t := tallies[p.id]).text.isdigit()})
    open_rcs = await rollcalls.open_rollcalls(db, env.keyring)
    snaps = [(rc, (await shown(db, rc, k, env.settings.BOT_TALLY_INTERVAL, env.now))[0]) for rc in open_rcs]
    coming = await actions_store.between(db, env.keyring, env.now, env.now + WEEK)
    turnouts = {a.id: await rsvps.turnout(db, a.id) for a in coming}
    alerts = await store.alerts_since(db, since)
    by_code = suppress_total(await hub_members.count(db), k)
    questions = suppress_total(await hotline.open_count(db), k)

    def pledge_lines(_: Gettext) -> list[str]:
        lines = []
        for p in pledges:
            t = tallies[p.id]
            line = f"{code(p.slug)} {p.title}: {in_words(t.text, _)}"
            before = last.get(p.id)
            if p.created_at >= since:
                line += " " + _("(new this week)")
            elif before is not None and t.text.isdigit() and int(t.text) != before:
                line += " " + _("({change:+d} since the last digest)").format(change=int(t.text) - before)
            lines.append(line)
        return lines or [_("No open pledges.")]

    def text(lang: str) -> str:
        _ = translations(lang).gettext
        out = ["**" + _("Weekly digest") + "**", "**" + _("Pledges") + "**", *pledge_lines(_),
               "**" + _("Open roll-calls") + "**"]
        out += [f"{code(rc.slug)} {rc.title}: " + _("Total: {total}").format(total=in_words(snap["total"], _))
                for rc, snap in snaps] or [_("No roll-call is open.")]
        out.append("**" + _("Actions in the coming week") + "**")
        out += [f"#{a.id} {show_instant(a.occurs_at, zone, lang, env.now)}: {a.text}"
                + (f" ({words})" if (words := turnout_words(turnouts[a.id], k, _)) else "")
                for a in coming] or [_("No actions in the coming week.")]
        out.append(_("New contract alerts this week: {n}").format(n=alerts))
        out.append(_("Members who joined by code: {n}").format(n=in_words(by_code, _)))
        out.append(_("Open hotline questions: {n}").format(n=in_words(questions, _)))
        return "\n".join(out)

    rendered = {lang: text(lang) for lang in LANGUAGES}
    outputs: list[Output] = [Post(room_id, lambda lang: rendered.get(lang, rendered["en"]))]
    if pledges:
        charts = {lang: _pledges_chart(pledges, tallies, k, translations(lang).gettext) for lang in LANGUAGES}
        lines = {lang: "\n".join(pledge_lines(translations(lang).gettext)) for lang in LANGUAGES}
        outputs.append(Chart(lambda lang: charts.get(lang, charts["en"]), lambda lang: lines.get(lang, lines["en"]),
                             room_id=room_id))
    return outputs


def _pledges_chart(pledges: list[pledges_store.Pledge], tallies: dict[int, Tally], k: int,
                   _: Gettext) -> dict[str, Any]:
    rows = [(p.slug, *figure(tallies[p.id].text, _)) for p in pledges]
    floor = exact_from(k)
    return chart.spec(_("Open pledges"), rows, floor=floor, subtitle=_("Weekly digest"),
                      note=_("Groups of fewer than {k} are pooled and drawn as a range.").format(k=floor))
