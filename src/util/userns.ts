// Whether this process runs in a user namespace (bale's rootless mode: a normal user's bale is
// root only inside one, see runtime/rootless.ts). What changes there: overlayfs keeps its whiteout
// and opaque marks in user.overlay.* xattrs (mounted with `userxattr`, as trusted.* needs the host's
// root), ids outside the mapping cannot own files, device nodes cannot be made, and no cgroup is
// ours to write.
import { readFileSync } from 'node:fs';

let cached: boolean | undefined;

/** True unless this process sees the host's whole id range (the initial user namespace). */
export function inUserNamespace(): boolean {
  if (cached === undefined) {
    let map = '';
    try {
      map = readFileSync('/proc/self/uid_map', 'utf8');
    } catch {
      /* no /proc: not in one we can tell */
    }
    cached = map !== '' && map.trim().split(/\s+/).join(' ') !== '0 0 4294967295';
  }
  return cached;
}
