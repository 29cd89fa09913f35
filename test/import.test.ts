// import: tar files (plain, gzip, zstd), stdin and directories become one-layer images; --change
// instructions land in the config; bad input is refused before anything is recorded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, linkSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { getAttributeSync, setAttributeSync } from 'fs-xattr';
import { Store } from '../src/store/store.js';
import type { ImageConfig } from '../src/oci/types.js';
import { bale, baleOk, SHARED, tmpDir } from './helpers.js';
import { hexOf, sha256 } from '../src/oci/digest.js';
import { layerTar, type Entry } from './images.js';
import { encodeHeader, END_OF_ARCHIVE } from '../src/layer/tar-header.js';
import { extract, tarNames } from './flatten-util.js';

const ENTRIES: Entry[] = [
  { name: './etc/' },
  { name: './etc/motd', content: 'hello\n' },
  { name: '/bin/' },
  { name: '/bin/tool', content: 'tool', mode: 0o755, uid: 1000, gid: 1000 },
  { name: 'bin/alias', type: 'link', linkname: './bin/tool' },
  { name: 'x', content: 'x', pax: { 'SCHILY.xattr.user.round': 'trip' } },
];

async function config(root: string, ref: string): Promise<ImageConfig> {
  const store = await Store.open(root);
  return store.readJsonBlob<ImageConfig>((await store.resolve(ref)).id);
}

test('import FILE with every --change kind: config, history, names cleaned', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const tarFile = path.join(dir, 'in.tar');
    writeFileSync(tarFile, await layerTar(ENTRIES));
    const id = (
      await baleOk(dir, [
        'import',
        '-c', 'ENV PATH=/usr/bin:/bin GREETING="hello world"',
        '--change', 'ENV OLD legacy form value',
        '-c', 'ENV PATH=$PATH:/opt/bin',
        '-c', 'CMD ["/bin/tool", "--flag"]',
        '-c', 'ENTRYPOINT /bin/entry arg',
        '-c', 'EXPOSE 80 53/udp 8000-8001',
        '-c', 'LABEL a=b "c d"="e f"',
        '-c', 'USER 1000:1000',
        '-c', 'VOLUME ["/data", "/logs"]',
        '-c', 'VOLUME /cache',
        '-c', 'WORKDIR /srv',
        '-c', 'WORKDIR app',
        '-c', 'STOPSIGNAL SIGINT',
        '-c', 'ONBUILD RUN echo hi',
        '-c', 'HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/',
        tarFile,
        'imp:1',
      ])
    ).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const c = await config(dir, 'imp:1');
    const store = await Store.open(dir);
    assert.is((await store.resolve('imp:1')).id, id);
    assert.is(c.os, 'linux');
    assert.equal(c.config, {
      Env: ['PATH=/usr/bin:/bin:/opt/bin', 'GREETING=hello world', 'OLD=legacy form value'],
      Cmd: ['/bin/tool', '--flag'],
      Entrypoint: ['/bin/sh', '-c', '/bin/entry arg'],
      ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8000/tcp': {}, '8001/tcp': {} },
      Labels: { a: 'b', 'c d': 'e f' },
      User: '1000:1000',
      Volumes: { '/data': {}, '/logs': {}, '/cache': {} },
      WorkingDir: '/srv/app',
      StopSignal: 'SIGINT',
      OnBuild: ['RUN echo hi'],
      Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 30e9, Retries: 3 },
    });
    assert.is(c.history!.length, 1);
    assert.is(c.history![0]!.comment, `Imported from ${tarFile}`);
    assert.is(c.rootfs.diff_ids.length, 1);
    const rec = await store.resolve('imp:1');
    const blob = store.blobPath(rec.layers[0]!.digest);
    assert.equal(tarNames(blob), ['etc/', 'etc/motd', 'bin/', 'bin/tool', 'bin/alias', 'x']);
    const x = path.join(dir, 'x');
    extract(blob, x);
    assert.is(readFileSync(path.join(x, 'bin/alias'), 'utf8'), 'tool');
    assert.is(getAttributeSync(path.join(x, 'x'), 'user.round').toString(), 'trip');
  } finally {
    cleanup();
  }
});

