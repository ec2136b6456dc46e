"""Member tables keep no order (issue #17): every member-linked table is WITHOUT ROWID and listed
for the scheduled rebuild, which rewrites it in key order, keeps every row, count, index and
trigger, and is all-or-nothing; older databases are migrated with their data; no member-linked
row keeps a time finer than a day except a reminder's due time."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from commands import base
from storage import actions, core, pledges, rebuild, rollcalls, schema, undecrypted
from storage.db import Database, Schema
from storage.hashing import Keyring, Member, random_id
from storage.schema import open_database
from tests.fakes import DM, make_world
from tests.ordering import within_pages


async def _tables(db: Database) -> dict[str, str]:
    return {r[0]: r[1] for r in await db.fetchall("SELECT name, sql FROM sqlite_master WHERE type='table'")}


async def test_every_member_linked_table_is_without_rowid_keyed_as_declared_and_listed(world):
    tables = await _tables(world.db)
    listed = {t.name for t in schema.MEMBER_TABLES}
    with_member = {name for name in tables
                   if any(c[1] == "member_ref" for c in await world.db.fetchall(f"PRAGMA table_info({name})"))}
    assert with_member <= listed | set(schema.NOT_REBUILT), with_member - listed - set(schema.NOT_REBUILT)
    assert {"pledge_counts", "pledge_companies", "rollcall_counts"} <= listed  # rows appear as members name companies
    for table in schema.MEMBER_TABLES:
        assert "WITHOUT ROWID" in tables[table.name].upper(), table.name
        info = await world.db.fetchall(f"PRAGMA table_info({table.name})")
        pk = tuple(c[1] for c in sorted((c for c in info if c[5]), key=lambda c: c[5]))
        assert pk == table.key, table.name


async def _sign_many(db: Database, ring: Keyring, n: int) -> tuple[int, int, list[bytes]]:
    async with db.transaction():
        pledge_id = await pledges.create(db, ring, slug="p", title="t", goal=None, threshold=None,
                                         per_company=True, deadline=None, zone="UTC", now=_now())
        rollcall_id = await rollcalls.create(db, ring, "r", "t", None, _now(), None)
    refs = []
    for i in range(n):  # one transaction per member, as commands are
        member = Member(ring, f"@m{i}:example.org")
        async with db.transaction():
            await pledges.sign(db, pledge_id, member.ref(f"pledge:{pledge_id}"), ["acme", "initech"][i % 2])
            await rollcalls.set_answer(db, rollcall_id, member.ref(f"rollcall:{rollcall_id}"), "acme", "Acme")
        refs.append(member.ref(f"pledge:{pledge_id}"))
    return pledge_id, rollcall_id, refs


def _now():  # noqa: ANN202
    from datetime import UTC, datetime
    return datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _order_in_file(path, refs: list[bytes]) -> float:  # noqa: ANN001
    """Spearman ρ, within pages, between where each reference sits in the (plaintext) file and
    the order it was inserted in (tests/ordering.py)."""
    data = path.read_bytes()
    offsets = [data.find(ref) for ref in refs]
    assert all(o >= 0 for o in offsets)
    rho, counted = within_pages([(o // 4096, o % 4096, i) for i, o in enumerate(offsets)])
    assert counted > len(refs) // 2
    return rho


async def test_a_rebuild_resets_the_order_cells_were_written_in(tmp_path):
    world = await make_world(tmp_path)  # plaintext, so offsets can be read directly
    db = world.db
    try:
        pledge_id, rollcall_id, refs = await _sign_many(db, world.keyring, 300)
        await db.checkpoint()
        before = _order_in_file(tmp_path / "bot.db", refs)
        assert before < -0.25  # new cells go below the earlier ones: offsets fall as members sign
        async with db.transaction():
            rows = await rebuild.run(db, world.now, timedelta(hours=1))
        assert rows == 600 + 2 + 1  # signers, answers, and their count rows (two companies, one)
        await db.checkpoint()
        after = _order_in_file(tmp_path / "bot.db", refs)
        assert abs(after) < 0.2, (before, after)
        assert (tmp_path / "bot.db-wal").stat().st_size == 0
        # every row, count, index and trigger is still there and working
        assert await pledges.count(db, pledge_id) == 300
        assert await pledges.company_counts(db, pledge_id) == {"acme": 150, "initech": 150}
        assert await rollcalls.counts(db, rollcall_id) == [("acme", "Acme", 300)]
        newcomer = Member(world.keyring, "@late:example.org")
        async with db.transaction():
            assert await pledges.sign(db, pledge_id, newcomer.ref(f"pledge:{pledge_id}"), "acme")
            assert not await pledges.sign(db, pledge_id, refs[0], "acme")  # the primary key holds
        assert await pledges.count(db, pledge_id) == 301
        assert "rollcall_answers__rebuild" not in await _tables(db)
    finally:
        await db.close()



async def test_settling_rebuilds_the_tables_written_since_the_last_settle_and_no_other(tmp_path):
    """Issue #23: after a sync batch the tables its commands wrote lose their cells' order and
    the WAL its per-command commits; nothing written, nothing done; it keeps working after."""
    world = await make_world(tmp_path)
    db = world.db
    try:
        assert await rebuild.settle(db) > 0  # a fresh connection settles everything once (a crash's leftovers)
        await db.checkpoint()
        assert await rebuild.settle(db) == 0  # nothing written since: one read, no transaction
        pledge_id, _, refs = await _sign_many(db, world.keyring, 300)
        await db.checkpoint()
        before = _order_in_file(tmp_path / "bot.db", refs)
        assert before < -0.25
        settled = await rebuild.settle(db)
        assert settled == 4  # pledge_signers, pledge_counts, rollcall_answers, rollcall_counts
        assert db._checkpointer is not None
        await db._checkpointer  # asked for after the settle's commit: the WAL is emptied
        assert (tmp_path / "bot.db-wal").stat().st_size == 0
        after = _order_in_file(tmp_path / "bot.db", refs)
        assert abs(after) < 0.2, (before, after)
        async with db.transaction():  # a later write is noticed again: the watch survived the rebuild
            await pledges.unsign(db, pledge_id, refs[0])
        assert await rebuild.settle(db) == 2  # pledge_signers and its counts (the count trigger)
        assert await pledges.count(db, pledge_id) == 299
    finally:
        await db.close()

async def test_a_failed_rebuild_changes_nothing(world, monkeypatch):
    pledge_id, _, _ = await _sign_many(world.db, world.keyring, 20)
    before = {name: sql for name, sql in (await _tables(world.db)).items()}
    triggers = await world.db.fetchall("SELECT name FROM sqlite_master WHERE type='trigger' ORDER BY name")
    calls = 0
    original = rebuild.rebuild_table

    async def fail_on_second(db, name, key):  # noqa: ANN001, ANN202
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("crash in the middle")
        return await original(db, name, key)

    monkeypatch.setattr(rebuild, "rebuild_table", fail_on_second)
    with pytest.raises(RuntimeError):
        async with world.db.transaction():
            await rebuild.run(world.db, world.now, timedelta(hours=1))
    assert await _tables(world.db) == before
    assert await world.db.fetchall("SELECT name FROM sqlite_master WHERE type='trigger' ORDER BY name") == triggers
    assert await pledges.count(world.db, pledge_id) == 20
    assert await rebuild.next_run(world.db) <= world.now  # still due


async def test_the_rebuild_is_a_scheduled_source_run_at_the_configured_interval(make_world_with):
    w = await make_world_with(BOT_REBUILD_INTERVAL=600)
    source = base.DUE_SOURCES["rebuild"]
    assert await source.next_due(w.db) <= w.now  # never ran: due at once
    async with w.db.transaction():
        assert await source.fire(w.env()) == []
    assert await source.next_due(w.db) == w.now + timedelta(seconds=600)
    marked = await w.db.get_meta(rebuild.NEXT_RUN_KEY)
    w.now += timedelta(seconds=599)  # the scheduler fires every source when another is due
    async with w.db.transaction():
        await source.fire(w.env())
    assert await w.db.get_meta(rebuild.NEXT_RUN_KEY) == marked
    w.now += timedelta(seconds=1)
    async with w.db.transaction():
        await source.fire(w.env())
    assert await source.next_due(w.db) == w.now + timedelta(seconds=600)


async def test_the_rebuild_logs_one_line_without_identities(world, caplog):
    await _sign_many(world.db, world.keyring, 5)
    caplog.set_level("INFO", logger="organizer_bot.rebuild")
    async with world.db.transaction():
        await rebuild.run(world.db, world.now, timedelta(hours=1))
    lines = [r.getMessage() for r in caplog.records if r.name == "organizer_bot.rebuild"]
    # 5 signers, 5 answers, the signers' two company counts and the answers' one
    assert lines == [f"rebuild: rewrote {len(schema.MEMBER_TABLES)} member tables (13 rows) in key order"]


@pytest.mark.parametrize("value", ["10", "0", "-5", "100000", "hourly"])
def test_rebuild_interval_is_validated_with_a_clear_message(tmp_path, monkeypatch, value):
    env = tmp_path / "bot.env"
    env.write_text("MATRIX_HOMESERVER=https://m.example.org\nMATRIX_USER_ID=@bot:example.org\n"
                   "MATRIX_ACCESS_TOKEN=t\nBOT_HASH_KEY=" + "k" * 44 + "\nBOT_STORE_KEY=s\n"
                   f"BOT_REBUILD_INTERVAL={value}\n")
    for key in ("BOT_REBUILD_INTERVAL", "BOT_HASH_KEY", "BOT_STORE_KEY", "MATRIX_ACCESS_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    (line,) = [p for p in raised.value.problems if p.startswith("BOT_REBUILD_INTERVAL")]
    assert "60 to 86400" in line


# ---------------------------------------------------------------- migrations from earlier releases


async def test_older_member_tables_are_migrated_with_their_data(tmp_path, monkeypatch):
    """A database made before these steps (rowid tables, a sequential reminder ID, done_at in
    ms, the zone in clear) keeps every row after the upgrade, in WITHOUT ROWID tables."""
    ring = Keyring(b"k" * 32)
    old_steps = {"core": 3, "rollcalls": 3, "actions": 1, "undecrypted": 1}
    monkeypatch.setattr(schema, "DOMAINS", tuple(
        Schema(d.domain, d.steps[:old_steps[d.domain]]) if d.domain in old_steps else d for d in schema.DOMAINS))
    db = await open_database(tmp_path / "old.db")
    assert "WITHOUT ROWID" not in (await _tables(db))["rollcall_answers"].upper()
    alice = Member(ring, "@alice:example.org")
    async with db.transaction():
        rollcall_id = await rollcalls.create(db, ring, "r", "t", None, _now(), None)
        for i in range(7):
            await rollcalls.set_answer(db, rollcall_id, Member(ring, f"@m{i}:x").ref(f"rollcall:{rollcall_id}"),
                                       "acme", "Acme")
        await core.EventBook(db, ring).set_member_flag("@alice:example.org", "told_untrusted")
        await db.execute(
            "INSERT INTO personal_reminders (member_ref, dm_sealed, text_sealed, zone, due_at, state, done_at) "
            "VALUES (?, ?, ?, 'America/Chicago', 1764000000000, 'sent', 1764000123456)",
            (alice.ref("reminders"), ring.seal(actions.DM, "!dm:x"), ring.seal(actions.TEXT, "call")))
        await db.execute(  # an undecryptable message as the old code kept it (a counting ID)
            "INSERT INTO undecrypted (event_ref, session_ref, member_ref, sealed, expires_day) VALUES (?, ?, ?, ?, 1)",
            (b"e", b"s", b"m", ring.seal(undecrypted.SEAL, '{"room_id": "!dm:x", "event": {"event_id": "$old"}, '
                                                              '"seen": 5, "dm": true}')))
        await db.execute(
            "INSERT INTO actions (room_ref, room_sealed, text_sealed, zone, anchor, occurs_at, leads, created_at) "
            "VALUES (x'00', x'00', x'00', 'UTC', '2026-01-01T00:00:00+00:00', 0, '', 1764000123456)")
    await db.close()
    monkeypatch.undo()

    db = await open_database(tmp_path / "old.db")
    try:
        tables = await _tables(db)
        for table in schema.MEMBER_TABLES:
            assert "WITHOUT ROWID" in tables[table.name].upper(), table.name
        assert await rollcalls.counts(db, rollcall_id) == [("acme", "", 7)]  # typed display dropped (#23)
        assert len(await db.fetchall("SELECT 1 FROM rollcall_answers")) == 7
        async with db.transaction():  # the triggers were recreated
            await rollcalls.delete_answer(db, rollcall_id, Member(ring, "@m0:x").ref(f"rollcall:{rollcall_id}"))
        assert await rollcalls.counts(db, rollcall_id) == [("acme", "", 6)]
        assert not await core.EventBook(db, ring).set_member_flag("@alice:example.org", "told_untrusted")
        found = await actions.personal_of(db, ring, alice.ref("reminders"))
        assert [(zone, state) for _, zone, state in found] == [("America/Chicago", "sent")]
        row = await db.fetchone("SELECT id, done_day FROM personal_reminders")
        assert row[1] == 1764000123456 // 86_400_000 and row[0] != 1
        assert (await db.fetchone("SELECT created_at FROM actions"))[0] % 86_400_000 == 0
        assert [w.event_id for w in await undecrypted.every(db, ring)] == ["$old"]
    finally:
        await db.close()


# ---------------------------------------------------------------- times


async def test_a_personal_reminder_keeps_its_zone_sealed_a_random_id_and_the_day_it_was_done(world):
    await world.run("!remind me 2026-11-25 09:00 America/Chicago | call the steward", room=DM)
    row = await world.db.fetchone("SELECT id, zone, due_at, done_day FROM personal_reminders")
    assert isinstance(row[1], bytes) and b"Chicago" not in row[1]
    ids = {row[0]}
    for i in range(5):
        await world.run(f"!remind me 2026-11-2{6 + i % 3} 09:00 | call {i}", room=DM)
    ids |= {r[0] for r in await world.db.fetchall("SELECT id FROM personal_reminders")}
    assert len(ids) == 6 and max(ids) > 1 << 40  # random, not 1, 2, 3…
    world.now += timedelta(days=2)
    async with world.db.transaction():
        await base.DUE_SOURCES["actions"].fire(world.env())
    done = await world.db.fetchall("SELECT done_day FROM personal_reminders WHERE state != 'pending'")
    assert done and all(r[0] == int(world.now.timestamp()) // 86400 for r in done)
    found = await actions.personal_of(world.db, world.keyring, Member(world.keyring, "@alice:example.org").ref("reminders"))
    assert ("America/Chicago" in {zone for _, zone, _ in found})


def test_random_ids_are_positive_and_distinct():
    ids = {random_id() for _ in range(1000)}
    assert len(ids) == 1000 and min(ids) > 0 and max(ids) < 1 << 63


async def test_times_in_clear_are_days_and_a_closed_roll_call_still_shows_its_exact_close(world):
    from commands.base import Role

    world.now = world.now.replace(hour=13, minute=37, second=21)
    await world.run("!rollcall start strike Who strikes?", user="@coord:x", role=Role.COORDINATOR)
    await world.run("!pledge create letter Sign the letter", user="@coord:x", role=Role.COORDINATOR)
    await world.run("!action add 2026-12-01 10:00 | Picket at the gate", user="@coord:x", role=Role.COORDINATOR)
    await world.run("!rollcall end strike", user="@coord:x", role=Role.COORDINATOR)
    for table, column in (("rollcalls", "created_at"), ("rollcalls", "closed_at"), ("pledges", "created_at")):
        (value,) = await world.db.fetchone(f"SELECT {column} FROM {table}")  # noqa: S608
        assert value % 86400 == 0, (table, column)
    (created,) = await world.db.fetchone("SELECT created_at FROM actions")
    assert created % 86_400_000 == 0
    listing = "\n".join(getattr(o, "text", "") for o in await world.run("!rollcall list"))
    assert "13:37" in listing, listing


async def test_the_rebuild_needs_a_transaction(world):
    with pytest.raises(RuntimeError, match="transaction"):
        await rebuild.run(world.db, world.now, timedelta(hours=1))


async def test_commands_running_alongside_the_rebuild_are_neither_lost_nor_doubled(world):
    import asyncio

    from commands.base import Role

    await world.run("!pledge create letter Sign the letter --per-company", user="@coord:x", role=Role.COORDINATOR)
    await world.run("!rollcall start strike Who strikes?", user="@coord:x", role=Role.COORDINATOR)
    for i in range(300):
        await world.run(f"!pledge letter {['Acme', 'Google'][i % 2]}", user=f"@early{i}:x", room=DM)

    async def rebuilds() -> None:
        for _ in range(5):
            async with world.db.transaction():
                await rebuild.run(world.db, world.now, timedelta(hours=1))
            await asyncio.sleep(0)

    async def member(i: int) -> None:
        await world.run(f"!pledge letter {['Acme', 'Google'][i % 2]}", user=f"@m{i}:x", room=DM)
        await world.run("!here Acme", user=f"@m{i}:x", room=DM)

    await asyncio.gather(rebuilds(), *(member(i) for i in range(100)))
    (rows,) = await world.db.fetchone("SELECT count(*) FROM pledge_signers")
    (answers,) = await world.db.fetchone("SELECT count(*) FROM rollcall_answers")
    assert rows == 400 and answers == 100
    assert sum((await pledges.company_counts(world.db, 1)).values()) == 400
    [(key, display, n)] = await rollcalls.counts(world.db, 1)  # Acme: unlisted, a keyed reference
    assert key.startswith("~") and display == "" and n == 100
    assert (await world.db.fetchone("PRAGMA integrity_check"))[0] == "ok"


CRASH_CHILD = """
import asyncio, sys
import random
from datetime import timedelta
from storage import atrest, pledges, rebuild
from storage.schema import open_database
from storage.hashing import Keyring, Member

