"""Fan-out, CI-sized (issue 27): a coordinator's broadcast reaches each of 100 members who joined by
code, in their DMs, exactly once; the preview says how many DMs and about how long, and the home
room gets one line when the last DM is done. A member whose client does not hold the broadcast,
or holds it twice, fails the test. The full sizes with floors are bench/fanout.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.fanout import ask, broadcast, make_hub
from bot.ops.localserver import LocalSynapse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = int(os.environ.get("FANOUT_MEMBERS", "100"))


async def test_a_broadcast_reaches_every_dm_member_exactly_once_and_reports_it(make_bot, synapse: LocalSynapse,
                                                                                tmp_path: Path) -> None:
    coordinator = f"fancoord{os.getpid()}"
    bot = make_bot(BOT_ADMINS=f"@{coordinator}:{synapse.server_name}")
    synapse.exempt_from_ratelimit(bot.user_id)  # as docs/operations.md tells the homeserver admin
    bot.start()
    hub = await make_hub(synapse, bot, tmp_path, N, f"fan{os.getpid()}x", coordinator, log=lambda _: None)
    try:
        result, preview, done = await broadcast(bot, hub, "Walkout at noon. Meet at the lobby.", timeout=300)
        assert f"It goes to 1 room and to the DMs of {N} members by code." in preview
        assert "The DMs take" in preview and "DMs a second" in preview
        assert result.missing == 0, f"{result.missing} of {N} DM members never got the broadcast {result.notes}"
        assert result.twice == 0, f"{result.twice} DM members got it twice"
        assert result.got == N
        assert done.startswith(f"Broadcast to the DMs of members by code is done: {N} of {N} delivered in"), done
        status = await ask(hub.coordinator, hub.home, "!broadcast status", "broadcast")
        assert "No broadcast is going out now." in status and f"{N} of {N} delivered" in status
        print(f"\nfan-out N={N}: last member held it after {result.last_s:.1f} s, bot CPU {result.cpu_s:.1f} s")
    finally:
        for m in [hub.coordinator, *hub.members]:
            await m.close()
