"""Every storage domain, in the order :meth:`storage.db.Database.migrate` applies them.

A database gets every table whatever its opener imported: the list is here, not assembled by
import side effects. A new domain module declares its ``SCHEMA`` and is added below; its name
and released steps never change afterwards (``schema_versions`` holds each domain's version).
No domain refers to another's tables, so the order is only the one the bot has always used.
"""

from __future__ import annotations

from storage import actions, campaign, companies, contracts, pledges, polls, prefs, rollcalls, undecrypted
from storage.db import CORE, Schema

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
)
