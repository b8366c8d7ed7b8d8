"""The verifiable core of brandex.

Pure by design: this package imports only the standard library and
``cryptography`` / ``nacl`` / ``solders`` (for Ed25519). It opens no sockets and no files and
never reads the clock: callers hand in the date or time a rule needs. That keeps
every rule here testable with tables of cases and lets auditors run the same
code offline. ``tests/unit/core/test_purity.py`` enforces it.
"""
