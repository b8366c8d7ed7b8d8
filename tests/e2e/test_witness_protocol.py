"""C2SP tlog-witness requests between real nodes (WitnessService.AddCheckpoint).

Three founders under a federation document; each origin's witness set is the
other two (a small federation). The origin asks its witnesses after each issue;
the tests below play a hostile or confused caller against the same nodes: a
wrong old size (conflict with the witness's size, and a restarted origin that
forgot its witnesses' sizes recovers), a forged consistency proof, a caller the
document does not admit, a node asked to witness what it does not, and a
witness killed with SIGKILL while it is being asked (its size never goes back).
"""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
from harness import brandex, wait_until

from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.core.note import format_note, parse_note
from exchange.node.witnessing import conflict_size

REGIONS = {"zhejiang": "330000", "anhui": "340000", "jiangsu": "320000", "jiangxi": "360000"}
FOUNDERS = ("anhui", "jiangsu", "zhejiang")
JIANGSU = "yrd/320000"


def _cosigners(fed, name: str, origin: str) -> set[str]:
    note = fed.log_stub(name).GetCheckpoint(
        services_pb2.GetCheckpointRequest(origin=origin), timeout=10
    )
    return {s.name for s in parse_note(note.checkpoint).signatures if s.name != origin}


def _checkpoint(fed, name: str, origin: str) -> tuple[int, str]:
    """(size, issuer-only note) of ``origin`` as node ``name`` holds it."""
    state = fed.log_stub(name).GetCheckpoint(
        services_pb2.GetCheckpointRequest(origin=origin), timeout=10
    )
    note = parse_note(state.checkpoint)
    note.signatures[:] = [s for s in note.signatures if s.name == origin]
    return state.size, format_note(note)


def _witness(fed, name: str, **kw) -> services_pb2_grpc.WitnessServiceStub:
    return services_pb2_grpc.WitnessServiceStub(fed.channel(name, **kw))


def _ask(stub, note: str, old: int, proof=()) -> services_pb2.AddCheckpointResponse:
    return stub.AddCheckpoint(
        services_pb2.AddCheckpointRequest(old_size=old, consistency_proof=proof, checkpoint=note),
        timeout=30,
    )


def _witness_size(stub, note: str, size: int) -> int:
    """The witness's stored size for the note's origin, asked without changing it: with
    old = the note's own size it either cosigns that same root again, or conflicts."""
    try:
        _ask(stub, note, size)
    except grpc.RpcError as exc:
        theirs = conflict_size(exc)
        assert theirs is not None, exc
        return theirs
    return size


def _start_federation(federation_factory, tmp_path: Path):
    certs = tmp_path / "gov-certs"
    fed = federation_factory(REGIONS, {}, sync_interval=2.0, certs=certs)
    v1 = tmp_path / "federation-1.json"
    brandex(
        "federation", "init", "--name", "yrd", "--dir", str(certs),
        *(a for n in FOUNDERS for a in ("--member", f"{n}={fed.address(n)}")),
        "--anchor", str(certs / "anchor.pem"),
        "--threshold", "2", "--quorum", "1", "--days", "200", "--out", str(v1),
        expect=0,
    )  # fmt: skip
    for n in ("zhejiang", "anhui"):
        brandex("federation", "sign", str(v1), "--key", str(certs / n / "governance.key"), expect=0)
    for n in FOUNDERS:
        text = fed.configs[n].read_text()
        fed.configs[n].write_text(f'federation_document = "{v1}"\n' + text)
        fed.start(n, wait=False)
    for n in FOUNDERS:
        fed.wait_ready(n)
    return fed


