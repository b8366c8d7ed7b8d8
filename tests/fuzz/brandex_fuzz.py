"""Shared machinery of the fuzz suite: the budget, the example counter and the mutators.

Every fuzz test takes its ``max_examples`` from :func:`fuzz` (the environment
variable ``BRANDEX_FUZZ_EXAMPLES`` times the test's weight, so cheap parsers
get many cases and whole-bundle verification fewer) and calls :func:`count`
once per example; ``conftest.py`` prints the totals at the end of the session.

The mutators start from VALID inputs, because random bytes rarely get past the
first check of a strict parser: bit flips, truncations, insertions, deletions,
duplicated or swapped lines, deep nesting, and the substitutions that real
files and hostile peers produce (U+2014 vs ``-``, CRLF, U+2028, full-width and
superscript digits, Cyrillic look-alikes, NBSP, BOM, NUL).
"""

from __future__ import annotations

import atexit
import functools
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import builders
from builders import counterfeit_case, sync_all
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = [
    "COUNTS",
    "EXAMPLES",
    "count",
    "fuzz",
    "json_values",
    "mutated_bytes",
    "mutated_text",
    "raw_bytes",
    "raw_text",
    "world",
]

#: Per-test example budget before weighting (``make fuzz`` raises it).
EXAMPLES = int(os.environ.get("BRANDEX_FUZZ_EXAMPLES", "200"))

#: Examples run, by test label; printed by ``conftest.pytest_terminal_summary``.
COUNTS: Counter[str] = Counter()


