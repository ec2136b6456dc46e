"""Operations inside the bot: ``!audit`` (a room safety check), the daily retention job and the
scheduled rebuild of the member tables."""

from __future__ import annotations

from datetime import datetime, timedelta

from commands.base import (
    RETENTION_HOOKS,
    Args,
    CommandError,
    Context,
    Env,
    Output,
    Reply,
    Role,
    RoomFacts,
    code,
    command,
    due_source,
)
from commands.common.i18n import N_, Gettext
from storage import rebuild, retention
from storage.db import Database

# Homeserver names that point at a company with immigration-enforcement contracts: a label of
# the server name (e.g. "matrix.palantir.tech", "gmail.com") equal to one of these words.
# A small local table: the one company normalizer (storage/directory.py)
# knows names and aliases, not internet domains, so this stays separate and deliberately short.
COMPANY_LABELS: dict[str, str] = {
    "google": "Google", "gmail": "Google", "googleusercontent": "Google",
    "amazon": "Amazon", "amazonaws": "Amazon", "aws": "Amazon", "a2z": "Amazon",
    "microsoft": "Microsoft", "azure": "Microsoft", "outlook": "Microsoft",
    "palantir": "Palantir",
    "oracle": "Oracle",
    "salesforce": "Salesforce",
    "ibm": "IBM",
    "dell": "Dell",
    "thomsonreuters": "Thomson Reuters",
    "lexisnexis": "LexisNexis",
    "deloitte": "Deloitte",
    "accenture": "Accenture",
}

OK = "✅"
WARN = "⚠️"


def company_of_server(server: str) -> str | None:
    """The company a homeserver name points at, by its labels (the port and TLD ignored)."""
    host = server.lower().rsplit(":", 1)[0] if server.count(":") == 1 else server.lower()
    labels = host.split(".")
    for label in labels[:-1] if len(labels) > 1 else labels:
        if label in COMPANY_LABELS:
            return COMPANY_LABELS[label]
    return None


def audit_lines(facts: RoomFacts, _: Gettext) -> tuple[list[str], int]:
    """The findings in plain words (``_``: the reader's gettext), and how many need fixing."""
    out: list[str] = []
    problems = 0
    history_fix = _("Set “Who can read history?” to “Members only (since they joined)”.")

    def bad(text: str) -> None:
        nonlocal problems
        problems += 1
        out.append(f"{WARN} {text}")

    if facts.encrypted:
        out.append(f"{OK} " + _("Encrypted: the homeserver cannot read messages here."))
    else:
        bad(_("Not encrypted: the homeserver (and anyone with access to it) can read every message. "
              "Turn on encryption in the room settings (Security & Privacy); it cannot be turned off again."))

    rule = facts.join_rule or "invite"
    if rule == "invite":
        out.append(f"{OK} " + _("Who can join: only people who are invited."))
    elif rule == "knock":
        out.append(f"{OK} " + _("Who can join: people who ask to join and are let in."))
    elif rule in ("restricted", "knock_restricted"):
        bad(_("Who can join: members of a linked space or room, without an invitation. "
              "Check who is in that space, or make the room invite-only."))
    else:
        bad(_("Who can join: anyone who finds the room (join rule {rule}). "
              "Make it invite-only: Room settings → Security & Privacy → Private (invite only).").format(
            rule=code(rule, 20)))

    if facts.guest_access == "can_join" and rule == "public":  # guests can otherwise only join when invited
        bad(_("Guests (people without an account) may join. Turn guest access off in the room settings."))

    visibility = facts.history_visibility or "shared"
    if visibility == "joined":
        out.append(f"{OK} " + _("Old messages: newcomers cannot read what was said before they joined."))
    elif visibility == "invited":
        bad(_("Old messages: newcomers can read everything from when they were invited.") + " " + history_fix)
    elif visibility == "world_readable":
        bad(_("Old messages: anyone, even without joining, can read the whole history.") + " " + history_fix)
    else:
        bad(_("Old messages: anyone who joins later can read the whole history, including who typed which "
              "command.") + " " + history_fix)

    servers = sorted(facts.member_servers.items(), key=lambda item: (-item[1], item[0]))
    listed = ", ".join(f"{code(name, 60)} ({count})" for name, count in servers[:15])
    if len(servers) > 15:
        listed = _("{servers} and {n} more").format(servers=listed, n=len(servers) - 15)
    out.append(_("Members' homeservers: {servers}. Each server's admins can see who is in this room and when they "
                 "post, not what they write.").format(servers=listed or _("none")))
    for name, _count in servers:
        company = company_of_server(name)
        if company:
            bad(_("{server} looks like a server run by {company}, a company with immigration-enforcement "
                  "contracts. Its members should use an account on an independent homeserver.").format(
                server=code(name, 60), company=company))

    if facts.powers:
        holders = sorted(facts.powers.items(), key=lambda item: (-item[1], item[0]))
        named = ", ".join(f"{code(name, 40)} ({_power_word(level, _)})" for name, level in holders[:20])
        out.append(_("Moderators and admins: {names}. They can remove people and change these settings.").format(
            names=named))
    else:
        out.append(_("Moderators and admins: nobody besides me."))

    if facts.bot_can_redact:
        out.append(f"{OK} " + _("I can remove members' pledge and roll-call messages after recording them."))
    else:
        bad(_("I can't remove members' pledge and roll-call messages here. "
              "Give me moderator power (power level 50) so I can."))
    return out, problems


