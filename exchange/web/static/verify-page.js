// The "verify a bundle file" page: a file input and drag and drop, each check
// and its result, and the key fingerprints with pinning (localStorage).
// Chinese by default, English by the switch. The checks live in verify.js.

import { verifyBundle } from "./verify.js";

const MESSAGES = {
  zh: {
    title: "验证记录包",
    switch: "English",
    intro:
      "在浏览器中验证一份记录包（brandex.bundle/v1，由 brandex audit bundle 导出）：" +
      "签名、默克尔包含证明、检查点签名和见证联署都在本机用 WebCrypto 计算，不依赖服务器。",
    drop: "把记录包文件拖到这里，或选择文件：",
    choose: "选择文件",
    minCosignatures: "每个检查点至少需要的见证联署数：",
    colCheck: "检查项",
    colSubject: "对象",
    colResult: "结果",
    colDetail: "说明",
    pass: "通过",
    fail: "未通过",
    valid: "验证通过：{n} 项检查全部通过",
    invalid: "验证未通过：{check}（{subject}）",
    notJson: "无法读取文件：{error}",
    record: "记录 {record}（{origin}）",
    keysTitle: "密钥指纹",
    keysNote:
      "指纹是 Ed25519 公钥的 SHA-256（与 DSSE keyid 相同）。请与联盟公布的密钥指纹核对一次，" +
      "然后“固定”；以后每次验证都会与已固定的指纹比较。",
    colOrigin: "日志（地区）",
    colRoles: "用途",
    colFingerprint: "指纹",
    colPinned: "与已固定的密钥比较",
    roleSigner: "记录签名",
    roleCheckpoint: "检查点签名",
    roleWitness: "见证联署",
    pinMatch: "与已固定的一致",
    pinDiffers: "与已固定的不一致！",
    pinNone: "尚未固定",
    pinAllMatch: "所有密钥都与已固定的一致。",
    pinSomeDiffer: "警告：有密钥与已固定的不一致，不要信任这份记录包，请联系联盟运维人员。",
    pinSomeNew: "有尚未固定的密钥：核对指纹后可以固定。",
    listSep: "、",
    pin: "固定这些密钥",
    unpin: "清除已固定的密钥",
    limitsTitle: "浏览器验证的范围",
    limits:
      "浏览器检查签名、哈希、包含证明和见证联署，并显示所用密钥的指纹；" +
      "它不检查 X.509 证书链、签名时间、密钥轮换与吊销、记录状态和互认规则——" +
      "这些由 brandex audit verify（Python）完成。密钥是否属于联盟成员，由指纹比对决定。",
    "check:format": "格式",
    "check:dsse-signature": "DSSE 签名",
    "check:checkpoint-signature": "检查点签名",
    "check:inclusion-proof": "包含证明",
    "check:cosignatures": "见证联署",
    "check:vkeys": "验证密钥",
  },
  en: {
    title: "Verify a bundle",
    switch: "中文",
    intro:
      "Verify a record bundle (brandex.bundle/v1, as brandex audit bundle exports it) in your " +
      "browser: signatures, the Merkle inclusion proof, the checkpoint signature and the " +
      "witness cosignatures are computed here with WebCrypto, without trusting the server.",
    drop: "Drop a bundle file here, or choose one:",
    choose: "Choose file",
    minCosignatures: "Witness cosignatures each checkpoint needs:",
    colCheck: "Check",
    colSubject: "Subject",
    colResult: "Result",
    colDetail: "Detail",
    pass: "pass",
    fail: "FAIL",
    valid: "VALID: all {n} checks passed",
    invalid: "INVALID: {check} ({subject})",
    notJson: "Cannot read the file: {error}",
    record: "record {record} of {origin}",
    keysTitle: "Key fingerprints",
    keysNote:
      "A fingerprint is the SHA-256 of the Ed25519 public key (the DSSE keyid). Compare them " +
      "once with the fingerprints your federation publishes, then pin them: every later " +
      "verification compares against the pinned keys.",
    colOrigin: "Log (region)",
    colRoles: "Used for",
    colFingerprint: "Fingerprint",
    colPinned: "Against pinned keys",
    roleSigner: "signs records",
    roleCheckpoint: "signs checkpoints",
    roleWitness: "witness",
    pinMatch: "matches the pinned key",
    pinDiffers: "DIFFERS from the pinned key!",
    pinNone: "not pinned yet",
    pinAllMatch: "Every key matches a pinned key.",
    pinSomeDiffer:
      "Warning: a key differs from the pinned one. Do not trust this bundle; ask the " +
      "federation's operators.",
    pinSomeNew: "Some keys are not pinned yet: compare their fingerprints, then pin them.",
    listSep: ", ",
    pin: "Pin these keys",
    unpin: "Forget pinned keys",
    limitsTitle: "What the browser checks",
    limits:
      "The browser checks signatures, hashes, inclusion proofs and witness cosignatures, and " +
      "shows the fingerprints of the keys it used. It does not check X.509 certificate " +
      "chains, signing times, key rotation and revocation, record status or recognition " +
      "rules: brandex audit verify (Python) does. Whether a key is a federation member's " +
      "is decided by comparing fingerprints.",
    "check:format": "format",
    "check:dsse-signature": "DSSE signature",
    "check:checkpoint-signature": "checkpoint signature",
    "check:inclusion-proof": "inclusion proof",
    "check:cosignatures": "cosignatures",
    "check:vkeys": "verifier keys",
  },
};

