"""Members nobody can see (issue 26): invite codes, joining by code in a DM, quiet, leaving,
vouching for a coworker, and marking an action's reminders for DM members.

A member who joined by code is a campaign member (``bot/runtime/campaign.py`` asks
``bot/runtime/hub.py``) who sits in no room: only the homeserver sees that they talk to the bot.
Nothing here stores who used or made a code, or when anyone joined (``storage/hub``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from commands.base import (
    MEMBER_DATA,
    Args,
    CommandError,
    Context,
    DirectMessage,
    Output,
    Reply,
    Role,
    UsageError,
    command,
    member_data,
)
from commands.common.i18n import N_
from commands.common.tries import TryLimit
from commands.options import Number, Options, Words
from storage import actions as action_store
from storage.hub import codes
from storage.hub import members as store

CODE_DAYS = 14  # a code's default life
MAX_VOUCH_LIMIT = 20
WRONG_CODES = TryLimit("hub-guess", limit=5, window=timedelta(hours=1))  # per sender, in memory only
NEW_OPTIONS = Options({"uses": Number(1, 10_000), "expires": Words()})
ON_WORDS = ("on", "si", "sí")
OFF_WORDS = ("off", "no")
CONFIRM_WORDS = ("confirm", "confirmar")
WRONG_CODE = N_("That code doesn't work: it is wrong, used up, expired or revoked. Ask a coordinator (or the "
                "coworker who gave it to you) for a new one.")


def week_of(now: datetime) -> int:
    return int(now.timestamp()) // (7 * 86400)


def _in_dm(ctx: Context, text: str) -> None:
    if not ctx.room.is_dm:
        raise CommandError(ctx._(text).format(prefix=ctx.prefix))


def _where_codes_show(ctx: Context) -> None:
    """Codes are shown in the home room or a coordinator's DM, never in an ordinary room."""
    home = ctx.shell.campaign().home
    if not ctx.room.is_dm and (home is None or home.room_id != ctx.room.room_id):
        raise CommandError(ctx._("Invite codes are shown only in the home room or in your DM with me."))


# ---------------------------------------------------------------- joining


@command("join", usage=N_("<code>"), summary=N_("Join the campaign with an invite code, in a DM with me."),
         example=N_("7K2M-9QXD-4HFA-T3WZ"), aliases=("unirme",),
         details=N_("Anyone who DMs me a good code becomes a campaign member without being in any room: "
                    "you use every member command here, and campaign news reaches you here. Nobody in the "
                    "campaign's rooms sees you; the homeserver sees that you talk to me."))
async def join(ctx: Context, args: Args) -> list[Output]:
    _in_dm(ctx, N_("Send your code to me in a direct message, not in a room."))
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Give the invite code you were sent."))
    if await store.is_member(ctx.db, ctx.member):
        return [Reply(ctx._("You are a member already. `{prefix}help` lists what you can do.").format(
            prefix=ctx.prefix))]
    if WRONG_CODES.blocked(ctx.member, ctx.now):
        return [Reply(ctx._("Too many codes that don't work. Wait an hour, then try again."))]
    if not await codes.redeem(ctx.db, ctx.keyring, args.tokens[0], ctx.now):
        WRONG_CODES.count(ctx.member, ctx.now)
        return [Reply(ctx._(WRONG_CODE))]
    await store.add(ctx.db, ctx.member)
    return [Reply(ctx._(
        "Welcome: you are a member of the campaign now, here in this DM. Nobody in the campaign's rooms sees "
        "you. Campaign news comes here (`{prefix}quiet on` stops it); `{prefix}ask <question>` reaches the "
        "coordinators without your name; `{prefix}help` lists the rest; `{prefix}leave` ends your membership "
        "and deletes what I hold of yours.").format(prefix=ctx.prefix))]


@command("quiet", usage=N_("on|off"), summary=N_("Stop (or resume) campaign news in our DM."),
         example=N_("on"), aliases=("silencio",),
         details=N_("Broadcasts, announcements, poll results and reminders stop coming to our DM; answers to "
                    "your commands and to your questions still come."))
async def quiet(ctx: Context, args: Args) -> list[Output]:
    word = args.tokens[0].lower() if len(args.tokens) == 1 else ""
    if word not in ON_WORDS + OFF_WORDS:
        raise UsageError(ctx._("Say `on` or `off`."))
    on = word in ON_WORDS
    await store.set_quiet(ctx.db, ctx.member, on)
    if on:
        return [Reply(ctx._("Quiet: no campaign news in our DM until you type `{prefix}quiet off`.").format(
            prefix=ctx.prefix), private=True)]
    return [Reply(ctx._("Campaign news comes to our DM again."), private=True)]


@command("leave", usage=N_("[confirm]"), summary=N_("End your membership by code and delete everything of yours."),
         example=N_("confirm"), aliases=("salir",))
