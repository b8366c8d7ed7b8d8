"""The federation's domain words in Chinese and English, one home for both surfaces.

The CLI, the console and the spreadsheet exporter name kinds, states, reasons
and case actions; each takes the words from here, so 已撤销 means the same
thing on a terminal, in a browser and in an exported list. Keys are the enum
members of :mod:`exchange.core.vocabulary` and the state names of
:mod:`exchange.core.status`.
"""

from __future__ import annotations

from exchange.core.vocabulary import (
    KIND_LABEL,
    CaseActionType,
    CaseType,
    Kind,
    ReasonCode,
    Sector,
    Status,
)

#: Chinese names of the kinds (proto comments), accepted on import and written by export.
KIND_ZH: dict[Kind, str] = {
    Kind.WELL_KNOWN_TRADEMARK: "驰名商标",
    Kind.PROVINCIAL_FAMOUS_BRAND_PRODUCT: "省名牌产品",
    Kind.PROVINCIAL_FAMOUS_TRADEMARK: "省著名商标",
    Kind.CHINA_TIME_HONOURED_BRAND: "中华老字号",
    Kind.PROVINCIAL_TIME_HONOURED_BRAND: "省老字号",
    Kind.GEOGRAPHICAL_INDICATION: "地理标志",
    Kind.PROVINCIAL_QUALITY_AWARD: "省质量奖",
    Kind.CITY_QUALITY_AWARD: "市质量奖",
    Kind.COUNTY_QUALITY_AWARD: "县质量奖",
    Kind.CITY_FAMOUS_BRAND_PRODUCT: "市名牌产品",
}

#: Chinese names of the sectors; the importer also accepts a trailing 类 (工业类).
SECTOR_ZH: dict[Sector, str] = {
    Sector.INDUSTRIAL: "工业",
    Sector.AGRICULTURAL: "农业",
    Sector.SERVICE: "服务业",
    Sector.TRADITIONAL_CULTURAL: "传统文化",
}

#: A record's state today (``exchange.core.status.StateName``) plus the derived
#: ``expired`` that search and ``check`` report.
STATE_ZH: dict[str, str] = {
    "valid": "有效",
    "suspended": "已暂停",
    "revoked": "已撤销",
    "withdrawn": "已撤回",
    "expired": "已过期",
}

#: The change a ``StatusChange`` makes, as a past-tense verb.
STATUS_ZH: dict[Status, str] = {
    Status.SUSPENDED: "暂停",
    Status.REINSTATED: "恢复",
    Status.REVOKED: "撤销",
    Status.RENEWED: "续展",
    Status.CORRECTED: "更正",
    Status.WITHDRAWN: "撤回",
}

REASON_ZH: dict[ReasonCode, str] = {
    ReasonCode.SPOT_CHECK_FAILURE: "抽检不合格",
    ReasonCode.QUALITY_INCIDENT: "质量事故",
    ReasonCode.COUNTERFEIT_INVOLVEMENT: "涉嫌假冒",
    ReasonCode.FRAUD_IN_APPLICATION: "申报弄虚作假",
    ReasonCode.DEREGISTRATION: "企业注销",
    ReasonCode.RENEWAL: "续展",
    ReasonCode.CONDITIONAL_REVIEW: "附条件复核",
    ReasonCode.OTHER: "其他",
}

CASE_TYPE_ZH: dict[CaseType, str] = {
    CaseType.COUNTERFEIT: "假冒",
    CaseType.TRADEMARK_INFRINGEMENT: "商标侵权",
    CaseType.FALSE_FAMOUS_BRAND_CLAIM: "虚假名牌宣传",
    CaseType.WELL_KNOWN_ADVERTISING_MISUSE: "违规使用驰名商标字样",
}

CASE_ACTION_ZH: dict[CaseActionType, str] = {
    CaseActionType.ACKNOWLEDGED: "已受理",
    CaseActionType.INSPECTION: "检查",
    CaseActionType.SEIZURE: "查扣",
    CaseActionType.PENALTY: "处罚",
    CaseActionType.TRANSFERRED_TO_POLICE: "移送公安",
    CaseActionType.CLOSED: "结案",
    CaseActionType.DISMISSED: "不予立案",
}


def _english(member: object) -> str:
    return getattr(member, "name", str(member)).lower().replace("_", " ")


def kind_name(kind: int, lang: str) -> str:
    """Name a kind in ``lang``, never failing on a number this build does not know."""
    try:
        k = Kind(int(kind))
    except ValueError:
        return f"类型 {int(kind)}" if lang == "zh" else f"kind {int(kind)}"
    if lang == "zh":
        return KIND_ZH.get(k, str(int(kind)))
    return KIND_LABEL.get(k, f"kind {int(kind)}")


def state_name(state: str, lang: str) -> str:
    """Name a record state (``valid``, ``revoked``, ...) in ``lang``."""
    return STATE_ZH.get(state, state) if lang == "zh" else state


def _enum_name(table: dict, enum: type, value: int, lang: str) -> str:
    try:
        member = enum(int(value))
    except ValueError:
        return str(int(value))
    return table.get(member, _english(member)) if lang == "zh" else _english(member)


def status_name(status: int, lang: str) -> str:
    return _enum_name(STATUS_ZH, Status, status, lang)


def reason_name(reason: int, lang: str) -> str:
    return _enum_name(REASON_ZH, ReasonCode, reason, lang)


def sector_name(sector: int, lang: str) -> str:
    return _enum_name(SECTOR_ZH, Sector, sector, lang)


def case_type_name(case_type: int, lang: str) -> str:
    return _enum_name(CASE_TYPE_ZH, CaseType, case_type, lang)


def case_action_name(action: int, lang: str) -> str:
    return _enum_name(CASE_ACTION_ZH, CaseActionType, action, lang)


#: The codes of a recognition decision's reasons (exchange.core.recognition.decide),
#: as the console's "is it recognised here?" answer heads each reason.
DECISION_ZH: dict[str, str] = {
    "jurisdiction": "签发机关辖区内",
    "agreement": "互认协议",
    "valid": "有效",
    "expired": "已过期",
    "not-yet-valid": "尚未生效",
    "suspended": "已暂停",
    "revoked": "已撤销",
    "withdrawn": "已撤回",
    "agreement-not-in-force": "协议未生效",
    "kind-not-covered": "协议不涵盖该类型",
    "issuer-not-party": "签发机关未加入协议",
    "no-agreement": "无互认协议",
}


def decision_name(code: str, lang: str) -> str:
    """Name a reason code of a recognition decision in ``lang``."""
    return DECISION_ZH.get(code, code) if lang == "zh" else code.replace("-", " ")
