"""A seized disk names nobody (#17), over the real Synapse.

After members sign pledges and answer roll-calls (in a room and in DMs, with display names):
(a) no member ID, localpart, display name, room, or typed text is in any byte of any file under
BOT_DATA_DIR (the E2EE store included), in a backup or in the log; (b) every database there
is unreadable without the key (plain sqlite3: "file is not a database"), every file and
directory is private; and an upgrade: a data directory made by the previous release (plaintext
bot.db and nio's plaintext store) is encrypted in place on first start with all data kept.

With the keys, row order in the member tables and timestamps: tests/security/test_forensic.py."""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
from pathlib import Path

import pytest

from storage import atrest
from tests.harness import ROOT, BotProcess, Member, scan_for_secrets

pytestmark = pytest.mark.integration

RELEASE = "3546f90"  # the last commit of main before encryption at rest


def plain_open_fails(path: Path) -> bool:
    try:
        sqlite3.connect(path).execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        return "file is not a database" in str(exc)
    return False


def private(directory: Path) -> list[str]:
    """Paths under ``directory`` that are readable by anyone but the owner."""
    loose = [] if directory.stat().st_mode & 0o077 == 0 else [str(directory)]
    return loose + [f"{p} {oct(p.stat().st_mode & 0o777)}" for p in directory.rglob("*")
                    if p.stat().st_mode & 0o077]


async def scenario(bot: BotProcess, members, tag: str) -> tuple[list[Member], dict[str, str], list[str]]:  # noqa: ANN001
    alice, bob, carol = [await members(name, bot) for name in ("alice", "bob", "carol")]
    names = {alice: f"Alice Organizer {tag}", bob: f"Bob Quietworker {tag}", carol: f"Carol Nightshift {tag}"}
    for member, display in names.items():
        await member.client.set_displayname(display)
    room_name = f"Secret Organizing Room {tag}"
    room = await alice.create_room(name=room_name, invite=(bob.user_id, carol.user_id))
    texts = {"title": f"Sign the secret letter {tag}", "rollcall": f"Who walks out {tag}",
             "chat": f"ordinary chat that is not a command {tag}"}
    await alice.ask(room, f'!pledge create letter "{texts["title"]}" --goal 3 --per-company')
    await alice.ask(room, f'!rollcall start walkout "{texts["rollcall"]}"')
    await alice.send(room, texts["chat"])
    bob_dm = await bob.create_dm()
    assert "recorded" in (await bob.ask(bob_dm, "!pledge letter Amazon")).body
    await bob.ask(bob_dm, "!here walkout Google")
    await carol.ask(room, "!pledge letter Amazon")
    await carol.ask(room, "!here walkout Google")
    await bob.ask(bob_dm, "!mydata")
    needles = [room_name, room, bob_dm, *texts.values(), *names.values()]
    for member in (alice, bob, carol):
        needles += [member.user_id, member.user_id[1:].split(":")[0]]
    return [alice, bob, carol], {"room": room, "bob_dm": bob_dm}, needles


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


async def test_a_seized_data_directory_names_nobody_and_opens_with_no_key(make_bot, members, tmp_path):
    bot = make_bot(BOT_MIN_CELL="2").start()
    people, rooms, needles = await scenario(bot, members, secrets.token_hex(3))
    backup = tmp_path / "backup.db"
    made = bot.run_cli("backup", str(backup), "--env-file", str(bot.env_file))
    assert made.returncode == 0, made.stderr
    doctor = bot.run_cli("doctor", "--env-file", str(bot.env_file))
    assert "[ok     ] bot.db at rest: encrypted (SQLCipher" in doctor.stdout, doctor.stdout
    assert "[ok     ] E2EE store at rest: encrypted (SQLCipher" in doctor.stdout, doctor.stdout
    assert "[ok     ] saved login at rest: sealed (session.enc" in doctor.stdout, doctor.stdout
    assert bot.stop() == 0
    token = bot.saved_login()["access_token"]  # whoever holds it can list the bot's rooms' members
    needles.append(token)

    files = files_under(bot.data_dir)
    assert bot.data_dir / "e2ee" / "store.db" in files
    assert not [p for p in files if p.suffix.endswith("_devices")], files  # no plaintext trust files
    # (a) no identifier or typed text in any byte: data directory with the E2EE store, backup, log
    assert scan_for_secrets([bot.data_dir, backup], needles) == []
    log = bot.log().lower()
    assert [n for n in needles if n.lower() in log] == []
    # (b) no database opens without the key; no file is plain SQLite; all private
    for path in (bot.data_dir / "bot.db", bot.data_dir / "e2ee" / "store.db", backup):
        assert plain_open_fails(path), path
    assert [p for p in files if atrest.is_plaintext(p)] == []
    assert private(bot.data_dir) == [] and backup.stat().st_mode & 0o777 == 0o600
    # ... while with the key the rows are there (the scan above could have failed)
    conn = bot.open_db(backup)
    try:
        assert conn.execute("SELECT count(*) FROM pledge_signers").fetchone()[0] == 2
    finally:
        conn.close()


