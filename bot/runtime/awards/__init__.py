"""Contract awards from USAspending: the API client (:mod:`.api`, also behind ``organizer-bot
contracts refresh``) and the scheduled look-up that queues award alerts (:mod:`.lookup`).

The only part of the bot that talks to a server other than the homeserver. May import
:mod:`bot.config`, ``commands`` and ``storage``.
"""
