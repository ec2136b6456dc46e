"""Every storage domain, in the order :meth:`storage.db.Database.migrate` applies them.

A database gets every table whatever its opener imported: the list is here, not assembled by
import side effects. A new domain module declares its ``SCHEMA`` and is added below; its name
and released steps never change afterwards (``schema_versions`` holds each domain's version).
No domain refers to another's tables, so the order is only the one the bot has always used.

:data:`MEMBER_TABLES` (kept by :mod:`storage.rebuild`, which rewrites them, and re-exported here)
lists every table whose rows stand for one member's act (a keyed member reference in the row):
each is ``WITHOUT ROWID`` with a key that starts with keyed hashes or random IDs, rewritten in key
order on a schedule, so neither the B-tree nor the cells inside a page keep the order members
acted in (issue #17).
"""

from __future__ import annotations

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
from storage.rebuild import MEMBER_TABLES as MEMBER_TABLES  # the tables rebuild owns; re-exported
from storage.rebuild import NOT_REBUILT as NOT_REBUILT
from storage.rebuild import MemberTable as MemberTable

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
