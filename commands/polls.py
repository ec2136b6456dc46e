"""Anonymous polls (issue #19): a campaign coordinator asks, members vote (best in a DM), and
the result is shown only after the poll closes, only as the small-cell rule allows.

Decisions where the issue left room:

* **Slugs** follow the pledges' rule (1-32 of ``a-z``, ``0-9``, ``-``); ``create``, ``close``
  and ``rooms`` are refused. A poll has 2 to 10 options; the question and options are sealed.
* **Votes** can be changed until the poll closes (voting again replaces the vote); ``!vote
  <slug>`` shows your own vote. In a room the answer names nobody, carries no reply relation and
  the command is redacted (as for ``!pledge``).
* **No figure while open**: not even the number of voters, so watching a count move cannot tell
  who just voted. At the close the votes are counted once and the shown result is kept
  (``commands.common.smallcell.suppress_votes``); with fewer than k voters there is no result.
* **The close** (by ``--closes`` or ``!poll close``) is announced once, to the poll's rooms, in
  the next announcement round (``bot/runtime/sending/outputs.py``), in each room's language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commands.base import (
    Announce,
    Args,
    CommandError,
    Context,
    Env,
    HubNews,
    Output,
    Reply,
    Role,
    UsageError,
    closest,
    code,
    command,
    due_source,
    export_hook,
    member_data,
    names,
    retention_hook,
)
from commands.common.i18n import DEFAULT, LANGUAGES, N_, translations
from commands.common.sensitive import own_answer
from commands.common.smallcell import exact_from, in_words, suppress_votes
from commands.common.words import room_verb
from commands.options import Flag, Options, Words
from commands.pledges.parsing import SLUG  # one rule for pledge and poll names
from storage import polls as store
from storage.polls import Poll

MAX_OPTIONS = 10
MAX_TEXT = 200
CREATE_OPTIONS = Options({"closes": Words(), "multi": Flag()}, free_text=True)


def member_purpose(poll_id: int) -> str:
    return f"poll:{poll_id}"


async def _find(ctx: Context, raw: str) -> Poll:
    slug = raw.strip().lower()
    poll = await store.by_slug(ctx.db, ctx.keyring, slug) if SLUG.fullmatch(slug) else None
    if poll is not None and await _takes_part(ctx, poll.id):
        return poll
    text = ctx._("No poll {slug}.").format(slug=code(raw, 40))
    hint = closest(slug, [p.slug for p in await store.all_polls(ctx.db, ctx.keyring)  # only polls they see
                          if p.slug != slug and await _takes_part(ctx, p.id)])
    if hint:
        text += " " + ctx._("Did you mean {slug}?").format(slug=code(hint))
    raise CommandError(text)


async def _takes_part(ctx: Context, poll_id: int) -> bool:
    """A poll belongs to its rooms: the members joined to one of them (and campaign coordinators)
    see it and vote in it; a poll asked in the home room is the coordinators', not everyone's."""
    if ctx.role >= Role.COORDINATOR:
        return True
    return bool(set(await store.rooms(ctx.db, ctx.keyring, poll_id)) & ctx.shell.rooms_of(ctx.member))


def _numbered(poll: Poll) -> str:
    return "\n".join(f"{i}. {option}" for i, option in enumerate(poll.options, 1))


def _result_lines(poll: Poll, _: Any) -> list[str]:
    """The kept result, in the reader's language (``_``: their catalog's gettext)."""
    result = poll.result or {}
    if not result.get("options"):
        floor = result.get("floor", result.get("k", "k"))  # results kept before 2k-1 say k
        return [_(N_("No result: fewer than {k} voted, so showing it could point at them.")).format(k=floor)]
    lines = [f"{i}. {option}: {in_words(str(shown), _)}"
             for i, (option, shown) in enumerate(zip(poll.options, result["options"], strict=False), 1)]
    lines.append(_(N_("Voters: {voters}")).format(voters=in_words(str(result["voters"]), _)))
    return lines


# ---------------------------------------------------------------- commands

CREATE_DETAILS = N_(
    "The question, then each option after a `|` (2 to 10 options). `--multi`: members may choose several options. "
    "`--closes WHEN`: I close it by myself then. Members vote with `vote <slug> <n>`, best in a DM with me; "
    "nobody sees any figure until the poll closes, and then only as the minimum group size allows."
)


@command("poll create", usage=N_("<slug> <question> | <option> | <option> … [--closes WHEN] [--multi]"),
         summary=N_("Start an anonymous poll."), role=Role.COORDINATOR,
         example=N_("strike Should we strike on Friday? | Yes | No | Not yet --closes thursday 18:00"),
         details=CREATE_DETAILS, aliases=("encuesta crear",))
async def poll_create(ctx: Context, args: Args) -> list[Output]:
    given = CREATE_OPTIONS.parse(args.rest, ctx.prefix, ctx._, ctx.lang)
    parts = [part.strip() for part in given.text.split("|")]
    head, options = parts[0], [o for o in parts[1:] if o]
    slug, _, question = head.partition(" ")
    slug, question = slug.lower(), question.strip()
    if not slug or not question or len(options) < 2:
        raise UsageError(ctx._("Give a short name, the question and at least two options, each after a `|`."))
    if not SLUG.fullmatch(slug) or slug in names().words_of("poll"):
        raise CommandError(ctx._("{slug} can't be a poll name: use up to 32 lowercase letters, digits and `-` "
                                 "(not `create`, `close` or `rooms`).").format(slug=code(slug)))
    if len(options) > MAX_OPTIONS:
        raise CommandError(ctx._("A poll has at most {n} options.").format(n=MAX_OPTIONS))
    if len(question) > MAX_TEXT or any(len(o) > MAX_TEXT for o in options):
        raise CommandError(ctx._("Keep the question and each option under {n} characters.").format(n=MAX_TEXT))
    closes = None
    if "closes" in given:
        closes = ctx.read_time(str(given["closes"]).strip("\"'"))
    async with ctx.db.transaction():
        if await store.by_slug(ctx.db, ctx.keyring, slug) is not None:
            raise CommandError(ctx._("There is already a poll {slug}. Pick another name.").format(slug=code(slug)))
        poll_id = await store.create(ctx.db, ctx.keyring, slug, question, options, "multi" in given,
                                     closes.utc if closes else None)
        await store.add_room(ctx.db, ctx.keyring, poll_id, ctx.room.room_id)
    poll = await store.by_slug(ctx.db, ctx.keyring, slug)
    assert poll is not None
    if closes is not None:
        ctx.wake("scheduler")
    return [Reply(_posted(ctx, poll))]


def _heading(ctx: Context, poll: Poll) -> str:
    return "🗳️ **" + ctx._("Poll {slug}").format(slug=code(poll.slug)) + f"**: {poll.question}"


def _posted(ctx: Context, poll: Poll) -> str:
    how = (ctx._("Vote with `{prefix}vote {slug} <n>` (several: `{prefix}vote {slug} 1,3`), best in a DM with me.")
           if poll.multi else ctx._("Vote with `{prefix}vote {slug} <n>`, best in a DM with me."))
    lines = [_heading(ctx, poll), _numbered(poll),
             how.format(prefix=ctx.prefix, slug=poll.slug),
             ctx._("Nobody sees any figure until the poll closes.")]
    if poll.closes_at is not None:
        lines.append(ctx._("Closes {when}.").format(when=ctx.show_time(poll.closes_at)))
    return "\n".join(lines)


@command("vote", usage=N_("<slug> <n>[,<n>…]"), summary=N_("Vote in a poll (best in a DM with me)."),
         example=N_("strike 1"),
         details=N_("Voting again replaces your vote until the poll closes. `vote <slug>` shows your own vote."),
         aliases=("votar",))
async def vote(ctx: Context, args: Args) -> list[Output]:
    return await own_answer(ctx, lambda own: _vote(own, args), "vote", redact=True)


async def _vote(ctx: Context, args: Args) -> str:
    if not args.tokens:
        raise UsageError(ctx._("Name the poll and the option, like `{prefix}vote strike 1`.").format(prefix=ctx.prefix))
    poll = await _find(ctx, args.tokens[0])
    ref = ctx.member.ref(member_purpose(poll.id))
    if len(args.tokens) == 1:
        mine = await store.vote_of(ctx.db, poll.id, ref)
        if mine is None:
            return ctx._("You have not voted in {slug}.").format(slug=code(poll.slug))
        return ctx._("Your vote in {slug}: {choices}.").format(
            slug=code(poll.slug), choices=", ".join(f"{n}. {poll.options[n - 1]}" for n in mine))
    if poll.closed:
        raise CommandError(ctx._("Poll {slug} is closed. `{prefix}poll {name}` shows the result.").format(
            slug=code(poll.slug), prefix=ctx.prefix, name=poll.slug))
    raw = "".join(args.tokens[1:])
    try:
        choices = sorted({int(part) for part in raw.split(",") if part})
    except ValueError:
        choices = []
    if not choices or any(not 1 <= n <= len(poll.options) for n in choices):
        raise CommandError(ctx._("Choose by number, from 1 to {n}.").format(n=len(poll.options)))
    if len(choices) > 1 and not poll.multi:
        raise CommandError(ctx._("This poll takes one option: choose one number."))
    async with ctx.db.transaction():
        changed = await store.vote(ctx.db, poll.id, ref, choices)
    said = (ctx._("Your vote in {slug} was changed.") if changed else ctx._("Your vote in {slug} was recorded."))
    return said.format(slug=code(poll.slug)) + " " + ctx._("You can change it until the poll closes.")


@command("poll", usage=N_("<slug>"), summary=N_("A poll's question and options; its result once closed."),
         example=N_("strike"), aliases=("encuesta", "encuesta ver"))
async def poll_show(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Name one poll."))
    poll = await _find(ctx, args.tokens[0])
    lines = [_heading(ctx, poll)]
    if poll.closed:
        lines.append(ctx._("Closed. Result:"))
        lines.extend(_result_lines(poll, ctx._))
    else:
        lines.append(_numbered(poll))
        lines.append(ctx._("Open: the result is shown when it closes. Vote with `{prefix}vote {slug} <n>`.").format(
            prefix=ctx.prefix, slug=poll.slug))
    return [Reply("\n".join(lines))]


@command("polls", usage="", summary=N_("Open polls."), aliases=("encuestas",))
async def polls_list(ctx: Context, args: Args) -> list[Output]:
    found = [p for p in await store.open_polls(ctx.db, ctx.keyring) if await _takes_part(ctx, p.id)]
    if not found:
        return [Reply(ctx._("There are no open polls."))]
    lines = [f"{code(p.slug)} — {p.question}" for p in found]
    return [Reply("**" + ctx._("Open polls") + "**\n" + "\n".join(lines))]


@command("poll close", usage=N_("<slug>"), summary=N_("Close a poll and announce its result."),
         role=Role.COORDINATOR, example=N_("strike"), aliases=("encuesta cerrar",))
async def poll_close(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Name the poll to close."))
    poll = await _find(ctx, args.tokens[0])
    async with ctx.db.transaction():
        outputs = await close_poll(ctx.db, ctx.keyring, poll, ctx.now, ctx.settings.BOT_MIN_CELL)
    if not outputs:
        raise CommandError(ctx._("Poll {slug} is already closed.").format(slug=code(poll.slug)))
    ctx.wake("scheduler")
    return [Reply(ctx._("Closed. I announce the result in the poll's rooms shortly.")), *outputs]


@command("poll rooms", usage=N_("<slug> add|remove"), summary=N_("Post a poll in this room too (or stop)."),
         role=Role.COORDINATOR, example=N_("strike add"), aliases=("encuesta salas",))
async def poll_rooms(ctx: Context, args: Args) -> list[Output]:
    verb = room_verb(args.tokens[1]) if len(args.tokens) == 2 else None
    if verb is None:
        raise UsageError(ctx._("Name the poll, then `add` or `remove`."))
    poll = await _find(ctx, args.tokens[0])
    async with ctx.db.transaction():
        if verb == "remove":
            removed = await store.remove_room(ctx.db, ctx.keyring, poll.id, ctx.room.room_id)
            return [Reply(ctx._("This room no longer gets the result of {slug}.").format(slug=code(poll.slug))
                          if removed else ctx._("This room wasn't getting {slug}.").format(slug=code(poll.slug)))]
        if poll.closed:
            raise CommandError(ctx._("Poll {slug} is already closed.").format(slug=code(poll.slug)))
        if not await store.add_room(ctx.db, ctx.keyring, poll.id, ctx.room.room_id):
            return [Reply(ctx._("This room already gets {slug}.").format(slug=code(poll.slug)))]
    return [Reply(_posted(ctx, poll))]


# ---------------------------------------------------------------- closing, member data, retention, export


async def close_poll(db: Any, keyring: Any, poll: Poll, now: datetime, k: int) -> list[Output]:
    """Count once, keep the shown result, announce it to the poll's rooms in the next round;
    ``[]`` if it was closed already."""
    voters, counts = await store.count(db, poll.id, len(poll.options))
    shown = suppress_votes(voters, counts, k, poll.multi)
    result: dict[str, Any] = ({"k": k, "voters": shown[0], "options": shown[1]} if shown
                              else {"k": k, "floor": exact_from(k)})
    if not await store.close(db, poll.id, now, result):
        return []
    closed = Poll(poll.id, poll.slug, poll.question, poll.options, poll.multi, poll.closes_at, True, result)

    def render(lang: str) -> str:
        _ = translations(lang).gettext
        head = _(N_("🗳️ **Poll {slug} has closed**: {question}")).format(slug=code(poll.slug), question=poll.question)
        return "\n".join([head, *_result_lines(closed, _)])

    rendered = {lang: render(lang) for lang in LANGUAGES}

    def text(lang: str) -> str:
        return rendered.get(lang, rendered[DEFAULT])

    return [Announce(text, tuple(await store.rooms(db, keyring, poll.id)), all_dms=False), HubNews(text)]


@due_source("polls")
class PollCloses:
    next_due = staticmethod(store.next_close)

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        outputs: list[Output] = []
        for poll in await store.due(env.db, env.keyring, env.now):
            outputs += await close_poll(env.db, env.keyring, poll, env.now, env.settings.BOT_MIN_CELL)
        return outputs


@member_data("polls")
class PollData:
    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        found = []
        for poll in await store.all_polls(ctx.db, ctx.keyring):
            mine = await store.vote_of(ctx.db, poll.id, ctx.member.ref(member_purpose(poll.id)))
            if mine is not None:
                found.append(ctx._("Your vote in poll {slug}: {choices}.").format(
                    slug=code(poll.slug), choices=", ".join(str(n) for n in mine)))
        return found

    @staticmethod
    async def forget(ctx: Context) -> int:
        removed = 0
        for poll in await store.all_polls(ctx.db, ctx.keyring):
            removed += await store.unvote(ctx.db, poll.id, ctx.member.ref(member_purpose(poll.id)))
        return removed


retention_hook("polls")(store.delete_closed_before)


@export_hook("polls")
async def _export(env: Env) -> dict[str, Any]:
    """Closed polls' kept results (already suppressed); open polls show nothing."""
    return {"polls": [{"slug": p.slug, "open": not p.closed, "result": p.result if p.closed else None}
                      for p in await store.all_polls(env.db, env.keyring)]}