def test_witness_requests_between_real_nodes(federation_factory, tmp_path: Path) -> None:
    fed = _start_federation(federation_factory, tmp_path)
    witnesses = {"yrd/330000/witness", "yrd/340000/witness"}

    # The origin asks its witness set; its note carries exactly those cosignatures.
    size = fed.issue("jiangsu", 2)
    wait_until(lambda: _cosigners(fed, "jiangsu", JIANGSU) == witnesses, what="both cosign")
    size, note = _checkpoint(fed, "jiangsu", JIANGSU)
    anhui = _witness(fed, "anhui")
    assert _witness_size(anhui, note, size) == size

    # A wrong old size: a conflict carrying the witness's own size, nothing stored.
    try:
        _ask(anhui, note, 1)
        raise AssertionError("a wrong old size was accepted")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.ABORTED
        assert conflict_size(exc) == size
        assert f"latest size is {size}, not 1" in exc.details()
    # old greater than the checkpoint's size: refused as a bad argument.
    try:
        _ask(anhui, note, size + 5)
        raise AssertionError("old > size was accepted")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT

    # A restarted origin forgot its witnesses' sizes: it asks with 0, gets the
    # conflict, retries once with the size given, and is cosigned.
    fed.stop("jiangsu")
    fed.start("jiangsu")
    size2 = fed.issue("jiangsu", 1)
    assert size2 == size + 1
    wait_until(
        lambda: (
            _cosigners(fed, "jiangsu", JIANGSU) == witnesses
            and _checkpoint(fed, "jiangsu", JIANGSU)[0] == size2
        ),
        what="the restarted origin is cosigned again",
    )

    # A node is never asked to witness its own log, nor what its set does not name.
    try:
        _ask(_witness(fed, "jiangsu"), _checkpoint(fed, "jiangsu", JIANGSU)[1], 0)
        raise AssertionError("a node cosigned its own log")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "does not witness yrd/320000" in exc.details()

    # A caller the document does not admit (Jiangxi's certificate, not a member) is refused.
    size2, note2 = _checkpoint(fed, "jiangsu", JIANGSU)
    try:
        _ask(_witness(fed, "anhui", as_="jiangxi"), note2, size2)
        raise AssertionError("a non-member's request was answered")
    except grpc.RpcError as exc:
        assert exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)

    # A forged consistency proof. Anhui is down while Jiangsu issues, and Jiangsu stops
    # before Anhui is back: Anhui's size lags the checkpoint Zhejiang holds.
    fed.stop("anhui")
    size3 = fed.issue("jiangsu", 3)
    wait_until(lambda: fed.sizes("zhejiang").get(JIANGSU) == size3, what="zhejiang mirrors")
    fed.stop("jiangsu")
    fed.start("anhui")
    anhui = _witness(fed, "anhui")
    size3, note3 = _checkpoint(fed, "zhejiang", JIANGSU)
    assert _witness_size(anhui, note2, size2) == size2
    proof = list(
        fed.log_stub("zhejiang")
        .GetConsistencyProof(
            services_pb2.ConsistencyRequest(origin=JIANGSU, size1=size2, size2=size3), timeout=10
        )
        .proof
    )
    forged = [bytes(b ^ 1 for b in proof[0]), *proof[1:]]
    try:
        _ask(anhui, note3, size2, forged)
        raise AssertionError("a forged proof was accepted")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "consistency proof" in exc.details()
    assert _witness_size(anhui, note2, size2) == size2  # nothing moved
    # Tampered note (the signature no longer verifies): refused, nothing moved.
    tampered = note3.replace(str(size3), str(size3 + 1), 1)
    try:
        _ask(anhui, tampered, size2, proof)
        raise AssertionError("a tampered note was cosigned")
    except grpc.RpcError as exc:
        assert exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT)
    # The genuine proof is cosigned, by anyone who relays it (the note is the authority).
    line = _ask(anhui, note3, size2, proof).cosignature
    assert line.startswith("— yrd/340000/witness ")
    assert _witness_size(anhui, note3, size3) == size3

    # kill -9 of the witness while it is being asked: its size never goes back.
    fed.start("jiangsu")
    stop = threading.Event()

    def keep_issuing() -> None:
        while not stop.is_set():
            try:
                fed.issue("jiangsu", 1)
            except grpc.RpcError:
                return

    t = threading.Thread(target=keep_issuing)
    t.start()
    try:
        wait_until(
            lambda: fed.sizes("jiangsu")[JIANGSU] >= size3 + 3,
            what="jiangsu issuing while anhui is asked",
        )
        before = _witness_size(anhui, note3, size3)
        fed.kill("anhui")
    finally:
        stop.set()
        t.join(timeout=120)
    fed.start("anhui")
    anhui = _witness(fed, "anhui")
    after = _witness_size(anhui, note3, size3)
    assert after >= before >= size3
    # ... and the origin goes on: anhui is asked again and cosigns the newest checkpoint.
    final = fed.issue("jiangsu", 1)
    wait_until(
        lambda: (
            _checkpoint(fed, "jiangsu", JIANGSU)[0] == final
            and _cosigners(fed, "jiangsu", JIANGSU) == witnesses
        ),
        what="cosigned after the witness's crash",
    )
    last_size, last_note = _checkpoint(fed, "jiangsu", JIANGSU)
    assert _witness_size(anhui, last_note, last_size) == last_size
