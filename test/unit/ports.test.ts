// -p values as docker spells them: good and bad side by side, and how a binding is shown.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePublish, portKey, portText } from '../../src/runtime/ports.js';
import { UsageError } from '../../src/util/errors.js';

test('-p forms: CTR, HOST:CTR, IP:HOST:CTR, IP::CTR, [v6]:HOST:CTR, /udp', () => {
  const cases: [string, ReturnType<typeof parsePublish>][] = [
    ['80', { hostIp: '', hostPort: 0, containerPort: 80, proto: 'tcp' }],
    ['8080:80', { hostIp: '', hostPort: 8080, containerPort: 80, proto: 'tcp' }],
    ['8080:80/udp', { hostIp: '', hostPort: 8080, containerPort: 80, proto: 'udp' }],
    ['127.0.0.1:8080:80/tcp', { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, proto: 'tcp' }],
    ['127.0.0.1::53/udp', { hostIp: '127.0.0.1', hostPort: 0, containerPort: 53, proto: 'udp' }],
    ['[::1]:8080:80', { hostIp: '::1', hostPort: 8080, containerPort: 80, proto: 'tcp' }],
  ];
  for (const [spec, want] of cases) assert.equal(parsePublish(spec), want, spec);
});

test('bad -p values are usage errors naming the value', () => {
  for (const [spec, why] of [
    ['', /expected/],
    ['0', /ports are 1-65535/],
    ['65536:80', /ports are 1-65535/],
    ['80/sctp', /invalid protocol "sctp"/],
    ['8080:', /expected/],
    ['1.2.3:8080:80', /invalid IP address "1.2.3"/],
    ['a:b:c:d', /expected/],
    ['8000-8010:80', /invalid port "8000-8010"/],
  ] as const) {
    assert.throws(() => parsePublish(spec), (e: Error) => e instanceof UsageError && why.test(e.message) && e.message.includes(`-p ${spec}`), spec);
  }
});

test('docker ps text and inspect key of a binding', () => {
  assert.is(portText({ hostIp: '', hostPort: 8080, containerPort: 80, proto: 'tcp' }), '0.0.0.0:8080->80/tcp');
  assert.is(portText({ hostIp: '::1', hostPort: 53, containerPort: 53, proto: 'udp' }), '[::1]:53->53/udp');
  assert.is(portKey({ hostIp: '', hostPort: 1, containerPort: 443, proto: 'tcp' }), '443/tcp');
});

test.run();
