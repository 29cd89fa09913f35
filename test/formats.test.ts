// --format: the template engine and the listing verbs, with docker 20.10's CLI as the oracle
// (test/docker-oracle.ts serves it the same data through a fake Engine API).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exitCode } from '../src/cli/main.js';
import { renderTemplate } from '../src/cli/template.js';
import { humanSize } from '../src/cli/output.js';
import { Store, type ImageRecord } from '../src/store/store.js';
import { listContainers, saveContainer } from '../src/runtime/container.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { seedBusybox, seedImage } from './images.js';
import { fakeEngine } from './docker-oracle.js';

const DATA = {
  Id: 'sha256:0123456789abcdef',
  RepoTags: ['a:1', 'b:2'],
  Config: { Labels: { 'com.example.x': 'y', a: 'b' }, Cmd: ['sh', '-c', 'echo hi'] },
  Data: {
    Name: 'hello wide world',
    Empty: '',
    List: ['x', 'y', 'z'],
    Map: { k2: 'v2', k1: 'v1' },
    Html: '<a&b>',
    Nested: { Inner: { Deep: 'd' } },
    T: true,
    F: false,
    Null: null,
  },
};

const TEMPLATES = [
  '{{.Id}}',
  '{{.RepoTags}}',
  '{{join .RepoTags ", "}}',
  '{{json .RepoTags}}',
  '{{.Config.Labels}}',
  '{{index .Config.Labels "com.example.x"}}',
  '{{json .Config.Labels}}',
  '{{upper .Data.Name}}',
  '{{.Data.Name | title}}',
  '{{lower "ABC" | upper | lower}}',
  '{{truncate .Data.Name 5}}|',
  '{{pad .Data.Name 1 2}}|',
  '{{split "a,b,,c" ","}}',
  '{{range .Data.List}}[{{.}}]{{end}}',
  '{{range $i, $v := .Data.List}}{{$i}}={{$v}} {{end}}',
  '{{range $k, $v := .Data.Map}}{{$k}}={{$v}};{{end}}',
  '{{range .Data.Null}}x{{else}}empty{{end}}',
  '{{if .Data.Empty}}yes{{else}}no{{end}}',
  '{{if .Data.T}}t{{end}}{{if not .Data.F}}nf{{end}}',
  '{{if .Data.F}}a{{else if .Data.T}}b{{else}}c{{end}}',
  '{{with .Data.Nested.Inner}}{{.Deep}}{{end}}{{with .Data.Empty}}no{{else}}none{{end}}',
  '{{.Data.Nested}}',
  '{{json .Data.Html}}',
  '{{json .Data}}',
  '{{.Data.Missing}}',
  '{{index .Data "Missing"}}',
  '{{.Data.Name.Deeper}}',
  '{{.Data.Null}}',
  '{{len .Data.List}} {{len .Data.Map}} {{len .Data.Name}}',
  '{{index .Data.List 1}}',
  '{{eq .Data.Name "hello wide world"}} {{ne .Data.Name "x"}} {{eq "a" "b" "a"}}',
  '{{and .Data.T .Data.Name}} {{or .Data.Empty "dflt"}}',
  'a {{- "b" -}} c',
  '{{/* a comment */}}x',
  '{{printf "%s|%-6s|%q" .Data.Name "ab" "q"}}',
  '{{range .Data.List}}{{$.Id}} {{end}}',
  '{{print "a" "b"}} {{println "c"}}',
  '{{(index .Data.Nested "Inner").Deep}}',
  '{{$x := .Data.Name}}{{$x}}',
];

test('templates render as docker inspect -f renders them', async () => {
  const engine = await fakeEngine((p) => (p === '/images/x/json' ? DATA : undefined));
  try {
    for (const tpl of TEMPLATES) {
      const want = await engine.docker(['image', 'inspect', '-f', tpl, 'x']);
      let got: string;
      try {
        got = renderTemplate(tpl, DATA) + '\n';
      } catch (e) {
        got = `error: ${(e as Error).message}`;
      }
      if (want.code !== 0) assert.match(got, /^error: template: /, `docker refuses ${tpl}: ${want.stderr}`);
      else assert.is(got, want.stdout, tpl);
    }
  } finally {
    await engine.close();
  }
});

test('bad templates are one-line usage errors', () => {
  for (const [tpl, msg] of [
    ['{{.A', 'unclosed action'],
    ['{{nosuchfunc .A}}', 'function "nosuchfunc" not defined'],
    ['{{if .A}}x', 'missing {{end}}'],
    ['{{end}}', 'unexpected {{end}}'],
  ] as const) {
    try {
      renderTemplate(tpl, {});
      assert.unreachable(tpl);
    } catch (e) {
      assert.match((e as Error).message, msg, tpl);
      assert.is(exitCode('inspect', e), 2);
    }
  }
});