def fuzz(weight: float = 1.0, minimum: int = 10) -> settings:
    """Hypothesis settings for a fuzz test: ``EXAMPLES * weight`` cases, no deadline."""
    return settings(
        max_examples=max(minimum, int(EXAMPLES * weight)),
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def count(label: str) -> None:
    """Record that one example of ``label`` ran."""
    COUNTS[label] += 1


# ------------------------------------------------------------------ alphabets

_FULLWIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
_SUPERSCRIPT = dict(zip("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹", strict=True))
_ARABIC_INDIC = {str(d): chr(0x0660 + d) for d in range(10)}
_MATH_BOLD = {str(d): chr(0x1D7CE + d) for d in range(10)}

#: Characters that look like, or are treated by some library like, another one.
CONFUSABLES: dict[str, tuple[str, ...]] = {
    "-": ("\u2014", "\u2013", "\u2212", "\uff0d", "\u2010", "--"),
    "\u2014": ("-", "\u2013", "\u2015", "\u2014\u2014", "\u2e3a"),
    " ": ("\u00a0", "\u3000", "\t", "  ", "", "\u2009", "\u200b"),
    "\n": ("\r\n", "\r", "\u2028", "\u2029", "\x85", "\x1c", "\x0b", "\x0c", "\n\n", ""),
    "+": ("\uff0b", "-", "++", " "),
    "=": ("", "==", "\uff1d", "="),
    "/": ("\uff0f", "\u2215", "//", "\\"),
    ":": ("\uff1a", "::", ""),
    ",": ("\uff0c", "\u3001", ";"),
    '"': ("\u201c", "\u201d", "'", ""),
    "a": ("\u0430", "A", "\uff41"),
    "e": ("\u0435", "E"),
    "o": ("\u043e", "0", "O"),
    "c": ("\u0441", "C"),
    "p": ("\u0440",),
    "x": ("\u0445",),
    "y": ("\u0443",),
    "A": ("\u0391", "\u0410", "a"),
    "B": ("\u0392", "\u0412"),
    "E": ("\u0395", "\u0415"),
    "O": ("0", "\u041e"),
    "I": ("1", "l", "\u0406"),
    "S": ("5", "\u0405"),
    "Z": ("2",),
    "V": ("U", "\u0474"),
    "l": ("1", "I"),
    "年": ("-", "/"),
    "\u3001": (",",),
}
for _d in "0123456789":
    CONFUSABLES[_d] = (
        _FULLWIDTH[_d],
        _SUPERSCRIPT[_d],
        _ARABIC_INDIC[_d],
        _MATH_BOLD[_d],
        "+" + _d,
        "0" + _d,
        _d + "_0",
        " " + _d,
    )

#: Short strings that break parsers when dropped into the middle of valid input.
TOKENS: tuple[str, ...] = (
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x1c",
    "\x00",
    "\x7f",
    "\ufeff",
    "\ufffd",
    "\u200b",
    "\u202e",
    "\u0301",
    "\U0001f600",
    "é",
    "中",
    "\u2014 ",
    "\u2014 x AAAA\n",
    "\u2014 yrd/330000 AAAAAAA=\n",
    " ",
    "\t",
    "+",
    "=",
    "==",
    "-",
    "/",
    ":",
    "0",
    "00",
    "+5",
    " 7_0 ",
    "\uff11",
    "\u00b2",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "9" * 30,
    "1" * 5000,
    "1e400",
    "NaN",
    "Infinity",
    "null",
    "true",
    "[]",
    "{}",
    '""',
    '"\\ud800"',
    '"\\u0000"',
    "\\",
    '"',
    "'",
    ",",
    "[",
    "]",
    "{",
    "}",
    "#",
    "[[",
    "]]",
    "=[",
    "c2sp.org/tlog-proof@v1\n",
    "index 0\n",
    "extra AA==\n",
    "-----BEGIN CERTIFICATE-----\n",
    "-----END CERTIFICATE-----\n",
    "AAAA",
    "////",
    "A===",
)

#: Tokens repeated many times to probe recursion and size limits.
DEEP_TOKENS: tuple[str, ...] = ("[", "{", '{"a":', "[[", "a = [", "{a=", "\n", "\u2014 ", "=")


# ------------------------------------------------------------------- text ops


def _pos(draw: Callable, s: Sequence, *, end: bool = True) -> int:
    return draw(st.integers(0, len(s) if end else max(len(s) - 1, 0)))


def _op_flip(draw, s: str) -> str:
    if not s:
        return s
    i = _pos(draw, s, end=False)
    bit = draw(st.integers(0, 15))
    c = chr(ord(s[i]) ^ (1 << bit))
    if "\ud800" <= c <= "\udfff":
        c = "\ufffd"
    return s[:i] + c + s[i + 1 :]


def _op_truncate(draw, s: str) -> str:
    return s[: _pos(draw, s)]


def _op_cut_front(draw, s: str) -> str:
    return s[_pos(draw, s) :]


def _op_delete(draw, s: str) -> str:
    i = _pos(draw, s)
    j = draw(st.integers(i, min(len(s), i + 64)))
    return s[:i] + s[j:]


def _op_insert_token(draw, s: str) -> str:
    i = _pos(draw, s)
    return s[:i] + draw(st.sampled_from(TOKENS)) + s[i:]


def _op_insert_text(draw, s: str) -> str:
    i = _pos(draw, s)
    return s[:i] + draw(st.text(max_size=12)) + s[i:]


def _op_duplicate(draw, s: str) -> str:
    i = _pos(draw, s)
    j = draw(st.integers(i, min(len(s), i + 200)))
    k = _pos(draw, s)
    return s[:k] + s[i:j] + s[k:]


def _op_deep(draw, s: str) -> str:
    i = _pos(draw, s)
    token = draw(st.sampled_from(DEEP_TOKENS))
    n = draw(st.sampled_from((2, 17, 100, 999, 1500, 3000)))
    return s[:i] + token * n + s[i:]


def _op_confusable(draw, s: str) -> str:
    spots = [i for i, c in enumerate(s) if c in CONFUSABLES]
    if not spots:
        return _op_insert_token(draw, s)
    i = draw(st.sampled_from(spots))
    return s[:i] + draw(st.sampled_from(CONFUSABLES[s[i]])) + s[i + 1 :]


def _op_confusable_all(draw, s: str) -> str:
    present = sorted({c for c in s if c in CONFUSABLES})
    if not present:
        return s
    c = draw(st.sampled_from(present))
    return s.replace(c, draw(st.sampled_from(CONFUSABLES[c])))


def _lines_op(draw, s: str, fn: Callable) -> str:
    lines = s.split("\n")
    if len(lines) < 2:
        return _op_insert_token(draw, s)
    return "\n".join(fn(lines))


def _op_swap_lines(draw, s: str) -> str:
    def swap(lines: list[str]) -> list[str]:
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
        return lines

    return _lines_op(draw, s, swap)


def _op_drop_line(draw, s: str) -> str:
    def drop(lines: list[str]) -> list[str]:
        del lines[draw(st.integers(0, len(lines) - 1))]
        return lines

    return _lines_op(draw, s, drop)


def _op_dup_line(draw, s: str) -> str:
    def dup(lines: list[str]) -> list[str]:
        i = draw(st.integers(0, len(lines) - 1))
        times = draw(st.sampled_from((1, 2, 16, 70, 200)))
        lines[i:i] = [lines[i]] * times
        return lines

    return _lines_op(draw, s, dup)


def _op_replace_line(draw, s: str) -> str:
    def replace(lines: list[str]) -> list[str]:
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=40)))
        return lines

    return _lines_op(draw, s, replace)


