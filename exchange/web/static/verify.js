// brandex record bundles (brandex.bundle/v1), verified in the browser.
//
// The same checks `brandex audit verify` runs on the cryptography, under the
// same check names (exchange/core/bundle.py), with WebCrypto only (Ed25519 and
// SHA-256 in crypto.subtle): the DSSE signature over PAE, the RFC 9162 leaf
// hash and inclusion proof, the checkpoint's C2SP signed-note signature and
// each witness's C2SP tlog-cosignature/v1. It stops at the first failure and
// names it, and returns the fingerprints (hex SHA-256 of the raw Ed25519 key,
// the DSSE keyid) of every key it relied on, so a page can show them and a
// user can pin them and compare.
//
// What stays in Python (docs/console.md): the X.509 chain to the federation's
// anchors and its region SAN, the payload's decoding and region, signing
// times, key history (rotations, revocations, suspects), status, recognition
// and the domain rules. Keys come from the leaf certificates in the bundle
// without checking those certificates, so a pass here means "these keys
// signed this"; the fingerprints, compared with pinned federation keys, say
// whose keys they are.
//
// An ES module: no build step, no dependencies, no inline script (CSP-safe).

export const FORMAT = "brandex.bundle/v1";
export const PAYLOAD_TYPE = "application/vnd.brandex.entry+protobuf";

/** The check names this module reports; a subset of core/bundle.py CHECKS, same order. */
export const CHECKS = Object.freeze([
  "format",
  "dsse-signature",
  "checkpoint-signature",
  "inclusion-proof",
  "cosignatures",
  "vkeys",
]);

const HASH_SIZE = 32;
const MAX_U64 = (1n << 64n) - 1n;
const MAX_INDEX = (1n << 64n) - 2n;
const MAX_PROOF_HASHES = 64;
const MAX_NOTE_SIGNATURES = 100;
const MAX_ENVELOPE_BYTES = 256 * 1024;
const MAX_ENVELOPE_SIGNATURES = 8;
const MAX_RELATED = 10000;
const MAX_CHAIN = 8;
const MAX_TIMESTAMP = (1n << 63n) - 1n;
const SIG_TYPE_ED25519 = 0x01;
const SIG_TYPE_COSIGNATURE = 0x04;
const WITNESS_SUFFIX = "/witness";
const SIG_PREFIX = "\u2014 ";
const RELATED_TYPES = new Set([
  "status_change", "infringement_case", "case_action", "accession", "withdrawal",
]);
const KEY_TYPES = new Set(["key_announcement", "key_revocation"]);
// DER of an Ed25519 SubjectPublicKeyInfo before its 32 key bytes (RFC 8410).
const ED25519_SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/** A verification failure: the caller's input is wrong, never a programming error. */
export class VerifyError extends Error {}

// ------------------------------------------------------------------ bytes

const utf8 = new TextEncoder();

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function bytesToB64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/**
 * Standard base64, accepting only its one canonical spelling (padding
 * required, zero padding bits, no whitespace), as exchange.core.note does:
 * two spellings of one value would let a relay alter signed text unnoticed.
 */
export function b64decode(s, what = "base64") {
  if (typeof s !== "string") throw new VerifyError(`${what} must be a base64 string`);
  let bin;
  try {
    bin = atob(s);
  } catch {
    throw new VerifyError(`${what}: invalid base64`);
  }
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (bytesToB64(out) !== s) throw new VerifyError(`${what}: non-canonical base64`);
  return out;
}

function asciiBytes(s, what) {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) throw new VerifyError(`${what} must be ASCII`);
  }
  return utf8.encode(s);
}

/** Big-endian bytes to BigInt. */
function beToBigInt(bytes) {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** A whole number as BigInt (numbers, BigInts or canonical decimal strings, as JSON gives them). */
export function toBigInt(v, what) {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === "string" && /^(0|[1-9][0-9]*)$/.test(v)) return BigInt(v);
  throw new VerifyError(`${what} must be a whole number`);
}

function bitLength(n) {
  return n === 0n ? 0 : n.toString(2).length;
}

function popCount(n) {
  let c = 0;
  for (const ch of n.toString(2)) if (ch === "1") c++;
  return c;
}

// ----------------------------------------------------------------- crypto

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** Ed25519 verification in WebCrypto; false (never a throw) for a bad signature or key. */
async function ed25519Verify(publicKey, signature, message) {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
      "verify",
    ]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch (e) {
    if (e && e.name === "NotSupportedError") {
      throw new VerifyError("this browser's WebCrypto has no Ed25519");
    }
    return false;
  }
}

/** The key fingerprint the page shows and pins: hex SHA-256 of the raw key (the DSSE keyid). */
export async function fingerprint(publicKey) {
  return toHex(await sha256(publicKey));
}

// ----------------------------------------------------------------- merkle

const LEAF_PREFIX = new Uint8Array([0]);
const NODE_PREFIX = new Uint8Array([1]);

/** RFC 9162 leaf hash: SHA-256(0x00 || entry). */
export async function leafHash(entry) {
  return sha256(concat(LEAF_PREFIX, entry));
}

