// The packer's own guards, in process: what it does when a file changes between the walk and the read.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { lstatSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packEntries } from '../../src/layer/pack.js';
import { tmpDir } from '../helpers.js';

test('a fifo put in a walked file\'s place fails the pack at once instead of hanging it', () => {
  const { dir, cleanup } = tmpDir();
  try {
    const abs = path.join(dir, 'f');
    writeFileSync(abs, 'ten bytes!');
    const st = lstatSync(abs, { bigint: true });
    rmSync(abs);
    assert.is(spawnSync('mkfifo', [abs]).status, 0, 'mkfifo');
    // without O_NONBLOCK the open waits for a writer that never comes; the read names the file
    assert.throws(() => [...packEntries([{ rel: 'f', abs, st }])], (e: Error) => e.message === `${abs}: ESPIPE: invalid seek, read`);
  } finally {
    cleanup();
  }
});

test.run();
