"""``brandex watch`` against real nodes: a brand followed across a mirror and a restart.

The watch runs on anhui; the record is issued and changed on zhejiang, so every
event arrives by mirroring. Anhui is restarted in the middle while zhejiang goes
on changing the record: the watch reconnects with its last cursor and ends with
each event exactly once, and its --exec hook ran once per event.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from harness import brandex, wait_until

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.uscc import check_char

ZJ = "yrd/330000"


def _recognition(record_id: str, n: int) -> pb.Recognition:
    body = f"91330106MA2W0000{n}"
    return pb.Recognition(
        record_id=record_id,
        kind=pb.RecognitionKind.Value("PROVINCIAL_FAMOUS_BRAND_PRODUCT"),
        sector=pb.Sector.Value("INDUSTRIAL"),
        brand_name="宋河观察",
        product="白酒",
        enterprise_name=f"观察酒业第{n}有限公司",
        enterprise_uscc=body + check_char(body),
        enterprise_region="330106",
        certificate_no=f"ZJMP-2026-W{n}",
        announcement_no="浙市监〔2026〕9号",
        recognised_on="2026-01-15",
        valid_from="2026-01-15",
        valid_until="2028-12-31",
    )


def _events(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]


def test_a_watch_sees_mirrored_changes_once_across_a_node_restart(
    federation_factory, tmp_path
) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"},
        {"zhejiang": ["anhui"], "anhui": ["zhejiang"]},
        sync_interval=1.0,
    )
    fed.start_all()
    fed.issue("zhejiang", 3)  # before the watch: not reported
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == 4, what="anhui mirrors the first entries")

    bad = brandex("watch", "--cursor", "not-a-cursor", config=fed.configs["anhui"], expect=1)
    assert "cursor" in bad.stderr
    both = brandex("watch", "--brand", "x", "--region", "330000", config=fed.configs["anhui"])
    assert both.returncode == 2

    out, err = tmp_path / "watch.jsonl", tmp_path / "watch.err"
    hook_in, cursor = tmp_path / "hook.jsonl", tmp_path / "cursor"
    hook = f'cat >> {hook_in}; echo >> {hook_in}; echo "$BRANDEX_EVENT_KIND" >> {tmp_path}/kinds'
    env = dict(os.environ, BRANDEX_CONFIG=str(fed.configs["anhui"]))
    with open(out, "wb") as o, open(err, "wb") as e:
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exchange.cli.main",
                "watch",
                "--brand",
                "宋河",
                "--format",
                "json",
                "--exec",
                hook,
                "--cursor-file",
                str(cursor),
            ],
            stdout=o,
            stderr=e,
            env=env,
        )
    try:
        wait_until(cursor.exists, what="the watch to connect")
        zj = fed.admin("zhejiang")
        zj.Issue(_recognition("zj-watch-1", 1), timeout=30)
        fed.issue("zhejiang", 2)  # other brands: not reported
        wait_until(
            lambda: (
                [(v["kind"], v["record_id"]) for v in _events(out)]
                == [("recognition", "zj-watch-1")]
            ),
            what="the mirrored recognition",
        )
        zj.ChangeStatus(
            pb.StatusChange(
                record_id="zj-watch-1", new_status=1, reason=1, effective_on="2026-03-01"
            ),
            timeout=30,
        )
        wait_until(lambda: len(_events(out)) == 2, what="the suspension")
        assert _events(out)[1]["status"] == "suspended"

        fed.stop("anhui")  # the watch loses its node; zhejiang goes on
        zj.ChangeStatus(
            pb.StatusChange(
                record_id="zj-watch-1", new_status=2, reason=1, effective_on="2026-04-01"
            ),
            timeout=30,
        )
        zj.Issue(_recognition("zj-watch-2", 2), timeout=30)
        fed.start("anhui")
        wait_until(lambda: len(_events(out)) >= 4, what="the events made while anhui was down")
        events = _events(out)
        assert [(v["kind"], v["record_id"], v["status"]) for v in events] == [
            ("recognition", "zj-watch-1", "valid"),
            ("status_change", "zj-watch-1", "suspended"),
            ("status_change", "zj-watch-1", "reinstated"),
            ("recognition", "zj-watch-2", "valid"),
        ]
        assert all(v["origin"] == ZJ for v in events)
        assert len({v["index"] for v in events}) == 4  # nothing repeated
        assert "reconnecting" in err.read_text()
        wait_until(
            lambda: (
                (tmp_path / "kinds").exists() and len((tmp_path / "kinds").read_text().split()) == 4
            ),
            what="4 hook runs",
        )
        assert (tmp_path / "kinds").read_text().split() == [
            "recognition",
            "status_change",
            "status_change",
            "recognition",
        ]
        hooked = [json.loads(x) for x in hook_in.read_text().splitlines() if x.strip()]
        assert [h["index"] for h in hooked] == [v["index"] for v in events]
    finally:
        if watcher.poll() is None:
            os.kill(watcher.pid, signal.SIGTERM)
        watcher.wait(timeout=60)
