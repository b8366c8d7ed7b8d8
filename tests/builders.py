"""Valid entry bodies for tests: one place for the sample records every suite uses."""

from __future__ import annotations

from types import SimpleNamespace

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.uscc import check_char

__all__ = [
    "LocalPeer",
    "counterfeit_case",
    "member_ledgers",
    "recognition",
    "search_entry",
    "search_query",
    "sync_all",
    "uscc",
]


def uscc(first17: str) -> str:
    """A valid unified social credit code from its first 17 characters."""
    return first17 + check_char(first17)


def recognition(record_id: str = "zj-1", cert: str = "ZJMP-2024-0001") -> pb.Recognition:
    """A valid Zhejiang provincial famous-brand product (西湖 龙井茶, Hangzhou)."""
    return pb.Recognition(
        record_id=record_id,
        kind=pb.RecognitionKind.Value("PROVINCIAL_FAMOUS_BRAND_PRODUCT"),
        sector=pb.Sector.Value("AGRICULTURAL"),
        brand_name="西湖",
        product="龙井茶",
        enterprise_name="杭州西湖茶业有限公司",
        enterprise_uscc=uscc("91330106MA2B00001"),
        enterprise_region="330106",
        certificate_no=cert,
        announcement_no="浙市监〔2024〕1号",
        recognised_on="2024-01-15",
        valid_from="2024-01-15",
        valid_until="2026-12-31",
    )


def counterfeit_case(case_id: str = "ah-2024-7", record_id: str = "zj-1") -> pb.InfringementCase:
    """Anhui reports and handles counterfeits of Zhejiang's record."""
    return pb.InfringementCase(
        case_id=case_id,
        protected_issuer="330000",
        protected_record_id=record_id,
        reporting_region="340000",
        handling_region="340000",
        infringer_name="假茶作坊",
        case_type=1,
        goods_value_fen=120000,
        opened_on="2024-07-02",
    )


def search_entry(
    i: int,
    brand: str,
    *,
    product: str = "产品",
    enterprise: str | None = None,
    latin: str = "",
    region: str = "330106",
    until: str = "2026-12-31",
    nice: tuple[int, ...] = (),
    uscc17: str = "91330106MA2B",
) -> pb.Entry:
    """Zhejiang's recognition ``r{i}`` of ``brand`` as an entry, for the search suites.

    A trademark kind (no expiry) when it has Nice classes, else a provincial
    famous-brand product valid until ``until``; the enterprise is ``{brand}有限公司``
    unless given, its USCC ``uscc17`` plus ``i``.
    """
    rec = pb.Recognition(
        record_id=f"r{i}",
        kind=1 if nice else 2,
        sector=1,
        brand_name=brand,
        brand_name_latin=latin,
        product=product,
        enterprise_name=f"{brand}有限公司" if enterprise is None else enterprise,
        enterprise_uscc=uscc(f"{uscc17}{i:05d}"),
        enterprise_region=region,
        nice_classes=list(nice),
        certificate_no=f"c{i}",
        announcement_no="a",
        recognised_on="2024-01-01",
        valid_from="2024-01-01",
        valid_until="" if nice else until,
    )
    return pb.Entry(federation="yrd", region="330000", issued_at="t", recognition=rec)


def search_query(**kw: object) -> SimpleNamespace:
    """A registry search request as the store's query functions read it."""
    base: dict[str, object] = dict(
        text="",
        region="",
        issuer="",
        kind=0,
        nice_class=0,
        status="",
        valid_on="",
        uscc="",
        enterprise="",
        limit=100,
        offset=0,
    )
    base.update(kw)
    return SimpleNamespace(**base)


class LocalPeer:
    """Another ledger, seen through the ledger's Peer protocol (no sockets)."""

    def __init__(self, name: str, ledger) -> None:
        self.name, self.ledger = name, ledger

    def list_origins(self):
        from exchange.node.ledger import OriginHead

        return [
            OriginHead(o.origin, o.size, self.ledger.checkpoint_with_cosignatures(o.origin))
            for o in self.ledger.store.origins()
            if o.checkpoint
        ]

    def get_entries(self, origin: str, start: int, end: int):
        yield start, self.ledger.store.envelopes(origin, start, end)


def sync_all(ledgers: dict, rounds: int = 2) -> None:
    """Every ledger syncs from every other: the first round moves entries and
    cosigns, the second spreads the cosignatures."""
    for _ in range(rounds):
        for a, la in ledgers.items():
            for b, lb in ledgers.items():
                if a != b:
                    la.sync_from(LocalPeer(b, lb))


def member_ledgers(certs, root, members: dict[str, str]) -> dict:
    """A bootstrapped ledger per member of the PKI in ``certs``, each in ``root``/<name>.db."""
    from exchange import pki
    from exchange.core import x509
    from exchange.node.ledger import Ledger
    from exchange.store import Store

    anchors = x509.load_pem_chain((certs / "anchor.pem").read_bytes())
    out = {}
    for name, region in members.items():
        paths = pki.member_paths(certs, name)
        out[name] = Ledger(
            Store(root / f"{name}.db"),
            federation="yrd",
            region=region,
            signing_key=pki.load_signing_key(paths.signing_key),
            signing_chain_pem=[paths.signing_cert.read_text()],
            anchors=anchors,
        )
        out[name].bootstrap()
    return out
