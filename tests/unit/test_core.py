"""Parsing, hashing, storage bookkeeping and migrations."""

from __future__ import annotations

import ast
import hashlib
import importlib
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

import storage
from commands import base, load_all
from commands.base import Reply
from storage import core, schema
from storage.db import KeyMismatchError, Schema
from storage.hashing import Keyring, Member
from storage.schema import open_database
from tests.fakes import DM, texts

load_all()


def test_parse_quotes_and_case():
    parsed = base.parse('!HELP "privacy"', "!")
    assert parsed and parsed.command and parsed.command.name == "help"
    assert parsed.args.tokens == ("privacy",)


def test_parse_ignores_chat_and_bare_prefix():
    assert base.parse("hello there", "!") is None
    assert base.parse("!", "!") is None
    assert base.parse("! not a command", "!") is None


def test_unknown_command_suggests_closest():
    parsed = base.parse("!privcy", "!")
    assert parsed and parsed.command is None
    assert parsed.error_text("en", base.Role.MEMBER, "!") == "Unknown command `!privcy`. Try `!help`. Did you mean `!privacy`?"


def test_unbalanced_quote_is_explained():
    parsed = base.parse('!help "oops', "!")
    assert parsed and parsed.error and "quote is not closed" in parsed.error("en")


def test_render_escapes_member_html():
    plain, html = base.render("`<script>alert(1)</script>` **bold**")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html and plain == "`<script>alert(1)</script>` bold"


def test_keyed_references_differ_by_purpose_and_key():
    ring, other = Keyring(b"a" * 32), Keyring(b"b" * 32)
    uid = "@alice:example.org"
    assert ring.ref("p1", uid) != ring.ref("p2", uid)
    assert ring.ref("p1", uid) != other.ref("p1", uid)
    assert ring.ref("p1", uid) != hashlib.sha256(uid.encode()).digest()
    assert Member(ring, uid).ref("x") == Member(ring, uid).ref("x")
    assert uid not in repr(Member(ring, uid))


def test_short_key_refused():
    with pytest.raises(ValueError):
        Keyring(b"short")


def test_seal_roundtrip_and_tamper():
    ring = Keyring(b"a" * 32)
    blob = ring.seal("dm", "!room:example.org")
    assert b"room" not in blob and ring.unseal("dm", blob) == "!room:example.org"
    with pytest.raises(InvalidTag):
        ring.unseal("other-purpose", blob)


async def test_migrations_apply_once_and_are_versioned(tmp_path, monkeypatch):
    demo = Schema("unit_demo", ["CREATE TABLE demo (x INTEGER);", "ALTER TABLE demo ADD COLUMN y TEXT;"])
    monkeypatch.setattr(schema, "DOMAINS", (*schema.DOMAINS, demo))
    db = await open_database(tmp_path / "m.db")
    assert await db.schema_version("unit_demo") == 2
    await db.close()
    db = await open_database(tmp_path / "m.db")  # re-open: nothing re-applied
    assert await db.schema_version("unit_demo") == 2
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
    await db.close()


