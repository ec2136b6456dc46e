"""The Matrix shell: the only code that talks to the homeserver, composed of small parts
(the way mautrix composes its client):

- ``bot/runtime/session.py``  login, the saved session, cross-signing, device-key upkeep
  (one-time and fallback keys: ``bot/e2ee/fallback_keys.py``)
- ``bot/runtime/sync.py``     the sync loop, gaps backfilled, our own sync token, health file
- ``bot/runtime/rooms.py``    room knowledge: DMs, power levels and v12 creators, views and facts, invites
- ``bot/runtime/campaign.py`` who belongs to the campaign and who commands it (asked by rooms and intake)
- ``bot/runtime/intake.py``   event → command: filters, trust, throttling, dedup, running the handler
  (undecryptable events kept, retried and explained: ``bot/runtime/undecrypted.py``)
- ``bot/runtime/sending/outputs.py``  the one codec: handler outputs → typed outbox records → JSON rows and back
- ``bot/runtime/sending/outbox.py``   sending: draining the outbox, DMs opened on demand, strict trust per send
- ``bot/runtime/supervisor.py`` every long-lived task restarted with backoff when it dies, and counted
  (``bot/runtime/health.py``: health.json turns unhealthy when one keeps dying or the outbox stalls)

Exactly-once, across crashes (the other modules refer here):

1. Our own sync token (nio stores none) is saved only after every event of its batch was
   handled and every invite in it answered (invites are joined in the background while later
   batches are handled: ``Syncer._save_token``), so a crash re-delivers the batch instead of
   losing it.
2. A command is handled at most once: the keyed hash of its event ID is written to
   ``processed_events`` in the SAME transaction as the handler's writes and its queued replies
   (``EventBook.claim``); a re-delivered event finds the mark and is skipped, and a crash
   before the commit leaves neither writes nor replies nor mark, so it runs again.
3. Replies are rows of a persistent outbox, each with a transaction ID fixed when it was queued
   (derived from the event ID). The sender deletes a row only after the homeserver answered; a
   resend after a crash reuses the ID, and the homeserver de-duplicates it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from nio import AsyncClient

from bot.config import Settings
from bot.runtime.intake import Intake
from bot.runtime.rooms import Rooms
from bot.runtime.sending.outbox import Outbox, Stopping
from bot.runtime.sending.outputs import Origin
from bot.runtime.session import LoginFailed, Session, StoreUnreadable
from bot.runtime.stages import StageTimes
from bot.runtime.supervisor import Supervisor
from bot.runtime.sync import Syncer
from commands.base import CampaignView, Env, Output, RoomFacts, RoomView
from storage.core import EventBook
from storage.db import Database
from storage.hashing import Keyring, Member

__all__ = ["LoginFailed", "MatrixShell", "StoreUnreadable"]


class Service(Protocol):
    """A background service (such as the scheduler)."""

    async def run(self) -> None: ...
    def wake(self) -> None: ...


class MatrixShell:
    """Logs in, then runs the sync loop, the sender and the background services until stopped.
    Also what handlers may ask (:class:`commands.base.Shell`)."""

    known: Rooms  # the parts below exist from attach() (login) on
    outbox: Outbox
    intake: Intake
    syncer: Syncer

    def __init__(self, settings: Settings, db: Database, keyring: Keyring) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring
        self.book = EventBook(db, keyring)
        self.session = Session(settings)
        self.client: AsyncClient | None = None
        self.stopping = Stopping()
        self.ready = asyncio.Event()  # set after the first successful sync
        self._services: dict[str, Service] = {}
        self.health_notes: dict[str, Any] = {}  # what services report into health.json (award look-ups)
        # every long-lived task restarts when it dies; health.json says so at once
        self.supervisor = Supervisor(self.stopping, on_death=lambda: self.syncer.write_health())

    async def login(self) -> AsyncClient:
        """Restore the saved session or log in once (see :class:`bot.runtime.session.Session`)."""
        client = await self.session.login()
        await self.attach(client)
        return client

    async def attach(self, client: AsyncClient) -> None:
        """Build the parts around a logged-in client (tests pass a stand-in)."""
        self.client = client
        self.stages = StageTimes(self.settings.BOT_STAGE_STATS)  # counts and durations, no identities
        self.stages.instrument(client)
        self.known = Rooms(client, self.settings, self.book, self.stages)
        await self.known.load()
        self.outbox = Outbox(client, self.settings, self.book, self.known, self.stopping, self.ready,
                             self.session.rate_gate, self.stages)
        self.intake = Intake(client, self.settings, self.book, self.known, self.outbox, self, self.wake)
        self.syncer = Syncer(client, self.settings, self.db, self.session, self.known, self.intake,
                             self.outbox, self.stopping, self.ready, more_health=self.health)
        self.known.died = self.supervisor.died  # a join that fails is counted as the "joins" task's death
        self.add_service("stages", self.stages)
        self.add_service("undecrypted", self.intake.undecrypted)  # grace-period notices, counts logged
        if self.session.keys is not None:
            self.add_service("keys", self.session.keys)  # one-time-key stock checked during a long batch

    async def ensure_cross_signing(self) -> None:
        await self.session.ensure_cross_signing()

    # ------------------------------------------------------------ running

    def add_service(self, name: str, service: Service) -> None:
        """A background service with ``async run()`` and ``wake()``; ``ctx.wake(name)`` reaches it."""
        self._services[name] = service

    def wake(self, names: Iterable[str]) -> None:
        """Wake the named services (after the transaction that changed their plan committed)."""
        for name in names:
            service = self._services.get(name)
            if service is not None:
                service.wake()

    async def run(self) -> None:
        client = self.client or await self.login()
        self.outbox.kick()  # send what a previous run left queued (e.g. a stop mid-delivery)
        supervise = self.supervisor.supervise
        sender = asyncio.create_task(supervise("outbox", self.outbox.run), name="outbox")
        services = [asyncio.create_task(supervise(name, svc.run), name=name) for name, svc in self._services.items()]
        services.append(asyncio.create_task(supervise("campaign", self._after_first_sync, once=True), name="campaign"))
        try:
            await supervise("sync", self.syncer.run)
        finally:
            self.outbox.kick()
            for task in services:
                task.cancel()
            await asyncio.gather(*services, return_exceptions=True)
            if self.ready.is_set():
                await self.outbox.drain(timeout=3)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await self.outbox.stop_saying()
            await client.close()

    async def _after_first_sync(self) -> None:
        await self.ready.wait()
        self.known.note_unapproved()

    def stop(self) -> None:
        self.stopping.set()

    def health(self) -> dict[str, Any]:
        """What health.json adds from the shell: tasks that died, an outbox that does not drain."""
        return {**self.supervisor.health(), "outbox_undrained_since": self.outbox.undrained_since,
                **self.health_notes}

    # ------------------------------------------------------------ background services

    def env(self) -> Env:
        return Env(db=self.db, keyring=self.keyring, settings=self.settings, now=datetime.now(UTC), shell=self)

    async def enqueue_outputs(self, outputs: list[Output], txn_base: str) -> None:
        """Queue outputs that have no command to reply to (inside the caller's transaction)."""
        await self.outbox.enqueue(outputs, Origin(txn_base))

    def kick_outbox(self) -> None:
        """Call after the transaction that queued messages has committed."""
        self.outbox.kick()

    @property
    def in_flight(self) -> int:
        return self.intake.in_flight

    @property
    def rate_limited(self) -> int:
        return self.session.rate_gate.total

    # ------------------------------------------------------------ what handlers may ask (commands.base.Shell)

    def rooms(self) -> list[RoomView]:
        return self.known.views()

    def can_redact(self, room_id: str) -> bool:
        return self.known.can_redact(room_id)

    def master_key_fingerprint(self) -> str | None:
        return self.session.master_fingerprint

    def dm_room_of(self, member: Member) -> str | None:
        return self.known.dm_with(member.reveal())

    def room_facts(self, room_id: str) -> RoomFacts | None:
        return self.known.facts(room_id)

    def campaign(self) -> CampaignView:
        return self.known.campaign_view()

    def rooms_of(self, member: Member) -> set[str]:
        return self.known.campaign.rooms_of(member.reveal())
