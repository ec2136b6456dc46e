"""Actions, reminders and broadcasts: calls to action that reach every room on time.

* ``!action add <when> | <text> [--remind 1d,1h,10m] [--every …]`` schedules an action in the room;
  the bot posts an ``m.text`` reminder at each lead time still ahead and at the time itself.
* ``!actions`` lists the room's upcoming actions; ``!action cancel <n>``.
* ``!action rooms <n> add|remove`` is typed in *another* room: it asks for that room to get
  #n's reminders too. Adding needs a ``!confirm CODE`` from the same coordinator in the room
  where #n was scheduled, so only someone who coordinates both rooms can link them (nobody
  can pull another room's plans into their room, or push reminders into a room they don't
  coordinate). Removing needs no confirmation: a room may always opt out.
* ``!remind me <when> | <text>``: a personal reminder in the member's encrypted DM.
* ``!broadcast <text>`` then ``!confirm CODE`` (the same coordinator, same room, 5 minutes).

Times are parsed by :mod:`commands.common.timeparse` (the one parser) and stored in UTC; recurrences
are computed on the wall clock of the action's zone. Reminders fire through the one scheduler
(:func:`ActionsDue.fire`), which marks them done in the same transaction that queues the posts.

Languages (issue #18): answers are in the reader's language (``ctx._``); what is posted (reminders,
the link notice, personal reminders) is a function of the language (``commands.base.Localized``),
worded by the codec for each destination: a room in the room's language, a DM in its member's.
"""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from commands.base import (
    Args,
    CommandError,
    Context,
    Env,
    HubNews,
    Output,
    Post,
    Reply,
    Role,
    UsageError,
    code,
    command,
    due_source,
    export_hook,
    member_data,
    retention_hook,
)
from commands.common.confirm import new_confirmation
from commands.common.i18n import N_, Gettext, translations
from commands.common.recurrence import Recurrence, parse_leads, parse_recurrence
from commands.common.sensitive import own_answer
from commands.common.smallcell import suppress_total
from commands.common.timeparse import format_duration, show_instant
from commands.common.words import room_verb
from commands.language import member_zone
from commands.options import Found, Options, Words
from commands.rsvp import turnout_text, turnout_words
from storage import actions as store
from storage import rsvps
from storage.hub import members as hub_members

log = logging.getLogger("organizer_bot.actions")

MAX_TEXT = 1000
MAX_LISTED = 25
LATE_AFTER = timedelta(seconds=5)  # a reminder sent later than this says it is late
LATE_NOTE = N_("(Late: I was offline when this was due.)")  # on a line of its own under the reminder

_SECONDS = re.compile(r"(\d{1,5})s", re.IGNORECASE)


# ---------------------------------------------------------------- parsing helpers


def _when_text_options(split_missing: str) -> Options:
    """``<when> | <text> [--remind …] [--every …]``: options are read after the ``|``, and any
    other ``--word`` is part of the text."""
    return Options({"remind": Words(), "every": Words()}, free_text=True, split="|", split_missing=split_missing)


ACTION_OPTIONS = _when_text_options(N_("Put a `|` between the time and the text, like "
                                       "`{prefix}action add tomorrow 9am | Call the council`."))
REMIND_OPTIONS = _when_text_options(N_("Put a `|` between the time and the text, like "
                                       "`{prefix}remind me tomorrow 9am | Bring the flyers`."))
ACTION_NO_TEXT = N_("Say what the action is after the `|`, like `{prefix}action add tomorrow 9am | Call the council`.")
REMIND_NO_TEXT = N_("Say what the action is after the `|`, like `{prefix}remind me tomorrow 9am | Bring the flyers`.")


def when_and_text(ctx: Context, options: Options, no_text: str, args: Args) -> Found:
    """Parse ``<when> | <text> [options]``: ``head`` is the time, ``text`` the action's text."""
    found = options.parse(args.rest, ctx.prefix, ctx._, ctx.lang)
    if not found.text:
        raise UsageError(ctx._(no_text).format(prefix=ctx.prefix))
    if len(found.text) > MAX_TEXT:
        raise CommandError(too_long(ctx))
    return found


def too_long(ctx: Context) -> str:
    return ctx._("That text is too long (over {n} characters). Shorten it.").format(n=MAX_TEXT)


