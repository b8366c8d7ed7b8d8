"""``make demo`` and ``make up``: the seven-node federation, on this machine.

The demo drives the nodes only through their public RPCs, with each agency's
operator certificate, exactly as an agency's own tools would: it never reaches
into a node's database.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core.bundle import verify_bundle
from exchange.core.origin import parse_origin
from exchange.core.regions import region_label
from exchange.demo.console import DEMO_PASSWORD, DEMO_USER, start_console
from exchange.demo.dataset import FEATURED, demo_records
from exchange.demo.federation import (
    METRICS_OFFSET,
    demo_members,
    ensure_pki,
    node_command,
    run_brandex,
    write_configs,
)
from exchange.demo.governance import JIANGXI, make_genesis, tell_governance_story
from exchange.demo.lock import DemoLock, database_in_use
from exchange.demo.trust import tell_trust_story
from exchange.node.bundles import decode_entry, parse_entry
from exchange.node.config import NodeConfig, load_config
from exchange.node.identity import channel_credentials, load_anchors, open_channel
from exchange.ports import port_free

__all__ = ["DemoFederation", "main"]

ROOT = Path(__file__).resolve().parents[2]
PROVINCIAL = [entries_pb2.PROVINCIAL_FAMOUS_BRAND_PRODUCT]
AGREEMENTS = [
    # (agreement, title, effective from, members)
    (
        "yrd-2003",
        "沪苏浙名牌产品互认 (Shanghai, 2003-08-31)",
        "2003-08-31",
        ["shanghai", "jiangsu", "zhejiang"],
    ),
    (
        "yrd-2006",
        "长三角名牌产品互认扩展 (2006-08-29)",
        "2006-08-29",
        ["shanghai", "jiangsu", "zhejiang", "anhui"],
    ),
]


def say(text: str = "") -> None:
    print(text, flush=True)


class DemoFederation:
    """The seven demo nodes as child processes, stopped by PID."""

    def __init__(self, state: Path, *, root: Path = ROOT, lock: DemoLock | None = None) -> None:
        self.state = state
        self.root = root
        self.lock = lock
        self.members = demo_members()
        self.configs: dict[str, Path] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self._channels: dict[str, grpc.Channel] = {}

    @property
    def config_dir(self) -> Path:
        """Generated configs live with the state they point at, not in the committed nodes/."""
        return self.state / "nodes"

    def shown(self, path: Path) -> str:
        return str(path.relative_to(self.root) if path.is_relative_to(self.root) else path)

    def prepare(self) -> None:
        # Metrics on fixed ports too (METRICS_OFFSET): a port picked free at run time comes
        # from the ephemeral range, and one node's outgoing connection once took it first.
        self.members = [replace(m, metrics_port=m.port + METRICS_OFFSET) for m in self.members]
        certs = self.root / "certs" / "yrd"
        enrolled = ensure_pki(certs, self.members)
        if enrolled:
            say(
                f"PKI: anchor {self.shown(certs / 'anchor.pem')}; each agency made its own keys"
                " and request.json, the anchor checked and signed it (response.json), the"
                " agency installed the certificates: " + ", ".join(enrolled)
            )
        # Version 1 of the federation document, signed by the seven founders; each
        # node is installed with it and takes later versions through the chain.
        genesis = self.state / "federation" / "federation-1.json"
        if not genesis.exists():
            make_genesis(certs, self.members, genesis)
        self.configs = write_configs(
            self.members,
            config_dir=self.config_dir,
            certs_dir=certs,
            db_dir=self.state,
            sync_interval=5.0,
            federation_document=genesis,
        )

    def check_databases(self) -> None:
        """Refuse if any process (a node started by hand, say) still has a database open."""
        busy = [p.name for p in sorted(self.state.glob("*.db")) if database_in_use(p)]
        if busy:
            raise SystemExit(
                f"error: database(s) in {self.state} are open in another process: "
                + ", ".join(busy)
                + "; nothing was changed (stop the node(s) using them, or give another --state)"
            )

    def config(self, name: str) -> NodeConfig:
        return load_config(self.configs[name])

    def check_ports(self) -> None:
        ports = [(m.name, p) for m in self.members for p in (m.port, m.port + METRICS_OFFSET)]
        ports.append((JIANGXI.name, JIANGXI.port))
        taken = [f"{name} 127.0.0.1:{p}" for name, p in ports if not port_free("127.0.0.1", p)]
        if taken:
            raise SystemExit(
                "error: demo port(s) in use: "
                + ", ".join(taken)
                + " (another demo running? stop it, or free the ports)"
            )

    def _spawn(self, name: str) -> None:
        """Start one node process (logging to <state>/logs/<name>.log)."""
        logs = self.state / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen(
            # Text logs: the demo's logs are read by people (nodes default to JSON lines).
            node_command(self.configs[name], "--log-format", "text"),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,  # Ctrl-C reaches us; we stop the nodes
        )
        if self.lock is not None:  # so a later demo sees them even if we are killed
            self.lock.record_nodes({n: p.pid for n, p in self.procs.items()})

    def start(self) -> None:
        for m in self.members:
            self._spawn(m.name)
        for m in self.members:
            self.wait_ready(m.name)

    def channel(self, name: str) -> grpc.Channel:
        if name not in self._channels:
            cfg = self.config(name)
            pem, _ = load_anchors(cfg.anchors)
            creds = channel_credentials(cfg.operator_cert, cfg.operator_key, pem)
            self._channels[name] = open_channel(cfg.listen, creds)
        return self._channels[name]

    def wait_ready(self, name: str, timeout: float = 120) -> None:
        stub = health_pb2_grpc.HealthStub(self.channel(name))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            proc = self.procs[name]
            if proc.poll() is not None:
                log = (self.state / "logs" / f"{name}.log").read_text(errors="replace")
                raise SystemExit(f"error: node {name} exited ({proc.returncode}):\n{log[-2000:]}")
            try:
                r = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"error: node {name} did not become ready in {timeout}s")

    def stop(self) -> None:
        for ch in self._channels.values():
            ch.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                say(f"node {name} did not stop in 30 s; killing it")
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def stop_one(self, name: str) -> None:
        """Stop one node (SIGTERM, by PID) and wait for it."""
        proc = self.procs[name]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        ch = self._channels.pop(name, None)
        if ch is not None:
            ch.close()

    def start_one(self, name: str) -> None:
        """Start one node again with its config and wait until it serves."""
        self._spawn(name)
        self.wait_ready(name)

    # --------------------------------------------------------------- helpers

    def admin(self, name: str) -> services_pb2_grpc.AdminServiceStub:
        return services_pb2_grpc.AdminServiceStub(self.channel(name))

    def registry(self, name: str) -> services_pb2_grpc.RegistryServiceStub:
        return services_pb2_grpc.RegistryServiceStub(self.channel(name))

    def log(self, name: str) -> services_pb2_grpc.LogServiceStub:
        return services_pb2_grpc.LogServiceStub(self.channel(name))

    def sizes(self) -> dict[str, dict[str, int]]:
        out = {}
        for m in self.members:
            resp = self.log(m.name).ListOrigins(services_pb2.ListOriginsRequest(), timeout=10)
            out[m.name] = {o.origin: o.size for o in resp.origins}
        return out


def metrics_url(fed: DemoFederation, name: str) -> str:
    """Where ``name`` serves its Prometheus metrics (from its config)."""
    return f"http://{fed.config(name).metrics_listen}/metrics"


def show_metrics(fed: DemoFederation, name: str) -> None:
    """Print where one node's metrics are served, and prove the URL answers."""
    url = metrics_url(fed, name)
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode("utf-8", "replace")
    series = [x for x in text.splitlines() if x.startswith("brandex_origin_entries{")]
    say(f"metrics: {name} serves Prometheus metrics at {url}")
    say(f"  (answers HTTP {resp.status}: {len(series)} brandex_origin_entries series;")
    say(f"   health at {url.removesuffix('/metrics')}/healthz)")


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = cond()
            if value:
                return value
        except grpc.RpcError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"error: timed out after {timeout}s waiting for {what}")


