"""Turning contract sources into :class:`storage.contracts.Award` rows: the shipped dataset
(``ensure_loaded``), USAspending CSV downloads (``import_usaspending``) and USAspending search
API results (``award_from_api``). Pure parsing and upserts; the network lives in ``bot/``.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from storage import contracts as store
from storage.contracts import CONTRACTS_CSV, Award
from storage.db import Database
from storage.directory import CompanyDirectory, normalize
from storage.directory import directory as company_directory
from storage.schema import DOMAINS

ICE = "U.S. Immigration and Customs Enforcement"
AWARD_URL = "https://www.usaspending.gov/award/{}/"
SOURCE_AWARDS = "usaspending"  # award-level totals: summaries download and the search API
SOURCE_TRANSACTIONS = "usaspending-transactions"  # sums of the transactions in imported files
_DATASET_META = "contracts_dataset_sha256"

Progress = Callable[[int], None]


# ---------------------------------------------------------------- small parsers


def parse_cents(text: str) -> int | None:
    """``"1,234.56"``/``"$1234.5"``/``"-5"`` → cents; ``""`` → None; anything else → ValueError."""
    cleaned = text.strip().replace(",", "").replace("$", "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text.strip()[:40]!r} is not an amount") from None
    if not value.is_finite() or abs(value) > Decimal("1e13"):
        raise ValueError(f"{text.strip()[:40]!r} is not a plausible amount")
    return int((value * 100).to_integral_value())


_ISO = re.compile(r"^(\d{4})(-\d{2}(-\d{2})?)?")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})")


def parse_date(text: str) -> str:
    """ISO (possibly partial, possibly with a time) or M/D/YYYY → ISO; anything else → ''."""
    text = text.strip()
    if match := _ISO.match(text):
        return match.group(0)
    if match := _US_DATE.match(text):
        month, day, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return ""
    return ""


_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}


def _date_in(text: str) -> str:
    """The first date mentioned in a source title (``2025-03-21``, ``18 Apr 2025``, ``Aug 2019``)."""
    if match := re.search(r"\b(20\d\d-\d\d-\d\d)\b", text):
        return match.group(1)
    if match := re.search(r"\b(?:\d{1,2} )?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? (20\d\d)\b", text):
        return f"{match.group(2)}-{_MONTHS[match.group(1).lower()]:02d}"
    return ""


# ---------------------------------------------------------------- company of a row


def company_key_for(directory: CompanyDirectory, names: Sequence[str]) -> str:
    """The first name that resolves decides the company; else the first non-empty name's key."""
    for name in names:
        if name and (company := directory.resolve(name)) is not None:
            return company.key
    return next((normalize(n) for n in names if normalize(n)), "unknown")


# ---------------------------------------------------------------- the shipped dataset


def _dataset_source(title: str) -> tuple[str, str]:
    """(source kind, vintage) of a shipped row, from its source title (see data/README)."""
    if title.startswith("USAspending.gov award record"):
        return "usaspending-api", "2026-08-20"
    if title.startswith("USAspending.gov Contracts_PrimeAwardSummaries"):
        return "usaspending-download", _date_in(title) or "2025-03-21"
    if title.startswith("Torn Apart"):
        return "usaspending-2018", "2018-08"
    return "press", _date_in(title)


def dataset_awards(directory: CompanyDirectory, path: Path = CONTRACTS_CSV) -> list[Award]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    awards = []
    for row in rows:
        kind, as_of = _dataset_source(row["source_title"])
        award_id = row["award_id"].strip()
        award_key = award_id or "row:" + hashlib.sha256(
            "\x1f".join(row[c] for c in ("vendor", "description", "amount_usd", "source_title")).encode()
        ).hexdigest()[:16]
        awards.append(
            Award(
                award_key=award_key,
                source="dataset:" + row["source_title"],
                award_id=award_id,
                vendor=row["vendor"],
                vendor_key=normalize(row["vendor"]),
                company_key=company_key_for(directory, [row["parent_company"], row["vendor"]]),
                parent=row["parent_company"],
                description=row["description"],
                amount_cents=parse_cents(row["amount_usd"]),
                amount_kind=row["amount_kind"],
                start_date=row["start_date"],
                end_date=row["end_date"],
                agency=row["agency"],
                sub_agency=row["sub_agency"],
                source_title=row["source_title"],
                source_url=row["source_url"],
                note=row["note"],
                source_kind=kind,
                as_of=as_of,
                last_modified="",
                origin="dataset",
            )
        )
    return awards


