"""GB/T 2260 regions: names, hierarchy, jurisdiction, and the packaged table is fresh."""

import importlib.util
import json
from pathlib import Path

import pytest

from exchange.core import regions
from exchange.core.errors import ValidationError

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("code", "name", "level"),
    [
        ("310000", "上海市", "province"),
        ("320000", "江苏省", "province"),
        ("330000", "浙江省", "province"),
        ("340000", "安徽省", "province"),
        ("360000", "江西省", "province"),
        ("410000", "河南省", "province"),
        ("330100", "杭州市", "city"),
        ("330300", "温州市", "city"),
        ("320100", "南京市", "city"),
        ("320500", "苏州市", "city"),
        ("341300", "宿州市", "city"),
        ("340100", "合肥市", "city"),
        ("411600", "周口市", "city"),
        ("411628", "鹿邑县", "county"),
        ("310100", "市辖区", "city"),  # the municipality's pseudo-city is kept as in the data
    ],
)
def test_names_and_levels(code, name, level):
    assert regions.is_region(code)
    assert regions.region_name(code) == name
    assert regions.level(code) == level
    assert regions.region_label(code) == f"{name} ({code})"


def test_wenzhou_belongs_to_zhejiang():
    assert regions.parent("330300") == "330000"
    assert regions.parent("330000") is None
    assert regions.province_of("330300") == "330000"
    assert regions.province_of("330000") == "330000"


def test_luyi_chain():
    assert regions.parent("411628") == "411600"
    assert regions.ancestors("411628") == ["411600", "410000"]
    assert regions.province_of("411628") == "410000"


def test_the_two_suzhous_are_different_places():
    assert regions.province_of("320500") == "320000"
    assert regions.province_of("341300") == "340000"
    assert not regions.within("320500", "340000")
    assert not regions.within("341300", "320000")


def test_within():
    assert regions.within("330300", "330300")
    assert regions.within("330300", "330000")
    assert regions.within("330381", "330000")  # 瑞安市, a county-level city of Wenzhou
    assert regions.within("411628", "411600")
    assert not regions.within("330000", "330300")  # a city's jurisdiction is not the province
    assert not regions.within("330300", "320000")
    assert not regions.within("999999", "330000")
    assert regions.within("999999", "999999")


@pytest.mark.parametrize("code", ["411671", "320576", "330000 ", "33", "3303", "999999", ""])
def test_statistical_zones_and_junk_are_not_regions(code):
    assert not regions.is_region(code)
    with pytest.raises(ValidationError, match=r"^enterprise_region: "):
        regions.validate_region(code, "enterprise_region")


def test_unknown_code_lookups_raise():
    with pytest.raises(ValidationError):
        regions.region_name("411671")
    with pytest.raises(ValidationError):
        regions.parent("000000")
    assert regions.region_label("411671") == "411671"


def test_non_string_is_not_a_region():
    assert not regions.is_region(330000)
    with pytest.raises(ValidationError, match="six ASCII digits"):
        regions.validate_region(330000, "region")
    with pytest.raises(ValidationError, match="six ASCII digits"):
        regions.validate_region("３３００００", "region")


def test_every_parent_exists_and_levels_nest():
    table = json.loads((ROOT / "exchange/core/data/regions.json").read_text("utf-8"))
    order = {"province": 0, "city": 1, "county": 2}
    for code, (_name, par, lvl) in table.items():
        assert len(code) == 6 and code.isdigit()
        assert code[4] != "7" or lvl != "county", code
        if par is None:
            assert lvl == "province"
        else:
            assert order[table[par][2]] == order[lvl] - 1, code


def test_packaged_table_matches_the_shared_data(shared_data):
    """The committed JSON must be what tools/make_regions.py makes from the shared CSVs."""
    spec = importlib.util.spec_from_file_location("make_regions", ROOT / "tools/make_regions.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build(shared_data / "regions")
    table = json.loads((ROOT / "exchange/core/data/regions.json").read_text("utf-8"))
    assert built == table
