"""RSVPs (issue #19): members say whether they will be at a scheduled action, and those who said
yes or maybe get private reminders in their DM.

Decisions where the issue left room:

* ``!rsvp <n> yes|maybe|no`` (Spanish ``sí|quizás|no``) answers for action ``#n`` as ``!actions``
  numbers it; answering again replaces the answer; ``!rsvp <n>`` shows yours. After the action
  starts, ``!rsvp <n> went|missed`` (``fui|falté``) says whether you made it: only the per-action
  count is kept (the member's row keeps that they told, not what), so it is said once. In a room the
  answer names nobody, carries no reply relation, and the command is redacted.
* **The sequence** of an action (once someone said yes or maybe): a confirm-or-cancel message a
  day before, one reminder at each of the action's lead times, and three hours after it a
  question whether they made it, each to everyone who said yes or maybe: the same messages at
  the same times whatever the answer, so neither their number nor their timing tells a yes from
  a maybe (issue #23; their sizes are padded by the shell). Each stage is taken in the same
  transaction as its messages are queued, so it is sent once across restarts; a cancelled action
  sends nothing; a stage the bot missed by more than ``BOT_REMINDER_GRACE`` is dropped. The day
  before is the same wall-clock time in the action's zone (across a daylight-saving change too);
  lead times and the follow-up are durations from the action's time. A recurring action's RSVPs
  are for its next occurrence.
* **Turnout** is shown only through the small-cell rule (:func:`turnout_text`): yes and maybe
  (and afterwards went) each exact when at least k, else "fewer than k"; no total is shown, so
  no difference of shown figures gives a count.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

from commands.base import (
    Args,
    CommandError,
    Context,
    Env,
    Output,
    Post,
    UsageError,
    code,
    command,
    due_source,
    member_data,
)
from commands.common.i18n import DEFAULT, LANGUAGES, N_, translations
from commands.common.rounds import figures_changed
from commands.common.sensitive import own_answer
from commands.common.smallcell import in_words, suppress_total
from commands.common.timeparse import show_instant
from storage import actions as actions_store
from storage import rsvps as store
from storage.actions import Action

WORDS = {"yes": "yes", "sí": "yes", "si": "yes", "maybe": "maybe", "quizás": "maybe", "quizas": "maybe",
         "no": "no"}
WENT = {"went": True, "fui": True, "missed": False, "falté": False, "falte": False}
DAY_BEFORE = timedelta(days=1)
FOLLOW_UP = timedelta(hours=3)
ANSWER_NAMES = {"yes": N_("yes"), "maybe": N_("maybe"), "no": N_("no")}


def member_purpose(action_id: int) -> str:
    return f"rsvp:{action_id}"


async def turnout_text(db: Any, action_id: int, k: int, _: Any, after: bool = False) -> str:
    """``RSVPs: yes 12, maybe fewer than 5`` in the reader's language; ``""`` when nobody answered."""
    return turnout_words(await store.turnout(db, action_id), k, _, after)


def turnout_words(counts: dict[str, int], k: int, _: Any, after: bool = False) -> str:
    """:func:`turnout_text` from counts read earlier (a reminder is worded per room, later)."""
    # shown whether or not anyone answered: 0 reads like a few (issue #23), so the line itself
    # never says that the first member answered
    text = _(N_("RSVPs: yes {yes}, maybe {maybe}")).format(yes=in_words(suppress_total(counts["yes"], k), _),
                                                          maybe=in_words(suppress_total(counts["maybe"], k), _))
    if after or counts["went"]:  # a recurring action's earlier occurrences, once members told
        text += " · " + _(N_("went {went}")).format(went=in_words(suppress_total(counts["went"], k), _))
    return text


RSVP_DETAILS = N_(
    "Best in a DM with me. If you say yes or maybe, I remind you privately in our DM: the day before (with a "
    "way to cancel), at the action's reminder times, and afterwards I ask whether you made it. Only counts are "
    "shown, never who answered."
)


@command("rsvp", usage=N_("<n> [yes|maybe|no|went|missed]"),
         summary=N_("Say whether you'll be at action #n."), example=N_("3 yes"), details=RSVP_DETAILS,
         aliases=("asistencia",))
async def rsvp(ctx: Context, args: Args) -> list[Output]:
    return await own_answer(ctx, lambda own: _rsvp(own, args), "rsvp", redact=True)


