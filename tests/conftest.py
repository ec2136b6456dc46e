"""Shared fixtures: one Synapse for the session; the bot and members per test."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.ops.localserver import LocalSynapse
from tests.fakes import World, make_world
from tests.harness import PASSWORD, BotProcess, Member, TestCampaign

_counter = itertools.count()


@contextlib.contextmanager
def _running(*servers: LocalSynapse) -> Iterator[tuple[LocalSynapse, ...]]:
    """Start the servers side by side; stop them and remove their directories at the end."""
    try:
        with ThreadPoolExecutor() as pool:
            list(pool.map(LocalSynapse.start, servers))
        yield servers
    finally:
        for hs in servers:
            hs.stop()
            if not os.environ.get("KEEP_SYNAPSE"):
                shutil.rmtree(hs.directory, ignore_errors=True)


def _directory(role: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"organizer-{role}-"))


@pytest.fixture(scope="session")
def synapse() -> Iterator[LocalSynapse]:
    # test passwords: fast hashing (launch test registers 200)
    with _running(LocalSynapse(_directory("synapse"), bcrypt_rounds=4)) as (hs,):
        yield hs


@pytest.fixture(scope="session")
def federation() -> Iterator[tuple[LocalSynapse, LocalSynapse]]:
    """Two homeservers federating over loopback, ``(home, remote)``, named ``localhost:<federation
    port>`` (see ``LocalSynapse.federating`` and docs/operations.md). Only the tests that ask for
    them start them (once per session, side by side: 3.5–10 s on two shared cores). A test
    module runs its bot and members on them by overriding ``synapse``::

        @pytest.fixture
        def synapse(federation): return federation[0]
    """
    pair = (LocalSynapse.federating(_directory("home"), bcrypt_rounds=4),
            LocalSynapse.federating(_directory("remote"), bcrypt_rounds=4))
    with _running(*pair):
        yield pair


@pytest.fixture
def make_bot(synapse: LocalSynapse, tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    """Factory: ``make_bot(BOT_TRUST="cross-signed")`` registers a fresh bot user and returns an
    unstarted :class:`BotProcess` with that extra configuration."""
    made: list[BotProcess] = []

    def make(**extra_env: str) -> BotProcess:
        localpart = f"bot{next(_counter)}x{os.getpid()}"
        user_id = synapse.register(localpart, PASSWORD)
        organizer = f"@org{next(_counter)}x{os.getpid()}:{synapse.server_name}"
        bot = BotProcess(synapse, tmp_path / localpart, user_id, extra_env=dict(extra_env), organizer=organizer)
        made.append(bot)
        return bot

    yield make
    for bot in made:
        bot.stop()


@pytest.fixture
def bot(make_bot: Callable[..., BotProcess]) -> BotProcess:
    """A started bot with the default configuration."""
    return make_bot().start()


@pytest.fixture
async def members(synapse: LocalSynapse, tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """Factory: ``await members("alice", bot)`` logs in a fresh E2EE member client, enrolled in
    the bot's campaign (a member of its home room, see ``TestCampaign``); ``enroll=False`` makes
    an outsider; ``hs=`` another homeserver makes a member there (a federating server)."""
    made: list[Member] = []
    campaigns: dict[str, TestCampaign] = {}

    async def make(name: str, bot: BotProcess, enroll: bool = True, hs: LocalSynapse | None = None) -> Member:
        localpart = f"{name}{next(_counter)}x{os.getpid()}"
        member = await Member.create(hs or synapse, localpart, tmp_path, bot.user_id)
        made.append(member)
        if enroll and bot.organizer is not None:
            campaign = campaigns.get(bot.user_id)
            if campaign is None:
                organizer = await Member.create(synapse, bot.organizer[1:].split(":", 1)[0], tmp_path, bot.user_id)
                made.append(organizer)
                campaign = campaigns[bot.user_id] = await TestCampaign.create(organizer, bot.user_id)
            await campaign.enroll(member)
        return member

    yield make
    for member in made:
        await member.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """A database and handler context for unit tests (see tests/fakes.py)."""
    made = await make_world(tmp_path)
    yield made
    await made.db.close()


@pytest.fixture
async def make_world_with(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """Factory for a World with settings overrides: ``await make_world_with(BOT_MIN_CELL=3)``."""
    made: list[World] = []

    async def make(**overrides: object) -> World:
        w = await make_world(tmp_path / f"w{len(made)}", **overrides)
        made.append(w)
        return w

    yield make
    for w in made:
        await w.db.close()