test('import gzip, zstd and stdin give the same layer; -m sets the comment', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const plain = await layerTar(ENTRIES);
    const gz = path.join(dir, 'in.tar.gz');
    writeFileSync(gz, gzipSync(plain));
    const zst = path.join(dir, 'in.tar.zst');
    writeFileSync(path.join(dir, 'in.tar'), plain);
    const z = spawnSync('zstd', ['-q', '-f', path.join(dir, 'in.tar'), '-o', zst]);
    assert.is(z.status, 0);
    await baleOk(dir, ['import', gz, 'g:1']);
    await baleOk(dir, ['import', '--compress', 'zstd', zst, 'z:1']);
    await baleOk(dir, ['import', '-m', 'from a pipe', '-', 's:1'], { input: plain });
    const [g, zz, s] = await Promise.all(['g:1', 'z:1', 's:1'].map((r) => config(dir, r)));
    assert.equal(g.rootfs.diff_ids, zz.rootfs.diff_ids);
    assert.equal(g.rootfs.diff_ids, s.rootfs.diff_ids);
    assert.is(s.history![0]!.comment, 'from a pipe');
    const store = await Store.open(dir);
    const zrec = await store.resolve('z:1');
    assert.is(zrec.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    assert.is.not(zrec.layers[0]!.digest, zrec.diffIds[0]);
  } finally {
    cleanup();
  }
});

test('import DIR keeps modes, owners, hardlinks, symlinks and user xattrs; export gives them back', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const src = path.join(dir, 'src');
    mkdirSync(path.join(src, 'd/e'), { recursive: true });
    writeFileSync(path.join(src, 'd/e/f'), 'f');
    writeFileSync(path.join(src, 'g'), 'g', { mode: 0o600 });
    linkSync(path.join(src, 'g'), path.join(src, 'g2'));
    symlinkSync('d/e/f', path.join(src, 'sl'));
    setAttributeSync(path.join(src, 'd/e/f'), 'user.color', 'blue');
    spawnSync('chown', ['4321:8765', path.join(src, 'g')]);
    await baleOk(dir, ['import', src, 'dir:1']);
    const out = path.join(dir, 'out.tar');
    await baleOk(dir, ['export', '-o', out, 'dir:1']);
    assert.equal(tarNames(out), ['d/', 'd/e/', 'd/e/f', 'g', 'g2', 'sl']);
    const x = path.join(dir, 'x');
    extract(out, x);
    assert.is(getAttributeSync(path.join(x, 'd/e/f'), 'user.color').toString(), 'blue');
    const list = spawnSync('tar', ['-tvf', out], { encoding: 'utf8' }).stdout;
    assert.match(list, /-rw------- 4321\/8765 .* g\n/);
    assert.match(list, /g2 link to g\n/);
    assert.match(list, /sl -> d\/e\/f\n/);
    // and the exported tar imports again to the same layer
    await baleOk(dir, ['import', out, 'again:1']);
    const store = await Store.open(dir);
    assert.equal((await store.resolve('again:1')).diffIds, (await store.resolve('dir:1')).diffIds);
  } finally {
    cleanup();
  }
});