async function nodeHash(left, right) {
  return sha256(concat(NODE_PREFIX, left, right));
}

function requireHash(what, h) {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new VerifyError(`${what} is ${h ? h.length : 0} bytes, not ${HASH_SIZE}`);
  }
}

function requireU64(what, n) {
  if (n < 0n || n > MAX_U64) throw new VerifyError(`${what} ${n} is not between 0 and 2^64-1`);
}

/** The root an inclusion proof leads to (RFC 9162 §2.1.3.2, without the final comparison). */
export async function rootFromInclusionProof(leaf, index, size, proof) {
  const idx = toBigInt(index, "leaf index");
  const n = toBigInt(size, "tree size");
  requireU64("leaf index", idx);
  requireU64("tree size", n);
  if (idx >= n) throw new VerifyError(`leaf index ${idx} is not below tree size ${n}`);
  requireHash("leaf hash", leaf);
  const path = Array.from(proof || []);
  path.forEach((p, i) => requireHash(`inclusion proof hash ${i}`, p));
  const inner = bitLength(idx ^ (n - 1n));
  const want = inner + popCount(idx >> BigInt(inner));
  if (path.length !== want) {
    throw new VerifyError(
      `inclusion proof for leaf ${idx} of tree size ${n} has ${path.length} hashes, expected ${want}`,
    );
  }
  let fn = idx;
  let sn = n - 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) throw new VerifyError("inclusion proof has more hashes than the path");
    if (fn & 1n || fn === sn) {
      r = await nodeHash(p, r);
      while (fn !== 0n && !(fn & 1n)) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError("inclusion proof has fewer hashes than the path");
  return r;
}

/** RFC 9162 §2.1.3.2: throws VerifyError unless `leaf` is leaf `index` of (`size`, `root`). */
export async function verifyInclusion(leaf, index, size, proof, root) {
  requireHash("expected root", root);
  const got = await rootFromInclusionProof(leaf, index, size, proof);
  if (!equalBytes(got, root)) {
    throw new VerifyError(
      `inclusion proof for leaf ${index} of tree size ${size} leads to root ${toHex(got)}, ` +
        `not the expected ${toHex(root)}`,
    );
  }
}

/**
 * RFC 9162 §2.1.4.2: throws VerifyError unless (size1, root1) is a prefix of
 * (size2, root2). Edge cases first, as exchange.core.merkle decides them.
 */
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  const m = toBigInt(size1, "size1");
  const n = toBigInt(size2, "size2");
  requireU64("size1", m);
  requireU64("size2", n);
  const path = Array.from(proof || []);
  if (m > n) throw new VerifyError(`size1 ${m} is greater than size2 ${n}: a log cannot shrink`);
  if (m === n) {
    if (m === 0n) throw new VerifyError("consistency between two empty trees proves nothing");
    if (path.length) throw new VerifyError(`sizes are equal (${m}) so the proof must be empty`);
    if (!equalBytes(root1, root2)) throw new VerifyError(`sizes are equal (${m}) but the roots differ`);
    return;
  }
  if (m === 0n) throw new VerifyError("consistency proof from an empty tree (size1 = 0) is meaningless");
  requireHash("root1", root1);
  requireHash("root2", root2);
  path.forEach((p, i) => requireHash(`consistency proof hash ${i}`, p));
  if (!path.length) throw new VerifyError(`consistency proof from size ${m} to ${n} is empty`);
  const shift = bitLength(m & -m) - 1;
  const inner = bitLength((m - 1n) ^ (n - 1n));
  const border = popCount((m - 1n) >> BigInt(inner));
  const seed = m === 1n << BigInt(shift) ? 0 : 1;
  const want = seed + inner - shift + border;
  if (path.length !== want) {
    throw new VerifyError(
      `consistency proof from size ${m} to ${n} has ${path.length} hashes, expected ${want}`,
    );
  }
  if ((m & (m - 1n)) === 0n) path.unshift(root1);
  let fn = m - 1n;
  let sn = n - 1n;
  while (fn & 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerifyError("consistency proof has more hashes than needed");
    if (fn & 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn !== 0n && !(fn & 1n)) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError("consistency proof has fewer hashes than needed");
  if (!equalBytes(fr, root1)) throw new VerifyError(`consistency proof leads to another old root than root1`);
  if (!equalBytes(sr, root2)) throw new VerifyError(`consistency proof leads to another new root than root2`);
}

// ------------------------------------------------------- signed notes (C2SP)

function checkNoteChars(s, what) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x0a) || (c >= 0xd800 && c <= 0xdfff)) {
      throw new VerifyError(`${what}: character U+${c.toString(16).padStart(4, "0")} at offset ${i} is not allowed`);
    }
  }
}

function checkKeyName(name, what) {
  if (!name) throw new VerifyError(`${what} must not be empty`);
  if (/[+\s\p{Z}\p{Cc}]/u.test(name)) throw new VerifyError(`${what} ${JSON.stringify(name)} has '+', a space or a control character`);
}