const LANG_KEY = "brandex.lang";
const PIN_KEY = "brandex.pinnedKeys";

let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
let last = null; // {report} or {error}

function t(key, vars = {}) {
  const text = MESSAGES[lang][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

/** Pinned keys: {origin: [fingerprint, ...]}; anything unreadable counts as none. */
function pinned() {
  try {
    const v = JSON.parse(localStorage.getItem(PIN_KEY) ?? "{}");
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

function pinState(key, pins) {
  const mine = pins[key.origin];
  if (!Array.isArray(mine) || !mine.length) return "none";
  return mine.includes(key.fingerprint) ? "match" : "differs";
}

function groupHex(fp) {
  return fp.match(/.{1,4}/g).join(" ");
}

function renderStatic() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t("title")} · brandex`;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
}

function renderReport() {
  const section = document.getElementById("result");
  const verdict = document.getElementById("verdict");
  const checks = document.querySelector("#checks tbody");
  const keys = document.querySelector("#keys tbody");
  const summary = document.getElementById("pin-summary");
  if (!last) return;
  section.hidden = false;
  checks.replaceChildren();
  keys.replaceChildren();
  summary.textContent = "";
  summary.className = "pin-summary";
  if (last.error) {
    verdict.className = "verdict fail";
    verdict.textContent = t("notJson", { error: last.error });
    document.getElementById("subject").textContent = "";
    return;
  }
  const r = last.report;
  verdict.className = `verdict ${r.valid ? "pass" : "fail"}`;
  verdict.dataset.valid = String(r.valid);
  verdict.textContent = r.valid
    ? t("valid", { n: r.checks.length })
    : t("invalid", { check: r.failure.check, subject: r.failure.subject });
  document.getElementById("subject").textContent = r.recordId
    ? t("record", { record: r.recordId, origin: r.origin })
    : "";
  for (const c of r.checks) {
    const label = t(`check:${c.check}`);
    checks.append(
      el(
        "tr",
        { class: c.ok ? "" : "failed", "data-check": c.check },
        el("td", {}, el("code", {}, c.check), ` ${label}`),
        el("td", {}, c.subject),
        el("td", { class: c.ok ? "ok" : "bad" }, c.ok ? `✓ ${t("pass")}` : `✗ ${t("fail")}`),
        el("td", {}, c.detail),
      ),
    );
  }
  const pins = pinned();
  const states = r.keys.map((k) => pinState(k, pins));
  r.keys.forEach((k, i) => {
    const roles = k.roles.map((role) => t(`role${role[0].toUpperCase()}${role.slice(1)}`));
    const state = states[i];
    const pinKey = { match: "pinMatch", differs: "pinDiffers", none: "pinNone" }[state];
    keys.append(
      el(
        "tr",
        { "data-fingerprint": k.fingerprint, "data-pin": state },
        el("td", {}, k.origin),
        el("td", {}, roles.join(t("listSep"))),
        el("td", { class: "fp", title: `certificate SHA-256 ${k.certSha256}` }, groupHex(k.fingerprint)),
        el("td", { class: `pin-${state}` }, t(pinKey)),
      ),
    );
  });
  if (states.includes("differs")) {
    summary.textContent = t("pinSomeDiffer");
    summary.className = "pin-summary warn";
  } else if (states.includes("none")) {
    summary.textContent = t("pinSomeNew");
  } else if (states.length) {
    summary.textContent = t("pinAllMatch");
  }
  document.getElementById("pin").disabled = !r.keys.length;
}

async function verifyFile(file) {
  const min = Number.parseInt(document.getElementById("min-cosignatures").value, 10);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const report = await verifyBundle(bytes, { minCosignatures: Number.isNaN(min) ? 1 : min });
    last = { report };
  } catch (e) {
    last = { error: e && e.message ? e.message : String(e) };
  }
  renderReport();
  document.body.dataset.state = "done";
}

function pinShown() {
  if (!last || !last.report) return;
  const pins = pinned();
  for (const k of last.report.keys) {
    const list = Array.isArray(pins[k.origin]) ? pins[k.origin] : [];
    if (!list.includes(k.fingerprint)) list.push(k.fingerprint);
    pins[k.origin] = list;
  }
  localStorage.setItem(PIN_KEY, JSON.stringify(pins));
  renderReport();
}

function setup() {
  renderStatic();
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    renderStatic();
    renderReport();
  });
  const input = document.getElementById("file");
  input.addEventListener("change", () => {
    if (input.files.length) {
      const file = input.files[0];
      document.body.dataset.state = "busy";
      input.value = ""; // so that choosing the same file again verifies it again
      verifyFile(file);
    }
  });
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) {
      document.body.dataset.state = "busy";
      verifyFile(e.dataTransfer.files[0]);
    }
  });
  document.getElementById("pin").addEventListener("click", pinShown);
  document.getElementById("unpin").addEventListener("click", () => {
    localStorage.removeItem(PIN_KEY);
    renderReport();
  });
  document.body.dataset.state = "ready";
}

setup();