test('import refuses escapes, dangling hardlinks, unknown --change and non-tars, and records nothing', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const esc = path.join(dir, 'esc.tar');
    writeFileSync(esc, await layerTar([{ name: 'ok', content: 'ok' }, { name: 'a/../../evil', content: 'x' }]));
    let r = await bale(dir, ['import', esc, 'bad:1']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^bale: .*esc\.tar: .*path traversal/);
    assert.is(r.stderr.trim().split('\n').length, 1);

    const dangling = path.join(dir, 'dl.tar');
    writeFileSync(dangling, await layerTar([{ name: 'l', type: 'link', linkname: 'nowhere' }]));
    r = await bale(dir, ['import', dangling, 'bad:1']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /hardlink l names "nowhere", which is not an earlier entry/);

    const through = path.join(dir, 'through.tar');
    writeFileSync(through, await layerTar([{ name: 'etc', type: 'symlink', linkname: '/etc' }, { name: 'etc/passwd', content: 'x' }]));
    r = await bale(dir, ['import', through, 'bad:1']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /etc\/passwd would be written through the symlink etc\n$/);

    const good = path.join(dir, 'good.tar');
    writeFileSync(good, await layerTar([{ name: 'ok', content: 'ok' }]));
    r = await bale(dir, ['import', '-c', 'RUN rm -rf /', good, 'bad:1']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /^bale: --change "RUN rm -rf \/": RUN is not an instruction --change accepts/);

    const junk = path.join(dir, 'junk');
    writeFileSync(junk, 'this is not a tar archive at all'.repeat(40));
    r = await bale(dir, ['import', junk, 'bad:1']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^bale: .*junk: not a valid tar \(/);
    assert.is(r.stderr.trim().split('\n').length, 1);
    r = await bale(dir, ['import', '-'], { input: gzipSync(Buffer.from('abc')) });
    assert.is(r.stderr, 'bale: stdin: not a valid tar (unexpected end of data)\n');

    r = await bale(dir, ['import', path.join(dir, 'missing.tar')]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /missing\.tar: no such file or directory/);

    const store = await Store.open(dir);
    assert.equal(await store.images(), []);
    assert.equal(await store.tags(), {});
  } finally {
    cleanup();
  }
});

test('binary xattrs, long names and GNU/pax tars made by GNU tar survive import and export', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const bin = Buffer.from([0xff, 0x00, 0x80, 0x41, 0x0a]);
    const longDir = 'd'.repeat(120);
    const longFile = `${longDir}/${'f'.repeat(150)}`;
    const crafted = Buffer.concat([
      encodeHeader({ name: 'bin', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 2, mtime: 1, xattrs: new Map([['user.bin', bin]]) }),
      Buffer.from('hi'),
      Buffer.alloc(510),
      encodeHeader({ name: 'big-ids', type: 'file', mode: 0o600, uid: 3000000, gid: 4000000, size: 0, mtime: 1 }),
      END_OF_ARCHIVE,
    ]);
    const craftedFile = path.join(dir, 'crafted.tar');
    writeFileSync(craftedFile, crafted);
    await baleOk(dir, ['import', craftedFile, 'crafted:1']);
    // the stored layer carries the binary value byte for byte (GNU tar reads it back)
    const store = await Store.open(dir);
    const blob = store.blobPath((await store.resolve('crafted:1')).layers[0]!.digest);
    const x = path.join(dir, 'x');
    extract(blob, x);
    assert.ok(getAttributeSync(path.join(x, 'bin'), 'user.bin').equals(bin));
    assert.match(spawnSync('tar', ['-tvf', blob], { encoding: 'utf8' }).stdout, /3000000\/4000000 .* big-ids/);

    const src = path.join(dir, 'src');
    mkdirSync(path.join(src, longDir), { recursive: true });
    writeFileSync(path.join(src, longFile), 'long');
    symlinkSync(longFile, path.join(src, 'to-long'));
    for (const format of ['gnu', 'pax']) {
      const t = path.join(dir, `${format}.tar`);
      assert.is(spawnSync('tar', [`--format=${format}`, '-cf', t, '-C', src, '.']).status, 0);
      await baleOk(dir, ['import', t, `${format}:1`]);
      const o = path.join(dir, `${format}-out.tar`);
      await baleOk(dir, ['export', '-o', o, `${format}:1`]);
      assert.equal(tarNames(o), [`${longDir}/`, longFile, 'to-long']);
      const xx = path.join(dir, `x-${format}`);
      extract(o, xx);
      assert.is(readFileSync(path.join(xx, 'to-long'), 'utf8'), 'long');
    }
  } finally {
    cleanup();
  }
});

