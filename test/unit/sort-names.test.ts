// sortNames (layer/tree.ts): the walks' order is GNU tar's --sort=name, UTF-8 byte order, which
// JavaScript's own string order (UTF-16 code units) gets wrong where a character of U+10000 and up
// meets one of U+E000..U+FFFF.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sortNames } from '../../src/layer/tree.js';

const byBytes = (names: string[]) => [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

test('plain names: byte order (upper case before lower, dot and dash before letters)', () => {
  const names = ['usr', 'bin', 'Zeta', '.wh.x', 'a-b', 'a.b', 'a', 'é', 'z'];
  assert.equal(sortNames([...names]), byBytes(names));
  assert.equal(sortNames([...names]), ['.wh.x', 'Zeta', 'a', 'a-b', 'a.b', 'bin', 'usr', 'z', 'é']);
});

test('a character past U+FFFF sorts after U+E000..U+FFFF, as its UTF-8 bytes do', () => {
  const names = ['x\u{1F600}', 'x\uFFEE', 'x\uE000', 'x\u0800', 'x'];
  // UTF-16 would put the emoji (a surrogate pair, 0xD83D...) before U+E000.
  assert.equal(sortNames([...names]), ['x', 'x\u0800', 'x\uE000', 'x\uFFEE', 'x\u{1F600}']);
  assert.equal(sortNames([...names]), byBytes(names));
});

test('random names over the awkward ranges: always byte order', () => {
  const pool = ['a', 'B', '.', '_', '\u00ff', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffee', '\u{1F600}', '\u{10FFFF}'];
  let seed = 1;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let t = 0; t < 500; t++) {
    const names = [...new Set(Array.from({ length: 1 + rnd(20) }, () => Array.from({ length: 1 + rnd(4) }, () => pool[rnd(pool.length)]).join('')))];
    assert.equal(sortNames([...names]), byBytes(names));
  }
});

test.run();
