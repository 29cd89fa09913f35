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
import { spawn } from 'node:child_process';
import { accessSync, constants as fsc, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

function onPath(cmd: string): boolean {
  return (process.env['PATH'] ?? '/usr/bin:/bin').split(':').some((d) => {
    try {
      accessSync(path.join(d || '.', cmd), fsc.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * What keeps a normal user from running containers on this host, in one line; undefined when
 * nothing does. (`read` and `release`: the host's /proc files and kernel, given for tests.)
 */
export function rootlessMissing(read: (p: string) => string = readOr, release = os.release()): string | undefined {
  if (read('/proc/sys/user/max_user_namespaces').trim() === '0') return 'user namespaces are off (sysctl user.max_user_namespaces is 0)';
  if (read('/proc/sys/kernel/unprivileged_userns_clone').trim() === '0') return 'unprivileged user namespaces are off (sysctl kernel.unprivileged_userns_clone is 0)';
  if (read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns').trim() === '1') {
    return 'AppArmor keeps unprivileged user namespaces from mounting (sysctl kernel.apparmor_restrict_unprivileged_userns is 1)';
  }
  const [major = 0, minor = 0] = release.split(/[.-]/).map(Number);
  if (major < 5 || (major === 5 && minor < 11)) return `overlayfs in a user namespace needs Linux 5.11 or later (this is ${release})`;
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