def load_data(fed: DemoFederation) -> dict[str, int]:
    """Each agency issues its own records through its node's admin RPC."""
    counts = {}
    for name, records in demo_records().items():
        stub = fed.admin(name)
        added = 0
        for i in range(0, len(records), 1000):
            chunk = [entries_pb2.Recognition(**r) for r in records[i : i + 1000]]
            resp = stub.IssueBatch(services_pb2.IssueBatchRequest(records=chunk), timeout=300)
            added += resp.added
        counts[name] = added
    for agreement, title, start, members in AGREEMENTS:
        for name in members:
            region = fed.config(name).region
            fed.admin(name).Accede(
                entries_pb2.Accession(
                    agreement_id=agreement,
                    title=title,
                    covered_kinds=PROVINCIAL,
                    effective_from=start,
                    region=region,
                ),
                timeout=60,
            )
    return counts


def print_check(
    fed: DemoFederation, node: str, issuer: str, record_id: str, region: str, on: str = ""
) -> services_pb2.CheckResult:
    resp = fed.registry(node).Check(
        services_pb2.CheckRequest(
            record=services_pb2.RecordRef(issuer=issuer, record_id=record_id), region=region, on=on
        ),
        timeout=30,
    )
    r = resp.results[0]
    verdict = "RECOGNISED" if r.recognised else "NOT RECOGNISED"
    say(
        f"  {node} node: {r.brand_name} ({issuer}/{record_id}) in {region_label(region)}: {verdict}"
    )
    for reason in r.reasons:
        where = ", ".join(f"{p.origin}#{p.index}" for p in reason.entries)
        say(f"    - [{reason.code}] {reason.text}" + (f"  (entries {where})" if where else ""))
    return r