async def leave(ctx: Context, args: Args) -> list[Output]:
    _in_dm(ctx, N_("Type `{prefix}leave` in our DM."))
    if len(args.tokens) != 1 or args.tokens[0].lower() not in CONFIRM_WORDS:
        return [Reply(ctx._("This ends your membership and deletes your pledges, answers, questions, reminders and "
                            "choices for good, as `{prefix}forget` does. Type `{prefix}leave confirm` to go "
                            "ahead.").format(prefix=ctx.prefix))]
    by_code = await store.is_member(ctx.db, ctx.member)
    deleted = 0
    for source in MEMBER_DATA.values():
        deleted += await source.forget(ctx)
    ctx.db.checkpoint_after_commit()
    done = ctx.ngettext("Deleted {n} record that belonged to you.", "Deleted {n} records that belonged to you.",
                        deleted).format(n=deleted)
    if by_code:
        return [Reply(ctx._("You have left the campaign.") + " " + done)]
    return [Reply(done + " " + ctx._("You are still a member through the campaign's rooms you are in: leave them "
                                     "in your app to stop being one."))]


# ---------------------------------------------------------------- codes


@command("codes", usage="", summary=N_("Invite codes still good: uses left and expiry."),
         role=Role.COORDINATOR, aliases=("codigos",),
         details=N_("Never who used them. Shown only in the home room or your DM with me. "
                    "`codes new` makes codes, `codes revoke` revokes one."))
async def codes_list(ctx: Context, args: Args) -> list[Output]:
    if args.tokens and args.tokens[0].lower() in ("nuevo", "nuevos"):  # the Spanish subcommands
        return await codes_new(ctx, Args(args.tokens[1:], args.rest.split(None, 1)[1] if len(args.tokens) > 1 else ""))
    if args.tokens and args.tokens[0].lower() == "revocar":
        return await codes_revoke(ctx, Args(args.tokens[1:], ""))
    _where_codes_show(ctx)
    found = await codes.listing(ctx.db, ctx.now)
    if not found:
        return [Reply(ctx._("No invite codes are good now. `{prefix}codes new` makes one.").format(prefix=ctx.prefix))]
    lines = ["**" + ctx._("Invite codes") + "**"]
    for info in found:
        line = ctx.ngettext("`{label}…`: {n} use left, until {when}", "`{label}…`: {n} uses left, until {when}",
                            info.uses_left).format(label=info.label, n=info.uses_left,
                                                   when=ctx.show_time(info.expires_at))
        lines.append("• " + line + (" " + ctx._("(a member's vouch)") if info.vouched else ""))
    lines.append(ctx._("The first characters are a label, not the code's start: `{prefix}codes revoke <label>` "
                       "revokes one.").format(prefix=ctx.prefix))
    return [Reply("\n".join(lines))]


@command("codes new", aliases=('codigos nuevo', 'códigos nuevo'), usage=N_("[count] [--uses N] [--expires WHEN]"),
         summary=N_("Make invite codes (default: 1 code, 1 use, 14 days)."), role=Role.COORDINATOR,
         example=N_("5 --uses 1 --expires in 7 days"))
async def codes_new(ctx: Context, args: Args) -> list[Output]:
    _where_codes_show(ctx)
    found = NEW_OPTIONS.parse(args.rest, ctx.prefix, ctx._)
    if len(found.words) > 1 or (found.words and not found.words[0].isdigit()):
        raise UsageError(ctx._("Give how many codes to make, a whole number from 1 to 50."))
    count = int(found.words[0]) if found.words else 1
    if not 1 <= count <= 50:
        raise CommandError(ctx._("Give how many codes to make, a whole number from 1 to 50."))
    uses = int(found.get("uses", 1))
    expires = ctx.now + timedelta(days=CODE_DAYS)
    if "expires" in found:
        expires = ctx.read_time(found["expires"]).utc
    made = await codes.create(ctx.db, ctx.keyring, count, uses, expires)
    head = ctx.ngettext("Made {n} invite code, good for {uses} use(s) each until {when}:",
                        "Made {n} invite codes, good for {uses} use(s) each until {when}:", count).format(
        n=count, uses=uses, when=ctx.show_time(expires))
    tail = ctx._("Give each to one person, privately; they send `{prefix}join <code>` to me in a DM.").format(
        prefix=ctx.prefix)
    return [Reply("\n".join([head, *(f"`{c}`" for c in made), tail]))]


@command("codes revoke", aliases=('codigos revocar', 'códigos revocar'), usage=N_("<code or label>"), summary=N_("Revoke an invite code."),
         role=Role.COORDINATOR, example=N_("7K2M"))