/** Parse a signed note strictly: text up to the last blank line, then "— name base64" lines. */
export function parseNote(msg) {
  if (typeof msg !== "string") throw new VerifyError("note must be text");
  checkNoteChars(msg, "note");
  if (!msg.endsWith("\n")) throw new VerifyError("note must end with a newline");
  const split = msg.lastIndexOf("\n\n");
  if (split < 0) throw new VerifyError("note has no blank line separating text from signatures");
  const text = msg.slice(0, split + 1);
  const block = msg.slice(split + 2);
  if (!block) throw new VerifyError("note has no signature lines after the last blank line");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new VerifyError(`note has ${lines.length} signature lines, more than ${MAX_NOTE_SIGNATURES}`);
  }
  const signatures = lines.map((line, i) => {
    const n = i + 1;
    if (!line.startsWith(SIG_PREFIX)) {
      throw new VerifyError(`signature line ${n} must start with an em dash (U+2014) and a space`);
    }
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(" ");
    if (sp < 0) throw new VerifyError(`signature line ${n} has no space between key name and signature`);
    const name = rest.slice(0, sp);
    checkKeyName(name, `signature line ${n} key name`);
    const raw = b64decode(rest.slice(sp + 1), `signature line ${n}`);
    if (raw.length < 4) throw new VerifyError(`signature line ${n} is shorter than its 4-byte key id`);
    return { name, keyId: raw.subarray(0, 4), sig: raw.subarray(4) };
  });
  return { text, signatures };
}

/** Note key id: SHA-256(name || 0x0A || type || key)[:4]. */
export async function noteKeyId(name, sigType, publicKey) {
  return (await sha256(concat(utf8.encode(name), new Uint8Array([0x0a, sigType]), publicKey))).subarray(0, 4);
}

/** A C2SP vkey string <name>+<hex id>+<base64(type || key)>, for tools that speak signed notes. */
export async function vkeyString(name, sigType, publicKey) {
  const id = await noteKeyId(name, sigType, publicKey);
  return `${name}+${toHex(id)}+${bytesToB64(concat(new Uint8Array([sigType]), publicKey))}`;
}

/** Parse a vkey strictly (the key id must match); returns {name, type, key}. */
export async function parseVkey(vkey) {
  if (typeof vkey !== "string") throw new VerifyError("vkey must be a string");
  // Split at the first two '+' only: the base64 key may hold more.
  const a = vkey.indexOf("+");
  const b = a < 0 ? -1 : vkey.indexOf("+", a + 1);
  if (b < 0) throw new VerifyError(`vkey ${vkey}: need <name>+<key id>+<key>`);
  const [name, idHex, material64] = [vkey.slice(0, a), vkey.slice(a + 1, b), vkey.slice(b + 1)];
  checkKeyName(name, "vkey name");
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new VerifyError(`vkey ${vkey}: key id must be 8 lowercase hex digits`);
  const material = b64decode(material64, "vkey key material");
  if (material.length !== 33) throw new VerifyError(`vkey ${vkey}: key material must be 1 type byte + 32 bytes`);
  const type = material[0];
  const key = material.subarray(1);
  if (toHex(await noteKeyId(name, type, key)) !== idHex) {
    throw new VerifyError(`vkey ${vkey}: key id ${idHex} does not match the key`);
  }
  return { name, type, key };
}

function parseDecimal(s, what, max) {
  if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new VerifyError(`${what} ${JSON.stringify(s.slice(0, 30))} is not a canonical decimal`);
  const n = BigInt(s);
  if (n > max) throw new VerifyError(`${what} ${n} is out of range`);
  return n;
}