test('tars from other writers: git archive (pax global header), GNU base-256 ids, v7', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const src = path.join(dir, 'src');
    mkdirSync(path.join(src, 'sub'), { recursive: true });
    writeFileSync(path.join(src, 'sub/a.txt'), 'a\n');
    const git = (...a: string[]) => spawnSync('git', ['-C', src, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { encoding: 'utf8' });
    assert.is(git('init', '-q').status, 0);
    assert.is(git('add', '.').status, 0);
    assert.is(git('commit', '-qm', 'x').status, 0);
    const ga = path.join(dir, 'git.tar');
    assert.is(spawnSync('git', ['-C', src, 'archive', '--format=tar', '-o', ga, 'HEAD']).status, 0);
    await baleOk(dir, ['import', ga, 'git:1']);
    const store = await Store.open(dir);
    const gblob = store.blobPath((await store.resolve('git:1')).layers[0]!.digest);
    assert.equal(tarNames(gblob), ['sub/', 'sub/a.txt']);

    for (const [format, name] of [['gnu', 'big'], ['v7', 'v7']] as const) {
      const t = path.join(dir, `${name}.tar`);
      const owner = format === 'gnu' ? ['--owner=3000000', '--group=4000000'] : ['--owner=0', '--group=0'];
      assert.is(spawnSync('tar', [`--format=${format}`, ...owner, '--numeric-owner', '-cf', t, '-C', src, 'sub']).status, 0);
      await baleOk(dir, ['import', t, `${name}:1`]);
      const blob = store.blobPath((await store.resolve(`${name}:1`)).layers[0]!.digest);
      const list = spawnSync('tar', ['-tvf', blob, '--numeric-owner'], { encoding: 'utf8' }).stdout;
      assert.match(list, format === 'gnu' ? /3000000\/4000000 .* sub\/a\.txt/ : /0\/0 .* sub\/a\.txt/);
    }
  } finally {
    cleanup();
  }
});

test('a clean tar is kept byte for byte, as docker import keeps it: the diff_id docker recorded for the same export', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const peers = path.join(SHARED, 'fixtures', 'peers');
    const exported = path.join(peers, 'docker-export.tar');
    // docker import + save of this export: its config names the diff_id docker computed.
    const docker = JSON.parse(spawnSync('tar', ['-xOf', path.join(peers, 'docker-imported.tar'), '39fe3ed43ebdcf62062a3740a1e7f9e3a27890ada0017cb23bb93d99a8663341.json']).stdout.toString()) as ImageConfig;
    const want = docker.rootfs.diff_ids[0]!;
    assert.is(want, sha256(readFileSync(exported)), 'docker kept the bytes');
    await baleOk(dir, ['import', '-q', exported, 'plain:1']);
    assert.is((await config(dir, 'plain:1')).rootfs.diff_ids[0], want);
    // Compressed the same: the diff_id is the uncompressed tar's; the stored blob is the gzip as bale writes it.
    const gz = path.join(dir, 'export.tar.gz');
    writeFileSync(gz, gzipSync(readFileSync(exported)));
    await baleOk(dir, ['import', '-q', '--compress', 'gzip', gz, 'gz:1']);
    assert.is((await config(dir, 'gz:1')).rootfs.diff_ids[0], want);
  } finally {
    cleanup();
  }
});

test('a tar that needs cleaning (./ names, a root entry, overlay xattrs) is rewritten, and the rewrite is what is stored', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    for (const [i, entries] of [
      [{ name: './etc/' }, { name: './etc/motd', content: 'hi\n' }],
      [{ name: './' }, { name: 'etc/' }, { name: 'etc/motd', content: 'hi\n' }],
      [{ name: 'etc/', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } }, { name: 'etc/motd', content: 'hi\n' }],
    ].entries()) {
      const tarFile = path.join(dir, `dirty${i}.tar`);
      const bytes = await layerTar(entries as Entry[]);
      writeFileSync(tarFile, bytes);
      await baleOk(dir, ['import', '-q', tarFile, `dirty:${i}`]);
      const c = await config(dir, `dirty:${i}`);
      assert.is.not(c.rootfs.diff_ids[0], sha256(bytes), `tar ${i} was rewritten`);
      const store = await Store.open(dir);
      const blob = path.join(store.blobDir, hexOf(c.rootfs.diff_ids[0]!));
      assert.equal(tarNames(blob), ['etc/', 'etc/motd'], `tar ${i} names`);
      assert.not.match(readFileSync(blob).toString('latin1'), 'trusted.overlay');
    }
  } finally {
    cleanup();
  }
});

test.run();
