"""The one way a command says "a figure readers see has changed": pledge counts and RSVP turnout
are published at the next announcement round (``storage/published.py``, issue #23), never at
the moment a member acted."""

from __future__ import annotations

from commands.base import Context
from storage import published


async def figures_changed(ctx: Context) -> None:
    """Live counts changed (inside the caller's transaction): plan their publication at the
    round, and wake the scheduler to keep that plan (or it would sleep past it)."""
    await published.changed(ctx.db, ctx.settings.announce_delay)
    ctx.wake("scheduler")
