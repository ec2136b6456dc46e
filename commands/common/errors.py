"""The problems a member can fix, and the code span that quotes their input in a reply.

Kept below :mod:`commands.base` (which re-exports them) so that the pure helpers in
``commands/common`` (the time path, zones, recurrences) can raise them while the context in
``commands.base`` uses those helpers, without an import circle.
"""

from __future__ import annotations


class CommandError(Exception):
    """A problem the member can fix; the message is shown to them as is (mini-markup)."""


class UsageError(CommandError):
    """Wrong syntax: the reply adds the command's usage line."""


def code(value: str, limit: int = 80) -> str:
    """Quote member input for a reply: trimmed and with backticks removed so it stays one span."""
    cleaned = value.replace("`", "'").replace("\n", " ")
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return f"`{cleaned}`"
