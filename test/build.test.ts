// bale build end to end on docker's tiny image: the layer cache (a rebuild makes nothing new; a
// changed file re-runs only the steps from its COPY on), SOURCE_DATE_EPOCH builds that give the same
// image id, a failing RUN that leaves no image and no container, and the Dockerfile features that
// docker's fixtures do not use (ARG scoping, multi-stage, .dockerignore, --chown/--chmod, ADD of a tar,
// WORKDIR, USER, config instructions, exec forms, escape directive).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ImageConfig } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { PEERS } from './listing.js';
import { withTiny, writeFiles } from './build-util.js';

async function cfg(root: string, ref: string): Promise<{ config: ImageConfig; diffIds: string[] }> {
  const store = await Store.open(root);
  const rec = await store.resolve(ref);
  return { config: await store.config(rec), diffIds: rec.diffIds };
}

const CACHED = `FROM tiny
COPY a.txt /a.txt
COPY b.txt /b.txt
RUN cat /a.txt /b.txt > /ab.txt
ENV DONE=1
CMD ["cat", "/ab.txt"]
`;

test('cache: a rebuild with nothing changed makes no new blob and the same image; a changed file re-runs only from its COPY', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), { Dockerfile: CACHED, 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const first = await baleOk(root, ['build', '-t', 'c:1', ctx]);
    assert.is((first.match(/Running in/g) ?? []).length, 1, first);
    assert.not.match(first, /Using cache/);
    const blobs = readdirSync(path.join(root, 'blobs', 'sha256')).sort();
    const id1 = (await cfg(root, 'c:1')).diffIds;

    const started = Date.now();
    const again = await baleOk(root, ['build', '-t', 'c:2', ctx]);
    const took = Date.now() - started;
    assert.is((again.match(/Using cache/g) ?? []).length, 5, again);
    assert.not.match(again, /Running in/);
    assert.equal(readdirSync(path.join(root, 'blobs', 'sha256')).sort(), blobs, 'no new blob');
    const store = await Store.open(root);
    assert.is((await store.resolve('c:2')).id, (await store.resolve('c:1')).id, 'the same image');
    assert.ok(took < 5000, `a cached build took ${took} ms`);

    // a touched but unchanged file keeps the cache (content, not times)
    spawnSync('touch', ['-d', '2001-01-01', path.join(ctx, 'a.txt')]);
    assert.is(((await baleOk(root, ['build', ctx])).match(/Using cache/g) ?? []).length, 5);

    writeFileSync(path.join(ctx, 'b.txt'), 'B\n');
    const changed = await baleOk(root, ['build', '-t', 'c:3', ctx]);
    const steps = changed.split('Step ').slice(1);
    assert.match(steps[1]!, /Using cache/, 'COPY a.txt cached');
    for (const s of steps.slice(2)) assert.not.match(s, /Using cache/, s);
    assert.match(steps[3]!, /Running in/);
    const id3 = (await cfg(root, 'c:3')).diffIds;
    assert.equal(id3.slice(0, 2), id1.slice(0, 2), 'tiny and COPY a.txt shared');
    assert.is.not(id3[2], id1[2]);
    assert.is(await baleOk(root, ['run', '--rm', 'c:3']), 'a\nB\n');

    // --no-cache runs everything again
    const nc = await baleOk(root, ['build', '--no-cache', ctx]);
    assert.not.match(nc, /Using cache/);
    assert.match(nc, /Running in/);

    // gc takes the layers no image uses, and the cache entries that named them
    const cacheDir = path.join(root, 'build-cache');
    const entries = readdirSync(cacheDir).length;
    for (const img of (await baleOk(root, ['images', '-q'])).trim().split('\n')) await baleOk(root, ['rmi', '-f', img]);
    await baleOk(root, ['load', '-q', '-i', path.join(PEERS, 'docker-tiny.tar')]);
    await baleOk(root, ['gc', '-q']);
    assert.ok(readdirSync(cacheDir).length < entries, 'entries whose layers went are dropped');
    const after = await baleOk(root, ['build', ctx]);
    assert.match(after, /Running in/, 'a miss: the RUN layer is gone');
  });
});

test('SOURCE_DATE_EPOCH: two builds without the cache give the same image id, stamped with that time', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), { Dockerfile: CACHED, 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const one = (await baleOk(root, ['build', '-q', '--no-cache', ctx], { env })).trim();
    const two = (await baleOk(root, ['build', '-q', '--no-cache', ctx], { env })).trim();
    assert.is(one, two);
    const c = (await cfg(root, one)).config;
    assert.is(c.created, '2023-11-14T22:13:20.000Z');
    assert.ok(c.history!.slice(-5).every((h) => h.created === '2023-11-14T22:13:20.000Z'));
    const three = (await baleOk(root, ['build', '-q', '--no-cache', ctx])).trim();
    assert.is.not(three, one, 'without it the time is now');
  });
});