async def main(path, seed):
    ring = Keyring(b"k" * 32)
    db = await open_database(path, key=atrest.file_key("crash-test", atrest.DB_PURPOSE))
    if seed:
        from datetime import UTC, datetime
        async with db.transaction():
            pid = await pledges.create(db, ring, slug="p", title="t", goal=None, threshold=None, per_company=True,
                                       deadline=None, zone="UTC", now=datetime.now(UTC))
            await db.executemany("INSERT INTO pledge_signers VALUES (?, ?, ?)",
                                 [(pid, Member(ring, f"@m{i}:x").ref("p"), "acme") for i in range(40000)])
        await db.checkpoint()
    print("ready", flush=True)
    from datetime import UTC, datetime
    while True:
        async with db.transaction():
            await rebuild.run(db, datetime.now(UTC), timedelta(hours=1))

asyncio.run(main(sys.argv[1], sys.argv[2] == "seed"))
"""


def test_a_rebuild_killed_at_any_point_loses_and_doubles_nothing(tmp_path):
    """SIGKILL while the rebuild runs (it loops), at random moments: every reopened database has
    each row once, its count row agrees, no half-made copy and a sound file."""
    import signal
    import subprocess
    import sys
    import time

    from storage import atrest

    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "bot.db"
    rng = random.Random(17)
    for attempt in range(4):
        child = subprocess.Popen([sys.executable, "-c", CRASH_CHILD, str(path), "seed" if attempt == 0 else "-"],
                                 cwd=root, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.8))
        child.send_signal(signal.SIGKILL)
        child.wait()
        conn = atrest.connect(path, atrest.file_key("crash-test", atrest.DB_PURPOSE))
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("SELECT count(*), count(DISTINCT member_ref) FROM pledge_signers").fetchone() == (
                40000, 40000)
            assert conn.execute("SELECT n FROM pledge_counts").fetchone()[0] == 40000
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            assert not any(n.endswith("__rebuild") for n in names)
            assert {"pledge_signers_count_insert", "pledge_signers_count_delete"} <= names
        finally:
            conn.close()


async def test_the_order_companies_were_first_named_in_is_reset_too(tmp_path):
    """A count row appears when a member names a company first, so the cells of pledge_counts
    would tell which company the first, second… signer named; the rebuild puts them in key
    order (the company keys here are in an order unrelated to when they were first named)."""
    from tests.sqlite_pages import cells, images

    world = await make_world(tmp_path)
    db, ring = world.db, world.keyring
    keys = [f"co{n:03d}" for n in random.Random(5).sample(range(1000), 120)]  # first named in this order
    async with db.transaction():
        pledge_id = await pledges.create(db, ring, slug="p", title="t", goal=None, threshold=None,
                                         per_company=True, deadline=None, zone="UTC", now=_now())
    for i, key in enumerate(keys):
        async with db.transaction():
            await pledges.sign(db, pledge_id, Member(ring, f"@m{i}:x").ref("p"), key)
            await pledges.note_company(db, pledge_id, key, key.upper())

    async def rho() -> float:
        await db.checkpoint()
        found = [(im.index, offset, keys.index(values[1]))
                 for im in images(tmp_path, None) for offset, values in cells(im)
                 if len(values) == 3 and values[1] in keys and isinstance(values[2], int)]  # pledge_counts rows
        value, counted = within_pages(found)
        assert counted >= 100
        return value

    before = await rho()
    assert before < -0.5
    async with db.transaction():
        await rebuild.run(db, world.now, timedelta(hours=1))
    after = await rho()
    assert abs(after) < 0.2, (before, after)
    assert await pledges.company_count(db, pledge_id, keys[0]) == 1
    await db.close()


async def test_an_expired_confirmation_goes_with_the_next_daily_job(world):
    """A pending confirmation keeps its coordinator's reference and an exact expiry (minutes
    after the command): the daily job deletes it once expired, not BOT_RETENTION_DAYS later."""
    from storage import retention

    ring = world.keyring
    async with world.db.transaction():
        for code, minutes in (("OLD", -5), ("NEW", 30)):
            await actions.add_confirmation(world.db, ring, code=code, room_id="!r:x", member_ref=b"m" * 32,
                                           kind="broadcast", payload={}, expires_at=world.now + timedelta(minutes=minutes))
        await retention.run(world.db, world.now, 180, [])
    assert [r[0] for r in await world.db.fetchall("SELECT code FROM confirmations")] == ["NEW"]
