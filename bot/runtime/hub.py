"""Members who joined by code in a DM (issue 26), as the shell knows them: keyed references in
memory, reloaded when the stored ones change (one indexed read otherwise), like the campaign's
rooms in :mod:`bot.runtime.campaign`. That module asks :meth:`HubMembers.has` whether a person is
a member this way; the outbox asks which DMs hear the campaign's news (members by code who are
not quiet).

No Matrix IDs are kept here: a person is looked up by their keyed reference, computed when asked.
"""

from __future__ import annotations

from storage.core import EventBook
from storage.hashing import Keyring
from storage.hub import members as store

JOIN_COMMANDS = frozenset({"join"})  # what a DM from outside the campaign may run


class HubMembers:
    def __init__(self) -> None:
        self._state = store.Snapshot(frozenset(), frozenset())
        self._stamp: str | None = None
        self._keyring: Keyring | None = None

    async def refresh(self, book: EventBook) -> None:
        self._keyring = book.keyring
        stamp = await store.stamp(book.db)
        if stamp != self._stamp:
            self._state = await store.load(book.db)
            self._stamp = stamp

    def has(self, user_id: str) -> bool:
        """Whether ``user_id`` joined the campaign with a code."""
        keyring = self._keyring
        return keyring is not None and store.ref_of(keyring, user_id) in self._state.members

    def quiet(self, user_id: str) -> bool:
        """Whether ``user_id`` asked for no campaign news in their DM (``!quiet on``)."""
        keyring = self._keyring
        return keyring is not None and store.ref_of(keyring, user_id, store.QUIET_PURPOSE) in self._state.quiet
