// Seeded fuzzing of bale load: a few hundred mutations (bit flips, truncations, tar header and JSON
// changes, gzip on top) of the peer fixtures and the sample. Every load that fails must fail the way
// a user can read: exit 1, exactly one line on stderr, no stack trace, the store exactly as it was
// and nothing left in its tmp/. BALE_FUZZ_SEED replays another run (BALE_FUZZ_CASES and
// BALE_FUZZ_BUDGET_MS go further); a failure names the seed and the mutation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { bale, baleOk, REPO, SHARED, storeListing, tmpDir } from './helpers.js';

const SEED = Number(process.env['BALE_FUZZ_SEED'] ?? 9);
// A few hundred cases on an idle machine (about 0.25 s each); the time budget bounds a busy one.
const CASES = Number(process.env['BALE_FUZZ_CASES'] ?? 300);
const BUDGET_MS = Number(process.env['BALE_FUZZ_BUDGET_MS'] ?? 60_000);

/** mulberry32: small, seeded, good enough to pick mutations reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Entry {
  name: string;
  header: number;
  data: number;
  size: number;
}

/** The entries of a plain tar (ustar sizes only: enough to aim mutations at headers and JSON). */
function entries(tar: Buffer): Entry[] {
  const out: Entry[] = [];
  let off = 0;
  while (off + 512 <= tar.length && tar[off] !== 0) {
    const name = tar.toString('utf8', off, off + 100).replace(/\0.*$/s, '');
    const size = parseInt(tar.toString('ascii', off + 124, off + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    out.push({ name, header: off, data: off + 512, size });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Keep the header's checksum right after changing it, so the change reaches the parsers beyond it. */
function fixChecksum(tar: Buffer, at: number): void {
  tar.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[at + i]!;
  tar.write(sum.toString(8).padStart(6, '0') + '\0 ', at + 148, 8, 'ascii');
}

type Mutation = (b: Buffer, r: () => number) => { bytes: Buffer; what: string };
const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: () => number, n: number): number => Math.floor(r() * n);

const bitFlips: Mutation = (b, r) => {
  const out = Buffer.from(b);
  const n = 1 + int(r, 8);
  const at: number[] = [];
  for (let i = 0; i < n; i++) {
    const o = int(r, out.length);
    out[o]! ^= 1 << int(r, 8);
    at.push(o);
  }
  return { bytes: out, what: `flip bits at ${at.join(',')}` };
};

const truncate: Mutation = (b, r) => {
  const n = int(r, b.length);
  return { bytes: b.subarray(0, n), what: `truncate to ${n}` };
};

const headerField: Mutation = (b, r) => {
  const out = Buffer.from(b);
  const e = pick(r, entries(out));
  const fields: [string, number, number, () => Buffer][] = [
    ['name', 0, 100, () => Buffer.from(pick(r, ['../../evil', '/etc/passwd', 'manifest.json', '', 'a/../../b', `${e.name}\0x`]))],
    ['size', 124, 12, () => Buffer.from(pick(r, ['77777777777', '00000000000', '00000001000', 'zz', '\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff']), 'latin1')],
    ['typeflag', 156, 1, () => Buffer.from(pick(r, ['1', '2', '5', 'x', 'g', 'L', 'S', '7', 'Z']))],
    ['linkname', 157, 100, () => Buffer.from(pick(r, ['manifest.json', '../x', '/etc/shadow', e.name]))],
    ['mode', 100, 8, () => Buffer.from(pick(r, ['9999999', '\xff\xff', '']), 'latin1')],
  ];
  const [field, off, len, value] = pick(r, fields);
  const v = value();
  out.fill(0, e.header + off, e.header + off + len);
  v.copy(out, e.header + off, 0, Math.min(len, v.length));
  const fixed = r() < 0.8;
  if (fixed) fixChecksum(out, e.header);
  return { bytes: out, what: `${e.name}: ${field}=${JSON.stringify(v.toString('latin1'))}${fixed ? '' : ' (bad checksum)'}` };
};

const jsonEdit: Mutation = (b, r) => {
  const out = Buffer.from(b);
  const jsons = entries(out).filter((e) => e.size > 0 && e.size < 1 << 20 && /^\s*[[{]/.test(out.toString('utf8', e.data, e.data + 16)));
  if (jsons.length === 0) return bitFlips(b, r);
  const e = pick(r, jsons);
  const text = out.toString('latin1', e.data, e.data + e.size);
  // Same length edits, so the tar around it stays valid.
  const edits: [string, () => number][] = [
    ['digest hex', () => text.search(/sha256:[0-9a-f]/) + 7 + int(r, 64)],
    ['a quote', () => text.indexOf('"', int(r, text.length))],
    ['a brace', () => text.search(/[{}[\]]/)],
    ['any byte', () => int(r, text.length)],
    ['a digit', () => text.search(/[0-9]/)],
  ];
  const [what, where] = pick(r, edits);
  const i = where();
  if (i < 0 || i >= e.size) return bitFlips(b, r);
  const old = out[e.data + i]!;
  out[e.data + i] = old === 0x30 ? 0x31 : old === 0x22 ? 0x78 : 0x30;
  return { bytes: out, what: `${e.name}: changed ${what} at ${i}` };
};

const SOURCES = [
  ...['docker-tiny.tar', 'docker-layered.tar', 'docker-multi.tar', 'podman-layered.docker-archive.tar', 'podman-layered.oci-archive.tar', 'skopeo-layered.oci-zstd.tar'].map((f) =>
    path.join(SHARED, 'fixtures', 'peers', f),
  ),
  path.join(REPO, 'samples', 'busybox.tar.gz'),
];

// On tmpfs when there is one: the loads fsync every blob, and the disk is not what is tested here.
const scratch = tmpDir('bale-fuzz-', existsSync('/dev/shm') ? '/dev/shm' : undefined);
const root = path.join(scratch.dir, 'store');
const snapshot = path.join(scratch.dir, 'snapshot');
test.after(() => scratch.cleanup());

test(`failed loads of mutated archives: one line, exit 1, store untouched (seed ${SEED})`, async () => {
  // A store that already holds an image, so "unchanged" has something to compare.
  await baleOk(root, ['load', '-q', '-i', path.join(SHARED, 'fixtures', 'peers', 'docker-tiny.tar')]);
  cpSync(root, snapshot, { recursive: true });
  const before = storeListing(root);
  const r = prng(SEED);
  const inputs = SOURCES.map((f) => ({ name: path.basename(f), bytes: readFileSync(f) }));
  const started = Date.now();
  let failed = 0;
  let ran = 0;
  for (let i = 0; i < CASES && Date.now() - started < BUDGET_MS; i++, ran++) {
    const src = pick(r, inputs);
    const gz = src.name.endsWith('.gz');
    const mutation = gz ? pick(r, [bitFlips, truncate]) : pick(r, [bitFlips, truncate, headerField, headerField, jsonEdit, jsonEdit]);
    let { bytes, what } = mutation(src.bytes, r);
    // A mutated tar inside gzip: the failure is found while decompressing, as for `docker save | gzip`.
    if (!gz && r() < 0.25) {
      bytes = gzipSync(bytes, { level: 1 });
      what += ', gzipped';
    }
    const file = path.join(scratch.dir, 'in.tar');
    writeFileSync(file, bytes);
    const res = await bale(root, ['load', '-q', '-i', file]);
    const tmpLeft = readdirSync(path.join(root, 'tmp'));
    if (res.code === 0) {
      // The mutation did not matter (a flipped bit in padding): start over from the snapshot.
      assert.equal(tmpLeft, [], `${src.name} ${what}: temp files left after a good load`);
      rmSync(root, { recursive: true, force: true });
      cpSync(snapshot, root, { recursive: true });
      continue;
    }
    failed++;
    const ctx = `case ${i} (seed ${SEED}) ${src.name} ${what}: ${JSON.stringify(res.stderr)}`;
    assert.is(res.code, 1, ctx);
    assert.ok(/^bale: [^\n]+\n$/.test(res.stderr), `not one line: ${ctx}`);
    assert.not.match(res.stderr, /\n\s+at |node:internal|ERR_[A-Z_]+|Error:/, `stack trace: ${ctx}`);
    assert.equal(tmpLeft, [], `temp files left: ${ctx}`);
    assert.equal(storeListing(root), before, `store changed: ${ctx}`);
  }
  // Most mutations must break the load, or the test proves little.
  assert.ok(ran >= 20, `only ${ran} cases ran in the time budget (a machine this busy proves little)`);
  assert.ok(failed >= ran / 2, `only ${failed} of ${ran} mutated archives failed to load`);
});

test.run();
