"""!contracts as a member sees it, over the shipped dataset."""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from pathlib import Path

import pytest

from commands.base import UsageError, render
from commands.contracts import contracts_cmd, contracts_search_cmd, fts_query, money
from storage import contracts as store
from storage.contracts import CONTRACTS_CSV
from storage.contracts.data import dataset_awards, ensure_loaded
from storage.db import Database
from storage.directory import CompanyDirectory, resolve
from storage.schema import open_database
from tests.unit.contracts_support import args, make_context, reply_text


@pytest.fixture
async def db(tmp_path: Path):
    database = await open_database(tmp_path / "bot.db")
    await ensure_loaded(database)
    yield database
    await database.close()


def dataset_rows() -> list[dict[str, str]]:
    with CONTRACTS_CSV.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def ask(db: Database, tmp_path: Path, text: str, *, dm: bool = False) -> str:
    return reply_text(await contracts_cmd(make_context(db, tmp_path, dm=dm), args(text)))


def test_shipped_csv_is_the_shared_dataset_with_its_source_columns() -> None:
    shared = Path("/work/shared/data/ice_contracts.csv")
    if shared.exists():
        assert CONTRACTS_CSV.read_bytes() == shared.read_bytes()
    header = CONTRACTS_CSV.read_text(encoding="utf-8").splitlines()[0]
    assert header == ("vendor,parent_company,aliases,agency,sub_agency,award_id,description,amount_usd,"
                      "amount_kind,start_date,end_date,source_title,source_url,note")


async def test_ensure_loaded_is_idempotent(db: Database) -> None:
    rows = await db.fetchone("SELECT count(*) FROM contract_awards")
    assert rows is not None and rows[0] == 248
    assert await ensure_loaded(db) == 0
    assert await ensure_loaded(db, force=True) == 0  # same rows: nothing changes
    again = await db.fetchone("SELECT count(*) FROM contract_awards")
    assert again is not None and again[0] == 248


async def test_ensure_loaded_removes_rows_a_newer_dataset_dropped(db: Database, tmp_path: Path) -> None:
    lines = CONTRACTS_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    smaller = tmp_path / "ice_contracts.csv"
    # keep the header and the first 10 records (no record in them spans lines)
    smaller.write_text("".join(lines[:11]), encoding="utf-8")
    await ensure_loaded(db, path=smaller)
    rows = await db.fetchone("SELECT count(*) FROM contract_awards")
    assert rows is not None and rows[0] == 10


async def test_each_award_counted_once_preferring_obligated_from_the_newest_source(db: Database) -> None:
    palantir = resolve("Palantir")
    assert palantir is not None
    shown = await store.awards_for(db, {palantir.key})
    ids = [s.award.award_id for s in shown if s.award.award_id]
    assert len(ids) == len(set(ids))
    icm = next(s for s in shown if s.award.award_id == "70CTD022FR0000170")
    assert icm.award.amount_kind == "obligated"
    assert icm.award.amount_cents == 15070382461
    assert icm.sources == 4  # the API pull plus three press reports
    totals = store.totals(shown)
    expected_obligated = sum(s.award.amount_cents or 0 for s in shown if s.award.amount_kind == "obligated")
    assert totals["obligated"] == expected_obligated
    assert set(totals) <= {"obligated", "ceiling", "reported"}


async def test_newer_obligated_source_wins_over_an_older_one(tmp_path: Path) -> None:
    database = await open_database(tmp_path / "x.db")
    try:
        base = dataset_awards(CompanyDirectory.builtin())[0]
        old = replace(base, award_key="A1", source="s-old", amount_cents=100, amount_kind="obligated", as_of="2020-01-01")
        new = replace(base, award_key="A1", source="s-new", amount_cents=500, amount_kind="obligated", as_of="2025-01-01")
        press = replace(base, award_key="A1", source="s-press", amount_cents=9999, amount_kind="reported", as_of="2026-01-01")
        await store.upsert_awards(database, [old, new, press])
        shown = await store.awards_for(database, {base.company_key})
        assert [(s.award.amount_cents, s.sources) for s in shown] == [(500, 3)]
        assert store.totals(shown) == {"obligated": 500}
    finally:
        await database.close()


async def test_every_dataset_name_finds_its_awards(db: Database, tmp_path: Path) -> None:
    rows = dataset_rows()
    for row in rows:
        names = {row["vendor"], row["parent_company"], *filter(None, (a.strip() for a in row["aliases"].split(";")))}
        for name in names:
            text = await ask(db, tmp_path, f"{name} --all", dm=True)
            assert "No known ICE contracts" not in text, name
            marker = f"award `{row['award_id']}`" if row["award_id"] else row["description"][:40]
            flat = " ".join(text.split())
            assert " ".join(marker.split()) in flat, (name, marker)


