// What bale build takes from BuildKit's Dockerfile frontend: here-documents in RUN, COPY and ADD, and
// RUN --mount (bind, cache, tmpfs) and --network. docker 20.10's classic builder (the oracle of
// build-peers) has neither, and buildah 1.28 has no here-documents, so these run the real builds and
// read what they made: files through `bale run`, and the step's layer blob with GNU tar.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Store } from '../src/store/store.js';
import { tarNames } from './flatten-util.js';
import { bale, baleOk, seesHostInterfaces } from './helpers.js';
import { withTiny, writeFiles } from './build-util.js';

/** Names in the image's layer `n` from the top (0: the top one), as GNU tar lists the blob. */
async function layerNames(root: string, ref: string, n = 0): Promise<string[]> {
  const store = await Store.open(root);
  const rec = await store.resolve(ref);
  return tarNames(store.blobPath(rec.layers[rec.layers.length - 1 - n]!.digest)).sort();
}

async function layerCount(root: string, ref: string): Promise<number> {
  return (await (await Store.open(root)).resolve(ref)).layers.length;
}

const HEREDOCS = `FROM tiny
ENV FOO=bar
RUN <<EOF
echo one $FOO > /one.txt
echo two >> /one.txt
EOF
RUN <<'EOT' sh -s arg1
echo "$FOO $1" > /q.txt
EOT
COPY <<EOF /c.txt
hello $FOO \\$FOO "q" \${FOO:-x}
EOF
COPY --chmod=0600 <<-"EOF" <<TWO /d/
\t\ttab $FOO
\tEOF
two
TWO
RUN <<EOF
#!/bin/sh
echo "script $0" > /s.txt
EOF
`;

test('here-documents: RUN runs the body (a #! body as a script), COPY writes it (expanded unless quoted, <<- without tabs)', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), { Dockerfile: HEREDOCS });
    const out = await baleOk(root, ['build', '-t', 'h', ctx]);
    assert.match(out, /Step 3\/7 : RUN <<EOF\n/);
    const cat = async (f: string) => baleOk(root, ['run', '--rm', 'h', 'cat', f]);
    assert.is(await cat('/one.txt'), 'one bar\ntwo\n', 'the body ran in the shell, the shell expanded $FOO');
    assert.is(await cat('/q.txt'), 'bar arg1\n', 'RUN <<EOT sh -s arg1: the line and the body went to the shell as a script');
    assert.is(await cat('/c.txt'), 'hello bar $FOO "q" bar\n', 'COPY expands $VAR and ${VAR:-x}, keeps quotes, \\$ is a $');
    assert.is(await cat('/d/EOF'), 'tab $FOO\n', 'quoted word: no expansion; <<- took every leading tab, as the shell does');
    assert.is(await cat('/d/TWO'), 'two\n');
    assert.is((await baleOk(root, ['run', '--rm', 'h', 'stat', '-c', '%a', '/d/EOF', '/d/TWO'])), '600\n600\n');
    assert.is(await cat('/s.txt'), 'script /dev/pipes/EOF\n', 'a #! body runs as the file /dev/pipes/EOF');
    // the script's mount is not in its layer
    assert.equal(await layerNames(root, 'h'), ['s.txt']);
    assert.equal(await layerNames(root, 'h', 1), ['d/', 'd/EOF', 'd/TWO']);
    // the body is part of the step: history shows it, and a changed body is a cache miss
    const store = await Store.open(root);
    const hist = (await store.config(await store.resolve('h'))).history!.map((e) => e.created_by ?? '');
    assert.ok(hist.includes('/bin/sh -c echo one $FOO > /one.txt\necho two >> /one.txt\n'), hist.join('|'));
    assert.is(((await baleOk(root, ['build', ctx])).match(/Using cache/g) ?? []).length, 6);
    writeFileSync(path.join(ctx, 'Dockerfile'), HEREDOCS.replace('echo "script $0"', 'echo "Script $0"'));
    const again = await baleOk(root, ['build', '-t', 'h2', ctx]);
    assert.match(again.split('Step 7/7')[1]!, /Running in/, 'a #! body that changed runs again');
    assert.is(await baleOk(root, ['run', '--rm', 'h2', 'cat', '/s.txt']), 'Script /dev/pipes/EOF\n');
  });
});

