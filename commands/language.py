"""!lang (!idioma) and !room lang: which language the bot writes to a member and in a room;
!tz (!zona) and !room tz: which time zone it reads their times in and shows times in.

A member's choice applies to what the bot writes to them in their DM; in a room the bot writes
in the room's language, which a campaign coordinator sets (default ``BOT_DEFAULT_LANGUAGE``).
The member's choice is member data, sealed under their keyed reference (``storage/prefs.py``):
``!mydata`` lists it, ``!forget`` deletes it. News the bot sends to many readers at once
(announcements, reminders) is rendered per destination (``commands.base.Localized``): each room in
its language, each DM in its member's, never in the language of the member who caused it.

A time zone follows the same rule (``Context.tz``): a time typed without a zone is in the
member's zone in their DM, the room's in a room, else ``BOT_DEFAULT_TIMEZONE``; stored times are
shown in that zone when the member (or the room) chose one, else in the zone they were set in.
"""

from __future__ import annotations

from commands.base import Args, Context, Output, Parsed, Reply, Role, UsageError, code, command, member_data
from commands.common.i18n import LANGUAGES, N_, language, translations
from commands.common.sensitive import own_answer
from commands.common.zones import get_zone
from storage import prefs
from storage.db import Database
from storage.hashing import Keyring, Member


async def _reader_pref(db: Database, keyring: Keyring, name: str, room_id: str, is_dm: bool,
                       member: Member | None) -> str | None:
    """A reader's preference: the member's own in their DM, the room's in a room."""
    if is_dm:
        return None if member is None else await prefs.member_pref(db, keyring, member, name)
    return await prefs.room_pref(db, keyring, room_id, name)


async def reader_language(db: Database, keyring: Keyring, default: str, room_id: str, is_dm: bool,
                          member: Member | None) -> str:
    """The language of what the bot writes to this reader: the member's own in their DM, the
    room's in a room, else ``default``."""
    chosen = await _reader_pref(db, keyring, prefs.LANGUAGE, room_id, is_dm, member)
    return chosen if chosen in LANGUAGES else default


async def member_zone(ctx: Context) -> str | None:
    """The asking member's own zone wherever they type (their personal reminders are shown in it)."""
    return await prefs.member_pref(ctx.db, ctx.keyring, ctx.member, prefs.ZONE)


async def reader_zone(db: Database, keyring: Keyring, room_id: str, is_dm: bool, member: Member | None) -> str | None:
    """The time zone this reader chose (``Context.tz``): the member's own in their DM, the room's
    in a room; ``None`` when none was chosen (then ``BOT_DEFAULT_TIMEZONE`` applies)."""
    return await _reader_pref(db, keyring, prefs.ZONE, room_id, is_dm, member)


FIRST_CONTACT = N_("I answer you in Spanish because you wrote a command in Spanish. For English, type "
                   "`{prefix}lang en`.")
_KEEPS_NO_CHOICE = ("lang", "forget")  # choosing a language, deleting one's data: nothing is stored for them


async def first_contact(db: Database, keyring: Keyring, member: Member, room_id: str, is_dm: bool,
                        parsed: Parsed, lang: str) -> tuple[str, str | None]:
    """The language to answer this command in, and a note (marked text) to add to the answer.

    A member who has not chosen a language and types a command by a Spanish-only name
    (``!aquí``, ``!encuesta crear``) is answered in Spanish, in their DM and in a room whose
    language nobody chose. Spanish then becomes their language, stored as if they had typed
    ``!idioma es`` (member data: ``!misdatos`` lists it, ``!olvidar`` deletes it), and this
    first answer says once how to switch (``!idioma en``)."""
    if lang == "es" or not parsed.spanish or parsed.command is None:
        return lang, None
    if not is_dm and await prefs.room_pref(db, keyring, room_id, prefs.LANGUAGE) is not None:
        return lang, None  # a room whose coordinators chose its language keeps it
    if await prefs.member_pref(db, keyring, member, prefs.LANGUAGE) is not None:
        return lang, None  # the member chose
    if parsed.command.name in _KEEPS_NO_CHOICE:
        return "es", None
    async with db.transaction():
        await prefs.set_member_pref(db, keyring, member, prefs.LANGUAGE, "es")
    return "es", FIRST_CONTACT


