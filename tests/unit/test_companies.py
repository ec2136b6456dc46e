"""`!company` and `!company alias`: what a name means, and coordinators teaching new names."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.base import CommandError, Role
from commands.companies import company_alias_cmd, company_cmd
from storage.db import Database
from storage.directory import CompanyDirectory, directory, resolve
from storage.schema import open_database
from tests.unit.contracts_support import args, make_context, reply_text


@pytest.fixture
async def db(tmp_path: Path):
    database = await open_database(tmp_path / "bot.db")
    yield database
    await database.close()


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
