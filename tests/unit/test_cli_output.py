"""What the CLI prints: JSON a jq user expects, tables that fit, quiet broken pipes."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.cli.common import emit, emit_one, to_dict


def test_json_numbers_are_numbers() -> None:
    case = entries_pb2.InfringementCase(case_id="c1", goods_value_fen=12800050)
    assert to_dict(case)["goods_value_fen"] == 12800050
    view = services_pb2.RecordView(
        issuer="330000", provenance=services_pb2.Provenance(origin="yrd/330000", index=674)
    )
    d = to_dict(view)
    assert d["provenance"]["index"] == 674 and d["provenance"]["checkpoint_size"] == 0
    st = services_pb2.NodeStatus(
        origins=[services_pb2.OriginStatus(origin="yrd/330000", size=7)],
        peers=[services_pb2.PeerStatus(address="a:1", sizes={"yrd/330000": 5})],
    )
    d = to_dict(st)
    assert d["origins"][0]["size"] == 7 and d["peers"][0]["sizes"] == {"yrd/330000": 5}


def test_json_empty_lists_are_present() -> None:
    d = to_dict(services_pb2.RecordView(issuer="330000"))
    assert d["recognised_in"] == []
    assert d["valid_until"] == ""


def _out(fn) -> str:
    @click.command()
    def cmd() -> None:
        fn()

    return CliRunner().invoke(cmd, []).output


def test_one_answer_is_one_object_and_many_are_a_list() -> None:
    one = json.loads(_out(lambda: emit_one({"added": 3}, ["added"], "json")))
    assert one == {"added": 3}
    many = json.loads(_out(lambda: emit([{"a": 1}], ["a"], "json")))
    assert many == [{"a": 1}]
    assert _out(lambda: emit_one({"added": 3}, ["added"], "csv")).splitlines() == ["added", "3"]


def test_a_closed_pipe_ends_quietly(tmp_path) -> None:
    """``brandex certs show | head -0``: exit 141 (as SIGPIPE would), nothing on stderr."""
    import os
    import subprocess
    import sys

    from exchange import pki

    pki.init_federation(tmp_path / "fed", "yrd", {"zhejiang": "330000"})
    r, w = os.pipe()
    os.close(r)  # nobody will read: the first write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "exchange.cli.main", "certs", "show", "--out", tmp_path / "fed"],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(w)
    assert (done.returncode, done.stderr) == (141, "")


def test_tables_fit_the_terminal_and_line_up_chinese() -> None:
    from exchange.cli.common import table, text_width

    rows = [
        {"issuer": "330000 浙江省", "brand": "西湖", "enterprise": "杭州西湖茶业有限公司" * 4},
        {"issuer": "340000 安徽省", "brand": "宋河粮液", "enterprise": "x" * 90},
    ]
    text = table(rows, ["issuer", "brand", "enterprise"], max_width=60)
    lines = text.splitlines()
    assert all(text_width(line) <= 60 for line in lines), text
    assert all(line == line.rstrip() for line in lines)
    assert lines[1].endswith("…") and lines[2].endswith("…")
    # BRAND starts at the same terminal column on every line (wide characters count two).
    starts = [
        text_width(line[: line.index(v)])
        for line, v in zip(lines, ["BRAND", "西湖", "宋河"], strict=True)
    ]
    assert len(set(starts)) == 1, text


def test_a_table_header_has_no_trailing_padding() -> None:
    from exchange.cli.common import table

    rows = [
        {
            "change": "SUSPENDED",
            "entry": "yrd/330000 #5 (checkpoint size 9, cosigned by" + " w" * 80,
        }
    ]
    text = table(rows, ["change", "entry"], max_width=None)
    assert text.splitlines()[0] == "CHANGE     ENTRY"
