"""Pledges: "Sign the open letter" (goal 500), conditional pledges ("I will walk out if 100
others do") and per-workplace thresholds ("…if 50 at my company do"). The handlers are here;
:mod:`.parsing` reads ``pledge create``, :mod:`.figures` is what the counts look like when shown
(and when they are published).

Decisions where the issue left room:

* **Slugs** are 1-32 characters ``a-z``, ``0-9`` and ``-``, starting with a letter or digit;
  typed upper case is lowered. ``create``, ``info``, ``close`` and ``rooms`` (the two-word
  subcommands) are refused. A slug stays taken until retention deletes the closed pledge, so
  ``pledge info`` after a close still shows the final result.
* **Options** of ``pledge create``: ``--goal N``, ``--threshold N`` (whole numbers above 0;
  ``--name=value`` works too), ``--per-company``, and ``--deadline WHEN``, where WHEN is every
  word after ``--deadline`` up to the next ``--option`` (quotes are optional).
* **Thresholds and goals** must be at least 2k-1 (``BOT_MIN_CELL`` = k; the smallest figure shown
  exactly, ``smallcell.exact_from``): announcing that a threshold was met reveals that at least
  that many people signed (per company: at that company), and whoever adds k-1 signatures of
  their own must not learn that fewer than k others signed.
* **Announce rooms**: the creation room (sealed), plus rooms a coordinator adds by typing
  ``pledge rooms <slug> add`` there (which also posts the pledge there). Threshold notices and
  the final result go to those rooms and to every DM the bot has (:class:`Announce`).
* **Shown counts** follow the one small-cell rule: an ordinary pledge's total of 1..k-1 reads
  "fewer than k" in acknowledgements, lists, info, results and the export (the first signers
  would otherwise be counted one by one). For per-company pledges every overall figure is the
  rule's total text, because an exact total next to suppressed company rows would reveal the
  pooled small companies by subtraction.
* **Unknown companies** (issue #23) are kept only as ``~`` and a keyed reference
  (``storage.directory.unlisted_key``), never by name nor by normalized key, and are always
  pooled with "Other companies"; their thresholds are never announced. A company shows by name
  only through the directory or a coordinator's ``company alias`` made before its signatures.
* **In rooms**, ``pledge``/``unpledge`` answers (including errors) carry no reply relation, the
  command is redacted when ``BOT_REDACT_SENSITIVE``, and problems with a company name are
  explained by DM rather than echoing an employer into the room.
* Closed pledges (or ones past their deadline) cannot be signed or withdrawn from; the final
  result stands, and ``forget`` still deletes a member's rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commands.base import (
    REGISTRY,
    Announce,
    Args,
    CommandError,
    Context,
    DirectMessage,
    Env,
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
    retention_hook,
)
from commands.common.i18n import N_, sentence
from commands.common.rounds import figures_changed
from commands.common.sensitive import sensitive
from commands.common.smallcell import UNLISTED_COMPANY, exact_from
from commands.common.words import room_verb
from commands.pledges.figures import (
    CLOSED_BY_COORDINATOR,
    DEADLINE_REACHED,
    announce_rooms,
    close_pledge,
    company_lines,
    crossings,
    figures_of,
    have_signed,
    progress_line,
    tally,
    threshold_state,
)
from commands.pledges.parsing import SLUG, parse_create
from storage import pledges as store
from storage import published
from storage.directory import directory, normalize, unlisted_key
from storage.pledges import Pledge

MAX_COMPANY = 80


ROUND_NOTE = N_("The figures everyone sees, yours included, follow at the next announcement round, so they "
                "never point at the moment you signed.")


def member_purpose(pledge_id: int) -> str:
    """The per-pledge purpose of signer rows: ``ctx.member.ref(member_purpose(id))``."""
    return f"pledge:{pledge_id}"


# ---------------------------------------------------------------- lookups


async def open_list(ctx: Context) -> str:
    pledges = await store.open_pledges(ctx.db, ctx.keyring)
    if not pledges:
        return ctx._("There are no open pledges.")
    return ctx._("Open pledges: {slugs}.").format(slugs=", ".join(code(p.slug) for p in pledges))


async def find(ctx: Context, raw: str) -> Pledge:
    slug = raw.strip().lower()
    pledge = await store.by_slug(ctx.db, ctx.keyring, slug) if SLUG.fullmatch(slug) else None
    if pledge is not None:
        return pledge
    text = ctx._("No pledge {slug}.").format(slug=code(raw, 40))
    hint = closest(slug, await store.all_slugs(ctx.db))
    if hint:
        text += " " + ctx._("Did you mean {slug}?").format(slug=code(hint))
    raise CommandError(text + "\n" + await open_list(ctx))


def accepting(pledge: Pledge, now: datetime) -> bool:
    return pledge.is_open and (pledge.deadline is None or pledge.deadline > now)


# ---------------------------------------------------------------- commands

SIGN_DETAILS = N_(
    "Best typed in an encrypted DM with me: there nobody else sees it. In a room I record it, answer without "
    "naming or replying to you, and remove your message if I may. For a per-company pledge add your employer "
    "(`AWS` counts for Amazon); company figures are shown only for groups of at least the minimum size. "
    "`unpledge <slug>` withdraws your signature, `pledges` lists open pledges."
)


@command("pledge", usage=N_("<slug> [company]"), summary=N_("Sign a pledge (best in a DM with me)."),
         example=N_("letter"), details=SIGN_DETAILS, aliases=("firmar",))
async def pledge_sign(ctx: Context, args: Args) -> list[Output]:
    return await _sensitive(ctx, lambda: _sign(ctx, args))


@command("unpledge", usage=N_("<slug>"), summary=N_("Withdraw your signature from a pledge."),
         example=N_("letter"),
         details=N_("Works in a DM with me or in a room (your message is removed there)."),
         aliases=("retirar",))
async def unpledge(ctx: Context, args: Args) -> list[Output]:
    return await _sensitive(ctx, lambda: _unsign(ctx, args))


class _CompanyProblem(CommandError):
    """A problem with the employer given: explained by DM when asked in a room."""


async def _sensitive(ctx: Context, work: Any) -> list[Output]:
    """Sign or withdraw through :func:`commands.base.sensitive`; in a room a problem with the
    employer given is explained by DM rather than echoing an employer into the room."""

    async def guarded() -> list[Output]:
        try:
            outputs: list[Output] = await work()
            return outputs
        except _CompanyProblem as exc:
            if ctx.room.is_dm:
                raise
            return [Reply(ctx._("I couldn't record that; I sent you the reason in a direct message."), private=True),
                    DirectMessage(str(exc))]

    return await sensitive(ctx, guarded, "pledge")


async def _resolve_company(ctx: Context, slug: str, text: str) -> tuple[str, str]:
    text = " ".join(text.split())
    if len(text) > MAX_COMPANY:
        raise _CompanyProblem(ctx._("That company name is too long; keep it under {n} characters.").format(
            n=MAX_COMPANY))
    found = await directory(ctx.db)
    company = found.resolve(text)
    if company is not None:
        return company.key, company.display
    close = found.suggest(text)
    if close:
        names = " / ".join(f"**{c}**" for c in close)
        raise _CompanyProblem(ctx._(
            "I don't know the company {company}. Did you mean {names}? Type `{prefix}pledge {slug} {first}`. If yours "
            "is a different company, ask a coordinator to add it with `{prefix}company alias`. Nothing was recorded."
        ).format(company=code(text), names=names, prefix=ctx.prefix, slug=slug, first=close[0]))
    if not normalize(text):
        raise _CompanyProblem(ctx._("A company name needs letters or digits. Nothing was recorded."))
    return unlisted_key(ctx.keyring, text), ""  # no name kept; pooled, never shown (issue #23)


async def _sign(ctx: Context, args: Args) -> list[Output]:
    if not args.tokens:
        raise UsageError(ctx._("Name the pledge to sign.") + " " + await open_list(ctx))
    pledge = await find(ctx, args.tokens[0])
    if not accepting(pledge, ctx.now):
        raise CommandError(ctx._("Pledge {slug} is closed. `{prefix}pledge info {name}` shows the result.").format(
            slug=code(pledge.slug), prefix=ctx.prefix, name=pledge.slug))
    company_text = " ".join(args.tokens[1:]).strip()
    company: str | None = None
    display = ""
    if pledge.per_company:
        if not company_text:
            raise CommandError(ctx._(
                "Pledge {slug} counts signatures per workplace: add your employer, like `{prefix}pledge {name} Amazon` "
                "(best in a DM with me). Nothing was recorded.").format(slug=code(pledge.slug), prefix=ctx.prefix,
                                                                         name=pledge.slug))
        company, display = await _resolve_company(ctx, pledge.slug, company_text)
    elif company_text:
        raise CommandError(ctx._("Pledge {slug} doesn't ask for a company: type `{prefix}pledge {name}`. Nothing "
                                 "was recorded.").format(slug=code(pledge.slug), prefix=ctx.prefix, name=pledge.slug))
    ref = ctx.member.ref(member_purpose(pledge.id))
    async with ctx.db.transaction():
        if not await store.sign(ctx.db, pledge.id, ref, company):
            text = ctx._("You already signed {slug}. Nothing was changed.").format(slug=code(pledge.slug))
            if pledge.per_company:
                text += " " + ctx._("To change your company, `{prefix}unpledge {name}` first.").format(
                    prefix=ctx.prefix, name=pledge.slug)
            return [Reply(text, private=True)]
        if company is not None and display:
            await store.note_company(ctx.db, pledge.id, company, display)
        outputs = await crossings(ctx.db, ctx.keyring, pledge, company, ctx.settings.BOT_MIN_CELL)
        await figures_changed(ctx)
        t = await tally(ctx.db, pledge, ctx.settings.BOT_MIN_CELL, with_rows=False)
    text = ctx._("A pledge to {slug} was recorded. {signed}.").format(slug=code(pledge.slug),
                                                                       signed=sentence(have_signed(t, ctx._)))
    if ctx.room.is_dm and company is not None:
        text += " " + ctx._("(Counted for {company}.)").format(company=display or ctx._(UNLISTED_COMPANY))
    if ctx.settings.BOT_ANNOUNCE_DELAY_MAX:
        text += " " + ctx._(ROUND_NOTE)
    return [Reply(text, private=True), *outputs]


async def _unsign(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Name the pledge to withdraw from, like `{prefix}unpledge letter`.").format(
            prefix=ctx.prefix))
    pledge = await find(ctx, args.tokens[0])
    if not accepting(pledge, ctx.now):
        raise CommandError(ctx._("Pledge {slug} is closed and its result stands. `{prefix}forget` deletes "
                                 "everything I hold about you.").format(slug=code(pledge.slug), prefix=ctx.prefix))
    async with ctx.db.transaction():
        removed = await store.unsign(ctx.db, pledge.id, ctx.member.ref(member_purpose(pledge.id)))
        if removed:
            await figures_changed(ctx)
        t = await tally(ctx.db, pledge, ctx.settings.BOT_MIN_CELL, with_rows=False)
    if not removed:
        return [Reply(ctx._("You had not signed {slug}. Nothing was changed.").format(slug=code(pledge.slug)),
                      private=True)]
    return [Reply(ctx._("Your pledge to {slug} was withdrawn. {signed}.").format(
        slug=code(pledge.slug), signed=sentence(have_signed(t, ctx._))), private=True)]


CREATE_DETAILS = N_(
    "The name is 1-32 lowercase letters, digits and dashes (not `create`, `info`, `close` or `rooms`); the "
    "title is the rest. `--goal N`: the number you aim for (shown as a progress bar). `--threshold N`: the "
    "pledge becomes active when N have signed, announced once here, in rooms added with `pledge rooms`, and "
    "in every DM I have (so receiving it says nothing about who signed). `--per-company`: members name their "
    "employer and the threshold counts per company. A threshold is at least the minimum group size. "
    "`--deadline WHEN`: every word after it up to the next `--option` is the time (`Dec 31`, `in 2 weeks`, "
    "`2026-12-01 17:00 America/New_York`); the pledge closes then by itself and the result is announced."
)


@command("pledge create",
         usage=N_("<slug> <title…> [--goal N] [--threshold N] [--per-company] [--deadline WHEN]"),
         summary=N_("Start a pledge."), role=Role.COORDINATOR,
         example=N_("walkout-dec1 I will walk out on Dec 1 if 100 others do --threshold 100 --deadline Nov 30 18:00 America/New_York"),
         details=CREATE_DETAILS, aliases=("compromiso crear",))
async def pledge_create(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    request = parse_create(args.rest, ctx.prefix, _, ctx.lang)
    k = exact_from(ctx.settings.BOT_MIN_CELL)  # the smallest figure ever shown exactly
    if request.goal is not None and request.goal < k:
        raise CommandError(_("A goal must be at least {k}: reaching a smaller one would tell how many signed, "
                             "and groups under {k} are never shown. Nothing was created.").format(k=k))
    if request.threshold is not None and request.threshold < k:
        raise CommandError((_("A threshold must be at least {k}: announcing that it was met tells how many signed "
                              "at a company, and groups under {k} are never shown. Nothing was created.")
                            if request.per_company else
                            _("A threshold must be at least {k}: announcing that it was met tells how many signed, "
                              "and groups under {k} are never shown. Nothing was created.")).format(k=k))
    deadline = None
    zone = ctx.zone
    if request.deadline is not None:
        when = ctx.read_time(request.deadline)
        deadline, zone = when.utc, when.zone.key
    async with ctx.db.transaction():
        if await store.by_slug(ctx.db, ctx.keyring, request.slug) is not None:
            raise CommandError(_("There is already a pledge {slug}. Pick another name.").format(
                slug=code(request.slug)))
        pledge_id = await store.create(
            ctx.db, ctx.keyring, slug=request.slug, title=request.title,
            goal=request.goal, threshold=request.threshold, per_company=request.per_company,
            deadline=deadline, zone=zone, now=ctx.now,
        )
        await store.add_room(ctx.db, ctx.keyring, pledge_id, ctx.room.room_id)
    facts = []
    if request.goal:
        facts.append(_("goal {goal}").format(goal=request.goal))
    if request.threshold:
        facts.append((_("threshold {threshold} per company") if request.per_company
                      else _("threshold {threshold}")).format(threshold=request.threshold))
    elif request.per_company:
        facts.append(_("counted per company"))
    if deadline is not None:
        facts.append(_("deadline {when}").format(when=ctx.show_time(when)))
    p = ctx.prefix
    text = (_("Created pledge {slug}: “{title}”").format(slug=code(request.slug), title=request.title)
            + (f"\n{' · '.join(facts)}" if facts else "")
            + "\n" + _("Sign with `{sign}`, best in a DM with me. Withdraw with `{prefix}unpledge {name}`.").format(
                sign=_sign_line(ctx, request.slug, request.per_company), prefix=p, name=request.slug))
    if deadline is not None:
        ctx.wake("scheduler")
    return [Reply(text)]


def _sign_line(ctx: Context, slug: str, per_company: bool) -> str:
    """The command that signs a pledge, as shown inside a code span (``<company>`` in the reader's words)."""
    return f"{ctx.prefix}{REGISTRY['pledge'].shown_name(ctx.lang)} {slug}" + (
        " " + ctx._("<company>") if per_company else "")


@command("pledges", usage="", summary=N_("Open pledges and how far they are."), aliases=("compromisos",))
async def pledges_list(ctx: Context, args: Args) -> list[Output]:
    pledges = await store.open_pledges(ctx.db, ctx.keyring)
    if not pledges:
        return [Reply(ctx._("There are no open pledges."))]
    k = ctx.settings.BOT_MIN_CELL
    blocks = []
    found = await published.shown(ctx.db, [p.id for p in pledges])  # as of the last round, one query
    for pledge in pledges:
        t = await tally(ctx.db, pledge, k, found[pledge.id], with_rows=False)
        line = await progress_line(ctx.db, pledge, t, found[pledge.id], ctx._, ctx.lang, ctx.tz)
        blocks.append(f"{code(pledge.slug)} — {pledge.title}\n{line}")
    footer = "\n" + ctx._("Sign with `{prefix}pledge <slug>`, best in a DM with me.").format(prefix=ctx.prefix)
    return [Reply("**" + ctx._("Open pledges") + "**\n" + "\n".join(blocks) + footer)]


@command("pledge info", usage=N_("<slug>"), summary=N_("Details of one pledge."), example=N_("letter"),
         aliases=("compromiso", "compromiso ver"))
async def pledge_info(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Name one pledge.") + " " + await open_list(ctx))
    pledge = await find(ctx, args.tokens[0])
    found = await figures_of(ctx.db, pledge)
    t = await tally(ctx.db, pledge, ctx.settings.BOT_MIN_CELL, found)
    if pledge.is_open:
        heading = ctx._("**Pledge {slug}** (open): “{title}”")
    elif pledge.closed_at:  # kept to the day (issue #17)
        heading = ctx._("**Pledge {slug}** (closed on {day}): “{title}”")
    else:
        heading = ctx._("**Pledge {slug}** (closed): “{title}”")
    day = pledge.closed_at.date().isoformat() if pledge.closed_at else ""
    lines = [heading.format(slug=code(pledge.slug), title=pledge.title, day=day),
             await progress_line(ctx.db, pledge, t, found, ctx._, ctx.lang, ctx.tz)]
    if pledge.deadline and not pledge.is_open:
        lines.append(ctx._("Deadline was {when}.").format(when=ctx.show_time(pledge.deadline, pledge.zone) if pledge.deadline else ""))
    if t.companies is not None:
        lines.append(ctx._("By company:"))
        lines.extend(company_lines(t.companies, ctx._))
    if pledge.is_open:
        sign = f"{ctx.prefix}pledge {pledge.slug}" + (" <company>" if pledge.per_company else "")
        lines.append(ctx._("Sign with `{command}`, best in a DM with me.").format(command=sign))
    return [Reply("\n".join(lines))]


@command("pledge close", usage=N_("<slug>"), summary=N_("Close a pledge and post its result."),
         role=Role.COORDINATOR, example=N_("letter"), aliases=("compromiso cerrar",))
async def pledge_close(ctx: Context, args: Args) -> list[Output]:
    if len(args.tokens) != 1:
        raise UsageError(ctx._("Name the pledge to close."))
    pledge = await find(ctx, args.tokens[0])
    async with ctx.db.transaction():
        outputs = await close_pledge(ctx.db, ctx.keyring, pledge, ctx.now, ctx.settings.BOT_MIN_CELL,
                                     CLOSED_BY_COORDINATOR)
    if not outputs:
        raise CommandError(ctx._("Pledge {slug} is already closed.").format(slug=code(pledge.slug)))
    announced = outputs[0]
    if isinstance(announced, Announce) and ctx.room.room_id not in announced.room_ids:
        text = announced.text
        outputs.append(Reply(text if isinstance(text, str) else text(ctx.lang)))
    ctx.wake("scheduler")
    return outputs


@command("pledge rooms", usage=N_("<slug> [add|remove]"), summary=N_("Where a pledge's news is announced."),
         role=Role.COORDINATOR, example=N_("letter add"),
         details=N_("`add` (typed in another room) posts the pledge there and announces its threshold and result "
                    "there too; `remove` stops that. Without a word, lists the rooms. Every DM I have always gets "
                    "them."), aliases=("compromiso salas",))
async def pledge_rooms(ctx: Context, args: Args) -> list[Output]:
    _ = ctx._
    if len(args.tokens) not in (1, 2):
        raise UsageError(_("Name the pledge, then `add` or `remove`."))
    pledge = await find(ctx, args.tokens[0])
    action = (room_verb(args.tokens[1]) or args.tokens[1].lower()) if len(args.tokens) == 2 else "list"
    if action == "add":
        if not pledge.is_open:
            raise CommandError(_("Pledge {slug} is closed.").format(slug=code(pledge.slug)))
        async with ctx.db.transaction():
            added = await store.add_room(ctx.db, ctx.keyring, pledge.id, ctx.room.room_id)
            t = await tally(ctx.db, pledge, ctx.settings.BOT_MIN_CELL)
        if not added:
            return [Reply(_("This room already gets the news of {slug}.").format(slug=code(pledge.slug)))]
        return [Reply("📣 " + _("**Pledge {slug}**: “{title}”").format(slug=code(pledge.slug), title=pledge.title)
                      + "\n" + await progress_line(ctx.db, pledge, t, _=_) + "\n"
                      + _("Sign with `{sign}`, best in a DM with me. News of this pledge will be announced "
                          "here.").format(sign=_sign_line(ctx, pledge.slug, pledge.per_company)))]
    if action == "remove":
        async with ctx.db.transaction():
            removed = await store.remove_room(ctx.db, ctx.keyring, pledge.id, ctx.room.room_id)
        return [Reply((_("This room no longer gets the news of {slug}.") if removed
                       else _("This room wasn't getting the news of {slug}.")).format(slug=code(pledge.slug)))]
    if action != "list":
        raise UsageError(_("{word} is not `add` or `remove`.").format(word=code(action, 20)))
    names = {v.room_id: v.name for v in ctx.shell.rooms()}
    rooms = await announce_rooms(ctx.db, ctx.keyring, pledge)
    shown = [code(names[r], 60) if r in names else _("a room I have left") for r in rooms]
    if not shown:
        return [Reply(_("News of {slug} goes to every DM I have and to no room.").format(slug=code(pledge.slug)))]
    return [Reply(_("News of {slug} goes to every DM I have and to: {rooms}.").format(
        slug=code(pledge.slug), rooms=", ".join(shown)))]


# ---------------------------------------------------------------- deadlines, member data, retention, export


@due_source("pledges")
class PledgeDeadlines:
    next_due = staticmethod(store.next_deadline)  # (db) -> the earliest due time, or None

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        outputs: list[Output] = []
        for pledge in await store.due(env.db, env.keyring, env.now):
            outputs += await close_pledge(env.db, env.keyring, pledge, env.now, env.settings.BOT_MIN_CELL,
                                          DEADLINE_REACHED)
        return outputs


@member_data("pledges")
class PledgeData:
    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        found = []
        for pledge in await store.all_pledges(ctx.db, ctx.keyring):
            signed, company = await store.signature(ctx.db, pledge.id, ctx.member.ref(member_purpose(pledge.id)))
            if signed:
                display = (await store.company_displays(ctx.db, pledge.id)).get(company, "~") if company else ""
                if display.startswith("~"):
                    display = ctx._(UNLISTED_COMPANY)
                if display:
                    said = N_("You signed pledge {slug} (“{title}”) for {company}.") if pledge.is_open else \
                        N_("You signed pledge {slug} (“{title}”) for {company}, now closed.")
                else:
                    said = N_("You signed pledge {slug} (“{title}”).") if pledge.is_open else \
                        N_("You signed pledge {slug} (“{title}”), now closed.")
                found.append(ctx._(said).format(slug=code(pledge.slug), title=pledge.title, company=display))
        return found

    @staticmethod
    async def forget(ctx: Context) -> int:
        removed = 0
        for pledge in await store.all_pledges(ctx.db, ctx.keyring):
            removed += int(await store.unsign(ctx.db, pledge.id, ctx.member.ref(member_purpose(pledge.id))))
        if removed:
            await figures_changed(ctx)
        return removed


retention_hook("pledges")(store.delete_closed_before)  # storage deletes; nothing here to word


@export_hook("pledges")
async def _export(env: Env) -> dict[str, Any]:
    k = env.settings.BOT_MIN_CELL
    result = []
    for pledge in await store.all_pledges(env.db, env.keyring):
        t = await tally(env.db, pledge, k)
        entry: dict[str, Any] = {
            "slug": pledge.slug, "open": pledge.is_open,
            "signed": t.text, "goal": pledge.goal, "threshold": pledge.threshold,
            "threshold_state": await threshold_state(env.db, pledge) or None,
            "deadline": pledge.deadline.isoformat() if pledge.deadline else None,
        }
        if t.companies is not None:
            entry["companies"] = [{"company": r.label, "signed": r.shown_text} for r in t.companies.rows]
        result.append(entry)
    return {"min_cell": k, "pledges": result}
