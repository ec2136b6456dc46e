"""!privacy, !mydata, !forget: what the bot keeps, and the member's control over it."""

from __future__ import annotations

from commands.base import MEMBER_DATA, Args, Context, Output, Reply, command, member_data
from commands.common.i18n import N_
from commands.common.sensitive import own_answer
from storage import core
from storage import undecrypted as unread

PRIVACY_TEXT = N_("""**What I store and what I never store**
• I never store your Matrix ID, your display name or the text of your messages. My database holds only keyed hashes (HMAC) of member IDs, made with a secret key that is kept outside the database and differs for every purpose, so two pledges cannot be linked to each other or to you without that key.
• What I keep: which pledges and roll-calls a hashed member joined (and the employer you gave), scheduled actions, and personal reminders (their delivery room encrypted).
• Counts I show are aggregates: any group smaller than {k} is pooled or shown as "fewer than {k}", so nobody's answer can be singled out — not even by coordinators or admins.
• My end-to-end-encryption store (needed to read and send encrypted messages) holds the device lists of people in rooms with me. It is protected by a separate key.
• The homeserver still sees who sent a message, when, and reply/thread links. For sensitive commands (`{p}pledge`, `{p}here`) message me in an encrypted DM; in rooms I answer without naming or replying to you and remove your message where I may.
• `{p}mydata` shows what I hold about you; `{p}forget` deletes it.""")


@command("privacy", usage="", summary=N_("What I store, and what I never store."), aliases=("privacidad",))
async def privacy(ctx: Context, args: Args) -> list[Output]:
    text = ctx._(PRIVACY_TEXT).format(k=ctx.settings.BOT_MIN_CELL, p=ctx.prefix)
    fingerprint = ctx.shell.master_key_fingerprint()
    if fingerprint:
        text += "\n• " + ctx._("My cross-signing key fingerprint: `{fingerprint}`. Compare it with the one your "
                               "coordinators published.").format(fingerprint=fingerprint)
    return [Reply(text)]


@command("mydata", usage="", summary=N_("Everything I hold that belongs to you."),
         details=N_("Best asked in a DM with me: the answer lists your pledges and answers."),
         aliases=("misdatos", "mis datos"))
async def mydata(ctx: Context, args: Args) -> list[Output]:
    return await own_answer(ctx, _mydata, "mydata")


async def _mydata(ctx: Context) -> str:
    found: list[str] = []
    for source in MEMBER_DATA.values():
        found.extend(await source.describe(ctx))
    if not found:
        return ctx._("I hold nothing that belongs to you.")
    text = "**" + ctx._("What I hold that belongs to you") + "**\n" + "\n".join(f"• {line}" for line in found)
    return text + "\n" + ctx._("Type `{prefix}forget` to delete it.").format(prefix=ctx.prefix)


CONFIRM_WORDS = ("confirm", "confirmar")


@command("forget", usage=N_("[confirm]"), summary=N_("Delete everything I hold that belongs to you."),
         example=N_("confirm"), aliases=("olvidar",))
async def forget(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1 or args.tokens[0].lower() not in CONFIRM_WORDS:
        return [Reply(ctx._("This deletes your pledges, roll-call answers, personal reminders and language choice "
                            "for good. Type `{prefix}forget confirm` to go ahead.").format(prefix=ctx.prefix),
                      private=True)]

    async def deleted(own: Context) -> str:
        count = 0
        for source in MEMBER_DATA.values():
            count += await source.forget(own)
        own.db.checkpoint_after_commit()  # the WAL's older images of those rows go right after the commit
        return own.ngettext("Done: deleted {n} record that belonged to you.",
                            "Done: deleted {n} records that belonged to you.", count).format(n=count)

    return await own_answer(ctx, deleted, "forget")


@member_data("undecrypted")
class UnreadData:
    """Messages of the member's the bot could not decrypt yet (kept at most two days, by the
    member's keyed reference) and the day they were last told about one (a member flag)."""

    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        found = []
        waiting = await unread.count_of(ctx.db, ctx.member)
        if waiting:
            found.append(ctx.ngettext(
                "{n} message of yours that I could not decrypt yet, kept (encrypted) until your app sends me "
                "its key, at most {days} days.",
                "{n} messages of yours that I could not decrypt yet, kept (encrypted) until your app sends me "
                "their key, at most {days} days.", waiting).format(n=waiting, days=unread.KEEP_DAYS))
        if await core.member_flag(ctx.db, ctx.member, unread.TOLD_FLAG) is not None:
            found.append(ctx._("A note of the day I told you a message of yours could not be read (so I say it "
                               "once a day)."))
        return found

    @staticmethod
    async def forget(ctx: Context) -> int:
        return (await unread.forget_member(ctx.db, ctx.member)
                + await core.forget_member_flag(ctx.db, ctx.member, unread.TOLD_FLAG))


@member_data("unverified device")
class UnverifiedDeviceNote:
    """That the member was told, once, that their device is not cross-signed (strict mode)."""

    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        if await core.member_flag(ctx.db, ctx.member, core.TOLD_UNTRUSTED_FLAG) is None:
            return []
        return [ctx._("A note that I told you your device is not verified (so I say it only once).")]

    @staticmethod
    async def forget(ctx: Context) -> int:
        return await core.forget_member_flag(ctx.db, ctx.member, core.TOLD_UNTRUSTED_FLAG)
