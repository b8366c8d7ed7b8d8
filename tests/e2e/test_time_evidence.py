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


def test_each_entry_names_the_operator_whose_call_caused_it(federation_factory) -> None:
    from exchange import pki
    from exchange._proto.brandex.v1 import entries_pb2
    from exchange.core.dsse import parse_envelope
    from exchange.core.x509 import load_pem_chain

    fed = federation_factory({"zhejiang": "330000"}, {})
    fed.start_all()
    fed.issue("zhejiang", 2)
    envs, _ = fed.served_log("zhejiang")
    operator = load_pem_chain(pki.member_paths(fed.certs, "zhejiang").operator_cert.read_bytes())[0]
    first = entries_pb2.Entry.FromString(parse_envelope(envs[0]).payload)
    assert not first.HasField("actor")  # the node's own key announcement
    for raw in envs[1:]:
        entry = entries_pb2.Entry.FromString(parse_envelope(raw).payload)
        assert entry.actor.subject == operator.subject.rfc4514_string()
        assert entry.actor.serial == f"{operator.serial_number:x}"