async def ensure_loaded(db: Database, *, force: bool = False, path: Path = CONTRACTS_CSV) -> int:
    """Load the shipped dataset unless this exact file is already loaded (idempotent, cheap
    on every start). Rows a newer dataset dropped are removed. Returns rows changed."""
    await db.migrate(DOMAINS)
    digest = hashlib.sha256(await asyncio.to_thread(path.read_bytes)).hexdigest()
    if not force and await db.get_meta(_DATASET_META) == digest:
        return 0
    directory = await company_directory(db)
    awards = await asyncio.to_thread(dataset_awards, directory, path)
    async with db.transaction():
        result = await store.upsert_awards(db, awards)
        removed = await store.delete_missing(db, "dataset", {(a.award_key, a.source) for a in awards})
        await db.set_meta(_DATASET_META, digest)
    return result.inserted + result.updated + removed


# ---------------------------------------------------------------- USAspending CSV downloads


class ImportFailed(Exception):
    """A file that is not a USAspending download, or a broken row; nothing was imported."""

    def __init__(self, path: Path, line: int, column: str | None, message: str) -> None:
        where = f"{path}: line {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.column = path, line, column


@dataclass
class AwardsOutcome:
    """What one upsert did to the stored awards, and why rows were skipped: the common part of
    the file import's report and the API refresh's (``bot/runtime/awards/api.py``)."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def record(self, result: store.UpsertResult) -> None:
        self.imported, self.updated, self.unchanged = result.inserted, result.updated, result.unchanged
        if result.stale:
            self.skipped["older than the record already stored"] += result.stale

    def outcome_lines(self) -> list[str]:
        return [
            f"awards imported (new): {self.imported}",
            f"awards updated: {self.updated}",
            f"awards unchanged: {self.unchanged}",
        ]


@dataclass
class ImportReport(AwardsOutcome):
    files: int = 0
    read: int = 0

    def lines(self) -> list[str]:
        out = [f"files: {self.files}", f"rows read: {self.read}", *self.outcome_lines(),
               f"rows skipped: {sum(self.skipped.values())}"]
        out += [f"  {count} × {reason}" for reason, count in self.skipped.most_common()]
        return out


_AWARD_REQUIRED = ("award_id_piid", "recipient_name", "awarding_sub_agency_name", "total_obligated_amount")
_TXN_REQUIRED = (
    "contract_transaction_unique_key", "award_id_piid", "recipient_name", "awarding_sub_agency_name",
    "federal_action_obligation",
)


@dataclass
class _Row:
    """One kept data row, before combining duplicates/transactions."""

    award: Award
    where: str  # "file:line"
    txn_key: str = ""
    action_date: str = ""


def _read_file(
    path: Path, keep_sub_agencies: set[str], directory: CompanyDirectory, as_of: str | None,
    progress: Progress | None, counted: int,
) -> tuple[list[_Row], int, Counter[str], bool]:
    """Parse one download. Returns (kept rows, rows read, skip reasons, is transactions layout)."""
    skipped: Counter[str] = Counter()
    kept: list[_Row] = []
    read = 0
    file_as_of = as_of or (m.group(1) if (m := re.search(r"(\d{4}-\d{2}-\d{2})", path.name)) else "")
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise ImportFailed(path, 1, None, "the file is empty") from None
            transactions = "contract_transaction_unique_key" in header
            required = _TXN_REQUIRED if transactions else _AWARD_REQUIRED
            missing = [c for c in required if c not in header]
            if missing:
                raise ImportFailed(
                    path, 1, missing[0],
                    "not a USAspending Prime Award Summaries or Prime Transactions CSV (missing column"
                    + ("s " if len(missing) > 1 else " ") + ", ".join(missing) + ")",
                )
            index = {name: i for i, name in enumerate(header)}
            companies: dict[tuple[str, str], str] = {}  # (recipient, parent) → company key; names repeat a lot
            previous_end = reader.line_num
            for record in reader:
                line, previous_end = previous_end + 1, reader.line_num
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue
                read += 1
                if progress is not None and (counted + read) % 1000 == 0:
                    progress(counted + read)
                if len(record) != len(header):
                    column = header[len(record)] if len(record) < len(header) else f"#{len(header) + 1}"
                    raise ImportFailed(
                        path, line, column, f"the row has {len(record)} fields but the header has {len(header)}"
                    )

                def get(name: str, record: list[str] = record) -> str:
                    i = index.get(name)
                    return record[i].strip() if i is not None else ""

                sub_agency = get("awarding_sub_agency_name")
                if sub_agency.casefold() not in keep_sub_agencies:
                    skipped[f"awarding sub-agency is {sub_agency or '(empty)'}"] += 1
                    continue
                money_column = "federal_action_obligation" if transactions else "total_obligated_amount"
                try:
                    cents = parse_cents(get(money_column))
                except ValueError as exc:
                    raise ImportFailed(path, line, money_column, str(exc)) from None
                try:  # only shown in the note, so a bad value there is not fatal
                    ceiling = parse_cents(get("potential_total_value_of_award"))
                except ValueError:
                    ceiling = None
                if cents is None:
                    skipped[f"no {money_column}"] += 1
                    continue
                award_id = get("award_id_piid") or get("contract_award_unique_key")
                if not award_id:
                    skipped["no award ID"] += 1
                    continue
                recipient, parent = get("recipient_name"), get("recipient_parent_name")
                unique = get("contract_award_unique_key")
                url = get("usaspending_permalink") or (AWARD_URL.format(unique) if unique else "")
                last_modified = parse_date(get("last_modified_date"))
                description = (
                    get("prime_award_base_transaction_description") or get("transaction_description")
                    or get("product_or_service_code_description")
                )
                note = f"USAspending prime recipient: {recipient}" + (f" (parent on record: {parent})" if parent else "")
                if transactions:
                    note += "."
                else:
                    note += ". Amount = total_obligated_amount"
                    note += f"; ceiling {ceiling / 100:,.2f}." if ceiling is not None else "."
                kind_title = "Contracts_PrimeTransactions" if transactions else "Contracts_PrimeAwardSummaries"
                source = SOURCE_TRANSACTIONS if transactions else SOURCE_AWARDS
                award = Award(
                    award_key=award_id,
                    source=source,
                    award_id=award_id,
                    vendor=recipient,
                    vendor_key=normalize(recipient),
                    company_key=companies.get((recipient, parent))
                    or companies.setdefault((recipient, parent), company_key_for(directory, [recipient, parent])),
                    parent=parent,
                    description=description,
                    amount_cents=cents,
                    amount_kind="obligated",
                    start_date=parse_date(get("period_of_performance_start_date")),
                    end_date=parse_date(get("period_of_performance_current_end_date")),
                    agency=get("awarding_agency_name"),
                    sub_agency=sub_agency,
                    source_title=f"USAspending.gov {kind_title} download ({path.name})",
                    source_url=url,
                    note=note,
                    source_kind=source,
                    as_of=file_as_of or last_modified or date.today().isoformat(),
                    last_modified=last_modified,
                    origin="import",
                )
                kept.append(
                    _Row(award, f"{path.name}:{line}", get("contract_transaction_unique_key"),
                         parse_date(get("action_date")))
                )
    except UnicodeDecodeError as exc:
        raise ImportFailed(path, line, None, f"not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ImportFailed(path, line, None, f"broken CSV: {exc}") from None
    return kept, read, skipped, transactions


def _combine_awards(rows: list[_Row], skipped: Counter[str]) -> list[Award]:
    """Award-level rows: one per award ID; of duplicates keep the newest ``last_modified``."""
    chosen: dict[str, _Row] = {}
    for row in rows:
        held = chosen.get(row.award.award_key)
        if held is None:
            chosen[row.award.award_key] = row
        elif held.award == row.award:
            skipped["duplicate row"] += 1
        else:
            skipped["duplicate award ID (an older or earlier record of the award)"] += 1
            if row.award.last_modified >= held.award.last_modified:
                chosen[row.award.award_key] = row
    return [r.award for r in chosen.values()]


def _combine_transactions(rows: list[_Row], skipped: Counter[str]) -> list[Award]:
    """Transaction rows: drop repeated transactions, then one award per ID whose amount is the
    sum of its transactions in the files, described as of its latest action."""
    seen: set[str] = set()
    groups: dict[str, list[_Row]] = {}
    for row in rows:
        if row.txn_key:
            if row.txn_key in seen:
                skipped["duplicate transaction"] += 1
                continue
            seen.add(row.txn_key)
        groups.setdefault(row.award.award_key, []).append(row)
    awards = []
    for group in groups.values():
        latest = max(group, key=lambda r: (r.action_date, r.award.last_modified))
        total = sum(r.award.amount_cents or 0 for r in group)
        dates = sorted(r.action_date for r in group if r.action_date)
        span = f" from {dates[0]} to {dates[-1]}" if dates else ""
        awards.append(
            replace(
                latest.award,
                amount_cents=total,
                note=latest.award.note + f" Amount = sum of {len(group)} transaction obligation(s){span} "
                "in the imported file(s).",
                last_modified=max(r.award.last_modified for r in group),
            )
        )
    return awards


async def import_usaspending(
    db: Database,
    paths: Iterable[Path],
    sub_agencies: Iterable[str] = (ICE,),
    *,
    as_of: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import USAspending contract downloads in one transaction: every file is parsed and
    checked first, then all awards are upserted; any problem raises :class:`ImportFailed`
    and nothing changes."""
    keep = {s.strip().casefold() for s in sub_agencies if s.strip()}
    directory = await company_directory(db)
    report = ImportReport()
    award_rows: list[_Row] = []
    txn_rows: list[_Row] = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ImportFailed(path, 0, None, "no such file")
        rows, read, skipped, transactions = await asyncio.to_thread(
            _read_file, path, keep, directory, as_of, progress, report.read
        )
        report.files += 1
        report.read += read
        report.skipped.update(skipped)
        (txn_rows if transactions else award_rows).extend(rows)
    awards = _combine_awards(award_rows, report.skipped) + _combine_transactions(txn_rows, report.skipped)
    async with db.transaction():
        result = await store.upsert_awards(db, awards)
    report.record(result)
    return report


