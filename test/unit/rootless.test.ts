// Rootless set-up decisions: which subordinate range is the user's, and the one line saying what
// the host lacks (from given /proc contents and kernel versions, as hosts differ), and which verbs
// enter the user namespace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runsOnHost } from '../../src/cli/main.js';
import { rootlessMissing, subordinateRange } from '../../src/runtime/rootless.js';

test('subordinate ranges: by name or uid, the first usable line; none for others', () => {
  const text = 'alice:100000:65536\n1001:200000:1000\n  bob:300000:0\nbob:400000:10\n# comment\ncarol:x:5\n';
  assert.equal(subordinateRange(text, 'alice', 1000), { start: 100000, count: 65536 });
  assert.equal(subordinateRange(text, 'dave', 1001), { start: 200000, count: 1000 });
  assert.equal(subordinateRange(text, 'bob', 1002), { start: 400000, count: 10 }, 'a zero-length range is skipped');
  assert.is(subordinateRange(text, 'carol', 1003), undefined);
  assert.is(subordinateRange('', 'alice', 1000), undefined);
});

test('what is missing: user namespaces off, restricted, or a kernel without overlay userxattr and no fuse-overlayfs', () => {
  const host = (files: Record<string, string>) => (p: string) => files[p] ?? '';
  assert.is(rootlessMissing(host({ '/proc/sys/user/max_user_namespaces': '96364\n' }), '6.18.0'), undefined);
  assert.is(rootlessMissing(host({ '/proc/sys/user/max_user_namespaces': '0\n' }), '6.18.0'), 'user namespaces are off (sysctl user.max_user_namespaces is 0)');
  assert.match(rootlessMissing(host({ '/proc/sys/kernel/unprivileged_userns_clone': '0\n' }), '6.1.0-13-amd64')!, /kernel\.unprivileged_userns_clone is 0/);
  assert.match(rootlessMissing(host({ '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '1\n' }), '6.8.0')!, /AppArmor/);
  const noFuse = () => ({ missing: 'fuse-overlayfs is not installed (Debian package fuse-overlayfs)' });
  assert.is(rootlessMissing(host({}), '5.10.0-28-amd64', noFuse), 'overlayfs in a user namespace needs Linux 5.11 or later (this is 5.10.0-28-amd64), else fuse-overlayfs: fuse-overlayfs is not installed (Debian package fuse-overlayfs)');
  assert.is(rootlessMissing(host({}), '5.10.0-28-amd64', () => ({ path: '/usr/bin/fuse-overlayfs' })), undefined, 'fuse-overlayfs stands in for the kernel\'s overlay');
  assert.is(rootlessMissing(host({}), '5.11.0', noFuse), undefined);
});

test('image verbs run on the host, by any of their names; verbs that touch layers or containers enter', () => {
  for (const argv of [['images'], ['ls'], ['image', 'ls'], ['load', '-i', 'x'], ['image', 'load'], ['save', 'x'], ['pull', 'r/x'], ['push', 'x'], ['tag', 'a', 'b'],
    ['rmi', 'x'], ['image', 'rm', 'x'], ['image', 'prune'], ['inspect', 'x'], ['container', 'inspect', 'c'], ['history', 'x'], ['verify', 'f'], ['fsck'],
    ['login', 'r'], ['logout'], ['run', '--help'], ['version'], ['nosuchverb'], ['image', 'nosuch'], []]) {
    assert.ok(runsOnHost(argv), argv.join(' '));
  }
  for (const argv of [['run', 'x'], ['create', 'x'], ['start', 'c'], ['exec', 'c', 'sh'], ['stop', 'c'], ['kill', 'c'], ['rm', 'c'], ['ps'], ['container', 'ls'],
    ['logs', 'c'], ['commit', 'c'], ['diff', 'c'], ['export', 'c'], ['squash', 'x'], ['build', '.'], ['import', 'd'], ['image', 'import', 'd'], ['gc'],
    ['container', 'prune'], ['volume', 'rm', 'v'], ['pause', 'c'], ['stats']]) {
    assert.not.ok(runsOnHost(argv), argv.join(' '));
  }
});

test.run();
