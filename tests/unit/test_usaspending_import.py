"""Importing USAspending contract downloads: layouts, edge cases, idempotence, one transaction."""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

import pytest

from bot.ops.contracts_cli import register, run
from commands.contracts import contracts_cmd
from storage.contracts.data import ImportFailed, import_usaspending, parse_cents, parse_date
from storage.db import Database
from storage.schema import open_database
from tests.unit.contracts_support import args, make_context, reply_text

SAMPLE = Path(__file__).parent / "data" / "usaspending_sample.csv"
with SAMPLE.open(encoding="utf-8-sig", newline="") as _handle:
    HEADER = next(csv.reader(_handle))
ICE = "U.S. Immigration and Customs Enforcement"


@pytest.fixture
async def db(tmp_path: Path):
    database = await open_database(tmp_path / "bot.db")
    yield database
    await database.close()


def row(n: int = 1, **values: str) -> dict[str, str]:
    base = {
        "contract_award_unique_key": f"CONT_AWD_70CTEST{n:08d}_7012_-NONE-_-NONE-",
        "award_id_piid": f"70CTEST{n:08d}",
        "recipient_name": "PALANTIR TECHNOLOGIES INC.",
        "recipient_parent_name": "PALANTIR TECHNOLOGIES INC.",
        "awarding_agency_name": "Department of Homeland Security",
        "awarding_sub_agency_name": ICE,
        "total_obligated_amount": f"{1000 + n}.50",
        "potential_total_value_of_award": "99999",
        "period_of_performance_start_date": "2024-01-02",
        "period_of_performance_current_end_date": "2025-01-01",
        "prime_award_base_transaction_description": f"CASE MANAGEMENT SOFTWARE {n}",
        "last_modified_date": "2025-02-03",
    }
    base.update(values)
    return base


def write(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER, *, bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for item in rows:
            writer.writerow([item.get(column, "") for column in header])
    return path


async def count(db: Database) -> int:
    found = await db.fetchone("SELECT count(*) FROM contract_awards")
    assert found is not None
    return int(found[0])


async def snapshot(db: Database) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await db.fetchall("SELECT award_key, source, digest FROM contract_awards ORDER BY 1, 2")]


def test_parsers() -> None:
    assert parse_cents("1,234.56") == 123456
    assert parse_cents("$-5") == -500
    assert parse_cents(" ") is None
    with pytest.raises(ValueError):
        parse_cents("12abc")
    with pytest.raises(ValueError):
        parse_cents("NaN")
    assert parse_date("2025-03-21 00:00:00") == "2025-03-21"
    assert parse_date("3/21/2025") == "2025-03-21"
    assert parse_date("soon") == ""


async def test_real_sample_imports_and_reimport_changes_nothing(db: Database, tmp_path: Path) -> None:
    report = await import_usaspending(db, [SAMPLE])
    assert (report.read, report.imported, report.updated, report.unchanged) == (200, 200, 0, 0)
    before = await snapshot(db)
    again = await import_usaspending(db, [SAMPLE])
    assert (again.read, again.imported, again.updated, again.unchanged) == (200, 0, 0, 200)
    assert await snapshot(db) == before
    text = reply_text(await contracts_cmd(make_context(db, tmp_path), args("West Publishing")))
    assert text.startswith("Thomson Reuters: ") and "WEST PUBLISHING CORPORATION" in text


async def test_sample_recipients_are_found_by_their_common_name(db: Database, tmp_path: Path) -> None:
    """`VISTA OUTDOOR SALES LLC` and `GENERAL SECURITY SERVICES CORPORATION` are found by the names
    people use; names that go on with other words, or begin several names, are not stretched."""
    await import_usaspending(db, [SAMPLE])
    ctx = make_context(db, tmp_path)
    for asked, vendor, count in (("Vista Outdoor", "VISTA OUTDOOR SALES LLC", 62),
                                 ("General Security", "GENERAL SECURITY SERVICES CORPORATION", 1)):
        text = reply_text(await contracts_cmd(ctx, args(asked)))
        assert text.startswith(f"{vendor}: known ICE-related contracts (you asked for `{asked}`)"), text
        assert f"\n{count} award{'s' if count > 1 else ''}, largest first:" in text
    for asked in ("Vista", "Federal", "Vista Outdoor Sales Consulting"):
        text = reply_text(await contracts_cmd(ctx, args(asked)))
        assert text.startswith(f"No known ICE contracts for `{asked}`."), text


async def test_a_known_company_is_not_stretched_to_an_unrelated_legal_name(db: Database, tmp_path: Path) -> None:
    rows = [row(1, recipient_name="ORACLE SALES LLC", recipient_parent_name="UNRELATED HOLDINGS CORP"),
            row(2, recipient_name="SIERRA SERVICES INC", recipient_parent_name=""),
            row(3, recipient_name="SIERRA NEVADA CORPORATION", recipient_parent_name="")]
    await import_usaspending(db, [write(tmp_path / "made_up.csv", rows)])
    ctx = make_context(db, tmp_path)
    oracle = reply_text(await contracts_cmd(ctx, args("Oracle")))  # a known company: its own rows only
    assert "70CTEST00000001" not in oracle and "ORACLE SALES" not in oracle.split("\n")[0]
    sierra = reply_text(await contracts_cmd(ctx, args("Sierra")))  # two firms begin with it
    assert sierra.startswith("No known ICE contracts for `Sierra`.") and "SIERRA SERVICES INC" in sierra