def release_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "release"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", RELEASE], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"the previous release ({RELEASE}) is not in this clone's history")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


async def test_a_data_directory_of_the_previous_release_is_encrypted_with_all_data_kept(
        make_bot, members, tmp_path):
    bot = make_bot(BOT_MIN_CELL="2")
    bot.code_root = release_tree(tmp_path)
    bot.start()
    people, rooms, needles = await scenario(bot, members, secrets.token_hex(3))
    alice, bob, carol = people
    assert bot.stop() == 0
    assert atrest.is_plaintext(bot.data_dir / "bot.db")  # what the release left
    legacy = [p for p in files_under(bot.data_dir / "e2ee") if atrest.is_plaintext(p)]
    assert legacy and any(bob.user_id.encode() in p.read_bytes() for p in legacy)
    token = json.loads((bot.data_dir / "session.json").read_text())["access_token"]

    bot.code_root = None  # this release, same data directory and keys
    # upgrading to the campaign model: the admin names the home room (README, "Upgrading")
    assert bob.campaign is not None
    bot.extra_env["BOT_HOME_ROOM"] = bob.campaign.home
    bot.start()
    log = bot.log()
    assert "bot.db was plaintext (made by an earlier release): encrypted it in place" in log
    assert "the E2EE store was plaintext (made by an earlier release)" in log
    assert "session.json held the bot's access token in plaintext" in log
    assert not (bot.data_dir / "session.json").exists() and bot.saved_login()["access_token"] == token
    mydata = await bob.ask(rooms["bob_dm"], "!mydata")  # answered and decryptable: olm account kept
    assert "letter" in mydata.body and "walkout" in mydata.body, mydata.body
    # rooms the bot was in before the upgrade wait for a coordinator's approval (README, "Upgrading")
    campaign = bob.campaign
    approved = await campaign.organizer.ask(campaign.home, f"!rooms approve {rooms['room']}")
    assert "approve" not in approved.body.lower() or "approved" in approved.body.lower(), approved.body
    # the two signatures made before the upgrade still count: a third makes an exact 3 (2k−1, k = 2)
    assert "recorded" in (await alice.ask(await alice.create_dm(), "!pledge letter Amazon")).body
    pledges = await alice.ask(rooms["room"], "!pledges")
    assert "letter" in pledges.body and "at least 3 of 3" in pledges.body, pledges.body  # Amazon: exactly 3
    assert bot.stop() == 0

    files = files_under(bot.data_dir)
    assert [p for p in files if atrest.is_plaintext(p)] == []
    assert plain_open_fails(bot.data_dir / "bot.db") and plain_open_fails(bot.data_dir / "e2ee" / "store.db")
    # the log of the release run may name the bot's own store files; the data must not
    assert scan_for_secrets([bot.data_dir], [*needles, token]) == []
    conn = bot.open_db()
    try:
        assert conn.execute("SELECT count(*) FROM pledge_signers").fetchone()[0] == 3  # the two kept, and alice's
        assert conn.execute("SELECT count(*) FROM rollcall_answers").fetchone()[0] == 2
    finally:
        conn.close()
