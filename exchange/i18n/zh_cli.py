"""Chinese for the command line's messages, keyed by the English text in the code.

Table headers are keyed by the column name in capitals (``ISSUER``), the
labels of ``brandex show`` and the names of ``audit verify``'s checks by their
English words. Region names and codes, record ids, dates and log origins are
placeholders and are shown as they are.
"""

MESSAGES: dict[str, str] = {
    # ---- errors, warnings and refusals (exchange/cli/common.py, options.py)
    "give --config nodes/<name>.toml (or set BRANDEX_CONFIG)": (
        "请用 --config nodes/<名称>.toml 指定节点配置（或设置 BRANDEX_CONFIG）"
    ),
    "warning: {node}: {text}": "警告：{node}：{text}",
    "node unreachable ({details})": "无法连接节点（{details}）",
    "error: {name}: {details}": "错误：{name}：{details}",
    "error: {problem}": "错误：{problem}",
    "refused: {details}": "被拒绝：{details}",
    "give at least one --set FIELD=VALUE": "请至少给出一个 --set 字段=值",
    # ---- table headers
    "ISSUER": "认定地区",
    "RECORD_ID": "记录编号",
    "RECORD": "记录",
    "BRAND": "品牌",
    "BRAND_NAME": "品牌名称",
    "PRODUCT": "产品",
    "ENTERPRISE": "企业",
    "KIND": "类型",
    "KINDS": "类型",
    "STATUS": "状态",
    "VALID_UNTIL": "有效期至",
    "RECOGNISED_IN": "承认地区",
    "EFFECTIVE_ON": "生效日期",
    "CHANGE": "变更",
    "ANNOUNCEMENT": "公告文号",
    "TEXT": "说明",
    "ISSUED_AT": "签发时间",
    "ENTRY": "日志条目",
    "CASE": "案件",
    "REPORTED_BY": "报告地区",
    "HANDLING": "承办地区",
    "TYPE": "案件类型",
    "INFRINGER": "侵权人",
    "VALUE_YUAN": "货值（元）",
    "OPENED_ON": "立案日期",
    "OPEN": "办理状态",
    "ACTIONS": "处理措施",
    "AGREEMENT": "协议",
    "TITLE": "名称",
    "REGION": "地区",
    "FROM": "起始日期",
    "UNTIL": "终止日期",
    "WITHDRAWN_ON": "退出日期",
    "IN_FORCE_TODAY": "今日有效",
    "ORIGIN": "日志",
    "SIZE": "条目数",
    "COSIGNERS": "副署方",
    "VIOLATIONS": "违规",
    "STATE": "状况",
    "PEER": "对等节点",
    "REACHABLE": "可连接",
    "LAG": "落后条目",
    "LAST_SYNC": "最近同步",
    "LAST_ERROR": "最近错误",
    # ---- words in cells
    "yes": "是",
    "no": "否",
    "ok": "正常",
    "open": "处理中",
    "closed": "已结案",
    "no expiry": "长期有效",
    # ---- search (exchange/cli/registry.py)
    "nothing matched {text!r} as typed; these match one letter away:": (
        "没有与 {text!r} 完全一致的结果；以下结果相差一个字母："
    ),
    "no records at offset {offset} (of {total}) at {node}": (
        "{node} 在偏移 {offset} 处没有记录（共 {total} 条）"
    ),
    "no records match at {node}": "{node} 没有匹配的记录",
    "{first}-{last} of {total} record(s) at {node}": (
        "第 {first}-{last} 条，共 {total} 条记录（{node}）"
    ),
    "; --offset {next} for more": "；更多结果请用 --offset {next}",
    "facets{over}:": "分面统计{over}：",
    " (first {n} matches)": "（前 {n} 个匹配）",
    ", +{n} more": "，另有 {n} 项",
    "issuer": "认定地区",
    "region": "企业所在地区",
    "kind": "类型",
    "status": "状态",
    "nice_class": "尼斯分类",
    # ---- show
    "not found: no issuer holds record {record_id} at {node}": (
        "未找到：{node} 上没有任何认定地区持有记录 {record_id}"
    ),
    "ambiguous: record id {record_id} is held by {n} issuers ({names});"
    " give --issuer, e.g. --issuer {example}": (
        "记录编号 {record_id} 有歧义：{n} 个认定地区持有该编号（{names}）；"
        "请给出 --issuer，例如 --issuer {example}"
    ),
    "not found: {details}": "未找到：{details}",
    "record": "记录",
    "brand": "品牌",
    "product": "产品",
    "nice classes": "尼斯分类",
    "industry": "行业代码",
    "enterprise": "企业",
    "certificate": "证书",
    "recognised on": "认定日期",
    "valid": "有效期",
    "status today": "今日状态",
    "recognised in": "承认地区",
    "provenance": "来源",
    "{cert}, announcement {ann}": "{cert}，公告 {ann}",
    "{start} to {end}": "{start} 至 {end}",
    "checkpoint size {size}": "检查点大小 {size}",
    ", cosigned by {names}": "，副署方 {names}",
    ", no cosignatures yet": "，尚无副署",
    "; issued {at} by key {key}…": "；{at} 由密钥 {key}… 签发",
    "; logged no later than {at} by {n} witness": "；不晚于 {at} 记入日志（{n} 个见证方）",
    "; logged no later than {at} by {n} witnesses": "；不晚于 {at} 记入日志（{n} 个见证方）",
    " until {date}": "，至 {date}",
    "status changes ({n})": "状态变更（{n}）",
    "status changes: none": "状态变更：无",
    "cases ({n})": "案件（{n}）",
    "cases: none": "案件：无",
    # ---- check
    "recognised: {record} ({brand}) in {region} on {on}": (
        "承认：{record}（{brand}）于 {on} 在{region}获承认"
    ),
    "not recognised: {record} ({brand}) in {region} on {on}": (
        "不承认：{record}（{brand}）于 {on} 在{region}不获承认"
    ),
    "not recognised: {details}": "不承认：{details}",
    "      entries: {refs}": "      依据条目：{refs}",
    # ---- status, cases, agreements (write commands)
    "{result}: {record} from {effective}{extra} (entry {origin} #{index})": (
        "{result}：{record}，自 {effective} 起{extra}（日志条目 {origin} #{index}）"
    ),
    ", valid until {date}": "，有效期至 {date}",
    "suspended": "已暂停",
    "reinstated": "已恢复",
    "revoked": "已撤销",
    "renewed": "已续展",
    "corrected": "已更正",
    "withdrawn": "已撤回",
    "reported": "已报告",
    "acknowledged": "已受理",
    "inspection": "已检查",
    "seizure": "已查扣",
    "penalty": "已处罚",
    "transferred_to_police": "已移送公安",
    "dismissed": "不予立案",
    "{result}: {case} (entry {origin} #{index})": "{result}：{case}（日志条目 {origin} #{index}）",
    "{date} {action} by {region}": "{date} {region}{action}",
    " fine {yuan}": " 罚款 {yuan} 元",
    "no cases match": "没有匹配的案件",
    "acceded: {region} to {agreement} from {date} (entry {origin} #{index})": (
        "已加入：{region}自 {date} 起加入协议 {agreement}（日志条目 {origin} #{index}）"
    ),
    "withdrawn: {region} leaves {agreement} on {date} (entry {origin} #{index})": (
        "已退出：{region}于 {date} 退出协议 {agreement}（日志条目 {origin} #{index}）"
    ),
    "no agreements known to this node": "本节点未知任何协议",
    # ---- import and export
    "{file} ({format}{enc}): {rows} rows, {added} added, "
    "{duplicates} already present, {rejected} rejected": (
        "{file}（{format}{enc}）：共 {rows} 行，新增 {added} 条，已存在 {duplicates} 条，"
        "拒收 {rejected} 条"
    ),
    " (written to {path})": "（已写入 {path}）",
    "added: {ids}": "新增：{ids}",
    " and {n} more (--format json lists all)": " 等另外 {n} 条（--format json 列出全部）",
    "exported {n} record(s) of {issuer} to {file}": "已将{issuer}的 {n} 条记录导出到 {file}",
    "note: ignoring column(s) {names}": "注意：忽略列 {names}",
    "{file}: the header row needs fixing; nothing imported": (
        "{file}：表头行需要修改；未导入任何记录"
    ),
    "{file}: {problems} problem(s) in {invalid} of {rows} row(s); nothing"
    " imported (fix them, or give --skip-invalid)": (
        "{file}：{rows} 行中有 {invalid} 行存在 {problems} 个问题；未导入任何记录"
        "（请修改，或使用 --skip-invalid）"
    ),
    "row {n}": "第 {n} 行",
    "rows {first}-{last}": "第 {first}-{last} 行",
    "{where} of {file} not imported (the error below);"
    " the other batches sent: {added} added, {dups} already present": (
        "{file} 的{where}未导入（原因见下方错误）；其他已发送批次：新增 {added} 条，"
        "已存在 {dups} 条"
    ),
    # ---- node status
    "node {name} ({origin}, {region}) at {node}, up since {since}": (
        "节点 {name}（{origin}，{region}），地址 {node}，自 {since} 起运行"
    ),
    "federation document version {v}": "联盟文件版本 {v}",
    "!!! refused federation document version {v} from {source} ({kind}, {at}): {detail}": (
        "!!! 拒绝了来自 {source} 的联盟文件版本 {v}（{kind}，{at}）：{detail}"
    ),
    "latest rule violations (kept in the log, not applied to the registry):": (
        "最近的规则违规（保留在日志中，未应用到登记簿）："
    ),
    "!!! EQUIVOCATION EVIDENCE: {n} conflicting checkpoint pair(s)": (
        "!!! 分叉证据：{n} 对相互矛盾的检查点"
    ),
    "FROZEN: {why}": "已冻结：{why}",
    "indexing: {n}/{size} searchable": "索引中：{n}/{size} 可检索",
    "backing off until {t} (served invalid data)": "暂停同步至 {t}（提供了无效数据）",
    # ---- audit verify
    "bundle for record {rid} of {origin}": "{origin} 中记录 {rid} 的证据包",
    "VALID: {n} checks passed": "有效：{n} 项检查全部通过",
    "; the record is {state} on {on}": "；但该记录在 {on} 的状态为{state}",
    "INVALID: {why}": "无效：{why}",
    "no checks ran": "未运行任何检查",
    "ok  ": "通过",
    "FAIL": "未通过",
    "format": "格式",
    "certificate-chain": "证书链",
    "checkpoint-signature": "检查点签名",
    "cosignatures": "副署",
    "dsse-signature": "DSSE 签名",
    "inclusion-proof": "包含证明",
    "key-history": "密钥历史",
    "payload-copy": "载荷副本",
    "payload-region": "载荷地区",
    "recognition": "承认判断",
    "references": "引用",
    "rules": "规则",
    "signing-time": "签名时间",
    "vkeys": "验证密钥",
    # ---- other commands
    "issued": "已签发",
    "already issued": "此前已签发",
    "wrote {path} ({n} bytes)": "已写入 {path}（{n} 字节）",
    "error: cannot write {path}: {problem}": "错误：无法写入 {path}：{problem}",
    "backed up {n} origin(s) to {path}": "已将 {n} 个日志备份到 {path}",
    "watch: {why}; reconnecting in {delay:g}s": "监视：{why}；{delay:g} 秒后重新连接",
    "verified: {origin} at {old} is a prefix of {origin} at {new}": (
        "已验证：{origin} 大小 {old} 是大小 {new} 的前缀"
    ),
    # ---- audit log's HTML report (exchange/audit/report.py) and audit digest
    "wrote {path}": "已写入 {path}",
    "{file}: digest matches: {hex}": "{file}：摘要一致：{hex}",
    "{file}: {problem} (stated {stated}, computed {computed})": (
        "{file}：{problem}（报告所载 {stated}，重新计算 {computed}）"
    ),
    "the content does not match its digest": "内容与其摘要不符",
    "the last line is not a brandex digest line": "最后一行不是 brandex 摘要行",
    "brandex whole-log audit": "brandex 全量日志审计报告",
    "made": "生成时间",
    "run by": "执行人",
    "certificate presented": "所用证书",
    "brandex version": "brandex 版本",
    "federation document version": "联盟文件版本",
    " (the nodes differ)": "（各节点不一致）",
    "nodes": "节点",
    "origins": "日志",
    "entries downloaded": "已下载条目",
    "entries verified": "已验证条目",
    "seconds": "耗时（秒）",
    "entries per s": "每秒条目数",
    "CLEAN: nothing found.": "正常：未发现任何问题。",
    "{n} issue(s) found.": "发现 {n} 个问题。",
    "Trust anchors": "信任锚",
    "subject": "主体",
    "SHA-256 fingerprint": "SHA-256 指纹",
    "Nodes asked": "所查询的节点",
    "member": "成员",
    "member region": "成员地区",
    "address": "地址",
    "Entries per origin and kind": "各日志各类条目数",
    "origin": "日志",
    "recognition entries": "认定记录",
    "status change entries": "状态变更",
    "infringement case entries": "侵权案件",
    "case action entries": "案件处理",
    "accession entries": "加入协议",
    "withdrawal entries": "退出协议",
    "key announcement entries": "密钥公告",
    "key revocation entries": "密钥撤销",
    "federation update entries": "联盟文件更新",
    "total": "合计",
    "histories": "历史分支",
    "issues": "问题",
    "Checkpoints and witnesses": "检查点与见证方",
    "size": "大小",
    "root": "根哈希",
    "served by": "提供方",
    "backed by downloaded entries": "与下载条目一致",
    "cosigned by": "副署方",
    "none": "无",
    "witness": "见证方",
    "sizes cosigned": "已副署的大小",
    "Copies downloaded": "已下载的副本",
    "node": "节点",
    "entries served": "提供条目数",
    "history": "历史分支",
    "Issues found ({n})": "发现的问题（{n}）",
    "None.": "无。",
    "issue kind": "问题类型",
    "entry": "条目",
    "what": "说明",
    "... and {n} more, not listed": "……另有 {n} 个，未列出",
    "Evidence": "证据",
    "Issue {n}": "问题 {n}",
    "Notes": "备注",
    "What each kind of issue means": "各类问题的含义",
    # certs, federation and keys
    "federation {f!r}: anchor and {n} member(s) in {target}": (
        "联盟 {f!r}：信任锚与 {n} 个成员已写入 {target}"
    ),
    "members join with: brandex certs request, certs sign, certs install": (
        "成员加入步骤：brandex certs request、certs sign、certs install"
    ),
    "member {name!r} ({region}) added to {out}": ("成员 {name!r}（{region}）已加入 {out}"),
    "keys for {name!r} ({region}) made in {out} (mode 0600)": (
        "已在 {out} 为 {name!r}（{region}）生成密钥（权限 0600）"
    ),
    "send {path} to the anchor's holder; keep everything else here": (
        "请将 {path} 交给信任锚持有方；其余文件留在本地"
    ),
    "certified {name!r} ({region}), extra hosts: {hosts}, governance key {key}": (
        "已签发 {name!r}（{region}）的证书，附加主机：{hosts}，治理密钥 {key}"
    ),
    "response written to {target}; send it back to {name}": ("答复已写入 {target}；请交回 {name}"),
    "installed node, operator and signing certificates in {dir}": (
        "节点、操作员和签名证书已安装到 {dir}"
    ),
    "revoked: certificate {serial} ({cert}); list written to {path}": (
        "已吊销：证书 {serial}（{cert}）；吊销列表已写入 {path}"
    ),
    "renewed: {path} (serial {serial}, until {until})": (
        "已续期：{path}（序列号 {serial}，有效至 {until}）"
    ),
    "restart node {name!r} to serve the new certificate; old files kept as *.old": (
        "请重启节点 {name!r} 以启用新证书；旧文件保留为 *.old"
    ),
    "federation {f}: anchor {anchor!r}, expires {until}, jurisdictions [{j}]": (
        "联盟 {f}：信任锚 {anchor!r}，有效至 {until}，管辖区域 [{j}]"
    ),
    (
        "wrote {out}: {f} version 1, {n} members, threshold {t}; now each member signs it (brandex "
        "federation sign)"
    ): ("已写入 {out}：{f} 第 1 版，{n} 个成员，门限 {t}；请各成员签署（brandex federation sign）"),
    (
        "wrote {out}: version {v} proposed; it needs {old_t} signatures of version {old}'s members "
        "and {t} of its own"
    ): ("已写入 {out}：提议第 {v} 版；需要第 {old} 版成员的 {old_t} 个签名及本版成员的 {t} 个签名"),
    "signed version {v}: {n} signature(s) now": ("已签署第 {v} 版：现有 {n} 个签名"),
    "published: version {v} accepted by {node} and logged as entry #{i} of {origin}": (
        "已发布：第 {v} 版已被 {node} 接受，记入 {origin} 的第 #{i} 条"
    ),
    (
        "federation {f} version {v}: issued {issued}, expires {expires}; "
        "threshold {t}; {n} signature(s); witness {policy}; payload sha256 {digest}…"
    ): (
        "联盟 {f} 第 {v} 版：签发于 {issued}，有效至 {expires}；"
        "门限 {t}；{n} 个签名；见证 {policy}；载荷 sha256 {digest}…"
    ),
    "departed: {members}": "已退出：{members}",
    "revoked keys: {keys}": "已吊销密钥：{keys}",
    (
        "rotated: {origin} entry #{i} announces the new key, signed by the old one;"
        " everything after is signed by the new key"
    ): "已轮换：{origin} 第 #{i} 条公布新密钥，由旧密钥签名；此后均由新密钥签名",
    "revoked: key {keyid} of {origin}, compromised since {since} (entry #{i})": (
        "已吊销：{origin} 的密钥 {keyid}，自 {since} 起视为泄露（第 #{i} 条）"
    ),
    "warning: {warning}": "警告：{warning}",
    # audit log's terminal summary
    "no cosignatures": "无副署",
    "{name} saw {sizes}": "{name} 见到 {sizes}",
    "brandex audit log: {nodes} node(s), {origins} origin(s)": (
        "brandex 全日志审计：{nodes} 个节点，{origins} 个日志"
    ),
    ", {down} entries downloaded, {ok} verified in {s} s": "，下载 {down} 条，{s} 秒内验证 {ok} 条",
    "{origin}: {n} entries ({kinds}); {h} history(ies); issues: {issues}": (
        "{origin}：{n} 条（{kinds}）；{h} 段历史；问题：{issues}"
    ),
    "  checkpoints: {sizes}": "  检查点：{sizes}",
    "  witnesses: {line}": "  见证：{line}",
    "ISSUES ({n}):": "问题（{n}）：",
    " entry {i}": " 第 {i} 条",
    "      evidence: {label}:": "      证据：{label}：",
    "  ... and {n} more [{kind}] issues on {origin} (not listed)": (
        "  ……{origin} 另有 {n} 个 [{kind}] 问题（未列出）"
    ),
    "notes:": "备注：",
    "result: CLEAN, nothing found": "结果：无异常，未发现问题",
    "result: {n} issue(s) FOUND": "结果：发现 {n} 个问题",
}
