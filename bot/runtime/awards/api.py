"""Client for USAspending's award search (``POST /api/v2/search/spending_by_award/``).

Pages through ICE contract awards per company of the alias table, retrying 429/5xx and
network errors with exponential backoff. Results become rows with
:func:`storage.contracts.data.award_from_api`; everything is fetched before anything is
written, so the database is never locked while waiting on the network.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiohttp
from pydantic import BaseModel, ValidationError

from storage.contracts import Award
from storage.contracts.data import API_FIELDS, ICE, AwardsOutcome, award_from_api, upsert_refreshed
from storage.db import Database
from storage.directory import CompanyDirectory
from storage.directory import directory as company_directory

SEARCH_PATH = "/api/v2/search/spending_by_award/"
API_URL = "https://api.usaspending.gov" + SEARCH_PATH
log = logging.getLogger(__name__)


class RefreshFailed(Exception):
    """The API could not be used; nothing was changed."""


class _Page(BaseModel):
    page: int = 1
    hasNext: bool = False  # noqa: N815 (the API's name)


class _Response(BaseModel):
    results: list[dict[str, Any]]
    page_metadata: _Page = _Page()


def request_body(terms: list[str], page: int, limit: int, sub_agency: str = ICE) -> dict[str, Any]:
    return {
        "filters": {
            "award_type_codes": ["A", "B", "C", "D"],
            "agencies": [
                {"type": "awarding", "tier": "subtier", "name": sub_agency,
                 "toptier_name": "Department of Homeland Security"}
            ],
            "recipient_search_text": terms,
            "time_period": [{"start_date": "2007-10-01", "end_date": date.today().isoformat()}],
        },
        "fields": API_FIELDS,
        "limit": limit,
        "page": page,
        "sort": "Award Amount",
        "order": "desc",
        "subawards": False,
    }


@dataclass
class Client:
    session: aiohttp.ClientSession
    api_url: str = API_URL
    retries: int = 5
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def post(self, body: dict[str, Any]) -> _Response:
        for attempt in range(self.retries + 1):
            delay = self.backoff * 2**attempt
            try:
                async with self.session.post(self.api_url, json=body) as response:
                    if response.status == 429 or response.status >= 500:
                        retry_after = response.headers.get("Retry-After", "")
                        if retry_after.isdigit():
                            delay = max(delay, float(retry_after))
                        problem = f"HTTP {response.status}"
                    elif response.status >= 400:
                        text = (await response.text())[:300]
                        raise RefreshFailed(f"{self.api_url} answered HTTP {response.status}: {text}")
                    else:
                        try:
                            return _Response.model_validate(await response.json(content_type=None))
                        except (ValidationError, ValueError) as exc:
                            raise RefreshFailed(f"{self.api_url} sent an unexpected answer: {exc}") from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt == self.retries:
                raise RefreshFailed(f"{self.api_url}: gave up after {self.retries + 1} attempts ({problem})")
            log.warning("USAspending API: %s; retrying in %.1fs", problem, delay)
            await self.sleep(delay)
        raise AssertionError("unreachable")

    async def awards(self, terms: list[str], *, limit: int = 100, max_pages: int = 100,
                     sub_agency: str = ICE) -> list[dict[str, Any]]:
        """All results for these recipient search terms (``hasNext`` paging)."""
        results: list[dict[str, Any]] = []
        for page in range(1, max_pages + 1):
            answer = await self.post(request_body(terms, page, limit, sub_agency))
            results.extend(answer.results)
            if not answer.page_metadata.hasNext or not answer.results:
                break
        return results


@dataclass
class RefreshReport(AwardsOutcome):
    companies: int = 0
    fetched: int = 0

    def lines(self) -> list[str]:
        out = [f"companies searched: {self.companies}", f"results fetched: {self.fetched}", *self.outcome_lines()]
        out += [f"skipped: {count} × {reason}" for reason, count in self.skipped.items()]
        return out


def search_plan(directory: CompanyDirectory, only: Iterable[str] = ()) -> dict[str, list[str]]:
    """Company key → recipient search terms; ``only`` limits it to the named companies."""
    wanted = {c.key for name in only if (c := directory.resolve(name)) is not None}
    plan = {}
    for key, company in directory.companies.items():
        if wanted and key not in wanted:
            continue
        plan[key] = directory.search_terms.get(key) or [company.display]
    return plan


async def fetch(
    db: Database,
    *,
    api_url: str = API_URL,
    only: Iterable[str] = (),
    sub_agencies: Iterable[str] = (ICE,),
    backoff: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Award], RefreshReport]:
    """Every award of the known companies (or ``only`` these) from these awarding sub-agencies,
    all pages fetched before anything is returned: a failure raises :class:`RefreshFailed` and
    leaves nothing half-read. Every company is asked about, so the queries say nothing about
    which ones the campaign cares for."""
    found = await company_directory(db)
    plan = search_plan(found, only)
    report = RefreshReport(companies=len(plan))
    today = date.today().isoformat()
    awards: dict[str, Award] = {}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = Client(session, api_url, backoff=backoff)
        for sub_agency in sub_agencies:
            for key, terms in plan.items():
                if progress is not None:
                    progress(found.companies[key].display)
                for item in await client.awards(terms, sub_agency=sub_agency):
                    report.fetched += 1
                    award = award_from_api(item, found, today)
                    if award is None:
                        report.skipped["result without award ID, recipient or amount"] += 1
                    elif award.award_key in awards:
                        report.skipped["found again under another company"] += 1
                    else:
                        awards[award.award_key] = award
    return list(awards.values()), report


async def refresh(
    db: Database,
    *,
    api_url: str = API_URL,
    only: Iterable[str] = (),
    backoff: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> RefreshReport:
    awards, report = await fetch(db, api_url=api_url, only=only, backoff=backoff, progress=progress)
    result = await upsert_refreshed(db, awards)
    report.record(result)
    return report