test('a failing RUN: exit 1, the Dockerfile line and the status in one line, no image and no container left', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), { Dockerfile: 'FROM tiny\n\nRUN echo ok > /ok\n# a comment\nRUN echo failing; \\\n  exit 3\nCMD ["true"]\n' });
    const imagesBefore = readdirSync(path.join(root, 'images')).sort();
    const r = await bale(root, ['build', '-t', 'bad:1', ctx]);
    assert.is(r.code, 1);
    assert.is(r.stderr.trim(), "bale: Dockerfile:5: The command '/bin/sh -c echo failing;   exit 3' returned a non-zero code: 3");
    assert.match(r.stdout, /failing/);
    assert.equal(readdirSync(path.join(root, 'images')).sort(), imagesBefore, 'no image record, not even a temporary one');
    assert.equal(readdirSync(path.join(root, 'containers')), [], 'no container');
    assert.is((await bale(root, ['inspect', 'bad:1'])).code, 1);
    // -q keeps RUN output back, and shows it when the step fails
    const q = await bale(root, ['build', '-q', ctx]);
    assert.is(q.code, 1);
    assert.is(q.stdout, '');
    assert.match(q.stderr, /failing\n/);

    const bad = [
      ['FROM tiny\nFROBNICATE x\n', 'Dockerfile:2: unknown instruction: FROBNICATE'],
      ['FROM nosuchimage\n', 'Dockerfile:1: FROM nosuchimage: no such image in the store'],
      ['FROM tiny\nADD https://example.com/x.tar /\n', 'Dockerfile:2: ADD https://example.com/x.tar: bale builds offline and cannot download'],
      ['FROM tiny\nCOPY missing.txt /\n', 'Dockerfile:2: COPY missing.txt: no such file in the build context'],
      ['FROM tiny\nCOPY ../x /\n', 'Dockerfile:2: COPY ../x: forbidden path outside the build context'],
      ['RUN true\n', 'Dockerfile:1: the first instruction (after ARGs) must be FROM'],
      ['FROM tiny\nCOPY --chown=ghost Dockerfile /\n', "Dockerfile:2: --chown=ghost: no user ghost in the image's /etc/passwd"],
      ['FROM tiny\nCOPY a b c\n', 'Dockerfile:2: COPY a: no such file'],
      ['FROM tiny\nCOPY Dockerfile Dockerfile /x\n', 'Dockerfile:2: When using COPY with more than one source file, the destination must be a directory and end with a /'],
    ];
    for (const [text, want] of bad) {
      writeFileSync(path.join(ctx, 'Dockerfile'), text!);
      const e = await bale(root, ['build', ctx]);
      assert.is(e.code, 1, text);
      assert.ok(e.stderr.startsWith(`bale: ${want}`), `${JSON.stringify(text)}: ${e.stderr}`);
      assert.is(e.stderr.trim().split('\n').length, 1, e.stderr);
    }
    assert.equal(readdirSync(path.join(root, 'images')).sort(), imagesBefore);
  });
});

const MULTI = `# escape=\`
ARG BASE=tiny
ARG UNUSED_GLOBAL=x
FROM \${BASE} AS builder
ARG GREETING=hi
# comments inside a continuation are dropped
RUN echo "$GREETING" > /greeting \`
# here
 && echo "[$BASE]" > /base-seen
COPY --chown=user:user --chmod=0600 secret.txt /opt/
COPY src/ /opt/src/
COPY *.log /logs/
ADD pkg.tar.gz /unpacked
ADD plain.txt /plain/
WORKDIR /newdir/sub
RUN ["/bin/sh", "-c", "pwd > /tmp/pwd"]
USER user
RUN id -u > /tmp/uid
EXPOSE 80 53/udp
VOLUME /vol
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh"]
ONBUILD RUN echo triggered > /tmp/triggered

FROM scratch
ARG BASE
COPY --from=builder /greeting /tmp/uid /tmp/pwd /out/
COPY --from=0 /bin/busybox /bin/
LABEL base=\${BASE}
CMD ["/bin/busybox", "cat", "/out/greeting"]
`;

