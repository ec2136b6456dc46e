"""One module per command family. :func:`load_all` imports the families listed here, and their
decorators fill every registry of :mod:`commands.base` (commands, member data, due sources,
retention and export hooks); nothing else adds to them."""

import importlib

FAMILIES = (
    "help", "privacy", "language", "polls", "rsvp", "companies", "contracts", "alerts", "pledges", "rollcall",
    "actions", "fanout", "admin", "campaign", "hub", "hotline", "charts", "digest",
)


def load_all() -> None:
    for family in FAMILIES:
        importlib.import_module(f"commands.{family}")