# a language's name inside a sentence, in the reader's language ("te escribo en español")
_NAMED = {"en": N_("English"), "es": N_("Spanish")}


def _named(ctx: Context, lang: str | None) -> str:
    return ctx._(_NAMED.get(lang or "", _NAMED[ctx.settings.BOT_DEFAULT_LANGUAGE]))


def _choices(ctx: Context) -> str:
    return ", ".join(f"`{lang}` ({_named(ctx, lang)})" for lang in LANGUAGES)


_MEMBER_SET = {"en": N_("From now on I write to you in English in our DM."),
               "es": N_("From now on I write to you in Spanish in our DM.")}
_ROOM_SET = {"en": N_("From now on I write in English in this room."),
             "es": N_("From now on I write in Spanish in this room.")}
LANG_DETAILS = N_("Your choice is used when I write to you in our DM; in a room I write in the room's "
                  "language. `{prefix}forget` deletes your choice with the rest of your data.")


@command("lang", usage="[en|es]", summary=N_("Choose the language I write to you in."), example="es",
         details=LANG_DETAILS, aliases=("idioma",))
async def lang(ctx: Context, args: Args) -> list[Output]:
    return await own_answer(ctx, lambda own: _lang(own, args), "lang")


async def _lang(ctx: Context, args: Args) -> str:
    if not args.tokens:
        current = await prefs.member_pref(ctx.db, ctx.keyring, ctx.member, prefs.LANGUAGE)
        shown = _named(ctx, current)
        return ctx._("I write to you in {language}. Languages: {choices}. Type `{prefix}lang es` to "
                     "change it.").format(language=shown, choices=_choices(ctx), prefix=ctx.prefix)
    chosen = language(" ".join(args.tokens)) if len(args.tokens) == 1 else None
    if chosen is None:
        raise UsageError(ctx._("I don't offer {language}. Languages: {choices}.").format(
            language=code(args.rest, 30), choices=_choices(ctx)))
    async with ctx.db.transaction():
        await prefs.set_member_pref(ctx.db, ctx.keyring, ctx.member, prefs.LANGUAGE, chosen)
    said = translations(chosen).gettext  # answered in the language just chosen
    text = said(_MEMBER_SET[chosen])
    if not ctx.room.is_dm:
        text += " " + said(N_("In a room I keep to the room's language."))
    return text


@command("room lang", usage="[en|es]", summary=N_("Set the language I write in, in this room."),
         role=Role.COORDINATOR, example="es",
         details=N_("Announcements, reminders, broadcasts and answers to commands typed here use it."),
         aliases=("sala idioma",))
async def room_lang(ctx: Context, args: Args) -> list[Output]:
    if ctx.room.is_dm:
        raise UsageError(ctx._("Type this in the room whose language you want to set; in our DM, "
                               "`{prefix}lang` sets yours.").format(prefix=ctx.prefix))
    if not args.tokens:
        current = await prefs.room_pref(ctx.db, ctx.keyring, ctx.room.room_id, prefs.LANGUAGE)
        shown = _named(ctx, current)
        return [Reply(ctx._("This room's language is {language}. Languages: {choices}.").format(
            language=shown, choices=_choices(ctx)))]
    chosen = language(" ".join(args.tokens)) if len(args.tokens) == 1 else None
    if chosen is None:
        raise UsageError(ctx._("I don't offer {language}. Languages: {choices}.").format(
            language=code(args.rest, 30), choices=_choices(ctx)))
    async with ctx.db.transaction():
        await prefs.set_room_pref(ctx.db, ctx.keyring, ctx.room.room_id, prefs.LANGUAGE, chosen)
    return [Reply(translations(chosen).gettext(_ROOM_SET[chosen]))]