test("sizes print as docker's units do (Go's %.3g and %.4g)", () => {
  const cases: [number, number, string][] = [
    [0, 3, '0B'],
    [999, 3, '999B'],
    [5000, 3, '5kB'],
    [2010000, 3, '2.01MB'],
    [133100000, 3, '133MB'],
    [133100000, 4, '133.1MB'],
    [999900, 3, '1e+03kB'],
    [1234567890123, 3, '1.23TB'],
  ];
  for (const [n, p, want] of cases) assert.is(humanSize(n, p), want, `${n} %.${p}g`);
});

/** The Engine API's view of bale's images, as `GET /images/json` gives it. */
async function apiImages(root: string) {
  const store = await Store.open(root);
  const tags = await store.tags();
  const out = [];
  for (const rec of await store.images()) {
    const cfg = await store.config(rec);
    const mine = Object.keys(tags).filter((t) => tags[t] === rec.id).sort();
    const repos = [...new Set(mine.map((t) => t.slice(0, t.lastIndexOf(':'))))];
    out.push({
      Id: rec.id,
      ParentId: '',
      RepoTags: mine.length ? mine : ['<none>:<none>'],
      RepoDigests: mine.length ? repos.map((r) => `${r}@${rec.manifest.digest}`) : ['<none>@<none>'],
      Created: Math.floor(Date.parse(cfg.created!) / 1000),
      Size: Store.imageSize(rec),
      VirtualSize: Store.imageSize(rec),
      SharedSize: -1,
      Labels: cfg.config?.Labels ?? null,
      Containers: -1,
    });
  }
  // The daemon lists newest first.
  return out.sort((a, b) => b.Created - a.Created);
}

/** `GET /images/ID/history`, newest first. */
async function apiHistory(root: string, rec: ImageRecord) {
  const store = await Store.open(root);
  const cfg = await store.config(rec);
  let layer = 0;
  const rows = (cfg.history ?? []).map((h) => {
    const size = h.empty_layer ? 0 : rec.layers[layer++]!.size;
    return { Id: '<missing>', Created: Math.floor(Date.parse(h.created!) / 1000), CreatedBy: h.created_by ?? '', Tags: null, Size: size, Comment: h.comment ?? '' };
  });
  rows.reverse();
  rows[0]!.Id = rec.id;
  return rows;
}

const IMAGE_FORMATS: string[][] = [
  [],
  ['--no-trunc'],
  ['--digests'],
  ['--format', '{{json .}}'],
  ['--digests', '--format', '{{json .}}'],
  ['--format', 'table {{.Repository}}:{{.Tag}}\\t{{.ID}}\\t{{.VirtualSize}}'],
  ['--format', 'table {{.CreatedAt}}\\t{{.Containers}}\\t{{.SharedSize}}\\t{{.UniqueSize}}\\t{{.Digest}}'],
  ['--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}} {{.CreatedSince}}'],
  ['--format', '{{upper .Repository | printf "%-12s"}}|{{truncate .ID 4}}'],
  ['-q'],
  ['-q', '--no-trunc'],
];

test('images: the default table, --digests, --no-trunc, -q and templates print what docker prints', async () => {
  const t = tmpDir();
  const env = { TZ: 'UTC' };
  try {
    const big = 'z'.repeat(1_500_000);
    await seedImage(t.dir, { layers: [[{ name: 'a', content: 'A' }]], tags: ['alpha:1', 'alpha:latest'], created: '2026-01-01T10:00:00Z', config: { Labels: { team: 'x' } } });
    await seedImage(t.dir, { layers: [[{ name: 'b', content: big }]], tags: ['registry.example.com/team/beta:2.0'], created: '2025-06-01T00:00:00Z' });
    await seedImage(t.dir, { layers: [[{ name: 'c', content: 'C'.repeat(12345) }]], created: '2020-03-01T00:00:00Z' });
    const api = await apiImages(t.dir);
    const engine = await fakeEngine((p) => (p === '/images/json' ? api : undefined));
    try {
      for (const args of IMAGE_FORMATS) {
        const want = await engine.docker(['images', ...args]);
        assert.is(want.code, 0, want.stderr);
        // One difference on purpose: -q lists each id once (docker repeats it per tag), so `rmi $(images -q)` works.
        const expected = args.includes('-q') ? [...new Set(want.stdout.split('\n'))].join('\n') + '\n' : want.stdout;
        assert.is(await baleOk(t.dir, ['images', ...args], { env }), expected.replace(/\n\n$/, '\n'), args.join(' '));
      }
      const json = await baleOk(t.dir, ['images', '--format', 'json'], { env });
      assert.is(json, (await engine.docker(['images', '--format', '{{json .}}'])).stdout, '--format json is {{json .}}: one object per line');
    } finally {
      await engine.close();
    }
  } finally {
    t.cleanup();
  }
});