def leads_seconds(text: str, lang: str = "en") -> list[int]:
    """Lead times in seconds, largest first. The time parser's ``parse_leads`` reads w/d/h/m
    (and written-out English or Spanish); whole seconds (``30s``) are accepted here too, for
    short tests and drills. Errors are in ``lang``."""
    _ = translations(lang).gettext
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    seconds = {int(m[1]) for item in items if (m := _SECONDS.fullmatch(item))}
    others = [item for item in items if not _SECONDS.fullmatch(item)]
    if any(s <= 0 for s in seconds):
        raise CommandError(_("`0s` is no time at all. Use at least `1s`."))
    if others:
        seconds |= {int(lead.total_seconds()) for lead in parse_leads(",".join(others), lang)}
    if not seconds:
        raise CommandError(_("Say when to remind, like `1d,1h,10m` (d = days, h = hours, m = minutes)."))
    return sorted(seconds, reverse=True)


# Durations and times are worded by commands.common.timeparse (format_duration, show_instant), the
# one place that formats them; seconds, "now" and the joining words are worded here.


def describe_lead(seconds: int, lang: str = "en") -> str:
    if seconds < 60:
        return translations(lang).ngettext("{n} second", "{n} seconds", seconds).format(n=seconds)
    return format_duration(seconds, lang)


def _and(items: list[str], lang: str = "en") -> str:
    if len(items) == 1:
        return items[0]
    return translations(lang).gettext("{first} and {last}").format(first=", ".join(items[:-1]), last=items[-1])


def until(delta: timedelta, lang: str = "en") -> str:
    t = translations(lang)
    seconds = delta.total_seconds()
    if seconds <= 0:
        return t.gettext("now")
    if seconds < 60:
        n = int(seconds + 0.5)
        return t.ngettext("in {n} second", "in {n} seconds", n).format(n=n)
    return t.gettext("in {duration}").format(duration=format_duration(seconds, lang))


def _number(ctx: Context, token: str) -> int:
    raw = token.lstrip("#")
    if not re.fullmatch(r"\d{1,9}", raw):
        raise UsageError(ctx._("{token} is not an action number. The numbers are shown by `{prefix}actions`.").format(
            token=code(token, 20), prefix=ctx.prefix))
    return int(raw)


def _rec_text(action: store.Action, lang: str) -> str:
    if not action.recurrence:
        return translations(lang).gettext(N_("once"))
    anchor = action.anchor.astimezone(zoneinfo.ZoneInfo(action.zone))
    return Recurrence.from_spec(action.recurrence).describe(anchor, lang)


# ---------------------------------------------------------------- actions


@command("action add", usage=N_("<when> | <text> [--remind 1d,1h,10m] [--every day|weekday|week|month|CRON]"),
         summary=N_("Schedule an action in this room; I post reminders before it and when it starts."),
         role=Role.ROOM_COORDINATOR,
         example=N_("2026-12-01 10:00 America/Chicago | Call the council --remind 1d,1h"),
         details=N_("The time can be ISO (`2026-12-01 10:00 America/Chicago`) or natural (`tomorrow 9am`, "
                    "`in 2 hours`, `next monday 10:00`); without a zone it is in the bot's default zone. "
                    "`--remind` takes lead times (`w` weeks, `d` days, `h` hours, `m` minutes, `s` seconds). "
                    "`--every` repeats it: `day`, `weekday`, `week`, `month` or a cron line like `0 9 * * 1-5`."),
         aliases=("acción agregar", "acción añadir"))
