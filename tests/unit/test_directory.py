"""The one company normalizer: keys, aliases, subsidiaries, suggestions, coordinator aliases."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from commands.base import CommandError, Role
from commands.common.directory import (
    CompanyDirectory,
    company_alias_cmd,
    company_cmd,
    directory,
    legal_name_match,
    normalize,
    resolve,
    suggest,
)
from storage.contracts import CONTRACTS_CSV
from storage.db import Database
from tests.unit.contracts_support import args, make_context, reply_text


@pytest.fixture
async def db(tmp_path: Path):
    database = await Database.open(tmp_path / "bot.db")
    yield database
    await database.close()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Amazon.com, Inc.", "amazon"),
        ("AMAZON.COM INC", "Amazon"),
        ("Pen-Link, Ltd.", "Penlink"),
        ("Four Points Technology, L.L.C.", "four points technology"),
        ("Deloitte & Touche", "Deloitte and Touche"),
        ("GEO GROUP INC, THE", "The GEO Group"),
        ("Booz Allen Hamilton Corp.", "booz  allen   hamilton"),
        ("Accenture plc", "ACCENTURE"),
        ("Oracle Corporation", "Oracle Co."),
        ("Nestlé S.A.", "nestle"),
        ("Paragon Solutions (US) Inc.", "Paragon Solutions"),
    ],
)
def test_normalize_ignores_case_spacing_punctuation_and_legal_suffixes(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)
    assert normalize(a)


def test_normalize_keeps_names_that_are_only_a_suffix_and_distinguishes_different_names() -> None:
    assert normalize("Co.") == "co"
    assert normalize("  ") == ""
    assert normalize("BI2 Technologies") != normalize("B.I. Incorporated")
    assert normalize("Paragon Systems") != normalize("Paragon Solutions")


@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("AWS", "Amazon"), ("Amazon Web Services", "Amazon"), ("Whole Foods", "Amazon"), ("amazon.com", "Amazon"),
        ("Alphabet", "Google"), ("DeepMind", "Google"), ("YouTube", "Google"), ("Google Cloud", "Google"),
        ("Facebook", "Meta"), ("Instagram", "Meta"), ("WhatsApp", "Meta"), ("Meta Platforms, Inc.", "Meta"),
        ("GitHub", "Microsoft"), ("LinkedIn", "Microsoft"), ("Azure", "Microsoft"),
        ("Slack", "Salesforce"), ("Tableau", "Salesforce"),
        ("West Publishing Corporation", "Thomson Reuters"), ("West", "Thomson Reuters"),
        ("LexisNexis Risk Solutions", "RELX (LexisNexis)"),
        ("Defense Point Security, LLC", "Accenture"), ("Accenture Federal Services", "Accenture"),
        ("Vigilant Solutions", "Motorola Solutions"), ("HPE", "Hewlett Packard Enterprise"), ("HP Inc.", "HP"),
        ("Twitter", "X (Twitter)"), ("B.I. Incorporated", "The GEO Group"), ("CSRA", "General Dynamics"),
        ("Corrections Corporation of America", "CoreCivic"), ("Perspecta", "Peraton"),
    ],
)
def test_aliases_and_subsidiaries_resolve_to_one_employer(name: str, display: str) -> None:
    company = resolve(name)
    assert company is not None and company.display == display


def test_name_traps_stay_apart() -> None:
    paragon = resolve("Paragon")
    assert paragon is not None and paragon.key == "paragonsolutions"
    for other in ("Paragon Systems", "Paragon Systems, Inc.", "Paragon Professional Services"):
        found = resolve(other)
        assert found is not None and found.key != "paragonsolutions", other
    evigilant = resolve("eVigilant.com")
    assert evigilant is not None and evigilant.key == "evigilant"
    assert resolve("Vigilant Solutions").key == "motorola"  # type: ignore[union-attr]


def test_every_name_in_the_shipped_dataset_resolves_to_its_rows_company() -> None:
    with CONTRACTS_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 248
    for row in rows:
        owner = resolve(row["parent_company"])
        assert owner is not None, row["parent_company"]
        for name in [row["vendor"], *filter(None, (a.strip() for a in row["aliases"].split(";")))]:
            found = resolve(name)
            assert found is not None, name
            assert found.key == owner.key, (name, found, owner)


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("Salesfroce", "Salesforce"), ("Amazn", "Amazon"), ("Palantri", "Palantir"), ("Micrsoft", "Microsoft"),
     ("Tomson Reuters", "Thomson Reuters"), ("Lexis", "RELX (LexisNexis)")],
)
def test_suggest_offers_the_closest_company_first(typo: str, expected: str) -> None:
    assert resolve(typo) is None
    assert suggest(typo)[0] == expected


def test_suggest_is_empty_for_unrelated_names_and_respects_limit() -> None:
    assert suggest("Acme Detention") == []
    assert suggest("xyz") == []
    assert suggest("") == []
    assert len(suggest("Paragon Sys", limit=2)) == 2
    assert "Paragon Systems" in suggest("Paragon Sys")


@pytest.mark.parametrize(
    ("asked", "vendors", "expected"),
    [
        ("Vista Outdoor", ["VISTA OUTDOOR SALES LLC", "FEDERAL CARTRIDGE COMPANY"], "vistaoutdoorsales"),
        ("General Security", ["GENERAL SECURITY SERVICES CORPORATION"], "generalsecurityservices"),
        ("Acme Detention", ["ACME DETENTION SALES AND SERVICES, INC.", "Acme Detention Sales & Services Inc"],
         "acmedetentionsalesandservices"),
        ("Paragon", ["THE PARAGON GROUP HOLDINGS, L.L.C."], "paragongroupholdings"),
    ],
)
def test_a_legal_name_with_generic_words_after_the_asked_name_matches(asked: str, vendors: list[str],
                                                                       expected: str) -> None:
    assert legal_name_match(asked, vendors) == expected


@pytest.mark.parametrize(
    ("asked", "vendors"),
    [
        ("Vista", ["VISTA OUTDOOR SALES LLC"]),  # "outdoor" names something: not generic
        ("Federal", ["FEDERAL CARTRIDGE COMPANY"]),
        ("Oracle", ["ORACLE SALES CONSULTING PARTNERS LLC"]),  # an unrelated firm's name goes on after "sales"
        ("Acme", ["ACMETECH SERVICES INC"]),  # a longer word, not the name asked
        ("Sierra", ["SIERRA SERVICES INC", "SIERRA NEVADA CORPORATION"]),  # two firms begin with the name
        ("Sierra", ["SIERRA SERVICES INC", "SIERRA SALES LLC"]),  # two different legal names: ambiguous
        ("", ["SALES GROUP INC"]),
        ("Inc.", ["SALES GROUP INC"]),
    ],
)
def test_other_or_ambiguous_legal_names_do_not_match(asked: str, vendors: list[str]) -> None:
    assert legal_name_match(asked, vendors) is None


def test_builtin_directory_is_a_copy() -> None:
    first = CompanyDirectory.builtin()
    first.add_alias("Scratch Name", "amazon")
    assert CompanyDirectory.builtin().resolve("Scratch Name") is None


async def test_company_command_shows_what_a_name_means(db: Database, tmp_path: Path) -> None:
    ctx = make_context(db, tmp_path)
    text = reply_text(await company_cmd(ctx, args("AWS")))
    assert "means Amazon" in text and "Whole Foods" in text
    text = reply_text(await company_cmd(ctx, args("Salesfroce")))
    assert "Did you mean Salesforce?" in text and "company alias" in text
    text = reply_text(await company_cmd(ctx, args("Paragon Systems")))
    assert "Not the spyware vendor Paragon Solutions" in text


async def test_company_alias_needs_a_coordinator(db: Database, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="coordinator"):
        await company_alias_cmd(make_context(db, tmp_path), args("Amazon Fresh = Amazon"))
    assert (await directory(db)).resolve("Amazon Fresh") is None


async def test_coordinator_alias_is_stored_and_seen_by_the_cached_directory(db: Database, tmp_path: Path) -> None:
    ctx = make_context(db, tmp_path, role=Role.COORDINATOR)
    before = await directory(db)
    assert before.resolve("Amazon Fresh") is None
    assert await directory(db) is before  # cached while nothing changes
    text = reply_text(await company_alias_cmd(ctx, args("Amazon Fresh = AWS")))
    assert "now means Amazon" in text
    after = await directory(db)
    assert after is not before
    assert after.resolve("amazon fresh").key == "amazon"  # type: ignore[union-attr]
    # survives a restart: a fresh load from the database
    assert (await CompanyDirectory.load(db)).resolve("AMAZON FRESH").key == "amazon"  # type: ignore[union-attr]
    text = reply_text(await company_alias_cmd(ctx, args("Amazon Fresh = Amazon")))
    assert "already means" in text


async def test_coordinator_alias_rejects_unknown_targets_unless_new(db: Database, tmp_path: Path) -> None:
    ctx = make_context(db, tmp_path, role=Role.COORDINATOR)
    with pytest.raises(CommandError, match="Did you mean \\*\\*Salesforce"):
        await company_alias_cmd(ctx, args("SFDC = Salesfroce"))
    with pytest.raises(CommandError, match="itself"):
        await company_alias_cmd(ctx, args("Amazon = Google"))
    with pytest.raises(CommandError):
        await company_alias_cmd(ctx, args("just words"))
    text = reply_text(await company_alias_cmd(ctx, args("Acme Jail Services = Acme Detention Inc --new")))
    assert "now means Acme Detention Inc" in text
    found = await directory(db)
    assert found.resolve("acme jail services").display == "Acme Detention Inc"  # type: ignore[union-attr]
    assert found.resolve("Acme Detention").key == "acmedetention"  # type: ignore[union-attr]


async def test_coordinator_alias_can_repoint_a_builtin_alias(db: Database, tmp_path: Path) -> None:
    ctx = make_context(db, tmp_path, role=Role.COORDINATOR)
    text = reply_text(await company_alias_cmd(ctx, args("West = Westinghouse --new")))
    assert "meant Thomson Reuters before" in text
    assert (await directory(db)).resolve("West").display == "Westinghouse"  # type: ignore[union-attr]
    assert resolve("West").display == "Thomson Reuters"  # type: ignore[union-attr]  # built-in untouched