def _command(verb: str, state: Path) -> str:
    return shlex.join(["python", "-m", "exchange.demo", verb, "--state", str(state)])


def run_demo(state: Path) -> int:
    with DemoLock(state, _command("run", state)) as lock:
        return _run_demo(state, lock)


def _run_demo(state: Path, lock: DemoLock) -> int:
    fed = DemoFederation(state, lock=lock)
    t0 = time.monotonic()
    say("== brandex demo: the Yangtze River Delta federation, seven nodes on loopback ==")
    # Everything that could refuse comes before anything is deleted or written.
    fed.check_databases()
    fed.check_ports()
    for p in state.glob("*.db*"):
        p.unlink()
    for d in ("logs", "federation", "agencies"):
        shutil.rmtree(state / d, ignore_errors=True)
    (state / "nodes" / "jiangxi.toml").unlink(missing_ok=True)
    fed.prepare()
    say(
        f"PKI: certs/yrd (anchor certs/yrd/anchor.pem); configs:"
        f" {fed.shown(fed.config_dir)}/*.toml; state: {state}"
    )
    try:
        fed.start()
        say("nodes ready: " + ", ".join(f"{m.name} {m.region} :{m.port}" for m in fed.members))
        show_metrics(fed, "zhejiang")
        say("\n-- each agency issues its decisions through its own node (AdminService) --")
        counts = load_data(fed)
        for name, n in counts.items():
            say(f"  {name:9s} {fed.config(name).region}: {n} recognitions issued")
        say("  accessions: yrd-2003 (Shanghai, Jiangsu, Zhejiang), yrd-2006 (+ Anhui)")
        say(
            "\n-- sync: every node mirrors every log (each node peers with a few overlay "
            "neighbours from the federation document; entries are relayed hop by hop) --"
        )
        target = {f"yrd/{m.region}": None for m in fed.members}

        def converged() -> bool:
            sizes = list(fed.sizes().values())
            return set(sizes[0]) == set(target) and all(s == sizes[0] for s in sizes)

        wait_for(converged, 180, "all nodes to converge")
        console = start_console(fed)
        sizes = fed.sizes()
        origins = sorted(target)
        say("  node      " + " ".join(f"{o:>11s}" for o in origins))
        for m in fed.members:
            say(f"  {m.name:9s} " + " ".join(f"{sizes[m.name][o]:>11d}" for o in origins))
        say(f"  converged after {time.monotonic() - t0:.1f}s since start")

        zj, wz, sh = FEATURED["zhejiang_brand"], FEATURED["wenzhou_brand"], FEATURED["songhe"]
        say("\n-- is it recognised here? --")
        print_check(fed, "anhui", zj["issuer"], zj["record_id"], "340000")
        print_check(fed, "anhui", zj["issuer"], zj["record_id"], "340100")
        print_check(fed, "henan", zj["issuer"], zj["record_id"], "410000")
        print_check(fed, "jiangsu", wz["issuer"], wz["record_id"], "320000")
        print_check(fed, "luyi", sh["issuer"], sh["record_id"], "411628")

        say("\n-- Zhejiang revokes its brand; how fast does Anhui know? --")
        today = datetime.now(UTC).date().isoformat()
        before = time.monotonic()
        fed.admin("zhejiang").ChangeStatus(
            entries_pb2.StatusChange(
                record_id=zj["record_id"],
                new_status=entries_pb2.REVOKED,
                reason=entries_pb2.SPOT_CHECK_FAILURE,
                reason_text="省级监督抽查不合格",
                effective_on=today,
                announcement_no="浙市监〔2026〕88号",
            ),
            timeout=30,
        )

        def revoked_in_anhui() -> bool:
            r = (
                fed.registry("anhui")
                .Check(
                    services_pb2.CheckRequest(
                        record=services_pb2.RecordRef(
                            issuer=zj["issuer"], record_id=zj["record_id"]
                        ),
                        region="340000",
                    ),
                    timeout=5,
                )
                .results[0]
            )
            return not r.recognised and r.reasons[0].code == "revoked"

        wait_for(revoked_in_anhui, 30, "Anhui to see the revocation")
        elapsed = time.monotonic() - before
        say(
            f"  Anhui answers 'revoked' {elapsed * 1000:.0f} ms after Zhejiang's revocation "
            f"({'within' if elapsed < 1 else 'NOT within'} a second; poll interval 5 s)"
        )
        print_check(fed, "anhui", zj["issuer"], zj["record_id"], "340000")

        tell_trust_story(fed, ROOT, say, wait_for)
        tell_governance_story(fed, ROOT, say, wait_for)

        say("\n-- auditors: a bundle verified offline against the trust anchors --")
        export_bundle(fed, state, zj["issuer"], zj["record_id"])
        write_artifacts(fed, state)
        say(f"\nstate left in {state}: databases, bundle, checkpoint-<region>.txt, vkeys.txt")
        say_console(console, after="the demo stops it now; `make up` keeps it running")
    finally:
        fed.stop()
        say("all nodes stopped")
    say(f"demo finished in {time.monotonic() - t0:.1f}s")
    return 0