async def test_alias_and_subsidiary_lookups(db: Database, tmp_path: Path) -> None:
    text = await ask(db, tmp_path, "AWS")
    assert text.startswith("Amazon: ") and "(you asked for `AWS`)" in text
    assert "Amazon Web Services (via reseller)" in text and "70CTD024FC0000017" in text
    text = await ask(db, tmp_path, "Alphabet")
    assert text.startswith("Google: ") and "Google Cloud Platform" in text
    text = await ask(db, tmp_path, "LexisNexis")
    assert text.startswith("RELX (LexisNexis): ") and "70CMSD21C00000001" in text
    text = await ask(db, tmp_path, "West Publishing")
    assert "HSCEMD17F00008" in text


async def test_reply_shows_totals_per_kind_and_award_details(db: Database, tmp_path: Path) -> None:
    text = await ask(db, tmp_path, "Clearview AI")
    assert re.search(r"Known value, each award counted once: \$[\d,]+ obligated", text)
    assert "not added together" in text
    assert "$3,750,000 obligated" in text
    assert "https://www.usaspending.gov/award/CONT_AWD_70CMSD25P00000111" in text
    assert "from 2025-09-05" in text and "ICE" in text


async def test_long_answers_are_cut_with_a_pointer_to_all_in_a_dm(db: Database, tmp_path: Path) -> None:
    text = await ask(db, tmp_path, "Thomson Reuters")
    listed = text.count("\n• ")
    assert listed == 8
    more = re.search(r"…and (\d+) more: `!contracts Thomson Reuters --all` in a DM", text)
    assert more is not None
    amounts = [int(a.replace(",", "")) for a in re.findall(r"• \$([\d,]+)", text)]
    assert amounts == sorted(amounts, reverse=True)
    full = await ask(db, tmp_path, "Thomson Reuters --all", dm=True)
    assert full.count("\n• ") == listed + int(more.group(1))
    assert "…and" not in full
    refused = await ask(db, tmp_path, "Thomson Reuters --all", dm=False)
    assert "direct message" in refused and "•" not in refused


async def test_overview_lists_top_companies(db: Database, tmp_path: Path) -> None:
    text = await ask(db, tmp_path, "")
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    assert len(lines) == 10
    assert lines[0].startswith("• The GEO Group: ")
    assert "$0" not in text


async def test_unknown_company_gets_closest_names_and_how_to_suggest_a_source(db: Database, tmp_path: Path) -> None:
    text = await ask(db, tmp_path, "Acme")
    assert "No known ICE contracts for `Acme`." in text and "coordinator" in text
    text = await ask(db, tmp_path, "Palantri")
    assert "Closest names: Palantir" in text
    text = await ask(db, tmp_path, "Apple")
    assert "No known ICE contracts for Apple" in text


async def test_member_input_is_never_markup(db: Database, tmp_path: Path) -> None:
    outputs = await contracts_cmd(make_context(db, tmp_path), args("<b>Acme</b> `x` **y**"))
    plain, html = render(outputs[0].text)  # type: ignore[union-attr]
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert "<code>&lt;b&gt;Acme&lt;/b&gt; 'x'" in html  # quoted as one code span, backticks defused


async def test_unknown_option_is_a_usage_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--everything"):
        await contracts_cmd(make_context(db, tmp_path), args("Palantir --everything"))


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('facial recognition') == '"facial" "recognition"'
    assert fts_query('" * NEAR( OR') == '"NEAR" "OR"'
    assert fts_query('"*^') == ""


async def test_search_descriptions(db: Database, tmp_path: Path) -> None:
    text = reply_text(await contracts_search_cmd(make_context(db, tmp_path), args("facial recognition")))
    assert "70CMSD25P00000111" in text and "Clearview" in text
    text = reply_text(await contracts_search_cmd(make_context(db, tmp_path), args("detention")))
    assert re.match(r"\d+ known awards mention `detention`", text)


@pytest.mark.parametrize("hostile", ['"', "*", "NEAR(", "OR", "AND NOT", 'a"b', "facial*", "col:umn", "^x", "(", "- -"])
async def test_search_never_lets_member_text_become_fts_syntax(db: Database, tmp_path: Path, hostile: str) -> None:
    ctx = make_context(db, tmp_path)
    try:
        outputs = await contracts_search_cmd(ctx, args(hostile))
    except UsageError:
        assert fts_query(hostile) == ""
        return
    text = reply_text(outputs)
    assert "mention" in text


async def test_search_without_words_explains_usage(db: Database, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="contracts search facial recognition"):
        await contracts_search_cmd(make_context(db, tmp_path), args("   "))


def test_money_formats_whole_dollars() -> None:
    assert money(123456789) == "$1,234,568"
    assert money(-500) == "-$5"
