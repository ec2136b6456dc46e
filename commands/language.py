"""!lang (!idioma) and !room lang: which language the bot writes to a member and in a room.

A member's choice applies to what the bot writes to them in their DM; in a room the bot writes
in the room's language, which a campaign coordinator sets (default ``BOT_DEFAULT_LANGUAGE``).
The member's choice is member data, sealed under their keyed reference (``storage/prefs.py``):
``!mydata`` lists it, ``!forget`` deletes it. News the bot sends to many readers at once
(announcements, reminders) is rendered per destination (``commands.base.Localized``): each room in
its language, each DM in its member's, never in the language of the member who caused it.
"""

from __future__ import annotations

from commands.base import Args, Context, Output, Reply, Role, UsageError, code, command, member_data
from commands.common.i18n import LANGUAGES, N_, language, translations
from storage import prefs
from storage.db import Database
from storage.hashing import Keyring, Member


async def reader_language(db: Database, keyring: Keyring, default: str, room_id: str, is_dm: bool,
                          member: Member | None) -> str:
    """The language of what the bot writes to this reader: the member's own in their DM, the
    room's in a room, else ``default``."""
    if is_dm:
        if member is None:
            return default
        chosen = await prefs.member_pref(db, keyring, member, prefs.LANGUAGE)
    else:
        chosen = await prefs.room_pref(db, keyring, room_id, prefs.LANGUAGE)
    return chosen if chosen in LANGUAGES else default


def _choices() -> str:
    return ", ".join(f"`{lang}` ({name})" for lang, name in LANGUAGES.items())


_MEMBER_SET = {"en": N_("From now on I write to you in English in our DM."),
               "es": N_("From now on I write to you in Spanish in our DM.")}
_ROOM_SET = {"en": N_("From now on I write in English in this room."),
             "es": N_("From now on I write in Spanish in this room.")}
LANG_DETAILS = N_("Your choice is used when I write to you in our DM; in a room I write in the room's "
                  "language. `{prefix}forget` deletes your choice with the rest of your data.")


@command("lang", usage="lang [en|es]", summary=N_("Choose the language I write to you in."),
         example="lang es", details=LANG_DETAILS, aliases=("idioma",))
async def lang(ctx: Context, args: Args) -> list[Output]:
    if not args.tokens:
        current = await prefs.member_pref(ctx.db, ctx.keyring, ctx.member, prefs.LANGUAGE)
        shown = LANGUAGES.get(current or ctx.settings.BOT_DEFAULT_LANGUAGE, "English")
        return [Reply(ctx._("I write to you in {language}. Languages: {choices}. Type `{prefix}lang es` to "
                            "change it.").format(language=shown, choices=_choices(), prefix=ctx.prefix),
                      private=True)]
    chosen = language(" ".join(args.tokens)) if len(args.tokens) == 1 else None
    if chosen is None:
        raise UsageError(ctx._("I don't offer {language}. Languages: {choices}.").format(
            language=code(args.rest, 30), choices=_choices()))
    async with ctx.db.transaction():
        await prefs.set_member_pref(ctx.db, ctx.keyring, ctx.member, prefs.LANGUAGE, chosen)
    said = translations(chosen).gettext  # answered in the language just chosen
    text = said(_MEMBER_SET[chosen])
    if not ctx.room.is_dm:
        text += " " + said(N_("In this room I keep to the room's language."))
    return [Reply(text, private=True)]


@command("room lang", usage="room lang [en|es]", summary=N_("Set the language I write in, in this room."),
         role=Role.COORDINATOR, example="room lang es",
         details=N_("Announcements, reminders, broadcasts and answers to commands typed here use it."))
async def room_lang(ctx: Context, args: Args) -> list[Output]:
    if ctx.room.is_dm:
        raise UsageError(ctx._("Type this in the room whose language you want to set; in our DM, "
                               "`{prefix}lang` sets yours.").format(prefix=ctx.prefix))
    if not args.tokens:
        current = await prefs.room_pref(ctx.db, ctx.keyring, ctx.room.room_id, prefs.LANGUAGE)
        shown = LANGUAGES.get(current or ctx.settings.BOT_DEFAULT_LANGUAGE, "English")
        return [Reply(ctx._("This room's language is {language}. Languages: {choices}.").format(
            language=shown, choices=_choices()))]
    chosen = language(" ".join(args.tokens)) if len(args.tokens) == 1 else None
    if chosen is None:
        raise UsageError(ctx._("I don't offer {language}. Languages: {choices}.").format(
            language=code(args.rest, 30), choices=_choices()))
    async with ctx.db.transaction():
        await prefs.set_room_pref(ctx.db, ctx.keyring, ctx.room.room_id, prefs.LANGUAGE, chosen)
    return [Reply(translations(chosen).gettext(_ROOM_SET[chosen]))]


@member_data("prefs")
class PrefsData:
    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        chosen = await prefs.member_pref(ctx.db, ctx.keyring, ctx.member, prefs.LANGUAGE)
        if chosen is None:
            return []
        return [ctx._("Your language: {language}.").format(language=LANGUAGES.get(chosen, chosen))]

    @staticmethod
    async def forget(ctx: Context) -> int:
        return await prefs.forget_member(ctx.db, ctx.member)
