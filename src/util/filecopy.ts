// A file's bytes copied into another file at a position, in the kernel where it can be, on the
// thread pool (dist/native/filecopy.node, from src/util/native/filecopy.c): export -o moves file
// contents this way instead of reading them into JavaScript and writing them out again.
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';

interface FileCopyModule {
  copy(inFd: number, outFd: number, outPos: number, len: number, cb: (errno: number, copied: number, text: string) => void): void;
}

/** Loaded on first use, as xattr.node is. */
let mod: FileCopyModule | undefined;

/**
 * Copy bytes 0..len of `inFd` to `outFd` at `outPos`. Resolves to the bytes copied: fewer than
 * `len` when `inFd` ended first. Rejects with an errno error as Node's fs makes them ("ENOSPC: no space
 * left on device", its `code` and `errno` set) when a read or write failed.
 */
export function copyRange(inFd: number, outFd: number, outPos: number, len: number): Promise<number> {
  mod ??= createRequire(import.meta.url)('../../native/filecopy.node') as FileCopyModule;
  return new Promise((resolve, reject) =>
    mod!.copy(inFd, outFd, outPos, len, (errno, copied, text) => {
      if (errno === 0) return resolve(copied);
      const code = getSystemErrorName(-errno);
      reject(Object.assign(new Error(`${code}: ${text.charAt(0).toLowerCase()}${text.slice(1)}`), { code, errno: -errno }));
    }),
  );
}
