"""Launch day: a crowd of new members opens DMs with the bot at once (issue #15).

Causes of a lost first message found by bench/launch.py and fixed here (the others are in
bot/e2ee/fallback_keys.py, bot/runtime/undecrypted.py and the outbox; SECURITY.md lists them all):

- **Invites joined one after another.** The sync loop joined each invite before looking at the next
  (one ``/join`` round trip each, 0.2–1 s under load), so 200 invites in one sync took minutes.
  They are joined a few at a time (:data:`INVITE_JOINS`), and in the background
  (``Rooms.start_joins``): with the sync loop waiting for them, one sync's 64 invites took 5–8 s
  of joins during which no command of an already joined DM was handled and no sync was made
  (bench/launch.py stage times, N = 100). The sync token of a batch is saved only once its
  invites are answered (``Syncer._save_token``), and a room's first events wait for its join's
  flags (``Rooms.settled``).
- **A command typed before the bot had joined was ignored.** A room's cut-off ("sent before the bot
  was in the room", matrix-reminder-bot #59) was taken when the bot *handled* the invite, so a new
  member who typed ``!pledge letter`` right after opening the DM, while the bot was still working
  through the crowd's invites, was silently dropped: all 100 of the 200 commands typed before the bot
  joined, in one run (up to 45 s before its join), 100 of 200 lost with nothing in the log. The
  cut-off now moves back to the bot's invite event (:func:`start_at_invite`): what anyone typed after
  inviting the bot was meant for it; history from before the invite still is not answered.
- **A history fetch for every new room.** Synapse marks the timeline of a newly joined room as
  *limited* whatever its length (synapse/handlers/sync.py: ``limited or newly_joined_room``), and
  the shell fetches the gap back to its last sync token for every limited timeline: one
  ``/messages`` round trip per new DM, in the sync loop, before any command of that sync is handled.
  A timeline that holds the room's create event has nothing before it (:func:`reaches_room_start`).

- **A chain of key round trips per new DM.** nio fetches ``/joined_members`` before the first
  encrypted send in each room although the sync (no lazy loading) already gave the complete list,
  then queries keys and claims one-time keys for that room alone. Telling nio the list is complete
  without more lost answers (nio runs its key query only in that branch: with it skipped, the room
  key went to no device of the new member and 26 of 100 answers could not be decrypted) is what
  ``bot/e2ee/keywork.py`` does: one query and one claim for all the new rooms about to be sent to, and
  the list marked complete only for rooms whose members' devices are all known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

from nio import RoomCreateEvent, RoomMemberEvent

from storage.core import EventBook

INVITE_JOINS = 8  # invites joined at once: enough to overlap round trips, few enough for a small homeserver


async def each_bounded(work: Iterable[Awaitable[Any]], limit: int = INVITE_JOINS) -> None:
    """Await every item, at most ``limit`` at a time (each item handles its own errors)."""
    gate = asyncio.Semaphore(limit)

    async def one(item: Awaitable[Any]) -> None:
        async with gate:
            await item

    await asyncio.gather(*(one(item) for item in work))


def invite_time(events: Iterable[Any], user_id: str) -> int | None:
    """The homeserver timestamp (ms) of the latest invite of ``user_id`` in ``events`` (oldest first),
    if they hold one (the first sync after joining does, unless the room's history is long)."""
    found = None
    for event in events:
        if isinstance(event, RoomMemberEvent) and event.state_key == user_id and event.membership == "invite":
            found = int(event.server_timestamp)
    return found


async def start_at_invite(book: EventBook, room_id: str, events: list[Any], user_id: str) -> None:
    """Move the room's "joined at" cut-off back to the bot's invite, if these events show it."""
    invited = invite_time(events, user_id)
    if invited is None:
        return
    async with book.db.transaction():
        await book.lower_room_flag(room_id, "joined_at", invited)


def reaches_room_start(events: Iterable[Any]) -> bool:
    """The timeline goes back to the room's creation: a "limited" flag on it hides no gap."""
    return any(isinstance(event, RoomCreateEvent) for event in events)