async def action_add(ctx: Context, args: Args) -> list[Output]:
    found = when_and_text(ctx, ACTION_OPTIONS, ACTION_NO_TEXT, args)
    text = found.text
    when = ctx.read_time(found.head)
    leads = leads_seconds(found["remind"], ctx.lang) if "remind" in found else []
    recurrence = parse_recurrence(found["every"], ctx.lang) if "every" in found else None
    zone = when.zone.key
    action_id = await store.add_action(ctx.db, ctx.keyring, room_id=ctx.room.room_id, text=text, zone=zone,
                                       anchor=when.local, recurrence=recurrence.spec if recurrence else None,
                                       leads=leads, now=ctx.now)
    kept = await store.add_reminders(ctx.db, action_id, when.utc, leads, not_before=ctx.now)
    kept_leads = [lead for lead in kept if lead]
    skipped = [lead for lead in leads if lead not in kept]

    def leads_text(seconds: list[int]) -> str:
        return _and([describe_lead(x, ctx.lang) for x in seconds], ctx.lang)

    if kept_leads:
        said = [ctx._("#{id} scheduled for {when}; reminders {leads} before.").format(
            id=action_id, when=ctx.show_time(when), leads=leads_text(kept_leads))]
    else:
        said = [ctx._("#{id} scheduled for {when}; I'll post the reminder at that time.").format(
            id=action_id, when=ctx.show_time(when))]
    if skipped:
        said.append(ctx._("Skipped {leads} before: that time has already passed.").format(leads=leads_text(skipped)))
    if recurrence:
        said.append(ctx._("Repeats {rule} ({zone}).").format(rule=recurrence.describe(when.local, ctx.lang), zone=zone))
    ctx.wake("scheduler")
    return [Reply(" ".join(said))]


@command("actions", usage="", summary=N_("Upcoming actions this room gets reminders for."),
         aliases=("acciones",))
async def actions_list(ctx: Context, args: Args) -> list[Output]:
    found, total = await store.upcoming(ctx.db, ctx.keyring, ctx.room.room_id, limit=MAX_LISTED)
    if not found:
        return [Reply(ctx._("No upcoming actions here. A coordinator can add one with "
                            "`{prefix}action add tomorrow 9am | …`.").format(prefix=ctx.prefix))]
    rows = []
    for action, here in found:
        row = f"**#{action.id}** {ctx.show_time(action.occurs_at, action.zone)}, " \
              f"{_rec_text(action, ctx.lang)}: {action.text}"
        turnout = await turnout_text(ctx.db, action.id, ctx.settings.BOT_MIN_CELL, ctx._)
        if turnout:
            row += f" ({turnout})"
        if not here:
            row += " " + ctx._("(scheduled in another room)")
        rows.append(row)
    more = "\n" + ctx._("…and {n} more.").format(n=total - len(found)) if total > len(found) else ""
    return [Reply("**" + ctx._("Upcoming actions") + "**\n" + "\n".join(rows) + more)]


@command("action cancel", usage="<n>", summary=N_("Cancel an action scheduled in this room."),
         role=Role.ROOM_COORDINATOR, example="12", aliases=("acción cancelar",))
