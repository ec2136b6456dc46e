"""Members by code and the hotline (issue 26), read as the forensic adversary of #17 reads files:
with bot.db, its WAL, a backup and BOT_STORE_KEY, every page decrypted.

After codes are made and used, members join, vouch, ask, are answered and some leave, and the
retention has passed: no page holds a used code (in clear, normalized, or as its keyed hash), a
question's or an answer's text, the sealed link of a question whose retention passed, or any
member reference in the codes table (nothing links a voucher to a code); no member-linked column
holds a time finer than a day.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from commands import base
from commands.base import Role
from storage import atrest
from storage.hashing import Member
from storage.hub import codes, hotline
from tests.fakes import DM, ROOM, make_world, texts
from tests.security.test_forensic import fine_times
from tests.sqlite_pages import Image, cells, images

CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
COORD = "@coord:example.org"
MEMBERS = 12


def user(i: int) -> str:
    return f"@dm{i:02d}:example.org"


def member_refs(world, i: int) -> list[bytes]:
    member = Member(world.keyring, user(i))
    return [member.ref(p) for p in ("hub", "hub-quiet", "hub-vouch", hotline.BLOCK_PURPOSE, "prefs", "eq")]


def holding(found: list[Image], needles: list[bytes]) -> list[str]:
    return [f"{im.where} page {im.pgno}: {n[:12]!r}" for im in found for n in needles if n and n in im.data]


async def test_no_file_links_a_member_to_a_code_a_voucher_a_question_or_a_join_time(tmp_path: Path) -> None:
    world = await make_world(tmp_path, at_rest=True)
    world.now = datetime(2026, 11, 24, 9, 13, 27, tzinfo=UTC)
    db, key = world.db, atrest.file_key(world.settings.store_key, atrest.DB_PURPOSE)
    try:
        made = CODE.findall(texts(await world.run(f"!codes new {MEMBERS}", user=COORD, role=Role.COORDINATOR,
                                                  room=ROOM)))
        assert len(made) == MEMBERS
        used: list[str] = list(made)
        questions, answers = [], []
        for i in range(MEMBERS):
            world.now += timedelta(seconds=37)
            assert "Welcome" in texts(await world.run(f"!join {made[i]}", user=user(i), room=DM))
            if i % 3 == 0:
                vouched = CODE.findall(texts(await world.run("!vouch", user=user(i), room=DM)))
                used += vouched
                world.now += timedelta(seconds=11)
                assert "Welcome" in texts(await world.run(f"!join {vouched[0]}", user=user(100 + i), room=DM))
            if i % 4 == 0:
                questions.append(f"SECRETQUESTION{i:02d} is the boss listening")
                await world.run(f"!ask {questions[-1]}", user=user(i), room=DM)
        links = [bytes(r[0]) for r in await db.fetchall("SELECT link_sealed FROM hotline_questions")]
        assert len(links) == len(questions)
        for n in range(1, len(questions) + 1):
            answers.append(f"SECRETANSWER{n:02d} see you Friday")
            await world.run(f"!answer Q{n} {answers[-1]}", user=COORD, role=Role.COORDINATOR, room=ROOM)
        for i in (1, 4):
            await world.run("!leave confirm", user=user(i), room=DM)
        await db.checkpoint()
        assert holding(list(images(world.settings.BOT_DATA_DIR, key)), links)  # the reading finds links first

        # the retention passes: the scheduler deletes the links; the rebuild runs; checkpoints
        world.now += timedelta(days=world.settings.BOT_QUESTION_RETENTION_DAYS + 1)
        async with db.transaction():
            await base.DUE_SOURCES["hotline"].fire(world.env())
            await base.DUE_SOURCES["rebuild"].fire(world.env())
        await db.checkpoint()
        backup = tmp_path / "backup"
        backup.mkdir()
        await db.backup(backup / "bot.db")
        found = list(images(world.settings.BOT_DATA_DIR, key)) + list(images(backup, key))

        needles = [c.encode() for c in used] + [codes.normalize(c).encode() for c in used]
        needles += [world.keyring.ref(codes.PURPOSE, codes.normalize(c)) for c in used]
        needles += [t.encode() for t in questions + answers] + [b"SECRETQUESTION", b"SECRETANSWER"] + links
        needles += [r for i in (1, 4) for r in member_refs(world, i)]  # who left: nothing of theirs
        assert holding(found, needles) == []

        # the codes table names nobody: no member reference of anyone in any of its cells
        everyone = {r for i in [*range(MEMBERS), *range(100, 100 + MEMBERS)] for r in member_refs(world, i)}
        for image in found:
            for _offset, values in cells(image):
                if len(values) == 5 and isinstance(values[1], str) and len(values[1]) == codes.LABEL_LENGTH:
                    assert not any(isinstance(v, bytes) and v in everyone for v in values)

        # no member-linked column holds a time finer than a day (hub tables included)
        await world.run("!remind me 2026-12-30 09:00 | call", user=user(0), room=DM)  # fine_times checks rows exist
        assert await fine_times(world) == set()
        remaining = (await db.fetchone("SELECT COUNT(*) FROM hub_members"))[0]
        assert remaining == MEMBERS - 2 + len(range(0, MEMBERS, 3))
    finally:
        await db.close()