/** Parse a checkpoint body (origin, size, base64 root, optional extension lines). */
export function parseCheckpointBody(text) {
  checkNoteChars(text, "checkpoint body");
  if (!text.endsWith("\n")) throw new VerifyError("checkpoint body must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new VerifyError(`checkpoint body needs at least 3 lines, got ${lines.length}`);
  const [origin, sizeText, rootText, ...ext] = lines;
  if (!origin) throw new VerifyError("checkpoint origin line is empty");
  const size = parseDecimal(sizeText, "checkpoint tree size", MAX_U64);
  const root = b64decode(rootText, "checkpoint root hash");
  if (root.length !== HASH_SIZE) throw new VerifyError(`checkpoint root hash must be ${HASH_SIZE} bytes`);
  if (ext.some((l) => !l)) throw new VerifyError("a checkpoint extension line is empty");
  return { origin, size, root };
}

/** Parse a c2sp.org/tlog-proof@v1 text strictly, without verifying it. */
export function parseTlogProof(msg) {
  if (typeof msg !== "string") throw new VerifyError("tlog-proof must be text");
  checkNoteChars(msg, "tlog-proof");
  const sep = msg.indexOf("\n\n");
  if (sep < 0) throw new VerifyError("tlog-proof has no empty line before the checkpoint");
  const lines = msg.slice(0, sep).split("\n");
  const note = msg.slice(sep + 2);
  if (!note) throw new VerifyError("tlog-proof has no checkpoint after the empty line");
  if (lines[0] !== "c2sp.org/tlog-proof@v1") throw new VerifyError("tlog-proof first line must be c2sp.org/tlog-proof@v1");
  let pos = 1;
  if (pos < lines.length && lines[pos].startsWith("extra ")) {
    b64decode(lines[pos].slice(6), "tlog-proof extra data");
    pos++;
  }
  if (pos >= lines.length || !lines[pos].startsWith("index ")) {
    throw new VerifyError(`tlog-proof line ${pos + 1} must be 'index <n>'`);
  }
  const index = parseDecimal(lines[pos].slice(6), "tlog-proof index", MAX_INDEX);
  const hashLines = lines.slice(pos + 1);
  if (hashLines.length > MAX_PROOF_HASHES) throw new VerifyError(`tlog-proof has more than ${MAX_PROOF_HASHES} proof lines`);
  const proof = hashLines.map((l, i) => {
    const h = b64decode(l, `tlog-proof line ${pos + 2 + i} (proof hash)`);
    if (h.length !== HASH_SIZE) throw new VerifyError(`tlog-proof line ${pos + 2 + i}: hash must be ${HASH_SIZE} bytes`);
    return h;
  });
  const parsed = parseNote(note);
  parseCheckpointBody(parsed.text);
  return { index, proof, note };
}

/**
 * The checkpoint note signed by `origin`'s key among `candidates` (raw keys):
 * a known key's bad signature fails, as does no known key at all
 * (exchange.core.note.verify_note). Returns {checkpoint, note, key}.
 */
async function openCheckpoint(noteText, origin, candidates) {
  const note = parseNote(noteText);
  const body = utf8.encode(note.text);
  const seen = note.signatures.map((s) => `${s.name}+${toHex(s.keyId)}`).join(", ") || "none";
  let last = new VerifyError(`no signature from a certified key of ${origin}: note signed by [${seen}]`);
  // Each candidate on its own, as core/bundle.py tries each certified key with open_checkpoint.
  candidates: for (const key of candidates) {
    const id = await noteKeyId(origin, SIG_TYPE_ED25519, key);
    const mine = note.signatures.filter((s) => s.name === origin && equalBytes(s.keyId, id));
    if (!mine.length) continue;
    for (const s of mine) {
      if (!(await ed25519Verify(key, s.sig, body))) {
        last = new VerifyError(`signature by known key ${origin} (key id ${toHex(id)}) does not verify`);
        continue candidates;
      }
    }
    const cp = parseCheckpointBody(note.text);
    if (cp.origin !== origin) throw new VerifyError(`checkpoint origin ${cp.origin} does not match log key name ${origin}`);
    return { checkpoint: cp, note, key };
  }
  throw last;
}

/** A cosignature's timestamp if it verifies (tlog-cosignature/v1), else null. */
async function cosignatureTime(key, noteText, sig) {
  if (sig.length !== 8 + 64) return null;
  const ts = beToBigInt(sig.subarray(0, 8));
  if (ts > MAX_TIMESTAMP) return null;
  const msg = utf8.encode(`cosignature/v1\ntime ${ts}\n${noteText}`);
  return (await ed25519Verify(key, sig.subarray(8), msg)) ? ts : null;
}

// ------------------------------------------------------------------ DSSE

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, byte lengths. */
export function pae(payloadType, payload) {
  const t = utf8.encode(payloadType);
  return concat(utf8.encode(`DSSEv1 ${t.length} `), t, utf8.encode(` ${payload.length} `), payload);
}

function parseEnvelope(leaf) {
  if (leaf.length > MAX_ENVELOPE_BYTES) throw new VerifyError(`envelope is ${leaf.length} bytes; the limit is ${MAX_ENVELOPE_BYTES}`);
  let doc;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf));
  } catch (e) {
    throw new VerifyError(`envelope is not JSON: ${e.message}`);
  }
  const fields = doc && typeof doc === "object" && !Array.isArray(doc) ? Object.keys(doc).sort() : [];
  if (fields.join(",") !== "payload,payloadType,signatures") {
    throw new VerifyError("envelope must be an object with payload, payloadType and signatures");
  }
  if (typeof doc.payloadType !== "string" || !/^[\x00-\x7f]*$/.test(doc.payloadType)) {
    throw new VerifyError("envelope payloadType must be an ASCII string");
  }
  const sigs = doc.signatures;
  if (!Array.isArray(sigs) || sigs.length < 1 || sigs.length > MAX_ENVELOPE_SIGNATURES) {
    throw new VerifyError(`envelope must carry 1 to ${MAX_ENVELOPE_SIGNATURES} signatures`);
  }
  const signatures = sigs.map((s) => {
    if (!s || typeof s !== "object" || typeof s.keyid !== "string") {
      throw new VerifyError("envelope signature must be an object with keyid and sig");
    }
    return { keyid: s.keyid, sig: b64decode(s.sig, "envelope signature") };
  });
  return { payloadType: doc.payloadType, payload: b64decode(doc.payload, "envelope payload"), signatures };
}

/** Verify a DSSE envelope (the exact leaf bytes) with `key`; exchange.core.dsse.verify_envelope. */
async function verifyEnvelope(leaf, key) {
  const env = parseEnvelope(leaf);
  if (env.payloadType !== PAYLOAD_TYPE) throw new VerifyError(`payload type ${env.payloadType} is not ${PAYLOAD_TYPE}`);
  const keyid = await fingerprint(key);
  const message = pae(env.payloadType, env.payload);
  for (const s of env.signatures) {
    if (s.keyid !== keyid) continue;
    if (!(await ed25519Verify(key, s.sig, message))) {
      throw new VerifyError(`signature by key ${keyid.slice(0, 16)}… does not verify`);
    }
    return keyid;
  }
  throw new VerifyError("no signature is by the key of the signer's certificate");
}

