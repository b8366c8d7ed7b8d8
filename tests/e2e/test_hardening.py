"""Hardening of a node against its own members: bad requests, big answers, many streams.

One real node process (Zhejiang), with Anhui's records mirrored into it, called
with member and operator certificates. Every refusal must be a deliberate status
code (INVALID_ARGUMENT, RESOURCE_EXHAUSTED), never INTERNAL, and must not cost
other callers their service.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from harness import Federation, wait_until
from hostile import HostilePeer, ScriptedLog

from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core import regions
from exchange.node import limits, requests
from exchange.node.identity import channel_credentials, load_anchors, open_channel

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory, shared_certs: Path):
    root = tmp_path_factory.mktemp("hardening")
    fed = Federation.create(
        root / "fed",
        {"zhejiang": "330000", "anhui": "340000"},
        {"zhejiang": ["anhui"]},
        certs=shared_certs,
        sync_interval=0.5,
    )
    fed.start_all()
    fed.issue("zhejiang", 30)
    fed.issue("anhui", 20)
    wait_until(
        lambda: fed.sizes("zhejiang").get("yrd/340000") == fed.sizes("anhui")["yrd/340000"],
        what="zhejiang to mirror anhui",
    )
    yield fed
    fed.stop_all()


def member_channel(fed: Federation, name: str) -> grpc.Channel:
    """A channel to Zhejiang presenting ``name``'s node (member) certificate."""
    paths = pki.member_paths(fed.certs, name)
    anchors_pem, _ = load_anchors([paths.anchor])
    creds = channel_credentials(paths.node_cert, paths.node_key, anchors_pem)
    return open_channel(fed.address("zhejiang"), creds)


def code_of(call, *args, **kw) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kw)
    return info.value.code(), info.value.details() or ""


# ---------------------------------------------------------------- item 6


@pytest.mark.parametrize(
    "fields",
    [
        {"issuer": '"'},
        {"issuer": '999999" OR "i340000'},
        {"issuer": '330000" OR "i340000'},
        {"region": '"'},
        {"status": '"x" OR "svalid'},
        {"kind": 99},
        {"nice_class": 46},
        {"nice_class": -1},
        {"valid_on": "tomorrow"},
        {"today": "2024-02-30"},
        {"text": "宋" * 201},
        {"text": "a\x00b"},
        {"uscc": "9" * 65},
        {"limit": 1001},
    ],
)
def test_search_refuses_bad_fields_with_invalid_argument(fed, fields) -> None:
    stub = fed.registry("zhejiang")
    code, details = code_of(stub.Search, services_pb2.SearchRequest(**fields), timeout=30)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    field = next(iter(fields))
    assert field in details


def test_search_injected_issuer_returns_nothing_of_another_issuer(fed) -> None:
    stub = fed.registry("zhejiang")
    anhui = stub.Search(services_pb2.SearchRequest(issuer="340000", limit=100), timeout=30)
    assert anhui.records and {v.issuer for v in anhui.records} == {"340000"}
    for issuer in ('340000"', '330000" OR "i340000', "i340000"):
        code, _ = code_of(stub.Search, services_pb2.SearchRequest(issuer=issuer), timeout=30)
        assert code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("rpc", "request_"),
    [
        ("Check", services_pb2.CheckRequest(uscc="x", region='"')),
        ("Check", services_pb2.CheckRequest(brand="x" * 201, region="330000")),
        ("Check", services_pb2.CheckRequest(region="330000")),
        ("GetRecord", services_pb2.GetRecordRequest(issuer="999999", record_id="r")),
        ("GetRecord", services_pb2.GetRecordRequest(issuer="330000", record_id="")),
        ("ListCases", services_pb2.ListCasesRequest(region="12")),
    ],
)
def test_registry_rpcs_refuse_bad_fields(fed, rpc, request_) -> None:
    code, details = code_of(getattr(fed.registry("zhejiang"), rpc), request_, timeout=30)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details


@pytest.mark.parametrize("origin", ["", '"', "yrd/33000", "yrd/999999", "other/330000", "x" * 70])
def test_log_rpcs_refuse_malformed_origins(fed, origin) -> None:
    log = fed.log_stub("zhejiang")
    audit = services_pb2_grpc.AuditServiceStub(fed.channel("zhejiang"))
    calls = [
        (log.GetCheckpoint, services_pb2.GetCheckpointRequest(origin=origin)),
        (log.GetConsistencyProof, services_pb2.ConsistencyRequest(origin=origin, size1=1, size2=2)),
        (audit.GetInclusionProof, services_pb2.InclusionRequest(origin=origin)),
        (
            lambda r, timeout: list(log.GetEntries(r, timeout=timeout)),
            services_pb2.GetEntriesRequest(origin=origin, end=2),
        ),
    ]
    for call, req in calls:
        code, details = code_of(call, req, timeout=30)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details


