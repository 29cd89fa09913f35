// The layer tar codec and rules, in process: what tar-header.ts writes, tar-reader.ts reads back
// (long names, big ids, binary xattrs); global pax headers; the one rule set, good and bad entries
// side by side.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Readable } from 'node:stream';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from '../../src/layer/tar-header.js';
import { readTar, TarPusher, type ReadHeader } from '../../src/layer/tar-reader.js';
import { LayerRules } from '../../src/layer/rules.js';
import { FormatError } from '../../src/util/errors.js';

function tar(entries: { h: TarHeader; body?: Buffer }[], extra: Buffer[] = []): Buffer {
  const parts: Buffer[] = [...extra];
  for (const { h, body } of entries) {
    parts.push(encodeHeader(h));
    if (body) parts.push(body, padding(body.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/** Every header and body, reading the tar in chunks of `chunk` bytes (the reader must not care). */
async function read(b: Buffer, chunk = 7): Promise<{ h: ReadHeader; body: Buffer }[]> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < b.length; i += chunk) chunks.push(b.subarray(i, i + chunk));
  const out: { h: ReadHeader; body: Buffer }[] = [];
  for await (const ev of readTar(Readable.from(chunks))) {
    if ('header' in ev) out.push({ h: ev.header, body: Buffer.alloc(0) });
    else out[out.length - 1]!.body = Buffer.concat([out[out.length - 1]!.body, ev.data]);
  }
  return out;
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000 };

test('round trip: long names and links, ids past ustar, binary xattrs, devices', async () => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x00]);
  const body = Buffer.from('hello\n');
  const entries: { h: TarHeader; body?: Buffer }[] = [
    { h: { ...base, name: 'dir', type: 'directory', mode: 0o755 } },
    { h: { ...base, name: long, type: 'file', size: body.length, uid: 3000000, gid: 4000000, xattrs: new Map([['security.capability', cap]]) }, body },
    { h: { ...base, name: 'ln', type: 'symlink', linkname: 'x'.repeat(200) } },
    { h: { ...base, name: 'hard', type: 'link', linkname: long } },
    { h: { ...base, name: 'null', type: 'character-device', devmajor: 1, devminor: 3 } },
  ];
  for (const chunk of [1, 7, 512, 1 << 20]) {
    const got = await read(tar(entries), chunk);
    assert.equal(got.map((e) => e.h.name), ['dir/', long, 'ln', 'hard', 'null'], `chunk ${chunk}`);
    assert.is(got[1]!.h.uid, 3000000);
    assert.is(got[1]!.h.gid, 4000000);
    assert.ok(got[1]!.h.pax.get('SCHILY.xattr.security.capability')!.equals(cap), 'binary xattr byte for byte');
    assert.ok(got[1]!.body.equals(body));
    assert.is(got[2]!.h.linkname, 'x'.repeat(200));
    assert.is(got[3]!.h.typeflag, '1');
    assert.equal([got[4]!.h.devmajor, got[4]!.h.devminor], [1, 3]);
    assert.is(got[0]!.h.mode, 0o755);
    assert.is(got[1]!.h.mtime, 1700000000);
  }
});

test("a pax global header's path, linkpath and size rename nothing (as docker and tar-stream read it)", async () => {
  // A global header is a typeflag 'g' entry whose body is pax records.
  const rec = (k: string, v: string) => {
    const body = ` ${k}=${v}\n`;
    let n = body.length + 2;
    while (String(n).length + body.length !== n) n = String(n).length + body.length;
    return `${n}${body}`;
  };
  const records = Buffer.from(rec('path', 'evil/x') + rec('linkpath', '/etc/shadow') + rec('uid', '7'));
  const g = encodeHeader({ ...base, name: 'pax_global_header', type: 'file', size: records.length });
  g[156] = 'g'.charCodeAt(0);
  g.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += g[i]!;
  g.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  const got = await read(tar([{ h: { ...base, name: 'a', type: 'file', size: 1 }, body: Buffer.from('x') }, { h: { ...base, name: 'l', type: 'symlink', linkname: 't' } }], [g, records, padding(records.length)]));
  assert.equal(got.map((e) => [e.h.name, e.h.linkname]), [['a', ''], ['l', 't']]);
  assert.is(got[0]!.h.uid, 7, 'other global records still apply');
});

test('truncated and corrupt tars are refused, not misread', async () => {
  const t = tar([{ h: { ...base, name: 'a', type: 'file', size: 1000 }, body: Buffer.alloc(1000, 1) }]);
  const failure = (b: Buffer) => read(b).then(() => '', (e: Error) => e.message);
  assert.match(await failure(t.subarray(0, 700)), /unexpected end of data/);
  const bad = Buffer.from(t);
  bad[10]! ^= 0xff;
  assert.match(await failure(bad), /invalid tar header at byte 0/);
});