// ------------------------------------------------------------ certificates

function derTLV(buf, pos) {
  if (pos + 2 > buf.length) throw new VerifyError("certificate: truncated DER");
  const tag = buf[pos];
  let len = buf[pos + 1];
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || pos + 2 + n > buf.length) throw new VerifyError("certificate: bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + 2 + i];
    hdr += n;
  }
  const start = pos + hdr;
  if (start + len > buf.length) throw new VerifyError("certificate: truncated DER");
  return { tag, start, end: start + len };
}

function pemToDer(pem) {
  if (typeof pem !== "string") throw new VerifyError("certificate must be a PEM string");
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new VerifyError("certificate is not a PEM CERTIFICATE block");
  const body = m[1].replace(/\s+/g, "");
  try {
    return Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  } catch {
    throw new VerifyError("certificate PEM is not base64");
  }
}

/**
 * The raw Ed25519 key of a certificate (its SubjectPublicKeyInfo), and the
 * certificate's SHA-256 fingerprint. Only walks the DER to the key: the
 * certificate's signature, validity and SANs are `brandex audit verify`'s job.
 */
export async function certificateKey(pem) {
  const der = pemToDer(pem);
  const cert = derTLV(der, 0);
  if (cert.tag !== 0x30) throw new VerifyError("certificate: not a SEQUENCE");
  const tbs = derTLV(der, cert.start);
  if (tbs.tag !== 0x30) throw new VerifyError("certificate: no tbsCertificate");
  let pos = tbs.start;
  let field = derTLV(der, pos);
  if (field.tag === 0xa0) {
    pos = field.end; // [0] version
    field = derTLV(der, pos);
  }
  // serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo.
  for (let i = 0; i < 5; i++) {
    pos = derTLV(der, pos).end;
  }
  const spki = derTLV(der, pos);
  const prefix = der.subarray(pos, pos + ED25519_SPKI_PREFIX.length);
  if (spki.end - pos !== 44 || !equalBytes(prefix, Uint8Array.from(ED25519_SPKI_PREFIX))) {
    throw new VerifyError("certificate does not hold an Ed25519 key");
  }
  const key = der.slice(spki.end - 32, spki.end);
  return { key, certSha256: toHex(await sha256(der.subarray(0, cert.end))) };
}

// ---------------------------------------------------------------- bundle

class Stop extends Error {}

function need(cond, what) {
  if (!cond) throw new VerifyError(what);
}

function parseOrigin(o, what) {
  need(typeof o === "string", `${what} must be a string`);
  const m = /^([\x21-\x7e]+)\/([0-9]{6})$/.exec(o);
  need(m && !m[1].includes("/"), `${what} ${JSON.stringify(o)} is not <federation>/<six-digit region>`);
  return { federation: m[1], region: m[2] };
}

function isWhole(n) {
  return Number.isSafeInteger(n) && n >= 0;
}

function pemList(v, what) {
  need(
    Array.isArray(v) && v.length >= 1 && v.length <= MAX_CHAIN && v.every((p) => typeof p === "string" && p),
    `${what} must be a list of 1 to ${MAX_CHAIN} PEM strings`,
  );
  return v;
}

function parseItem(d, what, type, types) {
  need(d && typeof d === "object" && !Array.isArray(d), `${what} must be an object`);
  const t = type ?? d.type;
  need(typeof t === "string" && (types.has(t) || t === "recognition"), `${what}.type must be one of ${[...types].sort().join(", ")}`);
  parseOrigin(d.origin, `${what}.origin`);
  need(isWhole(d.index), `${what}.index must be a whole number`);
  need(typeof d.leaf === "string" && /^[\x00-\x7f]*$/.test(d.leaf), `${what}.leaf must be an ASCII string`);
  need(typeof d.tlog_proof === "string", `${what}.tlog_proof must be a string`);
  const chain = d.certificate_chain_pem == null ? null : pemList(d.certificate_chain_pem, `${what}.certificate_chain_pem`);
  need(d.vkey == null || typeof d.vkey === "string", `${what}.vkey must be a string`);
  return {
    type: t,
    origin: d.origin,
    index: d.index,
    leaf: d.leaf,
    tlogProof: d.tlog_proof,
    chain,
    vkey: d.vkey ?? null,
    subject: `${t === "recognition" ? "record" : t} ${d.origin}#${d.index}`,
  };
}

/** A field's value, or `dflt` when absent (an explicit null stays null, as in Python's dict.get). */
function orDefault(doc, name, dflt) {
  return Object.prototype.hasOwnProperty.call(doc, name) ? doc[name] : dflt;
}

