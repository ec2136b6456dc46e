"""Pledges: campaigns members sign, with goals, thresholds and deadlines.

Privacy: a signer row holds only a keyed hash of the member under a key derived for that one
pledge (``member:pledge:<id>``), so the same member's rows in two pledges cannot be linked
without the master key; no signing time is stored, and the signer table is ``WITHOUT ROWID``
(ordered by the hash), so not even insertion order survives. Per-company pledges keep the
normalized company key with the row. Titles and announce rooms are sealed (AES-GCM) here, each
under its own purpose, and rooms are found by keyed reference: callers pass and get plain text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.db import Database, Schema
from storage.hashing import Keyring
from storage.times import day_s

TITLE = "pledge-title"  # purposes of the seals (and of room refs)
ROOM = "pledge-room"

SCHEMA = Schema(
    "pledges",
    [
        """
        CREATE TABLE pledges (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            slug TEXT NOT NULL UNIQUE,            -- short public name chosen by a coordinator
            title_sealed BLOB NOT NULL,           -- the coordinator's title, sealed
            goal INTEGER,
            threshold INTEGER,
            per_company INTEGER NOT NULL DEFAULT 0,
            deadline INTEGER,                     -- unix seconds (UTC)
            zone TEXT NOT NULL DEFAULT 'UTC',     -- IANA zone the deadline was given in
            created_at INTEGER NOT NULL,          -- since step 5 the start of its day (UTC)
            closed_at INTEGER,                    -- set once; the final result was announced then
            announced INTEGER NOT NULL DEFAULT 0  -- overall threshold announced (never reset)
        );
        CREATE INDEX pledges_open_deadline ON pledges (deadline) WHERE closed_at IS NULL;
        -- rooms to announce in: the creation room and rooms added with `pledge rooms <slug> add`
        CREATE TABLE pledge_rooms (
            pledge_id INTEGER NOT NULL REFERENCES pledges(id) ON DELETE CASCADE,
            room_ref BLOB NOT NULL,
            room_sealed BLOB NOT NULL,
            PRIMARY KEY (pledge_id, room_ref)
        ) WITHOUT ROWID;
        -- one row per signer: keyed hash under the pledge's own key; no time, no order
        CREATE TABLE pledge_signers (
            pledge_id INTEGER NOT NULL REFERENCES pledges(id) ON DELETE CASCADE,
            member_ref BLOB NOT NULL,
            company TEXT,                         -- normalized company key (per-company pledges)
            PRIMARY KEY (pledge_id, member_ref)
        ) WITHOUT ROWID;
        -- display names of companies signed for (first form given), and per-company thresholds announced
        CREATE TABLE pledge_companies (
            pledge_id INTEGER NOT NULL REFERENCES pledges(id) ON DELETE CASCADE,
            company TEXT NOT NULL,
            display TEXT NOT NULL,
            announced INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (pledge_id, company)
        ) WITHOUT ROWID;
        """,
        # 2: signer counts kept up to date on every write (triggers), so no command aggregates all
        # signer rows. One row per (pledge, company key); signers without a company are counted
        # under '' (never a company key: empty names are refused). Triggers also see the deletes of
        # `!forget`, retention and ON DELETE CASCADE. Only counts, nothing about a member.
        """
        CREATE TABLE pledge_counts (
            pledge_id INTEGER NOT NULL REFERENCES pledges(id) ON DELETE CASCADE,
            company TEXT NOT NULL,                -- company key, '' for signers without one
            n INTEGER NOT NULL,
            PRIMARY KEY (pledge_id, company)
        ) WITHOUT ROWID;
        INSERT INTO pledge_counts (pledge_id, company, n)
            SELECT pledge_id, coalesce(company, ''), COUNT(*) FROM pledge_signers GROUP BY 1, 2;
        CREATE TRIGGER pledge_signers_count_insert AFTER INSERT ON pledge_signers BEGIN
            INSERT INTO pledge_counts (pledge_id, company, n) VALUES (NEW.pledge_id, coalesce(NEW.company, ''), 1)
                ON CONFLICT (pledge_id, company) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER pledge_signers_count_delete AFTER DELETE ON pledge_signers BEGIN
            UPDATE pledge_counts SET n = n - 1 WHERE pledge_id = OLD.pledge_id AND company = coalesce(OLD.company, '');
            DELETE FROM pledge_counts WHERE pledge_id = OLD.pledge_id AND company = coalesce(OLD.company, '')
                AND n <= 0;
        END;
        CREATE TRIGGER pledge_signers_count_update AFTER UPDATE OF pledge_id, company ON pledge_signers
        WHEN OLD.pledge_id IS NOT NEW.pledge_id OR OLD.company IS NOT NEW.company BEGIN
            UPDATE pledge_counts SET n = n - 1 WHERE pledge_id = OLD.pledge_id AND company = coalesce(OLD.company, '');
            DELETE FROM pledge_counts WHERE pledge_id = OLD.pledge_id AND company = coalesce(OLD.company, '')
                AND n <= 0;
            INSERT INTO pledge_counts (pledge_id, company, n) VALUES (NEW.pledge_id, coalesce(NEW.company, ''), 1)
                ON CONFLICT (pledge_id, company) DO UPDATE SET n = n + 1;
        END;
        """,
        # 3: a change token per pledge, set to a fresh random value by every write that can change
        # its shown figures (signers, company display forms, announced marks), so the figures
        # read for `!pledges` are reused while nothing changed. Random, not a counter: a rolled
        # back change must not leave a token that a later, different change could reuse.
        """
        CREATE TABLE pledge_changes (
            pledge_id INTEGER PRIMARY KEY REFERENCES pledges(id) ON DELETE CASCADE,
            token INTEGER NOT NULL
        );
        INSERT INTO pledge_changes (pledge_id, token) SELECT id, random() FROM pledges;
        CREATE TRIGGER pledges_change_insert AFTER INSERT ON pledges BEGIN
            INSERT OR IGNORE INTO pledge_changes (pledge_id, token) VALUES (NEW.id, random());
        END;
        CREATE TRIGGER pledge_counts_change_insert AFTER INSERT ON pledge_counts BEGIN
            UPDATE pledge_changes SET token = random() WHERE pledge_id = NEW.pledge_id;
        END;
        CREATE TRIGGER pledge_counts_change_update AFTER UPDATE ON pledge_counts BEGIN
            UPDATE pledge_changes SET token = random() WHERE pledge_id IN (OLD.pledge_id, NEW.pledge_id);
        END;
        CREATE TRIGGER pledge_counts_change_delete AFTER DELETE ON pledge_counts BEGIN
            UPDATE pledge_changes SET token = random() WHERE pledge_id = OLD.pledge_id;
        END;
        CREATE TRIGGER pledge_companies_change_insert AFTER INSERT ON pledge_companies BEGIN
            UPDATE pledge_changes SET token = random() WHERE pledge_id = NEW.pledge_id;
        END;
        CREATE TRIGGER pledge_companies_change_update AFTER UPDATE ON pledge_companies BEGIN
            UPDATE pledge_changes SET token = random() WHERE pledge_id IN (OLD.pledge_id, NEW.pledge_id);
        END;
        CREATE TRIGGER pledge_companies_change_delete AFTER DELETE ON pledge_companies BEGIN
            UPDATE pledge_changes SET token = random() WHERE pledge_id = OLD.pledge_id;
        END;
        """,
        # 4: no typed company text (issue #17): a company is shown by the directory's name or by
        # its normalized key, never as the first signer typed it; names kept so far become keys
        # (a known company gets its directory name back at its next signature). A company row
        # goes when nobody counts for it any more (the count row is deleted at 0), unless its
        # threshold was announced (the mark keeps the announcement once).
        """
        UPDATE pledge_companies SET display = company;
        DELETE FROM pledge_companies WHERE announced = 0 AND NOT EXISTS (
            SELECT 1 FROM pledge_counts c WHERE c.pledge_id = pledge_companies.pledge_id
                AND c.company = pledge_companies.company);
        CREATE TRIGGER pledge_counts_forget_company AFTER DELETE ON pledge_counts BEGIN
            DELETE FROM pledge_companies WHERE pledge_id = OLD.pledge_id AND company = OLD.company
                AND announced = 0;
        END;
        """,
        # 5 (issue #17): no time finer than a day in clear where only retention could read it:
        # created_at becomes the start of its day. (closed_at stays exact for now: `!pledge info`
        # shows it, and the pledge commands, being changed elsewhere, close without the keyring
        # that sealing needs; see SECURITY.md.)
        """
        UPDATE pledges SET created_at = created_at / 86400 * 86400;
        """,
        # 6 (issue #17): closed_at becomes the start of its day too (the close itself is announced
        # at its time; `!pledge info` shows the day). Retention reads it to the day.
        """
        UPDATE pledges SET closed_at = closed_at / 86400 * 86400 WHERE closed_at IS NOT NULL;
        """,
        # 7 (issue #23): a company the directory does not know is never shown, not even by its
        # key (k accounts signing for a made-up "company" would have the bot announce their
        # text). New signatures keep ``~`` and a keyed reference (storage.directory.unlisted_key)
        # and no display row; display forms that were the key itself (unknown companies, step 4)
        # become '~', which readers pool with the unlisted companies.
        """
        UPDATE pledge_companies SET display = '~' WHERE display = company;
        """,
    ],
)


@dataclass(frozen=True)
class Pledge:
    id: int
    slug: str
    title: str
    goal: int | None
    threshold: int | None
    per_company: bool
    deadline: datetime | None
    zone: str
    created_at: datetime
    closed_at: datetime | None
    announced: bool

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


_COLUMNS = "id, slug, title_sealed, goal, threshold, per_company, deadline, zone, created_at, closed_at, announced"


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _dt(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _pledge(keyring: Keyring, row: object) -> Pledge:
    r = row  # sqlite3.Row
    return Pledge(
        id=r[0], slug=r[1], title=keyring.unseal(TITLE, bytes(r[2])), goal=r[3], threshold=r[4], per_company=bool(r[5]),  # type: ignore[index]
        deadline=_dt(r[6]), zone=r[7], created_at=_dt(r[8]) or datetime.fromtimestamp(0, UTC),  # type: ignore[index]
        closed_at=_dt(r[9]), announced=bool(r[10]),  # type: ignore[index]
    )


async def create(
    db: Database, keyring: Keyring, *, slug: str, title: str, goal: int | None, threshold: int | None,
    per_company: bool, deadline: datetime | None, zone: str, now: datetime,
) -> int:
    return await db.insert(
        "INSERT OR IGNORE INTO pledges (slug, title_sealed, goal, threshold, per_company, deadline, zone, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (slug, keyring.seal(TITLE, title), goal, threshold, int(per_company), None if deadline is None else _ts(deadline),
         zone, day_s(now)),
    )


async def by_slug(db: Database, keyring: Keyring, slug: str) -> Pledge | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM pledges WHERE slug=?", (slug,))
    return _pledge(keyring, row) if row else None


async def all_pledges(db: Database, keyring: Keyring) -> list[Pledge]:
    return [_pledge(keyring, r) for r in await db.fetchall(f"SELECT {_COLUMNS} FROM pledges ORDER BY id")]


async def open_pledges(db: Database, keyring: Keyring) -> list[Pledge]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM pledges WHERE closed_at IS NULL ORDER BY id")
    return [_pledge(keyring, r) for r in rows]


async def all_slugs(db: Database) -> list[str]:
    return [r[0] for r in await db.fetchall("SELECT slug FROM pledges")]


async def close(db: Database, pledge_id: int, now: datetime) -> bool:
    """Close an open pledge; ``False`` if it was closed already (so results post once). The
    close is kept to the day (``storage/times.py``)."""
    return await db.execute(
        "UPDATE pledges SET closed_at=? WHERE id=? AND closed_at IS NULL", (day_s(now), pledge_id)
    ) > 0


async def mark_announced(db: Database, pledge_id: int) -> bool:
    """Mark the overall threshold announced; ``True`` only the first time."""
    return await db.execute("UPDATE pledges SET announced=1 WHERE id=? AND announced=0", (pledge_id,)) > 0


async def next_deadline(db: Database) -> datetime | None:
    row = await db.fetchone("SELECT MIN(deadline) FROM pledges WHERE closed_at IS NULL AND deadline IS NOT NULL")
    return _dt(row[0]) if row else None


async def due(db: Database, keyring: Keyring, now: datetime) -> list[Pledge]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM pledges WHERE closed_at IS NULL AND deadline IS NOT NULL AND deadline <= ? "
        "ORDER BY deadline, id", (_ts(now),)
    )
    return [_pledge(keyring, r) for r in rows]


# ---------------------------------------------------------------- rooms


async def add_room(db: Database, keyring: Keyring, pledge_id: int, room_id: str) -> bool:
    return await db.execute(
        "INSERT OR IGNORE INTO pledge_rooms (pledge_id, room_ref, room_sealed) VALUES (?, ?, ?)",
        (pledge_id, keyring.ref(ROOM, room_id), keyring.seal(ROOM, room_id)),
    ) > 0


async def remove_room(db: Database, keyring: Keyring, pledge_id: int, room_id: str) -> bool:
    return await db.execute(
        "DELETE FROM pledge_rooms WHERE pledge_id=? AND room_ref=?", (pledge_id, keyring.ref(ROOM, room_id))
    ) > 0


async def rooms(db: Database, keyring: Keyring, pledge_id: int) -> list[str]:
    rows = await db.fetchall("SELECT room_sealed FROM pledge_rooms WHERE pledge_id=?", (pledge_id,))
    return [keyring.unseal(ROOM, bytes(r[0])) for r in rows]


# ---------------------------------------------------------------- signers


async def sign(db: Database, pledge_id: int, member_ref: bytes, company: str | None) -> bool:
    """Record a signature; ``False`` if this member had signed already (nothing changes)."""
    return await db.execute(
        "INSERT OR IGNORE INTO pledge_signers (pledge_id, member_ref, company) VALUES (?, ?, ?)",
        (pledge_id, member_ref, company),
    ) > 0


async def unsign(db: Database, pledge_id: int, member_ref: bytes) -> bool:
    return await db.execute(
        "DELETE FROM pledge_signers WHERE pledge_id=? AND member_ref=?", (pledge_id, member_ref)
    ) > 0


async def signature(db: Database, pledge_id: int, member_ref: bytes) -> tuple[bool, str | None]:
    """(signed, company key) of one member."""
    row = await db.fetchone(
        "SELECT company FROM pledge_signers WHERE pledge_id=? AND member_ref=?", (pledge_id, member_ref)
    )
    return (row is not None, row[0] if row else None)


async def count(db: Database, pledge_id: int) -> int:
    """Signers of a pledge (from the trigger-maintained ``pledge_counts``)."""
    row = await db.fetchone("SELECT coalesce(SUM(n), 0) FROM pledge_counts WHERE pledge_id=?", (pledge_id,))
    return int(row[0]) if row else 0


async def company_counts(db: Database, pledge_id: int) -> dict[str, int]:
    """Signers per company key (rows without a company are left out)."""
    rows = await db.fetchall(
        "SELECT company, n FROM pledge_counts WHERE pledge_id=? AND company != '' AND n > 0", (pledge_id,)
    )
    return {r[0]: int(r[1]) for r in rows}


async def company_count(db: Database, pledge_id: int, company: str) -> int:
    """Signers of a pledge for one company key."""
    row = await db.fetchone("SELECT n FROM pledge_counts WHERE pledge_id=? AND company=?", (pledge_id, company))
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Figures:
    """Everything the shown figures of one pledge need, read in two queries."""

    total: int  # every signer
    company_total: int  # signers with a company
    labelled: dict[str, int]  # signers per company display form (keys with one display merged)
    announced: tuple[str, ...]  # display forms of the companies whose threshold was announced
    met: bool = False  # the whole pledge's threshold was announced (published figures: storage.published)


async def figures(db: Database, pledge_ids: list[int]) -> dict[int, Figures]:
    """:class:`Figures` of several pledges at once (for ``!pledges``: no query per pledge). The
    labels are ``company_displays`` applied to ``company_counts`` (a key without a display form
    stands for itself), summed per label, done by SQLite."""
    if not pledge_ids:
        return {}
    tokens = {r[0]: r[1] for r in await db.fetchall(
        f"SELECT pledge_id, token FROM pledge_changes WHERE pledge_id IN ({','.join('?' * len(pledge_ids))})",  # noqa: S608
        pledge_ids,
    )}
    found: dict[int, Figures] = {}
    for i in pledge_ids:
        hit = _FIGURES.get(i)
        if hit is not None and i in tokens and hit[0] == tokens[i]:
            found[i] = hit[1]
    missing = [i for i in pledge_ids if i not in found]
    if missing:
        fresh = await live_figures(db, missing)
        if len(_FIGURES) > 4096:
            _FIGURES.clear()
        for i, value in fresh.items():
            found[i] = value
            if i in tokens:
                _FIGURES[i] = (tokens[i], value)
    return {i: found[i] for i in pledge_ids}


# pledge id → (change token, figures); a hit needs the pledge's current token (see migration 3)
_FIGURES: dict[int, tuple[int, Figures]] = {}


async def live_figures(db: Database, pledge_ids: list[int]) -> dict[int, Figures]:
    marks = ",".join("?" * len(pledge_ids))
    totals = {i: 0 for i in pledge_ids}
    company_totals = {i: 0 for i in pledge_ids}
    labelled: dict[int, dict[str, int]] = {i: {} for i in pledge_ids}
    announced: dict[int, list[str]] = {i: [] for i in pledge_ids}
    # one statement (one hop to the database thread): a row per pledge with the labels as one
    # JSON object (thousands of companies cost no Python loop), then a row per announced company
    rows = await db.fetchall(
        "SELECT 0, pledge_id, SUM(n), SUM(CASE WHEN label IS NULL THEN 0 ELSE n END), "
        "json_group_object(label, n) FILTER (WHERE label IS NOT NULL) FROM ("
        "SELECT c.pledge_id AS pledge_id, SUM(c.n) AS n, "
        "CASE WHEN c.company = '' THEN NULL ELSE coalesce(d.display, c.company) END AS label "
        "FROM pledge_counts c LEFT JOIN pledge_companies d ON d.pledge_id = c.pledge_id AND d.company = c.company "
        f"WHERE c.pledge_id IN ({marks}) AND c.n > 0 GROUP BY c.pledge_id, label) GROUP BY pledge_id "
        "UNION ALL SELECT 1, pledge_id, NULL, NULL, display FROM pledge_companies "
        f"WHERE pledge_id IN ({marks}) AND announced = 1",  # noqa: S608
        [*pledge_ids, *pledge_ids],
    )
    for kind, pledge_id, total, company_total, text in rows:
        if kind == 0:
            totals[pledge_id] = total
            company_totals[pledge_id] = company_total
            labelled[pledge_id] = json.loads(text) if text else {}
        else:
            announced[pledge_id].append(text)
    return {i: Figures(totals[i], company_totals[i], labelled[i], tuple(announced[i])) for i in pledge_ids}


async def note_company(db: Database, pledge_id: int, company: str, display: str) -> None:
    """Keep the shown name of a company signed for: the directory's name, or the key itself;
    never a member's typed text (rows from before were re-keyed by migration 4)."""
    await db.execute(
        "INSERT INTO pledge_companies (pledge_id, company, display) VALUES (?, ?, ?) "
        "ON CONFLICT (pledge_id, company) DO UPDATE SET display=excluded.display WHERE display <> excluded.display",
        (pledge_id, company, display),
    )