def test_a_database_opened_without_any_other_import_gets_every_table(tmp_path):
    """Which tables exist must not depend on what the opener imported: the registry, not import
    side effects, lists them (and storage imports nothing above it)."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        from storage.schema import open_database
        assert not any(m.startswith(("commands", "bot")) for m in sys.modules)
        async def main():
            db = await open_database({str(tmp_path / "alone.db")!r})
            rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
            versions = await db.fetchall("SELECT domain, version FROM schema_versions")
            print(sorted(r[0] for r in rows)); print(sorted((r[0], r[1]) for r in versions))
            await db.close()
        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    tables, versions = done.stdout.splitlines()
    expected = {(d.domain, len(d.steps)) for d in schema.DOMAINS}
    assert ast.literal_eval(versions) == sorted(expected)
    found = set(ast.literal_eval(tables))
    for name in ("meta", "outbox", "company_aliases", "contract_awards", "pledges", "pledge_counts",
                 "rollcalls", "rollcall_answers", "actions", "personal_reminders"):
        assert name in found


def test_every_storage_module_with_a_schema_is_a_listed_domain():
    listed = [d.domain for d in schema.DOMAINS]
    assert len(listed) == len(set(listed)) and listed[0] == "core"
    for info in pkgutil.iter_modules(storage.__path__):
        module = importlib.import_module(f"storage.{info.name}")
        if isinstance(getattr(module, "SCHEMA", None), Schema):
            assert module.SCHEMA in schema.DOMAINS, info.name


def test_families_register_every_registry_once_by_name():
    assert set(base.MEMBER_DATA) == {"pledges", "rollcalls", "reminders", "undecrypted", "unverified device", "prefs",
                                     "polls", "rsvps", "hub", "hotline"}
    assert set(base.DUE_SOURCES) == {"pledges", "rollcalls", "actions", "retention", "rebuild", "polls", "rsvps",
                                     "hotline", "alerts", "published figures", "digest"}
    assert set(base.RETENTION_HOOKS) == {"pledges", "rollcalls", "actions", "polls"}
    assert set(base.EXPORT_HOOKS) == {"pledges", "rollcalls", "actions", "polls"}
    assert all(e.name == n for r in (base.MEMBER_DATA, base.DUE_SOURCES) for n, e in r.items())


def test_a_name_declared_twice_in_any_registry_is_refused():
    async def nothing(*_):
        return []

    class Twice:
        describe = forget = next_due = fire = staticmethod(nothing)

    names = ("REGISTRY", "MEMBER_DATA", "DUE_SOURCES", "RETENTION_HOOKS", "EXPORT_HOOKS")
    before = {n: dict(getattr(base, n)) for n in names}
    with pytest.raises(RuntimeError, match="command 'help' declared twice"):
        base.command("help", usage="help", summary="again")(nothing)
    with pytest.raises(RuntimeError, match="member data 'pledges' declared twice"):
        base.member_data("pledges")(Twice)
    with pytest.raises(RuntimeError, match="due source 'rollcalls' declared twice"):
        base.due_source("rollcalls")(Twice)
    with pytest.raises(RuntimeError, match="retention hook 'actions' declared twice"):
        base.retention_hook("actions")(nothing)
    with pytest.raises(RuntimeError, match="export hook 'pledges' declared twice"):
        base.export_hook("pledges")(nothing)
    assert before == {n: dict(getattr(base, n)) for n in names}  # the first declarations stand


async def test_wrong_key_refused_without_changes(tmp_path):
    db = await open_database(tmp_path / "k.db", Keyring(b"a" * 32).fingerprint())
    await db.close()
    before = (tmp_path / "k.db").read_bytes()
    with pytest.raises(KeyMismatchError):
        await open_database(tmp_path / "k.db", Keyring(b"b" * 32).fingerprint())
    assert (tmp_path / "k.db").read_bytes() == before


async def test_transaction_rolls_back(world, tmp_path):
    book = core.EventBook(world.db, world.keyring)
    with pytest.raises(RuntimeError):
        async with world.db.transaction():
            await book.mark_handled("$e1")
            raise RuntimeError
    assert not await book.handled("$e1")


async def test_claim_marks_with_the_work_or_not_at_all(world):
    book = core.EventBook(world.db, world.keyring)
    with pytest.raises(RuntimeError):
        async with book.claim("$e1") as fresh:
            assert fresh
            await book.enqueue("t1", "!r:x", {"kind": "send", "content": {"body": "one"}})
            raise RuntimeError
    assert not await book.handled("$e1") and await book.pending() == []  # rolled back together
    async with book.claim("$e1") as fresh:
        assert fresh
        await book.enqueue("t1", "!r:x", {"kind": "send", "content": {"body": "one"}})
    assert await book.handled("$e1") and len(await book.pending()) == 1
    async with book.claim("$e1") as fresh:
        assert not fresh  # handled before: the caller does nothing


async def test_member_flags_are_keyed_and_said_once(world, tmp_path):
    book = core.EventBook(world.db, world.keyring)
    async with world.db.transaction():
        assert await book.set_member_flag("@alice:example.org", "told_untrusted")
        assert not await book.set_member_flag("@alice:example.org", "told_untrusted")
        assert await book.set_member_flag("@bob:example.org", "told_untrusted")
    rows = await world.db.fetchall("SELECT member_ref FROM member_flags")
    assert {bytes(r[0]) for r in rows} == {world.keyring.ref("member:flags", u)
                                           for u in ("@alice:example.org", "@bob:example.org")}
    assert await world.db.fetchall("SELECT * FROM room_flags") == []  # no longer among the rooms


async def test_migration_drops_old_member_rows_from_room_flags(tmp_path):
    """Before: member flags were room flags under ref("room", "member:" + ID); they cannot be
    re-keyed without the ID, so the step drops them (a member may be told once more)."""
    ring = Keyring(b"a" * 32)
    db = await open_database(tmp_path / "old.db")
    core_steps = await db.schema_version("core")
    await db.execute("DELETE FROM schema_versions WHERE domain='core'")
    await db.execute("INSERT INTO schema_versions (domain, version) VALUES ('core', 1)")
    await db.execute("DROP TABLE member_flags")
    await db.execute("DROP INDEX outbox_lane")  # and the later step's lanes
    await db.execute("ALTER TABLE outbox DROP COLUMN lane")
    await db.execute("ALTER TABLE outbox DROP COLUMN not_before")  # and the rounds' step
    await db.execute("ALTER TABLE outbox DROP COLUMN txn_sealed")  # and #23's
    await db.execute("INSERT INTO outbox (txn_id, room_sealed, payload_sealed, created_at) VALUES ('old', x'00', x'00', 0)")
    await db.execute("INSERT INTO room_flags VALUES (?, 'told_untrusted', 1)", (ring.ref("room", "member:@a:x"),))
    await db.execute("INSERT INTO room_flags VALUES (?, 'told_unencrypted', 1)", (ring.ref("room", "!r:x"),))
    await db.close()
    db = await open_database(tmp_path / "old.db")
    assert await db.schema_version("core") == core_steps
    assert [tuple(r) for r in await db.fetchall("SELECT flag FROM room_flags")] == [("told_unencrypted",)]
    assert await core.EventBook(db, ring).set_member_flag("@a:x", "told_untrusted")
    assert [tuple(r) for r in await db.fetchall("SELECT txn_id, lane FROM outbox")] == [("old", core.ANSWER)]
    await db.close()


async def test_outbox_is_sealed_and_ordered(world, tmp_path):
    book = core.EventBook(world.db, world.keyring)
    async with world.db.transaction():
        await book.enqueue("t1", "!r:x", {"kind": "send", "content": {"body": "secret one"}})
        await book.enqueue("t1", "!r:x", {"kind": "send", "content": {"body": "dup"}})
        await book.enqueue("t2", "!r:x", {"kind": "send", "content": {"body": "two"}})
    items = await book.pending()
    assert [i.txn_id for i in items] == ["t1", "t2"]
    assert items[0].payload["content"]["body"] == "secret one"
    raw = (tmp_path / "bot.db").read_bytes() + (tmp_path / "bot.db-wal").read_bytes()
    assert b"secret one" not in raw and b"!r:x" not in raw


async def test_help_lists_by_role_and_explains(world, tmp_path):
    out = texts(await world.run("!help"))
    assert "`!privacy`" in out and "`!forget [confirm]`" in out
    out = texts(await world.run("!help forget"))
    assert "Example: `!forget confirm`" in out
    out = texts(await world.run("!help privcy"))
    assert "Did you mean `!help privacy`?" in out


async def test_forget_needs_confirmation_and_mydata_goes_to_dm(world, tmp_path):
    out = await world.run("!forget")
    assert "!forget confirm" in texts(out)
    out = await world.run("!forget confirm")
    assert "deleted 0 records" in texts(out)
    out = await world.run("!mydata", room=DM)
    assert isinstance(out[0], Reply) and "nothing" in out[0].text


async def test_a_commands_commit_keeps_no_handling_time_and_no_transaction_id_in_clear(world, tmp_path):
    """Issue #23: the dedup mark keeps the day it expires, the outbox no queue time, and the
    transaction ID the homeserver logs with the DM is sealed (the column holds a keyed reference)."""
    book = core.EventBook(world.db, world.keyring)
    handled = 1_795_000_000 + 12_345  # a second inside a day
    txn = "homeserver-sees-this-txn-id"
    async with book.claim("$event:x", now=handled) as fresh:
        assert fresh
        await book.enqueue(txn, "!r:x", {"kind": "send", "content": {"body": "ack"}})
    expires = (await world.db.fetchone("SELECT expires_at FROM processed_events"))[0]
    assert expires % core.DAY_SECONDS == 0 and 0 <= expires - handled - core.EVENT_TTL_SECONDS <= core.DAY_SECONDS
    assert (await world.db.fetchone("SELECT count(*) FROM pragma_table_list WHERE name='processed_events' "
                                    "AND wr=1"))[0] == 1  # WITHOUT ROWID: no counting rowid
    assert tuple(await world.db.fetchone("SELECT txn_id, created_at FROM outbox")) == (
        world.keyring.ref("outbox-txn", txn).hex(), 0)
    assert [item.txn_id for item in await book.pending()] == [txn]  # sent under the real ID
    raw = (tmp_path / "bot.db").read_bytes() + (tmp_path / "bot.db-wal").read_bytes()
    assert txn.encode() not in raw
    async with world.db.transaction():  # the same ID queued again is still one row
        await book.enqueue(txn, "!r:x", {"kind": "send", "content": {"body": "again"}})
    assert len(await book.pending()) == 1


async def test_the_sync_token_is_sealed_and_an_old_clear_one_is_read(world):
    book = core.EventBook(world.db, world.keyring)
    await world.db.set_meta(core.SYNC_TOKEN_KEY, "s42_7_0_1")  # saved by an earlier release
    assert await book.sync_token() == "s42_7_0_1"
    async with world.db.transaction():
        await book.save_sync_token("s43_9_0_1")
    assert await book.sync_token() == "s43_9_0_1"
    assert "s43" not in (await world.db.get_meta(core.SYNC_TOKEN_KEY) or "")


async def test_the_step_of_issue_23_coarsens_old_marks_and_queue_times(tmp_path):
    db = await open_database(tmp_path / "old.db")
    await db.execute("UPDATE schema_versions SET version=5 WHERE domain='core'")
    await db.execute("DROP TABLE processed_events")
    await db.execute("CREATE TABLE processed_events (event_ref BLOB PRIMARY KEY, expires_at INTEGER NOT NULL)")
    await db.execute("ALTER TABLE outbox DROP COLUMN txn_sealed")
    await db.execute("INSERT INTO processed_events VALUES (x'01', 1795012345)")
    await db.execute("INSERT INTO outbox (txn_id, room_sealed, payload_sealed, created_at) VALUES ('old', x'00', x'00', "
                     "1795012345)")
    await db.close()
    db = await open_database(tmp_path / "old.db")
    assert [tuple(r) for r in await db.fetchall("SELECT event_ref, expires_at FROM processed_events")] == [
        (b"\x01", 1795046400)]  # the next midnight UTC
    assert [tuple(r) for r in await db.fetchall("SELECT txn_id, created_at, txn_sealed FROM outbox")] == [
        ("old", 0, None)]
    await db.close()
