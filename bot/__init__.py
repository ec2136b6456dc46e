"""The Matrix shell: the only package that imports nio.

- :mod:`bot.runtime`: the running bot (login, sync, rooms, intake, outbox, scheduler).
- :mod:`bot.e2ee`: end-to-end encryption and device trust (the store, keys, cross-signing).
- :mod:`bot.ops`: what an admin runs (the CLI, doctor, demo, maintenance, contract data).
- :mod:`bot.config` and :mod:`bot.logs` serve all three.

Arrows point down: ``ops`` may import ``runtime`` and ``e2ee``; ``runtime`` may import
``e2ee``; ``e2ee`` imports neither. All may import ``commands`` and ``storage``.
"""
