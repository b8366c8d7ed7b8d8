"""``--lang zh`` (and BRANDEX_LANG, LANG) against a real node: Chinese tables, answers,
reasons and write results, regions named with their codes; JSON and CSV unchanged."""

from __future__ import annotations

import functools

import harness
import pytest

from exchange.demo.dataset import demo_records
from exchange.spreadsheet import record_row, write_sheet

pytestmark = pytest.mark.e2e

brandex = functools.partial(harness.brandex, expect=0)


def test_chinese_output_and_stable_machine_output(federation_factory, tmp_path, monkeypatch):
    fed = federation_factory({"zhejiang": "330000"}, {})
    fed.start_all()
    cfg = fed.configs["zhejiang"]
    from exchange._proto.brandex.v1 import entries_pb2

    recs = demo_records()["zhejiang"][:3]
    span = {"recognised_on": "2024-01-10", "valid_from": "2024-01-10", "valid_until": "2030-12-31"}
    rows = [record_row(entries_pb2.Recognition(**{**r, **span}), headers="en") for r in recs]
    write_sheet(tmp_path / "zj.csv", rows)
    imported = brandex(
        "--lang", "zh", "import", str(tmp_path / "zj.csv"), "--announcement", "浙市监〔2026〕1号",
        config=cfg,
    )  # fmt: skip
    assert "新增 3 条" in imported.stdout and "新增：" in imported.stdout, imported.stdout
    rid, brand = recs[0]["record_id"], recs[0]["brand_name"]

    # Search: Chinese headers and states, the issuer as 浙江省 (330000), in either position.
    for args in (["--lang", "zh", "search", brand], ["search", brand, "--lang", "zh"]):
        out = brandex(*args, "--on", "2026-07-01", config=cfg).stdout
        assert out.splitlines()[0].startswith("认定地区"), out
        assert "浙江省 (330000)" in out and "有效" in out and "条记录" in out
    en = brandex("search", brand, "--on", "2026-07-01", config=cfg).stdout
    assert en.splitlines()[0].startswith("ISSUER") and "浙江省 (330000)" in en
    assert "330000 浙江省" not in en

    # Show: labels in Chinese, the enterprise's region named.
    shown = brandex("show", rid, "--lang", "zh", config=cfg).stdout
    assert "今日状态" in shown and "承认地区" in shown and "状态变更：无" in shown
    assert "浙江省 (330000)" in shown

    # Check: the verdict and the node's reasons said in Chinese, regions with their codes.
    yes = brandex("check", rid, "--in", "330100", "--on", "2026-07-01", "--lang", "zh", config=cfg)
    assert yes.stdout.startswith(f"承认：330000/{rid}"), yes.stdout
    assert "由浙江省 (330000)认定，其辖区包括杭州市 (330100)" in yes.stdout
    assert f"浙江省 (330000)的记录 {rid}（{brand}）在 2026-07-01 有效" in yes.stdout
    no = harness.brandex("check", rid, "--in", "410000", "--lang", "zh", config=cfg, expect=1)
    assert (
        "不承认：" in no.stdout and "浙江省 (330000)与河南省 (410000)之间没有任何协议" in no.stdout
    )
    assert "'s record" not in brandex("check", rid, "--in", "330100", config=cfg).stdout

    # A write command's result, and a refusal, in Chinese.
    done = brandex(
        "status", "suspend", rid, "--reason", "SPOT_CHECK_FAILURE", "--effective", "2026-03-01",
        "--announcement", "浙市监〔2026〕2号", "--lang", "zh", config=cfg,
    )  # fmt: skip
    assert done.stdout.startswith(f"已暂停：浙江省 (330000)/{rid}，自 2026-03-01 起"), done.stdout
    again = harness.brandex(
        "status", "suspend", rid, "--reason", "SPOT_CHECK_FAILURE", "--effective", "2026-03-02",
        "--announcement", "浙市监〔2026〕3号", "--lang", "zh", config=cfg, expect=1,
    )  # fmt: skip
    assert again.stderr.startswith("被拒绝："), again.stderr

    # The language may come from BRANDEX_LANG or the locale as well.
    monkeypatch.setenv("BRANDEX_LANG", "zh")
    assert brandex("search", brand, config=cfg).stdout.startswith("认定地区")
    monkeypatch.delenv("BRANDEX_LANG")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert brandex("search", brand, config=cfg).stdout.startswith("认定地区")
    assert brandex("--lang", "en", "search", brand, config=cfg).stdout.startswith("ISSUER")

    # Machine output does not change with the language.
    for fmt in ("json", "csv"):
        for args in (
            ["search", brand, "--on", "2026-07-01"],
            ["show", rid, "--on", "2026-07-01"],
            ["check", rid, "--in", "330100", "--on", "2026-07-01"],
            ["agreement", "list"],
            ["case", "list"],
        ):
            en = harness.brandex("--lang", "en", *args, "--format", fmt, config=cfg)
            zh = harness.brandex("--lang", "zh", *args, "--format", fmt, config=cfg)
            assert en.stdout and en.stdout == zh.stdout, (args, fmt)
            assert en.returncode == zh.returncode
