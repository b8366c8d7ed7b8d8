"""verify.js's RFC 9162 code against every transparency-dev/merkle vector, in Chromium.

The same files tests/unit/core/test_merkle_vectors.py runs the Python code on:
happy paths verify, every mutation (``wantErr``) is rejected. Sizes and indices
go to JavaScript as decimal strings (some are 2^64-1, beyond a JS number).
"""

from __future__ import annotations

import json
from pathlib import Path

RUN_VECTORS = """async ({inclusion, consistency}) => {
  const v = await import("/verify.js");
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const out = [];
  const run = async (name, want, fn) => {
    try {
      await fn();
      out.push({name, want, ok: true, error: ""});
    } catch (e) {
      const verifyError = e instanceof v.VerifyError;
      out.push({name, want, ok: false, error: String(e.message), verifyError});
    }
  };
  for (const c of inclusion) {
    await run(c.name, c.wantErr, () => v.verifyInclusion(
      b64(c.leafHash), c.leafIdx, c.treeSize, (c.proof || []).map(b64), b64(c.root)));
  }
  for (const c of consistency) {
    await run(c.name, c.wantErr, () => v.verifyConsistency(
      c.size1, c.size2, (c.proof || []).map(b64), b64(c.root1), b64(c.root2)));
  }
  return out;
}"""


def _cases(root: Path, kind: str) -> list[dict]:
    out = []
    for path in sorted((root / kind).rglob("*.json")):
        case = json.loads(path.read_text("utf-8"))
        for k in ("leafIdx", "treeSize", "size1", "size2"):
            if k in case:
                case[k] = str(case[k])  # exact, also above 2^53
        case["name"] = f"{kind}/{path.relative_to(root / kind).as_posix()}"
        out.append(case)
    return out


def test_js_merkle_passes_every_rfc9162_vector(page, shared_data: Path) -> None:
    root = shared_data / "rfc9162-vectors"
    inclusion, consistency = _cases(root, "inclusion"), _cases(root, "consistency")
    assert len(inclusion) >= 90 and len(consistency) >= 90
    results = page.evaluate(RUN_VECTORS, {"inclusion": inclusion, "consistency": consistency})
    assert len(results) == len(inclusion) + len(consistency)
    wrong = [r for r in results if r["ok"] == r["want"]]  # passed a bad case or failed a good one
    assert wrong == [], "\n".join(f"{r['name']}: {r['error'] or 'accepted'}" for r in wrong)
    # A rejection is the module's own VerifyError, never a TypeError from a bad input.
    crashes = [r for r in results if not r["ok"] and not r["verifyError"]]
    assert crashes == [], crashes
    happy = [r for r in results if not r["want"]]
    assert len(happy) >= 10 and all(r["ok"] for r in happy)
    print(f"verify.js: {len(inclusion)} inclusion and {len(consistency)} consistency vectors")


def test_js_leaf_hash_and_empty_tree(page) -> None:
    got = page.evaluate(
        """async () => {
      const v = await import("/verify.js");
      return {
        empty: v.toHex(await v.leafHash(new Uint8Array())),
        one: v.toHex(await v.leafHash(new Uint8Array([0]))),
      };
    }"""
    )
    # RFC 6962 test tree leaves "" and "00" (transparency-dev/merkle).
    assert got["empty"] == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert got["one"] == "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