async def company_displays(db: Database, pledge_id: int) -> dict[str, str]:
    rows = await db.fetchall("SELECT company, display FROM pledge_companies WHERE pledge_id=?", (pledge_id,))
    return {r[0]: r[1] for r in rows}


async def announced_companies(db: Database, pledge_id: int) -> set[str]:
    rows = await db.fetchall(
        "SELECT company FROM pledge_companies WHERE pledge_id=? AND announced=1", (pledge_id,)
    )
    return {r[0] for r in rows}


async def mark_company_announced(db: Database, pledge_id: int, company: str) -> bool:
    """``True`` only the first time a company's threshold is announced."""
    return await db.execute(
        "UPDATE pledge_companies SET announced=1 WHERE pledge_id=? AND company=? AND announced=0",
        (pledge_id, company),
    ) > 0


# ---------------------------------------------------------------- retention


async def delete_closed_before(db: Database, cutoff: datetime) -> int:
    """Delete pledges closed before ``cutoff`` with all their rows; returns rows removed."""
    ids = [r[0] for r in await db.fetchall(
        "SELECT id FROM pledges WHERE closed_at IS NOT NULL AND closed_at < ?", (_ts(cutoff),)
    )]
    removed = 0
    for pledge_id in ids:
        for table in ("pledge_signers", "pledge_rooms", "pledge_companies"):  # counts follow by trigger
            removed += await db.execute(f"DELETE FROM {table} WHERE pledge_id=?", (pledge_id,),  # noqa: S608
                                          slow=True)
        removed += await db.execute("DELETE FROM pledges WHERE id=?", (pledge_id,))
    return removed