/** The bundle's structure, checked as core/bundle.py _parse checks it (the "format" check). */
function parseBundle(doc) {
  need(doc && typeof doc === "object" && !Array.isArray(doc), "a bundle must be a JSON object");
  need(doc.format === FORMAT, `format must be ${FORMAT}, got ${JSON.stringify(doc.format)}`);
  const { federation, region } = parseOrigin(doc.origin, "origin");
  need(orDefault(doc, "issuer", region) === region, `issuer must be the origin's region ${region}`);
  need(typeof doc.record_id === "string" && doc.record_id, "record_id must be a non-empty string");
  const record = parseItem(doc, "bundle", "recognition", RELATED_TYPES);
  need(record.chain !== null, "certificate_chain_pem is required");
  const related = orDefault(doc, "related", []);
  need(Array.isArray(related) && related.length <= MAX_RELATED, `related must be a list of at most ${MAX_RELATED} entries`);
  const items = [record, ...related.map((r, i) => parseItem(r, `related[${i}]`, null, RELATED_TYPES))];
  const context = orDefault(doc, "context", []);
  need(Array.isArray(context) && context.length <= MAX_RELATED, `context must be a list of at most ${MAX_RELATED} entries`);
  const contextItems = context.map((r, i) => parseItem(r, `context[${i}]`, null, RELATED_TYPES));
  const keyDocs = orDefault(doc, "key_entries", []);
  need(Array.isArray(keyDocs) && keyDocs.length <= MAX_RELATED, `key_entries must be a list of at most ${MAX_RELATED} entries`);
  const keyEntries = keyDocs.map((r, i) => parseItem(r, `key_entries[${i}]`, null, KEY_TYPES));
  const seen = new Set();
  for (const it of [...items, ...contextItems]) {
    const k = `${it.origin}#${it.index}`;
    need(!seen.has(k), `entry ${k} appears twice`);
    seen.add(k);
    need(parseOrigin(it.origin, "origin").federation === federation, `entry ${it.subject} is from another federation than ${doc.origin}`);
    need(it.chain !== null || (it.origin === doc.origin && !contextItems.includes(it)), `${it.subject} needs its certificate_chain_pem`);
  }
  for (const it of keyEntries) {
    need(KEY_TYPES.has(it.type), `${it.subject}: key_entries hold key entries only`);
    need(parseOrigin(it.origin, "origin").federation === federation, `entry ${it.subject} is from another federation than ${doc.origin}`);
  }
  const chains = (name) => {
    const v = orDefault(doc, name, {});
    need(v && typeof v === "object" && !Array.isArray(v), `${name} must be an object {origin: [PEM, ...]}`);
    for (const [o, pems] of Object.entries(v)) {
      need(parseOrigin(o, `${name} key`).federation === federation, `${name} names ${o}, which is not in federation ${federation}`);
      pemList(pems, `${name}[${o}]`);
    }
    return v;
  };
  const vkeys = orDefault(doc, "vkeys", []);
  need(Array.isArray(vkeys) && vkeys.every((v) => typeof v === "string"), "vkeys must be a list of strings");
  return {
    origin: doc.origin,
    federation,
    recordId: doc.record_id,
    items,
    contextItems,
    keyEntries,
    logChains: chains("log_chains"),
    witnessChains: chains("witness_chains"),
    vkeys,
  };
}

class Run {
  constructor() {
    this.checks = [];
  }

  ok(check, subject, detail) {
    this.checks.push({ check, subject, ok: true, detail });
  }

  fail(check, subject, detail) {
    this.checks.push({ check, subject, ok: false, detail });
    return new Stop();
  }
}

function message(e) {
  return e instanceof VerifyError ? e.message : `${e && e.name ? e.name : "error"}: ${e && e.message ? e.message : e}`;
}

class BundleVerifier {
  constructor(run, p, minCosignatures) {
    this.run = run;
    this.p = p;
    this.k = minCosignatures;
    this.keys = new Map(); // origin -> [{key, fp, certSha256}]
    this.checkpoints = new Map(); // origin -> {note text, checkpoint}
    this.used = new Map(); // `${origin} ${fp}` -> {origin, fingerprint, roles:Set, certSha256}
  }

  async addCert(origin, pem) {
    const { key, certSha256 } = await certificateKey(pem);
    const fp = await fingerprint(key);
    const list = this.keys.get(origin) ?? [];
    if (!list.some((k) => k.fp === fp)) list.push({ key, fp, certSha256 });
    this.keys.set(origin, list);
    return { key, fp, certSha256 };
  }

  use(origin, fp, role, certSha256) {
    const id = `${origin} ${fp}`;
    const u = this.used.get(id) ?? { origin, fingerprint: fp, roles: new Set(), certSha256 };
    u.roles.add(role);
    this.used.set(id, u);
  }

