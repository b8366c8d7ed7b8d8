"""A deterministic, synthetic but realistic set of recognitions for the demo federation.

Why synthetic: the real registers are published as scanned announcements, and
the demo needs volume with the right shape (the real counts where we know them,
enterprises clustered where the industries really are, three-year validity
windows, a mix of expired and current titles) without claiming facts about
real companies. The few real names the demo story needs (宋河粮液 and the other
Luyi products) are hand-placed; everything else is composed.

Why deterministic: a demo run, its tests and a reader's second run must see the
same records. Everything flows from one ``random.Random(seed)`` in a fixed
order; nothing reads the clock or the global ``random`` state, so the output is
a pure function of the seed. Featured records are hand-placed with fixed
record ids and USCCs so they stay the same whatever the seed.

Why the region codes are embedded: the product must not depend on
``../shared`` at run time, so the few GB/T 2260 codes used here are constants
below (checked against the shared tables by ``tests/unit/test_demo_dataset.py``).

Each record is a plain dict whose keys are exactly the fields of the proto
message ``brandex.v1.Recognition``, with enums given by name, so
``entries_pb2.Recognition(**record)`` builds the message.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from exchange.core.uscc import ALPHABET, check_char

__all__ = [
    "FEATURED",
    "ISSUER_REGIONS",
    "demo_records",
    "embedded_region_codes",
]

#: Issuing node name -> the GB/T 2260 code of the authority it speaks for.
ISSUER_REGIONS: dict[str, str] = {
    "zhejiang": "330000",  # 浙江省
    "wenzhou": "330300",  # 浙江省温州市
    "henan": "410000",  # 河南省
    "luyi": "411628",  # 河南省周口市鹿邑县
    "shanghai": "310000",  # 上海市
    "jiangsu": "320000",  # 江苏省
    "anhui": "340000",  # 安徽省
}

#: The records the demo story is told with. They are hand-placed, so their ids do
#: not depend on the seed.
FEATURED: dict[str, dict[str, str]] = {
    # A Zhejiang provincial famous-brand product, Hangzhou enterprise, valid to 2028-01.
    "zhejiang_brand": {"issuer": "330000", "record_id": "zj-2025-0001", "brand_name": "杭瑞"},
    # A Wenzhou municipal famous-brand product (shoes, Lucheng district).
    "wenzhou_brand": {"issuer": "330300", "record_id": "wz-2024-0001", "brand_name": "瓯韵"},
    # Henan provincial famous-brand product held by a Luyi County enterprise.
    "songhe": {"issuer": "410000", "record_id": "hn-2024-0001", "brand_name": "宋河粮液"},
}

# Proto enum names, spelled once.
_WELL_KNOWN = "WELL_KNOWN_TRADEMARK"
_PROVINCIAL_BRAND = "PROVINCIAL_FAMOUS_BRAND_PRODUCT"
_PROVINCIAL_QUALITY = "PROVINCIAL_QUALITY_AWARD"
_COUNTY_QUALITY = "COUNTY_QUALITY_AWARD"
_CITY_BRAND = "CITY_FAMOUS_BRAND_PRODUCT"

_IND = "INDUSTRIAL"
_AGR = "AGRICULTURAL"
_SVC = "SERVICE"
_TRD = "TRADITIONAL_CULTURAL"

#: Years of the batches the demo issues, and each year's share of an issuer's
#: batches. Validity is three years, so as of late 2026 the 2022 and 2023
#: batches have lapsed and the (larger) 2024 and 2025 batches are current.
_YEARS = (2022, 2023, 2024, 2025)
_YEAR_SHARES = (15, 20, 30, 35)

# --------------------------------------------------------------------------- regions
# GB/T 2260 code -> place word used at the head of enterprise names (the city for
# a district, the county or county-level city otherwise). Full names in comments.

_ZHEJIANG_REGIONS: dict[str, str] = {
    "330100": "杭州",  # 杭州市
    "330102": "杭州",  # 杭州市上城区
    "330105": "杭州",  # 杭州市拱墅区
    "330106": "杭州",  # 杭州市西湖区
    "330108": "杭州",  # 杭州市滨江区
    "330109": "杭州",  # 杭州市萧山区
    "330110": "杭州",  # 杭州市余杭区
    "330111": "杭州",  # 杭州市富阳区
    "330112": "杭州",  # 杭州市临安区
    "330113": "杭州",  # 杭州市临平区
    "330114": "杭州",  # 杭州市钱塘区
    "330122": "桐庐",  # 杭州市桐庐县
    "330127": "淳安",  # 杭州市淳安县
    "330182": "建德",  # 杭州市建德市
    "330200": "宁波",  # 宁波市
    "330203": "宁波",  # 宁波市海曙区
    "330205": "宁波",  # 宁波市江北区
    "330206": "宁波",  # 宁波市北仑区
    "330211": "宁波",  # 宁波市镇海区
    "330212": "宁波",  # 宁波市鄞州区
    "330213": "宁波",  # 宁波市奉化区
    "330225": "象山",  # 宁波市象山县
    "330226": "宁海",  # 宁波市宁海县
    "330281": "余姚",  # 宁波市余姚市
    "330282": "慈溪",  # 宁波市慈溪市
    "330300": "温州",  # 温州市
    "330302": "温州",  # 温州市鹿城区
    "330303": "温州",  # 温州市龙湾区
    "330304": "温州",  # 温州市瓯海区
    "330305": "温州",  # 温州市洞头区
    "330324": "永嘉",  # 温州市永嘉县
    "330326": "平阳",  # 温州市平阳县
    "330327": "苍南",  # 温州市苍南县
    "330328": "文成",  # 温州市文成县
    "330329": "泰顺",  # 温州市泰顺县
    "330381": "瑞安",  # 温州市瑞安市
    "330382": "乐清",  # 温州市乐清市
    "330383": "龙港",  # 温州市龙港市
    "330400": "嘉兴",  # 嘉兴市
    "330402": "嘉兴",  # 嘉兴市南湖区
    "330411": "嘉兴",  # 嘉兴市秀洲区
    "330421": "嘉善",  # 嘉兴市嘉善县
    "330424": "海盐",  # 嘉兴市海盐县
    "330481": "海宁",  # 嘉兴市海宁市
    "330482": "平湖",  # 嘉兴市平湖市
    "330483": "桐乡",  # 嘉兴市桐乡市
    "330500": "湖州",  # 湖州市
    "330502": "湖州",  # 湖州市吴兴区
    "330503": "湖州",  # 湖州市南浔区
    "330521": "德清",  # 湖州市德清县
    "330522": "长兴",  # 湖州市长兴县
    "330523": "安吉",  # 湖州市安吉县
    "330600": "绍兴",  # 绍兴市
    "330602": "绍兴",  # 绍兴市越城区
    "330603": "绍兴",  # 绍兴市柯桥区
    "330604": "绍兴",  # 绍兴市上虞区
    "330624": "新昌",  # 绍兴市新昌县
    "330681": "诸暨",  # 绍兴市诸暨市
    "330683": "嵊州",  # 绍兴市嵊州市
    "330700": "金华",  # 金华市
    "330702": "金华",  # 金华市婺城区
    "330703": "金华",  # 金华市金东区
    "330723": "武义",  # 金华市武义县
    "330726": "浦江",  # 金华市浦江县
    "330727": "磐安",  # 金华市磐安县
    "330781": "兰溪",  # 金华市兰溪市
    "330782": "义乌",  # 金华市义乌市
    "330783": "东阳",  # 金华市东阳市
    "330784": "永康",  # 金华市永康市
    "330800": "衢州",  # 衢州市
    "330802": "衢州",  # 衢州市柯城区
    "330803": "衢州",  # 衢州市衢江区
    "330822": "常山",  # 衢州市常山县
    "330824": "开化",  # 衢州市开化县
    "330825": "龙游",  # 衢州市龙游县
    "330881": "江山",  # 衢州市江山市
    "330900": "舟山",  # 舟山市
    "330902": "舟山",  # 舟山市定海区
    "330903": "舟山",  # 舟山市普陀区
    "330921": "岱山",  # 舟山市岱山县
    "330922": "嵊泗",  # 舟山市嵊泗县
    "331000": "台州",  # 台州市
    "331002": "台州",  # 台州市椒江区
    "331003": "台州",  # 台州市黄岩区
    "331004": "台州",  # 台州市路桥区
    "331022": "三门",  # 台州市三门县
    "331023": "天台",  # 台州市天台县
    "331024": "仙居",  # 台州市仙居县
    "331081": "温岭",  # 台州市温岭市
    "331082": "临海",  # 台州市临海市
    "331083": "玉环",  # 台州市玉环市
    "331100": "丽水",  # 丽水市
    "331102": "丽水",  # 丽水市莲都区
    "331121": "青田",  # 丽水市青田县
    "331122": "缙云",  # 丽水市缙云县
    "331123": "遂昌",  # 丽水市遂昌县
    "331124": "松阳",  # 丽水市松阳县
    "331125": "云和",  # 丽水市云和县
    "331126": "庆元",  # 丽水市庆元县
    "331127": "景宁",  # 丽水市景宁畲族自治县
    "331181": "龙泉",  # 丽水市龙泉市
}

_WENZHOU_REGIONS: dict[str, str] = {
    code: place for code, place in _ZHEJIANG_REGIONS.items() if code.startswith("3303")
}

_HENAN_REGIONS: dict[str, str] = {
    "410100": "郑州",  # 郑州市
    "410104": "郑州",  # 郑州市管城回族区
    "410105": "郑州",  # 郑州市金水区
    "410108": "郑州",  # 郑州市惠济区
    "410122": "中牟",  # 郑州市中牟县
    "410181": "巩义",  # 郑州市巩义市
    "410183": "新密",  # 郑州市新密市
    "410184": "新郑",  # 郑州市新郑市
    "410200": "开封",  # 开封市
    "410202": "开封",  # 开封市龙亭区
    "410225": "兰考",  # 开封市兰考县
    "410300": "洛阳",  # 洛阳市
    "410305": "洛阳",  # 洛阳市涧西区
    "410308": "洛阳",  # 洛阳市孟津区
    "410326": "汝阳",  # 洛阳市汝阳县
    "410329": "伊川",  # 洛阳市伊川县
    "410400": "平顶山",  # 平顶山市
    "410421": "宝丰",  # 平顶山市宝丰县
    "410482": "汝州",  # 平顶山市汝州市
    "410500": "安阳",  # 安阳市
    "410581": "林州",  # 安阳市林州市
    "410600": "鹤壁",  # 鹤壁市
    "410700": "新乡",  # 新乡市
    "410725": "原阳",  # 新乡市原阳县
    "410783": "长垣",  # 新乡市长垣市
    "410800": "焦作",  # 焦作市
    "410823": "武陟",  # 焦作市武陟县
    "410825": "温县",  # 焦作市温县
    "410900": "濮阳",  # 濮阳市
    "411000": "许昌",  # 许昌市
    "411003": "许昌",  # 许昌市建安区
    "411081": "禹州",  # 许昌市禹州市
    "411082": "长葛",  # 许昌市长葛市
    "411100": "漯河",  # 漯河市
    "411102": "漯河",  # 漯河市源汇区
    "411122": "临颍",  # 漯河市临颍县
    "411200": "三门峡",  # 三门峡市
    "411282": "灵宝",  # 三门峡市灵宝市
    "411300": "南阳",  # 南阳市
    "411323": "西峡",  # 南阳市西峡县
    "411381": "邓州",  # 南阳市邓州市
    "411400": "商丘",  # 商丘市
    "411424": "柘城",  # 商丘市柘城县
    "411481": "永城",  # 商丘市永城市
    "411500": "信阳",  # 信阳市
    "411502": "信阳",  # 信阳市浉河区
    "411525": "固始",  # 信阳市固始县
    "411600": "周口",  # 周口市
    "411602": "周口",  # 周口市川汇区
    "411628": "鹿邑县",  # 周口市鹿邑县
    "411681": "项城",  # 周口市项城市
    "411700": "驻马店",  # 驻马店市
    "411702": "驻马店",  # 驻马店市驿城区
    "411724": "正阳",  # 驻马店市正阳县
}

_LUYI = "411628"
_LUYI_REGIONS: dict[str, str] = {_LUYI: _HENAN_REGIONS[_LUYI]}

_SHANGHAI_REGIONS: dict[str, str] = {
    "310101": "上海",  # 黄浦区
    "310104": "上海",  # 徐汇区
    "310105": "上海",  # 长宁区
    "310106": "上海",  # 静安区
    "310107": "上海",  # 普陀区
    "310109": "上海",  # 虹口区
    "310110": "上海",  # 杨浦区
    "310112": "上海",  # 闵行区
    "310113": "上海",  # 宝山区
    "310114": "上海",  # 嘉定区
    "310115": "上海",  # 浦东新区
    "310116": "上海",  # 金山区
    "310117": "上海",  # 松江区
    "310118": "上海",  # 青浦区
    "310120": "上海",  # 奉贤区
    "310151": "上海",  # 崇明区
}

_JIANGSU_REGIONS: dict[str, str] = {
    "320100": "南京",  # 南京市
    "320114": "南京",  # 南京市雨花台区
    "320115": "南京",  # 南京市江宁区
    "320200": "无锡",  # 无锡市
    "320206": "无锡",  # 无锡市惠山区
    "320211": "无锡",  # 无锡市滨湖区
    "320214": "无锡",  # 无锡市新吴区
    "320281": "江阴",  # 无锡市江阴市
    "320282": "宜兴",  # 无锡市宜兴市
    "320300": "徐州",  # 徐州市
    "320311": "徐州",  # 徐州市泉山区
    "320382": "邳州",  # 徐州市邳州市
    "320400": "常州",  # 常州市
    "320412": "常州",  # 常州市武进区
    "320481": "溧阳",  # 常州市溧阳市
    "320500": "苏州",  # 苏州市
    "320505": "苏州",  # 苏州市虎丘区
    "320506": "苏州",  # 苏州市吴中区
    "320507": "苏州",  # 苏州市相城区
    "320509": "苏州",  # 苏州市吴江区
    "320581": "常熟",  # 苏州市常熟市
    "320582": "张家港",  # 苏州市张家港市
    "320583": "昆山",  # 苏州市昆山市
    "320585": "太仓",  # 苏州市太仓市
    "320600": "南通",  # 南通市
    "320612": "南通",  # 南通市通州区
    "320614": "南通",  # 南通市海门区
    "320681": "启东",  # 南通市启东市
    "320700": "连云港",  # 连云港市
    "320706": "连云港",  # 连云港市海州区
    "320800": "淮安",  # 淮安市
    "320830": "盱眙",  # 淮安市盱眙县
    "320900": "盐城",  # 盐城市
    "320924": "射阳",  # 盐城市射阳县
    "320981": "东台",  # 盐城市东台市
    "321000": "扬州",  # 扬州市
    "321002": "扬州",  # 扬州市广陵区
    "321084": "高邮",  # 扬州市高邮市
    "321100": "镇江",  # 镇江市
    "321102": "镇江",  # 镇江市京口区
    "321181": "丹阳",  # 镇江市丹阳市
    "321200": "泰州",  # 泰州市
    "321202": "泰州",  # 泰州市海陵区
    "321281": "兴化",  # 泰州市兴化市
    "321300": "宿迁",  # 宿迁市
    "321302": "宿迁",  # 宿迁市宿城区
    "321323": "泗阳",  # 宿迁市泗阳县
}

_ANHUI_REGIONS: dict[str, str] = {
    "340100": "合肥",  # 合肥市
    "340104": "合肥",  # 合肥市蜀山区
    "340111": "合肥",  # 合肥市包河区
    "340124": "庐江",  # 合肥市庐江县
    "340181": "巢湖",  # 合肥市巢湖市
    "340200": "芜湖",  # 芜湖市
    "340202": "芜湖",  # 芜湖市镜湖区
    "340207": "芜湖",  # 芜湖市鸠江区
    "340281": "无为",  # 芜湖市无为市
    "340300": "蚌埠",  # 蚌埠市
    "340321": "怀远",  # 蚌埠市怀远县
    "340400": "淮南",  # 淮南市
    "340500": "马鞍山",  # 马鞍山市
    "340503": "马鞍山",  # 马鞍山市花山区
    "340600": "淮北",  # 淮北市
    "340603": "淮北",  # 淮北市相山区
    "340700": "铜陵",  # 铜陵市
    "340705": "铜陵",  # 铜陵市铜官区
    "340800": "安庆",  # 安庆市
    "340881": "桐城",  # 安庆市桐城市
    "341000": "黄山",  # 黄山市
    "341003": "黄山",  # 黄山市黄山区
    "341004": "黄山",  # 黄山市徽州区
    "341021": "歙县",  # 黄山市歙县
    "341024": "祁门",  # 黄山市祁门县
    "341100": "滁州",  # 滁州市
    "341181": "天长",  # 滁州市天长市
    "341200": "阜阳",  # 阜阳市
    "341282": "界首",  # 阜阳市界首市
    "341300": "宿州",  # 宿州市
    "341321": "砀山",  # 宿州市砀山县
    "341500": "六安",  # 六安市
    "341502": "六安",  # 六安市金安区
    "341503": "六安",  # 六安市裕安区
    "341525": "霍山",  # 六安市霍山县
    "341600": "亳州",  # 亳州市
    "341602": "亳州",  # 亳州市谯城区
    "341700": "池州",  # 池州市
    "341800": "宣城",  # 宣城市
    "341823": "泾县",  # 宣城市泾县
    "341881": "宁国",  # 宣城市宁国市
}

# --------------------------------------------------------------------------- products


class _Product(NamedTuple):
    """A product line: what a recognition is for and how its holder is named."""

    name: str  # the product as announced
    trade: str  # the trade word in the holder's name (电气, 鞋业, ...)
    industry: str  # GB/T 4754-2017 division
    nice: int  # Nice class of the goods or services
    sector: str
    clusters: tuple[str, ...]  # where the industry really concentrates (region codes)


def _line(sector: str, rows: Iterable[tuple]) -> tuple[_Product, ...]:
    return tuple(_Product(n, t, i, c, sector, tuple(cl)) for n, t, i, c, *cl in rows)


_ZHEJIANG_PRODUCTS: dict[str, tuple[_Product, ...]] = {
    _IND: _line(
        _IND,
        (
            ("电动工具", "工具", "C34", 7, "330784"),
            ("低压电器", "电气", "C38", 9, "330382"),
            ("紧固件", "紧固件", "C34", 6, "330424"),
            ("阀门", "阀门", "C34", 7, "330324", "330304"),
            ("眼镜", "眼镜", "C35", 9, "330304"),
            ("皮鞋", "鞋业", "C19", 25, "330302", "330381"),
            ("男装", "服饰", "C18", 25, "330212", "330203"),
            ("女装", "服饰", "C18", 25, "330105", "330102"),
            ("汽车零部件", "汽车部件", "C36", 12, "330381", "331083"),
            ("水泵", "泵业", "C34", 7, "331081"),
            ("工业缝纫机", "缝纫机", "C35", 7, "331002"),
            ("小家电", "电器", "C38", 11, "330282", "330281"),
            ("袜子", "针织", "C18", 25, "330681"),
            ("领带", "服饰", "C18", 25, "330683"),
            ("纺织面料", "纺织", "C17", 24, "330603"),
            ("涤纶长丝", "化纤", "C28", 23, "330109", "330483"),
            ("五金工具", "五金", "C33", 8, "330784"),
            ("防盗门", "门业", "C33", 6, "330784", "330723"),
            ("轴承", "轴承", "C34", 7, "330624"),
            ("办公椅", "家具", "C21", 20, "330523"),
            ("皮革服装", "皮革", "C19", 25, "330481"),
            ("塑料模具", "模具", "C35", 7, "331003"),
            ("化学原料药", "药业", "C27", 5, "331002"),
            ("光伏组件", "新能源", "C38", 9, "330411"),
            ("电线电缆", "电缆", "C38", 9, "330110"),
            ("电子元器件", "电子", "C39", 9, "330108"),
            ("塑料日用品", "塑业", "C29", 21, "330281"),
            ("文具", "文具", "C24", 16, "330226"),
            ("挂锁", "锁业", "C33", 6, "330726"),
            ("水晶饰品", "水晶", "C24", 14, "330726"),
            ("饰品", "饰品", "C24", 14, "330782"),
            ("不锈钢厨具", "厨具", "C33", 21, "330784"),
            ("羊毛衫", "毛纺", "C18", 25, "330483"),
            ("卫浴水暖阀门", "卫浴", "C33", 11, "331083"),
            ("电动自行车", "车业", "C37", 12, "331002"),
            ("金华火腿", "食品", "C13", 29, "330702"),
            ("榨菜", "食品", "C13", 29, "330281"),
            ("酱油", "酿造", "C14", 30),
            ("铝合金型材", "铝业", "C32", 6),
            ("食品机械", "机械", "C35", 7),
            ("包装纸箱", "包装", "C22", 16),
            ("冷链设备", "制冷", "C34", 11),
        ),
    ),
    _AGR: _line(
        _AGR,
        (
            ("西湖龙井茶", "茶业", "A01", 30, "330106", "330102"),
            ("安吉白茶", "茶业", "A01", 30, "330523"),
            ("绿茶", "茶业", "A01", 30, "330127", "331023", "330624"),
            ("杨梅", "果业", "A01", 31, "331024", "330281", "330282"),
            ("大米", "米业", "A01", 30, "330481", "330421", "330881"),
            ("茶油", "油茶", "A02", 29, "330822"),
            ("笋干", "林业", "A02", 29, "330112", "330523"),
            ("山核桃", "林业", "A02", 29, "330112"),
            ("香榧", "林业", "A02", 31, "330681"),
            ("柑橘", "果业", "A01", 31, "331003", "331082", "330803"),
            ("枇杷", "果业", "A01", 31, "330113"),
            ("蜜梨", "果业", "A01", 31),
            ("铁皮石斛", "生物", "A01", 5, "330382", "331023"),
            ("香菇", "食用菌", "A01", 31, "331126"),
            ("大黄鱼", "水产", "A04", 31, "330225", "330921"),
            ("甲鱼", "水产", "A04", 31, "330521"),
            ("蜂蜜", "蜂业", "A03", 30, "330881"),
            ("葡萄", "果业", "A01", 31, "330483"),
            ("蔬菜", "农业", "A01", 31),
        ),
    ),
    _TRD: _line(
        _TRD,
        (
            ("绍兴黄酒", "酿酒", "C15", 33, "330602", "330603"),
            ("龙泉青瓷", "青瓷", "C30", 21, "331181"),
            ("龙泉宝剑", "剑业", "C24", 8, "331181"),
            ("东阳木雕", "木雕", "C24", 20, "330783"),
            ("湖笔", "笔业", "C24", 16, "330503"),
        ),
    ),
}

_WENZHOU_PRODUCTS: dict[str, tuple[_Product, ...]] = {
    _IND: _line(
        _IND,
        (
            ("低压电器", "电气", "C38", 9, "330382"),
            ("阀门", "阀门", "C34", 7, "330324"),
            ("泵", "泵业", "C34", 7, "330324"),
            ("眼镜", "眼镜", "C35", 9, "330304"),
            ("皮鞋", "鞋业", "C19", 25, "330302", "330381"),
            ("服装", "服饰", "C18", 25, "330302"),
            ("汽车零部件", "汽车部件", "C36", 12, "330381"),
            ("打火机", "烟具", "C41", 34, "330302", "330303"),
            ("锁具", "锁业", "C33", 6, "330304"),
            ("剃须刀", "电器", "C38", 8, "330304"),
            ("印刷包装", "印业", "C22", 16, "330383", "330327"),
            ("纽扣拉链", "服装辅料", "C41", 26, "330324"),
            ("合成革", "合成革", "C29", 18, "330303"),
            ("教玩具", "玩具", "C24", 28, "330324"),
            ("塑料编织袋", "塑编", "C29", 22, "330326"),
        ),
    ),
    _AGR: _line(
        _AGR,
        (
            ("瓯柑", "果业", "A01", 31, "330304"),
            ("早茶", "茶业", "A01", 30, "330324", "330329"),
            ("杨梅", "果业", "A01", 31, "330304"),
            ("铁皮石斛", "生物", "A01", 5, "330382"),
            ("猕猴桃", "果业", "A01", 31, "330328"),
        ),
    ),
    _TRD: _line(
        _TRD,
        (
            ("黄杨木雕", "木雕", "C24", 20, "330382"),
            ("瓯绣", "刺绣", "C24", 26, "330302"),
            ("细纹刻纸", "剪纸", "C24", 16, "330382"),
        ),
    ),
}

_HENAN_PRODUCTS: dict[str, tuple[_Product, ...]] = {
    _IND: _line(
        _IND,
        (
            ("速冻食品", "食品", "C14", 30, "410104", "410108"),
            ("火腿肠", "食品", "C13", 29, "411102"),
            ("挂面", "面业", "C13", 30, "411702"),
            ("白酒", "酒业", "C15", 33, "410326", "410329", "410421"),
            ("起重机", "起重", "C34", 7, "410783"),
            ("铝板带", "铝业", "C32", 6, "410181"),
            ("耐火材料", "耐材", "C30", 19, "410183", "410181"),
            ("矿山机械", "重工", "C35", 7, "410305"),
            ("轴承", "轴承", "C34", 7, "410305"),
            ("拖拉机", "农机", "C35", 12, "410305"),
            ("客车", "客车", "C36", 12, "410104"),
            ("发制品", "发制品", "C41", 26, "411003"),
            ("芝麻油", "油脂", "C13", 29, "411702"),
            ("面粉", "面粉", "C13", 30, "411681", "411525"),
            ("调味品", "调味品", "C14", 30, "411702"),
            ("电线电缆", "电缆", "C38", 9, "410100"),
            ("钢材", "钢铁", "C31", 6, "410581", "410500"),
            ("卫生陶瓷", "陶瓷", "C30", 11, "411082"),
            ("棉纱", "纺织", "C17", 23, "411602"),
            ("方便面", "食品", "C14", 30),
        ),
    ),
    _AGR: _line(
        _AGR,
        (
            ("信阳毛尖", "茶业", "A01", 30, "411502"),
            ("怀山药", "农业", "A01", 31, "410825", "410823"),
            ("大蒜", "农业", "A01", 31, "410122"),
            ("香菇", "食用菌", "A01", 31, "411323"),
            ("原阳大米", "米业", "A01", 30, "410725"),
            ("辣椒", "农业", "A01", 31, "411424"),
            ("花生", "农业", "A01", 31, "411724"),
            ("红枣", "果业", "A01", 31, "410184"),
            ("苹果", "果业", "A01", 31, "411282"),
            ("鸡蛋", "牧业", "A03", 29),
        ),
    ),
    _TRD: _line(
        _TRD,
        (
            ("钧瓷", "钧瓷", "C30", 21, "411081"),
            ("汝瓷", "汝瓷", "C30", 21, "410482"),
            ("唐三彩", "工艺品", "C24", 21, "410308"),
            ("汴绣", "刺绣", "C24", 26, "410202"),
        ),
    ),
}

_LUYI_PRODUCTS: dict[str, tuple[_Product, ...]] = {
    _IND: _line(
        _IND,
        (
            ("化妆刷", "刷业", "C41", 21, _LUYI),
            ("尾毛制品", "毛业", "C41", 26, _LUYI),
            ("棉纱", "纺织", "C17", 23, _LUYI),
            ("食用油", "油脂", "C13", 29, _LUYI),
            ("面粉", "面业", "C13", 30, _LUYI),
            ("粉条", "食品", "C13", 30, _LUYI),
            ("肉制品", "食品", "C13", 29, _LUYI),
            ("服装", "服饰", "C18", 25, _LUYI),
            ("包装纸箱", "包装", "C22", 16, _LUYI),
            ("实木家具", "家具", "C21", 20, _LUYI),
        ),
    ),
}

_SHANGHAI_PRODUCTS: dict[str, tuple[_Product, ...]] = {
    _IND: _line(
        _IND,
        (
            ("乳制品", "乳业", "C14", 29, "310120"),
            ("日化用品", "日化", "C26", 3, "310107", "310115"),
            ("钢笔", "文具", "C24", 16, "310101"),
            ("服装", "服饰", "C18", 25, "310101", "310106"),
            ("汽车零部件", "汽车部件", "C36", 12, "310114"),
            ("集成电路", "微电子", "C39", 9, "310115"),
            ("电气设备", "电气", "C38", 9, "310112"),
            ("化工新材料", "化工", "C26", 1, "310116"),
            ("电梯", "电梯", "C34", 7, "310112"),
            ("医疗器械", "医疗器械", "C35", 10, "310115"),
            ("中成药", "药业", "C27", 5, "310104"),
            ("手表", "钟表", "C40", 14, "310105"),
            ("自行车", "自行车", "C37", 12, "310110"),
            ("糖果", "食品", "C14", 30, "310117"),
            ("调味品", "调味品", "C14", 30, "310118"),
            ("船舶配套设备", "船舶", "C37", 12, "310151", "310113"),
            ("涂料", "涂料", "C26", 2, "310118"),
        ),
    ),
    _AGR: _line(
        _AGR,
        (
            ("大米", "米业", "A01", 30, "310151", "310117"),
            ("蔬菜", "农业", "A01", 31, "310151", "310118"),
            ("水蜜桃", "果业", "A01", 31, "310115"),
            ("西瓜", "果业", "A01", 31, "310115"),
            ("清水蟹", "水产", "A04", 31, "310151"),
            ("鸡蛋", "牧业", "A03", 29),
        ),
    ),
    _TRD: _line(
        _TRD,
        (
            ("糕点", "食品", "C14", 30, "310101"),
            ("黄酒", "酿酒", "C15", 33, "310116"),
            ("顾绣", "刺绣", "C24", 26, "310117"),
        ),
    ),
    _SVC: _line(
        _SVC,
        (
            ("餐饮服务", "餐饮管理", "H62", 43, "310101"),
            ("酒店服务", "酒店管理", "H61", 43, "310106"),
            ("物流服务", "物流", "G58", 39, "310115"),
            ("零售服务", "商业", "F52", 35, "310101"),
            ("旅游服务", "旅行社", "L72", 39, "310104"),
            ("家政服务", "家政服务", "O80", 37, "310110"),
        ),
    ),
}

_JIANGSU_PRODUCTS: dict[str, tuple[_Product, ...]] = {
    _IND: _line(
        _IND,
        (
            ("电线电缆", "电缆", "C38", 9, "320282"),
            ("羽绒服", "服饰", "C18", 25, "320581"),
            ("精纺呢绒", "毛纺", "C17", 24, "320281"),
            ("不锈钢材", "不锈钢", "C31", 6, "321281"),
            ("工程机械", "机械", "C35", 7, "320311"),
            ("白酒", "酒业", "C15", 33, "321302", "321323"),
            ("丝绸面料", "丝绸", "C17", 24, "320509"),
            ("香醋", "醋业", "C14", 30, "321102"),
            ("电子元器件", "电子", "C39", 9, "320583"),
            ("光伏组件", "光伏", "C38", 9, "320412"),
            ("家纺", "家纺", "C17", 24, "320612", "320614"),
            ("电动自行车", "车业", "C37", 12, "320214"),
            ("化学药品制剂", "药业", "C27", 5, "321202", "320706"),
            ("眼镜", "眼镜", "C35", 9, "321181"),
            ("电梯", "电梯", "C34", 7, "320506"),
            ("涤纶纤维", "化纤", "C28", 23, "320509"),
            ("汽车零部件", "汽车部件", "C36", 12, "320412"),
        ),
    ),
    _AGR: _line(
        _AGR,
        (
            ("大闸蟹", "水产", "A04", 31, "320507"),
            ("碧螺春茶", "茶业", "A01", 30, "320506"),
            ("小龙虾", "水产", "A04", 31, "320830"),
            ("大米", "米业", "A01", 30, "320924"),
            ("银杏", "林业", "A02", 31, "320382"),
            ("雨花茶", "茶业", "A01", 30, "320114"),
            ("咸鸭蛋", "禽业", "A03", 29, "321084"),
            ("水蜜桃", "果业", "A01", 31, "320211"),
        ),
    ),
    _TRD: _line(
        _TRD,
        (
            ("紫砂壶", "紫砂", "C30", 21, "320282"),
            ("苏绣", "刺绣", "C24", 26, "320505"),
            ("云锦", "云锦", "C17", 24, "320100"),
            ("惠山泥人", "工艺品", "C24", 21, "320206"),
            ("扬州漆器", "漆器", "C24", 20, "321002"),
        ),
    ),
}

_ANHUI_PRODUCTS: dict[str, tuple[_Product, ...]] = {
    _IND: _line(
        _IND,
        (
            ("家用电器", "电器", "C38", 11, "340104", "340111"),
            ("汽车", "汽车", "C36", 12, "340207"),
            ("白酒", "酒业", "C15", 33, "341602", "340603"),
            ("水泥", "建材", "C30", 19, "340202"),
            ("铜材", "铜业", "C32", 6, "340705"),
            ("羽绒", "羽绒", "C19", 22, "341503"),
            ("中药饮片", "药业", "C27", 5, "341602"),
            ("电子元器件", "电子", "C39", 9, "340104"),
            ("电线电缆", "电缆", "C38", 9, "340281"),
            ("显示面板", "光电", "C39", 9, "340111"),
            ("钢材", "钢铁", "C31", 6, "340503"),
            ("轮胎", "轮胎", "C29", 12, "340100"),
        ),
    ),
    _AGR: _line(
        _AGR,
        (
            ("黄山毛峰", "茶业", "A01", 30, "341003", "341004"),
            ("六安瓜片", "茶业", "A01", 30, "341502"),
            ("祁门红茶", "茶业", "A01", 30, "341024"),
            ("太平猴魁", "茶业", "A01", 30, "341003"),
            ("砀山酥梨", "果业", "A01", 31, "341321"),
            ("霍山石斛", "生物", "A01", 5, "341525"),
            ("大米", "米业", "A01", 30, "340124"),
            ("银鱼", "水产", "A04", 31, "340181"),
            ("石榴", "果业", "A01", 31, "340321"),
        ),
    ),
    _TRD: _line(
        _TRD,
        (
            ("宣纸", "宣纸", "C22", 16, "341823"),
            ("徽墨", "墨业", "C24", 16, "341021"),
            ("歙砚", "砚台", "C24", 16, "341021"),
            ("芜湖铁画", "工艺品", "C24", 6, "340202"),
        ),
    ),
}

# --------------------------------------------------------------------------- brand words


def _words(spec: str) -> dict[str, str]:
    """Parse ``"字:zi 词:ci"`` into a dict, so the tables read as plain text."""
    return dict(pair.split(":") for pair in spec.split())


#: Auspicious, brand-like characters, with the pinyin used for Latin names.
_PINYIN: dict[str, str] = _words(
    "金:jin 银:yin 宝:bao 华:hua 康:kang 泰:tai 鑫:xin 盛:sheng 隆:long 达:da 丰:feng 瑞:rui "
    "祥:xiang 福:fu 鸿:hong 宏:hong 美:mei 佳:jia 新:xin 恒:heng 永:yong 兴:xing 昌:chang "
    "源:yuan 东:dong 方:fang 天:tian 龙:long 凤:feng 虹:hong 星:xing 光:guang 明:ming 雅:ya "
    "正:zheng 万:wan 阳:yang 海:hai 江:jiang 山:shan 顺:shun 利:li 嘉:jia 德:de 信:xin "
    "诚:cheng 和:he 安:an 乐:le 富:fu 益:yi 立:li 通:tong 远:yuan 久:jiu 尚:shang 鹰:ying "
    "虎:hu 狮:shi 鹤:he 松:song 竹:zhu 梅:mei 兰:lan 蓝:lan 红:hong 青:qing 春:chun 晨:chen "
    "卓:zhuo 越:yue 骏:jun 腾:teng 飞:fei 锦:jin 绣:xiu 贝:bei 爱:ai 博:bo 诺:nuo 凯:kai 亚:ya "
    "欧:ou 力:li 精:jing 百:bai 千:qian 一:yi 双:shuang 峰:feng 泉:quan 溪:xi 湖:hu 月:yue "
    "云:yun 雪:xue 霞:xia 彩:cai 友:you 宇:yu 舟:zhou 帆:fan 冠:guan 豪:hao 杰:jie 捷:jie "
    "迅:xun 驰:chi 奥:ao 特:te 莱:lai"
)
_GENERIC_CHARS = tuple(_PINYIN)


#: Place words that brands borrow (mountains, rivers, old names), with pinyin.
_ZHEJIANG_WORDS = _words(
    "西湖:xihu 钱江:qianjiang 之江:zhijiang 雁荡:yandang 天目:tianmu 四明:siming "
    "兰亭:lanting 富春:fuchun 莫干:mogan 千岛:qiandao 括苍:kuocang 南湖:nanhu "
    "天台:tiantai 越:yue 甬:yong 瓯:ou"
)
_WENZHOU_WORDS = _words("瓯江:oujiang 雁荡:yandang 楠溪:nanxi 东瓯:dong'ou 玉苍:yucang 瓯:ou")
_HENAN_WORDS = _words(
    "中原:zhongyuan 嵩山:songshan 黄河:huanghe 伏牛:funiu 太行:taihang 商都:shangdu "
    "河洛:heluo 豫:yu 宛:wan 汴:bian 洛:luo"
)
_LUYI_WORDS = _words("老君:laojun 太清:taiqing 真源:zhenyuan 明道:mingdao 鹿:lu")
_SHANGHAI_WORDS = _words(
    "浦江:pujiang 海上:haishang 申城:shencheng 黄浦:huangpu 佘山:sheshan 淞:song 申:shen 沪:hu"
)
_JIANGSU_WORDS = _words(
    "太湖:taihu 金陵:jinling 姑苏:gusu 虞山:yushan 钟山:zhongshan 长江:changjiang "
    "淮扬:huaiyang 阳澄:yangcheng 洪泽:hongze 苏:su 锡:xi 吴:wu"
)
_ANHUI_WORDS = _words(
    "黄山:huangshan 江淮:jianghuai 巢湖:chaohu 九华:jiuhua 天柱:tianzhu 大别:dabie "
    "淮河:huaihe 徽:hui 皖:wan 庐:lu"
)

# --------------------------------------------------------------------------- issuers


@dataclass(frozen=True)
class _Scheme:
    """One recognition programme of an issuer: how its certificates are numbered."""

    kind: str
    cert_prefix: str  # certificate numbers: PREFIX-YYYY-NNNN
    announcement: str  # announcement numbers: 文号〔YYYY〕N号
    month_day: tuple[int, int]  # the annual batch is announced on this day
    years: int | None = 3  # validity; None for titles that do not expire


@dataclass(frozen=True)
class _Issuer:
    name: str
    abbr: str  # record ids: abbr-YYYY-NNNN
    province: str  # head of enterprise names registered province-wide (浙江, 河南, ...)
    regions: Mapping[str, str]
    words: Mapping[str, str]
    products: Mapping[str, tuple[_Product, ...]]


_ZHEJIANG = _Issuer(
    "zhejiang", "zj", "浙江", _ZHEJIANG_REGIONS, _ZHEJIANG_WORDS, _ZHEJIANG_PRODUCTS
)
_WENZHOU = _Issuer("wenzhou", "wz", "温州", _WENZHOU_REGIONS, _WENZHOU_WORDS, _WENZHOU_PRODUCTS)
_HENAN = _Issuer("henan", "hn", "河南", _HENAN_REGIONS, _HENAN_WORDS, _HENAN_PRODUCTS)
_LUYI_ISSUER = _Issuer("luyi", "ly", "鹿邑", _LUYI_REGIONS, _LUYI_WORDS, _LUYI_PRODUCTS)
_SHANGHAI = _Issuer(
    "shanghai", "sh", "上海", _SHANGHAI_REGIONS, _SHANGHAI_WORDS, _SHANGHAI_PRODUCTS
)
_JIANGSU = _Issuer("jiangsu", "js", "江苏", _JIANGSU_REGIONS, _JIANGSU_WORDS, _JIANGSU_PRODUCTS)
_ANHUI = _Issuer("anhui", "ah", "安徽", _ANHUI_REGIONS, _ANHUI_WORDS, _ANHUI_PRODUCTS)

_ZJ_BRAND = _Scheme(_PROVINCIAL_BRAND, "ZJMP", "浙市监质", (1, 14))
_WZ_BRAND = _Scheme(_CITY_BRAND, "WZMP", "温市监质", (6, 18))
_HN_BRAND = _Scheme(_PROVINCIAL_BRAND, "HNMP", "豫市监质", (12, 26))
_HN_QUALITY = _Scheme(_PROVINCIAL_QUALITY, "HNYZ", "豫质委", (9, 20))
_LY_QUALITY = _Scheme(_COUNTY_QUALITY, "LYZL", "鹿政", (4, 28))
_SH_BRAND = _Scheme(_PROVINCIAL_BRAND, "SHMP", "沪名推委", (3, 25))
_JS_BRAND = _Scheme(_PROVINCIAL_BRAND, "JSMP", "苏市监质", (11, 30))
_AH_BRAND = _Scheme(_PROVINCIAL_BRAND, "AHMP", "皖市监质", (8, 10))
# Well-known marks: the demo lets each province node publish those of its own
# enterprises (in reality the status is determined by the national trademark office).
_SH_WELL_KNOWN = _Scheme(_WELL_KNOWN, "SHWK", "商标驰字", (4, 26), None)
_JS_WELL_KNOWN = _Scheme(_WELL_KNOWN, "JSWK", "商标驰字", (4, 26), None)
_AH_WELL_KNOWN = _Scheme(_WELL_KNOWN, "AHWK", "商标驰字", (4, 26), None)


def embedded_region_codes() -> frozenset[str]:
    """Every GB/T 2260 code this module embeds, for checking against the standard.

    Issuers, enterprise regions and industry clusters all count: a typo in any of
    them would put a synthetic enterprise in a place that does not exist.
    """
    codes: set[str] = set(ISSUER_REGIONS.values())
    for issuer in (_ZHEJIANG, _WENZHOU, _HENAN, _LUYI_ISSUER, _SHANGHAI, _JIANGSU, _ANHUI):
        codes.update(issuer.regions)
        for line in issuer.products.values():
            for product in line:
                codes.update(product.clusters)
    return frozenset(codes)


# --------------------------------------------------------------------------- building


class _Brand(NamedTuple):
    name: str
    latin: str


class _Holder(NamedTuple):
    """An enterprise that holds recognitions, with the brand and product it is known for."""

    name: str
    uscc: str
    region: str
    brand: _Brand
    product: _Product


def _latin(syllables: Sequence[str]) -> str:
    """Join pinyin syllables, with the apostrophe pinyin needs before a, o and e."""
    out = ""
    for syllable in syllables:
        if out and syllable[0] in "aoe":
            out += "'"
        out += syllable
    return out[:1].upper() + out[1:]


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _spread(total: int) -> list[int]:
    """Split ``total`` records over the batch years by the fixed shares."""
    counts = [total * share // 100 for share in _YEAR_SHARES]
    counts[-1] += total - sum(counts)
    return counts


def _fixed_uscc(region: str, body: str) -> str:
    first17 = f"91{region}{body}"
    return first17 + check_char(first17)


class _Builder:
    """Holds the one random stream and the uniqueness state of a generation run."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.usccs: set[str] = set()
        self.enterprise_names: set[str] = set()
        self.brands: dict[str, set[str]] = {}
        self.record_seq: dict[tuple[str, int], int] = {}
        self.cert_seq: dict[tuple[str, int], int] = {}
        self.announcements: dict[tuple[str, int], str] = {}
        self.out: dict[str, list[dict[str, object]]] = {name: [] for name in ISSUER_REGIONS}

    # -- identities ------------------------------------------------------------

    def uscc(self, region: str) -> str:
        """Draw a fresh valid USCC registered in ``region``; no two holders share one."""
        while True:
            first17 = f"91{region}{''.join(self.rng.choices(ALPHABET, k=9))}"
            code = first17 + check_char(first17)
            if code not in self.usccs:
                self.usccs.add(code)
                return code

    def fixed_holder(
        self,
        issuer: _Issuer,
        name: str,
        region: str,
        body: str,
        brand: _Brand,
        product: _Product,
    ) -> _Holder:
        """Register a hand-placed holder, so the story's records do not move with the seed."""
        uscc = _fixed_uscc(region, body)
        if uscc in self.usccs or name in self.enterprise_names:
            raise AssertionError(f"fixed holder {name} clashes")  # a bug in the constants
        self.usccs.add(uscc)
        self.enterprise_names.add(name)
        self.brands.setdefault(issuer.name, set()).add(brand.name)
        return _Holder(name, uscc, region, brand, product)

    def brand(self, issuer: _Issuer) -> _Brand:
        """Compose a brand the issuer has not recognised yet (2-4 characters).

        Unique per issuer so a search by brand name in the demo finds one holder.
        """
        rng = self.rng
        taken = self.brands.setdefault(issuer.name, set())
        words = list(issuer.words)
        long_words = [w for w in words if len(w) == 2]
        while True:
            roll = rng.random()
            if roll < 0.55:
                parts = rng.sample(_GENERIC_CHARS, 2)
            elif roll < 0.80:
                parts = [rng.choice(words), rng.choice(_GENERIC_CHARS)]
            elif roll < 0.90:
                parts = rng.sample(_GENERIC_CHARS, 3)
            else:
                parts = [rng.choice(long_words), *rng.sample(_GENERIC_CHARS, 2)]
            name = "".join(parts)
            if len(set(name)) != len(name) or name in taken:
                continue
            taken.add(name)
            syllables = [issuer.words.get(p) or _PINYIN[p] for p in parts]
            return _Brand(name, _latin(syllables) if rng.random() < 0.6 else "")

    def pick_region(self, issuer: _Issuer, product: _Product, exclude: Sequence[str]) -> str:
        """Choose where a new holder registers, inside the issuer's jurisdiction."""
        clusters = [c for c in product.clusters if c in issuer.regions and c not in exclude]
        # Produce and crafts named after a place come from there; factories
        # cluster too, but a fair share sits anywhere in the jurisdiction.
        bound = product.sector in (_AGR, _TRD)
        if clusters and (bound or self.rng.random() < 0.6):
            return self.rng.choice(clusters)
        return self.rng.choice([c for c in issuer.regions if c not in exclude])

    def new_holder(
        self, issuer: _Issuer, product: _Product, exclude: Sequence[str] = ()
    ) -> _Holder:
        """Create an enterprise with a unique name and USCC to hold ``product``."""
        rng = self.rng
        while True:
            region = self.pick_region(issuer, product, exclude)
            brand = self.brand(issuer)
            head = issuer.province if rng.random() < 0.25 else issuer.regions[region]
            tail = rng.choices(("有限公司", "股份有限公司", "集团有限公司"), (70, 22, 8))[0]
            name = f"{head}{brand.name}{product.trade}{tail}"
            if name not in self.enterprise_names:
                self.enterprise_names.add(name)
                return _Holder(name, self.uscc(region), region, brand, product)

    # -- records ---------------------------------------------------------------

    def issue(
        self, issuer: _Issuer, scheme: _Scheme, year: int, holder: _Holder
    ) -> dict[str, object]:
        """Append one record to the issuer's list, in the year's batch of ``scheme``.

        Ids and certificate numbers count up per issuer and year, and one
        announcement number covers a scheme's whole batch, as real ones do.
        """
        on = date(year, *scheme.month_day)
        seq = self.record_seq[issuer.name, year] = self.record_seq.get((issuer.name, year), 0) + 1
        key = (scheme.cert_prefix, year)
        cert = self.cert_seq[key] = self.cert_seq.get(key, 0) + 1
        if key not in self.announcements:
            self.announcements[key] = f"{scheme.announcement}〔{year}〕{self.rng.randint(3, 68)}号"
        until = ""
        if scheme.years is not None:
            until = (_add_years(on, scheme.years) - timedelta(days=1)).isoformat()
        product = holder.product
        record: dict[str, object] = {
            "record_id": f"{issuer.abbr}-{year}-{seq:04d}",
            "kind": scheme.kind,
            "sector": product.sector,
            "brand_name": holder.brand.name,
            "brand_name_latin": holder.brand.latin,
            "product": product.name,
            "nice_classes": [product.nice],
            "industry_code": product.industry,
            "enterprise_name": holder.name,
            "enterprise_uscc": holder.uscc,
            "enterprise_region": holder.region,
            "certificate_no": f"{scheme.cert_prefix}-{year}-{cert:04d}",
            "announcement_no": self.announcements[key],
            "recognised_on": on.isoformat(),
            "valid_from": on.isoformat(),
            "valid_until": until,
        }
        self.out[issuer.name].append(record)
        return record

    def batch(
        self,
        issuer: _Issuer,
        scheme: _Scheme,
        sectors: Mapping[str, int],
        *,
        exclude: Sequence[str] = (),
        skip: Mapping[int, int] | None = None,
    ) -> list[_Holder]:
        """Issue new holders' records: exact counts per sector, spread over the years.

        ``skip`` removes hand-placed records from a year's share so the totals
        stay exact.
        """
        rng = self.rng
        catalogue = issuer.products
        slots = [sector for sector, n in sectors.items() for _ in range(n)]
        rng.shuffle(slots)
        years: list[int] = []
        counts = _spread(len(slots) + sum((skip or {}).values()))
        for year, n in zip(_YEARS, counts, strict=True):
            years += [year] * (n - (skip or {}).get(year, 0))
        # Deal products from a shuffled deck per sector, so every line of the
        # catalogue is represented (five cultural records, five crafts).
        decks: dict[str, list[_Product]] = {}
        holders = []
        for year, sector in zip(years, slots, strict=True):
            deck = decks.setdefault(sector, [])
            if not deck:
                deck.extend(catalogue[sector])
                rng.shuffle(deck)
            holder = self.new_holder(issuer, deck.pop(), exclude)
            self.issue(issuer, scheme, year, holder)
            holders.append(holder)
        return holders

    def reissue(
        self, issuer: _Issuer, scheme: _Scheme, holders: Sequence[_Holder], years: Sequence[int]
    ) -> None:
        """Issue records to holders already recognised elsewhere."""
        for holder, year in zip(holders, years, strict=True):
            self.brands.setdefault(issuer.name, set()).add(holder.brand.name)
            self.issue(issuer, scheme, year, holder)