test('history: the table, --no-trunc, --human=false, -q and templates print what docker prints', async () => {
  const t = tmpDir();
  const env = { TZ: 'UTC' };
  try {
    const rec = await seedImage(t.dir, {
      layers: [[{ name: 'x', content: 'x'.repeat(5000) }], [{ name: 'y', content: 'y' }]],
      history: [
        { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / ' },
        { created: '2024-01-02T00:00:00Z', created_by: '/bin/sh -c #(nop)\tENV K=V', empty_layer: true, comment: 'a comment' },
        { created: '2024-01-03T00:00:00Z', created_by: 'ADD y' },
        { created: '2024-01-04T00:00:00Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
      ],
      tags: ['h:1'],
    });
    const api = await apiHistory(t.dir, rec);
    const engine = await fakeEngine((p) => (p === '/images/h:1/history' ? api : p === '/images/h:1/json' ? { Id: rec.id } : undefined));
    try {
      for (const args of [[], ['--no-trunc'], ['--human=false'], ['-q'], ['--format', '{{json .}}'], ['--format', 'table {{.ID}}\\t{{.CreatedAt}}\\t{{.Size}}'], ['--format', '{{.CreatedBy}}|{{.Comment}}']]) {
        const want = await engine.docker(['history', ...args, 'h:1']);
        assert.is(want.code, 0, want.stderr);
        assert.is(await baleOk(t.dir, ['history', ...args, 'h:1'], { env }), want.stdout, args.join(' '));
      }
    } finally {
      await engine.close();
    }
  } finally {
    t.cleanup();
  }
});

test('ps: the table, --no-trunc, -q and templates print what docker prints for the same containers', async () => {
  const t = tmpDir();
  const env = { TZ: 'UTC' };
  try {
    await seedBusybox(t.dir);
    await baleOk(t.dir, ['create', '--name', 'made', 'busybox', 'sh', '-c', 'while true; do sleep 1; done']);
    await baleOk(t.dir, ['run', '--name', 'done', 'busybox', 'true']);
    const store = await Store.open(t.dir);
    // Hours old, so that "2 hours ago" reads the same to bale and to docker a moment later.
    const ago = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();
    for (const c of await listContainers(store)) {
      c.created = ago(3);
      if (c.state.finishedAt) c.state = { ...c.state, startedAt: ago(2.5), finishedAt: ago(2.5) };
      await saveContainer(store, c);
    }
    const statuses = new Map<string, string>();
    for (const line of (await baleOk(t.dir, ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Status}}'])).trim().split('\n')) {
      const i = line.indexOf(' ');
      statuses.set(line.slice(0, i), line.slice(i + 1));
    }
    const api = (await listContainers(store)).map((c) => ({
      Id: c.id,
      Names: [`/${c.name}`],
      Image: c.imageRef,
      ImageID: c.image,
      // as dockerd composes it: arguments holding a space in single quotes
      Command: c.process.args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' '),
      Created: Math.floor(Date.parse(c.created) / 1000),
      Ports: [],
      Labels: {},
      State: c.state.status,
      // The status sentence comes from the daemon: what docker prints of it is what it was given.
      Status: statuses.get(c.id),
      HostConfig: { NetworkMode: c.net },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    }));
    assert.is(api.length, 2);
    const engine = await fakeEngine((p) => (p === '/containers/json' ? api : undefined));
    try {
      for (const args of [['-a'], ['-a', '--no-trunc'], ['-a', '-q'], ['-a', '--format', 'table {{.Names}}\\t{{.Image}}\\t{{.Command}}\\t{{.State}}'], ['-a', '--format', '{{.ID}} {{.CreatedAt}} {{.RunningFor}} {{.Ports}}|{{.Size}}|{{.LocalVolumes}}']]) {
        const want = await engine.docker(['ps', ...args]);
        assert.is(want.code, 0, want.stderr);
        assert.is(await baleOk(t.dir, ['ps', ...args], { env }), want.stdout, args.join(' '));
      }
      // --format json: docker's fields, plus bale's ExitCode and Pid.
      const mine = (await baleOk(t.dir, ['ps', '-a', '--format', 'json'], { env })).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const theirs = (await engine.docker(['ps', '-a', '--format', '{{json .}}'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(
        mine.map((r) => { const { ExitCode, Pid, Networks, ...rest } = r; void Pid; void Networks; return { ...rest, exit: ExitCode }; }),
        theirs.map((r, i) => { const { Networks, ...rest } = r; void Networks; return { ...rest, exit: mine[i]!['Names'] === 'done' ? 0 : null }; }),
      );
    } finally {
      await engine.close();
    }
  } finally {
    t.cleanup();
  }
});

test('an unknown field in a listing template is a one-line usage error naming the fields', async () => {
  const t = tmpDir();
  try {
    await seedImage(t.dir, { layers: [[{ name: 'a', content: 'A' }]], tags: ['a:1'] });
    const r = await bale(t.dir, ['images', '--format', '{{.Nope}}']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /^bale: template: can't evaluate field Nope \(fields: .*Repository/);
    assert.is(r.stderr.trim().split('\n').length, 1);
  } finally {
    t.cleanup();
  }
});

test.run();
