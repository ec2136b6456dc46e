"""Data exposure: after a full scenario (pledges, roll-calls, actions, reminders, mydata, in
rooms and DMs, members with display names), no file of the bot (the E2EE store aside), no
backup, export or log names a member or repeats what they typed; and a seized ``bot.db``
without BOT_HASH_KEY cannot be linked to a given Matrix ID."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
from pathlib import Path

import pytest

from storage.hashing import Keyring
from tests.harness import BotProcess, scan_for_secrets

pytestmark = pytest.mark.integration


def cells(bot: BotProcess, db_path: Path) -> list[bytes]:
    """Every BLOB/TEXT value of every table, as bytes (the files are encrypted: read with the key)."""
    with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        sqlite3.connect(db_path).execute("SELECT count(*) FROM sqlite_master").fetchone()
    conn = bot.open_db(db_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found: list[bytes] = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - table names from the schema
                for value in row:
                    if isinstance(value, bytes):
                        found.append(value)
                    elif isinstance(value, str):
                        found.append(value.encode())
        return found
    finally:
        conn.close()


def purposes(max_id: int = 20) -> list[str]:
    """Every purpose a member ID is hashed under that we can enumerate (see storage/ and commands/)."""
    named = ["member:reminders", "member:confirm", "member:eq", "member:flags", "member:undecrypted", "log", "room", "event", "txn", "fingerprint",
             "member:", "member", "dm", "pledge-room", "rollcall-room", "action-room", "confirm"]
    numbered = [f"member:{kind}:{i}" for kind in ("pledge", "rollcall", "action") for i in range(1, max_id + 1)]
    return named + numbered


def forms(digest: bytes) -> list[bytes]:
    return [digest, digest.hex().encode(), digest.hex().upper().encode(), base64.b64encode(digest),
            digest.hex()[:24].encode(), digest.hex()[:10].encode()]


def matches(values: list[bytes], candidates: list[bytes]) -> list[bytes]:
    blob = b"\x00".join(values)
    return [c for c in candidates if c in blob]


async def test_nothing_names_a_member_and_the_database_cannot_be_linked_without_the_key(make_bot, members, tmp_path):
    bot = make_bot(BOT_MIN_CELL="2").start()
    tag = secrets.token_hex(3)
    alice = await members("alice", bot)
    bob = await members("bob", bot)
    carol = await members("carol", bot)
    names = {alice: f"Alice Organizer {tag}", bob: f"Bob Quietworker {tag}", carol: f"Carol Nightshift {tag}"}
    for member, display in names.items():
        await member.client.set_displayname(display)
    room_name = f"Secret Organizing Room {tag}"
    room = await alice.create_room(name=room_name, invite=(bob.user_id, carol.user_id))
    texts = {"title": f"Sign the secret letter {tag}", "rollcall": f"Who walks out {tag}",
             "action": f"Call the council {tag}", "reminder": f"bring the flyers {tag}",
             "chat": f"ordinary chat that is not a command {tag}", "typo": f"!hepl {tag}"}

    await alice.ask(room, f'!pledge create letter "{texts["title"]}" --goal 3 --per-company')
    await alice.ask(room, f'!rollcall start walkout "{texts["rollcall"]}"')
    await alice.ask(room, f'!action add 2030-01-01 10:00 UTC | {texts["action"]} --remind 1d')
    await alice.send(room, texts["chat"])
    await alice.ask(room, texts["typo"])
    bob_dm = await bob.create_dm()
    await bob.ask(bob_dm, "!pledge letter Amazon")
    await bob.ask(bob_dm, "!here walkout Google")
    await bob.ask(bob_dm, f'!remind me 2030-01-02 09:00 UTC | {texts["reminder"]}')
    await bob.ask(bob_dm, "!mydata")
    await carol.ask(room, "!pledge letter Amazon")  # in the room: acknowledged privately
    await carol.ask(room, "!here walkout Google")
    await alice.ask(room, "!pledges")
    await alice.ask(room, "!rollcall walkout")
    await bob.ask(bob_dm, "!audit")

    backup = tmp_path / "backup.db"
    assert bot.run_cli("backup", str(backup), "--env-file", str(bot.env_file)).returncode == 0
    export = bot.run_cli("export-aggregates", "--env-file", str(bot.env_file))
    assert export.returncode == 0, export.stderr
    exported = json.loads(export.stdout)
    assert exported  # something was exported
    assert bot.stop() == 0

    people = [alice, bob, carol]
    needles = [room_name, room, bob_dm, *texts.values(), *names.values()]
    for member in people:
        needles += [member.user_id, member.user_id[1:].split(":")[0]]
    files = [p for p in bot.data_dir.iterdir() if p.name != "e2ee"]
    assert scan_for_secrets([*files, backup], needles) == []
    export_text = export.stdout.lower() + export.stderr.lower()
    log = bot.log().lower()
    for needle in needles:
        assert needle.lower() not in export_text, needle
        assert needle.lower() not in log, needle

    # a seized bot.db (and its backup) without BOT_HASH_KEY links nobody
    for db_path in (bot.data_dir / "bot.db", backup):
        values = cells(bot, db_path)
        assert values
        wrong = Keyring(secrets.token_bytes(32))
        candidates: list[bytes] = []
        for member in people:
            for value in (member.user_id, member.user_id[1:].split(":")[0], "member:" + member.user_id):
                for purpose in purposes():
                    candidates += forms(wrong.ref(purpose, value))
                for algorithm in ("sha256", "sha1", "md5", "sha512", "blake2b"):
                    for variant in (value, value.lower()):
                        candidates += forms(hashlib.new(algorithm, variant.encode()).digest())
        assert matches(values, candidates) == []

        # ... while with the right key and purpose the expected rows do match (the scan can fail)
        right = Keyring(base64.b64decode(bot.hash_key))
        pledge_refs = {m: [right.ref(f"member:pledge:{i}", m.user_id) for i in range(1, 4)] for m in people}
        rollcall_refs = {m: [right.ref(f"member:rollcall:{i}", m.user_id) for i in range(1, 4)] for m in people}
        for member in (bob, carol):
            assert len(matches(values, pledge_refs[member])) == 1, "a signer row per signer"
            assert len(matches(values, rollcall_refs[member])) == 1, "an answer row per answer"
        assert matches(values, pledge_refs[alice]) == [] and matches(values, rollcall_refs[alice]) == []
        assert matches(values, [right.ref("member:reminders", bob.user_id)])
        # the purposes separate the tables: bob's pledge reference is not his roll-call reference
        assert set(pledge_refs[bob]).isdisjoint(rollcall_refs[bob])
