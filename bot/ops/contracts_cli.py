"""``organizer-bot contracts …``: load, import, refresh and inspect the contract data.

``bot/ops/cli.py`` calls :func:`register` with its subparsers, opens the database (``args.db`` or
the settings' path) and awaits :func:`run`, whose result is the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TextIO

from bot.runtime.awards.api import API_URL, RefreshFailed, RefreshReport, refresh
from commands.contracts import money
from storage import contracts as store
from storage.contracts.data import ICE, ImportFailed, ImportReport, ensure_loaded, import_usaspending
from storage.db import Database


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "contracts", help="load, import, refresh and inspect the ICE contract data",
        description="Manage the public ICE contract data behind !contracts.",
    )
    sub = parser.add_subparsers(dest="contracts_command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", type=Path, default=None, metavar="PATH",
                        help="env file with the configuration (default: ./.env if present)")
    sub.add_parser(
        "load", parents=[common], help="(re)load the dataset shipped with the bot")
    imp = sub.add_parser(
        "import-usaspending", parents=[common],
        help="import USAspending Prime Award Summaries / Prime Transactions CSV downloads",
        description="Import USAspending contract downloads in one transaction: all files import, or nothing "
        "changes. Re-importing the same file changes nothing.",
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE.csv")
    imp.add_argument(
        "--sub-agency", action="append", dest="sub_agencies", metavar="NAME",
        help=f"keep rows whose awarding sub-agency is NAME (repeatable; default {ICE!r})",
    )
    imp.add_argument("--as-of", help="vintage of the download (YYYY-MM-DD); default: the date in the file "
                     "name, else each row's last_modified_date")
    ref = sub.add_parser(
        "refresh", parents=[common], help="fetch ICE awards of the known companies from the USAspending API")
    ref.add_argument("--api-url", default=API_URL, help="search endpoint (default: %(default)s)")
    ref.add_argument("--company", action="append", dest="companies", metavar="NAME",
                     help="only this company (repeatable)")
    ref.add_argument("--backoff", type=float, default=1.0, help=argparse.SUPPRESS)
    sub.add_parser(
        "stats", parents=[common], help="what the contract data holds")
    parser.set_defaults(contracts_run=run)
    return parser


class _Counter:
    """A progress line on stderr, only when it is a terminal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.active = stream.isatty()

    def rows(self, count: int) -> None:
        if self.active:
            self.stream.write(f"\r  {count:,} rows read…")
            self.stream.flush()

    def note(self, text: str) -> None:
        if self.active:
            self.stream.write(f"\r\033[K  {text}…")
            self.stream.flush()

    def done(self) -> None:
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()


async def _report(counter: _Counter, work: Awaitable[ImportReport | RefreshReport], failed: type[Exception],
                  nothing: str, out: TextIO) -> int:
    """Await an import or refresh behind the progress line; print its report, or the error and
    that ``nothing`` changed (exit code 1)."""
    try:
        report = await work
    except failed as exc:
        counter.done()
        print(f"error: {exc}\n{nothing}", file=sys.stderr)
        return 1
    counter.done()
    print("\n".join(report.lines()), file=out)
    return 0


async def run(args: argparse.Namespace, db: Database, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    command = args.contracts_command
    if command == "load":
        changed = await ensure_loaded(db, force=True)
        print(f"shipped dataset loaded: {changed} rows added, changed or removed", file=out)
        return 0
    if command == "import-usaspending":
        counter = _Counter()
        files = import_usaspending(db, args.files, args.sub_agencies or [ICE], as_of=args.as_of, progress=counter.rows)
        return await _report(counter, files, ImportFailed, "Nothing was imported.", out)
    if command == "refresh":
        counter = _Counter()
        api = refresh(db, api_url=args.api_url, only=args.companies or (), backoff=args.backoff, progress=counter.note)
        return await _report(counter, api, RefreshFailed, "Nothing was changed.", out)
    if command == "stats":
        found = await store.stats(db)
        lines = [
            f"companies: {found.companies}",
            f"awards: {found.awards} (from {found.rows} source rows)",
            "known value, each award once: "
            + (", ".join(f"{money(found.cents[k])} {k}" for k in store.KINDS if k in found.cents) or "none"),
            f"newest award start date: {found.newest_start or '(none)'}",
            "sources:",
        ]
        lines += [f"  {kind}: {rows} rows, as of {as_of or 'unknown'}" for kind, rows, as_of in found.sources]
        print("\n".join(lines), file=out)
        return 0
    print(f"unknown contracts command {command!r}", file=sys.stderr)
    return 2
