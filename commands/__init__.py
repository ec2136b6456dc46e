"""One module per command family; importing :func:`load_all` registers every command."""

import importlib

FAMILIES = ("help", "privacy", "companies", "contracts", "pledges", "rollcall", "actions", "admin")


def load_all() -> None:
    for family in FAMILIES:
        importlib.import_module(f"commands.{family}")