async def _rsvp(ctx: Context, args: Args) -> str:
    if not args.tokens or len(args.tokens) > 2:
        raise UsageError(ctx._("Give the action's number and your answer, like `{prefix}rsvp 3 yes`.").format(
            prefix=ctx.prefix))
    raw = args.tokens[0].lstrip("#")
    number = int(raw) if re.fullmatch(r"\d{1,9}", raw) else None  # action numbers as !actions shows them
    action = await actions_store.get_action(ctx.db, ctx.keyring, number) if number is not None else None
    if action is None or action.cancelled:
        raise CommandError(ctx._("There is no upcoming action {n}. `{prefix}actions` lists them.").format(
            n=code("#" + raw, 12), prefix=ctx.prefix))
    ref = ctx.member.ref(member_purpose(action.id))
    if len(args.tokens) == 1:
        mine = await store.answer_of(ctx.db, action.id, ref)
        if mine is None:
            return ctx._("You have not answered for #{n}.").format(n=action.id)
        return ctx._("Your answer for #{n}: {answer}.").format(n=action.id, answer=ctx._(ANSWER_NAMES[mine[0]]))
    word = args.tokens[1].lower()
    if word in WENT:
        return await _went(ctx, action, ref, WENT[word])
    reply = WORDS.get(word)
    if reply is None:
        raise UsageError(ctx._("Answer `yes`, `maybe` or `no` (or `sí`, `quizás`).").format())
    if action.occurs_at <= ctx.now:
        raise CommandError(ctx._("#{n} has started already. Tell me whether you made it: `{prefix}rsvp {n} went` "
                                 "or `{prefix}rsvp {n} missed`.").format(n=action.id, prefix=ctx.prefix))
    dm_room = ctx.room.room_id if ctx.room.is_dm else ctx.shell.dm_room_of(ctx.member)
    if dm_room is None and reply != "no":
        raise CommandError(ctx._("I send your reminders in our encrypted direct chat, and we don't have one yet. "
                                 "Start one with me, then answer there."))
    async with ctx.db.transaction():
        before = await store.answer(ctx.db, ctx.keyring, action.id, ref, reply, dm_room or "")
        if reply != "no":
            await store.plan(ctx.db, action.id, _stages(action), ctx.now)
        await figures_changed(ctx)  # the turnout readers see follows at the round
    ctx.wake("scheduler")
    said = ctx._(ANSWER_NAMES[reply])
    if before is not None and before != reply:
        text = ctx._("Changed your answer for #{n} to {answer}.").format(n=action.id, answer=said)
    else:
        text = ctx._("Your answer for #{n}: {answer}.").format(n=action.id, answer=said)
    if reply != "no":
        text += " " + ctx._("I'll remind you in our DM; `{prefix}rsvp {n} no` stops that.").format(
            prefix=ctx.prefix, n=action.id)
    return text


async def _went(ctx: Context, action: Action, ref: bytes, went: bool) -> str:
    if action.occurs_at > ctx.now:
        raise CommandError(ctx._("#{n} hasn't happened yet.").format(n=action.id))
    async with ctx.db.transaction():
        mine = await store.answer_of(ctx.db, action.id, ref)
        if mine is not None and mine[1]:
            raise CommandError(ctx._("You told me already for #{n}; only the count is kept, so it can't be changed.")
                               .format(n=action.id))
        if not await store.count_went(ctx.db, action.id, ref, went):
            raise CommandError(ctx._("You had not said you would come to #{n}.").format(n=action.id))
        await figures_changed(ctx)
    return ctx._("Thanks! Only the count is kept.")


def _stages(action: Action) -> dict[str, datetime]:
    """The sequence's times. "The day before" is the same wall-clock time in the action's zone
    (a daylight-saving change in between moves it by the hour, not the reader's morning); the
    lead times and the follow-up are real durations from the action's UTC time."""
    at = action.occurs_at
    local = at.astimezone(zoneinfo.ZoneInfo(action.zone))
    stages = {"confirm": (local - DAY_BEFORE).astimezone(UTC), "followup": at + FOLLOW_UP}
    stages.update({f"lead:{lead}": at - timedelta(seconds=lead) for lead in {*action.leads, 0}})  # and the start
    return stages


# ---------------------------------------------------------------- the private sequence

CONFIRM = N_("📅 Tomorrow: #{n} {text} ({when}). You said you'd come. Reply `{prefix}rsvp {n} no` if you can't "
             "make it.")
LEAD = N_("⏰ Reminder: #{n} {text} starts {when}. See you there!")
START = N_("⏰ Starting now: #{n} {text}.")
FOLLOW = N_("Did you make it to #{n} {text}? Reply `{prefix}rsvp {n} went` or `{prefix}rsvp {n} missed`: only the "
            "count is kept.")


def _message(kind: str, action: Action, prefix: str) -> Any:
    said = {"confirm": CONFIRM, "followup": FOLLOW}.get(kind, START if kind == "lead:0" else LEAD)
    rendered = {lang: translations(lang).gettext(said).format(n=action.id, text=action.text, prefix=prefix,
                                                              when=show_instant(action.occurs_at, action.zone, lang))
                for lang in LANGUAGES}
    return lambda lang: rendered.get(lang, rendered[DEFAULT])


@due_source("rsvps")
class RsvpSequence:
    next_due = staticmethod(store.next_stage)

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        outputs: list[Output] = []
        grace = timedelta(seconds=env.settings.BOT_REMINDER_GRACE)
        for stage in await store.due_stages(env.db, env.now):
            if not await store.done(env.db, stage) or env.now - stage.due_at > grace:
                continue
            action = await actions_store.get_action(env.db, env.keyring, stage.action_id)
            if action is None or action.cancelled:
                continue
            text = _message(stage.kind, action, env.settings.BOT_COMMAND_PREFIX)
            # every stage to yes and maybe alike (the follow-up too): the sequence's shape tells no answer
            for dm in await store.attending_dms(env.db, env.keyring, action.id, ("yes", "maybe")):
                if dm:
                    outputs.append(Post(dm, text, "m.text"))
        return outputs


@member_data("rsvps")
class RsvpData:
    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        refs = {i: ctx.member.ref(member_purpose(i)) for i in await store.action_ids(ctx.db)}
        found = await store.of_member(ctx.db, refs)
        return [ctx._("Your answer for action #{n}: {answer}.").format(n=i, answer=ctx._(ANSWER_NAMES[a]))
                for i, (a, _went) in sorted(found.items())]

    @staticmethod
    async def forget(ctx: Context) -> int:
        removed = 0
        for action_id in await store.action_ids(ctx.db):
            removed += await store.forget(ctx.db, action_id, ctx.member.ref(member_purpose(action_id)))
        if removed:
            await figures_changed(ctx)
        return removed