TZ_DETAILS = N_("In our DM I read the times you type without a zone in your zone, and show you times in it; in "
                "a room I use the room's zone. Without a choice I use the bot's default zone. `{prefix}forget` "
                "deletes your choice with the rest of your data.")


@command("tz", usage=N_("[zone]"), summary=N_("Choose the time zone I read and show your times in."),
         example="America/Chicago", details=TZ_DETAILS, aliases=("zona",))
async def tz(ctx: Context, args: Args) -> list[Output]:
    return await own_answer(ctx, lambda own: _tz(own, args), "tz")


async def _tz(ctx: Context, args: Args) -> str:
    if not args.tokens:
        current = await prefs.member_pref(ctx.db, ctx.keyring, ctx.member, prefs.ZONE)
        if current is None:
            text = ctx._("You haven't chosen a time zone; I use `{zone}`. Choose yours with `{prefix}tz` and its "
                         "name, like `{prefix}tz America/Chicago`.")
        else:
            text = ctx._("Your time zone is `{zone}`: it is {now} for you. Change it with `{prefix}tz` and a "
                         "zone's name, like `{prefix}tz America/Chicago`.")
        zone = current or ctx.default_zone
        return text.format(zone=zone, now=ctx.show_time(ctx.now, zone=zone), prefix=ctx.prefix)
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Give one zone name, like `{prefix}tz America/Chicago`.").format(prefix=ctx.prefix))
    zone = get_zone(args.tokens[0], ctx.lang).key
    async with ctx.db.transaction():
        await prefs.set_member_pref(ctx.db, ctx.keyring, ctx.member, prefs.ZONE, zone)
    text = ctx._("From now on I read and show your times in `{zone}` in our DM: it is {now} for you.").format(
        zone=zone, now=ctx.show_time(ctx.now, zone=zone))
    if not ctx.room.is_dm:
        text += " " + ctx._("In a room I keep to the room's time zone.")
    return text


@command("room tz", usage=N_("[zone]"),
         summary=N_("Set the time zone I read and show times in, in this room."), role=Role.COORDINATOR,
         example="America/Chicago",
         details=N_("Times typed here without a zone are read in the room's zone, and times I show here are in it."),
         aliases=("sala zona",))
async def room_tz(ctx: Context, args: Args) -> list[Output]:
    if ctx.room.is_dm:
        raise UsageError(ctx._("Type this in the room whose time zone you want to set; in our DM, `{prefix}tz` sets "
                               "yours.").format(prefix=ctx.prefix))
    if not args.tokens:
        current = await prefs.room_pref(ctx.db, ctx.keyring, ctx.room.room_id, prefs.ZONE)
        zone = current or ctx.default_zone
        return [Reply(ctx._("This room's time zone is `{zone}`: it is {now} here.").format(
            zone=zone, now=ctx.show_time(ctx.now, zone=zone)))]
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Give one zone name, like `{prefix}room tz America/Chicago`.").format(
            prefix=ctx.prefix))
    zone = get_zone(args.tokens[0], ctx.lang).key
    async with ctx.db.transaction():
        await prefs.set_room_pref(ctx.db, ctx.keyring, ctx.room.room_id, prefs.ZONE, zone)
    return [Reply(ctx._("From now on I read and show times in `{zone}` in this room: it is {now} here.").format(
        zone=zone, now=ctx.show_time(ctx.now, zone=zone)))]


@member_data("prefs")
class PrefsData:
    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        chosen = await prefs.member_prefs(ctx.db, ctx.keyring, ctx.member)
        lines = []
        if prefs.LANGUAGE in chosen:
            lines.append(ctx._("Your language: {language}.").format(
                language=_named(ctx, chosen[prefs.LANGUAGE])))
        if prefs.ZONE in chosen:
            lines.append(ctx._("Your time zone: {zone}.").format(zone=code(chosen[prefs.ZONE])))
        return lines

    @staticmethod
    async def forget(ctx: Context) -> int:
        return await prefs.forget_member(ctx.db, ctx.member)