def _op_case(draw, s: str) -> str:
    if not s:
        return s
    i = _pos(draw, s, end=False)
    j = draw(st.integers(i, min(len(s), i + 32)))
    return s[:i] + s[i:j].swapcase() + s[j:]


_TEXT_OPS: tuple[Callable, ...] = (
    _op_flip,
    _op_truncate,
    _op_cut_front,
    _op_delete,
    _op_insert_token,
    _op_insert_text,
    _op_duplicate,
    _op_deep,
    _op_confusable,
    _op_confusable_all,
    _op_swap_lines,
    _op_drop_line,
    _op_dup_line,
    _op_replace_line,
    _op_case,
)


@st.composite
def mutated_text(draw, seeds: Sequence[str], max_ops: int = 4, surrogates: bool = False) -> str:
    """A valid seed with 1 to ``max_ops`` mutations (``surrogates``: maybe a lone one too)."""
    s = draw(st.sampled_from(list(seeds)))
    for _ in range(draw(st.integers(1, max_ops))):
        s = draw(st.sampled_from(_TEXT_OPS))(draw, s)
    if surrogates and draw(st.booleans()):
        i = _pos(draw, s)
        s = s[:i] + chr(draw(st.integers(0xD800, 0xDFFF))) + s[i:]
    return s


# ------------------------------------------------------------------ byte ops


def _b_flip(draw, b: bytes) -> bytes:
    if not b:
        return b
    i = _pos(draw, b, end=False)
    return b[:i] + bytes([b[i] ^ (1 << draw(st.integers(0, 7)))]) + b[i + 1 :]


def _b_set(draw, b: bytes) -> bytes:
    if not b:
        return b
    i = _pos(draw, b, end=False)
    v = draw(st.sampled_from((0x00, 0x01, 0x7F, 0x80, 0xBF, 0xC0, 0xE2, 0xED, 0xF8, 0xFF)))
    return b[:i] + bytes([v]) + b[i + 1 :]


def _b_truncate(draw, b: bytes) -> bytes:
    return b[: _pos(draw, b)]


def _b_delete(draw, b: bytes) -> bytes:
    i = _pos(draw, b)
    j = draw(st.integers(i, min(len(b), i + 64)))
    return b[:i] + b[j:]


def _b_insert(draw, b: bytes) -> bytes:
    i = _pos(draw, b)
    ins = draw(
        st.one_of(
            st.binary(max_size=16),
            st.sampled_from(TOKENS).map(lambda t: t.encode("utf-8")),
            st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x80", b"\x80" * 4)),
        )
    )
    return b[:i] + ins + b[i:]


def _b_duplicate(draw, b: bytes) -> bytes:
    i = _pos(draw, b)
    j = draw(st.integers(i, min(len(b), i + 256)))
    k = _pos(draw, b)
    return b[:k] + b[i:j] + b[k:]


def _b_text(draw, b: bytes) -> bytes:
    """Apply a text mutation to the part that is UTF-8 (or to its Latin-1 reading)."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return draw(st.sampled_from(_TEXT_OPS))(draw, b.decode("latin-1")).encode(
            "latin-1", "replace"
        )
    return draw(st.sampled_from(_TEXT_OPS))(draw, s).encode("utf-8")


_BYTE_OPS: tuple[Callable, ...] = (
    _b_flip,
    _b_set,
    _b_truncate,
    _b_delete,
    _b_insert,
    _b_duplicate,
    _b_text,
    _b_text,
)


@st.composite
def mutated_bytes(draw, seeds: Sequence[bytes], max_ops: int = 4) -> bytes:
    """A valid seed with 1 to ``max_ops`` byte-level (or UTF-8 text-level) mutations."""
    b = draw(st.sampled_from(list(seeds)))
    for _ in range(draw(st.integers(1, max_ops))):
        b = draw(st.sampled_from(_BYTE_OPS))(draw, b)
    return b


# ------------------------------------------------------------------ raw input

_STRUCTURE_CHARS = (
    "\n\n\n \u2014\u2014+/=0123456789abcdefAZaz:-_.,[]{}\"'\\#\r\u2028\x00\uff10\u00b2é中"
)


def raw_text(max_size: int = 400) -> st.SearchStrategy[str]:
    """Arbitrary text, and text from the characters that carry structure in our formats."""
    return st.one_of(
        st.text(max_size=max_size),
        st.text(alphabet=_STRUCTURE_CHARS, max_size=max_size),
        st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
    )


def raw_bytes(max_size: int = 400) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and the UTF-8 of :func:`raw_text`."""
    return st.one_of(
        st.binary(max_size=max_size), raw_text(max_size).map(lambda s: s.encode("utf-8"))
    )


