"""Company roll-calls: "who is in, from which company?", tallied by employer.

Members answer with ``!here <company>`` (best in an encrypted DM with the bot). Names go through
the one company normalizer (``commands.common.directory``), and every tally shown, to anyone, goes
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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from commands.base import (
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
    retention_hook,
)
from commands.common.directory import directory, normalize
from commands.common.i18n import N_
from commands.common.smallcell import suppress
from commands.common.timeparse import format_when, parse_when
from commands.options import Flag, Options, Words
from storage import rollcalls as store
from storage.db import Database
from storage.rollcalls import RollCall

OTHER_LABEL = "Other companies"
RESERVED_SLUGS = frozenset({"start", "end", "list"})
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_TITLE = 200
MAX_COMPANY = 80
RECENT = timedelta(days=30)


def member_purpose(rollcall_id: int) -> str:
    return f"rollcall:{rollcall_id}"


# ---------------------------------------------------------------- tallies (pure)


def tally(rows: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """Answers per shown company name, as recorded. The company directory is applied once, when
    a member answers (``here`` stores the resolved company); a later ``!company alias`` changes
    how new answers are read, never the answers already counted. Re-resolving stored answers at
    read time let an alias move an open roll-call's pooled answers into a named company, so two
    reads around the change revealed a count below the small-cell minimum (issue #16)."""
    out: dict[str, int] = {}
    for _key, display, n in rows:
        out[display] = out.get(display, 0) + n
    return out


def snapshot_of(counts: Mapping[str, int], k: int) -> dict[str, Any]:
    """The shown (suppressed) form of a tally, as stored and displayed."""
    shown = suppress(counts, k, other_label=OTHER_LABEL)
    return {"k": k, "rows": [[row.label, row.shown_text] for row in shown.rows], "total": shown.total_text}


def snapshot_lines(snapshot: Mapping[str, Any]) -> list[str]:
    lines = [f"{label}: {text}" for label, text in snapshot["rows"]]
    if not snapshot["rows"]:
        lines.append("No answers yet.")
    lines.append(f"Total: {snapshot['total']}")
    return lines


# roll-call id → (change token, k, snapshot): reused while both are the same
_COMPUTED: dict[int, tuple[int, int, dict[str, Any]]] = {}


async def compute(db: Database, rc: RollCall, k: int) -> dict[str, Any]:
    """Fresh tallies. Reused while the roll-call's change token (set by triggers on every answer
    change) and k are the same; the company directory plays no part (see :func:`tally`)."""
    token = await store.change_token(db, rc.id)
    hit = _COMPUTED.get(rc.id)
    if hit is not None and token is not None and hit[0] == token and hit[1] == k:
        return hit[2]
    snap = snapshot_of(tally(await store.counts(db, rc.id)), k)
    if token is not None:
        if len(_COMPUTED) > 1024:
            _COMPUTED.clear()
        _COMPUTED[rc.id] = (token, k, snap)
    return snap


async def shown(db: Database, rc: RollCall, k: int, interval: int, now: datetime,
                force: bool = False) -> tuple[dict[str, Any], datetime]:
    """The tallies to show now: the stored snapshot while it is younger than ``interval`` (and
    always, once the roll-call is closed), else a fresh one, which is stored."""
    snap, at = rc.snapshot, rc.snapshot_at
    if snap is not None and at is not None and snap.get("k") == k and not force:
        if not rc.is_open or (now - at).total_seconds() < interval:
            return snap, at
    snap = await compute(db, rc, k)
    await store.save_snapshot(db, rc.id, snap, now)
    return snap, now.replace(microsecond=0)


def render(rc: RollCall, title: str, snap: Mapping[str, Any], at: datetime, *, final: bool = False,
           zone: str = "UTC", lang: str = "en") -> str:
    k = snap["k"]
    if final:
        head = f"**Roll-call {code(rc.slug)} is closed: {title}**\nFinal tallies:"
    else:
        state = "open" if rc.is_open else "closed"
        if rc.is_open and rc.closes_at is not None:
            state += f", closes {format_when(rc.closes_at, zone, lang)}"
        head = f"**Roll-call {code(rc.slug)}: {title}** ({state})"
    body = "\n".join(snapshot_lines(snap))
    foot = f"As of {at:%H:%M} UTC. Companies with fewer than {k} answers are pooled into \"{OTHER_LABEL}\"."
    return f"{head}\n{body}\n{foot}"


# ---------------------------------------------------------------- helpers


async def _pick(ctx: Context, slug: str | None, verb: str) -> RollCall:
    if slug:
        rc = await store.by_slug(ctx.db, ctx.keyring, slug.lower())
        if rc is None:
            raise CommandError(f"There is no roll-call {code(slug)}. `{ctx.prefix}rollcall list` shows them.")
        return rc
    open_now = await store.open_rollcalls(ctx.db, ctx.keyring)
    if not open_now:
        raise CommandError(f"No roll-call is open. `{ctx.prefix}rollcall list` shows recent ones.")
    if len(open_now) > 1:
        names = ", ".join(code(r.slug) for r in open_now)
        raise CommandError(f"Several roll-calls are open: {names}. Type `{ctx.prefix}{verb} <slug>`.")
    return open_now[0]


# ---------------------------------------------------------------- commands


# `--closes WHEN` takes the words after it; any other `--word` is part of the title.
START_OPTIONS = Options({"closes": Words("`--closes` needs a time, like `--closes friday 17:00`.")}, free_text=True)


@command(
    "rollcall start",
    usage="rollcall start <slug> <title…> [--closes WHEN]",
    summary=N_("Open a roll-call: who is in, from which company?"),
    role=Role.COORDINATOR,
    example="rollcall start walkout Who joins the walkout on Friday? --closes friday 17:00",
    details="Members answer with `here <company>`, best in a DM with me. Tallies are shown by employer; "
    "companies with fewer than the minimum group size are pooled, so no answer can be traced. "
    "With `--closes`, I close it by myself at that time and post the final tallies here.",
)
async def rollcall_start(ctx: Context, args: Args) -> list[Output]:
    ctx.require(Role.COORDINATOR)
    given = START_OPTIONS.parse(args.rest, ctx.prefix)
    text = given.text
    closes_at = None
    if "closes" in given:
        when_text = given["closes"].strip("\"'")
        closes_at = parse_when(when_text, now=ctx.now, default_zone=ctx.zone, lang=ctx.lang)
    slug, _, title = text.partition(" ")
    slug, title = slug.lower(), title.strip().strip("\"'").strip()
    if not slug or not title:
        raise UsageError("Give a short slug and a title, like "
                         f"`{ctx.prefix}rollcall start walkout Who joins the walkout?`.")
    if not _SLUG.fullmatch(slug) or slug in RESERVED_SLUGS:
        raise CommandError(f"{code(slug)} can't be a slug: use up to 32 lowercase letters, digits, `-` or `_` "
                           f"(not `start`, `end` or `list`).")
    if len(title) > MAX_TITLE:
        raise CommandError(f"That title is too long; keep it under {MAX_TITLE} characters.")
    if await store.by_slug(ctx.db, ctx.keyring, slug) is not None:
        raise CommandError(f"There already is a roll-call {code(slug)}. Choose another slug.")
    closes_utc = closes_at.utc if closes_at else None
    await store.create(ctx.db, ctx.keyring, slug, title, ctx.room.room_id, ctx.now, closes_utc)
    p = ctx.prefix
    text = (f"**Roll-call {code(slug)}: {title}**\nWho's in, and from which company? Answer privately in a direct "
            f"message with me: `{p}here <company>` (or `{p}here {slug} <company>` when several roll-calls are "
            f"open). You can change your answer by answering again.\nI only ever show counts by company; "
            f"companies with fewer than {ctx.settings.BOT_MIN_CELL} answers are pooled.")
    if closes_at is not None:
        text += f"\nCloses {closes_at.describe(ctx.lang)}."
    ctx.wake("scheduler")
    return [Reply(text)]


# `--as-typed` may stand anywhere; an unknown option is refused with the usage.
HERE_OPTIONS = Options({"as-typed": Flag()})


@command(
    "here",
    aliases=("aquí", "aqui", "presente"),
    usage="here [slug] <company> [--as-typed]",
    summary=N_("Answer a roll-call with your employer"),
    example="here Google",
    details="Best sent in an encrypted direct message with me: then nobody in a room sees that you answered. "
    "In a room I record it, remove your message where I may, and answer without naming or replying to you. "
    "Answering again replaces your answer. If I don't know the company but a similar one, I ask first; "
    "`--as-typed` records the name exactly as you typed it. Nobody, not even admins, can read your answer "
    "through me; `mydata` shows it to you, `forget` deletes it.",
)
async def here(ctx: Context, args: Args) -> list[Output]:
    in_room = not ctx.room.is_dm
    tail: list[Output] = [RedactCommand()] if in_room and ctx.settings.BOT_REDACT_SENSITIVE else []
    p = ctx.prefix

    def say(text: str) -> list[Output]:
        return [Reply(text, private=True), *tail]

    def privately(room_text: str, dm_text: str) -> list[Output]:
        """Name the employer only in the member's DM."""
        if in_room:
            return [Reply(room_text, private=True), DirectMessage(dm_text), *tail]
        return say(dm_text)

    try:
        given = HERE_OPTIONS.parse(args.rest, p)
    except UsageError as exc:
        return say(f"{exc}\nUsage: `{p}here [slug] <company> [--as-typed]`")
    words = list(given.words)
    if not words:
        return say(f"Name your employer, like `{p}here Google`.")
    open_now = await store.open_rollcalls(ctx.db, ctx.keyring)
    rc: RollCall | None = None
    slug_given = ""
    if len(words) >= 2:
        named = await store.by_slug(ctx.db, ctx.keyring, words[0].lower())
        if named is not None and named.is_open:
            rc, slug_given, words = named, named.slug + " ", words[1:]
        elif named is not None and len(open_now) != 1:
            # with exactly one open roll-call, "acme corp" is a company even if `acme` was a roll-call
            return say(f"Roll-call {code(named.slug)} is closed.")
    if rc is None:
        if not open_now:
            return say("No roll-call is open right now.")
        if len(open_now) > 1:
            names = ", ".join(code(r.slug) for r in open_now)
            return say(f"Several roll-calls are open: {names}. Type `{p}here <slug> <company>`.")
        rc = open_now[0]
    name = " ".join(words).strip()
    if len(name) > MAX_COMPANY:
        return say(f"That company name is too long; keep it under {MAX_COMPANY} characters.")
    found = await directory(ctx.db)
    company = found.resolve(name)
    if company is not None:
        key, display = company.key, company.display
    else:
        key, display = normalize(name), name
        if not key:
            return say("A company name needs letters or digits.")
        if "as-typed" not in given:
            close = found.suggest(name, limit=1)
            if close:
                question = (f"Did you mean {close[0]}? Reply `{p}here {slug_given}{close[0]}` to confirm, "
                            f"or `{p}here {slug_given}--as-typed {name}`.")
                return privately("I didn't record anything yet: I sent you a question in a direct message.",
                                 question)
    replaced = await store.set_answer(ctx.db, rc.id, ctx.member.ref(member_purpose(rc.id)), key, display)
    room_text = "Updated your answer." if replaced else "Recorded your answer."
    dm_text = f"{room_text} Roll-call {code(rc.slug)}: **{display}**."
    if in_room and ctx.shell.dm_room_of(ctx.member) is None:
        return [Reply(room_text, private=True), *tail]  # don't open a DM just to confirm
    return privately(room_text, dm_text)


@command(
    "rollcall",
    usage="rollcall [slug]",
    summary=N_("Show a roll-call's tallies by company"),
    example="rollcall walkout",
    details="Counts are refreshed at most every few minutes, and companies with few answers are pooled, "
    "so the tallies never reveal a single answer.",
)
async def rollcall_show(ctx: Context, args: Args) -> list[Output]:
    rc = await _pick(ctx, args.tokens[0] if args.tokens else None, "rollcall")
    s = ctx.settings
    snap, at = await shown(ctx.db, rc, s.BOT_MIN_CELL, s.BOT_TALLY_INTERVAL, ctx.now)
    return [Reply(render(rc, rc.title, snap, at, zone=ctx.zone, lang=ctx.lang))]


@command(
    "rollcall end",
    usage="rollcall end [slug]",
    summary=N_("Close a roll-call and post the final tallies"),
    role=Role.COORDINATOR,
    example="rollcall end walkout",
)
async def rollcall_end(ctx: Context, args: Args) -> list[Output]:
    ctx.require(Role.COORDINATOR)
    rc = await _pick(ctx, args.tokens[0] if args.tokens else None, "rollcall end")
    if not rc.is_open:
        raise CommandError(f"Roll-call {code(rc.slug)} is already closed. `{ctx.prefix}rollcall {rc.slug}` "
                           "shows its final tallies.")
    outputs = await _close(ctx.db, ctx.keyring, rc, ctx.settings.BOT_MIN_CELL, ctx.now, here_room=ctx.room.room_id)
    ctx.wake("scheduler")
    return outputs


async def _close(db: Database, keyring: Any, rc: RollCall, k: int, now: datetime,
                 here_room: str | None = None) -> list[Output]:
    if not await store.close(db, rc.id, now):
        return []
    snap, at = await shown(db, rc, k, 0, now, force=True)
    closed = await store.by_slug(db, keyring, rc.slug)
    text = render(closed or rc, rc.title, snap, at, final=True)
    outputs: list[Output] = []
    if here_room is not None:
        outputs.append(Reply(text))
    origin = rc.room_id
    if origin is not None and origin != here_room:
        outputs.append(Post(origin, text))
    return outputs


@command("rollcall list", usage="rollcall list", summary=N_("Open and recent roll-calls"))
async def rollcall_list(ctx: Context, args: Args) -> list[Output]:
    zone = ctx.zone
    open_now = await store.open_rollcalls(ctx.db, ctx.keyring)
    recent = await store.recent_closed(ctx.db, ctx.keyring, ctx.now - RECENT)
    if not open_now and not recent:
        return [Reply(f"No roll-calls yet. A coordinator starts one with `{ctx.prefix}rollcall start`.")]
    out: list[str] = []
    if open_now:
        out.append("**Open roll-calls**")
        for rc in open_now:
            line = f"• {code(rc.slug)}: {rc.title}"
            if rc.closes_at is not None:
                line += f" (closes {format_when(rc.closes_at, zone, ctx.lang)})"
            out.append(line)
    if recent:
        out.append("**Recently closed**")
        for rc in recent:
            assert rc.closed_at is not None
            out.append(f"• {code(rc.slug)}: {rc.title} (closed {format_when(rc.closed_at, zone, ctx.lang)})")
    out.append(f"`{ctx.prefix}rollcall <slug>` shows the tallies.")
    return [Reply("\n".join(out))]


# ---------------------------------------------------------------- registries


@due_source("rollcalls")
class RollCallCloser:
    """Closes roll-calls at their ``--closes`` time (also when that passed while the bot was down)
    and posts the final tallies in the room they were started in, once."""

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
        for rc in await store.all_rollcalls(ctx.db, ctx.keyring):
            answer = await store.answer_of(ctx.db, rc.id, ctx.member.ref(member_purpose(rc.id)))
            if answer is not None:
                state = "open" if rc.is_open else "closed"
                found.append(f"Roll-call {code(rc.slug)} ({state}): you answered **{answer[1]}**")
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
