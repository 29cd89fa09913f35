// In-process: ps's COMMAND and the column cutting, against what docker 20.10 printed for the same
// commands (test/docker-parity.test.ts asks a live dockerd; these run in milliseconds without root).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Readable } from 'node:stream';
import { ellipsis, goQuote, psCommand } from '../src/cli/command-text.js';
import { entrySize, measureLayer } from '../src/layer/size.js';
import { layerTar } from './images.js';

test('psCommand: quoted args, cut at 20 columns before escaping', () => {
  const long = ['sh', '-c', `: >> /etc/passwd; mkdir /etc/x; printf "a\\nb" > /dev/null`];
  assert.is(psCommand(long, true), `"sh -c ': >> /etc/pa…"`);
  assert.is(psCommand(long, false), `"sh -c ': >> /etc/passwd; mkdir /etc/x; printf \\"a\\\\nb\\" > /dev/null'"`);
  assert.is(psCommand(['sh', '-c', 'a\nb'], false), `"sh -c a\\nb"`);
  assert.is(psCommand(['true'], true), `"true"`);
  assert.is(psCommand(['echo', 'exactly twenty c'], true), `"echo 'exactly twent…"`);
  assert.is(psCommand(['abcdefghij', 'klmnopqrs'], true), `"abcdefghij klmnopqrs"`);
});

test('ellipsis counts columns, goQuote escapes as Go', () => {
  assert.is(ellipsis('héllo wörld', 5), 'héll…');
  assert.is(ellipsis('日本語テキスト', 7), '日本語…');
  assert.is(ellipsis('abc', 3), 'abc');
  assert.is(goQuote('tab\there\x01\x7f é'), '"tab\\there\\x01\\x7f é"');
  assert.is(goQuote('nbsp\u00a0'), '"nbsp\\u00a0"');
});

test('layer size: files by size, symlinks by target length, hardlinks and dirs nothing', async () => {
  const tar = await layerTar([
    { name: 'd/' },
    { name: 'd/f', content: '12345' },
    { name: 'd/h', type: 'link', linkname: 'd/f' },
    { name: 'd/s', type: 'symlink', linkname: '/d/f' },
    { name: 'd/.wh.gone', content: '' },
  ]);
  const out = { diffSize: 0 };
  const chunks: Buffer[] = [];
  for await (const b of measureLayer(Readable.from([tar.subarray(0, 700), tar.subarray(700)]), out)) chunks.push(b);
  assert.ok(Buffer.concat(chunks).equals(tar), 'passed through unchanged');
  assert.is(out.diffSize, 5 + 4);
  assert.is(entrySize('directory', 4096, ''), 0);
});

test.run();
