"""A peer that serves invalid data is backed off from, and node status says so."""

from __future__ import annotations

from harness import brandex, wait_until
from hostile import HostilePeer, ScriptedLog, flip_payload_byte

ZJ = "yrd/330000"


def test_a_peer_serving_invalid_entries_is_backed_off(federation_factory, shared_certs) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"}, {"zhejiang": []}, sync_interval=2.0
    )
    with HostilePeer(shared_certs, "shanghai") as evil:
        fed.add_peer("anhui", evil.address, "310000")
        fed.start_all()
        fed.issue("zhejiang", 5)
        envs, checkpoint = fed.served_log("zhejiang")
        evil.serve(ZJ, ScriptedLog(checkpoint, [*envs[:3], flip_payload_byte(envs[3]), *envs[4:]]))

        def backed_off() -> bool:
            peer = next(p for p in fed.status("anhui").peers if p.address == evil.address)
            return bool(peer.backoff_until) and "entry 3" in peer.last_error

        wait_until(backed_off, what="anhui to back off from the peer serving altered bytes")
        # The pause doubles while the peer keeps serving the same bytes: the CLI,
        # a second or so to start, sees one of them.
        wait_until(
            lambda: (
                "backing off until"
                in brandex("node", "status", config=fed.configs["anhui"], expect=0).stdout
            ),
            what="node status to say it backs off",
        )
        assert ZJ not in fed.sizes("anhui")  # nothing of the altered log was stored