test('here-documents: a body with no closing line is one line naming where it started, and nothing is built', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), { Dockerfile: 'FROM tiny\nRUN true\nCOPY <<EOF /x\nno end\n' });
    const r = await bale(root, ['build', '-t', 'bad', ctx]);
    assert.is(r.code, 1);
    assert.is(r.stderr, 'bale: Dockerfile:3: here-document <<EOF has no closing EOF line\n');
    assert.is((await bale(root, ['image', 'inspect', 'bad'])).code, 1);
  });
});

const CACHE = `FROM tiny
RUN --mount=type=cache,target=/var/cache/deep,id=counter,mode=0700,uid=1000 echo run >> /var/cache/deep/log && wc -l < /var/cache/deep/log > /count.txt && stat -c '%a %u' /var/cache/deep > /mode.txt
`;

test('RUN --mount=type=cache: one directory across builds, kept out of the layer with its mount point; gc --build-cache removes it', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), { Dockerfile: CACHE });
    await baleOk(root, ['build', '-q', '-t', 'c1', ctx]);
    await baleOk(root, ['build', '-q', '--no-cache', '-t', 'c2', ctx]);
    const cat = async (ref: string, f: string) => (await baleOk(root, ['run', '--rm', ref, 'cat', f])).trim();
    assert.is(await cat('c1', '/count.txt'), '1');
    assert.is(await cat('c2', '/count.txt'), '2', 'the second build saw what the first one wrote');
    assert.is(await cat('c1', '/mode.txt'), '700 1000', 'mode= and uid= set the new cache directory up');
    // the layer holds what the command wrote beside the mount, not the mount or the directories made for it
    assert.equal(await layerNames(root, 'c2'), ['count.txt', 'mode.txt']);
    const mounts = path.join(root, 'build-cache', 'mounts');
    assert.is(readdirSync(mounts).length, 1);
    const gc = await baleOk(root, ['gc', '--build-cache']);
    assert.match(gc, /, \d+ build-cache entries, 1 cache mounts and /);
    assert.is(readdirSync(mounts).length, 0);
    assert.is(readdirSync(path.join(root, 'build-cache')).filter((n) => n.endsWith('.json')).length, 0);
    await baleOk(root, ['build', '-q', '-t', 'c3', ctx]);
    assert.is(await cat('c3', '/count.txt'), '1', 'after gc --build-cache the cache starts empty');
  });
});

test('RUN --mount=type=bind: the context read-only by default, rw writes thrown away, a stage merged across its layers; content is in the cache key', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), {
      'a.txt': 'from the context\n',
      'sub/b.txt': 'b\n',
      Dockerfile: `FROM tiny AS stage
RUN mkdir /out && echo old > /out/old && echo app > /out/app
RUN rm /out/old && echo new > /out/new
FROM tiny
RUN --mount=target=/src cat /src/a.txt /src/sub/b.txt > /copied.txt
RUN --mount=type=bind,source=sub,target=/b,rw echo scribble > /b/b.txt && echo made > /b/new.txt && cat /b/b.txt > /rw.txt
RUN --mount=type=bind,from=stage,source=/out,target=/mnt/stage ls /mnt/stage > /ls.txt && cat /mnt/stage/app >> /ls.txt
`,
    });
    await baleOk(root, ['build', '-q', '-t', 'b', ctx]);
    const cat = async (f: string) => baleOk(root, ['run', '--rm', 'b', 'cat', f]);
    assert.is(await cat('/copied.txt'), 'from the context\nb\n', 'type defaults to bind, source to the context root');
    assert.is(await cat('/rw.txt'), 'scribble\n');
    assert.is(await cat('/ls.txt'), 'app\nnew\napp\n', "the stage's layers merged: old deleted above, new added");
    assert.ok(!existsSync(path.join(ctx, 'sub', 'new.txt')), 'rw writes do not reach the context');
    assert.is(await baleOk(root, ['run', '--rm', 'b', 'ls', '/']), await baleOk(root, ['run', '--rm', 'tiny', 'sh', '-c', 'ls / && echo copied.txt && echo ls.txt && echo rw.txt']).then((s) => s.split('\n').filter(Boolean).sort().join('\n') + '\n'), 'no mount point left behind (/src, /b, /mnt)');
    assert.equal(await layerNames(root, 'b'), ['ls.txt']);
    assert.equal(await layerNames(root, 'b', 1), ['rw.txt']);

    // read-only unless rw
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM tiny\nRUN --mount=target=/src touch /src/x\n');
    const ro = await bale(root, ['build', '-q', '-t', 'ro', ctx]);
    assert.is(ro.code, 1);
    assert.match(ro.stderr, /Read-only file system/);
    assert.match(ro.stderr, /bale: Dockerfile:2: The command '\/bin\/sh -c touch \/src\/x' returned a non-zero code: 1\n$/);
    assert.ok(!existsSync(path.join(ctx, 'x')));

    // what a bind shows is part of the step: a changed file runs it again
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM tiny\nRUN --mount=target=/src cat /src/a.txt > /a\n');
    await baleOk(root, ['build', '-q', ctx]);
    assert.match(await baleOk(root, ['build', ctx]), /Using cache/);
    writeFileSync(path.join(ctx, 'a.txt'), 'changed\n');
    const id = (await baleOk(root, ['build', '-q', ctx])).trim();
    assert.is(await baleOk(root, ['run', '--rm', id, 'cat', '/a']), 'changed\n');
  });
});

