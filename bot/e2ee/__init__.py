"""End-to-end encryption and device trust: the SQLCipher E2EE store, one-time and fallback keys,
batched key work for first sends, cross-signing, strict device trust and the sealed saved login.

May import :mod:`bot.config`, :mod:`bot.logs` and ``storage``; never :mod:`bot.runtime` or
:mod:`bot.ops`.
"""