def json_values(max_leaves: int = 8) -> st.SearchStrategy[object]:
    """Any JSON value a hostile document could hold (big ints, NaN, lone surrogates...)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from((0, -1, 2**63, 2**64, 10**30)),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(TOKENS),
        st.integers(0xD800, 0xDFFF).map(chr),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


# --------------------------------------------------------------- a federation


class World:
    """A three-member federation with logs, synced and cosigned: the valid seeds.

    Built once per process (``world()``), in a temporary directory removed at exit.
    """

    MEMBERS: ClassVar[dict[str, str]] = {
        "zhejiang": "330000",
        "anhui": "340000",
        "jiangsu": "320000",
    }

    def __init__(self) -> None:
        from exchange import pki
        from exchange.core import x509
        from exchange.node.ledger import Ledger
        from exchange.store import Store

        self._tmp = tempfile.TemporaryDirectory(prefix="brandex-fuzz-")
        atexit.register(self._tmp.cleanup)
        root = Path(self._tmp.name)
        self.root = root
        self.certs = root / "certs"
        pki.init_federation(self.certs, "yrd", self.MEMBERS)
        self.anchor_pem = (self.certs / "anchor.pem").read_bytes()
        self.anchors = x509.load_pem_chain(self.anchor_pem)
        self.ledgers: dict[str, Ledger] = {}
        self.signing_keys = {}
        self.signing_pems: dict[str, str] = {}
        for name, region in self.MEMBERS.items():
            paths = pki.member_paths(self.certs, name)
            self.signing_keys[name] = pki.load_signing_key(paths.signing_key)
            self.signing_pems[name] = paths.signing_cert.read_text()
            ledger = Ledger(
                Store(root / f"{name}.db"),
                federation="yrd",
                region=region,
                signing_key=self.signing_keys[name],
                signing_chain_pem=[self.signing_pems[name]],
                anchors=self.anchors,
            )
            ledger.bootstrap()
            self.ledgers[name] = ledger
        self._issue()
        self._sync()

    def _issue(self) -> None:
        from exchange._proto.brandex.v1 import entries_pb2 as pb

        zj, ah = self.ledgers["zhejiang"], self.ledgers["anhui"]
        zj.issue([("accession", self.accession("330000", "2003-08-31"))])
        zj.issue([("recognition", self.recognition())])
        zj.issue(
            [
                (
                    "status_change",
                    pb.StatusChange(
                        record_id="zj-1", new_status=1, reason=1, effective_on="2024-06-01"
                    ),
                )
            ]
        )
        fixed = self.recognition()
        fixed.valid_until = "2025-12-31"
        zj.issue(
            [
                (
                    "status_change",
                    pb.StatusChange(
                        record_id="zj-1",
                        new_status=5,
                        reason=8,
                        reason_text="validity misprinted",
                        effective_on="2024-09-01",
                        corrected=fixed,
                    ),
                )
            ]
        )
        ah.issue([("accession", self.accession("340000", "2006-08-29"))])
        ah.issue(
            [
                (
                    "infringement_case",
                    counterfeit_case(),
                ),
                (
                    "case_action",
                    pb.CaseAction(
                        case_region="340000",
                        case_id="ah-2024-7",
                        acting_region="340000",
                        action=4,
                        date="2024-07-05",
                        decision_no="皖市监罚〔2024〕7号",
                        fine_fen=500000,
                    ),
                ),
                (
                    "withdrawal",
                    pb.Withdrawal(
                        agreement_id="yrd-2003",
                        region="340000",
                        effective_on="2030-01-01",
                        reason_text="fuzz",
                    ),
                ),
            ]
        )

    @staticmethod
    def recognition():
        return builders.recognition()

    @staticmethod
    def accession(region: str, start: str):
        from exchange._proto.brandex.v1 import entries_pb2 as pb

        return pb.Accession(
            agreement_id="yrd-2003",
            title="长三角名牌互认",
            covered_kinds=[2, 7],
            effective_from=start,
            region=region,
        )

    def _sync(self) -> None:
        sync_all(self.ledgers)

    def envelopes(self, name: str) -> list[bytes]:
        """Every envelope of member ``name``'s own log, in order."""
        ledger = self.ledgers[name]
        row = ledger.store.origin(ledger.origin)
        return list(ledger.store.envelopes(ledger.origin, 0, row.size))

    def bundle_json(self, node: str = "anhui") -> str:
        from exchange.node.bundles import build_bundle

        return build_bundle(self.ledgers[node], "330000", "zj-1")


@functools.cache
def world() -> World:
    """The shared federation (built on first use)."""
    return World()