test('multi-stage, ARG scoping, .dockerignore, --chown/--chmod, ADD of a tar, WORKDIR, USER, exec forms, escape directive, ONBUILD', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), {
      Dockerfile: MULTI,
      'secret.txt': 'secret\n',
      'src/a.txt': 'a\n',
      'src/sub/b.txt': 'b\n',
      'src/ignored.log': 'no\n',
      'keep.log': 'kept\n',
      'drop.log': 'dropped\n',
      'plain.txt': 'not a tar\n',
      '.dockerignore': '# logs stay out\n*.log\n**/*.log\n!keep.log\n',
      'tarsrc/x.txt': 'in the tar\n',
    });
    assert.is(spawnSync('tar', ['-C', path.join(ctx, 'tarsrc'), '-czf', path.join(ctx, 'pkg.tar.gz'), '.']).status, 0);
    const out = await baleOk(root, ['build', '--build-arg', 'GREETING=yo', '-t', 'ms:1', ctx]);
    assert.not.match(out, /not consumed/);
    assert.is(await baleOk(root, ['run', '--rm', 'ms:1']), 'yo\n');
    const final = await cfg(root, 'ms:1');
    assert.is(final.diffIds.length, 2);
    assert.equal(final.config.config!.Labels, { base: 'tiny' });
    assert.is(await baleOk(root, ['run', '--rm', 'ms:1', '/bin/busybox', 'cat', '/out/uid', '/out/pwd']), '1000\n/newdir/sub\n');

    // the first stage, as --target makes it
    await baleOk(root, ['build', '-q', '--build-arg', 'GREETING=yo', '--target', 'builder', '-t', 'ms:builder', ctx]);
    const b = (await cfg(root, 'ms:builder')).config;
    const c = b.config!;
    assert.is(c.User, 'user');
    assert.is(c.WorkingDir, '/newdir/sub');
    assert.equal(c.Entrypoint, ['/bin/sh']);
    assert.is(c.Cmd, null, 'ENTRYPOINT resets the inherited CMD');
    assert.equal(Object.keys(c.ExposedPorts!).sort(), ['53/udp', '80/tcp']);
    assert.equal(Object.keys(c.Volumes!), ['/vol']);
    assert.is(c.StopSignal, 'SIGINT');
    assert.equal(c.OnBuild, ['RUN echo triggered > /tmp/triggered']);
    assert.not.ok((c.Env ?? []).some((e) => e.startsWith('GREETING=')), 'ARGs stay out of the image');
    const hist = b.history!.slice(5).map((h) => h.created_by!);
    assert.is(hist[0], '/bin/sh -c #(nop)  ARG GREETING=hi');
    assert.is(hist[1], '|1 GREETING=yo /bin/sh -c echo "$GREETING" > /greeting  && echo "[$BASE]" > /base-seen');
    assert.match(hist[2]!, /^\/bin\/sh -c #\(nop\) COPY file:[a-f0-9]{64} in \/opt\/ $/);
    assert.ok(hist.includes('/bin/sh -c #(nop)  EXPOSE 53/udp 80/tcp'), hist.join('\n'));
    assert.ok(hist.includes('/bin/sh -c #(nop) WORKDIR /newdir/sub'));
    const sh = (args: string) => baleOk(root, ['run', '--rm', '--entrypoint', '/bin/sh', 'ms:builder', '-c', args]);
    // a global ARG is not seen in a stage unless declared there
    assert.is(await sh('cat /base-seen'), '[]\n');
    assert.is(await sh('stat -c "%a %u:%g" /opt /opt/secret.txt'), '755 1000:1000\n600 1000:1000\n');
    assert.is(await sh('find /opt/src /logs /unpacked /plain | sort'), '/logs\n/logs/keep.log\n/opt/src\n/opt/src/a.txt\n/opt/src/sub\n/opt/src/sub/b.txt\n/plain\n/plain/plain.txt\n/unpacked\n/unpacked/x.txt\n');
    assert.is(await sh('cat /unpacked/x.txt; stat -c "%u:%g %a" /newdir/sub'), 'in the tar\n0:0 755\n');

    // ONBUILD fires in a build FROM the image
    writeFiles(path.join(dir, 'child'), { Dockerfile: 'FROM ms:builder\nUSER root\n' });
    await baleOk(root, ['build', '-q', '-t', 'child:1', path.join(dir, 'child')]);
    assert.is(await baleOk(root, ['run', '--rm', '--entrypoint', '/bin/cat', 'child:1', '/tmp/triggered']), 'triggered\n');
    assert.is((await cfg(root, 'child:1')).config.config!.OnBuild, null);

    const unused = await baleOk(root, ['build', '--build-arg', 'NOPE=1', path.join(dir, 'child')]);
    assert.match(unused, /\[Warning\] One or more build-args \[NOPE\] were not consumed/);
  });
});

test('bale build --help and flag errors', async () => {
  const t = tmpDir();
  try {
    const h = await baleOk(t.dir, ['build', '--help']);
    for (const f of ['--file', '--tag', '--build-arg', '--target', '--no-cache', '--network', '--quiet']) assert.ok(h.includes(f), f);
    assert.is((await bale(t.dir, ['build', '--network', 'bridge', t.dir])).code, 2);
    assert.is((await bale(t.dir, ['build', '--frobnicate', t.dir])).code, 2);
    assert.is((await bale(t.dir, ['build'])).code, 2);
    const nf = await bale(t.dir, ['build', t.dir]);
    assert.is(nf.code, 1);
    assert.match(nf.stderr, /Dockerfile: no such file/);
  } finally {
    t.cleanup();
  }
});

test.run();
