// The test-image helpers themselves: what they seed is a consistent image in a real store.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../src/store/store.js';
import { sha256 } from '../src/oci/digest.js';
import { seedBusybox } from './images.js';
import { tmpDir as tmpDirFor } from './helpers.js';

test('seedBusybox stores blobs whose digests match, and tags the image', async () => {
  const { dir, cleanup } = tmpDirFor();
  try {
    const rec = await seedBusybox(dir);
    const store = await Store.open(dir);
    for (const l of rec.layers) assert.is(sha256(await store.readBlob(l.digest)), l.digest);
    assert.is(sha256(await store.readBlob(rec.id)), rec.id);
    assert.equal(await store.tagsOf(rec.id), ['busybox:latest']);
    assert.is((await store.resolve('busybox')).id, rec.id);
  } finally {
    cleanup();
  }
});

test.run();
