"""Sending: the one codec from handler outputs to outbox rows (:mod:`.outputs`), the one send
queue that performs them (:mod:`.outbox`: lanes, retries, padding, membership read again at
send time), charts drawn and uploaded encrypted (:mod:`.images`), a broadcast's progress
(:mod:`.progress`) and the one pause for every sender after a 429 (:mod:`.ratelimit`).

May import :mod:`bot.e2ee`, :mod:`bot.config`, ``commands``, ``storage`` and, of the rest of
:mod:`bot.runtime`, only what it sends through: :mod:`bot.runtime.rooms` (who a room or DM is
with, read when sending) and :mod:`bot.runtime.stages` (timings).
"""