  /** Keys of every leaf certificate in the bundle, by origin (unchecked: see the header). */
  async loadKeys() {
    const p = this.p;
    const sources = [
      ...[...p.items, ...p.contextItems].filter((it) => it.chain).map((it) => [it.origin, it.chain[0], it.subject]),
      ...Object.entries(p.logChains).map(([o, pems]) => [o, pems[0], `log key ${o}`]),
      ...Object.entries(p.witnessChains).map(([o, pems]) => [o, pems[0], `witness key ${o}`]),
    ];
    this.witnessProblems = new Map();
    for (const [origin, pem, subject] of sources) {
      try {
        await this.addCert(origin, pem);
      } catch (e) {
        if (subject.startsWith("witness key")) {
          this.witnessProblems.set(origin, message(e)); // not counted, and named, as in Python
          continue;
        }
        // Python names a bad certificate in certificate-chain; here its key cannot be read,
        // so the signature it should verify cannot be checked.
        throw this.run.fail("dsse-signature", subject, `no Ed25519 key in the certificate: ${message(e)}`);
      }
    }
  }

  async entry(it) {
    const run = this.run;
    const pems = it.chain ?? this.p.items[0].chain;
    let signer;
    try {
      signer = await certificateKey(pems[0]);
      const leaf = asciiBytes(it.leaf, "leaf");
      await verifyEnvelope(leaf, signer.key);
    } catch (e) {
      throw run.fail("dsse-signature", it.subject, message(e));
    }
    const fp = await fingerprint(signer.key);
    this.use(it.origin, fp, "signer", signer.certSha256);
    run.ok("dsse-signature", it.subject, `signature over PAE(payloadType, payload) by key ${fp.slice(0, 16)}… verifies`);
    const { cp, proof } = await this.proven(it);
    run.ok("inclusion-proof", it.subject, `leaf ${proof.index} is in the tree of size ${cp.size} (RFC 9162)`);
  }

  async proven(it) {
    const run = this.run;
    let proof;
    try {
      proof = parseTlogProof(it.tlogProof);
    } catch (e) {
      throw run.fail("inclusion-proof", it.subject, `malformed tlog-proof: ${message(e)}`);
    }
    const cp = await this.checkpoint(it, proof.note);
    if (proof.index !== BigInt(it.index)) {
      throw run.fail("inclusion-proof", it.subject, `the proof is for index ${proof.index}, not ${it.index}`);
    }
    try {
      const leaf = await leafHash(asciiBytes(it.leaf, "leaf"));
      await verifyInclusion(leaf, proof.index, cp.size, proof.proof, cp.root);
    } catch (e) {
      throw run.fail("inclusion-proof", it.subject, message(e));
    }
    return { cp, proof };
  }

  async checkpoint(it, noteText) {
    const run = this.run;
    const known = this.checkpoints.get(it.origin);
    if (known) {
      if (noteText !== known.text) {
        throw run.fail("checkpoint-signature", it.subject, `proven against another checkpoint than the other entries of ${it.origin}`);
      }
      return known.checkpoint;
    }
    const candidates = (this.keys.get(it.origin) ?? []).map((k) => k.key);
    let opened;
    try {
      if (!candidates.length) throw new VerifyError(`no certificate key for ${it.origin} in the bundle`);
      opened = await openCheckpoint(noteText, it.origin, candidates);
    } catch (e) {
      throw run.fail("checkpoint-signature", it.subject, message(e));
    }
    const cp = opened.checkpoint;
    const fp = await fingerprint(opened.key);
    const cert = this.keys.get(it.origin).find((k) => k.fp === fp);
    this.use(it.origin, fp, "checkpoint", cert.certSha256);
    const subject = `checkpoint ${it.origin}@${cp.size}`;
    run.ok("checkpoint-signature", subject, `signed by the log key of ${it.origin} (${fp.slice(0, 16)}…)`);
    this.checkpoints.set(it.origin, { text: noteText, checkpoint: cp });
    await this.cosignatures(it.origin, cp, opened.note, subject);
    return cp;
  }

  async cosignatures(origin, cp, note, subject) {
    const good = [];
    const skipped = [];
    const times = [];
    for (const sig of note.signatures) {
      if (sig.name === origin) continue;
      if (!sig.name.endsWith(WITNESS_SUFFIX)) {
        skipped.push(`${sig.name}: not a member's witness name`);
        continue;
      }
      const member = sig.name.slice(0, -WITNESS_SUFFIX.length);
      let fed;
      try {
        fed = parseOrigin(member, "witness").federation;
      } catch (e) {
        skipped.push(`${sig.name}: not a member's witness name (${message(e)})`);
        continue;
      }
      if (member === origin) {
        skipped.push(`${sig.name}: a log does not witness itself`);
        continue;
      }
      if (fed !== this.p.federation) {
        skipped.push(`${sig.name}: another federation`);
        continue;
      }
      let found = null;
      for (const k of this.keys.get(member) ?? []) {
        if (equalBytes(await noteKeyId(sig.name, SIG_TYPE_COSIGNATURE, k.key), sig.keyId)) {
          found = k;
          break;
        }
      }
      if (!found) {
        skipped.push(`${sig.name}: ${this.witnessProblems.get(member) ?? "no certificate key in the bundle"}`);
        continue;
      }
      const ts = await cosignatureTime(found.key, note.text, sig.sig);
      if (ts === null) {
        throw this.run.fail("cosignatures", subject, `cosignature by ${sig.name} (key ${found.fp.slice(0, 16)}…) does not verify`);
      }
      times.push(ts);
      this.use(member, found.fp, "witness", found.certSha256);
      if (!good.includes(member)) good.push(member);
    }
    let detail = `${good.length} valid from other members`;
    if (good.length) detail += ` (${good.map((g) => g + WITNESS_SUFFIX).join(", ")})`;
    if (times.length) {
      const first = times.reduce((a, b) => (a < b ? a : b));
      detail += `; logged no later than ${new Date(Number(first) * 1000).toISOString()}`;
    }
    if (skipped.length) detail += `; not counted: ${skipped.join("; ")}`;
    detail += `; at least ${this.k} required`;
    if (good.length < this.k) throw this.run.fail("cosignatures", subject, detail);
    this.run.ok("cosignatures", subject, detail);
  }

