"""What an admin runs: the ``organizer-bot`` CLI and its verbs (run, doctor, demo, backup, burn,
export-aggregates, contracts), the throwaway local homeserver and the USAspending client.

May import everything else in :mod:`bot`; nothing in the bot imports it back.
"""
