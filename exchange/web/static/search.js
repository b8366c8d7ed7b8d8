// Search as you type: the query box asks the JSON API (debounced) and redraws the
// results and facets; the page works without this file (the form submits).
// No inline script or style: the console's CSP allows neither.

const DEBOUNCE_MS = 250;

const form = document.getElementById("search-form");
const box = document.getElementById("q");
const results = document.getElementById("results");
const hits = document.getElementById("hits");
const facets = document.getElementById("facets");
const summary = document.getElementById("summary");
const labels = results.dataset;

let timer = null;
let asked = 0;

function filters() {
  const out = {};
  for (const input of form.querySelectorAll("input[type=hidden]")) out[input.name] = input.value;
  return out;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function drawHits(data) {
  hits.replaceChildren();
  for (const r of data.records) {
    const name = el("a", { class: "brand-name", href: r.url });
    for (const s of r.brand_segments) name.append(s.match ? el("mark", {}, s.text) : s.text);
    const until = r.valid_until ? ` · ${labels.labelValidUntil} ${r.valid_until}` : "";
    hits.append(
      el(
        "li",
        { class: `hit status-${r.status}` },
        name,
        el("span", { class: "badge" }, r.status_label),
        el("div", { class: "meta" }, `${r.kind_label} · ${r.issuer_label} · ${r.record_id}`),
        el("div", { class: "meta" }, `${r.enterprise_name} · ${r.enterprise_region_label}${until}`),
      ),
    );
  }
  const total = String(data.total) + (data.total_is_lower_bound ? "+" : "");
  summary.textContent = labels.labelTotal.replace("{n}", total);
  for (const id of ["typo", "none"]) document.getElementById(id)?.remove();
  if (data.typo) summary.after(el("p", { class: "note", id: "typo" }, labels.labelTypo));
  if (!data.records.length) hits.after(el("p", { class: "note", id: "none" }, labels.labelNone));
}

function drawFacets(data) {
  facets.replaceChildren();
  for (const f of data.facets) {
    const list = el("ul");
    for (const v of f.values) {
      const link = el(
        "a",
        { href: v.url, "data-field": f.field, "data-value": v.value, class: v.active ? "active" : "" },
        `${v.label} `,
        el("span", { class: "count" }, v.count),
      );
      list.append(el("li", {}, link));
    }
    facets.append(el("section", { class: "facet", "data-field": f.field }, el("h3", {}, f.label), list));
  }
}

function showError(message) {
  for (const id of ["typo", "none", "search-error"]) document.getElementById(id)?.remove();
  summary.after(el("p", { class: "error", id: "search-error", role: "alert" }, labels.labelError.replace("{error}", message)));
}

// Why a search failed, in words: the API's {"error": ...}, FastAPI's validation
// detail, or the HTTP status.
async function failure(resp) {
  const body = await resp.json().catch(() => ({}));
  if (typeof body.error === "string") return body.error;
  if (Array.isArray(body.detail) && body.detail[0]?.msg) return body.detail[0].msg;
  return `HTTP ${resp.status}`;
}

// Each answer ends in state "done" or "error" for the query it answers, so
// neither a person nor a test is left waiting on "typing" when the API fails.
async function ask() {
  const mine = ++asked;
  const query = box.value;
  const params = new URLSearchParams({ q: query, ...filters() });
  let data;
  try {
    const resp = await fetch(`/api/v1/search?${params}`, { headers: { Accept: "application/json" } });
    if (mine !== asked) return; // a newer query was typed meanwhile
    if (resp.status === 401) {
      // The session ended (expired, logged out elsewhere): log in, then come back here.
      location.assign(`/login?next=${encodeURIComponent(`/?${params}`)}`);
      return;
    }
    if (!resp.ok) throw new Error(await failure(resp));
    data = await resp.json();
  } catch (err) {
    if (mine !== asked) return;
    showError(err.message);
    results.dataset.state = "error";
    results.dataset.query = query;
    return;
  }
  if (mine !== asked) return;
  document.getElementById("search-error")?.remove();
  drawHits(data);
  drawFacets(data);
  history.replaceState(null, "", `/?${params}`);
  results.dataset.state = "done";
  results.dataset.query = query;
}

box.addEventListener("input", () => {
  clearTimeout(timer);
  results.dataset.state = "typing";
  timer = setTimeout(ask, DEBOUNCE_MS);
});
results.dataset.state = "ready";
// Text typed before this module ran (it loads after the page) fired no listener: ask now.
if (box.value !== box.defaultValue) box.dispatchEvent(new Event("input"));