async def action_cancel(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Give the action's number."))
    number = _number(ctx, args.tokens[0])
    action = await store.action_in_room(ctx.db, ctx.keyring, number, ctx.room.room_id)
    if action is None:
        raise CommandError(ctx._("There is no upcoming action #{n} in this room. See `{prefix}actions`.").format(
            n=number, prefix=ctx.prefix))
    await store.cancel_action(ctx.db, number)
    ctx.wake("scheduler")
    return [Reply(ctx._("Cancelled #{n}; no more reminders for it.").format(n=number))]


@command("action rooms", usage=N_("<n> add|remove"),
         summary=N_("Type in another room: have this room also get action #n's reminders (or stop)."),
         role=Role.COORDINATOR, example=N_("12 add"),
         details=N_("Typed in the room that should get the reminders. Adding asks you to confirm with "
                    "`{prefix}confirm CODE` in the room where the action was scheduled, so you must coordinate both "
                    "rooms."), aliases=("acción salas",))
async def action_rooms(ctx: Context, args: Args) -> list[Output]:
    verb = room_verb(args.tokens[1]) if len(args.tokens) == 2 else None
    if verb is None:
        raise UsageError(ctx._("Give the action's number and `add` or `remove`."))
    number = _number(ctx, args.tokens[0])
    if verb == "remove":
        if not await store.unlink_room(ctx.db, ctx.keyring, number, ctx.room.room_id):
            raise CommandError(ctx._("This room does not get extra reminders for #{n}.").format(n=number))
        return [Reply(ctx._("This room no longer gets reminders for #{n}.").format(n=number))]
    action = await store.get_action(ctx.db, ctx.keyring, number)
    if action is None or action.cancelled:
        raise CommandError(ctx._("There is no upcoming action #{n}.").format(n=number))
    if action.room_id == ctx.room.room_id:
        raise CommandError(ctx._("#{n} was scheduled in this room, so this room gets its reminders already.").format(
            n=number))
    if ctx.room.room_id in await store.extra_rooms(ctx.db, ctx.keyring, number):
        raise CommandError(ctx._("This room already gets reminders for #{n}.").format(n=number))
    confirm = await new_confirmation(ctx, action.room_id, "link",
                                      {"action": number, "room": ctx.room.room_id, "name": ctx.room.name})
    return [Reply(ctx._("To add this room to #{n}'s reminders, type `{prefix}confirm {code}` in the room where #{n} "
                        "was scheduled within 5 minutes (as a coordinator there).").format(
        n=number, prefix=ctx.prefix, code=confirm))]


# ---------------------------------------------------------------- personal reminders


@command("remind me", usage=N_("<when> | <text>"), summary=N_("A personal reminder in our DM."),
         example=N_("tomorrow 9am | Bring the flyers"), aliases=("recuérdame", "recordarme"))
async def remind_me(ctx: Context, args: Args) -> list[Output]:
    found = when_and_text(ctx, REMIND_OPTIONS, REMIND_NO_TEXT, args)
    if found.values:
        raise UsageError(ctx._("Personal reminders take no options."))
    text = found.text
    when = ctx.read_time(found.head)
    dm_room = ctx.room.room_id if ctx.room.is_dm else ctx.shell.dm_room_of(ctx.member)
    if dm_room is None:
        raise CommandError(ctx._("I deliver personal reminders in our encrypted direct chat, and we don't have one "
                                 "yet. Start a direct chat with me (with encryption on), then send this again there."))
    await store.add_personal(ctx.db, ctx.keyring, member_ref=ctx.member.ref("reminders"), dm_room=dm_room,
                             text=text, zone=await member_zone(ctx) or when.zone.key, due_at=when.utc)
    said = N_("I'll remind you here on {when}.") if ctx.room.is_dm else \
        N_("I'll remind you in our direct chat on {when}.")
    ctx.wake("scheduler")

    async def answer(own: Context) -> str:
        return own._(said).format(when=own.show_time(when))

    return await own_answer(ctx, answer, "remind me")  # its time is the member's own


@member_data("reminders")
class ReminderData:
    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        found = await store.personal_of(ctx.db, ctx.keyring, ctx.member.ref("reminders"))
        if not found:
            return []
        pending = [(due, zone) for due, zone, state in found if state == "pending"]
        done = len(found) - len(pending)
        count = ctx.ngettext("{n} personal reminder", "{n} personal reminders", len(found)).format(n=len(found))
        if pending and done:
            said = N_("{count}: {waiting} waiting (next {when}), {done} delivered or expired "
                      "(texts and our DM encrypted)")
        elif pending:
            said = N_("{count}: {waiting} waiting (next {when}) (texts and our DM encrypted)")
        else:
            said = N_("{count}: {done} delivered or expired (texts and our DM encrypted)")
        when = ctx.show_time(pending[0][0], pending[0][1]) if pending else ""
        return [ctx._(said).format(count=count, waiting=len(pending), when=when, done=done)]

    @staticmethod
    async def forget(ctx: Context) -> int:
        # a waiting `!confirm` code holds the asker's keyed reference for 5 minutes: drop it too
        await store.forget_confirmations(ctx.db, ctx.member.ref("confirm"))
        return await store.forget_personal(ctx.db, ctx.member.ref("reminders"))


# ---------------------------------------------------------------- room links (confirmed with `confirm`: commands/fanout.py)


def linked_text(action: store.Action, lang: str) -> str:
    _ = translations(lang).gettext
    return _("This room now also gets reminders for #{n}: {text} ({when}, {rule}).").format(
        n=action.id, text=action.text, when=show_instant(action.occurs_at, action.zone, lang), rule=_rec_text(action, lang))


# ---------------------------------------------------------------- scheduled work


def reminder_text(action: store.Action, occurs_at: datetime, lead_s: int, now: datetime, late: bool,
                  lang: str = "en", turnout: str | Callable[[Gettext], str] = "") -> str:
    """An action's reminder as the readers of ``lang`` read it: posted as a function of the language
    (``partial(reminder_text, …)``), so each room that gets it reads it in its own language."""
    _ = translations(lang).gettext
    when = show_instant(occurs_at, action.zone, lang, now)
    if lead_s == 0 and not late:
        text = _("⏰ Starting now: {text} ({when}, action #{id})").format(text=action.text, when=when, id=action.id)
    elif occurs_at <= now:
        text = _("⏰ {text}: started on {when} (action #{id})").format(text=action.text, when=when, id=action.id)
    else:
        text = _("⏰ Reminder: {text}, starts {until} ({when}, action #{id})").format(
            text=action.text, until=until(occurs_at - now, lang), when=when, id=action.id)
    said = turnout if isinstance(turnout, str) else turnout(_)
    return text + ("\n" + said if said else "") + ("\n" + _(LATE_NOTE) if late else "")


def personal_text(personal: store.Personal, late: bool, lang: str = "en") -> str:
    """A personal reminder, posted in the member's DM as a function of the language: the codec
    words it in the language that member chose (``bot.runtime.rooms.Rooms.language_of`` of their DM)."""
    _ = translations(lang).gettext
    text = _("⏰ Reminder: {text} ({when})").format(text=personal.text,
                                                   when=show_instant(personal.due_at, personal.zone, lang))
    return text + ("\n" + _(LATE_NOTE) if late else "")


async def _schedule_next(env: Env, action: store.Action, occurred: datetime, grace: timedelta) -> None:
    assert action.recurrence is not None
    recurrence = Recurrence.from_spec(action.recurrence)
    zone = zoneinfo.ZoneInfo(action.zone)
    floor = max(occurred, env.now - grace)
    following = recurrence.next_after(occurred, zone, anchor=action.anchor)
    for _ in range(10000):  # catch up after a long downtime
        if following >= floor:
            break
        following = recurrence.next_after(following, zone, anchor=action.anchor)
    await store.set_occurrence(env.db, action.id, following)
    await store.add_reminders(env.db, action.id, following, list(action.leads), not_before=floor)


@due_source("actions")
class ActionsDue:
    next_due = staticmethod(store.next_due)  # (db) -> the earliest due time, or None

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        grace = timedelta(seconds=env.settings.BOT_REMINDER_GRACE)
        now = env.now
        outputs: list[Output] = []
        skipped = 0
        for due in await store.due_action_reminders(env.db, env.keyring, now):
            action = due.action
            if action.cancelled:
                await store.mark_reminder(env.db, due.id, "skipped")
                continue
            if now - due.due_at > grace:
                await store.mark_reminder(env.db, due.id, "skipped")
                skipped += 1
            elif await store.mark_reminder(env.db, due.id, "sent"):
                counts = await rsvps.turnout(env.db, action.id)  # the RSVPs, suppressed when worded
                words = partial(turnout_words, counts, env.settings.BOT_MIN_CELL)
                text = partial(reminder_text, action, due.occurs_at, due.lead_s, now, now - due.due_at > LATE_AFTER,
                               turnout=words)
                for room in [action.room_id, *await store.extra_rooms(env.db, env.keyring, action.id)]:
                    outputs.append(Post(room, text, "m.text"))
                if await hub_members.action_for_dms(env.db, action.id):  # `action dms <n> add` (issue 26)
                    outputs.append(HubNews(text, "m.text"))
            if due.lead_s == 0 and action.recurrence:
                await _schedule_next(env, action, due.occurs_at, grace)
        for personal in await store.due_personal(env.db, env.keyring, now):
            if now - personal.due_at > grace:
                await store.mark_personal(env.db, personal.id, "skipped", now)
                skipped += 1
            elif await store.mark_personal(env.db, personal.id, "sent", now):
                text = partial(personal_text, personal, now - personal.due_at > LATE_AFTER)
                outputs.append(Post(personal.dm_room, text, "m.text"))
        if skipped:
            log.warning("skipped %d reminders that were more than %d seconds overdue",
                        skipped, env.settings.BOT_REMINDER_GRACE)
        return outputs


retention_hook("actions")(store.delete_old)  # storage deletes; nothing here to word


@export_hook("actions")
async def _export(env: Env) -> dict[str, object]:
    found = await store.counts(env.db)
    k = env.settings.BOT_MIN_CELL
    return {
        "actions_upcoming": found["actions"],
        "actions_recurring": found["recurring_actions"],
        "reminders_sent": found["reminders_sent"],
        # personal reminders belong to members: small counts are suppressed
        "personal_reminders_pending": suppress_total(found["personal_reminders_pending"], k),
    }