# ---------------------------------------------------------------- item 4


@pytest.fixture(scope="module")
def cases(fed) -> list[str]:
    """Five cases Zhejiang reports about its own first record; their case ids."""
    reg = fed.registry("zhejiang")
    rec = reg.Search(services_pb2.SearchRequest(issuer="330000", limit=1), timeout=30).records[0]
    admin = fed.admin("zhejiang")
    ids = [f"zj-2024-{i}" for i in range(5)]
    for i, case_id in enumerate(ids):
        admin.ReportCase(
            entries_pb2.InfringementCase(
                case_id=case_id,
                protected_issuer="330000",
                protected_record_id=rec.record.record_id,
                reporting_region="330000",
                handling_region="330000",
                infringer_name="假冒作坊",
                case_type=1,
                goods_value_fen=100,
                opened_on=f"2024-07-0{i + 1}",
            ),
            timeout=30,
        )
    return ids


def test_search_offset_is_capped(fed) -> None:
    stub = fed.registry("zhejiang")
    deepest = services_pb2.SearchRequest(offset=requests.MAX_SEARCH_OFFSET)
    assert stub.Search(deepest, timeout=30).records == []
    code, details = code_of(
        stub.Search, services_pb2.SearchRequest(offset=requests.MAX_SEARCH_OFFSET + 1), timeout=30
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "offset" in details


def test_list_cases_pages_and_says_when_truncated(fed, cases) -> None:
    stub = fed.registry("zhejiang")
    everything = stub.ListCases(services_pb2.ListCasesRequest(), timeout=30)
    assert [c.case.case_id for c in everything.cases] == cases and not everything.truncated
    first = stub.ListCases(services_pb2.ListCasesRequest(limit=2), timeout=30)
    assert [c.case.case_id for c in first.cases] == cases[:2] and first.truncated
    last = stub.ListCases(services_pb2.ListCasesRequest(limit=2, offset=4), timeout=30)
    assert [c.case.case_id for c in last.cases] == cases[4:] and not last.truncated
    code, _ = code_of(
        stub.ListCases, services_pb2.ListCasesRequest(limit=requests.MAX_LIST + 1), timeout=30
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_list_cases_brand_filter_escapes_like_wildcards(fed, cases) -> None:
    stub = fed.registry("zhejiang")
    brand = stub.ListCases(services_pb2.ListCasesRequest(), timeout=30).cases[0].brand_name
    assert brand
    part = brand[1:] if len(brand) > 1 else brand
    assert len(stub.ListCases(services_pb2.ListCasesRequest(brand=part), timeout=30).cases) == 5
    for wildcard in ("%", "_", "%%", brand[0] + "%", "_" * len(brand), "\\"):
        resp = stub.ListCases(services_pb2.ListCasesRequest(brand=wildcard), timeout=30)
        assert resp.cases == [], wildcard


def test_list_agreements_and_status_are_bounded(fed) -> None:
    reg = fed.registry("zhejiang")
    assert not reg.ListAgreements(services_pb2.ListAgreementsRequest(), timeout=30).truncated
    status = fed.status("zhejiang")
    assert not status.truncated and len(status.origins) == 2


def test_get_entries_batches_stay_under_a_mebibyte(fed) -> None:
    fed.issue("zhejiang", 3000)  # about 1.7 MB of envelopes
    log = fed.log_stub("zhejiang")
    state = log.GetCheckpoint(services_pb2.GetCheckpointRequest(origin="yrd/330000"), timeout=30)
    batches = list(
        log.GetEntries(
            services_pb2.GetEntriesRequest(origin=state.origin, end=state.size, batch_size=5000),
            timeout=60,
        )
    )
    assert sum(len(b.envelopes) for b in batches) == state.size
    assert sum(len(e) for b in batches for e in b.envelopes) > requests.MAX_BATCH_BYTES
    assert len(batches) > 1
    for b in batches:
        assert sum(map(len, b.envelopes)) <= requests.MAX_BATCH_BYTES


# ---------------------------------------------------------------- item 3


def test_watch_stream_ignores_malformed_origins_and_caps_the_rest(
    federation_factory, shared_certs: Path
) -> None:
    """A peer streams junk origins and more valid-looking ones than any federation has."""
    valid = sorted(regions._table())
    assert len(valid) > requests.MAX_WATCHED_ORIGINS + 50
    with HostilePeer(shared_certs, "shanghai") as evil:
        fed = federation_factory({"zhejiang": "330000"}, {}, sync_interval=3600)
        fed.add_peer("zhejiang", evil.address, "310000")
        sentinel = f"yrd/{valid[0]}"  # streamed before every other valid origin
        evil.serve(sentinel, ScriptedLog("junk", size=1))
        junk = ["x" * 100_000, "other/330000", "yrd/999999", "yrd/33000", "yrd/3300001", "/330000"]
        for origin in junk + [f"yrd/{c}" for c in valid[1 : requests.MAX_WATCHED_ORIGINS + 50]]:
            evil.logs[origin] = ScriptedLog("junk", size=7)
        fed.start_all()
        wait_until(lambda: evil.count("WatchCheckpoints"), what="zhejiang to watch the peer")

        def tracked() -> dict[str, int]:
            peers = [p for p in fed.status("zhejiang").peers if p.address == evil.address]
            return dict(peers[0].sizes) if peers else {}

        wait_until(lambda: tracked().get(sentinel) == 1, what="the first push to be read")
        evil.serve(sentinel, ScriptedLog("junk", size=2))  # streamed after everything else
        wait_until(lambda: tracked().get(sentinel) == 2, what="the second push to be read")
        sizes = tracked()
        assert len(sizes) <= requests.MAX_WATCHED_ORIGINS
        assert not set(junk) & set(sizes)
        assert all(o.startswith("yrd/") and regions.is_region(o[4:]) for o in sizes)
        assert fed.procs["zhejiang"].poll() is None


# ---------------------------------------------------------------- item 1


def test_one_member_cannot_take_the_workers_with_watch_streams(fed) -> None:
    """A member holds its maximum of streams; one more is refused; others are served."""
    ch = member_channel(fed, "anhui")
    log = services_pb2_grpc.LogServiceStub(ch)
    held = []
    try:
        for _ in range(limits.MAX_STREAMS_PER_CLIENT):
            call = log.WatchCheckpoints(services_pb2.WatchCheckpointsRequest(), timeout=600)
            next(call)  # the first push: the server holds this stream now
            held.append(call)
        extra = log.WatchCheckpoints(services_pb2.WatchCheckpointsRequest(), timeout=60)
        code, details = code_of(next, extra)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
        assert "open streams" in details
        # Many more attempts at once: every one refused at once, none holds a worker.
        for code, _ in [
            code_of(next, log.WatchCheckpoints(services_pb2.WatchCheckpointsRequest(), timeout=60))
            for _ in range(40)
        ]:
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The operator writes and reads, and another member reads, meanwhile.
        assert fed.issue("zhejiang", 1)
        assert (
            fed.log_stub("zhejiang")
            .GetNodeStatus(services_pb2.NodeStatusRequest(), timeout=30)
            .origins
        )
        other = services_pb2_grpc.RegistryServiceStub(member_channel(fed, "zhejiang"))
        assert other.Search(services_pb2.SearchRequest(limit=1), timeout=30).records
    finally:
        for call in held:
            call.cancel()

    # Closed streams give their slots back.
    def reopened() -> bool:
        call = log.WatchCheckpoints(services_pb2.WatchCheckpointsRequest(), timeout=60)
        try:
            next(call)
            return True
        except grpc.RpcError:
            return False
        finally:
            call.cancel()

    wait_until(reopened, what="a slot to be free again")
    ch.close()


# ---------------------------------------------------------------- item 5


def test_read_rate_limit_per_client_certificate(federation_factory) -> None:
    fed = federation_factory({"zhejiang": "330000"}, {}, sync_interval=3600)
    with open(fed.configs["zhejiang"], "a", encoding="utf-8") as f:
        f.write("\n[limits]\nread_rate = 0.05\nread_burst = 5\n")  # one token per 20 s
    fed.start_all()
    fed.issue("zhejiang", 3)
    flooder = services_pb2_grpc.RegistryServiceStub(member_channel(fed, "anhui"))
    refused = None
    for _ in range(50):
        try:
            flooder.Search(services_pb2.SearchRequest(limit=1), timeout=30)
        except grpc.RpcError as exc:
            refused = exc
            break
    assert refused is not None, "50 calls within the burst of 5"
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.details()
    assert "retry after" in refused.details()
    hint = dict(refused.trailing_metadata() or ())
    assert int(hint["retry-after-ms"]) > 0
    # Proofs and record reads draw on the same bucket.
    code, _ = code_of(
        services_pb2_grpc.AuditServiceStub(member_channel(fed, "anhui")).GetInclusionProof,
        services_pb2.InclusionRequest(origin="yrd/330000", index=0),
        timeout=30,
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Another certificate is served meanwhile, and the log RPCs peers sync with are not limited.
    honest = fed.registry("zhejiang")
    for _ in range(3):
        assert honest.Search(services_pb2.SearchRequest(limit=1), timeout=30).records
    anhui_log = services_pb2_grpc.LogServiceStub(member_channel(fed, "anhui"))
    assert anhui_log.ListOrigins(services_pb2.ListOriginsRequest(), timeout=30).origins
