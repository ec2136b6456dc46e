"""Every storage domain, in the order :meth:`storage.db.Database.migrate` applies them.

A database gets every table whatever its opener imported: the list is here, not assembled by
import side effects. A new domain module declares its ``SCHEMA`` and is added below; its name
and released steps never change afterwards (``schema_versions`` holds each domain's version).
No domain refers to another's tables, so the order is only the one the bot has always used.

:data:`MEMBER_TABLES` lists every table whose rows stand for one member's act (a keyed member
reference in the row): each is ``WITHOUT ROWID`` with a key that starts with keyed hashes or
random IDs, and :mod:`storage.rebuild` rewrites them in key order on a schedule, so neither the
B-tree nor the cells inside a page keep the order members acted in (issue #17).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage import (
    actions,
    campaign,
    companies,
    contracts,
    digest,
    pledges,
    polls,
    prefs,
    published,
    rebuild,
    rollcalls,
    rsvps,
    undecrypted,
)
from storage.db import CORE, Database, Schema
from storage.hub import codes as hub_codes
from storage.hub import hotline
from storage.hub import members as hub_members

DOMAINS: tuple[Schema, ...] = (
    CORE,
    companies.SCHEMA,
    contracts.SCHEMA,
    pledges.SCHEMA,
    rollcalls.SCHEMA,
    actions.SCHEMA,
    undecrypted.SCHEMA,
    campaign.SCHEMA,
    prefs.SCHEMA,
    polls.SCHEMA,
    rsvps.SCHEMA,
    published.SCHEMA,
    hub_members.SCHEMA,
    hub_codes.SCHEMA,
    hotline.SCHEMA,
    digest.SCHEMA,
)


async def open_database(path: Path | str, key_fingerprint: str | None = None, *,
                        key: bytes | None = None) -> Database:
    """Open (creating if needed) the bot's database with every domain migrated: see
    :meth:`storage.db.Database.open` for the keys."""
    db = await Database.open(path, key_fingerprint, key=key, domains=DOMAINS)
    try:
        await rebuild.watch(db)  # which member tables are written, for the settle after each batch
    except BaseException:
        await db.close()
        raise
    return db


@dataclass(frozen=True)
class MemberTable:
    """A table rebuilt on schedule, and the columns of its primary key, in key order: every table
    with a keyed member reference, and the per-company tables whose rows appear when a member
    signs or answers for a company first (their order would tell which company the first,
    the fifth… member named)."""

    name: str
    key: tuple[str, ...]


MEMBER_TABLES: tuple[MemberTable, ...] = (
    MemberTable("pledge_signers", ("pledge_id", "member_ref")),
    MemberTable("rollcall_answers", ("rollcall_id", "member_ref")),
    MemberTable("personal_reminders", ("id",)),  # random IDs (storage.hashing.random_id)
    MemberTable("member_flags", ("member_ref", "flag")),
    MemberTable("confirmations", ("room_ref", "code")),
    MemberTable("undecrypted", ("id",)),  # random IDs
    MemberTable("member_prefs", ("member_ref", "name")),
    MemberTable("poll_votes", ("poll_id", "member_ref")),
    MemberTable("rsvps", ("action_id", "member_ref")),
    MemberTable("pledge_counts", ("pledge_id", "company")),
    MemberTable("pledge_companies", ("pledge_id", "company")),
    MemberTable("rollcall_counts", ("rollcall_id", "company_key", "company_display")),
    MemberTable("hub_members", ("member_ref",)),
    MemberTable("hub_quiet", ("member_ref",)),
    MemberTable("hub_vouches", ("member_ref",)),
    MemberTable("hotline_blocked", ("member_ref",)),
)
# Tables with a keyed member reference that are not rebuilt, and why (the inventory is checked
# by tests/unit/test_rebuild.py):
NOT_REBUILT: dict[str, str] = {}
