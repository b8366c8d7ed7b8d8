// The record page's verification: fetch the record's bundle from the console's
// API and check it here with verify.js (WebCrypto), showing each check and the
// fingerprints of the keys it relied on, as the "verify a bundle" page does.

import { verifyBundle } from "./verify.js";

const box = document.getElementById("verify");
const labels = box.dataset;
const verdict = document.getElementById("verdict");
const checks = document.getElementById("checks");
const keys = document.getElementById("keys");

function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? String(values[k]) : `{${k}}`));
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

// data-check-dsse-signature -> dataset.checkDsseSignature
function checkName(id) {
  const key = "check" + id.replace(/(^|-)(\w)/g, (_, __, c) => c.toUpperCase());
  return labels[key] || id;
}

function groups(hex) {
  return hex.match(/.{1,4}/g).join(" ");
}

async function run() {
  verdict.textContent = labels.labelRunning;
  let result;
  try {
    const resp = await fetch(labels.bundleUrl, { headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    result = await verifyBundle(new Uint8Array(await resp.arrayBuffer()));
  } catch (err) {
    verdict.textContent = fill(labels.labelError, { error: err.message || err });
    verdict.className = "verdict fail";
    box.dataset.state = "error";
    return;
  }
  const body = checks.querySelector("tbody");
  body.replaceChildren();
  for (const c of result.checks) {
    const tr = document.createElement("tr");
    tr.dataset.check = c.check;
    if (!c.ok) tr.className = "failed";
    tr.append(
      cell(checkName(c.check)),
      cell(c.subject),
      cell(c.ok ? labels.labelPass : labels.labelFail, c.ok ? "ok" : "bad"),
      cell(c.detail || ""),
    );
    body.append(tr);
  }
  checks.hidden = false;
  const kbody = keys.querySelector("tbody");
  kbody.replaceChildren();
  const roleText = { signer: labels.labelSigner, checkpoint: labels.labelCheckpoint, witness: labels.labelWitness };
  for (const k of result.keys || []) {
    const tr = document.createElement("tr");
    tr.append(cell(k.origin), cell(k.roles.map((r) => roleText[r] || r).join(", ")), cell(groups(k.fingerprint), "fp"));
    kbody.append(tr);
  }
  keys.hidden = false;
  if (result.valid) {
    verdict.textContent = fill(labels.labelValid, { n: result.checks.length });
    verdict.className = "verdict pass";
    box.dataset.state = "valid";
  } else {
    const f = result.failure || {};
    verdict.textContent = fill(labels.labelInvalid, { check: checkName(f.check), subject: f.subject });
    verdict.className = "verdict fail";
    box.dataset.state = "invalid";
  }
}

run();