async def test_bom_and_quoted_newlines(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", [row(1, prime_award_base_transaction_description="LINE ONE\nLINE TWO"), row(2)],
                 bom=True)
    report = await import_usaspending(db, [path])
    assert report.imported == 2
    stored = await db.fetchone("SELECT description FROM contract_awards WHERE award_key='70CTEST00000001'")
    assert stored is not None and stored[0] == "LINE ONE\nLINE TWO"


async def test_error_after_a_quoted_newline_names_the_right_line(db: Database, tmp_path: Path) -> None:
    rows = [row(1, prime_award_base_transaction_description="A\nB\nC"), row(2, total_obligated_amount="lots")]
    path = write(tmp_path / "bad.csv", rows)
    with pytest.raises(ImportFailed) as failure:
        await import_usaspending(db, [path])
    assert failure.value.line == 5  # header, 3 lines of row 1, then row 2
    assert failure.value.column == "total_obligated_amount"
    assert str(failure.value).startswith(f"{path}: line 5, column total_obligated_amount:")


async def test_missing_required_column_is_a_clear_error(db: Database, tmp_path: Path) -> None:
    header = [c for c in HEADER if c != "total_obligated_amount"]
    path = write(tmp_path / "nope.csv", [row(1)], header)
    with pytest.raises(ImportFailed, match="line 1, column total_obligated_amount: not a USAspending"):
        await import_usaspending(db, [path])


async def test_missing_optional_columns_are_fine(db: Database, tmp_path: Path) -> None:
    header = ["award_id_piid", "recipient_name", "awarding_sub_agency_name", "total_obligated_amount"]
    path = write(tmp_path / "old.csv", [row(1)], header)
    report = await import_usaspending(db, [path])
    assert report.imported == 1


async def test_not_a_csv(db: Database, tmp_path: Path) -> None:
    binary = tmp_path / "picture.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(ImportFailed, match="picture.csv: line 1"):
        await import_usaspending(db, [binary])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFailed, match="empty"):
        await import_usaspending(db, [empty])
    with pytest.raises(ImportFailed, match="no such file"):
        await import_usaspending(db, [tmp_path / "missing.csv"])


async def test_short_row_names_line_and_column(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "short.csv", [row(1)])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("70CX,ONLY,THREE\n")
    with pytest.raises(ImportFailed, match=r"line 3, column parent_award_agency_name: the row has 3 fields"):
        await import_usaspending(db, [path])


async def test_a_broken_row_leaves_the_database_unchanged(db: Database, tmp_path: Path) -> None:
    await import_usaspending(db, [write(tmp_path / "first.csv", [row(1), row(2)])])
    before = await snapshot(db)
    good = write(tmp_path / "good.csv", [row(3), row(1, total_obligated_amount="7")])
    broken = write(tmp_path / "broken.csv", [row(4), row(5, total_obligated_amount="12..5")])
    with pytest.raises(ImportFailed, match="broken.csv: line 3, column total_obligated_amount"):
        await import_usaspending(db, [good, broken])
    assert await snapshot(db) == before


async def test_duplicate_award_ids_keep_the_newest_record(db: Database, tmp_path: Path) -> None:
    rows = [
        row(1, total_obligated_amount="100", last_modified_date="2025-01-01"),
        row(1, total_obligated_amount="300", last_modified_date="2025-06-01"),
        row(1, total_obligated_amount="200", last_modified_date="2024-01-01"),
        row(2), row(2),
    ]
    report = await import_usaspending(db, [write(tmp_path / "dups.csv", rows)])
    assert report.read == 5 and report.imported == 2
    assert report.skipped["duplicate row"] == 1
    assert report.skipped["duplicate award ID (an older or earlier record of the award)"] == 2
    stored = await db.fetchone("SELECT amount_cents FROM contract_awards WHERE award_key='70CTEST00000001'")
    assert stored is not None and stored[0] == 30000


async def test_rows_of_other_sub_agencies_are_skipped_unless_asked_for(db: Database, tmp_path: Path) -> None:
    cbp = "U.S. Customs and Border Protection"
    path = write(tmp_path / "mixed.csv", [row(1), row(2, awarding_sub_agency_name=cbp), row(3, total_obligated_amount="")])
    report = await import_usaspending(db, [path])
    assert report.imported == 1
    assert report.skipped[f"awarding sub-agency is {cbp}"] == 1
    assert report.skipped["no total_obligated_amount"] == 1
    both = await import_usaspending(db, [path], [ICE, cbp.upper()])
    assert both.imported == 1 and both.unchanged == 1


