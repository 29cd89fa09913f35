// RUN: the command runs in a container of the state built so far (bale's own launcher: overlay,
// namespaces, no network unless --network host), and what it changed (the container's read-write
// layer) becomes the step's layer. The container is removed whatever happens; the image record the
// container needs is a temporary one unless the same image was already in the store.
import { readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { packEntries } from '../../layer/pack.js';
import { walkDir } from '../../layer/tree.js';
import { sha256, type Digest } from '../../oci/digest.js';
import type { ImageConfig } from '../../oci/types.js';
import { containerPaths } from '../../runtime/container.js';
import { createContainer, removeContainer, startContainer } from '../../runtime/lifecycle.js';
import type { MountSpec } from '../../runtime/mounts.js';
import type { Store } from '../../store/store.js';
import { createImage, writeLayer, type StoredLayer } from '../create.js';
import type { BuildState } from './cache.js';
import { removeStubs, type InImage } from './mounts.js';

export interface RunStep {
  argv: string[];
  /** Build arguments in scope, K=V, given to the command's environment only. */
  argEnv: string[];
  net: 'none' | 'host';
  /** Where the command's output goes: bale's own stdout/stderr, or a file descriptor. */
  output: 'inherit' | number;
  /** Clamp file times in the layer to this (SOURCE_DATE_EPOCH). */
  clampMtime?: number;
  /** Called with the container's short id once it exists. */
  onContainer?: (shortId: string) => void;
  /** RUN --mount (and a here-document script): mounted for the command, kept out of the layer. */
  mounts?: MountSpec[];
  /** What the state's filesystem has at an absolute path (to tell mount points made for mounts). */
  inImage?: InImage;
}

export interface RunResult {
  code: number;
  /** The layer, or undefined when the command changed nothing. */
  layer?: StoredLayer;
}

/** The state as an image record in the store (the launcher starts containers of images). */
async function stateImage(store: Store, s: BuildState): Promise<{ id: Digest; temporary: boolean }> {
  const config: ImageConfig = { ...s.config, rootfs: { type: 'layers', diff_ids: s.layers.map((l) => l.diffId) } };
  const id = sha256(JSON.stringify(config));
  if (await store.image(id)) return { id, temporary: false };
  const rec = await createImage(store, { config, layers: s.layers });
  return { id: rec.id, temporary: true };
}

/** Run one RUN step on `state`. Call with store.writerLock() held. */
export async function runStep(store: Store, state: BuildState, step: RunStep): Promise<RunResult> {
  const img = await stateImage(store, state);
  try {
    const cfg = state.config.config ?? {};
    const rec = await createContainer(store, {
      imageRef: img.id,
      cmd: step.argv,
      entrypoint: '',
      env: step.argEnv,
      workdir: cfg.WorkingDir || '/',
      user: cfg.User || '',
      tty: false,
      net: step.net,
      autoRemove: false,
      // RUN steps run as docker's classic builder runs them: default capabilities and seccomp.
      security: { securityOpt: [], capAdd: [], capDrop: [], privileged: false },
      ...(step.mounts?.length ? { mounts: step.mounts } : {}),
    });
    try {
      step.onContainer?.(rec.id.slice(0, 12));
      const code = await startContainer(store, rec, { stdin: 'ignore', stdout: step.output, stderr: step.output, tty: false });
      if (code !== 0) return { code };
      const upper = containerPaths(store, rec.id).upper;
      if (step.mounts?.length && step.inImage) await removeStubs(upper, step.mounts.map((m) => m.target), step.inImage);
      if (readdirSync(upper).length === 0) return { code };
      const tar = Readable.from(packEntries(walkDir(upper, { overlayUpper: true }), { clampMtime: step.clampMtime }), { objectMode: false, highWaterMark: 1024 * 1024 });
      return { code, layer: await writeLayer(store, tar) };
    } finally {
      await removeContainer(store, rec, true);
    }
  } finally {
    if (img.temporary) await store.transaction(() => store.deleteImageRecord(img.id));
  }
}
