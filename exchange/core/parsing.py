"""Numbers and addresses written as text: the one reading every surface uses.

``str.isdigit()`` also passes ``"²"`` (on which ``int()`` raises) and ``"٣"``
(which ``int()`` reads as 3, a number nobody typed in ASCII), and ``int()`` of
a 5,000-digit string is refused by CPython: a policy, a federation document, a
config file or a web form carrying one must get a clear refusal, not a
traceback. So numbers are ASCII digits of bounded length, read here.
"""

from __future__ import annotations

__all__ = ["ascii_int", "host_port"]


def ascii_int(text: str, *, max_digits: int = 18) -> int | None:
    """The whole number ``text`` spells in ASCII digits, or None.

    No sign, no spaces, no other script's digits, at most ``max_digits`` digits.
    """
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def host_port(text: str) -> tuple[str, int] | None:
    """``host:port`` split at its last colon with a port from 1 to 65535, or None."""
    host, sep, port_text = text.rpartition(":")
    port = ascii_int(port_text, max_digits=5)
    if not sep or not host or port is None or not 0 < port < 65536:
        return None
    return host, port
