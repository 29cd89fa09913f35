// The running kernel's version, for features that came with a given release.
import os from 'node:os';

/** A kernel release's major and minor numbers ("6.1.0-18-amd64" gives [6, 1]; [0, 0] if unreadable). */
export function kernelVersion(release = os.release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** Whether the kernel is `major.minor` or later. */
export function kernelAtLeast(major: number, minor: number, release = os.release()): boolean {
  const [have, haveMinor] = kernelVersion(release);
  return have > major || (have === major && haveMinor >= minor);
}
