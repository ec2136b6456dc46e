"""Public ICE contract awards: one row per (award, source), plus FTS5 over descriptions
(:mod:`storage.contracts.data` loads the shipped dataset and USAspending files into it).

The same award can be known from several sources (an API pull, a download, a 2018 extract, a
news report). Rows are kept per source and upserted by ``(award_key, source)``, so a
re-import changes nothing. What a member sees counts each award **once**: the row with an
amount, preferring ``obligated``, then the newest source (``as_of``). Totals are given per
``amount_kind`` and never added across kinds. Amounts are whole cents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path

from storage.db import Database, Schema

KINDS = ("obligated", "ceiling", "reported")

SCHEMA = Schema(
    "contracts",
    [
        """
        CREATE TABLE contract_awards (
            id INTEGER PRIMARY KEY,
            award_key TEXT NOT NULL,          -- the award ID (PIID), or 'row:<hash>' for a report without one
            source TEXT NOT NULL,             -- identity of the source; upsert key with award_key
            award_id TEXT NOT NULL,
            vendor TEXT NOT NULL,
            vendor_key TEXT NOT NULL,         -- normalized vendor name
            company_key TEXT NOT NULL,        -- canonical company (commands.companies)
            parent TEXT NOT NULL,
            description TEXT NOT NULL,
            amount_cents INTEGER,             -- NULL: no figure known
            amount_kind TEXT NOT NULL CHECK (amount_kind IN ('obligated', 'ceiling', 'reported')),
            start_date TEXT NOT NULL,         -- ISO, possibly partial ('2025-04') or ''
            end_date TEXT NOT NULL,
            agency TEXT NOT NULL,
            sub_agency TEXT NOT NULL,
            source_title TEXT NOT NULL,
            source_url TEXT NOT NULL,
            note TEXT NOT NULL,
            source_kind TEXT NOT NULL,        -- usaspending-api | usaspending-download | usaspending-2018 | press | usaspending
            as_of TEXT NOT NULL,              -- vintage of the source (ISO date or ''); newer wins
            last_modified TEXT NOT NULL,
            origin TEXT NOT NULL,             -- dataset | import | refresh
            digest TEXT NOT NULL,             -- of the content, to tell an update from a no-op
            UNIQUE (award_key, source)
        );
        CREATE INDEX contract_awards_company ON contract_awards (company_key);
        CREATE INDEX contract_awards_vendor ON contract_awards (vendor_key);
        CREATE VIRTUAL TABLE contract_awards_fts USING fts5 (
            description, vendor, content='contract_awards', content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER contract_awards_ai AFTER INSERT ON contract_awards BEGIN
            INSERT INTO contract_awards_fts (rowid, description, vendor) VALUES (new.id, new.description, new.vendor);
        END;
        CREATE TRIGGER contract_awards_ad AFTER DELETE ON contract_awards BEGIN
            INSERT INTO contract_awards_fts (contract_awards_fts, rowid, description, vendor)
                VALUES ('delete', old.id, old.description, old.vendor);
        END;
        CREATE TRIGGER contract_awards_au AFTER UPDATE ON contract_awards BEGIN
            INSERT INTO contract_awards_fts (contract_awards_fts, rowid, description, vendor)
                VALUES ('delete', old.id, old.description, old.vendor);
            INSERT INTO contract_awards_fts (rowid, description, vendor) VALUES (new.id, new.description, new.vendor);
        END;
        """,
        """
        CREATE TABLE award_alerts (           -- the amount each watched award was last seen (or alerted) at
            award_key TEXT PRIMARY KEY,
            amount_cents INTEGER
        ) WITHOUT ROWID;
        CREATE TABLE award_alert_queue (      -- alerts found by a look-up, until the scheduler posts them
            id INTEGER PRIMARY KEY,
            award_key TEXT NOT NULL,
            amount_cents INTEGER,             -- the amount this look-up found
            previous_cents INTEGER            -- NULL: a new award; else the amount before the modification
        );
        """,
    ],
)

# The shipped dataset of public awards, loaded by ``storage.contracts.data``; the company
# directory (``storage.directory``) also reads its vendor and parent names.
CONTRACTS_CSV = Path(__file__).parent.parent / "data" / "ice_contracts.csv"


@dataclass(frozen=True)
class Award:
    """One award as known from one source."""

    award_key: str
    source: str
    award_id: str
    vendor: str
    vendor_key: str
    company_key: str
    parent: str
    description: str
    amount_cents: int | None
    amount_kind: str
    start_date: str
    end_date: str
    agency: str
    sub_agency: str
    source_title: str
    source_url: str
    note: str
    source_kind: str
    as_of: str
    last_modified: str
    origin: str

    def digest(self) -> str:
        return hashlib.sha256("\x1f".join(map(str, astuple(self))).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Shown:
    """The row chosen to stand for an award, and how many sources know it."""

    award: Award
    sources: int


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0  # the stored row comes from a newer vintage of the same source


_COLUMNS = [f.name for f in fields(Award)]
_COLS = ", ".join(_COLUMNS)
# one award once: a row with an amount, obligated first, then the newest source
_RANK = (
    "ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY (amount_cents IS NOT NULL) DESC, "
    "(amount_kind = 'obligated') DESC, as_of DESC, last_modified DESC, id DESC)"
)


def _award(row: Sequence[object]) -> Award:
    return Award(*row[: len(_COLUMNS)])  # type: ignore[arg-type]


async def upsert_awards(db: Database, awards: Iterable[Award]) -> UpsertResult:
    """Insert or update by ``(award_key, source)``; identical rows are left alone, and a row
    older (``as_of``) than the stored one of the same source does not replace it. Call
    inside a transaction to make a batch all-or-nothing."""
    result = UpsertResult()
    batch = list(awards)
    if not batch:
        return result
    existing: dict[tuple[str, str], tuple[str, str]] = {}
    for source in {a.source for a in batch}:
        for row in await db.fetchall(
            "SELECT award_key, as_of, digest FROM contract_awards WHERE source=?", (source,)
        ):
            existing[(row[0], source)] = (row[1], row[2])
    inserts: list[tuple[object, ...]] = []
    updates: list[tuple[object, ...]] = []
    for award in batch:
        digest = award.digest()
        known = existing.get((award.award_key, award.source))
        if known is None:
            inserts.append((*astuple(award), digest))
            result.inserted += 1
        elif known[1] == digest:
            result.unchanged += 1
        elif award.as_of and known[0] and award.as_of < known[0]:
            result.stale += 1
        else:
            updates.append((*astuple(award), digest, award.award_key, award.source))
            result.updated += 1
        existing[(award.award_key, award.source)] = (award.as_of, digest)
    async with db.transaction():
        if inserts:
            await db.executemany(
                f"INSERT INTO contract_awards ({_COLS}, digest) VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})",
                inserts,
            )
        if updates:
            assignments = ", ".join(f"{c}=?" for c in [*_COLUMNS, "digest"])
            await db.executemany(
                f"UPDATE contract_awards SET {assignments} WHERE award_key=? AND source=?", updates
            )
    return result


async def delete_missing(db: Database, origin: str, keep: set[tuple[str, str]]) -> int:
    """Remove rows of ``origin`` whose (award_key, source) is not in ``keep`` (a dataset row
    that a newer shipped dataset dropped)."""
    rows = await db.fetchall("SELECT id, award_key, source FROM contract_awards WHERE origin=?", (origin,))
    gone = [(r[0],) for r in rows if (r[1], r[2]) not in keep]
    if gone:
        await db.executemany("DELETE FROM contract_awards WHERE id=?", gone)
    return len(gone)


async def awards_for(db: Database, keys: Iterable[str]) -> list[Shown]:
    """Each award of the companies/vendors with these keys once, largest amount first."""
    wanted = sorted(set(keys))
    if not wanted:
        return []
    marks = ", ".join("?" * len(wanted))
    sql = f"""
        WITH matched AS (
            SELECT * FROM contract_awards WHERE company_key IN ({marks}) OR vendor_key IN ({marks})
        ), ranked AS (
            SELECT *, {_RANK.format(part="award_key")} AS rn,
                   COUNT(*) OVER (PARTITION BY award_key) AS n
            FROM matched
        )
        SELECT {_COLS}, n FROM ranked WHERE rn = 1
        ORDER BY coalesce(amount_cents, -1) DESC, start_date DESC, award_key
    """
    rows = await db.fetchall(sql, [*wanted, *wanted])
    return [Shown(_award(r), int(r[len(_COLUMNS)])) for r in rows]


def totals(shown: Iterable[Shown]) -> dict[str, int]:
    """Cents per amount kind, each award once (as chosen); kinds never added together."""
    out: dict[str, int] = {}
    for item in shown:
        if item.award.amount_cents is not None:
            out[item.award.amount_kind] = out.get(item.award.amount_kind, 0) + item.award.amount_cents
    return out


@dataclass(frozen=True)
class CompanyTotal:
    company_key: str
    vendor: str  # a vendor name seen for it, for companies the directory does not know
    awards: int
    cents: dict[str, int]


async def company_totals(db: Database) -> list[CompanyTotal]:
    """Per company, each of its awards once; ordered by obligated, then reported, then ceiling."""
    sql = f"""
        WITH ranked AS (
            SELECT company_key, vendor, amount_cents, amount_kind,
                   {_RANK.format(part="company_key, award_key")} AS rn
            FROM contract_awards
        )
        SELECT company_key, min(vendor), amount_kind, count(*), sum(amount_cents)
        FROM ranked WHERE rn = 1 GROUP BY company_key, amount_kind
    """
    found: dict[str, CompanyTotal] = {}
    for key, vendor, kind, count, cents in await db.fetchall(sql):
        item = found.setdefault(key, CompanyTotal(key, vendor, 0, {}))
        if cents is not None:  # NULL: only awards without a figure
            item.cents[kind] = int(cents)
        found[key] = CompanyTotal(key, item.vendor, item.awards + int(count), item.cents)
    return sorted(
        found.values(),
        key=lambda t: (-t.cents.get("obligated", 0), -t.cents.get("reported", 0), -t.cents.get("ceiling", 0)),
    )


async def search(db: Database, fts_query: str, limit: int = 10) -> tuple[list[Shown], int]:
    """Awards whose description or vendor matches an FTS5 query (already sanitized by the
    caller), each award once; returns (the first ``limit``, how many matched in all)."""
    sql = f"""
        WITH hits AS (
            SELECT DISTINCT a.award_key FROM contract_awards_fts f
            JOIN contract_awards a ON a.id = f.rowid
            WHERE contract_awards_fts MATCH ?
        ), ranked AS (
            SELECT *, {_RANK.format(part="award_key")} AS rn, COUNT(*) OVER (PARTITION BY award_key) AS n
            FROM contract_awards WHERE award_key IN (SELECT award_key FROM hits)
        )
        SELECT {_COLS}, n FROM ranked WHERE rn = 1
        ORDER BY coalesce(amount_cents, -1) DESC, award_key
    """
    rows = await db.fetchall(sql, (fts_query,))
    return [Shown(_award(r), int(r[len(_COLUMNS)])) for r in rows[:limit]], len(rows)


async def vendor_names(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT DISTINCT vendor FROM contract_awards")
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Stats:
    companies: int
    awards: int
    rows: int
    cents: dict[str, int]
    newest_start: str
    sources: list[tuple[str, int, str]]  # (source kind, rows, newest as_of)


async def stats(db: Database) -> Stats:
    counts = await db.fetchone(
        "SELECT count(DISTINCT company_key), count(DISTINCT award_key), count(*), coalesce(max(start_date), '') "
        "FROM contract_awards"
    )
    assert counts is not None
    totals_sql = f"""
        WITH ranked AS (SELECT amount_cents, amount_kind, {_RANK.format(part="award_key")} AS rn FROM contract_awards)
        SELECT amount_kind, sum(amount_cents) FROM ranked WHERE rn = 1 GROUP BY amount_kind
    """
    cents = {r[0]: int(r[1]) for r in await db.fetchall(totals_sql) if r[1] is not None}
    sources = [
        (r[0], int(r[1]), r[2])
        for r in await db.fetchall(
            "SELECT source_kind, count(*), max(as_of) FROM contract_awards GROUP BY source_kind ORDER BY 2 DESC"
        )
    ]
    return Stats(int(counts[0]), int(counts[1]), int(counts[2]), cents, counts[3], sources)


# ---------------------------------------------------------------- award alerts (public data only)

REFRESHED_ON = "awards_refreshed_on"  # meta: the day of the last successful look-up
REFRESH_ERROR = "awards_refresh_error"  # meta: "<day> <what went wrong>" of the last failed one
_WATCHING = "award_alerts_watching"  # meta: a first look-up has set the baseline


@dataclass(frozen=True)
class PendingAlert:
    id: int
    award: Award  # as the look-up that queued the alert found it
    previous_cents: int | None  # None: a new award


async def note_awards(db: Database, awards: Iterable[Award], day: str) -> int:
    """Compare one look-up's awards with what was seen before and queue an alert for each new
    award and each changed amount; returns how many were queued. The first look-up only sets the
    baseline (everything already awarded counts as seen). Call inside the transaction that stores
    the awards, so an alert is queued exactly once across crashes."""
    watching = await db.get_meta(_WATCHING) is not None
    seen = {r[0]: r[1] for r in await db.fetchall("SELECT award_key, amount_cents FROM award_alerts")}
    queued = 0
    for award in awards:
        if award.award_key in seen and seen[award.award_key] == award.amount_cents:
            continue
        if watching:
            await db.execute(
                "INSERT INTO award_alert_queue (award_key, amount_cents, previous_cents) VALUES (?, ?, ?)",
                (award.award_key, award.amount_cents, seen.get(award.award_key)))
            queued += 1
        await db.execute("INSERT INTO award_alerts (award_key, amount_cents) VALUES (?, ?) ON CONFLICT "
                         "(award_key) DO UPDATE SET amount_cents=excluded.amount_cents",
                         (award.award_key, award.amount_cents))
        seen[award.award_key] = award.amount_cents
    await db.set_meta(_WATCHING, "1")
    await db.set_meta(REFRESHED_ON, day)
    await db.execute("DELETE FROM meta WHERE key=?", (REFRESH_ERROR,))
    return queued


async def note_refresh_error(db: Database, day: str, problem: str) -> None:
    await db.set_meta(REFRESH_ERROR, f"{day} {problem[:300]}")


async def refresh_status(db: Database) -> tuple[str | None, str | None]:
    """The day of the last successful look-up, and the last error since (``<day> <problem>``)."""
    return await db.get_meta(REFRESHED_ON), await db.get_meta(REFRESH_ERROR)


async def next_alert(db: Database) -> bool:
    return await db.fetchone("SELECT 1 FROM award_alert_queue LIMIT 1") is not None


async def pending_alerts(db: Database, source: str) -> list[PendingAlert]:
    """Queued alerts, oldest first, each with its award as ``source`` knows it."""
    rows = await db.fetchall(
        f"SELECT q.id, q.previous_cents, q.amount_cents, {', '.join('a.' + c for c in _COLUMNS)} "
        "FROM award_alert_queue q JOIN contract_awards a ON a.award_key = q.award_key AND a.source = ? ORDER BY q.id",
        (source,))
    return [PendingAlert(r[0], replace(Award(*r[3:]), amount_cents=r[2]), r[1]) for r in rows]


async def clear_alerts(db: Database) -> None:
    await db.execute("DELETE FROM award_alert_queue")
