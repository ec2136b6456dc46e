"""The benchmark code still runs: the in-process part (2) on a tiny database, and the report.
No timing is asserted here; benchmarks report, tests check behaviour."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench import echo_bot, fanout, fanout_floor, inproc, launch, live, peers, report  # noqa: F401 - they must import


async def test_in_process_part_runs_on_a_tiny_database(tmp_path: Path) -> None:
    result = await inproc.bench_commands(tmp_path / "c", members=200, actions=50, per_family=3, log=lambda _: None)
    names = [s.name for s in result["stats"]]  # type: ignore[attr-defined]
    assert any(n.startswith("!pledge") for n in names) and "!help" in names
    assert all(s.n == 3 and s.p50_ms > 0 for s in result["stats"])  # type: ignore[attr-defined]
    assert result["rate"] > 0  # type: ignore[operator]

    scale = await inproc.bench_scale(tmp_path / "s", sizes=(300,), repeat=2, log=lambda _: None)
    assert set(scale[0].timings) == set(inproc.SCALE_QUERIES)

    text = report.render({"started": datetime.now(UTC), "machine": "test", "load_before": "0",
                          "inproc": result, "scale": scale})
    assert "commands/s" in text and "| 300 |" in text


async def test_the_at_rest_comparison_runs_each_variant(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from bench import atrest_cost
    from storage import atrest

    monkeypatch.setattr(atrest, "PAGE_CACHE_KIB", atrest.PAGE_CACHE_KIB)  # _one sets it per variant
    for i, variant in enumerate(atrest_cost.VARIANTS):
        result = await atrest_cost._one(variant, tmp_path / str(i), members=100, actions=10, per_family=2)
        assert result["rate"] > 0 and result["open_ms"] > 0  # type: ignore[operator]
        assert atrest.is_plaintext(tmp_path / str(i) / "bot.db") == (variant == "plaintext")


async def test_the_rebuild_cost_runs_with_its_floors(tmp_path: Path) -> None:
    from bench import rebuild_cost

    result = await rebuild_cost.measure(tmp_path, rows=200, repeat=1)
    assert set(result) == {"empty", "scan", "rebuild", "checkpoint", "db_mb"}
    assert result["rebuild"] > result["empty"] > 0


async def test_seeded_commands_see_the_seeded_campaign(tmp_path: Path) -> None:
    from tests.fakes import DM, make_world, texts

    world = await make_world(tmp_path)
    try:
        await inproc.seed_campaign(world, members=50, actions=10)
        listed = texts(await inproc.shell_run(world, "!pledges", "@x:bench"))
        assert "p0" in listed and "p19" in listed
        before = await world.db.fetchone("SELECT count(*) FROM pledge_signers")
        await inproc.shell_run(world, "!pledge p0 Amazon", "@new:bench", room=DM)
        after = await world.db.fetchone("SELECT count(*) FROM pledge_signers")
        assert before is not None and after is not None and after[0] == before[0] + 1
        queued = await world.db.fetchone("SELECT count(*) FROM outbox")
        assert queued is not None and queued[0] == 2  # each command's reply was queued with it
    finally:
        await world.db.close()


def test_latency_report_judges_the_one_in_flight_table() -> None:
    res = live.LiveResults()
    res.latency = {"organizer-bot": [0.130] * 10, "echo floor": [0.128] * 10, "matrix-reminder-bot": [0.129] * 10}
    res.latency_loaded = {"organizer-bot": [1.0] * 10, "echo floor": [0.8] * 10, "matrix-reminder-bot": [0.9] * 10}
    text = report.render({"started": datetime.now(UTC), "machine": "test", "load_before": "0", "live": res})
    one, loaded = text.split("**20 commands in flight")
    loaded = loaded.split("organizer-bot answers")[0]
    assert "≤ 1.05× floor at p50 and p95 ✅ met" in one
    assert "1.25×" in loaded and "not within 1.05× here" in loaded and "❌" not in loaded


def test_launch_section_replaces_only_itself(tmp_path: Path) -> None:
    result = launch.LaunchResult(n=3, threshold=1, answered=2, missing=1, ack_ms=[100.0, 300.0],
                                 announce_expected=3, announced=3, announce_s=1.5, done_s=2.0)
    result.notes.append("1 members without an answer hold nothing from the bot")
    out = tmp_path / "RESULTS.md"
    out.write_text("# results\n\nother parts\n")
    launch.write_section(out, launch.render([result]))
    launch.write_section(out, launch.render([result]))  # a second run replaces the section
    text = out.read_text()
    assert text.startswith("# results\n\nother parts\n") and text.count("## Launch day") == 1
    assert "| 3 | organizer-bot | ❌ 2/3 | 0 |" in text and "3/3, 1.5 s" in text and "hold nothing" in text
    assert not result.ok


def test_launch_table_puts_the_echo_floor_beside_the_bot_with_the_ratios() -> None:
    bot = launch.LaunchResult(n=300, threshold=150, answered=300, ack_ms=[1300.0] * 10, cpu_per_answer_ms=30.0,
                              load_before="1.00 0.90 0.80", load_after="2.50 1.20 0.90")
    bot.floor = launch.LaunchResult(n=300, threshold=150, answered=300, ack_ms=[1000.0] * 10,
                                    cpu_per_answer_ms=12.0, load_before="2.00 1.10 0.90", load_after="2.20 1.30 1.00")
    bot.floor.notes.append("echo floor: 2 sends failed (it does not retry)")
    text = launch.render([bot])
    rows = [line for line in text.splitlines() if line.startswith("| 300 |")]
    assert [r.split(" | ")[1] for r in rows] == ["organizer-bot", "echo floor"]
    assert "| 1.30×, 1.30×, 2.50× | 1.00 0.90 0.80 → 2.50 1.20 0.90 |" in rows[0]
    assert "| 2.00 1.10 0.90 → 2.20 1.30 1.00 | – |" in rows[1]
    header = next(line for line in text.splitlines() if line.startswith("| N |"))
    assert rows[0].count("|") == rows[1].count("|") == header.count("|")
    assert "- N=300 (echo floor): echo floor: 2 sends failed" in text
    assert bot.ok and launch.ratio([], [1.0], 50) == "–"


def test_fanout_reports_the_restart_against_its_target() -> None:
    from bench.crowd import Restarted

    delivery = fanout.Delivery(n=3, got=3, latency_ms=[100.0, 200.0], last_s=1.0, sender_s=0.5, cpu_s=0.1)
    fast = fanout.SizeResult(3, delivery, delivery, 0.4, restarted=Restarted(12.5, 10.0, 7.5, 4, 150 * 2**20))
    slow = fanout.SizeResult(3000, delivery, delivery, 0.4, restarted=Restarted(31.0, 20.0, 15.0, 3001, 2**28))
    text = fanout.render([fast, slow], "test")
    assert "| 3 | ✅ 12.5 s | 10.0 s (7.5 s, 4 rooms) | 150 MB |" in text
    assert "| 3,000 | ❌ 31.0 s |" in text and "≤ 30 s at 3,000 DMs" in text
    assert "Restart with N DMs" not in fanout.render([fanout.SizeResult(3, delivery, delivery, 0.4)], "test")
    assert fanout.allowed(100) == 600 and fanout.allowed(3000) > 600


async def test_a_long_setup_logs_its_progress_while_it_runs() -> None:
    import asyncio

    from bench.crowd import Progress

    lines: list[str] = []
    progress = Progress(lines.append, 2, every=0.05)
    async with progress.phase("joined"):
        progress.step("joined")
        await asyncio.sleep(0.2)
    assert any(line.startswith("  … joined:") and "joined 1/2" in line for line in lines)
    assert lines[-1].startswith("  2 members joined in ") and "CPU members" in lines[-1]


async def test_the_many_rooms_bench_runs_and_its_bot_knows_every_dm(tmp_path: Path) -> None:
    from bench import manyrooms

    found = await manyrooms.measure(30, tmp_path)
    assert found["member_dms"] == 30 and found["sync_ms_mean"] > 0 and found["rss_mb"] > 0
