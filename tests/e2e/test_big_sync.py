"""A sync too big to index in its commit: the log first, the registry soon after.

More than 10,000 new entries take the staged path and leave the registry
tables to the node's indexer thread. Real node processes: the receiver must
end with the issuer's exact log and every record searchable, and say so in
``node status``.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from harness import wait_until

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.core.dsse import parse_envelope

pytestmark = pytest.mark.e2e

ZJ = "yrd/330000"


def test_a_big_sync_is_committed_then_indexed(federation_factory) -> None:
    fed = federation_factory({"zhejiang": "330000", "anhui": "340000"}, {"anhui": ["zhejiang"]})
    fed.start("zhejiang")
    size = fed.issue("zhejiang", 10_500, chunk=3_500)
    envelopes, _ = fed.served_log("zhejiang")
    last = entries_pb2.Entry.FromString(parse_envelope(envelopes[-1]).payload).recognition

    fed.start("anhui")
    wait_until(lambda: fed.heads("anhui").get(ZJ) == fed.heads("zhejiang")[ZJ], what="sync")

    def indexed() -> bool:
        origin = next(o for o in fed.status("anhui").origins if o.origin == ZJ)
        return origin.indexed == origin.size == size

    wait_until(indexed, what="the registry index")

    # The indexer thread did it all, not the commit (one catch-up, or several on a busy
    # box); it logs just after the index is complete, so wait for the line.
    def logged() -> int:
        done = re.findall(r"indexed (\d+) entries for the registry", fed.log_text("anhui"))
        return sum(map(int, done))

    wait_until(lambda: logged() >= 10_501, what="the indexer's log line")
    assert logged() == 10_501
    found = fed.registry("anhui").GetRecord(
        services_pb2.GetRecordRequest(issuer="330000", record_id=last.record_id), timeout=10
    )
    assert found.view.record.certificate_no == last.certificate_no
    conn = sqlite3.connect(f"file:{fed.database('anhui')}?mode=ro", uri=True)
    try:
        (records,) = conn.execute("SELECT count(*) FROM records WHERE issuer = '330000'").fetchone()
        (staged,) = conn.execute(
            "SELECT count(*) FROM entries WHERE origin = ? AND idx >= ?", (ZJ, size)
        ).fetchone()
    finally:
        conn.close()
    assert (records, staged) == (10_500, 0)
