"""The anonymous hotline (issue 26): a member asks the coordinators from their DM; the home room
reads "Question Q12: …" naming nobody; a coordinator answers or blocks by number.

The question's text is quoted as plain text (:func:`plain_quote`): one line, length-capped, no
mini-markup, no ``@`` a client could take for a mention, sent as a notice without any reply
relation. Neither text is stored: they pass through the outbox only. The number's sealed link to
the asker's DM is ``storage/hub/hotline.py``'s.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from commands.base import (
    Args,
    CommandError,
    Context,
    Env,
    Output,
    Post,
    Reply,
    Role,
    UsageError,
    command,
    due_source,
    localized,
    member_data,
)
from commands.common.i18n import N_
from commands.common.tries import TryLimit
from storage.db import Database
from storage.hub import hotline as store

MAX_QUESTION = 1000  # characters a member may type
QUOTED = 500  # characters of it the home room reads
ASKS = TryLimit("hotline-tries", limit=5, window=timedelta(days=1))  # per member, in memory only
_NUMBER = re.compile(r"[#qQ]?(\d{1,9})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069]+")

QUESTION_TEXT = N_("Question Q{n} (from a member; I don't say who): “{question}”\nAnswer with `{prefix}answer Q{n} "
                   "<text>`; stop this member's questions with `{prefix}block Q{n}`.")
FOLLOW_UP_TEXT = N_("Follow-up to question Q{n}: “{question}”")
ANSWER_TEXT = N_("The coordinators answered your question Q{n}: “{answer}”")
BLOCKED_TEXT = N_("The coordinators have stopped your questions. Nobody learned who you are.")


def plain_quote(text: str, limit: int = QUOTED) -> str:
    """A member's text as one plain line: control and invisible characters and line breaks become
    spaces, backticks and ``**`` lose their markup meaning, ``@`` cannot start a mention or a
    room ping, and it is cut to ``limit`` characters."""
    cleaned = " ".join(_CONTROL.sub(" ", text).split())
    cleaned = cleaned.replace("`", "'").replace("**", "*\u2060*").replace("@", "@\u2060")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _number(ctx: Context, token: str) -> int:
    found = _NUMBER.fullmatch(token)
    if found is None:
        raise UsageError(ctx._("Give the question's number, like `Q12`."))
    return int(found.group(1))


@command("ask", usage=N_("<question>"), summary=N_("Ask the coordinators something, without your name (in a DM)."),
         example=N_("Is the meeting on Friday open to night shift?"), aliases=("preguntar",),
         details=N_("The home room reads your question with a number, naming nobody; the answer comes back to "
                    "our DM. Asking again while your question is open adds to it under the same number."))
async def ask(ctx: Context, args: Args) -> list[Output]:
    if not ctx.room.is_dm:
        raise CommandError(ctx._("Ask in our DM, so nobody here sees who asks."))
    text = args.rest.strip()
    if not text:
        raise UsageError(ctx._("Write your question after the command."))
    if len(text) > MAX_QUESTION:
        raise CommandError(ctx._("That question is too long (over {n} characters). Shorten it.").format(
            n=MAX_QUESTION))
    if await store.is_blocked(ctx.db, ctx.member):
        raise CommandError(ctx._(BLOCKED_TEXT))
    home = ctx.shell.campaign().home
    if home is None:
        raise CommandError(ctx._("The campaign has no home room yet, so nobody can read questions."))
    if ASKS.blocked(ctx.member, ctx.now):
        raise CommandError(ctx._("You have asked several questions today; wait a day before the next one."))
    ASKS.count(ctx.member, ctx.now)
    follow_up = bool(await store.mine(ctx.db, ctx.keyring, ctx.member))
    number = await store.ask(ctx.db, ctx.keyring, ctx.member, ctx.room.room_id, ctx.now)
    quoted = plain_quote(text)
    if follow_up:
        post = localized(FOLLOW_UP_TEXT, n=number, question=quoted)
        said = ctx._("Added to your question Q{n}; the coordinators read it without your name.")
    else:
        post = localized(QUESTION_TEXT, n=number, question=quoted, prefix=ctx.prefix)
        said = ctx._("Sent to the coordinators as question Q{n}, without your name. Their answer will come here.")
    ctx.wake("scheduler")
    return [Reply(said.format(n=number)), Post(home.room_id, post)]


@command("answer", usage=N_("Q<n> <text>"), summary=N_("Answer a hotline question; the asker gets it in their DM."),
         role=Role.COORDINATOR, example=N_("Q12 Yes, night shift is welcome."), aliases=("responder",))
async def answer(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) < 2:
        raise UsageError(ctx._("Give the question's number and your answer."))
    number = _number(ctx, args.tokens[0])
    text = args.rest.split(None, 1)[1].strip()
    if len(text) > MAX_QUESTION:
        raise CommandError(ctx._("That answer is too long (over {n} characters). Shorten it.").format(n=MAX_QUESTION))
    link = await store.link(ctx.db, ctx.keyring, number)
    if link is None:
        raise CommandError(ctx._("Question Q{n} can't be answered: it was never asked, its asker deleted it, or it "
                                 "was answered long ago.").format(n=number))
    await store.answered(ctx.db, number, ctx.now, ctx.settings.BOT_QUESTION_RETENTION_DAYS)
    ctx.wake("scheduler")
    return [Post(link.room_id, localized(ANSWER_TEXT, n=number, answer=plain_quote(text, MAX_QUESTION))),
            Reply(ctx._("Your answer to Q{n} is on its way to the asker.").format(n=number))]


@command("block", usage=N_("Q<n>"), summary=N_("Stop the asker of a hotline question from asking more."),
         role=Role.COORDINATOR, example=N_("Q12"), aliases=("bloquear",),
         details=N_("Nobody learns who they are, not even you: they are told, in their DM, that their questions "
                    "were stopped."))
async def block(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Give the question's number, like `Q12`."))
    number = _number(ctx, args.tokens[0])
    link = await store.link(ctx.db, ctx.keyring, number)
    if link is None:
        raise CommandError(ctx._("I no longer know who asked Q{n}; nothing was changed.").format(n=number))
    if not await store.block(ctx.db, link.who):
        return [Reply(ctx._("The asker of Q{n} was blocked already.").format(n=number))]
    return [Post(link.room_id, localized(BLOCKED_TEXT)),
            Reply(ctx._("The asker of Q{n} can't ask more questions; they were told so, and nobody learned who "
                        "they are.").format(n=number))]


@due_source("hotline")
class HotlineDue:
    """The links of answered (and long-unanswered) questions are deleted when their day comes."""

    @staticmethod
    async def next_due(db: Database) -> datetime | None:
        return await store.next_delete(db)

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        await store.purge(env.db, env.now)
        return []


@member_data("hotline")
class HotlineData:
    """Questions whose link to the member's DM is still kept, and a block."""

    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        found = []
        for link in await store.mine(ctx.db, ctx.keyring, ctx.member):
            if link.answered:
                found.append(ctx._("The link from your answered question Q{n} to our DM (encrypted), deleted {days} "
                                   "days after the answer.").format(n=link.number,
                                                                    days=ctx.settings.BOT_QUESTION_RETENTION_DAYS))
            else:
                found.append(ctx._("The link from your open question Q{n} to our DM (encrypted), so the answer "
                                   "reaches you.").format(n=link.number))
        if await store.is_blocked(ctx.db, ctx.member):
            found.append(ctx._("That the coordinators stopped your questions."))
        return found

    @staticmethod
    async def forget(ctx: Context) -> int:
        return await store.forget(ctx.db, ctx.keyring, ctx.member)
