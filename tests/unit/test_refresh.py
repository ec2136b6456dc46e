"""`contracts refresh` against a local server replaying the documented spending_by_award format."""

from __future__ import annotations

import argparse
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.ops.contracts_cli import register, run
from bot.runtime.awards.api import SEARCH_PATH, request_body, search_plan
from storage.db import Database
from storage.directory import CompanyDirectory
from storage.schema import open_database

ICE = "U.S. Immigration and Customs Enforcement"


def result(n: int, recipient: str = "PALANTIR TECHNOLOGIES INC.") -> dict[str, Any]:
    return {
        "internal_id": n,
        "Award ID": f"70CTAPI{n:05d}",
        "Recipient Name": recipient,
        "Description": f"INVESTIGATIVE CASE MANAGEMENT {n}",
        "Award Amount": 1000000.5 + n,
        "Start Date": "2024-10-01",
        "End Date": "2025-09-30",
        "Awarding Agency": "Department of Homeland Security",
        "Awarding Sub Agency": ICE,
        "Last Modified Date": "2025-10-02 12:00:00",
        "generated_internal_id": f"CONT_AWD_70CTAPI{n:05d}_7012_-NONE-_-NONE-",
        "agency_slug": "department-of-homeland-security",
    }


class Replay:
    """Answers scripted (status, body) pairs in order, then pages of results."""

    def __init__(self, script: list[tuple[int, dict[str, Any]]]) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        status, body = self.script.pop(0) if self.script else (200, {"results": [], "page_metadata": {}})
        return web.json_response(body, status=status)


def page(results: list[dict[str, Any]], n: int, has_next: bool) -> tuple[int, dict[str, Any]]:
    return 200, {"spending_level": "awards", "limit": 100, "results": results,
                 "page_metadata": {"page": n, "hasNext": has_next}, "messages": []}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "bot.db")
    yield database
    await database.close()


async def serve(replay: Replay | Any) -> tuple[web.AppRunner, str]:
    """A fake USAspending on loopback answering with ``replay.handle``; returns the search URL."""
    app = web.Application()
    app.router.add_post(SEARCH_PATH, replay.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}{SEARCH_PATH}"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="organizer-bot")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_request_body_follows_the_api_contract() -> None:
    body = request_body(["Palantir"], 2, 100)
    assert body["filters"]["award_type_codes"] == ["A", "B", "C", "D"]
    assert body["filters"]["agencies"][0] == {"type": "awarding", "tier": "subtier", "name": ICE,
                                               "toptier_name": "Department of Homeland Security"}
    assert body["filters"]["recipient_search_text"] == ["Palantir"]
    assert body["page"] == 2 and body["limit"] == 100
    assert {"Award ID", "Recipient Name", "Award Amount", "generated_internal_id"} <= set(body["fields"])


def test_search_plan_covers_the_alias_table_or_the_named_companies() -> None:
    directory = CompanyDirectory.builtin()
    plan = search_plan(directory)
    assert set(plan) == set(directory.companies)
    assert plan["thomsonreuters"] == ["Thomson Reuters", "West Publishing"]
    assert set(search_plan(directory, ["AWS", "Alphabet"])) == {"amazon", "google"}


async def test_refresh_retries_pages_and_upserts(db: Database) -> None:
    replay = Replay([
        (429, {"detail": "slow down"}),
        (500, {"detail": "oops"}),
        page([result(1), result(2)], 1, True),
        page([result(3), result(4, "SOME OTHER VENDOR LLC")], 2, False),
    ])
    runner, url = await serve(replay)
    try:
        out = io.StringIO()
        code = await run(parse(["contracts", "refresh", "--api-url", url, "--company", "Palantir", "--backoff", "0.01"]),
                         db, out)
        assert code == 0, out.getvalue()
        assert "results fetched: 4" in out.getvalue() and "awards imported (new): 4" in out.getvalue()
        assert len(replay.requests) == 4
        assert [r["page"] for r in replay.requests] == [1, 1, 1, 2]
        assert replay.requests[0]["filters"]["recipient_search_text"] == ["Palantir"]
        rows = await db.fetchall("SELECT award_key, company_key, amount_cents, source_url, last_modified "
                                 "FROM contract_awards ORDER BY award_key")
        assert [(r[0], r[1]) for r in rows] == [("70CTAPI00001", "palantir"), ("70CTAPI00002", "palantir"),
                                              ("70CTAPI00003", "palantir"), ("70CTAPI00004", "someothervendor")]
        assert rows[0][2] == 100000150
        assert rows[0][3] == "https://www.usaspending.gov/award/CONT_AWD_70CTAPI00001_7012_-NONE-_-NONE-/"
        assert rows[0][4] == "2025-10-02"
        # the same answers again change nothing
        replay.script = [page([result(1), result(2), result(3), result(4, "SOME OTHER VENDOR LLC")], 1, False)]
        out = io.StringIO()
        assert await run(parse(["contracts", "refresh", "--api-url", url, "--company", "Palantir"]), db, out) == 0
        assert "awards unchanged: 4" in out.getvalue() and "awards imported (new): 0" in out.getvalue()
    finally:
        await runner.cleanup()


async def test_refresh_gives_up_after_retries_and_changes_nothing(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    replay = Replay([page([result(1)], 1, True)] + [(503, {})] * 10)
    runner, url = await serve(replay)
    try:
        code = await run(parse(["contracts", "refresh", "--api-url", url, "--company", "Palantir", "--backoff", "0.001"]),
                         db, io.StringIO())
        assert code == 1
        assert "gave up after 6 attempts (HTTP 503)" in capsys.readouterr().err
        assert len(replay.requests) == 7
        found = await db.fetchone("SELECT count(*) FROM contract_awards")
        assert found is not None and found[0] == 0
    finally:
        await runner.cleanup()


async def test_refresh_reports_a_client_error_without_retrying(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    replay = Replay([(400, {"detail": "Field 'filters' is required"})])
    runner, url = await serve(replay)
    try:
        code = await run(parse(["contracts", "refresh", "--api-url", url, "--company", "Palantir"]), db, io.StringIO())
        assert code == 1 and len(replay.requests) == 1
        assert "HTTP 400" in capsys.readouterr().err
    finally:
        await runner.cleanup()


async def test_refresh_rejects_an_unexpected_answer(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    replay = Replay([(200, {"unexpected": True})])
    runner, url = await serve(replay)
    try:
        code = await run(parse(["contracts", "refresh", "--api-url", url, "--company", "Palantir"]), db, io.StringIO())
        assert code == 1 and "unexpected answer" in capsys.readouterr().err
    finally:
        await runner.cleanup()
