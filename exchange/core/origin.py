"""Origin and witness names: the one parser every driver uses.

An origin names one issuer's log, ``<federation>/<six-digit region>``
(``yrd/330000``); the node that runs it cosigns other logs as the witness
``<origin>/witness``. Code that needs the region or federation of a log name
parses it here rather than splitting strings, so a malformed name is refused
the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange.core.errors import FormatError

__all__ = [
    "WITNESS_SUFFIX",
    "Origin",
    "origin_name",
    "parse_origin",
    "parse_witness",
    "witness_name",
]

#: What a node appends to its origin to name itself as a witness.
WITNESS_SUFFIX = "/witness"


@dataclass(frozen=True, order=True)
class Origin:
    """A parsed origin name."""

    federation: str
    region: str

    def __str__(self) -> str:
        return f"{self.federation}/{self.region}"

    @property
    def name(self) -> str:
        return str(self)

    @property
    def witness(self) -> str:
        """The cosigner name of the node that runs this origin."""
        return f"{self}{WITNESS_SUFFIX}"


def _is_region(text: str) -> bool:
    return len(text) == 6 and text.isascii() and text.isdigit()


def parse_origin(text: str) -> Origin:
    """Parse ``yrd/330000``; FormatError for anything else (including a witness name)."""
    if not isinstance(text, str):
        raise FormatError(f"origin {text!r} is not text")
    federation, sep, region = text.rpartition("/")
    if not sep or not federation or "/" in federation or not _is_region(region):
        raise FormatError(f"origin {text!r} is not <federation>/<six-digit region>")
    if not federation.isascii() or not federation.isprintable() or " " in federation:
        raise FormatError(f"origin {text!r}: the federation name must be printable ASCII")
    return Origin(federation, region)


def parse_witness(name: str) -> Origin:
    """Parse a witness name ``yrd/330000/witness`` into the origin of its node."""
    if not isinstance(name, str) or not name.endswith(WITNESS_SUFFIX):
        raise FormatError(f"witness name {name!r} does not end in {WITNESS_SUFFIX}")
    return parse_origin(name[: -len(WITNESS_SUFFIX)])


def witness_member(name: str) -> Origin | None:
    """The origin of the node behind witness ``name``, or None when it names no member
    (a cosignature line by anyone else is simply not a member witness's)."""
    try:
        return parse_witness(name)
    except FormatError:
        return None


def origin_name(federation: str, region: str) -> str:
    """The origin name of ``region``'s log in ``federation`` (validated)."""
    return parse_origin(f"{federation}/{region}").name


def witness_name(origin: str) -> str:
    """The cosigner name of the node that runs ``origin`` (validated)."""
    return parse_origin(origin).witness