def _brandex(*args: str) -> subprocess.CompletedProcess:
    return run_brandex(ROOT, *args)


def export_bundle(fed: DemoFederation, state: Path, issuer: str, record_id: str) -> None:
    """Export from Anhui (a mirror) and verify with nothing but the anchors."""
    path = state / f"bundle-{issuer}-{record_id}.json"
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    export = [
        "audit",
        "bundle",
        record_id,
        "--issuer",
        issuer,
        "--config",
        str(fed.configs["anhui"]),
        "-o",
        str(path),
    ]
    verify = [
        "audit",
        "verify",
        str(path),
        "--anchors",
        "certs/yrd/anchor.pem",
        "--min-cosignatures",
        "2",
    ]
    say(
        f"  $ brandex audit bundle {record_id} --issuer {issuer}"
        f" --config {fed.shown(fed.configs['anhui'])}"
        f" -o {shown}"
    )

    # Witnesses cosign when their origin asks (C2SP tlog-witness), after each new
    # checkpoint and again after a witness's key rotates: wait until the checkpoints
    # Anhui holds carry two cosignatures by the witnesses' current keys. The wait asks
    # Anhui for the bundle and verifies it in this process; the commands shown run once.
    _, anchors = load_anchors(fed.config("anhui").anchors)
    audit = services_pb2_grpc.AuditServiceStub(fed.channel("anhui"))
    ref = services_pb2.RecordRef(issuer=issuer, record_id=record_id)

    def verifies(doc: object) -> bool:
        now = datetime.now(UTC)
        report = verify_bundle(
            doc,
            anchors,
            min_cosignatures=2,
            on=now.date(),
            region=None,
            now=now,
            decode_entry=decode_entry,
            parse_entry=parse_entry,
        )
        return report.valid

    def exported_with_quorum() -> bool:
        # A member may publish a newer checkpoint, not yet cosigned, between two reads:
        # the exported file itself must verify, so a stale answer means one more round.
        text = audit.GetBundle(services_pb2.BundleRequest(record=ref), timeout=10).bundle_json
        if not verifies(json.loads(text)):
            return False
        done = _brandex(*export)
        if done.returncode != 0:
            raise SystemExit(f"error: bundle export failed: {done.stderr}")
        return verifies(json.loads(path.read_text(encoding="utf-8")))

    wait_for(
        exported_with_quorum, 120, "two current-key cosignatures on every checkpoint in the bundle"
    )
    say(f"  $ brandex audit verify {shown} --anchors certs/yrd/anchor.pem --min-cosignatures 2")
    done = _brandex(*verify)
    lines = done.stdout.splitlines()
    for line in lines:
        if f"record {fed.config('zhejiang').federation}/" in line or line.startswith(
            ("VALID", "INVALID")
        ):
            say(f"    {line.strip()}")
    say(f"    ({len(lines)} lines in all: every related entry is checked the same way)")
    if done.returncode != 0:
        raise SystemExit(f"error: the exported bundle did not verify: {done.stderr}")
    tampered = state / "bundle-tampered.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    leaf = json.loads(doc["leaf"])
    i = len(leaf["payload"]) // 2  # flip one base64 character of the signed payload
    flipped = "A" if leaf["payload"][i] != "A" else "B"
    leaf["payload"] = leaf["payload"][:i] + flipped + leaf["payload"][i + 1 :]
    doc["leaf"] = json.dumps(leaf, separators=(",", ":"), sort_keys=True)
    tampered.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    done = _brandex("audit", "verify", str(tampered), "--anchors", "certs/yrd/anchor.pem")
    first_failure = next(
        (ln for ln in done.stdout.splitlines() if "FAIL" in ln.upper()),
        done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "",
    )
    say(f"  a copy with one byte of the signed payload changed: exit {done.returncode}:")
    say(f"    {' '.join(first_failure.split())}")
    if done.returncode != 1:
        raise SystemExit("error: a tampered bundle was not rejected")