async def test_update_and_older_download(db: Database, tmp_path: Path) -> None:
    await import_usaspending(db, [write(tmp_path / "Contracts_PrimeAwardSummaries_2025-03-21_1.csv", [row(1)])])
    newer = write(tmp_path / "Contracts_PrimeAwardSummaries_2026-01-01_1.csv", [row(1, total_obligated_amount="5000")])
    assert (await import_usaspending(db, [newer])).updated == 1
    older = write(tmp_path / "Contracts_PrimeAwardSummaries_2024-01-01_1.csv", [row(1, total_obligated_amount="1")])
    report = await import_usaspending(db, [older])
    assert report.updated == 0 and report.skipped["older than the record already stored"] == 1
    stored = await db.fetchone("SELECT amount_cents, as_of FROM contract_awards WHERE award_key='70CTEST00000001'")
    assert stored is not None and tuple(stored) == (500000, "2026-01-01")


async def test_transactions_layout_sums_each_awards_transactions(db: Database, tmp_path: Path) -> None:
    header = ["contract_transaction_unique_key", "contract_award_unique_key", "award_id_piid", "modification_number",
              "federal_action_obligation", "total_dollars_obligated", "action_date", "recipient_name",
              "recipient_parent_name", "awarding_agency_name", "awarding_sub_agency_name", "transaction_description",
              "prime_award_base_transaction_description", "usaspending_permalink", "last_modified_date"]
    rows = [
        {"contract_transaction_unique_key": f"T{i}", "award_id_piid": "70CTX1", "modification_number": f"P{i}",
         "federal_action_obligation": "100.25", "action_date": f"2024-0{i}-01", "recipient_name": "CLEARVIEW AI, INC.",
         "awarding_sub_agency_name": ICE, "prime_award_base_transaction_description": "FACIAL RECOGNITION LICENSES",
         "last_modified_date": "2024-05-01"}
        for i in (1, 2, 3)
    ]
    rows.append(dict(rows[0]))  # the same transaction twice
    report = await import_usaspending(db, [write(tmp_path / "Contracts_PrimeTransactions_x.csv", rows, header)])
    assert report.read == 4 and report.imported == 1 and report.skipped["duplicate transaction"] == 1
    stored = await db.fetchone("SELECT amount_cents, company_key, note FROM contract_awards WHERE award_key='70CTX1'")
    assert stored is not None and stored[0] == 30075 and stored[1] == "clearview"
    assert "sum of 3 transaction" in stored[2]


async def test_unknown_recipient_gets_its_own_company(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "acme.csv", [row(1, recipient_name="ACME DETENTION SERVICES, LLC", recipient_parent_name="")])
    await import_usaspending(db, [path])
    text = reply_text(await contracts_cmd(make_context(db, tmp_path), args("Acme Detention Services")))
    assert "70CTEST00000001" in text


async def test_fifty_thousand_rows_import_quickly(db: Database, tmp_path: Path) -> None:
    names = ["PALANTIR TECHNOLOGIES INC.", "WEST PUBLISHING CORPORATION", "SOME VENDOR LLC", "GEO GROUP INC, THE"]
    rows = [row(i, recipient_name=names[i % 4], recipient_parent_name="") for i in range(50_000)]
    path = write(tmp_path / "big.csv", rows)
    seen: list[int] = []
    started = time.monotonic()
    report = await import_usaspending(db, [path], progress=seen.append)
    elapsed = time.monotonic() - started
    assert (report.read, report.imported) == (50_000, 50_000)
    assert seen[-1] == 50_000 and len(seen) == 50
    assert elapsed < 60, elapsed
    assert await count(db) == 50_000
    again = await import_usaspending(db, [path])
    assert again.unchanged == 50_000 and again.imported == 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="organizer-bot")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def test_cli_import_and_stats(db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    code = await run(parse(["contracts", "import-usaspending", str(SAMPLE)]), db, out)
    assert code == 0
    assert "rows read: 200" in out.getvalue() and "awards imported (new): 200" in out.getvalue()
    out = io.StringIO()
    assert await run(parse(["contracts", "stats"]), db, out) == 0
    assert "awards: 200" in out.getvalue() and "usaspending: 200 rows" in out.getvalue()
    broken = write(tmp_path / "broken.csv", [row(1, total_obligated_amount="x")])
    assert await run(parse(["contracts", "import-usaspending", str(broken)]), db, io.StringIO()) == 1
    assert "broken.csv: line 2, column total_obligated_amount" in capsys.readouterr().err


async def test_cli_sub_agency_option_and_load(db: Database, tmp_path: Path) -> None:
    args_ = parse(["contracts", "import-usaspending", "a.csv", "--sub-agency", "X", "--sub-agency", "Y"])
    assert args_.sub_agencies == ["X", "Y"]
    out = io.StringIO()
    assert await run(parse(["contracts", "load"]), db, out) == 0
    assert await count(db) == 248
