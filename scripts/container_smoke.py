"""Driver of the container smoke test (called by scripts/container-smoke.sh).

Starts a throwaway Synapse on loopback (``bot.ops.localserver.LocalSynapse``), registers the bot and
a member, writes the bot's configuration with its secrets as files (``*_FILE``), runs the bot
with the launcher command it is given (the container image's ``organizer-bot run``), and, as
the member, asks ``!help`` in an encrypted room. Then it stops the bot with SIGTERM and expects
exit code 0. The launcher sees ``SMOKE_DIR`` (``bot.env``, ``data/``, ``secrets/``).

    python scripts/container_smoke.py --launch 'exec docker run ... IMAGE'
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.ops.localserver import LocalSynapse  # noqa: E402
from tests.harness import PASSWORD, Member  # noqa: E402

CONTAINER_UID = 10001


SMOKE_MEMBER = "smokemember"


def prepare(smoke: Path, hs: LocalSynapse, bot_id: str) -> None:
    data, secret_dir = smoke / "data", smoke / "secrets"
    data.mkdir(parents=True)
    secret_dir.mkdir()
    (secret_dir / "hash_key").write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    (secret_dir / "store_key").write_text(secrets.token_urlsafe(32))
    (secret_dir / "matrix_password").write_text(PASSWORD)
    (smoke / "bot.env").write_text(
        f"MATRIX_HOMESERVER={hs.url}\nMATRIX_USER_ID={bot_id}\nBOT_DATA_DIR=/data\n"
        "BOT_HASH_KEY_FILE=/run/secrets/hash_key\nBOT_STORE_KEY_FILE=/run/secrets/store_key\n"
        "MATRIX_PASSWORD_FILE=/run/secrets/matrix_password\nBOT_LOG_LEVEL=INFO\nBOT_AWARD_ALERTS=off\n"
        # the member is the admin: the first group room an admin invites the bot into is the home room
        f"BOT_ADMINS=@{SMOKE_MEMBER}:{hs.server_name}\n"
    )
    if os.geteuid() == 0:  # the image runs as an unprivileged user
        for path in (data, secret_dir, *secret_dir.iterdir()):
            os.chown(path, CONTAINER_UID, CONTAINER_UID)
    for path in secret_dir.iterdir():
        path.chmod(0o400)


async def ask_help(hs: LocalSynapse, smoke: Path, bot_id: str, bot: subprocess.Popen[bytes]) -> str:
    member = await Member.create(hs, SMOKE_MEMBER, smoke, bot_id)
    try:
        deadline = time.monotonic() + 120
        while not (smoke / "data" / "health.json").exists():  # the bot's first sync
            if bot.poll() is not None:
                raise RuntimeError(f"the bot exited with {bot.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the bot did not sync within 120 s")
            await asyncio.sleep(0.2)
        room = await member.create_room(encrypted=True, name="smoke room")
        # it becomes the campaign's home room, and the bot says so before it takes commands here
        await member.wait_for(lambda: any("home room" in m.body for m in member.from_bot(room)), 60)
        reply = await member.ask(room, "!help", timeout=60)
        return reply.body
    finally:
        await member.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launch", required=True, help="shell command that runs `organizer-bot run` from the image")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    smoke = Path(tempfile.mkdtemp(prefix="organizer-smoke-"))
    os.chmod(smoke, 0o755)
    hs = LocalSynapse(smoke / "synapse").start()
    bot: subprocess.Popen[bytes] | None = None
    ok = False
    try:
        bot_id = hs.register("smokebot", PASSWORD)
        prepare(smoke, hs, bot_id)
        log = open(smoke / "bot.log", "wb")  # noqa: SIM115
        bot = subprocess.Popen(["bash", "-c", args.launch], env={**os.environ, "SMOKE_DIR": str(smoke)},
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        body = asyncio.run(ask_help(hs, smoke, bot_id, bot))
        assert "!privacy" in body, body
        print("smoke: the bot in the container answered !help in an encrypted room")
        bot.send_signal(signal.SIGTERM)
        code = bot.wait(20)
        assert code == 0, f"exit code {code} after SIGTERM"
        print("smoke: stopped cleanly on SIGTERM (exit 0)")
        ok = True
    finally:
        if bot is not None and bot.poll() is None:
            os.killpg(bot.pid, signal.SIGKILL)
            bot.wait()
        hs.stop()
        if not ok:
            print("---- bot log ----\n" + (smoke / "bot.log").read_text(errors="replace")
                  if (smoke / "bot.log").exists() else "(no bot log)", file=sys.stderr)
        if args.keep or not ok:
            print(f"smoke: files kept in {smoke}", file=sys.stderr)
        else:
            shutil.rmtree(smoke, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
