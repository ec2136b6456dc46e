"""Company roll-calls: "who is in, from which company?", tallied by employer.

Members answer with ``!here <company>`` (best in an encrypted DM with the bot). Names go through
the one company normalizer (``storage.directory``), and every tally shown, to anyone, goes
through the one small-cell rule (``commands.common.smallcell``). Shown tallies change in steps:
they are a stored snapshot, recomputed no more often than ``BOT_TALLY_INTERVAL`` seconds (and
when the roll-call ends), so two looks a minute apart do not reveal one member's answer.

Privacy decisions:

* In a room, every reply to ``!here`` carries no reply relation and never names a company (the
  member's message sits right above it in the timeline); the command is redacted where the bot
  may. Anything that names the employer the member typed ("Did you mean …?", what was
  recorded) goes to the member's DM instead.
* "Did you mean" only offers companies from the directory, never names other members typed
  (an as-typed employer with fewer than k answers must never be displayed).
* Nobody, coordinators and admins included, can read an individual answer through the bot;
  ``!mydata`` shows a member their own answers.
* Languages (issue #18): answers are in the reader's language; the final tallies posted to the
  room a roll-call was started in are worded for that room, never in the closer's language, and
  what goes to a member's DM is in that member's own language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from commands.base import (
    REGISTRY,
    Args,
    CommandError,
    Context,
    DirectMessage,
    Env,
    Output,
    Post,
    RedactCommand,
    Reply,
    Role,
    UsageError,
    code,
    command,
    due_source,
    export_hook,
    member_data,
    names,
    retention_hook,
)
from commands.common.i18n import N_, translations
from commands.common.smallcell import OTHER_COMPANIES, UNLISTED_COMPANY, exact_from, in_words, suppress
from commands.common.timeparse import show_hour, show_instant
from commands.language import reader_language
from commands.options import Flag, Options, Words
from storage import rollcalls as store
from storage.db import Database
from storage.directory import CompanyDirectory, directory, listed, normalize, unlisted_key
from storage.rollcalls import RollCall

OTHER_LABEL = OTHER_COMPANIES  # stored in English in snapshots, shown in the reader's language
UNLISTED = UNLISTED_COMPANY
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_TITLE = 200
MAX_COMPANY = 80
RECENT = timedelta(days=30)


def member_purpose(rollcall_id: int) -> str:
    return f"rollcall:{rollcall_id}"


# ---------------------------------------------------------------- tallies (pure)


def tally(rows: Iterable[tuple[str, str, int]], found: CompanyDirectory) -> dict[str, int]:
    """Answers per shown company name. The company is resolved once, when a member answers
    (``here`` stores the resolved key); a later ``!company alias`` changes how new answers are
    read, never which key an answer counts for (issue #16: re-resolving stored answers moved
    pooled answers into a named company). The label is the directory's name of the stored key
    (issue #23: never a member's wording); a key the directory does not know counts under
    ``OTHER_LABEL``, which the small-cell rule always pools."""
    out: dict[str, int] = {}
    for key, _display, n in rows:
        company = listed(key, found)
        label = company.display if company is not None else OTHER_LABEL
        out[label] = out.get(label, 0) + n
    return out


def snapshot_of(counts: Mapping[str, int], k: int) -> dict[str, Any]:
    """The shown (suppressed) form of a tally, as stored and displayed."""
    shown = suppress(counts, k, other_label=OTHER_LABEL)
    return {"k": k, "floor": exact_from(k), "rows": [[row.label, row.shown_text] for row in shown.rows],
            "total": shown.total_text}


def snapshot_lines(snapshot: Mapping[str, Any], lang: str = "en") -> list[str]:
    """The tally lines in ``lang``: the stored snapshot keeps the small-cell rule's English words
    ("fewer than 5", "Other companies"), which :func:`in_words` puts in the reader's language."""
    _ = translations(lang).gettext
    lines = [f"{in_words(label, _)}: {in_words(text, _)}" for label, text in snapshot["rows"]]
    if not snapshot["rows"]:
        lines.append(_("No answers yet."))
    lines.append(_("Total: {total}").format(total=in_words(snapshot["total"], _)))
    return lines


# roll-call id → (change token, k, directory, snapshot): reused while all are the same
_COMPUTED: dict[int, tuple[int, int, CompanyDirectory, dict[str, Any]]] = {}


async def compute(db: Database, rc: RollCall, k: int) -> dict[str, Any]:
    """Fresh tallies. Reused while the roll-call's change token (set by triggers on every answer
    change), k and the directory (its names label the keys, see :func:`tally`) are the same."""
    token = await store.change_token(db, rc.id)
    found = await directory(db)
    hit = _COMPUTED.get(rc.id)
    if hit is not None and token is not None and hit[0] == token and hit[1] == k and hit[2] is found:
        return hit[3]
    snap = snapshot_of(tally(await store.counts(db, rc.id), found), k)
    if token is not None:
        if len(_COMPUTED) > 1024:
            _COMPUTED.clear()
        _COMPUTED[rc.id] = (token, k, found, snap)
    return snap


async def shown(db: Database, rc: RollCall, k: int, interval: int, now: datetime,
                force: bool = False) -> tuple[dict[str, Any], datetime]:
    """The tallies to show now: the stored snapshot while it is younger than ``interval`` (and
    always, once the roll-call is closed), else a fresh one, which is stored."""
    snap, at = rc.snapshot, rc.snapshot_at
    if snap is not None and at is not None and snap.get("k") == k and "floor" in snap and not force:
        if not rc.is_open or (now - at).total_seconds() < interval:
            return snap, at
    snap = await compute(db, rc, k)
    await store.save_snapshot(db, rc.id, snap, now)
    return snap, now.replace(microsecond=0)


def render(rc: RollCall, title: str, snap: Mapping[str, Any], at: datetime, *, final: bool = False,
           zone: str = "UTC", lang: str = "en") -> str:
    """A roll-call's tallies as the readers of ``lang`` read them (pure: a posted result renders
    it once per destination)."""
    t = translations(lang)
    k = snap["k"]
    slug = code(rc.slug)
    if final:
        head = t.gettext("**Roll-call {slug} is closed: {title}**\nFinal tallies:").format(slug=slug, title=title)
    elif rc.is_open and rc.closes_at is not None:
        head = t.gettext("**Roll-call {slug}: {title}** (open, closes {when})").format(
            slug=slug, title=title, when=show_instant(rc.closes_at, zone, lang, at))
    elif rc.is_open:
        head = t.gettext("**Roll-call {slug}: {title}** (open)").format(slug=slug, title=title)
    else:
        head = t.gettext("**Roll-call {slug}: {title}** (closed)").format(slug=slug, title=title)
    body = "\n".join(snapshot_lines(snap, lang))
    floor = snap.get("floor", k)
    foot = t.ngettext("As of {time}. Companies with fewer than {k} answer are pooled into \"{other}\".",
                      "As of {time}. Companies with fewer than {k} answers are pooled into \"{other}\".",
                      floor).format(time=show_hour(at, zone), k=floor, other=t.gettext(OTHER_LABEL))
    return f"{head}\n{body}\n{foot}"


# ---------------------------------------------------------------- helpers


async def pick(ctx: Context, slug: str | None, verb: str) -> RollCall:
    if slug:
        rc = await store.by_slug(ctx.db, ctx.keyring, slug.lower())
        if rc is None:
            raise CommandError(ctx._("There is no roll-call {slug}. `{prefix}rollcall list` shows them.").format(
                slug=code(slug), prefix=ctx.prefix))
        return rc
    open_now = await store.open_rollcalls(ctx.db, ctx.keyring)
    if not open_now:
        raise CommandError(ctx._("No roll-call is open. `{prefix}rollcall list` shows recent ones.").format(
            prefix=ctx.prefix))
    if len(open_now) > 1:
        names = ", ".join(code(r.slug) for r in open_now)
        raise CommandError(ctx._("Several roll-calls are open: {names}. Type `{prefix}{verb} <slug>`.").format(
            names=names, prefix=ctx.prefix, verb=REGISTRY[verb].shown_name(ctx.lang)))
    return open_now[0]


# ---------------------------------------------------------------- commands


# `--closes WHEN` takes the words after it; any other `--word` is part of the title.
START_OPTIONS = Options({"closes": Words(N_("`--closes` needs a time, like `--closes friday 17:00`."))},
                        free_text=True)


START_DETAILS = N_(
    "Members answer with `here <company>`, best in a DM with me. Tallies are shown by employer; companies with "
    "fewer than the minimum group size are pooled, so no answer can be traced. With `--closes`, I close it by "
    "myself at that time and post the final tallies here."
)


@command("rollcall start", usage=N_("<slug> <title…> [--closes WHEN]"),
         summary=N_("Open a roll-call: who is in, from which company?"), role=Role.COORDINATOR,
         example=N_("walkout Who joins the walkout on Friday? --closes friday 17:00"), details=START_DETAILS,
         aliases=("lista iniciar", "lista abrir", "pasedelista iniciar"))
async def rollcall_start(ctx: Context, args: Args) -> list[Output]:
    ctx.require(Role.COORDINATOR)
    given = START_OPTIONS.parse(args.rest, ctx.prefix, ctx._, ctx.lang)
    text = given.text
    closes_at = None
    if "closes" in given:
        when_text = given["closes"].strip("\"'")
        closes_at = ctx.read_time(when_text)
    slug, _, title = text.partition(" ")
    slug, title = slug.lower(), title.strip().strip("\"'").strip()
    if not slug or not title:
        raise UsageError(ctx._("Give a short slug and a title, like "
                               "`{prefix}rollcall start walkout Who joins the walkout?`.").format(prefix=ctx.prefix))
    if not _SLUG.fullmatch(slug) or slug in names().words_of("rollcall"):
        raise CommandError(ctx._("{slug} can't be a slug: use up to 32 lowercase letters, digits, `-` or `_` "
                                 "(not `start`, `end` or `list`).").format(slug=code(slug)))
    if len(title) > MAX_TITLE:
        raise CommandError(ctx._("That title is too long; keep it under {n} characters.").format(n=MAX_TITLE))
    if await store.by_slug(ctx.db, ctx.keyring, slug) is not None:
        raise CommandError(ctx._("There already is a roll-call {slug}. Choose another slug.").format(slug=code(slug)))
    closes_utc = closes_at.utc if closes_at else None
    await store.create(ctx.db, ctx.keyring, slug, title, ctx.room.room_id, ctx.now, closes_utc)
    k = exact_from(ctx.settings.BOT_MIN_CELL)  # companies below 2k-1 answers are pooled
    text = ctx.ngettext(
        "**Roll-call {slug}: {title}**\nWho's in, and from which company? Answer privately in a direct message "
        "with me: `{prefix}here <company>` (or `{prefix}here {name} <company>` when several roll-calls are "
        "open). You can change your answer by answering again.\nI only ever show counts by company; companies "
        "with fewer than {k} answer are pooled.",
        "**Roll-call {slug}: {title}**\nWho's in, and from which company? Answer privately in a direct message "
        "with me: `{prefix}here <company>` (or `{prefix}here {name} <company>` when several roll-calls are "
        "open). You can change your answer by answering again.\nI only ever show counts by company; companies "
        "with fewer than {k} answers are pooled.", k).format(slug=code(slug), title=title, prefix=ctx.prefix,
                                                            name=slug, k=k)
    if closes_at is not None:
        text += "\n" + ctx._("Closes {when}.").format(when=ctx.show_time(closes_at))
    ctx.wake("scheduler")
    return [Reply(text)]


# `--as-typed` may stand anywhere; an unknown option is refused with the usage.
HERE_OPTIONS = Options({"as-typed": Flag()})
HERE_DETAILS = N_(
    "Best sent in an encrypted direct message with me: then nobody in a room sees that you answered. In a room "
    "I record it, remove your message where I may, and answer without naming or replying to you. Answering "
    "again replaces your answer. If I don't know the company but a similar one, I ask first; `--as-typed` "
    "records it as a company I don't know: I keep no name, and it counts with the other companies until a "
    "coordinator names it with `company alias`. Nobody, not even admins, can read your answer through me; "
    "`mydata` shows it to you, `forget` deletes it."
)


@command("here", usage=N_("[slug] <company> [--as-typed]"),
         summary=N_("Answer a roll-call with your employer"), example="Google", details=HERE_DETAILS,
         aliases=("aquí", "presente"))
async def here(ctx: Context, args: Args) -> list[Output]:
    in_room = not ctx.room.is_dm
    tail: list[Output] = [RedactCommand()] if in_room and ctx.settings.BOT_REDACT_SENSITIVE else []
    p = ctx.prefix
    # what names the employer goes to the member's own DM, in the member's own language (in a room,
    # ctx.lang is the room's); nobody else reads that DM, so this reveals no one's language
    dm_: Callable[[str], str] = ctx._
    if in_room:
        dm_ = translations(await reader_language(ctx.db, ctx.keyring, ctx.settings.BOT_DEFAULT_LANGUAGE,
                                                 ctx.room.room_id, True, ctx.member)).gettext

    def say(text: str) -> list[Output]:
        return [Reply(text, private=True), *tail]

    def privately(room_text: str, dm_text: str) -> list[Output]:
        """Name the employer only in the member's DM."""
        if in_room:
            return [Reply(room_text, private=True), DirectMessage(dm_text), *tail]
        return say(dm_text)

    try:
        given = HERE_OPTIONS.parse(args.rest, p, ctx._, ctx.lang)
    except UsageError as exc:
        return say(f"{exc}\n" + REGISTRY["here"].usage_line(ctx.lang, p))
    words = list(given.words)
    if not words:
        return say(ctx._("Name your employer, like `{prefix}here Google`.").format(prefix=p))
    open_now = await store.open_rollcalls(ctx.db, ctx.keyring)
    rc: RollCall | None = None
    slug_given = ""
    if len(words) >= 2:
        named = await store.by_slug(ctx.db, ctx.keyring, words[0].lower())
        if named is not None and named.is_open:
            rc, slug_given, words = named, named.slug + " ", words[1:]
        elif named is not None and len(open_now) != 1:
            # with exactly one open roll-call, "acme corp" is a company even if `acme` was a roll-call
            return say(ctx._("Roll-call {slug} is closed.").format(slug=code(named.slug)))
    if rc is None:
        if not open_now:
            return say(ctx._("No roll-call is open right now."))
        if len(open_now) > 1:
            names = ", ".join(code(r.slug) for r in open_now)
            return say(ctx._("Several roll-calls are open: {names}. Type `{prefix}here <slug> <company>`.").format(
                names=names, prefix=p))
        rc = open_now[0]
    name = " ".join(words).strip()
    if len(name) > MAX_COMPANY:
        return say(ctx._("That company name is too long; keep it under {n} characters.").format(n=MAX_COMPANY))
    found = await directory(ctx.db)
    company = found.resolve(name)
    if company is not None:
        key, display = company.key, company.display
    else:
        key, display = unlisted_key(ctx.keyring, name), dm_(UNLISTED)  # never kept, never shown
        if not normalize(name):
            return say(ctx._("A company name needs letters or digits."))
        if "as-typed" not in given:
            close = found.suggest(name, limit=1)
            if close:
                question = dm_(N_("Did you mean {company}? Reply `{prefix}here {slug}{company}` to confirm, "
                                  "or `{prefix}here {slug}--as-typed {name}`.")).format(
                    company=close[0], prefix=p, slug=slug_given, name=name)
                return privately(ctx._("I didn't record anything yet: I sent you a question in a direct message."),
                                 question)
    replaced = await store.set_answer(ctx.db, rc.id, ctx.member.ref(member_purpose(rc.id)), key, "")
    said = N_("Updated your answer.") if replaced else N_("Recorded your answer.")
    room_text = ctx._(said)
    dm_text = dm_(said) + " " + dm_(N_("Roll-call {slug}: **{company}**.")).format(slug=code(rc.slug), company=display)
    if in_room and ctx.shell.dm_room_of(ctx.member) is None:
        return [Reply(room_text, private=True), *tail]  # don't open a DM just to confirm
    return privately(room_text, dm_text)


@command("rollcall", usage=N_("[slug]"), summary=N_("Show a roll-call's tallies by company"),
         example=N_("walkout"),
         details=N_("Counts are refreshed at most every few minutes, and companies with few answers are pooled, "
                    "so the tallies never reveal a single answer."), aliases=("lista", "pasedelista"))
async def rollcall_show(ctx: Context, args: Args) -> list[Output]:
    rc = await pick(ctx, args.tokens[0] if args.tokens else None, "rollcall")
    s = ctx.settings
    snap, at = await shown(ctx.db, rc, s.BOT_MIN_CELL, s.BOT_TALLY_INTERVAL, ctx.now)
    return [Reply(render(rc, rc.title, snap, at, zone=ctx.zone, lang=ctx.lang))]


@command("rollcall end", usage=N_("[slug]"), summary=N_("Close a roll-call and post the final tallies"),
         role=Role.COORDINATOR, example=N_("walkout"), aliases=("lista cerrar", "lista terminar"))
async def rollcall_end(ctx: Context, args: Args) -> list[Output]:
    ctx.require(Role.COORDINATOR)
    rc = await pick(ctx, args.tokens[0] if args.tokens else None, "rollcall end")
    if not rc.is_open:
        raise CommandError(ctx._("Roll-call {slug} is already closed. `{prefix}rollcall {name}` shows its final "
                                 "tallies.").format(slug=code(rc.slug), prefix=ctx.prefix, name=rc.slug))
    outputs = await _close(ctx.db, ctx.keyring, rc, ctx.settings.BOT_MIN_CELL, ctx.now,
                           here=(ctx.room.room_id, ctx.lang))
    ctx.wake("scheduler")
    return outputs


async def _close(db: Database, keyring: Any, rc: RollCall, k: int, now: datetime,
                 here: tuple[str, str] | None = None) -> list[Output]:
    """Close ``rc`` once and show its final tallies: as the answer in the command's room
    (``here``: its ID and language) and posted to the room it was started in, in that room's
    language (never the language of whoever closed it)."""
    if not await store.close(db, keyring, rc.id, now):
        return []
    snap, at = await shown(db, rc, k, 0, now, force=True)
    closed = await store.by_slug(db, keyring, rc.slug) or rc

    def text(lang: str) -> str:
        return render(closed, rc.title, snap, at, final=True, lang=lang)

    outputs: list[Output] = []
    if here is not None:
        outputs.append(Reply(text(here[1])))
    origin = rc.room_id
    if origin is not None and (here is None or origin != here[0]):
        outputs.append(Post(origin, text))
    return outputs


@command("rollcall list", usage="", summary=N_("Open and recent roll-calls"),
         aliases=("listas", "lista todas"))
async def rollcall_list(ctx: Context, args: Args) -> list[Output]:
    open_now = await store.open_rollcalls(ctx.db, ctx.keyring)
    recent = await store.recent_closed(ctx.db, ctx.keyring, ctx.now - RECENT)
    if not open_now and not recent:
        return [Reply(ctx._("No roll-calls yet. A coordinator starts one with `{prefix}rollcall start`.").format(
            prefix=ctx.prefix))]
    out: list[str] = []
    if open_now:
        out.append("**" + ctx._("Open roll-calls") + "**")
        for rc in open_now:
            if rc.closes_at is not None:
                out.append(ctx._("• {slug}: {title} (closes {when})").format(
                    slug=code(rc.slug), title=rc.title, when=ctx.show_time(rc.closes_at)))
            else:
                out.append(f"• {code(rc.slug)}: {rc.title}")
    if recent:
        out.append("**" + ctx._("Recently closed") + "**")
        for rc in recent:
            assert rc.closed_at is not None
            out.append(ctx._("• {slug}: {title} (closed {when})").format(
                slug=code(rc.slug), title=rc.title, when=ctx.show_time(rc.closed_at)))
    out.append(ctx._("`{prefix}rollcall <slug>` shows the tallies.").format(prefix=ctx.prefix))
    return [Reply("\n".join(out))]


# ---------------------------------------------------------------- registries


@due_source("rollcalls")
class RollCallCloser:
    """Closes roll-calls at their ``--closes`` time (also when that passed while the bot was down)
    and posts the final tallies in the room they were started in, once, in that room's language."""

    next_due = staticmethod(store.next_close)  # (db) -> the earliest due time, or None

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        outputs: list[Output] = []
        for rc in await store.due(env.db, env.keyring, env.now):
            outputs.extend(await _close(env.db, env.keyring, rc, env.settings.BOT_MIN_CELL, env.now))
        return outputs


@member_data("rollcalls")
class RollCallData:
    @staticmethod
    async def describe(ctx: Context) -> list[str]:
        found: list[str] = []
        names = await directory(ctx.db)
        for rc in await store.all_rollcalls(ctx.db, ctx.keyring):
            answer = await store.answer_of(ctx.db, rc.id, ctx.member.ref(member_purpose(rc.id)))
            if answer is not None:
                said = (N_("Roll-call {slug} (open): you answered **{company}**") if rc.is_open
                        else N_("Roll-call {slug} (closed): you answered **{company}**"))
                company = listed(answer[0], names)
                shown_as = company.display if company is not None else ctx._(UNLISTED)
                found.append(ctx._(said).format(slug=code(rc.slug), company=shown_as))
        return found

    @staticmethod
    async def forget(ctx: Context) -> int:
        deleted = 0
        for rc in await store.all_rollcalls(ctx.db, ctx.keyring):
            deleted += await store.delete_answer(ctx.db, rc.id, ctx.member.ref(member_purpose(rc.id)))
        return deleted


retention_hook("rollcalls")(store.delete_closed_before)  # storage deletes; nothing here to word


@export_hook("rollcalls")
async def _export(env: Env) -> dict[str, Any]:
    """Machine-readable (the coordinators' export): the small-cell rule's English words, as stored."""
    s = env.settings
    items = []
    for rc in await store.all_rollcalls(env.db, env.keyring):
        snap, at = await shown(env.db, rc, s.BOT_MIN_CELL, s.BOT_TALLY_INTERVAL, env.now)
        items.append({
            "slug": rc.slug, "open": rc.is_open, "as_of": at.isoformat(),
            "min_cell": snap["k"], "rows": [{"company": label, "answers": text} for label, text in snap["rows"]],
            "total": snap["total"],
        })
    return {"rollcalls": items}
