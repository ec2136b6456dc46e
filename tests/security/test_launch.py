"""Launch day, CI-sized (issue #15): 200 members who are new to the bot open encrypted DMs and sign in
one burst while the threshold announcement goes out to every DM. Every member is answered exactly
once; a member whose first message is lost (no one-time key, an invite joined too late, ...) fails
the test. The full sizes (100, 300, 1,000) with figures are bench/launch.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.launch_burst import burst, campaign_ids, create_pledge, make_members
from bot.ops.localserver import LocalSynapse
from bot.runtime.sending import ratelimit
from tests.security.light import LightMember

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = int(os.environ.get("LAUNCH_MEMBERS", "200"))


async def test_every_new_member_in_a_burst_is_answered_exactly_once(make_bot, synapse: LocalSynapse,
                                                                    tmp_path: Path) -> None:
    coordinator_name = f"launchcoord{os.getpid()}"
    crowd = campaign_ids(synapse, [(f"launch{os.getpid()}x", N)])
    bot = make_bot(BOT_ADMINS=",".join([f"@{coordinator_name}:{synapse.server_name}", *crowd]))
    synapse.exempt_from_ratelimit(bot.user_id)  # as docs/operations.md tells the homeserver admin
    bot.start()
    coordinator = await LightMember.create(synapse, coordinator_name, tmp_path, bot.user_id)
    members: list[LightMember] = []
    try:
        await create_pledge(coordinator, N // 2)
        members = await make_members(synapse, N, tmp_path, bot.user_id, f"launch{os.getpid()}x",
                                     log=lambda _: None)
        result = await burst(bot, members, N // 2, timeout=600, log=lambda _: None)
        log = "\n".join(line for line in bot.log().splitlines() if " INFO " not in line)[-3000:]
        assert result.duplicates == 0, f"{result.duplicates} answers sent twice\n{result.notes}"
        assert result.answered == N, f"{result.missing} of {N} members never answered\n{result.notes}\n{log}"
        assert result.announced == result.announce_expected > 0, result.notes
        print(f"\nlaunch N={N}: ack p95 {sorted(result.ack_ms)[int(0.95 * (N - 1))]:.0f} ms, announcement in "
              f"{result.announced} DMs in {result.announce_s:.1f} s")
    finally:
        for m in [coordinator, *members]:
            await m.close()


async def test_doctor_sees_the_exemption_when_the_admin_api_answers(synapse: LocalSynapse) -> None:
    """The check doctor runs, with a token the admin API answers (a server admin's)."""
    user = synapse.register(f"exempt{os.getpid()}", "x" * 20)
    token = synapse.admin_token()
    assert await ratelimit.exemption(synapse.url, user, token) is False
    synapse.exempt_from_ratelimit(user)
    assert await ratelimit.exemption(synapse.url, user, token) is True
    assert await ratelimit.exemption(synapse.url, user, "not-a-token") is None
