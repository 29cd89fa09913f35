// Image references: good and bad names side by side, and the forms the store keeps.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalTag, familiarName, parseReference, qualifiedName } from '../../src/oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

test('references parse into name, tag and digest', () => {
  const good: [string, { name: string; tag?: string; digest?: string }][] = [
    ['busybox', { name: 'busybox' }],
    ['busybox:1.36', { name: 'busybox', tag: '1.36' }],
    ['docker.io/library/busybox:latest', { name: 'busybox', tag: 'latest' }],
    ['docker.io/team/app', { name: 'team/app' }],
    ['localhost:5000/app:v1', { name: 'localhost:5000/app', tag: 'v1' }],
    [`app@${D}`, { name: 'app', digest: D }],
    [`app:1@${D}`, { name: 'app', tag: '1', digest: D }],
    ['[::1]:5000/a/b:c', { name: '[::1]:5000/a/b', tag: 'c' }],
  ];
  for (const [input, want] of good) {
    const r = parseReference(input);
    assert.equal({ name: r.name, ...(r.tag ? { tag: r.tag } : {}), ...(r.digest ? { digest: r.digest } : {}) }, want, input);
  }
});

test('bad references are refused with one line naming them', () => {
  for (const bad of ['Busybox', 'a:b:c', 'app@sha256:xyz', 'app:', ':tag', 'a//b', '-a', `a:${'x'.repeat(129)}`, 'a b']) {
    assert.throws(() => parseReference(bad), (e: Error) => e.message.includes(JSON.stringify(bad)) && !e.message.includes('\n'), bad);
  }
});

test('familiar, qualified and canonical forms', () => {
  assert.is(familiarName('docker.io/library/a/b'), 'library/a/b');
  assert.is(familiarName('quay.io/x/y'), 'quay.io/x/y');
  assert.is(qualifiedName('busybox'), 'docker.io/library/busybox');
  assert.is(qualifiedName('team/app'), 'docker.io/team/app');
  assert.is(qualifiedName('localhost/app'), 'localhost/app');
  assert.is(canonicalTag('busybox'), 'busybox:latest');
  assert.is(canonicalTag('docker.io/library/busybox:1'), 'busybox:1');
  assert.throws(() => canonicalTag(`app@${D}`), /a tag is needed/);
});

test.run();