test('RUN --mount=type=tmpfs and --network: an empty tmpfs (a relative target is in WORKDIR) not in the layer, nor /srv copied up for its mount point; none has only lo', async () => {
  await withTiny(async (root, dir) => {
    const ctx = writeFiles(path.join(dir, 'ctx'), {
      Dockerfile: `FROM tiny
RUN --mount=type=tmpfs,target=scratch,size=1048576 echo x > /srv/scratch/y && grep ' /srv/scratch tmpfs ' /proc/mounts | grep -c size=1024k > /t.txt
RUN --network=none ls /sys/class/net > /none.txt
RUN --network=host ls /sys/class/net > /host.txt
`,
    });
    let seen: string[] = [];
    const host = await seesHostInterfaces(async () => {
      await baleOk(root, ['build', '-q', '-t', 't', ctx]);
      seen = (await baleOk(root, ['run', '--rm', 't', 'cat', '/host.txt'])).split('\n').filter(Boolean);
      return seen;
    });
    assert.is(await baleOk(root, ['run', '--rm', 't', 'cat', '/t.txt']), '1\n');
    assert.equal(await layerNames(root, 't', 2), ['t.txt']);
    assert.is(await baleOk(root, ['run', '--rm', 't', 'cat', '/none.txt']), 'lo\n');
    assert.ok(host.ok, `host step saw ${seen.join(' ')}`);
    assert.is(await layerCount(root, 't'), 4);
  });
});

test('RUN --mount=type=secret|ssh and bad mounts: one line naming the Dockerfile line, exit 1, no image', async () => {
  await withTiny(async (root, dir) => {
    const cases: [string, string][] = [
      ['RUN --mount=type=secret,id=tok cat /run/secrets/tok', 'bale: Dockerfile:2: RUN --mount=type=secret,id=tok: type=secret is not supported: bale builds offline, with no BuildKit session to take secrets from\n'],
      ['RUN --mount=type=ssh true', 'bale: Dockerfile:2: RUN --mount=type=ssh: type=ssh is not supported: bale builds offline, with no BuildKit session to take an ssh agent from\n'],
      ['RUN --mount=type=cache true', 'bale: Dockerfile:2: RUN --mount=type=cache: a mount needs target=\n'],
      ['RUN --mount=type=bind,source=nope,target=/x true', 'bale: Dockerfile:2: RUN --mount source=nope: no such file in the build context\n'],
      ['RUN --mount=type=bind,from=nostage,target=/x true', 'bale: Dockerfile:2: RUN --mount from=nostage: no stage of that name and no such image in the store\n'],
      ['RUN --network=bridge true', 'bale: Dockerfile:2: RUN --network=bridge: wants default, none or host\n'],
      ['RUN --security=insecure true', 'bale: Dockerfile:2: RUN --security is not supported\n'],
    ];
    const before = await baleOk(root, ['images', '-q', '-a']);
    for (const [line, want] of cases) {
      const ctx = writeFiles(path.join(dir, 'ctx'), { Dockerfile: `FROM tiny\n${line}\n` });
      const r = await bale(root, ['build', '-t', 'bad', ctx]);
      assert.is(r.code, 1, line);
      assert.is(r.stderr, want, line);
    }
    assert.is(await baleOk(root, ['images', '-q', '-a']), before);
  });
});

test.run();
