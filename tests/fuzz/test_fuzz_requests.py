"""Random requests, well-typed and malformed, against a live node: never INTERNAL or UNKNOWN.

One real node process (Zhejiang, a few records) is called on every read RPC
with requests whose fields are drawn from valid values, FTS5 syntax, quotes,
control characters, overlong strings and extreme numbers, and with the bytes of
valid requests mutated. Every answer must be OK or a deliberate refusal; an
INTERNAL or UNKNOWN status means a value got past the boundary checks
(``exchange.node.requests``) and broke something behind them.

Bytes that do not parse as the request message at all are refused by gRPC's own
deserializer before any handler runs (INTERNAL "Exception deserializing
request"); such inputs are recognised locally and only required not to harm the node.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
import pytest
from brandex_fuzz import count, fuzz, mutated_bytes
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))

from google.protobuf.message import DecodeError
from harness import Federation, wait_until

from exchange import pki
from exchange._proto.brandex.v1 import services_pb2

pytestmark = pytest.mark.e2e

BAD = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)

_SPECIAL = [
    "",
    '"',
    '""',
    "330000",
    "340000",
    "999999",
    "yrd/330000",
    "yrd/340000",
    "other/330000",
    "yrd/",
    "宋河",
    "NEAR(a b)",
    "a*",
    "*",
    "{brand} : x",
    "^x",
    "x AND",
    "NOT",
    "%",
    "_",
    "\\",
    "valid",
    "2024-01-01",
    "2024-13-01",
    "\x00",
    "\u2028",
    "r1",
]
_VALUES = ["330000", "340000", "i340000", "999999", "valid", "svalid", "宋河", "r1", ""]
_SYNTAX = ['"', '" OR "', '" NOT "', '"*', '" AND "', "'", '"" ', ") OR (", ":"]
#: A plausible value with FTS5 / SQL syntax spliced in (the injection attempts).
_spliced = st.builds(
    lambda a, op, b: a + op + b,
    st.sampled_from(_VALUES),
    st.sampled_from(_SYNTAX),
    st.sampled_from(_VALUES),
)
_strings = st.one_of(
    st.sampled_from(_SPECIAL),
    _spliced,
    st.text(max_size=40),
    st.text(alphabet='"*^:(){}+-_%\\ ORNADTE宋河', max_size=30),
    st.integers(0, 3000).map(lambda n: "x" * n),
)
_u32 = st.one_of(st.integers(0, 50), st.sampled_from([2**31 - 1, 2**32 - 1]))
_u64 = st.one_of(st.integers(0, 60), st.sampled_from([2**32, 2**63 - 1, 2**64 - 1]))
_i32 = st.one_of(st.integers(-2, 50), st.sampled_from([-(2**31), 2**31 - 1]))
_ref = st.builds(services_pb2.RecordRef, issuer=_strings, record_id=_strings)


def _one_hostile(cls, benign: dict, hostile: dict):
    """Benign values everywhere but one field: errors behind the checks are not masked
    by an earlier refusal of another field."""

    @st.composite
    def build(draw):
        fields = {k: draw(v) for k, v in benign.items()}
        name = draw(st.sampled_from(sorted(hostile)))
        fields[name] = draw(hostile[name])
        return cls(**fields)

    return build()


_search_benign = {
    "text": st.sampled_from(["", "宋河", "河", "a"]),
    "region": st.sampled_from(["", "330000", "340000", "330100"]),
    "issuer": st.sampled_from(["", "330000", "340000"]),
    "kind": st.sampled_from([0, 1, 2]),
    "status": st.sampled_from(["", "valid", "revoked"]),
    "limit": st.sampled_from([0, 5, 100]),
}
_search_hostile = {
    "text": _strings,
    "region": _strings,
    "issuer": _strings,
    "kind": _i32,
    "nice_class": _i32,
    "status": _strings,
    "valid_on": _strings,
    "uscc": _strings,
    "enterprise": _strings,
    "limit": _u32,
    "offset": _u32,
    "today": _strings,
}

REQUESTS = {
    ("RegistryService", "SearchOneField"): _one_hostile(
        services_pb2.SearchRequest, _search_benign, _search_hostile
    ),
    ("RegistryService", "Search"): st.builds(
        services_pb2.SearchRequest,
        text=_strings,
        region=_strings,
        issuer=_strings,
        kind=_i32,
        nice_class=_i32,
        status=_strings,
        valid_on=_strings,
        uscc=_strings,
        enterprise=_strings,
        limit=_u32,
        offset=_u32,
        today=_strings,
    ),
    ("RegistryService", "GetRecord"): st.builds(
        services_pb2.GetRecordRequest, issuer=_strings, record_id=_strings, today=_strings
    ),
    ("RegistryService", "Check"): st.one_of(
        st.builds(services_pb2.CheckRequest, uscc=_strings, region=_strings, on=_strings),
        st.builds(services_pb2.CheckRequest, brand=_strings, region=_strings, on=_strings),
        st.builds(services_pb2.CheckRequest, record=_ref, region=_strings, on=_strings),
        st.builds(services_pb2.CheckRequest, region=_strings),
    ),
    ("RegistryService", "ListCases"): st.builds(
        services_pb2.ListCasesRequest,
        brand=_strings,
        region=_strings,
        open_only=st.booleans(),
        record=st.one_of(st.none(), _ref),
    ),
    ("RegistryService", "ListAgreements"): st.just(services_pb2.ListAgreementsRequest()),
    ("LogService", "GetCheckpoint"): st.builds(services_pb2.GetCheckpointRequest, origin=_strings),
    ("LogService", "GetConsistencyProof"): st.builds(
        services_pb2.ConsistencyRequest, origin=_strings, size1=_u64, size2=_u64
    ),
    ("LogService", "GetNodeStatus"): st.just(services_pb2.NodeStatusRequest()),
    ("LogService", "ListOrigins"): st.just(services_pb2.ListOriginsRequest()),
    ("LogService", "GetEntries"): st.builds(
        services_pb2.GetEntriesRequest, origin=_strings, start=_u64, end=_u64, batch_size=_u32
    ),
    ("AuditService", "GetInclusionProof"): st.builds(
        services_pb2.InclusionRequest, origin=_strings, index=_u64, size=_u64
    ),
    ("AuditService", "GetBundle"): st.builds(services_pb2.BundleRequest, record=_ref),
    ("WitnessService", "AddCheckpoint"): st.builds(
        services_pb2.AddCheckpointRequest,
        old_size=_u64,
        consistency_proof=st.lists(st.binary(max_size=40), max_size=4),
        checkpoint=st.one_of(
            _strings,
            st.sampled_from(["yrd/340000\n6\n" + "A" * 43 + "=\n\n— yrd/340000 AAAA\n"]),
        ),
    ),
}
STREAMING = {"GetEntries"}
# The registry RPCs carry the most free-form fields: drawn more often.
CALLS = sorted(REQUESTS) + [("RegistryService", m) for m in ("SearchOneField",) * 4 + ("Check",)]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("fuzz-requests")
    certs = root / "certs"
    pki.init_federation(certs, "yrd", pki.DEMO_MEMBERS)
    fed = Federation.create(
        root / "fed",
        {"zhejiang": "330000", "anhui": "340000"},
        {"zhejiang": ["anhui"]},
        certs=certs,
        sync_interval=0.5,
    )
    fed.start_all()
    fed.issue("zhejiang", 5)
    fed.issue("anhui", 5)  # mirrored into Zhejiang: rows an injected filter could leak
    wait_until(lambda: fed.sizes("zhejiang").get("yrd/340000") == 6, what="anhui mirrored")
    ch = fed.channel("zhejiang")
    yield fed, ch
    ch.close()
    fed.stop_all()


def _call(
    ch: grpc.Channel, service: str, method: str, payload: bytes
) -> tuple[grpc.StatusCode, bytes]:
    method = method.removesuffix("OneField")
    path = f"/brandex.v1.{service}/{method}"
    try:
        if method in STREAMING:
            for _ in ch.unary_stream(path)(payload, timeout=60):
                pass
            return grpc.StatusCode.OK, b""
        return grpc.StatusCode.OK, ch.unary_unary(path)(payload, timeout=60)
    except grpc.RpcError as exc:
        return exc.code(), b""


def _alive(fed: Federation) -> None:
    assert fed.procs["zhejiang"].poll() is None, fed.log_text("zhejiang")[-3000:]


@fuzz(weight=2.0)
@given(data=st.data())
def test_fuzz_typed_requests_never_internal(node, data) -> None:
    _, ch = node
    service, method = data.draw(st.sampled_from(CALLS))
    req = data.draw(REQUESTS[(service, method)])
    count("rpc typed requests")
    code, answer = _call(ch, service, method, req.SerializeToString())
    assert code not in BAD, (service, method, req, code)
    if method.startswith("Search") and code == grpc.StatusCode.OK and req.issuer:
        # A filter may only narrow: no injected OR can widen it to another issuer.
        found = services_pb2.SearchResponse.FromString(answer).records
        assert {v.issuer for v in found} <= {req.issuer}, (req, found)


@fuzz(weight=0.5)
@given(data=st.data())
def test_fuzz_mutated_request_bytes_never_internal(node, data) -> None:
    fed, ch = node
    service, method = data.draw(st.sampled_from(CALLS))
    req = data.draw(REQUESTS[(service, method)])
    payload = data.draw(mutated_bytes([req.SerializeToString() or b"\x08\x01"]))
    count("rpc mutated request bytes")
    code, _ = _call(ch, service, method, payload)
    try:
        type(req).FromString(payload)
    except DecodeError:
        # gRPC's deserializer refuses it before any handler runs; the node must live on.
        _alive(fed)
        return
    assert code not in BAD, (service, method, payload, code)