def _zhejiang(b: _Builder) -> list[_Holder]:
    """1,039 provincial famous-brand products: 819 industrial, 215 agricultural, 5 cultural."""
    silk = _Product("真丝围巾", "丝绸", "C17", 25, _IND, ("330105",))
    featured = b.fixed_holder(
        _ZHEJIANG, "杭州杭瑞丝绸有限公司", "330105", "MA2H7Q3K0", _Brand("杭瑞", "Hangrui"), silk
    )
    b.issue(_ZHEJIANG, _ZJ_BRAND, 2025, featured)  # zj-2025-0001, FEATURED["zhejiang_brand"]
    return b.batch(_ZHEJIANG, _ZJ_BRAND, {_IND: 818, _AGR: 215, _TRD: 5}, skip={2025: 1})


def _wenzhou(b: _Builder, provincial: Sequence[_Holder]) -> None:
    """About 150 Wenzhou famous-brand products; some holders also hold Zhejiang's title."""
    shoes = _WENZHOU_PRODUCTS[_IND][4]
    featured = b.fixed_holder(
        _WENZHOU, "温州瓯韵鞋业有限公司", "330302", "MA2J8RW61", _Brand("瓯韵", "Ouyun"), shoes
    )
    b.issue(_WENZHOU, _WZ_BRAND, 2024, featured)  # wz-2024-0001, FEATURED["wenzhou_brand"]
    local = [h for h in provincial if h.region.startswith("3303")]
    years = [y for y, n in zip(_YEARS, _spread(25), strict=True) for _ in range(n)]
    b.reissue(_WENZHOU, _WZ_BRAND, b.rng.sample(local, 25), years)
    b.batch(_WENZHOU, _WZ_BRAND, {_IND: 106, _AGR: 14, _TRD: 4}, skip={2024: 1})


