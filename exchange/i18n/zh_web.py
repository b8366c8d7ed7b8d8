"""Chinese for the staff console's pages, keyed by the English text in the templates.

Domain words (kinds, states, reasons, case actions, decision codes) are not
here but in :mod:`exchange.i18n.terms`; region names come from the region table.
"""

MESSAGES: dict[str, str] = {
    # frame and navigation
    "brandex staff console": "品牌互认工作台",
    "Staff console": "工作台",
    "Search": "搜索",
    "Is it recognised here?": "本地是否认可？",
    "Cases": "案件",
    "Agreements": "互认协议",
    "Federation": "联盟",
    "Verify a bundle": "验证记录包",
    "Verify a bundle file": "验证记录包文件",
    "Node": "节点",
    "Log in": "登录",
    "Log out": "退出",
    "User name": "用户名",
    "Password": "密码",
    "staff": "工作人员",
    "auditor": "审计员",
    "Every login and every query is recorded with your user name.": (
        "每次登录和每次查询都会连同您的用户名一起记录。"
    ),
    "Wrong user name or password.": "用户名或密码错误。",
    "Too many failed logins: this account is locked for 15 minutes.": (
        "登录失败次数过多：该账户已锁定 15 分钟。"
    ),
    "The form expired or did not come from this console (CSRF check); please try again.": (
        "表单已过期或并非来自本工作台（CSRF 校验未通过），请重试。"
    ),
    "Error": "出错了",
    "Back to search": "返回搜索",
    # search
    "Brand, pinyin (songhe), initials (shly), enterprise or credit code": (
        "品牌、拼音（songhe）、首字母（shly）、企业名称或信用代码"
    ),
    "{n} records": "共 {n} 条记录",
    "No exact match: showing records for a near spelling.": (
        "没有完全匹配的结果：显示拼写相近的记录。"
    ),
    "Nothing found.": "没有找到。",
    "The search failed: {error}": "搜索失败：{error}",
    "valid until": "有效期至",
    "Issuer": "签发机关",
    "Enterprise region": "企业所在地",
    "Kind": "类型",
    "Status": "状态",
    "Nice class": "尼斯分类",
    # record
    "Record": "记录",
    "Brand": "品牌",
    "Brand (Latin)": "品牌（拉丁字母）",
    "Sector": "行业门类",
    "Product": "产品",
    "Nice classes": "尼斯分类",
    "Industry code": "行业代码",
    "Enterprise": "企业",
    "Credit code (USCC)": "统一社会信用代码",
    "Certificate no.": "证书编号",
    "Announcement no.": "公告文号",
    "Recognised on": "认定日期",
    "Valid from": "有效期起",
    "Valid until": "有效期至",
    "Status today": "今日状态",
    "Recognised": "认定",
    "effective": "生效",
    "Lifecycle": "生命周期",
    "log": "日志",
    "signing key": "签名密钥",
    "issuer time": "签发方时间",
    "witness time": "见证时间",
    "not yet witnessed": "尚未见证",
    "The issuer's time is its own claim; the earliest witness cosignature covering the entry "
    "bounds when it really existed.": (
        "签发方时间只是其自述；覆盖该条目的最早见证联署时间才界定它实际存在的时间。"
    ),
    "Where it is recognised today, and why": "今日在哪些地区获认可及理由",
    "Region": "地区",
    "Why": "理由",
    "Recognised nowhere today.": "今日在任何地区均不获认可。",
    "Ask about another region or date": "查询其他地区或日期",
    "Related cases": "相关案件",
    "No cases.": "没有案件。",
    "Verification in your browser": "在浏览器中验证",
    "Your browser checks the issuer's signature, the Merkle inclusion proof, the checkpoint "
    "signature and the witness cosignatures itself (WebCrypto), without trusting this server. "
    "Compare the key fingerprints with your federation's.": (
        "您的浏览器自行（WebCrypto）验证签发方签名、默克尔包含证明、检查点签名和见证联署，"
        "不依赖本服务器。请将密钥指纹与联盟公布的指纹核对。"
    ),
    "Verification needs JavaScript.": "验证需要启用 JavaScript。",
    "Verifying in this browser…": "正在本浏览器中验证……",
    "Verified in this browser: all {n} checks passed": "已在本浏览器中验证：{n} 项检查全部通过",
    "NOT verified: {check} failed ({subject})": "验证未通过：{check} 未通过（{subject}）",
    "Could not verify: {error}": "无法验证：{error}",
    "Check": "检查项",
    "Subject": "对象",
    "Result": "结果",
    "Detail": "说明",
    "pass": "通过",
    "FAIL": "未通过",
    "Log": "日志",
    "Used for": "用途",
    "Key fingerprint (SHA-256)": "密钥指纹（SHA-256）",
    "signs records": "记录签名",
    "signs checkpoints": "检查点签名",
    "witness cosigning": "见证联署",
    "Download the bundle": "下载记录包",
    "format": "格式",
    "DSSE signature": "DSSE 签名",
    "checkpoint signature": "检查点签名",
    "cosignatures": "副署",
    "inclusion proof": "包含证明",
    "verifier keys": "验证密钥",
    "A province's recognition also holds in its cities and counties.": (
        "省级认可在其所辖市、县同样有效。"
    ),
    # cases
    "Case": "案件",
    "Type": "类型",
    "Infringer": "侵权方",
    "Opened": "立案日期",
    "State": "状态",
    "Actions": "处理",
    "open": "处理中",
    "closed": "已结案",
    "open only": "仅处理中",
    "Filter": "筛选",
    # check
    "or record": "或记录",
    "Region (name or code)": "地区（名称或代码）",
    "Date": "日期",
    "Ask": "查询",
    "Yes, recognised": "是，获认可",
    "No, not recognised": "否，不获认可",
    "entries": "条目",
    # agreements
    "Covers": "涵盖",
    "Member": "成员",
    "Acceded from": "加入日期",
    "Until": "截止",
    "Withdrawals": "退出",
    "No agreements.": "没有互认协议。",
    # federation
    "As node {name} ({region}) sees it, started {started}.": (
        "节点 {name}（{region}）所见，启动于 {started}。"
    ),
    "Logs": "日志",
    "Size": "条目数",
    "Latest witness cosignature": "最新见证联署",
    "Checkpoint age": "检查点时长",
    "Witnesses": "见证方",
    "frozen": "已冻结",
    "ok": "正常",
    "Violations": "违规",
    "Peers": "对等节点",
    "Address": "地址",
    "Reachable": "可达",
    "Last sync": "最近同步",
    "Last error": "最近错误",
    "yes": "是",
    "no": "否",
    "Frozen logs": "冻结的日志",
    "None.": "无。",
    "Rule violations": "规则违规",
    "Rule": "规则",
    "no cosignature yet": "尚无见证联署",
    "{n} s": "{n} 秒",
    "{n} min": "{n} 分钟",
    "{n} h": "{n} 小时",
}
