"""Codes a coordinator types to confirm what they asked for (`!confirm`): a broadcast, a room
linked to an action. A code is 4 digits, works only in the room it was shown in, for the
coordinator who asked, for :data:`CONFIRM_WINDOW`."""

from __future__ import annotations

import secrets
from datetime import timedelta

from commands.base import CommandError, Context
from storage import actions as store

CONFIRM_WINDOW = timedelta(minutes=5)


async def new_confirmation(ctx: Context, room_id: str, kind: str, payload: dict[str, object]) -> str:
    """A fresh code for ``kind`` with ``payload``, waiting in ``room_id`` for this coordinator."""
    for _ in range(20):
        confirm = f"{secrets.randbelow(9000) + 1000}"
        if await store.add_confirmation(ctx.db, ctx.keyring, code=confirm, room_id=room_id,
                                        member_ref=ctx.member.ref("confirm"), kind=kind, payload=payload,
                                        expires_at=ctx.now + CONFIRM_WINDOW):
            return confirm
    raise CommandError(ctx._("Too many confirmations are waiting in that room; try again in a few minutes."))