def _henan_and_luyi(b: _Builder) -> None:
    """Henan's titles, the twelve held in Luyi County first, then Luyi's own awards."""
    liquor = _Product("浓香型白酒", "酒业", "C15", 33, _IND, (_LUYI,))
    sausage = _Product("火腿肠", "食品", "C13", 29, _IND, (_LUYI,))
    sesame = _Product("小磨香油", "油脂", "C13", 29, _IND, (_LUYI,))
    cold_meat = _Product("低温肉制品", "食品", "C13", 29, _IND, (_LUYI,))
    songhe = b.fixed_holder(
        _HENAN,
        "河南省宋河酒业股份有限公司",
        _LUYI,
        "706781357",
        _Brand("宋河粮液", "Songhe Liangye"),
        liquor,
    )
    zhiyuan = b.fixed_holder(
        _HENAN,
        "河南省志元食品有限公司",
        _LUYI,
        "MA40P2XK7",
        _Brand("志元火腿肠", "Zhiyuan"),
        sausage,
    )
    lier = b.fixed_holder(
        _HENAN,
        "鹿邑县李二香油有限公司",
        _LUYI,
        "MA3XB6DN4",
        _Brand("李二小磨香油", "Li'er"),
        sesame,
    )
    b.issue(_HENAN, _HN_BRAND, 2024, songhe)  # hn-2024-0001, FEATURED["songhe"]
    b.issue(_HENAN, _HN_BRAND, 2024, zhiyuan)
    b.issue(_HENAN, _HN_BRAND, 2023, lier)

    # Four more Luyi holders of the provincial title, and five Henan quality awards.
    luyi_brand: list[_Holder] = []
    # Henan as issuer, restricted to Luyi: new holders' brands stay unique within
    # Henan's records while their names and regions are Luyi's.
    luyi_henan = _Issuer(
        "henan", "hn", "河南", _LUYI_REGIONS, _LUYI_WORDS | _HENAN_WORDS, _LUYI_PRODUCTS
    )
    for year in (2022, 2024, 2025, 2025):
        holder = b.new_holder(luyi_henan, b.rng.choice(_LUYI_PRODUCTS[_IND]))
        b.issue(_HENAN, _HN_BRAND, year, holder)
        luyi_brand.append(holder)
    zhiyuan_cold = zhiyuan._replace(brand=_Brand("志元", "Zhiyuan"), product=cold_meat)
    b.issue(_HENAN, _HN_QUALITY, 2025, zhiyuan_cold)
    for year in (2022, 2023, 2024, 2025):
        holder = b.new_holder(luyi_henan, b.rng.choice(_LUYI_PRODUCTS[_IND]))
        b.issue(_HENAN, _HN_QUALITY, year, holder)

    # The rest of Henan, never in Luyi (the twelve above are all of Luyi's).
    b.batch(_HENAN, _HN_BRAND, {_IND: 215, _AGR: 42, _TRD: 13}, exclude=(_LUYI,))
    b.batch(_HENAN, _HN_QUALITY, {_IND: 24, _AGR: 6}, exclude=(_LUYI,))

    # Luyi County's own quality award: its best-known holders again, then others.
    songhe_county = songhe._replace(brand=_Brand("宋河", "Songhe"))
    again = [songhe_county, zhiyuan, lier, *b.rng.sample(luyi_brand, 2)]
    b.reissue(_LUYI_ISSUER, _LY_QUALITY, again, (2022, 2023, 2023, 2024, 2025))
    b.batch(_LUYI_ISSUER, _LY_QUALITY, {_IND: 15})


