"""show and check state the time evidence an issuer cannot set: the earliest
witness cosignature covering each entry."""

from __future__ import annotations

from harness import brandex, wait_until

from exchange._proto.brandex.v1 import services_pb2


def test_show_says_when_witnesses_first_saw_the_entry(federation_factory) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"},
        {"zhejiang": ["anhui"], "anhui": ["zhejiang"]},
        sync_interval=1.0,
    )
    fed.start_all()
    rec = fed.records("zhejiang", 1)[0]
    fed.issue_records("zhejiang", [rec])
    registry = fed.registry("zhejiang")

    def evidence() -> services_pb2.Provenance | None:
        got = registry.GetRecord(
            services_pb2.GetRecordRequest(issuer="330000", record_id=rec.record_id), timeout=10
        ).view.provenance
        return got if got.witnessed_at else None

    prov = wait_until(evidence, what="anhui's cosignature to reach zhejiang")
    assert prov.witnesses >= 1 and prov.issued_at and len(prov.signing_key) == 64
    assert prov.witnessed_at >= prov.issued_at[:19]  # witnessed no earlier than issued
    out = brandex(
        "show", rec.record_id, "--issuer", "330000", "--history", config=fed.configs["zhejiang"],
        expect=0,
    ).stdout  # fmt: skip
    assert "logged no later than" in out and "by 1 witness" in out
