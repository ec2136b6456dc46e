"""The running bot: login and session, the sync loop, what it knows of its rooms and the campaign,
event intake, the outbox and its codec, the scheduler, rate limits, launch-day stages and
messages that could not be decrypted yet.

May import :mod:`bot.e2ee`, :mod:`bot.config`, :mod:`bot.logs`, ``commands`` and ``storage``;
never :mod:`bot.ops`.
"""