def _power_word(level: int, _: Gettext) -> str:
    if level >= 100:
        return _("admin")
    if level >= 50:
        return _("moderator")
    return _("power {level}").format(level=level)


@command("audit", usage="", summary=N_("Check this room's privacy settings and say what to fix."),
         role=Role.ROOM_COORDINATOR,
         details=N_("Looks at encryption, who can join, whether newcomers can read old messages, which homeservers "
                    "members are on, who holds moderator power and whether I can remove sensitive messages."),
         aliases=("revisar",))
async def audit(ctx: Context, args: Args) -> list[Output]:
    if ctx.room.is_dm:
        raise CommandError(ctx._("Run `{prefix}audit` in the room you want checked, not in our DM.").format(
            prefix=ctx.prefix))
    facts = ctx.shell.room_facts(ctx.room.room_id)
    if facts is None:
        raise CommandError(ctx._("I don't know this room's settings yet. Try again in a minute."))
    found, problems = audit_lines(facts, ctx._)
    if problems:
        head = "**" + ctx.ngettext("Room safety check: {n} thing to fix", "Room safety check: {n} things to fix",
                                   problems).format(n=problems) + "**"
    else:
        head = "**" + ctx._("Room safety check: this room is set up well") + "**"
    return [Reply(head + "\n" + "\n".join(found))]


# ---------------------------------------------------------------- retention


@due_source("retention")
class Retention:
    """Daily: every domain's retention hook with cutoff = now − BOT_RETENTION_DAYS, and the
    expiry of handled-event marks. Due a day after the last run (kept in ``meta``)."""

    @staticmethod
    async def next_due(db: Database) -> datetime | None:
        return await retention.next_run(db)

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        if await retention.next_run(env.db) > env.now:
            return []  # the scheduler fires every source when any is due
        await retention.run(env.db, env.now, env.settings.BOT_RETENTION_DAYS, list(RETENTION_HOOKS.values()))
        return []


@due_source("rebuild")
class Rebuild:
    """Every BOT_REBUILD_INTERVAL seconds: the member tables rewritten in key order, so the rows'
    physical order keeps nothing of the order members acted in (storage/rebuild.py). Runs in
    the scheduler's one transaction; the next due time is kept in ``meta``."""

    @staticmethod
    async def next_due(db: Database) -> datetime | None:
        return await rebuild.next_run(db)

    @staticmethod
    async def fire(env: Env) -> list[Output]:
        if await rebuild.next_run(env.db) > env.now:
            return []  # the scheduler fires every source when any is due
        await rebuild.run(env.db, env.now, timedelta(seconds=env.settings.BOT_REBUILD_INTERVAL))
        return []