def _with_well_known(
    b: _Builder,
    issuer: _Issuer,
    brand: _Scheme,
    sectors: Mapping[str, int],
    well_known: _Scheme,
    count: int,
) -> None:
    """Provincial famous-brand products, then well-known marks for a few of their holders.

    Well-known marks go to holders of the provincial title because that is who
    holds them in practice; they date from before the 2022-2025 batches.
    """
    holders = b.batch(issuer, brand, sectors)
    for holder in b.rng.sample(holders, count):
        b.issue(issuer, well_known, b.rng.randint(2006, 2016), holder)


def demo_records(seed: int = 2026) -> dict[str, list[dict]]:
    """Build the demo data set: records per issuing node, keyed by node name.

    The same seed always gives the same records (and fresh dicts, so a caller
    may mutate them). Each list is in issuing order: by date, then record id.

    Args:
        seed: seeds the one random stream everything is drawn from.

    Returns:
        ``{node name: [record dict, ...]}`` for the nodes of :data:`ISSUER_REGIONS`.
    """
    b = _Builder(seed)
    _wenzhou(b, _zhejiang(b))
    _henan_and_luyi(b)
    _with_well_known(
        b, _SHANGHAI, _SH_BRAND, {_IND: 180, _AGR: 20, _TRD: 10, _SVC: 35}, _SH_WELL_KNOWN, 5
    )
    _with_well_known(b, _JIANGSU, _JS_BRAND, {_IND: 230, _AGR: 45, _TRD: 19}, _JS_WELL_KNOWN, 6)
    _with_well_known(b, _ANHUI, _AH_BRAND, {_IND: 185, _AGR: 45, _TRD: 15}, _AH_WELL_KNOWN, 5)
    for records in b.out.values():
        records.sort(key=lambda r: (r["recognised_on"], r["record_id"]))
    return b.out
