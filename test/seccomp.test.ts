// Seccomp, capabilities and no_new_privs, for real: a static probe (test/fixtures/syscall.c) makes
// the calls docker's profile refuses inside bale containers; the same calls made unconfined show
// the filter is what stops them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bale, baleOk, REPO, tmpDir } from './helpers.js';
import { seedBusybox, type Entry } from './images.js';
import { dockerDefaultProfile } from '../src/runtime/seccomp-default.js';
import { hostTarget, parseDockerProfile, rulesFile } from '../src/runtime/seccomp.js';
import { DOCKER_DEFAULT_CAPS, effectiveCaps } from '../src/runtime/capabilities.js';

const FIXTURES = path.join(REPO, 'test', 'fixtures');
const build = tmpDir('bale-seccomp-build-');

function cc(args: string[]): void {
  const r = spawnSync('cc', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cc ${args.join(' ')}: ${r.stderr}`);
}

/** The probe, static so it runs in the busybox image. */
const PROBE = path.join(build.dir, 'syscall');
cc(['-static', '-O2', '-o', PROBE, path.join(FIXTURES, 'syscall.c')]);
/** native/seccomp.c alone, behind a driver that loads a rules file and execs. */
const LOADER = path.join(build.dir, 'load');
cc(['-O2', '-o', LOADER, path.join(FIXTURES, 'seccomp-load.c'), path.join(REPO, 'src/runtime/native/seccomp.c'), '-lseccomp']);

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNS = 0x00020000;

/** docker's profile refuses these to a container with the default capabilities: [probe args, errno]. */
const DENIED: [string, string][] = [
  ['keyctl', 'EPERM'], ['add_key', 'EPERM'], ['request_key', 'EPERM'], ['bpf', 'EPERM'],
  ['perf_event_open', 'EPERM'], ['kexec_load', 'EPERM'], ['kexec_file_load', 'EPERM'],
  ['open_by_handle_at', 'EPERM'], [`unshare ${CLONE_NEWUSER}`, 'EPERM'], [`unshare ${CLONE_NEWNS}`, 'EPERM'],
  [`clone ${CLONE_NEWUSER}`, 'EPERM'], ['mount', 'EPERM'], ['umount2', 'EPERM'], ['pivot_root', 'EPERM'],
  ['swapon', 'EPERM'], ['swapoff', 'EPERM'], ['init_module', 'EPERM'], ['finit_module', 'EPERM'],
  ['delete_module', 'EPERM'], ['reboot', 'EPERM'], ['settimeofday', 'EPERM'], ['clock_settime', 'EPERM'],
  ['acct', 'EPERM'], ['quotactl', 'EPERM'], ['lookup_dcookie', 'EPERM'], ['userfaultfd 1', 'EPERM'],
  ['kcmp', 'EPERM'], ['setns', 'EPERM'], ['syslog', 'EPERM'], ['fsopen', 'EPERM'], ['open_tree', 'EPERM'],
  ['move_mount', 'EPERM'], ['vhangup', 'EPERM'], ['iopl', 'EPERM'], ['ioperm', 'EPERM'],
  ['get_mempolicy', 'EPERM'], ['sethostname', 'EPERM'], ['uselib', 'EPERM'], ['sysfs', 'EPERM'],
  ['ustat', 'EPERM'], ['nfsservctl', 'EPERM'], ['socket 40 1', 'EPERM'], ['personality 4', 'EPERM'],
  // clone3's flags are out of a filter's reach: ENOSYS makes libc fall back to clone
  ['clone3', 'ENOSYS'],
];

/** Calls a container makes all the time: still allowed. */
const ALLOWED = ['getpid', 'getuid', 'socket 1 1', 'personality 0xffffffff', 'clone 17'];

/** Calls whose refusal is the filter's doing: unconfined, the kernel answers them otherwise. */
const FILTER_ONLY = ['keyctl', 'add_key', 'request_key', 'perf_event_open', `unshare ${CLONE_NEWUSER}`, 'userfaultfd 1', 'clone3', 'socket 40 1'];

/** A script running the probe once per call: one "NAME RESULT" line each. */
function probeAll(calls: string[]): string[] {
  return ['sh', '-c', calls.map((c) => `syscall ${c}`).join('; ')];
}

/** Probe results keyed by the full probe arguments (several probes share a call name). */
function byCall(calls: string[], out: string): Map<string, string> {
  const lines = out.trim().split('\n');
  assert.is(lines.length, calls.length, out);
  return new Map(calls.map((c, i) => [c, lines[i]!.split(' ')[1]!]));
}

function probeLayer(): Entry[] {
  const bin = readFileSync(PROBE);
  return [
    { name: 'bin/syscall', content: bin, mode: 0o755 },
    // setuid root, as passwd and su are
    { name: 'bin/suid-probe', content: bin, mode: 0o4755 },
    ...['unshare', 'chown', 'umount'].map((a): Entry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'mnt/' },
  ];
}

function withImage(fn: (root: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const t = tmpDir();
    try {
      await seedBusybox(t.dir, { layers: [probeLayer()] });
      await fn(t.dir);
    } finally {
      t.cleanup();
    }
  };
}

const run = (root: string, args: string[]) => bale(root, ['run', '--rm', ...args]);

// ---- resolution and the loader, without a container ------------------------------------------------

test('the default profile gives the admin group only to a container holding CAP_SYS_ADMIN', () => {
  const plain = rulesFile(dockerDefaultProfile(), hostTarget(DOCKER_DEFAULT_CAPS));
  const admin = rulesFile(dockerDefaultProfile(), hostTarget([...DOCKER_DEFAULT_CAPS, 'CAP_SYS_ADMIN']));
  assert.not.match(plain, /^syscall\tmount\tallow$/m);
  assert.match(admin, /^syscall\tmount\tallow$/m);
  assert.match(plain, /^syscall\tclone3\terrno:38$/m);
  assert.not.match(admin, /clone3\terrno/);
  assert.match(plain, /^syscall\tclone\tallow\t0:masked_eq:2114060288:0$/m);
  assert.match(plain, /^default\terrno:1\narch\tx86_64\narch\tx86\narch\tx32\n/);
});

test('capabilities: docker names with or without CAP_, ALL, and unknown names refused', () => {
  assert.equal(effectiveCaps({ capAdd: [], capDrop: [], privileged: false }).length, 14);
  const c = effectiveCaps({ capAdd: ['sys_admin'], capDrop: ['CAP_CHOWN', 'NET_RAW'], privileged: false });
  assert.ok(c.includes('CAP_SYS_ADMIN') && !c.includes('CAP_CHOWN') && !c.includes('CAP_NET_RAW'));
  assert.equal(effectiveCaps({ capAdd: ['KILL'], capDrop: ['ALL'], privileged: false }), ['CAP_KILL']);
  assert.ok(effectiveCaps({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'], privileged: false }).length > 30);
  assert.throws(() => effectiveCaps({ capAdd: ['SYS_WIZARD'], capDrop: [], privileged: false }), /unknown capability: "CAP_SYS_WIZARD"/);
});

test("docker's JSON format: bad profiles are refused with the place that is wrong", () => {
  const bad: [string, RegExp][] = [
    ['{', /JSON/],
    ['{"defaultAction":"SCMP_ACT_NOPE"}', /defaultAction: unsupported action "SCMP_ACT_NOPE"/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}', /syscalls\[0\]: use either 'name' or 'names'/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}', /args\[0\]\.index/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_LIKE"}]}]}', /unknown comparison/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a\\tb"],"action":"SCMP_ACT_ERRNO"}]}', /not a system call name/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","archMap":{"architecture":"SCMP_ARCH_X86_64"}}', /archMap: not a list/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}', /either 'architectures' or 'archMap'/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseDockerProfile(text), re, text);
});

test('the loader: errno and argument rules hold, calls libseccomp does not know are skipped', () => {
  const t = tmpDir();
  try {
    const profile = parseDockerProfile(JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['no_such_call_at_all', 'getppid'], action: 'SCMP_ACT_ERRNO', errnoRet: 22 },
        // two conditions on one argument: either refuses
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 4, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      ],
    }));
    const rules = path.join(t.dir, 'rules');
    writeFileSync(rules, rulesFile(profile, hostTarget([])));
    const probe = (...args: string[]) => spawnSync(LOADER, [rules, PROBE, ...args], { encoding: 'utf8' });
    assert.is(probe('getppid').stdout, 'getppid EINVAL\n');
    assert.is(probe('getpid').stdout, 'getpid ok\n');
    assert.is(probe('personality', '4').stdout, 'personality EPERM\n');
    assert.is(probe('personality', '8').stdout, 'personality EPERM\n');
    assert.is(probe('personality', '0xffffffff').stdout, 'personality ok\n');
    // without the filter the same probe answers otherwise
    assert.is(spawnSync(PROBE, ['getppid'], { encoding: 'utf8' }).stdout, 'getppid ok\n');
    writeFileSync(rules, 'syscall\tgetpid\tallow\n');
    const r = probe('getpid');
    assert.is(r.status, 125);
    assert.is(r.stderr, "bale: seccomp rules: the first line must be a valid 'default' line\n");
  } finally {
    t.cleanup();
  }
});

/** FNV-1a, 64 bits: what native/seccomp.c sums its cache files with. */
function fnv(data: Buffer, h = 0xcbf29ce484222325n): bigint {
  for (const b of data) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

/** A cache file holding `program` as the filter of `rulesText` (header layout: native/seccomp.c's struct cache_head). */
function forgeCache(genuine: Buffer, rulesText: string, program: Buffer): Buffer {
  const head = Buffer.from(genuine.subarray(0, 40));
  head.writeBigUInt64LE(fnv(Buffer.from(rulesText)), 16);
  head.writeUInt32LE(program.length / 8, 24);
  head.writeBigUInt64LE(fnv(program, fnv(head.subarray(0, 32))), 32);
  return Buffer.concat([head, program]);
}

test('the loader\'s cache: written once, used as it is only when it holds this filter, untouched by others', () => {
  const t = tmpDir();
  try {
    const rulesOf = (names: string[]) => rulesFile(parseDockerProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names, action: 'SCMP_ACT_ERRNO', errnoRet: 22 }] })), hostTarget([]));
    const [textA, textB] = [rulesOf(['getppid']), rulesOf(['getuid'])];
    const [rulesA, rulesB, cacheA, cacheB] = ['a.rules', 'b.rules', 'a.bpf', 'b.bpf'].map((n) => path.join(t.dir, n));
    writeFileSync(rulesA!, textA);
    writeFileSync(rulesB!, textB);
    const probe = (rules: string, cache: string, call: string) => spawnSync(LOADER, [rules, '--cache', cache, PROBE, call], { encoding: 'utf8' }).stdout;
    assert.is(probe(rulesA!, cacheA!, 'getppid'), 'getppid EINVAL\n');
    const genuine = readFileSync(cacheA!);
    const st = statSync(cacheA!);
    assert.is(st.uid, 0);
    assert.is(st.mode & 0o777, 0o644);
    assert.is(genuine.subarray(0, 8).toString(), 'BALEBPF1');
    assert.is(probe(rulesA!, cacheA!, 'getppid'), 'getppid EINVAL\n', 'from the cache');
    assert.equal(readFileSync(cacheA!), genuine, 'a good cache file is not rewritten');

    // A's program under B's name is another filter: not used, B's own is compiled in its place.
    writeFileSync(cacheB!, genuine);
    assert.is(probe(rulesB!, cacheB!, 'getppid'), 'getppid ok\n');
    assert.is(probe(rulesB!, cacheB!, 'getuid'), 'getuid EINVAL\n');
    assert.not.equal(readFileSync(cacheB!), genuine);

    // A file that verifies is loaded as it is (so the cache is what runs): A's program, labelled B's.
    const forged = forgeCache(genuine, textB, genuine.subarray(40));
    writeFileSync(cacheB!, forged);
    assert.is(probe(rulesB!, cacheB!, 'getppid'), 'getppid EINVAL\n');
    // ...but not one others may write, nor one whose program no longer matches its sum.
    chmodSync(cacheB!, 0o664);
    assert.is(probe(rulesB!, cacheB!, 'getppid'), 'getppid ok\n');
    assert.is(statSync(cacheB!).mode & 0o777, 0o644, 'rewritten');
    const flipped = Buffer.from(genuine);
    flipped[flipped.length - 4]! ^= 1;
    writeFileSync(cacheA!, flipped);
    assert.is(probe(rulesA!, cacheA!, 'getppid'), 'getppid EINVAL\n');
    assert.equal(readFileSync(cacheA!), genuine, 'the damaged file is replaced by the filter compiled again');
    // a cache that cannot be written is no error
    assert.is(probe(rulesA!, path.join(t.dir, 'no', 'such', 'dir.bpf'), 'getppid'), 'getppid EINVAL\n');
  } finally {
    t.cleanup();
  }
});

// ---- containers -------------------------------------------------------------------------------

test(
  "the default container: docker's refused calls fail, ordinary ones work, and unconfined they reach the kernel",
  withImage(async (root) => {
    const calls = [...DENIED.map(([c]) => c), ...ALLOWED];
    const r = await run(root, ['busybox', ...probeAll(calls)]);
    assert.is(r.code, 0, r.stderr);
    const got = byCall(calls, r.stdout);
    for (const [c, want] of DENIED) assert.is(got.get(c), want, `${c}: ${got.get(c)}`);
    for (const c of ALLOWED) assert.is(got.get(c), 'ok', `${c}: ${got.get(c)}`);
    // the proof the filter did it: unconfined, the kernel itself answers these differently
    const u = await run(root, ['--security-opt', 'seccomp=unconfined', 'busybox', ...probeAll(FILTER_ONLY)]);
    assert.is(u.code, 0, u.stderr);
    for (const [c, res] of byCall(FILTER_ONLY, u.stdout)) assert.is.not(res, got.get(c) ?? '', `unconfined ${c}: ${res}`);
    assert.match(await baleOk(root, ['run', '--rm', 'busybox', 'grep', '^Seccomp:', '/proc/self/status']), /Seccomp:\s+2/);
    assert.match(await baleOk(root, ['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'grep', '^Seccomp:', '/proc/self/status']), /Seccomp:\s+0/);
  }),
);

test(
  'runs share one compiled filter per profile in the store; gc keeps those a container uses',
  withImage(async (root) => {
    const dir = path.join(root, 'cache', 'seccomp');
    const files = () => (existsSync(dir) ? readdirSync(dir).sort() : []);
    await baleOk(root, ['run', '--rm', 'busybox', 'true']);
    const [one, ...more] = files();
    assert.ok(one && /^[0-9a-f]{64}\.bpf$/.test(one) && more.length === 0, files().join(' '));
    const st = statSync(path.join(dir, one!));
    assert.is(st.uid, 0);
    assert.is(st.mode & 0o777, 0o644);
    await baleOk(root, ['run', '--name', 'kept', 'busybox', 'true']);
    assert.equal(files(), [one], 'the same profile: the same file');
    assert.is(statSync(path.join(dir, one!)).ino, st.ino, 'used, not written again');
    const custom = writeProfile(root, ['mkdir', 'mkdirat']);
    const r = await run(root, ['--security-opt', `seccomp=${custom}`, 'busybox', 'mkdir', '/tmp/d']);
    assert.is(r.code, 1);
    assert.is(files().length, 2, 'another profile, another filter');
    // the filter from the cache is the one that runs: a damaged one is not used, and is replaced
    writeFileSync(path.join(dir, one!), Buffer.alloc(st.size));
    const again = await run(root, ['busybox', 'syscall', 'keyctl']);
    assert.is(again.stdout, 'keyctl EPERM\n', again.stderr);
    assert.is(readFileSync(path.join(dir, one!)).subarray(0, 8).toString(), 'BALEBPF1');
    await baleOk(root, ['gc', '-q']);
    assert.equal(files(), [one], "gc keeps the filter of 'kept', drops the custom one no container uses");
    await baleOk(root, ['rm', 'kept']);
    await baleOk(root, ['gc', '-q']);
    assert.equal(files(), []);
  }),
);

test(
  "unshare -Urm (a user namespace with mounts) is refused, and works unconfined",
  withImage(async (root) => {
    const r = await run(root, ['busybox', 'unshare', '-Urm', 'id', '-u']);
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /Operation not permitted/);
    const u = await run(root, ['--security-opt', 'seccomp=unconfined', 'busybox', 'unshare', '-Urm', 'id', '-u']);
    assert.is(u.code, 0, u.stderr);
    assert.is(u.stdout, '0\n');
  }),
);

test(
  "bale exec runs under the container's filter and capabilities too",
  withImage(async (root) => {
    const id = (await baleOk(root, ['run', '-d', '--cap-drop', 'CHOWN', 'busybox', 'sleep', '100'])).trim();
    try {
      assert.is(await baleOk(root, ['exec', id, 'syscall', 'keyctl']), 'keyctl EPERM\n');
      assert.match(await baleOk(root, ['exec', id, 'grep', '^Seccomp:', '/proc/self/status']), /Seccomp:\s+2/);
      const chown = await bale(root, ['exec', id, 'chown', '1000', '/tmp']);
      assert.is.not(chown.code, 0);
    } finally {
      await bale(root, ['rm', '-f', id]);
    }
  }),
);

test(
  '--cap-add SYS_ADMIN allows the admin group: a tmpfs mount works',
  withImage(async (root) => {
    const mount = ['busybox', 'sh', '-c', 'mount -t tmpfs none /mnt && grep -c " /mnt tmpfs" /proc/mounts'];
    const plain = await run(root, mount);
    assert.is.not(plain.code, 0);
    const admin = await run(root, ['--cap-add', 'SYS_ADMIN', ...mount]);
    assert.is(admin.code, 0, admin.stderr);
    assert.is(admin.stdout, '1\n');
    // capabilities alone are not what stopped it: with CAP_SYS_ADMIN, the filter still decides
    const filtered = await run(root, ['--cap-add', 'SYS_ADMIN', '--security-opt', `seccomp=${writeProfile(root, ['mount'])}`, ...mount]);
    assert.is.not(filtered.code, 0);
  }),
);

/** A docker-format profile allowing everything but `names` (refused with EACCES). */
function writeProfile(root: string, names: string[]): string {
  const file = path.join(root, `profile-${names.join('-')}.json`);
  writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names, action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }));
  return file;
}

test(
  'a docker JSON profile: refusing mkdir makes mkdir fail; a broken one stops create with one line',
  withImage(async (root) => {
    const file = writeProfile(root, ['mkdir', 'mkdirat']);
    const r = await run(root, ['--security-opt', `seccomp=${file}`, 'busybox', 'mkdir', '/tmp/d']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /Permission denied/);
    assert.is((await run(root, ['busybox', 'mkdir', '/tmp/d'])).code, 0);
    writeFileSync(file, '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_DANCE"}]}');
    const bad = await bale(root, ['create', '--security-opt', `seccomp=${file}`, 'busybox']);
    assert.is(bad.code, 125);
    assert.is(bad.stderr, 'bale: seccomp profile: syscalls[0]: unsupported action "SCMP_ACT_DANCE"\n');
    const missing = await bale(root, ['create', '--security-opt', 'seccomp=/no/such.json', 'busybox']);
    assert.is(missing.code, 125);
    assert.match(missing.stderr, /^bale: opening seccomp profile \(\/no\/such\.json\) failed: ENOENT\n$/);
    const unknown = await bale(root, ['create', '--security-opt', 'apparmor=x', 'busybox']);
    assert.is(unknown.code, 125);
  }),
);

test(
  '--cap-drop CHOWN makes chown fail; unknown capabilities are refused',
  withImage(async (root) => {
    const chown = ['busybox', 'sh', '-c', 'touch /tmp/f && chown 1000 /tmp/f && stat -c %u /tmp/f'];
    assert.is(await baleOk(root, ['run', '--rm', ...chown]), '1000\n');
    const r = await run(root, ['--cap-drop', 'CHOWN', ...chown]);
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /Operation not permitted/);
    const bad = await bale(root, ['create', '--cap-add', 'SYS_WIZARD', 'busybox']);
    assert.is(bad.code, 125);
    assert.is(bad.stderr, 'bale: invalid CapAdd: unknown capability: "CAP_SYS_WIZARD"\n');
  }),
);

test(
  '--privileged warns, and the container holds every capability with no filter; so does --cap-add ALL, filtered',
  withImage(async (root) => {
    const r = await run(root, ['--privileged', 'busybox', 'grep', '-E', '^(Seccomp|CapBnd):', '/proc/self/status']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /^bale: warning: --privileged: .*\n$/);
    assert.match(r.stdout, /Seccomp:\s+0/);
    // every capability bale itself holds (a confined host root may lack some)
    const capBnd = (text: string) => BigInt('0x' + /CapBnd:\s+([0-9a-f]+)/.exec(text)![1]);
    assert.is(capBnd(r.stdout), capBnd(readFileSync('/proc/self/status', 'utf8')));
    const all = await baleOk(root, ['run', '--rm', '--cap-add', 'ALL', 'busybox', 'grep', '^CapBnd:', '/proc/self/status']);
    assert.is(capBnd(all), capBnd(readFileSync('/proc/self/status', 'utf8')));
    const plain = await baleOk(root, ['run', '--rm', 'busybox', 'grep', '^CapBnd:', '/proc/self/status']);
    assert.is(capBnd(plain), 0xa80425fbn);
  }),
);

test(
  'a setuid-root binary run by a user gets euid 0 by default, not with no-new-privileges',
  withImage(async (root) => {
    assert.is(await baleOk(root, ['run', '--rm', '-u', '1000', 'busybox', 'suid-probe', 'ids']), 'uid=1000 euid=0\n');
    const nnp = await baleOk(root, ['run', '--rm', '-u', '1000', '--security-opt', 'no-new-privileges', 'busybox', 'suid-probe', 'ids']);
    assert.is(nnp, 'uid=1000 euid=1000\n');
    const off = await baleOk(root, ['run', '--rm', '-u', '1000', '--security-opt', 'no-new-privileges=false', 'busybox', 'suid-probe', 'ids']);
    assert.is(off, 'uid=1000 euid=0\n');
  }),
);

test(
  "inspect shows the options as docker's HostConfig fields",
  withImage(async (root) => {
    const id = (await baleOk(root, ['create', '--cap-add', 'sys_admin', '--cap-drop', 'CHOWN', '--security-opt', 'no-new-privileges', 'busybox'])).trim();
    const [c] = JSON.parse(await baleOk(root, ['inspect', '--type', 'container', id])) as { HostConfig: Record<string, unknown> }[];
    const { CapAdd, CapDrop, Privileged, SecurityOpt } = c!.HostConfig;
    assert.equal({ CapAdd, CapDrop, Privileged, SecurityOpt }, { CapAdd: ['CAP_SYS_ADMIN'], CapDrop: ['CAP_CHOWN'], Privileged: false, SecurityOpt: ['no-new-privileges'] });
    await baleOk(root, ['rm', id]);
  }),
);

test.after(() => build.cleanup());
test.run();
