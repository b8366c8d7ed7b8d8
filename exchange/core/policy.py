"""Witness policy: which cosignatures make a checkpoint "confirmed".

Written in the line format of the Sigsum/C2SP policy file, so other
verifiers read it as it is::

    witness yrd/310000/witness 9f2c...   # name, hex Ed25519 key [, url]
    witness yrd/320000/witness 41aa...
    group members 2 yrd/310000/witness yrd/320000/witness
    quorum members

``group NAME k|any|all MEMBER...`` holds when at least k of its members hold
(a member is a witness that cosigned, or another group); a name is defined
before it is used; exactly one ``quorum`` line names a witness, a group or
``none``. ``log`` lines are accepted and ignored: in brandex every member's log
key comes from its own key history, not from the policy.

A witness is named by its brandex witness name. Its key in the policy is the
one it had when the policy was written; brandex itself checks cosignatures
against the witness's key history (keys rotate), and counts names here.

Pure: text in, decisions out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exchange.core.errors import FormatError
from exchange.core.parsing import ascii_int

__all__ = ["WitnessPolicy", "default_policy", "parse_policy"]

MAX_POLICY_BYTES = 1 << 20


@dataclass(frozen=True)
class _Group:
    k: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class WitnessPolicy:
    """A parsed policy; ``text`` is what was parsed, kept verbatim."""

    witnesses: Mapping[str, bytes]
    groups: Mapping[str, _Group]
    quorum: str
    text: str

    def holds(self, cosigned: Iterable[str]) -> bool:
        """Whether witnesses named in ``cosigned`` (verified elsewhere) meet the quorum."""
        have = set(cosigned)
        return self._holds(self.quorum, have)

    def _holds(self, name: str, have: set[str]) -> bool:
        if name == "none":
            return True
        if name in self.witnesses:
            return name in have
        group = self.groups[name]
        return sum(self._holds(m, have) for m in group.members) >= group.k

    @property
    def required(self) -> int:
        """Cosignatures the quorum needs at least (the k of a flat group; 1 for a witness)."""
        if self.quorum == "none":
            return 0
        if self.quorum in self.witnesses:
            return 1
        return self.groups[self.quorum].k  # nested groups: k sub-groups, each at least one

    def counted(self, cosigned: Iterable[str]) -> list[str]:
        """The names in ``cosigned`` that the policy knows, sorted."""
        return sorted(set(cosigned) & set(self.witnesses))

    def describe(self, cosigned: Iterable[str] | None = None) -> str:
        """'confirmed by 4 witnesses, policy 3' or 'not yet confirmed: 1 witness, policy 3'."""
        need = f"policy {self.required} of {len(self.witnesses)}"
        if cosigned is None:
            return need
        names = self.counted(cosigned)
        n = f"{len(names)} witness{'es' if len(names) != 1 else ''}"
        if self.holds(names):
            return f"confirmed by {n}, {need}"
        return f"not yet confirmed: {n}, {need}"


def _fail(lineno: int, why: str) -> FormatError:
    return FormatError(f"witness policy line {lineno}: {why}")


def parse_policy(text: str) -> WitnessPolicy:
    """Parse policy text strictly; FormatError names the line and what is wrong."""
    if not isinstance(text, str):
        raise FormatError("witness policy must be text")
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise FormatError(f"witness policy is larger than {MAX_POLICY_BYTES} bytes")
    witnesses: dict[str, bytes] = {}
    groups: dict[str, _Group] = {}
    quorum: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        kind, args = words[0], words[1:]
        if kind == "log":
            continue
        if kind == "witness":
            if len(args) not in (2, 3):
                raise _fail(lineno, "witness takes a name, a hex key and an optional url")
            name, key = args[0], args[1]
            if name in witnesses or name in groups or name == "none":
                raise _fail(lineno, f"name {name!r} defined twice")
            try:
                raw = bytes.fromhex(key)
            except ValueError:
                raise _fail(lineno, f"key of {name!r} is not hex") from None
            if len(raw) != 32:
                raise _fail(lineno, f"key of {name!r} is {len(raw)} bytes, not 32 (Ed25519)")
            witnesses[name] = raw
        elif kind == "group":
            if len(args) < 3:
                raise _fail(lineno, "group takes a name, k|any|all and members")
            name, k_text, members = args[0], args[1], tuple(args[2:])
            if name in witnesses or name in groups or name == "none":
                raise _fail(lineno, f"name {name!r} defined twice")
            unknown = [m for m in members if m not in witnesses and m not in groups]
            if unknown:
                raise _fail(lineno, f"group {name!r} uses undefined names {unknown}")
            if len(set(members)) != len(members):
                raise _fail(lineno, f"group {name!r} lists a member twice")
            if k_text == "any":
                k = 1
            elif k_text == "all":
                k = len(members)
            elif (n := ascii_int(k_text)) is not None and 1 <= n <= len(members):
                k = n
            else:
                raise _fail(lineno, f"group {name!r}: k must be any, all or 1..{len(members)}")
            groups[name] = _Group(k, members)
        elif kind == "quorum":
            if quorum is not None:
                raise _fail(lineno, "a policy has exactly one quorum line")
            if len(args) != 1:
                raise _fail(lineno, "quorum takes one name")
            if args[0] != "none" and args[0] not in witnesses and args[0] not in groups:
                raise _fail(lineno, f"quorum names undefined {args[0]!r}")
            quorum = args[0]
        else:
            raise _fail(lineno, f"unknown keyword {kind!r}")
    if quorum is None:
        raise FormatError("witness policy has no quorum line")
    return WitnessPolicy(witnesses, groups, quorum, text)


def default_policy(witnesses: Mapping[str, bytes], k: int) -> str:
    """The policy text 'k of these witnesses' (sorted by name), for a new document."""
    if not witnesses:
        return "quorum none\n"
    names = sorted(witnesses)
    k = max(1, min(k, len(names)))
    lines = [f"witness {n} {witnesses[n].hex()}" for n in names]
    lines.append(f"group members {k} {' '.join(names)}")
    lines.append("quorum members")
    return "\n".join(lines) + "\n"
