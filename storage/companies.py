"""Company aliases added by coordinators (``!company alias``), on top of the built-in table.

Rows hold only public company names, never anything about members.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database, Schema

SCHEMA = Schema(
    "companies",
    [
        """
        CREATE TABLE company_aliases (
            alias_key TEXT PRIMARY KEY,      -- commands.companies.normalize(alias)
            company_key TEXT NOT NULL,       -- canonical company key
            display TEXT NOT NULL            -- the company's display name
        );
        """
    ],
)


@dataclass(frozen=True)
class AliasRow:
    alias_key: str
    company_key: str
    display: str


async def add_alias(db: Database, alias_key: str, company_key: str, display: str) -> None:
    """Add or re-point an alias (bumps :func:`aliases_stamp`, so cached directories reload)."""
    await db.execute(
        "INSERT INTO company_aliases (alias_key, company_key, display) VALUES (?, ?, ?) "
        "ON CONFLICT(alias_key) DO UPDATE SET company_key=excluded.company_key, display=excluded.display",
        (alias_key, company_key, display),
    )
    await _bump(db)


async def remove_alias(db: Database, alias_key: str) -> bool:
    removed = await db.execute("DELETE FROM company_aliases WHERE alias_key=?", (alias_key,)) > 0
    if removed:
        await _bump(db)
    return removed


async def load_aliases(db: Database) -> list[AliasRow]:
    rows = await db.fetchall("SELECT alias_key, company_key, display FROM company_aliases ORDER BY rowid")
    return [AliasRow(r[0], r[1], r[2]) for r in rows]


_GENERATION = "company_aliases_generation"


async def _bump(db: Database) -> None:
    await db.bump_generation(_GENERATION)


async def aliases_stamp(db: Database) -> str:
    """A cheap value (one indexed read) that changes whenever the alias table does."""
    return await db.get_meta(_GENERATION) or "0"