  async keyInclusion() {
    for (const it of this.p.keyEntries) {
      await this.proven(it);
    }
    if (this.p.keyEntries.length) {
      this.run.ok("inclusion-proof", "key entries", `${this.p.keyEntries.length} in their logs`);
    }
  }

  /** Each vkey string is a key of a certificate in the bundle; each checkpoint's log key is listed. */
  async vkeyCheck() {
    const listed = new Set();
    const items = [...this.p.items, ...this.p.contextItems].map((it) => it.vkey).filter(Boolean);
    for (const v of [...this.p.vkeys, ...items]) {
      let parsed;
      try {
        parsed = await parseVkey(v);
      } catch (e) {
        throw this.run.fail("vkeys", "bundle", message(e));
      }
      const witness = parsed.name.endsWith(WITNESS_SUFFIX);
      const member = witness ? parsed.name.slice(0, -WITNESS_SUFFIX.length) : parsed.name;
      const type = witness ? SIG_TYPE_COSIGNATURE : SIG_TYPE_ED25519;
      if (parsed.type !== type) {
        throw this.run.fail("vkeys", "bundle", `vkey ${parsed.name} has type byte ${parsed.type}, expected ${type}`);
      }
      const fp = await fingerprint(parsed.key);
      if (!(this.keys.get(member) ?? []).some((k) => k.fp === fp)) {
        throw this.run.fail("vkeys", "bundle", `vkey ${parsed.name} is not the key of a certificate for ${member}`);
      }
      listed.add(`${parsed.name} ${fp}`);
    }
    for (const origin of this.checkpoints.keys()) {
      if (!(this.keys.get(origin) ?? []).some((k) => listed.has(`${origin} ${k.fp}`))) {
        throw this.run.fail("vkeys", "bundle", `no vkey for the log key of ${origin}`);
      }
    }
    this.run.ok("vkeys", "bundle", `${listed.size} vkey(s), each a key of a certificate in the bundle`);
  }
}

/**
 * Verify a brandex.bundle/v1 document: its text (string or bytes) or parsed JSON.
 *
 * @param {string|Uint8Array|ArrayBuffer|object} input the bundle
 * @param {{minCosignatures?: number}} options cosignatures each checkpoint needs (default 1,
 *   as `brandex audit verify`)
 * @returns {Promise<{valid: boolean, origin: string, recordId: string,
 *   checks: {check: string, subject: string, ok: boolean, detail: string}[],
 *   failure: object|null,
 *   keys: {origin: string, fingerprint: string, roles: string[], certSha256: string}[]}>}
 */
export async function verifyBundle(input, { minCosignatures = 1 } = {}) {
  const run = new Run();
  const report = { valid: false, origin: "", recordId: "", checks: run.checks, failure: null, keys: [] };
  let v = null;
  try {
    let doc = input;
    if (input instanceof ArrayBuffer) doc = new Uint8Array(input);
    if (doc instanceof Uint8Array) {
      try {
        doc = new TextDecoder("utf-8", { fatal: true }).decode(doc);
      } catch (e) {
        throw run.fail("format", "bundle", `not UTF-8 text: ${e.message}`);
      }
    }
    if (typeof doc === "string") {
      try {
        doc = JSON.parse(doc);
      } catch (e) {
        throw run.fail("format", "bundle", `not a JSON document: ${e.message}`);
      }
    }
    let p;
    try {
      p = parseBundle(doc);
    } catch (e) {
      throw run.fail("format", "bundle", message(e));
    }
    report.origin = p.origin;
    report.recordId = p.recordId;
    run.ok("format", "bundle", `${FORMAT}: record and ${p.items.length - 1} related entries`);
    v = new BundleVerifier(run, p, minCosignatures);
    await v.loadKeys();
    for (const it of [...p.items, ...p.contextItems]) await v.entry(it);
    await v.keyInclusion();
    await v.vkeyCheck();
  } catch (e) {
    if (!(e instanceof Stop)) {
      // A bug or a browser without the primitives: say so as a failure, never as a pass.
      run.fail(run.checks.length ? run.checks[run.checks.length - 1].check : "format", "bundle", `internal error: ${message(e)}`);
    }
  }
  report.failure = run.checks.find((c) => !c.ok) ?? null;
  report.valid = run.checks.length > 0 && report.failure === null;
  if (v) {
    report.keys = [...v.used.values()].map((u) => ({
      origin: u.origin,
      fingerprint: u.fingerprint,
      roles: [...u.roles].sort(),
      certSha256: u.certSha256,
    }));
  }
  return report;
}