# ---------------------------------------------------------------- USAspending search API

API_FIELDS = [
    "Award ID", "Recipient Name", "Description", "Award Amount", "Start Date", "End Date",
    "Awarding Agency", "Awarding Sub Agency", "Last Modified Date", "generated_internal_id",
]


def award_from_api(result: dict[str, Any], directory: CompanyDirectory, as_of: str) -> Award | None:
    """One ``spending_by_award`` result → an award-level row (same source as CSV summaries)."""
    award_id = str(result.get("Award ID") or "").strip()
    recipient = str(result.get("Recipient Name") or "").strip()
    amount = result.get("Award Amount")
    if not award_id or not recipient or amount is None:
        return None
    try:
        cents = parse_cents(str(amount))
    except ValueError:
        return None
    unique = str(result.get("generated_internal_id") or "").strip()
    last_modified = parse_date(str(result.get("Last Modified Date") or ""))
    return Award(
        award_key=award_id,
        source=SOURCE_AWARDS,
        award_id=award_id,
        vendor=recipient,
        vendor_key=normalize(recipient),
        company_key=company_key_for(directory, [recipient]),
        parent="",
        description=str(result.get("Description") or "").strip(),
        amount_cents=cents,
        amount_kind="obligated",
        start_date=parse_date(str(result.get("Start Date") or "")),
        end_date=parse_date(str(result.get("End Date") or "")),
        agency=str(result.get("Awarding Agency") or "").strip(),
        sub_agency=str(result.get("Awarding Sub Agency") or "").strip(),
        source_title="USAspending.gov search API (spending_by_award)",
        source_url=AWARD_URL.format(unique) if unique else "",
        note=f"USAspending prime recipient: {recipient}. Amount = Award Amount (total obligation).",
        source_kind=SOURCE_AWARDS,
        as_of=as_of,
        last_modified=last_modified,
        origin="refresh",
    )


async def upsert_refreshed(db: Database, awards: list[Award]) -> store.UpsertResult:
    async with db.transaction():
        return await store.upsert_awards(db, awards)