/** `h`'s header block with field `off`/`len` replaced by `text` and the checksum made right again. */
function withField(h: TarHeader, off: number, len: number, text: string): Buffer {
  const b = Buffer.from(encodeHeader(h).subarray(0, 512));
  b.fill(0, off, off + len);
  b.write(text, off, len, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

test('octal fields padded with leading spaces or NULs read as their digits (GNU tar, others)', async () => {
  const h: TarHeader = { ...base, name: 'f', type: 'file', size: 3 };
  const body = Buffer.from('abc');
  const cases: [number, number, string, keyof ReadHeader, number][] = [
    [108, 8, '   1750 ', 'uid', 0o1750],
    [116, 8, '\0\0\0\0 12\0', 'gid', 0o12],
    [100, 8, '    644', 'mode', 0o644],
    [136, 12, ' 14540142000', 'mtime', 0o14540142000],
    [108, 8, '        ', 'uid', 0],
    [116, 8, '\0\0\0\0\0\0\0\0', 'gid', 0],
  ];
  for (const [off, len, text, field, want] of cases) {
    const got = await read(Buffer.concat([withField(h, off, len, text), body, padding(3), END_OF_ARCHIVE]));
    assert.is(got[0]!.h[field], want, JSON.stringify(text));
    assert.ok(got[0]!.body.equals(body), `${JSON.stringify(text)}: the body still follows`);
  }
  const sized = await read(Buffer.concat([withField(h, 124, 12, '          3 '), body, padding(3), END_OF_ARCHIVE]));
  assert.ok(sized[0]!.body.equals(body), 'a space-padded size field still counts the body');
  const bad = withField(h, 108, 8, ' 12x4 ');
  const msg = await read(Buffer.concat([bad, body, padding(3), END_OF_ARCHIVE])).then(() => '', (e: Error) => e.message);
  assert.is(msg, 'invalid number in uid field: "12x4"');
});

/**
 * A header block written by hand, as other tars write them: `fields` are byte offsets to bytes or
 * latin1 text; the checksum is summed unsigned, or signed (bytes above 127 counted negative) as
 * some old tars did.
 */
function rawHeader(name: string, typeflag: string, size: number, fields: [number, string | number[]][] = [], signed = false): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write('14540142000\0', 136, 'latin1');
  b.write(typeflag, 156, 'latin1');
  b.write('ustar  \0', 257, 'latin1'); // GNU's magic and version
  for (const [off, v] of fields) {
    if (typeof v === 'string') b.write(v, off, 'latin1');
    else Buffer.from(v).copy(b, off);
  }
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += signed && b[i]! > 127 ? b[i]! - 256 : b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

/** A GNU 'L' or 'K' entry carrying `text` (NUL-terminated, as GNU tar writes it). */
function gnuLong(typeflag: 'L' | 'K', text: string): Buffer {
  const body = Buffer.from(text + '\0');
  return Buffer.concat([rawHeader('././@LongLink', typeflag, body.length), body, padding(body.length)]);
}

/** A local pax header ('x') holding `records`. */
function paxHeader(records: [string, string][]): Buffer {
  let text = '';
  for (const [k, v] of records) {
    const rest = ` ${k}=${v}\n`;
    let n = rest.length + 1;
    while (String(n).length + rest.length !== n) n = String(n).length + rest.length;
    text += `${n}${rest}`;
  }
  const body = Buffer.from(text);
  return Buffer.concat([rawHeader('PaxHeaders/x', 'x', body.length), body, padding(body.length)]);
}

/** Every header, from the pushing reader fed `b` in chunks of `chunk` bytes. */
function pushAll(b: Buffer, chunk: number): ReadHeader[] {
  const out: ReadHeader[] = [];
  const r = new TarPusher((ev) => {
    if ('header' in ev) out.push(ev.header);
  });
  for (let i = 0; i < b.length; i += chunk) r.push(b.subarray(i, i + chunk));
  r.end();
  return out;
}

test('GNU long names and links, base-256 numbers, signed checksums and pax scope, in any chunking', async () => {
  const longName = `${'n'.repeat(130)}/ünïcode-${'m'.repeat(40)}`;
  const longLink = `../${'t'.repeat(220)}`;
  const body = Buffer.from('0123456789');
  const big = 3_000_000_000; // past the 8-byte octal field's 2097151
  const base256 = (n: number, len: number) => {
    const out = new Array<number>(len).fill(0);
    for (let i = len - 1, v = n; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
    out[0]! |= 0x80;
    return out;
  };
  const archive = Buffer.concat([
    gnuLong('L', longName),
    rawHeader('trunc', '0', body.length, [[108, base256(big, 8)], [116, base256(7, 8)]]),
    body,
    padding(body.length),
    gnuLong('K', longLink),
    rawHeader('link', '2', 0),
    paxHeader([['path', 'from-pax'], ['SCHILY.xattr.user.k', 'v']]),
    rawHeader('ignored', '0', 0),
    rawHeader('plain', '0', 0),
    rawHeader('caf\u00e9-\u00e9t\u00e9', '0', 0, [], true),
    rawHeader('sized', '0', 3, [[124, base256(3, 12)]]),
    Buffer.from('abc'),
    padding(3),
    END_OF_ARCHIVE,
  ]);
  const check = (hs: ReadHeader[], how: string) => {
    assert.equal(hs.map((h) => h.name), [longName, 'link', 'from-pax', 'plain', 'café-été', 'sized'], how);
    assert.is(hs[0]!.uid, big, `${how}: base-256 uid`);
    assert.is(hs[0]!.gid, 7, `${how}: base-256 gid`);
    assert.is(hs[0]!.size, body.length, how);
    assert.is(hs[1]!.linkname, longLink, `${how}: GNU long link`);
    assert.is(hs[1]!.name, 'link', `${how}: the long name applied to one entry only`);
    assert.is(hs[2]!.pax.get('SCHILY.xattr.user.k')?.toString(), 'v', how);
    assert.is(hs[3]!.pax.size, 0, `${how}: a local pax header applies to the next entry only`);
    assert.is(hs[5]!.size, 3, `${how}: base-256 size`);
  };
  for (const chunk of [1, 7, 511, 513, 4096, archive.length]) {
    check(pushAll(archive, chunk), `pushed in chunks of ${chunk}`);
    check((await read(archive, chunk)).map((e) => e.h), `read in chunks of ${chunk}`);
  }
  const got = await read(archive, 100);
  assert.ok(got[0]!.body.equals(body), 'the body after a GNU long name');
  assert.is(got[5]!.body.toString(), 'abc', 'the body of a base-256 size');
  const broken = Buffer.from(archive);
  broken[gnuLong('L', longName).length + 20]! ^= 0x01; // a name byte of the entry after the long name
  assert.throws(() => pushAll(broken, 512), /invalid tar header at byte 1024/);
});

test('layer rules: good and bad entries side by side', () => {
  const h = (name: string, typeflag = '0', linkname = '') => ({ name, typeflag, linkname });
  const ok: [string, ReturnType<typeof h>[]][] = [
    ['plain names, ./ and / dropped', [h('./etc/', '5'), h('/etc/passwd')]],
    ['a directory over a directory keeps its contents', [h('d/', '5'), h('d/f'), h('d/', '5'), h('d/g', '1', 'd/f')]],
    ['a symlink replaced by a directory stops redirecting', [h('l', '2', '/etc'), h('l/', '5'), h('l/x')]],
    ['a whiteout of a symlink stops redirecting', [h('l', '2', '/etc'), h('.wh.l'), h('l/x')]],
    ['.. inside the root', [h('a/../b')]],
    ['the root as a directory', [h('./', '5')]],
  ];
  for (const [what, entries] of ok) {
    const r = new LayerRules();
    for (const e of entries) r.check(e);
    assert.ok(true, what);
  }
  const bad: [string, ReturnType<typeof h>[], RegExp][] = [
    ['climbs out', [h('../x')], /^entry "\.\.\/x": path traversal \(climbs out of the layer root\)$/],
    ['through its own symlink', [h('etc', '2', '/etc'), h('etc/passwd')], /via symlink: etc\/passwd would be written through the symlink etc/],
    ['a sibling after its directory became a symlink', [h('d/a'), h('d', '2', '/etc'), h('d/b')], /via symlink: d\/b would be written through the symlink d/],
    ['a sibling after an ancestor became a symlink', [h('a/b/c'), h('a', '2', '/'), h('a/b/d')], /via symlink: a\/b\/d would be written through the symlink a$/],
    ['a sibling after its directory became a hardlink', [h('f'), h('d/a'), h('d', '1', 'f'), h('d/b')], /d\/b is below d, which is not a directory/],
    ['below a file', [h('f'), h('f/x')], /f\/x is below f, which is not a directory/],
    ['hardlink out', [h('pw', '1', '../../etc/passwd')], /hardlink pw target .*path traversal/],
    ['hardlink through a symlink', [h('etc', '2', '/etc'), h('pw', '1', 'etc/passwd')], /via symlink: pw links to etc\/passwd/],
    ['hardlink to nothing', [h('pw', '1', 'nowhere')], /not an earlier entry/],
    ['hardlink to a directory', [h('d/', '5'), h('pw', '1', 'd')], /not an earlier entry/],
    ['the root as a symlink', [h('.', '2', '/')], /layer root must be a directory/],
    ['a type a layer cannot hold', [h('x', 'Z')], /tar type "Z" cannot be in a layer/],
    ['NUL in a name', [h('a\0b')], /^entry "a\\u0000b": NUL in path$/],
  ];
  for (const [what, entries, msg] of bad) {
    const r = new LayerRules();
    const last = entries.pop()!;
    for (const e of entries) r.check(e);
    assert.throws(() => r.check(last), (e: Error) => e instanceof FormatError && msg.test(e.message), what);
  }
});

test.run();