def write_artifacts(fed: DemoFederation, state: Path) -> None:
    stub = fed.log("anhui")
    for o in stub.ListOrigins(services_pb2.ListOriginsRequest(), timeout=10).origins:
        region = parse_origin(o.origin).region
        (state / f"checkpoint-{region}.txt").write_text(o.checkpoint, encoding="utf-8")
    from exchange.cli.log import federation_keys
    from exchange.client import NodeClient
    from exchange.core.cosignature import CosignatureVerifier
    from exchange.core.ed25519 import VerifyKey
    from exchange.core.note import Ed25519NoteVerifier
    from exchange.core.origin import witness_name

    client = NodeClient("anhui", fed.channel("anhui"), fed.config("anhui"))
    lines = []
    for origin, public in federation_keys(client):
        lines.append(Ed25519NoteVerifier(origin, VerifyKey(public)).vkey_string())
        lines.append(CosignatureVerifier(witness_name(origin), VerifyKey(public)).vkey_string())
    (state / "vkeys.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    say(f"  wrote checkpoint-<region>.txt for {len(lines) // 2} origins and vkeys.txt")


def say_console(url: str, after: str) -> None:
    """The last words: where the staff console is, and the demo account to log in with."""
    say("\n-- the staff console (Anhui's node, read-only staff certificate) --")
    say(f"  console: {url}/   user: {DEMO_USER}   password: {DEMO_PASSWORD}")
    say(f"  ({after}; docs/console.md is the staff guide)")


def run_up(state: Path) -> int:
    with DemoLock(state, _command("up", state)) as lock:
        return _run_up(state, lock)


def _run_up(state: Path, lock: DemoLock) -> int:
    fed = DemoFederation(state, lock=lock)
    fed.check_databases()
    fed.check_ports()
    fed.prepare()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        fed.start()
        say("federation ready: " + ", ".join(f"{m.name}=127.0.0.1:{m.port}" for m in fed.members))
        show_metrics(fed, "zhejiang")
        say_console(start_console(fed), after="runs until Ctrl-C")
        anhui = fed.shown(fed.configs["anhui"])
        say(f"try: .venv/bin/brandex node status --config {anhui}   (Ctrl-C stops)")
        while not stop.is_set():
            for name, proc in fed.procs.items():
                if proc.poll() is not None:
                    say(f"{name} exited with {proc.returncode}; stopping the federation")
                    stop.set()
            stop.wait(1.0)
    finally:
        fed.stop()
        say("all nodes stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m exchange.demo")
    parser.add_argument("command", choices=["run", "up", "configs"])
    parser.add_argument("--state", type=Path, default=ROOT / "var" / "demo")
    args = parser.parse_args(argv)
    state = args.state if args.state.is_absolute() else Path.cwd() / args.state
    if args.command == "configs":
        write_example_configs()
        return 0
    return run_demo(state) if args.command == "run" else run_up(state)


def write_example_configs(root: Path = ROOT) -> dict[str, Path]:
    """The committed examples in nodes/: the demo's configs for the default state var/demo.

    They work with ``make up`` (same certificates, ports and databases), and
    the docs use them; the demo itself writes and reads ``<state>/nodes/``.
    """
    return write_configs(
        demo_members(),
        config_dir=root / "nodes",
        certs_dir=root / "certs" / "yrd",
        db_dir=root / "var" / "demo",
        sync_interval=5.0,
    )


if __name__ == "__main__":
    sys.exit(main())
