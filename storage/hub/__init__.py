"""The hub (issue 26): members who joined by an invite code in a DM, the codes, and the anonymous
hotline to the coordinators.

- :mod:`storage.hub.members`: who joined by code (keyed references only), who is quiet, each
  member's vouches this week, the actions whose reminders go to DM members.
- :mod:`storage.hub.codes`: invite codes, by keyed hash, with uses left and expiry; nothing about
  who made or used them.
- :mod:`storage.hub.hotline`: question numbers and their sealed link to the asker's DM, deleted
  after the answer plus a retention period; who is blocked from asking.

Each purpose has its own key (``storage.hashing``), so the tables cannot be joined without it.
"""
