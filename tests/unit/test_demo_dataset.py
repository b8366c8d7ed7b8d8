"""Tests for the demo data set: the counts the story quotes, and records a node would accept.

The demo's numbers (Zhejiang's 1,039 titles, Luyi's twelve Henan titles) are
quoted in its narrative, and every record is signed and published by a node,
so a miscount or an invalid USCC would surface as a wrong story or a refused
entry rather than a failing unit test. These tests catch both here.
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from exchange.core.regions import is_region
from exchange.core.uscc import is_valid_uscc, uscc_region
from exchange.demo.dataset import FEATURED, ISSUER_REGIONS, demo_records, embedded_region_codes

# /work/main/tests/unit/this.py -> /work/shared/data
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

FIELDS = [
    "record_id",
    "kind",
    "sector",
    "brand_name",
    "brand_name_latin",
    "product",
    "nice_classes",
    "industry_code",
    "enterprise_name",
    "enterprise_uscc",
    "enterprise_region",
    "certificate_no",
    "announcement_no",
    "recognised_on",
    "valid_from",
    "valid_until",
]
NO_EXPIRY = {"WELL_KNOWN_TRADEMARK"}
DEMO_DAY = "2026-11-23"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LUYI = "411628"


@pytest.fixture(scope="module")
def records() -> dict[str, list[dict]]:
    return demo_records()


def all_records(records: dict[str, list[dict]]) -> list[tuple[str, dict]]:
    return [(node, r) for node, rs in records.items() for r in rs]


def test_nodes_and_regions(records: dict[str, list[dict]]) -> None:
    assert list(records) == list(ISSUER_REGIONS)
    assert ISSUER_REGIONS == {
        "zhejiang": "330000",
        "wenzhou": "330300",
        "henan": "410000",
        "luyi": "411628",
        "shanghai": "310000",
        "jiangsu": "320000",
        "anhui": "340000",
    }


def test_zhejiang_counts(records: dict[str, list[dict]]) -> None:
    zj = records["zhejiang"]
    assert len(zj) == 1039
    assert {r["kind"] for r in zj} == {"PROVINCIAL_FAMOUS_BRAND_PRODUCT"}
    assert Counter(r["sector"] for r in zj) == {
        "INDUSTRIAL": 819,
        "AGRICULTURAL": 215,
        "TRADITIONAL_CULTURAL": 5,
    }


def test_zhejiang_mostly_current_on_demo_day(records: dict[str, list[dict]]) -> None:
    zj = records["zhejiang"]
    current = [r for r in zj if r["valid_until"] >= DEMO_DAY]
    assert len(current) > len(zj) // 2
    assert len(current) < len(zj)  # some have lapsed
    assert {r["recognised_on"][:4] for r in zj} == {"2022", "2023", "2024", "2025"}


def test_henan_luyi_titles(records: dict[str, list[dict]]) -> None:
    luyi = [r for r in records["henan"] if r["enterprise_region"] == LUYI]
    assert Counter(r["kind"] for r in luyi) == {
        "PROVINCIAL_FAMOUS_BRAND_PRODUCT": 7,
        "PROVINCIAL_QUALITY_AWARD": 5,
    }
    brands = {r["brand_name"] for r in luyi if r["kind"] == "PROVINCIAL_FAMOUS_BRAND_PRODUCT"}
    assert {"宋河粮液", "志元火腿肠", "李二小磨香油"} <= brands
    songhe = next(r for r in luyi if r["brand_name"] == "宋河粮液")
    assert songhe["enterprise_name"] == "河南省宋河酒业股份有限公司"


def test_other_issuers(records: dict[str, list[dict]]) -> None:
    henan_rest = [r for r in records["henan"] if r["enterprise_region"] != LUYI]
    assert 250 <= len(henan_rest) <= 350
    assert len({r["enterprise_region"] for r in henan_rest}) > 20

    assert 130 <= len(records["wenzhou"]) <= 170
    assert {r["kind"] for r in records["wenzhou"]} == {"CITY_FAMOUS_BRAND_PRODUCT"}

    assert 15 <= len(records["luyi"]) <= 25
    assert {r["kind"] for r in records["luyi"]} == {"COUNTY_QUALITY_AWARD"}
    assert {r["enterprise_region"] for r in records["luyi"]} == {LUYI}

    for node, low, high in (("shanghai", 200, 300), ("jiangsu", 250, 350), ("anhui", 200, 300)):
        kinds = Counter(r["kind"] for r in records[node])
        assert low <= len(records[node]) <= high, node
        assert set(kinds) == {"PROVINCIAL_FAMOUS_BRAND_PRODUCT", "WELL_KNOWN_TRADEMARK"}, node
        assert 3 <= kinds["WELL_KNOWN_TRADEMARK"] <= 10, node


def test_fields_and_values(records: dict[str, list[dict]]) -> None:
    for node, r in all_records(records):
        assert list(r) == FIELDS, r["record_id"]
        assert r["record_id"].startswith(
            {
                "zhejiang": "zj-",
                "wenzhou": "wz-",
                "henan": "hn-",
                "luyi": "ly-",
                "shanghai": "sh-",
                "jiangsu": "js-",
                "anhui": "ah-",
            }[node]
        )
        assert r["brand_name"] and r["product"] and r["enterprise_name"]
        assert r["nice_classes"] and all(1 <= c <= 45 for c in r["nice_classes"])
        assert ISO_DATE.match(r["recognised_on"]) and r["valid_from"] == r["recognised_on"]
        if r["kind"] in NO_EXPIRY:
            assert r["valid_until"] == "", r["record_id"]
        else:
            assert ISO_DATE.match(r["valid_until"]), r["record_id"]
            assert r["valid_until"] > r["valid_from"]


def test_deterministic(records: dict[str, list[dict]]) -> None:
    again = demo_records()
    assert again == records
    assert demo_records(7) == demo_records(7)
    assert demo_records(2027) != records


def test_fresh_dicts_each_call() -> None:
    first = demo_records()
    first["zhejiang"][0]["brand_name"] = "changed"
    first["henan"].clear()
    second = demo_records()
    assert second["zhejiang"][0]["brand_name"] != "changed"
    assert second["henan"]


def test_usccs_valid_and_registered_in_enterprise_region(
    records: dict[str, list[dict]],
) -> None:
    for _, r in all_records(records):
        code = r["enterprise_uscc"]
        assert is_valid_uscc(code), code
        assert code.startswith("91"), code
        assert uscc_region(code) == r["enterprise_region"], code


def test_usccs_unique_per_enterprise(records: dict[str, list[dict]]) -> None:
    # An enterprise may hold several titles (city and province, a well-known mark
    # too), always under its one USCC; two enterprises never share a code.
    by_code: dict[str, set[tuple[str, str]]] = defaultdict(set)
    by_name: dict[str, set[str]] = defaultdict(set)
    for _, r in all_records(records):
        by_code[r["enterprise_uscc"]].add((r["enterprise_name"], r["enterprise_region"]))
        by_name[r["enterprise_name"]].add(r["enterprise_uscc"])
    assert all(len(v) == 1 for v in by_code.values())
    assert all(len(v) == 1 for v in by_name.values())


@pytest.mark.parametrize("seed", [2026, 1, 99])
def test_ids_and_certificates_unique_per_issuer(seed: int) -> None:
    for node, rs in demo_records(seed).items():
        ids = [r["record_id"] for r in rs]
        certs = [r["certificate_no"] for r in rs]
        assert len(set(ids)) == len(ids), node
        assert len(set(certs)) == len(certs), node
        brands = [r["brand_name"] for r in rs]
        assert len(set(brands)) > 0.9 * len(brands), node


def _within(region: str, jurisdiction: str) -> bool:
    if jurisdiction.endswith("0000"):
        return region.startswith(jurisdiction[:2])
    if jurisdiction.endswith("00"):
        return region.startswith(jurisdiction[:4])
    return region == jurisdiction


@pytest.mark.parametrize("seed", [2026, 5])
def test_enterprises_within_issuer_jurisdiction(seed: int) -> None:
    for node, rs in demo_records(seed).items():
        for r in rs:
            assert _within(r["enterprise_region"], ISSUER_REGIONS[node]), (node, r)


def test_enterprise_regions_are_embedded_and_known(records: dict[str, list[dict]]) -> None:
    embedded = embedded_region_codes()
    assert {r["enterprise_region"] for _, r in all_records(records)} <= embedded
    # The core's own table must accept them too, or a node would refuse the record.
    assert [c for c in sorted(embedded) if not is_region(c)] == []


def _shared_codes() -> set[str]:
    regions = SHARED_DATA / "regions"
    codes: set[str] = set()
    # areas carry six digits, cities four (3301 -> 330100), provinces two (33 -> 330000).
    for name in ("areas.csv", "cities.csv", "provinces.csv"):
        with (regions / name).open(encoding="utf-8", newline="") as fh:
            codes.update(row["code"].ljust(6, "0") for row in csv.DictReader(fh))
    return codes


def test_embedded_region_codes_exist_in_shared_data() -> None:
    if not (SHARED_DATA / "regions").is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    missing = sorted(embedded_region_codes() - _shared_codes())
    assert missing == []


def test_every_record_builds_a_proto_message(records: dict[str, list[dict]]) -> None:
    entries_pb2 = pytest.importorskip("exchange._proto.brandex.v1.entries_pb2")
    proto_fields = [f.name for f in entries_pb2.Recognition.DESCRIPTOR.fields]
    assert proto_fields == FIELDS
    for _, r in all_records(records):
        msg = entries_pb2.Recognition(**r)
        assert entries_pb2.RecognitionKind.Name(msg.kind) == r["kind"]
        assert entries_pb2.Sector.Name(msg.sector) == r["sector"]
        assert list(msg.nice_classes) == r["nice_classes"]
        assert msg.enterprise_uscc == r["enterprise_uscc"]


def test_featured_records(records: dict[str, list[dict]]) -> None:
    node_of = {region: node for node, region in ISSUER_REGIONS.items()}
    found = {}
    for key, ref in FEATURED.items():
        matches = [r for r in records[node_of[ref["issuer"]]] if r["record_id"] == ref["record_id"]]
        assert len(matches) == 1, key
        assert matches[0]["brand_name"] == ref["brand_name"], key
        found[key] = matches[0]

    zj = found["zhejiang_brand"]
    assert zj["kind"] == "PROVINCIAL_FAMOUS_BRAND_PRODUCT"
    assert zj["valid_until"] >= "2027-12-31"
    assert zj["enterprise_region"].startswith("3301")  # Hangzhou

    assert found["wenzhou_brand"]["kind"] == "CITY_FAMOUS_BRAND_PRODUCT"

    songhe = found["songhe"]
    assert songhe["kind"] == "PROVINCIAL_FAMOUS_BRAND_PRODUCT"
    assert songhe["enterprise_region"] == LUYI
    assert songhe["valid_until"] >= DEMO_DAY


@pytest.mark.parametrize("seed", [2026, 42])
def test_featured_records_do_not_move_with_the_seed(seed: int) -> None:
    data = demo_records(seed)
    node_of = {region: node for node, region in ISSUER_REGIONS.items()}
    for ref in FEATURED.values():
        ids = {r["record_id"]: r for r in data[node_of[ref["issuer"]]]}
        assert ids[ref["record_id"]]["brand_name"] == ref["brand_name"]


def test_generation_is_fast() -> None:
    start = time.perf_counter()
    demo_records(123)
    assert time.perf_counter() - start < 1.0
