"""One way to read and show a time: every command reads a time phrase and shows an instant through
the context, in the reader's zone (the member's in a DM, the room's in a room, else the default)
and language. The poll that closed eight hours early is the scenario."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from commands.base import Role
from storage import polls as store
from tests.fakes import DM, ROOM, World, texts

C = Role.COORDINATOR
COORD = "@coord:example.org"
# Monday 7 December 2026, 10:00 in Los Angeles
MONDAY = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


async def test_a_poll_closing_friday_at_17_in_a_los_angeles_room_closes_at_17_there(world: World) -> None:
    world.now = MONDAY
    await world.run("!room tz America/Los_Angeles", user=COORD, role=C, room=ROOM)
    await world.run("!room lang es", user=COORD, role=C, room=ROOM)
    out = texts(await world.run("!poll create paro ¿Vamos al paro? | Sí | No --closes el viernes a las 17:00",
                                user=COORD, role=C, room=ROOM))
    assert "Se cierra el viernes 11 de diciembre a las 17:00 PST." in out, out
    poll = await store.by_slug(world.db, world.keyring, "paro")
    assert poll is not None and poll.closes_at == datetime(2026, 12, 12, 1, 0, tzinfo=UTC)  # 17:00 PST


async def test_a_poll_created_in_a_dm_reads_and_shows_the_members_own_zone(world: World) -> None:
    world.now = MONDAY
    await world.run("!idioma es", user=COORD, room=DM)
    await world.run("!zona Europe/Madrid", user=COORD, room=DM)
    await world.run("!room tz America/Los_Angeles", user=COORD, role=C, room=ROOM)
    out = texts(await world.run("!poll create paro ¿Vamos? | Sí | No --closes el viernes a las 17:00",
                                user=COORD, role=C, room=DM))
    assert "Se cierra el viernes 11 de diciembre a las 17:00 CET." in out, out
    poll = await store.by_slug(world.db, world.keyring, "paro")
    assert poll is not None and poll.closes_at == datetime(2026, 12, 11, 16, 0, tzinfo=UTC)  # 17:00 CET
    # posted in the Los Angeles room, the same instant reads in that room's zone and language
    out = texts(await world.run("!poll rooms paro add", user=COORD, role=C, room=ROOM))
    assert "Closes Friday 11 December at 08:00 PST." in out, out


async def test_a_room_without_a_zone_uses_the_default_zone(make_world_with) -> None:
    world = await make_world_with(BOT_DEFAULT_TIMEZONE="America/Chicago")
    world.now = MONDAY
    out = texts(await world.run("!poll create p Q? | a | b --closes friday 17:00", user=COORD, role=C, room=ROOM))
    assert "Closes Friday 11 December at 17:00 CST." in out, out


# ---------------------------------------------------------------- the one path, enforced

COMMANDS = Path(__file__).resolve().parents[2] / "commands"
THE_PATH = (COMMANDS / "common" / "timeparse", COMMANDS / "base.py")
# reading or formatting a time by hand: strftime, Babel's and dateparser's entry points, the parser
FORBIDDEN_CALLS = {"strftime", "strptime", "format_datetime", "format_date", "format_time", "format_skeleton",
                   "parse_when", "format_when", "DateDataParser", "get_date_data", "search_dates"}
FORBIDDEN_IMPORTS = {"dateparser", "dateparser.date", "dateparser.search"}


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def time_path_violations(source: str, name: str) -> list[str]:
    """What in ``source`` reads or shows a time outside the context's one path."""
    found: list[str] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and _called(node) in FORBIDDEN_CALLS:
            found.append(f"{where} calls {_called(node)}")
        elif isinstance(node, ast.Attribute) and node.attr == "BOT_DEFAULT_TIMEZONE":
            found.append(f"{where} uses BOT_DEFAULT_TIMEZONE (ctx.zone knows the reader's zone)")
        elif isinstance(node, ast.ImportFrom) and (node.module in FORBIDDEN_IMPORTS or any(
                a.name in FORBIDDEN_CALLS for a in node.names)):
            found.append(f"{where} imports {node.module}")
        elif isinstance(node, ast.Import) and any(a.name in FORBIDDEN_IMPORTS for a in node.names):
            found.append(f"{where} imports dateparser")
        elif isinstance(node, ast.FormattedValue) and node.format_spec is not None and "%" in ast.unparse(
                node.format_spec):
            found.append(f"{where} formats a date in an f-string")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "ctx" in {a.arg for a in node.args.args}:
            for inner in ast.walk(node):  # a handler knows its reader: it shows times with ctx.show_time
                if isinstance(inner, ast.Call) and _called(inner) == "show_instant":
                    found.append(f"{name}:{inner.lineno} calls show_instant where ctx.show_time knows the reader")
    return found


def test_no_command_reads_or_shows_a_time_outside_the_context() -> None:
    violations: list[str] = []
    for path in sorted(COMMANDS.rglob("*.py")):
        if any(path == p or p in path.parents for p in THE_PATH):
            continue
        violations += time_path_violations(path.read_text(encoding="utf-8"), str(path.relative_to(COMMANDS)))
    assert violations == []


def test_the_guard_catches_what_the_poll_did() -> None:
    before = '''
async def poll_create(ctx, args):
    closes = parse_when(text, now=ctx.now, default_zone=ctx.settings.BOT_DEFAULT_TIMEZONE)
    return format_when(closes, "UTC") + f"{closes:%H:%M}" + show_instant(closes, "UTC", ctx.lang)
'''
    found = time_path_violations(before, "polls.py")
    assert len(found) == 5 and any("BOT_DEFAULT_TIMEZONE" in f for f in found), found
    assert time_path_violations("from dateparser import parse\nx = y.strftime('%d')", "m.py") == [
        "m.py:1 imports dateparser", "m.py:2 calls strftime"]
