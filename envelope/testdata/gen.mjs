// Golden envelopes made by Node.js (node:crypto only). Run by gen.sh; needs node >= 20.
// Writes golden/node-*.enc (encryptedData) and golden/node-*.plain (the expected plaintext).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

process.chdir(path.dirname(new URL(import.meta.url).pathname));
const pub = crypto.createPublicKey(fs.readFileSync('TEST-ONLY-rsa2048-public.pem'));
const KID = 'test-key-1';
const plain = name => fs.readFileSync(path.join('plain', name));
for (const f of fs.readdirSync('golden')) if (f.startsWith('node-')) fs.unlinkSync(path.join('golden', f));
function write(name, encryptedData, plaintext) {
  fs.writeFileSync(path.join('golden', `node-${name}.enc`), encryptedData);
  fs.writeFileSync(path.join('golden', `node-${name}.plain`), plaintext);
}

const HLEN = { sha1: 20, sha256: 32 };
const K = 256;

// Node's own OAEP: oaepHash sets both the OAEP hash and the MGF1 hash.
function nativeBlock(msg, hash) {
  return crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, msg);
}

// RFC 8017 section 7.1.1 EME-OAEP encoding with separate hashes, then the raw RSA operation:
// Node cannot set the MGF1 hash apart from the OAEP hash.
function mgf1(seed, len, hash) {
  const out = [];
  for (let c = 0, n = 0; n < len; c++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(c);
    const h = crypto.createHash(hash).update(seed).update(ctr).digest();
    out.push(h);
    n += h.length;
  }
  return Buffer.concat(out).subarray(0, len);
}
const xor = (a, b) => Buffer.from(a.map((x, i) => x ^ b[i]));
function mixedBlock(msg, hash, mgfHash) {
  const hLen = HLEN[hash];
  if (msg.length > K - 2 * hLen - 2) throw new Error('segment too long');
  const lHash = crypto.createHash(hash).digest(); // hash of the empty label
  const db = Buffer.concat([lHash, Buffer.alloc(K - msg.length - 2 * hLen - 2), Buffer.from([1]), msg]);
  const seed = crypto.randomBytes(hLen);
  const maskedDB = xor(db, mgf1(seed, db.length, mgfHash));
  const maskedSeed = xor(seed, mgf1(maskedDB, hLen, mgfHash));
  const em = Buffer.concat([Buffer.from([0]), maskedSeed, maskedDB]);
  return crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_NO_PADDING }, em);
}

const VARIANTS = {
  'sha256-mgf1sha256': { seg: 190, block: m => nativeBlock(m, 'sha256') },
  'sha256-mgf1sha1': { seg: 190, block: m => mixedBlock(m, 'sha256', 'sha1') },
  'sha1-mgf1sha1': { seg: 214, block: m => nativeBlock(m, 'sha1') },
};

function seal(plaintext, { seg, block }) {
  const blocks = [];
  let i = 0;
  do {
    blocks.push(block(plaintext.subarray(i, i + seg)));
    i += seg;
  } while (i < plaintext.length);
  return Buffer.concat(blocks);
}

for (const [name, v] of Object.entries(VARIANTS)) {
  for (const p of ['short', 'long']) {
    const pt = plain(`${p}.json`);
    write(`${name}-${p}`, seal(pt, v).toString('base64'), pt);
  }
}
// What a Node client writing base64url (no padding) sends.
write('sha256-mgf1sha256-long-base64url', seal(plain('long.json'), VARIANTS['sha256-mgf1sha256']).toString('base64url'), plain('long.json'));
write('sha1-mgf1sha1-empty', seal(plain('empty.txt'), VARIANTS['sha1-mgf1sha1']).toString('base64'), plain('empty.txt'));

// JWE compact serialization (RFC 7516), built by hand.
const b64u = b => Buffer.from(b).toString('base64url');
function jwe(plaintext, alg, enc, kid) {
  const header = { alg, enc };
  if (kid) header.kid = kid;
  const protectedB64 = b64u(JSON.stringify(header));
  const cek = crypto.randomBytes(enc === 'A128GCM' ? 16 : 32);
  const ek = nativeBlock(cek, alg === 'RSA-OAEP-256' ? 'sha256' : 'sha1');
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv(enc === 'A128GCM' ? 'aes-128-gcm' : 'aes-256-gcm', cek, iv);
  c.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return [protectedB64, b64u(ek), b64u(iv), b64u(ct), b64u(c.getAuthTag())].join('.');
}
for (const alg of ['RSA-OAEP-256', 'RSA-OAEP']) {
  for (const enc of ['A256GCM', 'A128GCM']) {
    const pt = plain('large.json');
    write(`jwe-${alg}-${enc}`.toLowerCase(), jwe(pt, alg, enc, KID), pt);
  }
}
write('jwe-rsa-oaep-256-a256gcm-nokid', jwe(plain('short.json'), 'RSA-OAEP-256', 'A256GCM'), plain('short.json'));
