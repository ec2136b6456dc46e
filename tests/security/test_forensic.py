"""No order and no time, even with the keys (#17): a forensic reading of the real files.

The adversary holds bot.db, its WAL and BOT_STORE_KEY, and the homeserver's record of who sent
what when. 200 members sign a pledge and answer a roll-call in a known order through the
in-process command path (one transaction per command, as the shell runs them, on SQLCipher
keyed as the bot keys it); some set personal reminders or a language; 20 of them `!forget`. This test then
does what that adversary would: it decrypts every page of bot.db and every WAL frame itself
(SQLCipher 4, raw key: each page AES-256-CBC under the file key, its IV at the start of the
page's 80-byte reserved tail; page 1's first 16 bytes are the file's salt, not encrypted),
walks each B-tree page's cell pointer array, decodes the records, and finds the member tables'
cells by their keyed member references. It checks:

(b) no byte of a forgotten member's keyed references remains in any page of bot.db, free pages
    included, or in its WAL after the checkpoint that follows `!forget`;
(c) before a rebuild the pages replay the signing order (so the reading works); after the
    scheduled rebuild and its checkpoint, Spearman's ρ between a cell's offset in its page and
    the order members signed is below 0.2 in absolute value (tests/ordering.py: per page,
    weighted by cells), in every page image left, and the WAL is empty;
(d) no member-linked column holds a time finer than a day, except the due time of a personal
    reminder and the expiry of a pending confirmation, which their features act on.

No homeserver is needed: the threat is the files, and the command path is the bot's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from commands import base
from commands.base import Role
from storage import atrest, schema
from storage.hashing import Member
from tests.fakes import DM, World, make_world
from tests.ordering import within_pages
from tests.sqlite_pages import PAGE, RESERVE, Image, cells, images

MEMBERS = 200
FORGET = range(0, MEMBERS, 10)  # 20 members forget
DAY_S = 86_400
# member-linked columns that keep an exact time because their feature acts on it (SECURITY.md)
EXACT_FOR_A_FEATURE = {("personal_reminders", "due_at"), ("confirmations", "expires_at")}


def positions(found: list[Image], order: dict[bytes, int]) -> list[tuple[int, int, int]]:
    """(page image, cell offset, order written) of every cell whose member reference is known."""
    out = []
    for n, image in enumerate(found):
        for offset, values in cells(image):
            if len(values) > 1 and isinstance(values[1], bytes) and values[1] in order:
                out.append((n, offset, order[values[1]]))
    return out


# ---------------------------------------------------------------- the scenario


@dataclass
class Signed:
    world: World
    key: bytes
    pledge_id: int
    rollcall_id: int
    pledge_order: dict[bytes, int]
    answer_order: dict[bytes, int]
    forgotten: list[bytes]


def user(i: int) -> str:
    return f"@worker{i:03d}:example.org"


async def sign_in_order(tmp_path: Path) -> Signed:
    world = await make_world(tmp_path, at_rest=True)
    world.now = datetime(2026, 11, 24, 9, 13, 27, tzinfo=UTC)
    coordinator = Role.COORDINATOR
    await world.run("!pledge create letter Sign the letter --per-company", user="@coord:example.org", role=coordinator)
    await world.run("!rollcall start strike Who strikes?", user="@coord:example.org", role=coordinator)
    await world.run("!remind me 2026-11-30 09:00 America/Chicago | steward call", user="@coord:example.org",
                    room=DM)
    pledge_id = (await world.db.fetchone("SELECT id FROM pledges"))[0]
    rollcall_id = (await world.db.fetchone("SELECT id FROM rollcalls"))[0]
    companies = ["Amazon", "Google", "Palantir", "Microsoft"]
    pledge_order, answer_order = {}, {}
    for i in range(MEMBERS):  # the homeserver records exactly this order
        world.now += timedelta(seconds=7)
        member = Member(world.keyring, user(i))
        replies = await world.run(f"!pledge letter {companies[i % 4]}", user=user(i), room=DM)
        assert replies, i
        await world.run(f"!here {companies[i % 4]}", user=user(i), room=DM)
        if i % 3 == 0:
            await world.run("!lang es", user=user(i), room=DM)
        if i % 5 == 0:
            await world.run(f"!remind me 2026-12-0{1 + i % 7} 08:30 Europe/Berlin | shift {i}", user=user(i), room=DM)
        pledge_order[member.ref(f"pledge:{pledge_id}")] = i
        answer_order[member.ref(f"rollcall:{rollcall_id}")] = i
    assert (await world.db.fetchone("SELECT count(*) FROM pledge_signers"))[0] == MEMBERS
    key = atrest.file_key(world.settings.store_key, atrest.DB_PURPOSE)
    return Signed(world, key, pledge_id, rollcall_id, pledge_order, answer_order, [])


def refs_of(signed: Signed, i: int) -> list[bytes]:
    member, ring = Member(signed.world.keyring, user(i)), signed.world.keyring
    return [member.ref(f"pledge:{signed.pledge_id}"), member.ref(f"rollcall:{signed.rollcall_id}"),
            member.ref("reminders"), ring.ref("member:flags", user(i)), member.ref("undecrypted"),
            member.ref("prefs")]


def read_all(signed: Signed) -> list[Image]:
    found = list(images(signed.world.settings.BOT_DATA_DIR, signed.key))
    header = found[0].data
    assert header[:16] == atrest.PLAINTEXT_HEADER  # decrypted with the key, as the adversary would
    assert int.from_bytes(header[16:18], "big") == PAGE and header[20] == RESERVE
    return found


def holding(found: list[Image], needles: list[bytes]) -> list[str]:
    return [f"{im.where} page {im.pgno} (#{im.index})" for im in found for n in needles if n[:12] in im.data]


async def test_with_the_keys_no_order_no_forgotten_member_and_no_fine_time(tmp_path: Path) -> None:
    signed = await sign_in_order(tmp_path)
    world, db = signed.world, signed.world.db
    try:
        # the reading works: before anything is forgotten, every member's rows are found decrypted
        await db.checkpoint()
        found = read_all(signed)
        assert len(positions(found, signed.pledge_order)) >= MEMBERS
        assert holding(found, refs_of(signed, FORGET[0])[:2] + refs_of(signed, FORGET[0])[-1:])

        # (b) forgotten members: nothing of them after the checkpoint that follows `!forget`
        for i in FORGET:
            replies = await world.run("!forget confirm", user=user(i), room=DM)
            assert len(replies) == 1 and replies[0].private  # type: ignore[attr-defined]  # English or Spanish
            signed.forgotten += refs_of(signed, i)
        assert db._checkpointer is not None  # the one `!forget` asked for after its commit
        await db._checkpointer
        found = read_all(signed)
        assert holding(found, signed.forgotten) == []
        assert (signed.world.settings.BOT_DATA_DIR / "bot.db-wal").stat().st_size == 0
        marks = ",".join("?" * len(signed.forgotten))
        gone = [(await db.fetchone(f"SELECT count(*) FROM {table} WHERE member_ref IN ({marks})",  # noqa: S608
                                   signed.forgotten))[0]
                for table in ("pledge_signers", "rollcall_answers", "personal_reminders", "member_prefs")]
        assert gone == [0, 0, 0, 0]

        # (c) before a rebuild, cells replay the signing order: the test can see order
        remaining = {ref: n for ref, n in signed.pledge_order.items() if ref not in signed.forgotten}
        answers = {ref: n for ref, n in signed.answer_order.items() if ref not in signed.forgotten}
        rho_before, counted = within_pages(positions(found, remaining))
        assert counted >= 0.9 * len(remaining) and rho_before < -0.25, rho_before

        # the scheduled rebuild (the scheduler runs a due source in one transaction), then the
        # checkpoint it asks for after its commit
        async with db.transaction():
            await base.DUE_SOURCES["rebuild"].fire(world.env())
        await db.checkpoint()
        found = read_all(signed)
        assert (signed.world.settings.BOT_DATA_DIR / "bot.db-wal").stat().st_size == 0
        for order in (remaining, answers):
            rho, counted = within_pages(positions(found, order))
            assert counted >= 0.9 * len(order), counted  # pages with 5+ of the cells (interior pages hold a few)
            assert abs(rho) < 0.2, (rho_before, rho)
        assert holding(found, signed.forgotten) == []
        live = [ref for i in range(MEMBERS) if i not in FORGET for ref in refs_of(signed, i)[:2]]
        assert len({ref for ref in live if any(ref in im.data for im in found)}) == len(live)

        # (d) no member-linked column holds a time finer than a day
        assert await fine_times(world) == set()
    finally:
        await db.close()


async def fine_times(world: World) -> set[tuple[str, str]]:
    """(table, column) of member-linked integer columns holding a time finer than a day: a
    value that reads as a time (seconds or milliseconds) within ten years of now."""
    now = int(world.now.timestamp())
    tables = [t.name for t in schema.MEMBER_TABLES] + list(schema.NOT_REBUILT)
    fine = set()
    for table in tables:
        columns = [c[1] for c in await world.db.fetchall(f"PRAGMA table_info({table})")]
        for row in await world.db.fetchall(f"SELECT * FROM {table}"):  # noqa: S608
            for column, value in zip(columns, row, strict=True):
                if not isinstance(value, int) or (table, column) in EXACT_FOR_A_FEATURE:
                    continue
                ten_years = 10 * 365 * DAY_S
                if abs(value - now) < ten_years and value % DAY_S:
                    fine.add((table, column))
                if abs(value - now * 1000) < ten_years * 1000 and value % (DAY_S * 1000):
                    fine.add((table, column))
    assert (await world.db.fetchone("SELECT count(*) FROM personal_reminders"))[0] > 0  # columns were checked
    return fine


async def test_the_time_check_finds_a_fine_time(tmp_path: Path) -> None:
    """(d) can fail: a millisecond time on a member row is found."""
    world = await make_world(tmp_path, at_rest=True)
    try:
        await world.run("!remind me 2026-11-30 09:00 | call", room=DM)
        await world.db.execute("UPDATE personal_reminders SET done_day=?", (int(world.now.timestamp() * 1000) + 7,))
        assert await fine_times(world) == {("personal_reminders", "done_day")}
    finally:
        await world.db.close()
