// Rootless: a normal user's bale runs itself again as root of a user namespace, where it unpacks
// layers with their real owners, mounts overlays (with `userxattr`) and makes the container's
// namespaces as root does. Inside, the user's own uid and gid are 0; its ranges in /etc/subuid and
// /etc/subgid map 1 and up (through newuidmap/newgidmap, which check those files); without a range
// only its own ids are mapped, and files owned by any other id become its own.
//
// bale-init makes and joins the namespace (native/userns.c): one per store, held by a pause process
// recorded in locks/userns.pid, so every bale of the store sees the same namespace and can join the
// containers it owns (exec) or signal their processes. Its maps are fixed when it is made: after
// changing /etc/subuid, kill that pause process (no container of the store running) to remap.
//
// A container's root is mounted with the kernel's overlayfs (`userxattr`, Linux 5.11+), else with
// fuse-overlayfs: where the kernel refuses the mount, or always with BALE_OVERLAY=fuse-overlayfs.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsc, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaleError } from '../util/errors.js';
import { inUserNamespace } from '../util/userns.js';
import { kernelAtLeast } from '../util/kernel.js';

const HELPER = fileURLToPath(new URL('../../native/bale-init', import.meta.url));

/** Set in the environment of the bale that runs inside the namespace (so it does not enter again). */
export const USERNS_ENV = 'BALE_USERNS';

export interface IdRange {
  start: number;
  count: number;
}

/** The first range of user `name` (or its numeric id) in the text of /etc/subuid or /etc/subgid. */
export function subordinateRange(text: string, name: string, id: number): IdRange | undefined {
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who !== name && who !== String(id)) continue;
    if (/^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '') && Number(count) > 0) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

function readOr(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** The path of `cmd` on PATH, if it is there. */
function onPath(cmd: string): string | undefined {
  for (const d of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    const p = path.resolve(d || '.', cmd);
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** fuse-overlayfs's path, or why it cannot run (not installed, or /dev/fuse not open to this user). */
export function fuseOverlayfs(): { path: string } | { missing: string } {
  const p = onPath('fuse-overlayfs');
  if (!p) return { missing: 'fuse-overlayfs is not installed (Debian package fuse-overlayfs)' };
  try {
    accessSync('/dev/fuse', fsc.R_OK | fsc.W_OK);
  } catch {
    return { missing: '/dev/fuse is not open to this user (it should be mode 0666)' };
  }
  return { path: p };
}

/** Chooses the driver of a rootless container's root mount: `overlay`, `fuse-overlayfs`, or unset (overlay, else fuse-overlayfs). */
export const OVERLAY_ENV = 'BALE_OVERLAY';

/** bale-init's arguments for the root mount's driver (none as the host's root: overlayfs always). */
export function overlayDriverArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (!inUserNamespace()) return [];
  const want = env[OVERLAY_ENV] || 'auto';
  if (want !== 'overlay' && want !== 'fuse-overlayfs' && want !== 'auto') throw new BaleError(`${OVERLAY_ENV}=${want}: takes overlay or fuse-overlayfs`);
  const fuse = fuseOverlayfs();
  if (want === 'fuse-overlayfs' && 'missing' in fuse) throw new BaleError(`${OVERLAY_ENV}=fuse-overlayfs: ${fuse.missing}`);
  return ['--overlay-driver', want, ...(want !== 'overlay' && 'path' in fuse ? ['--fuse-overlayfs', fuse.path] : [])];
}

/**
 * What keeps a normal user from running containers on this host, in one line; undefined when
 * nothing does. (`read`, `release` and `fuse_`: the host's /proc files, kernel and fuse-overlayfs,
 * given for tests.)
 */
export function rootlessMissing(read: (p: string) => string = readOr, release = os.release(), fuse_ = fuseOverlayfs): string | undefined {
  if (read('/proc/sys/user/max_user_namespaces').trim() === '0') return 'user namespaces are off (sysctl user.max_user_namespaces is 0)';
  if (read('/proc/sys/kernel/unprivileged_userns_clone').trim() === '0') return 'unprivileged user namespaces are off (sysctl kernel.unprivileged_userns_clone is 0)';
  if (read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns').trim() === '1') {
    return 'AppArmor keeps unprivileged user namespaces from mounting (sysctl kernel.apparmor_restrict_unprivileged_userns is 1)';
  }
  if (!kernelAtLeast(5, 11, release)) {
    const fuse = fuse_();
    if ('missing' in fuse) return `overlayfs in a user namespace needs Linux 5.11 or later (this is ${release}), else fuse-overlayfs: ${fuse.missing}`;
  }
  return undefined;
}

export interface IdMaps {
  /** newuidmap/newgidmap arguments ("IN OUT COUNT" triples); absent: only the user's own ids. */
  uidmap?: string;
  gidmap?: string;
  /** Why only the user's own ids are mapped, and what that means. */
  note?: string;
}

/** The maps for the calling user, from /etc/subuid and /etc/subgid. */
export function idMaps(): IdMaps {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const name = os.userInfo().username;
  const su = subordinateRange(readOr('/etc/subuid'), name, uid);
  const sg = subordinateRange(readOr('/etc/subgid'), name, uid);
  const single = 'only your own ids are mapped, so files owned by other ids become yours (uid 0 in containers)';
  if (!su || !sg) return { note: `no range for ${name} in /etc/subuid and /etc/subgid: ${single}` };
  if (!onPath('newuidmap') || !onPath('newgidmap')) return { note: `newuidmap and newgidmap are missing (Debian package uidmap): ${single}` };
  return { uidmap: `0 ${uid} 1 1 ${su.start} ${su.count}`, gidmap: `0 ${gid} 1 1 ${sg.start} ${sg.count}` };
}

/** Signals passed on to the bale inside (a terminal's ^C and ^\ reach it directly, being in our process group). */
const PASSED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGQUIT'];

/** Run this bale (argv: its arguments) again inside the user namespace of the store at `root`; resolves with its exit code. */
export async function reexecInUserNamespace(argv: string[], root: string): Promise<number> {
  const locks = path.join(root, 'locks');
  mkdirSync(locks, { recursive: true, mode: 0o700 });
  const maps = idMaps();
  const args = [
    'userns', '--pid-file', path.join(locks, 'userns.pid'),
    ...(maps.uidmap ? ['--uidmap', maps.uidmap, '--gidmap', maps.gidmap!] : ['--note', maps.note!]),
    '--', process.execPath, ...process.execArgv, process.argv[1]!, ...argv,
  ];
  const child = spawn(HELPER, args, { stdio: 'inherit', env: { ...process.env, BALE_ROOT: root, [USERNS_ENV]: '1' } });
  const fromTty = process.stdin.isTTY;
  const handlers = PASSED.map((sig) => {
    const h = () => {
      if (fromTty && (sig === 'SIGINT' || sig === 'SIGQUIT')) return;
      try {
        if (child.pid) process.kill(child.pid, sig);
      } catch {
        /* gone */
      }
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new Error(`cannot run ${HELPER}: ${e.message} (was bale built with npm run build?)`)));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
    });
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
