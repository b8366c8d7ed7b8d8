"""The operator's CLI against real nodes: issue, status, checkpoint, proof, vkeys."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import grpc
import harness
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from harness import wait_until

from exchange.core import merkle
from exchange.core.checkpoint import open_checkpoint
from exchange.core.cosignature import parse_cosignature_vkey
from exchange.core.dsse import parse_envelope
from exchange.core.note import parse_note, parse_vkey, verify_note
from exchange.core.tlogproof import parse_tlog_proof, verify_tlog_proof
from exchange.node.config import load_config

pytestmark = pytest.mark.e2e

REGIONS = {"zhejiang": "330000", "anhui": "340000", "luyi": "411628"}
TOPOLOGY = {"zhejiang": ["anhui"], "anhui": ["zhejiang", "luyi"], "luyi": ["anhui"]}


# Every command here must succeed unless the test says otherwise.
brandex = functools.partial(harness.brandex, expect=0)


@pytest.fixture
def fed(federation_factory):
    f = federation_factory(REGIONS, TOPOLOGY)
    f.start_all()
    return f


ISSUE_ARGS = [
    "issue",
    "--record-id",
    "zj-2026-0001",
    "--kind",
    "PROVINCIAL_FAMOUS_BRAND_PRODUCT",
    "--sector",
    "AGRICULTURAL",
    "--brand",
    "西湖",
    "--product",
    "龙井茶",
    "--enterprise",
    "杭州西湖茶业有限公司",
    "--uscc",
    "91330106MA2B00001X",
    "--enterprise-region",
    "330106",
    "--certificate",
    "ZJMP-2026-0001",
    "--announcement",
    "浙市监〔2026〕1号",
    "--recognised-on",
    "2026-01-15",
    "--valid-from",
    "2026-01-15",
    "--valid-until",
    "2028-12-31",
]


def _uscc() -> str:
    from exchange.core.uscc import check_char

    body = "91330106MA2B00001"
    return body + check_char(body)


def test_issue_then_prove_it_from_a_relay(fed) -> None:
    args = list(ISSUE_ARGS)
    args[args.index("--uscc") + 1] = _uscc()
    out = json.loads(brandex(*args, "--format", "json", config=fed.configs["zhejiang"]).stdout)
    assert out == {"result": "issued", "origin": "yrd/330000", "index": 1}
    again = json.loads(brandex(*args, "--format", "json", config=fed.configs["zhejiang"]).stdout)
    assert again["result"] == "already issued" and again["index"] == 1

    # Luyi has no link to Zhejiang: the entry arrives through Anhui.
    wait_until(lambda: fed.sizes("luyi").get("yrd/330000") == 2, what="relay to luyi")
    luyi = fed.configs["luyi"]
    vkeys = brandex("log", "vkeys", config=luyi).stdout.splitlines()
    log_keys = {v.split("+")[0]: parse_vkey(v) for v in vkeys if "/witness" not in v}
    witness_keys = [parse_cosignature_vkey(v) for v in vkeys if "/witness" in v]
    assert set(log_keys) == {"yrd/330000", "yrd/340000", "yrd/411628"}
    assert len(witness_keys) == 3

    note = brandex("log", "checkpoint", "yrd/330000", config=luyi).stdout
    cp, _ = open_checkpoint(note, log_keys["yrd/330000"])
    assert cp.size == 2
    wait_until(
        lambda: (
            len(
                verify_note(
                    parse_note(brandex("log", "checkpoint", "yrd/330000", config=luyi).stdout),
                    witness_keys,
                )
            )
            >= 2
        ),
        what="cosignatures from anhui and luyi",
    )

    proof = parse_tlog_proof(brandex("log", "proof", "yrd/330000", "1", config=luyi).stdout)
    # The proof is checked against the leaf bytes the issuer wrote, fetched separately.
    from exchange._proto.brandex.v1 import services_pb2

    batch = next(
        iter(
            fed.log_stub("luyi").GetEntries(
                services_pb2.GetEntriesRequest(origin="yrd/330000", start=1, end=2)
            )
        )
    )
    leaf = batch.envelopes[0]
    assert b"zj-2026-0001" in parse_envelope(leaf).payload
    assert verify_tlog_proof(proof, merkle.leaf_hash(leaf), log_keys["yrd/330000"]).size == 2


def test_bad_issue_names_the_field(fed) -> None:
    args = list(ISSUE_ARGS)
    args[args.index("--uscc") + 1] = "91330106MA2B000010"  # wrong check character
    proc = brandex(*args, config=fed.configs["zhejiang"], expect=None)
    assert proc.returncode == 2  # caught before sending (cli/common.EXIT_CODES)
    assert proc.stderr.startswith("error: --uscc: "), proc.stderr


def test_a_member_cannot_issue_on_another_node(fed) -> None:
    args = list(ISSUE_ARGS)
    args[args.index("--uscc") + 1] = _uscc()
    proc = brandex(
        *args, "--node", fed.address("anhui"), config=fed.configs["zhejiang"], expect=None
    )
    assert proc.returncode == 1 and "PERMISSION_DENIED" in proc.stderr


def test_status_shows_origins_and_peers(fed) -> None:
    wait_until(lambda: len(fed.sizes("anhui")) == 3, what="anhui to hold 3 origins")
    out = brandex("node", "status", "--format", "json", config=fed.configs["anhui"]).stdout
    st = json.loads(out)
    assert st["origin"] == "yrd/340000"
    assert {o["origin"] for o in st["origins"]} == {"yrd/330000", "yrd/340000", "yrd/411628"}
    assert {p["region"] for p in st["peers"]} == {"330000", "411628"}
    table = brandex("node", "status", config=fed.configs["anhui"]).stdout
    assert "yrd/330000" in table and "REACHABLE" in table
    # `brandex node status | head -0`: the reader went away; no "Broken pipe" error.
    for fmt in ("table", "json"):
        gone = harness.brandex_into_closed_pipe(
            "node", "status", "--format", fmt, config=fed.configs["anhui"]
        )
        assert (gone.returncode, gone.stderr) == (141, "")


def test_reflection_lists_the_services(fed) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(fed.channel("zhejiang"))
    resp = next(
        iter(
            stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
            )
        )
    )
    names = {s.name for s in resp.list_services_response.service}
    assert {
        "brandex.v1.LogService",
        "brandex.v1.AdminService",
        "brandex.v1.RegistryService",
        "brandex.v1.AuditService",
        "grpc.health.v1.Health",
    } <= names


def test_taken_port_is_a_clear_error(fed) -> None:
    cfg = load_config(fed.configs["zhejiang"])

    def run(config) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "exchange.cli.main", "node", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    # The running node's own config: its database is held (checked first).
    same = run(cfg.path)
    assert same.returncode == 2 and "is in use" in same.stderr
    # Another database, the same port.
    other = cfg.path.with_name("zhejiang-second.toml")
    text = cfg.path.read_text(encoding="utf-8")
    other.write_text(text.replace("zhejiang.db", "zhejiang-second.db"), encoding="utf-8")
    proc = run(other)
    assert proc.returncode == 2
    assert f"cannot listen on {cfg.listen}" in proc.stderr


def test_unreachable_node_is_exit_3(fed, tmp_path) -> None:
    proc = brandex(
        "node", "status", "--node", "127.0.0.1:1", config=fed.configs["anhui"], expect=None
    )
    assert proc.returncode == 3 and "unreachable" in proc.stderr


def test_unknown_certificate_gets_nothing(fed, tmp_path) -> None:
    from exchange import pki

    pki.init_federation(tmp_path / "rogue", "yrd", {"zhejiang": "330000"})
    rogue = pki.member_paths(tmp_path / "rogue", "zhejiang")
    with pytest.raises(grpc.RpcError) as err:
        from exchange._proto.brandex.v1 import services_pb2

        fed.log_stub("zhejiang", cert=rogue.operator_cert, key=rogue.operator_key).ListOrigins(
            services_pb2.ListOriginsRequest(), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