async def codes_revoke(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Give the code, or its label from `{prefix}codes`.").format(prefix=ctx.prefix))
    gone = await codes.revoke(ctx.db, ctx.keyring, args.tokens[0])
    if not gone:
        raise CommandError(ctx._("No good code has that code or label. Nothing was changed."))
    return [Reply(ctx.ngettext("Revoked {n} code.", "Revoked {n} codes.", gone).format(n=gone))]


# ---------------------------------------------------------------- vouching


@command("vouch", usage="", summary=N_("Get a one-use invite code for a coworker you trust."),
         aliases=("avalar",),
         details=N_("A few a week per member (the coordinators set how many). I keep only how many you asked "
                    "for this week, never for whom."))
async def vouch(ctx: Context, args: Args) -> list[Output]:
    if args.tokens and args.tokens[0].lower() in ("limite", "límite"):  # the Spanish subcommand
        return await vouch_limit(ctx, Args(args.tokens[1:], ""))
    if args.tokens:
        raise UsageError(ctx._("`{prefix}vouch` takes nothing after it.").format(prefix=ctx.prefix))
    week, limit = week_of(ctx.now), await store.vouch_limit(ctx.db)
    await store.expire_vouches(ctx.db, week)
    if await store.vouches(ctx.db, ctx.member, week) >= limit:
        raise CommandError(ctx.ngettext("You have had {n} code this week, the most a member may. Try next week.",
                                        "You have had {n} codes this week, the most a member may. Try next week.",
                                        limit).format(n=limit))
    expires = ctx.now + timedelta(days=CODE_DAYS)
    made = (await codes.create(ctx.db, ctx.keyring, 1, 1, expires, vouched=True))[0]
    await store.add_vouch(ctx.db, ctx.member, week)
    text = ctx._("Your invite code for a coworker: `{code}` (one use, until {when}). Give it to them privately; "
                 "they send `{prefix}join {code}` to me in a DM. I don't keep who you gave it to.").format(
        code=made, when=ctx.show_time(expires), prefix=ctx.prefix)
    if ctx.room.is_dm:
        return [Reply(text)]
    return [Reply(ctx._("I sent you the code in a direct message."), private=True), DirectMessage(text)]


@command("vouch limit", aliases=('avalar limite', 'avalar límite'), usage=N_("<n>"), summary=N_("How many codes a member may get a week by vouching."),
         role=Role.COORDINATOR, example=N_("2"))
async def vouch_limit(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1 or not args.tokens[0].isdigit() or int(args.tokens[0]) > MAX_VOUCH_LIMIT:
        raise UsageError(ctx._("Give a whole number from 0 to {most}.").format(most=MAX_VOUCH_LIMIT))
    limit = int(args.tokens[0])
    await store.set_vouch_limit(ctx.db, limit)
    return [Reply(ctx._("Members may now get {n} invite code(s) a week by vouching.").format(n=limit))]


# ---------------------------------------------------------------- actions heard in DMs


@command("action dms", aliases=('acción dms', 'accion dms'), usage=N_("<n> add|remove"),
         summary=N_("Send action #n's reminders to members who joined by code too (or stop)."),
         role=Role.COORDINATOR, example=N_("12 add"))
async def action_dms(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 2 or not args.tokens[0].lstrip("#").isdigit() or \
            args.tokens[1].lower() not in ("add", "remove", "agregar", "quitar"):
        raise UsageError(ctx._("Give the action's number and `add` or `remove`."))
    number, on = int(args.tokens[0].lstrip("#")), args.tokens[1].lower() in ("add", "agregar")
    action = await action_store.get_action(ctx.db, ctx.keyring, number)
    if on and (action is None or action.cancelled):
        raise CommandError(ctx._("There is no upcoming action #{n}.").format(n=number))
    await store.mark_action(ctx.db, number, on)
    if on:
        return [Reply(ctx._("Members who joined by code will get #{n}'s reminders in their DM.").format(n=number))]
    return [Reply(ctx._("Members who joined by code no longer get #{n}'s reminders.").format(n=number))]


@member_data("hub")
class HubData:
    """Membership by code, the quiet flag, this week's vouch count."""

    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        found = []
        if await store.is_member(ctx.db, ctx.member):
            found.append(ctx._("That you joined the campaign with a code (not which code, nor when)."))
        if await store.is_quiet(ctx.db, ctx.member):
            found.append(ctx._("That you asked for no campaign news in our DM (`quiet on`)."))
        n = await store.vouches(ctx.db, ctx.member, week_of(ctx.now))
        if n:
            found.append(ctx.ngettext("That you got {n} invite code this week by vouching (not for whom).",
                                      "That you got {n} invite codes this week by vouching (not for whom).",
                                      n).format(n=n))
        return found

    @staticmethod
    async def forget(ctx: Context) -> int:
        return await store.forget(ctx.db, ctx.member)
